/*
 * Connections once they exist: sending and receiving frames over shm rings or a stream socket,
 * polling, liveness of the peer, errors and teardown. The handshake that creates a connection
 * is in handshake.c. Calls shmring.c, sock.c, region.c, wire.c and src/common/log.h.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define SMALL_IOV 16

int64_t tft_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t tft_deadline_after(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : tft_now_ns() + (int64_t)timeout_ms * 1000000;
}

/* TFUSE_SPIN_US overrides the spin bound (0 disables spinning: every wait sleeps). */
static uint32_t max_spin_from_env(void)
{
    const char *s = getenv("TFUSE_SPIN_US");
    if (!s || !*s)
        return MAX_SPIN_NS_DEFAULT;
    char *end;
    long us = strtol(s, &end, 10);
    if (*end || us < 0 || us > 10000)
        return MAX_SPIN_NS_DEFAULT;
    return (uint32_t)us * 1000;
}

struct tf_conn *tft_conn_new(int fd, bool is_unix, bool is_server)
{
    struct tf_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->fd = fd;
    c->is_unix = is_unix;
    c->is_server = is_server;
    c->shm_fd = -1;
    c->ctl_fd = -1;
    c->max_frame = TF_FRAME_MAX_DEFAULT;
    c->max_spin_ns = max_spin_from_env();
    c->next_region_id = 1;
    c->last_liveness_ns = tft_now_ns();
    snprintf(c->err, sizeof c->err, "no error");
    return c;
}

/* Records a fatal error: the first reason wins, is logged when log is set, and the peer is told
 * at once (the shm closed flag + wake-ups, and a socket shutdown) so it does not wait for a dead
 * session. */
static int conn_vfail(struct tf_conn *c, bool log, int code, const char *fmt, va_list ap)
{
    if (c->dead)
        return c->err_code;
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    c->dead = true;
    c->err_code = code;
    if (log && code == TF_ERR_CLOSED)
        tf_info("transport: session %llu: %s", (unsigned long long)c->session_id, c->err);
    else if (log)
        tf_warn("transport: closing session %llu with %s: %s", (unsigned long long)c->session_id,
                c->peer[0] ? c->peer : "peer", c->err);
    if (c->shm) {
        atomic_store(&c->shm->closed[c->is_server ? 1 : 0], 1);
        tft_ring_wake_all(c->shm);
    }
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR);
    return code;
}

int tft_conn_fail(struct tf_conn *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = conn_vfail(c, true, code, fmt, ap);
    va_end(ap);
    return rc;
}

int tft_conn_fail_quietly(struct tf_conn *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = conn_vfail(c, false, code, fmt, ap);
    va_end(ap);
    return rc;
}

int tft_conn_check_peer(struct tf_conn *c, const char **why)
{
    if (c->dead) {
        *why = c->err;
        return c->err_code;
    }
    if (c->shm && atomic_load(&c->shm->closed[c->is_server ? 0 : 1])) {
        *why = "peer closed the connection";
        return TF_ERR_CLOSED;
    }
    struct pollfd p = {c->fd, POLLIN, 0};
    if (poll(&p, 1, 0) > 0) {
        if (p.revents & POLLIN) {
            int rc = tft_ctl_drain(c, why);   /* also sees EOF behind pending records */
            if (rc)
                return rc;
        } else if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) {
            *why = "peer hung up";
            return TF_ERR_CLOSED;
        }
    }
    /* A socket can outlive its process when a child inherited it; the pid settles it. Only the
     * server checks: the client's peer pid (SO_PEERCRED) is the node's, not the worker's. */
    if (c->is_server && c->peer_pid > 0 && kill(c->peer_pid, 0) < 0 && errno == ESRCH) {
        *why = "peer process exited";
        return TF_ERR_CLOSED;
    }
    return TF_OK;
}

int tft_conn_check_usable(struct tf_conn *c)
{
    if (!c)
        return TF_ERR_INVALID;
    if (c->dead)
        return c->err_code;
    if (!c->handshaken)
        return TF_ERR_STATE;
    return TF_OK;
}

const char *tf_conn_error(const struct tf_conn *c) { return c ? c->err : "no connection"; }

