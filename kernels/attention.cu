// Paged attention over a KV block table on tensor cores, for decode and
// prefill alike: every step token (a decode's one token, or each token of a
// prefill chunk) attends causally to its sequence's keys 0..=position.
//
// attention_split_<HD>: grid (splits / 4, kv_heads, query tiles), 4 warps.
// A query tile is up to 16 / group consecutive tokens of one sequence
// (group = heads / kv_heads), so its 16 query rows (token, head of the KV
// head's group) share every K and V row: a prefill reads each key once
// per tile, not once per token. Each warp takes its own range of
// split_keys keys (split-K over the KV length, so that a batch of one long
// sequence still fills the GPU) and runs an online softmax over it, 16
// keys at a time:
//   S = Q K^T   mma m16n8k16; K fragments straight from the cache, each
//               lane reading 16-byte pieces of its key's row (the k
//               permutation of kernels/gemm.cu, applied to Q alike);
//   O += P V    P from S's accumulators (the C layout of two n8 tiles is
//               the A layout of one k16 step), V staged through shared
//               memory and read transposed by ldmatrix.
// Each warp writes its unnormalized output with (running max, running
// sum); attention_combine rescales the splits into the final output. A
// warp whose range holds no key of a row still writes (-inf, 0, 0).
//
// Cache layout: [block][kv_head][slot (16)][head_dim] bf16; queries are the
// first heads * head_dim columns of the fp32 QKV rows.

#define BLOCK_TOKENS 16
#define NEG_INF __int_as_float(0xff800000)
#define ATT_WARPS 4
#define ATT_CHUNK 16

__device__ __forceinline__ size_t cache_index(const int* table, int table_start, int pos, int kv_heads, int head,
                                              int head_dim) {
    const int block = table[table_start + pos / BLOCK_TOKENS];
    return (((size_t)block * kv_heads + head) * BLOCK_TOKENS + pos % BLOCK_TOKENS) * head_dim;
}

__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
    return (unsigned)f32_to_bf16(lo) | ((unsigned)f32_to_bf16(hi) << 16);
}

__device__ __forceinline__ unsigned shared_address(const void* p) {
    unsigned r;
    asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(r) : "l"(p));
    return r;
}

// Four 8x8 bf16 matrices from shared memory, transposed: lane 8j + i gives
// the address of row i of matrix j; register j receives matrix j.
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned* r, unsigned address) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(address));
}

// The max and sum of a query row live in the 4 lanes (t = 0..3) that hold it.
__device__ __forceinline__ float row_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float row_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

template <int HD>
__device__ __forceinline__ void attention_tile(const float* __restrict__ qkv, int qkv_stride,
                                               const bf16_t* __restrict__ kcache, const bf16_t* __restrict__ vcache,
                                               const int* __restrict__ token_pos, const int* __restrict__ tile_first,
                                               const int* __restrict__ tile_count, const int* __restrict__ tile_table,
                                               const int* __restrict__ table, int heads, int kv_heads,
                                               int split_keys, float* __restrict__ part_out,
                                               float* __restrict__ part_ml) {
    constexpr int GROUPS = HD / 32;  // lane t holds dims [32i + 8t, 32i + 8t + 8) of Q and K rows, i < GROUPS
    constexpr int NT = HD / 8;       // n8 tiles of the output row
    constexpr int ROW = HD + 8;      // padded shared row: ldmatrix's 8 rows fall in distinct banks
    __shared__ __align__(16) bf16_t v_stage[ATT_WARPS][ATT_CHUNK * ROW];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, t = lane & 3;
    const int kvh = blockIdx.y, tile = blockIdx.z;
    const int splits = gridDim.x * ATT_WARPS, split = blockIdx.x * ATT_WARPS + warp;
    const int group = heads / kv_heads;
    const int first = tile_first[tile], count = tile_count[tile], tstart = tile_table[tile];
    const uint4 zero = make_uint4(0u, 0u, 0u, 0u);

    // This lane's two query rows: r = g and g + 8 -> (token first + r / group, head kvh * group + r % group).
    bool row_ok[2];
    int row_token[2], row_head[2], row_pos[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int r = g + 8 * h, tk = r / group;
        row_ok[h] = tk < count;
        row_token[h] = first + min(tk, count - 1);
        row_head[h] = kvh * group + r % group;
        row_pos[h] = row_ok[h] ? token_pos[row_token[h]] : -1;
    }
    const int begin = split * split_keys;
    const int end = min(begin + split_keys, token_pos[first + count - 1] + 1);

    // Q fragments, pre-scaled, in the permuted k order K uses.
    const float scale = rsqrtf((float)HD);
    unsigned q[2][GROUPS][4];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const float* src = qkv + (size_t)row_token[h] * qkv_stride + row_head[h] * HD + 8 * t;
#pragma unroll
        for (int i = 0; i < GROUPS; ++i) {
#pragma unroll
            for (int j = 0; j < 4; ++j)
                q[h][i][j] = row_ok[h] ? pack_bf16(src[32 * i + 2 * j] * scale, src[32 * i + 2 * j + 1] * scale) : 0u;
        }
    }
    float acc[NT][4];
