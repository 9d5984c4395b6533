/*
 * bench_coldstart: how long a fresh process takes to its first completed kernel (issue 21),
 * directly on softgpu and through our stub and a `tfuse node`, side by side in one run.
 *
 * The process is coldstart_prog: cuInit, the primary context, a module of KERNELS kernels (a
 * stand-in for a model's image, the same bytes every run), one launch, a synchronize; it prints
 * when that kernel had completed. The time is from just before fork to then (process start,
 * the driver's load and initialization, the context, the module's transfer and parse, the
 * launch), on CLOCK_MONOTONIC, which both processes read. Paths:
 *   direct        softgpu's libcuda.so.1 in the process
 *   cold node     the stub, a node with --warm 0: the node forks a worker per session, which
 *                 loads the backend and makes the context when the program asks
 *   warm node     --warm 1: the session is handed to a worker started before it (backend
 *                 loaded, primary context made); the module cache off (--module-cache-max 0)
 *   warm+cached   --warm 1 with the module cache, primed by one untimed run of the same
 *                 tenant: the stub sends the image's hash, the worker reads the image from disk
 * Every node session is a vGPU's (its token, its limits), as a tenant's would be. Each timed
 * node run is paired with a direct run just before it, and the rows take turns (a round is one
 * pair of each), so that the host's drift falls on every row alike; a row's figure is the
 * median over PAIRS pairs of its time and of its ratio to its pair's direct time. Before each
 * timed run the previous session's worker has exited and, on a warm node, a warm worker is
 * ready (untimed), so that a row measures a start, not the leftovers of the one before it.
 * The program runs with our stub's environment set directly (what tfuse run or a container's
 * injected library sets), so the CLI's own start is not counted. Everything runs on a softgpu
 * machine of the run's own (SOFTGPU_NAMESPACE, unless set), so that another user's kernels on
 * the default machine do not hold the device between our runs.
 * Then the model switch (coldstart_switch.c): two models on a device that holds one, switched
 * with freeze/resume against loading the second from scratch, in the same run.
 *
 *   bench_coldstart            (TFUSE_COLDSTART_PAIRS: pairs per row, default 8;
 *                               TFUSE_COLDSTART_MODEL_MB, TFUSE_COLDSTART_SWITCHES: the switch's)
 *
 * Prints a table and writes $TFUSE_BENCH_DIR/coldstart.json (default build/bench).
 * Owns: the node helpers of coldstart.h. May call: bench_common.h, jansson, libc; runs tfuse
 * node, coldstart_prog.
 */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "coldstart.h"

#define KERNELS 48
#define KERNEL_LINES 40        /* arithmetic lines per kernel: a module of 58 KiB */
#define VGPU_BYTES (256ll << 20)
#define AIM_WARM_RATIO 1.1
#define MAX_PAIRS 64

enum row { DIRECT, COLD, WARM, CACHED, NROWS };
static const char *const row_name[NROWS] = {"direct", "cold node", "warm node",
                                            "warm node, module cached"};
static const char *const row_key[NROWS] = {"direct", "cold_node", "warm_node",
                                           "warm_node_cached"};

char work[256];
static char module_path[320];

double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000l};
    nanosleep(&ts, NULL);
}

/* The module: KERNELS kernels k0.. that each write f(tid) to out[tid]; k0's out[5] is known. */
static int write_module(const char *path, long *bytes)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, ".version 7.0\n.target sm_50\n.address_size 64\n");
    for (int k = 0; k < KERNELS; k++) {
        fprintf(f, "\n.visible .entry k%d(.param .u64 out)\n{\n  .reg .b32 %%r<4>;\n"
                   "  .reg .b64 %%rd<5>;\n  ld.param.u64 %%rd1, [out];\n"
                   "  mov.u32 %%r1, %%tid.x;\n  mov.u32 %%r2, %%r1;\n", k);
        for (int i = 0; i < KERNEL_LINES; i++)
            fprintf(f, "  %s %%r2, %%r2, %d;\n", i % 2 ? "xor.b32" : "add.u32", i + k);
        fprintf(f, "  cvta.to.global.u64 %%rd2, %%rd1;\n  mul.wide.u32 %%rd3, %%r1, 4;\n"
                   "  add.u64 %%rd4, %%rd2, %%rd3;\n  st.global.u32 [%%rd4], %%r2;\n  ret;\n}\n");
    }
    *bytes = ftell(f);
    return fclose(f);
}

