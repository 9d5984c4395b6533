/*
 * TLS for TCP sessions between hosts (tls:HOST:PORT): GnuTLS sessions over the transport's
 * non-blocking sockets. Owns loading GnuTLS, the credentials of a listener (the node's
 * certificate and key) and of a client (the CA it trusts: a file, else the system store), one
 * connection's TLS session, its handshake (the client's bounded by a deadline and verifying the
 * node's chain and host name; the server's driven a step at a time by the node's gate, so a
 * stalled handshake never blocks it) and record I/O for sock.c.
 *
 * GnuTLS is opened with dlopen on first use, not linked: the stub (libcuda.so.1) is loaded into
 * every CUDA program, also in containers without GnuTLS, and only a program that asks for
 * tls: needs it. The prototypes still come from <gnutls/gnutls.h> (each pointer is typed by
 * __typeof__ of the declared function), so a mismatch does not compile.
 *
 * A session survives fork (its state is plain memory): the node's gate shakes hands and reads
 * the hello, the worker it forks keeps the session, and the node frees its copy without a
 * close_notify (tft_tls_end with notify false).
 *
 * May call: GnuTLS (dlopen), libc, conn.c (tft_conn_fail, clocks).
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#define GNUTLS_SONAME "libgnutls.so.30"

#define TLS_FUNCS(X)                                                                            \
    X(gnutls_certificate_allocate_credentials) X(gnutls_certificate_free_credentials)           \
    X(gnutls_certificate_set_x509_key_mem) X(gnutls_certificate_set_x509_trust_file)          \
    X(gnutls_certificate_set_x509_system_trust) X(gnutls_certificate_verification_status_print) \
    X(gnutls_session_get_verify_cert_status) X(gnutls_session_set_verify_cert)                 \
    X(gnutls_init) X(gnutls_deinit) X(gnutls_set_default_priority) X(gnutls_credentials_set)    \
    X(gnutls_transport_set_ptr) X(gnutls_transport_set_push_function)                         \
    X(gnutls_transport_set_pull_function) X(gnutls_transport_set_pull_timeout_function)        \
    X(gnutls_handshake) X(gnutls_record_recv) X(gnutls_record_send)                           \
    X(gnutls_record_get_direction) X(gnutls_bye)                                              \
    X(gnutls_strerror) X(gnutls_error_is_fatal) X(gnutls_alert_get) X(gnutls_alert_get_name)   \
    X(gnutls_server_name_set) X(gnutls_alert_send_appropriate)                               \
    X(gnutls_transport_set_vec_push_function)

static struct {
#define TLS_PTR(name) __typeof__(name) *name;
    TLS_FUNCS(TLS_PTR)
#undef TLS_PTR
    gnutls_free_function *free_fn;   /* gnutls_free is a variable holding the function */
} T;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_error[300];

struct tft_tls_cred {
    gnutls_certificate_credentials_t x;
};

struct tft_tls {
    gnutls_session_t s;
    int fd;
    bool server, handshaken;
    uint64_t received;                 /* bytes taken from the socket: the gate's progress */
    uint8_t first[4];                  /* the peer's first bytes: a plaintext answer shows here */
    size_t nfirst;
    /* Bytes read from the socket ahead of GnuTLS: it asks for a record's header, then for its
     * body, so reading only what it asks costs two recv calls a record; one recv here takes in
     * many small records (pipelined launches) at once. Every wait in the transport comes after
     * a read that found nothing, so bytes held here are never waited for. */
    uint8_t *in;
    size_t in_pos, in_len;
    /* Records of one frame gathered before they are sent (tft_tls_gather): a 64 MiB copy is
     * 4096 records, and one send each costs more than the encryption. Empty between frames,
     * and so at fork. */
    bool gather;
    uint8_t *out;
    size_t out_len;
};

#define GATHER_MAX (1u << 20)

#define PULL_AHEAD (1u << 20)

