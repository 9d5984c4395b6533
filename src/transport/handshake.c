/*
 * How connections come to exist: the client's tf_connect (socket, optional shm rings, hello,
 * welcome), listeners, and the server's side of the handshake (read and check the hello, map
 * the client's rings, accept or reject). Calls sock.c, region.c (memfd helpers), shmring.c,
 * wire.c, conn.c and src/common/log.h.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define HANDSHAKE_FIXED 40u
#define DEFAULT_TIMEOUT_MS 10000
#define STREAM_RBUF 65536

struct tf_listener {
    int fd;
    struct tf_addr addr;
    struct tft_tls_cred *tls;          /* set: every accepted connection shakes hands in TLS */
    pid_t owner;                       /* only the creating process unlinks the socket path */
    char bound[300];
};

static void put_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* TFUSE_CONNECT_TIMEOUT_MS (1..3600000) overrides the 10 s default of a handshake: a host busy
 * with other work (a test suite beside a CPU hog) may take longer to fork and start a worker.
 * A value that is not a number in range keeps the default. */
static int default_timeout_ms(void)
{
    const char *s = getenv("TFUSE_CONNECT_TIMEOUT_MS");
    if (!s || !*s)
        return DEFAULT_TIMEOUT_MS;
    char *end;
    long ms = strtol(s, &end, 10);
    return *end || ms < 1 || ms > 3600000 ? DEFAULT_TIMEOUT_MS : (int)ms;
}

static uint64_t round_ring(size_t want)
{
    uint64_t r = RING_BYTES_MIN;
    if (want == 0)
        want = TF_RING_BYTES_DEFAULT;
    while (r < want && r < RING_BYTES_MAX)
        r <<= 1;
    return r;
}

static bool valid_ring_size(uint64_t r)
{
    return r >= RING_BYTES_MIN && r <= RING_BYTES_MAX && (r & (r - 1)) == 0;
}

/* Points the rings of c at its mapped shared block: the client produces requests and consumes
 * responses, the server the opposite. */
static void attach_rings(struct tf_conn *c)
{
    uint64_t size = c->shm->ring_bytes;
    uint8_t *base = (uint8_t *)c->shm;
    uint8_t *req = base + SHM_DATA_OFFSET, *resp = req + size;
    if (c->is_server) {
        tft_ring_attach(&c->in, &c->shm->req, req, size, false, c->max_spin_ns);
        tft_ring_attach(&c->out, &c->shm->resp, resp, size, true, c->max_spin_ns);
    } else {
        tft_ring_attach(&c->out, &c->shm->req, req, size, true, c->max_spin_ns);
        tft_ring_attach(&c->in, &c->shm->resp, resp, size, false, c->max_spin_ns);
    }
}

static int alloc_rbuf(struct tf_conn *c)
{
    c->rbuf_cap = STREAM_RBUF;
    return (c->rbuf = malloc(c->rbuf_cap)) ? TF_OK : TF_ERR_NOMEM;
}

static int become_ready(struct tf_conn *c)
{
    if (c->transport == TF_TRANSPORT_STREAM && !c->rbuf) {   /* TLS has had one since accept */
        if (alloc_rbuf(c))
            return TF_ERR_NOMEM;
    }
    c->handshaken = true;
    return TF_OK;
}

/* ---- Client ---- */

static int client_make_rings(struct tf_conn *c, size_t want, char *err, size_t errlen)
{
    uint64_t ring = round_ring(want);
    size_t len = SHM_DATA_OFFSET + 2 * ring;
    void *map;
    int rc = tft_memfd_sealed("tfuse-rings", len, &c->shm_fd, &map);
    if (rc) {
        put_err(err, errlen, "cannot create shared-memory rings of %zu bytes: %s", len,
                strerror(errno));
        return rc;
    }
    c->shm = map;
    c->shm_len = len;
    c->shm->magic = SHM_MAGIC;
    c->shm->version = TFUSE_PROTOCOL_VERSION;
    c->shm->ring_bytes = ring;
    attach_rings(c);
    return TF_OK;
}

