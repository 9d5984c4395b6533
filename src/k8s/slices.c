/*
 * The node's ResourceSlices (see slices.h). A slice carries the hash of what we meant to write
 * (annotation gpu.tensorfuse.io/spec-hash, generation left out): the API server rewrites
 * quantities in canonical form, so comparing specs field by field would see a change, and bump
 * the generation, at every sync.
 * May call: kapi.h, knode.h, jansson, libc.
 */
#include "slices.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kapi.h"
#include "knode.h"

#define SLICES_PATH "/apis/resource.k8s.io/v1/resourceslices"

int k8s_slice_device_name(const char *uuid, char *out, size_t len)
{
    size_t o = 0;
    if (len < 2)
        return -1;
    for (const char *p = uuid; *p && o < 63 && o + 1 < len; p++) {
        char c = (char)tolower((unsigned char)*p);
        out[o++] = isalnum((unsigned char)c) ? c : '-';
    }
    while (o && out[o - 1] == '-')
        o--;
    out[o] = '\0';
    return o && isalnum((unsigned char)out[0]) ? 0 : -1;
}

int k8s_slice_layout(int major, int minor, enum k8s_slice_layout *layout, char *err,
                     size_t errlen)
{
    const char *env = getenv("TFUSE_K8S_SLICE_LAYOUT");
    if (major < 1 || (major == 1 && minor < 34)) {
        snprintf(err, errlen, "the API server is %d.%d: the DRA driver needs 1.34 or later "
                              "(resource.k8s.io/v1); use the device-plugin path", major, minor);
        return -1;
    }
    *layout = major > 1 || minor >= 36 ? K8S_LAYOUT_SHARED : K8S_LAYOUT_WHOLE;
    if (!env || !*env || !strcmp(env, "auto"))
        return 0;
    if (!strcmp(env, "shared") || !strcmp(env, "whole")) {
        *layout = !strcmp(env, "shared") ? K8S_LAYOUT_SHARED : K8S_LAYOUT_WHOLE;
        return 0;
    }
    snprintf(err, errlen, "TFUSE_K8S_SLICE_LAYOUT must be auto, shared or whole, not '%s'", env);
    return -1;
}

/* ---- building ---- */

static const char *architecture(int major, int minor)
{
    switch (major) {
    case 3: return "Kepler";
    case 5: return "Maxwell";
    case 6: return "Pascal";
    case 7: return minor >= 5 ? "Turing" : "Volta";
    case 8: return minor == 9 ? "Ada Lovelace" : "Ampere";
    case 9: return "Hopper";
    case 10: case 11: case 12: return "Blackwell";
    default: return NULL;
    }
}

static json_t *attr(const char *type, const char *value)
{
    return json_pack("{s:s}", type, value);
}

static void add_attributes(json_t *attrs, json_t *d)
{
    const char *s;
    int ma, mi;
    json_object_set_new(attrs, "type", attr("string", "gpu"));
    if ((s = json_string_value(json_object_get(d, "uuid"))))
        json_object_set_new(attrs, "uuid", attr("string", s));
    if ((s = json_string_value(json_object_get(d, "model"))))
        json_object_set_new(attrs, "productName", attr("string", s));
    s = json_string_value(json_object_get(d, "compute_capability"));
    if (s && sscanf(s, "%d.%d", &ma, &mi) == 2) {
        char v[32];
        snprintf(v, sizeof v, "%d.%d.0", ma, mi);   /* version attributes are semver */
        json_object_set_new(attrs, "computeCapability", attr("version", v));
        if (architecture(ma, mi))
            json_object_set_new(attrs, "architecture", attr("string", architecture(ma, mi)));
    }
    json_int_t dv = json_integer_value(json_object_get(d, "cuda_driver_version"));
    if (dv > 0) {
        char v[48];
        snprintf(v, sizeof v, "%d.%d.0", (int)(dv / 1000), (int)(dv % 1000 / 10));
        json_object_set_new(attrs, "driverVersion", attr("version", v));
        json_object_set_new(attrs, "cudaDriverVersion", attr("version", v));
    }
    if ((s = json_string_value(json_object_get(d, "pci_bus_id"))))
        json_object_set_new(attrs, "resource.kubernetes.io/pciBusID", attr("string", s));
}

