/*
 * `tfuse pool serve` (pool_cli.c dispatches to it): reads serve's options and credentials,
 * starts the pool's service and HTTP API, writes the ready file, and runs until SIGINT or
 * SIGTERM. Its option list is in pool_cli.c's usage text. Calls pool_svc, pool_http,
 * src/common/credfile.h and pemfile.h, jansson, getopt and the log.
 */
#include "tfuse_pool.h"

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "credfile.h"
#include "httpc.h"
#include "log.h"
#include "pemfile.h"
#include "pool_cli_int.h"
#include "pool_http.h"
#include "pool_nodeclient.h"
#include "pool_svc.h"

/* ---- serve ------------------------------------------------------------------------------- */

static int split_listen(const char *listen, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= hostlen)
        return -1;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535)
        return -1;
    if (!host[0])
        strcpy(host, "0.0.0.0");
    *port = (uint16_t)p;
    return 0;
}

/* Tells whoever started us (tests, scripts) where we listen, once we do. */
static void write_ready_file(const char *path, const char *scheme, const char *host,
                             unsigned port)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "%s://%s:%u\n", scheme, host, port);
        fclose(f);
    }
}

/* --ca-file: checked now, so that a wrong path is said before any request. */
/* Reads serve's options into cfg; 0, or pool_cli_usage()'s exit status after saying what is
 * wrong. */
struct serve_files {
    const char *listen, *ready, *admin, *join, *node_token, *tls_cert, *tls_key, *history;
};

static int serve_options(int argc, char **argv, struct pool_config *cfg, struct serve_files *f)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'}, {"db", required_argument, 0, 'd'},
        {"heartbeat-timeout", required_argument, 0, 'h'}, {"oversub", required_argument, 0, 'o'},
        {"strategy", required_argument, 0, 's'}, {"ready-file", required_argument, 0, 'r'},
        {"node-token", required_argument, 0, 'n'}, {"admin-token-file", required_argument, 0, 'A'},
        {"join-token-file", required_argument, 0, 'J'},
        {"node-token-file", required_argument, 0, 'N'}, {"tls-cert", required_argument, 0, 'T'},
        {"tls-key", required_argument, 0, 'K'}, {"ca-file", required_argument, 0, 'X'},
        {"history", required_argument, 0, 'Y'}, POOL_CLI_AUTO_OPTS, {0, 0, 0, 0}};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l': f->listen = optarg; break;
        case 'd': cfg->db_path = optarg; break;
        case 'h':
            cfg->heartbeat_timeout_s = strtod(optarg, &end);
            if (*end || !(cfg->heartbeat_timeout_s > 0 && cfg->heartbeat_timeout_s <= 86400))
                return pool_cli_usage("--heartbeat-timeout must be seconds in (0, 86400]");
            break;
        case 'o':
            cfg->oversub = strtod(optarg, &end);
            if (*end || !(cfg->oversub >= 1 && cfg->oversub <= 100))
                return pool_cli_usage("--oversub must be a ratio in [1, 100]");
            break;
        case 's': {
            int s = pool_strategy_parse(optarg);
            if (s < 0)
                return pool_cli_usage("unknown --strategy");
            cfg->strategy = (enum pool_strategy)s;
            break;
        }
        case 'r': f->ready = optarg; break;
        case 'n': pool_node_set_token(optarg); break;   /* else TFUSE_NODE_TOKEN */
        case 'A': f->admin = optarg; break;
        case 'J': f->join = optarg; break;
        case 'N': f->node_token = optarg; break;
        case 'T': f->tls_cert = optarg; break;
        case 'K': f->tls_key = optarg; break;
        case 'X': if (!pool_cli_set_ca_file(optarg)) return 2; break;
        case 'Y': f->history = optarg; break;   /* pool_cli_plot.c opens it */
        default: {
            int k = pool_cli_auto_serve_opt(c, optarg, cfg);   /* pool_cli_auto.c */
            if (k)
                return k < 0 ? pool_cli_usage(NULL) : k;
        }
        }
    }
    return 0;
}

