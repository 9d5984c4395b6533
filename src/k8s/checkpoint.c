/*
 * The DRA driver's checkpoint file (checkpoint.h): JSON of the prepared claims,
 *   {"kind": "TensorFuseDRACheckpoint", "version": 1, "checksum": "fnv1a64:<16 hex>",
 *    "claims": [{"uid", "namespace", "name", "devices": [{"request", "pool", "device",
 *                "shareID", "vgpuID", "cdiID"}]}]}
 * where the checksum is over the compact, key-sorted text of "claims". Replaced atomically.
 * Owns: encoding, decoding and the durable write. May call: jansson, POSIX.
 */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#define CKPT_KIND "TensorFuseDRACheckpoint"
#define CKPT_VERSION 1

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* the checksum of the claims' canonical text: catches torn and edited files, not attackers
 * (the folder is the kubelet's, root's only) */
static int claims_sum(json_t *claims, char out[32])
{
    char *text = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return -1;
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    free(text);
    snprintf(out, 32, "fnv1a64:%016" PRIx64, h);
    return 0;
}

static json_t *device_json(const struct k8s_prepared_device *d)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "request", d->request, "pool", d->pool,
                     "device", d->device, "shareID", d->share_id, "vgpuID", d->vgpu_id,
                     "cdiID", d->cdi_id);
}

static json_t *claim_json(const struct k8s_prepared_claim *pc)
{
    json_t *devs = json_array();
    for (size_t i = 0; devs && i < pc->n_devices; i++)
        json_array_append_new(devs, device_json(&pc->devices[i]));
    return json_pack("{s:s, s:s, s:s, s:o}", "uid", pc->uid, "namespace", pc->ns, "name",
                     pc->name, "devices", devs);
}

/* copy a string member; -1 when missing, not a string or too long */
static int get_str(json_t *obj, const char *key, char *out, size_t outlen)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (!s || strlen(s) >= outlen)
        return -1;
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static int claim_from(json_t *j, struct k8s_prepared_claim *pc)
{
    memset(pc, 0, sizeof(*pc));
    json_t *devs = json_object_get(j, "devices");
    if (get_str(j, "uid", pc->uid, sizeof(pc->uid)) || !pc->uid[0] ||
        get_str(j, "namespace", pc->ns, sizeof(pc->ns)) ||
        get_str(j, "name", pc->name, sizeof(pc->name)) || !json_is_array(devs) ||
        json_array_size(devs) > K8S_CLAIM_DEVICES_MAX)
        return -1;
    size_t i;
    json_t *d;
    json_array_foreach(devs, i, d) {
        struct k8s_prepared_device *pd = &pc->devices[i];
        if (get_str(d, "request", pd->request, sizeof(pd->request)) ||
            get_str(d, "pool", pd->pool, sizeof(pd->pool)) ||
            get_str(d, "device", pd->device, sizeof(pd->device)) ||
            get_str(d, "shareID", pd->share_id, sizeof(pd->share_id)) ||
            get_str(d, "vgpuID", pd->vgpu_id, sizeof(pd->vgpu_id)) ||
            get_str(d, "cdiID", pd->cdi_id, sizeof(pd->cdi_id)))
            return -1;
    }
    pc->n_devices = json_array_size(devs);
    return 0;
}

static int grow(struct k8s_checkpoint *ck, size_t want)
{
    if (want <= ck->cap)
        return 0;
    size_t cap = ck->cap ? ck->cap * 2 : 16;
    while (cap < want)
        cap *= 2;
    void *p = realloc(ck->claims, cap * sizeof(*ck->claims));
    if (!p)
        return -1;
    ck->claims = p;
    ck->cap = cap;
    return 0;
}

static int decode(struct k8s_checkpoint *ck, json_t *root, char *err, size_t errlen)
{
    json_t *claims = json_object_get(root, "claims");
    const char *kind = json_string_value(json_object_get(root, "kind"));
    const char *sum = json_string_value(json_object_get(root, "checksum"));
    char want[32];
    if (!kind || strcmp(kind, CKPT_KIND) ||
        json_integer_value(json_object_get(root, "version")) != CKPT_VERSION) {
        seterr(err, errlen, "%s: not a version %d %s", ck->path, CKPT_VERSION, CKPT_KIND);
        return -1;
    }
    if (!json_is_array(claims) || !sum || claims_sum(claims, want) || strcmp(sum, want)) {
        seterr(err, errlen, "%s: checksum mismatch (a torn or edited file); its claims cannot "
                            "be trusted to undo. Move it aside to start without them",
               ck->path);
        return -1;
    }
    if (grow(ck, json_array_size(claims)) < 0) {
        seterr(err, errlen, "out of memory");
        return -1;
    }
    size_t i;
    json_t *c;
    json_array_foreach(claims, i, c) {
        if (claim_from(c, &ck->claims[ck->n]) < 0) {
            seterr(err, errlen, "%s: claim %zu is malformed", ck->path, i);
            return -1;
        }
        ck->n++;
    }
    return 0;
}