/* k0's out[5], as the program reads it back: proof that the kernel ran. */
static unsigned expected_value(void)
{
    unsigned r = 5;
    for (int i = 0; i < KERNEL_LINES; i++)
        r = i % 2 ? r ^ (unsigned)i : r + (unsigned)i;
    return r;
}

/* One HTTP/1.0 request over the node's unix API socket; the status, the body in body. */
int http(const struct node *n, const char *method, const char *path, const char *json,
         char *body, size_t cap)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t alen = strlen(n->api);
    if (alen >= sizeof sa.sun_path)
        return 0;
    memcpy(sa.sun_path, n->api, alen + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    char req[1024];
    int len = json ? snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: node\r\n"
                              "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                              method, path, strlen(json), json)
                   : snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: node\r\n\r\n", method,
                              path);
    size_t have = 0;
    ssize_t got = write(fd, req, (size_t)len) == len ? 1 : -1;
    while (got > 0 && have + 1 < cap && (got = read(fd, body + have, cap - 1 - have)) > 0)
        have += (size_t)got;
    close(fd);
    body[have] = '\0';
    int status = 0;
    sscanf(body, "HTTP/%*s %d", &status);
    char *start = strstr(body, "\r\n\r\n");
    if (start)
        memmove(body, start + 4, strlen(start + 4) + 1);
    return status;
}

json_t *get_json(const struct node *n, const char *path)
{
    static char body[1 << 16];
    return http(n, "GET", path, NULL, body, sizeof body) == 200 ? json_loads(body, 0, NULL)
                                                                 : NULL;
}

/* A softgpu node with `warm` warm workers, the extra flags (NULL-ended) and the environment
 * settings ("NAME=VALUE", NULL-ended) given; 0 once its API answers. */
