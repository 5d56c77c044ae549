// The small kernels between GEMMs: bf16 conversion, SiLU-gated FFN activation, residual add, random fills. Each is
// one pass over its data, a grid-stride loop.

// y = bf16(x), n elements.
extern "C" __global__ void to_bf16(const float* __restrict__ x, size_t n, bf16_t* __restrict__ y) {
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        y[e] = f32_to_bf16(x[e]);
}

// gate_up rows are [gate (inter) | up (inter)]; act = bf16(silu(gate) * up).
extern "C" __global__ void silu_mul(const float* __restrict__ gate_up, int tokens, int inter,
                                    bf16_t* __restrict__ act) {
    const size_t n = (size_t)tokens * inter;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        const size_t t = e / inter, i = e % inter;
        const float g = gate_up[t * 2 * inter + i], u = gate_up[t * 2 * inter + inter + i];
        act[e] = f32_to_bf16(g / (1.0f + __expf(-g)) * u);
    }
}

extern "C" __global__ void add_to(float* __restrict__ x, const float* __restrict__ y, int n) {
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < n; e += gridDim.x * blockDim.x) x[e] += y[e];
}

// A counter-based hash (splitmix64) to uniform in [-scale, scale): random
// data with no host upload, never zeros.
__device__ __forceinline__ float uniform(unsigned long long seed, size_t i, float scale) {
    unsigned long long z = seed + (unsigned long long)i * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return ((float)(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * scale;
}

extern "C" __global__ void fill_bf16(bf16_t* __restrict__ y, size_t n, unsigned long long seed, float scale) {
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        y[e] = f32_to_bf16(uniform(seed, e, scale));
}

extern "C" __global__ void fill_f32(float* __restrict__ y, size_t n, unsigned long long seed, float scale) {
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        y[e] = uniform(seed, e, scale);
}
