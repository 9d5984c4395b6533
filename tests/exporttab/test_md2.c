/*
 * MD2 against RFC 1319's test suite (appendix A.5) and the HMAC-MD2 construction of RFC 2104
 * rebuilt by hand from the MD2 primitive. Uses only the public exporttab.h functions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "exporttab.h"

static void to_hex(const unsigned char d[16], char out[33])
{
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_md2_rfc1319_vectors(void **state)
{
    static const struct { const char *msg, *digest; } v[] = {
        { "", "8350e5a3e24c153df2275c9f80692773" },
        { "a", "32ec01ec4a6dac72c0ab96fb34c0b5d1" },
        { "abc", "da853b0d3f88d99b30283a69e6ded6bb" },
        { "message digest", "ab4f496bfb2a530b219ff33031fe06b0" },
        { "abcdefghijklmnopqrstuvwxyz", "4e8ddff3650292ab5a4108c3aa47940b" },
        { "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
          "da33def2a42df13975352846c30338cd" },
        { "1234567890123456789012345678901234567890123456789012345678901234567890123456"
          "7890",
          "d5976f79d83d3a0dc9806c3c66f3efd8" },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        unsigned char d[16];
        char hex[33];
        exporttab_md2(v[i].msg, strlen(v[i].msg), d);
        to_hex(d, hex);
        assert_string_equal(hex, v[i].digest);
    }
}

/* Exactly one block and exactly two blocks exercise the "pad with a whole block" edge. */
static void test_md2_block_boundaries_differ(void **state)
{
    unsigned char a[16], b[16], c[16];
    (void)state;
    exporttab_md2("0123456789abcdef", 16, a);
    exporttab_md2("0123456789abcde", 15, b);
    exporttab_md2("0123456789abcdef0123456789abcdef", 32, c);
    assert_memory_not_equal(a, b, 16);
    assert_memory_not_equal(a, c, 16);
}

static void hmac_by_hand(const unsigned char key[16], const void *msg, size_t len,
                         unsigned char out[16])
{
    unsigned char inner_in[16 + 256], outer_in[32], inner[16];
    for (int i = 0; i < 16; i++) {
        inner_in[i] = key[i] ^ 0x36;
        outer_in[i] = key[i] ^ 0x5c;
    }
    memcpy(inner_in + 16, msg, len);
    exporttab_md2(inner_in, 16 + len, inner);
    memcpy(outer_in + 16, inner, 16);
    exporttab_md2(outer_in, 32, out);
}

static void test_hmac_md2_construction(void **state)
{
    const unsigned char key[16] = { 0x14, 0x6a, 0xdd, 0xae, 0x53, 0xa9, 0xa7, 0x52,
                                    0xaa, 0x08, 0x41, 0x36, 0x0b, 0xf5, 0x5a, 0x9f };
    const char *msgs[] = { "", "Hi There", "what do ya want for nothing?",
                           "a message longer than several sixteen-byte blocks of MD2 input" };
    (void)state;
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        unsigned char got[16], want[16];
        exporttab_hmac_md2(key, msgs[i], strlen(msgs[i]), got);
        hmac_by_hand(key, msgs[i], strlen(msgs[i]), want);
        assert_memory_equal(got, want, 16);
    }
}

static void test_hmac_md2_depends_on_key(void **state)
{
    unsigned char k1[16] = { 0 }, k2[16] = { 0 }, a[16], b[16];
    (void)state;
    k2[15] = 1;
    exporttab_hmac_md2(k1, "abc", 3, a);
    exporttab_hmac_md2(k2, "abc", 3, b);
    assert_memory_not_equal(a, b, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md2_rfc1319_vectors),
        cmocka_unit_test(test_md2_block_boundaries_differ),
        cmocka_unit_test(test_hmac_md2_construction),
        cmocka_unit_test(test_hmac_md2_depends_on_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