static int client_send_hello(struct tf_conn *c, const struct tf_client_opts *o, uint64_t ring)
{
    struct tf_hello h = {.version = TFUSE_PROTOCOL_VERSION, .transport = o->transport,
                         .pid = (int32_t)getpid(), .ring_bytes = ring,
                         .max_frame = c->max_frame, .compress = (uint32_t)c->compress_asked};
    snprintf(h.token, sizeof h.token, "%s", o->token ? o->token : "");
    gethostname(h.hostname, sizeof h.hostname - 1);
    uint8_t buf[TF_HELLO_MAX_SIZE];
    int n = tf_hello_encode(&h, buf, sizeof buf);
    if (n < 0)
        return n;
    struct iovec v = {buf, (size_t)n};
    return tft_sock_write_all(c, &v, 1, c->shm_fd);
}

static int read_welcome(struct tf_conn *c, int64_t deadline, struct tf_welcome *w)
{
    uint8_t buf[TF_WELCOME_MAX_SIZE];
    int rc = tft_sock_read_exact(c, buf, HANDSHAKE_FIXED, deadline, NULL);
    if (rc)
        return rc;
    size_t rlen = (size_t)buf[32] | (size_t)buf[33] << 8;
    if (rlen > TF_REASON_MAX)
        return tft_conn_fail(c, TF_ERR_PROTOCOL, "handshake reply with a %zu-byte reason", rlen);
    if ((rc = tft_sock_read_exact(c, buf + HANDSHAKE_FIXED, rlen, deadline, NULL)))
        return rc;
    char why[160];
    if (tf_welcome_decode(buf, HANDSHAKE_FIXED + rlen, w, why, sizeof why))
        return tft_conn_fail(c, TF_ERR_PROTOCOL, "bad handshake reply: %s", why);
    return TF_OK;
}

static int client_handshake(struct tf_conn *c, struct tf_client_opts *o, char *err, size_t errlen)
{
    uint64_t ring = 0;
    int ask = tft_compress_ask(c, o->compress, err, errlen);
    if (ask < 0)
        return ask;
    c->compress_asked = ask;
    if (o->transport == TF_TRANSPORT_AUTO)
        o->transport = c->is_unix ? TF_TRANSPORT_SHM : TF_TRANSPORT_STREAM;
    if (o->transport == TF_TRANSPORT_SHM && c->is_unix) {
        int rc = client_make_rings(c, o->ring_bytes, err, errlen);
        if (rc)
            return rc;
        ring = c->shm->ring_bytes;
    }
    int64_t deadline = tft_deadline_after(o->timeout_ms);
    struct tf_welcome w;
    int rc = client_send_hello(c, o, ring);
    if (rc == TF_OK)
        rc = read_welcome(c, deadline, &w);
    if (rc) {
        put_err(err, errlen, "handshake with %s failed: %s", c->peer,
                rc == TF_ERR_TIMEOUT ? "no reply in time" : c->err);
        return rc;
    }
    if (!w.accepted) {
        put_err(err, errlen, "%s", w.reason);
        return w.version != TFUSE_PROTOCOL_VERSION ? TF_ERR_VERSION : TF_ERR_REJECTED;
    }
    if ((w.transport == TF_TRANSPORT_SHM) != (c->shm != NULL) || w.max_frame == 0 ||
        w.max_frame > c->max_frame ||
        (w.compress && (w.compress != (uint32_t)ask || w.transport != TF_TRANSPORT_STREAM))) {
        put_err(err, errlen, "server answered with inconsistent terms (transport %u, max %llu, "
                "compression %u)", w.transport, (unsigned long long)w.max_frame, w.compress);
        return TF_ERR_PROTOCOL;
    }
    c->compress = (int)w.compress;   /* an old node answers 0: uncompressed */
    c->transport = w.transport;
    c->session_id = w.session_id;
    c->max_frame = w.max_frame;
    if (c->shm_fd >= 0) {   /* the server has its own mapping now */
        close(c->shm_fd);
        c->shm_fd = -1;
    }
    return become_ready(c);
}

