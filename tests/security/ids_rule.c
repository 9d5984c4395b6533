/*
 * The vGPU id rule (src/vgpu/vgpu_id.h) and the log's escaping (src/common/log.c), in process
 * (issue 19, item 3): every id the node, the pool and the CLI accept follows
 * [A-Za-z0-9][A-Za-z0-9_.-]{0,62}, and no byte a client chose can break or forge a log line.
 *
 * Owns: nothing. May call: tfuse_vgpu, tfuse_common, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "vgpu_id.h"

static void accepts_the_rule(void **state)
{
    (void)state;
    char err[256], longest[VGPU_ID_LEN_MAX + 1];
    memset(longest, 'a', VGPU_ID_LEN_MAX);
    longest[VGPU_ID_LEN_MAX] = '\0';
    const char *ok[] = {"a", "Z", "0", "vgpu-17", "job_1.gpu-0", "A.b_c-9", longest};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_int_equal(vgpu_id_check(ok[i], err, sizeof err), 0);
}

/* Each refusal says what is wrong and states the rule. */
static void refuses_the_rest(void **state)
{
    (void)state;
    char err[256], too_long[VGPU_ID_LEN_MAX + 2];
    memset(too_long, 'a', VGPU_ID_LEN_MAX + 1);
    too_long[VGPU_ID_LEN_MAX + 1] = '\0';
    struct { const char *id, *says; } bad[] = {
        {"", "empty"},          {NULL, "empty"},         {too_long, "64 characters long"},
        {"a/b", "'/'"},         {"a\nb", "byte 0x0a"},   {"caf\xc3\xa9", "byte 0xc3"},
        {"-a", "leading '-'"},  {".hidden", "leading"},  {"_x", "leading"},
        {"a:b", "':'"},         {"a b", "byte 0x20"},    {"a%2Fb", "'%'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(vgpu_id_check(bad[i].id, err, sizeof err), -1);
        if (!strstr(err, bad[i].says) || !strstr(err, "1-63 characters"))
            fail_msg("id %zu: message '%s' lacks '%s' or the rule", i, err, bad[i].says);
        for (const char *p = err; *p; p++)   /* the message itself is printable ASCII */
            assert_true(*p >= 0x20 && *p < 0x7f);
    }
}

static void escapes_what_breaks_lines(void **state)
{
    (void)state;
    char out[256];
    tf_log_escape("deleted vGPU x\ny on device 0", out, sizeof out);
    assert_string_equal(out, "deleted vGPU x\\x0ay on device 0");
    tf_log_escape("a\r\x1b[31mb\x7f", out, sizeof out);
    assert_string_equal(out, "a\\x0d\\x1b[31mb\\x7f");
    /* well-formed UTF-8 passes; broken UTF-8, C1 controls and U+2028 do not */
    tf_log_escape("caf\xc3\xa9 \xe2\x80\x94 ok", out, sizeof out);
    assert_string_equal(out, "caf\xc3\xa9 \xe2\x80\x94 ok");
    tf_log_escape("x\xc3(\xc2\x85\xe2\x80\xa8\xc0\xaf", out, sizeof out);
    assert_string_equal(out, "x\\xc3(\\xc2\\x85\\xe2\\x80\\xa8\\xc0\\xaf");
    /* truncation keeps whole escapes */
    size_t n = tf_log_escape("\n\n\n", out, 9);
    assert_int_equal(n, 8);
    assert_string_equal(out, "\\x0a\\x0a");
}

/* A whole tf_log call: one message, one line, whatever it carries. */
static void one_call_one_line(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    int saved = dup(2);
    dup2(p[1], 2);
    tf_log_init("ids", TF_LOG_INFO);
    tf_info("created vGPU %s on device %d", "evil\n00:00:00.000 node[1] info: forged", 0);
    dup2(saved, 2);
    close(saved);
    close(p[1]);
    char buf[1024];
    ssize_t len = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    assert_true(len > 0);
    buf[len] = '\0';
    assert_non_null(strstr(buf, "evil\\x0a00:00:00.000 node[1] info: forged on device 0\n"));
    assert_int_equal(strchr(buf, '\n') - buf, len - 1);   /* the only newline ends the line */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepts_the_rule),
        cmocka_unit_test(refuses_the_rest),
        cmocka_unit_test(escapes_what_breaks_lines),
        cmocka_unit_test(one_call_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
