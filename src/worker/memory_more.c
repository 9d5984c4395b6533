/*
 * The worker's half of calls_memory_more.def that is not generated:
 *  - the stub's managed memory (a memfd mapped by the program and here, registered with the
 *    backend as mapped host memory, hostmap.c) never migrates, so its hints are answered here:
 *    advice and prefetch locations are remembered (src/driverkit/memadvice.c) and
 *    cuMemRangeGetAttribute answers from them; on other memory the backend answers;
 *  - the decoders of cuMemBatchDecompressAsync and cuMemMapArrayAsync, which check every
 *    pointer, handle and device inside their arrays against the session before the backend
 *    sees them.
 * Calls session checks (worker.c), devmap.c (device masks) and the backend table.
 */
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"
#include "devmap.h"
#include "memadvice.h"

#define NEED_BACKEND(fn) \
    do { if (!s->be.fn) return CUDA_ERROR_NOT_SUPPORTED; } while (0)
#define DONE_READING(call)                                                   \
    do {                                                                     \
        if (!tfp_reader_done(in))                                            \
            return tfw_malformed(s, call, "arguments do not match");         \
    } while (0)

/* One book for the process: sessions' managed ranges never overlap, and each query is first
 * checked to be the asking session's (tfw_managed_here). */
static struct dk_advice_book book = DK_ADVICE_BOOK_INIT;

int tfw_managed_here(const struct tfw_session *s, uint64_t p, uint64_t count)
{
    /* hostmap.c keeps a mapping's kind in bit 0 of its range's parent: 1 is managed memory */
    for (size_t i = 0; i < s->hostmaps.n; i++) {
        const struct tf_range *m = &s->hostmaps.v[i];
        if ((m->parent & 1) && p >= m->base && p - m->base < m->size &&
            count <= m->size - (p - m->base))
            return 1;
    }
    return 0;
}

CUresult tfw_advice_apply(uint64_t p, uint64_t count, CUmem_advise advice, CUmemLocation loc)
{
    return dk_advice_apply(&book, p, count, advice, loc) ? CUDA_ERROR_OUT_OF_MEMORY
                                                         : CUDA_SUCCESS;
}

CUresult tfw_advice_prefetched(uint64_t p, uint64_t count, CUmemLocation loc)
{
    return dk_advice_prefetched(&book, p, count, loc) ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_SUCCESS;
}

void tfw_advice_forget(uint64_t p, uint64_t count)
{
    dk_advice_forget(&book, p, count);
}

static PFN_cuMemRangeGetAttribute_v8000 orig_range_attr;

static CUresult w_range_attribute(void *data, size_t dataSize, CUmem_range_attribute attribute,
                                  CUdeviceptr devPtr, size_t count)
{
    if (tfw_managed_here(tfw_self, devPtr, count))
        return dk_advice_query(&book, data, dataSize, attribute, devPtr, count);
    return orig_range_attr(data, dataSize, attribute, devPtr, count);
}

void tfw_memrange_install(struct tfw_session *s)
{
    if (s->be.cuMemRangeGetAttribute) {
        orig_range_attr = s->be.cuMemRangeGetAttribute;
        TFW_WRAP(&s->be, cuMemRangeGetAttribute, w_range_attribute);
    }
}

/* ---- decompression ----
 * Request: u64 stream, u32 flags, u64 count, count CUmemDecompressParams.
 * Reply (always success): u32 the call's result, u64 errorIndex. Every operation names device
 * memory of the session: its input over srcNumBytes, its output over dstNumBytes (which must
 * be given: it is the only bound on what the backend writes), its 4-byte count. */
static CUresult check_decompress(struct tfw_session *s, const CUmemDecompressParams *p)
{
    if (!p->dstNumBytes)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = tfw_check_range(s, (uint64_t)(uintptr_t)p->src, p->srcNumBytes);
    if (r == CUDA_SUCCESS)
        r = tfw_check_range(s, (uint64_t)(uintptr_t)p->dst, p->dstNumBytes);
    if (r == CUDA_SUCCESS)
        r = tfw_check_range(s, (uint64_t)(uintptr_t)p->dstActBytes, sizeof(cuuint32_t));
    /* a NULL pointer passes the range check (length 0 aside); the backend refuses it */
    return r == CUDA_SUCCESS && p->src && p->dst && p->dstActBytes ? CUDA_SUCCESS
                                                                   : CUDA_ERROR_INVALID_VALUE;
}

static CUresult decompress(struct tfw_session *s, CUstream stream, unsigned flags,
                           CUmemDecompressParams *ops, uint64_t count, size_t *idx)
{
    CUresult r = tfw_check_handle(s, TFW_K_STREAM, (uint64_t)(uintptr_t)stream);
    if (r != CUDA_SUCCESS)
        return r;
    for (uint64_t i = 0; i < count; i++)
        if ((r = check_decompress(s, &ops[i])) != CUDA_SUCCESS) {
            *idx = i;
            return r;
        }
    NEED_BACKEND(cuMemBatchDecompressAsync);
    return s->be.cuMemBatchDecompressAsync(ops, count, flags, idx, stream);
}

