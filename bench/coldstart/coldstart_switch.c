/*
 * bench_coldstart's model-switch figure (issue 21): two models of MODEL MiB of weights each
 * (model_prog, results checked on every kernel) served by two processes that are sessions of
 * ONE vGPU, whose memory limit (1.5 x MODEL + 4 MiB) holds one model but not both, on a node
 * with --freeze-to host --switch-idle-ms IDLE (docs/freeze.md, "Model switching"). One
 * repetition measures, with model A running and idle for longer than IDLE (so that it may be
 * frozen) and B frozen:
 *   switch    B's next kernel: its call finds the vGPU's limit full, the node freezes A (idle)
 *             off the limit, B is charged again and resumed (its weights back from host memory
 *             at the same addresses), and its kernel runs; to the time it had completed
 *   scratch   a fresh process of model B on the same vGPU (a warm worker, the module cache)
 *             makes its context, loads the module, reads the weights; its allocation freezes
 *             A the same way; then the copy and the kernel; to the time it had completed
 * Both include A's freeze, reported from the node's log. Between the two, untimed, the node is
 * brought back to the same state (A running, B frozen). The figures are the median, the
 * fastest and the slowest of the repetitions, and the median of each repetition's ratio
 * switch / scratch.
 *
 *   TFUSE_COLDSTART_MODEL_MB   the weights of each model (default 256)
 *   TFUSE_COLDSTART_SWITCHES   repetitions (default 5)
 *
 * Owns: nothing. May call: coldstart.h, bench_common.h, jansson, libc; runs model_prog.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "coldstart.h"

#define MAX_REPS 32
#define IDLE_MS 100   /* --switch-idle-ms: A must have made no call for this long */

static char ns[64];   /* SOFTGPU_NAMESPACE=...: the switch's device, of its own size */

struct model {
    pid_t pid;
    FILE *in, *out;
};

struct sw_ctx {
    const char *build;
    char prog[600], weights[2][400], token[1][200];
    struct node n;
    struct model a, b;
};

static int env_int(const char *name, int def, int lo, int hi)
{
    const char *s = getenv(name);
    int v = s && *s ? atoi(s) : def;
    return v < lo ? lo : v > hi ? hi : v;
}

/* MB MiB of words that differ between seeds; 0 on success. */
static int write_weights(const char *path, int mb, uint32_t seed)
{
    FILE *f = fopen(path, "wb");
    static uint32_t chunk[1 << 18];   /* 1 MiB */
    uint32_t x = seed;
    for (int i = 0; f && i < mb; i++) {
        for (size_t j = 0; j < sizeof chunk / sizeof *chunk; j++) {
            x ^= x << 13;   /* xorshift32: cheap, and no two models alike */
            x ^= x >> 17;
            x ^= x << 5;
            chunk[j] = x;
        }
        if (fwrite(chunk, sizeof chunk, 1, f) != 1)
            break;
    }
    return f && fclose(f) == 0 && access(path, R_OK) == 0 ? 0 : -1;
}

