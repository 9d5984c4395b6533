/*
 * Inside the stub (our libcuda.so.1): the one connection of the process to its worker, the
 * call transaction every entry point uses, and the local state answered without the worker.
 * Private to src/stub.
 */
#ifndef TFUSE_STUB_H
#define TFUSE_STUB_H

#include <stdint.h>

#include <cuda.h>

#include "params.h"
#include "proto.h"

/* Older ABIs the stub also exports, which cuda.h declares only under their newest names. */
CUresult CUDAAPI cuDeviceGetUuid(CUuuid *uuid, CUdevice dev);
CUresult CUDAAPI cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev);
CUresult CUDAAPI cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd);
CUresult CUDAAPI cuDevicePrimaryCtxRelease(CUdevice dev);
CUresult CUDAAPI cuDevicePrimaryCtxReset(CUdevice dev);
CUresult CUDAAPI cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags);
CUresult CUDAAPI cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion,
                                  cuuint64_t flags);
CUresult CUDAAPI cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph,
                                       CUgraphNode *phErrorNode, char *logBuffer, size_t bufferSize);
#undef cuGraphAddDependencies
CUresult CUDAAPI cuGraphAddDependencies(CUgraph hGraph, const CUgraphNode *from,
                                        const CUgraphNode *to, size_t numDependencies);

/* One forwarded call in progress. The stub holds its call lock from tfs_begin to tfs_end, so
 * calls from several program threads are serialised on the connection. */
struct tfs_call {
    struct tfp_writer *w;     /* the request being built (after tfs_begin) */
    uint32_t id;
    enum tfp_mode mode;
    int bad;                  /* the reply could not be read: the connection is dropped */
    int attached;             /* a buffer went by its address (attach.c) */
    size_t bytes;             /* a large copy's size, timed by attach.c */
};

/* Locks, connects if needed and starts a request carrying the thread's current context.
 * On failure the lock is not held and the error is returned. */
CUresult tfs_begin(struct tfs_call *c, uint32_t id);
/* Sends the request; for a call with a reply, waits for it, writes any device printf output
 * to stdout and returns the call's result (the outputs follow, read with tfs_get). */
CUresult tfs_transact(struct tfs_call *c);
/* tfs_end's verdict without the unlock, for a request made inside tfs_begin (attach.c). */
CUresult tfs_settle(struct tfs_call *c, CUresult r);
/* Cross-memory attach (attach.c): negotiated at the session's first copy call id (lock held,
 * the writer free); a large buffer of a copy encoded by its address (1) or not (0); the
 * session's attach given up (the worker's pid no longer the program's ptracer); after a call. */
struct tf_conn;
void tfs_attach_negotiate(struct tf_conn *conn, struct tfp_writer *w, uint32_t id);
int tfs_attach_in(struct tfs_call *c, const void *p, size_t len);
int tfs_attach_out(struct tfs_call *c, void *p, size_t len);
void tfs_attach_lost(void);
void tfs_attach_after(const struct tfs_call *c, CUresult r);
/* The generated host copies (entry.c), called in pieces by bigcopy.c under the driver's names;
 * the session's frame bound (connects if needed; 0 without a session). */
CUresult tfs_whole_cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount);
CUresult tfs_whole_cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount);
CUresult tfs_whole_cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost,
                                        size_t ByteCount, CUstream hStream);
CUresult tfs_whole_cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount,
                                        CUstream hStream);
uint64_t tfs_frame_bound(void);
/* Reads n bytes of the reply's outputs into dst (dst NULL: skip them). */
void tfs_get(struct tfs_call *c, void *dst, size_t n);
static inline uint64_t tfs_get_u64(struct tfs_call *c) { uint64_t v = 0; tfs_get(c, &v, sizeof v); return v; }
/* Encodes a buffer the call reads: by reference when it lies in a shared region (the worker
 * reads it in place), else its bytes. */
