/*
 * `tfuse run --pool URL` (see poolrun.h): POST an allocation to the pool manager with an
 * idempotency key (a POST retried after a lost answer cannot allocate twice), run the program
 * on the answer's connect address and token exactly as `tfuse run --connect ADDR --vgpu TOKEN`
 * does (with --gpus N, the gang's N tokens as one list: devices 0..N-1), and DELETE the
 * allocation afterwards, also when the program fails or is killed. The pool's calls carry the
 * caller's pool credential (--pool-token-file, else $TFUSE_POOL_TOKEN), never the nodes' API
 * token.
 * May call: nodeapi.h (HTTP/JSON client), src/vgpu (size parsing), src/common/credfile.h,
 * main.c's cli_run_child.
 */
#include "flags.h"
#include "poolrun.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "credfile.h"
#include "nodeapi.h"
#include "vgpu_parse.h"

#define ATTEMPTS 3
#define POOL_MAX_GPUS 16   /* the pool's gang bound and the worker's vGPUs per session */

struct pool_opts {
    const char *pool, *vram, *tflops, *tflops_limit, *compute, *limit, *qos, *tenant, *gpus,
        *model, *strategy, *token_file;
    int ngpus;   /* --gpus: the gang size (gpu_count), 1 when not given */
};

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    interrupted = sig;
}

int poolrun_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--pool") == 0)
            return 1;
    return 0;
}

static int parse(int argc, char **argv, struct pool_opts *o, int *prog)
{
    static const struct cli_flag flags[] = {
        CLI_FLAG("--pool", struct pool_opts, pool),
        CLI_FLAG("--vram", struct pool_opts, vram),
        CLI_FLAG("--tflops", struct pool_opts, tflops),
        CLI_FLAG("--tflops-limit", struct pool_opts, tflops_limit),
        CLI_FLAG("--compute", struct pool_opts, compute),
        CLI_FLAG("--compute-limit", struct pool_opts, limit),
        CLI_FLAG("--qos", struct pool_opts, qos),
        CLI_FLAG("--tenant", struct pool_opts, tenant),
        CLI_FLAG("--gpus", struct pool_opts, gpus),
        CLI_FLAG("--model", struct pool_opts, model),
        CLI_FLAG("--strategy", struct pool_opts, strategy),
        CLI_FLAG("--pool-token-file", struct pool_opts, token_file),
    };
    int i = cli_parse_flags("tfuse run --pool", argc, argv, flags, sizeof flags / sizeof flags[0], o);
    if (i < 0)
        return -1;
    *prog = i;
    if (i >= argc || !o->vram || !o->tflops == !o->compute) {
        fprintf(stderr, "tfuse run --pool: need --vram SIZE, exactly one of --tflops N and "
                        "--compute PCT, and -- PROGRAM\n");
        return -1;
    }
    if ((o->tflops_limit && !o->tflops) || (o->limit && !o->compute)) {
        fprintf(stderr, "tfuse run --pool: --tflops-limit goes with --tflops, --compute-limit "
                        "with --compute\n");
        return -1;
    }
    if (o->gpus) {
        char *end;
        long n = strtol(o->gpus, &end, 10);
        if (end == o->gpus || *end || n < 1 || n > POOL_MAX_GPUS) {
            fprintf(stderr, "tfuse run --pool: --gpus %s: expected a count from 1 to %d\n",
                    o->gpus, POOL_MAX_GPUS);
            return -1;
        }
        o->ngpus = (int)n;
    }
    return 0;
}

/* "20", "20%": a percent in (0, 100]; "12.5": TFLOPs when pct is 0. */
static int parse_number(const char *flag, const char *text, int pct, double *out)
{
    char *end;
    double x = strtod(text, &end);
    if (pct && *end == '%')
        end++;
    if (end == text || *end || !(x > 0) || (pct && x > 100) || x > 1e9) {
        fprintf(stderr, "tfuse run --pool: %s '%s': expected %s\n", flag, text,
                pct ? "a percent in (0, 100], e.g. 20%" : "a positive number of TFLOPs");
        return -1;
    }
    *out = x;
    return 0;
}

