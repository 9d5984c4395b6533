/*
 * The advice book (see memadvice.h). Spans are sorted, disjoint and never all-default: a page
 * outside every span has had no advice and no prefetch. An edit rebuilds the list around the
 * edited range and merges equal neighbours, so the list stays as short as the advice is varied.
 */
#include "memadvice.h"

#include <stdlib.h>
#include <string.h>

#define HOST_BIT 63

static int loc_eq(CUmemLocation x, CUmemLocation y)
{
    return x.type == y.type && (x.type == CU_MEM_LOCATION_TYPE_INVALID || x.id == y.id);
}

static int advice_eq(const struct dk_advice *x, const struct dk_advice *y)
{
    return x->read_mostly == y->read_mostly && loc_eq(x->preferred, y->preferred) &&
           x->accessed_by == y->accessed_by && loc_eq(x->prefetched, y->prefetched);
}

static int is_default(const struct dk_advice *a)
{
    static const struct dk_advice none;
    return advice_eq(a, &none);
}

/* A location as the book keeps it: the host's NUMA forms are the host (one node here). */
static CUmemLocation normal(CUmemLocation l)
{
    if (l.type == CU_MEM_LOCATION_TYPE_HOST || l.type == CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT)
        return (CUmemLocation){.type = CU_MEM_LOCATION_TYPE_HOST, .id = 0};
    return l;
}

static uint64_t loc_bit(CUmemLocation l)
{
    if (l.type == CU_MEM_LOCATION_TYPE_DEVICE)
        return l.id >= 0 && l.id < HOST_BIT ? 1ull << l.id : 0;
    return 1ull << HOST_BIT;
}

struct edit {
    enum { E_ADVISE, E_PREFETCH, E_FORGET } what;
    CUmem_advise advice;
    CUmemLocation loc;
};

static void apply_one(struct dk_advice *a, const struct edit *e)
{
    if (e->what == E_FORGET) {
        memset(a, 0, sizeof *a);
    } else if (e->what == E_PREFETCH) {
        a->prefetched = normal(e->loc);
    } else if (e->advice == CU_MEM_ADVISE_SET_READ_MOSTLY ||
               e->advice == CU_MEM_ADVISE_UNSET_READ_MOSTLY) {
        a->read_mostly = e->advice == CU_MEM_ADVISE_SET_READ_MOSTLY;
    } else if (e->advice == CU_MEM_ADVISE_SET_PREFERRED_LOCATION) {
        a->preferred = normal(e->loc);
    } else if (e->advice == CU_MEM_ADVISE_UNSET_PREFERRED_LOCATION) {
        a->preferred = (CUmemLocation){0};
    } else if (e->advice == CU_MEM_ADVISE_SET_ACCESSED_BY) {
        a->accessed_by |= loc_bit(e->loc);
    } else if (e->advice == CU_MEM_ADVISE_UNSET_ACCESSED_BY) {
        a->accessed_by &= ~loc_bit(e->loc);
    }
}

/* Appends a span to out, merged with the last one when equal and adjacent; defaults dropped. */
static void emit(struct dk_advice_span *out, size_t *n, uint64_t start, uint64_t end,
                 const struct dk_advice *a)
{
    if (start >= end || is_default(a))
        return;
    if (*n && out[*n - 1].end == start && advice_eq(&out[*n - 1].a, a)) {
        out[*n - 1].end = end;
        return;
    }
    out[(*n)++] = (struct dk_advice_span){start, end, *a};
}

static void round_pages(uint64_t p, uint64_t count, uint64_t *lo, uint64_t *hi)
{
    *lo = p & ~(uint64_t)(DK_ADVICE_PAGE - 1);
    uint64_t end = p + count < p ? UINT64_MAX : p + count;
    const uint64_t mask = ~(uint64_t)(DK_ADVICE_PAGE - 1);
    *hi = end > UINT64_MAX - DK_ADVICE_PAGE ? UINT64_MAX : (end + DK_ADVICE_PAGE - 1) & mask;
}

/* Rebuilds the list with e applied to every page of [lo, hi); b->lock held. */
static int edit_locked(struct dk_advice_book *b, uint64_t lo, uint64_t hi, const struct edit *e)
{
    /* each old span gives at most three, each gap one, plus the tail gap */
    struct dk_advice_span *out = malloc((b->n * 4 + 2) * sizeof *out);
    if (!out)
        return -1;
    size_t n = 0;
    uint64_t cur = lo;   /* the first page of [lo, hi) not yet emitted */
    static const struct dk_advice none;
    for (size_t i = 0; i < b->n; i++) {
        const struct dk_advice_span *s = &b->v[i];
        if (s->end <= lo || s->start >= hi) {
            if (s->start >= hi && cur < hi) {
                struct dk_advice a = none;
                apply_one(&a, e);
                emit(out, &n, cur, hi, &a);
                cur = hi;
            }
            emit(out, &n, s->start, s->end, &s->a);
            continue;
        }
        struct dk_advice a = none;
        if (cur < s->start) {   /* a gap inside the range */
            apply_one(&a, e);
            emit(out, &n, cur, s->start, &a);
        }
        emit(out, &n, s->start, lo, &s->a);
        a = s->a;
        apply_one(&a, e);
        uint64_t from = s->start > lo ? s->start : lo, to = s->end < hi ? s->end : hi;
        emit(out, &n, from, to, &a);
        emit(out, &n, hi, s->end, &s->a);
        cur = to;
    }
    if (cur < hi) {
        struct dk_advice a = none;
        apply_one(&a, e);
        emit(out, &n, cur, hi, &a);
    }
    free(b->v);
    b->v = out;
    b->n = n;
    b->cap = b->n * 4 + 2;
    return 0;
}

