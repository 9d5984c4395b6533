/*
 * Migration of a vGPU's sessions to another device of the node (vgpus_migrate.h,
 * docs/freeze.md "Migration"). The commands go through the sessions' freeze words, as a
 * freeze's do, and run under the freeze lock (one freeze, resume or migration at a time).
 *
 * Owns: the placement of migrated vGPUs (a vGPU's record stays in its home device's region;
 * this table says where its sessions run). May call: vgpus_freeze_int.h, vgpus_int.h,
 * sessions.h, stats.h, migrate.h (the command word), jansson, log.h, libc.
 */
#include "vgpus_migrate.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "migrate.h"
#include "stats.h"
#include "vgpus_freeze_int.h"
#include "vgpus_int.h"

static pthread_mutex_t placed_lock = PTHREAD_MUTEX_INITIALIZER;
static struct placed {
    uint64_t gen;         /* the vGPU (slot generation) this entry is about */
    int dev;              /* where its sessions run */
    uint64_t count;       /* migrations */
} placed[NODE_MAX_DEVICES][VGPU_MAX_SLOTS];

static int running_on(const struct node_fz_target *g, uint64_t *count)
{
    pthread_mutex_lock(&placed_lock);
    const struct placed *p = &placed[g->dev][g->slot];
    int dev = p->gen == g->gen ? p->dev : g->dev;
    if (count)
        *count = p->gen == g->gen ? p->count : 0;
    pthread_mutex_unlock(&placed_lock);
    return dev;
}

static void set_running_on(struct node_freeze *f, const struct node_fz_target *g, int dev)
{
    pthread_mutex_lock(&f->v->lock);   /* a new session of the vGPU starts there (migrate.c) */
    struct vgpu_slot *vs = vgpu_slot_at(f->v->regions[g->dev], g->slot);
    if (vs && vs->generation == g->gen)
        atomic_store(&vs->placed_device, dev == g->dev ? 0u : (uint32_t)dev + 1);
    pthread_mutex_unlock(&f->v->lock);
    pthread_mutex_lock(&placed_lock);
    struct placed *p = &placed[g->dev][g->slot];
    if (p->gen != g->gen)
        *p = (struct placed){g->gen, g->dev, 0};
    p->dev = dev;
    p->count++;
    pthread_mutex_unlock(&placed_lock);
}

static int find(struct node_freeze *f, const char *id, struct node_fz_target *g)
{
    enum { CAP = NODE_MAX_DEVICES * VGPU_MAX_SLOTS };
    struct node_fz_target *all = malloc(CAP * sizeof *all);
    int n = all ? node_fz_targets(f->v, all, CAP) : 0, found = -1;
    for (int i = 0; i < n && found < 0; i++)
        if (strcmp(all[i].id, id) == 0)
            found = i;
    if (found >= 0)
        *g = all[found];
    free(all);
    return found >= 0 ? 0 : -1;
}

/* What a worker's refusal means, for the API's message. */
static const char *why(int32_t r)
{
    switch (r) {
    case CUDA_ERROR_NOT_SUPPORTED:
        return "a session holds state that migration does not rebuild (the node's log names "
               "it: graphs, arrays, pools and stream-ordered allocations, module or library "
               "variables, several contexts, mapped host memory...)";
    case CUDA_ERROR_NOT_PERMITTED:
        return "a session is frozen: resume the vGPU first";
    case CUDA_ERROR_OUT_OF_MEMORY:
        return "the device has no room for the vGPU's memory";
    default:
        return "a session failed (see the node's log)";
    }
}

/* ---- the request ---- */

static int parse_body(json_t *body, int ndev, int *to, json_t **reply)
{
    json_t *d = body ? json_object_get(body, "device") : NULL;
    if (!json_is_object(body) || json_object_size(body) != 1 || !json_is_integer(d))
        return node_vgpus_fail(reply, 400, "bad_request", "the body is {\"device\": N}, N a "
                               "device index of the node");
    json_int_t n = json_integer_value(d);
    if (n < 0 || n >= ndev)
        return node_vgpus_fail(reply, 400, "bad_request", "the node has no device %lld (it "
                               "has %d)", (long long)n, ndev);
    *to = (int)n;
    return 0;
}

