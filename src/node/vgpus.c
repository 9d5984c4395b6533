/*
 * The node's vGPUs (see vgpus.h): regions, controller thread, reaper refunds and the
 * create/list/delete operations behind the control API (the device probe and the devices'
 * view: vgpus_devices.c).
 * May call: src/vgpu, src/backend, jansson, src/common/log.h.
 */
#include "vgpus.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "log.h"
#include "owner.h"
#include "poolreg.h"
#include "vgpu_mem.h"
#include "vgpu_parse.h"
#include "vgpus_int.h"

#define CONTROL_PERIOD_NS 10000000L /* 10 ms */

/* ---- lifecycle ---- */

int node_vgpus_init(struct node_vgpus *v, const char *backend_path, double promise,
                    const char *connect, char *err, size_t errlen)
{
    memset(v, 0, sizeof *v);
    pthread_mutex_init(&v->lock, NULL);
    snprintf(v->connect, sizeof v->connect, "%s", connect ? connect : "");
    if (node_vgpus_probe(v, backend_path, err, errlen) != 0)
        return -1;
    for (int i = 0; i < v->ndev; i++)   /* what "--compute 12TFLOPs" and the pool count in */
        v->dev[i].tflops = node_device_tflops(v->dev[i].name, v->dev[i].sms);
    uint64_t now = vgpu_clock_ns();
    for (int i = 0; i < v->ndev; i++) {
        struct vgpu_device_desc d = {
            .index = (uint32_t)i, .uuid = v->dev[i].uuid, .memory = v->dev[i].memory,
            .tflops = v->dev[i].tflops, .flags = isinf(promise) ? VGPU_REGION_OVERSUBSCRIBE : 0,
            .promise_max = isinf(promise) || promise <= 1 ? 0
                         : (uint64_t)(promise * (double)v->dev[i].memory),
        };
        if (vgpu_region_create(NULL, &d, VGPU_MAX_SLOTS, &v->regions[i], err, errlen) != 0)
            return -1;
        vgpu_controller_init(&v->ctrl[i], v->regions[i], NULL, now);
    }
    return 0;
}

/* Every NODE_USAGE_EVERY ticks, under the lock: one busy_ns sample per live vGPU. */
static void sample_usage(struct node_vgpus *v, uint64_t now)
{
    if (++v->ticks % NODE_USAGE_EVERY != 0)
        return;
    for (int d = 0; d < v->ndev; d++)
        for (int i = 0; i < VGPU_MAX_SLOTS && i < (int)v->regions[d]->hdr->nslots; i++) {
            struct vgpu_slot *s = &v->regions[d]->slots[i];
            struct node_usage *u = &v->usage[d][i];
            if (atomic_load(&s->state) != VGPU_SLOT_LIVE) {
                u->n = 0;
                continue;
            }
            if (u->generation != s->generation) {
                u->generation = s->generation;
                u->n = u->head = 0;
            }
            u->at_ns[u->head] = now;
            u->busy_ns[u->head] = atomic_load(&s->busy_ns);
            u->head = (u->head + 1) % NODE_USAGE_SAMPLES;
            if (u->n < NODE_USAGE_SAMPLES)
                u->n++;
        }
}

double node_vgpus_used_share_locked(struct node_vgpus *v, int dev, int slot)
{
    struct node_usage *u = &v->usage[dev][slot];
    if (u->n < 2)
        return 0;
    int newest = (u->head + NODE_USAGE_SAMPLES - 1) % NODE_USAGE_SAMPLES;
    int oldest = (u->head + NODE_USAGE_SAMPLES - u->n) % NODE_USAGE_SAMPLES;
    uint64_t dt = u->at_ns[newest] - u->at_ns[oldest];
    uint64_t busy = u->busy_ns[newest] - u->busy_ns[oldest];
    return dt ? (double)busy / (double)dt : 0;
}

double node_vgpus_used_share(struct node_vgpus *v, int dev, int slot)
{
    if (dev < 0 || dev >= v->ndev || slot < 0 || slot >= VGPU_MAX_SLOTS)
        return 0;
    pthread_mutex_lock(&v->lock);
    double share = node_vgpus_used_share_locked(v, dev, slot);
    pthread_mutex_unlock(&v->lock);
    return share;
}

/* ---- leases (ephemeral vGPUs) ---- */

