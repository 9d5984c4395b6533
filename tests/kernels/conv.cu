// Corpus: conversions with explicit rounding modes and saturation (cvt.rni/rzi/rmi/rpi,
// out-of-range and NaN inputs), directed-rounding arithmetic, and narrowing double -> float.
extern "C" __global__ void convert_round(const float *x, const double *d, const int *k,
                                         int *iout, float *fout, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float v = x[i];
    int *o = iout + 8 * i;
    o[0] = __float2int_rn(v);
    o[1] = __float2int_rz(v);
    o[2] = __float2int_rd(v);
    o[3] = __float2int_ru(v);
    o[4] = (int)__float2uint_rz(v);
    long long ll = __float2ll_rd(v);
    o[5] = (int)(ll >> 32) ^ (int)ll;
    o[6] = (int)v; // C semantics: truncation (cvt.rzi)
    o[7] = __double2int_rn(d[i]);
    float *f = fout + 8 * i;
    f[0] = __int2float_rz(k[i]);
    f[1] = __int2float_rn(k[i]);
    f[2] = __double2float_rd(d[i]);
    f[3] = __double2float_ru(d[i]);
    f[4] = __saturatef(v);
    f[5] = __fmul_rz(v, 1.1f);
    f[6] = __fmul_ru(v, 1.1f);
    f[7] = (float)d[i];
}
