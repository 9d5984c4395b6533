/*
 * Host functions of graphs (the worker's half of src/stub/callbacks.c). The program gives the
 * session one end of a socket pair (tfi_callback_channel); a host node is made with a
 * trampoline as its function, which sends the program's function and argument down the channel
 * and waits until the program says it has run. One function runs at a time (the lock pairs
 * every request with its answer). If the program is gone, the trampoline returns at once.
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
    return CUDA_SUCCESS;
}

static void CUDA_CB run_in_program(void *arg)
{
    const struct trampoline *t = arg;
    uint64_t msg[2] = {t->fn, t->data};
    char done;
    pthread_mutex_lock(&channel_lock);
    if (channel >= 0 && write(channel, msg, sizeof msg) == (ssize_t)sizeof msg &&
        read(channel, &done, 1) != 1)
        tf_warn("the program's end of the host-function channel closed");
    pthread_mutex_unlock(&channel_lock);
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
    struct trampoline *t = malloc(sizeof *t);
    if (!t) {
        free(deps);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *t = (struct trampoline){fn, data, trampolines};
    trampolines = t;   /* kept until the session ends: the graph may run it until then */
    CUDA_HOST_NODE_PARAMS p = {.fn = run_in_program, .userData = t};
    CUgraphNode node = NULL;
    r = s->be.cuGraphAddHostNode(&node, (CUgraph)(uintptr_t)h.graph, deps, h.ndeps, &p);
    return tfw_node_made(s, out, &h, deps, r, node);
}

/* A host function launched on a capturing stream: the capture records the trampoline. */
CUresult tfw_tfi_capture_host_func(CUstream stream, uint64_t fn, uint64_t data)
{
    struct tfw_session *s = tfw_self;
    if (channel < 0 || !s->be.cuLaunchHostFunc)
        return CUDA_ERROR_NOT_SUPPORTED;
    struct trampoline *t = malloc(sizeof *t);
    if (!t)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *t = (struct trampoline){fn, data, trampolines};
    trampolines = t;
    return s->be.cuLaunchHostFunc(stream, run_in_program, t);
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