static json_t *request_body(const struct pool_opts *o, const char *key)
{
    uint64_t vram;
    char err[256];
    double x;
    if (vgpu_parse_size(o->vram, &vram, err, sizeof err) != 0) {
        fprintf(stderr, "tfuse run --pool: --vram: %s\n", err);
        return NULL;
    }
    /* No tenant named: a tenant's credential allocates for that tenant (the admin's, for
     * "default"). */
    const char *tenant = o->tenant ? o->tenant : getenv("TFUSE_TENANT");
    json_t *b = json_pack("{s:I, s:s}", "vram_request", (json_int_t)vram, "idempotency_key", key);
    if (tenant)
        json_object_set_new(b, "tenant", json_string(tenant));
    struct { const char *flag, *text, *field; int pct; } nums[] = {
        {"--tflops", o->tflops, "tflops_request", 0},
        {"--tflops-limit", o->tflops_limit, "tflops_limit", 0},
        {"--compute", o->compute, "compute_request_pct", 1},
        {"--compute-limit", o->limit, "compute_limit_pct", 1},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        if (!nums[i].text)
            continue;
        if (parse_number(nums[i].flag, nums[i].text, nums[i].pct, &x) != 0) {
            json_decref(b);
            return NULL;
        }
        json_object_set_new(b, nums[i].field, json_real(x));
    }
    if (o->qos)
        json_object_set_new(b, "qos", json_string(o->qos));
    if (o->model)
        json_object_set_new(b, "model", json_string(o->model));
    if (o->strategy)
        json_object_set_new(b, "strategy", json_string(o->strategy));
    if (o->ngpus > 1)
        json_object_set_new(b, "gpu_count", json_integer(o->ngpus));
    return b;
}

/* Unique per run: host, pid and the time; only characters the pool accepts in keys. */
static void make_key(char *key, size_t len)
{
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    for (char *p = host; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '-';
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(key, len, "run-%s-%d-%lld%09ld", host, (int)getpid(), (long long)ts.tv_sec,
             ts.tv_nsec);
}

/* POSTs the allocation, retrying (same key) while the pool is unreachable or still busy with
 * the first attempt. Returns the answer or NULL (after saying why). */
static json_t *allocate(const char *pool, json_t *body)
{
    char err[512] = "";
    json_t *reply = NULL;
    int status = 0;
    for (int attempt = 0; attempt < ATTEMPTS && !interrupted; attempt++) {
        if (attempt)
            sleep(1);
        json_decref(reply);
        status = nodeapi_call(pool, "POST", "/api/v1/allocations", body, &reply, err, sizeof err);
        if (status != 0 && status != 409 && status < 500)
            break;
        const char *reason = json_string_value(json_object_get(reply, "error"));
        if (status == 409 && !(reason && strcmp(reason, "conflict") == 0))
            break;   /* no_capacity: a retry would not change the answer */
    }
    if (status == 200 || status == 201)
        return reply;   /* run_allocated checks it, and releases it whatever it holds */
    if (status)
        fprintf(stderr, "tfuse run --pool: the pool refused the allocation (HTTP %d): %s\n",
                status, nodeapi_message(reply, "no message"));
    else if (interrupted)
        fprintf(stderr, "tfuse run --pool: interrupted\n");
    else {   /* err says "node API ADDR: WHY" (the client is shared with `tfuse vgpu`) */
        const char *at = strstr(err, pool), *why = err;
        if (at && strncmp(at + strlen(pool), ": ", 2) == 0)
            why = at + strlen(pool) + 2;
        fprintf(stderr, "tfuse run --pool: cannot reach the pool at %s (%s)\n", pool, why);
    }
    json_decref(reply);
    return NULL;
}

static void release(const char *pool, const char *id)
{
    char path[256], err[512] = "";
    snprintf(path, sizeof path, "/api/v1/allocations/%s", id);
    int status = 0;
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        if (attempt)
            sleep(1);
        json_t *reply = NULL;
        status = nodeapi_call(pool, "DELETE", path, NULL, &reply, err, sizeof err);
        json_decref(reply);
        if (status == 204 || status == 200 || status == 404)
            return;
        if (status != 0 && status != 409 && status < 500)
            break;
    }
    fprintf(stderr, "tfuse run --pool: could not release allocation %s (%s); release it with "
                    "`tfuse pool release %s --pool %s`\n", id,
            status ? "the pool refused" : err, id, pool);
}

