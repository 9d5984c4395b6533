/*
 * `tfuse-k8s device-plugin` with a test double of k8s_dp_allocate (dp_alloc.h), for
 * dp_kubelet.py: everything else is the real plugin (registration, ListAndWatch on a real
 * node's GPUs, the checks Allocate makes before allocating). The double answers what the
 * kubelet must carry into the container so the test can see it arrived intact: the shares it
 * was given (TFUSE_TEST_SHARES, comma-separated), the node's session address (TFUSE_NODE) and
 * one read-only mount; it refuses a share named in $TFUSE_DP_TEST_REFUSE, as an allocation
 * that finds no pod for it would.
 * May call: dp_alloc.h, k8s_cmds.h, libc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_alloc.h"
#include "k8s_cmds.h"

static char *joined(const char *const *ids, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(ids[i]) + 1;
    char *s = calloc(1, len);
    for (size_t i = 0; s && i < n; i++) {
        if (i)
            strcat(s, ",");
        strcat(s, ids[i]);
    }
    return s;
}

int k8s_dp_allocate(const struct k8s_config *cfg, const char *const *device_ids, size_t n,
                    struct k8s_dp_alloc *out, char *err, size_t errlen)
{
    const char *refuse = getenv("TFUSE_DP_TEST_REFUSE");
    memset(out, 0, sizeof *out);
    for (size_t i = 0; refuse && i < n; i++)
        if (strcmp(device_ids[i], refuse) == 0) {
            snprintf(err, errlen, "test double: no pod bound to node %s waits for %s",
                     cfg->node_name, refuse);
            return -1;
        }
    char *ids = joined(device_ids, n);
    out->env = calloc(2, sizeof *out->env);
    out->mounts = calloc(1, sizeof *out->mounts);
    size_t need = (ids ? strlen(ids) : 0) + 32;
    if (!ids || !out->env || !out->mounts || !(out->env[0] = malloc(need)) ||
        !(out->env[1] = malloc(strlen(cfg->session_addr) + 16))) {
        free(ids);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    out->n_env = 2;
    snprintf(out->env[0], need, "TFUSE_TEST_SHARES=%s", ids);
    sprintf(out->env[1], "TFUSE_NODE=%s", cfg->session_addr);
    free(ids);
    snprintf(out->mounts[0].host, sizeof out->mounts[0].host, "%.490s/libcuda.so.1",
             cfg->stub_dir);
    snprintf(out->mounts[0].container, sizeof out->mounts[0].container,
             "/usr/lib/tensorfuse/libcuda.so.1");
    out->mounts[0].ro = 1;
    out->n_mounts = 1;
    return 0;
}

void k8s_dp_alloc_free(struct k8s_dp_alloc *a)
{
    for (size_t i = 0; a->env && i < a->n_env; i++)
        free(a->env[i]);
    free(a->env);
    free(a->mounts);
    memset(a, 0, sizeof *a);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "device-plugin") != 0) {
        fprintf(stderr, "usage: dp_test_plugin device-plugin [options]\n");
        return 2;
    }
    return k8s_cmd_device_plugin(argc - 1, argv + 1);
}
