/*
 * gRPC server and client for the kubelet's unix sockets, over gRPC core's C API (grpcsrv.h).
 * Owns: one server completion queue with a dispatcher thread that asks for calls one at a time;
 * each call gets a pluck queue of its own and a joinable thread from a fixed table
 * (K8S_GRPC_MAX_CALLS; a call beyond it, or to a method nobody registered, is answered from the
 * dispatcher at once), the socket file's life (bound at a temporary name, chmod 0600, renamed
 * over the final path; removed at free while its inode is still ours), and the unary client.
 * May call: gRPC core (grpc/grpc.h, grpc_security.h, byte_buffer_reader.h), POSIX.
 */
#include "grpcsrv.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#define MAX_METHODS 32
#define METHOD_MAX 256

/* tags on a call's own pluck queue */
#define TAG_RECV ((void *)(intptr_t)1)
#define TAG_CLOSE ((void *)(intptr_t)2)
#define TAG_SEND ((void *)(intptr_t)3)
#define TAG_STATUS ((void *)(intptr_t)4)
/* tags on the server's queue */
#define TAG_NEW_CALL ((void *)(intptr_t)10)
#define TAG_SHUTDOWN ((void *)(intptr_t)11)

struct method {
    char name[METHOD_MAX];
    k8s_grpc_unary_fn unary;
    k8s_grpc_stream_fn stream;
    void *arg;
};

/* one call in flight; a server-streaming handler sees it as its k8s_grpc_stream */
struct k8s_grpc_stream {
    struct k8s_grpc_server *srv;
    grpc_call *call;
    grpc_completion_queue *cq;
    grpc_call_details details;
    grpc_metadata_array md;
    const struct method *m;
    int slot;
    int close_started, closed, cancelled;
    int sent_initial_md;
};

struct slot {
    pthread_t th;
    int used, done;
};

struct k8s_grpc_server {
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct method methods[MAX_METHODS];
    size_t n_methods;
    grpc_server *server;
    grpc_completion_queue *cq;
    pthread_t dispatcher;
    int started, dispatcher_running;
    dev_t sock_dev;
    ino_t sock_ino;
    pthread_mutex_t mu;
    struct slot slots[K8S_GRPC_MAX_CALLS];
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static gpr_timespec deadline_ms(int ms)
{
    if (ms < 0)
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static grpc_byte_buffer *bb_from(const uint8_t *p, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)p, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* the whole payload as a malloc'd copy (NULL with *len 0 when empty); -1 out of memory */
static int bb_to(grpc_byte_buffer *bb, uint8_t **out, size_t *len)
{
    grpc_byte_buffer_reader r;
    *out = NULL;
    *len = 0;
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return -1;
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    size_t n = GRPC_SLICE_LENGTH(s);
    int rc = 0;
    if (n) {
        *out = malloc(n);
        if (*out) {
            memcpy(*out, GRPC_SLICE_START_PTR(s), n);
            *len = n;
        } else {
            rc = -1;
        }
    }
    grpc_slice_unref(s);
    return rc;
}

/* shut a pluck queue down once nothing is pending on it, and free it */
static void cq_destroy(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type
           != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
}

static grpc_event pluck(struct k8s_grpc_stream *c, void *tag, int timeout_ms)
{
    return grpc_completion_queue_pluck(c->cq, tag, deadline_ms(timeout_ms), NULL);
}

/* ---- one call ---------------------------------------------------------------------------- */

/* Start waiting for the call's end: it completes when the client cancels or goes away, when
 * the server cancels all calls at stop, or after our status is sent. */
static void start_close(struct k8s_grpc_stream *c)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    if (grpc_call_start_batch(c->call, &op, 1, TAG_CLOSE, NULL) == GRPC_CALL_OK)
        c->close_started = 1;
}

/* the request message; -1 when the client sent none (or the call failed before it) */
static int recv_request(struct k8s_grpc_stream *c, uint8_t **req, size_t *req_len)
{
    grpc_byte_buffer *bb = NULL;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &bb;
    if (grpc_call_start_batch(c->call, &op, 1, TAG_RECV, NULL) != GRPC_CALL_OK)
        return -1;
    grpc_event ev = pluck(c, TAG_RECV, -1);
    if (!ev.success || !bb) {
        if (bb)
            grpc_byte_buffer_destroy(bb);
        return -1;
    }
    int rc = bb_to(bb, req, req_len);
    grpc_byte_buffer_destroy(bb);
    return rc;
}

/* the call's initial metadata the first time, then the message when there is one (*bb holds
 * it for the caller to destroy once the batch is done); ops zeroed by the caller */
static size_t message_ops(struct k8s_grpc_stream *c, grpc_op *ops, const uint8_t *msg,
                          size_t len, grpc_byte_buffer **bb)
{
    size_t n = 0;
    if (!c->sent_initial_md) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        c->sent_initial_md = 1;
    }
    if (msg) {
        *bb = bb_from(msg, len);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = *bb;
    }
    return n;
}