/* A credential of the pool: read from path (default: the database's path + suffix), created
 * there (0600) at first start. */
static int load_credential(const char *path, const char *db, const char *suffix,
                           const char *prefix, char *out)
{
    char def[4096], err[600];
    if (!path) {
        if ((size_t)snprintf(def, sizeof def, "%s%s", db, suffix) >= sizeof def) {
            tf_error("pool: the database path is too long");
            return -1;
        }
        path = def;
    }
    int rc = tf_cred_load_or_create(path, prefix, out, TF_CRED_MAX, err, sizeof err);
    if (rc < 0)
        tf_error("pool: %s", err);
    else if (rc > 0)
        tf_info("pool: created the credential %s (mode 0600)", path);
    return rc < 0 ? -1 : 0;
}

/* The nodes' API token from a file (kept off the command line, where ps shows it). */
static int load_node_token(const char *path, char *out)
{
    char err[600];
    bool loose;
    int rc = tf_cred_read(path, out, TF_CRED_MAX, &loose, err, sizeof err);
    if (rc <= 0) {
        tf_error("pool: --node-token-file: %s", rc == 0 ? "no such file" : err);
        return -1;
    }
    if (loose)
        tf_warn("pool: %s can be read by other users (chmod 600 it)", path);
    pool_node_set_token(out);
    return 0;
}

int pool_cli_serve(int argc, char **argv)
{
    struct pool_config cfg = {.heartbeat_timeout_s = 15, .oversub = 1, .health_thread = true,
                              .sync = POOL_SYNC_FULL};
    struct serve_files f = {0};
    int rc = serve_options(argc, argv, &cfg, &f);
    if (rc)
        return rc;
    char host[256];
    uint16_t port;
    if (!f.listen || !cfg.db_path || split_listen(f.listen, host, sizeof host, &port))
        return pool_cli_usage("serve needs --listen HOST:PORT and --db PATH");
    static char admin[TF_CRED_MAX], join[TF_CRED_MAX], node_token[TF_CRED_MAX];
    if (load_credential(f.admin, cfg.db_path, ".admin-token", "tfa-", admin) ||
        load_credential(f.join, cfg.db_path, ".join-token", "tfj-", join) ||
        (f.node_token && load_node_token(f.node_token, node_token)))
        return 1;
    cfg.admin_token = admin;
    cfg.join_token = join;

    /* Block the stop signals before any thread exists, so only sigwait below receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    tf_http_global_init();
    char err[512];
    struct pool_svc *svc = pool_svc_open(&cfg, err, sizeof err);
    if (!svc) {
        tf_error("pool: %s", err);
        return 1;
    }
    if (pool_cli_history_open(svc, f.history) != 0) {
        pool_svc_close(svc);
        return 2;
    }
    struct tf_tls_pair tls;
    struct pool_http *http = NULL;
    if (tf_tls_pair_load(&tls, f.tls_cert, f.tls_key, err, sizeof err) == 0)
        http = pool_http_start_tls(svc, host, port, tls.cert, tls.key, err, sizeof err);
    tf_tls_pair_free(&tls);   /* GnuTLS holds its own copy once the daemon has started */
    if (!http) {
        tf_error("pool: %s", err);
        pool_svc_close(svc);
        return 1;
    }
    printf("tfuse pool: listening on %s://%s:%u (db %s)\n", f.tls_cert ? "https" : "http", host,
           pool_http_port(http), cfg.db_path);
    fflush(stdout);
    if (f.ready)
        write_ready_file(f.ready, f.tls_cert ? "https" : "http", host, pool_http_port(http));
    int sig;
    sigwait(&stop, &sig);
    tf_info("pool: signal %d, stopping", sig);
    pool_http_stop(http);
    pool_svc_close(svc);
    tf_http_global_cleanup();
    return 0;
}
