/*
 * softgpu's address space (devmem.h): one reserved range of host virtual memory in which every
 * device allocation, page-locked host allocation, managed allocation and VMM reservation of
 * the process lives, with the per-page accessibility map the PTX interpreter reads. Also the
 * allocation entry points (cuMemAlloc, cuMemAllocPitch, cuMemFree, cuMemGetInfo,
 * cuMemGetAddressRange, cuMemAllocHost, cuMemHostAlloc, cuMemFreeHost, cuMemHostGetDevicePointer,
 * cuMemHostGetFlags, cuMemHostRegister/Unregister, cuMemAllocManaged; the hints on managed
 * memory are memrange.c's). Calls context.c (current context), vmm.c (unmapping reservations),
 * memrange.c (a new managed allocation has no advice) and shm_stats.c (NVML usage).
 *
 * Freed pages are zero-filled with MADV_DONTNEED and marked inaccessible but stay mapped, so a
 * kernel racing a free reads zeros instead of faulting.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "notify.h"
#include "softgpu.h"

#define SG_SPAN ((uint64_t)192 << 30) /* 64 GiB per device budget + VMM reservations */

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *page_map;            /* writable view of sg.as.pages */
static struct sg_region *regions;    /* sorted by start */
static size_t nregions, cap_regions;

struct registered {
    uint64_t base, size;
    unsigned flags;
    struct sg_ctx *ctx;
};
static pthread_rwlock_t reg_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct registered *registered;
static size_t nregistered;

static uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

static int check_registered(const struct sg_addr_space *as, uint64_t addr, uint64_t len)
{
    (void)as;
    int ok = 0;
    pthread_rwlock_rdlock(&reg_lock);
    for (size_t i = 0; i < nregistered && !ok; i++)
        ok = addr >= registered[i].base && addr + len <= registered[i].base + registered[i].size
             && addr + len > addr;
    pthread_rwlock_unlock(&reg_lock);
    return ok;
}