#pragma unroll
    for (int n = 0; n < NT; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[n][e] = 0.0f;
    }
    float m[2] = {NEG_INF, NEG_INF}, l[2] = {0.0f, 0.0f};
    bf16_t* stage = v_stage[warp];

    for (int base = begin; base < end; base += ATT_CHUNK) {
        // V rows of the chunk -> shared (zeros past the range: 0 * garbage could be NaN).
#pragma unroll
        for (int p = lane; p < ATT_CHUNK * HD / 8; p += 32) {
            const int key = p / (HD / 8), col = (p % (HD / 8)) * 8;
            const uint4 v =
                base + key < end ? load16(vcache + cache_index(table, tstart, base + key, kv_heads, kvh, HD) + col)
                                 : zero;
            *(uint4*)(stage + key * ROW + col) = v;
        }
        // S for keys base + 8n + (0..7); this lane loads key base + 8n + g.
        float s[2][4];
#pragma unroll
        for (int n = 0; n < 2; ++n) {
            const int key = base + 8 * n + g;
            const bool in = key < end;
            const bf16_t* krow = kcache + (in ? cache_index(table, tstart, key, kv_heads, kvh, HD) : 0) + 8 * t;
            uint4 kf[GROUPS];
#pragma unroll
            for (int i = 0; i < GROUPS; ++i) kf[i] = in ? load16(krow + 32 * i) : zero;
#pragma unroll
            for (int e = 0; e < 4; ++e) s[n][e] = 0.0f;
#pragma unroll
            for (int i = 0; i < GROUPS; ++i) {
                mma_bf16(s[n], q[0][i][0], q[1][i][0], q[0][i][1], q[1][i][1], kf[i].x, kf[i].y);
                mma_bf16(s[n], q[0][i][2], q[1][i][2], q[0][i][3], q[1][i][3], kf[i].z, kf[i].w);
            }
        }
        // Online softmax per row (C layout: element 2h + j is row g + 8h, key 8n + 2t + j).
        float p[2][4];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            float mx = NEG_INF;
#pragma unroll
            for (int n = 0; n < 2; ++n) {
#pragma unroll
                for (int j = 0; j < 2; ++j) {
                    const int key = base + 8 * n + 2 * t + j;
                    if (!(key < end && key <= row_pos[h])) s[n][2 * h + j] = NEG_INF;
                    mx = fmaxf(mx, s[n][2 * h + j]);
                }
            }
            const float m_new = fmaxf(m[h], row_max(mx));
            const float shift = m_new == NEG_INF ? 0.0f : m_new;
            const float corr = __expf(m[h] - shift);
            float sum = 0.0f;
#pragma unroll
            for (int n = 0; n < 2; ++n) {
#pragma unroll
                for (int j = 0; j < 2; ++j) {
                    p[n][2 * h + j] = __expf(s[n][2 * h + j] - shift);
                    sum += p[n][2 * h + j];
                }
            }
            l[h] = l[h] * corr + row_sum(sum);
            m[h] = m_new;
#pragma unroll
            for (int n = 0; n < NT; ++n) {
                acc[n][2 * h] *= corr;
                acc[n][2 * h + 1] *= corr;
            }
        }
        const unsigned a0 = pack_bf16(p[0][0], p[0][1]), a1 = pack_bf16(p[0][2], p[0][3]);
        const unsigned a2 = pack_bf16(p[1][0], p[1][1]), a3 = pack_bf16(p[1][2], p[1][3]);
        __syncwarp();
        // O += P V: ldmatrix.trans gives B fragments (keys 2t..2t+1 | 2t+8.., dim g) of two n8 tiles at once.
        const int mi = lane >> 3, key = (lane & 7) + 8 * (mi & 1);
