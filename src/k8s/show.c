/*
 * `tfuse-k8s show`: prints, for a person, the ResourceSlice(s) this node would publish and an
 * example of the CDI spec a prepared claim gets, without writing anything anywhere.
 * The cluster's version picks the slice layout: --kube-version X.Y, else the API server's
 * (when one is configured and answers), else 1.36 with a note saying so.
 * Owns: the subcommand's options and output. May call: config.h, kapi.h, knode.h, slices.h,
 * cdi.h, jansson.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdi.h"
#include "config.h"
#include "k8s_cmds.h"
#include "kapi.h"
#include "knode.h"
#include "slices.h"

#define EXAMPLE_UID "0b5e7a52-3c1d-4f0e-9a6b-2d8c4e1f7a90"

static void usage(FILE *f)
{
    fprintf(f, "usage: tfuse-k8s show [--kube-version X.Y] [--json] [shared options]\n"
               "Prints the ResourceSlice(s) this node would publish (from the TensorFuse node's "
               "devices)\nand an example CDI spec of a prepared claim. Writes nothing.\n"
               "  --kube-version X.Y  the cluster's version (default: ask the API server; "
               "1.36 if none)\n  --json              one JSON object {resourceSlices, "
               "cdiSpec, kubernetesVersion, layout}\n\n");
    k8s_config_usage(f);
}

/* The version the layout follows; *how says where it came from. */
static int pick_version(const struct k8s_config *cfg, const char *flag, int *major, int *minor,
                        const char **how)
{
    if (flag) {
        *how = "--kube-version";
        return sscanf(flag, "%d.%d", major, minor) == 2 ? 0 : -1;
    }
    char err[512];
    struct k8s_api *api = (cfg->kube_api[0] || getenv("KUBERNETES_SERVICE_HOST"))
                              ? k8s_api_open(cfg, err, sizeof err) : NULL;
    int rc = api ? k8s_api_server_version(api, major, minor, NULL, 0, err, sizeof err) : -1;
    k8s_api_close(api);
    if (rc == 0) {
        *how = "the API server";
        return 0;
    }
    *major = 1, *minor = 36;
    *how = "assumed: no API server answered; pass --kube-version X.Y";
    return 0;
}

static json_t *example_spec(const struct k8s_config *cfg)
{
    struct k8s_cdi_vgpu v = {cfg->session_addr[0] ? cfg->session_addr
                                                  : "<the node's session address>",
                             "<the vGPU's token>"};
    return k8s_cdi_spec(cfg, EXAMPLE_UID, &v, 1);
}

static void print_text(json_t *slices, json_t *spec, const struct k8s_config *cfg, int major,
                       int minor, const char *how, enum k8s_slice_layout layout)
{
    char path[1024];
    printf("# ResourceSlice(s) of node %s, driver %s, for Kubernetes %d.%d (%s): layout %s\n",
           cfg->node_name, cfg->driver, major, minor, how,
           layout == K8S_LAYOUT_SHARED ? "shared (consumable capacity: claims take parts of "
                                         "a GPU)" : "whole (one claim per GPU)");
    printf("# (generation and the Node's ownerReference are filled in when published)\n");
    json_dumpf(slices, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    k8s_cdi_path(cfg, EXAMPLE_UID, path, sizeof path);
    printf("\n\n# CDI spec of a claim with one device (uid " EXAMPLE_UID "), written to\n"
           "# %s (mode 0600: it holds the vGPU's token)\n", path);
    json_dumpf(spec, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("\n");
}

int k8s_show_main(int argc, char **argv)
{
    struct k8s_config cfg;
    char err[1024];
    const char *kube_version = NULL;
    int as_json = 0, major, minor;
    k8s_config_init(&cfg);
    if ((argc = k8s_config_parse(&cfg, argc, argv, err, sizeof err)) < 0) {
        fprintf(stderr, "tfuse-k8s show: %s\n", err);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            as_json = 1;
        } else if (!strcmp(argv[i], "--kube-version") && i + 1 < argc) {
            kube_version = argv[++i];
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "tfuse-k8s show: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    const char *how;
    enum k8s_slice_layout layout;
    if (pick_version(&cfg, kube_version, &major, &minor, &how) != 0) {
        fprintf(stderr, "tfuse-k8s show: --kube-version takes X.Y, like 1.36\n");
        return 2;
    }
    json_t *devs = NULL;
    if (k8s_config_check_node(&cfg, err, sizeof err) != 0 ||
        k8s_slice_layout(major, minor, &layout, err, sizeof err) != 0 ||
        !(devs = k8s_node_devices(&cfg, err, sizeof err))) {
        fprintf(stderr, "tfuse-k8s show: %s\n", err);
        return 1;
    }
    json_t *slices = k8s_slices_build(&cfg, devs, layout, 1, NULL), *spec = example_spec(&cfg);
    if (as_json) {
        char ver[32];
        snprintf(ver, sizeof ver, "%d.%d", major, minor);
        json_t *all = json_pack("{s:s, s:s, s:O, s:O}", "kubernetesVersion", ver, "layout",
                                layout == K8S_LAYOUT_SHARED ? "shared" : "whole",
                                "resourceSlices", slices, "cdiSpec", spec);
        json_dumpf(all, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("\n");
        json_decref(all);
    } else {
        print_text(slices, spec, &cfg, major, minor, how, layout);
    }
    json_decref(slices);
    json_decref(spec);
    json_decref(devs);
    return 0;
}
