/*
 * Sockets for the transport: connecting and listening on unix and TCP addresses, writing a
 * gather list completely (optionally passing an fd), exact reads for the handshake, and the
 * buffered reader of the stream transport. All sockets are non-blocking and every wait is a
 * poll() bounded by TF_LIVENESS_MS, so a peer that dies is noticed and nothing hangs.
 * Calls libc/Linux socket APIs and conn.c (tft_conn_fail).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Connections the kernel completes before the server accepts them. A burst (hundreds of clients
 * at once, or a flood the node's gate then sheds) must not leave clients retrying SYNs for
 * seconds; the kernel caps it at net.core.somaxconn. */
#define LISTEN_BACKLOG 1024

#define IOV_BATCH 1024
#define SOCKBUF_DEFAULT (4 << 20)
#define TLS_STAGE 16384   /* one TLS record's worth of plaintext */

static void set_err(char *err, size_t errlen, const char *fmt, const char *a, int e)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, a, strerror(e));
}

/* Socket buffers for bulk copies: a 64 MiB copy streams through them, and one that holds a few
 * MiB keeps the line busy while either side copies to or from the device. TFUSE_SOCKBUF_KB
 * overrides (0: leave both to the kernel's autotuning); the kernel caps them at
 * net.core.wmem_max / rmem_max. */
static int sockbuf_bytes(void)
{
    const char *s = getenv("TFUSE_SOCKBUF_KB");
    if (!s || !*s)
        return SOCKBUF_DEFAULT;
    char *end;
    long kb = strtol(s, &end, 10);
    return *end || kb < 0 || kb > (1 << 20) ? SOCKBUF_DEFAULT : (int)kb * 1024;
}

void tft_sock_tune_tcp(int fd)
{
    int buf = sockbuf_bytes();
    if (buf > 0) {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    }
    int one = 1, idle = 5, intvl = 2, cnt = 3;
    unsigned user_timeout_ms = 10000;
    /* Small request/reply frames must not wait for Nagle; keepalive + user timeout turn a
     * vanished remote host into an error instead of an endless wait. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
}

static int fill_unix(const struct tf_addr *a, struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, a->path, strlen(a->path) + 1);
    return 0;
}

static int wait_connected(int fd, int timeout_ms)
{
    struct pollfd p = {fd, POLLOUT, 0};
    int n;
    do
        n = poll(&p, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return ETIMEDOUT;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        return errno;
    return soerr;
}

static int connect_unix(const struct tf_addr *a, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    fill_unix(a, &sun);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        set_err(err, errlen, "socket for unix:%s: %s", a->path, errno);
        return TF_ERR_SYS;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        set_err(err, errlen, "cannot connect to unix:%s: %s", a->path, errno);
        close(fd);
        return errno == ENOENT || errno == ECONNREFUSED ? TF_ERR_CLOSED : TF_ERR_SYS;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Resolves a TCP address (flags: getaddrinfo's ai_flags, e.g. AI_PASSIVE to listen). */
static int resolve_tcp(const struct tf_addr *a, int flags, struct addrinfo **res, char *err,
                       size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = flags};
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)a->port);
    int gai = getaddrinfo(a->host, port, &hints, res);
    if (gai) {
        if (err && errlen)
            snprintf(err, errlen, "cannot resolve %s: %s", a->host, gai_strerror(gai));
        return TF_ERR_INVALID;
    }
    return TF_OK;
}

static int connect_tcp(const struct tf_addr *a, int timeout_ms, char *err, size_t errlen)
{
    struct addrinfo *res, *ai;
    int rc = resolve_tcp(a, 0, &res, err, errlen);
    if (rc)
        return rc;
    int fd = -1, last = ECONNREFUSED;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            last = errno;
            continue;
        }
        int e = connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 ? errno : 0;
        if (e == EINPROGRESS)
            e = wait_connected(fd, timeout_ms);
        if (e == 0)
            break;
        last = e;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        set_err(err, errlen, "cannot connect to tcp:%s: %s", a->host, last);
        return last == ECONNREFUSED || last == ETIMEDOUT ? TF_ERR_CLOSED : TF_ERR_SYS;
    }
    tft_sock_tune_tcp(fd);
    return fd;
}