#pragma unroll
        for (int n = 0; n < NT; n += 2) {
            unsigned b[4];
            ldmatrix_x4_trans(b, shared_address(stage + key * ROW + 8 * (n + (mi >> 1))));
            mma_bf16(acc[n], a0, a1, a2, a3, b[0], b[1]);
            mma_bf16(acc[n + 1], a0, a1, a2, a3, b[2], b[3]);
        }
        __syncwarp();
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        if (!row_ok[h]) continue;
        const size_t part = ((size_t)row_token[h] * heads + row_head[h]) * splits + split;
        float* out = part_out + part * HD + 2 * t;
#pragma unroll
        for (int n = 0; n < NT; ++n) *(float2*)(out + 8 * n) = make_float2(acc[n][2 * h], acc[n][2 * h + 1]);
        if (t == 0) {
            part_ml[2 * part] = m[h];
            part_ml[2 * part + 1] = l[h];
        }
    }
}

#define ATTENTION_SPLIT(HD)                                                                                          \
    extern "C" __global__ void __launch_bounds__(32 * ATT_WARPS) attention_split_##HD(                               \
        const float* __restrict__ qkv, int qkv_stride, const bf16_t* __restrict__ kcache,                            \
        const bf16_t* __restrict__ vcache, const int* __restrict__ token_pos, const int* __restrict__ tile_first,    \
        const int* __restrict__ tile_count, const int* __restrict__ tile_table, const int* __restrict__ table,       \
        int heads, int kv_heads, int split_keys, float* __restrict__ part_out, float* __restrict__ part_ml) {        \
        attention_tile<HD>(qkv, qkv_stride, kcache, vcache, token_pos, tile_first, tile_count, tile_table, table,    \
                           heads, kv_heads, split_keys, part_out, part_ml);                                          \
    }
ATTENTION_SPLIT(64)
ATTENTION_SPLIT(128)
ATTENTION_SPLIT(256)

// grid (heads, tokens), block head_dim threads: out[token][head][d].
extern "C" __global__ void attention_combine(const float* __restrict__ part_out, const float* __restrict__ part_ml,
                                             int heads, int head_dim, int splits, float* __restrict__ out) {
    const int head = blockIdx.x, token = blockIdx.y, d = threadIdx.x;
    const size_t first = ((size_t)token * heads + head) * splits;
    float m = NEG_INF;
    for (int s = 0; s < splits; ++s) m = fmaxf(m, part_ml[2 * (first + s)]);
    float l = 0.0f, o = 0.0f;
    for (int s = 0; s < splits; ++s) {
        const float ms = part_ml[2 * (first + s)];
        if (ms == NEG_INF) continue;
        const float w = __expf(ms - m);
        l += part_ml[2 * (first + s) + 1] * w;
        o += part_out[(first + s) * head_dim + d] * w;
    }
    out[((size_t)token * heads + head) * head_dim + d] = o / l;
}

// grid tokens, block 128: the new tokens' K and V into the paged cache.
extern "C" __global__ void kv_write(const float* __restrict__ qkv, int qkv_stride, int q_dim,
                                    const int* __restrict__ token_seq, const int* __restrict__ token_pos,
                                    const int* __restrict__ table_start, const int* __restrict__ table,
                                    int kv_heads, int head_dim, bf16_t* __restrict__ kcache,
                                    bf16_t* __restrict__ vcache) {
    const int token = blockIdx.x, seq = token_seq[token], pos = token_pos[token];
    const int kv_dim = kv_heads * head_dim;
    const float* row = qkv + (size_t)token * qkv_stride + q_dim;
    for (int e = threadIdx.x; e < kv_dim; e += blockDim.x) {
        const int head = e / head_dim, d = e % head_dim;
        const size_t at = cache_index(table, table_start[seq], pos, kv_heads, head, head_dim) + d;
        kcache[at] = f32_to_bf16(row[e]);
        vcache[at] = f32_to_bf16(row[kv_dim + e]);
    }
}
