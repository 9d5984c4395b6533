/*
 * Warm workers (issue 21), against real `tfuse node --backend soft` processes:
 *   ready      --warm 2: two warm workers per device, listed by GET /api/v1/sessions ("warm")
 *              and `tfuse ps`, and charged to the node in GET /api/v1/devices (warm_workers,
 *              warm_bytes = 2 x --ctx-overhead) and /metrics, never to a vGPU
 *   once       a session is served by one of them (its worker pid was warm), which leaves the
 *              warm list and is replaced by a new process; it exits with its session and never
 *              comes back
 *   token      a client with a wrong token is refused with the node's reason and takes no warm
 *              worker
 *   limits     on a warm worker the vGPU's limit is the program's total memory, an allocation
 *              over it fails, and the vGPU is charged the context and the allocation: the same
 *              figures and the same refusal as on a node with --warm 0
 *   crash      a warm worker killed with SIGKILL is replaced
 *   memory     a vGPU promised the memory warm contexts hold makes them give it back (fewer warm
 *              workers); deleting it brings them back
 *   tcp        a session over TCP (a stream, not the shared-memory rings) is handed over too
 *   off        --warm 0: no warm worker, nothing charged, sessions forked as before
 *   starting   a client that comes while the warm worker is still starting (slowed down by
 *              TFUSE_FAULT_WARM_DELAY_MS) is handed to it and served once it is ready
 *
 *   node_warm BUILD_DIR PROG_DRIVER
 *
 * Owns: nothing. May call: tests/security/state_node.h, jansson, libc; runs tfuse, prog_driver.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "state_node.h"
#include "test_timeouts.h"

#define MIB (1ll << 20)
#define CTX_OVERHEAD (16 * MIB)
#define VRAM (64 * MIB)
#define MAX_WARM 16

static const char *prog;

struct warm {
    int n, ready;
    int pid[MAX_WARM];
};

static struct warm warm_list(const struct sn_node *n)
{
    struct warm w = {0};
    struct sn_resp r = sn_http(n, "GET", "/api/v1/sessions", NULL);
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(r.json, "warm"), i, e) {
        if (w.n == MAX_WARM)
            break;
        w.pid[w.n++] = (int)json_integer_value(json_object_get(e, "worker_pid"));
        w.ready += strcmp(json_string_value(json_object_get(e, "state")), "warm") == 0;
    }
    sn_free(&r);
    return w;
}

static int has(const struct warm *w, int pid)
{
    for (int i = 0; i < w->n; i++)
        if (w->pid[i] == pid)
            return 1;
    return 0;
}

/* Waits up to seconds for `ready` warm workers, none of them `gone`; the last list seen. */
static struct warm wait_warm(const struct sn_node *n, int ready, int gone, double seconds)
{
    struct warm w = warm_list(n);
    for (double t0 = sn_now(); sn_now() - t0 < tt_scaled_s(seconds); sn_sleep_ms(100)) {
        w = warm_list(n);
        if (w.ready == ready && w.n == ready && !has(&w, gone))
            break;
    }
    return w;
}

/* Device 0's field of GET /api/v1/devices, -1 when absent. */
static long long device_field(const struct sn_node *n, const char *key)
{
    struct sn_resp r = sn_http(n, "GET", "/api/v1/devices", NULL);
    json_t *v = json_object_get(json_array_get(json_object_get(r.json, "devices"), 0), key);
    long long x = json_is_integer(v) ? json_integer_value(v) : -1;
    sn_free(&r);
    return x;
}

static long long vgpu_used(const struct sn_node *n, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/vgpus/%s", id);
    struct sn_resp r = sn_http(n, "GET", path, NULL);
    long long x = json_integer_value(json_object_get(r.json, "used_bytes"));
    sn_free(&r);
    return x;
}

