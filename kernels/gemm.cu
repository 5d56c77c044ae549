// GEMMs on tensor cores: Y[M x N] = X[M x K] * W[N x K]^T, bf16 in, fp32
// accumulate (mma.sync m16n8k16 through inline PTX: no headers). Two
// kernels, chosen by the host on M:
//
// gemm_bf16_skinny (decode, M <= 64): weight streaming. Every W byte is
//   read once per step, so the kernel is a copy of W at HBM speed with the
//   multiply hidden under it. Block = 4 warps, warp w owns 8 output columns
//   (n0 = blockIdx.x * 32 + 8w) and up to 64 rows (m0 = blockIdx.y * 64);
//   blockIdx.z splits K. Each lane loads 16 contiguous bf16 of its W row
//   per 64 of K (two 16-byte loads; the 4 lanes of a row cover 128
//   contiguous bytes), four such chunks in flight before the first use.
// gemm_bf16_tiled (prefill, M > 64): 128 x 128 block tiles, K in steps of
//   32 staged through shared memory (double buffered, the next tile held in
//   registers while the current one is multiplied); 8 warps, each 64 x 32.
//
// The k permutation. A dot product does not care in which order k is
// summed, only that A and B use the same order. The fragment layout wants
// lane (g = lane / 4, t = lane % 4) to hold k = {2t, 2t+1, 2t+8, 2t+9} of
// each k16 step; here, instead, lane t holds *contiguous* elements of its
// row (8 per step-pair in `tiled`, 16 per four steps in `skinny`), and
// logical k {2t, 2t+1 | 2t+8, 2t+9} of step s is physical element
// span * t + 4s + {0, 1 | 2, 3}. A and B fragments come from the same
// physical positions, so every 16-byte load feeds mma directly.
//
// Fragment layout (PTX ISA, mma.m16n8k16 .bf16):
//   A regs: (row g, k 2t..2t+1), (row g+8, k 2t..), (row g, k 2t+8..), (row g+8, k 2t+8..)
//   B regs: (k 2t..2t+1, col g), (k 2t+8..2t+9, col g)
//   C regs: (row g, col 2t), (row g, col 2t+1), (row g+8, col 2t), (row g+8, col 2t+1)
//
// Split K (gridDim.z > 1) adds partial sums atomically into a zeroed Y;
// with one split Y is stored. Host guarantees: N % 8 == 0, K % 16 == 0
// (rows 16-byte aligned; a 16-element group is wholly inside K or not),
// each split covers `chunks` chunks of K (64 skinny, 32 tiled).

__device__ __forceinline__ void mma_bf16(float* c, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0,
                                         unsigned b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint4 load16(const bf16_t* p) { return *(const uint4*)p; }

// One C fragment (rows r0 and r0 + 8, columns c and c + 1) into Y.
__device__ __forceinline__ void store_fragment(float* Y, const float* acc, int r0, int c, int M, int N, bool add) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int r = r0 + 8 * h;
        if (r >= M) continue;
#pragma unroll
        for (int j = 0; j < 2; ++j) {
            if (c + j >= N) continue;
            float* y = &Y[(size_t)r * N + c + j];
            if (add) {
                atomicAdd(y, acc[2 * h + j]);
            } else {
                *y = acc[2 * h + j];
            }
        }
    }
}

#define SKINNY_CHUNK 64
#define SKINNY_UNROLL 4

extern "C" __global__ void __launch_bounds__(128)
gemm_bf16_skinny(const bf16_t* __restrict__ X, const bf16_t* __restrict__ W, float* __restrict__ Y, int M, int N,
                 int K, int chunks) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, t = lane & 3;
    const int n0 = blockIdx.x * 32 + warp * 8;
    if (n0 >= N) return;
    const int m0 = blockIdx.y * 64;
    const int m_tiles = min(4, (M - m0 + 15) / 16);
    const int kbeg = blockIdx.z * chunks * SKINNY_CHUNK, kend = min(K, kbeg + chunks * SKINNY_CHUNK);
    const bf16_t* wrow = W + (size_t)(n0 + g) * K + 16 * t;
    const uint4 zero = make_uint4(0u, 0u, 0u, 0u);
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
    }
    for (int k = kbeg; k < kend; k += SKINNY_CHUNK * SKINNY_UNROLL) {
        uint4 w[SKINNY_UNROLL][2];
#pragma unroll
        for (int u = 0; u < SKINNY_UNROLL; ++u) {
            const int kk = k + u * SKINNY_CHUNK + 16 * t;
            const bool in = kk < kend;
            w[u][0] = in ? load16(wrow + k + u * SKINNY_CHUNK) : zero;
            w[u][1] = in ? load16(wrow + k + u * SKINNY_CHUNK + 8) : zero;
        }
#pragma unroll
        for (int u = 0; u < SKINNY_UNROLL; ++u) {
            const int kk = k + u * SKINNY_CHUNK + 16 * t;
            const bool in = kk < kend;
#pragma unroll
            for (int mt = 0; mt < 4; ++mt) {
                if (mt >= m_tiles) break;
                const int r0 = m0 + mt * 16 + g, r1 = r0 + 8;
                const bf16_t* x0 = X + (size_t)r0 * K + kk;
                const bf16_t* x1 = X + (size_t)r1 * K + kk;
                const uint4 p0 = in && r0 < M ? load16(x0) : zero, q0 = in && r0 < M ? load16(x0 + 8) : zero;
                const uint4 p1 = in && r1 < M ? load16(x1) : zero, q1 = in && r1 < M ? load16(x1 + 8) : zero;
                mma_bf16(acc[mt], p0.x, p1.x, p0.y, p1.y, w[u][0].x, w[u][0].y);
                mma_bf16(acc[mt], p0.z, p1.z, p0.w, p1.w, w[u][0].z, w[u][0].w);
                mma_bf16(acc[mt], q0.x, q1.x, q0.y, q1.y, w[u][1].x, w[u][1].y);
                mma_bf16(acc[mt], q0.z, q1.z, q0.w, q1.w, w[u][1].z, w[u][1].w);
            }
        }
    }