int tf_connect(const char *address, const struct tf_client_opts *opts, struct tf_conn **out,
               char *err, size_t errlen)
{
    if (!out)
        return TF_ERR_INVALID;
    *out = NULL;
    struct tf_client_opts o = opts ? *opts : (struct tf_client_opts){0};
    if (o.timeout_ms <= 0)
        o.timeout_ms = default_timeout_ms();
    if (o.token && strlen(o.token) > TF_TOKEN_MAX) {
        put_err(err, errlen, "session token longer than %u bytes", TF_TOKEN_MAX);
        return TF_ERR_INVALID;
    }
    if (o.transport > TF_TRANSPORT_STREAM) {
        put_err(err, errlen, "unknown transport %u", (unsigned)o.transport);
        return TF_ERR_INVALID;
    }
    struct tf_addr a;
    int rc = tf_addr_parse(address, &a, err, errlen);
    if (rc)
        return rc;
    int fd = tft_sock_connect(&a, o.timeout_ms, err, errlen);
    if (fd < 0)
        return fd;
    struct tf_conn *c = tft_conn_new(fd, a.kind == TF_ADDR_UNIX, false);
    if (!c) {
        close(fd);
        return TF_ERR_NOMEM;
    }
    if (o.max_frame)
        c->max_frame = o.max_frame;
    tf_addr_format(&a, c->peer, sizeof c->peer);
    if (a.tls) {   /* TLS first; a failure is final: never the same bytes in clear */
        rc = alloc_rbuf(c);
        if (rc == TF_OK)
            rc = tft_tls_connect(c, a.host, o.ca_file, tft_deadline_after(o.timeout_ms), err,
                                 errlen);
        if (rc) {
            tf_conn_abandon(c);
            return rc;
        }
    }
    rc = client_handshake(c, &o, err, errlen);
    if (rc) {
        tf_conn_abandon(c);
        return rc;
    }
    *out = c;
    return TF_OK;
}

/* ---- Listeners ---- */

int tf_listen(const char *address, struct tf_listener **out, char *err, size_t errlen)
{
    if (!out)
        return TF_ERR_INVALID;
    *out = NULL;
    struct tf_listener *l = calloc(1, sizeof *l);
    if (!l)
        return TF_ERR_NOMEM;
    int rc = tf_addr_parse(address, &l->addr, err, errlen);
    if (rc == TF_OK)
        rc = l->fd = tft_sock_listen(&l->addr, l->bound, sizeof l->bound, err, errlen);
    if (rc >= 0 && l->addr.tls)
        memcpy(l->bound, "tls:", 4);   /* accepts nothing until tf_listener_set_tls */
    if (rc < 0) {
        free(l);
        return rc;
    }
    l->owner = getpid();
    *out = l;
    return TF_OK;
}

int tf_listener_fd(const struct tf_listener *l) { return l ? l->fd : -1; }

const char *tf_listener_address(const struct tf_listener *l) { return l ? l->bound : ""; }

int tf_listener_accept(struct tf_listener *l, struct tf_conn **out)
{
    if (!l || !out)
        return TF_ERR_INVALID;
    *out = NULL;
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
            return TF_ERR_AGAIN;
        tf_warn("transport: accept on %s: %s", l->bound, strerror(errno));
        return TF_ERR_SYS;
    }
    bool is_unix = l->addr.kind == TF_ADDR_UNIX;
    if (!is_unix)
        tft_sock_tune_tcp(fd);
    if (l->addr.tls && !l->tls) {   /* tls: without a certificate: nothing may pass in clear */
        tf_warn("transport: %s has no TLS certificate: connection refused", l->bound);
        close(fd);
        return TF_ERR_AGAIN;
    }
    struct tf_conn *c = tft_conn_new(fd, is_unix, true);
    if (!c) {
        close(fd);
        return TF_ERR_NOMEM;
    }
    tft_sock_describe_peer(c);
    if (l->tls && (alloc_rbuf(c) || tft_tls_accept(c, l->tls))) {
        tf_conn_close(c);
        return TF_ERR_NOMEM;
    }
    *out = c;
    return TF_OK;
}

int tf_listener_set_tls(struct tf_listener *l, const char *cert_pem, const char *key_pem,
                        char *err, size_t errlen)
{
    if (!l || !cert_pem || !key_pem || l->addr.kind != TF_ADDR_TCP) {
        put_err(err, errlen, "TLS is for tcp listeners only");
        return TF_ERR_INVALID;
    }
    struct tft_tls_cred *cr;
    int rc = tft_tls_cred_server(cert_pem, key_pem, &cr, err, errlen);
    if (rc)
        return rc;
    tft_tls_cred_free(l->tls);
    l->tls = cr;
    l->addr.tls = 1;
    if (!strncmp(l->bound, "tcp:", 4))
        memcpy(l->bound, "tls:", 4);
    return TF_OK;
}

void tf_listener_close(struct tf_listener *l)
{
    if (!l)
        return;
    close(l->fd);
    if (l->addr.kind == TF_ADDR_UNIX && l->owner == getpid())
        unlink(l->addr.path);
    tft_tls_cred_free(l->tls);
    free(l);
}