CUresult sg_mem_init(void)
{
    void *base = mmap(NULL, SG_SPAN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        sg_log(SG_LOG_ERROR, "cannot reserve %llu GiB of address space for device memory",
               (unsigned long long)(SG_SPAN >> 30));
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    size_t npages = SG_SPAN >> SG_PAGE_SHIFT;
    void *map = mmap(NULL, npages, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED) {
        munmap(base, SG_SPAN);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    page_map = map;
    sg.as.base = (uint64_t)(uintptr_t)base;
    sg.as.limit = sg.as.base + SG_SPAN;
    sg.as.pages = page_map;
    sg.as.check_extra = check_registered;
    return CUDA_SUCCESS;
}

/* ---- the 32-bit window ----------------------------------------------------------------------
 * The CUDA 3.1 ABIs (src/driverkit/abi32.h) name device memory with 32-bit pointers, so what
 * they allocate, and module globals (which cuModuleGetGlobal names), comes from a second,
 * small range below 4 GiB when the platform gives one: reserved at first use, its pages
 * accessible to kernels through sg.as.low_* as the main span's are. The main span itself is
 * wherever mmap put it and stays as it is. */
#define SG_LOW_SPAN ((uint64_t)512 << 20)
#define SG_LOW_MIN ((uint64_t)16 << 20)
static pthread_once_t low_once = PTHREAD_ONCE_INIT;
static uint8_t *low_page_map;

static void *map_low(uint64_t span)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    void *hint = NULL;
#ifdef MAP_32BIT
    flags |= MAP_32BIT;            /* x86-64: the first 2 GiB */
#else
    hint = (void *)(uintptr_t)0x40000000; /* elsewhere a hint, checked below */
#endif
    void *p = mmap(hint, span, PROT_NONE, flags, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if ((uint64_t)(uintptr_t)p + span > ((uint64_t)1 << 32)) {
        munmap(p, span);
        return NULL;
    }
    return p;
}

static void low_reserve(void)
{
    for (uint64_t span = SG_LOW_SPAN; span >= SG_LOW_MIN; span /= 2) {
        void *p = map_low(span);
        uint8_t *map = p ? calloc(span >> SG_PAGE_SHIFT, 1) : NULL;
        if (!map) {
            if (p)
                munmap(p, span);
            continue;
        }
        low_page_map = map;
        sg.as.low_pages = map;
        sg.as.low_base = (uint64_t)(uintptr_t)p;
        __atomic_store_n(&sg.as.low_limit, sg.as.low_base + span, __ATOMIC_RELEASE);
        return;
    }
    sg_log(SG_LOG_WARN, "no address range below 4 GiB: the CUDA 3.1 ABIs cannot allocate");
}

void sg_mem_set_access(uint64_t addr, uint64_t len, int accessible)
{
    uint8_t *map = page_map;
    uint64_t base = sg.as.base;
    if (addr < sg.as.base || addr >= sg.as.limit) {
        map = low_page_map;
        base = sg.as.low_base;
    }
    uint64_t first = (addr - base) >> SG_PAGE_SHIFT;
    uint64_t last = (addr + len - 1 - base) >> SG_PAGE_SHIFT;
    memset(map + first, accessible ? 1 : 0, last - first + 1);
}

int sg_mem_ok(uint64_t addr, uint64_t len)
{
    if (len == 0)
        return 1;
    return sg_addr_ok(&sg.as, addr, len);
}

/* ---- region table (mem_lock held) ----------------------------------------------------------- */

static ssize_t region_index(uint64_t addr)
{
    size_t lo = 0, hi = nregions;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (regions[mid].start + regions[mid].span <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < nregions && regions[lo].start <= addr && addr < regions[lo].start + regions[lo].span)
        return (ssize_t)lo;
    return -1;
}

/* First fit: the gaps between regions inside [lo, hi), in address order (the main span, or the
 * 32-bit window: regions of the other range are passed over). Returns 0 when out of space. */
static uint64_t find_gap(uint64_t lo, uint64_t hi, uint64_t span, uint64_t align, size_t *pos)
{
    uint64_t cursor = lo;
    for (size_t i = 0; i <= nregions; i++) {
        if (i < nregions && regions[i].start + regions[i].span <= lo)
            continue;
        uint64_t start = round_up(cursor, align);
        int last = i == nregions || regions[i].start >= hi;
        uint64_t end = last ? hi : regions[i].start;
        if (start + span <= end && start + span > start) {
            *pos = i;
            return start;
        }
        if (last)
            return 0;
        cursor = regions[i].start + regions[i].span;
    }
    return 0;
}

static int region_insert(size_t pos, const struct sg_region *r)
{
    if (nregions == cap_regions) {
        size_t ncap = cap_regions ? cap_regions * 2 : 256;
        struct sg_region *n = realloc(regions, ncap * sizeof *n);
        if (!n)
            return -1;
        regions = n;
        cap_regions = ncap;
    }
    memmove(&regions[pos + 1], &regions[pos], (nregions - pos) * sizeof *regions);
    regions[pos] = *r;
    nregions++;
    return 0;
}

static void region_remove(size_t pos)
{
    memmove(&regions[pos], &regions[pos + 1], (nregions - pos - 1) * sizeof *regions);
    nregions--;
}

static int counts_as_device(enum sg_region_kind k) { return k == SG_R_DEVICE || k == SG_R_MANAGED; }

/* ---- allocation ------------------------------------------------------------------------------ */

/* An allocation in [lo, hi): the main span or the 32-bit window. */
static CUresult alloc_range(struct sg_ctx *ctx, uint64_t size, uint64_t align,
                            enum sg_region_kind kind, unsigned flags, uint64_t lo, uint64_t hi,
                            uint64_t *out)
{
    if (size == 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (size > hi - lo)
        return CUDA_ERROR_OUT_OF_MEMORY;
    if (align < SG_PAGE_SIZE)
        align = SG_PAGE_SIZE;
    uint64_t bytes = round_up(size, SG_PAGE_SIZE);
    struct sg_device *d = ctx->dev;
    uint64_t over;
    if (counts_as_device(kind) && sg_dev_mem_reserve(d, bytes, &over) != 0) {
        dk_notify_over_budget(d->ordinal, over);   /* notify.h */
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    pthread_mutex_lock(&mem_lock);
    size_t pos;
    /* one guard page after each allocation turns an overrun into an illegal address */
    uint64_t start = find_gap(lo, hi, bytes + SG_PAGE_SIZE, align, &pos);
    struct sg_region r = {.start = start, .size = size, .span = bytes + SG_PAGE_SIZE, .kind = kind,
                          .ctx = ctx, .device = d->ordinal, .flags = flags};
    if (!start || mprotect((void *)(uintptr_t)start, bytes, PROT_READ | PROT_WRITE) != 0
        || region_insert(pos, &r) != 0) {
        pthread_mutex_unlock(&mem_lock);
        if (counts_as_device(kind))
            sg_dev_mem_release(d, bytes);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    sg_mem_set_access(start, bytes, 1);
    pthread_mutex_unlock(&mem_lock);
    *out = start;
    return CUDA_SUCCESS;
}

CUresult sg_mem_alloc(struct sg_ctx *ctx, uint64_t size, uint64_t align, enum sg_region_kind kind,
                      unsigned flags, uint64_t *out)
{
    return alloc_range(ctx, size, align, kind, flags, sg.as.base, sg.as.limit, out);
}

CUresult sg_mem_alloc_low(struct sg_ctx *ctx, uint64_t size, enum sg_region_kind kind,
                          uint64_t *out)
{
    pthread_once(&low_once, low_reserve);
    if (!sg.as.low_limit)
        return CUDA_ERROR_OUT_OF_MEMORY;
    return alloc_range(ctx, size, SG_PAGE_SIZE, kind, 0, sg.as.low_base, sg.as.low_limit, out);
}

/* mem_lock held. Zeroes the pages and forgets the region at pos. */
static void region_release(size_t pos)
{
    struct sg_region r = regions[pos];
    uint64_t bytes = r.span - SG_PAGE_SIZE;
    if (r.kind == SG_R_RESERVED) {
        sg_vmm_unmap_reserved(r.start, r.span);
        bytes = 0;
    } else {
        sg_mem_set_access(r.start, bytes, 0);
        if (r.kind == SG_R_DEVICE || r.kind == SG_R_IPC || r.kind == SG_R_EXTERNAL)
            sg_ipc_region_released(r.start, bytes);
        madvise((void *)(uintptr_t)r.start, bytes, MADV_DONTNEED);
    }
    region_remove(pos);
    if (counts_as_device(r.kind)) {
        sg_dev_mem_release(&sg.dev[r.device], bytes);
        if (r.pool)
            sg_mempool_note_free(r.pool, r.start, bytes);
    }
}

CUresult sg_mem_free(uint64_t addr, enum sg_region_kind kind)
{
    pthread_mutex_lock(&mem_lock);
    ssize_t i = region_index(addr);
    if (i < 0 || regions[i].start != addr || (kind && regions[i].kind != kind)
        || regions[i].kind == SG_R_RESERVED) {
        pthread_mutex_unlock(&mem_lock);
        return CUDA_ERROR_INVALID_VALUE;
    }
    region_release((size_t)i);
    pthread_mutex_unlock(&mem_lock);
    return CUDA_SUCCESS;
}

void sg_mem_free_ctx(struct sg_ctx *ctx)
{
    pthread_mutex_lock(&mem_lock);
    for (size_t i = nregions; i-- > 0;)
        if (regions[i].ctx == ctx)
            region_release(i);
    pthread_mutex_unlock(&mem_lock);
    pthread_rwlock_wrlock(&reg_lock);
    size_t j = 0;
    for (size_t i = 0; i < nregistered; i++)
        if (registered[i].ctx != ctx)
            registered[j++] = registered[i];
    nregistered = j;
    pthread_rwlock_unlock(&reg_lock);
}

int sg_mem_find(uint64_t addr, struct sg_region *out)
{
    pthread_mutex_lock(&mem_lock);
    ssize_t i = region_index(addr);
    /* the guard page belongs to no allocation */
    int found = i >= 0 && (regions[i].kind == SG_R_RESERVED
                           || addr < regions[i].start + round_up(regions[i].size, SG_PAGE_SIZE));
    if (found)
        *out = regions[i];
    pthread_mutex_unlock(&mem_lock);
    return found ? 0 : -1;
}

CUresult sg_mem_reserve_va(uint64_t span, uint64_t align, uint64_t fixed, struct sg_region *r)
{
    pthread_mutex_lock(&mem_lock);
    size_t pos = 0;
    uint64_t start = 0;
    if (fixed) {
        /* honour the hint when that range is free, as the driver does; else place anywhere */
        if (fixed >= sg.as.base && fixed + span <= sg.as.limit && fixed % align == 0) {
            while (pos < nregions && regions[pos].start + regions[pos].span <= fixed)
                pos++;
            if (pos == nregions || regions[pos].start >= fixed + span)
                start = fixed;
        }
    }
    if (!start)
        start = find_gap(sg.as.base, sg.as.limit, span, align, &pos);
    r->start = start;
    r->span = span;
    r->size = span;
    r->kind = SG_R_RESERVED;
    if (!start || region_insert(pos, r) != 0) {
        pthread_mutex_unlock(&mem_lock);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    pthread_mutex_unlock(&mem_lock);
    return CUDA_SUCCESS;
}

void sg_mem_release_va(uint64_t start)
{
    pthread_mutex_lock(&mem_lock);
    ssize_t i = region_index(start);
    if (i >= 0 && regions[i].start == start && regions[i].kind == SG_R_RESERVED)
        region_release((size_t)i);
    pthread_mutex_unlock(&mem_lock);
}

int sg_mem_registered_find(uint64_t addr, uint64_t *base, uint64_t *size, unsigned *flags)
{
    int found = -1;
    pthread_rwlock_rdlock(&reg_lock);
    for (size_t i = 0; i < nregistered; i++) {
        if (addr >= registered[i].base && addr < registered[i].base + registered[i].size) {
            *base = registered[i].base;
            *size = registered[i].size;
            *flags = registered[i].flags;
            found = 0;
            break;
        }
    }
    pthread_rwlock_unlock(&reg_lock);
    return found;
}

/* ---- device memory entry points ------------------------------------------------------------ */

/* What cuMemAlloc, cuMemAllocManaged and cuMemHostAlloc share once their arguments are
 * checked: page-aligned memory of `kind` in the current context. */
static CUresult alloc_in_current(uint64_t bytesize, enum sg_region_kind kind, unsigned flags,
                                 uint64_t *out)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    return r ? r : sg_mem_alloc(c, bytesize, SG_PAGE_SIZE, kind, flags, out);
}

CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
    if (!dptr)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t p;
    CUresult r = alloc_in_current(bytesize, SG_R_DEVICE, 0, &p);
    if (!r)
        *dptr = p;
    return r;
}

CUresult sg_mem_pitch(size_t WidthInBytes, size_t Height, unsigned ElementSizeBytes,
                      size_t *pitch)
{
    if (!WidthInBytes || !Height)
        return CUDA_ERROR_INVALID_VALUE;
    if (ElementSizeBytes != 4 && ElementSizeBytes != 8 && ElementSizeBytes != 16)
        return CUDA_ERROR_INVALID_VALUE;
    *pitch = (size_t)round_up(WidthInBytes, 512); /* texture pitch alignment of sm_80 */
    return Height > SIZE_MAX / *pitch ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
}

CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes, size_t Height,
                            unsigned int ElementSizeBytes)
{
    size_t pitch;
    if (!dptr || !pPitch)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = sg_mem_pitch(WidthInBytes, Height, ElementSizeBytes, &pitch);
    if (!r)
        r = cuMemAlloc_v2(dptr, pitch * Height);
    if (!r)
        *pPitch = pitch;
    return r;
}

CUresult cuMemFree_v2(CUdeviceptr dptr)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    if (!dptr)
        return CUDA_SUCCESS;
    if (sg_graph_mem_owns(dptr))
        return sg_graph_mem_free_now(c, dptr);
    struct sg_region reg;
    if (sg_mem_find(dptr, &reg) != 0 || reg.start != dptr
        || (reg.kind != SG_R_DEVICE && reg.kind != SG_R_MANAGED && reg.kind != SG_R_EXTERNAL
            && !(reg.kind == SG_R_IPC && reg.pool))) /* an imported pool pointer: mempool_share.c */
        return CUDA_ERROR_INVALID_VALUE;
    /* cuMemFree synchronises with the device: pending work may still use the memory */
    sg_ctx_synchronize(reg.ctx);
    return sg_mem_free(dptr, 0);
}

CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    if (!free_bytes || !total)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t used = sg_dev_mem_used(c->dev); /* every process's, as on a GPU */
    *total = c->dev->mem_total;
    *free_bytes = used >= c->dev->mem_total ? 0 : c->dev->mem_total - used;
    return CUDA_SUCCESS;
}

CUresult cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    struct sg_region reg;
    if (sg_mem_find(dptr, &reg) == 0 && reg.kind != SG_R_RESERVED) {
        if (pbase)
            *pbase = reg.start;
        if (psize)
            *psize = reg.size;
        return CUDA_SUCCESS;
    }
    uint64_t base, size;
    int dev;
    if (sg_vmm_find_mapping(dptr, &base, &size, &dev) == 0) {
        if (pbase)
            *pbase = base;
        if (psize)
            *psize = size;
        return CUDA_SUCCESS;
    }
    return CUDA_ERROR_NOT_FOUND;
}

CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
    if (!dptr)
        return CUDA_ERROR_INVALID_VALUE;
    if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t p;
    CUresult r = alloc_in_current(bytesize, SG_R_MANAGED, flags, &p);
    if (!r) {
        sg_advice_forget(p, bytesize);   /* advice on a freed range at this address is gone */
        *dptr = p;
    }
    return r;
}

/* ---- page-locked host memory ---------------------------------------------------------------- */

CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)
{
    if (!pp)
        return CUDA_ERROR_INVALID_VALUE;
    if (Flags & ~(unsigned)(CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP
                            | CU_MEMHOSTALLOC_WRITECOMBINED))
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t p;
    CUresult r = alloc_in_current(bytesize, SG_R_HOST, Flags, &p);
    if (!r)
        *pp = (void *)(uintptr_t)p;
    return r;
}

CUresult cuMemAllocHost_v2(void **pp, size_t bytesize) { return cuMemHostAlloc(pp, bytesize, 0); }

CUresult cuMemFreeHost(void *p)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    struct sg_region reg;
    uint64_t a = (uint64_t)(uintptr_t)p;
    if (!p || sg_mem_find(a, &reg) != 0 || reg.start != a || reg.kind != SG_R_HOST)
        return CUDA_ERROR_INVALID_VALUE;
    sg_ctx_synchronize(reg.ctx);
    return sg_mem_free(a, SG_R_HOST);
}

