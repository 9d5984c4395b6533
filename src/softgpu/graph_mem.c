/*
 * Graph-allocated memory: allocation and free nodes (cuGraphAddMemAllocNode /
 * cuGraphAddMemFreeNode and their getters), cuMemAllocAsync / cuMemFreeAsync captured as such
 * nodes, cuMemFree / cuMemFreeAsync of a graph allocation outside graphs, the graph memory
 * attributes and cuDeviceGraphMemTrim.
 *
 * An allocation's address is reserved when its node is made and stays the same for every
 * launch. Its physical memory (a VMM allocation, counted in cuMemGetInfo) is created when the
 * allocation node first runs, kept after the memory is freed and reused by the next launch,
 * and given back by cuDeviceGraphMemTrim. Freed memory loses its access, so a use after free
 * is an illegal address. Each allocation counts launches that allocate it against frees made
 * (submission order), which is what lets cuGraphLaunch refuse a relaunch while the previous
 * launch's memory is still allocated. Calls vmm.c, graph.c, stream.c, capture.c and context.c.
 */
#include <stdlib.h>
#include <string.h>

#include "graph.h"

struct sg_gmem {
    uint64_t va, size, span;
    int device;
    CUmemPoolProps props;
    CUmemAccessDesc *access;
    size_t naccess;
    CUmemGenericAllocationHandle phys; /* 0 while no physical memory backs it */
    int live;                          /* allocated and not yet freed, in stream order */
    int outstanding;                   /* allocating launches submitted minus frees submitted */
    int refs;                          /* nodes, work items, executable graphs */
    int claimed;                       /* an executable graph of its graph exists */
    struct sg_gmem *next;
};

static pthread_mutex_t gmem_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sg_gmem *gmems;
static uint64_t used_high[SG_MAX_DEVICES], reserved_high[SG_MAX_DEVICES];

/* ---- the allocation records (gmem_lock held) -------------------------------------------------- */

static struct sg_gmem *find_locked(uint64_t va)
{
    for (struct sg_gmem *m = gmems; m; m = m->next)
        if (m->va == va)
            return m;
    return NULL;
}

static void device_totals(int device, uint64_t *used, uint64_t *reserved)
{
    *used = *reserved = 0;
    for (struct sg_gmem *m = gmems; m; m = m->next)
        if (m->device == device) {
            *used += m->live ? m->span : 0;
            *reserved += m->phys ? m->span : 0;
        }
}

static void note_highs(int device)
{
    uint64_t used, reserved;
    device_totals(device, &used, &reserved);
    if (used > used_high[device])
        used_high[device] = used;
    if (reserved > reserved_high[device])
        reserved_high[device] = reserved;
}

static void set_access(struct sg_gmem *m, CUmemAccess_flags flags)
{
    CUmemAccessDesc d = {{CU_MEM_LOCATION_TYPE_DEVICE, m->device}, flags};
    cuMemSetAccess(m->va, m->span, &d, 1);
}

static void unback(struct sg_gmem *m)
{
    if (!m->phys)
        return;
    cuMemUnmap(m->va, m->span);
    cuMemRelease(m->phys);
    m->phys = 0;
}

static CUresult back(struct sg_gmem *m)
{
    if (m->phys)
        return CUDA_SUCCESS;
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {CU_MEM_LOCATION_TYPE_DEVICE, m->device}};
    CUresult r = cuMemCreate(&m->phys, m->span, &prop, 0);
    if (r) {
        m->phys = 0;
        return r;
    }
    r = cuMemMap(m->va, m->span, 0, m->phys, 0);
    if (r) {
        cuMemRelease(m->phys);
        m->phys = 0;
    }
    return r;
}

static void maybe_destroy(struct sg_gmem *m)
{
    if (m->refs > 0 || m->live || m->outstanding > 0)
        return;
    for (struct sg_gmem **p = &gmems; *p; p = &(*p)->next)
        if (*p == m) {
            *p = m->next;
            break;
        }
    unback(m);
    cuMemAddressFree(m->va, m->span);
    free(m->access);
    free(m);
}

/* ---- records ---------------------------------------------------------------------------------- */