/* the final batch: initial metadata if not sent yet, the response (unary, OK), the status */
static void send_status(struct k8s_grpc_stream *c, int code, const char *msg,
                        const uint8_t *resp, size_t resp_len)
{
    grpc_op ops[3] = {0};
    grpc_byte_buffer *bb = NULL;
    size_t n = message_ops(c, ops, code == K8S_GRPC_OK ? resp : NULL, resp_len, &bb);
    grpc_slice details = grpc_slice_from_copied_string(msg ? msg : "");
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)code;
    ops[n++].data.send_status_from_server.status_details = &details;
    if (grpc_call_start_batch(c->call, ops, n, TAG_STATUS, NULL) == GRPC_CALL_OK)
        pluck(c, TAG_STATUS, -1);
    grpc_slice_unref(details);
    if (bb)
        grpc_byte_buffer_destroy(bb);
}

/* wait for the end of the call (started by now) and free what the call holds */
static void call_finish(struct k8s_grpc_stream *c)
{
    if (c->close_started && !c->closed)
        pluck(c, TAG_CLOSE, -1);
    grpc_call_unref(c->call);
    cq_destroy(c->cq);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md);
}

/* answer a call we will not run (no such method, too many calls) without a thread */
static void call_refuse(struct k8s_grpc_stream *c, int code, const char *msg)
{
    start_close(c);
    send_status(c, code, msg, NULL, 0);
    call_finish(c);
    free(c);
}

static void run_unary(struct k8s_grpc_stream *c, const uint8_t *req, size_t req_len)
{
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    char msg[512] = "";
    int code = c->m->unary(c->m->arg, req, req_len, &resp, &resp_len, msg, sizeof(msg));
    if (code == K8S_GRPC_OK && resp_len > K8S_GRPC_MAX_MESSAGE) {
        code = K8S_GRPC_RESOURCE_EXHAUSTED;
        snprintf(msg, sizeof(msg), "response of %zu bytes is over the %d-byte limit",
                 resp_len, K8S_GRPC_MAX_MESSAGE);
    }
    if (code == K8S_GRPC_OK && !resp)
        resp = calloc(1, 1); /* an empty message is still a message */
    send_status(c, code, msg, resp, resp_len);
    free(resp);
}

static void run_stream(struct k8s_grpc_stream *c, const uint8_t *req, size_t req_len)
{
    int code = c->m->stream(c->m->arg, req, req_len, c);
    send_status(c, code, code == K8S_GRPC_OK ? "" : "stream ended", NULL, 0);
}

