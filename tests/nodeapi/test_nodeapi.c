/*
 * The node's HTTP API and metrics end to end (issue 5): a real `tfuse node --backend soft` with a
 * tcp API (bearer token from TFUSE_NODE_TOKEN) and a unix API, driven over real HTTP with libcurl.
 * Checks vGPU create/list/get/delete, bad bodies (answered with the right status and nothing
 * created), authentication, sessions while a program runs through `tfuse run` (prog_iso, a
 * driver-API program) and after it ended, and /metrics parsed and checked (promparse.c), plus
 * `promtool check metrics` when promtool is installed.
 *
 *   test_nodeapi BUILD_DIR
 *
 * Owns: nothing. May call: libcurl, jansson, libc; runs tfuse and prog_iso.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/test_timeouts.h"
#include "promparse.h"

#define TOKEN "s3cret-token-for-the-test"

static char work[256], tfuse[512], prog[512], sess_addr[300], api_sock[300], base[64];
static pid_t node_pid = -1;
static int failures;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            failures++;                                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
        }                                                                                  \
    } while (0)

/* ---- HTTP ---- */

struct resp {
    long status;
    char *body;
    size_t len;
    char allow[128], www_auth[128], ctype[128];
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct resp *r = arg;
    char *nb = realloc(r->body, r->len + sz * n + 1);
    if (!nb)
        return 0;
    memcpy(nb + r->len, p, sz * n);
    r->body = nb;
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t len)
{
    size_t k = strlen(name);
    if (n > k + 1 && strncasecmp(line, name, k) == 0 && line[k] == ':') {
        const char *v = line + k + 1;
        while (*v == ' ')
            v++;
        size_t m = (size_t)(line + n - v);
        while (m && (v[m - 1] == '\r' || v[m - 1] == '\n'))
            m--;
        snprintf(out, len, "%.*s", (int)m, v);
    }
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct resp *r = arg;
    header_value(p, sz * n, "Allow", r->allow, sizeof r->allow);
    header_value(p, sz * n, "WWW-Authenticate", r->www_auth, sizeof r->www_auth);
    header_value(p, sz * n, "Content-Type", r->ctype, sizeof r->ctype);
    return sz * n;
}

/* via: "tcp" (with auth: a token or NULL) or "unix". ctype NULL: application/json. */
static struct resp http(const char *via, const char *auth, const char *method, const char *path,
                        const char *ctype, const char *body, size_t body_len)
{
    struct resp r;
    memset(&r, 0, sizeof r);
    CURL *c = curl_easy_init();
    char url[512], hdr[300], ct[200];
    snprintf(url, sizeof url, "%s%s", strcmp(via, "unix") == 0 ? "http://localhost" : base,
             path);
    struct curl_slist *h = NULL;
    if (auth) {
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", auth);
        h = curl_slist_append(h, hdr);
    }
    if (body) {
        snprintf(ct, sizeof ct, "Content-Type: %s", ctype ? ctype : "application/json");
        h = curl_slist_append(h, ct);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    if (strcmp(via, "unix") == 0)
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, api_sock);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)tt_scaled_s(10));
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (!r.body)
        r.body = calloc(1, 1);
    return r;
}

static struct resp get(const char *path) { return http("unix", NULL, "GET", path, 0, 0, 0); }

static json_t *get_json(const char *path)
{
    struct resp r = get(path);
    json_t *j = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
    CHECK(j, "GET %s: %ld %s", path, r.status, r.body);
    free(r.body);
    return j;
}

static struct resp post(const char *body)
{
    return http("unix", NULL, "POST", "/api/v1/vgpus", NULL, body, strlen(body));
}

/* ---- processes ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) != 0)
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int start_node(void)
{
    int port = free_port();
    char api_tcp[64], log[300];
    snprintf(api_tcp, sizeof api_tcp, "tcp:127.0.0.1:%d", port);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s/node.log", work);
    char api_unix[310];
    snprintf(api_unix, sizeof api_unix, "unix:%s", api_sock);
    node_pid = fork();
    if (node_pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setenv("TFUSE_NODE_TOKEN", TOKEN, 1);
        execl(tfuse, tfuse, "node", "--backend", "soft", "--listen", sess_addr, "--api",
              api_tcp, "--api", api_unix, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < tt_scaled_n(300); i++) {   /* 30 s: ASan builds start slowly */
        struct resp r = http("tcp", NULL, "GET", "/healthz", 0, 0, 0);
        free(r.body);
        if (r.status == 200)
            return 0;
        if (waitpid(node_pid, NULL, WNOHANG) == node_pid) {
            node_pid = -1;
            break;
        }
        sleep_ms(100);
    }
    return -1;
}

