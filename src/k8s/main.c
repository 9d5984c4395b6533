/*
 * tfuse-k8s: TensorFuse's Kubernetes pieces in one binary, a subcommand each (the kubelet
 * plugin for DRA, the device plugin, the admission webhook, the scheduler extender, and `show`,
 * which prints what this node would publish). Owns: the dispatch only.
 * May call: each subcommand's entry point (k8s_cmds.h).
 */
#include <stdio.h>
#include <string.h>

#include "k8s_cmds.h"

struct k8s_cmd {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
};

static const struct k8s_cmd k8s_cmds[] = {
    /* subcommands: one line each */
    {"device-plugin", k8s_cmd_device_plugin, "kubelet device plugin (tensorfuse.io/vgpu)"},
    {"dra-plugin", k8s_cmd_dra_plugin, "kubelet plugin of the DRA driver (gpu.tensorfuse.io)"},
    {"webhook", k8s_cmd_webhook, "mutating admission webhook (device-plugin path), HTTPS"},
    {"extender", k8s_cmd_extender, "kube-scheduler extender: the pool's placement, HTTPS"},
    {"show", k8s_show_main, "print the ResourceSlice(s) and a CDI spec this node would publish"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tfuse-k8s <command> [options]   (tfuse-k8s <command> --help)\n\n");
    for (const struct k8s_cmd *c = k8s_cmds; c->name; c++)
        fprintf(f, "  %-15s %s\n", c->name, c->help);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (const struct k8s_cmd *c = k8s_cmds; c->name; c++)
        if (!strcmp(argv[1], c->name))
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "tfuse-k8s: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