int node_launch(struct node *n, const char *name, int warm, const char *tfuse,
                const char *const *extra, const char *const *env)
{
    memset(n, 0, sizeof *n);
    n->warm = warm;
    snprintf(n->dir, sizeof n->dir, "%s/%s", work, name);
    mkdir(n->dir, 0700);
    snprintf(n->sock, sizeof n->sock, "%s/s.sock", n->dir);
    snprintf(n->api, sizeof n->api, "%s/api.sock", n->dir);
    snprintf(n->log, sizeof n->log, "%s/node.log", n->dir);
    snprintf(n->connect, sizeof n->connect, "unix:%s", n->sock);
    char listen[360], api[360], state[320], count[16];
    snprintf(listen, sizeof listen, "unix:%s", n->sock);
    snprintf(api, sizeof api, "unix:%s", n->api);
    snprintf(state, sizeof state, "%s/state", n->dir);
    snprintf(count, sizeof count, "%d", warm);
    const char *argv[32] = {tfuse, "node", "--backend", "soft", "--listen", listen, "--api",
                            api, "--state", state, "--warm", count, "--log-level", "warn"};
    int argc = 14;
    for (int i = 0; extra && extra[i] && argc < 31; i++)
        argv[argc++] = extra[i];
    fflush(NULL);
    if ((n->pid = fork()) == 0) {
        FILE *log = freopen(n->log, "w", stdout);
        if (log)
            dup2(fileno(stdout), 2);
        for (int i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execv(tfuse, (char *const *)argv);
        _exit(127);
    }
    char body[4096];
    double deadline = mono_s() + 60;
    while (http(n, "GET", "/healthz", NULL, body, sizeof body) != 200) {
        if (mono_s() > deadline || waitpid(n->pid, NULL, WNOHANG) == n->pid) {
            fprintf(stderr, "bench_coldstart: the node %s did not start (see %s)\n", name,
                    n->log);
            return -1;
        }
        sleep_ms(50);
    }
    return 0;
}

/* A vGPU of `bytes` on the node's first device, named id (NULL: the node names it); its token
 * into token. */
int vgpu_create(const struct node *n, const char *id, long long bytes, char *token, size_t len)
{
    char body[4096], create[400], named[80] = "";
    json_t *devs = get_json(n, "/api/v1/devices");
    const char *uuid = json_string_value(
        json_object_get(json_array_get(json_object_get(devs, "devices"), 0), "uuid"));
    if (id)
        snprintf(named, sizeof named, ", \"id\": \"%s\"", id);
    snprintf(create, sizeof create, "{\"device\": \"%s\", \"vram_bytes\": %lld%s}",
             uuid ? uuid : "", bytes, named);
    json_decref(devs);
    json_t *v = http(n, "POST", "/api/v1/vgpus", create, body, sizeof body) == 201
                    ? json_loads(body, 0, NULL) : NULL;
    const char *t = json_string_value(json_object_get(v, "token"));
    snprintf(token, len, "%s", t ? t : "");
    json_decref(v);
    if (!token[0])
        fprintf(stderr, "bench_coldstart: no vGPU on the node %s: %s\n", n->dir, body);
    return token[0] ? 0 : -1;
}

/* A node with `warm` warm workers and the module cache on or off, and a 256 MiB vGPU of it. */
static int node_start(struct node *n, const char *name, int warm, int cache, const char *tfuse)
{
    const char *extra[] = {"--module-cache-max", cache ? "1GiB" : "0", NULL};
    if (node_launch(n, name, warm, tfuse, extra, NULL) != 0)
        return -1;
    return vgpu_create(n, NULL, VGPU_BYTES, n->token, sizeof n->token);
}

void node_stop(struct node *n)
{
    if (n->pid <= 0)
        return;
    kill(n->pid, SIGTERM);
    for (int i = 0; i < 200 && waitpid(n->pid, NULL, WNOHANG) != n->pid; i++)
        sleep_ms(50);
    if (kill(n->pid, 0) == 0) {
        kill(n->pid, SIGKILL);
        waitpid(n->pid, NULL, 0);
    }
    n->pid = 0;
}

/* The device segment of the softgpu machine ns (docs/softgpu.md) this run made; "" none. */
void softgpu_segment_remove(const char *ns)
{
    char seg[200];
    if (ns[0]) {
        snprintf(seg, sizeof seg, "/dev/shm/softgpu-%d-%s-dev0", (int)getuid(), ns);
        unlink(seg);
    }
}

/* The node's warm workers ready now; its sessions in *sessions (-1: no answer). */
int warm_ready_count(const struct node *n, int *sessions)
{
    json_t *s = get_json(n, "/api/v1/sessions");
    json_t *w, *warm = json_object_get(s, "warm");
    size_t i;
    int ready = 0;
    json_array_foreach(warm, i, w)
        ready += json_is_string(json_object_get(w, "state")) &&
                 strcmp(json_string_value(json_object_get(w, "state")), "warm") == 0;
    *sessions = s ? (int)json_array_size(json_object_get(s, "sessions")) : -1;
    json_decref(s);
    return ready;
}

/* Untimed: no session left on the node, and (warm) as many warm workers ready as asked. */
static void settle(const struct node *n)
{
    for (double deadline = mono_s() + 30; mono_s() < deadline; sleep_ms(10)) {
        int sessions, ready = warm_ready_count(n, &sessions);
        if (sessions == 0 && ready >= n->warm)
            return;
    }
    fprintf(stderr, "bench_coldstart: the node did not settle in 30 s\n");
}

/* One fresh process to its first completed kernel: milliseconds (-1 on failure), and the part
 * from its cuModuleLoadData on in *load_ms. node NULL: directly on softgpu. */
static double run_once(const char *build, const char *prog, const struct node *n, double *load_ms)
{
    char libdir[600];
    snprintf(libdir, sizeof libdir, "%s/lib/%s", build, n ? "tfuse" : "softgpu");
    int p[2];
    if (pipe(p) != 0)
        return -1;
    fflush(NULL);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        setenv("LD_LIBRARY_PATH", libdir, 1);
        if (n) {
            setenv("TFUSE_CONNECT", n->connect, 1);
            setenv("TFUSE_TOKEN", n->token, 1);
        }
        execl(prog, prog, module_path, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char out[512];
    size_t have = 0;
    ssize_t got;
    while (have + 1 < sizeof out && (got = read(p[0], out + have, sizeof out - 1 - have)) > 0)
        have += (size_t)got;
    out[have] = '\0';
    close(p[0]);
    int status = 1;
    if (pid > 0)
        waitpid(pid, &status, 0);
    long long done = 0, load = 0;
    unsigned value = 0;
    if (pid < 0 || status != 0 ||
        sscanf(out, "done %lld\nload %lld\nvalue %u", &done, &load, &value) != 3 ||
        value != expected_value()) {
        fprintf(stderr, "bench_coldstart: a %s run failed (status %d): %s\n",
                n ? "node" : "direct", status, out);
        return -1;
    }
    *load_ms = (double)load / 1e6;
    return ((double)done - ((double)t0.tv_sec * 1e9 + (double)t0.tv_nsec)) / 1e6;
}

struct series {
    double ms[MAX_PAIRS * NROWS], ratio[MAX_PAIRS], load[MAX_PAIRS * NROWS];
    int n, nratio, failed;
};

static void add(struct series *s, double ms, double load)
{
    if (ms < 0) {
        s->failed++;
        return;
    }
    s->load[s->n] = load;
    s->ms[s->n++] = ms;
}

/* One pair (direct, then through node) into rows[DIRECT] and rows[r]. */
static void measure(const char *build, const char *prog, const struct node *n, enum row r,
                    struct series *rows)
{
    double load = 0;
    settle(n);
    double direct = run_once(build, prog, NULL, &load);
    add(&rows[DIRECT], direct, load);
    settle(n);
    double via = run_once(build, prog, n, &load);
    add(&rows[r], via, load);
    if (direct > 0 && via > 0)
        rows[r].ratio[rows[r].nratio++] = via / direct;
}

static void report(struct series *rows, int pairs, long module_bytes, json_t *model_switch)
{
    char path[600];
    bench_output_path(path, sizeof path, "coldstart.json");
    json_t *out = json_pack("{s:s, s:i, s:i, s:I, s:f, s:f}", "bench", "coldstart", "pairs",
                            pairs, "kernels", KERNELS, "module_bytes", (json_int_t)module_bytes,
                            "loadavg", bench_loadavg(), "aim_warm_ratio", AIM_WARM_RATIO);
    json_t *arr = json_array();
    printf("\nbench_coldstart: time to the first completed kernel of a fresh process "
           "(softgpu, median of %d pairs, load %.2f)\n\n", pairs, bench_loadavg());
    printf("%-26s %12s %14s %12s %8s\n", "path", "median ms", "vs direct", "module+kernel",
           "failed");
    double warm_ratio = -1;
    for (int r = 0; r < NROWS; r++) {
        struct series *s = &rows[r];
        double med = bench_percentile(s->ms, s->n, 50), load = bench_percentile(s->load, s->n, 50);
        double ratio = r == DIRECT ? 1.0 : bench_percentile(s->ratio, s->nratio, 50);
        if (r == WARM)
            warm_ratio = ratio;
        printf("%-26s %12.1f %13.2fx %12.1f %8d\n", row_name[r], med, ratio, load, s->failed);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:i, s:f, s:f, s:f, s:f, s:i}", "path",
                                             row_key[r], "name", row_name[r], "runs", s->n,
                                             "median_ms", med, "p90_ms",
                                             bench_percentile(s->ms, s->n, 90),
                                             "ratio_vs_direct", ratio, "module_to_kernel_ms", load,
                                             "failed", s->failed));
    }
    model_switch_print(model_switch);
    int met = warm_ratio > 0 && warm_ratio <= AIM_WARM_RATIO;
    printf("\naim: warm node within %.1fx of direct: %s (%.2fx)\n", AIM_WARM_RATIO,
           met ? "met" : "not met", warm_ratio);
    json_object_set_new(out, "rows", arr);
    json_object_set_new(out, "aim_met", json_boolean(met));
    json_object_set_new(out, "model_switch", model_switch);
    if (json_dump_file(out, path, JSON_INDENT(2)) == 0)
        printf("wrote %s\n", path);
    else
        fprintf(stderr, "bench_coldstart: cannot write %s\n", path);
    json_decref(out);
}

