/*
 * vGPUs across node restarts (see persist.h). The file:
 *   {"version": 1, "vgpus": [{"device": UUID, "slot": N, "id": ..., "vram_bytes": ...,
 *     "request_bp": ..., "limit_bp": ..., "qos": "medium", "token": ..., "idempotency_key": ...,
 *     "lease_seconds": N (only for a vGPU with a lease), "owner": "pool:NAME" (only for the
 *     pool's vGPUs, which reconciliation may delete)}]}
 * A vGPU comes back in the slot it had (the gaps are filled with placeholders deleted again at
 * the end), with its id: ids are unique across the node's devices (vgpus.c).
 *
 * Every write is checked (open, write, fsync, close, rename, and the folder's fsync): a caller
 * that gets -1 must not report the change as made (vgpus.c refuses it and rolls it back).
 *
 * Owns: DIR/vgpus.json, DIR/node.lock. May call: vgpus.h, src/vgpu (vgpu_create, vgpu_delete),
 * jansson, log.h.
 */
#include "persist.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "log.h"
#include "vgpu_parse.h"

static json_t *slot_json(struct node_vgpus *v, int dev, int i)
{
    struct vgpu_slot *s = vgpu_slot_at(v->regions[dev], i);
    json_t *e = json_pack("{s:s, s:i, s:s, s:I, s:I, s:I, s:s, s:s, s:s}", "device",
                          v->dev[dev].uuid, "slot", i, "id", s->id, "vram_bytes",
                          (json_int_t)s->mem_limit, "request_bp",
                          (json_int_t)(s->compute_unlimited ? 0 : s->request_bp), "limit_bp",
                          (json_int_t)(s->compute_unlimited ? 0 : s->limit_bp), "qos",
                          vgpu_qos_name((int)s->qos), "token", s->token, "idempotency_key",
                          v->idem[dev][i]);
    if (e && v->lease_s[dev][i])
        json_object_set_new(e, "lease_seconds", json_integer(v->lease_s[dev][i]));
    if (e && v->owner[dev][i][0])
        json_object_set_new(e, "owner", json_string(v->owner[dev][i]));
    return e;
}

/* The document of the live vGPUs, leaving out (skip_dev, skip_slot); NULL when out of memory. */
static json_t *vgpus_doc(struct node_vgpus *v, int skip_dev, int skip_slot)
{
    json_t *arr = json_array();
    for (int d = 0; d < v->ndev && arr; d++)
        for (int i = 0; i < VGPU_MAX_SLOTS; i++) {
            if (atomic_load(&v->regions[d]->slots[i].state) != VGPU_SLOT_LIVE ||
                (d == skip_dev && i == skip_slot))
                continue;
            json_t *e = slot_json(v, d, i);
            if (!e || json_array_append_new(arr, e) != 0) {
                json_decref(arr);
                return NULL;
            }
        }
    return arr ? json_pack("{s:i, s:o}", "version", 1, "vgpus", arr) : NULL;
}

/* fsync of the folder holding path, so that the rename itself survives a crash. */
static int sync_parent(const char *path)
{
    char copy[4200];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Test-only fault injection (tests/security/state_persist.c): TFUSE_FAULT_STATE_MAX_BYTES=N makes
 * every save of more than N bytes fail as a full folder would (ENOSPC). RLIMIT_FSIZE cannot
 * stand in: it also bounds the memfds the vGPU regions live in. */
static int fault_full(json_t *doc)
{
    const char *max = getenv("TFUSE_FAULT_STATE_MAX_BYTES");
    if (!max || !*max)
        return 0;
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
    int full = !text || strlen(text) > strtoull(max, NULL, 10);
    free(text);
    return full ? ENOSPC : 0;
}

/* Writes doc to tmp and renames it over path; 0 or an errno. */
static int write_doc(json_t *doc, const char *tmp, const char *path)
{
    if (fault_full(doc))
        return ENOSPC;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno;
    int rc = json_dumpfd(doc, fd, JSON_INDENT(1) | JSON_SORT_KEYS) == 0 ? 0 : (errno ?: EIO);
    if (rc == 0 && fsync(fd) != 0)
        rc = errno;
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = errno;
    if (rc != 0)
        unlink(tmp);
    else if (sync_parent(path) != 0)
        rc = errno;
    return rc;
}

int node_persist_save_locked(struct node_vgpus *v, const char *path, int skip_dev, int skip_slot,
                             char *err, size_t errlen)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%.4000s.tmp", path);
    json_t *doc = vgpus_doc(v, skip_dev, skip_slot);
    errno = 0;
    int rc = doc ? write_doc(doc, tmp, path) : ENOMEM;
    json_decref(doc);
    if (rc != 0)
        snprintf(err, errlen, "cannot save the vGPUs to %.500s: %s", path, strerror(rc));
    return rc;
}

int node_persist_lock(const char *dir, int *fd_out, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%.4000s/node.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (e == EWOULDBLOCK)
            snprintf(err, errlen, "the state folder %.3000s is in use by another node (pid %s):"
                     " give each node its own --state", dir, pid[0] ? pid : "unknown");
        else
            snprintf(err, errlen, "cannot lock %s: %s", path, strerror(e));
        close(fd);
        return -1;
    }
    char line[32];
    int len = snprintf(line, sizeof line, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len)
        tf_warn("cannot write the node's pid into %s: %s", path, strerror(errno));
    *fd_out = fd;   /* held (and the lock with it) until the node exits */
    return 0;
}

static int device_of(struct node_vgpus *v, const char *uuid)
{
    for (int d = 0; d < v->ndev; d++)
        if (strcmp(v->dev[d].uuid, uuid) == 0)
            return d;
    return -1;
}