static void *call_thread(void *p)
{
    struct k8s_grpc_stream *c = p;
    struct k8s_grpc_server *srv = c->srv;
    int slot = c->slot;
    uint8_t *req = NULL;
    size_t req_len = 0;
    if (recv_request(c, &req, &req_len) < 0) {
        start_close(c);
        send_status(c, K8S_GRPC_INVALID_ARGUMENT, "no request message", NULL, 0);
    } else {
        start_close(c);
        if (c->m->unary)
            run_unary(c, req, req_len);
        else
            run_stream(c, req, req_len);
    }
    free(req);
    call_finish(c);
    free(c);
    pthread_mutex_lock(&srv->mu);
    srv->slots[slot].done = 1;
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* ---- streams ----------------------------------------------------------------------------- */

int k8s_grpc_stream_send(struct k8s_grpc_stream *s, const uint8_t *msg, size_t len)
{
    if (!s || s->closed || len > K8S_GRPC_MAX_MESSAGE)
        return -1;
    grpc_op ops[2] = {0};
    grpc_byte_buffer *bb = NULL;
    size_t n = message_ops(s, ops, msg ? msg : (const uint8_t *)"", len, &bb);
    int ok = 0;
    if (grpc_call_start_batch(s->call, ops, n, TAG_SEND, NULL) == GRPC_CALL_OK)
        ok = pluck(s, TAG_SEND, -1).success;
    grpc_byte_buffer_destroy(bb);
    return ok ? 0 : -1;
}

int k8s_grpc_stream_wait(struct k8s_grpc_stream *s, int timeout_ms)
{
    if (!s || s->closed || !s->close_started)
        return -1;
    grpc_event ev = pluck(s, TAG_CLOSE, timeout_ms);
    if (ev.type == GRPC_QUEUE_TIMEOUT)
        return 0;
    s->closed = 1;
    return -1;
}

/* ---- the server -------------------------------------------------------------------------- */

struct k8s_grpc_server *k8s_grpc_server_new(const char *unix_path, char *err, size_t errlen)
{
    /* room for the temporary name ".<pid>.tmp" beside it */
    if (!unix_path || !*unix_path ||
        strlen(unix_path) + 24 >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        seterr(err, errlen, "socket path '%s' is empty or too long for a unix socket",
               unix_path ? unix_path : "");
        return NULL;
    }
    struct k8s_grpc_server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        seterr(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(srv->path, sizeof(srv->path), "%s", unix_path);
    pthread_mutex_init(&srv->mu, NULL);
    grpc_init();
    return srv;
}

static int add_method(struct k8s_grpc_server *srv, const char *method, k8s_grpc_unary_fn u,
                      k8s_grpc_stream_fn st, void *arg)
{
    if (!srv || srv->started || !method || method[0] != '/' || !strchr(method + 1, '/') ||
        strlen(method) >= METHOD_MAX || srv->n_methods == MAX_METHODS || (!u && !st))
        return -1;
    for (size_t i = 0; i < srv->n_methods; i++)
        if (!strcmp(srv->methods[i].name, method))
            return -1;
    struct method *m = &srv->methods[srv->n_methods++];
    snprintf(m->name, sizeof(m->name), "%s", method);
    m->unary = u;
    m->stream = st;
    m->arg = arg;
    return 0;
}

int k8s_grpc_server_add_unary(struct k8s_grpc_server *srv, const char *method,
                              k8s_grpc_unary_fn fn, void *arg)
{
    return add_method(srv, method, fn, NULL, arg);
}

int k8s_grpc_server_add_stream(struct k8s_grpc_server *srv, const char *method,
                               k8s_grpc_stream_fn fn, void *arg)
{
    return add_method(srv, method, NULL, fn, arg);
}

static const struct method *find_method(struct k8s_grpc_server *srv, grpc_slice name)
{
    size_t n = GRPC_SLICE_LENGTH(name);
    for (size_t i = 0; i < srv->n_methods; i++)
        if (strlen(srv->methods[i].name) == n &&
            !memcmp(srv->methods[i].name, GRPC_SLICE_START_PTR(name), n))
            return &srv->methods[i];
    return NULL;
}

/* join finished call threads; a free slot's index or -1 */
static int take_slot(struct k8s_grpc_server *srv)
{
    int free_slot = -1;
    pthread_mutex_lock(&srv->mu);
    for (int i = 0; i < K8S_GRPC_MAX_CALLS; i++) {
        if (srv->slots[i].used && srv->slots[i].done) {
            pthread_join(srv->slots[i].th, NULL);
            srv->slots[i].used = srv->slots[i].done = 0;
        }
        if (!srv->slots[i].used && free_slot < 0)
            free_slot = i;
    }
    if (free_slot >= 0)
        srv->slots[free_slot].used = 1;
    pthread_mutex_unlock(&srv->mu);
    return free_slot;
}

/* a call arrived: to a thread of its own, or refused here */
static void dispatch(struct k8s_grpc_server *srv, struct k8s_grpc_stream *c)
{
    c->m = find_method(srv, c->details.method);
    if (!c->m) {
        char msg[METHOD_MAX + 32];
        snprintf(msg, sizeof(msg), "unknown method %.*s",
                 (int)GRPC_SLICE_LENGTH(c->details.method),
                 (const char *)GRPC_SLICE_START_PTR(c->details.method));
        call_refuse(c, K8S_GRPC_UNIMPLEMENTED, msg);
        return;
    }
    c->slot = take_slot(srv);
    if (c->slot < 0) {
        call_refuse(c, K8S_GRPC_RESOURCE_EXHAUSTED, "too many calls in progress; retry");
        return;
    }
    if (pthread_create(&srv->slots[c->slot].th, NULL, call_thread, c) != 0) {
        pthread_mutex_lock(&srv->mu);
        srv->slots[c->slot].used = 0;
        pthread_mutex_unlock(&srv->mu);
        call_refuse(c, K8S_GRPC_RESOURCE_EXHAUSTED, "no thread for the call");
    }
}

static struct k8s_grpc_stream *request_call(struct k8s_grpc_server *srv)
{
    struct k8s_grpc_stream *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->srv = srv;
    c->cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    if (grpc_server_request_call(srv->server, &c->call, &c->details, &c->md, c->cq, srv->cq,
                                 TAG_NEW_CALL) != GRPC_CALL_OK) {
        grpc_completion_queue_destroy(c->cq);
        grpc_call_details_destroy(&c->details);
        grpc_metadata_array_destroy(&c->md);
        free(c);
        return NULL;
    }
    return c;
}

static void *dispatcher_thread(void *p)
{
    struct k8s_grpc_server *srv = p;
    struct k8s_grpc_stream *pending = request_call(srv);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                   NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN || (ev.type == GRPC_OP_COMPLETE &&
                                               ev.tag == TAG_SHUTDOWN))
            break;
        if (ev.type != GRPC_OP_COMPLETE || ev.tag != TAG_NEW_CALL)
            continue;
        struct k8s_grpc_stream *c = pending;
        pending = NULL;
        if (!ev.success) { /* the server is shutting down: the request is void */
            grpc_completion_queue_destroy(c->cq);
            grpc_call_details_destroy(&c->details);
            grpc_metadata_array_destroy(&c->md);
            free(c);
            continue;
        }
        pending = request_call(srv); /* the next caller need not wait for this one */
        dispatch(srv, c);
    }
    return NULL;
}

