/*
 * Handing a server connection between processes (transport.h, "Handing a server connection to
 * another process"): the node reads and checks a client's hello, then gives the connection to
 * a warm worker that was started before the client came. Owns the handoff message: a fixed
 * header (the connection's state after tf_server_handshake), the caller's bytes, and the
 * socket and ring memfd as SCM_RIGHTS. Nothing else of a connection exists at that point: no
 * frame has been sent either way (the client waits for the welcome), so no read-ahead, control
 * record or region can be in flight.
 * May call: internal.h (conn.c, shmring.c, region.c helpers), libc, src/common/log.h.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define HANDOFF_MAGIC 0x4f485446u   /* "TFHO" */

struct handoff_head {
    uint32_t magic, version;
    uint32_t is_unix, transport;
    uint64_t max_frame, ring_bytes, extra_len;
    int32_t peer_pid, nfds;
    int32_t compress_asked;
    char peer[300];
};

int tf_conn_handoff_send(struct tf_conn *c, int sock, const void *extra, size_t extra_len)
{
    if (!c || !c->is_server || c->handshaken || c->dead || c->transport == 0 ||
        extra_len > TF_HANDOFF_EXTRA_MAX)
        return TF_ERR_INVALID;
    if (c->tls)
        return TF_ERR_NOT_SUPPORTED;
    /* Anything already taken from the peer lives in this process only and would be lost. */
    if (c->rbuf_len > c->rbuf_pos || c->frame_open || c->ctl_have || c->nfds || c->nregions)
        return TF_ERR_STATE;
    int shm = c->transport == TF_TRANSPORT_SHM;
    if (shm && c->shm_fd < 0)
        return TF_ERR_STATE;
    struct handoff_head h = {.magic = HANDOFF_MAGIC, .version = TFUSE_PROTOCOL_VERSION,
                             .is_unix = c->is_unix, .transport = c->transport,
                             .max_frame = c->max_frame,
                             .ring_bytes = shm ? c->shm->ring_bytes : 0,
                             .extra_len = extra_len, .peer_pid = c->peer_pid,
                             .compress_asked = c->compress_asked,
                             .nfds = shm ? 2 : 1};
    snprintf(h.peer, sizeof h.peer, "%s", c->peer);
    int fds[2] = {c->fd, c->shm_fd};
    struct iovec iov[2] = {{&h, sizeof h}, {(void *)extra, extra_len}};
    union { char buf[CMSG_SPACE(sizeof fds)]; struct cmsghdr align; } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = extra_len ? 2 : 1,
                       .msg_control = u.buf,
                       .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)h.nfds)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)h.nfds);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)h.nfds);
    ssize_t n;
    do
        n = sendmsg(sock, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EPIPE || errno == ECONNRESET ? TF_ERR_CLOSED : TF_ERR_SYS;
    return (size_t)n == sizeof h + extra_len ? TF_OK : TF_ERR_SYS;
}

/* The connection the message describes, over the descriptors it brought. */
static int rebuild(const struct handoff_head *h, const int *fds, struct tf_conn **out)
{
    struct tf_conn *c = tft_conn_new(fds[0], h->is_unix != 0, true);
    if (!c)
        return TF_ERR_NOMEM;
    c->transport = (enum tf_transport_kind)h->transport;
    c->max_frame = h->max_frame;
    c->peer_pid = h->peer_pid;
    c->compress_asked = h->compress_asked >= 0 && h->compress_asked <= TF_COMPRESS_ZSTD
                        ? h->compress_asked : TF_COMPRESS_OFF;
    snprintf(c->peer, sizeof c->peer, "%.*s", (int)sizeof h->peer - 1, h->peer);
    if (c->transport == TF_TRANSPORT_SHM) {
        char why[160];
        void *map;
        c->shm_fd = fds[1];
        if (tft_memfd_check_and_map(fds[1], SHM_DATA_OFFSET + 2 * h->ring_bytes, &c->shm_len,
                                    &map, why, sizeof why) != TF_OK) {
            tf_warn("transport: a handed-off session's rings: %s", why);
            tf_conn_abandon(c);
            return TF_ERR_PROTOCOL;
        }
        c->shm = map;
        if (c->shm->magic != SHM_MAGIC || c->shm->ring_bytes != h->ring_bytes) {
            tf_warn("transport: a handed-off session's rings carry a bad header");
            tf_conn_abandon(c);
            return TF_ERR_PROTOCOL;
        }
        uint8_t *req = (uint8_t *)map + SHM_DATA_OFFSET;
        tft_ring_attach(&c->in, &c->shm->req, req, h->ring_bytes, false, c->max_spin_ns);
        tft_ring_attach(&c->out, &c->shm->resp, req + h->ring_bytes, h->ring_bytes, true,
                        c->max_spin_ns);
    }
    *out = c;
    return TF_OK;
}

static int wait_readable(int sock, int timeout_ms)
{
    struct pollfd p = {sock, POLLIN, 0};
    int r;
    do
        r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r < 0 ? TF_ERR_SYS : r == 0 ? TF_ERR_TIMEOUT : TF_OK;
}

int tf_conn_handoff_recv(int sock, int timeout_ms, struct tf_conn **out, void *extra,
                         size_t extra_cap, size_t *extra_len)
{
    *out = NULL;
    *extra_len = 0;
    int rc = wait_readable(sock, timeout_ms);
    if (rc != TF_OK)
        return rc;
    struct handoff_head h;
    int fds[2] = {-1, -1};
    struct iovec iov[2] = {{&h, sizeof h}, {extra, extra_cap}};
    union { char buf[CMSG_SPACE(sizeof fds)]; struct cmsghdr align; } u;
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
    ssize_t n;
    do
        n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n == 0 ? TF_ERR_CLOSED : TF_ERR_SYS;
    int nfds = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS && nfds == 0) {
            nfds = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(fds, CMSG_DATA(cm), sizeof(int) * (size_t)(nfds > 2 ? 2 : nfds));
        }
    int want = (size_t)n >= sizeof h ? h.nfds : -1;
    if ((size_t)n < sizeof h || h.magic != HANDOFF_MAGIC ||
        h.version != TFUSE_PROTOCOL_VERSION || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
        nfds != want || (want != 1 && want != 2) || h.extra_len != (size_t)n - sizeof h ||
        (want == 2) != (h.transport == TF_TRANSPORT_SHM) ||
        (want == 2 && (h.ring_bytes < RING_BYTES_MIN || h.ring_bytes > RING_BYTES_MAX))) {
        for (int i = 0; i < nfds && i < 2; i++)
            close(fds[i]);
        return TF_ERR_PROTOCOL;
    }
    rc = rebuild(&h, fds, out);
    if (rc != TF_OK)
        return rc;
    *extra_len = (size_t)h.extra_len;
    return TF_OK;
}
