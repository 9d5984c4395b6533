/* Helpers shared by the transport tests; see transport_test_util.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>

#include "transport_test_util.h"

struct tf_conn *tt_connect_or_fail(const char *addr, enum tf_transport_kind kind, size_t ring)
{
    struct tf_client_opts o = {.token = "tok", .transport = kind, .ring_bytes = ring};
    struct tf_conn *c = NULL;
    char err[256] = "";
    int rc = tf_connect(addr, &o, &c, err, sizeof err);
    if (rc)
        fprintf(stderr, "connect %s: %s (%s)\n", addr, tf_err_str(rc), err);
    assert_int_equal(rc, TF_OK);
    return c;
}

double tt_ms_between(const struct timespec *from, const struct timespec *to)
{
    return (double)(to->tv_sec - from->tv_sec) * 1e3 + (double)(to->tv_nsec - from->tv_nsec) / 1e6;
}

double tt_elapsed_ms_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return tt_ms_between(start, &now);
}

void tt_fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
}