/* is something answering on this socket path? */
static int socket_live(const char *path)
{
    struct sockaddr_un a;
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int live = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return live;
}

static int check_folder(const char *path, char *err, size_t errlen)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return 0;
    *slash = 0;
    struct stat st;
    if (stat(dir[0] ? dir : "/", &st) < 0 || !S_ISDIR(st.st_mode)) {
        seterr(err, errlen, "cannot listen on %s: its folder %s is missing", path, dir);
        return -1;
    }
    return 0;
}

static int check_path(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? check_folder(path, err, errlen)
                               : (seterr(err, errlen, "%s: %s", path, strerror(errno)), -1);
    if (!S_ISSOCK(st.st_mode)) {
        seterr(err, errlen, "%s exists and is not a socket; not replacing it", path);
        return -1;
    }
    if (socket_live(path)) {
        seterr(err, errlen, "%s is in use: another server answers on it", path);
        return -1;
    }
    return 0;
}

/* bind at a temporary name, make it 0600, rename it over the final path */
static int listen_socket(struct k8s_grpc_server *srv, char *err, size_t errlen)
{
    char tmp[sizeof(srv->path) + 24], addr[sizeof(tmp) + 8]; /* new() left room for it */
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", srv->path, (long)getpid());
    unlink(tmp);
    snprintf(addr, sizeof(addr), "unix:%s", tmp);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(srv->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (!port) {
        seterr(err, errlen, "cannot listen on %s (does its folder exist and can we write it?)",
               srv->path);
        return -1;
    }
    struct stat st;
    if (chmod(tmp, 0600) < 0 || rename(tmp, srv->path) < 0 || stat(srv->path, &st) < 0) {
        seterr(err, errlen, "%s: %s", srv->path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    srv->sock_dev = st.st_dev;
    srv->sock_ino = st.st_ino;
    return 0;
}

int k8s_grpc_server_start(struct k8s_grpc_server *srv, char *err, size_t errlen)
{
    if (!srv || srv->started) {
        seterr(err, errlen, "server missing or started already");
        return -1;
    }
    if (check_path(srv->path, err, errlen) < 0)
        return -1;
    grpc_arg args[3];
    memset(args, 0, sizeof(args));
    const char *keys[] = {GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
                          GRPC_ARG_MAX_CONCURRENT_STREAMS};
    int vals[] = {K8S_GRPC_MAX_MESSAGE, K8S_GRPC_MAX_MESSAGE, 2 * K8S_GRPC_MAX_CALLS};
    for (int i = 0; i < 3; i++) {
        args[i].type = GRPC_ARG_INTEGER;
        args[i].key = (char *)keys[i];
        args[i].value.integer = vals[i];
    }
    grpc_channel_args cargs = {3, args};
    srv->server = grpc_server_create(&cargs, NULL);
    srv->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
    srv->started = 1;
    if (listen_socket(srv, err, errlen) < 0)
        return -1; /* free() shuts the unstarted grpc server down */
    grpc_server_start(srv->server);
    if (pthread_create(&srv->dispatcher, NULL, dispatcher_thread, srv) != 0) {
        seterr(err, errlen, "cannot start the dispatcher thread");
        return -1;
    }
    srv->dispatcher_running = 1;
    return 0;
}

void k8s_grpc_server_free(struct k8s_grpc_server *srv)
{
    if (!srv)
        return;
    if (srv->server) {
        grpc_server_shutdown_and_notify(srv->server, srv->cq, TAG_SHUTDOWN);
        grpc_server_cancel_all_calls(srv->server);
        if (srv->dispatcher_running) {
            pthread_join(srv->dispatcher, NULL);
        } else {
            grpc_event ev;
            do
                ev = grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                NULL);
            while (ev.type == GRPC_OP_COMPLETE && ev.tag != TAG_SHUTDOWN);
        }
        for (int i = 0; i < K8S_GRPC_MAX_CALLS; i++)
            if (srv->slots[i].used)
                pthread_join(srv->slots[i].th, NULL);
        grpc_server_destroy(srv->server);
        grpc_completion_queue_shutdown(srv->cq);
        while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type
               != GRPC_QUEUE_SHUTDOWN) {
        }
        grpc_completion_queue_destroy(srv->cq);
        struct stat st; /* a successor may have replaced our socket: leave its file alone */
        if (srv->sock_ino && stat(srv->path, &st) == 0 && st.st_dev == srv->sock_dev &&
            st.st_ino == srv->sock_ino)
            unlink(srv->path);
    }
    pthread_mutex_destroy(&srv->mu);
    free(srv);
    grpc_shutdown();
}

/* ---- the client -------------------------------------------------------------------------- */

static int client_batch(grpc_call *call, grpc_completion_queue *cq, const uint8_t *req,
                        size_t req_len, uint8_t **resp, size_t *resp_len, char *err,
                        size_t errlen)
{
    grpc_metadata_array init_md, trail_md;
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);
    grpc_byte_buffer *out = bb_from(req ? req : (const uint8_t *)"", req_len), *in = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = out;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &in;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    int code;
    if (grpc_call_start_batch(call, ops, 6, TAG_STATUS, NULL) != GRPC_CALL_OK) {
        code = K8S_GRPC_INTERNAL;
        seterr(err, errlen, "cannot start the call");
    } else {
        grpc_completion_queue_pluck(cq, TAG_STATUS, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        code = (int)status;
        if (code != K8S_GRPC_OK)
            seterr(err, errlen, "%.*s", (int)GRPC_SLICE_LENGTH(details),
                   (const char *)GRPC_SLICE_START_PTR(details));
        else if (in && bb_to(in, resp, resp_len) < 0)
            code = K8S_GRPC_RESOURCE_EXHAUSTED, seterr(err, errlen, "out of memory");
    }
    if (in)
        grpc_byte_buffer_destroy(in);
    grpc_byte_buffer_destroy(out);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    return code;
}

int k8s_grpc_call_unary(const char *unix_path, const char *method, const uint8_t *req,
                        size_t req_len, uint8_t **resp, size_t *resp_len, int timeout_ms,
                        char *err, size_t errlen)
{
    *resp = NULL;
    *resp_len = 0;
    if (!unix_path || !method || method[0] != '/' || req_len > K8S_GRPC_MAX_MESSAGE) {
        seterr(err, errlen, "bad call: a socket path, a /pkg.Service/Method and a request "
                            "of at most %d bytes are needed", K8S_GRPC_MAX_MESSAGE);
        return K8S_GRPC_INVALID_ARGUMENT;
    }
    grpc_init();
    char target[600];
    snprintf(target, sizeof(target), "unix:%s", unix_path);
    grpc_arg arg = {.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                    .value.integer = K8S_GRPC_MAX_MESSAGE};
    grpc_channel_args cargs = {1, &arg};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(target, creds, &cargs);
    grpc_channel_credentials_release(creds);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice m = grpc_slice_from_copied_string(method);
    grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
                                               deadline_ms(timeout_ms), NULL);
    grpc_slice_unref(m);
    int code = client_batch(call, cq, req, req_len, resp, resp_len, err, errlen);
    grpc_call_unref(call);
    cq_destroy(cq);
    grpc_channel_destroy(ch);
    grpc_shutdown();
    return code;
}