/* ---- Server side of the handshake ---- */

/* A plain connection: how much of the hello the socket holds, by peeking. */
static int plain_hello_ready(struct tf_conn *c, uint64_t *progress)
{
    uint8_t buf[TF_HELLO_MAX_SIZE];
    ssize_t got = recv(c->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    if (got == 0)
        return tft_conn_fail_quietly(c, TF_ERR_CLOSED, "%s left before a whole handshake",
                                     c->peer);
    if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        return tft_conn_fail_quietly(c, TF_ERR_CLOSED, "%s: %s", c->peer, strerror(errno));
    size_t have = got > 0 ? (size_t)got : 0, need = tf_hello_size(buf, have);
    *progress = have;
    return need && have >= need;
}

/* A TLS listener's first bytes: a TLS handshake record (0x16), or else a plaintext TensorFuse
 * client, told in plain words what to do, or garbage. 1 TLS, 0 not known yet, or an error. */
static int tls_first_bytes(struct tf_conn *c)
{
    uint8_t b[4];
    ssize_t got = recv(c->fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
    if (got <= 0)
        return got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                   ? tft_conn_fail_quietly(c, TF_ERR_CLOSED, "%s left before a TLS handshake",
                                           c->peer)
                   : 0;
    if (b[0] == 0x16)
        return 1;
    uint32_t magic = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24;
    if (got < 4 && !memcmp(b, "FTFH", (size_t)got))
        return 0;   /* the start of a plain hello's magic: wait for the rest */
    if (got == 4 && magic == TF_HELLO_MAGIC) {
        struct tf_welcome w = {.version = TFUSE_PROTOCOL_VERSION, .accepted = 0};
        snprintf(w.reason, sizeof w.reason, "this node's session listener speaks TLS: connect "
                 "with tls:HOST:PORT (the session token just crossed the network in clear)");
        uint8_t buf[TF_WELCOME_MAX_SIZE];
        int n = tf_welcome_encode(&w, buf, sizeof buf);
        if (n > 0 && send(c->fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            tf_debug("transport: could not tell %s: %s", c->peer, strerror(errno));
        return tft_conn_fail_quietly(c, TF_ERR_PROTOCOL, "a plaintext client on a TLS listener "
                                     "(told to use tls:)");
    }
    return tft_conn_fail_quietly(c, TF_ERR_PROTOCOL, "not a TLS handshake (first byte 0x%02x)",
                                 b[0]);
}

/* A step of a TLS connection's handshake: its first bytes checked, then GnuTLS's step. 1 done,
 * 0 again (poll for tft_tls_events), or the error the connection failed with. */
static int tls_server_step(struct tf_conn *c)
{
    int rc = 1;
    if (!tft_tls_handshaken(c) && tft_tls_received(c) == 0)
        rc = tls_first_bytes(c);
    return rc == 1 ? tft_tls_step(c) : rc;
}

/* A server that did not go through tf_server_hello_ready: the whole TLS handshake, by deadline. */
static int tls_server_finish(struct tf_conn *c, int64_t deadline)
{
    int rc;
    while ((rc = tls_server_step(c)) == 0)
        if ((rc = tft_tls_wait(c, deadline)) != TF_OK)
            return tft_conn_fail(c, rc, "no TLS handshake within the timeout");
    return rc == 1 ? TF_OK : rc;
}

/* A TLS connection: the handshake a step at a time, then the decrypted hello into rbuf. */
static int tls_hello_ready(struct tf_conn *c, short *events, uint64_t *progress)
{
    *events = POLLIN;
    int rc = tls_server_step(c);
    while (rc == 1 && c->rbuf_len < c->rbuf_cap) {
        ssize_t n = tft_tls_recv(c, c->rbuf + c->rbuf_len, c->rbuf_cap - c->rbuf_len);
        if (n == TF_ERR_AGAIN)
            break;
        if (n < 0)
            return (int)n;
        c->rbuf_len += (size_t)n;
    }
    *progress = tft_tls_received(c);
    if (rc < 0)
        return rc;
    if (rc == 0 || !tft_tls_handshaken(c)) {
        *events = tft_tls_events(c);
        return 0;
    }
    size_t need = tf_hello_size(c->rbuf, c->rbuf_len);
    return need && c->rbuf_len >= need;
}

int tf_server_hello_ready(struct tf_conn *c, short *events, uint64_t *progress)
{
    if (!c || !events || !progress || !c->is_server || c->handshaken)
        return TF_ERR_INVALID;
    if (c->dead)
        return c->err_code;
    *events = POLLIN;
    return c->tls ? tls_hello_ready(c, events, progress) : plain_hello_ready(c, progress);
}

static void send_welcome(struct tf_conn *c, const struct tf_welcome *w)
{
    uint8_t buf[TF_WELCOME_MAX_SIZE];
    int n = tf_welcome_encode(w, buf, sizeof buf);
    if (n < 0)
        return;
    struct iovec v = {buf, (size_t)n};
    tft_sock_write_all(c, &v, 1, -1);
}

/* Tells the client why, then marks the connection dead with the same reason. */
static int refuse(struct tf_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(struct tf_conn *c, int code, const char *fmt, ...)
{
    struct tf_welcome w = {.version = TFUSE_PROTOCOL_VERSION, .accepted = 0};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w.reason, sizeof w.reason, fmt, ap);
    va_end(ap);
    if (!c->dead)
        send_welcome(c, &w);
    return tft_conn_fail(c, code, "handshake refused: %s", w.reason);
}

static int read_hello(struct tf_conn *c, int64_t deadline, struct tf_hello *h, int *fd)
{
    uint8_t buf[TF_HELLO_MAX_SIZE];
    int rc = tft_sock_read_exact(c, buf, HANDSHAKE_FIXED, deadline, fd);
    if (rc)
        return rc == TF_ERR_TIMEOUT ? tft_conn_fail(c, rc, "no handshake within the timeout") : rc;
    size_t tlen = (size_t)buf[32] | (size_t)buf[33] << 8;
    size_t hlen = (size_t)buf[34] | (size_t)buf[35] << 8;
    char why[160];
    uint32_t magic = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 |
                     (uint32_t)buf[3] << 24;
    if (magic != TF_HELLO_MAGIC && buf[0] == 0x16 && buf[1] == 0x03)
        return refuse(c, TF_ERR_PROTOCOL, "a TLS client, but this session listener speaks "
                      "plain TCP (a node speaks TLS with --tls-cert and --tls-key)");
    if (magic != TF_HELLO_MAGIC)
        return refuse(c, TF_ERR_PROTOCOL, "not a TensorFuse handshake (magic 0x%08x)", magic);
    if (tlen > TF_TOKEN_MAX || hlen > TF_HOSTNAME_MAX)
        return refuse(c, TF_ERR_PROTOCOL, "handshake field too long (token %zu, host %zu)", tlen,
                      hlen);
    rc = tft_sock_read_exact(c, buf + HANDSHAKE_FIXED, tlen + hlen, deadline, fd);
    if (rc)
        return rc == TF_ERR_TIMEOUT ? tft_conn_fail(c, rc, "handshake incomplete") : rc;
    if (tf_hello_decode(buf, HANDSHAKE_FIXED + tlen + hlen, h, why, sizeof why))
        return refuse(c, TF_ERR_PROTOCOL, "%s", why);
    return TF_OK;
}

static int server_map_rings(struct tf_conn *c, const struct tf_hello *h, int fd)
{
    if (fd < 0)
        return refuse(c, TF_ERR_PROTOCOL, "shared-memory transport asked for, but no memfd sent");
    if (!valid_ring_size(h->ring_bytes))
        return refuse(c, TF_ERR_PROTOCOL, "ring size %llu is not a power of two in [%u, %u]",
                      (unsigned long long)h->ring_bytes, RING_BYTES_MIN, RING_BYTES_MAX);
    char why[160];
    void *map;
    size_t len = SHM_DATA_OFFSET + 2 * h->ring_bytes;
    if (tft_memfd_check_and_map(fd, len, &c->shm_len, &map, why, sizeof why))
        return refuse(c, TF_ERR_PROTOCOL, "shared-memory rings unusable: %s", why);
    c->shm = map;
    if (c->shm->magic != SHM_MAGIC || c->shm->version != TFUSE_PROTOCOL_VERSION ||
        c->shm->ring_bytes != h->ring_bytes)
        return refuse(c, TF_ERR_PROTOCOL, "shared-memory rings carry a bad header");
    attach_rings(c);
    if (c->in.pos != 0 || c->out.pos != 0 || c->in.peer_seen != 0 || c->out.peer_seen != 0)
        return refuse(c, TF_ERR_PROTOCOL, "shared-memory rings are not fresh");
    c->transport = TF_TRANSPORT_SHM;
    return TF_OK;
}

int tf_server_handshake(struct tf_conn *c, const struct tf_server_opts *opts,
                        struct tf_hello *hello)
{
    if (!c || !hello || !c->is_server || c->handshaken)
        return TF_ERR_INVALID;
    if (c->dead)
        return c->err_code;
    struct tf_server_opts o = opts ? *opts : (struct tf_server_opts){0};
    int fd = -1;
    int64_t deadline = tft_deadline_after(o.timeout_ms > 0 ? o.timeout_ms
                                                           : default_timeout_ms());
    int rc = c->tls ? tls_server_finish(c, deadline) : TF_OK;
    if (rc == TF_OK)
        rc = read_hello(c, deadline, hello, &fd);
    if (rc == TF_OK && hello->version != TFUSE_PROTOCOL_VERSION)
        rc = refuse(c, TF_ERR_VERSION,
                    "protocol version mismatch: client speaks version %u, this node speaks "
                    "version %u (tfuse %s)", hello->version, TFUSE_PROTOCOL_VERSION,
                    TFUSE_VERSION_STRING);
    bool want_shm = hello->transport != TF_TRANSPORT_STREAM;
    if (rc == TF_OK && c->is_unix && want_shm)
        rc = server_map_rings(c, hello, fd);
    else if (rc == TF_OK)
        c->transport = TF_TRANSPORT_STREAM;
    if (fd >= 0 && rc == TF_OK && c->transport == TF_TRANSPORT_SHM)
        c->shm_fd = fd;   /* kept: tf_conn_handoff_send passes the rings on (closed with c) */
    else if (fd >= 0)
        close(fd);   /* refused, or a stream session: the fd itself is not needed */
    if (rc)
        return rc;
    uint64_t limit = o.max_frame ? o.max_frame : TF_FRAME_MAX_DEFAULT;
    c->max_frame = hello->max_frame && hello->max_frame < limit ? hello->max_frame : limit;
    c->compress_asked = (int)(hello->compress <= TF_COMPRESS_ZSTD ? hello->compress : 0);
    if (!c->is_unix)
        c->peer_pid = hello->pid;   /* informational: not a pid on this host */
    return TF_OK;
}

int tf_server_accept(struct tf_conn *c, uint64_t session_id)
{
    if (!c || !c->is_server || c->handshaken || c->transport == 0)
        return TF_ERR_STATE;
    if (c->dead)
        return c->err_code;
    int grant = c->transport == TF_TRANSPORT_STREAM ? tft_compress_grant(c) : 0;
    struct tf_welcome w = {.version = TFUSE_PROTOCOL_VERSION, .accepted = 1,
                           .transport = c->transport, .session_id = session_id,
                           .max_frame = c->max_frame, .compress = (uint32_t)grant};
    uint8_t buf[TF_WELCOME_MAX_SIZE];
    int n = tf_welcome_encode(&w, buf, sizeof buf);
    struct iovec v = {buf, (size_t)n};
    int rc = tft_sock_write_all(c, &v, 1, -1);
    if (rc)
        return rc;
    c->session_id = session_id;
    c->compress = grant;
    tf_info("transport: session %llu accepted from %s over %s (compression %s)",
            (unsigned long long)session_id, c->peer, c->transport == TF_TRANSPORT_SHM
            ? "shared memory" : c->tls ? "TLS stream" : "stream", tf_compress_name(grant));
    return become_ready(c);
}

int tf_server_reject(struct tf_conn *c, const char *reason)
{
    if (!c || !c->is_server || c->handshaken || c->transport == 0)
        return TF_ERR_STATE;
    if (c->dead)
        return c->err_code;
    struct tf_welcome w = {.version = TFUSE_PROTOCOL_VERSION, .accepted = 0};
    snprintf(w.reason, sizeof w.reason, "%s", reason ? reason : "rejected");
    send_welcome(c, &w);
    tf_info("transport: rejected %s: %s", c->peer, w.reason);
    c->dead = true;
    c->err_code = TF_ERR_REJECTED;
    snprintf(c->err, sizeof c->err, "rejected: %.200s", w.reason);
    return TF_OK;
}