int main(void)
{
    const char *build = TFUSE_BUILD_DIR;
    char tfuse[600], prog[600];
    snprintf(tfuse, sizeof tfuse, "%s/bin/tfuse", build);
    snprintf(prog, sizeof prog, "%s/bin/coldstart_prog", build);
    const char *env = getenv("TFUSE_COLDSTART_PAIRS");
    int pairs = env && atoi(env) > 0 ? atoi(env) : 8;
    pairs = pairs > MAX_PAIRS ? MAX_PAIRS : pairs;
    snprintf(work, sizeof work, "/tmp/tfuse-coldstart-XXXXXX");
    long module_bytes = 0;
    if (!mkdtemp(work))
        return 1;
    char ns[64] = "";
    if (!getenv("SOFTGPU_NAMESPACE")) {   /* a softgpu machine of its own (docs/softgpu.md): */
        snprintf(ns, sizeof ns, "bench_coldstart_%d", (int)getpid());   /* no other user's */
        setenv("SOFTGPU_NAMESPACE", ns, 1);   /* kernels hold its device between our runs */
    }
    snprintf(module_path, sizeof module_path, "%s/model.ptx", work);
    if (write_module(module_path, &module_bytes) != 0)
        return 1;
    static struct series rows[NROWS];
    struct node cold, warm, cached;
    int rc = 1;
    memset(&warm, 0, sizeof warm);
    memset(&cached, 0, sizeof cached);
    if (node_start(&cold, "cold", 0, 0, tfuse) == 0 &&
        node_start(&warm, "warm", 1, 0, tfuse) == 0 &&
        node_start(&cached, "cached", 1, 1, tfuse) == 0) {
        double load;
        settle(&cached);
        run_once(build, prog, &cached, &load);   /* primes the tenant's module cache */
        for (int i = 0; i < pairs; i++) {   /* rounds of one pair per row: the host's drift */
            measure(build, prog, &cold, COLD, rows);       /* is shared by every row */
            measure(build, prog, &warm, WARM, rows);
            measure(build, prog, &cached, CACHED, rows);
        }
        node_stop(&cold);   /* the switch's node runs alone */
        node_stop(&warm);
        node_stop(&cached);
        json_t *sw = model_switch_measure(build, tfuse);
        int switched = json_is_true(json_object_get(sw, "ok"));
        report(rows, pairs, module_bytes, sw);   /* takes sw */
        rc = rows[COLD].failed + rows[WARM].failed + rows[CACHED].failed + rows[DIRECT].failed;
        rc = rc != 0 || !switched;
    }
    node_stop(&cold);
    node_stop(&warm);
    node_stop(&cached);
    softgpu_segment_remove(ns);
    if (rc == 0) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);   /* our own mkdtemp folder */
        if (system(cmd) != 0)
            fprintf(stderr, "bench_coldstart: cannot remove %s\n", work);
    }
    return rc;
}