static CUresult gmem_new(const CUmemPoolProps *props, const CUmemAccessDesc *access,
                         size_t naccess, size_t bytes, struct sg_gmem **out)
{
    struct sg_gmem *m = calloc(1, sizeof *m);
    if (!m || (naccess && !(m->access = malloc(naccess * sizeof *m->access)))) {
        free(m);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    if (naccess)
        memcpy(m->access, access, naccess * sizeof *access);
    m->naccess = naccess;
    m->props = *props;
    m->device = props->location.id;
    m->size = bytes;
    m->span = (bytes + SG_GRANULARITY - 1) / SG_GRANULARITY * SG_GRANULARITY;
    CUdeviceptr va = 0;
    CUresult r = cuMemAddressReserve(&va, m->span, 0, 0, 0);
    m->va = va;
    if (r) {
        free(m->access);
        free(m);
        return r;
    }
    m->refs = 1;
    pthread_mutex_lock(&gmem_lock);
    m->next = gmems;
    gmems = m;
    pthread_mutex_unlock(&gmem_lock);
    *out = m;
    return CUDA_SUCCESS;
}

void sg_gmem_retain(struct sg_gmem *m)
{
    pthread_mutex_lock(&gmem_lock);
    m->refs++;
    pthread_mutex_unlock(&gmem_lock);
}

void sg_gmem_release(struct sg_gmem *m)
{
    pthread_mutex_lock(&gmem_lock);
    m->refs--;
    maybe_destroy(m);
    pthread_mutex_unlock(&gmem_lock);
}

CUresult sg_gmem_claim(struct sg_gmem *m)
{
    pthread_mutex_lock(&gmem_lock);
    CUresult r = m->claimed ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
    m->claimed = 1;
    pthread_mutex_unlock(&gmem_lock);
    return r;
}

void sg_gmem_unclaim(struct sg_gmem *m)
{
    pthread_mutex_lock(&gmem_lock);
    m->claimed = 0;
    pthread_mutex_unlock(&gmem_lock);
}

int sg_gmem_outstanding(const struct sg_gmem *m)
{
    pthread_mutex_lock(&gmem_lock);
    int n = m->outstanding;
    pthread_mutex_unlock(&gmem_lock);
    return n;
}

void sg_gmem_note_launch(struct sg_gmem *m, int allocs, int frees)
{
    pthread_mutex_lock(&gmem_lock);
    m->outstanding += allocs - frees;
    pthread_mutex_unlock(&gmem_lock);
}

int sg_graph_mem_owns(uint64_t addr)
{
    pthread_mutex_lock(&gmem_lock);
    int found = addr && find_locked(addr) != NULL;
    pthread_mutex_unlock(&gmem_lock);
    return found;
}

int sg_graph_mem_covers(uint64_t addr, uint64_t len)
{
    int found = 0;
    pthread_mutex_lock(&gmem_lock);
    for (struct sg_gmem *m = gmems; m && !found; m = m->next)
        found = addr >= m->va && addr + len <= m->va + m->size && addr + len >= addr;
    pthread_mutex_unlock(&gmem_lock);
    return found;
}

/* ---- what the nodes run ----------------------------------------------------------------------- */

static CUresult alloc_run(struct sg_gmem *m)
{
    pthread_mutex_lock(&gmem_lock);
    CUresult r = back(m);
    if (!r) {
        set_access(m, CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
        m->live = 1;
        note_highs(m->device);
    }
    pthread_mutex_unlock(&gmem_lock);
    return r;
}

void sg_gmem_free_run(struct sg_gmem *m)
{
    pthread_mutex_lock(&gmem_lock);
    if (m->live && m->phys)
        set_access(m, CU_MEM_ACCESS_FLAGS_PROT_NONE); /* a use after free faults */
    m->live = 0;
    maybe_destroy(m);
    pthread_mutex_unlock(&gmem_lock);
}

struct gmem_work {
    struct sg_work base;
    struct sg_gmem *m;
};

static CUresult alloc_exec(struct sg_ctx *c, struct sg_stream *s, struct sg_work *w)
{
    (void)c, (void)s;
    return alloc_run(((struct gmem_work *)w)->m);
}

static CUresult free_exec(struct sg_ctx *c, struct sg_stream *s, struct sg_work *w)
{
    (void)c, (void)s;
    sg_gmem_free_run(((struct gmem_work *)w)->m);
    return CUDA_SUCCESS;
}

static void gmem_work_destroy(struct sg_work *w)
{
    sg_gmem_release(((struct gmem_work *)w)->m);
    free(w);
}

static struct sg_work *gmem_work_clone(const struct sg_work *w)
{
    struct gmem_work *n = (struct gmem_work *)sg_work_dup(w, sizeof *n);
    if (n)
        sg_gmem_retain(n->m);
    return n ? &n->base : NULL;
}

/* A work item that allocates (is_free 0) or frees m; takes the caller's reference to m. */
static struct sg_work *gmem_work_new(struct sg_gmem *m, int is_free)
{
    struct gmem_work *w = sg_work_new(sizeof *w, is_free ? SG_W_GRAPH_FREE : SG_W_GRAPH_ALLOC,
                                      is_free ? free_exec : alloc_exec, gmem_work_clone,
                                      gmem_work_destroy);
    if (!w) {
        sg_gmem_release(m);
        return NULL;
    }
    w->m = m;
    return &w->base;
}

struct sg_gmem *sg_gmem_of(const struct sg_work *w)
{
    if (!w || (w->kind != SG_W_GRAPH_ALLOC && w->kind != SG_W_GRAPH_FREE))
        return NULL;
    return ((const struct gmem_work *)w)->m;
}

/* ---- nodes ------------------------------------------------------------------------------------ */

static CUresult check_alloc_params(const CUDA_MEM_ALLOC_NODE_PARAMS *p)
{
    if (!p || !p->bytesize || (p->accessDescCount && !p->accessDescs))
        return CUDA_ERROR_INVALID_VALUE;
    const CUmemPoolProps *pp = &p->poolProps;
    if (pp->allocType != CU_MEM_ALLOCATION_TYPE_PINNED
        || pp->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
        return CUDA_ERROR_INVALID_VALUE;
    if (sg_device_check(pp->location.id))
        return CUDA_ERROR_INVALID_DEVICE;
    if (pp->handleTypes != CU_MEM_HANDLE_TYPE_NONE)
        return CUDA_ERROR_NOT_SUPPORTED; /* IPC is not supported for graph allocations */
    for (size_t i = 0; i < p->accessDescCount; i++)
        if (p->accessDescs[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE
            || sg_device_check(p->accessDescs[i].location.id)
            || p->accessDescs[i].flags > CU_MEM_ACCESS_FLAGS_PROT_READWRITE)
            return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}

CUresult sg_mem_alloc_node_new(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps,
                               size_t ndeps, CUDA_MEM_ALLOC_NODE_PARAMS *p)
{
    struct sg_graph *g;
    struct sg_gmem *m = NULL;
    CUresult r = sg_graph_lookup(hGraph, &g);
    if (!r)
        r = check_alloc_params(p);
    if (!r)
        r = gmem_new(&p->poolProps, p->accessDescs, p->accessDescCount, p->bytesize, &m);
    struct sg_work *w = NULL;
    if (!r && !(w = gmem_work_new(m, 0)))
        r = CUDA_ERROR_OUT_OF_MEMORY;
    r = sg_graph_api_add(out, hGraph, deps, ndeps, w, r);
    if (!r)
        p->dptr = m->va;
    return r;
}

CUresult sg_mem_free_node_new(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps,
                              size_t ndeps, CUdeviceptr dptr)
{
    struct sg_graph *g;
    CUresult r = sg_graph_lookup(hGraph, &g);
    if (r)
        return r;
    pthread_mutex_lock(&gmem_lock);
    struct sg_gmem *m = find_locked(dptr);
    if (m)
        m->refs++;
    pthread_mutex_unlock(&gmem_lock);
    if (!m)
        return CUDA_ERROR_INVALID_VALUE; /* not a graph allocation */
    struct sg_work *w = gmem_work_new(m, 1);
    return sg_graph_api_add(out, hGraph, deps, ndeps, w, w ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY);
}

CUresult cuGraphAddMemAllocNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                const CUgraphNode *dependencies, size_t numDependencies,
                                CUDA_MEM_ALLOC_NODE_PARAMS *nodeParams)
{
    return sg_mem_alloc_node_new(phGraphNode, hGraph, dependencies, numDependencies, nodeParams);
}

CUresult cuGraphAddMemFreeNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                               const CUgraphNode *dependencies, size_t numDependencies,
                               CUdeviceptr dptr)
{
    return sg_mem_free_node_new(phGraphNode, hGraph, dependencies, numDependencies, dptr);
}

CUresult cuGraphMemAllocNodeGetParams(CUgraphNode hNode, CUDA_MEM_ALLOC_NODE_PARAMS *params_out)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_of_type(hNode, CU_GRAPH_NODE_TYPE_MEM_ALLOC, &n);
    if (!r && !params_out)
        r = CUDA_ERROR_INVALID_VALUE;
    if (r)
        return r;
    const struct sg_gmem *m = sg_gmem_of(n->work);
    *params_out = (CUDA_MEM_ALLOC_NODE_PARAMS){.poolProps = m->props, .accessDescs = m->access,
                                               .accessDescCount = m->naccess,
                                               .bytesize = m->size, .dptr = m->va};
    return CUDA_SUCCESS;
}

CUresult cuGraphMemFreeNodeGetParams(CUgraphNode hNode, CUdeviceptr *dptr_out)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_of_type(hNode, CU_GRAPH_NODE_TYPE_MEM_FREE, &n);
    if (!r && !dptr_out)
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r)
        *dptr_out = sg_gmem_of(n->work)->va;
    return r;
}