static int operate(struct node_freeze *f, const struct node_fz_target *g, int from, int to,
                   json_t **reply)
{
    struct node_fz_view v;
    node_fz_view(f, g, &v);
    if (!v.sessions)
        return node_vgpus_fail(reply, 409, "no_sessions", "vGPU %s has no sessions: nothing "
                               "to migrate", g->id);
    if (v.enabled != v.sessions)
        return node_vgpus_fail(reply, 409, "not_movable", "a session of vGPU %s did not "
                               "allocate through the virtual memory API", g->id);
    if (v.frozen)
        return node_vgpus_fail(reply, 409, "frozen", "vGPU %s is frozen: resume it first",
                               g->id);
    struct node_fz_asked a[VGPU_MAX_PROCS], back[VGPU_MAX_PROCS];
    uint64_t t0 = node_fz_mono_ns();
    int n = node_fz_ask(f, g, TFW_FZ_CMD_MIGRATE + (uint32_t)to, a, VGPU_MAX_PROCS);
    int late = node_fz_await(f, a, n, v.freezable_bytes), failed = -1;
    for (int i = 0; i < n && failed < 0; i++)
        if (a[i].answered && a[i].result > 0)
            failed = i;
    double ms = (double)(node_fz_mono_ns() - t0) / 1e6;
    if (!late && failed < 0) {
        set_running_on(f, g, to);
        tf_info("vGPU %s migrated from device %d to device %d: %d session(s), %llu bytes in "
                "%.1f ms", g->id, from, to, n, (unsigned long long)v.freezable_bytes, ms);
        *reply = json_pack("{s:s, s:i, s:i, s:o, s:I, s:f}", "id", g->id, "from_device", from,
                           "device", to, "sessions", node_fz_answers_json(a, n), "moved_bytes",
                           (json_int_t)v.freezable_bytes, "took_ms", ms);
        return 200;
    }
    /* all or none: those that moved go back (one still there answers "already there") */
    int m = node_fz_ask(f, g, TFW_FZ_CMD_MIGRATE + (uint32_t)from, back, VGPU_MAX_PROCS);
    int stuck = node_fz_await(f, back, m, v.freezable_bytes);
    for (int i = 0; i < m; i++)
        stuck += back[i].answered && back[i].result > 0 &&
                 back[i].result != CUDA_ERROR_INVALID_VALUE;
    if (stuck)
        tf_error("vGPU %s: %d session(s) could not be moved back to device %d after a failed "
                 "migration: they run on device %d", g->id, stuck, from, to);
    int status = late ? 504 : a[failed].result == CUDA_ERROR_OUT_OF_MEMORY ? 507
               : a[failed].result == CUDA_ERROR_NOT_SUPPORTED ||
                 a[failed].result == CUDA_ERROR_NOT_PERMITTED ? 409 : 500;
    const char *text = late ? "a session did not answer in time" : why(a[failed].result);
    tf_error("vGPU %s not migrated to device %d: %s", g->id, to, text);
    node_vgpus_fail(reply, status, late ? "timeout" : status == 409 ? "cannot_migrate"
                    : status == 507 ? "no_room" : "failed", "vGPU %s was not migrated to "
                    "device %d: %s; it runs on device %d as before", g->id, to, text, from);
    json_object_set_new(*reply, "sessions", node_fz_answers_json(a, n));
    return status;
}

int node_migrate_request(struct node_freeze *f, const char *id, json_t *body, json_t **reply)
{
    struct node_fz_target g;
    int to = 0;
    if (find(f, id, &g) != 0)
        return node_vgpus_fail(reply, 404, "not_found", "no live vGPU named '%s'", id);
    if (!node_freeze_enabled(f))
        return node_vgpus_fail(reply, 409, "freeze_off", "this node allocates device memory "
                               "so that it cannot move: start it with --freeze-to host or "
                               "--freeze-to disk");
    if (f->room)
        return node_vgpus_fail(reply, 409, "oversubscribed", "migration is not built for a "
                               "node with --oversubscribe-memory (room is made per device)");
    if (parse_body(body, f->v->ndev, &to, reply) != 0)
        return 400;
    pthread_mutex_lock(&f->op);
    int from = running_on(&g, NULL), status;
    if (from == to)
        status = node_vgpus_fail(reply, 409, "already_there", "vGPU %s runs on device %d "
                                 "already", id, to);
    else
        status = operate(f, &g, from, to, reply);
    pthread_mutex_unlock(&f->op);
    return status;
}

void node_migrate_describe(struct node_freeze *f, json_t *vgpu)
{
    const char *id = json_string_value(json_object_get(vgpu, "id"));
    uint64_t gen = (uint64_t)json_integer_value(json_object_get(vgpu, "generation"));
    struct node_fz_target g;
    uint64_t count = 0;
    if (!f || !f->v || !id || find(f, id, &g) != 0 || g.gen != gen)
        return;
    int dev = running_on(&g, &count);
    if (count)
        json_object_set_new(vgpu, "migration", json_pack("{s:i, s:I}", "device_index", dev,
                                                         "migrations_total",
                                                         (json_int_t)count));
}

void node_migrate_metrics(struct node_freeze *f, FILE *m, const struct node_fz_target *g, int n)
{
    if (!node_freeze_enabled(f))
        return;
    fprintf(m, "# HELP tfuse_vgpu_migrations_total Migrations of the vGPU's sessions to another "
            "device of the node.\n# TYPE tfuse_vgpu_migrations_total counter\n");
    for (int k = 0; k < n; k++) {
        uint64_t count = 0;
        running_on(&g[k], &count);
        fprintf(m, "tfuse_vgpu_migrations_total{vgpu=\"%s\",device=\"%s\"} %llu\n", g[k].id,
                f->v->dev[g[k].dev].uuid, (unsigned long long)count);
    }
    fprintf(m, "# HELP tfuse_vgpu_running_device The device index the vGPU's sessions run on "
            "(its home device unless it migrated).\n# TYPE tfuse_vgpu_running_device gauge\n");
    for (int k = 0; k < n; k++)
        fprintf(m, "tfuse_vgpu_running_device{vgpu=\"%s\",device=\"%s\"} %d\n", g[k].id,
                f->v->dev[g[k].dev].uuid, running_on(&g[k], NULL));
}
