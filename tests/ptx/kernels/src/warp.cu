// Warp shuffles, votes, match, redux; compiled to ../warp.ptx.
extern "C" __global__ void warpops(const int *in, int *out)
{
    int t = threadIdx.x, v = in[t];
    int s = v;
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffff, s, o);
    int *r = out + t * 8;
    r[0] = s;
    r[1] = __shfl_up_sync(0xffffffff, v, 3);
    r[2] = __shfl_down_sync(0xffffffff, v, 5, 16);
    r[3] = __shfl_sync(0xffffffff, v, (t * 7) & 31);
    r[4] = __ballot_sync(0xffffffff, v & 1);
    r[5] = __all_sync(0xffffffff, v > 0) * 2 + __any_sync(0xffffffff, v > 1000);
    r[6] = __match_any_sync(0xffffffff, v & 3);
    r[7] = __reduce_add_sync(0xffffffff, v) ^ __reduce_max_sync(0xffffffff, (unsigned)v);
}

extern "C" __global__ void divergent_ballot(int *out)
{
    int t = threadIdx.x;
    if (t & 1) out[t] = __activemask();
    else out[t] = __ballot_sync(__activemask(), t & 2);
}
