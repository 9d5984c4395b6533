/*
 * The webhook's and the extender's HTTPS listener (see https.h). Calls libmicrohttpd,
 * src/common's pemfile and mhdtls, jansson (error bodies) and libc.
 */
#include "https.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdlimit.h"
#include "mhdtls.h"
#include "pemfile.h"

struct k8s_https {
    struct MHD_Daemon *daemon;
    k8s_https_fn fn;
    void *arg;
    size_t body_max;
    char host[256];
    uint16_t port;
};

struct body {
    char *data;
    size_t len;
    bool too_large;
};

char *k8s_https_error(const char *reason, const char *message)
{
    json_t *v = json_pack("{s:s, s:s}", "error", reason, "message", message);
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    return s;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *text)
{
    if (!text)
        text = strdup("");
    struct MHD_Response *r =
        text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!r) {
        free(text);
        return MHD_NO;
    }
    if (text[0])
        MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct k8s_https *s = cls;
    struct body *b = *con_cls;
    if (!b) {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->body_max)
            return reply(c, 413, k8s_https_error("invalid", "request body too large"));
        if (!(b = calloc(1, sizeof *b)))
            return MHD_NO;
        *con_cls = b;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (b->too_large || b->len + n > s->body_max) {
            b->too_large = true;   /* drained, answered 413 at the end */
            return MHD_YES;
        }
        char *d = realloc(b->data, b->len + n + 1);
        if (!d)
            return MHD_NO;
        memcpy(d + b->len, upload, n);
        b->data = d;
        b->len += n;
        d[b->len] = '\0';
        return MHD_YES;
    }
    if (b->too_large)
        return reply(c, 413, k8s_https_error("invalid", "request body too large"));
    char *resp = NULL;
    int status = s->fn(s->arg, method, url, b->data ? b->data : "", b->len, &resp);
    return reply(c, (unsigned)status, resp);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)c, (void)code;
    struct body *b = *con_cls;
    if (b) {
        free(b->data);
        free(b);
        *con_cls = NULL;
    }
}

static int parse_listen(const char *listen, struct k8s_https *s, struct sockaddr_in *sa,
                        char *err, size_t errlen)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    char *end;
    unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
    if (!colon || colon == listen || colon[1] == '\0' || *end || port > 65535 ||
        (size_t)(colon - listen) >= sizeof s->host) {
        snprintf(err, errlen, "--listen '%s': expected HOST:PORT", listen ? listen : "");
        return -1;
    }
    memcpy(s->host, listen, (size_t)(colon - listen));
    s->host[colon - listen] = '\0';
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, s->host, &sa->sin_addr) == 1)
        return 0;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(s->host, NULL, &hints, &res) != 0 || !res) {
        snprintf(err, errlen, "--listen: cannot resolve '%s'", s->host);
        return -1;
    }
    sa->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    return 0;
}

struct k8s_https *k8s_https_start(const char *listen, const char *cert_file,
                                  const char *key_file, size_t body_max, k8s_https_fn fn,
                                  void *arg, char *err, size_t errlen)
{
    if (!cert_file || !key_file) {
        snprintf(err, errlen, "--tls-cert and --tls-key are required: this listener is HTTPS only");
        return NULL;
    }
    if (tf_mhd_tls_check(err, errlen))
        return NULL;
    struct k8s_https *s = calloc(1, sizeof *s);
    struct sockaddr_in sa;
    struct tf_tls_pair tls = {0};
    if (!s || parse_listen(listen, s, &sa, err, errlen) ||
        tf_tls_pair_load(&tls, cert_file, key_file, err, errlen)) {
        if (!s)
            snprintf(err, errlen, "out of memory");
        free(s);
        return NULL;
    }
    s->fn = fn;
    s->arg = arg;
    s->body_max = body_max;
    tf_raise_fd_limit();
    struct MHD_OptionItem opt[3];
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | tf_mhd_tls_options(opt, tls.cert, tls.key);
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opt,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)K8S_HTTPS_MAX_CONNECTIONS,
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                 (unsigned)K8S_HTTPS_MAX_PER_HOST, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)K8S_HTTPS_IDLE_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED,
                                 on_completed, s, MHD_OPTION_END);
    tf_tls_pair_free(&tls);   /* GnuTLS keeps its own copy once the daemon started */
    if (!s->daemon) {
        snprintf(err, errlen, "cannot listen on %s (in use, or the certificate and key do "
                 "not match)", listen);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : ntohs(sa.sin_port);
    return s;
}

uint16_t k8s_https_port(const struct k8s_https *s)
{
    return s->port;
}

void k8s_https_stop(struct k8s_https *s)
{
    if (s) {
        MHD_stop_daemon(s->daemon);
        free(s);
    }
}

void k8s_block_stop_signals(void)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
}

static int write_ready(const char *path, const struct k8s_https *s)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int bad = fprintf(f, "https://%s:%u\n", s->host, s->port) < 0;
    bad |= fclose(f) != 0;
    return bad || rename(tmp, path) ? -1 : 0;   /* whole or absent: readers poll for it */
}

int k8s_serve(const char *who, const char *listen, const char *cert_file, const char *key_file,
              size_t body_max, k8s_https_fn fn, void *arg, const char *ready_file)
{
    char err[600];
    k8s_block_stop_signals();
    struct k8s_https *s = k8s_https_start(listen, cert_file, key_file, body_max, fn, arg, err,
                                          sizeof err);
    if (!s) {
        fprintf(stderr, "tfuse-k8s %s: %s\n", who, err);
        return 1;
    }
    printf("tfuse-k8s %s: listening on https://%s:%u\n", who, s->host, s->port);
    fflush(stdout);
    if (ready_file && write_ready(ready_file, s)) {
        fprintf(stderr, "tfuse-k8s %s: cannot write --ready-file %s\n", who, ready_file);
        k8s_https_stop(s);
        return 1;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    int sig;
    sigwait(&stop, &sig);
    k8s_https_stop(s);
    return 0;
}
