/*
 * The handle translation of a migrated session (src/worker/migrate_map.c): the values the
 * program holds name the new objects after one migration and after two; replies give the
 * program its own values back; a new object at an address the program still holds for a
 * migrated one gets a stand-in, never the held value; forgetting drops both directions.
 * Owns: nothing. May call: src/worker/migrate.h, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "migrate.h"

#define STANDIN_BIT (1ull << 63)

static void one_migration(void **state)
{
    struct tfw_xlate *x = NULL;
    assert_int_equal(tfw_xlate_rebind(&x, 0x1000, 0x2000), 0);   /* the context moved */
    assert_int_equal(tfw_xlate_in(x, 0x1000), 0x2000);
    assert_int_equal(tfw_xlate_out(x, 0x2000), 0x1000);
    assert_int_equal(tfw_xlate_in(x, 0x7000), 0x7000);            /* never migrated */
    assert_int_equal(tfw_xlate_out(x, 0x3000), 0x3000);           /* a new object, no clash */
    assert_int_equal(tfw_xlate_in(x, 0x3000), 0x3000);
    /* the driver reused the old context's address for a new stream: a stand-in */
    uint64_t s = tfw_xlate_out(x, 0x1000);
    assert_true(s & STANDIN_BIT);
    assert_int_equal(tfw_xlate_out(x, 0x1000), s);                /* the same one again */
    assert_int_equal(tfw_xlate_in(x, s), 0x1000);
    assert_int_equal(tfw_xlate_in(x, 0x1000), 0x2000);            /* still the context */
    tfw_xlate_forget(x, s, 0x1000);                               /* the stream destroyed */
    assert_int_equal(tfw_xlate_in(x, s), s);
    assert_int_not_equal(tfw_xlate_out(x, 0x1000), s);            /* a fresh stand-in */
    tfw_xlate_forget(x, 0x1000, 0x2000);                          /* the context destroyed */
    assert_int_equal(tfw_xlate_in(x, 0x1000), 0x1000);
    assert_int_equal(tfw_xlate_out(x, 0x2000), 0x2000);
    tfw_xlate_free(x);
}

static void two_migrations(void **state)
{
    struct tfw_xlate *x = NULL;
    assert_int_equal(tfw_xlate_rebind(&x, 0x1000, 0x2000), 0);
    assert_int_equal(tfw_xlate_out(x, 0x5000), 0x5000);          /* made after the first */
    assert_int_equal(tfw_xlate_rebind(&x, 0x2000, 0x3000), 0);
    assert_int_equal(tfw_xlate_rebind(&x, 0x5000, 0x6000), 0);
    assert_int_equal(tfw_xlate_in(x, 0x1000), 0x3000);
    assert_int_equal(tfw_xlate_in(x, 0x5000), 0x6000);
    assert_int_equal(tfw_xlate_out(x, 0x3000), 0x1000);
    assert_int_equal(tfw_xlate_out(x, 0x6000), 0x5000);
    assert_int_equal(tfw_xlate_out(x, 0x2000), 0x2000);          /* gone: no one holds it */
    /* many objects: the maps grow */
    for (uint64_t i = 1; i <= 1000; i++)
        assert_int_equal(tfw_xlate_rebind(&x, 0x100000 + i * 16, 0x900000 + i * 16), 0);
    for (uint64_t i = 1; i <= 1000; i++) {
        assert_int_equal(tfw_xlate_in(x, 0x100000 + i * 16), 0x900000 + i * 16);
        assert_int_equal(tfw_xlate_out(x, 0x900000 + i * 16), 0x100000 + i * 16);
    }
    tfw_xlate_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_migration),
        cmocka_unit_test(two_migrations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
