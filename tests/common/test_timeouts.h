/*
 * The C tests' bounded waits, scaled by TFUSE_TEST_TIMEOUT_SCALE (a factor, default 1; `make
 * test-under-load` sets 3) so that a loaded machine stretches them instead of failing them.
 * The shell tests have the same in tests/lib/timeouts.sh. Header only; calls libc.
 */
#ifndef TFUSE_TEST_TIMEOUTS_H
#define TFUSE_TEST_TIMEOUTS_H

#include <stdio.h>
#include <stdlib.h>

/* The factor; a value that is not a number above 0 stops the test with a clear error (a typo
 * must not silently run with the default limits). */
static inline double tt_timeout_scale(void)
{
    const char *s = getenv("TFUSE_TEST_TIMEOUT_SCALE");
    if (!s || !*s)
        return 1.0;
    char *end;
    double f = strtod(s, &end);
    if (*end || !(f > 0) || f > 1000) {
        fprintf(stderr, "TFUSE_TEST_TIMEOUT_SCALE=%s: expected a factor above 0\n", s);
        exit(2);
    }
    return f;
}

/* A wait of SECONDS on an idle machine, as long as the factor makes it. */
static inline double tt_scaled_s(double seconds)
{
    return seconds * tt_timeout_scale();
}

static inline int tt_scaled_ms(int ms)
{
    return (int)(ms * tt_timeout_scale() + 0.5);
}

/* The number of tries of a polling loop whose pause stays fixed. */
static inline int tt_scaled_n(int n)
{
    double v = n * tt_timeout_scale();
    return (int)v + ((double)(int)v < v);
}

#endif
