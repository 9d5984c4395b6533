/*
 * softgpu's private header: the objects behind every CUDA driver handle (devices, contexts,
 * streams, events, modules, libraries, memory regions, pools, graphs) and the internal calls
 * the per-concern files (init.c, context.c, memory.c, stream.c, ...) make of each other.
 *
 * softgpu is a CPU implementation of the CUDA driver API. It may call libc, pthreads, the PTX
 * interpreter (ptx/ptx.h), the fat-binary reader (src/fatbin) and the export-table module
 * (src/exporttab). It knows nothing of TensorFuse.
 *
 * Locking order (outer first): heap.c's creation lock -> memory.c's region lock -> vmm.c's
 * mapping lock; and ctx->lock -> stream->lock -> event->lock. Stream workers hold no lock
 * while they run work; a heap's own lock (device malloc/free) is a leaf.
 */
#ifndef SOFTGPU_H
#define SOFTGPU_H

#include <cuda.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "devmem.h"
#include "ptx/ptx.h"

#define SG_DRIVER_VERSION 13000
#define SG_CTX_STACK_MAX 32
#define SG_DEVICE_NAME "softgpu (CPU reference GPU)"
#define SG_SHARED_DEFAULT (48u * 1024u)      /* per-block shared memory without opt-in */
#define SG_SHARED_OPTIN (163u * 1024u)       /* cuFuncSetAttribute opt-in maximum */
#define SG_SHARED_PER_SM (164u * 1024u)
#define SG_MAX_PARAM_BYTES 32764u
#define SG_GRANULARITY ((size_t)2 << 20)     /* VMM allocation granularity: 2 MiB, as on A100 */

/* ---- logging (init.c) ------------------------------------------------------------------- */