int k8s_ckpt_load(struct k8s_checkpoint *ck, const char *dir, char *err, size_t errlen)
{
    memset(ck, 0, sizeof(*ck));
    if ((size_t)snprintf(ck->path, sizeof(ck->path), "%s/%s", dir, K8S_CKPT_FILE) >=
        sizeof(ck->path)) {
        seterr(err, errlen, "checkpoint folder name too long");
        return -1;
    }
    if (access(ck->path, F_OK) != 0 && errno == ENOENT)
        return 0;
    json_error_t je;
    json_t *root = json_load_file(ck->path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        seterr(err, errlen, "%s: unreadable checkpoint (%s, line %d); move it aside to start "
                            "without its claims", ck->path, je.text, je.line);
        return -1;
    }
    int rc = decode(ck, root, err, errlen);
    json_decref(root);
    if (rc < 0)
        k8s_ckpt_free(ck);
    return rc;
}

const struct k8s_prepared_claim *k8s_ckpt_find(const struct k8s_checkpoint *ck,
                                               const char *uid)
{
    for (size_t i = 0; i < ck->n; i++)
        if (!strcmp(ck->claims[i].uid, uid))
            return &ck->claims[i];
    return NULL;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* the text to a temporary file, flushed, renamed over the checkpoint, the folder flushed */
static int durable_replace(const char *path, const char *text, char *err, size_t errlen)
{
    char tmp[sizeof(((struct k8s_checkpoint *)0)->path) + 8], dir[sizeof(tmp)];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        seterr(err, errlen, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    if (write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
        seterr(err, errlen, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        seterr(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { /* the rename itself must survive a crash */
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

static int save(const struct k8s_checkpoint *ck, char *err, size_t errlen)
{
    json_t *claims = json_array();
    for (size_t i = 0; claims && i < ck->n; i++)
        json_array_append_new(claims, claim_json(&ck->claims[i]));
    char sum[32];
    json_t *root = NULL;
    if (claims && claims_sum(claims, sum) == 0)
        root = json_pack("{s:s, s:i, s:s, s:O}", "kind", CKPT_KIND, "version", CKPT_VERSION,
                         "checksum", sum, "claims", claims);
    json_decref(claims);
    char *text = root ? json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
    json_decref(root);
    if (!text) {
        seterr(err, errlen, "out of memory encoding the checkpoint");
        return -1;
    }
    int rc = durable_replace(ck->path, text, err, errlen);
    free(text);
    return rc;
}

int k8s_ckpt_put(struct k8s_checkpoint *ck, const struct k8s_prepared_claim *pc, char *err,
                 size_t errlen)
{
    struct k8s_prepared_claim *slot = (struct k8s_prepared_claim *)k8s_ckpt_find(ck, pc->uid);
    if (slot) {
        struct k8s_prepared_claim old = *slot;
        *slot = *pc;
        if (save(ck, err, errlen) < 0) {
            *slot = old;
            return -1;
        }
        return 0;
    }
    if (grow(ck, ck->n + 1) < 0) {
        seterr(err, errlen, "out of memory");
        return -1;
    }
    ck->claims[ck->n++] = *pc;
    if (save(ck, err, errlen) < 0) {
        ck->n--;
        return -1;
    }
    return 0;
}

int k8s_ckpt_del(struct k8s_checkpoint *ck, const char *uid, char *err, size_t errlen)
{
    const struct k8s_prepared_claim *c = k8s_ckpt_find(ck, uid);
    if (!c)
        return 0;
    size_t i = (size_t)(c - ck->claims);
    struct k8s_prepared_claim old = ck->claims[i];
    memmove(&ck->claims[i], &ck->claims[i + 1], (ck->n - i - 1) * sizeof(*ck->claims));
    ck->n--;
    if (save(ck, err, errlen) < 0) {
        memmove(&ck->claims[i + 1], &ck->claims[i], (ck->n - i) * sizeof(*ck->claims));
        ck->claims[i] = old;
        ck->n++;
        return -1;
    }
    return 0;
}

void k8s_ckpt_free(struct k8s_checkpoint *ck)
{
    free(ck->claims);
    ck->claims = NULL;
    ck->n = ck->cap = 0;
}
