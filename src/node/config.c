/*
 * `tfuse node` options (see config.h): the one table, and the layers built from it. Flags are
 * collected first (they name the config file), then the layers are applied lowest first:
 * defaults, file, environment, flags; a layer overwrites a scalar and replaces a list.
 *
 * Owns: the option table, the config file syntax. May call: libc, vgpu_parse.h, log.h.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "vgpu_parse.h"

enum kind { K_STRING, K_LIST, K_BOOL, K_SIZE, K_SECONDS, K_LEVEL, K_COUNT };

struct option_def {
    const char *name;         /* flag without dashes; also the config file key */
    char short_name;          /* 0: none */
    const char *env;
    enum kind kind;
    const char *def;          /* default value as text; NULL: unset */
    const char *arg;          /* the value's name in --help */
    int reloadable;
    const char *help;
};

/* Indexed by enum node_option. */
static const struct option_def table[NO_COUNT] = {
    [NO_CONFIG] = {"config", 0, "TFUSE_NODE_CONFIG", K_STRING, NULL, "FILE", 0,
                   "config file of `key = value` lines (default " NODE_CONFIG_DEFAULT_FILE
                   " when it exists; \"\" for none)"},
    [NO_BACKEND] = {"backend", 'b', "TFUSE_NODE_BACKEND", K_STRING, "auto",
                    "auto|soft|nvidia|PATH", 0,
                    "CUDA driver the workers run: auto = NVIDIA's libcuda.so.1 when it reports "
                    "a device, softgpu otherwise"},
    [NO_LISTEN] = {"listen", 'l', "TFUSE_NODE_LISTEN", K_LIST, NULL, "ADDR", 0,
                   "session address unix:PATH or tcp:HOST:PORT (TLS with --tls-cert: "
                   "tls:HOST:PORT); repeatable (required)"},
    [NO_TOKEN] = {"token", 't', "TFUSE_NODE_SESSION_TOKEN", K_STRING, NULL, "TOKEN", 1,
                  "token every session must present (new sessions)"},
    [NO_STATE] = {"state", 's', "TFUSE_NODE_STATE", K_STRING, NULL, "DIR", 0,
                  "state folder (module cache); default /tmp/tfuse-node-UID"},
    [NO_API] = {"api", 0, "TFUSE_NODE_API", K_LIST, NULL, "ADDR", 0,
                "HTTP control API address unix:PATH or tcp:HOST:PORT; repeatable; turns on "
                "vGPUs"},
    [NO_API_TOKEN] = {"api-token", 0, "TFUSE_NODE_TOKEN", K_STRING, NULL, "TOKEN", 1,
                      "bearer token remote (tcp) API clients must present"},
    [NO_OVERSUBSCRIBE] = {"oversubscribe", 0, "TFUSE_NODE_OVERSUBSCRIBE", K_BOOL, "false", NULL,
                          0, "let the vGPUs' memory limits add up to more than the device"},
    [NO_ALLOW_UNLIMITED] = {"allow-unlimited", 0, "TFUSE_NODE_ALLOW_UNLIMITED", K_BOOL, "false",
                            NULL, 1, "with --api: sessions without a vGPU token get a whole "
                            "device (new sessions)"},
    [NO_CTX_OVERHEAD] = {"ctx-overhead", 0, "TFUSE_NODE_CTX_OVERHEAD", K_SIZE, NULL, "SIZE", 1,
                         "memory charged to a vGPU per context (default the worker's, 32MiB; "
                         "new sessions)"},
    [NO_POOL] = {"pool", 0, "TFUSE_NODE_POOL", K_STRING, NULL, "URL", 0,
                 "register with the pool manager at URL (needs --api)"},
    [NO_NODE_NAME] = {"node-name", 0, "TFUSE_NODE_NODE_NAME", K_STRING, NULL, "NAME", 0,
                      "name at the pool (default the host name)"},
    [NO_ADVERTISE] = {"advertise", 0, "TFUSE_NODE_ADVERTISE", K_STRING, NULL, "tcp:HOST:PORT",
                      0, "API address the pool calls (default the first tcp --api)"},
    [NO_POOL_JOIN_TOKEN] = {"pool-join-token", 0, "TFUSE_NODE_POOL_JOIN_TOKEN", K_STRING, NULL,
                            "TOKEN", 0, "the pool's join token, which admits a new node (the "
                            "pool then gives it a credential of its own, kept in --state)"},
    [NO_POOL_JOIN_TOKEN_FILE] = {"pool-join-token-file", 0, "TFUSE_NODE_POOL_JOIN_TOKEN_FILE",
                                 K_STRING, NULL, "FILE", 0,
                                 "the join token read from FILE (kept off the command line)"},
    [NO_HEARTBEAT_INTERVAL] = {"heartbeat-interval", 0, "TFUSE_NODE_HEARTBEAT_INTERVAL",
                               K_SECONDS, NULL, "SECONDS", 0,
                               "pool heartbeat period, 0.05-3600 (default 3)"},
    [NO_DRAIN_TIMEOUT] = {"drain-timeout", 0, "TFUSE_NODE_DRAIN_TIMEOUT", K_SECONDS, "30",
                          "SECONDS", 1,
                          "on SIGTERM, how long running sessions may finish before they are "
                          "stopped"},
    [NO_LOG_LEVEL] = {"log-level", 0, "TFUSE_LOG", K_LEVEL, "info", "error|warn|info|debug", 1,
                      "log level"},
    [NO_LOG_SYSLOG] = {"log-syslog", 0, "TFUSE_NODE_LOG_SYSLOG", K_BOOL, "false", NULL, 1,
                       "log to syslog (facility daemon) instead of stderr"},
    [NO_MAX_SESSIONS] = {"max-sessions", 0, "TFUSE_NODE_MAX_SESSIONS", K_COUNT, "256", "N", 0,
                         "sessions (worker processes) at once; more are refused with a reason"},
    [NO_MAX_SESSIONS_PER_VGPU] = {"max-sessions-per-vgpu", 0, "TFUSE_NODE_MAX_SESSIONS_PER_VGPU",
                                  K_COUNT, "64", "N", 1, "sessions of one vGPU at once, 1-64 "
                                  "(new sessions)"},
    [NO_MAX_HANDSHAKES] = {"max-handshakes", 0, "TFUSE_NODE_MAX_HANDSHAKES", K_COUNT, "128", "N",
                           0, "session connections waiting for their handshake, in all; more "
                           "are closed at once"},
    [NO_MAX_HANDSHAKES_PER_HOST] = {"max-handshakes-per-host", 0,
                                    "TFUSE_NODE_MAX_HANDSHAKES_PER_HOST", K_COUNT, "32", "N", 1,
                                    "the same, per client address (unix: per user)"},
    [NO_HANDSHAKE_TIMEOUT] = {"handshake-timeout", 0, "TFUSE_NODE_HANDSHAKE_TIMEOUT", K_COUNT,
                              "10", "SECONDS", 1, "a session connection without a whole "
                              "handshake this long is closed (new connections)"},
    [NO_API_MAX_CONNECTIONS] = {"api-max-connections", 0, "TFUSE_NODE_API_MAX_CONNECTIONS",
                                K_COUNT, "1000", "N", 0, "connections to each tcp --api, in all"},
    [NO_API_MAX_PER_HOST] = {"api-max-per-host", 0, "TFUSE_NODE_API_MAX_PER_HOST", K_COUNT, "64",
                             "N", 0, "connections to each tcp --api from one client address"},
    [NO_API_IDLE_TIMEOUT] = {"api-idle-timeout", 0, "TFUSE_NODE_API_IDLE_TIMEOUT", K_COUNT, "30",
                             "SECONDS", 0, "an API connection silent this long is closed"},
    [NO_TLS_CERT] = {"tls-cert", 0, "TFUSE_NODE_TLS_CERT", K_STRING, NULL, "FILE", 0,
                     "PEM certificate chain: every tcp --api serves https and every tcp "
                     "--listen TLS (needs --tls-key)"},
    [NO_TLS_KEY] = {"tls-key", 0, "TFUSE_NODE_TLS_KEY", K_STRING, NULL, "FILE", 0,
                    "PEM private key of --tls-cert"},
    [NO_CA_FILE] = {"ca-file", 0, "TFUSE_CA_FILE", K_STRING, NULL, "FILE", 0,
                    "PEM CA bundle trusted for an https --pool (default the system store)"},
    [NO_POOL_NAME] = {"pool-name", 0, "TFUSE_NODE_POOL_NAME", K_STRING, NULL, "NAME", 0,
                      "the pool (of the pool manager) the node joins (default its default)"},
    [NO_LABEL] = {"label", 0, "TFUSE_NODE_LABELS", K_LIST, NULL, "KEY=VALUE", 0,
                  "a label sent at registration, which allocations can ask for; repeatable"},
    [NO_MODULE_CACHE_MAX] = {"module-cache-max", 0, "TFUSE_NODE_MODULE_CACHE_MAX", K_SIZE,
                             "1GiB", "SIZE", 1, "module images cached in all, least recently "
                             "used evicted first; 0: no cache (new sessions)"},
    [NO_MODULE_CACHE_PER_VGPU] = {"module-cache-per-vgpu", 0, "TFUSE_NODE_MODULE_CACHE_PER_VGPU",
                                  K_SIZE, "256MiB", "SIZE", 1, "module images cached per vGPU "
                                  "(each vGPU sees only its own); 0: no cache (new sessions)"},
    [NO_WARM] = {"warm", 0, "TFUSE_NODE_WARM", K_COUNT, "1", "N", 1, "warm workers per device, "
                 "started before clients with the backend loaded and a context made; 0: off"},
    [NO_FREEZE_TO] = {"freeze-to", 0, "TFUSE_NODE_FREEZE_TO", K_STRING, "off", "off|host|disk",
                      0, "vGPUs can be frozen (sessions allocate through the virtual memory "
                      "API), to host memory or to files under --state (docs/freeze.md)"},
    [NO_FREEZE_IDLE] = {"freeze-idle", 0, "TFUSE_NODE_FREEZE_IDLE", K_COUNT, NULL, "SECONDS", 0,
                        "freeze a vGPU whose sessions made no call for SECONDS (needs "
                        "--freeze-to; host when off)"},
    [NO_OVERSUBSCRIBE_MEMORY] = {"oversubscribe-memory", 0, "TFUSE_NODE_OVERSUBSCRIBE_MEMORY",
                                 K_STRING, NULL, "RATIO", 0, "let a device's vGPU memory limits "
                                 "add up to RATIO x its memory, freezing the least recently "
                                 "active vGPUs to make room (needs --freeze-to)"},
    [NO_OVERSUBSCRIBE_WAIT] = {"oversubscribe-wait", 0, "TFUSE_NODE_OVERSUBSCRIBE_WAIT", K_COUNT,
                               "10", "SECONDS", 0, "how long an allocation or resume waits for "
                               "room before it fails with CUDA_ERROR_OUT_OF_MEMORY"},
    [NO_SWITCH_IDLE_MS] = {"switch-idle-ms", 0, "TFUSE_NODE_SWITCH_IDLE_MS", K_COUNT, NULL, "MS",
                           0, "model switching: an allocation past its vGPU's limit freezes "
                           "the vGPU's other sessions idle for MS (needs --freeze-to)"},
};