static void dump_node_log(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "tail -30 %s/node.log >&2", work);
    if (system(cmd) != 0)
        fprintf(stderr, "(no node log)\n");
}

/* SIGTERM (the node drains and exits 0, and sanitizers report), SIGKILL after 10 s. Returns the
 * exit status, or -1 when it had to be killed. */
static int stop_node(void)
{
    if (node_pid <= 0)
        return -1;
    int st = 0, rc = -1;
    kill(node_pid, SIGTERM);
    for (int i = 0; i < tt_scaled_n(100); i++) {
        if (waitpid(node_pid, &st, WNOHANG) == node_pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        sleep_ms(100);
    }
    if (rc < 0) {
        kill(node_pid, SIGKILL);
        waitpid(node_pid, NULL, 0);
    }
    node_pid = -1;
    return rc;
}

/* 1 when the node's log (workers included) holds a sanitizer report. */
static int log_has_sanitizer_report(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "grep -q 'Sanitizer' %s/node.log", work);
    return system(cmd) == 0;
}

/* Runs prog_iso through `tfuse run` on the vGPU with this token; stdout goes to *out_fd. */
static pid_t run_prog(const char *token, char *const args[], int *out_fd)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        char *argv[16] = {tfuse, "run", "--connect", sess_addr, "--vgpu", (char *)token, "--",
                          prog};
        int n = 8;
        for (int i = 0; args[i] && n < 15; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(tfuse, argv);
        _exit(127);
    }
    close(p[1]);
    *out_fd = p[0];
    return pid;
}