enum sg_log_level { SG_LOG_ERROR, SG_LOG_WARN, SG_LOG_INFO, SG_LOG_DEBUG };
void sg_log(enum sg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- handle registry (init.c) -------------------------------------------------------------
 * Every handle given to the application is registered with its kind, so that a stale or
 * forged handle is answered CUDA_ERROR_INVALID_HANDLE instead of being dereferenced. */

enum sg_kind {
    SG_K_CTX = 1, SG_K_STREAM, SG_K_EVENT, SG_K_MODULE, SG_K_FUNC, SG_K_LIBRARY, SG_K_KERNEL,
    SG_K_POOL, SG_K_GRAPH, SG_K_NODE, SG_K_EXEC, SG_K_USER_OBJECT, SG_K_COND,
    SG_K_ARRAY, SG_K_MIPMAP, SG_K_TEXREF, SG_K_SURFREF, /* array.c, texref.c */
    SG_K_EXTMEM, SG_K_EXTSEM,                            /* extmem.c */
};
void sg_handle_add(const void *h, enum sg_kind kind);
void sg_handle_del(const void *h);
int sg_handle_is(const void *h, enum sg_kind kind);
/* The lookup every handle-taking call starts with: once softgpu is initialised, h when it is a
 * live object of `kind` (in *out), else `bad` (the driver answers INVALID_HANDLE for some kinds
 * and INVALID_VALUE for others). */
CUresult sg_handle_get(const void *h, enum sg_kind kind, CUresult bad, void **out);

/* ---- process state (init.c) --------------------------------------------------------------- */

struct sg_ctx;
struct sg_mempool;

struct sg_device {
    int ordinal;
    uint64_t mem_total;        /* the shared device's capacity (its segment's SOFTGPU_MEMORY) */
    _Atomic uint64_t mem_used; /* this process's bytes (the device's own when it is private) */
    CUuuid uuid;
    struct sg_ctx *primary;           /* exists from cuInit on; its state says if it is active */
    struct sg_mempool *default_pool;
    struct sg_mempool *current_pool;
};

struct sg_global {
    int ndev, sms, threads;
    int cc_major, cc_minor; /* SOFTGPU_CC (config.c); sg_device_sm() is major * 10 + minor */
    uint64_t mem_bytes;
    char ns[SG_NS_MAX + 1]; /* SOFTGPU_NAMESPACE: which machine's shared devices (shm_stats.c) */
    struct sg_device dev[SG_MAX_DEVICES];
    struct sg_addr_space as;
    ptx_pool *pool;
};
extern struct sg_global sg;
static inline int sg_device_sm(void) { return sg.cc_major * 10 + sg.cc_minor; }

/* Returns the result of the one-time initialisation (CUDA_ERROR_NOT_INITIALIZED before cuInit). */
CUresult sg_check_init(void);
CUresult sg_device_check(CUdevice dev);
/* The usual first lines of a device query: INVALID_VALUE unless args_ok (the output pointers
 * are there), then sg_device_check(dev). */
CUresult sg_device_arg(CUdevice dev, int args_ok);
double sg_now_ms(void);
uint64_t sg_now_ns(void);

/* ---- thread state (context.c) --------------------------------------------------------------- */

struct sg_tls {
    struct sg_ctx *stack[SG_CTX_STACK_MAX];
    int depth;
    int ptds;   /* > 0 while inside a _ptds/_ptsz entry point: NULL stream = per-thread stream */
};
extern __thread struct sg_tls sg_tls;

/* ---- contexts (context.c) ------------------------------------------------------------------ */

struct sg_stream;

struct sg_ctx {
    struct sg_device *dev;
    int is_primary;
    int active;                 /* created ctx: always; primary: retained at least once */
    int retains;                /* primary only */
    unsigned flags;
    unsigned generation;        /* bumped on destroy / primary reset: invalidates TLS caches */
    _Atomic int sticky;         /* CUresult that every call returns until destroy/reset */
    size_t limits[CU_LIMIT_MAX];
    pthread_mutex_t lock;       /* streams list, modules list */
    struct sg_stream *null_stream;
    struct sg_stream *streams;  /* every other stream, linked by next_in_ctx */
    struct sg_module *modules;  /* modules loaded in this ctx (cuModuleLoad + library instances) */
    pthread_mutex_t print_lock;
    char *print_buf;
    size_t print_len, print_cap;
    int print_overflow;
    struct sg_heap *heap;       /* device malloc heap (heap.c); NULL until a kernel needs it */
};

/* Current context of the calling thread, checked: INVALID_CONTEXT when none or inactive,
 * the sticky error when the context has one. */
CUresult sg_ctx_get(struct sg_ctx **out);
/* Resolves an explicit ctx argument (NULL = current), with the same checks. */
CUresult sg_ctx_resolve(CUcontext h, struct sg_ctx **out);
void sg_ctx_set_sticky(struct sg_ctx *ctx, CUresult err);
void sg_ctx_print(struct sg_ctx *ctx, const char *text, size_t len);
void sg_ctx_flush_print(struct sg_ctx *ctx);
CUresult sg_ctx_synchronize(struct sg_ctx *ctx);
CUresult sg_primary_ctx_handle(CUcontext *ctx, CUdevice dev);
void sg_ctx_init_device(struct sg_device *d);

/* ---- device heap (heap.c) ------------------------------------------------------------------ */

/* Creates ctx's device heap (CU_LIMIT_MALLOC_HEAP_SIZE bytes) unless it exists. */
CUresult sg_heap_ensure(struct sg_ctx *ctx);
/* cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE): INVALID_VALUE once the heap exists. */
CUresult sg_heap_set_limit(struct sg_ctx *ctx, size_t bytes);
void sg_heap_destroy(struct sg_ctx *ctx);
/* The heap_alloc / heap_free hooks of struct ptx_launch; opaque is the context. */
uint64_t sg_heap_alloc(void *opaque, uint64_t size);
void sg_heap_free(void *opaque, uint64_t addr);

/* ---- memory (memory.c) ---------------------------------------------------------------------- */

enum sg_region_kind {
    SG_R_DEVICE = 1,   /* cuMemAlloc, pools, module globals */
    SG_R_HOST,         /* cuMemAllocHost / cuMemHostAlloc: page-locked host memory, in the range */
    SG_R_MANAGED,      /* cuMemAllocManaged */
    SG_R_RESERVED,     /* cuMemAddressReserve: VA only, mapped piecewise by cuMemMap */
    SG_R_IPC,          /* cuIpcOpenMemHandle: another process's device memory (ipc.c), not counted */
    SG_R_EXTERNAL,     /* a mapped buffer of external memory (extmem.c): a file, not counted */
};

struct sg_region {
    uint64_t start;    /* first byte */
    uint64_t size;     /* bytes asked for */
    uint64_t span;     /* bytes owned in the range (page multiple, includes the guard page) */
    enum sg_region_kind kind;
    struct sg_ctx *ctx;
    int device;
    unsigned flags;    /* cuMemHostAlloc flags, managed attach flags */
    struct sg_mempool *pool;   /* allocated by cuMemAllocAsync from this pool */
};

CUresult sg_mem_init(void);
/* Allocates `size` bytes of kind in the range for ctx. The bytes are zero. */
CUresult sg_mem_alloc(struct sg_ctx *ctx, uint64_t size, uint64_t align, enum sg_region_kind kind,
                      unsigned flags, uint64_t *out);
/* The same below 4 GiB, in the 32-bit window (memory.c): for the CUDA 3.1 ABIs and module
 * globals. CUDA_ERROR_OUT_OF_MEMORY when the window is full or the platform has none. */
CUresult sg_mem_alloc_low(struct sg_ctx *ctx, uint64_t size, enum sg_region_kind kind,
                          uint64_t *out);
/* The pitch cuMemAllocPitch gives rows of WidthInBytes (checks the arguments as it does). */
CUresult sg_mem_pitch(size_t WidthInBytes, size_t Height, unsigned ElementSizeBytes,
                      size_t *pitch);
/* Frees the region that starts at addr (kind must match when kind != 0). */
CUresult sg_mem_free(uint64_t addr, enum sg_region_kind kind);
/* Frees everything ctx owns (context destroy / primary reset). */
void sg_mem_free_ctx(struct sg_ctx *ctx);
/* Copies out the region containing addr; 0 when found. */
int sg_mem_find(uint64_t addr, struct sg_region *out);
/* True when [addr, addr+len) is device-accessible (allocations, mapped VMM, registered host). */
int sg_mem_ok(uint64_t addr, uint64_t len);
/* Forgets the advice and prefetch locations of a range of managed memory (memrange.c). */
void sg_advice_forget(uint64_t p, uint64_t bytes);
/* The longest input or output of one cuMemBatchDecompressAsync operation (decompress.c), also
 * CU_DEVICE_ATTRIBUTE_MEM_DECOMPRESS_MAXIMUM_LENGTH. */
#define SG_DECOMPRESS_MAX (1 << 30)
void sg_mem_set_access(uint64_t addr, uint64_t len, int accessible);
/* Finds the first gap of `span` bytes aligned to align and records a region there. */
CUresult sg_mem_reserve_va(uint64_t span, uint64_t align, uint64_t fixed, struct sg_region *r);
void sg_mem_release_va(uint64_t start);
void sg_mem_tag_pool(uint64_t addr, struct sg_mempool *pool);
/* Registered host memory (cuMemHostRegister), answered through as.check_extra. */
int sg_mem_registered_find(uint64_t addr, uint64_t *base, uint64_t *size, unsigned *flags);
/* True when [addr, addr+len) of host memory is mapped and readable; *writable: all of it
 * writable too (hostreg.c). */
int sg_host_range_mapped(uint64_t addr, uint64_t len, int *writable);

/* ---- IPC (ipc.c) ----------------------------------------------------------------------------
 * A region about to be released (memory.c, mem_lock held): if ipc.c shares its pages with
 * another process (exported or imported), they are replaced by private zero pages. */
void sg_ipc_region_released(uint64_t start, uint64_t bytes);
/* [offset, offset+bytes) of a file at a new SG_R_EXTERNAL region of c (freed by cuMemFree). */
CUresult sg_ipc_map_fd(struct sg_ctx *c, int fd, uint64_t offset, uint64_t bytes, uint64_t *out);
/* A dma-buf descriptor of [dptr, dptr+size) of one device allocation (page aligned). */
CUresult sg_ipc_range_fd(uint64_t dptr, uint64_t size, int *fd_out);
/* A new memfd of bytes named for a fresh random id; -1 when out of memory. */
int sg_ipc_memfd(uint64_t bytes, uint64_t *id);
/* Opens descriptor fd of process pid, checked to be the memfd of id holding >= bytes. */
CUresult sg_ipc_open_peer(int pid, int fd, uint64_t id, uint64_t bytes, int *fd_out);

/* ---- VMM (vmm.c) ---------------------------------------------------------------------------- */
/* Looks up the VMM mapping that holds addr: 0 when found (for pointer attributes). */
int sg_vmm_find_mapping(uint64_t addr, uint64_t *base, uint64_t *size, int *device);
void sg_vmm_unmap_reserved(uint64_t start, uint64_t span);
/* A new descriptor of a physical allocation's memfd (-1: no such handle, -2: dup failed). */
int sg_vmm_phys_dup_fd(CUmemGenericAllocationHandle handle, CUmemAllocationProp *prop);
/* A physical allocation made of an imported memfd of `size` bytes (takes the descriptor). */
CUresult sg_vmm_phys_adopt(int fd, uint64_t size, const CUmemAllocationProp *prop,
                           CUmemGenericAllocationHandle *handle);
/* Multicast objects (multicast.c) bind physical allocations: a binding holds a reference to
 * [off, off+size) of one (*device: where it lies); the allocation mapped over [addr, addr+size)
 * and the offset of addr in it. */
CUresult sg_vmm_phys_hold(CUmemGenericAllocationHandle h, uint64_t off, uint64_t size,
                          int *device);
void sg_vmm_phys_drop(CUmemGenericAllocationHandle h);
CUresult sg_vmm_phys_at(uint64_t addr, uint64_t size, CUmemGenericAllocationHandle *h,
                        uint64_t *off);
/* For vmm.c: whether a handle is a multicast object; mapping one (the memory bound to
 * [offset, offset+size) of it, mapped at ptr); releasing one (INVALID_VALUE: not one). */
int sg_mcast_is(CUmemGenericAllocationHandle h);
/* CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED: a softgpu of one device. */
int sg_mcast_supported(void);
CUresult sg_mcast_map(uint64_t ptr, uint64_t size, uint64_t offset,
                      CUmemGenericAllocationHandle h);
CUresult sg_mcast_release(CUmemGenericAllocationHandle h);

/* ---- work, streams, events (stream.c, event.c) --------------------------------------------
 * A unit of device work. Streams run it in FIFO order on their worker thread; graphs keep it
 * as a node and run it on every launch; stream capture turns a submission into a node. */

enum sg_work_kind {
    SG_W_NOP = 0, SG_W_KERNEL, SG_W_COPY, SG_W_MEMSET, SG_W_HOST, SG_W_CALLBACK,
    SG_W_EVENT_RECORD, SG_W_WAIT, SG_W_GRAPH, SG_W_FREE, SG_W_EVENT_WAIT,
    SG_W_MEMOP, SG_W_GRAPH_ALLOC, SG_W_GRAPH_FREE, SG_W_CONDITIONAL,
    SG_W_EXT_SIGNAL, SG_W_EXT_WAIT,   /* external semaphores (extmem.c) */
};

struct sg_work {
    enum sg_work_kind kind;
    CUresult (*exec)(struct sg_ctx *ctx, struct sg_stream *s, struct sg_work *w);
    void (*destroy)(struct sg_work *w);
    struct sg_work *(*clone)(const struct sg_work *w); /* NULL: cannot be put in a graph */
    struct sg_work *next;        /* stream FIFO link */
    uint64_t seq;                /* position in the stream */
};

typedef CUresult (*sg_work_exec_fn)(struct sg_ctx *ctx, struct sg_stream *s, struct sg_work *w);
/* A zeroed work item whose struct (base first) is `bytes` long, with its hooks set (clone and
 * destroy may be NULL); NULL when out of memory. */
void *sg_work_new(size_t bytes, enum sg_work_kind kind, sg_work_exec_fn exec,
                  struct sg_work *(*clone)(const struct sg_work *w),
                  void (*destroy)(struct sg_work *w));
/* A byte copy of a work item whose struct (base first) is `bytes` long; for clone hooks. */
struct sg_work *sg_work_dup(const struct sg_work *w, size_t bytes);

struct sg_graph;

struct sg_stream {
    struct sg_ctx *ctx;
    unsigned flags;
    int priority;
    int is_null;                 /* the context's legacy default stream */
    int is_per_thread;
    unsigned long long id;
    _Atomic int refs;
    pthread_mutex_t lock;
    pthread_cond_t work_cond;    /* signalled on submit and stop */
    pthread_cond_t done_cond;    /* broadcast when completed advances */
    struct sg_work *head, *tail;
    uint64_t enqueued, completed;
    CUresult error;              /* first asynchronous error since the last synchronize */
    int stopping;                /* destroy asked the worker to finish the FIFO and exit */
    int exited;                  /* the worker is gone: nothing more will run */
    pthread_t thread;
    struct sg_stream *next_in_ctx;
    CUstreamAttrValue attrs[CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN + 1]; /* cuStreamSetAttribute */
    /* stream capture */
    struct sg_graph *capture;
    CUstreamCaptureMode capture_mode;
    unsigned long long capture_id;
    struct sg_graph_node **cap_deps;
    size_t cap_ndeps;
    CUresult capture_error;
};

CUresult sg_stream_create(struct sg_ctx *ctx, unsigned flags, int priority, int is_null,
                          struct sg_stream **out);
void sg_stream_release(struct sg_stream *s);  /* drop a reference */
void sg_stream_retain(struct sg_stream *s);
/* Stops the worker after the queued work, unlinks from ctx, drops the ctx's reference. */
void sg_stream_destroy(struct sg_stream *s);
/* Resolves a CUstream argument (NULL, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD, handles) in
 * the current context, or the context of the stream handle. */
CUresult sg_stream_resolve(CUstream h, struct sg_stream **out);
/* Hands work to the stream (or to its capture graph). Takes ownership of w even on error. */
CUresult sg_stream_submit(struct sg_stream *s, struct sg_work *w);
/* Waits until everything submitted so far has run; returns and clears the stream's error,
 * or the context's sticky error. Flushes device printf. */
CUresult sg_stream_sync(struct sg_stream *s);
/* Waits without clearing errors (used before synchronous copies). */
CUresult sg_stream_drain(struct sg_stream *s);
int sg_stream_idle(struct sg_stream *s);
/* Whether w is the item the calling stream thread runs and the stream's next one, past event
 * records, is a kernel that will run (the scheduler keeps the device for it, devsched.c). */
int sg_stream_next_is_kernel(struct sg_stream *s, const struct sg_work *w);
/* Work that waits until stream `other` has completed `seq`. */
struct sg_work *sg_work_wait_new(struct sg_stream *other, uint64_t seq);
struct sg_work *sg_work_nop_new(void);
void sg_work_free(struct sg_work *w);

struct sg_event {
    struct sg_ctx *ctx;
    unsigned flags;
    _Atomic int refs;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int recorded;               /* ever recorded */
    uint64_t gen;               /* bumped on every record */
    uint64_t done_gen;          /* gen of the last record that has executed */
    struct sg_stream *stream;   /* stream of the last record (referenced) */
    uint64_t seq;
    double time_ms;
    /* capture: the nodes an in-capture record stood for */
    struct sg_graph *cap_graph;
    struct sg_graph_node **cap_nodes;
    size_t cap_nnodes;
    /* IPC (ipc_event.c): the shared generations once exported or opened; ipc_fd is the
     * exporter's memfd (-1 otherwise) */
    struct sg_ipc_event *ipc;
    int ipc_fd;
};
void sg_event_release(struct sg_event *e);
/* ipc_event.c, for event.c: e->lock held for all but done. */
void sg_ipc_event_pull(struct sg_event *e);
uint64_t sg_ipc_event_next(struct sg_event *e);
void sg_ipc_event_done(struct sg_event *e, uint64_t gen);
void sg_ipc_event_wait_locked(struct sg_event *e, uint64_t target);
void sg_ipc_event_forget(struct sg_event *e);
/* A signal or a wait of n external semaphores in order, as stream work and graph nodes'
 * work: params are n CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS or _WAIT_PARAMS (one layout);
 * INVALID_HANDLE for a semaphore that is not live (extmem.c). Describe hands out the work's
 * own arrays (the node getters'). */
CUresult sg_extsem_work_new(const CUexternalSemaphore *sems, const void *params, unsigned n,
                            int signal, struct sg_work **out);
void sg_extsem_work_describe(const struct sg_work *w, CUexternalSemaphore **sems,
                             const void **params, unsigned *n);
/* Makes stream s wait for event e's last record (or nothing when never recorded). */
CUresult sg_event_wait_submit(struct sg_stream *s, struct sg_event *e);
struct sg_work *sg_work_event_record_new(struct sg_event *e, uint64_t gen);
struct sg_work *sg_work_event_wait_new(struct sg_event *e, uint64_t gen);
/* The event of a record or wait work item (graph node getters); NULL for other work. */
struct sg_event *sg_work_event(const struct sg_work *w);

/* ---- modules, libraries, functions (module.c, library.c) ---------------------------------- */

struct sg_library;

struct sg_func {
    struct sg_module *module;
    const ptx_kernel *kernel;
    int max_dynamic_shared;     /* CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES */
    int preferred_carveout;
    int non_portable_cluster;
    int cluster_dims[3];
    CUfunc_cache cache_config;
};

struct sg_module {
    struct sg_ctx *ctx;
    ptx_module *ptx;
    int owns_ptx;               /* cuModuleLoad*: yes; a library instance shares its library's */
    struct sg_library *library; /* NULL for cuModuleLoad* modules */
    uint64_t *global_addrs;
    int nglobals;
    struct sg_func *funcs;
    int nfuncs;
    struct sg_module *next_in_ctx;
};

struct sg_kernel_handle {
    struct sg_library *library;
    int index;
    /* attributes set with cuKernelSetAttribute, applied to every instance */
    int max_dynamic_shared;
    int preferred_carveout;
};

struct sg_library {
    ptx_module *ptx;
    struct sg_kernel_handle *kernels;
    int nkernels;
    pthread_mutex_t lock;
    struct sg_module **instances;   /* one per context that used it */
    struct sg_ctx **instance_ctx;
    unsigned *instance_gen;
    int ninstances, cap;
};

/* Parses an image of any kind (PTX text, fat binary, wrapper, cubin) into a PTX module; an
 * image with no code softgpu runs (SASS only) gives an empty module that remembers its kernels'
 * names. sg_ptx_release frees either kind; sg_kernel_missing is the error for a name a module
 * lacks: NO_BINARY_FOR_GPU (logged) for a kernel without runnable code, else NOT_FOUND. */
CUresult sg_image_to_ptx(const void *image, ptx_module **out);
void sg_ptx_release(ptx_module *ptx);
CUresult sg_kernel_missing(const ptx_module *ptx, const char *name);
CUresult sg_module_instantiate(struct sg_ctx *ctx, ptx_module *ptx, struct sg_library *lib,
                               struct sg_module **out);
void sg_module_destroy(struct sg_module *m);
void sg_module_unlink(struct sg_module *m);
CUresult sg_module_global(struct sg_module *m, const char *name, CUdeviceptr *dptr, size_t *bytes);
CUresult sg_func_attribute(const ptx_module *m, const ptx_kernel *k, int max_dyn, int carveout,
                           CUfunction_attribute a, int *v);
CUresult sg_func_attribute_check(const ptx_kernel *k, CUfunction_attribute a, int value);
CUresult sg_param_info(const ptx_kernel *k, size_t index, size_t *offset, size_t *size);
char *sg_read_file(const char *path, size_t *len);
/* Accepts a CUfunction or a CUkernel (instantiated in the current context). */
CUresult sg_func_resolve(CUfunction h, struct sg_func **out);
CUresult sg_library_instance(struct sg_library *lib, struct sg_ctx *ctx, struct sg_module **out);
void sg_library_forget_ctx(struct sg_ctx *ctx);

/* ---- launches (launch.c) --------------------------------------------------------------------- */

struct sg_launch_cfg {
    unsigned grid[3], block[3];
    unsigned shared;
    int cooperative;
};
/* Builds kernel work from launch arguments (validated; params copied). */
CUresult sg_kernel_work_new(struct sg_func *f, const struct sg_launch_cfg *cfg, void **params,
                            void **extra, struct sg_work **out);
/* What a kernel work item launches (graph node getters): its packed parameter buffer stays
 * owned by the work item. */
void sg_kernel_work_describe(const struct sg_work *w, struct sg_func **f, struct sg_launch_cfg *cfg,
                             unsigned char **params, size_t *param_bytes);
/* cudaGraphSetConditional from device code (graph_cond.c): 0, or -1 for a bad handle. */
int sg_graph_cond_set(uint64_t handle, uint32_t value);

/* ---- copies (copy.c) ------------------------------------------------------------------------ */
struct sg_work *sg_copy_work_new(uint64_t dst, uint64_t src, size_t bytes);
CUresult sg_copy3d_work_new(const CUDA_MEMCPY3D *p, struct sg_work **out);
struct sg_work *sg_memset_work_new(uint64_t dst, size_t pitch, unsigned value, unsigned elem,
                                   size_t width, size_t height);
/* The parameters of a copy / memset work item as the graph node getters return them. */
void sg_copy_work_describe(const struct sg_work *w, CUDA_MEMCPY3D *out);
void sg_memset_work_describe(const struct sg_work *w, CUDA_MEMSET_NODE_PARAMS *out);

/* ---- host callbacks (stream.c) --------------------------------------------------------------- */
struct sg_work *sg_host_work_new(CUhostFn fn, void *user);
void sg_host_work_describe(const struct sg_work *w, CUhostFn *fn, void **user);

/* ---- graphs (graph.c) ------------------------------------------------------------------------ */
CUresult sg_capture_add(struct sg_stream *s, struct sg_work *w);
CUresult sg_capture_event_record(struct sg_stream *s, struct sg_event *e);
CUresult sg_capture_event_wait(struct sg_stream *s, struct sg_event *e);
/* Graph-allocated memory (graph_mem.c): cuMemAllocAsync inside a capture becomes an
 * allocation node; cuMemFreeAsync and cuMemFree of a graph allocation free it. */
CUresult sg_capture_mem_alloc(struct sg_stream *s, struct sg_mempool *p, size_t bytes,
                              CUdeviceptr *out);
int sg_graph_mem_owns(uint64_t addr);
/* True when [addr, addr+len) lies in one graph allocation's address range: copies and memsets
 * made into graphs (capture, nodes) may name memory that exists only once the graph runs. */
int sg_graph_mem_covers(uint64_t addr, uint64_t len);
CUresult sg_graph_mem_free_async(struct sg_stream *s, uint64_t addr);
CUresult sg_graph_mem_free_now(struct sg_ctx *c, uint64_t addr);

/* ---- stream-ordered allocation (mempool.c) -------------------------------------------------- */
struct sg_mempool {
    int device;
    int is_default;
    _Atomic uint64_t used, used_high, reserved_high;
    _Atomic uint64_t reserved;   /* used + freed blocks the pool keeps for reuse (mempool_cache.c) */
    uint64_t release_threshold;
    int reuse_flags[3];
    /* sharing (mempool_share.c): handle types it was created with; its exported token (fd -1
     * until exported) and id; or, imported, the id of the exporter's pool it stands for */
    unsigned handle_types;
    int share_fd;
    int imported;
    uint64_t share_id;
};
void sg_mempool_init_device(struct sg_device *d);
/* A pool region at addr of `bytes` is released for good (memory.c, mem_lock held). */
void sg_mempool_note_free(struct sg_mempool *p, uint64_t addr, uint64_t bytes);

/* ---- the pools' cache of freed blocks (mempool_cache.c) ------------------------------------ */
/* A cached block of p that stream s may reuse for `bytes` under p's reuse flags; 0 when none. */
uint64_t sg_pool_cache_take(struct sg_mempool *p, struct sg_stream *s, uint64_t bytes);
/* Keeps a block freed in stream s (freeing it for good above the release threshold). */
void sg_pool_cache_put(struct sg_mempool *p, uint64_t addr, struct sg_stream *s);
/* Releases cached blocks until p reserves at most `keep` bytes. */
void sg_pool_cache_trim(struct sg_mempool *p, uint64_t keep);
void sg_pool_note_alloc(struct sg_mempool *p, uint64_t bytes, int fresh);

/* ---- the shared device (shm_stats.c, shm_stats.h) ------------------------------------------ */
void sg_shm_open_devices(void);   /* cuInit: attach each device's segment, learn its capacity */
void sg_shm_update(int device);   /* list this process on device (NVML), claiming its slot */
void sg_shm_note_busy(int device, uint64_t ns, int is_copy);
int sg_shm_my_slot(int device);                /* this process's slot there, or -1 */
/* Device memory: every allocation that counts reserves here, against the device-wide capacity
 * (all processes); 0, or -1 with *over = how far past the capacity it would have gone. */
int sg_dev_mem_reserve(struct sg_device *d, uint64_t bytes, uint64_t *over);
void sg_dev_mem_release(struct sg_device *d, uint64_t bytes);
uint64_t sg_dev_mem_used(struct sg_device *d); /* the device's, all processes */

#endif
