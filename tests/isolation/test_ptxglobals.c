/*
 * Unit tests of the worker's PTX globals scanner (src/worker/ptxglobals.c): the bytes a
 * module's .global/.const variables take, which the worker charges to a vGPU at load time.
 * Owns: nothing. May call: ptxglobals.h, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ptxglobals.h"

static uint64_t sized(const char *ptx)
{
    uint64_t b = 12345;
    assert_int_equal(tfw_ptx_globals_bytes(ptx, strlen(ptx), &b), 0);
    return b;
}

static void declarations(void **state)
{
    (void)state;
    assert_int_equal(sized(".version 8.0\n.target sm_80\n.address_size 64\n"), 0);
    assert_int_equal(sized(".global .u32 a;\n.const .f64 c[4][2];\n"), 4 + 64);
    assert_int_equal(sized(".visible .global .align 16 .v4 .f32 v[3];\n"), 48);
    assert_int_equal(sized(".global .b8 a[3], b[5];\n"), 8);
    assert_int_equal(sized(".global .u16 t[] = {1, 2, 3};\n"), 6);
    assert_int_equal(sized(".global .u32 m[][2] = {{1, 2}, {3, 4}, {5, 6}};\n"), 24);
    assert_int_equal(sized(".global .attribute(.managed) .align 4 .u32 g;\n"), 4);
}

static void what_is_not_storage(void **state)
{
    (void)state;
    assert_int_equal(sized(".extern .global .u32 x[100];\n"), 0);
    assert_int_equal(sized(".shared .u32 s[100];\n"), 0);
    assert_int_equal(sized(".global .texref tex;\n"), 0);
    assert_int_equal(sized("// .global .u32 c[100];\n/* .global .u32 d[9]; */\n"), 0);
    assert_int_equal(sized(".file 1 \"a;b.cu\"\n.global .u8 z;\n"), 1);
    assert_int_equal(sized(".visible .entry k()\n{\n .reg .b32 %r<2>;\n"
                           " ld.global.u32 %r1, [g];\n st.global.u32 [g], %r1;\n ret;\n}\n"),
                     0);
}

static void bad_text(void **state)
{
    (void)state;
    uint64_t b;
    const char *unclosed = ".entry k() { ret;";
    const char *stray = "}\n.global .u32 a;";
    const char *comment = ".global .u32 a; /* never closed";
    assert_int_equal(tfw_ptx_globals_bytes(unclosed, strlen(unclosed), &b), -1);
    assert_int_equal(tfw_ptx_globals_bytes(stray, strlen(stray), &b), -1);
    assert_int_equal(tfw_ptx_globals_bytes(comment, strlen(comment), &b), -1);
    /* a size that overflows is not charged as a small number */
    assert_int_equal(sized(".global .u64 huge[4611686018427387904];\n"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(declarations),
        cmocka_unit_test(what_is_not_storage),
        cmocka_unit_test(bad_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
