/* Unit tests for src/common/log.c: level parsing and filtering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>

#include "log.h"

static void parses_levels(void **state)
{
    (void)state;
    assert_int_equal(tf_log_parse_level("error"), TF_LOG_ERROR);
    assert_int_equal(tf_log_parse_level("debug"), TF_LOG_DEBUG);
    assert_int_equal(tf_log_parse_level("loud"), -1);
    assert_int_equal(tf_log_parse_level(NULL), -1);
}

static void environment_overrides_default(void **state)
{
    (void)state;
    setenv("TFUSE_LOG", "debug", 1);
    tf_log_init("test", TF_LOG_ERROR);
    assert_true(tf_log_enabled(TF_LOG_DEBUG));
    unsetenv("TFUSE_LOG");
    tf_log_init("test", TF_LOG_WARN);
    assert_true(tf_log_enabled(TF_LOG_WARN));
    assert_false(tf_log_enabled(TF_LOG_INFO));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_levels),
        cmocka_unit_test(environment_overrides_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
