/*
 * Blocking HTTP/JSON client (see httpc.h). Easy handles are kept in a small shared stack
 * between requests so that their connections are reused (keep-alive): a new TCP connection per
 * call costs more than the pool's whole allocation path. A handle is used by one thread at a
 * time (popped under the mutex) and reset before each request. Sockets are opened close-on-exec
 * so a kept-alive connection never outlives its process in a program it starts (the node's
 * workers, the child of `tfuse run`). Calls libcurl and libc.
 */
#include "httpc.h"
#include "pemfile.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define IDLE_HANDLES 32

static char *ca_file;   /* --ca-file; NULL: $TFUSE_CA_FILE or the system store */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static CURL *idle[IDLE_HANDLES];
static int nidle;

static CURL *take_handle(void)
{
    CURL *c = NULL;
    pthread_mutex_lock(&idle_lock);
    if (nidle > 0)
        c = idle[--nidle];
    pthread_mutex_unlock(&idle_lock);
    if (c)
        curl_easy_reset(c); /* options go, live connections stay */
    else
        c = curl_easy_init();
    return c;
}

static void give_back(CURL *c, bool reusable)
{
    if (reusable) {
        pthread_mutex_lock(&idle_lock);
        if (nidle < IDLE_HANDLES) {
            idle[nidle++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&idle_lock);
    }
    if (c)
        curl_easy_cleanup(c);
}

void tf_http_global_cleanup(void)
{
    pthread_mutex_lock(&idle_lock);
    while (nidle > 0)
        curl_easy_cleanup(idle[--nidle]);
    pthread_mutex_unlock(&idle_lock);
}

static void init_curl(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void tf_http_global_init(void)
{
    pthread_once(&once, init_curl);
}

struct sink {
    char *buf;
    size_t len;
    int overflow;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct sink *s = arg;
    size_t n = size * nmemb;
    if (s->len + n > TF_HTTP_RESPONSE_MAX) {
        s->overflow = 1;
        return 0; /* makes curl fail the transfer */
    }
    char *b = realloc(s->buf, s->len + n + 1);
    if (!b)
        return 0;
    memcpy(b + s->len, ptr, n);
    s->buf = b;
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

int tf_http_api_url(const char *addr, const char *path, char *url, size_t len,
                    const char **unix_socket, char *err, size_t errlen)
{
    *unix_socket = NULL;
    if (strncmp(addr, "unix:", 5) == 0) {
        *unix_socket = addr + 5;
        snprintf(url, len, "http://localhost%s", path);
    } else if (strncmp(addr, "tcp:", 4) == 0) {
        snprintf(url, len, "http://%s%s", addr + 4, path);
    } else if (strncmp(addr, "http://", 7) == 0 || strncmp(addr, "https://", 8) == 0) {
        snprintf(url, len, "%s%s", addr, path);
    } else {
        snprintf(err, errlen, "an API address must be unix:PATH, tcp:HOST:PORT, http://... or "
                              "https://..., not '%s'", addr);
        return -1;
    }
    return 0;
}

int tf_http_set_ca_file(const char *path, char *err, size_t errlen)
{
    char *copy = NULL;
    if (path) {
        if (tf_pem_check(path, "CERTIFICATE", err, errlen) != 0)
            return -1;
        if (!(copy = strdup(path))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    free(ca_file);
    ca_file = copy;
    return 0;
}

const char *tf_http_ca_file(void)
{
    const char *env = getenv("TFUSE_CA_FILE");
    return ca_file ? ca_file : env && *env ? env : NULL;
}

/* What went wrong, with the fix when the server's certificate was not trusted: an operator
 * reading "SSL peer certificate ... was not OK" should learn which flag answers it. */
static void describe_failure(CURLcode rc, const char *detail, int overflow, char *err,
                             size_t errlen)
{
    const char *why = overflow ? "response too large" : *detail ? detail : curl_easy_strerror(rc);
    if (rc == CURLE_PEER_FAILED_VERIFICATION)
        snprintf(err, errlen, "the server's TLS certificate is not trusted (%s): give the CA "
                              "that signed it with --ca-file FILE or TFUSE_CA_FILE", why);
    else if (rc == CURLE_SSL_CACERT_BADFILE)
        snprintf(err, errlen, "cannot use the CA file %s (%s)",
                 tf_http_ca_file() ? tf_http_ca_file() : "(system store)", why);
    else
        snprintf(err, errlen, "%s", why);
}

static curl_socket_t open_cloexec(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)arg, (void)purpose;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Content-Type, and Authorization when there is a bearer token fit to send. */
static struct curl_slist *headers(const char *bearer, const char *content_type)
{
    char ct[128] = "Content-Type: application/json";
    if (content_type && !strpbrk(content_type, "\r\n"))
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
    struct curl_slist *hdr = curl_slist_append(NULL, ct);
    if (!bearer || !*bearer || strpbrk(bearer, "\r\n"))   /* never a header-splitting token */
        return hdr;
    size_t n = strlen(bearer) + 32;
    char *auth = malloc(n);
    if (auth) {
        snprintf(auth, n, "Authorization: Bearer %s", bearer);
        struct curl_slist *more = curl_slist_append(hdr, auth);
        hdr = more ? more : hdr;
        free(auth);   /* curl_slist_append copies the string */
    }
    return hdr;
}

int tf_http_request(const char *method, const char *url, const char *json_body, long timeout_ms,
                    const struct tf_http_opts *opts, struct tf_http_response *resp, char *err,
                    size_t errlen)
{
    static const struct tf_http_opts none;
    if (!opts)
        opts = &none;
    tf_http_global_init();
    memset(resp, 0, sizeof *resp);
    CURL *c = take_handle();
    if (!c) {
        snprintf(err, errlen, "cannot create an HTTP client");
        return -1;
    }
    struct sink s = {0};
    struct curl_slist *hdr = headers(opts->bearer, opts->content_type);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (opts->unix_socket)
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, opts->unix_socket);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_cloexec);
    /* verification stays on (libcurl's default, said again so that no reset can lose it) */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (opts->ca_file || tf_http_ca_file())
        curl_easy_setopt(c, CURLOPT_CAINFO, opts->ca_file ? opts->ca_file : tf_http_ca_file());
    char detail[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, detail);
    if (json_body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(json_body));
    }
    CURLcode rc = curl_easy_perform(c);
    int ret = 0;
    if (rc != CURLE_OK) {
        describe_failure(rc, detail, s.overflow, err, errlen);
        free(s.buf);
        ret = -1;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        resp->body = s.buf ? s.buf : strdup("");
        resp->len = s.len;
        if (!resp->body) {
            snprintf(err, errlen, "out of memory");
            ret = -1;
        }
    }
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);   /* detail is about to go out of scope */
    curl_slist_free_all(hdr);
    give_back(c, rc == CURLE_OK);
    return ret;
}
