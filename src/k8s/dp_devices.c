/*
 * The device plugin's advertised shares (dp_devices.h): the GPUs the node last listed, its
 * reachability, share ids, and the preferred-allocation choice.
 * May call: libc, pthreads.
 */
#include "dp_devices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void k8s_dp_devices_init(struct k8s_dp_devices *d, unsigned shares)
{
    memset(d, 0, sizeof *d);
    pthread_mutex_init(&d->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->changed, &ca);
    pthread_condattr_destroy(&ca);
    if (shares < 1)
        shares = 1;
    d->shares = shares > K8S_DP_SHARES_MAX ? K8S_DP_SHARES_MAX : shares;
    d->node = K8S_DP_NODE_UNKNOWN;
}

void k8s_dp_devices_destroy(struct k8s_dp_devices *d)
{
    pthread_cond_destroy(&d->changed);
    pthread_mutex_destroy(&d->lock);
}

/* A uuid that can stand in a share id: the kubelet passes ids back verbatim, and we parse the
 * uuid out of them, so keep it to characters that need no escaping anywhere. */
static int uuid_ok(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n >= K8S_DP_UUID_MAX)
        return 0;
    for (const char *p = u; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                 (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.';
        if (!ok)
            return 0;
    }
    return 1;
}

static void bump(struct k8s_dp_devices *d)
{
    d->generation++;
    pthread_cond_broadcast(&d->changed);
}

int k8s_dp_devices_set(struct k8s_dp_devices *d, const char *const *uuids, size_t n,
                       size_t *skipped)
{
    char next[K8S_DP_GPUS_MAX][K8S_DP_UUID_MAX] = {{0}};   /* compared whole below */
    size_t m = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        int skip = !uuids[i] || !uuid_ok(uuids[i]);
        for (size_t j = 0; j < m && !skip; j++)
            skip = strcmp(next[j], uuids[i]) == 0;
        if (skip || m == K8S_DP_GPUS_MAX) {
            bad++;
            continue;
        }
        snprintf(next[m++], K8S_DP_UUID_MAX, "%s", uuids[i]);
    }
    if (skipped)
        *skipped = bad;
    pthread_mutex_lock(&d->lock);
    int changed = d->node != K8S_DP_NODE_UP || m != d->n_gpus ||
                  memcmp(next, d->gpus, m * sizeof next[0]) != 0;
    if (changed) {
        memcpy(d->gpus, next, m * sizeof next[0]);
        d->n_gpus = m;
        d->node = K8S_DP_NODE_UP;
        bump(d);
    }
    pthread_mutex_unlock(&d->lock);
    return changed;
}

int k8s_dp_devices_node_down(struct k8s_dp_devices *d)
{
    pthread_mutex_lock(&d->lock);
    int changed = d->node != K8S_DP_NODE_DOWN;
    if (changed) {
        d->node = K8S_DP_NODE_DOWN;
        bump(d);
    }
    pthread_mutex_unlock(&d->lock);
    return changed;
}

size_t k8s_dp_devices_list(struct k8s_dp_devices *d, struct k8s_dp_share **out, uint64_t *gen)
{
    pthread_mutex_lock(&d->lock);
    size_t n = d->n_gpus * d->shares;
    struct k8s_dp_share *s = n ? calloc(n, sizeof *s) : NULL;
    if (!s)
        n = 0;
    for (size_t g = 0, i = 0; i < n; g++)
        for (unsigned k = 0; k < d->shares; k++, i++) {
            snprintf(s[i].id, sizeof s[i].id, "%s::%u", d->gpus[g], k);
            s[i].healthy = d->node == K8S_DP_NODE_UP;
        }
    *gen = d->generation;
    pthread_mutex_unlock(&d->lock);
    *out = s;
    return n;
}

uint64_t k8s_dp_devices_wait(struct k8s_dp_devices *d, uint64_t gen, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&d->lock);
    while (d->generation == gen)
        if (pthread_cond_timedwait(&d->changed, &d->lock, &until) == ETIMEDOUT)
            break;
    uint64_t now = d->generation;
    pthread_mutex_unlock(&d->lock);
    return now;
}

