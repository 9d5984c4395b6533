/*
 * The advice book: what cuMemAdvise and cuMemPrefetchAsync said about ranges of managed memory,
 * kept per page so that cuMemRangeGetAttribute(s) can answer for any range (read-mostly,
 * preferred location, accessed-by, last prefetch location, and their CUDA 12 type/id forms).
 * For every library whose managed memory never migrates (softgpu: host pages the device reads;
 * the worker: the stub's memfd mapped in both processes), where the hints move nothing and are
 * only remembered. Pure bookkeeping over a sorted list of uniform spans; calls nothing else.
 */
#ifndef TFUSE_DRIVERKIT_MEMADVICE_H
#define TFUSE_DRIVERKIT_MEMADVICE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <cuda.h>

/* The granule of advice: hints apply to whole pages, as the driver's do. */
#define DK_ADVICE_PAGE 4096u

struct dk_advice {
    int read_mostly;
    CUmemLocation preferred;   /* type INVALID: none */
    uint64_t accessed_by;      /* bit d: device d; bit 63: the host */
    CUmemLocation prefetched;  /* type INVALID: never prefetched */
};

struct dk_advice_span {
    uint64_t start, end;
    struct dk_advice a;
};

struct dk_advice_book {
    pthread_mutex_t lock;
    struct dk_advice_span *v;
    size_t n, cap;
};

#define DK_ADVICE_BOOK_INIT {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0}

/* Records advice (a CUmem_advise the caller checked) over [p, p+count); 0 or -1 (no memory). */
int dk_advice_apply(struct dk_advice_book *b, uint64_t p, uint64_t count, CUmem_advise advice,
                    CUmemLocation loc);
/* Records a prefetch of [p, p+count) to loc; 0 or -1. */
int dk_advice_prefetched(struct dk_advice_book *b, uint64_t p, uint64_t count,
                         CUmemLocation loc);
/* Forgets everything about [p, p+count) (the memory was freed or is new). */
void dk_advice_forget(struct dk_advice_book *b, uint64_t p, uint64_t count);

/* cuMemRangeGetAttribute over the book: checks dataSize and the attribute as the driver does
 * (CUDA_ERROR_INVALID_VALUE), then writes the answer. The range is the caller's to check. */
CUresult dk_advice_query(struct dk_advice_book *b, void *data, size_t dataSize,
                         CUmem_range_attribute attribute, uint64_t p, uint64_t count);

/* cuMemRangeGetAttributes as one cuMemRangeGetAttribute per attribute. */
typedef CUresult (*dk_range_attr_fn)(void *data, size_t dataSize, CUmem_range_attribute attr,
                                     CUdeviceptr devPtr, size_t count);
CUresult dk_range_attributes(dk_range_attr_fn one, void **data, size_t *dataSizes,
                             CUmem_range_attribute *attributes, size_t numAttributes,
                             CUdeviceptr devPtr, size_t count);

#endif