/* The allocation's gang as one session: the node's connect address (every device of a gang is
 * on one node, and a node gives one address) and the tokens in the pool's order, joined with
 * commas (the session's device i is the gang's device i). Returns 0, or -1 after saying why. */
static int gang_tokens(json_t *alloc, int want, const char **connect, char *tokens, size_t len)
{
    json_t *devs = json_object_get(alloc, "devices");
    if ((int)json_array_size(devs) != want) {
        fprintf(stderr, "tfuse run --pool: the pool's answer holds %zu devices, not %d\n",
                json_array_size(devs), want);
        return -1;
    }
    *connect = NULL;
    tokens[0] = '\0';
    for (int i = 0; i < want; i++) {
        json_t *dev = json_array_get(devs, (size_t)i);
        const char *c = json_string_value(json_object_get(dev, "connect"));
        const char *t = json_string_value(json_object_get(dev, "token"));
        if (!c || !t) {
            fprintf(stderr, "tfuse run --pool: device %d of the pool's answer has no connect "
                            "address or token\n", i);
            return -1;
        }
        if (*connect && strcmp(*connect, c) != 0) {
            fprintf(stderr, "tfuse run --pool: the gang's devices are reached at different "
                            "addresses (%s, %s): one program connects to one node\n", *connect, c);
            return -1;
        }
        *connect = c;
        size_t at = strlen(tokens);
        if ((size_t)snprintf(tokens + at, len - at, "%s%s", i ? "," : "", t) >= len - at) {
            fprintf(stderr, "tfuse run --pool: the gang's tokens are too long\n");
            return -1;
        }
    }
    return 0;
}

static int run_allocated(const char *pool, json_t *alloc, int ngpus, char **argv)
{
    const char *id = json_string_value(json_object_get(alloc, "id"));
    const char *connect = NULL;
    char token[4096];
    if (!id)
        return 2;
    int rc = 2;
    if (gang_tokens(alloc, ngpus, &connect, token, sizeof token) != 0)
        ;   /* said why; released below */
    else if (interrupted)
        rc = 128 + interrupted;
    else {
        fprintf(stderr, "tfuse run: allocation %s on node %s (%s)\n", id,
                json_string_value(json_object_get(alloc, "node")), connect);
        rc = cli_run_child(connect, token, argv);
    }
    release(pool, id);
    return rc;
}

/* The pool credential every call presents (the node API token is not the pool's to see). */
static int use_pool_token(const struct pool_opts *o, char *buf, size_t len)
{
    char err[600];
    bool loose;
    if (!o->token_file) {
        nodeapi_set_token(getenv("TFUSE_POOL_TOKEN"));
        return 0;
    }
    int rc = tf_cred_read(o->token_file, buf, len, &loose, err, sizeof err);
    if (rc <= 0) {
        fprintf(stderr, "tfuse run --pool: --pool-token-file: %s\n",
                rc == 0 ? "no such file" : err);
        return -1;
    }
    if (loose)
        fprintf(stderr, "tfuse run --pool: warning: %s can be read by other users\n",
                o->token_file);
    nodeapi_set_token(buf);
    return 0;
}

int poolrun_main(int argc, char **argv)
{
    struct pool_opts o = {0};
    int prog;
    static char token[TF_CRED_MAX];
    if (parse(argc, argv, &o, &prog) != 0 || use_pool_token(&o, token, sizeof token) != 0)
        return 2;
    char pool[512];
    size_t n = strlen(o.pool);
    while (n > 1 && o.pool[n - 1] == '/')   /* the API paths are appended to it */
        n--;
    if (n >= sizeof pool) {
        fprintf(stderr, "tfuse run --pool: the pool URL is too long\n");
        return 2;
    }
    memcpy(pool, o.pool, n);
    pool[n] = '\0';
    char key[128];
    make_key(key, sizeof key);
    json_t *body = request_body(&o, key);
    if (!body)
        return 2;
    /* Until the program runs, a SIGTERM/SIGHUP/^C only marks the run interrupted, so that an
     * allocation made meanwhile is released rather than leaked. */
    struct sigaction sa = {.sa_handler = on_interrupt};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    json_t *alloc = allocate(pool, body);
    json_decref(body);
    if (!alloc)
        return 2;
    int rc = run_allocated(pool, alloc, o.ngpus > 1 ? o.ngpus : 1, &argv[prog]);
    json_decref(alloc);
    return rc;
}