static int attached_processes(const struct vgpu_slot *s)
{
    int n = 0;
    for (int i = 0; i < VGPU_MAX_PROCS; i++)
        n += atomic_load(&s->procs[i].pid) != 0;
    return n;
}

void node_vgpus_set_lease_locked(struct node_vgpus *v, int dev, int slot, int seconds)
{
    v->lease_s[dev][slot] = seconds;
    v->lease_until_ns[dev][slot] = vgpu_clock_ns() + (uint64_t)seconds * 1000000000ull;
}

/* Saves the vGPUs without (dev, slot), then deletes it: what is on disk never names a vGPU the
 * node no longer has, and a failed save leaves the vGPU as it was. 0, or an errno with err. */
static int delete_saved_locked(struct node_vgpus *v, int dev, int slot, char *err, size_t len)
{
    int rc = v->changed ? v->changed(v, v->changed_arg, dev, slot, err, len) : 0;
    if (rc != 0)
        return rc;
    vgpu_delete(v->regions[dev], slot);
    v->idem[dev][slot][0] = '\0';
    v->owner[dev][slot][0] = '\0';
    v->lease_s[dev][slot] = 0;
    return 0;
}

/* Deletes every leased vGPU whose owner stopped renewing it and that no session uses (a session
 * still attached keeps it: the owner's program may outlive the owner). Lock held. */
static void expire_leases(struct node_vgpus *v, uint64_t now)
{
    for (int d = 0; d < v->ndev; d++)
        for (int i = 0; i < VGPU_MAX_SLOTS && i < (int)v->regions[d]->hdr->nslots; i++) {
            struct vgpu_slot *s = &v->regions[d]->slots[i];
            if (!v->lease_s[d][i] || now < v->lease_until_ns[d][i] ||
                atomic_load(&s->state) != VGPU_SLOT_LIVE || attached_processes(s))
                continue;
            char id[VGPU_ID_MAX], err[700];
            int lease = v->lease_s[d][i];
            snprintf(id, sizeof id, "%s", s->id);
            if (delete_saved_locked(v, d, i, err, sizeof err) != 0) {
                tf_warn("lease of vGPU %s expired, but it stays: %s (retrying in 5 s)", id, err);
                v->lease_until_ns[d][i] = now + 5000000000ull;
                continue;
            }
            tf_info("deleted vGPU %s on device %d: its owner stopped renewing its %d s lease",
                    id, d, lease);
        }
}

static void *controller_main(void *arg)
{
    struct node_vgpus *v = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (__atomic_load_n(&v->running, __ATOMIC_ACQUIRE)) {
        next.tv_nsec += CONTROL_PERIOD_NS;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
        uint64_t now = vgpu_clock_ns();
        pthread_mutex_lock(&v->lock);
        for (int i = 0; i < v->ndev; i++)
            vgpu_controller_tick(&v->ctrl[i], now);
        sample_usage(v, now);
        if (v->ticks % NODE_LEASE_EVERY == 0)
            expire_leases(v, now);
        pthread_mutex_unlock(&v->lock);
    }
    return NULL;
}

int node_vgpus_start(struct node_vgpus *v)
{
    v->running = 1;
    if (pthread_create(&v->thread, NULL, controller_main, v) != 0) {
        v->running = 0;
        return -1;
    }
    return 0;
}

void node_vgpus_stop(struct node_vgpus *v)
{
    if (v->running) {
        __atomic_store_n(&v->running, 0, __ATOMIC_RELEASE);
        pthread_join(v->thread, NULL);
    }
    for (int i = 0; i < v->ndev; i++)
        if (v->regions[i])
            vgpu_region_close(v->regions[i]);
    pthread_mutex_destroy(&v->lock);
}

void node_vgpus_reap(struct node_vgpus *v, pid_t pid)
{
    pthread_mutex_lock(&v->lock);
    for (int i = 0; i < v->ndev; i++) {
        uint64_t in_flight = 0;
        uint64_t back = vgpu_region_reap(v->regions[i], pid, &in_flight);
        if (back || in_flight)
            tf_info("worker %d: refunded %llu bytes on device %d%s", (int)pid,
                    (unsigned long long)back, i,
                    in_flight ? " (it died inside an allocation: that one stays charged)" : "");
    }
    pthread_mutex_unlock(&v->lock);
}

/* ---- API operations ---- */

