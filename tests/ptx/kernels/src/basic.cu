// Arithmetic by width, conversions and rounding; compiled to ../basic.ptx by regen.sh.
#include <cstdint>
extern "C" __global__ void vadd(const float *a, const float *b, float *c, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        c[i] = a[i] + b[i];
}

// out[i*32 + k]: a set of integer results for input x[i], y[i]
extern "C" __global__ void intops(const int *x, const int *y, long long *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int a = x[i], b = y[i];
    unsigned ua = a, ub = b;
    long long *o = out + i * 32;
    o[0] = a + b; o[1] = a - b; o[2] = a * b; o[3] = b ? a / b : 0; o[4] = b ? a % b : 0;
    o[5] = ub ? ua / ub : 0; o[6] = ub ? ua % ub : 0; o[7] = __mulhi(a, b); o[8] = __umulhi(ua, ub);
    o[9] = (long long)a * b; o[10] = min(a, b); o[11] = max(a, b); o[12] = umin(ua, ub);
    o[13] = abs(a); o[14] = a >> (b & 31); o[15] = ua >> (ub & 31); o[16] = a << (b & 31);
    o[17] = __popc(ua); o[18] = __clz(a); o[19] = __brev(ua); o[20] = __ffs(a);
    o[21] = __byte_perm(ua, ub, 0x5140); o[22] = __funnelshift_l(ua, ub, b); o[23] = __funnelshift_r(ua, ub, b);
    o[24] = (a & b) ^ (~a | b); o[25] = __sad(a, b, 7); o[26] = __usad(ua, ub, 3);
    long long la = (long long)a * 100003, lb = (long long)b * 7 + 1;
    o[27] = la / (lb ? lb : 1); o[28] = la % (lb ? lb : 1); o[29] = __mul64hi(la, lb);
    o[30] = (short)a + (signed char)b; o[31] = __popcll((unsigned long long)la) + __clzll(lb);
}

// conversions: out[i*16 + k]
extern "C" __global__ void cvtops(const float *f, const double *d, long long *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float x = f[i]; double y = d[i];
    long long *o = out + i * 16;
    o[0] = __float2int_rn(x); o[1] = __float2int_rz(x); o[2] = __float2int_rd(x); o[3] = __float2int_ru(x);
    o[4] = __float2uint_rn(x); o[5] = (long long)x; o[6] = __double2ll_rn(y); o[7] = (int)y;
    o[8] = __float_as_int(__int2float_rz(i * 16777217 + 1)); o[9] = __float_as_int((float)y);
    o[10] = __float_as_int(__double2float_rz(y)); o[11] = __double_as_longlong((double)x);
    o[12] = __float_as_int(rintf(x)); o[13] = __float_as_int(truncf(x)); o[14] = __float_as_int(floorf(x));
    o[15] = __float_as_int(ceilf(x));
}

// floating point: out[i*16 + k]
extern "C" __global__ void fops(const float *f, const double *d, float *of, double *od, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float x = f[i], z = f[(i + 1) % n];
    double y = d[i], w = d[(i + 1) % n];
    float *o = of + i * 16; double *p = od + i * 16;
    o[0] = x * z + 1.0f; o[1] = x / z; o[2] = sqrtf(fabsf(x)); o[3] = fminf(x, z); o[4] = fmaxf(x, z);
    o[5] = copysignf(x, z); o[6] = __fdividef(x, z); o[7] = rsqrtf(fabsf(x) + 1); o[8] = __expf(x * 0.01f);
    o[9] = __logf(fabsf(x) + 1); o[10] = __sinf(x); o[11] = __cosf(x); o[12] = fmaf(x, z, -x);
    o[13] = isnan(x / z) ? 1.0f : 0.0f; o[14] = __saturatef(x); o[15] = tanhf(x * 0.001f);
    p[0] = y * w; p[1] = y / w; p[2] = sqrt(fabs(y)); p[3] = fma(y, w, 1.0); p[4] = fmin(y, w);
    p[5] = y - w; p[6] = 1.0 / w; p[7] = (double)x; p[8] = y > w ? y : w; p[9] = floor(y);
    p[10] = copysign(y, w); p[11] = fabs(w); p[12] = rint(y); p[13] = y < w; p[14] = -y; p[15] = (double)(int)y;
}

// libdevice math (the large-argument trig reductions use mad.cc/madc carry chains)
extern "C" __global__ void mathfn(const double *x, double *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    double v = x[i];
    float f = (float)v;
    double *o = out + i * 8;
    o[0] = sin(v); o[1] = cos(v); o[2] = exp(v * 1e-9); o[3] = pow(fabs(v) + 1.0, 0.37);
    o[4] = atan2(v, 3.0); o[5] = sinf(f); o[6] = expf(f * 1e-9f); o[7] = cbrt(v);
}
