/*
 * A test driver of k8s_dp_allocate (src/k8s/dp_alloc.h): the kubelet's Allocate for one
 * container of N shares, as the device plugin makes it, printed for a shell test:
 *     ENV K=V        (one line each)
 *     MOUNT HOST CONTAINER ro|rw
 *   k4_dpalloc_cli [the shared tfuse-k8s options: --kube-api, --node-name, ...] N
 * Exit 0 when allocated, 1 with the reason on stderr. May call: dp_alloc.h, config.h.
 */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "dp_alloc.h"

int main(int argc, char **argv)
{
    struct k8s_config cfg;
    char err[800];
    k8s_config_init(&cfg);
    argc = k8s_config_parse(&cfg, argc, argv, err, sizeof err);
    if (argc != 2 || atoi(argv[1]) < 1 || atoi(argv[1]) > 64) {
        fprintf(stderr, "usage: k4_dpalloc_cli [tfuse-k8s options] N%s%s\n", argc < 0 ? ": " : "",
                argc < 0 ? err : "");
        return 2;
    }
    size_t n = (size_t)atoi(argv[1]);
    const char *ids[64];
    for (size_t i = 0; i < n; i++)
        ids[i] = "tensorfuse-share";
    struct k8s_dp_alloc a;
    if (k8s_dp_allocate(&cfg, ids, n, &a, err, sizeof err)) {
        fprintf(stderr, "allocate: %s\n", err);
        return 1;
    }
    for (size_t i = 0; i < a.n_env; i++)
        printf("ENV %s\n", a.env[i]);
    for (size_t i = 0; i < a.n_mounts; i++)
        printf("MOUNT %s %s %s\n", a.mounts[i].host, a.mounts[i].container,
               a.mounts[i].ro ? "ro" : "rw");
    k8s_dp_alloc_free(&a);
    return 0;
}
