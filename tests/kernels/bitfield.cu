// Corpus: bmsk and szext (.clamp/.wrap), the packed fp8 conversions (cvt.rn.satfinite{.relu}
// .e4m3x2/.e5m2x2 from f32 pairs and f16x2, and back to f16x2), and the predefined identifiers
// (WARP_SZ, lane masks, the one-CTA cluster registers, %envreg, %pm, %reserved_smem_offset) as
// inline PTX. Compiled with -arch=sm_80 -ptx: nvcc passes the sm_89/sm_90 forms through.

extern "C" __global__ void bits_ops(const unsigned *a, const unsigned *b, unsigned *out)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    unsigned x = a[i], y = b[i], r[6];
    asm("bmsk.clamp.b32 %0, %1, %2;" : "=r"(r[0]) : "r"(x & 63), "r"(y));
    asm("bmsk.wrap.b32 %0, %1, %2;" : "=r"(r[1]) : "r"(x & 63), "r"(y));
    asm("szext.clamp.s32 %0, %1, %2;" : "=r"(r[2]) : "r"(x), "r"(y));
    asm("szext.wrap.s32 %0, %1, %2;" : "=r"(r[3]) : "r"(x), "r"(y));
    asm("szext.clamp.u32 %0, %1, %2;" : "=r"(r[4]) : "r"(x), "r"(y));
    asm("szext.wrap.u32 %0, %1, %2;" : "=r"(r[5]) : "r"(x), "r"(y));
    for (int k = 0; k < 6; k++)
        out[6 * i + k] = r[k];
}

extern "C" __global__ void fp8_convert(const float *x, unsigned *out)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    float hi = x[2 * i], lo = x[2 * i + 1];
    unsigned short e4, e5, e4r, h4;
    unsigned h2, back;
    asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(e4) : "f"(hi), "f"(lo));
    asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(e5) : "f"(hi), "f"(lo));
    asm("cvt.rn.satfinite.relu.e4m3x2.f32 %0, %1, %2;" : "=h"(e4r) : "f"(hi), "f"(lo));
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(h2) : "f"(hi), "f"(lo));
    asm("cvt.rn.satfinite.e4m3x2.f16x2 %0, %1;" : "=h"(h4) : "r"(h2));
    asm("cvt.rn.f16x2.e5m2x2 %0, %1;" : "=r"(back) : "h"(e5));
    out[4 * i + 0] = e4 | (unsigned)e5 << 16;
    out[4 * i + 1] = e4r | (unsigned)h4 << 16;
    out[4 * i + 2] = back;
    out[4 * i + 3] = h2;
}

extern "C" __global__ void special_regs(unsigned *o)
{
    unsigned v[16];
    asm("mov.u32 %0, WARP_SZ;" : "=r"(v[0]));
    asm("mov.u32 %0, %%laneid;" : "=r"(v[1]));
    asm("mov.u32 %0, %%lanemask_lt;" : "=r"(v[2]));
    asm("mov.u32 %0, %%lanemask_ge;" : "=r"(v[3]));
    asm("mov.u32 %0, %%clusterid.x;" : "=r"(v[4]));
    asm("mov.u32 %0, %%nclusterid.x;" : "=r"(v[5]));
    asm("mov.u32 %0, %%cluster_ctaid.x;" : "=r"(v[6]));
    asm("mov.u32 %0, %%cluster_nctaid.x;" : "=r"(v[7]));
    asm("mov.u32 %0, %%cluster_ctarank;" : "=r"(v[8]));
    asm("mov.u32 %0, %%cluster_nctarank;" : "=r"(v[9]));
    asm("{ .reg .pred p; mov.pred p, %%is_explicit_cluster; selp.u32 %0, 1, 0, p; }" : "=r"(v[10]));
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(v[11]));
    asm("mov.u32 %0, %%aggr_smem_size;" : "=r"(v[12]));
    unsigned long long pm;
    unsigned e, rs, p3;
    asm volatile("mov.u64 %0, %%pm0_64;" : "=l"(pm));
    asm volatile("mov.u32 %0, %%pm3;" : "=r"(p3));
    asm volatile("mov.u32 %0, %%envreg5;" : "=r"(e));
    asm volatile("mov.u32 %0, %%reserved_smem_offset_begin;" : "=r"(rs));
    v[13] = (unsigned)pm + p3 + e + rs; // values with no meaning here: they only have to load
    asm("mov.u32 %0, %%nwarpid;" : "=r"(v[14]));
    asm("mov.u32 %0, %%lanemask_eq;" : "=r"(v[15]));
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    for (int k = 0; k < 16; k++)
        o[16 * i + k] = v[k];
}