int tft_sock_connect(const struct tf_addr *a, int timeout_ms, char *err, size_t errlen)
{
    return a->kind == TF_ADDR_UNIX ? connect_unix(a, err, errlen)
                                   : connect_tcp(a, timeout_ms, err, errlen);
}

/* A socket file left by a node that died is replaced; one that a live node answers is not. */
static int clear_stale_unix(const struct tf_addr *a, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(a->path, &st) < 0)
        return errno == ENOENT ? TF_OK : (set_err(err, errlen, "%s: %s", a->path, errno), TF_ERR_SYS);
    if (!S_ISSOCK(st.st_mode)) {
        set_err(err, errlen, "%s exists and is not a socket (%s)", a->path, EEXIST);
        return TF_ERR_INVALID;
    }
    int fd = connect_unix(a, NULL, 0);
    if (fd >= 0) {
        close(fd);
        set_err(err, errlen, "unix:%s is in use by a running server (%s)", a->path, EADDRINUSE);
        return TF_ERR_INVALID;
    }
    unlink(a->path);
    return TF_OK;
}

static int listen_unix(const struct tf_addr *a, char *err, size_t errlen)
{
    int rc = clear_stale_unix(a, err, errlen);
    if (rc)
        return rc;
    struct sockaddr_un sun;
    fill_unix(a, &sun);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0 ||
        listen(fd, LISTEN_BACKLOG) < 0) {
        set_err(err, errlen, "cannot listen on unix:%s: %s", a->path, errno);
        if (fd >= 0)
            close(fd);
        return TF_ERR_SYS;
    }
    return fd;
}

static void format_sockaddr(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        snprintf(buf, len, "tcp:%s:%u", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        snprintf(buf, len, "tcp:[%s]:%u", host, port);
    } else {
        snprintf(buf, len, "unknown");
    }
}

static int listen_tcp(const struct tf_addr *a, char *bound, size_t boundlen, char *err,
                      size_t errlen)
{
    struct addrinfo *res;
    int rc = resolve_tcp(a, AI_PASSIVE, &res, err, errlen);
    if (rc)
        return rc;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        set_err(err, errlen, "cannot listen on tcp:%s: %s", a->host, errno);
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return TF_ERR_SYS;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        format_sockaddr((struct sockaddr *)&ss, bound, boundlen);
    return fd;
}

int tft_sock_listen(const struct tf_addr *a, char *bound, size_t boundlen, char *err,
                    size_t errlen)
{
    if (a->kind == TF_ADDR_UNIX) {
        tf_addr_format(a, bound, boundlen);
        return listen_unix(a, err, errlen);
    }
    return listen_tcp(a, bound, boundlen, err, errlen);
}

void tft_sock_describe_peer(struct tf_conn *c)
{
    if (c->is_unix) {
        struct ucred cred;
        socklen_t sl = sizeof cred;
        if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &sl) == 0) {
            c->peer_pid = cred.pid;
            snprintf(c->peer, sizeof c->peer, "unix pid %d uid %u", (int)cred.pid,
                     (unsigned)cred.uid);
            return;
        }
        snprintf(c->peer, sizeof c->peer, "unix peer");
        return;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) == 0)
        format_sockaddr((struct sockaddr *)&ss, c->peer, sizeof c->peer);
    else
        snprintf(c->peer, sizeof c->peer, "tcp peer");
}

/* Waits for `events` on the socket until the deadline (-1: forever), in liveness-sized slices.
 * Returns TF_OK when ready, TF_ERR_TIMEOUT, or TF_ERR_CLOSED if the connection died. */
static int sock_wait(struct tf_conn *c, short events, int64_t deadline)
{
    for (;;) {
        int slice = TF_LIVENESS_MS;
        if (deadline >= 0) {
            int64_t left = deadline - tft_now_ns();
            if (left <= 0)
                return TF_ERR_TIMEOUT;
            if (left / 1000000 < slice)
                slice = (int)(left / 1000000) + 1;
        }
        struct pollfd p = {c->fd, events, 0};
        int n = poll(&p, 1, slice);
        if (n > 0)
            return TF_OK;   /* readiness or HUP/ERR: the next I/O call tells which */
        if (n < 0 && errno != EINTR)
            return tft_conn_fail(c, TF_ERR_SYS, "poll: %s", strerror(errno));
        if (c->dead)
            return c->err_code;
    }
}

