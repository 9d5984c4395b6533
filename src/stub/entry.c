/*
 * The stub's entry points for every calls.def TF_CALL and TF_INTERNAL entry, expanded from the
 * table: check the arguments a driver would refuse, encode, send (pipelined calls are not
 * waited for), decode the outputs. Each definition of a driver name is checked by the compiler
 * against its prototype in cuda.h.
 *
 * Reply outputs are read in the worker's order: bulk buffers (OBUF) first, then the others.
 * May call: conn.c (the transaction), local.c (the stub's record of device allocations).
 */
#include <string.h>

#include "stub.h"

/* ---- arguments the driver would refuse before doing anything ---- */
#define TFS_PRE(a) TFS_PRE_##a
#define TFS_PRE_VOID()
#define TFS_PRE_IN(T, n)
#define TFS_PRE_DEV(n)
#define TFS_PRE_DEVOUT(n) TFS_PRE_OUT(CUdevice, n)
#define TFS_PRE_LOC(T, n) if (!n) return CUDA_ERROR_INVALID_VALUE;
#define TFS_PRE_HFOUND(K, T, n) TFS_PRE_HOUT(K, T, n)
#define TFS_PRE_IBUFOPT(T, n, b)
#define TFS_PRE_RESDESC(n) if (!n) return CUDA_ERROR_INVALID_VALUE;
#define TFS_PRE_OUT(T, n) if (!n) return CUDA_ERROR_INVALID_VALUE;
#define TFS_PRE_OUTOPT(T, n) T n##_ignored; if (!n) n = &n##_ignored;
#define TFS_PRE_HIN(K, T, n)
#define TFS_PRE_HOUT(K, T, n) if (!n) return CUDA_ERROR_INVALID_VALUE;
/* The release of an allocation handle the program retained again (cuMemRetainAllocationHandle)
 * is answered here while it holds extra references (share.c); the worker holds one. */
