/*
 * Host functions of graphs (the worker's half of src/stub/callbacks.c). The program gives the
 * session one end of a socket pair (tfi_callback_channel); a host node is made with a
 * trampoline as its function, which sends the program's function and argument down the channel
 * and waits until the program says it has run. One function runs at a time (the lock pairs
 * every request with its answer). If the program is gone, the trampoline returns at once.
 * Host node setters make a new trampoline; a host node read back gives the program's function
 * (a wrapper of the backend's getter); user objects' destructors use the channel too
 * (userobj.c).
 * Owns: the session's channel and trampolines. May call: src/transport (fd passing), the backend
 * table, graph_int.h (node headers).
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "graph_int.h"
#include "log.h"

struct trampoline {
    uint64_t fn, data;
    struct trampoline *next;
};

static int channel = -1;   /* one session per worker process */
static pthread_mutex_t channel_lock = PTHREAD_MUTEX_INITIALIZER;
static struct trampoline *trampolines;

void tfw_callback_run(uint64_t fn, uint64_t data)
{
    uint64_t msg[2] = {fn, data};
    char done;
    pthread_mutex_lock(&channel_lock);
    if (channel >= 0 && write(channel, msg, sizeof msg) == (ssize_t)sizeof msg &&
        read(channel, &done, 1) != 1)
        tf_warn("the program's end of the host-function channel closed");
    pthread_mutex_unlock(&channel_lock);
}

int tfw_callback_ready(void)
{
    return channel >= 0;
}

static void CUDA_CB run_in_program(void *arg)
{
    const struct trampoline *t = arg;
    tfw_callback_run(t->fn, t->data);
}

/* A host node's parameters read back are the program's function and argument, never the
 * trampoline (a worker address). Installed with the channel: no host node exists before. */
static PFN_cuGraphHostNodeGetParams_v10000 host_get_backend;

static CUresult CUDAAPI w_host_node_get(CUgraphNode node, CUDA_HOST_NODE_PARAMS *p)
{
    CUresult r = host_get_backend(node, p);
    if (r != CUDA_SUCCESS)
        return r;
    const struct trampoline *t = p->fn == run_in_program ? p->userData : NULL;
    p->fn = t ? (CUhostFn)(uintptr_t)t->fn : NULL;
    p->userData = t ? (void *)(uintptr_t)t->data : NULL;
    return CUDA_SUCCESS;
}

CUresult tfw_tfi_callback_channel(uint64_t tag)
{
    struct tfw_session *s = tfw_self;
    int fd = -1;
    if (tf_conn_take_fd(s->conn, tag, &fd) != TF_OK)
        return CUDA_ERROR_INVALID_VALUE;
    if (channel >= 0) {
        close(fd);   /* one channel per session */
        return CUDA_ERROR_INVALID_VALUE;
    }
    channel = fd;
    host_get_backend = s->be.cuGraphHostNodeGetParams;
    TFW_WRAP(&s->be, cuGraphHostNodeGetParams, w_host_node_get);
    return CUDA_SUCCESS;
}

/* A trampoline to the program's fn(data) as a host node's parameters; kept until the session
 * ends (a graph may run it until then). 0: out of memory. */
static int trampoline(uint64_t fn, uint64_t data, CUDA_HOST_NODE_PARAMS *p)
{
    struct trampoline *t = malloc(sizeof *t);
    if (!t)
        return 0;
    *t = (struct trampoline){fn, data, trampolines};   /* the session's thread only */
    trampolines = t;
    *p = (CUDA_HOST_NODE_PARAMS){.fn = run_in_program, .userData = t};
    return 1;
}

CUresult tfw_custom_cuGraphAddHostNode(struct tfw_session *s, struct tfp_reader *in,
                                       struct tfp_writer *out)
{
    static const char call[] = "cuGraphAddHostNode";
    struct tfw_node_head h;
    CUresult r = tfw_node_read_head(s, in, &h, call);
    if (r != CUDA_SUCCESS)
        return r;
    uint64_t fn = tfp_get_u64(in), data = tfp_get_u64(in);
    TFW_DONE_READING(call);
    if (channel < 0 || !s->be.cuGraphAddHostNode)
        return CUDA_ERROR_NOT_SUPPORTED;
    CUgraphNode *deps;
    if ((r = tfw_node_check_head(s, &h, &deps)) != CUDA_SUCCESS)
        return r;
    CUDA_HOST_NODE_PARAMS p;
    if (!trampoline(fn, data, &p)) {
        free(deps);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    CUgraphNode node = NULL;
    r = s->be.cuGraphAddHostNode(&node, (CUgraph)(uintptr_t)h.graph, deps, h.ndeps, &p);
    return tfw_node_made(s, out, &h, deps, r, node);
}

/* The setters: u64 executable graph (0: a graph's node), u64 node, u64 fn, u64 data. */
static CUresult set_host(struct tfw_session *s, struct tfp_reader *in, int exec, const char *call)
{
    uint64_t gexec = tfp_get_u64(in), node = tfp_get_u64(in);
    uint64_t fn = tfp_get_u64(in), data = tfp_get_u64(in);
    TFW_DONE_READING(call);
    CUresult r = tfw_target_check(s, gexec, node, exec);
    if (r != CUDA_SUCCESS)
        return r;
    if (channel < 0 || !(exec ? (void *)s->be.cuGraphExecHostNodeSetParams
                              : (void *)s->be.cuGraphHostNodeSetParams))
        return CUDA_ERROR_NOT_SUPPORTED;
    CUDA_HOST_NODE_PARAMS p;
    if (!trampoline(fn, data, &p))
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUgraphNode n = (CUgraphNode)(uintptr_t)node;
    return exec ? s->be.cuGraphExecHostNodeSetParams((CUgraphExec)(uintptr_t)gexec, n, &p)
                : s->be.cuGraphHostNodeSetParams(n, &p);
}

CUresult tfw_custom_cuGraphHostNodeSetParams(struct tfw_session *s, struct tfp_reader *in,
                                             struct tfp_writer *out)
{
    (void)out;
    return set_host(s, in, 0, "cuGraphHostNodeSetParams");
}

CUresult tfw_custom_cuGraphExecHostNodeSetParams(struct tfw_session *s, struct tfp_reader *in,
                                                 struct tfp_writer *out)
{
    (void)out;
    return set_host(s, in, 1, "cuGraphExecHostNodeSetParams");
}

/* A host function launched on a capturing stream: the capture records the trampoline. */
CUresult tfw_tfi_capture_host_func(CUstream stream, uint64_t fn, uint64_t data)
{
    struct tfw_session *s = tfw_self;
    if (channel < 0 || !s->be.cuLaunchHostFunc)
        return CUDA_ERROR_NOT_SUPPORTED;
    CUDA_HOST_NODE_PARAMS p;
    if (!trampoline(fn, data, &p))
        return CUDA_ERROR_OUT_OF_MEMORY;
    return s->be.cuLaunchHostFunc(stream, p.fn, p.userData);
}

/* The trampolines stay (reachable from the list) until the process exits: a graph still running
 * in the backend may call one; with the channel closed it returns at once. */
void tfw_callbacks_end(void)
{
    pthread_mutex_lock(&channel_lock);
    if (channel >= 0)
        close(channel);
    channel = -1;
    pthread_mutex_unlock(&channel_lock);
}
