/*
 * The node daemon's configuration: every `tfuse node` option declared once, in one table
 * (config.c), from which come the getopt parser, `tfuse node --help`, the environment
 * variables and the config file keys. Four layers, highest first: command-line flag,
 * environment (TFUSE_NODE_<NAME>, TFUSE_LOG for the log level), config file (`--config FILE`,
 * else /etc/tfuse/node.conf when it exists), built-in default. A repeated option (listen, api)
 * set by a higher layer replaces the whole list of the lower ones.
 *
 * Owns: struct node_config (values, where each came from). May call: libc, vgpu_parse.h
 * (sizes), log.h (level names). No side effects besides reading the file and the environment:
 * the daemon (node.c) opens sockets and starts threads from the result.
 */
#ifndef TFUSE_NODE_CONFIG_H
#define TFUSE_NODE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define NODE_CONFIG_LIST_MAX 8        /* entries of a repeated option (listen, api) */
#define NODE_CONFIG_DEFAULT_FILE "/etc/tfuse/node.conf"

/* Where a value came from, lowest precedence first. */
enum node_config_origin { NC_FROM_DEFAULT, NC_FROM_FILE, NC_FROM_ENV, NC_FROM_FLAG };

/* The option identifiers, in table order. */
enum node_option {
    NO_CONFIG, NO_BACKEND, NO_LISTEN, NO_TOKEN, NO_STATE, NO_API, NO_API_TOKEN,
    NO_OVERSUBSCRIBE, NO_ALLOW_UNLIMITED, NO_CTX_OVERHEAD, NO_POOL, NO_NODE_NAME,
    NO_POOL_JOIN_TOKEN, NO_POOL_JOIN_TOKEN_FILE,
    NO_ADVERTISE, NO_HEARTBEAT_INTERVAL, NO_DRAIN_TIMEOUT, NO_LOG_LEVEL, NO_LOG_SYSLOG,
    NO_MODULE_CACHE_MAX, NO_MODULE_CACHE_PER_VGPU,
    NO_MAX_SESSIONS, NO_MAX_SESSIONS_PER_VGPU, NO_MAX_HANDSHAKES, NO_MAX_HANDSHAKES_PER_HOST,
    NO_HANDSHAKE_TIMEOUT, NO_API_MAX_CONNECTIONS, NO_API_MAX_PER_HOST, NO_API_IDLE_TIMEOUT,
    NO_TLS_CERT, NO_TLS_KEY, NO_CA_FILE,
    NO_POOL_NAME, NO_LABEL, NO_WARM,
    NO_FREEZE_TO, NO_FREEZE_IDLE, NO_OVERSUBSCRIBE_MEMORY, NO_OVERSUBSCRIBE_WAIT,
    NO_SWITCH_IDLE_MS,
    NO_COUNT
};

struct node_config {
    char *config;                 /* the file read, NULL when none */
    char *backend;                /* auto, soft, nvidia or a library path */
    char *listen[NODE_CONFIG_LIST_MAX];
    int nlisten;
    char *token;                  /* session token workers check; NULL: none */
    char *state;                  /* state folder; NULL: /tmp/tfuse-node-UID */
    char *api[NODE_CONFIG_LIST_MAX];
    int napi;
    char *api_token;              /* HTTP API bearer token for remote clients; NULL: none */
    char *tls_cert, *tls_key;     /* PEM files: tcp --api serves https; NULL: http */
    char *ca_file;                /* CA bundle the node trusts calling an https pool */
    int oversubscribe;
    char *freeze_to;              /* off, host or disk (vgpus_freeze.h) */
    char *oversubscribe_memory;   /* RATIO text (vgpus_oversub.h); NULL: none */
    int allow_unlimited;
    uint64_t ctx_overhead;
    int ctx_overhead_set;         /* 0: the worker's built-in default */
    uint64_t module_cache_max;    /* bytes of module images cached in all (0: no cache) */
    int module_cache_max_set;
    uint64_t module_cache_per_vgpu; /* bytes cached per vGPU (tenant scope; 0: no cache) */
    int module_cache_per_vgpu_set;
    char *pool;
    char *node_name;
    char *advertise;
    char *pool_join_token;        /* admits the node to the pool; NULL: none */
    char *pool_join_token_file;   /* the same, read from a file */
    char *pool_name;              /* the pool the node joins; NULL: the pool's default */
    char *label[NODE_CONFIG_LIST_MAX];   /* KEY=VALUE labels sent at registration */
    int nlabel;
    double heartbeat_interval;    /* seconds; 0: poolreg's default */
    double drain_timeout;         /* seconds */
    int log_level;                /* enum tf_log_level */
    int log_syslog;
    /* The listener limits (NO_MAX_SESSIONS ... NO_API_IDLE_TIMEOUT: counts and whole seconds),
     * indexed by option; the other entries are unused. */
    int counts[NO_COUNT];
    enum node_config_origin origin[NO_COUNT];
};

/*
 * Builds the configuration from argv (argv[0] is the subcommand name), the environment and the
 * config file. Returns 0; 1 when --help was asked (help printed to stdout); -1 with a message
 * in err (naming the flag, the variable or FILE:LINE). cfg is always safe to free afterwards.
 */
int node_config_load(struct node_config *cfg, int argc, char **argv, char *err, size_t errlen);
void node_config_free(struct node_config *cfg);

/* Exchanges option o's value (and origin) between a and b: a reload keeps the value in force of
 * an option that needs a restart. */
void node_config_swap_option(struct node_config *a, struct node_config *b, enum node_option o);

/* `tfuse node --help`: usage, then one line per option with its default and variable. */
void node_config_usage(FILE *f);

/* Table access, for reload diffs, logs and tests. */
const char *node_option_name(enum node_option o);     /* "drain-timeout" */
const char *node_option_env(enum node_option o);      /* "TFUSE_NODE_DRAIN_TIMEOUT" */
int node_option_reloadable(enum node_option o);
/* The option's current value as text (lists joined by spaces; "" when unset). */
void node_config_format(const struct node_config *cfg, enum node_option o, char *out,
                        size_t outlen);
const char *node_config_origin_name(enum node_config_origin origin);

#endif
