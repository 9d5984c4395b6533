/*
 * Unit test of the log target switch (src/common/log.c): with syslog on, lines leave stderr
 * (they go to syslog(3), which this machine may not run: not checked here), and come back to
 * stderr when it is turned off; the level follows tf_log_set_level.
 * Owns: nothing. May call: log.h, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* Runs one tf_info with stderr sent to a pipe; returns what reached stderr. */
static void capture(const char *msg, char *out, size_t len)
{
    int fds[2], saved = dup(STDERR_FILENO);
    assert_int_equal(pipe(fds), 0);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    tf_info("%s", msg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = read(fds[0], out, len - 1);   /* the write end is closed: never blocks */
    out[n > 0 ? n : 0] = '\0';
    close(fds[0]);
}

static void test_switch(void **state)
{
    (void)state;
    char got[4096];
    tf_log_init("nodeops", TF_LOG_INFO);
    tf_log_set_level(TF_LOG_INFO);
    assert_int_equal(tf_log_get_level(), TF_LOG_INFO);
    capture("to stderr", got, sizeof got);
    assert_non_null(strstr(got, "nodeops["));
    assert_non_null(strstr(got, "info: to stderr"));

    tf_log_use_syslog(1);
    assert_true(tf_log_syslog_enabled());
    capture("to syslog", got, sizeof got);
    assert_string_equal(got, "");
    tf_log_use_syslog(0);
    assert_false(tf_log_syslog_enabled());

    tf_log_set_level(TF_LOG_WARN);
    capture("filtered", got, sizeof got);
    assert_string_equal(got, "");
    tf_log_set_level(TF_LOG_INFO);
    capture("back on stderr", got, sizeof got);
    assert_non_null(strstr(got, "back on stderr"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_switch)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