static int valid_token(const char *t)
{
    if (strlen(t) != 2 * VGPU_TOKEN_BYTES)
        return 0;
    for (; *t; t++)
        if (!((*t >= '0' && *t <= '9') || (*t >= 'a' && *t <= 'f')))
            return 0;
    return 1;
}

/* The saved entry for (dev, slot), or NULL. */
static json_t *entry_at(json_t *list, struct node_vgpus *v, int dev, int slot)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        const char *uuid = json_string_value(json_object_get(e, "device"));
        if (uuid && device_of(v, uuid) == dev &&
            json_integer_value(json_object_get(e, "slot")) == slot)
            return e;
    }
    return NULL;
}

/* Recreates one saved vGPU in slot `slot`; 0, or -1 with a message (the caller fills the slot
 * with a placeholder instead). */
static int restore_one(struct node_vgpus *v, int dev, int slot, json_t *e, char *err,
                       size_t errlen)
{
    const char *id = NULL, *qos = NULL, *token = NULL, *key = NULL, *owner = NULL;
    json_int_t vram = 0, req = 0, lim = 0, lease = 0;
    if (json_unpack(e, "{s:s, s:I, s:I, s:I, s:s, s:s, s?s, s?I, s?s}", "id", &id, "vram_bytes",
                    &vram, "request_bp", &req, "limit_bp", &lim, "qos", &qos, "token", &token,
                    "idempotency_key", &key, "lease_seconds", &lease, "owner", &owner) != 0 ||
        vram <= 0 || req < 0 || lim < 0 || !valid_token(token) ||
        (key && strlen(key) >= sizeof v->idem[0][0]) || lease < 0 || lease > NODE_LEASE_MAX_S ||
        (owner && strlen(owner) >= NODE_OWNER_MAX)) {
        snprintf(err, errlen, "malformed entry");
        return -1;
    }
    struct vgpu_spec spec = {.id = id, .mem_limit = (uint64_t)vram, .request_bp = (uint32_t)req,
                             .limit_bp = (uint32_t)lim, .qos = vgpu_qos_parse(qos)};
    int got = vgpu_create(v->regions[dev], &spec, err, errlen);
    if (got < 0)
        return -1;
    if (got != slot) {   /* cannot happen while every lower slot is filled; never keep it */
        vgpu_delete(v->regions[dev], got);
        snprintf(err, errlen, "landed in slot %d instead of %d", got, slot);
        return -1;
    }
    memcpy(v->regions[dev]->slots[slot].token, token, VGPU_TOKEN_MAX);
    snprintf(v->idem[dev][slot], sizeof v->idem[dev][slot], "%s", key ? key : "");
    /* Restored vGPUs get a fresh reconciliation grace, like a fresh lease below. */
    snprintf(v->owner[dev][slot], sizeof v->owner[dev][slot], "%s", owner ? owner : "");
    v->born_ns[dev][slot] = vgpu_clock_ns();
    /* The owner gets a whole lease from now to renew it: the restart was not its fault. */
    node_vgpus_set_lease_locked(v, dev, slot, (int)lease);
    return 0;
}

/* Restores device dev's saved vGPUs slot by slot; returns how many. */
static int restore_device(struct node_vgpus *v, int dev, json_t *list)
{
    int last = -1, restored = 0;
    int placeholder[VGPU_MAX_SLOTS];
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        const char *uuid = json_string_value(json_object_get(e, "device"));
        json_int_t s = json_integer_value(json_object_get(e, "slot"));
        if (uuid && device_of(v, uuid) == dev && s >= 0 && s < VGPU_MAX_SLOTS && s > last)
            last = (int)s;
    }
    for (int s = 0; s <= last; s++) {
        char err[256] = "";
        placeholder[s] = 0;
        json_t *saved = entry_at(list, v, dev, s);
        if (saved && restore_one(v, dev, s, saved, err, sizeof err) == 0) {
            restored++;
            continue;
        }
        if (saved)
            tf_warn("vGPU %s of device %d not restored: %s",
                    json_string_value(json_object_get(saved, "id")) ?: "?", dev, err);
        char gap_id[32];
        snprintf(gap_id, sizeof gap_id, "restore-gap-%d", s);
        struct vgpu_spec gap = {.id = gap_id, .mem_limit = 1, .qos = VGPU_QOS_MEDIUM};
        placeholder[s] = vgpu_create(v->regions[dev], &gap, err, sizeof err) == s;
    }
    for (int s = 0; s <= last; s++)
        if (placeholder[s])
            vgpu_delete(v->regions[dev], s);
    return restored;
}

int node_persist_restore(struct node_vgpus *v, const char *path, char *err, size_t errlen)
{
    if (access(path, F_OK) != 0)
        return 0;
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    json_t *list = doc ? json_object_get(doc, "vgpus") : NULL;
    if (!doc || !json_is_array(list) ||
        json_integer_value(json_object_get(doc, "version")) != 1) {
        snprintf(err, errlen, "%.500s: %s", path,
                 doc ? "not a version 1 vGPU list" : jerr.text);
        json_decref(doc);
        return -1;
    }
    int restored = 0;
    pthread_mutex_lock(&v->lock);
    for (int d = 0; d < v->ndev; d++)
        restored += restore_device(v, d, list);
    pthread_mutex_unlock(&v->lock);
    if ((size_t)restored != json_array_size(list))
        tf_warn("%s: %d of %zu saved vGPU(s) restored", path, restored, json_array_size(list));
    json_decref(doc);
    return restored;
}
