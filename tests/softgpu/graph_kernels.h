/*
 * Kernels and helpers shared by the graph tests (test_graph2.c, test_graph3.c): add_k adds a
 * constant to n words, loop_k counts in a word and sets a graph conditional handle to
 * (count < limit) through cudaGraphSetConditional, written as nvcc emits it.
 */
#ifndef GRAPH_KERNELS_H
#define GRAPH_KERNELS_H

#include "sg_test.h"

static const char graph_ptx[] =
    ".version 8.0\n.target sm_80\n.address_size 64\n"
    ".extern .func cudaGraphSetConditional\n"
    "(\n  .param .b64 cudaGraphSetConditional_param_0,\n"
    "  .param .b32 cudaGraphSetConditional_param_1\n)\n;\n"
    ".visible .entry add_k(.param .u64 p_data, .param .u32 p_n, .param .u32 p_k)\n"
    "{\n"
    "  .reg .pred %p<2>;\n  .reg .b32 %r<8>;\n  .reg .b64 %rd<5>;\n"
    "  ld.param.u64 %rd1, [p_data];\n  ld.param.u32 %r1, [p_n];\n  ld.param.u32 %r7, [p_k];\n"
    "  mov.u32 %r2, %ctaid.x;\n  mov.u32 %r3, %ntid.x;\n  mov.u32 %r4, %tid.x;\n"
    "  mad.lo.s32 %r5, %r2, %r3, %r4;\n  setp.ge.u32 %p1, %r5, %r1;\n  @%p1 bra DONE;\n"
    "  cvta.to.global.u64 %rd2, %rd1;\n  mul.wide.u32 %rd3, %r5, 4;\n  add.s64 %rd4, %rd2, %rd3;\n"
    "  ld.global.u32 %r6, [%rd4];\n  add.s32 %r6, %r6, %r7;\n  st.global.u32 [%rd4], %r6;\n"
    "DONE:\n  ret;\n}\n"
    ".visible .entry loop_k(.param .u64 p_h, .param .u64 p_count, .param .u32 p_limit)\n"
    "{\n"
    "  .reg .pred %p<2>;\n  .reg .b32 %r<5>;\n  .reg .b64 %rd<4>;\n"
    "  ld.param.u64 %rd1, [p_h];\n  ld.param.u64 %rd2, [p_count];\n  ld.param.u32 %r1, [p_limit];\n"
    "  cvta.to.global.u64 %rd3, %rd2;\n  ld.global.u32 %r2, [%rd3];\n  add.s32 %r3, %r2, 1;\n"
    "  st.global.u32 [%rd3], %r3;\n  setp.lt.s32 %p1, %r3, %r1;\n  selp.u32 %r4, 1, 0, %p1;\n"
    "  { // callseq 0, 0\n  .reg .b32 temp_param_reg;\n  .param .b64 param0;\n"
    "  st.param.b64 [param0+0], %rd1;\n  .param .b32 param1;\n  st.param.b32 [param1+0], %r4;\n"
    "  call.uni \n  cudaGraphSetConditional, \n  (\n  param0, \n  param1\n  );\n  } // callseq 0\n"
    "  ret;\n}\n";

static inline CUfunction graph_kernel(CUmodule *m, const char *name)
{
    if (!*m)
        CU_OK(cuModuleLoadData(m, graph_ptx));
    CUfunction f;
    CU_OK(cuModuleGetFunction(&f, *m, name));
    return f;
}

/* Kernel node parameters for add_k over n words at d, adding *k. */
static inline CUDA_KERNEL_NODE_PARAMS add_params(CUfunction f, void **args)
{
    return (CUDA_KERNEL_NODE_PARAMS){.func = f, .gridDimX = 1, .gridDimY = 1, .gridDimZ = 1,
                                     .blockDimX = 64, .blockDimY = 1, .blockDimZ = 1,
                                     .kernelParams = args};
}

static inline void graph_run(CUgraph g)
{
    CUgraphExec x;
    CU_OK(cuGraphInstantiate(&x, g, 0));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    CU_OK(cuGraphExecDestroy(x));
}

static inline unsigned word_at(CUdeviceptr d, size_t i)
{
    unsigned v;
    CU_OK(cuMemcpyDtoH(&v, d + 4 * i, 4));
    return v;
}

#endif
