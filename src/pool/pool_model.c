/*
 * Names of the pool model's enums (the words used in JSON, the store and metrics) and two small
 * helpers every pool file uses. Calls only libc.
 */
#include "pool_model.h"

#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const qos_names[POOL_QOS_COUNT] = {"low", "medium", "high", "critical"};
static const char *const strategy_names[POOL_STRATEGY_COUNT] = {
    "CompactFirst", "LowLoadFirst", "NodeCompactGPULowLoad"};
static const char *const status_names[] = {"pending", "active", "released"};
static const char *const fail_names[POOL_FAIL_COUNT] = {
    "invalid", "no_capacity", "quota", "node_error", "conflict", "store"};

static int lookup(const char *const *names, int n, const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < n; i++)
        if (strcasecmp(names[i], s) == 0)
            return i;
    return -1;
}

const char *pool_qos_name(enum pool_qos q)
{
    return (unsigned)q < POOL_QOS_COUNT ? qos_names[q] : "?";
}

int pool_qos_parse(const char *s)
{
    return lookup(qos_names, POOL_QOS_COUNT, s);
}

const char *pool_strategy_name(enum pool_strategy s)
{
    return (unsigned)s < POOL_STRATEGY_COUNT ? strategy_names[s] : "?";
}

int pool_strategy_parse(const char *s)
{
    return lookup(strategy_names, POOL_STRATEGY_COUNT, s);
}

const char *pool_status_name(enum pool_alloc_status s)
{
    return (unsigned)s <= POOL_ALLOC_RELEASED ? status_names[s] : "?";
}

int pool_status_parse(const char *s)
{
    return lookup(status_names, 3, s);
}

const char *pool_fail_reason_name(enum pool_fail_reason r)
{
    return (unsigned)r < POOL_FAIL_COUNT ? fail_names[r] : "?";
}

bool pool_copy_name(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

double pool_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