void tfs_put_in(struct tfs_call *c, const void *p, size_t len);
/* Encodes a buffer the call writes: returns 1 when it lies in a shared region (the worker
 * writes it in place; nothing comes back in the reply), else 0. */
int tfs_put_out(struct tfs_call *c, void *p, size_t len);
/* Page-locked host memory shared with the worker (shm transport only; NULL otherwise). */
void *tfs_region_alloc(size_t bytes, uint64_t *id);
void tfs_region_free(uint64_t id);

/* Passes fd to the worker under a fresh tag (same host only: NOT_SUPPORTED over TCP). */
CUresult tfs_send_fd(int fd, uint64_t *tag);
/* Takes the fd the worker sent under tag (same host only: NOT_SUPPORTED over TCP); tag 0 only
 * asks whether descriptors pass at all. */
CUresult tfs_take_fd(uint64_t tag, int *fd);
/* 1 when a release of handle h is one of the program's extra retains (share.c): answered. */
int tfs_share_release(uint64_t h);
/* Mirrored memory (mirror.c): 1 when mapped page-locked memory must be mirrored (no memfd
 * passes: TCP); a twin of the program's [host, host+len) made in the worker (its device address
 * in *dptr; CUDA_ERROR_OUT_OF_MEMORY over the bound, logged); released. */
int tfs_mirror_wanted(void);
CUresult tfs_mirror_add(void *host, size_t len, CUdeviceptr *dptr);
void tfs_mirror_del(void *host);
/* Under the call lock: the program's changes to the twins before a request is built; the
 * device's changes back after call `id` ended with r, when it is a synchronizing one. */
void tfs_mirror_before(void);
void tfs_mirror_after(uint32_t id, CUresult r);
/* Forgets a managed allocation's client mapping once the worker freed it. */
void tfs_managed_forget(CUdeviceptr p);

/* Unlocks; returns r, or the connection error when the reply was unreadable. */
CUresult tfs_end(struct tfs_call *c, CUresult r);
/* After every forwarded call, outside the call lock (misc.c): a GPU exception's core dump, an
 * over-budget notification after CUDA_ERROR_OUT_OF_MEMORY. */
void tfs_misc_after(CUresult r);

/* Connects (once) and loads the session snapshot. CUDA_SUCCESS or why not. */
CUresult tfs_ensure_session(void);

/* The session snapshot: backend driver version, devices (filled by tfs_ensure_session). */
struct tfs_session_info {
    int driver_version;
    int device_count;
};
extern struct tfs_session_info tfs_info;
/* A device's cached description (fetched on first use); NULL for a bad ordinal. */
const struct tfp_device_info *tfs_device(CUdevice dev);

/* The calling thread's current context (the top of its context stack). */
CUcontext tfs_current_ctx(void);
/* Forgets ctx in the calling thread's stack (after cuCtxDestroy). */
void tfs_forget_ctx(CUcontext ctx);
/* The primary context handle of dev, fetched once (CUDART_INTERFACE slot 2). */
CUresult tfs_primary_ctx(CUcontext *ctx, CUdevice dev);

/* Device allocations of this session as the stub saw them (to route unified copies). */
void tfs_dev_add(CUdeviceptr p, size_t size);
void tfs_dev_del(CUdeviceptr p);
int tfs_dev_contains(CUdeviceptr p, size_t len);
/* The id of the device allocation holding p (CU_POINTER_ATTRIBUTE_BUFFER_ID), 0 if none. */
uint64_t tfs_dev_buffer_id(CUdeviceptr p);
/* 1 when [p, p+count) lies in one managed allocation of this stub (graph.c). */
int tfs_managed_range(CUdeviceptr p, size_t count);
/* The session's ordinal of the device an allocation holding p is on (0 when p is none of ours:
 * what a one-device session always answers). */
int tfs_dev_ordinal(CUdeviceptr p);

/* A kernel's arguments ready to encode (launch.c): by the function's learnt parameter layout
 * (asked of the worker once), or an `extra` parameter buffer. Prepare before tfs_begin (it may
 * make a call of its own); put into the request after. Launches and graph kernel nodes share it. */