static int fail(json_t **reply, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

int node_vgpus_vfail(json_t **reply, int status, const char *reason, const char *fmt,
                     va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    *reply = json_pack("{s:s, s:s}", "error", reason, "message", msg);
    return status;
}

static int fail(json_t **reply, int status, const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    node_vgpus_vfail(reply, status, reason, fmt, ap);
    va_end(ap);
    return status;
}

/* The device a body names: "device" as a uuid or an index, absent = device 0. -1 if unknown. */
static int body_device(struct node_vgpus *v, json_t *body)
{
    json_t *d = json_object_get(body, "device");
    if (!d)
        return v->ndev > 0 ? 0 : -1;
    if (json_is_integer(d))
        return json_integer_value(d) >= 0 && json_integer_value(d) < v->ndev
                   ? (int)json_integer_value(d) : -1;
    for (int i = 0; json_is_string(d) && i < v->ndev; i++)
        if (strcmp(json_string_value(d), v->dev[i].uuid) == 0)
            return i;
    return -1;
}

/* A compute share: a number (percent) under num_key, or a string under str_key ("30%", "0.3",
 * "12TFLOPs"). *bp = 0 when both are absent. */
static int body_compute(json_t *body, const char *num_key, const char *str_key, double tflops,
                        uint32_t *bp, char *err, size_t len)
{
    json_t *n = json_object_get(body, num_key), *s = json_object_get(body, str_key);
    *bp = 0;
    if (n && s) {
        snprintf(err, len, "give %s or %s, not both", num_key, str_key);
        return -1;
    }
    if (n) {
        double pct = json_number_value(n);
        if (!json_is_number(n) || !(pct > 0 && pct <= 100)) {
            snprintf(err, len, "%s must be a number in (0, 100]", num_key);
            return -1;
        }
        *bp = (uint32_t)(pct * 100 + 0.5);
        if (*bp == 0)
            *bp = 1;
        return 0;
    }
    if (s) {
        if (!json_is_string(s)) {
            snprintf(err, len, "%s must be a string such as \"30%%\"", str_key);
            return -1;
        }
        return vgpu_parse_compute(json_string_value(s), tflops, bp, err, len);
    }
    return 0;
}

static int body_memory(json_t *body, uint64_t *bytes, char *err, size_t len)
{
    json_t *n = json_object_get(body, "vram_bytes"), *s = json_object_get(body, "vram");
    if (n && s) {
        snprintf(err, len, "give vram_bytes or vram, not both");
        return -1;
    }
    if (n) {
        if (!json_is_integer(n) || json_integer_value(n) <= 0) {
            snprintf(err, len, "vram_bytes must be a positive integer");
            return -1;
        }
        *bytes = (uint64_t)json_integer_value(n);
        return 0;
    }
    if (s && json_is_string(s))
        return vgpu_parse_size(json_string_value(s), bytes, err, len);
    snprintf(err, len, "vram_bytes (or vram, e.g. \"2GiB\") is required");
    return -1;
}

static json_t *describe(struct node_vgpus *v, int dev, int slot, int with_token)
{
    struct vgpu_slot *s = vgpu_slot_at(v->regions[dev], slot);
    uint32_t st = atomic_load(&s->state);
    int procs = attached_processes(s);
    json_t *o = json_pack(
        "{s:s, s:s, s:i, s:I, s:I, s:I, s:s, s:s, s:I, s:I, s:i}", "id", s->id, "device",
        v->dev[dev].uuid, "device_index", dev, "vram_bytes", (json_int_t)s->mem_limit,
        "used_bytes", (json_int_t)vgpu_mem_used(s), "peak_bytes",
        (json_int_t)atomic_load(&s->mem_peak), "qos", vgpu_qos_name((int)s->qos), "state",
        st == VGPU_SLOT_LIVE ? "live" : "deleting", "busy_ns", (json_int_t)atomic_load(&s->busy_ns),
        "launches", (json_int_t)atomic_load(&s->launches), "processes", procs);
    if (s->compute_unlimited) {
        json_object_set_new(o, "compute_request_pct", json_null());
        json_object_set_new(o, "compute_limit_pct", json_null());
    } else {
        json_object_set_new(o, "compute_request_pct", json_real(s->request_bp / 100.0));
        json_object_set_new(o, "compute_limit_pct", json_real(s->limit_bp / 100.0));
    }
    json_object_set_new(o, "compute_used_pct",
                        json_real(100.0 * node_vgpus_used_share_locked(v, dev, slot)));
    json_object_set_new(o, "throttled_seconds",
                        json_real((double)atomic_load(&s->throttled_ns) / 1e9));
    json_object_set_new(o, "generation", json_integer((json_int_t)s->generation));
    json_object_set_new(o, "connect", json_string(v->connect));
    if (v->lease_s[dev][slot] && st == VGPU_SLOT_LIVE) {
        uint64_t now = vgpu_clock_ns(), until = v->lease_until_ns[dev][slot];
        json_object_set_new(o, "lease_seconds", json_integer(v->lease_s[dev][slot]));
        json_object_set_new(o, "lease_expires_in_s",
                            json_real(until > now ? (double)(until - now) / 1e9 : 0));
    }
    if (v->owner[dev][slot][0])
        json_object_set_new(o, "owner", json_string(v->owner[dev][slot]));
    char job[NODE_OWNER_MAX], step[NODE_OWNER_MAX];
    if (node_owner_slurm(v->owner[dev][slot], job, sizeof job, step, sizeof step)) {
        json_object_set_new(o, "slurm_job", json_string(job));   /* tfuse ps, docs/slurm.md */
        json_object_set_new(o, "slurm_step", json_string(step));
    }
    if (with_token)
        json_object_set_new(o, "token", json_string(s->token));
    return o;
}

/* The slot created earlier with this idempotency key, or -1. */
static int find_idem(struct node_vgpus *v, const char *key, int *dev)
{
    for (int d = 0; d < v->ndev; d++)
        for (int i = 0; i < VGPU_MAX_SLOTS; i++)
            if (v->idem[d][i][0] && strcmp(v->idem[d][i], key) == 0 &&
                atomic_load(&v->regions[d]->slots[i].state) == VGPU_SLOT_LIVE) {
                *dev = d;
                return i;
            }
    return -1;
}

/* Whether a vGPU of any device, live or deleted but still held, is named id: ids are the
 * node's, not a device's (DELETE /api/v1/vgpus/{id} must name one vGPU). */
static int id_in_use(const struct node_vgpus *v, const char *id)
{
    for (int d = 0; d < v->ndev; d++)
        for (uint32_t i = 0; i < v->regions[d]->hdr->nslots; i++) {
            const struct vgpu_slot *s = &v->regions[d]->slots[i];
            if (atomic_load(&s->state) != VGPU_SLOT_FREE && strcmp(s->id, id) == 0)
                return 1;
        }
    return 0;
}

/* The first "vgpu-N" no vGPU of the node is named (there are fewer vGPUs than names). */
static void next_free_id(const struct node_vgpus *v, char *out, size_t len)
{
    for (unsigned n = 0;; n++) {
        snprintf(out, len, "vgpu-%u", n);
        if (!id_in_use(v, out))
            return;
    }
}

/* The answer to a change the state folder could not take: 507 when it is full, else 500. */
static int persist_failed(json_t **reply, int rc, const char *err, const char *what)
{
    int full = rc == ENOSPC || rc == EFBIG || rc == EDQUOT;
    return fail(reply, full ? 507 : 500, full ? "insufficient_storage" : "state_write_failed",
                "%s (%s)", err, what);
}

/* 409 for an id in use: live, or deleted while sessions still hold it (say when it is free). */
static int id_taken(struct node_vgpus *v, const char *id, json_t **reply)
{
    for (int d = 0; d < v->ndev; d++)
        if (vgpu_find_id(v->regions[d], id) >= 0)
            return fail(reply, 409, "conflict", "a vGPU named '%s' already exists on this node",
                        id);
    return fail(reply, 409, "conflict", "the vGPU named '%s' is being deleted: its sessions "
                "still hold it; the id is free once GET /api/v1/vgpus/%s answers 404", id, id);
}

/* "lease_seconds": an integer in 1..NODE_LEASE_MAX_S; absent: no lease (*seconds = 0). */
static int body_lease(json_t *body, int *seconds, char *err, size_t len)
{
    json_t *l = json_object_get(body, "lease_seconds");
    *seconds = 0;
    if (!l)
        return 0;
    if (!json_is_integer(l) || json_integer_value(l) < 1 ||
        json_integer_value(l) > NODE_LEASE_MAX_S) {
        snprintf(err, len, "lease_seconds must be an integer from 1 to %d", NODE_LEASE_MAX_S);
        return -1;
    }
    *seconds = (int)json_integer_value(l);
    return 0;
}

/* A create is made only once it is saved: when the state folder cannot take it, the vGPU is
 * deleted again (no process can be attached yet: nobody has its token) and its memory promise
 * goes back to the device. */
static int commit_create(struct node_vgpus *v, int dev, int slot, const char *key, int lease,
                         const char *owner, json_t **reply)
{
    snprintf(v->idem[dev][slot], sizeof v->idem[dev][slot], "%s", key);
    snprintf(v->owner[dev][slot], sizeof v->owner[dev][slot], "%s", owner);
    v->born_ns[dev][slot] = vgpu_clock_ns();
    if (lease)
        node_vgpus_set_lease_locked(v, dev, slot, lease);
    char err[700];
    int rc = v->changed ? v->changed(v, v->changed_arg, -1, -1, err, sizeof err) : 0;
    if (rc != 0) {
        vgpu_delete(v->regions[dev], slot);
        v->idem[dev][slot][0] = '\0';
        v->owner[dev][slot][0] = '\0';
        v->lease_s[dev][slot] = 0;
        tf_error("vGPU creation refused: %s", err);
        return persist_failed(reply, rc, err, "the vGPU was not created");
    }
    tf_info("created vGPU %s on device %d%s", v->regions[dev]->slots[slot].id, dev,
            lease ? " (leased)" : "");
    *reply = describe(v, dev, slot, 1);
    return 201;
}

static int create_locked(struct node_vgpus *v, json_t *body, json_t **reply)
{
    char err[256];
    if (!json_is_object(body))
        return fail(reply, 400, "bad_request", "the body must be a JSON object");
    json_t *key = json_object_get(body, "idempotency_key"), *id = json_object_get(body, "id");
    json_t *qos = json_object_get(body, "qos"), *owner = json_object_get(body, "owner");
    if ((key && !json_is_string(key)) || (id && !json_is_string(id)) ||
        (qos && !json_is_string(qos)) || (owner && !json_is_string(owner)))
        return fail(reply, 400, "bad_request",
                    "idempotency_key, id, qos and owner must be strings");
    if (owner && strlen(json_string_value(owner)) >= NODE_OWNER_MAX)
        return fail(reply, 400, "bad_request", "owner is longer than %d characters",
                    NODE_OWNER_MAX - 1);
    if (key && strlen(json_string_value(key)) >= sizeof v->idem[0][0])
        return fail(reply, 400, "bad_request", "idempotency_key is %zu characters long; at most "
                    "%zu", strlen(json_string_value(key)), sizeof v->idem[0][0] - 1);
    if (id && vgpu_id_check(json_string_value(id), err, sizeof err) != 0)
        return fail(reply, 400, "bad_request", "%s", err);
    int dev = -1, slot;
    if (key && (slot = find_idem(v, json_string_value(key), &dev)) >= 0) {
        *reply = describe(v, dev, slot, 1);
        return 200;
    }
    dev = body_device(v, body);
    if (dev < 0)
        return fail(reply, 400, "unknown_device", "no such device on this node");
    char auto_id[VGPU_ID_MAX];
    struct vgpu_spec spec = {.id = id ? json_string_value(id) : auto_id, .qos = VGPU_QOS_MEDIUM};
    if (!id)
        next_free_id(v, auto_id, sizeof auto_id);
    else if (id_in_use(v, spec.id))
        return id_taken(v, spec.id, reply);
    if (qos && (spec.qos = vgpu_qos_parse(json_string_value(qos))) < 0)
        return fail(reply, 400, "bad_request", "qos must be low, medium, high or critical");
    if (body_memory(body, &spec.mem_limit, err, sizeof err) != 0 ||
        body_compute(body, "compute_request_pct", "compute_request", v->dev[dev].tflops,
                     &spec.request_bp, err, sizeof err) != 0 ||
        body_compute(body, "compute_limit_pct", "compute_limit", v->dev[dev].tflops,
                     &spec.limit_bp, err, sizeof err) != 0)
        return fail(reply, 400, "bad_request", "%s", err);
    if (spec.limit_bp && !spec.request_bp)
        return fail(reply, 400, "bad_request", "a compute limit needs a compute request");
    int lease = 0;
    if (body_lease(body, &lease, err, sizeof err) != 0)
        return fail(reply, 400, "bad_request", "%s", err);
    if (spec.mem_limit > v->dev[dev].memory &&
        !(v->regions[dev]->hdr->flags & VGPU_REGION_OVERSUBSCRIBE))
        return fail(reply, 409, "insufficient_memory", "%llu bytes asked, the device has %llu",
                    (unsigned long long)spec.mem_limit, (unsigned long long)v->dev[dev].memory);
    slot = vgpu_create(v->regions[dev], &spec, err, sizeof err);
    if (slot < 0) {
        int clash = strstr(err, "exceed") || strstr(err, "already") || strstr(err, "memory");
        return fail(reply, clash ? 409 : 400, clash ? "conflict" : "bad_request", "%s", err);
    }
    return commit_create(v, dev, slot, key ? json_string_value(key) : "", lease,
                         owner ? json_string_value(owner) : "", reply);
}

int node_vgpus_create(struct node_vgpus *v, json_t *body, json_t **reply)
{
    pthread_mutex_lock(&v->lock);
    int status = create_locked(v, body, reply);
    pthread_mutex_unlock(&v->lock);
    return status;
}

int node_vgpus_list(struct node_vgpus *v, json_t **reply)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&v->lock);
    for (int d = 0; d < v->ndev; d++)
        for (int i = 0; i < VGPU_MAX_SLOTS; i++) {
            uint32_t st = atomic_load(&v->regions[d]->slots[i].state);
            if (st == VGPU_SLOT_LIVE || st == VGPU_SLOT_DELETED)
                json_array_append_new(arr, describe(v, d, i, 0));
        }
    pthread_mutex_unlock(&v->lock);
    *reply = json_pack("{s:o}", "vgpus", arr);
    return 200;
}

