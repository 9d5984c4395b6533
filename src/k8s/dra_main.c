/*
 * `tfuse-k8s dra-plugin`: the DRA driver's kubelet plugin for one node. Serves registration
 * and the DRA v1/v1beta1 services (registration.c, dra_service.c) with the claim logic of
 * claim.c, and keeps the node's ResourceSlices in step with its GPUs: at start, every
 * --slice-interval seconds and on SIGHUP (a failed sync is retried sooner, and never stops
 * the plugin: claims prepared earlier must still be unprepared). If the registration socket
 * disappears (a kubelet cleaning its folder), it is served again. Ends on SIGTERM or SIGINT.
 * Owns: the subcommand's options, signals and the main loop.
 * May call: config.h, slices.h, k8s.h (claim.c), dra_service.h, src/common/log.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dra_service.h"
#include "k8s.h"
#include "k8s_cmds.h"
#include "log.h"
#include "slices.h"

#define SLICE_INTERVAL_DEFAULT 60
#define SLICE_RETRY_MIN 5 /* seconds after a failed sync, doubling up to the interval */
#define STEP_MS 200

static volatile sig_atomic_t stop_flag, hup_flag;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        hup_flag = 1;
    else
        stop_flag = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tfuse-k8s dra-plugin [options]\n\n"
            "The kubelet plugin of the DRA driver: registers with the kubelet, prepares claims\n"
            "(a vGPU on the TensorFuse node and a CDI spec per claim) and publishes the node's\n"
            "ResourceSlices.\n\n"
            "  --slice-interval SECONDS  how often the ResourceSlices are synced (%d; 0: only\n"
            "                            at start and on SIGHUP)\n"
            "  --no-slices               never publish ResourceSlices (another instance does)\n\n",
            SLICE_INTERVAL_DEFAULT);
    k8s_config_usage(f);
}

struct dra_args {
    long interval; /* seconds; 0 = at start and on SIGHUP only */
    int no_slices;
};

/* our own options, from what k8s_config_parse left. 0, 1 help, -1 bad (message printed). */
static int parse_args(struct dra_args *a, int argc, char **argv)
{
    a->interval = SLICE_INTERVAL_DEFAULT;
    a->no_slices = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
        if (!strcmp(argv[i], "--no-slices")) {
            a->no_slices = 1;
            continue;
        }
        if (!strncmp(argv[i], "--slice-interval=", 17))
            v = argv[i] + 17;
        else if (!strcmp(argv[i], "--slice-interval") && i + 1 < argc)
            v = argv[++i];
        if (!v) {
            fprintf(stderr, "tfuse-k8s dra-plugin: unknown option or missing value: '%s'\n",
                    argv[i]);
            return -1;
        }
        char *end;
        errno = 0;
        long s = strtol(v, &end, 10);
        if (errno || end == v || *end || s < 0 || s > 86400) {
            fprintf(stderr, "tfuse-k8s dra-plugin: --slice-interval: '%.40s' is not 0..86400\n",
                    v);
            return -1;
        }
        a->interval = s;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* one sync; the delay until the next one */
static double sync_slices(const struct k8s_config *cfg, const struct dra_args *a,
                          double *retry)
{
    char err[1024];
    if (k8s_slices_sync(cfg, err, sizeof(err)) == 0) {
        *retry = SLICE_RETRY_MIN;
        tf_debug("ResourceSlices of %s in step", cfg->node_name);
        return a->interval ? (double)a->interval : 1e12;
    }
    tf_warn("ResourceSlices not synced (again in %.0f s): %s", *retry, err);
    double next = *retry, cap = a->interval ? (double)a->interval : 300;
    *retry = *retry * 2 > cap ? cap : *retry * 2;
    return next;
}

/* the registration socket gone: serve it again */
static void keep_registered(struct k8s_dra_plugin *p)
{
    struct stat st;
    if (stat(p->reg_sock, &st) == 0)
        return;
    char err[512];
    tf_warn("%s disappeared; registering again", p->reg_sock);
    if (k8s_dra_plugin_reregister(p, err, sizeof(err)) < 0)
        tf_error("registering again: %s", err);
}

static void report_registration(struct k8s_dra_plugin *p, int *last)
{
    char err[512] = "";
    int s = k8s_registration_state(&p->reg, err, sizeof(err));
    if (s == *last)
        return;
    *last = s;
    if (s == 1)
        tf_error("the kubelet refused the plugin: %s", err);
}

static int run(const struct k8s_config *cfg, const struct dra_args *a)
{
    static const struct k8s_dra_ops ops = {k8s_claim_prepare, k8s_claim_unprepare};
    char err[1024];
    struct k8s_dra_plugin *p = k8s_dra_plugin_start(cfg, &ops, err, sizeof(err));
    if (!p) {
        tf_error("%s", err);
        return 1;
    }
    tf_info("serving %s on %s, registered through %s (%zu prepared claims in the checkpoint)",
            cfg->driver, p->dra_sock, p->reg_sock, k8s_dra_prepared_count(p->dra));
    double retry = SLICE_RETRY_MIN, next = now_s();
    int last_state = -1;
    while (!stop_flag) {
        if (!a->no_slices && (hup_flag || now_s() >= next)) {
            hup_flag = 0;
            next = now_s() + sync_slices(cfg, a, &retry);
        }
        keep_registered(p);
        report_registration(p, &last_state);
        usleep(STEP_MS * 1000);
    }
    tf_info("stopping: %zu prepared claims stay in the checkpoint",
            k8s_dra_prepared_count(p->dra));
    k8s_dra_plugin_stop(p);
    return 0;
}

int k8s_cmd_dra_plugin(int argc, char **argv)
{
    struct k8s_config cfg;
    struct dra_args a;
    char err[1024];
    tf_log_init("tfuse-k8s-dra", TF_LOG_INFO);
    k8s_config_init(&cfg);
    if ((argc = k8s_config_parse(&cfg, argc, argv, err, sizeof(err))) < 0) {
        fprintf(stderr, "tfuse-k8s dra-plugin: %s\n", err);
        return 2;
    }
    int pa = parse_args(&a, argc, argv);
    if (pa > 0) {
        usage(stdout);
        return 0;
    }
    if (pa < 0) {
        fprintf(stderr, "tfuse-k8s dra-plugin --help lists the options\n");
        return 2;
    }
    if (k8s_config_check_node(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "tfuse-k8s dra-plugin: %s\n", err);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return run(&cfg, &a);
}
