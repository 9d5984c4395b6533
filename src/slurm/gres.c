/*
 * `tfuse slurm gres`: the Slurm lines of a node (docs/slurm.md), from the devices its `tfuse
 * node` serves: count-only GRES tfuse_mem (MiB of device memory, summed over the devices) and
 * tfuse_compute (100 per device), as gres.conf and slurm.conf want them, and the plugstack.conf
 * line of the SPANK plugin. slurmctld then places a job asking --gres=tfuse_mem:256 only where
 * 256 MiB are free by its books, and the plugin sizes the vGPU from what it allocated.
 *
 * Owns: the command. May call: src/cli/nodeapi.h, slice.h (the GRES names), slurm_args.h,
 * src/common/paths.h, jansson, libc.
 */
#include "slurm_cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nodeapi.h"
#include "paths.h"
#include "slice.h"
#include "slurm_args.h"

#ifndef TFUSE_SLURM_PLUGIN_PATH
#define TFUSE_SLURM_PLUGIN_PATH "tfuse_spank.so"   /* under Slurm's PluginDir */
#endif

static void usage(FILE *f)
{
    fprintf(f, "usage: tfuse slurm gres [--node ADDR] [--name NODENAME] [--token T]\n"
               "  prints the gres.conf, slurm.conf and plugstack.conf lines of this node's\n"
               "  TensorFuse devices. ADDR: the node's --api address (default $TFUSE_NODE_API,\n"
               "  else %s); NODENAME: the Slurm node name (default the host name).\n",
            SLURM_ARGS_API_DEFAULT);
}

/* Sums the node's devices: MiB of memory and how many. -1 with err. */
static int node_totals(const char *api, uint64_t *mib, int *ndev, char *model, size_t mlen,
                       char *err, size_t errlen)
{
    json_t *reply = NULL;
    int status = nodeapi_get(api, "/api/v1/devices", &reply, err, errlen);
    json_t *list = json_object_get(reply, "devices");
    if (status != 200 || !json_is_array(list)) {
        if (status == 200)
            snprintf(err, errlen, "the node at %s listed no devices", api);
        json_decref(reply);
        return -1;
    }
    *mib = 0;
    *ndev = (int)json_array_size(list);
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *d = json_array_get(list, i);
        *mib += (uint64_t)json_integer_value(json_object_get(d, "memory_bytes")) >> 20;
        if (i == 0)
            snprintf(model, mlen, "%s", json_string_value(json_object_get(d, "model"))
                                            ? json_string_value(json_object_get(d, "model"))
                                            : "?");
    }
    json_decref(reply);
    if (*ndev == 0) {
        snprintf(err, errlen, "the node at %s has no devices", api);
        return -1;
    }
    return 0;
}

static int gres_main(int argc, char **argv)
{
    const char *api = getenv("TFUSE_NODE_API"), *name = NULL, *token = NULL;
    for (int i = 2; i < argc; i++) {
        const char **slot = !strcmp(argv[i], "--node") ? &api : !strcmp(argv[i], "--name")
                                                           ? &name
                            : !strcmp(argv[i], "--token") ? &token : NULL;
        if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!slot || i + 1 >= argc) {
            fprintf(stderr, "tfuse slurm gres: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
        *slot = argv[++i];
    }
    char host[256], model[128] = "", err[768];
    if (!name) {
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "localhost");
        host[strcspn(host, ".")] = '\0';   /* Slurm names nodes by their short name */
        name = host;
    }
    if (token)
        nodeapi_set_token(token);
    uint64_t mib;
    int ndev;
    if (node_totals(api ? api : SLURM_ARGS_API_DEFAULT, &mib, &ndev, model, sizeof model, err,
                    sizeof err) != 0) {
        fprintf(stderr, "tfuse slurm gres: %s\n", err);
        return 1;
    }
    printf("# TensorFuse on %s: %d device%s (%s), %" PRIu64 " MiB\n", name, ndev,
           ndev == 1 ? "" : "s", model, mib);
    printf("# gres.conf\nNodeName=%s Name=%s Count=%" PRIu64 "\n", name, SLICE_GRES_MEM, mib);
    printf("NodeName=%s Name=%s Count=%d\n", name, SLICE_GRES_COMPUTE, 100 * ndev);
    printf("# slurm.conf (GresTypes once; Gres= on the node's NodeName line)\n");
    printf("GresTypes=%s,%s\n", SLICE_GRES_MEM, SLICE_GRES_COMPUTE);
    printf("NodeName=%s Gres=%s:%" PRIu64 ",%s:%d\n", name, SLICE_GRES_MEM, mib,
           SLICE_GRES_COMPUTE, 100 * ndev);
    /* stub_dir: this tfuse's own libcuda.so.1, right whatever prefix it was installed to. */
    char stub[4096];
    if (tf_exe_relative("../lib/tfuse", stub, sizeof stub) != 0)
        snprintf(stub, sizeof stub, "%s", TFUSE_SLURM_STUB_DIR);
    printf("# plugstack.conf\nrequired %s api=%s stub_dir=%s\n", TFUSE_SLURM_PLUGIN_PATH,
           api ? api : SLURM_ARGS_API_DEFAULT, stub);
    return 0;
}

int tfuse_slurm_main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "gres") == 0)
        return gres_main(argc, argv);
    usage(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
    return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
}
