/*
 * Model switching on one vGPU (docs/freeze.md, "Model switching"; issue 21): with
 * --switch-idle-ms MS, the sessions of one vGPU (a multi-model service: a process per model)
 * may together hold more than its memory limit, as long as only some of them are busy. A
 * session whose allocation or resume does not fit the vGPU's own limit asks the node through
 * its entry of the session table (room_need with room_vgpu = 1, the channel oversubscription
 * uses), and the room thread (vgpus_oversub.c) calls node_switch_make_room: other sessions of
 * the same vGPU that made no call for MS are frozen, least recently active first, one session
 * at a time (not the vGPU), each refunding its frozen bytes to the vGPU's ledger, until those
 * bytes cover the ask. A frozen session's next call charges its bytes again before it resumes,
 * freezing the other, idle, session the same way, or fails after a bounded wait.
 *
 * Owns: the option's check, the choice of sessions, the switch counter and its metric. May
 * call: vgpus_freeze_int.h (one session's command), sessions.h, stats.h, src/common.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stats.h"
#include "vgpus_freeze_int.h"
#include "vgpus_int.h"

int node_switch_init(struct node_freeze *f, int ms, char *err, size_t len)
{
    f->switch_ms = 0;
    if (ms <= 0)
        return 0;
    if (!f->to) {
        snprintf(err, len, "--switch-idle-ms needs --freeze-to host or --freeze-to disk: a "
                 "switch freezes the idle session's memory");
        return -1;
    }
    f->switch_ms = ms;
    return 0;
}

struct sw_cand {
    struct tfw_stats *e;
    int32_t pid;
    uint64_t last_ns;
};

static int by_last(const void *a, const void *b)
{
    uint64_t x = ((const struct sw_cand *)a)->last_ns, y = ((const struct sw_cand *)b)->last_ns;
    return x < y ? -1 : x > y;
}

/* The sessions of who but e that can give room: freezable, holding bytes still on the ledger,
 * not themselves waiting for room, idle for the switch's time (the worker checks it again). */
static int candidates(struct node_freeze *f, const struct tfw_stats *e,
                      const struct node_fz_target *who, struct sw_cand *c, int cap)
{
    uint64_t now = node_fz_mono_ns(), idle = (uint64_t)f->switch_ms * 1000000ull;
    int n = 0;
    pthread_mutex_lock(&f->t->lock);
    for (int i = 0; i < f->t->cap && n < cap; i++) {
        struct tfw_stats *o = &f->t->table[i];
        if (o == e || !node_session_listed(o) || o->device != who->dev ||
            o->slot != who->slot || o->vgpu_generation != who->gen ||
            !atomic_load(&o->fz.enabled) || !atomic_load(&o->fz.freezable_bytes) ||
            atomic_load(&o->fz.uncharged_bytes) ||
            (atomic_load(&o->fz.room_seq) != atomic_load(&o->fz.room_done) &&
             atomic_load(&o->fz.room_need)))
            continue;
        uint64_t t = atomic_load(&o->last_call_ticks);
        uint64_t last = t ? tfw_stats_ticks_to_mono_ns(t) : o->started_mono_ns;
        if (now > last && now - last >= idle)
            c[n++] = (struct sw_cand){o, atomic_load(&o->worker_pid), last};
    }
    pthread_mutex_unlock(&f->t->lock);
    qsort(c, (size_t)n, sizeof *c, by_last);
    return n;
}

static void count(struct node_freeze *f, const struct node_fz_target *g)
{
    pthread_mutex_lock(&f->count_lock);
    if (f->switch_gen[g->dev][g->slot] != g->gen) {
        f->switch_gen[g->dev][g->slot] = g->gen;
        f->switches[g->dev][g->slot] = 0;
    }
    f->switches[g->dev][g->slot]++;
    pthread_mutex_unlock(&f->count_lock);
}

void node_switch_metrics(struct node_freeze *f, FILE *m, const struct node_fz_target *g, int n)
{
    static const char name[] = "tfuse_vgpu_session_switches_total";
    if (!f->switch_ms)
        return;
    fprintf(m, "# HELP %s Sessions of the vGPU frozen off its memory limit to make room for "
            "another of its sessions (--switch-idle-ms).\n# TYPE %s counter\n", name, name);
    pthread_mutex_lock(&f->count_lock);
    for (int k = 0; k < n; k++) {
        int d = g[k].dev, s = g[k].slot;
        fprintf(m, "%s{vgpu=\"%s\",device=\"%s\"} %llu\n", name, g[k].id, f->v->dev[d].uuid,
                (unsigned long long)(f->switch_gen[d][s] == g[k].gen ? f->switches[d][s] : 0));
    }
    pthread_mutex_unlock(&f->count_lock);
}

/* The ask is still the one the worker waits for. */
static int wanted(struct node_freeze *f, struct tfw_stats *e, int32_t pid, uint32_t seq)
{
    pthread_mutex_lock(&f->t->lock);
    int yes = node_session_listed(e) && atomic_load(&e->worker_pid) == pid &&
              atomic_load(&e->fz.room_seq) == seq && atomic_load(&e->fz.room_need);
    pthread_mutex_unlock(&f->t->lock);
    return yes;
}

int node_switch_make_room(struct node_freeze *f, struct tfw_stats *e, int32_t pid, uint32_t seq,
                          const struct node_fz_target *who, uint64_t need)
{
    struct sw_cand c[VGPU_MAX_PROCS];
    if (!f->switch_ms)
        return 0;
    /* A freeze or resume of the API or the idle policy writes the same command words: this
     * one waits for it to end (the worker asks again in 200 ms), never the other way round. */
    if (pthread_mutex_trylock(&f->op) != 0)
        return 0;
    int n = candidates(f, e, who, c, VGPU_MAX_PROCS), froze = 0;
    uint32_t cmd = f->to == TFW_FZ_CMD_FREEZE_DISK ? TFW_FZ_CMD_SWITCH_DISK
                                                   : TFW_FZ_CMD_SWITCH_HOST;
    uint64_t freed = 0;
    for (int k = 0; k < n && freed < need && wanted(f, e, pid, seq); k++) {
        uint64_t t0 = node_fz_mono_ns();
        int32_t res = 0;
        int rc = node_fz_session(f, c[k].e, c[k].pid, cmd, need, &res);
        uint64_t got = rc == 0 && res == 0 ? atomic_load(&c[k].e->fz.uncharged_bytes) : 0;
        if (!got) {
            tf_debug("vGPU %s: session %d not frozen for session %d (%s)", who->id,
                     (int)c[k].pid, (int)pid, rc == -ETIMEDOUT ? "no answer"
                     : rc ? "ended" : res == CUDA_ERROR_NOT_READY ? "not idle" : "failed");
            continue;
        }
        freed += got;
        froze++;
        count(f, who);
        tf_info("vGPU %s: session %d frozen to %s to make room for session %d of the same "
                "vGPU (%llu bytes): %llu bytes off its limit in %.1f ms", who->id,
                (int)c[k].pid, cmd == TFW_FZ_CMD_SWITCH_DISK ? "disk" : "host memory", (int)pid,
                (unsigned long long)need, (unsigned long long)got,
                (double)(node_fz_mono_ns() - t0) / 1e6);
    }
    pthread_mutex_unlock(&f->op);
    return froze;
}