static int edit(struct dk_advice_book *b, uint64_t p, uint64_t count, const struct edit *e)
{
    uint64_t lo, hi;
    round_pages(p, count, &lo, &hi);
    pthread_mutex_lock(&b->lock);
    int rc = edit_locked(b, lo, hi, e);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

int dk_advice_apply(struct dk_advice_book *b, uint64_t p, uint64_t count, CUmem_advise advice,
                    CUmemLocation loc)
{
    struct edit e = {.what = E_ADVISE, .advice = advice, .loc = loc};
    return edit(b, p, count, &e);
}

int dk_advice_prefetched(struct dk_advice_book *b, uint64_t p, uint64_t count,
                         CUmemLocation loc)
{
    struct edit e = {.what = E_PREFETCH, .loc = loc};
    return edit(b, p, count, &e);
}

void dk_advice_forget(struct dk_advice_book *b, uint64_t p, uint64_t count)
{
    struct edit e = {.what = E_FORGET};
    if (edit(b, p, count, &e) != 0) {
        /* no memory to rebuild: forget everything rather than keep stale advice */
        pthread_mutex_lock(&b->lock);
        b->n = 0;
        pthread_mutex_unlock(&b->lock);
    }
}

/* What holds for every page of [lo, hi): a location common to all (else INVALID), read-mostly
 * on all, the devices that have accessed-by on all. */
struct summary {
    int read_mostly;
    CUmemLocation preferred, prefetched;
    uint64_t accessed_by;
};

static void fold(struct summary *m, int *first, const struct dk_advice *a)
{
    if (*first) {
        *m = (struct summary){a->read_mostly, a->preferred, a->prefetched, a->accessed_by};
        *first = 0;
        return;
    }
    m->read_mostly &= a->read_mostly;
    m->accessed_by &= a->accessed_by;
    if (!loc_eq(m->preferred, a->preferred))
        m->preferred = (CUmemLocation){0};
    if (!loc_eq(m->prefetched, a->prefetched))
        m->prefetched = (CUmemLocation){0};
}

static struct summary summarize(struct dk_advice_book *b, uint64_t p, uint64_t count)
{
    static const struct dk_advice none;
    uint64_t lo, hi, cur;
    round_pages(p, count, &lo, &hi);
    struct summary m = {0};
    int first = 1;
    pthread_mutex_lock(&b->lock);
    cur = lo;
    for (size_t i = 0; i < b->n && cur < hi; i++) {
        const struct dk_advice_span *s = &b->v[i];
        if (s->end <= cur || s->start >= hi)
            continue;
        if (s->start > cur)
            fold(&m, &first, &none);   /* a page no advice reached */
        fold(&m, &first, &s->a);
        cur = s->end;
    }
    if (cur < hi)
        fold(&m, &first, &none);
    pthread_mutex_unlock(&b->lock);
    return m;
}

/* The legacy int form of a location: a device ordinal, CU_DEVICE_CPU or CU_DEVICE_INVALID. */
static int legacy_id(CUmemLocation l)
{
    switch (l.type) {
    case CU_MEM_LOCATION_TYPE_DEVICE: return l.id;
    case CU_MEM_LOCATION_TYPE_INVALID: return CU_DEVICE_INVALID;
    default: return CU_DEVICE_CPU;
    }
}

static int location_id(CUmemLocation l)
{
    return l.type == CU_MEM_LOCATION_TYPE_DEVICE || l.type == CU_MEM_LOCATION_TYPE_HOST_NUMA
               ? l.id : CU_DEVICE_INVALID;
}

/* ACCESSED_BY: the devices in order (the host as CU_DEVICE_CPU), then CU_DEVICE_INVALID. */
static void accessed_list(int *out, size_t n, uint64_t mask)
{
    size_t k = 0;
    for (int d = 0; d <= HOST_BIT && k < n; d++)
        if (mask & (1ull << d))
            out[k++] = d == HOST_BIT ? CU_DEVICE_CPU : d;
    while (k < n)
        out[k++] = CU_DEVICE_INVALID;
}

CUresult dk_advice_query(struct dk_advice_book *b, void *data, size_t dataSize,
                         CUmem_range_attribute attribute, uint64_t p, uint64_t count)
{
    if (!data || !count)
        return CUDA_ERROR_INVALID_VALUE;
    int is_list = attribute == CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY;
    if (attribute < CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY ||
        attribute > CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_ID ||
        (is_list ? dataSize == 0 || dataSize % 4 : dataSize != 4))
        return CUDA_ERROR_INVALID_VALUE;
    struct summary m = summarize(b, p, count);
    int v = 0;
    switch (attribute) {
    case CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY: v = m.read_mostly; break;
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION: v = legacy_id(m.preferred); break;
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION: v = legacy_id(m.prefetched); break;
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_TYPE: v = (int)m.preferred.type; break;
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_ID: v = location_id(m.preferred); break;
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_TYPE: v = (int)m.prefetched.type; break;
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_ID: v = location_id(m.prefetched); break;
    default:
        accessed_list(data, dataSize / 4, m.accessed_by);
        return CUDA_SUCCESS;
    }
    memcpy(data, &v, sizeof v);
    return CUDA_SUCCESS;
}

CUresult dk_range_attributes(dk_range_attr_fn one, void **data, size_t *dataSizes,
                             CUmem_range_attribute *attributes, size_t numAttributes,
                             CUdeviceptr devPtr, size_t count)
{
    if (!data || !dataSizes || !attributes || !numAttributes)
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < numAttributes; i++) {
        CUresult r = one(data[i], dataSizes[i], attributes[i], devPtr, count);
        if (r != CUDA_SUCCESS)
            return r;
    }
    return CUDA_SUCCESS;
}
