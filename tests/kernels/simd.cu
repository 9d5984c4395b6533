// Corpus: integer intrinsics beyond the basics: dp4a, per-byte SIMD (vadd4, vabsdiffu4), sad,
// ffs, 64-bit clz/brev/popc, 24-bit multiplies, halving adds, 64-bit min/max/abs.
extern "C" __global__ void simd_ops(const unsigned *a, const unsigned *b, unsigned *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    unsigned x = a[i], y = b[i];
    unsigned long long xy = ((unsigned long long)x << 32) | y;
    unsigned *o = out + 12 * i;
    o[0] = (unsigned)__dp4a((int)x, (int)y, 17);
    o[1] = __vadd4(x, y);
    o[2] = __vabsdiffu4(x, y);
    o[3] = __sad((int)x, (int)y, 5u);
    o[4] = (unsigned)__ffs((int)(x & y));
    o[5] = (unsigned)__clzll(xy >> (y & 63));
    o[6] = (unsigned)(__brevll(xy) >> 16);
    o[7] = (unsigned)__mul24((int)x, (int)y);
    o[8] = __umul24(x, y);
    o[9] = (unsigned)__hadd((int)x, (int)y) ^ (unsigned)__rhadd((int)x, (int)y);
    long long s = (long long)xy - (long long)(y * 3ull << 31);
    o[10] = (unsigned)(llabs(s) >> 7);
    o[11] = (unsigned)(llmin(s, (long long)x) ^ (long long)umax(x, y));
}