/* The worker pid of the node's only session, waiting up to `wait` s for it to be listed; 0. */
static int session_pid(const struct sn_node *n, double wait)
{
    double t0 = sn_now();
    do {
        struct sn_resp r = sn_http(n, "GET", "/api/v1/sessions", NULL);
        json_t *s = json_array_get(json_object_get(r.json, "sessions"), 0);
        int pid = s ? (int)json_integer_value(json_object_get(s, "worker_pid")) : 0;
        sn_free(&r);
        if (pid > 0)
            return pid;
        if (wait > 0)
            sn_sleep_ms(50);
    } while (sn_now() - t0 < tt_scaled_s(wait));
    return 0;
}

/* Runs prog with args through `tfuse run --connect addr --token token`; its exit status (-1:
 * no end within 60 s, then killed) and its output in out. */
static int run(const char *addr, const char *token, const char *a1, const char *a2, char *out,
               size_t len)
{
    char *argv[] = {sn_tfuse, "run", "--connect", (char *)addr, "--token", (char *)token, "--",
                    (char *)prog, (char *)a1, (char *)a2, NULL};
    int fd, status = 0;
    pid_t pid = sn_spawn(argv, &fd);
    if (pid <= 0)
        return -1;
    size_t have = 0;
    double deadline = sn_now() + tt_scaled_s(60);
    while (sn_now() < deadline) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t got = read(fd, out + have, have + 1 < len ? len - 1 - have : 0);
        if (got <= 0)
            break;   /* the end of its output (or no room left for more) */
        have += (size_t)got;
    }
    out[have] = '\0';
    close(fd);
    while (sn_now() < deadline && waitpid(pid, &status, WNOHANG) != pid)
        sn_sleep_ms(20);
    if (sn_now() >= deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int gone(int pid, double seconds)
{
    for (double t0 = sn_now(); sn_now() - t0 < tt_scaled_s(seconds); sn_sleep_ms(50))
        if (kill(pid, 0) != 0 && errno == ESRCH)
            return 1;
    return 0;
}

/* What a session of a 64 MiB vGPU shows: its total memory, what the vGPU is charged while it
 * holds 1 MiB, whether 128 MiB is refused. Returns the worker pid that served the holder. */
struct seen {
    char total[64];
    long long charged;
    int over_refused, worker;
    struct warm before;   /* the warm workers ready just before the holder came */
};

static struct seen one_session(const struct sn_node *n, const char *id, const char *token,
                               int warm)
{
    struct seen s = {0};
    char out[4096];
    int rc = run(n->listen, token, "meminfo", NULL, out, sizeof out);
    SN_CHECK(rc == 0, "meminfo: exit %d, '%s'", rc, out);
    char *t = strstr(out, "total ");
    snprintf(s.total, sizeof s.total, "%.*s", t ? (int)strcspn(t, "\n") : 0, t ? t : "");
    /* the meminfo session's worker is listed, and holds its charge, until it is reaped */
    for (double t0 = sn_now(); (vgpu_used(n, id) != 0 || session_pid(n, 0) != 0) &&
                               sn_now() - t0 < tt_scaled_s(30);)
        sn_sleep_ms(20);
    s.before = wait_warm(n, warm, 0, 30);
    char *argv[] = {sn_tfuse, "run", "--connect", (char *)n->listen, "--token", (char *)token,
                    "--", (char *)prog, "hold", "1048576", NULL};
    int fd;
    pid_t holder = sn_spawn(argv, &fd);
    if (holder <= 0) {
        SN_CHECK(holder > 0, "cannot start the holder");
        return s;
    }
    SN_CHECK(sn_wait_output(fd, "held 0x", tt_scaled_s(60)), "the holder never held");
    s.worker = session_pid(n, 30);
    SN_CHECK(s.worker > 0, "the holder's session is not listed");
    s.charged = vgpu_used(n, id);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    close(fd);
    SN_CHECK(s.worker <= 0 || gone(s.worker, 30), "worker %d outlived its session", s.worker);
    rc = run(n->listen, token, "hold", "134217728", out, sizeof out);
    s.over_refused = rc > 0 && rc < 128;   /* -1: it held 128 MiB (and ran until killed) */
    return s;
}

static void create(const struct sn_node *n, const char *id, long long bytes, char *token,
                   size_t len)
{
    char body[256];
    struct sn_resp r = sn_http(n, "GET", "/api/v1/devices", NULL);
    const char *uuid = json_string_value(
        json_object_get(json_array_get(json_object_get(r.json, "devices"), 0), "uuid"));
    snprintf(body, sizeof body, "{\"device\": \"%s\", \"vram_bytes\": %lld, \"id\": \"%s\"}",
             uuid ? uuid : "", bytes, id);
    sn_free(&r);
    long st = sn_create(n, body, token, len);
    SN_CHECK(st == 201, "create %s (%lld bytes): %ld", id, bytes, st);
}

/* The tcp address the node's log says it listens on, or "". */
static void tcp_address(const struct sn_node *n, char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = fopen(n->log, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        char *a = strstr(line, "listening on tcp:");
        if (a)
            snprintf(out, len, "%.*s", (int)strcspn(a + 13, "\n"), a + 13);
    }
    if (f)
        fclose(f);
}

/* After the node stopped: no sanitizer report from it or any of its workers (a build with
 * TFUSE_SANITIZE writes them to the node's log; other builds never do). */
static void log_clean(const struct sn_node *n)
{
    SN_CHECK(!sn_file_has(n->log, "Sanitizer") && !sn_file_has(n->log, "runtime error"),
             "a sanitizer report in %s", n->log);
}

/* `tfuse ps` lists each warm worker with its pid, "(node)" for who pays and "warm". */
static void ps_shows(const struct sn_node *n, const struct warm *w)
{
    char cmd[1024], line[512], want[64];
    snprintf(cmd, sizeof cmd, "'%s' ps --node 'unix:%s'", sn_tfuse, n->api);
    FILE *p = popen(cmd, "r");
    int rows = 0;
    while (p && fgets(line, sizeof line, p))
        for (int i = 0; i < w->n; i++) {
            snprintf(want, sizeof want, " %d ", w->pid[i]);
            rows += strstr(line, want) && strstr(line, "(node)") && strstr(line, "warm");
        }
    SN_CHECK(p && pclose(p) == 0 && rows == w->n, "tfuse ps listed %d of %d warm workers", rows,
             w->n);
}

/* GET /metrics (plain text) has the line that begins with `family{` and ends with value. */
static int metric_is(const struct sn_node *n, const char *family, const char *value)
{
    char cmd[1024], line[1024], head[128];
    snprintf(cmd, sizeof cmd, "curl -s --unix-socket '%s' http://node/metrics", n->api);
    snprintf(head, sizeof head, "%s{", family);
    FILE *p = popen(cmd, "r");
    int found = 0;
    while (p && fgets(line, sizeof line, p)) {
        char *sp = strrchr(line, ' ');
        found |= strncmp(line, head, strlen(head)) == 0 && sp &&
                 strncmp(sp + 1, value, strlen(value)) == 0 && sp[1 + strlen(value)] == '\n';
    }
    if (p)
        pclose(p);
    return found;
}

static struct seen warm_node(void)
{
    struct sn_node n;
    static const char *const extra[] = {"--warm", "2", "--ctx-overhead", "16MiB", "--listen",
                                        "tcp:127.0.0.1:0", NULL};
    SN_CHECK(sn_start(&n, "warm", NULL, extra, 0) == 0, "the warm node did not start");
    struct warm w = wait_warm(&n, 2, 0, 60);
    SN_CHECK(w.ready == 2 && w.n == 2, "ready: %d of %d warm workers", w.ready, w.n);
    SN_CHECK(device_field(&n, "warm_workers") == 2, "warm_workers %lld",
             device_field(&n, "warm_workers"));
    SN_CHECK(device_field(&n, "warm_bytes") == 2 * CTX_OVERHEAD, "warm_bytes %lld",
             device_field(&n, "warm_bytes"));
    SN_CHECK(metric_is(&n, "tfuse_device_warm_workers", "2") &&
             metric_is(&n, "tfuse_device_warm_bytes", "33554432"), "/metrics: no warm figures");
    char token[160], out[4096];
    ps_shows(&n, &w);
    create(&n, "tenant", VRAM, token, sizeof token);
    SN_CHECK(vgpu_used(&n, "tenant") == 0, "a fresh vGPU is charged %lld",
             vgpu_used(&n, "tenant"));

    /* token: refused by the node, no warm worker spent on it */
    int rc = run(n.listen, "not-a-token", "meminfo", NULL, out, sizeof out);
    struct warm after = warm_list(&n);
    SN_CHECK(rc != 0, "a wrong token ran (exit 0)");
    SN_CHECK(after.n == 2 && has(&after, w.pid[0]) && has(&after, w.pid[1]),
             "a refused client took a warm worker");

    /* once, limits */
    struct seen s = one_session(&n, "tenant", token, 2);
    SN_CHECK(s.before.ready == 2 && has(&s.before, s.worker),
             "the session's worker %d was not one of the %d warm ones", s.worker, s.before.ready);
    struct warm refilled = wait_warm(&n, 2, s.worker, 30);
    SN_CHECK(refilled.ready == 2 && !has(&refilled, s.worker),
             "not replaced: %d ready, used worker %s listed", refilled.ready,
             has(&refilled, s.worker) ? "still" : "not");

    /* crash */
    int victim = refilled.n > 0 ? refilled.pid[0] : 0;
    if (victim > 0)   /* never kill(0): that is this test's own process group */
        kill(victim, SIGKILL);
    SN_CHECK(victim > 0, "no warm worker to kill");
    struct warm replaced = wait_warm(&n, 2, victim, 30);
    SN_CHECK(replaced.ready == 2 && !has(&replaced, victim), "a killed warm worker: %d ready",
             replaced.ready);
    SN_CHECK(sn_file_has(n.log, "killed by signal 9: replaced"), "no replacement logged");

    /* memory: leave room for one warm context only, then all of it again */
    long long mem = 0, promised = 0;
    sn_device_memory(&n, &mem, &promised);
    char big[160];
    create(&n, "big", mem - promised - CTX_OVERHEAD, big, sizeof big);
    struct warm squeezed = wait_warm(&n, 1, 0, 30);
    SN_CHECK(squeezed.n == 1 && device_field(&n, "warm_bytes") == CTX_OVERHEAD,
             "with 16 MiB unpromised: %d warm workers, %lld bytes", squeezed.n,
             device_field(&n, "warm_bytes"));
    struct sn_resp d = sn_http(&n, "DELETE", "/api/v1/vgpus/big", NULL);
    SN_CHECK(d.status == 204, "delete: %ld", d.status);
    sn_free(&d);
    SN_CHECK(wait_warm(&n, 2, 0, 30).ready == 2, "warm workers not back after the delete");

    /* tcp */
    char tcp[300];
    tcp_address(&n, tcp, sizeof tcp);
    struct warm before = wait_warm(&n, 2, 0, 30);
    rc = run(tcp, token, "meminfo", NULL, out, sizeof out);
    SN_CHECK(rc == 0 && strstr(out, "total 67108864"), "over %s: exit %d, '%s'", tcp, rc, out);
    char line[64];
    int served = 0;
    for (int i = 0; i < before.n; i++) {
        snprintf(line, sizeof line, "session %d: client pid", before.pid[i]);
        served |= sn_file_has(n.log, line);
    }
    SN_CHECK(served, "the tcp session was not served by a warm worker");
    sn_stop(&n);
    log_clean(&n);
    return s;
}

/* A client that comes while the only warm worker is still starting is handed to it and waits
 * for it (the handoff queues on the worker's socket), rather than failing or forking. */
static void starting_node(void)
{
    struct sn_node n;
    static const char *const extra[] = {"--warm", "1", NULL};
    setenv("TFUSE_FAULT_WARM_DELAY_MS", "3000", 1);
    int rc = sn_start(&n, "starting", NULL, extra, 0);
    unsetenv("TFUSE_FAULT_WARM_DELAY_MS");
    SN_CHECK(rc == 0, "the node did not start");
    struct warm w = warm_list(&n);
    for (double t0 = sn_now(); w.n == 0 && sn_now() - t0 < tt_scaled_s(10); sn_sleep_ms(20))
        w = warm_list(&n);
    SN_CHECK(w.n == 1 && w.ready == 0, "one starting worker: %d listed, %d ready", w.n, w.ready);
    char out[4096], token[160], line[64];
    create(&n, "tenant", VRAM, token, sizeof token);
    rc = run(n.listen, token, "meminfo", NULL, out, sizeof out);
    SN_CHECK(rc == 0 && strstr(out, "total 67108864"), "exit %d, '%s'", rc, out);
    snprintf(line, sizeof line, "session %d: client pid", w.n ? w.pid[0] : -1);
    SN_CHECK(sn_file_has(n.log, line), "not served by the starting worker %d",
             w.n ? w.pid[0] : -1);
    sn_stop(&n);
    log_clean(&n);
}

static struct seen cold_node(void)
{
    struct sn_node n;
    static const char *const extra[] = {"--warm", "0", "--ctx-overhead", "16MiB", NULL};
    SN_CHECK(sn_start(&n, "cold", NULL, extra, 0) == 0, "the cold node did not start");
    sn_sleep_ms(500);   /* time enough for a warm worker to have been started */
    struct warm w = warm_list(&n);
    SN_CHECK(w.n == 0, "--warm 0 started %d warm workers", w.n);
    SN_CHECK(device_field(&n, "warm_workers") == 0 && device_field(&n, "warm_bytes") == 0,
             "--warm 0 charged %lld bytes", device_field(&n, "warm_bytes"));
    char token[160];
    create(&n, "tenant", VRAM, token, sizeof token);
    struct seen s = one_session(&n, "tenant", token, 0);
    SN_CHECK(s.before.n == 0 && s.worker > 0, "--warm 0: %d warm workers beside the session",
             s.before.n);
    sn_stop(&n);
    log_clean(&n);
    return s;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: node_warm BUILD_DIR PROG_DRIVER\n");
        return 2;
    }
    prog = argv[2];
    const char *work = sn_init(argv[1]);
    if (!work)
        return 1;
    struct seen warm = warm_node();
    struct seen cold = cold_node();
    starting_node();
    /* limits: the same on both, and what the vGPU says */
    SN_CHECK(strcmp(warm.total, "total 67108864") == 0, "warm: '%s'", warm.total);
    SN_CHECK(strcmp(warm.total, cold.total) == 0, "warm '%s', cold '%s'", warm.total,
             cold.total);
    SN_CHECK(warm.charged == CTX_OVERHEAD + MIB && cold.charged == warm.charged,
             "charged while holding 1 MiB: warm %lld, cold %lld", warm.charged, cold.charged);
    SN_CHECK(warm.over_refused && cold.over_refused, "128 MiB on a 64 MiB vGPU: warm %s, cold %s",
             warm.over_refused ? "refused" : "ran", cold.over_refused ? "refused" : "ran");
    if (sn_failures) {
        fprintf(stderr, "%d check(s) failed; the nodes' logs are in %s\n", sn_failures, work);
    } else {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);   /* our own mkdtemp folder */
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", work);
        printf("node_warm: all checks passed\n");
    }
    return sn_failures ? 1 : 0;
}