/* Looks p up as page-locked host memory (cuMemHostAlloc'd or cuMemHostRegister'ed) in the
 * current context; *flags: what cuMemHostGetFlags reports for it. */
static CUresult pinned_host_flags(void *p, unsigned *flags)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    uint64_t a = (uint64_t)(uintptr_t)p, base, size;
    unsigned reg_flags;
    struct sg_region reg;
    if (sg_mem_find(a, &reg) == 0 && reg.kind == SG_R_HOST) {
        *flags = reg.flags | CU_MEMHOSTALLOC_DEVICEMAP; /* UVA: always mapped */
        return CUDA_SUCCESS;
    }
    if (sg_mem_registered_find(a, &base, &size, &reg_flags) == 0) {
        *flags = reg_flags | CU_MEMHOSTREGISTER_DEVICEMAP;
        return CUDA_SUCCESS;
    }
    return CUDA_ERROR_INVALID_VALUE;
}

CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr *pdptr, void *p, unsigned int Flags)
{
    if (!pdptr || Flags)
        return CUDA_ERROR_INVALID_VALUE;
    unsigned flags;
    CUresult r = pinned_host_flags(p, &flags);
    /* unified addressing: the device sees page-locked memory at its host address */
    if (!r)
        *pdptr = (CUdeviceptr)(uintptr_t)p;
    return r;
}