/* Asks the workers attached to a deleted vGPU to end (only our own children: a slot's pid is
 * a worker's, but never signal a stranger that reused a reaped pid). */
static void end_sessions(const struct vgpu_slot *s)
{
    for (int i = 0; i < VGPU_MAX_PROCS; i++) {
        pid_t pid = atomic_load(&s->procs[i].pid);
        char path[64], stat[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = pid > 0 ? fopen(path, "r") : NULL;
        size_t n = f ? fread(stat, 1, sizeof stat - 1, f) : 0;
        if (f)
            fclose(f);
        stat[n] = '\0';
        const char *close_paren = strrchr(stat, ')');
        int ppid = 0;
        if (close_paren && sscanf(close_paren + 1, " %*c %d", &ppid) == 1 && ppid == getpid())
            kill(pid, SIGTERM);
    }
}

/* The slot of the vGPU named id, live or still being deleted; -1 when none. */
static int find_any(struct node_vgpus *v, const char *id, int *dev, int *live)
{
    for (int d = 0; d < v->ndev; d++)
        for (uint32_t i = 0; i < v->regions[d]->hdr->nslots; i++) {
            uint32_t st = atomic_load(&v->regions[d]->slots[i].state);
            if ((st == VGPU_SLOT_LIVE || st == VGPU_SLOT_DELETED) &&
                strcmp(v->regions[d]->slots[i].id, id) == 0) {
                *dev = d;
                *live = st == VGPU_SLOT_LIVE;
                return (int)i;
            }
        }
    return -1;
}

#define DELETE_WAIT_MS 1500   /* how long a DELETE waits for the sessions to end: 204 */

int node_vgpus_delete(struct node_vgpus *v, const char *id, json_t **reply)
{
    char err[700];
    int dev = -1, live = 0;
    pthread_mutex_lock(&v->lock);
    int slot = find_any(v, id, &dev, &live);
    int rc = slot >= 0 && live ? delete_saved_locked(v, dev, slot, err, sizeof err) : 0;
    struct vgpu_slot *s = slot >= 0 ? &v->regions[dev]->slots[slot] : NULL;
    uint64_t generation = s ? s->generation : 0;
    if (s && rc == 0) {
        if (live)
            tf_info("deleted vGPU %s on device %d", id, dev);
        end_sessions(s);
    }
    pthread_mutex_unlock(&v->lock);
    if (slot < 0)
        return fail(reply, 404, "not_found", "no vGPU named '%s'", id);
    if (rc != 0)
        return persist_failed(reply, rc, err, "the vGPU was not deleted");
    /* The reaper (the node's main loop) frees the slot once the last worker is gone. */
    for (int waited = 0; waited < DELETE_WAIT_MS; waited += 10) {
        if (atomic_load(&s->state) != VGPU_SLOT_DELETED || s->generation != generation)
            break;
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&s->state) != VGPU_SLOT_DELETED || s->generation != generation) {
        *reply = NULL;
        return 204;
    }
    *reply = json_pack("{s:s, s:s, s:i, s:s}", "id", id, "state", "deleting", "processes",
                       attached_processes(s), "message",
                       "deleted: its sessions are ending; its memory is free and its id "
                       "reusable once GET /api/v1/vgpus/{id} answers 404");
    return 202;
}

