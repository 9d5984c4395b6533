/*
 * The C parameter list of a calls.def entry: TFP_PARAMS(args...) expands to the prototype's
 * parameters, e.g. TFP_PARAMS(DPOUT(dptr, n), IN(size_t, n)) -> CUdeviceptr *dptr, size_t n.
 * Used for the stub's entry points and the worker's internal calls.
 */
#ifndef TFUSE_PROTO_PARAMS_H
#define TFUSE_PROTO_PARAMS_H

#include "foreach.h"

#define TFP_PARAMS(...) TF_FOREACH_COMMA(TFP_PARAM, __VA_ARGS__)
#define TFP_PARAM(a) TFP_PARAM_##a
#define TFP_PARAM_VOID() void
#define TFP_PARAM_IN(T, n) T n
#define TFP_PARAM_OUT(T, n) T *n
#define TFP_PARAM_OUTOPT(T, n) T *n
#define TFP_PARAM_HIN(K, T, n) T n
#define TFP_PARAM_HOUT(K, T, n) T *n
#define TFP_PARAM_HDEL(K, T, n) T n
#define TFP_PARAM_DPTR(n, b) CUdeviceptr n
#define TFP_PARAM_DPOUT(n, b) CUdeviceptr *n
#define TFP_PARAM_DPADDR(n, b) TFP_PARAM_DPOUT(n, b)
#define TFP_PARAM_DPFREE(n) CUdeviceptr n
#define TFP_PARAM_DPADDRFREE(n) TFP_PARAM_DPFREE(n)
#define TFP_PARAM_DPOUT32(n, b) CUdeviceptr_v1 *n
#define TFP_PARAM_DPFREE32(n) CUdeviceptr_v1 n
#define TFP_PARAM_IBUF(T, n, b) T n
#define TFP_PARAM_OBUF(T, n, b) T n
#define TFP_PARAM_ISTR(n) const char *n
#define TFP_PARAM_DEV(n) CUdevice n
#define TFP_PARAM_DEVOUT(n) CUdevice *n
#define TFP_PARAM_LOC(T, n) T n
#define TFP_PARAM_HFOUND(K, T, n) T *n
#define TFP_PARAM_IBUFOPT(T, n, b) T n
#define TFP_PARAM_RESDESC(n) const CUDA_RESOURCE_DESC *n

#endif
