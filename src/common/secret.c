/* Constant-time secret comparison; see secret.h. */
#include "secret.h"

#include <string.h>

int tf_secret_equal_n(const char *given, size_t gl, const char *expected, size_t tl)
{
    /* volatile: the compiler may not turn the loop into an early-exit memcmp */
    volatile unsigned diff = gl != tl;
    for (size_t i = 0; i < tl; i++)
        diff |= (unsigned char)expected[i] ^ (unsigned char)(i < gl ? given[i] : 0);
    return diff == 0;
}

int tf_secret_equal(const char *given, const char *expected)
{
    given = given ? given : "";
    expected = expected ? expected : "";
    return tf_secret_equal_n(given, strlen(given), expected, strlen(expected));
}