static json_t *capacity(double value, const char *def, const char *min, const char *max,
                        const char *step)
{
    char q[64];
    k8s_quantity_format(value, q, sizeof q);
    json_t *c = json_pack("{s:s}", "value", q);
    if (!def)
        return c;
    json_t *range = json_pack("{s:s}", "min", min);
    if (max)
        json_object_set_new(range, "max", json_string(max));
    if (step)
        json_object_set_new(range, "step", json_string(step));
    json_object_set_new(c, "requestPolicy", json_pack("{s:s, s:o}", "default", def,
                                                      "validRange", range));
    return c;
}

/*
 * Shared: a claim that asks for nothing gets the whole memory (so it is alone on the GPU) and
 * no compute guarantee; memory is taken in MiB steps; compute in whole percent; TFLOPs freely.
 * Whole: no policies (a request consumes everything).
 */
static json_t *device(json_t *d, enum k8s_slice_layout layout)
{
    char name[K8S_NAME_MAX], def_mem[32];
    const char *uuid = json_string_value(json_object_get(d, "uuid"));
    if (!uuid || k8s_slice_device_name(uuid, name, sizeof name) != 0)
        return NULL;
    uint64_t mem = (uint64_t)json_integer_value(json_object_get(d, "memory_bytes"));
    double tflops = json_number_value(json_object_get(d, "tflops_fp16"));
    int shared = layout == K8S_LAYOUT_SHARED && mem >= 2 * 1048576ull;
    snprintf(def_mem, sizeof def_mem, "%" PRIu64, mem / 1048576 * 1048576);
    json_t *attrs = json_object(), *caps = json_object();
    add_attributes(attrs, d);
    json_object_set_new(caps, "memory", capacity((double)mem, shared ? def_mem : NULL, "1Mi",
                                                 NULL, "1Mi"));
    json_object_set_new(caps, "compute", capacity(100, shared ? "0" : NULL, "0", "100", "1"));
    if (tflops > 0)
        json_object_set_new(caps, "tflops", capacity(floor(tflops * 1000) / 1000,
                                                     shared ? "0" : NULL, "0", NULL, NULL));
    json_t *dev = json_pack("{s:s, s:o, s:o}", "name", name, "attributes", attrs, "capacity",
                            caps);
    if (shared)
        json_object_set_new(dev, "allowMultipleAllocations", json_true());
    return dev;
}

