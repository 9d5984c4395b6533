// Corpus: integer operations: popc/clz/brev, bit-field extract, funnel shifts, byte permute,
// high multiplies, and 64-bit division and remainder (signed and unsigned).
extern "C" __global__ void int_bits(const unsigned *a, const unsigned *b, unsigned *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    unsigned x = a[i], y = b[i], field;
    unsigned pos = y & 31, len = (y >> 5) & 15;
    asm("bfe.u32 %0, %1, %2, %3;" : "=r"(field) : "r"(x), "r"(pos), "r"(len));
    int sfield;
    asm("bfe.s32 %0, %1, %2, %3;" : "=r"(sfield) : "r"((int)x), "r"(pos), "r"(len));
    unsigned *o = out + 10 * i;
    o[0] = __popc(x);
    o[1] = __clz(x);
    o[2] = __brev(x);
    o[3] = field;
    o[4] = (unsigned)sfield;
    o[5] = __funnelshift_l(x, y, y & 63);
    o[6] = __funnelshift_r(x, y, y & 63);
    o[7] = __umulhi(x, y);
    o[8] = (unsigned)__mulhi((int)x, (int)y);
    o[9] = __byte_perm(x, y, 0x5140) ^ (unsigned)__popcll(((unsigned long long)x << 32) | y);
}

extern "C" __global__ void int64_div(const long long *a, const long long *b,
                                     long long *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    long long x = a[i], y = b[i];
    unsigned long long ux = (unsigned long long)x, uy = (unsigned long long)y;
    out[6 * i + 0] = x / y;
    out[6 * i + 1] = x % y;
    out[6 * i + 2] = (long long)(ux / uy);
    out[6 * i + 3] = (long long)(ux % uy);
    out[6 * i + 4] = (long long)__umul64hi(ux, uy);
    out[6 * i + 5] = __mul64hi(x, y) + (x >> (y & 63)) + (long long)(ux >> (y & 63));
}