CUresult tfw_custom_cuMemBatchDecompressAsync(struct tfw_session *s, struct tfp_reader *in,
                                              struct tfp_writer *out)
{
    CUstream stream = (CUstream)(uintptr_t)tfp_get_u64(in);
    unsigned flags = tfp_get_u32(in);
    uint64_t count = tfp_get_u64(in);
    s->last_stream = stream;
    const void *raw = count && count < (uint64_t)1 << 32
                          ? tfp_get_ref(in, count * sizeof(CUmemDecompressParams)) : NULL;
    if (!raw)
        return tfw_malformed(s, "cuMemBatchDecompressAsync", "no operations");
    DONE_READING("cuMemBatchDecompressAsync");
    CUmemDecompressParams *ops = malloc(count * sizeof *ops);   /* aligned for the backend */
    if (!ops)
        return CUDA_ERROR_OUT_OF_MEMORY;
    memcpy(ops, raw, count * sizeof *ops);
    size_t idx = SIZE_MAX;
    uint32_t res = (uint32_t)decompress(s, stream, flags, ops, count, &idx);
    free(ops);
    tfp_put(out, &res, sizeof res);
    tfp_put_u64(out, idx);
    return CUDA_SUCCESS;
}

/* ---- sparse array tiles ----
 * Request: u64 stream, u32 count, count CUarrayMapInfo. Each names an array or mipmapped array
 * of the session, a physical allocation of the session when it maps, and devices by a mask of
 * the session's ordinals (made the backend's). */
static CUresult backend_mask(struct tfw_session *s, unsigned mask, unsigned *be_mask)
{
    *be_mask = 0;
    for (int d = 0; d < 32; d++) {
        CUdevice dev;
        if (!(mask & (1u << d)))
            continue;
        if (tfw_devmap_to_backend(s, d, &dev) != CUDA_SUCCESS || dev < 0 || dev >= 32)
            return CUDA_ERROR_INVALID_DEVICE;
        *be_mask |= 1u << dev;
    }
    return CUDA_SUCCESS;
}

static CUresult check_map_info(struct tfw_session *s, CUarrayMapInfo *m)
{
    CUresult r;
    if (m->resourceType == CU_RESOURCE_TYPE_ARRAY)
        r = tfw_check_handle(s, TFW_K_ARRAY, (uint64_t)(uintptr_t)m->resource.array);
    else if (m->resourceType == CU_RESOURCE_TYPE_MIPMAPPED_ARRAY)
        r = tfw_check_handle(s, TFW_K_MIPMAP, (uint64_t)(uintptr_t)m->resource.mipmap);
    else
        return CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS && m->memOperationType == CU_MEM_OPERATION_TYPE_MAP) {
        if (m->memHandleType != CU_MEM_HANDLE_TYPE_GENERIC || !m->memHandle.memHandle)
            return CUDA_ERROR_INVALID_VALUE;
        r = tfw_check_handle(s, TFW_K_ALLOC, m->memHandle.memHandle);
    }
    return r == CUDA_SUCCESS ? backend_mask(s, m->deviceBitMask, &m->deviceBitMask) : r;
}

CUresult tfw_custom_cuMemMapArrayAsync(struct tfw_session *s, struct tfp_reader *in,
                                       struct tfp_writer *out)
{
    (void)out;
    CUstream stream = (CUstream)(uintptr_t)tfp_get_u64(in);
    uint32_t count = tfp_get_u32(in);
    s->last_stream = stream;
    const void *raw = count ? tfp_get_ref(in, (size_t)count * sizeof(CUarrayMapInfo)) : NULL;
    if (!raw)
        return tfw_malformed(s, "cuMemMapArrayAsync", "no operations");
    DONE_READING("cuMemMapArrayAsync");
    CUresult r = tfw_check_handle(s, TFW_K_STREAM, (uint64_t)(uintptr_t)stream);
    if (r != CUDA_SUCCESS)
        return r;
    CUarrayMapInfo *ops = malloc((size_t)count * sizeof *ops);
    if (!ops)
        return CUDA_ERROR_OUT_OF_MEMORY;
    memcpy(ops, raw, (size_t)count * sizeof *ops);
    for (uint32_t i = 0; r == CUDA_SUCCESS && i < count; i++)
        r = check_map_info(s, &ops[i]);
    if (r == CUDA_SUCCESS)
        r = s->be.cuMemMapArrayAsync ? s->be.cuMemMapArrayAsync(ops, count, stream)
                                     : CUDA_ERROR_NOT_SUPPORTED;
    free(ops);
    return r;
}