static int io_error(struct tf_conn *c, const char *what, int e)
{
    if (e == EPIPE || e == ECONNRESET || e == ENOTCONN || e == ETIMEDOUT)
        return tft_conn_fail(c, TF_ERR_CLOSED, "peer %s went away (%s: %s)", c->peer, what,
                             strerror(e));
    return tft_conn_fail(c, TF_ERR_SYS, "%s: %s", what, strerror(e));
}

/* All of buf through the TLS session, waiting (peer-death aware) while the socket is full. A
 * send that would block is repeated with the same bytes, as GnuTLS requires. */
static int tls_send_all(struct tf_conn *c, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = tft_tls_send(c, buf, len);
        if (n == TF_ERR_AGAIN) {
            int rc = sock_wait(c, tft_tls_events(c), -1);
            if (rc)
                return rc;
            continue;
        }
        if (n < 0)
            return (int)n;
        buf += n;
        len -= (size_t)n;
    }
    return TF_OK;
}

/* A frame's pieces as TLS records: small pieces (the header, arguments) are gathered so that a
 * call costs one record and one send, large ones go straight from the caller's memory. */
static int tls_write_frame(struct tf_conn *c, const struct iovec *iov, int iovcnt)
{
    uint8_t stage[TLS_STAGE];
    size_t have = 0;
    int rc = TF_OK;
    for (int i = 0; i < iovcnt && rc == TF_OK; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        if (len <= sizeof stage - have) {
            memcpy(stage + have, p, len);
            have += len;
            continue;
        }
        if (have && (rc = tls_send_all(c, stage, have)))
            break;
        have = 0;
        if (len >= sizeof stage / 2) {
            rc = tls_send_all(c, p, len);
        } else {
            memcpy(stage, p, len);
            have = len;
        }
    }
    return rc == TF_OK && have ? tls_send_all(c, stage, have) : rc;
}

/* The frame's records are gathered and sent in few system calls (a 64 MiB copy in 1 MiB
 * sends instead of 4096), all of them before this returns. */
static int tls_write_all(struct tf_conn *c, const struct iovec *iov, int iovcnt)
{
    tft_tls_gather(c, true);
    int rc = tls_write_frame(c, iov, iovcnt), flushed = tft_tls_gather(c, false);
    while (rc == TF_OK && flushed == TF_ERR_AGAIN) {
        if ((rc = sock_wait(c, POLLOUT, -1)) == TF_OK)
            flushed = tft_tls_flush(c);
    }
    return rc ? rc : flushed;
}

int tft_sock_write_all(struct tf_conn *c, struct iovec *iov, int iovcnt, int fd_to_pass)
{
    if (c->tls)
        return tls_write_all(c, iov, iovcnt);
    char cbuf[CMSG_SPACE(sizeof(int))];
    while (iovcnt > 0 && iov->iov_len == 0) {
        iov++;
        iovcnt--;
    }
    while (iovcnt > 0) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = iovcnt < IOV_BATCH ? iovcnt : IOV_BATCH};
        if (fd_to_pass >= 0) {
            memset(cbuf, 0, sizeof cbuf);
            m.msg_control = cbuf;
            m.msg_controllen = sizeof cbuf;
            struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(cm), &fd_to_pass, sizeof(int));
        }
        ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return io_error(c, "send", errno);
            int rc = sock_wait(c, POLLOUT, -1);
            if (rc)
                return rc;
            continue;
        }
        fd_to_pass = -1;   /* the fd travels with the first byte */
        while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return TF_OK;
}

/* One recvmsg; stores a passed fd (if any) in *fd_out, closing extras. Returns bytes, 0 at
 * EOF, or -errno. */
