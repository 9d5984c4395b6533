/* The transport tests' in-process server; see echo_server.h. Uses only the public transport API. */
#include "echo_server.h"
#include "transport_test_util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/test_timeouts.h"

struct session_arg {
    struct echo_server *srv;
    struct tf_conn *conn;
    int index;
};

static void session_end(struct echo_server *srv, struct tf_conn *c, int code)
{
    pthread_mutex_lock(&srv->lock);
    snprintf(srv->last_error, sizeof srv->last_error, "%s", tf_conn_error(c));
    tf_conn_close(c);
    clock_gettime(CLOCK_MONOTONIC, &srv->last_closed_at);
    srv->last_code = code;
    srv->ended++;
    pthread_mutex_unlock(&srv->lock);
}

static int reply_status(struct tf_conn *c, uint64_t id, int32_t status, uint64_t value)
{
    uint8_t body[16] = {0};
    memcpy(body, &status, 4);
    memcpy(body + 8, &value, 8);
    struct iovec v = {body, sizeof body};
    return tf_send(c, T_STATUS, 0, id, &v, 1);
}

static int handle_region(struct tf_conn *c, const struct tf_frame_header *h, const void *payload)
{
    uint64_t req[3];
    if (h->length != sizeof req)
        return reply_status(c, h->id, TF_ERR_INVALID, 0);
    memcpy(req, payload, sizeof req);
    int err = 0;
    uint8_t *p = tf_region_ptr(c, req[0], req[1], req[2], &err);
    if (!p)
        return reply_status(c, h->id, err, 0);
    uint64_t sum = 0;
    for (uint64_t i = 0; i < req[2]; i++) {
        sum += p[i];
        p[i] = (uint8_t)~p[i];
    }
    return reply_status(c, h->id, 0, sum);
}

static int handle_frame(struct tf_conn *c, const struct tf_frame_header *h, uint64_t *sunk,
                        uint64_t *sunk_bytes)
{
    if (h->type == T_SINK) {
        (*sunk)++;
        *sunk_bytes += h->length;
        return tf_recv_payload(c, NULL, h->length);
    }
    if (h->type == T_ECHO) {
        /* Read into our own buffer (as a worker reads into device memory), then send it back. */
        void *buf = h->length ? malloc(h->length) : NULL;
        if (h->length && !buf)
            return TF_ERR_NOMEM;
        int rc = tf_recv_payload(c, buf, h->length);
        struct iovec v = {buf, h->length};
        if (rc == TF_OK)
            rc = tf_send(c, T_ECHO_REPLY, h->flags, h->id, &v, h->length ? 1 : 0);
        free(buf);
        return rc;
    }
    uint8_t small[64];
    if (h->length > sizeof small)
        return TF_ERR_INVALID;
    int rc = tf_recv_payload(c, small, h->length);
    if (rc)
        return rc;
    uint32_t ms = 0;
    memcpy(&ms, small, h->length < 4 ? h->length : 4);
    if (h->type == T_CLOSE) {
        usleep(ms * 1000u);
        return 1;   /* ends the session loop: closed by us */
    }
    switch (h->type) {
    case T_COUNT: {
        uint64_t body[2] = {*sunk, *sunk_bytes};
        struct iovec v = {body, sizeof body};
        return tf_send(c, T_COUNT, 0, h->id, &v, 1);
    }
    case T_TAKE_FD: {
        int fd = -1;
        rc = tf_conn_take_fd(c, h->id, &fd);
        if (rc == TF_OK) {
            rc = write(fd, "fd-ok", 5) == 5 ? 0 : TF_ERR_SYS;
            close(fd);
        }
        return reply_status(c, h->id, rc, 0);
    }
    case T_REGION:
        return handle_region(c, h, small);
    case T_DELAY:
        usleep(ms * 1000u);
        return tf_send(c, T_STATUS, 0, h->id, NULL, 0);
    default:
        return reply_status(c, h->id, TF_ERR_NOT_SUPPORTED, 0);
    }
}