/* model_prog WEIGHTS MODE through the node with the token; its stdin and stdout in m. */
static int model_start(struct sw_ctx *c, struct model *m, int which, int tok, const char *mode)
{
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0)
        return -1;
    char libdir[700];
    snprintf(libdir, sizeof libdir, "%s/lib/tfuse", c->build);
    fflush(NULL);
    m->pid = fork();
    if (m->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        setenv("LD_LIBRARY_PATH", libdir, 1);
        setenv("TFUSE_CONNECT", c->n.connect, 1);
        setenv("TFUSE_TOKEN", c->token[tok], 1);
        execl(c->prog, c->prog, c->weights[which], mode, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    m->in = fdopen(in[1], "w");
    m->out = fdopen(out[0], "r");
    return m->pid > 0 && m->in && m->out ? 0 : -1;
}

static void model_stop(struct model *m)
{
    if (m->in) {
        fputs("end\n", m->in);
        fclose(m->in);
    }
    if (m->out)
        fclose(m->out);
    if (m->pid > 0) {
        for (int i = 0; i < 100 && waitpid(m->pid, NULL, WNOHANG) != m->pid; i++)
            sleep_ms(50);
        if (kill(m->pid, SIGKILL) == 0)
            waitpid(m->pid, NULL, 0);
    }
    memset(m, 0, sizeof *m);
}

/* The time its kernel had completed ("done NS ok"), or -1 with the line it said instead.
 * until_ready: reads on to "ready" too (a serving process's start). */
static double model_done(struct model *m, int until_ready)
{
    char line[256];
    double done = -1;
    while (fgets(line, sizeof line, m->out)) {
        long long t;
        if (sscanf(line, "done %lld ok", &t) == 1)
            done = (double)t / 1e9;
        else if (strncmp(line, "ready", 5) != 0) {
            fprintf(stderr, "bench_coldstart: model switch: the model said: %s", line);
            return -1;
        }
        if (!until_ready || !strncmp(line, "ready", 5))
            return done;
    }
    fprintf(stderr, "bench_coldstart: model switch: a model exited early\n");
    return -1;
}

static double model_run(struct model *m)
{
    if (fputs("run\n", m->in) < 0 || fflush(m->in) != 0)
        return -1;
    return model_done(m, 0);
}

/* Untimed: the node's warm worker ready again after a session took it. */
static void warm_ready(struct sw_ctx *c)
{
    int sessions;
    for (double end = mono_s() + 30; mono_s() < end; sleep_ms(10))
        if (warm_ready_count(&c->n, &sessions) > 0)
            return;
}

struct sample {
    double total[MAX_REPS], freeze[MAX_REPS];
    int n;
};

/* The time of the node's latest freeze of a session for another ("... off its limit in T ms"):
 * the log is read from `from` on, *from moved past it. -1 when there is none. */
static double freeze_ms(struct sw_ctx *c, long *from)
{
    FILE *f = fopen(c->n.log, "r");
    char line[1024];
    double ms = -1;
    if (!f || fseek(f, *from, SEEK_SET) != 0) {
        if (f)
            fclose(f);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "off its limit in ");
        if (p && strstr(line, "to make room for session"))
            ms = strtod(p + strlen("off its limit in "), NULL);
    }
    *from = ftell(f);
    fclose(f);
    return ms;
}

/* Untimed: A and B have made no call for longer than the switch's idle time. */
static void idle_wait(void)
{
    sleep_ms(IDLE_MS + 50);
}

/* Switch: B's (frozen) next kernel, A frozen for it. Leaves A running and B frozen again. */
static int one_switch(struct sw_ctx *c, struct sample *s, long *logpos)
{
    freeze_ms(c, logpos);
    idle_wait();
    double t0 = mono_s(), done = model_run(&c->b);
    if (done < 0)
        return -1;
    s->total[s->n] = (done - t0) * 1e3;
    s->freeze[s->n++] = freeze_ms(c, logpos);
    idle_wait();
    return model_run(&c->a) > 0 ? 0 : -1;   /* B, idle, frozen for A */
}

/* Scratch: a fresh process of model B on the same vGPU, A frozen for it. Leaves A running and
 * B frozen. */
static int one_scratch(struct sw_ctx *c, struct sample *s, long *logpos)
{
    struct model fresh = {0};
    warm_ready(c);
    freeze_ms(c, logpos);
    idle_wait();
    double t0 = mono_s();
    double done = model_start(c, &fresh, 1, 0, "once") == 0 ? model_done(&fresh, 0) : -1;
    model_stop(&fresh);
    if (done < 0)
        return -1;
    s->total[s->n] = (done - t0) * 1e3;
    s->freeze[s->n++] = freeze_ms(c, logpos);
    return model_run(&c->a) > 0 ? 0 : -1;   /* the fresh B's memory went with it: A fits */
}

static json_t *spread(double *v, int n)
{
    return json_pack("{s:f, s:f, s:f}", "median", bench_percentile(v, n, 50), "min",
                     bench_percentile(v, n, 0), "max", bench_percentile(v, n, 100));
}

static json_t *report(struct sample *sw, struct sample *sc, int mb, int vgpu_mb, int dev_mb)
{
    double ratio[MAX_REPS];
    int n = sw->n < sc->n ? sw->n : sc->n;
    for (int i = 0; i < n; i++)
        ratio[i] = sw->total[i] / sc->total[i];
    return json_pack("{s:b, s:b, s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:o, s:o, s:f}", "ok", 1,
                     "one_vgpu", 1, "model_mib", mb, "vgpu_mib", vgpu_mb, "device_mib", dev_mb,
                     "switch_idle_ms", IDLE_MS, "repetitions", n, "switch_ms",
                     spread(sw->total, sw->n), "switch_freeze_a_ms", spread(sw->freeze, sw->n),
                     "scratch_ms", spread(sc->total, sc->n), "scratch_freeze_a_ms",
                     spread(sc->freeze, sc->n), "ratio_switch_vs_scratch",
                     bench_percentile(ratio, n, 50));
}

static void print_row(const json_t *o, const char *key, const char *name)
{
    json_t *v = json_object_get(o, key);
    printf("%-44s %9.1f %9.1f %9.1f\n", name, json_real_value(json_object_get(v, "median")),
           json_real_value(json_object_get(v, "min")), json_real_value(json_object_get(v, "max")));
}

