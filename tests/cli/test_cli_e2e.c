/*
 * `tfuse ps`, `tfuse top` and `tfuse vgpu list` run as a user runs them, against a node.
 *   test_cli_e2e node BUILD_DIR   a real `tfuse node --backend soft` with two vGPUs: tables,
 *                                 --json (parsed), top's plain snapshots off a terminal and its
 *                                 redraws under a pty, unreachable nodes, bad arguments.
 *   test_cli_e2e fake BUILD_DIR   a stand-in node over TCP (libmicrohttpd) that requires a bearer
 *                                 token and serves every field of the API, sessions included:
 *                                 the token is sent (--token, $TFUSE_NODE_TOKEN), a 401 is a
 *                                 clear error, and the sessions table shows what the node says.
 * Owns: nothing. May call: build/bin/tfuse, libmicrohttpd, jansson, cmocka, libc (pty).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../common/test_timeouts.h"

static char tfuse[4096], api[256], workdir[128];
static pid_t node_pid;

struct run {
    int status; /* exit code, or 128 + signal */
    char *out, *err;
};

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

static void append(char **buf, size_t *len, const char *p, size_t n)
{
    char *nb = realloc(*buf, *len + n + 1);
    assert_non_null(nb);
    memcpy(nb + *len, p, n);
    *len += n;
    nb[*len] = '\0';
    *buf = nb;
}

/* Runs tfuse with args (NULL-terminated) and an optional extra environment entry, capturing
 * stdout and stderr. */