static const double seconds_min[NO_COUNT] = {[NO_HEARTBEAT_INTERVAL] = 0.05};
/* K_COUNT bounds; the minimum is 1 for every one. 64: a vGPU's process table (VGPU_MAX_PROCS). */
static const int count_max[NO_COUNT] = {
    [NO_MAX_SESSIONS] = 4096, [NO_MAX_SESSIONS_PER_VGPU] = 64, [NO_MAX_HANDSHAKES] = 4096,
    [NO_MAX_HANDSHAKES_PER_HOST] = 65536, [NO_HANDSHAKE_TIMEOUT] = 3600,
    [NO_API_MAX_CONNECTIONS] = 1000000, [NO_API_MAX_PER_HOST] = 1000000,
    [NO_API_IDLE_TIMEOUT] = 86400, [NO_WARM] = 16, [NO_FREEZE_IDLE] = 86400 * 30,
    [NO_OVERSUBSCRIBE_WAIT] = 3600, [NO_SWITCH_IDLE_MS] = 3600000};
/* K_COUNT minimums other than 1: a count where 0 turns the feature off. */
static int count_min(enum node_option o) { return o == NO_WARM ? 0 : 1; }
static const double seconds_max[NO_COUNT] = {[NO_HEARTBEAT_INTERVAL] = 3600,
                                             [NO_DRAIN_TIMEOUT] = 86400};