void model_switch_print(const json_t *o)
{
    if (!json_is_true(json_object_get(o, "ok"))) {
        printf("\nmodel switch: not measured (a step failed; node log %s)\n",
               json_string_value(json_object_get(o, "node_log")));
        return;
    }
    printf("\nmodel switch on one vGPU: %d MiB of weights a model, a vGPU of %d MiB, %d "
           "repetitions (ms)\n%-44s %9s %9s %9s\n",
           (int)json_integer_value(json_object_get(o, "model_mib")),
           (int)json_integer_value(json_object_get(o, "vgpu_mib")),
           (int)json_integer_value(json_object_get(o, "repetitions")), "", "median", "fastest",
           "slowest");
    print_row(o, "switch_ms", "switch: B's call, A frozen, B resumed, kernel");
    print_row(o, "switch_freeze_a_ms", "  of which A's freeze (node's log)");
    print_row(o, "scratch_ms", "scratch: fresh B on the vGPU to its kernel");
    print_row(o, "scratch_freeze_a_ms", "  of which A's freeze (node's log)");
    printf("switch / scratch: %.2fx (median of the repetitions' ratios)\n",
           json_real_value(json_object_get(o, "ratio_switch_vs_scratch")));
}

/* The node, the one vGPU, A and B loaded on it (B's load froze A); A running, B frozen. */
static int setup(struct sw_ctx *c, const char *tfuse, int vgpu_mb, int dev_mb)
{
    static char mem[64];
    snprintf(mem, sizeof mem, "SOFTGPU_MEMORY=%dMiB", dev_mb);
    snprintf(ns, sizeof ns, "SOFTGPU_NAMESPACE=coldstart_switch_%d", (int)getpid());
    const char *env[] = {mem, ns, NULL};
    char idle[16];
    snprintf(idle, sizeof idle, "%d", IDLE_MS);
    const char *extra[] = {"--freeze-to", "host", "--switch-idle-ms", idle, "--ctx-overhead",
                           "0", "--oversubscribe-wait", "120", "--log-level", "info", NULL};
    if (node_launch(&c->n, "switch", 1, tfuse, extra, env) != 0 ||
        vgpu_create(&c->n, "mv", (long long)vgpu_mb << 20, c->token[0],
                    sizeof c->token[0]) != 0)
        return -1;
    if (model_start(c, &c->a, 0, 0, "serve") != 0 || model_done(&c->a, 1) < 0 ||
        model_start(c, &c->b, 1, 0, "serve") != 0 || model_done(&c->b, 1) < 0)
        return -1;
    idle_wait();
    return model_run(&c->a) > 0 ? 0 : -1;
}

json_t *model_switch_measure(const char *build, const char *tfuse)
{
    static struct sw_ctx c;
    static struct sample sw, sc;
    int mb = env_int("TFUSE_COLDSTART_MODEL_MB", 256, 1, 16384);
    int reps = env_int("TFUSE_COLDSTART_SWITCHES", 5, 1, MAX_REPS);
    int vgpu_mb = mb * 3 / 2 + 4, dev_mb = vgpu_mb + 16;
    long logpos = 0;
    c.build = build;
    signal(SIGPIPE, SIG_IGN);   /* "end" to a model that has exited */
    snprintf(c.prog, sizeof c.prog, "%s/bin/model_prog", build);
    int ok = 1;
    for (int i = 0; i < 2 && ok; i++) {
        snprintf(c.weights[i], sizeof c.weights[i], "%s/model-%c.bin", work, 'a' + i);
        ok = write_weights(c.weights[i], mb, 0x9e3779b9u * (uint32_t)(i + 1)) == 0;
    }
    ok = ok && setup(&c, tfuse, vgpu_mb, dev_mb) == 0;
    for (int i = 0; i < reps && ok; i++)
        ok = one_switch(&c, &sw, &logpos) == 0 && one_scratch(&c, &sc, &logpos) == 0;
    json_t *out = ok ? report(&sw, &sc, mb, vgpu_mb, dev_mb)
                     : json_pack("{s:b, s:s, s:s}", "ok", 0, "error", "a step failed (see the "
                                 "messages above)", "node_log", c.n.log);
    model_stop(&c.a);
    model_stop(&c.b);
    node_stop(&c.n);
    for (int i = 0; i < 2; i++)
        unlink(c.weights[i]);
    if (ns[0])
        softgpu_segment_remove(ns + strlen("SOFTGPU_NAMESPACE="));
    return out;
}