static int wait_exit(pid_t pid, int secs)
{
    int st;
    for (int i = 0; i < tt_scaled_n(secs * 10); i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        sleep_ms(100);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

/* ---- cases ---- */

static void test_auth(void)
{
    static const char *const guarded[] = {"/api/v1/vgpus", "/api/v1/devices",
                                          "/api/v1/sessions", "/metrics", "/nope"};
    for (size_t i = 0; i < sizeof guarded / sizeof guarded[0]; i++) {
        struct resp r = http("tcp", NULL, "GET", guarded[i], 0, 0, 0);
        CHECK(r.status == 401, "no token on tcp %s: %ld", guarded[i], r.status);
        CHECK(strncmp(r.www_auth, "Bearer", 6) == 0, "WWW-Authenticate '%s'", r.www_auth);
        json_t *j = json_loads(r.body, 0, NULL);
        CHECK(json_string_value(json_object_get(j, "error")), "401 body %s", r.body);
        json_decref(j);
        free(r.body);
        r = http("tcp", "wrong-token", "GET", guarded[i], 0, 0, 0);
        CHECK(r.status == 401, "wrong token on tcp %s: %ld", guarded[i], r.status);
        free(r.body);
        r = http("tcp", TOKEN "x", "GET", guarded[i], 0, 0, 0);
        CHECK(r.status == 401, "token with a suffix on tcp %s: %ld", guarded[i], r.status);
        free(r.body);
    }
    struct resp r = http("tcp", TOKEN, "GET", "/api/v1/vgpus", 0, 0, 0);
    CHECK(r.status == 200, "right token: %ld %s", r.status, r.body);
    free(r.body);
    r = http("tcp", NULL, "POST", "/api/v1/vgpus", NULL, "{\"vram\":\"1MiB\"}", 15);
    CHECK(r.status == 401, "create without a token: %ld", r.status);
    free(r.body);
    r = get("/api/v1/vgpus");
    CHECK(r.status == 200, "unix without a token: %ld", r.status);
    CHECK(strstr(r.body, "\"vgpus\":[]") != NULL, "nothing was created: %s", r.body);
    free(r.body);
    /* public routes */
    r = http("tcp", NULL, "GET", "/healthz", 0, 0, 0);
    json_t *j = json_loads(r.body, 0, NULL);
    CHECK(r.status == 200 && strcmp(json_string_value(json_object_get(j, "status")), "ok") == 0 &&
              json_is_false(json_object_get(j, "draining")) &&
              json_is_integer(json_object_get(j, "sessions")),
          "healthz: %ld %s", r.status, r.body);
    json_decref(j);
    free(r.body);
    r = http("tcp", NULL, "GET", "/api/v1/version", 0, 0, 0);
    j = json_loads(r.body, 0, NULL);
    CHECK(r.status == 200 && json_is_string(json_object_get(j, "version")) &&
              json_is_integer(json_object_get(j, "protocol")) &&
              strcmp(json_string_value(json_object_get(j, "backend")), "soft") == 0,
          "version: %ld %s", r.status, r.body);
    json_decref(j);
    free(r.body);
}

static size_t vgpu_count(void)
{
    json_t *j = get_json("/api/v1/vgpus");
    size_t n = json_array_size(json_object_get(j, "vgpus"));
    json_decref(j);
    return n;
}

static void expect(struct resp r, long status, const char *what)
{
    CHECK(r.status == status, "%s: got %ld, want %ld: %s", what, r.status, status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    CHECK(json_is_string(json_object_get(j, "error")) &&
              json_is_string(json_object_get(j, "message")),
          "%s: error body %s", what, r.body);
    json_decref(j);
    free(r.body);
}

static void test_bad_bodies(void)
{
    size_t before = vgpu_count();
    expect(post("not json"), 400, "not JSON");
    expect(post("[1,2]"), 400, "an array");
    expect(post("{\"vram_bytes\":\"lots\"}"), 400, "vram_bytes a string");
    expect(post("{\"vram_bytes\":-5}"), 400, "negative size");
    expect(post("{\"vram_bytes\":0}"), 400, "zero size");
    expect(post("{\"vram\":\"-3MiB\"}"), 400, "negative size string");
    expect(post("{\"device\":\"GPU-no-such\",\"vram_bytes\":1048576}"), 400, "unknown device");
    expect(post("{\"device\":7,\"vram_bytes\":1048576}"), 400, "unknown device index");
    expect(post("{\"vram_bytes\":1048576,\"compute_request_pct\":-1}"), 400, "negative pct");
    expect(post("{\"vram_bytes\":1048576,\"compute_request_pct\":\"x\"}"), 400, "pct string");
    expect(post("{\"vram_bytes\":1048576,\"qos\":5}"), 400, "qos a number");
    expect(post("{\"vram_bytes\":1048576,\"id\":\"a\",\"id\":\"b\"}"), 400, "duplicate keys");
    expect(post("{\"vram_bytes\":1125899906842624}"), 409, "more memory than the device");
    size_t big = 200u << 10;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    memcpy(huge, "{\"vram\":\"1MiB\"", 14);
    huge[big - 1] = '}';
    huge[big] = '\0';
    expect(http("unix", NULL, "POST", "/api/v1/vgpus", NULL, huge, big), 413, "huge body");
    free(huge);
    expect(http("unix", NULL, "POST", "/api/v1/vgpus", "text/plain", "{\"vram\":\"1MiB\"}", 15),
           415, "text/plain body");
    struct resp r = http("unix", NULL, "PUT", "/api/v1/vgpus", NULL, "{}", 2);
    CHECK(strcmp(r.allow, "GET, POST") == 0, "Allow on 405: '%s'", r.allow);
    expect(r, 405, "PUT on the collection");
    r = http("unix", NULL, "POST", "/api/v1/sessions", NULL, "{}", 2);
    CHECK(strcmp(r.allow, "GET") == 0, "Allow on 405: '%s'", r.allow);
    expect(r, 405, "POST on sessions");
    expect(get("/api/v2/nothing"), 404, "unknown route");
    expect(get("/api/v1/vgpus/no-such"), 404, "unknown vGPU");
    expect(http("unix", NULL, "DELETE", "/api/v1/vgpus/no-such", 0, 0, 0), 404, "delete unknown");
    expect(get("/api/v1/sessions/123456789"), 404, "unknown session");
    expect(get("/api/v1/sessions/abc"), 404, "session id not a number");
    CHECK(vgpu_count() == before, "bad bodies created vGPUs: %zu -> %zu", before, vgpu_count());
}

/* Creates a vGPU; fills id and token. */
static int create(const char *body, char *id, char *token)
{
    struct resp r = post(body);
    json_t *j = json_loads(r.body, 0, NULL);
    const char *i = json_string_value(json_object_get(j, "id"));
    const char *t = json_string_value(json_object_get(j, "token"));
    CHECK(r.status == 201 && i && t, "create %s: %ld %s", body, r.status, r.body);
    if (i && t) {
        snprintf(id, 80, "%s", i);
        snprintf(token, 80, "%s", t);
    }
    json_decref(j);
    free(r.body);
    return i && t ? 0 : -1;
}

static char *metrics(void)
{
    struct resp r = http("tcp", TOKEN, "GET", "/metrics", 0, 0, 0);
    CHECK(r.status == 200, "metrics: %ld", r.status);
    CHECK(strncmp(r.ctype, "text/plain", 10) == 0 && strstr(r.ctype, "version=0.0.4"),
          "metrics content type '%s'", r.ctype);
    return r.body;
}

static int parse(const char *text, struct prom_doc *d, const char *when)
{
    char err[512];
    int rc = prom_parse(text, d, err, sizeof err);
    CHECK(rc == 0, "metrics %s: %s", when, err);
    return rc;
}

static void promtool(const char *text)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        printf("SKIP promtool check: promtool is not installed\n");
        return;
    }
    char path[300], cmd[400];
    snprintf(path, sizeof path, "%s/metrics.txt", work);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    CHECK(system(cmd) == 0, "promtool check metrics failed");
}

/* Every counter series present in both documents did not go down. */
static void counters_monotonic(const struct prom_doc *a, const struct prom_doc *b)
{
    for (size_t i = 0; i < a->n; i++) {
        const struct prom_sample *s = &a->s[i];
        const char *t = prom_type(a, s->name);
        if (!t || strcmp(t, "counter") != 0 || strncmp(s->name, "tfuse_session_", 14) == 0)
            continue;
        for (size_t k = 0; k < b->n; k++)
            if (strcmp(b->s[k].name, s->name) == 0 && strcmp(b->s[k].labels, s->labels) == 0)
                CHECK(b->s[k].value >= s->value, "counter %s{%s} went back: %g -> %g",
                      s->name, s->labels, s->value, b->s[k].value);
    }
}

static json_t *session_list(void)
{
    json_t *j = get_json("/api/v1/sessions");
    json_t *arr = json_incref(json_object_get(j, "sessions"));
    json_decref(j);
    return arr;
}

static int sessions_now(void)
{
    json_t *a = session_list();
    int n = (int)json_array_size(a);
    json_decref(a);
    return n;
}

static void check_session(json_t *s, const char *vgpu_id)
{
    char *text = json_dumps(s, JSON_COMPACT);
    CHECK(json_is_string(json_object_get(s, "id")) &&
              json_is_integer(json_object_get(s, "worker_pid")),
          "ids: %s", text);
    CHECK(json_integer_value(json_object_get(s, "client_pid")) > 0, "client pid: %s", text);
    CHECK(strcmp(json_string_value(json_object_get(s, "host")), "local") == 0, "host: %s", text);
    CHECK(strcmp(json_string_value(json_object_get(s, "transport")), "unix") == 0, "%s", text);
    CHECK(strcmp(json_string_value(json_object_get(s, "vgpu")), vgpu_id) == 0, "vgpu: %s", text);
    CHECK(strncmp(json_string_value(json_object_get(s, "device")), "GPU-", 4) == 0, "%s", text);
    CHECK(json_integer_value(json_object_get(s, "memory_bytes")) >= (16 << 20), "memory: %s",
          text);
    CHECK(json_integer_value(json_object_get(s, "calls_total")) > 0, "calls: %s", text);
    CHECK(json_is_integer(json_object_get(s, "errors_total")) &&
              json_is_integer(json_object_get(s, "launches_total")),
          "%s", text);
    CHECK(json_real_value(json_object_get(s, "started_unix")) > 1e9, "started: %s", text);
    CHECK(json_real_value(json_object_get(s, "last_call_unix")) >=
              json_real_value(json_object_get(s, "started_unix")),
          "last call: %s", text);
    const char *st = json_string_value(json_object_get(s, "state"));
    CHECK(st && (strcmp(st, "active") == 0 || strcmp(st, "idle") == 0), "state: %s", text);
    free(text);
}

static void test_sessions_and_metrics(void)
{
    char id[80], token[80];
    if (create("{\"id\":\"tenant-a\",\"vram\":\"256MiB\",\"compute_request_pct\":40,"
               "\"compute_limit_pct\":80,\"qos\":\"high\"}", id, token) != 0)
        return;
    char *m0 = metrics();
    struct prom_doc d0, d1, d2;
    parse(m0, &d0, "before any session");
    promtool(m0);
    CHECK(prom_sum(&d0, "tfuse_vgpu_memory_limit_bytes", "vgpu=\"tenant-a\"") == 256 << 20,
          "memory limit metric");
    CHECK(prom_sum(&d0, "tfuse_vgpu_compute_limit_ratio", "vgpu=\"tenant-a\"") == 0.8,
          "compute limit metric");
    CHECK(prom_sum(&d0, "tfuse_device_memory_total_bytes", NULL) > 0, "device memory");

    int out;
    char *hold[] = {"hold", "16777216", NULL};
    pid_t p = run_prog(token, hold, &out);
    char line[256] = "";
    FILE *f = fdopen(out, "r");
    CHECK(f && fgets(line, sizeof line, f) && strncmp(line, "held pid", 8) == 0,
          "prog_iso hold said '%s'", line);
    json_t *arr = session_list();
    CHECK(json_array_size(arr) == 1, "one session while the program runs: %zu",
          json_array_size(arr));
    if (json_array_size(arr) == 1) {
        json_t *s = json_array_get(arr, 0);
        check_session(s, id);
        char path[128];
        snprintf(path, sizeof path, "/api/v1/sessions/%s",
                 json_string_value(json_object_get(s, "id")));
        json_t *one = get_json(path);
        CHECK(json_equal(json_object_get(one, "worker_pid"), json_object_get(s, "worker_pid")),
              "GET %s", path);
        json_decref(one);
    }
    json_decref(arr);
    json_t *g = get_json("/api/v1/vgpus/tenant-a");
    CHECK(json_integer_value(json_object_get(g, "sessions")) == 1 &&
              json_is_number(json_object_get(g, "compute_used_pct")) &&
              json_is_number(json_object_get(g, "throttled_seconds")) &&
              json_integer_value(json_object_get(g, "used_bytes")) >= (16 << 20),
          "vGPU while in use");
    json_decref(g);
    json_t *h = get_json("/healthz");
    CHECK(json_integer_value(json_object_get(h, "sessions")) == 1, "healthz sessions");
    json_decref(h);
    char *m1 = metrics();
    parse(m1, &d1, "while a session runs");
    CHECK(prom_sum(&d1, "tfuse_session_memory_bytes", "vgpu=\"tenant-a\"") >= 16 << 20,
          "session memory metric");
    CHECK(prom_sum(&d1, "tfuse_node_sessions_active", NULL) == 1, "sessions active");
    CHECK(prom_sum(&d1, "tfuse_vgpu_sessions", "vgpu=\"tenant-a\"") == 1, "vGPU sessions");
    kill(p, SIGTERM);
    wait_exit(p, 20);
    if (f)
        fclose(f);

    char *spin[] = {"spin", "1", "2000", NULL};
    p = run_prog(token, spin, &out);
    CHECK(wait_exit(p, 60) == 0, "prog_iso spin failed");
    close(out);
    for (int i = 0; i < tt_scaled_n(100) && sessions_now() > 0; i++)
        sleep_ms(100);
    CHECK(sessions_now() == 0, "sessions are gone after the programs ended");
    char *m2 = metrics();
    parse(m2, &d2, "after the sessions ended");
    promtool(m2);
    counters_monotonic(&d0, &d1);
    counters_monotonic(&d1, &d2);
    CHECK(prom_sum(&d2, "tfuse_vgpu_calls_total", "vgpu=\"tenant-a\"") >
              prom_sum(&d1, "tfuse_vgpu_calls_total", "vgpu=\"tenant-a\""),
          "calls grew after a program ran");
    CHECK(prom_sum(&d2, "tfuse_vgpu_calls_total", "call=\"cuMemAlloc_v2\"") >= 1,
          "per-call counter for cuMemAlloc_v2");
    CHECK(prom_sum(&d2, "tfuse_vgpu_launches_total", "vgpu=\"tenant-a\"") > 0, "launches");
    CHECK(prom_sum(&d2, "tfuse_vgpu_busy_seconds_total", "vgpu=\"tenant-a\"") > 0, "busy time");
    CHECK(prom_sum(&d2, "tfuse_node_sessions_total", NULL) == 2, "sessions total: %g",
          prom_sum(&d2, "tfuse_node_sessions_total", NULL));
    CHECK(prom_sum(&d2, "tfuse_node_sessions_active", NULL) == 0, "no session active");
    CHECK(prom_sum(&d2, "tfuse_call_duration_seconds_count", NULL) >
              prom_sum(&d0, "tfuse_call_duration_seconds_count", NULL),
          "histogram count grew");
    CHECK(prom_sum(&d2, "tfuse_call_duration_seconds_count", "class=\"launch\"") > 0,
          "launch class observed");
    prom_free(&d0);
    prom_free(&d1);
    prom_free(&d2);
    free(m0);
    free(m1);
    free(m2);

    struct resp r = http("tcp", TOKEN, "DELETE", "/api/v1/vgpus/tenant-a", 0, 0, 0);
    CHECK(r.status == 204, "delete: %ld %s", r.status, r.body);
    free(r.body);
    expect(get("/api/v1/vgpus/tenant-a"), 404, "deleted vGPU");
    expect(http("unix", NULL, "DELETE", "/api/v1/vgpus/tenant-a", 0, 0, 0), 404, "delete twice");
}

static void test_crud(void)
{
    char id[80], token[80];
    if (create("{\"vram_bytes\":67108864}", id, token) != 0)
        return;
    json_t *l = get_json("/api/v1/vgpus");
    json_t *g = json_array_get(json_object_get(l, "vgpus"), 0);
    CHECK(json_array_size(json_object_get(l, "vgpus")) == 1, "one vGPU listed");
    CHECK(json_object_get(g, "token") == NULL, "the list never shows a token");
    CHECK(json_integer_value(json_object_get(g, "sessions")) == 0 &&
              json_real_value(json_object_get(g, "compute_used_pct")) == 0 &&
              json_is_number(json_object_get(g, "throttled_seconds")),
          "new fields of a fresh vGPU");
    json_decref(l);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/vgpus/%s", id);
    json_t *one = get_json(path);
    CHECK(strcmp(json_string_value(json_object_get(one, "id")), id) == 0, "GET one");
    json_decref(one);
    struct resp r = http("unix", NULL, "DELETE", path, 0, 0, 0);
    CHECK(r.status == 204, "delete: %ld", r.status);
    free(r.body);
    CHECK(vgpu_count() == 0, "deleted vGPU not listed");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_nodeapi BUILD_DIR\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(tfuse, sizeof tfuse, "%s/bin/tfuse", argv[1]);
    snprintf(prog, sizeof prog, "%s/tests/isolation/prog_iso", argv[1]);
    snprintf(work, sizeof work, "%s/nodeapi.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(work)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(sess_addr, sizeof sess_addr, "unix:%s/sess.sock", work);
    snprintf(api_sock, sizeof api_sock, "%s/api.sock", work);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (start_node() != 0) {
        fprintf(stderr, "FAIL: the node did not start\n");
        dump_node_log();
        stop_node();
        return 1;
    }
    struct stat st;
    CHECK(stat(api_sock, &st) == 0 && (st.st_mode & 0777) == 0600, "api socket mode %o",
          st.st_mode & 0777);
    test_auth();
    test_bad_bodies();
    test_crud();
    test_sessions_and_metrics();
    int rc = stop_node();
    CHECK(rc == 0, "the node exited with %d after SIGTERM", rc);
    CHECK(!log_has_sanitizer_report(), "a sanitizer report in the node's log");
    if (failures)
        dump_node_log();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", work);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", work);
    curl_global_cleanup();
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
