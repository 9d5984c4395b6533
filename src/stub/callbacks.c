/*
 * Host functions of graphs, run in the program's process: the first host node opens a channel
 * (a socket pair whose other end goes to the worker, same host only) and a thread that runs
 * each function the worker asks for and answers when it has returned. The worker's host node
 * is a trampoline that asks and waits (src/worker/callbacks.c), so a graph's host node runs
 * the program's own function, in order with the graph's other nodes, as the driver would run it.
 * Over TCP there is no channel: host nodes answer CUDA_ERROR_NOT_SUPPORTED there.
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
static CUresult open_channel(void)
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

CUresult CUDAAPI cuGraphAddHostNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                   const CUgraphNode *dependencies, size_t numDependencies,
                                   const CUDA_HOST_NODE_PARAMS *nodeParams)
{
    if (!nodeParams || !nodeParams->fn)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = open_channel();
    if (r != CUDA_SUCCESS)
        return r;
    struct tfs_call c;
    r = tfs_node_begin(&c, TFP_ID_cuGraphAddHostNode, phGraphNode, hGraph, dependencies,
                       numDependencies);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u64(c.w, (uint64_t)(uintptr_t)nodeParams->fn);
    tfp_put_u64(c.w, (uint64_t)(uintptr_t)nodeParams->userData);
    return tfs_node_finish(&c, phGraphNode);
}

CUresult tfs_capture_host_func(CUstream stream, CUhostFn fn, void *userData)
{
    CUresult r = open_channel();
    return r != CUDA_SUCCESS ? r
                             : tfi_capture_host_func(stream, (uint64_t)(uintptr_t)fn,
                                                     (uint64_t)(uintptr_t)userData);
}
