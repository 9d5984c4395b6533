/*
 * `tfuse-k8s device-plugin`: the kubelet device plugin of the device-plugin path. Watches the
 * TensorFuse node (its GPUs, whether it serves), advertises tensorfuse.io/vgpu shares of each
 * GPU, and keeps itself registered with the kubelet until SIGTERM or SIGINT.
 * Owns: the options of the subcommand, the node poll, signals, the main loop.
 * May call: config.h, knode.h (K2: the node's API), devplugin.h, dp_devices.h, src/common.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "devplugin.h"
#include "dp_devices.h"
#include "httpc.h"
#include "k8s_cmds.h"
#include "knode.h"
#include "log.h"

#define DP_POLL_DEFAULT_S 5.0
#define DP_STEP_MS 100            /* how often the loop looks at signals, sockets and the poll */

static volatile sig_atomic_t dp_stop;

static void on_signal(int sig)
{
    (void)sig;
    dp_stop = 1;
}

struct dp_args {
    struct k8s_dp_options o;
    unsigned shares;
    double poll_s;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tfuse-k8s device-plugin [options]\n\n"
            "Advertises shares of each GPU of the TensorFuse node as an extended resource to the\n"
            "kubelet (device plugin API v1beta1); a pod's vGPU comes from the pool's placement\n"
            "(the scheduler extender) at Allocate.\n\n"
            "  --device-plugin-dir DIR  the kubelet's device-plugins folder\n"
            "                           ($TFUSE_K8S_DEVICE_PLUGIN_DIR; %s)\n"
            "  --socket NAME            our socket's file name in it (%s)\n"
            "  --resource-name NAME     the extended resource ($TFUSE_K8S_RESOURCE; %s)\n"
            "  --shares-per-gpu N       shares of each GPU, 1..%d\n"
            "                           ($TFUSE_K8S_SHARES_PER_GPU; %d)\n"
            "  --poll-interval SECONDS  how often the node is asked for its GPUs (%.0f)\n\n",
            K8S_DP_DIR_DEFAULT, K8S_DP_SOCKET_DEFAULT, K8S_DP_RESOURCE_DEFAULT, K8S_DP_SHARES_MAX,
            K8S_DP_SHARES_DEFAULT, DP_POLL_DEFAULT_S);
    k8s_config_usage(f);
}

static int set_text(char *dst, size_t len, const char *flag, const char *v)
{
    if (!v[0] || strlen(v) >= len) {
        fprintf(stderr, "tfuse-k8s device-plugin: %s: '%.80s' is empty or too long\n", flag, v);
        return -1;
    }
    snprintf(dst, len, "%s", v);
    return 0;
}

