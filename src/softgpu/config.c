/*
 * softgpu configuration from the environment and stable device UUIDs (config.h).
 * Linked into both libtfuse-softgpu.so and libtfuse-softgpu-nvml.so. Calls libc only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

uint64_t sg_parse_bytes(const char *s)
{
    if (!s || !*s || *s == '-')
        return 0;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return 0;
    static const struct { const char *suffix; unsigned shift; } units[] = {
        {"", 0}, {"B", 0}, {"KiB", 10}, {"K", 10}, {"KB", 10}, {"MiB", 20}, {"M", 20},
        {"MB", 20}, {"GiB", 30}, {"G", 30}, {"GB", 30}, {"TiB", 40}, {"T", 40},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (!strcmp(end, units[i].suffix)) {
            if (units[i].shift && v > (~0ull >> units[i].shift))
                return 0;
            return (uint64_t)v << units[i].shift;
        }
    }
    return 0;
}

int sg_env_int(const char *name, int def, int lo, int hi, void (*warn)(const char *))
{
    const char *s = getenv(name);
    if (!s || !*s)
        return def;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s=%s is not a number in [%d, %d]; using %d", name, s, lo, hi, def);
        if (warn)
            warn(msg);
        return def;
    }
    return (int)v;
}

/* SOFTGPU_CC="M.m" (also "Mm" as in sm_Mm): which PTX targets softgpu accepts and picks from a
 * fat binary, and what it reports, so that libraries choose the kernels and launch bounds of
 * the code it runs (docs/libraries.md). The default, 8.0, is the A100 the rest of softgpu's
 * answers describe (limits, NVML, the node's rating). */
static void load_cc(struct sg_config *c, void (*warn)(const char *))
{
    c->cc_major = 8;
    c->cc_minor = 0;
    const char *s = getenv("SOFTGPU_CC");
    if (!s || !*s)
        return;
    int major = 0, minor = 0, n = 0;
    if (sscanf(s, "%d.%d%n", &major, &minor, &n) == 2 && !s[n] && minor >= 0 && minor <= 9) {
        /* M.m */
    } else if (sscanf(s, "%d%n", &major, &n) == 1 && !s[n] && major >= 10) {
        minor = major % 10; /* 121 -> 12.1 */
        major /= 10;
    } else {
        major = 0;
    }
    int sm = major * 10 + minor;
    if (sm < SG_CC_MIN || sm > SG_CC_MAX) {
        if (warn) {
            char msg[160];
            snprintf(msg, sizeof msg, "SOFTGPU_CC=%.20s is not a compute capability in [%d.%d, "
                     "%d.%d] (e.g. 12.0); using 8.0", s, SG_CC_MIN / 10, SG_CC_MIN % 10,
                     SG_CC_MAX / 10, SG_CC_MAX % 10);
            warn(msg);
        }
        return;
    }
    c->cc_major = major;
    c->cc_minor = minor;
}

/* SOFTGPU_NAMESPACE=[A-Za-z0-9_.-]{1,48}: the name becomes part of the shared segment's name
 * (shm_map.c), so nothing else may pass; anything else is the default machine. */
static void load_ns(struct sg_config *c, void (*warn)(const char *))
{
    c->ns[0] = 0;
    const char *s = getenv("SOFTGPU_NAMESPACE");
    if (!s || !*s)
        return;
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");
    if (s[n] || n > SG_NS_MAX) {
        if (warn) {
            char msg[160];
            snprintf(msg, sizeof msg, "SOFTGPU_NAMESPACE=%.60s is not 1 to %d of [A-Za-z0-9_.-]; "
                     "using the default machine", s, SG_NS_MAX);
            warn(msg);
        }
        return;
    }
    memcpy(c->ns, s, n + 1);
}

void sg_config_load(struct sg_config *c, void (*warn)(const char *msg))
{
    load_cc(c, warn);
    load_ns(c, warn);
    c->log_level = 1; /* warn */
    const char *lv = getenv("SOFTGPU_LOG");
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; lv && i < 4; i++)
        if (!strcmp(lv, names[i]))
            c->log_level = i;
    c->ndev = sg_env_int("SOFTGPU_DEVICES", 1, 0, SG_MAX_DEVICES, warn);
    c->sms = sg_env_int("SOFTGPU_SMS", 8, 1, 1024, warn);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = sg_env_int("SOFTGPU_THREADS", ncpu > 0 ? (int)ncpu : 1, 1, 1024, warn);
    c->pin_sms = sg_env_int("SOFTGPU_PIN_SMS", 0, 0, 1, warn);
    c->mem_bytes = 4ull << 30;
    const char *m = getenv("SOFTGPU_MEMORY");
    if (m && *m) {
        uint64_t v = sg_parse_bytes(m);
        if (v >= (1u << 20) && v <= (64ull << 30))
            c->mem_bytes = v;
        else if (warn) {
            char msg[160];
            snprintf(msg, sizeof msg, "SOFTGPU_MEMORY=%.40s is not a size in [1MiB, 64GiB]; using 4GiB", m);
            warn(msg);
        }
    }
}

/* A fixed namespace with the index folded in, shaped as a version-5-style UUID so that tools
 * printing "GPU-xxxxxxxx-..." show something plausible. SOFTGPU_NAMESPACE, when set, is folded
 * in too: the devices of separate machines have separate uuids (a pool refuses a GPU uuid that
 * another live node registered). */
void sg_device_uuid(unsigned char out[16], int ordinal)
{
    static const unsigned char ns[16] = {0x53, 0x6f, 0x66, 0x74, 0x47, 0x50, 0x55, 0x2d,
                                         0x72, 0x65, 0x66, 0x65, 0x72, 0x65, 0x6e, 0x63};
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 16; i++) {
        h ^= ns[i];
        h *= 0x100000001b3ull;
    }
    const char *machine = getenv("SOFTGPU_NAMESPACE");
    for (const char *p = machine ? machine : ""; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 0x100000001b3ull;
    }
    for (int i = 0; i < 16; i++) {
        h ^= (uint64_t)(ordinal + 1) * 0x9e3779b97f4a7c15ull;
        h *= 0x100000001b3ull;
        out[i] = (unsigned char)(ns[i] ^ (unsigned char)(h >> 32));
    }
    out[6] = (unsigned char)((out[6] & 0x0f) | 0x50);
    out[8] = (unsigned char)((out[8] & 0x3f) | 0x80);
}