#pragma unroll
    for (int mt = 0; mt < 4; ++mt) {
        if (mt >= m_tiles) break;
        store_fragment(Y, acc[mt], m0 + mt * 16 + g, n0 + 2 * t, M, N, gridDim.z > 1);
    }
}

#define TILE_M 128
#define TILE_N 128
#define TILE_K 32
// uint4 (8 bf16) per tile row: TILE_K / 8.
#define ROW_VECS 4

extern "C" __global__ void __launch_bounds__(256)
gemm_bf16_tiled(const bf16_t* __restrict__ X, const bf16_t* __restrict__ W, float* __restrict__ Y, int M, int N,
                int K, int chunks) {
    __shared__ uint4 xs[2][TILE_M * ROW_VECS];
    __shared__ uint4 ws[2][TILE_N * ROW_VECS];
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int g = lane >> 2, t = lane & 3;
    const int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;
    const int bm = blockIdx.y * TILE_M, bn = blockIdx.x * TILE_N;
    const int kbeg = blockIdx.z * chunks * TILE_K, kend = min(K, kbeg + chunks * TILE_K);
    const uint4 zero = make_uint4(0u, 0u, 0u, 0u);
    // Global -> registers: each thread moves 2 of the 512 vectors of each tile.
    uint4 xr[2], wr[2];
    auto fetch = [&](int k0) {
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const int v = tid + 256 * i, row = v / ROW_VECS, col = k0 + (v % ROW_VECS) * 8;
            xr[i] = bm + row < M && col < kend ? load16(X + (size_t)(bm + row) * K + col) : zero;
            wr[i] = bn + row < N && col < kend ? load16(W + (size_t)(bn + row) * K + col) : zero;
        }
    };
    auto stash = [&](int buf) {
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            xs[buf][tid + 256 * i] = xr[i];
            ws[buf][tid + 256 * i] = wr[i];
        }
    };
    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
        }
    }
    fetch(kbeg);
    stash(0);
    __syncthreads();
    const int steps = (kend - kbeg + TILE_K - 1) / TILE_K;
    for (int s = 0; s < steps; ++s) {
        const int buf = s & 1;
        if (s + 1 < steps) fetch(kbeg + (s + 1) * TILE_K);
        uint4 a[4][2], b[4];
#pragma unroll
        for (int mt = 0; mt < 4; ++mt) {
            a[mt][0] = xs[buf][(wm + mt * 16 + g) * ROW_VECS + t];
            a[mt][1] = xs[buf][(wm + mt * 16 + g + 8) * ROW_VECS + t];
        }
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) b[nt] = ws[buf][(wn + nt * 8 + g) * ROW_VECS + t];
#pragma unroll
        for (int mt = 0; mt < 4; ++mt) {
#pragma unroll
            for (int nt = 0; nt < 4; ++nt) {
                mma_bf16(acc[mt][nt], a[mt][0].x, a[mt][1].x, a[mt][0].y, a[mt][1].y, b[nt].x, b[nt].y);
                mma_bf16(acc[mt][nt], a[mt][0].z, a[mt][1].z, a[mt][0].w, a[mt][1].w, b[nt].z, b[nt].w);
            }
        }
        if (s + 1 < steps) stash(buf ^ 1);
        __syncthreads();
    }
#pragma unroll
    for (int mt = 0; mt < 4; ++mt) {
#pragma unroll
        for (int nt = 0; nt < 4; ++nt)
            store_fragment(Y, acc[mt][nt], bm + wm + mt * 16 + g, bn + wn + nt * 8 + 2 * t, M, N, gridDim.z > 1);
    }
}