static void *session_main(void *p)
{
    struct session_arg *arg = p;
    struct echo_server *srv = arg->srv;
    struct tf_conn *c = arg->conn;
    int index = arg->index;
    free(arg);
    struct tf_hello hello;
    struct tf_server_opts opts = {.max_frame = srv->max_frame,
                                  .timeout_ms = srv->handshake_timeout_ms ? srv->handshake_timeout_ms
                                                                          : 5000};
    int rc = tf_server_handshake(c, &opts, &hello);
    if (rc == TF_OK) {
        pthread_mutex_lock(&srv->lock);
        srv->last_hello = hello;
        pthread_mutex_unlock(&srv->lock);
        if (srv->token && strcmp(srv->token, hello.token) != 0) {
            tf_server_reject(c, "bad session token");
            session_end(srv, c, TF_ERR_REJECTED);
            return NULL;
        }
        rc = tf_server_accept(c, 1000 + (uint64_t)index);
    }
    uint64_t sunk = 0, sunk_bytes = 0;
    while (rc == TF_OK && !atomic_load(&srv->stop)) {
        struct tf_frame_header h;
        rc = tf_recv_header(c, &h, 50);
        if (rc == TF_ERR_TIMEOUT) {
            rc = TF_OK;
            continue;
        }
        if (rc == TF_OK)
            rc = handle_frame(c, &h, &sunk, &sunk_bytes);
    }
    session_end(srv, c, rc);
    return NULL;
}

static void *accept_main(void *p)
{
    struct echo_server *srv = p;
    while (!atomic_load(&srv->stop)) {
        struct pollfd pfd = {tf_listener_fd(srv->listener), POLLIN, 0};
        if (poll(&pfd, 1, 20) <= 0)
            continue;
        struct tf_conn *c;
        if (tf_listener_accept(srv->listener, &c) != TF_OK)
            continue;
        int n = atomic_load(&srv->nsessions);
        struct session_arg *arg = malloc(sizeof *arg);
        if (n >= ECHO_MAX_SESSIONS || !arg) {
            free(arg);
            tf_conn_close(c);
            continue;
        }
        arg->srv = srv;
        arg->conn = c;
        arg->index = n;
        if (pthread_create(&srv->sessions[n], NULL, session_main, arg) != 0) {
            free(arg);
            tf_conn_close(c);
            continue;
        }
        atomic_store(&srv->nsessions, n + 1);
    }
    return NULL;
}

int echo_server_start(struct echo_server *srv, const char *address, const char *token,
                      uint64_t max_frame)
{
    memset(srv, 0, sizeof *srv);
    pthread_mutex_init(&srv->lock, NULL);
    srv->token = token;
    srv->max_frame = max_frame;
    char err[256];
    int rc = tf_listen(address, &srv->listener, err, sizeof err);
    if (rc) {
        fprintf(stderr, "echo_server: %s\n", err);
        return rc;
    }
    snprintf(srv->address, sizeof srv->address, "%s", tf_listener_address(srv->listener));
    return pthread_create(&srv->accept_thread, NULL, accept_main, srv) ? TF_ERR_SYS : TF_OK;
}

void echo_server_stop(struct echo_server *srv)
{
    atomic_store(&srv->stop, 1);
    pthread_join(srv->accept_thread, NULL);
    for (int i = 0; i < atomic_load(&srv->nsessions); i++)
        pthread_join(srv->sessions[i], NULL);
    tf_listener_close(srv->listener);
    pthread_mutex_destroy(&srv->lock);
}

int echo_server_last(struct echo_server *srv, char *error, size_t len)
{
    pthread_mutex_lock(&srv->lock);
    int code = srv->last_code;
    if (error && len)
        snprintf(error, len, "%s", srv->last_error);
    pthread_mutex_unlock(&srv->lock);
    return code;
}

int echo_server_wait_ended(struct echo_server *srv, int count, int timeout_ms)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    timeout_ms = tt_scaled_ms(timeout_ms);
    for (;;) {
        pthread_mutex_lock(&srv->lock);
        int ended = srv->ended;
        pthread_mutex_unlock(&srv->lock);
        if (ended >= count)
            return 1;
        if (tt_elapsed_ms_since(&start) > timeout_ms)
            return 0;
        usleep(2000);
    }
}
