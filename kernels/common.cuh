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
