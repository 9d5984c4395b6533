/*
 * grpcsrv (src/k8s/grpcsrv.h): the unary server and client in one process, the socket file's
 * rules (mode 0600, stale socket replaced, a live one or a non-socket left alone), the bound on
 * concurrent calls and on message size. `test_grpcsrv serve PATH` runs a server for
 * grpcsrv_client.py (Debian's python3-grpcio), which checks streams against another gRPC
 * implementation: a client that goes away, and a server that stops during a stream.
 * May call: grpcsrv.h, POSIX.
 */
#include "grpcsrv.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int failures;
#define CHECK(c)                                                                               \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);              \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

static atomic_int in_slow, release_slow, streams_gone, streams_started;

static int echo(void *arg, const uint8_t *req, size_t len, uint8_t **resp, size_t *rlen,
                char *msg, size_t msglen)
{
    if (len && req[0] == '!') {
        snprintf(msg, msglen, "refused: %.*s", (int)len - 1, (const char *)req + 1);
        return K8S_GRPC_FAILED_PRECONDITION;
    }
    if (len == 1 && req[0] == 'B') { /* a response over the limit */
        *rlen = K8S_GRPC_MAX_MESSAGE + 1;
        *resp = calloc(1, *rlen);
        return K8S_GRPC_OK;
    }
    *resp = malloc(len + 1);
    memcpy(*resp, req, len);
    (*resp)[len] = (uint8_t)(uintptr_t)arg;
    *rlen = len + 1;
    return K8S_GRPC_OK;
}

static int empty(void *arg, const uint8_t *req, size_t len, uint8_t **resp, size_t *rlen,
                 char *msg, size_t msglen)
{
    return K8S_GRPC_OK;
}

static int slow(void *arg, const uint8_t *req, size_t len, uint8_t **resp, size_t *rlen,
                char *msg, size_t msglen)
{
    atomic_fetch_add(&in_slow, 1);
    for (int i = 0; i < 60000 && !atomic_load(&release_slow); i++)
        usleep(1000);
    return K8S_GRPC_OK;
}

static int stats(void *arg, const uint8_t *req, size_t len, uint8_t **resp, size_t *rlen,
                 char *msg, size_t msglen)
{
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%d %d", atomic_load(&streams_started),
                     atomic_load(&streams_gone));
    *resp = malloc((size_t)n);
    memcpy(*resp, buf, (size_t)n);
    *rlen = (size_t)n;
    return K8S_GRPC_OK;
}

/* sends req[0] numbered messages, then waits for the client or the server to end the call */
static int counter(void *arg, const uint8_t *req, size_t len, struct k8s_grpc_stream *s)
{
    atomic_fetch_add(&streams_started, 1);
    int n = len ? req[0] : 0;
    for (int i = 0; i < n; i++) {
        uint8_t m[2] = {'#', (uint8_t)i};
        if (k8s_grpc_stream_send(s, m, sizeof(m)) < 0)
            goto gone;
    }
    for (;;) /* the real plugins wait like this between updates */
        if (k8s_grpc_stream_wait(s, 200) < 0)
            goto gone;
gone:
    atomic_fetch_add(&streams_gone, 1);
    return K8S_GRPC_CANCELLED;
}

static struct k8s_grpc_server *serve(const char *path, char *err, size_t errlen)
{
    struct k8s_grpc_server *s = k8s_grpc_server_new(path, err, errlen);
    if (!s)
        return NULL;
    if (k8s_grpc_server_add_unary(s, "/t.T/Echo", echo, (void *)(uintptr_t)'+') ||
        k8s_grpc_server_add_unary(s, "/t.T/Empty", empty, NULL) ||
        k8s_grpc_server_add_unary(s, "/t.T/Slow", slow, NULL) ||
        k8s_grpc_server_add_unary(s, "/t.T/Stats", stats, NULL) ||
        k8s_grpc_server_add_stream(s, "/t.T/Count", counter, NULL) ||
        k8s_grpc_server_start(s, err, errlen)) {
        k8s_grpc_server_free(s);
        return NULL;
    }
    return s;
}

static int call(const char *path, const char *method, const char *req, char *out, size_t outlen,
                char *err)
{
    uint8_t *resp;
    size_t rlen;
    int code = k8s_grpc_call_unary(path, method, (const uint8_t *)req, strlen(req), &resp,
                                   &rlen, 30000, err, 256);
    if (out)
        snprintf(out, outlen, "%.*s", (int)rlen, resp ? (const char *)resp : "");
    free(resp);
    return code;
}

