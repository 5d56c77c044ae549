// Weight-streaming GEMM on tensor cores: Y[M x N] += X[M x K] * W[N x K]^T,
// bf16 in, fp32 accumulate (mma.sync m16n8k16, inline PTX: no headers).
//
// W is row-major by output column, so the B fragment of mma ".col" is two
// adjacent bf16 of one W row: every W byte is read once per 64 rows of X,
// which for a decode step (M = batch <= 64) means once per step. Block:
// 4 warps; warp w owns 8 output columns (n0 = blockIdx.x * 32 + 8w) and
// up to 64 rows (4 m-tiles of 16, m0 = blockIdx.y * 64). blockIdx.z splits
// K so that skinny GEMMs still put enough loads in flight on every SM;
// partial sums are added atomically, so Y must be zeroed first.
// Host guarantees: N % 32 == 0 or the tail warps return, K % (16 * splits) == 0.
//
// Fragment layout (PTX ISA, mma.m16n8k16 .bf16, g = lane / 4, t = lane % 4):
//   A regs: (row g, k 2t..2t+1), (row g+8, k 2t..), (row g, k 2t+8..), (row g+8, k 2t+8..)
//   B regs: (k 2t..2t+1, col g), (k 2t+8..2t+9, col g)
//   C regs: (row g, col 2t), (row g, col 2t+1), (row g+8, col 2t), (row g+8, col 2t+1)

__device__ __forceinline__ unsigned load_pair(const bf16_t* p) { return *(const unsigned*)p; }

extern "C" __global__ void __launch_bounds__(128)
gemm_bf16(const bf16_t* __restrict__ X, const bf16_t* __restrict__ W, float* __restrict__ Y, int M, int N, int K) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, t = lane & 3;
    const int n0 = blockIdx.x * 32 + warp * 8;
    if (n0 >= N) return;
    const int m0 = blockIdx.y * 64;
    const int kchunk = K / gridDim.z;
    const int kbeg = blockIdx.z * kchunk, kend = kbeg + kchunk;
    const bf16_t* wrow = W + (size_t)(n0 + g) * K;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
    }
#pragma unroll 4
    for (int k = kbeg; k < kend; k += 16) {
        const unsigned b0 = load_pair(wrow + k + 2 * t);
        const unsigned b1 = load_pair(wrow + k + 2 * t + 8);
#pragma unroll
        for (int mt = 0; mt < 4; ++mt) {
            if (m0 + mt * 16 >= M) break;
            const int r0 = m0 + mt * 16 + g, r1 = r0 + 8;
            const bf16_t* x0 = X + (size_t)r0 * K + k + 2 * t;
            const bf16_t* x1 = X + (size_t)r1 * K + k + 2 * t;
            const unsigned a0 = r0 < M ? load_pair(x0) : 0u;
            const unsigned a1 = r1 < M ? load_pair(x1) : 0u;
            const unsigned a2 = r0 < M ? load_pair(x0 + 8) : 0u;
            const unsigned a3 = r1 < M ? load_pair(x1 + 8) : 0u;
            asm volatile(
                "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                : "+f"(acc[mt][0]), "+f"(acc[mt][1]), "+f"(acc[mt][2]), "+f"(acc[mt][3])
                : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
        }
    }
#pragma unroll
    for (int mt = 0; mt < 4; ++mt) {
        const int r0 = m0 + mt * 16 + g, r1 = r0 + 8, c = n0 + 2 * t;
        if (r0 < M) {
            atomicAdd(&Y[(size_t)r0 * N + c], acc[mt][0]);
            atomicAdd(&Y[(size_t)r0 * N + c + 1], acc[mt][1]);
        }
        if (r1 < M) {
            atomicAdd(&Y[(size_t)r1 * N + c], acc[mt][2]);
            atomicAdd(&Y[(size_t)r1 * N + c + 1], acc[mt][3]);
        }
    }
}
