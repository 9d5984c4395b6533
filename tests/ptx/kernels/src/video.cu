// Scalar video instructions (vshr as cuSPARSE's PTX uses it, vshl, vadd, vsub, vabsdiff,
// vmax) with saturation, shift modes and secondary operations; compiled to ../video.ptx.
extern "C" __global__ void video(const unsigned *x, const unsigned *y, const unsigned *z,
                                 unsigned *out)
{
    int t = threadIdx.x;
    unsigned a = x[t], b = y[t], c = z[t], *o = out + t * 8;
    asm("vshr.u32.u32.u32.clamp.add %0, %1, %2, %3;" : "=r"(o[0]) : "r"(a), "r"(b), "r"(c));
    asm("vshr.s32.s32.u32.wrap %0, %1, %2;" : "=r"(o[1]) : "r"(a), "r"(b));
    asm("vshl.u32.u32.u32.clamp %0, %1, %2;" : "=r"(o[2]) : "r"(a), "r"(b));
    asm("vshl.u32.u32.u32.wrap.max %0, %1, %2, %3;" : "=r"(o[3]) : "r"(a), "r"(b), "r"(c));
    asm("vadd.s32.s32.s32.sat %0, %1, %2;" : "=r"(o[4]) : "r"(a), "r"(c));
    asm("vsub.u32.s32.s32.sat.min %0, %1, %2, %3;" : "=r"(o[5]) : "r"(a), "r"(c), "r"(b));
    asm("vabsdiff.s32.s32.s32.add %0, %1, %2, %3;" : "=r"(o[6]) : "r"(a), "r"(c), "r"(b));
    asm("vmax.s32.u32.s32 %0, %1, %2;" : "=r"(o[7]) : "r"(a), "r"(c));
}