CUresult cuMemHostGetFlags(unsigned int *pFlags, void *p)
{
    if (!pFlags)
        return CUDA_ERROR_INVALID_VALUE;
    return pinned_host_flags(p, pFlags);
}

CUresult cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int Flags)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    if (!p || !bytesize)
        return CUDA_ERROR_INVALID_VALUE;
    if (Flags & ~(unsigned)(CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP
                            | CU_MEMHOSTREGISTER_IOMEMORY | CU_MEMHOSTREGISTER_READ_ONLY))
        return CUDA_ERROR_INVALID_VALUE;
    if (Flags & CU_MEMHOSTREGISTER_IOMEMORY)
        return CUDA_ERROR_NOT_SUPPORTED; /* no third-party PCIe BARs exist to be I/O memory */
    uint64_t a = (uint64_t)(uintptr_t)p;
    if (a + bytesize < a)
        return CUDA_ERROR_INVALID_VALUE;
    int writable;
    if (!sg_host_range_mapped(a, bytesize, &writable))
        return CUDA_ERROR_INVALID_VALUE; /* unmapped */
    if (!writable && !(Flags & CU_MEMHOSTREGISTER_READ_ONLY))
        return CUDA_ERROR_INVALID_VALUE; /* read-only pages need CU_MEMHOSTREGISTER_READ_ONLY */
    if (a < sg.as.limit && a + bytesize > sg.as.base)
        return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED; /* already page-locked by us */
    pthread_rwlock_wrlock(&reg_lock);
    for (size_t i = 0; i < nregistered; i++) {
        if (a < registered[i].base + registered[i].size && registered[i].base < a + bytesize) {
            pthread_rwlock_unlock(&reg_lock);
            return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
        }
    }
    struct registered *n = realloc(registered, (nregistered + 1) * sizeof *n);
    if (!n) {
        pthread_rwlock_unlock(&reg_lock);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    registered = n;
    registered[nregistered++] = (struct registered){a, bytesize, Flags, c};
    pthread_rwlock_unlock(&reg_lock);
    return CUDA_SUCCESS;
}

CUresult cuMemHostUnregister(void *p)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    uint64_t a = (uint64_t)(uintptr_t)p;
    pthread_rwlock_wrlock(&reg_lock);
    for (size_t i = 0; i < nregistered; i++) {
        if (registered[i].base == a) {
            registered[i] = registered[--nregistered];
            pthread_rwlock_unlock(&reg_lock);
            return CUDA_SUCCESS;
        }
    }
    pthread_rwlock_unlock(&reg_lock);
    return CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
}

void sg_mem_tag_pool(uint64_t addr, struct sg_mempool *pool)
{
    pthread_mutex_lock(&mem_lock);
    ssize_t i = region_index(addr);
    if (i >= 0 && regions[i].start == addr)
        regions[i].pool = pool;
    pthread_mutex_unlock(&mem_lock);
}