ssize_t tft_sock_recv_some(int fd, void *buf, size_t len, int *fd_out)
{
    char cbuf[CMSG_SPACE(4 * sizeof(int))];
    struct iovec v = {buf, len};
    struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = cbuf,
                       .msg_controllen = sizeof cbuf};
    ssize_t n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
    if (n < 0)
        return -errno;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int got;
            memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof got);
            if (fd_out && *fd_out < 0)
                *fd_out = got;
            else
                close(got);   /* unexpected extra fd: never leak it */
        }
    }
    return n;
}

int tft_sock_read_exact(struct tf_conn *c, void *buf, size_t len, int64_t deadline, int *fd_out)
{
    if (c->tls)   /* no fds travel over TCP; the gate may have read the hello already */
        return tft_stream_read(c, buf, len, deadline);
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = tft_sock_recv_some(c->fd, p, len, fd_out);
        if (n == 0)
            return tft_conn_fail(c, TF_ERR_CLOSED, "peer %s closed the connection", c->peer);
        if (n < 0) {
            if (n == -EINTR)
                continue;
            if (n != -EAGAIN && n != -EWOULDBLOCK)
                return io_error(c, "recv", (int)-n);
            int rc = sock_wait(c, POLLIN, deadline);
            if (rc)
                return rc;
            continue;
        }
        p += n;
        len -= (size_t)n;
    }
    return TF_OK;
}

/* One recv() into buf. Stores the byte count in *got (0 when interrupted or when it had to wait
 * for the socket to become readable: the caller simply tries again); a closed peer, a socket
 * error or the deadline passing is returned as an error. */
static int recv_or_wait(struct tf_conn *c, void *buf, size_t len, int64_t deadline, size_t *got)
{
    *got = 0;
    if (c->tls) {
        ssize_t t = tft_tls_recv(c, buf, len);
        if (t > 0)
            *got = (size_t)t;
        return t > 0 ? TF_OK : t == TF_ERR_AGAIN ? sock_wait(c, tft_tls_events(c), deadline)
                                                 : (int)t;
    }
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n > 0) {
        *got = (size_t)n;
        return TF_OK;
    }
    if (n == 0)
        return tft_conn_fail(c, TF_ERR_CLOSED, "peer %s closed the connection", c->peer);
    if (errno == EINTR)
        return TF_OK;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
        return io_error(c, "recv", errno);
    return sock_wait(c, POLLIN, deadline);
}

/* Reads whatever is available into the stream buffer; waits (until deadline) if nothing is. */
static int stream_fill(struct tf_conn *c, int64_t deadline)
{
    if (c->rbuf_pos > 0) {   /* keep unread bytes at the front so there is room to read */
        memmove(c->rbuf, c->rbuf + c->rbuf_pos, c->rbuf_len - c->rbuf_pos);
        c->rbuf_len -= c->rbuf_pos;
        c->rbuf_pos = 0;
    }
    for (;;) {
        size_t got;
        int rc = recv_or_wait(c, c->rbuf + c->rbuf_len, c->rbuf_cap - c->rbuf_len, deadline, &got);
        if (rc)
            return rc;
        if (got > 0) {
            c->rbuf_len += got;
            return TF_OK;
        }
    }
}

int tft_stream_wait_readable(struct tf_conn *c, int64_t deadline)
{
    if (c->rbuf_len > c->rbuf_pos)
        return TF_OK;
    return stream_fill(c, deadline);
}

int tft_stream_read(struct tf_conn *c, void *dst, uint64_t len, int64_t deadline)
{
    uint8_t *out = dst;
    while (len > 0) {
        size_t have = c->rbuf_len - c->rbuf_pos;
        if (have > 0) {
            size_t n = have < len ? have : (size_t)len;
            if (out) {
                memcpy(out, c->rbuf + c->rbuf_pos, n);
                out += n;
            }
            c->rbuf_pos += n;
            len -= n;
            continue;
        }
        if (out && len >= c->rbuf_cap / 2) {
            /* Bulk payload: straight from the socket into the caller's memory. */
            size_t got;
            int rc = recv_or_wait(c, out, (size_t)len, deadline, &got);
            if (rc)
                return rc;
            out += got;
            len -= got;
            continue;
        }
        int rc = stream_fill(c, deadline);
        if (rc)
            return rc;
    }
    return TF_OK;
}
