/*
 * cuMemBatchDecompressAsync: the decompression engine of recent GPUs, run on the stream by the
 * libraries the formats come from: zlib for Deflate (raw RFC 1951 streams, no zlib or gzip
 * header), libsnappy for Snappy (the raw format, its length varint first) and liblz4 for LZ4
 * (one raw block). The batch is checked when submitted (every pointer device memory of ours,
 * the padding zero, the algorithm one of the three; *errorIndex names the bad operation); a
 * stream that does not decode, or decodes to more than its output holds, is that operation's
 * failure: it reports 0 actual bytes, as nothing it wrote can be trusted. Output never goes past
 * dstNumBytes (or, when that is 0, past the end of dst's allocation). Calls memory.c (regions)
 * and stream.c (the work item).
 */
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <snappy-c.h>
#include <zlib.h>

#include "softgpu.h"

struct dec_work {
    struct sg_work base;
    size_t count;
    CUmemDecompressParams ops[];
};

static uint64_t inflate_raw(const void *src, size_t n, void *dst, size_t cap)
{
    z_stream z = {0};
    if (inflateInit2(&z, -15) != Z_OK)
        return 0;
    uint64_t done = 0;
    int rc = Z_OK;
    /* zlib counts in uInt: feed and drain in pieces for buffers past 4 GiB */
    const unsigned char *in = src;
    unsigned char *out = dst;
    size_t in_left = n, out_left = cap;
    while (rc == Z_OK) {
        if (!z.avail_in && in_left) {
            z.next_in = (unsigned char *)in;
            z.avail_in = in_left > UINT32_MAX ? UINT32_MAX : (uInt)in_left;
            in += z.avail_in;
            in_left -= z.avail_in;
        }
        if (!z.avail_out && out_left) {
            z.next_out = out;
            z.avail_out = out_left > UINT32_MAX ? UINT32_MAX : (uInt)out_left;
            out += z.avail_out;
            out_left -= z.avail_out;
        }
        rc = inflate(&z, Z_NO_FLUSH);
    }
    done = z.total_out;
    inflateEnd(&z);
    return rc == Z_STREAM_END ? done : 0;
}

/* The bytes one operation produced; 0 when its stream is bad or its output too small. */
static uint64_t decompress_one(const CUmemDecompressParams *p, size_t cap)
{
    const void *src = p->src;
    switch (p->algo) {
    case CU_MEM_DECOMPRESS_ALGORITHM_DEFLATE:
        return inflate_raw(src, p->srcNumBytes, p->dst, cap);
    case CU_MEM_DECOMPRESS_ALGORITHM_SNAPPY: {
        size_t len = 0;
        if (snappy_uncompressed_length(src, p->srcNumBytes, &len) != SNAPPY_OK || len > cap)
            return 0;
        return snappy_uncompress(src, p->srcNumBytes, p->dst, &len) == SNAPPY_OK ? len : 0;
    }
    default: {
        if (p->srcNumBytes > INT32_MAX)
            return 0;
        int got = LZ4_decompress_safe(src, p->dst, (int)p->srcNumBytes,
                                      cap > INT32_MAX ? INT32_MAX : (int)cap);
        return got > 0 ? (uint64_t)got : 0;
    }
    }
}

/* What dst may receive: dstNumBytes, or the rest of its allocation when that is 0. */
static size_t capacity(const CUmemDecompressParams *p)
{
    struct sg_region reg;
    uint64_t dst = (uint64_t)(uintptr_t)p->dst;
    if (p->dstNumBytes)
        return p->dstNumBytes;
    return sg_mem_find(dst, &reg) == 0 ? reg.start + reg.size - dst : 0;
}

static CUresult dec_exec(struct sg_ctx *ctx, struct sg_stream *s, struct sg_work *w)
{
    (void)ctx, (void)s;
    struct dec_work *d = (struct dec_work *)w;
    for (size_t i = 0; i < d->count; i++) {
        const CUmemDecompressParams *p = &d->ops[i];
        uint64_t got = decompress_one(p, capacity(p));
        *p->dstActBytes = got > UINT32_MAX ? 0 : (cuuint32_t)got;
    }
    return CUDA_SUCCESS;
}

static struct sg_work *dec_clone(const struct sg_work *w)
{
    const struct dec_work *d = (const struct dec_work *)w;
    return sg_work_dup(w, sizeof *d + d->count * sizeof d->ops[0]);
}

static int ptr_ok(const void *p, uint64_t len)
{
    return p && sg_mem_ok((uint64_t)(uintptr_t)p, len ? len : 1);
}

static CUresult check_op(const CUmemDecompressParams *p)
{
    static const unsigned char zero[sizeof p->padding];
    if (memcmp(p->padding, zero, sizeof zero) != 0 || !p->srcNumBytes ||
        p->srcNumBytes > SG_DECOMPRESS_MAX || p->dstNumBytes > SG_DECOMPRESS_MAX)
        return CUDA_ERROR_INVALID_VALUE;
    if (p->algo != CU_MEM_DECOMPRESS_ALGORITHM_DEFLATE &&
        p->algo != CU_MEM_DECOMPRESS_ALGORITHM_SNAPPY && p->algo != CU_MEM_DECOMPRESS_ALGORITHM_LZ4)
        return CUDA_ERROR_INVALID_VALUE;
    if (!ptr_ok(p->src, p->srcNumBytes) || !ptr_ok(p->dstActBytes, sizeof(cuuint32_t)) ||
        !ptr_ok(p->dst, capacity(p)))
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}

CUresult cuMemBatchDecompressAsync(CUmemDecompressParams *paramsArray, size_t count,
                                   unsigned int flags, size_t *errorIndex, CUstream stream)
{
    if (errorIndex)
        *errorIndex = SIZE_MAX;
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(stream, &s);
    if (r)
        return r;
    if (!paramsArray || !count || flags || count > SIZE_MAX / sizeof *paramsArray / 2)
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < count; i++)
        if ((r = check_op(&paramsArray[i])) != CUDA_SUCCESS) {
            if (errorIndex)
                *errorIndex = i;
            return r;
        }
    struct dec_work *d = sg_work_new(sizeof *d + count * sizeof d->ops[0], SG_W_NOP, dec_exec,
                                     dec_clone, NULL);
    if (!d)
        return CUDA_ERROR_OUT_OF_MEMORY;
    d->count = count;
    memcpy(d->ops, paramsArray, count * sizeof d->ops[0]);   /* the caller may reuse its array */
    return sg_stream_submit(s, &d->base);
}
