// Paged attention over a KV block table, for decode and prefill alike:
// every step token (a decode's one token, or each token of a prefill
// chunk) attends causally to its sequence's keys 0..=position.
//
// attention_split: grid (splits, kv_heads, tokens), one warp per query
// head of the KV head's group. The keys are split into ranges of
// split_keys (split-K over the KV length, so that a batch of one long
// sequence still fills the GPU); each warp runs an online softmax over its
// range, 32 keys at a time (lane i scores key i: a whole K row per lane,
// then V accumulated with the probabilities broadcast by shuffles), and
// writes its unnormalized output with (running max, running sum).
// attention_combine rescales the splits into the final output.
//
// Cache layout: [block][kv_head][slot (16)][head_dim] bf16; queries are
// the first heads * head_dim columns of the fp32 QKV rows. head_dim <= 256.

#define BLOCK_TOKENS 16
#define MAX_DIMS_PER_LANE 8
#define NEG_INF __int_as_float(0xff800000)

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ size_t cache_index(const int* table, int table_start, int pos, int kv_heads, int head,
                                              int head_dim) {
    const int block = table[table_start + pos / BLOCK_TOKENS];
    return (((size_t)block * kv_heads + head) * BLOCK_TOKENS + pos % BLOCK_TOKENS) * head_dim;
}

extern "C" __global__ void attention_split(const float* __restrict__ qkv, int qkv_stride,
                                           const bf16_t* __restrict__ kcache, const bf16_t* __restrict__ vcache,
                                           const int* __restrict__ token_seq, const int* __restrict__ token_pos,
                                           const int* __restrict__ table_start, const int* __restrict__ table,
                                           int heads, int kv_heads, int head_dim, int split_keys,
                                           float* __restrict__ part_out, float* __restrict__ part_ml) {
    extern __shared__ float q_shared[];
    const int split = blockIdx.x, kvh = blockIdx.y, token = blockIdx.z, splits = gridDim.x;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int group = heads / kv_heads, head = kvh * group + warp;
    const int seq = token_seq[token], pos = token_pos[token], tstart = table_start[seq];
    const float scale = rsqrtf((float)head_dim);
    float* q = q_shared + warp * head_dim;
    for (int d = lane; d < head_dim; d += 32) q[d] = qkv[(size_t)token * qkv_stride + head * head_dim + d] * scale;
    __syncwarp();

    const int begin = split * split_keys;
    const int end = min(begin + split_keys, pos + 1);
    float m = NEG_INF, l = 0.0f, acc[MAX_DIMS_PER_LANE];
#pragma unroll
    for (int i = 0; i < MAX_DIMS_PER_LANE; ++i) acc[i] = 0.0f;
    for (int base = begin; base < end; base += 32) {
        const int key = base + lane;
        float s = NEG_INF;
        if (key < end) {
            const bf16_t* k = kcache + cache_index(table, tstart, key, kv_heads, kvh, head_dim);
            float dot = 0.0f;
            for (int d = 0; d < head_dim; d += 2) {
                const unsigned pair = *(const unsigned*)(k + d);
                dot += q[d] * __uint_as_float(pair << 16) + q[d + 1] * __uint_as_float(pair & 0xffff0000u);
            }
            s = dot;
        }
        const float m_new = fmaxf(m, warp_max(s));
        const float p = key < end ? __expf(s - m_new) : 0.0f;
        const float corr = __expf(m - m_new);
        l = l * corr + warp_sum(p);
#pragma unroll
        for (int i = 0; i < MAX_DIMS_PER_LANE; ++i) acc[i] *= corr;
        const int n = min(32, end - base);
        for (int j = 0; j < n; ++j) {
            const float pj = __shfl_sync(0xffffffffu, p, j);
            const bf16_t* v = vcache + cache_index(table, tstart, base + j, kv_heads, kvh, head_dim);
#pragma unroll
            for (int i = 0; i < MAX_DIMS_PER_LANE; ++i) {
                const int d = lane + 32 * i;
                if (d < head_dim) acc[i] += pj * bf16_to_f32(v[d]);
            }
        }
        m = m_new;
    }
    const size_t part = ((size_t)token * heads + head) * splits + split;
#pragma unroll
    for (int i = 0; i < MAX_DIMS_PER_LANE; ++i) {
        const int d = lane + 32 * i;
        if (d < head_dim) part_out[part * head_dim + d] = acc[i];
    }
    if (lane == 0) {
        part_ml[2 * part] = m;
        part_ml[2 * part + 1] = l;
    }
}

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