int k8s_dp_share_parse(const char *id, char uuid[K8S_DP_UUID_MAX], unsigned *k)
{
    const char *sep = id ? strstr(id, "::") : NULL;
    if (!sep || sep == id || (size_t)(sep - id) >= K8S_DP_UUID_MAX)
        return -1;
    const char *num = sep + 2;
    unsigned v = 0;
    size_t digits = 0;
    for (; *num >= '0' && *num <= '9' && digits < 3; num++, digits++)
        v = v * 10 + (unsigned)(*num - '0');
    /* one canonical spelling per share: no sign, no leading zeros, nothing after */
    if (digits == 0 || *num || (digits > 1 && sep[2] == '0'))
        return -1;
    memcpy(uuid, id, (size_t)(sep - id));
    uuid[sep - id] = '\0';
    if (!uuid_ok(uuid))
        return -1;
    *k = v;
    return 0;
}

int k8s_dp_devices_check(struct k8s_dp_devices *d, const char *id)
{
    char uuid[K8S_DP_UUID_MAX];
    unsigned k;
    if (k8s_dp_share_parse(id, uuid, &k) != 0)
        return -1;
    int r = -1;
    pthread_mutex_lock(&d->lock);
    for (size_t g = 0; g < d->n_gpus && r < 0; g++)
        if (strcmp(d->gpus[g], uuid) == 0 && k < d->shares)
            r = d->node == K8S_DP_NODE_UP;
    pthread_mutex_unlock(&d->lock);
    return r;
}

/* The GPUs named in a preferred-allocation request: how many of each the choice holds and how
 * many of each are still available. */
struct gpu_tally {
    char uuid[K8S_DP_UUID_MAX];
    size_t chosen, left;
};

static struct gpu_tally *tally_of(struct gpu_tally *t, size_t *nt, size_t cap, const char *id)
{
    char uuid[K8S_DP_UUID_MAX];
    unsigned k;
    if (k8s_dp_share_parse(id, uuid, &k) != 0)
        return NULL;
    for (size_t i = 0; i < *nt; i++)
        if (strcmp(t[i].uuid, uuid) == 0)
            return &t[i];
    if (*nt == cap)
        return NULL;
    memset(&t[*nt], 0, sizeof t[*nt]);
    memcpy(t[*nt].uuid, uuid, sizeof uuid);
    return &t[(*nt)++];
}

static int taken(const char **out, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(out[i], id) == 0)
            return 1;
    return 0;
}

size_t k8s_dp_prefer(const char *const *avail, size_t n_avail, const char *const *must,
                     size_t n_must, size_t size, const char **out)
{
    size_t cap = n_avail + n_must, nt = 0, n = 0;
    struct gpu_tally *t = calloc(cap ? cap : 1, sizeof *t);
    struct gpu_tally **of = calloc(n_avail ? n_avail : 1, sizeof *of);
    if (!t || !of) {
        free(t);
        free(of);
        return 0;
    }
    for (size_t i = 0; i < n_must && n < size; i++) {
        struct gpu_tally *g = tally_of(t, &nt, cap, must[i]);
        if (g && !taken(out, n, must[i])) {
            out[n++] = must[i];
            g->chosen++;
        }
    }
    for (size_t i = 0; i < n_avail; i++) {
        of[i] = taken(out, n, avail[i]) ? NULL : tally_of(t, &nt, cap, avail[i]);
        if (of[i])
            of[i]->left++;
    }
    while (n < size) {
        size_t best = n_avail;
        for (size_t i = 0; i < n_avail; i++) {
            if (!of[i])
                continue;
            if (best == n_avail || of[i]->chosen < of[best]->chosen ||
                (of[i]->chosen == of[best]->chosen && of[i]->left > of[best]->left))
                best = i;
        }
        if (best == n_avail)
            break;
        out[n++] = avail[best];
        of[best]->chosen++;
        of[best]->left--;
        /* a repeated id in avail must not be chosen twice */
        for (size_t i = 0; i < n_avail; i++)
            if (i != best && of[i] && strcmp(avail[i], avail[best]) == 0) {
                of[i]->left--;
                of[i] = NULL;
            }
        of[best] = NULL;
    }
    free(t);
    free(of);
    return n;
}
