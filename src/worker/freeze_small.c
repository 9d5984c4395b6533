/*
 * Freezable allocations smaller than the device's allocation granularity (docs/freeze.md):
 * a session's cuMemAlloc of 4 KiB would take a whole 2 MiB reservation of its own if it went
 * through the virtual memory API as the large ones do, so small allocations are carved out of
 * granular chunks instead. A chunk is one ordinary freezable allocation of freeze.c (made by
 * tfw_freeze_alloc of exactly the granularity), so a freeze copies it out and a resume maps it
 * back at the same address with every small allocation in it; this file only keeps which
 * 512-byte units of each chunk are in use (first fit over a bitmap; 512: the texture pitch
 * alignment, more than cudaMalloc's 256) and tells freeze.c what each chunk holds charged to
 * the vGPU's ledger (what a model switch refunds). A chunk whose last allocation is freed is
 * given back whole.
 *
 * One worker serves one session, so the state is file-scope: the session's.
 * Owns: the chunks' maps and the small allocations' table. May call: freeze.h (the chunks),
 * src/common/log.h, libc. Not thread-safe: the session's thread alone calls these.
 */
#include <stdlib.h>
#include <string.h>

#include "freeze.h"
#include "log.h"

#define UNIT 512ull

struct chunk {
    uint64_t base, size;
    int device;
    uint32_t units, used;   /* 512-byte units in all, in use */
    uint64_t charged;       /* the program's bytes in it (what the ledger was charged) */
    uint64_t *bits;         /* a unit in use: its bit set */
};

struct small {
    uint64_t ptr, bytes;
};

static struct {
    struct chunk *c;
    size_t nc, capc;
    struct small *a;
    size_t na, capa;
} S;

static int grow(void **p, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t cap2 = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, cap2 * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = cap2;
    return 0;
}

static int used(const struct chunk *c, uint32_t u) { return (c->bits[u / 64] >> (u % 64)) & 1; }

static void mark(struct chunk *c, uint32_t first, uint32_t n, int on)
{
    for (uint32_t u = first; u < first + n; u++) {
        if (on)
            c->bits[u / 64] |= 1ull << (u % 64);
        else
            c->bits[u / 64] &= ~(1ull << (u % 64));
    }
    c->used = on ? c->used + n : c->used - n;
}

/* The first run of n free units of c, or -1. */
static long first_fit(const struct chunk *c, uint32_t n)
{
    if (c->units - c->used < n)
        return -1;
    uint32_t run = 0;
    for (uint32_t u = 0; u < c->units; u++) {
        run = used(c, u) ? 0 : run + 1;
        if (run == n)
            return (long)(u + 1 - n);
    }
    return -1;
}

static struct chunk *chunk_of(uint64_t p)
{
    for (size_t i = 0; i < S.nc; i++)
        if (p >= S.c[i].base && p < S.c[i].base + S.c[i].size)
            return &S.c[i];
    return NULL;
}

/* A new chunk of g bytes on v's device, from freeze.c. */
static CUresult chunk_new(struct tfw_session *s, struct tfw_limits *L, struct tfw_vgpu *v,
                          int device, uint64_t g, struct chunk **out)
{
    if (grow((void **)&S.c, &S.capc, S.nc, sizeof *S.c) != 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    uint32_t units = (uint32_t)(g / UNIT);
    uint64_t *bits = calloc((units + 63) / 64, sizeof *bits);
    CUdeviceptr base = 0;
    CUresult r = bits ? tfw_freeze_alloc(s, L, v, g, &base) : CUDA_ERROR_OUT_OF_MEMORY;
    if (r != CUDA_SUCCESS) {
        free(bits);
        return r;
    }
    tfw_freeze_set_charged(s, base, 0);
    S.c[S.nc] = (struct chunk){.base = base, .size = g, .device = device, .units = units,
                               .bits = bits};
    *out = &S.c[S.nc++];
    return CUDA_SUCCESS;
}

CUresult tfw_freeze_small_alloc(struct tfw_session *s, struct tfw_limits *L, struct tfw_vgpu *v,
                                int device, uint64_t g, uint64_t bytes, CUdeviceptr *p)
{
    if (!bytes || bytes >= g || g % UNIT || g / UNIT > UINT32_MAX)
        return CUDA_ERROR_NOT_SUPPORTED;
    if (grow((void **)&S.a, &S.capa, S.na, sizeof *S.a) != 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    uint32_t n = (uint32_t)((bytes + UNIT - 1) / UNIT);
    struct chunk *c = NULL;
    long at = -1;
    for (size_t i = 0; i < S.nc && at < 0; i++)
        if (S.c[i].device == device && S.c[i].size == g && (at = first_fit(&S.c[i], n)) >= 0)
            c = &S.c[i];
    if (!c) {
        CUresult r = chunk_new(s, L, v, device, g, &c);
        if (r != CUDA_SUCCESS)
            return r;
        at = 0;
    }
    mark(c, (uint32_t)at, n, 1);
    c->charged += bytes;
    tfw_freeze_set_charged(s, c->base, c->charged);
    S.a[S.na++] = (struct small){c->base + (uint64_t)at * UNIT, bytes};
    *p = (CUdeviceptr)S.a[S.na - 1].ptr;
    return CUDA_SUCCESS;
}

int tfw_freeze_small_owns(uint64_t p)
{
    for (size_t i = 0; i < S.na; i++)
        if (S.a[i].ptr == p)
            return 1;
    return 0;
}

int tfw_freeze_small_range(uint64_t p, uint64_t *base, uint64_t *size)
{
    for (size_t i = 0; i < S.na; i++)
        if (p >= S.a[i].ptr && p - S.a[i].ptr < S.a[i].bytes) {
            *base = S.a[i].ptr;
            *size = S.a[i].bytes;
            return 1;
        }
    return 0;
}

CUresult tfw_freeze_small_free(struct tfw_session *s, struct tfw_limits *L, uint64_t p)
{
    size_t i = 0;
    while (i < S.na && S.a[i].ptr != p)
        i++;
    struct chunk *c = i < S.na ? chunk_of(p) : NULL;
    if (!c)
        return CUDA_ERROR_INVALID_VALUE;
    mark(c, (uint32_t)((p - c->base) / UNIT), (uint32_t)((S.a[i].bytes + UNIT - 1) / UNIT), 0);
    c->charged -= S.a[i].bytes;
    S.a[i] = S.a[--S.na];
    tfw_freeze_set_charged(s, c->base, c->charged);
    if (c->used)
        return CUDA_SUCCESS;
    CUresult r = CUDA_SUCCESS;   /* its last allocation: the chunk goes back whole */
    if (!tfw_freeze_free(s, L, (CUdeviceptr)c->base, &r))
        r = CUDA_ERROR_INVALID_VALUE;
    if (r != CUDA_SUCCESS)
        tf_error("freeze: an empty chunk at 0x%llx was not given back (error %d)",
                 (unsigned long long)c->base, (int)r);
    free(c->bits);
    *c = S.c[--S.nc];
    return CUDA_SUCCESS;   /* the program's free itself succeeded */
}

void tfw_freeze_small_end(void)
{
    for (size_t i = 0; i < S.nc; i++)
        free(S.c[i].bits);
    free(S.c);
    free(S.a);
    memset(&S, 0, sizeof S);
}