struct tfs_kargs {
    const void *layout;       /* the cached layout, or NULL for an `extra` buffer */
    void **params;
    const void *xbuf;
    size_t xlen;
};
CUresult tfs_kargs_prepare(CUfunction f, void **params, void **extra, struct tfs_kargs *a);
/* Wire form: u32 count (UINT32_MAX: `extra` buffer), count x tfp_param, u32 bytes, bytes. */
void tfs_kargs_put(struct tfp_writer *w, const struct tfs_kargs *a);

/* Graph node requests (graph.c): the header (graph, dependencies), then the node's own fields,
 * then tfs_node_finish sends it and takes the new node's handle. */
CUresult tfs_node_begin(struct tfs_call *c, uint32_t call, CUgraphNode *out, CUgraph graph,
                        const CUgraphNode *deps, size_t ndeps);
CUresult tfs_node_finish(struct tfs_call *c, CUgraphNode *out);

/* A node kind's fields, one encoder for its add and its setters (graph.c): memset, memcpy (which
 * ends the call and refuses what it cannot encode). */
void tfs_put_memset(struct tfp_writer *w, CUcontext ctx, const CUDA_MEMSET_NODE_PARAMS *p);
CUresult tfs_put_copy_node(struct tfs_call *c, CUcontext ctx, const CUDA_MEMCPY3D *p);
/* A setter (exec NULL: of a graph's node): the target, then put(c, fields) writes the node's
 * fields (ending the call itself when it fails), then the round trip. */
typedef CUresult (*tfs_put_fields)(struct tfs_call *c, const void *fields);
CUresult tfs_set_node(uint32_t call, CUgraphExec exec, CUgraphNode node, tfs_put_fields put,
                      const void *fields);
/* Opens the host-function channel once (callbacks.c): NOT_SUPPORTED over TCP. */
CUresult tfs_callback_channel(void);
/* A pointer of this process into shared region id at off (conn.c); NULL when it is none. */
void *tfs_region_ptr(uint64_t id, uint64_t off, uint64_t len);

/* cuGraphGetNodes with an array (graph.c). */
CUresult tfs_graph_nodes(CUgraph graph, CUgraphNode *nodes, size_t *numNodes);

/* > 0 while the calling thread is inside a per-thread-default-stream entry point (_ptds/_ptsz,
 * surface.c): its NULL stream is then the per-thread stream, sent as CU_STREAM_PER_THREAD. */
extern __thread int tfs_ptds;
static inline uint64_t tfs_stream_arg(CUstream s)
{
    return (uint64_t)(uintptr_t)(s == NULL && tfs_ptds ? CU_STREAM_PER_THREAD : s);
}

/* 2D and 3D copies with a CUDA array on a side (arraycopy.c); synchronous with the stream. */
CUresult tfs_copy_array_2d(const CUDA_MEMCPY2D *c, CUstream s);
CUresult tfs_copy_array_3d(const CUDA_MEMCPY3D *c, CUstream s);

/* Reports the JIT log buffers among options empty: the options are not forwarded (custom.c). */
void tfs_clear_jit_logs(unsigned n, const CUjit_option *opts, void **vals);

/* A host function launched on a capturing stream: captured as a host node run through the
 * callback channel (callbacks.c). */
CUresult tfs_capture_host_func(CUstream stream, CUhostFn fn, void *userData);

/* Logs "NAME is not supported by TensorFuse yet" once per name. */
void tfs_unsupported(const char *name);

/* TensorFuse's own requests (entry.c, expanded from calls.def TF_INTERNAL entries). */
#define TF_INTERNAL(sym, mode, ...) CUresult sym(TFP_PARAMS(__VA_ARGS__));
#include "calls_defaults.h"
#include "calls.def"
#include "calls_undef.h"

/* The address returned by cuGetProcAddress for (name, version); NULL when unknown. */

#endif
