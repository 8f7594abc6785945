// Kernels the cuda backend itself uses: launch-latency probe and the L2 flush between timed
// samples.

extern "C" __global__ void kr_tiny(u32* flag) {
    if (threadIdx.x == 0 && blockIdx.x == 0) *flag += 1;
}

// Reads a buffer (evicting what the L2 held) and writes nothing unless a value no buffer holds
// turns up; the store keeps the loads from being optimised away.
extern "C" __global__ void kr_l2_flush(const uint4* __restrict__ p, u64 n16, u32* sink) {
    u32 acc = 0;
    for (u64 i = kr_tid(); i < n16; i += kr_nthreads()) {
        uint4 v = p[i];
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x9e3779b9u) *sink = acc;
}

// Writes a value where the host can read it (pinned host memory, mapped through UVA): the
// launch-to-result probe for a small result.
extern "C" __global__ void kr_tiny_put(u32* dst, u32 v) {
    if (threadIdx.x == 0 && blockIdx.x == 0) *dst = v;
}
