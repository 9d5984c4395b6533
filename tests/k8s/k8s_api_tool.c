/*
 * A test driver of tfuse_k8s_api for tests/k8s/test_k8s_api.py: each command calls one entry
 * of the library with the shared configuration (flags and environment, config.h) and prints
 * the outcome as JSON on stdout, or the error on stderr with exit status 1.
 *   prepare NS NAME UID      k8s_claim_prepare; prints the prepared claim
 *   unprepare FILE           k8s_claim_unprepare of a claim printed by prepare
 *   sync                     k8s_slices_sync
 *   version                  k8s_api_server_version
 *   get PATH                 k8s_api_get
 *   label PATH KEY VALUE     k8s_api_update setting metadata.labels[KEY] (conflicts retried)
 *   show [OPTIONS]           `tfuse-k8s show` (k8s_show_main), the shared options given here
 * Owns: nothing. May call: tfuse_k8s_api, jansson, libc.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "k8s_cmds.h"
#include "kapi.h"
#include "slices.h"

static json_t *claim_json(const struct k8s_prepared_claim *pc)
{
    json_t *devs = json_array();
    for (size_t i = 0; i < pc->n_devices; i++) {
        const struct k8s_prepared_device *d = &pc->devices[i];
        json_array_append_new(devs, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "request",
                                              d->request, "pool", d->pool, "device", d->device,
                                              "shareID", d->share_id, "vgpu", d->vgpu_id, "cdi",
                                              d->cdi_id));
    }
    return json_pack("{s:s, s:s, s:s, s:o}", "uid", pc->uid, "namespace", pc->ns, "name",
                     pc->name, "devices", devs);
}

static int claim_from_json(const char *file, struct k8s_prepared_claim *pc)
{
    json_t *j = json_load_file(file, 0, NULL), *d;
    size_t i;
    if (!j)
        return -1;
    memset(pc, 0, sizeof *pc);
    snprintf(pc->uid, sizeof pc->uid, "%s", json_string_value(json_object_get(j, "uid")));
    json_array_foreach(json_object_get(j, "devices"), i, d) {
        if (i >= K8S_CLAIM_DEVICES_MAX)
            break;
        snprintf(pc->devices[i].vgpu_id, sizeof pc->devices[i].vgpu_id, "%s",
                 json_string_value(json_object_get(d, "vgpu")));
        pc->n_devices = i + 1;
    }
    json_decref(j);
    return 0;
}

static int set_label(json_t *obj, void *arg, char *err, size_t errlen)
{
    char **kv = arg;
    json_t *meta = json_object_get(obj, "metadata");
    if (!json_is_object(json_object_get(meta, "labels")))
        json_object_set_new(meta, "labels", json_object());
    json_object_set_new(json_object_get(meta, "labels"), kv[0], json_string(kv[1]));
    return 0;
}

static int print_and_free(json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    printf("\n");
    json_decref(j);
    return 0;
}

static int api_command(const struct k8s_config *cfg, int argc, char **argv, char *err,
                       size_t errlen)
{
    struct k8s_api *api = k8s_api_open(cfg, err, errlen);
    if (!api)
        return -1;
    int rc = -1, major, minor;
    char git[128];
    json_t *obj = NULL;
    if (!strcmp(argv[1], "version")) {
        if ((rc = k8s_api_server_version(api, &major, &minor, git, sizeof git, err, errlen)) == 0)
            print_and_free(json_pack("{s:i, s:i, s:s}", "major", major, "minor", minor, "git",
                                     git));
    } else if (!strcmp(argv[1], "get") && argc == 3) {
        if (k8s_api_get(api, argv[2], &obj, err, errlen) == 200)
            rc = print_and_free(obj);
    } else if (!strcmp(argv[1], "label") && argc == 5) {
        int st = k8s_api_update(api, argv[2], NULL, set_label, argv + 3, &obj, err, errlen);
        if (st == 200)
            rc = print_and_free(obj);
    } else {
        snprintf(err, errlen, "unknown command or arguments");
    }
    k8s_api_close(api);
    return rc;
}

int main(int argc, char **argv)
{
    struct k8s_config cfg;
    char err[2048] = "";
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "show")) {   /* show parses every option itself */
            memmove(argv + i, argv + i + 1, sizeof *argv * (size_t)(argc - i));
            return k8s_show_main(argc - 1, argv);
        }
    k8s_config_init(&cfg);
    if ((argc = k8s_config_parse(&cfg, argc, argv, err, sizeof err)) < 2) {
        fprintf(stderr, "k8s_api_tool: %s\n", argc < 0 ? err : "no command");
        return 2;
    }
    int rc;
    struct k8s_prepared_claim pc;
    if (!strcmp(argv[1], "prepare") && argc == 5) {
        rc = k8s_claim_prepare(&cfg, argv[2], argv[3], argv[4], &pc, err, sizeof err);
        if (rc == 0)
            print_and_free(claim_json(&pc));
    } else if (!strcmp(argv[1], "unprepare") && argc == 3) {
        rc = claim_from_json(argv[2], &pc);
        if (rc != 0)
            snprintf(err, sizeof err, "cannot read %s", argv[2]);
        else
            rc = k8s_claim_unprepare(&cfg, &pc, err, sizeof err);
    } else if (!strcmp(argv[1], "sync") && argc == 2) {
        rc = k8s_slices_sync(&cfg, err, sizeof err);
    } else {
        rc = api_command(&cfg, argc, argv, err, sizeof err);
    }
    if (rc != 0)
        fprintf(stderr, "k8s_api_tool: %s\n", err);
    return rc == 0 ? 0 : 1;
}