static int set_number(const char *flag, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "tfuse-k8s device-plugin: %s: '%.80s' is not a number in [%g, %g]\n",
                flag, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

/* One of our options (parse_args knows it is): its value. 0, or -1 (message printed). */
static int take(struct dp_args *a, const char *flag, const char *v)
{
    double x;
    if (!strcmp(flag, "--device-plugin-dir"))
        return set_text(a->o.dir, sizeof a->o.dir, flag, v);
    if (!strcmp(flag, "--resource-name"))
        return set_text(a->o.resource, sizeof a->o.resource, flag, v);
    if (!strcmp(flag, "--socket")) {
        if (strchr(v, '/')) {
            fprintf(stderr, "tfuse-k8s device-plugin: --socket takes a file name, not a path\n");
            return -1;
        }
        return set_text(a->o.socket, sizeof a->o.socket, flag, v);
    }
    if (!strcmp(flag, "--shares-per-gpu")) {
        if (set_number(flag, v, 1, K8S_DP_SHARES_MAX, &x) != 0)
            return -1;
        if (x != (unsigned)x) {
            fprintf(stderr, "tfuse-k8s device-plugin: --shares-per-gpu takes a whole number\n");
            return -1;
        }
        a->shares = (unsigned)x;
        return 0;
    }
    return set_number(flag, v, 0.05, 3600, &a->poll_s);   /* --poll-interval */
}

/* Defaults, the environment, then argv (what k8s_config_parse left). 0, 1 help, -1 bad. */
static int parse_args(struct dp_args *a, int argc, char **argv)
{
    const char *env;
    memset(a, 0, sizeof *a);
    snprintf(a->o.dir, sizeof a->o.dir, "%s",
             (env = getenv("TFUSE_K8S_DEVICE_PLUGIN_DIR")) && *env ? env : K8S_DP_DIR_DEFAULT);
    snprintf(a->o.socket, sizeof a->o.socket, "%s", K8S_DP_SOCKET_DEFAULT);
    snprintf(a->o.resource, sizeof a->o.resource, "%s",
             (env = getenv("TFUSE_K8S_RESOURCE")) && *env ? env : K8S_DP_RESOURCE_DEFAULT);
    a->shares = K8S_DP_SHARES_DEFAULT;
    a->poll_s = DP_POLL_DEFAULT_S;
    if ((env = getenv("TFUSE_K8S_SHARES_PER_GPU")) && *env &&
        take(a, "--shares-per-gpu", env) != 0) {
        fprintf(stderr, "tfuse-k8s device-plugin: (the value came from "
                        "$TFUSE_K8S_SHARES_PER_GPU)\n");
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
        char flag[64];
        const char *eq = strchr(argv[i], '=');
        size_t fl = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
        snprintf(flag, sizeof flag, "%.*s", (int)(fl < sizeof flag ? fl : sizeof flag - 1),
                 argv[i]);
        static const char *const known[] = {"--device-plugin-dir", "--socket",
                                            "--resource-name", "--shares-per-gpu",
                                            "--poll-interval", NULL};
        int k = 0;
        while (known[k] && strcmp(known[k], flag) != 0)
            k++;
        if (!known[k] || (!eq && i + 1 >= argc)) {
            fprintf(stderr, "tfuse-k8s device-plugin: '%s': %s\n", argv[i],
                    !known[k] ? "not an option of ours" : "needs a value");
            return -1;
        }
        if (take(a, flag, eq ? eq + 1 : argv[++i]) != 0)
            return -1;
    }
    char err[512];
    if (k8s_dp_resource_check(a->o.resource, err, sizeof err) != 0) {
        fprintf(stderr, "tfuse-k8s device-plugin: %s\n", err);
        return -1;
    }
    return 0;
}

/*
 * Asks the node for its GPUs and whether it serves (a draining node answers /healthz 503: its
 * shares turn Unhealthy so no new pod is admitted to it). Logs what changed.
 */
static void poll_node(const struct k8s_config *cfg, struct k8s_dp_devices *d)
{
    char err[512] = "";
    json_t *reply = NULL;
    int hz = k8s_node_call(cfg, "GET", "/healthz", NULL, &reply, err, sizeof err);
    json_decref(reply);
    json_t *devs = hz == 200 ? k8s_node_devices(cfg, err, sizeof err) : NULL;
    if (!devs) {
        if (hz != 200 && hz != 0)
            snprintf(err, sizeof err, "the node's /healthz answered %d (draining?)", hz);
        if (k8s_dp_devices_node_down(d))
            tf_warn("%s; every share is Unhealthy", err);
        return;
    }
    size_t n = json_array_size(devs), skipped = 0;
    const char **uuids = calloc(n ? n : 1, sizeof *uuids);
    if (!uuids) {
        json_decref(devs);
        return;
    }
    for (size_t i = 0; i < n; i++)
        uuids[i] = json_string_value(json_object_get(json_array_get(devs, i), "uuid"));
    if (k8s_dp_devices_set(d, uuids, n, &skipped))
        tf_info("the node lists %zu GPU(s)%s: %zu shares of each advertised", n - skipped,
                skipped ? " (some skipped: a uuid that cannot name a share)" : "",
                (size_t)d->shares);
    free(uuids);
    json_decref(devs);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

static int serve(const struct k8s_config *cfg, const struct dp_args *a)
{
    struct k8s_dp_devices devs;
    k8s_dp_devices_init(&devs, a->shares);
    poll_node(cfg, &devs);
    struct k8s_dp *p = k8s_dp_new(cfg, &a->o, &devs);
    if (!p) {
        k8s_dp_devices_destroy(&devs);
        fprintf(stderr, "tfuse-k8s device-plugin: out of memory\n");
        return 1;
    }
    double next_poll = mono_s() + a->poll_s;
    while (!dp_stop) {
        k8s_dp_step(p);
        if (mono_s() >= next_poll) {
            poll_node(cfg, &devs);
            next_poll = mono_s() + a->poll_s;
        }
        struct timespec ts = {0, DP_STEP_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    tf_info("stopping: %u registration(s) with the kubelet in this run",
            k8s_dp_registrations(p));
    k8s_dp_free(p);
    k8s_dp_devices_destroy(&devs);
    return 0;
}

int k8s_cmd_device_plugin(int argc, char **argv)
{
    static struct k8s_config cfg;   /* the handlers' threads read it until the end */
    struct dp_args a;
    char err[512];
    tf_log_init("tfuse-k8s", TF_LOG_INFO);
    k8s_config_init(&cfg);
    argc = k8s_config_parse(&cfg, argc, argv, err, sizeof err);
    if (argc < 0) {
        fprintf(stderr, "tfuse-k8s device-plugin: %s\n", err);
        return 2;
    }
    int r = parse_args(&a, argc, argv);
    if (r > 0) {
        usage(stdout);
        return 0;
    }
    if (r < 0) {
        fprintf(stderr, "(tfuse-k8s device-plugin --help lists the options)\n");
        return 2;
    }
    if (k8s_config_check_node(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "tfuse-k8s device-plugin: %s\n", err);
        return 2;
    }
    tf_http_global_init();
    install_signals();
    return serve(&cfg, &a);
}