/* ---- stream-ordered calls on graph allocations ------------------------------------------------ */

CUresult sg_capture_mem_alloc(struct sg_stream *s, struct sg_mempool *p, size_t bytes,
                              CUdeviceptr *out)
{
    CUmemPoolProps props = {.allocType = CU_MEM_ALLOCATION_TYPE_PINNED,
                            .location = {CU_MEM_LOCATION_TYPE_DEVICE, p->device}};
    struct sg_gmem *m;
    CUresult r = gmem_new(&props, NULL, 0, bytes, &m);
    if (r)
        return r;
    uint64_t va = m->va;
    struct sg_work *w = gmem_work_new(m, 0);
    r = w ? sg_capture_add(s, w) : CUDA_ERROR_OUT_OF_MEMORY;
    if (!r)
        *out = va;
    return r;
}

/* Takes one outstanding allocation off m: INVALID_VALUE when it is not allocated. */
static CUresult take_outstanding(struct sg_gmem *m)
{
    if (m->outstanding <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    m->outstanding--;
    return CUDA_SUCCESS;
}

CUresult sg_graph_mem_free_async(struct sg_stream *s, uint64_t addr)
{
    pthread_mutex_lock(&gmem_lock);
    struct sg_gmem *m = find_locked(addr);
    CUresult r = !m ? CUDA_ERROR_INVALID_VALUE : s->capture ? CUDA_SUCCESS : take_outstanding(m);
    if (!r)
        m->refs++;
    pthread_mutex_unlock(&gmem_lock);
    if (r)
        return r;
    struct sg_work *w = gmem_work_new(m, 1);
    return w ? sg_stream_submit(s, w) : CUDA_ERROR_OUT_OF_MEMORY;
}

CUresult sg_graph_mem_free_now(struct sg_ctx *c, uint64_t addr)
{
    sg_ctx_synchronize(c); /* cuMemFree waits for the work that may use the memory */
    pthread_mutex_lock(&gmem_lock);
    struct sg_gmem *m = find_locked(addr);
    CUresult r = m ? take_outstanding(m) : CUDA_ERROR_INVALID_VALUE;
    if (!r)
        m->refs++;
    pthread_mutex_unlock(&gmem_lock);
    if (!r) {
        sg_gmem_free_run(m);
        sg_gmem_release(m);
    }
    return r;
}

/* ---- device attributes ------------------------------------------------------------------------ */

CUresult cuDeviceGetGraphMemAttribute(CUdevice device, CUgraphMem_attribute attr, void *value)
{
    CUresult r = sg_device_arg(device, value != NULL);
    if (r)
        return r;
    uint64_t used, reserved, v;
    pthread_mutex_lock(&gmem_lock);
    device_totals(device, &used, &reserved);
    switch (attr) {
    case CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT: v = used; break;
    case CU_GRAPH_MEM_ATTR_USED_MEM_HIGH: v = used_high[device]; break;
    case CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT: v = reserved; break;
    case CU_GRAPH_MEM_ATTR_RESERVED_MEM_HIGH: v = reserved_high[device]; break;
    default: r = CUDA_ERROR_INVALID_VALUE; break;
    }
    pthread_mutex_unlock(&gmem_lock);
    if (!r)
        *(cuuint64_t *)value = v;
    return r;
}

CUresult cuDeviceSetGraphMemAttribute(CUdevice device, CUgraphMem_attribute attr, void *value)
{
    CUresult r = sg_device_arg(device, value != NULL);
    if (r)
        return r;
    if ((attr != CU_GRAPH_MEM_ATTR_USED_MEM_HIGH && attr != CU_GRAPH_MEM_ATTR_RESERVED_MEM_HIGH)
        || *(cuuint64_t *)value != 0)
        return CUDA_ERROR_INVALID_VALUE; /* only the high-water marks, and only reset to 0 */
    uint64_t used, reserved;
    pthread_mutex_lock(&gmem_lock);
    device_totals(device, &used, &reserved);
    if (attr == CU_GRAPH_MEM_ATTR_USED_MEM_HIGH)
        used_high[device] = used;
    else
        reserved_high[device] = reserved;
    pthread_mutex_unlock(&gmem_lock);
    return CUDA_SUCCESS;
}

CUresult cuDeviceGraphMemTrim(CUdevice device)
{
    CUresult r = sg_device_check(device);
    if (r)
        return r;
    pthread_mutex_lock(&gmem_lock);
    /* memory that is free and that no submitted launch will allocate again */
    for (struct sg_gmem *m = gmems; m; m = m->next)
        if (m->device == device && !m->live && m->outstanding <= 0)
            unback(m);
    pthread_mutex_unlock(&gmem_lock);
    return CUDA_SUCCESS;
}