int tf_conn_fd(const struct tf_conn *c) { return c ? c->fd : -1; }

void tf_conn_get_info(const struct tf_conn *c, struct tf_conn_info *info)
{
    memset(info, 0, sizeof *info);
    if (!c)
        return;
    info->transport = c->transport;
    info->is_server = c->is_server;
    info->is_unix = c->is_unix;
    info->session_id = c->session_id;
    info->max_frame = c->max_frame;
    info->ring_bytes = c->shm ? c->out.size : 0;
    info->peer_pid = c->peer_pid;
    info->tls = c->tls != NULL;
    info->compress = c->compress;
    snprintf(info->peer, sizeof info->peer, "%s", c->peer);
}

/* ---- Sending ---- */

int tf_send(struct tf_conn *c, uint32_t type, uint32_t flags, uint64_t id,
            const struct iovec *iov, int iovcnt)
{
    int rc = tft_conn_check_usable(c);
    if (rc)
        return rc;
    if (c->send_left)
        return TF_ERR_STATE;   /* a frame sent in pieces is not complete (bulk.c) */
    if (type == 0 || type >= TF_FRAME_TYPE_RESERVED_MIN || iovcnt < 0 || (iovcnt > 0 && !iov))
        return TF_ERR_INVALID;
    uint64_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > c->max_frame - total)
            return TF_ERR_TOO_LARGE;   /* caller's mistake: nothing sent, session intact */
        total += iov[i].iov_len;
    }
    uint8_t hdr[TF_FRAME_HEADER_SIZE];
    struct tf_frame_header h = {type, flags, id, total};
    tf_frame_header_encode(&h, hdr);

    struct iovec small[SMALL_IOV], *v = small;
    if (iovcnt + 1 > SMALL_IOV && !(v = malloc(sizeof *v * (size_t)(iovcnt + 1))))
        return TF_ERR_NOMEM;
    v[0].iov_base = hdr;
    v[0].iov_len = sizeof hdr;
    if (iovcnt > 0)
        memcpy(v + 1, iov, sizeof *v * (size_t)iovcnt);
    if (c->transport == TF_TRANSPORT_SHM)
        rc = tft_ring_write(c, v, iovcnt + 1, sizeof hdr + total);
    else if (tft_packs(c, total))
        rc = tft_pack_write(c, hdr, iov, iovcnt);
    else
        rc = tft_sock_write_all(c, v, iovcnt + 1, -1);
    if (v != small)
        free(v);
    return rc;
}

/* ---- Receiving ---- */

static int read_bytes(struct tf_conn *c, void *dst, uint64_t len, int64_t deadline)
{
    if (c->packed)
        return tft_pack_read(c, dst, len);
    return c->transport == TF_TRANSPORT_SHM ? tft_ring_read(c, dst, len, deadline)
                                            : tft_stream_read(c, dst, len, deadline);
}

static int wait_frame_start(struct tf_conn *c, int64_t deadline)
{
    if (c->transport == TF_TRANSPORT_SHM)
        return tft_ring_wait_readable(c, TF_FRAME_HEADER_SIZE, deadline);
    return tft_stream_wait_readable(c, deadline);
}

int tf_recv_header(struct tf_conn *c, struct tf_frame_header *hdr, int timeout_ms)
{
    int rc = tft_conn_check_usable(c);
    if (rc || !hdr)
        return rc ? rc : TF_ERR_INVALID;
    if (c->frame_open && c->payload_left > 0) {
        tf_debug("transport: discarding %llu unread payload bytes",
                 (unsigned long long)c->payload_left);
        if ((rc = read_bytes(c, NULL, c->payload_left, -1)))
            return rc;
    }
    c->frame_open = false;
    c->payload_left = 0;
    c->packed = false;
    if (c->nregions)
        tft_regions_collect(c);   /* the previous call is done with released regions */
    rc = wait_frame_start(c, tft_deadline_after(timeout_ms));
    if (rc)
        return rc;
    /* A frame has begun: the rest of its header follows without a deadline (a peer that
     * stalls mid-frame is caught by the liveness checks, not by the caller's timeout). */
    uint8_t buf[TF_FRAME_HEADER_SIZE];
    if ((rc = read_bytes(c, buf, sizeof buf, -1)))
        return rc;
    char why[160];
    rc = tf_frame_header_decode(buf, sizeof buf, c->max_frame, hdr, why, sizeof why);
    if (rc == TF_OK && hdr->type == TF_FRAME_PACKED && c->transport == TF_TRANSPORT_STREAM) {
        if ((rc = tft_pack_open(c, hdr)))
            return rc;
    } else if (rc == TF_OK && hdr->type >= TF_FRAME_TYPE_RESERVED_MIN) {
        snprintf(why, sizeof why, "reserved frame type 0x%08x", hdr->type);
        rc = TF_ERR_PROTOCOL;
    }
    if (rc)
        return tft_conn_fail(c, rc, "malformed frame: %s", why);
    c->frame_open = true;
    c->payload_left = hdr->length;
    return TF_OK;
}