int node_vgpus_renew(struct node_vgpus *v, const char *id, json_t **reply)
{
    int status = 404;
    pthread_mutex_lock(&v->lock);
    for (int d = 0; d < v->ndev && status == 404; d++) {
        int slot = vgpu_find_id(v->regions[d], id);
        if (slot < 0)
            continue;
        if (!v->lease_s[d][slot]) {
            status = fail(reply, 409, "no_lease", "vGPU '%s' has no lease to renew", id);
            break;
        }
        node_vgpus_set_lease_locked(v, d, slot, v->lease_s[d][slot]);
        *reply = json_pack("{s:s, s:i}", "id", id, "lease_seconds", v->lease_s[d][slot]);
        status = 200;
    }
    pthread_mutex_unlock(&v->lock);
    if (status == 404)
        return fail(reply, 404, "not_found", "no live vGPU named '%s' (its lease may have "
                    "expired)", id);
    return status;
}

/* Whether the idempotency key of a create begins with "ALLOC/" for an allocation the pool is
 * creating right now (the pool's keys are "ALLOCATION/INDEX", pool_alloc.c). */
static int being_created(const char *key, json_t *creating)
{
    size_t i;
    json_t *c;
    json_array_foreach(creating, i, c) {
        const char *a = json_string_value(c);
        size_t n = a ? strlen(a) : 0;
        if (n && strncmp(key, a, n) == 0 && key[n] == '/')
            return 1;
    }
    return 0;
}

