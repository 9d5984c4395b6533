/*
 * Helpers shared by the transport tests (test_transport.c, test_transport_faults.c and the
 * echo server): a connect that fails the running cmocka test with the reason, millisecond
 * clocks, and a reproducible byte pattern. Uses the public transport API and cmocka only.
 */
#ifndef TFUSE_TEST_TRANSPORT_UTIL_H
#define TFUSE_TEST_TRANSPORT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "transport.h"

/* tf_connect with token "tok"; prints the reason and fails the current test if it fails. */
struct tf_conn *tt_connect_or_fail(const char *addr, enum tf_transport_kind kind, size_t ring);

/* Milliseconds from `from` to `to` (both CLOCK_MONOTONIC), and from `start` to now. */
double tt_ms_between(const struct timespec *from, const struct timespec *to);
double tt_elapsed_ms_since(const struct timespec *start);

/* Fills buf with a xorshift sequence seeded by seed: the same seed gives the same bytes. */
void tt_fill_pattern(uint8_t *buf, size_t len, uint32_t seed);

#endif