int tf_recv_payload(struct tf_conn *c, void *dst, uint64_t len)
{
    int rc = tft_conn_check_usable(c);
    if (rc)
        return rc;
    if (!c->frame_open || len > c->payload_left)
        return TF_ERR_STATE;
    if ((rc = read_bytes(c, dst, len, -1)))
        return rc;
    c->payload_left -= len;
    return TF_OK;
}

uint64_t tf_recv_remaining(const struct tf_conn *c)
{
    return c && c->frame_open ? c->payload_left : 0;
}

int tf_recv(struct tf_conn *c, struct tf_frame_header *hdr, const void **payload, int timeout_ms)
{
    if (!payload)
        return TF_ERR_INVALID;
    *payload = NULL;
    int rc = tf_recv_header(c, hdr, timeout_ms);
    if (rc || hdr->length == 0)
        return rc;
    if (hdr->length > c->small_cap) {
        void *grown = realloc(c->small, hdr->length);
        if (!grown)
            return TF_ERR_NOMEM;   /* the frame stays pending: tf_recv_payload can still read it */
        c->small = grown;
        c->small_cap = hdr->length;
    }
    if ((rc = tf_recv_payload(c, c->small, hdr->length)))
        return rc;
    *payload = c->small;
    return TF_OK;
}

int tf_poll(struct tf_conn *c, int timeout_ms)
{
    int rc = tft_conn_check_usable(c);
    if (rc)
        return rc;
    if (c->frame_open && c->payload_left > 0)
        return 1;
    if (c->transport == TF_TRANSPORT_SHM && tft_ring_readable(c) > 0)
        return 1;
    if (c->transport == TF_TRANSPORT_STREAM && c->rbuf_len > c->rbuf_pos)
        return 1;
    /* Even a zero timeout goes through the wait: it is cheap and it runs the peer check when
     * one is due, so a caller that only ever polls still learns that the peer died. */
    rc = wait_frame_start(c, tft_deadline_after(timeout_ms));
    if (rc == TF_ERR_TIMEOUT)
        return 0;
    return rc ? rc : 1;
}

/* ---- Teardown ---- */

static void conn_free(struct tf_conn *c, bool tell_peer)
{
    if (c->shm) {
        if (tell_peer) {
            atomic_store(&c->shm->closed[c->is_server ? 1 : 0], 1);
            tft_ring_wake_all(c->shm);
        }
        munmap(c->shm, c->shm_len);
    }
    if (c->shm_fd >= 0)
        close(c->shm_fd);
    tft_tls_end(c, tell_peer);
    if (c->fd >= 0) {
        if (tell_peer)
            shutdown(c->fd, SHUT_RDWR);
        close(c->fd);
    }
    if (c->ctl_fd >= 0)
        close(c->ctl_fd);
    for (size_t i = 0; i < c->nfds; i++)
        close(c->fds[i].fd);
    free(c->fds);
    tft_regions_free(c);
    tft_pack_free(c);
    free(c->rbuf);
    free(c->small);
    free(c);
}

void tf_conn_close(struct tf_conn *c)
{
    if (c)
        conn_free(c, true);
}

void tf_conn_abandon(struct tf_conn *c)
{
    if (c)
        conn_free(c, false);
}
