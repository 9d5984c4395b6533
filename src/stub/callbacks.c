/*
 * Host functions of graphs, run in the program's process: the first host node opens a channel
 * (a socket pair whose other end goes to the worker, same host only) and a thread that runs
 * each function the worker asks for and answers when it has returned. The worker's host node
 * is a trampoline that asks and waits (src/worker/callbacks.c), so a graph's host node runs
 * the program's own function, in order with the graph's other nodes, as the driver would run it.
 * Host node setters send a new function the same way; user objects' destructors
 * (graph_more.c) run through the same channel. Over TCP there is no channel: host nodes and
 * user objects answer CUDA_ERROR_NOT_SUPPORTED there.
 * May call: conn.c (fd passing), entry.c (tfi_callback_channel), graph.c (node requests).
 */
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stub.h"

struct call_msg {
    uint64_t fn, data;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int channel = -1;   /* our end; -1 until opened */
static CUresult channel_state = CUDA_ERROR_NOT_INITIALIZED;

static void *serve_callbacks(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct call_msg m;
    while (read(fd, &m, sizeof m) == (ssize_t)sizeof m) {
        ((CUhostFn)(uintptr_t)m.fn)((void *)(uintptr_t)m.data);
        char done = 1;
        if (write(fd, &done, 1) != 1)
            break;
    }
    return NULL;
}

/* Opens the channel once; its outcome is remembered (over TCP: NOT_SUPPORTED for good). */
CUresult tfs_callback_channel(void)
{
    pthread_mutex_lock(&lock);
    if (channel_state == CUDA_ERROR_NOT_INITIALIZED) {
        int sv[2];
        uint64_t tag = 0;
        pthread_t t;
        channel_state = CUDA_ERROR_NOT_SUPPORTED;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0) {
            CUresult r = tfs_send_fd(sv[1], &tag);
            if (r == CUDA_SUCCESS)
                r = tfi_callback_channel(tag);
            close(sv[1]);
            if (r == CUDA_SUCCESS &&
                pthread_create(&t, NULL, serve_callbacks, (void *)(intptr_t)sv[0]) == 0) {
                pthread_detach(t);
                channel = sv[0];
                channel_state = CUDA_SUCCESS;
            } else {
                close(sv[0]);
            }
        }
        if (channel_state != CUDA_SUCCESS)
            tfs_unsupported("graph host nodes over this connection");
    }
    CUresult r = channel_state;
    pthread_mutex_unlock(&lock);
    return r;
}

/* A host node's fields (add and setters): u64 the program's function, u64 its argument. */
static void put_host(struct tfp_writer *w, const CUDA_HOST_NODE_PARAMS *p)
{
    tfp_put_u64(w, (uint64_t)(uintptr_t)p->fn);
    tfp_put_u64(w, (uint64_t)(uintptr_t)p->userData);
}

CUresult CUDAAPI cuGraphAddHostNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                   const CUgraphNode *dependencies, size_t numDependencies,
                                   const CUDA_HOST_NODE_PARAMS *nodeParams)
{
    if (!nodeParams || !nodeParams->fn)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = tfs_callback_channel();
    if (r != CUDA_SUCCESS)
        return r;
    struct tfs_call c;
    r = tfs_node_begin(&c, TFP_ID_cuGraphAddHostNode, phGraphNode, hGraph, dependencies,
                       numDependencies);
    if (r != CUDA_SUCCESS)
        return r;
    put_host(c.w, nodeParams);
    return tfs_node_finish(&c, phGraphNode);
}

static CUresult put_host_fields(struct tfs_call *c, const void *fields)
{
    put_host(c->w, fields);
    return CUDA_SUCCESS;
}

/* The setters: the target, then the node's fields as the add sends them. */
static CUresult set_host(uint32_t call, CUgraphExec exec, CUgraphNode node,
                         const CUDA_HOST_NODE_PARAMS *p)
{
    if (!p || !p->fn)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = tfs_callback_channel();
    return r != CUDA_SUCCESS ? r : tfs_set_node(call, exec, node, put_host_fields, p);
}

CUresult CUDAAPI cuGraphHostNodeSetParams(CUgraphNode hNode, const CUDA_HOST_NODE_PARAMS *p)
{
    return set_host(TFP_ID_cuGraphHostNodeSetParams, NULL, hNode, p);
}

CUresult CUDAAPI cuGraphExecHostNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                              const CUDA_HOST_NODE_PARAMS *p)
{
    if (!hGraphExec)
        return CUDA_ERROR_INVALID_VALUE;
    return set_host(TFP_ID_cuGraphExecHostNodeSetParams, hGraphExec, hNode, p);
}

CUresult tfs_capture_host_func(CUstream stream, CUhostFn fn, void *userData)
{
    CUresult r = tfs_callback_channel();
    return r != CUDA_SUCCESS ? r
                             : tfi_capture_host_func(stream, (uint64_t)(uintptr_t)fn,
                                                     (uint64_t)(uintptr_t)userData);
}
