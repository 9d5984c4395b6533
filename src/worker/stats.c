/*
 * The worker's writing side of the session statistics (see stats.h), and the call classes
 * both sides share. One session per worker process, so the entry is a process global.
 *
 * May call: src/proto (call names), src/vgpu (the attached slot's id), libc.
 */
#include "stats.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

const double tfw_stats_bucket_le[TFW_STATS_BUCKETS] = {
    1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0, 5.0, 10.0,
};

/* The same bounds in ticks of the stats clock, for the call path (integer compares only).
 * Uncalibrated, ticks are ns. */
static uint64_t bucket_le_ticks[TFW_STATS_BUCKETS] = {
    1000ull, 5000ull, 10000ull, 50000ull, 100000ull, 500000ull, 1000000ull, 5000000ull,
    10000000ull, 50000000ull, 100000000ull, 500000000ull, 1000000000ull, 5000000000ull,
    10000000000ull,
};

static struct tfw_stats *self;

/* The stats clock (set by tfw_stats_calibrate in the node, inherited by workers over fork). */
static int use_tsc;
static double ns_per_tick = 1.0;
static uint64_t ref_tick, ref_mono_ns;  /* one instant in both clocks */

static const char *const class_names[TFW_CLASS_COUNT] = {
    [TFW_CLASS_COPY] = "copy",     [TFW_CLASS_LAUNCH] = "launch", [TFW_CLASS_MEMORY] = "memory",
    [TFW_CLASS_SYNC] = "sync",     [TFW_CLASS_MODULE] = "module", [TFW_CLASS_OTHER] = "other",
};

const char *tfw_call_class_name(int cls)
{
    return cls >= 0 && cls < TFW_CLASS_COUNT ? class_names[cls] : "other";
}

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Classified by name so that a call added to calls.def lands in a class without an edit here. */
static int classify(const char *name)
{
    if (!name)
        return TFW_CLASS_OTHER;
    if (starts(name, "cuMemcpy") || starts(name, "cuMemset"))
        return TFW_CLASS_COPY;
    if (strstr(name, "Launch"))
        return TFW_CLASS_LAUNCH;
    if (strstr(name, "Synchronize") || strstr(name, "Query") || strstr(name, "Wait"))
        return TFW_CLASS_SYNC;
    if (starts(name, "cuMem") || strstr(name, "map_host"))
        return TFW_CLASS_MEMORY;
    if (starts(name, "cuModule") || starts(name, "cuLibrary") || starts(name, "cuKernel") ||
        starts(name, "cuFunc"))
        return TFW_CLASS_MODULE;
    return TFW_CLASS_OTHER;
}

int tfw_call_class(uint32_t id)
{
    static int8_t table[TFP_CALL_COUNT];
    static int ready;
    if (id >= TFP_CALL_COUNT)
        return TFW_CLASS_OTHER;
    if (!ready) {   /* idempotent: racing threads compute the same table */
        for (uint32_t i = 0; i < TFP_CALL_COUNT; i++)
            table[i] = (int8_t)classify(tfp_call_name(i));
        ready = 1;
    }
    return table[id];
}

int tfw_call_is_launch(uint32_t id)
{
    return tfw_call_class(id) == TFW_CLASS_LAUNCH;
}

static uint64_t clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t ticks_now(void)
{
#if defined(__x86_64__)
    if (use_tsc)
        return __rdtsc();
#endif
    return clock_now();
}

/* constant_tsc: the rate does not follow the CPU frequency; nonstop_tsc: it runs in deep
 * C-states. Both, or the TSC is no clock. */
static int tsc_invariant(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    int constant = 0, nonstop = 0;
    while (f && fgets(line, sizeof line, f) && !(constant && nonstop))
        if (strncmp(line, "flags", 5) == 0) {
            constant = strstr(line, " constant_tsc") != NULL;
            nonstop = strstr(line, " nonstop_tsc") != NULL;
        }
    if (f)
        fclose(f);
    return constant && nonstop;
}