static void slice_name(const struct k8s_config *cfg, size_t k, char *out, size_t len)
{
    /* a DNS subdomain: the node's name and the driver's are, and so is this */
    snprintf(out, len, "%.180s-%.63s-%zu", cfg->node_name, cfg->driver, k);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The hash of a spec with its generation left out. */
static void spec_hash(json_t *spec, char *out, size_t len)
{
    json_t *copy = json_deep_copy(spec);
    json_object_del(json_object_get(copy, "pool"), "generation");
    char *text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(out, len, "%016" PRIx64, text ? fnv1a(text) : 0);
    free(text);
    json_decref(copy);
}

json_t *k8s_slices_build(const struct k8s_config *cfg, json_t *node_devices,
                         enum k8s_slice_layout layout, long long generation,
                         const char *node_uid)
{
    json_t *all = json_array(), *devs = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(node_devices, i, d) {
        json_t *dev = device(d, layout);
        if (dev)
            json_array_append_new(devs, dev);
    }
    size_t n = json_array_size(devs), count = n ? (n + K8S_SLICE_MAX_DEVICES - 1) /
                                                      K8S_SLICE_MAX_DEVICES : 1;
    for (size_t k = 0; k < count; k++) {
        char name[320], hash[32];
        slice_name(cfg, k, name, sizeof name);
        json_t *part = json_array();
        for (size_t j = k * K8S_SLICE_MAX_DEVICES; j < n && j < (k + 1) * K8S_SLICE_MAX_DEVICES;
             j++)
            json_array_append(part, json_array_get(devs, j));
        json_t *spec = json_pack("{s:s, s:s, s:{s:s, s:I, s:I}, s:o}", "driver", cfg->driver,
                                 "nodeName", cfg->node_name, "pool", "name", cfg->node_name,
                                 "generation", (json_int_t)generation, "resourceSliceCount",
                                 (json_int_t)count, "devices", part);
        spec_hash(spec, hash, sizeof hash);
        json_t *meta = json_pack("{s:s, s:{s:s}, s:{s:s}}", "name", name, "annotations",
                                 K8S_SLICE_HASH_ANNOTATION, hash, "labels",
                                 "app.kubernetes.io/managed-by", "tfuse-k8s");
        if (node_uid)
            json_object_set_new(meta, "ownerReferences",
                                json_pack("[{s:s, s:s, s:s, s:s, s:b}]", "apiVersion", "v1",
                                          "kind", "Node", "name", cfg->node_name, "uid",
                                          node_uid, "controller", 1));
        json_array_append_new(all, json_pack("{s:s, s:s, s:o, s:o}", "apiVersion",
                                             "resource.k8s.io/v1", "kind", "ResourceSlice",
                                             "metadata", meta, "spec", spec));
    }
    json_decref(devs);
    return all;
}

/* ---- sync ---- */

static const char *meta_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static const char *hash_of(json_t *obj)
{
    return json_string_value(json_object_get(
        json_object_get(json_object_get(obj, "metadata"), "annotations"),
        K8S_SLICE_HASH_ANNOTATION));
}

/* Our slices: this driver's on this node (the field selector narrows; we check again). */
static json_t *list_ours(struct k8s_api *api, const struct k8s_config *cfg, char *err,
                         size_t errlen)
{
    char path[1024];
    snprintf(path, sizeof path, SLICES_PATH "?fieldSelector=spec.nodeName%%3D%s%%2Cspec.driver"
             "%%3D%s", cfg->node_name, cfg->driver);
    json_t *list = NULL, *ours = json_array();
    if (k8s_api_get(api, path, &list, err, errlen) != 200) {
        json_decref(ours);
        return NULL;
    }
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(list, "items"), i, s) {
        json_t *spec = json_object_get(s, "spec");
        const char *drv = json_string_value(json_object_get(spec, "driver"));
        const char *node = json_string_value(json_object_get(spec, "nodeName"));
        if (drv && node && !strcmp(drv, cfg->driver) && !strcmp(node, cfg->node_name))
            json_array_append(ours, s);
    }
    json_decref(list);
    return ours;
}

static json_t *find_named(json_t *slices, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(slices, i, s) {
        const char *n = meta_str(s, "name");
        if (n && !strcmp(n, name))
            return s;
    }
    return NULL;
}

/* Whether the existing slices are exactly the wanted ones at one generation; *gen: the highest
 * generation seen (the next one must be above it). */
static int up_to_date(json_t *have, json_t *want, long long *gen)
{
    size_t i;
    json_t *s;
    long long lo = -1;
    *gen = 0;
    json_array_foreach(have, i, s) {
        long long g = json_integer_value(json_object_get(
            json_object_get(json_object_get(s, "spec"), "pool"), "generation"));
        *gen = g > *gen ? g : *gen;
        lo = lo < 0 || g < lo ? g : lo;
    }
    if (json_array_size(have) != json_array_size(want) || lo != *gen)
        return 0;
    json_array_foreach(want, i, s) {
        json_t *h = find_named(have, meta_str(s, "name"));
        if (!h || !hash_of(h) || strcmp(hash_of(h), hash_of(s)))
            return 0;
    }
    return 1;
}