static struct run run_tfuse(const char *env, const char *arg0, ...)
{
    const char *argv[32] = {tfuse, arg0};
    va_list ap;
    va_start(ap, arg0);
    int n = 2;
    while (n < 31 && (argv[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    int o[2], e[2];
    assert_int_equal(pipe(o), 0);
    assert_int_equal(pipe(e), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(o[1], 1);
        dup2(e[1], 2);
        close(o[0]), close(o[1]), close(e[0]), close(e[1]);
        if (env)
            putenv((char *)env);
        execv(tfuse, (char *const *)argv);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    struct run r = {0};
    size_t olen = 0, elen = 0;
    append(&r.out, &olen, "", 0);
    append(&r.err, &elen, "", 0);
    struct pollfd p[2] = {{o[0], POLLIN, 0}, {e[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0 && poll(p, 2, 30000) > 0) {
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP)))
                continue;
            char buf[4096];
            ssize_t k = read(p[i].fd, buf, sizeof buf);
            if (k <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
                open_fds--;
            } else if (i == 0) {
                append(&r.out, &olen, buf, (size_t)k);
            } else {
                append(&r.err, &elen, buf, (size_t)k);
            }
        }
    }
    int st;
    waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("not JSON (%s): %.300s", e.text, text);
    return j;
}

/* Every line of text is one JSON document with devices and vGPUs; returns how many. */
static int json_lines(const char *text)
{
    int n = 0;
    char *copy = strdup(text), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *j = parse(line);
        assert_true(json_is_array(json_object_get(j, "devices")));
        assert_true(json_is_array(json_object_get(j, "vgpus")));
        json_decref(j);
        n++;
    }
    free(copy);
    return n;
}

/* ---- a real node ---- */

static void stop_node(void)
{
    if (node_pid > 0) {
        kill(node_pid, SIGTERM);
        waitpid(node_pid, NULL, 0);
        node_pid = 0;
    }
    char sock[200];
    snprintf(sock, sizeof sock, "%s/api.sock", workdir);
    unlink(sock);
    snprintf(sock, sizeof sock, "%s/s.sock", workdir);
    unlink(sock);
    rmdir(workdir);
}

static int start_node(void **state)
{
    (void)state;
    snprintf(workdir, sizeof workdir, "/tmp/cli-e2e.XXXXXX");
    if (!mkdtemp(workdir))
        return -1;
    char sess[200], sock[200];
    snprintf(api, sizeof api, "unix:%s/api.sock", workdir);
    snprintf(sess, sizeof sess, "unix:%s/s.sock", workdir);
    snprintf(sock, sizeof sock, "%s/api.sock", workdir);
    node_pid = fork();
    if (node_pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(tfuse, tfuse, "node", "--backend", "soft", "--listen", sess, "--api", api,
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < tt_scaled_n(200); i++) {
        struct stat st;
        if (stat(sock, &st) == 0)
            break;
        usleep(50000);
    }
    struct run a = run_tfuse(NULL, "vgpu", "create", "--node", api, "--id", "cli-a", "--vram",
                             "1GiB", "--compute", "20%", NULL);
    struct run b = run_tfuse(NULL, "vgpu", "create", "--node", api, "--id", "cli-b", "--vram",
                             "512MiB", NULL);
    int ok = a.status == 0 && b.status == 0;
    if (!ok)
        fprintf(stderr, "vgpu create: %s%s", a.err, b.err);
    run_free(&a);
    run_free(&b);
    if (!ok) {
        stop_node();
        return -1;
    }
    return 0;
}

static int end_node(void **state)
{
    (void)state;
    stop_node();
    return 0;
}

static void test_ps_text(void **state)
{
    (void)state;
    struct run r = run_tfuse("COLUMNS=200", "ps", "--node", api, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "DEVICES\n"));
    assert_non_null(strstr(r.out, "VGPUS\n"));
    assert_non_null(strstr(r.out, "SESSIONS\n"));
    assert_non_null(strstr(r.out, "cli-a"));
    assert_non_null(strstr(r.out, "cli-b"));
    assert_non_null(strstr(r.out, "0 B / 1 GiB"));    /* memory against the limit */
    assert_non_null(strstr(r.out, "/ 20%"));          /* compute limit */
    assert_non_null(strstr(r.out, "[...................."));  /* an empty 20-cell bar */
    assert_null(strchr(r.out, '\033'));
    run_free(&r);
}

static void test_ps_json(void **state)
{
    (void)state;
    struct run r = run_tfuse(NULL, "ps", "--node", api, "--json", NULL);
    assert_int_equal(r.status, 0);
    json_t *j = parse(r.out), *v;
    assert_string_equal(json_string_value(json_object_get(j, "node")), api);
    json_t *dev = json_array_get(json_object_get(j, "devices"), 0);
    assert_non_null(json_string_value(json_object_get(dev, "uuid")));
    assert_true(json_integer_value(json_object_get(dev, "memory_bytes")) > 0);
    size_t i;
    int seen = 0;
    json_array_foreach(json_object_get(j, "vgpus"), i, v) {
        const char *id = json_string_value(json_object_get(v, "id"));
        json_int_t vram = json_integer_value(json_object_get(v, "vram_bytes"));
        if (id && strcmp(id, "cli-a") == 0) {
            assert_int_equal(vram, 1ll << 30);
            assert_float_equal(json_number_value(json_object_get(v, "compute_limit_pct")), 20.0,
                               1e-6);
            seen |= 1;
        } else if (id && strcmp(id, "cli-b") == 0) {
            assert_int_equal(vram, 512ll << 20);
            seen |= 2;
        }
    }
    assert_int_equal(seen, 3);
    assert_true(json_object_get(j, "sessions") != NULL); /* a list, or null on an older node */
    json_decref(j);
    run_free(&r);

    r = run_tfuse(NULL, "vgpu", "list", "--node", api, "--json", NULL);
    assert_int_equal(r.status, 0);
    j = parse(r.out);
    assert_int_equal(json_array_size(json_object_get(j, "vgpus")), 2);
    json_decref(j);
    run_free(&r);
}

static void test_top_plain(void **state)
{
    (void)state;
    struct run r = run_tfuse(NULL, "top", "--node", api, "--iterations", "2", "--interval",
                             "0.2", NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(count(r.out, "DEVICES\n"), 2);
    assert_int_equal(count(r.out, "cli-a"), 2);
    assert_null(strchr(r.out, '\033'));
    run_free(&r);

    r = run_tfuse(NULL, "top", "--node", api, "--iterations", "3", "--interval", "0.1", "--json",
                  NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_lines(r.out), 3);
    run_free(&r);
}

/* top with its stdout on a terminal 90 columns wide: redraws in place, restores the screen. */
static void test_top_pty(void **state)
{
    (void)state;
    int master, slave;
    struct winsize ws = {.ws_row = 50, .ws_col = 90};
    assert_int_equal(openpty(&master, &slave, NULL, NULL, &ws), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(master);
        setsid();
        dup2(slave, 0);
        dup2(slave, 1);
        dup2(slave, 2);
        execl(tfuse, tfuse, "top", "--node", api, "--iterations", "2", "--interval", "0.2",
              (char *)NULL);
        _exit(127);
    }
    close(slave);
    char *out = NULL;
    size_t len = 0;
    append(&out, &len, "", 0);
    char buf[4096];
    ssize_t k;
    struct pollfd p = {master, POLLIN, 0};
    while (poll(&p, 1, 20000) > 0 && (k = read(master, buf, sizeof buf)) > 0)
        append(&out, &len, buf, (size_t)k); /* EIO once the child has gone */
    int st;
    waitpid(pid, &st, 0);
    close(master);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_non_null(strstr(out, "\033[?1049h")); /* alternate screen */
    assert_int_equal(count(out, "\033[H"), 2);   /* two redraws from the top-left corner */
    assert_non_null(strstr(out, "\033[?1049l")); /* restored */
    assert_non_null(strstr(out, "cli-a"));
    /* every drawn line fits the 90 columns (a wrapped line would scroll the frame): the text
     * between one clear-to-end-of-line and the next, less line ends and escape codes */
    const char *line = strstr(out, "\033[H");
    const char *last = strstr(out, "\033[?1049l");
    int lines = 0;
    while (line && line < last) {
        const char *end = strstr(line, "\033[K");
        if (!end || end > last)
            break;
        int width = 0;
        for (const char *c = line; c < end; c++) {
            if (*c == '\033') {
                c += strcspn(c, "HJKhlm") ; /* skip the escape sequence */
                continue;
            }
            width += *c != '\r' && *c != '\n';
        }
        assert_true(width <= 90);
        lines++;
        line = end + 3;
    }
    assert_true(lines > 10);
    free(out);
}

static void test_unreachable(void **state)
{
    (void)state;
    struct run r = run_tfuse(NULL, "ps", "--node", "unix:/nonexistent/api.sock", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "cannot reach the node API at unix:/nonexistent/api.sock"));
    assert_string_equal(r.out, "");
    run_free(&r);
    r = run_tfuse(NULL, "top", "--node", "tcp:127.0.0.1:1", "--iterations", "2", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "cannot reach the node API at tcp:127.0.0.1:1"));
    run_free(&r);
    r = run_tfuse(NULL, "ps", "--node", "ftp://x", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "unix:PATH, tcp:HOST:PORT"));
    run_free(&r);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct run r = run_tfuse("TFUSE_NODE_API=", "ps", NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "need --node"));
    run_free(&r);
    r = run_tfuse(NULL, "top", "--node", api, "--interval", "0", NULL);
    assert_int_equal(r.status, 2);
    run_free(&r);
    r = run_tfuse(NULL, "top", "--node", api, "--iterations", "two", NULL);
    assert_int_equal(r.status, 2);
    run_free(&r);
    r = run_tfuse(NULL, "ps", "--node", api, "--interval", "1", NULL); /* top's flag */
    assert_int_equal(r.status, 2);
    run_free(&r);
    r = run_tfuse(NULL, "top", "--help", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "usage: tfuse top"));
    run_free(&r);
}