void tfw_stats_calibrate(void)
{
#if defined(__x86_64__)
    if (!tsc_invariant())
        return;
    uint64_t m0 = clock_now(), t0 = __rdtsc();
    struct timespec ten_ms = {0, 10000000L};
    nanosleep(&ten_ms, NULL);
    uint64_t m1 = clock_now(), t1 = __rdtsc();
    if (t1 <= t0 || m1 <= m0)
        return;
    double rate = (double)(m1 - m0) / (double)(t1 - t0);
    if (!(rate > 0.01 && rate < 10))   /* 100 MHz .. 100 GHz: anything else is not a TSC */
        return;
    ns_per_tick = rate;
    ref_tick = t1;
    ref_mono_ns = m1;
    for (int b = 0; b < TFW_STATS_BUCKETS; b++)
        bucket_le_ticks[b] = (uint64_t)(tfw_stats_bucket_le[b] * 1e9 / rate);
    use_tsc = 1;
#endif
}

uint64_t tfw_stats_ticks_to_ns(uint64_t ticks)
{
    return use_tsc ? (uint64_t)((double)ticks * ns_per_tick) : ticks;
}

uint64_t tfw_stats_ticks_to_mono_ns(uint64_t ticks)
{
    if (!use_tsc)
        return ticks;
    double delta = ((double)ticks - (double)ref_tick) * ns_per_tick;
    return (uint64_t)((double)ref_mono_ns + delta);
}

uint64_t tfw_stats_now(void)
{
    return self ? ticks_now() : 0;   /* a session without a table pays no clock read */
}

/* "1.2.3.4:5" or "[::1]:5" -> the address without the port. */
static void host_of(const char *peer, char *out, size_t len)
{
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
        peer++;
        n -= 2;
    }
    if (n >= len)
        n = len - 1;
    memcpy(out, peer, n);
    out[n] = '\0';
}

void tfw_stats_open(struct tfw_stats *e, const struct tf_conn_info *info,
                    const struct vgpu_region *region, int slot)
{
    if (!e)
        return;
    atomic_store_explicit(&e->worker_pid, (int32_t)getpid(), memory_order_relaxed);
    e->client_pid = info->is_unix ? (int32_t)info->peer_pid : 0;
    e->transport = info->is_unix ? TFW_STATS_UNIX : TFW_STATS_TCP;
    if (info->is_unix)
        snprintf(e->host, sizeof e->host, "local");
    else
        host_of(info->peer, e->host, sizeof e->host);
    e->device = -1;
    e->slot = -1;
    e->vgpu[0] = '\0';
    struct vgpu_slot *s = region ? vgpu_slot_at(region, slot) : NULL;
    if (s) {
        e->device = (int32_t)region->hdr->device_index;
        e->slot = slot;
        e->vgpu_generation = s->generation;
        snprintf(e->vgpu, sizeof e->vgpu, "%s", s->id);
    }
    tfw_call_class(0);   /* build the class table now, not on the first call */
    self = e;
    atomic_store_explicit(&e->state, TFW_STATS_ACTIVE, memory_order_release);
}

struct tfw_stats *tfw_stats_self(void)
{
    return self;
}

void tfw_stats_close(void)
{
    if (self)
        atomic_store_explicit(&self->state, TFW_STATS_CLOSING, memory_order_release);
    self = NULL;
}

/* One writer per entry: a relaxed load and store is an increment without a locked instruction. */
static inline void bump(_Atomic uint64_t *c, uint64_t by)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

void tfw_stats_call(uint32_t id, int r, uint64_t start)
{
    struct tfw_stats *e = self;
    if (!e || id >= TFP_CALL_COUNT)
        return;
    uint64_t now = ticks_now();
    uint64_t took = now > start ? now - start : 0;   /* a TSC a little apart across cores */
    int cls = tfw_call_class(id), b = 0;
    while (b < TFW_STATS_BUCKETS && took > bucket_le_ticks[b])
        b++;
    bump(&e->calls[id], 1);
    bump(&e->calls_total, 1);
    if (r != 0)
        bump(&e->errors_total, 1);
    else if (cls == TFW_CLASS_LAUNCH)
        bump(&e->launches_total, 1);
    bump(&e->hist[cls][b], 1);
    bump(&e->hist_sum_ticks[cls], took);
    atomic_store_explicit(&e->last_call_ticks, now, memory_order_relaxed);
}

void tfw_stats_bytes(uint64_t in, uint64_t out)
{
    struct tfw_stats *e = self;
    if (!e)
        return;
    if (in)
        bump(&e->bytes_in, in);
    if (out)
        bump(&e->bytes_out, out);
}