static int replace_slice(json_t *obj, void *arg, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    json_t *want = arg, *meta = json_object_get(obj, "metadata");
    json_object_set(obj, "spec", json_object_get(want, "spec"));
    json_t *wm = json_object_get(want, "metadata");
    json_object_set(meta, "annotations", json_object_get(wm, "annotations"));
    json_object_set(meta, "labels", json_object_get(wm, "labels"));
    if (json_object_get(wm, "ownerReferences"))
        json_object_set(meta, "ownerReferences", json_object_get(wm, "ownerReferences"));
    return 0;
}

static int write_slice(struct k8s_api *api, json_t *want, int exists, char *err, size_t errlen)
{
    char path[512];
    snprintf(path, sizeof path, SLICES_PATH "/%s", meta_str(want, "name"));
    int st = exists ? 404 : k8s_api_request(api, "POST", SLICES_PATH, NULL, want, NULL, err,
                                            errlen);
    if (st == 409 || exists)   /* AlreadyExists: someone made it since we listed */
        st = k8s_api_update(api, path, NULL, replace_slice, want, NULL, err, errlen);
    return st >= 200 && st < 300 ? 0 : -1;
}

static int apply(struct k8s_api *api, json_t *have, json_t *want, char *err, size_t errlen)
{
    size_t i;
    json_t *s;
    json_array_foreach(want, i, s)
        if (write_slice(api, s, find_named(have, meta_str(s, "name")) != NULL, err, errlen))
            return -1;
    json_array_foreach(have, i, s) {
        if (find_named(want, meta_str(s, "name")))
            continue;
        char path[512];
        snprintf(path, sizeof path, SLICES_PATH "/%s", meta_str(s, "name"));
        int st = k8s_api_request(api, "DELETE", path, NULL, NULL, NULL, err, errlen);
        if (st != 200 && st != 202 && st != 404)
            return -1;
    }
    return 0;
}

static int sync_with(struct k8s_api *api, const struct k8s_config *cfg, json_t *devs,
                     enum k8s_slice_layout layout, char *err, size_t errlen)
{
    char path[512];
    json_t *node = NULL;
    snprintf(path, sizeof path, "/api/v1/nodes/%s", cfg->node_name);
    if (k8s_api_get(api, path, &node, err, errlen) != 200)
        return -1;
    json_t *have = list_ours(api, cfg, err, errlen), *want = NULL;
    int rc = -1;
    long long gen = 0;
    if (have) {
        want = k8s_slices_build(cfg, devs, layout, 0, meta_str(node, "uid"));
        if (up_to_date(have, want, &gen)) {
            rc = 0;
        } else {
            json_decref(want);
            want = k8s_slices_build(cfg, devs, layout, gen + 1, meta_str(node, "uid"));
            rc = apply(api, have, want, err, errlen);
        }
    }
    json_decref(want);
    json_decref(have);
    json_decref(node);
    return rc;
}

int k8s_slices_sync(const struct k8s_config *cfg, char *err, size_t errlen)
{
    if (!k8s_name_ok(cfg->node_name)) {
        snprintf(err, errlen, "the node name '%s' is not a DNS name", cfg->node_name);
        return -1;
    }
    struct k8s_api *api = k8s_api_open(cfg, err, errlen);
    if (!api)
        return -1;
    int major, minor, rc = -1;
    enum k8s_slice_layout layout;
    json_t *devs = NULL;
    if (k8s_api_server_version(api, &major, &minor, NULL, 0, err, errlen) == 0 &&
        k8s_slice_layout(major, minor, &layout, err, errlen) == 0 &&
        (devs = k8s_node_devices(cfg, err, errlen)))
        rc = sync_with(api, cfg, devs, layout, err, errlen);
    json_decref(devs);
    k8s_api_close(api);
    return rc;
}