static void test_unary(const char *path)
{
    char err[256], out[64];
    struct k8s_grpc_server *s = serve(path, err, sizeof(err));
    CHECK(s);
    if (!s)
        return (void)fprintf(stderr, "serve: %s\n", err);
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600);
    CHECK(call(path, "/t.T/Echo", "hello", out, sizeof(out), err) == K8S_GRPC_OK);
    CHECK(!strcmp(out, "hello+"));
    CHECK(call(path, "/t.T/Echo", "!no reason", out, sizeof(out), err) ==
          K8S_GRPC_FAILED_PRECONDITION);
    CHECK(!strcmp(err, "refused: no reason"));
    CHECK(call(path, "/t.T/Empty", "x", out, sizeof(out), err) == K8S_GRPC_OK && !out[0]);
    CHECK(call(path, "/t.T/Nope", "x", out, sizeof(out), err) == K8S_GRPC_UNIMPLEMENTED);
    CHECK(strstr(err, "/t.T/Nope") != NULL);
    CHECK(call(path, "/t.T/Echo", "B", out, sizeof(out), err) == K8S_GRPC_RESOURCE_EXHAUSTED);
    /* a second server on a live socket is refused and the first keeps answering */
    struct k8s_grpc_server *s2 = serve(path, err, sizeof(err));
    CHECK(!s2 && strstr(err, "in use"));
    CHECK(call(path, "/t.T/Echo", "a", out, sizeof(out), err) == K8S_GRPC_OK);
    k8s_grpc_server_free(s);
    CHECK(access(path, F_OK) != 0); /* our socket file goes with us */
    CHECK(call(path, "/t.T/Echo", "a", out, sizeof(out), err) == K8S_GRPC_UNAVAILABLE);
}

static void test_socket_file(const char *path)
{
    char err[256], out[64];
    /* a stale socket: bound by a process that is gone */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    CHECK(snprintf(a.sun_path, sizeof(a.sun_path), "%s", path) < (int)sizeof(a.sun_path));
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    close(fd);
    struct k8s_grpc_server *s = serve(path, err, sizeof(err));
    CHECK(s);
    CHECK(call(path, "/t.T/Echo", "z", out, sizeof(out), err) == K8S_GRPC_OK);
    k8s_grpc_server_free(s);
    /* a regular file is nobody's socket: refused, left as it was */
    FILE *f = fopen(path, "w");
    fputs("keep", f);
    fclose(f);
    s = serve(path, err, sizeof(err));
    CHECK(!s && strstr(err, "not a socket"));
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 4);
    unlink(path);
    s = serve("/nonexistent-folder/t.sock", err, sizeof(err)); /* bind fails after create */
    CHECK(!s && strstr(err, "cannot listen"));
    CHECK(!k8s_grpc_server_new("", err, sizeof(err)));
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = 0;
    CHECK(!k8s_grpc_server_new(longp, err, sizeof(err)) && strstr(err, "too long"));
    s = k8s_grpc_server_new(path, err, sizeof(err));
    CHECK(k8s_grpc_server_add_unary(s, "noslash", echo, NULL) == -1);
    CHECK(k8s_grpc_server_add_unary(s, "/a.B/C", echo, NULL) == 0);
    CHECK(k8s_grpc_server_add_unary(s, "/a.B/C", echo, NULL) == -1);
    k8s_grpc_server_free(s); /* never started */
}

static void *slow_client(void *p)
{
    char err[256];
    return (void *)(intptr_t)call(p, "/t.T/Slow", "s", NULL, 0, err);
}

static void test_bound(const char *path)
{
    char err[256], out[64];
    struct k8s_grpc_server *s = serve(path, err, sizeof(err));
    CHECK(s);
    if (!s)
        return;
    pthread_t th[K8S_GRPC_MAX_CALLS];
    for (int i = 0; i < K8S_GRPC_MAX_CALLS; i++)
        pthread_create(&th[i], NULL, slow_client, (void *)path);
    for (int i = 0; i < 60000 && atomic_load(&in_slow) < K8S_GRPC_MAX_CALLS; i++)
        usleep(1000);
    CHECK(atomic_load(&in_slow) == K8S_GRPC_MAX_CALLS); /* every handler on its own thread */
    CHECK(call(path, "/t.T/Echo", "x", out, sizeof(out), err) == K8S_GRPC_RESOURCE_EXHAUSTED);
    atomic_store(&release_slow, 1);
    for (int i = 0; i < K8S_GRPC_MAX_CALLS; i++) {
        void *rc;
        pthread_join(th[i], &rc);
        CHECK((intptr_t)rc == K8S_GRPC_OK);
    }
    CHECK(call(path, "/t.T/Echo", "x", out, sizeof(out), err) == K8S_GRPC_OK);
    k8s_grpc_server_free(s);
}

/* for grpcsrv_client.py: serve until stdin closes, then stop (during its stream) */
static int serve_main(const char *path)
{
    char err[256], line[16];
    struct k8s_grpc_server *s = serve(path, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "test_grpcsrv: %s\n", err);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin)) {
    }
    k8s_grpc_server_free(s);
    printf("stopped %d %d\n", atomic_load(&streams_started), atomic_load(&streams_gone));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "serve"))
        return serve_main(argv[2]);
    char dir[] = "/tmp/grpcsrv-XXXXXX", path[128];
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof(path), "%s/t.sock", dir);
    test_unary(path);
    test_socket_file(path);
    test_bound(path);
    unlink(path);
    rmdir(dir);
    if (failures)
        fprintf(stderr, "test_grpcsrv: %d failures\n", failures);
    else
        printf("test_grpcsrv: ok\n");
    return failures ? 1 : 0;
}