#define TFS_PRE_HDEL(K, T, n) \
    if (!strcmp(#K, "ALLOC") && tfs_share_release(TFS_HANDLE(n))) return CUDA_SUCCESS;
#define TFS_PRE_DPTR(n, b)
#define TFS_PRE_DPOUT(n, b) if (!n) return CUDA_ERROR_INVALID_VALUE;
#define TFS_PRE_DPADDR(n, b) TFS_PRE_DPOUT(n, b)
#define TFS_PRE_DPFREE(n)
#define TFS_PRE_DPADDRFREE(n) TFS_PRE_DPFREE(n)
#define TFS_PRE_IBUF(T, n, b) if (!n && (b) != 0) return CUDA_ERROR_INVALID_VALUE;
#define TFS_PRE_OBUF(T, n, b) if (!n && (b) != 0) return CUDA_ERROR_INVALID_VALUE; int n##_shared;
#define TFS_PRE_ISTR(n) if (!n || strlen(n) >= TFP_MAX_STRING) return CUDA_ERROR_INVALID_VALUE;
#define TFS_PRE_DPOUT32(n, b) TFS_PRE_DPOUT(n, b)
#define TFS_PRE_DPFREE32(n)

/* ---- request ---- */
#define TFS_ENC(a) TFS_ENC_##a
#define TFS_ENC_VOID()
#define TFS_ENC_IN(T, n) tfp_put(c.w, &n, sizeof n);
#define TFS_ENC_DEV(n) tfp_put(c.w, &n, sizeof n);
#define TFS_ENC_DEVOUT(n)
#define TFS_ENC_LOC(T, n) tfs_put_in(&c, n, sizeof(CUmemLocation));
#define TFS_ENC_HFOUND(K, T, n)
#define TFS_ENC_IBUFOPT(T, n, b) tfs_put_in(&c, n, n ? (size_t)(b) : 0);
#define TFS_ENC_RESDESC(n) tfs_put_in(&c, n, sizeof *n);
#define TFS_ENC_OUT(T, n)
#define TFS_ENC_OUTOPT(T, n)
#define TFS_ENC_HIN(K, T, n) tfp_put_u64(c.w, TFS_HANDLE_##K(n));
/* A stream goes as the program means it: the NULL stream of a per-thread entry point is the
 * per-thread stream (tfs_stream_arg). */
#define TFS_HANDLE_STREAM(n) tfs_stream_arg(n)
#define TFS_HANDLE(n) ((uint64_t)(uintptr_t)(n))
#define TFS_HANDLE_CTX TFS_HANDLE
#define TFS_HANDLE_EVENT TFS_HANDLE
#define TFS_HANDLE_MOD TFS_HANDLE
#define TFS_HANDLE_FUNC TFS_HANDLE
#define TFS_HANDLE_LIB TFS_HANDLE
#define TFS_HANDLE_KERN TFS_HANDLE
#define TFS_HANDLE_POOL TFS_HANDLE
#define TFS_HANDLE_ALLOC TFS_HANDLE
#define TFS_HANDLE_GRAPH TFS_HANDLE
#define TFS_HANDLE_GEXEC TFS_HANDLE
#define TFS_HANDLE_NODE TFS_HANDLE
#define TFS_HANDLE_ARRAY TFS_HANDLE
#define TFS_HANDLE_MIPMAP TFS_HANDLE
#define TFS_HANDLE_TEXOBJ TFS_HANDLE
#define TFS_HANDLE_SURFOBJ TFS_HANDLE
#define TFS_HANDLE_TEXREF TFS_HANDLE
#define TFS_HANDLE_SURFREF TFS_HANDLE
#define TFS_HANDLE_LINK TFS_HANDLE
#define TFS_HANDLE_GREEN TFS_HANDLE
#define TFS_HANDLE_RDESC TFS_HANDLE
#define TFS_HANDLE_EXTMEM TFS_HANDLE
#define TFS_HANDLE_EXTSEM TFS_HANDLE
#define TFS_ENC_HOUT(K, T, n)
#define TFS_ENC_HDEL(K, T, n) tfp_put_u64(c.w, (uint64_t)(uintptr_t)n);
#define TFS_ENC_DPTR(n, b) tfp_put_u64(c.w, (uint64_t)n);
#define TFS_ENC_DPOUT(n, b)
#define TFS_ENC_DPADDR(n, b) TFS_ENC_DPOUT(n, b)
#define TFS_ENC_DPFREE(n) tfp_put_u64(c.w, (uint64_t)n);
#define TFS_ENC_DPADDRFREE(n) TFS_ENC_DPFREE(n)
#define TFS_ENC_IBUF(T, n, b) tfs_put_in(&c, n, (size_t)(b));
#define TFS_ENC_OBUF(T, n, b) n##_shared = tfs_put_out(&c, n, (size_t)(b));
#define TFS_ENC_ISTR(n) tfp_put_str(c.w, n);
#define TFS_ENC_DPOUT32(n, b)
#define TFS_ENC_DPFREE32(n) TFS_ENC_DPFREE(n)

/* ---- reply: bulk outputs first ---- */
#define TFS_BULK(a) TFS_BULK_##a
#define TFS_BULK_VOID()
#define TFS_BULK_IN(T, n)
#define TFS_BULK_DEV(n)
#define TFS_BULK_DEVOUT(n)
#define TFS_BULK_LOC(T, n)
#define TFS_BULK_HFOUND(K, T, n)
#define TFS_BULK_IBUFOPT(T, n, b)
#define TFS_BULK_RESDESC(n)
#define TFS_BULK_OUT(T, n)
#define TFS_BULK_OUTOPT(T, n)
#define TFS_BULK_HIN(K, T, n)
#define TFS_BULK_HOUT(K, T, n)
#define TFS_BULK_HDEL(K, T, n)
#define TFS_BULK_DPTR(n, b)
#define TFS_BULK_DPOUT(n, b)
#define TFS_BULK_DPADDR(n, b) TFS_BULK_DPOUT(n, b)
#define TFS_BULK_DPFREE(n)
#define TFS_BULK_DPADDRFREE(n) TFS_BULK_DPFREE(n)
#define TFS_BULK_IBUF(T, n, b)
#define TFS_BULK_OBUF(T, n, b) if (!n##_shared) tfs_get(&c, n, (size_t)(b));
#define TFS_BULK_ISTR(n)
#define TFS_BULK_DPOUT32(n, b)
#define TFS_BULK_DPFREE32(n)

#define TFS_DEC(a) TFS_DEC_##a
#define TFS_DEC_VOID()
#define TFS_DEC_IN(T, n)
#define TFS_DEC_DEV(n)
#define TFS_DEC_DEVOUT(n) TFS_DEC_OUT(CUdevice, n)
#define TFS_DEC_LOC(T, n)
#define TFS_DEC_HFOUND(K, T, n) TFS_DEC_HOUT(K, T, n)
#define TFS_DEC_IBUFOPT(T, n, b)
#define TFS_DEC_RESDESC(n)
#define TFS_DEC_OUT(T, n) tfs_get(&c, n, sizeof *n);
#define TFS_DEC_OUTOPT(T, n) tfs_get(&c, n, sizeof *n);
#define TFS_DEC_HIN(K, T, n)
#define TFS_DEC_HOUT(K, T, n) *n = (T)(uintptr_t)tfs_get_u64(&c);
#define TFS_DEC_HDEL(K, T, n)
#define TFS_DEC_DPTR(n, b)
#define TFS_DEC_DPOUT(n, b) *n = (CUdeviceptr)tfs_get_u64(&c);
#define TFS_DEC_DPADDR(n, b) TFS_DEC_DPOUT(n, b)
#define TFS_DEC_DPFREE(n)
#define TFS_DEC_DPADDRFREE(n) TFS_DEC_DPFREE(n)
#define TFS_DEC_IBUF(T, n, b)
#define TFS_DEC_OBUF(T, n, b)
#define TFS_DEC_ISTR(n)
#define TFS_DEC_DPOUT32(n, b) *n = (CUdeviceptr_v1)tfs_get_u64(&c);
#define TFS_DEC_DPFREE32(n)

/* ---- after success: the stub's record of device allocations (for unified copies) ---- */
#define TFS_POST(a) TFS_POST_##a
#define TFS_POST_VOID()
#define TFS_POST_IN(T, n)
#define TFS_POST_DEV(n)
#define TFS_POST_DEVOUT(n)
#define TFS_POST_LOC(T, n)
#define TFS_POST_HFOUND(K, T, n)
#define TFS_POST_IBUFOPT(T, n, b)
#define TFS_POST_RESDESC(n)
#define TFS_POST_OUT(T, n)
#define TFS_POST_OUTOPT(T, n)
#define TFS_POST_HIN(K, T, n)
#define TFS_POST_HOUT(K, T, n)
#define TFS_POST_HDEL(K, T, n)
#define TFS_POST_DPTR(n, b)
#define TFS_POST_DPOUT(n, b) tfs_dev_add(*n, (size_t)(b));
#define TFS_POST_DPADDR(n, b) TFS_POST_DPOUT(n, b)
#define TFS_POST_DPFREE(n) tfs_dev_del(n); tfs_managed_forget(n);
#define TFS_POST_DPADDRFREE(n) TFS_POST_DPFREE(n)
#define TFS_POST_IBUF(T, n, b)
#define TFS_POST_OBUF(T, n, b)
#define TFS_POST_ISTR(n)
#define TFS_POST_DPOUT32(n, b) TFS_POST_DPOUT(n, b)
#define TFS_POST_DPFREE32(n) TFS_POST_DPFREE(n)

/* The host copies that may be larger than the session's frame bound are generated under
 * tfs_whole_NAME: the driver's name is bigcopy.c's, which calls them in pieces. */
#define TFS_SPLIT_cuMemcpyHtoD_v2 ~, 1
#define TFS_SPLIT_cuMemcpyDtoH_v2 ~, 1
#define TFS_SPLIT_cuMemcpyHtoDAsync_v2 ~, 1
#define TFS_SPLIT_cuMemcpyDtoHAsync_v2 ~, 1
#define TFS_SECOND_(a, b, ...) b
#define TFS_SECOND(...) TFS_SECOND_(__VA_ARGS__)
#define TFS_CAT_(a, b) a##b
#define TFS_CAT(a, b) TFS_CAT_(a, b)
#define TFS_NAME_0(sym) sym
#define TFS_NAME_1(sym) tfs_whole_##sym
#define TFS_NAME(sym) TFS_CAT(TFS_NAME_, TFS_SECOND(TFS_SPLIT_##sym, 0, ~))(sym)

#define TFS_ENTRY(sym, ...)                                                                    \
    CUresult CUDAAPI TFS_NAME(sym)(TFP_PARAMS(__VA_ARGS__))                                    \
    {                                                                                          \
        struct tfs_call c;                                                                     \
        TF_FOREACH(TFS_PRE, __VA_ARGS__)                                                       \
        CUresult r = tfs_begin(&c, TFP_ID_##sym);                                              \
        if (r != CUDA_SUCCESS)                                                                 \
            return r;                                                                          \
        TF_FOREACH(TFS_ENC, __VA_ARGS__)                                                       \
        r = tfs_transact(&c);                                                                  \
        if (r == CUDA_SUCCESS) {                                                               \
            TF_FOREACH(TFS_BULK, __VA_ARGS__)                                                  \
            TF_FOREACH(TFS_DEC, __VA_ARGS__)                                                   \
        }                                                                                      \
        r = tfs_end(&c, r);                                                                    \
        if (r == CUDA_SUCCESS) {                                                               \
            TF_FOREACH(TFS_POST, __VA_ARGS__)                                                  \
        }                                                                                      \
        return r;                                                                              \
    }

#define TF_CALL(sym, base, ver, mode, ...) TFS_ENTRY(sym, __VA_ARGS__)
#define TF_INTERNAL(sym, mode, ...) TFS_ENTRY(sym, __VA_ARGS__)
#include "calls_defaults.h"
#include "calls.def"
#include "calls_undef.h"
