/*
 * The DRA kubelet plugin (k8s_dra_plugin_start: registration, DRA v1 and v1beta1, the
 * checkpoint) with a test double of the claim logic in place of claim.c, for dra_kubelet.py.
 * The double records what it did in STATE_DIR so the test can count prepares and undos:
 *   a file vgpu-<uid>-<i> per device while prepared, and a line "prepare <uid>" or
 *   "unprepare <uid>" in STATE_DIR/log per call. Claims named bad-* fail; a name ending in
 *   -2 gets two devices; share-* gets a share id; slow-* takes 300 ms; while the file
 *   STATE_DIR/fail-unprepare exists, unprepare fails.
 * Usage: test_dra_server PLUGIN_DIR REGISTRY_DIR STATE_DIR: prints "ready", serves until
 * stdin closes, prints "registered <state>" (-1 never told, 0 yes, 1 refused) and exits 0;
 * exits 3 with the reason on stderr when the plugin does not start.
 * May call: dra_service.h, POSIX.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dra_service.h"

static const char *state_dir;

static void logline(const char *what, const char *uid)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/log", state_dir);
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%s %s\n", what, uid);
        fclose(f);
    }
}

static void vgpu_file(const char *uid, size_t i, char *out, size_t len)
{
    snprintf(out, len, "%s/vgpu-%s-%zu", state_dir, uid, i);
}

static int fake_prepare(const struct k8s_config *cfg, const char *ns, const char *name,
                        const char *uid, struct k8s_prepared_claim *out, char *err,
                        size_t errlen)
{
    logline("prepare", uid);
    if (!strncmp(name, "bad-", 4)) {
        snprintf(err, errlen, "resourceclaim %s/%s has no allocation for %s", ns, name,
                 cfg->driver);
        return -1;
    }
    if (!strncmp(name, "slow-", 5))
        usleep(300 * 1000);
    size_t n = strlen(name) > 2 && !strcmp(name + strlen(name) - 2, "-2") ? 2 : 1;
    for (size_t i = 0; i < n; i++) {
        struct k8s_prepared_device *d = &out->devices[i];
        snprintf(d->request, sizeof(d->request), "gpu%zu", i);
        snprintf(d->pool, sizeof(d->pool), "%s", cfg->node_name);
        snprintf(d->device, sizeof(d->device), "gpu-%zu", i);
        snprintf(d->vgpu_id, sizeof(d->vgpu_id), "v-%s-%zu", uid, i);
        snprintf(d->cdi_id, sizeof(d->cdi_id), "k8s.%s/claim=%s-%zu", cfg->driver, uid, i);
        if (!strncmp(name, "share-", 6))
            snprintf(d->share_id, sizeof(d->share_id), "share-%zu", i);
        char path[600];
        vgpu_file(uid, i, path, sizeof(path));
        FILE *f = fopen(path, "w");
        if (f)
            fclose(f);
    }
    out->n_devices = n;
    return 0;
}

static int fake_unprepare(const struct k8s_config *cfg, const struct k8s_prepared_claim *pc,
                          char *err, size_t errlen)
{
    char path[600];
    logline("unprepare", pc->uid);
    snprintf(path, sizeof(path), "%s/fail-unprepare", state_dir);
    if (access(path, F_OK) == 0) {
        snprintf(err, errlen, "node API: vGPU %s busy", pc->devices[0].vgpu_id);
        return -1;
    }
    for (size_t i = 0; i < pc->n_devices; i++) {
        vgpu_file(pc->uid, i, path, sizeof(path));
        unlink(path);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: test_dra_server PLUGIN_DIR REGISTRY_DIR STATE_DIR\n");
        return 2;
    }
    state_dir = argv[3];
    static struct k8s_config cfg;
    snprintf(cfg.driver, sizeof(cfg.driver), "%s", K8S_DRIVER_NAME_DEFAULT);
    snprintf(cfg.node_name, sizeof(cfg.node_name), "node-a");
    snprintf(cfg.plugin_dir, sizeof(cfg.plugin_dir), "%s", argv[1]);
    snprintf(cfg.registry_dir, sizeof(cfg.registry_dir), "%s", argv[2]);
    static const struct k8s_dra_ops ops = {fake_prepare, fake_unprepare};
    char err[512], line[64];
    struct k8s_dra_plugin *p = k8s_dra_plugin_start(&cfg, &ops, err, sizeof(err));
    if (!p) {
        fprintf(stderr, "test_dra_server: %s\n", err);
        return 3;
    }
    printf("ready\n");
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin)) {
    }
    int state = k8s_registration_state(&p->reg, err, sizeof(err));
    k8s_dra_plugin_stop(p);
    printf("registered %d\n", state);
    return 0;
}
