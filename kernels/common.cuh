// Shared by every kernel file: prepended to each .cu before NVRTC compiles
// it (src/live/cuda.rs and the CI PTX check do the same), because NVRTC 13
// ships no CUDA headers and these sources include nothing.
//
// bf16 travels as its 16 bits in an unsigned short.
typedef unsigned short bf16_t;

__device__ __forceinline__ float bf16_to_f32(bf16_t b) { return __uint_as_float(((unsigned)b) << 16); }

// Round to nearest even, NaN kept NaN (as the CPU reference's `bf16`).
__device__ __forceinline__ bf16_t f32_to_bf16(float x) {
    unsigned u = __float_as_uint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (bf16_t)(u >> 16);
}

// D (+)= A B on tensor cores, m16n8k16, bf16 in, fp32 accumulate (fragment
// layouts: kernels/gemm.cu).
__device__ __forceinline__ void mma_bf16(float* c, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0,
                                         unsigned b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// 8 bf16 (16 bytes, aligned) in one load.
__device__ __forceinline__ uint4 load16(const bf16_t* p) { return *(const uint4*)p; }