/* ---- a stand-in node that wants a token ---- */

#define FAKE_TOKEN "s3cret-token"
static struct MHD_Daemon *fake;
static char fake_addr[64];
static int fake_seen_bearer;

static const char *fake_body(const char *url)
{
    if (strcmp(url, "/api/v1/devices") == 0)
        return "{\"devices\":[{\"index\":0,\"uuid\":\"GPU-fake-0\",\"model\":\"FakeGPU\","
               "\"memory_bytes\":17179869184,\"tflops_fp16\":100.0,\"memory_limit_sum\":"
               "2147483648}]}";
    if (strcmp(url, "/api/v1/vgpus") == 0)
        return "{\"vgpus\":[{\"id\":\"fake-a\",\"device\":\"GPU-fake-0\",\"device_index\":0,"
               "\"vram_bytes\":2147483648,\"used_bytes\":1073741824,\"peak_bytes\":1610612736,"
               "\"qos\":\"high\",\"state\":\"live\",\"busy_ns\":1,\"launches\":77,"
               "\"processes\":1,\"compute_request_pct\":25.0,\"compute_limit_pct\":50.0,"
               "\"compute_used_pct\":37.5,\"throttled_seconds\":2.5,\"sessions\":1,"
               "\"connect\":\"tcp:127.0.0.1:1\"}]}";
    if (strcmp(url, "/api/v1/sessions") == 0)
        return "{\"sessions\":[{\"id\":\"4242\",\"worker_pid\":4242,\"client_pid\":null,"
               "\"host\":\"10.1.2.3\",\"transport\":\"tcp\",\"vgpu\":\"fake-a\",\"device\":"
               "\"GPU-fake-0\",\"memory_bytes\":1073741824,\"calls_total\":1234,"
               "\"errors_total\":5,\"launches_total\":77,\"started_unix\":1.0,"
               "\"last_call_unix\":null,\"state\":\"idle\"}]}";
    if (strcmp(url, "/api/v1/version") == 0)
        return "{\"version\":\"9.9.9-fake\"}";
    return NULL;
}

