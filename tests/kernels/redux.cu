// Corpus: sm_80 warp reductions (redux.sync: __reduce_add/max/or_sync) and match.any.sync.

extern "C" __global__ void warp_reduce_match(const unsigned *in, unsigned *out)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    unsigned v = in[i];
    out[4 * i + 0] = __reduce_add_sync(0xffffffffu, v);
    out[4 * i + 1] = (unsigned)__reduce_max_sync(0xffffffffu, (int)v);
    out[4 * i + 2] = __reduce_or_sync(0xffffffffu, v);
    out[4 * i + 3] = __match_any_sync(0xffffffffu, v & 3);
}