static int expected(const char *id, json_t *keep)
{
    size_t i;
    json_t *e;
    json_array_foreach(keep, i, e)
    {
        const char *k = json_string_value(json_object_get(e, "id"));
        if (k && strcmp(k, id) == 0)
            return 1;
    }
    return 0;
}

int node_vgpus_reconcile(struct node_vgpus *v, json_t *keep, json_t *creating, double grace_s)
{
    int deleted = 0;
    uint64_t now = vgpu_clock_ns(), grace = (uint64_t)(grace_s * 1e9);
    pthread_mutex_lock(&v->lock);
    for (int d = 0; d < v->ndev; d++)
        for (int i = 0; i < VGPU_MAX_SLOTS && i < (int)v->regions[d]->hdr->nslots; i++) {
            struct vgpu_slot *s = &v->regions[d]->slots[i];
            if (atomic_load(&s->state) != VGPU_SLOT_LIVE ||
                strncmp(v->owner[d][i], "pool:", 5) != 0 || now - v->born_ns[d][i] < grace ||
                expected(s->id, keep) || being_created(v->idem[d][i], creating))
                continue;
            char id[VGPU_ID_MAX], owner[NODE_OWNER_MAX], err[700];
            snprintf(id, sizeof id, "%s", s->id);
            snprintf(owner, sizeof owner, "%s", v->owner[d][i]);
            if (delete_saved_locked(v, d, i, err, sizeof err) != 0) {
                tf_warn("reconcile: vGPU %s stays: %s (retrying)", id, err);
                continue;
            }
            end_sessions(s);
            deleted++;
            tf_warn("reconcile: deleted vGPU %s on device %d: %s no longer expects it", id, d,
                    owner);
        }
    pthread_mutex_unlock(&v->lock);
    return deleted;
}

/* ---- shared with vgpus_resize.c (vgpus_int.h) ---- */

json_t *node_vgpus_describe_locked(struct node_vgpus *v, int dev, int slot)
{
    return describe(v, dev, slot, 0);
}

int node_vgpus_body_compute(json_t *body, const char *num_key, const char *str_key,
                            double tflops, uint32_t *bp, char *err, size_t len)
{
    return body_compute(body, num_key, str_key, tflops, bp, err, len);
}

int node_vgpus_body_memory(json_t *body, uint64_t *bytes, char *err, size_t len)
{
    return body_memory(body, bytes, err, len);
}

int node_vgpus_state_failed(json_t **reply, int rc, const char *err, const char *what)
{
    return persist_failed(reply, rc, err, what);
}
