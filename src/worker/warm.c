/*
 * A warm worker (worker.h, "Warm workers"): the part of a session's start that needs no client,
 * done before one comes. The backend is loaded and the primary context of one device made, so
 * that a session handed over later skips the library's load, the driver's initialization and
 * the context's creation. Nothing of a tenant is known until the handoff: the token, the vGPU
 * and its limits, the module cache scope all come with the hello, and tfw_serve checks and
 * attaches them exactly as in a worker forked for the session.
 * Owns: the wait for the handoff. May call: worker.c (tfw_serve), src/transport (handoff),
 * src/backend, src/common/log.h, libc.
 */
#include "worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "stats.h"

/* The backend, initialized, with the primary context of `device` retained (held until the
 * process exits: the session's own retain then finds it made). 0, or -1 logged. */
static int warm_up(struct tf_backend *be, const char *path, int device)
{
    char err[512];
    if (tf_backend_load(be, path, err, sizeof err) != 0) {
        tf_error("warm worker: %s", err);
        return -1;
    }
    CUcontext ctx = NULL;
    CUresult r = be->cuInit && be->cuDevicePrimaryCtxRetain ? be->cuInit(0)
                                                            : CUDA_ERROR_NOT_SUPPORTED;
    if (r == CUDA_SUCCESS)
        r = be->cuDevicePrimaryCtxRetain(&ctx, (CUdevice)device);
    if (r != CUDA_SUCCESS) {
        tf_error("warm worker: no primary context on device %d (CUDA error %d)", device, (int)r);
        return -1;
    }
    /* Test-only (tests/node): a worker slow to warm up, so that a session is handed to one
     * still starting. */
    const char *delay = getenv("TFUSE_FAULT_WARM_DELAY_MS");
    if (delay && atoi(delay) > 0)
        usleep((useconds_t)atoi(delay) * 1000);
    return 0;
}

int tfw_warm_serve(int sock, int device, const struct tfw_opts *opts, struct tfw_stats *table,
                   int cap)
{
    struct tf_backend *be = malloc(sizeof *be);
    struct tfw_warm_handoff *h = malloc(sizeof *h);
    if (!be || !h || warm_up(be, opts->backend_path, device) != 0) {
        free(be);
        free(h);
        return 2;
    }
    char ready = TFW_WARM_READY;
    ssize_t n;
    do
        n = send(sock, &ready, 1, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    /* Whatever the send says: a session handed over while we were starting is queued here
     * although the node has closed its end since (then the wait below reads it, then the
     * close; a retired worker finds only the close). */
    struct tf_conn *conn = NULL;
    size_t got = 0;
    int rc = tf_conn_handoff_recv(sock, -1, &conn, h, sizeof *h, &got);
    close(sock);   /* used once: nothing else will come */
    if (rc == TF_ERR_CLOSED) {
        free(h);
        free(be);
        return 0;   /* retired by the node before any session came */
    }
    if (rc != TF_OK || got != sizeof *h || h->magic != TFW_WARM_MAGIC ||
        h->stats_index >= cap || h->hello.token[TF_TOKEN_MAX] ||
        h->hello.hostname[TF_HOSTNAME_MAX]) {
        tf_error("warm worker: a malformed handoff from the node (%s)", tf_err_str(rc));
        tf_conn_close(conn);
        free(h);
        free(be);
        return 1;
    }
    struct tfw_opts o = *opts;
    o.hello = &h->hello;
    o.preloaded = be;
    o.stats = table && h->stats_index >= 0 ? &table[h->stats_index] : NULL;
    rc = tfw_serve(conn, &o);
    free(h);
    free(be);   /* the session had its own copy; the library stays loaded until the exit */
    return rc;
}