static enum MHD_Result fake_request(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version,
                                    const char *upload, size_t *upload_len, void **con)
{
    (void)cls, (void)version, (void)upload, (void)upload_len, (void)con;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *body = "{\"error\":\"unauthorized\",\"message\":\"bearer token required\"}";
    unsigned status = 401;
    if (auth && strcmp(auth, "Bearer " FAKE_TOKEN) == 0) {
        fake_seen_bearer = 1;
        const char *b = strcmp(method, "GET") == 0 ? fake_body(url) : NULL;
        status = b ? 200 : 404;
        body = b ? b : "{\"error\":\"not_found\",\"message\":\"no such route\"}";
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                                MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static int start_fake(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    snprintf(fake_addr, sizeof fake_addr, "tcp:127.0.0.1:%u", ntohs(sa.sin_port));
    fake = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, fake_request, NULL,
                            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_END);
    return fake ? 0 : -1;
}

static int stop_fake(void **state)
{
    (void)state;
    MHD_stop_daemon(fake);
    return 0;
}

static void test_token_and_sessions(void **state)
{
    (void)state;
    struct run r = run_tfuse("COLUMNS=220", "ps", "--node", fake_addr, "--token", FAKE_TOKEN,
                             NULL);
    assert_int_equal(r.status, 0);
    assert_true(fake_seen_bearer);
    assert_non_null(strstr(r.out, "version 9.9.9-fake"));
    assert_non_null(strstr(r.out, "[##########..........] 1 GiB / 2 GiB"));
    assert_non_null(strstr(r.out, "[###############.....] 38% / 50%"));
    assert_non_null(strstr(r.out, "2.5s"));       /* throttled */
    assert_non_null(strstr(r.out, "10.1.2.3"));   /* the session's host */
    assert_non_null(strstr(r.out, "idle"));
    assert_non_null(strstr(r.out, "1234"));       /* calls */
    run_free(&r);

    r = run_tfuse("TFUSE_NODE_TOKEN=" FAKE_TOKEN, "ps", "--node", fake_addr, "--json", NULL);
    assert_int_equal(r.status, 0);
    json_t *j = parse(r.out);
    json_t *s = json_array_get(json_object_get(j, "sessions"), 0);
    assert_int_equal(json_integer_value(json_object_get(s, "worker_pid")), 4242);
    assert_true(json_is_null(json_object_get(s, "client_pid")));
    json_decref(j);
    run_free(&r);

    r = run_tfuse("TFUSE_NODE_TOKEN=" FAKE_TOKEN, "vgpu", "list", "--node", fake_addr, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "fake-a"));
    run_free(&r);
}

static void test_token_refused(void **state)
{
    (void)state;
    struct run r = run_tfuse("TFUSE_NODE_TOKEN=", "ps", "--node", fake_addr, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "refused the API token (401)"));
    assert_non_null(strstr(r.err, "--token"));
    run_free(&r);
    r = run_tfuse(NULL, "top", "--node", fake_addr, "--token", "wrong", "--iterations", "1",
                  NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "401"));
    run_free(&r);
    r = run_tfuse(NULL, "vgpu", "list", "--node", fake_addr, "--token", "wrong", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "401"));
    run_free(&r);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "node") != 0 && strcmp(argv[1], "fake") != 0)) {
        fprintf(stderr, "usage: test_cli_e2e node|fake BUILD_DIR\n");
        return 2;
    }
    snprintf(tfuse, sizeof tfuse, "%s/bin/tfuse", argv[2]);
    signal(SIGPIPE, SIG_IGN);
    unsetenv("TFUSE_NODE_TOKEN");
    if (strcmp(argv[1], "fake") == 0) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_token_and_sessions),
            cmocka_unit_test(test_token_refused),
        };
        return cmocka_run_group_tests_name("cli_fake_node", tests, start_fake, stop_fake);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ps_text),     cmocka_unit_test(test_ps_json),
        cmocka_unit_test(test_top_plain),   cmocka_unit_test(test_top_pty),
        cmocka_unit_test(test_unreachable), cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests_name("cli_real_node", tests, start_node, end_node);
}