static void load_gnutls(void)
{
    void *dl = dlopen(GNUTLS_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        snprintf(load_error, sizeof load_error, "TLS needs GnuTLS (%s), which cannot be loaded: "
                 "%s", GNUTLS_SONAME, dlerror());
        return;
    }
#define TLS_SYM(name)                                                                           \
    if (!(T.name = (__typeof__(name) *)dlsym(dl, #name))) {                                     \
        snprintf(load_error, sizeof load_error, "%s lacks %s: GnuTLS 3.6 or newer is needed",   \
                 GNUTLS_SONAME, #name);                                                         \
        return;                                                                                 \
    }
    TLS_FUNCS(TLS_SYM)
#undef TLS_SYM
    if (!(T.free_fn = (gnutls_free_function *)dlsym(dl, "gnutls_free")))
        snprintf(load_error, sizeof load_error, "%s lacks gnutls_free", GNUTLS_SONAME);
}

static int tls_ready(char *err, size_t errlen)
{
    pthread_once(&load_once, load_gnutls);
    if (!load_error[0])
        return TF_OK;
    if (err && errlen)
        snprintf(err, errlen, "%s", load_error);
    return TF_ERR_NOT_SUPPORTED;
}

/* ---- the socket under a session: plain recv/send, counting and remembering the first bytes */

static ssize_t sock_recv(struct tft_tls *t, void *buf, size_t len)
{
    ssize_t n = recv(t->fd, buf, len, 0);
    if (n > 0) {
        for (size_t i = 0; t->nfirst < sizeof t->first && i < (size_t)n; i++)
            t->first[t->nfirst++] = ((uint8_t *)buf)[i];
        t->received += (uint64_t)n;
    }
    return n;
}

static ssize_t pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
    struct tft_tls *t = p;
    if (t->in_pos == t->in_len) {
        if (!t->in || len >= PULL_AHEAD)
            return sock_recv(t, buf, len);
        ssize_t n = sock_recv(t, t->in, PULL_AHEAD);
        if (n <= 0)
            return n;
        t->in_pos = 0;
        t->in_len = (size_t)n;
    }
    size_t n = t->in_len - t->in_pos < len ? t->in_len - t->in_pos : len;
    memcpy(buf, t->in + t->in_pos, n);
    t->in_pos += n;
    return (ssize_t)n;
}

/* Appends to the gathered records; when they are full, sends them first. -1 with EAGAIN when
 * the socket takes nothing: GnuTLS then returns GNUTLS_E_AGAIN and is called again. */
static int send_gathered(struct tft_tls *t)
{
    ssize_t n = send(t->fd, t->out, t->out_len, MSG_NOSIGNAL);
    if (n < 0)
        return -1;
    memmove(t->out, t->out + n, t->out_len - (size_t)n);
    t->out_len -= (size_t)n;
    return 0;
}

static ssize_t gather(struct tft_tls *t, const uint8_t *buf, size_t len)
{
    if (t->out_len + len > GATHER_MAX && t->out_len > 0 && send_gathered(t) < 0)
        return -1;
    if (t->out_len + len > GATHER_MAX)
        return t->out_len ? (errno = EAGAIN, -1) : send(t->fd, buf, len, MSG_NOSIGNAL);
    memcpy(t->out + t->out_len, buf, len);
    t->out_len += len;
    return (ssize_t)len;
}

static ssize_t push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
    struct tft_tls *t = p;
    if (t->gather && t->out)
        return gather(t, buf, len);
    return send(t->fd, buf, len, MSG_NOSIGNAL);
}

/* A record's pieces (header, body, tag) at once. */
static ssize_t vec_push(gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
    struct tft_tls *t = p;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (t->gather && t->out && t->out_len + total <= GATHER_MAX) {
        for (int i = 0; i < iovcnt; i++) {
            memcpy(t->out + t->out_len, iov[i].iov_base, iov[i].iov_len);
            t->out_len += iov[i].iov_len;
        }
        return (ssize_t)total;
    }
    if (t->gather && t->out && t->out_len > 0) {   /* full: send what is gathered first */
        if (send_gathered(t) < 0)
            return -1;
        if (t->out_len + total > GATHER_MAX)
            return errno = EAGAIN, -1;
        return vec_push(p, iov, iovcnt);
    }
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
    return sendmsg(t->fd, &m, MSG_NOSIGNAL);
}

static int pull_timeout(gnutls_transport_ptr_t p, unsigned int ms)
{
    struct tft_tls *t = p;
    if (t->in_pos < t->in_len)
        return 1;
    struct pollfd pf = {t->fd, POLLIN, 0};
    return poll(&pf, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
}

/* ---- credentials ---- */

int tft_tls_cred_server(const char *cert_pem, const char *key_pem, struct tft_tls_cred **out,
                        char *err, size_t errlen)
{
    *out = NULL;
    int rc = tls_ready(err, errlen);
    if (rc)
        return rc;
    struct tft_tls_cred *cr = calloc(1, sizeof *cr);
    if (!cr || T.gnutls_certificate_allocate_credentials(&cr->x) < 0) {
        free(cr);
        return TF_ERR_NOMEM;
    }
    gnutls_datum_t c = {(unsigned char *)cert_pem, (unsigned)strlen(cert_pem)};
    gnutls_datum_t k = {(unsigned char *)key_pem, (unsigned)strlen(key_pem)};
    int g = T.gnutls_certificate_set_x509_key_mem(cr->x, &c, &k, GNUTLS_X509_FMT_PEM);
    if (g < 0) {
        snprintf(err, errlen, "the session listener's certificate and key: %s",
                 T.gnutls_strerror(g));
        tft_tls_cred_free(cr);
        return TF_ERR_INVALID;
    }
    *out = cr;
    return TF_OK;
}

void tft_tls_cred_free(struct tft_tls_cred *cr)
{
    if (!cr)
        return;
    T.gnutls_certificate_free_credentials(cr->x);
    free(cr);
}

/* The client's trust: ca_file, else $TFUSE_CA_FILE, else the system store. */
static int client_cred(const char *ca_file, gnutls_certificate_credentials_t *x, char *err,
                       size_t errlen)
{
    if (T.gnutls_certificate_allocate_credentials(x) < 0)
        return TF_ERR_NOMEM;
    if (!ca_file || !*ca_file)
        ca_file = getenv("TFUSE_CA_FILE");
    int g = ca_file && *ca_file
                ? T.gnutls_certificate_set_x509_trust_file(*x, ca_file, GNUTLS_X509_FMT_PEM)
                : T.gnutls_certificate_set_x509_system_trust(*x);
    if (g > 0)
        return TF_OK;
    if (ca_file && *ca_file)
        snprintf(err, errlen, "CA file %s (TFUSE_CA_FILE): %s", ca_file,
                 g == 0 ? "no PEM certificate in it" : T.gnutls_strerror(g));
    else
        snprintf(err, errlen, "the system's CA store is empty or unreadable (%s): give the "
                 "node's CA with TFUSE_CA_FILE", g == 0 ? "no certificate" : T.gnutls_strerror(g));
    T.gnutls_certificate_free_credentials(*x);
    return TF_ERR_INVALID;
}

/* ---- sessions ---- */

static int session_new(struct tf_conn *c, bool server, void *cred, char *err, size_t errlen)
{
    struct tft_tls *t = calloc(1, sizeof *t);
    if (!t)
        return TF_ERR_NOMEM;
    t->fd = c->fd;
    t->server = server;
    t->in = malloc(PULL_AHEAD);   /* without it, reads go to the socket as GnuTLS asks */
    t->out = malloc(GATHER_MAX);  /* without it, each record is sent as it is made */
    /* No tickets: a session is one connection and never resumed, and a ticket the server sends
     * after the handshake would be bytes the node's gate reads for the forked worker. */
    unsigned flags = (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK |
                     GNUTLS_NO_SIGNAL | GNUTLS_NO_TICKETS;
    int g = T.gnutls_init(&t->s, flags);
    if (g >= 0)
        g = T.gnutls_set_default_priority(t->s);
    if (g >= 0)
        g = T.gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, cred);
    if (g < 0) {
        snprintf(err, errlen, "TLS session: %s", T.gnutls_strerror(g));
        if (t->s)
            T.gnutls_deinit(t->s);
        free(t->in);
        free(t->out);
        free(t);
        return TF_ERR_SYS;
    }
    T.gnutls_transport_set_ptr(t->s, t);
    T.gnutls_transport_set_pull_function(t->s, pull);
    T.gnutls_transport_set_push_function(t->s, push);
    T.gnutls_transport_set_vec_push_function(t->s, vec_push);
    T.gnutls_transport_set_pull_timeout_function(t->s, pull_timeout);
    c->tls = t;
    return TF_OK;
}

int tft_tls_accept(struct tf_conn *c, struct tft_tls_cred *cred)
{
    char err[200];
    int rc = session_new(c, true, cred->x, err, sizeof err);
    if (rc)
        tft_conn_fail(c, rc, "%s", err);
    return rc;
}

/* The peer's first bytes are a TensorFuse welcome: a plain node answered a TLS client. */
static bool answered_plain(const struct tft_tls *t)
{
    uint8_t magic[4] = {TF_WELCOME_MAGIC & 0xff, (TF_WELCOME_MAGIC >> 8) & 0xff,
                        (TF_WELCOME_MAGIC >> 16) & 0xff, TF_WELCOME_MAGIC >> 24};
    return t->nfirst == sizeof magic && memcmp(t->first, magic, sizeof magic) == 0;
}

/* A message into why; a long peer name cuts it, which still says enough (through vsnprintf:
 * -O2's format-truncation check would refuse the equivalent snprintf calls). */
static void say(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

/* Words for a failed handshake (g its GnuTLS code). */
static void handshake_why(struct tf_conn *c, int g, char *why, size_t len)
{
    struct tft_tls *t = c->tls;
    if (!t->server && answered_plain(t)) {
        say(why, len, "%s answered in plain text: its session listener does not speak TLS "
                 "(a node speaks TLS on tcp with --tls-cert and --tls-key); not falling back "
                 "to plain TCP", c->peer);
        return;
    }
    if (g == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
        gnutls_datum_t d = {NULL, 0};
        unsigned st = T.gnutls_session_get_verify_cert_status(t->s);
        T.gnutls_certificate_verification_status_print(st, GNUTLS_CRT_X509, &d, 0);
        char text[200];
        snprintf(text, sizeof text, "%s", d.data ? (char *)d.data : "verification failed");
        size_t n = strlen(text);
        while (n && (text[n - 1] == ' ' || text[n - 1] == '.'))
            text[--n] = '\0';
        say(why, len, "the certificate of %s is not trusted (%s): give the CA that signed "
                 "it with TFUSE_CA_FILE, and give the certificate a subjectAltName with the "
                 "host name used here", c->peer, text);
        if (d.data)
            (*T.free_fn)(d.data);
        return;
    }
    if (g == GNUTLS_E_WARNING_ALERT_RECEIVED || g == GNUTLS_E_FATAL_ALERT_RECEIVED) {
        say(why, len, "%s refused the TLS handshake (alert: %s)", c->peer,
                 T.gnutls_alert_get_name(T.gnutls_alert_get(t->s)));
        return;
    }
    if (g == GNUTLS_E_PREMATURE_TERMINATION || g == GNUTLS_E_PUSH_ERROR ||
        g == GNUTLS_E_PULL_ERROR) {
        say(why, len, "%s closed the connection during the TLS handshake%s", c->peer,
                 t->server ? " (as a client that does not trust this node's certificate does)"
                           : "");
        return;
    }
    say(why, len, "TLS handshake with %s failed: %s", c->peer, T.gnutls_strerror(g));
}

short tft_tls_events(const struct tf_conn *c)
{
    return T.gnutls_record_get_direction(c->tls->s) ? POLLOUT : POLLIN;
}

int tft_tls_step(struct tf_conn *c)
{
    struct tft_tls *t = c->tls;
    if (t->handshaken)
        return 1;
    int g = T.gnutls_handshake(t->s);
    if (g == GNUTLS_E_SUCCESS) {
        t->handshaken = true;
        return 1;
    }
    if (g == GNUTLS_E_AGAIN || g == GNUTLS_E_INTERRUPTED || !T.gnutls_error_is_fatal(g))
        return 0;
    char why[400];
    handshake_why(c, g, why, sizeof why);
    T.gnutls_alert_send_appropriate(t->s, g);   /* the peer learns why; best effort */
    return tft_conn_fail_quietly(c, TF_ERR_PROTOCOL, "%s", why);
}

int tft_tls_wait(struct tf_conn *c, int64_t deadline)
{
    int64_t left = deadline < 0 ? TF_LIVENESS_MS : (deadline - tft_now_ns()) / 1000000;
    if (left <= 0)
        return TF_ERR_TIMEOUT;
    struct pollfd pf = {c->fd, tft_tls_events(c), 0};
    if (poll(&pf, 1, left < TF_LIVENESS_MS ? (int)left + 1 : TF_LIVENESS_MS) < 0 &&
        errno != EINTR)
        return TF_ERR_SYS;
    return TF_OK;
}

static bool is_ip_literal(const char *host)
{
    unsigned char b[16];
    return inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1;
}

int tft_tls_connect(struct tf_conn *c, const char *host, const char *ca_file, int64_t deadline,
                    char *err, size_t errlen)
{
    int rc = tls_ready(err, errlen);
    if (rc)
        return rc;
    gnutls_certificate_credentials_t x;
    if ((rc = client_cred(ca_file, &x, err, errlen)))
        return rc;
    c->tls_client_cred = x;
    if ((rc = session_new(c, false, x, err, errlen)))
        return rc;
    if (!is_ip_literal(host))   /* SNI names hosts only (RFC 6066) */
        T.gnutls_server_name_set(c->tls->s, GNUTLS_NAME_DNS, host, strlen(host));
    T.gnutls_session_set_verify_cert(c->tls->s, host, 0);   /* chain and host name */
    for (;;) {
        rc = tft_tls_step(c);
        if (rc == 1)
            return TF_OK;
        if (rc < 0) {
            snprintf(err, errlen, "%s", c->err);
            return rc;
        }
        if ((rc = tft_tls_wait(c, deadline))) {
            snprintf(err, errlen, "TLS handshake with %s: %s", c->peer,
                     rc == TF_ERR_TIMEOUT ? "no answer in time" : strerror(errno));
            return rc;
        }
    }
}

/* ---- records ---- */

static int record_error(struct tf_conn *c, ssize_t g, const char *what)
{
    if (g == GNUTLS_E_AGAIN || g == GNUTLS_E_INTERRUPTED)
        return TF_ERR_AGAIN;
    if (g == 0 || g == GNUTLS_E_PREMATURE_TERMINATION || g == GNUTLS_E_PUSH_ERROR ||
        g == GNUTLS_E_PULL_ERROR)
        return tft_conn_fail(c, TF_ERR_CLOSED, "peer %s closed the connection", c->peer);
    return tft_conn_fail(c, TF_ERR_PROTOCOL, "TLS %s from %s: %s", what, c->peer,
                         T.gnutls_strerror((int)g));
}

ssize_t tft_tls_recv(struct tf_conn *c, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = T.gnutls_record_recv(c->tls->s, buf, len);
        if (n > 0)
            return n;
        if (n == GNUTLS_E_REHANDSHAKE || n == GNUTLS_E_WARNING_ALERT_RECEIVED)
            continue;   /* nothing to do about either: read on */
        return record_error(c, n, "receive");
    }
}

ssize_t tft_tls_send(struct tf_conn *c, const void *buf, size_t len)
{
    ssize_t n = T.gnutls_record_send(c->tls->s, buf, len);
    return n > 0 ? n : record_error(c, n ? n : GNUTLS_E_PUSH_ERROR, "send");
}

int tft_tls_gather(struct tf_conn *c, bool on)
{
    c->tls->gather = on;
    return on ? TF_OK : tft_tls_flush(c);
}

int tft_tls_flush(struct tf_conn *c)
{
    struct tft_tls *t = c->tls;
    while (t->out_len > 0) {
        ssize_t n = send(t->fd, t->out, t->out_len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return TF_ERR_AGAIN;
        if (n < 0)
            return errno == EPIPE || errno == ECONNRESET
                       ? tft_conn_fail(c, TF_ERR_CLOSED, "peer %s went away", c->peer)
                       : tft_conn_fail(c, TF_ERR_SYS, "send: %s", strerror(errno));
        memmove(t->out, t->out + n, t->out_len - (size_t)n);
        t->out_len -= (size_t)n;
    }
    return TF_OK;
}

bool tft_tls_handshaken(const struct tf_conn *c)
{
    return c->tls && c->tls->handshaken;
}

uint64_t tft_tls_received(const struct tf_conn *c)
{
    return c->tls ? c->tls->received : 0;
}

void tft_tls_end(struct tf_conn *c, bool notify)
{
    struct tft_tls *t = c->tls;
    if (t) {
        if (notify && t->handshaken && !c->dead)
            T.gnutls_bye(t->s, GNUTLS_SHUT_WR);   /* non-blocking: best effort */
        T.gnutls_deinit(t->s);
        free(t->in);
        free(t->out);
        free(t);
        c->tls = NULL;
    }
    if (c->tls_client_cred) {
        T.gnutls_certificate_free_credentials(c->tls_client_cred);
        c->tls_client_cred = NULL;
    }
}