const char *node_option_name(enum node_option o) { return o < NO_COUNT ? table[o].name : "?"; }
const char *node_option_env(enum node_option o) { return o < NO_COUNT ? table[o].env : "?"; }
int node_option_reloadable(enum node_option o) { return o < NO_COUNT && table[o].reloadable; }

const char *node_config_origin_name(enum node_config_origin origin)
{
    static const char *names[] = {"default", "config file", "environment", "flag"};
    return origin <= NC_FROM_FLAG ? names[origin] : "?";
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- one value ---- */

static char **string_slot(struct node_config *c, enum node_option o)
{
    switch (o) {
    case NO_CONFIG: return &c->config;
    case NO_BACKEND: return &c->backend;
    case NO_TOKEN: return &c->token;
    case NO_STATE: return &c->state;
    case NO_API_TOKEN: return &c->api_token;
    case NO_POOL: return &c->pool;
    case NO_NODE_NAME: return &c->node_name;
    case NO_ADVERTISE: return &c->advertise;
    case NO_TLS_CERT: return &c->tls_cert;
    case NO_TLS_KEY: return &c->tls_key;
    case NO_CA_FILE: return &c->ca_file;
    case NO_POOL_JOIN_TOKEN: return &c->pool_join_token;
    case NO_POOL_JOIN_TOKEN_FILE: return &c->pool_join_token_file;
    case NO_POOL_NAME: return &c->pool_name;
    case NO_FREEZE_TO: return &c->freeze_to;
    case NO_OVERSUBSCRIBE_MEMORY: return &c->oversubscribe_memory;
    default: return NULL;
    }
}

/* A size option's value and its "was set" flag. */
static uint64_t *size_slot(struct node_config *c, enum node_option o, int **set)
{
    *set = o == NO_MODULE_CACHE_MAX ? &c->module_cache_max_set
         : o == NO_MODULE_CACHE_PER_VGPU ? &c->module_cache_per_vgpu_set : &c->ctx_overhead_set;
    return o == NO_MODULE_CACHE_MAX ? &c->module_cache_max
         : o == NO_MODULE_CACHE_PER_VGPU ? &c->module_cache_per_vgpu : &c->ctx_overhead;
}

static char **list_slot(struct node_config *c, enum node_option o, int **count)
{
    *count = o == NO_LISTEN ? &c->nlisten : o == NO_LABEL ? &c->nlabel : &c->napi;
    return o == NO_LISTEN ? c->listen : o == NO_LABEL ? c->label : c->api;
}

static int parse_bool(const char *text, int *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(text, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

static int set_list(struct node_config *c, enum node_option o, const char *text, char *err,
                    size_t errlen)
{
    int *count;
    char **list = list_slot(c, o, &count);
    if (!*text) {
        set_err(err, errlen, "empty address");
        return -1;
    }
    if (*count == NODE_CONFIG_LIST_MAX) {
        set_err(err, errlen, "at most %d addresses", NODE_CONFIG_LIST_MAX);
        return -1;
    }
    if (!(list[*count] = strdup(text))) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    (*count)++;
    return 0;
}

static void clear_list(struct node_config *c, enum node_option o)
{
    int *count;
    char **list = list_slot(c, o, &count);
    for (int i = 0; i < *count; i++)
        free(list[i]);
    *count = 0;
}

/* Stores one value of option o; a message in err (without the option's name) on bad input. */
static int set_value(struct node_config *c, enum node_option o, const char *text, char *err,
                     size_t errlen)
{
    const struct option_def *d = &table[o];
    char *end;
    switch (d->kind) {
    case K_STRING: {
        char *copy = strdup(text), **slot = string_slot(c, o);
        if (!copy) {
            set_err(err, errlen, "out of memory");
            return -1;
        }
        free(*slot);
        *slot = copy;
        return 0;
    }
    case K_LIST:
        return set_list(c, o, text, err, errlen);
    case K_BOOL: {
        int *slot = o == NO_OVERSUBSCRIBE ? &c->oversubscribe
                  : o == NO_ALLOW_UNLIMITED ? &c->allow_unlimited : &c->log_syslog;
        if (parse_bool(text, slot) != 0) {
            set_err(err, errlen, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)", text);
            return -1;
        }
        return 0;
    }
    case K_SIZE: {
        int *set;
        uint64_t *slot = size_slot(c, o, &set);
        if (strcmp(text, "0") == 0) {
            *slot = 0;
        } else if (vgpu_parse_size(text, slot, err, errlen) != 0) {
            return -1;
        }
        *set = 1;
        return 0;
    }
    case K_SECONDS: {
        double v = strtod(text, &end), lo = seconds_min[o], hi = seconds_max[o];
        double *slot = o == NO_DRAIN_TIMEOUT ? &c->drain_timeout : &c->heartbeat_interval;
        if (end == text || *end || !isfinite(v) || v < lo || v > hi) {
            set_err(err, errlen, "'%s' is not a number of seconds in %g-%g", text, lo, hi);
            return -1;
        }
        *slot = v;
        return 0;
    }
    case K_COUNT: {
        long v = strtol(text, &end, 10);
        if (end == text || *end || v < count_min(o) || v > count_max[o]) {
            set_err(err, errlen, "'%s' is not a whole number in %d-%d", text, count_min(o),
                    count_max[o]);
            return -1;
        }
        c->counts[o] = (int)v;
        return 0;
    }
    case K_LEVEL: {
        int level = tf_log_parse_level(text);
        if (level < 0) {
            set_err(err, errlen, "'%s' is not a log level (error, warn, info, debug)", text);
            return -1;
        }
        c->log_level = level;
        return 0;
    }
    }
    return -1;
}

/* Sets o from layer origin: a list set by a lower layer is replaced, not extended. */
static int apply(struct node_config *c, enum node_option o, const char *text,
                 enum node_config_origin origin, char *err, size_t errlen)
{
    if (table[o].kind == K_LIST && c->origin[o] != origin)
        clear_list(c, o);
    if (set_value(c, o, text, err, errlen) != 0)
        return -1;
    c->origin[o] = origin;
    return 0;
}

void node_config_format(const struct node_config *c, enum node_option o, char *out,
                        size_t outlen)
{
    struct node_config *m = (struct node_config *)c;  /* the slot helpers are shared */
    out[0] = '\0';
    switch (o < NO_COUNT ? table[o].kind : K_STRING) {
    case K_STRING: {
        char **slot = o < NO_COUNT ? string_slot(m, o) : NULL;
        snprintf(out, outlen, "%s", slot && *slot ? *slot : "");
        break;
    }
    case K_LIST: {
        int *count, used = 0;
        char **list = list_slot(m, o, &count);
        for (int i = 0; i < *count && used < (int)outlen; i++)
            used += snprintf(out + used, outlen - (size_t)used, "%s%s", i ? " " : "", list[i]);
        break;
    }
    case K_BOOL: {
        int v = o == NO_OVERSUBSCRIBE ? c->oversubscribe
              : o == NO_ALLOW_UNLIMITED ? c->allow_unlimited : c->log_syslog;
        snprintf(out, outlen, "%s", v ? "true" : "false");
        break;
    }
    case K_SIZE: {
        int *set;
        uint64_t *slot = size_slot(m, o, &set);
        if (*set)
            snprintf(out, outlen, "%llu", (unsigned long long)*slot);
        break;
    }
    case K_SECONDS: {
        double v = o == NO_DRAIN_TIMEOUT ? c->drain_timeout : c->heartbeat_interval;
        if (c->origin[o] != NC_FROM_DEFAULT || table[o].def)
            snprintf(out, outlen, "%g", v);
        break;
    }
    case K_COUNT:
        snprintf(out, outlen, "%d", c->counts[o]);
        break;
    case K_LEVEL: {
        static const char *names[] = {"error", "warn", "info", "debug"};
        snprintf(out, outlen, "%s", names[c->log_level & 3]);
        break;
    }
    }
}

/* ---- layers ---- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int find_key(const char *key)
{
    char norm[64];
    snprintf(norm, sizeof norm, "%s", key);
    for (char *p = norm; *p; p++)
        if (*p == '_')
            *p = '-';
    for (int o = 0; o < NO_COUNT; o++)
        if (strcmp(norm, table[o].name) == 0)
            return o;
    return -1;
}

/* One `key = value` line of the file (comments and blank lines already skipped). */
static int file_line(struct node_config *c, char *line, char *err, size_t errlen)
{
    char *eq = strchr(line, '=');
    if (!eq) {
        set_err(err, errlen, "expected `key = value`");
        return -1;
    }
    *eq = '\0';
    char *key = trim(line), *value = trim(eq + 1);
    size_t vlen = strlen(value);
    if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
        value[vlen - 1] = '\0';
        value++;
    }
    int o = find_key(key);
    if (o < 0 || o == NO_CONFIG) {
        set_err(err, errlen, "unknown key '%s'%s", key,
                o == NO_CONFIG ? " (a config file cannot name another)" : "");
        return -1;
    }
    char why[256];
    if (apply(c, (enum node_option)o, value, NC_FROM_FILE, why, sizeof why) != 0) {
        set_err(err, errlen, "%s: %s", table[o].name, why);
        return -1;
    }
    return 0;
}

static int load_file(struct node_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        set_err(err, errlen, "config file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096], why[512];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            set_err(err, errlen, "%s:%d: line too long", path, lineno);
            rc = -1;
            break;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (*s && file_line(c, s, why, sizeof why) != 0) {
            set_err(err, errlen, "%s:%d: %s", path, lineno, why);
            rc = -1;
        }
    }
    if (rc == 0 && ferror(f)) {
        set_err(err, errlen, "config file %s: read error", path);
        rc = -1;
    }
    fclose(f);
    return rc;
}

static int load_env(struct node_config *c, char *err, size_t errlen)
{
    char why[256];
    for (int o = 0; o < NO_COUNT; o++) {
        const char *v = getenv(table[o].env);
        if (o == NO_CONFIG || !v || !*v)
            continue;
        if (table[o].kind != K_LIST) {
            if (apply(c, (enum node_option)o, v, NC_FROM_ENV, why, sizeof why) != 0) {
                set_err(err, errlen, "$%s: %s", table[o].env, why);
                return -1;
            }
            continue;
        }
        char *copy = strdup(v), *save = NULL;   /* a list: words split on spaces or commas */
        if (!copy) {
            set_err(err, errlen, "out of memory");
            return -1;
        }
        int rc = 0;
        for (char *w = strtok_r(copy, " \t,", &save); w && rc == 0;
             w = strtok_r(NULL, " \t,", &save))
            if ((rc = apply(c, (enum node_option)o, w, NC_FROM_ENV, why, sizeof why)) != 0)
                set_err(err, errlen, "$%s: %s", table[o].env, why);
        free(copy);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int check_combination(const struct node_config *c, char *err, size_t errlen)
{
    if (c->nlisten == 0) {
        set_err(err, errlen, "no session address: give --listen (or $%s, or `listen =` in the "
                "config file)", table[NO_LISTEN].env);
        return -1;
    }
    if (!c->backend || !*c->backend) {
        set_err(err, errlen, "empty --backend (want auto, soft, nvidia or a library path)");
        return -1;
    }
    if (!c->pool && (c->node_name || c->advertise || c->pool_name || c->nlabel ||
                     c->origin[NO_HEARTBEAT_INTERVAL] != NC_FROM_DEFAULT)) {
        set_err(err, errlen, "--node-name, --advertise, --pool-name, --label and "
                "--heartbeat-interval go with --pool");
        return -1;
    }
    if (!c->pool && (c->pool_join_token || c->pool_join_token_file)) {
        set_err(err, errlen, "--pool-join-token and --pool-join-token-file go with --pool");
        return -1;
    }
    if (c->pool_join_token && c->pool_join_token_file) {
        set_err(err, errlen, "give --pool-join-token or --pool-join-token-file, not both");
        return -1;
    }
    if (c->pool && c->napi == 0) {
        set_err(err, errlen, "--pool needs --api (the pool creates vGPUs through it)");
        return -1;
    }
    return 0;
}

/* ---- flags ---- */

struct flag_value {
    int option;
    const char *text;
};

static int option_of_short(int ch)
{
    for (int o = 0; o < NO_COUNT; o++)
        if (table[o].short_name == ch)
            return o;
    return -1;
}

/* Collects the flags without applying them (they are the top layer, applied last).
 * Returns 0, 1 for --help, -1 with err. */
static int collect_flags(int argc, char **argv, struct flag_value *out, int *nout, char *err,
                         size_t errlen)
{
    struct option longopts[NO_COUNT + 2];
    char shorts[2 * NO_COUNT + 4] = ":";
    for (int o = 0; o < NO_COUNT; o++) {
        int takes = table[o].kind != K_BOOL;
        longopts[o] = (struct option){table[o].name, takes ? required_argument : no_argument,
                                      NULL, 256 + o};
        if (table[o].short_name) {
            size_t l = strlen(shorts);
            shorts[l] = table[o].short_name;
            shorts[l + 1] = '\0';
            if (takes)
                strcat(shorts, ":");
        }
    }
    longopts[NO_COUNT] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[NO_COUNT + 1] = (struct option){0, 0, 0, 0};
    strcat(shorts, "h");
    optind = 1;
    opterr = 0;
    int ch;
    *nout = 0;
    while ((ch = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
        int o = ch >= 256 ? ch - 256 : option_of_short(ch);
        if (ch == 'h')
            return 1;
        if (ch == '?' || ch == ':') {
            set_err(err, errlen, "%s '%s' (see tfuse node --help)",
                    ch == ':' ? "missing value for" : "unknown option", argv[optind - 1]);
            return -1;
        }
        if (o < 0 || *nout >= argc)
            return set_err(err, errlen, "bad option"), -1;
        out[(*nout)++] = (struct flag_value){o, table[o].kind == K_BOOL ? "true" : optarg};
    }
    if (optind != argc) {
        set_err(err, errlen, "unexpected argument '%s' (see tfuse node --help)", argv[optind]);
        return -1;
    }
    return 0;
}

static int apply_defaults(struct node_config *c, char *err, size_t errlen)
{
    for (int o = 0; o < NO_COUNT; o++)
        if (table[o].def && apply(c, (enum node_option)o, table[o].def, NC_FROM_DEFAULT, err,
                                  errlen) != 0)
            return -1;
    return 0;
}

/* The file to read: --config, else $TFUSE_NODE_CONFIG, else the default when it exists (a
 * missing file the operator named is an error: fopen reports it). NULL: none. */
static const char *config_path(const struct flag_value *flags, int nflags,
                               enum node_config_origin *origin)
{
    const char *path = NULL;
    *origin = NC_FROM_FLAG;
    for (int i = 0; i < nflags; i++)
        if (flags[i].option == NO_CONFIG)
            path = flags[i].text;
    if (!path && (path = getenv(table[NO_CONFIG].env)) != NULL)
        *origin = NC_FROM_ENV;
    if (!path && access(NODE_CONFIG_DEFAULT_FILE, F_OK) == 0) {
        path = NODE_CONFIG_DEFAULT_FILE;
        *origin = NC_FROM_DEFAULT;
    }
    return path && *path ? path : NULL;
}

int node_config_load(struct node_config *c, int argc, char **argv, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    struct flag_value *flags = calloc((size_t)argc + 1, sizeof *flags);
    int nflags = 0, rc;
    enum node_config_origin path_origin;
    char why[512];
    if (!flags) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    rc = collect_flags(argc, argv, flags, &nflags, err, errlen);
    if (rc == 0)
        rc = apply_defaults(c, err, errlen);
    const char *path = rc == 0 ? config_path(flags, nflags, &path_origin) : NULL;
    if (rc == 0 && path) {
        if ((rc = apply(c, NO_CONFIG, path, path_origin, err, errlen)) == 0)
            rc = load_file(c, path, err, errlen);
    }
    if (rc == 0)
        rc = load_env(c, err, errlen);
    for (int i = 0; rc == 0 && i < nflags; i++) {
        if (flags[i].option == NO_CONFIG)
            continue;
        if ((rc = apply(c, (enum node_option)flags[i].option, flags[i].text, NC_FROM_FLAG, why,
                        sizeof why)) != 0)
            set_err(err, errlen, "--%s: %s", table[flags[i].option].name, why);
    }
    if (rc == 0)
        rc = check_combination(c, err, errlen);
    free(flags);
    return rc;
}

#define SWAP(type, a, b) do { type tmp_ = (a); (a) = (b); (b) = tmp_; } while (0)

void node_config_swap_option(struct node_config *a, struct node_config *b, enum node_option o)
{
    if (o >= NO_COUNT)
        return;
    switch (table[o].kind) {
    case K_STRING:
        SWAP(char *, *string_slot(a, o), *string_slot(b, o));
        break;
    case K_LIST: {
        int *na, *nb;
        char **la = list_slot(a, o, &na), **lb = list_slot(b, o, &nb);
        for (int i = 0; i < NODE_CONFIG_LIST_MAX; i++)
            SWAP(char *, la[i], lb[i]);
        SWAP(int, *na, *nb);
        break;
    }
    case K_BOOL:
        if (o == NO_OVERSUBSCRIBE)
            SWAP(int, a->oversubscribe, b->oversubscribe);
        else if (o == NO_ALLOW_UNLIMITED)
            SWAP(int, a->allow_unlimited, b->allow_unlimited);
        else
            SWAP(int, a->log_syslog, b->log_syslog);
        break;
    case K_SIZE: {
        int *sa, *sb;
        uint64_t *va = size_slot(a, o, &sa), *vb = size_slot(b, o, &sb);
        SWAP(uint64_t, *va, *vb);
        SWAP(int, *sa, *sb);
        break;
    }
    case K_SECONDS:
        if (o == NO_DRAIN_TIMEOUT)
            SWAP(double, a->drain_timeout, b->drain_timeout);
        else
            SWAP(double, a->heartbeat_interval, b->heartbeat_interval);
        break;
    case K_LEVEL:
        SWAP(int, a->log_level, b->log_level);
        break;
    case K_COUNT:
        SWAP(int, a->counts[o], b->counts[o]);
        break;
    }
    SWAP(enum node_config_origin, a->origin[o], b->origin[o]);
}

void node_config_free(struct node_config *c)
{
    for (int o = 0; o < NO_COUNT; o++) {
        char **slot = table[o].kind == K_STRING ? string_slot(c, (enum node_option)o) : NULL;
        if (slot) {
            free(*slot);
            *slot = NULL;
        }
        if (table[o].kind == K_LIST)
            clear_list(c, (enum node_option)o);
    }
}

void node_config_usage(FILE *f)
{
    fprintf(f,
            "usage: tfuse node --listen ADDR [--listen ADDR ...] [--api ADDR ...] [OPTION...]\n"
            "Serves CUDA sessions: one worker process per client connection.\n"
            "With --api the node owns vGPUs (tfuse vgpu create) and a session must present a\n"
            "vGPU's token, unless --allow-unlimited. With --pool (needs --api) it registers\n"
            "with the pool manager. SIGTERM drains (no new sessions; running ones get\n"
            "--drain-timeout, a second SIGTERM stops them now); SIGHUP re-reads the config file\n"
            "and the environment and applies the options marked [reload].\n"
            "Each option is also an environment variable and a config file key (`name = value`,\n"
            "repeat the key for a repeatable option). Precedence: flag > environment > file >\n"
            "default.\n\n");
    for (int o = 0; o < NO_COUNT; o++) {
        const struct option_def *d = &table[o];
        char flag[64];
        if (d->short_name)
            snprintf(flag, sizeof flag, "-%c, --%s%s%s", d->short_name, d->name,
                     d->arg ? " " : "", d->arg ? d->arg : "");
        else
            snprintf(flag, sizeof flag, "    --%s%s%s", d->name, d->arg ? " " : "",
                     d->arg ? d->arg : "");
        fprintf(f, "  %-40s %s (%s%s%s$%s)%s\n", flag, d->help, d->def ? "default " : "",
                d->def ? d->def : "", d->def ? "; " : "", d->env,
                d->reloadable ? " [reload]" : "");
    }
    fprintf(f, "  %-40s this help\n", "-h, --help");
}
