/*
 * Pageable copies by cross-memory attach end to end (issue 22): prog_attach through a node on
 * softgpu. Over unix the stub and the worker negotiate the attach (the stub's debug log says
 * which path the session took) and copies are right at every piece boundary, both ways,
 * synchronous and asynchronous, in place (softgpu) and through the page-locked pipeline of
 * NVIDIA's driver (forced); refused by the program's TFUSE_ATTACH=off, by a node started
 * with TFUSE_ATTACH=off and over TCP, the same copies go staged and stay right; addresses that
 * are not the program's are CUDA_ERROR_INVALID_VALUE with the session going on; a second
 * session naming the first's address reads and writes nothing of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define PROG TFUSE_BUILD_DIR "/tests/forwarding/prog_attach"
#define ATTACHED "pageable copies by cross-memory attach"
#define STAGED "pageable copies staged"

static struct node_proc node;
static struct node_proc extra;   /* a node with its own environment; stopped even on failure */
static int extra_up;

static const char *start_extra(const char *var, const char *value)
{
    setenv(var, value, 1);   /* the node's environment, inherited by its workers */
    int e = node_start(&extra, "t0k");
    unsetenv(var);
    assert_int_equal(e, 0);
    extra_up = 1;
    return extra.unix_addr;
}

static void stop_extra(void)
{
    if (extra_up)
        node_stop(&extra);
    extra_up = 0;
}

static int setup(void **state)
{
    (void)state;
    setenv("TFUSE_LOG", "debug", 1);   /* the stub says which path its session took */
    return node_start(&node, "t0k");
}

static int teardown(void **state)
{
    (void)state;
    stop_extra();
    node_stop(&node);
    return 0;
}

static void run(const char *addr, char *const argv[], struct run_result *r)
{
    assert_int_equal(run_program(addr, "t0k", argv, 300, r), 0);
    if (r->status != 0 || !strstr(r->out, "prog_attach: OK"))
        fprintf(stderr, "%s %s: status %d\n--- stdout\n%s\n--- stderr\n%.4000s\n", addr,
                argv[1], r->status, r->out, r->err);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "prog_attach: OK"));
}

static struct run_result res;

static void copies_attached(void **state)
{
    (void)state;
    char *argv[] = {PROG, "copies", NULL};
    run(node.unix_addr, argv, &res);
    assert_non_null(strstr(res.err, ATTACHED));
    assert_non_null(strstr(res.err, "into untouched pages: by cross-memory attach"));
}

static void copies_refused_by_program(void **state)
{
    (void)state;
    char *argv[] = {PROG, "copies", NULL};
    setenv("TFUSE_ATTACH", "off", 1);
    run(node.unix_addr, argv, &res);
    unsetenv("TFUSE_ATTACH");
    assert_non_null(strstr(res.err, STAGED));
    assert_null(strstr(res.err, ATTACHED));
}

static void copies_refused_by_node(void **state)
{
    (void)state;
    char *argv[] = {PROG, "copies", NULL};
    run(start_extra("TFUSE_ATTACH", "off"), argv, &res);
    stop_extra();
    assert_non_null(strstr(res.err, STAGED));
    assert_null(strstr(res.err, ATTACHED));
}

/* The page-locked pipeline NVIDIA's driver takes, forced on softgpu (TFUSE_ATTACH_PIPE=1). */
static void copies_pipelined(void **state)
{
    (void)state;
    char *argv[] = {PROG, "copies", NULL}, *bad[] = {PROG, "bad", NULL};
    const char *addr = start_extra("TFUSE_ATTACH_PIPE", "1");
    run(addr, argv, &res);
    run(addr, bad, &res);
    stop_extra();
    assert_non_null(strstr(res.err, ATTACHED));
}

static void copies_over_tcp_staged(void **state)
{
    (void)state;
    char *argv[] = {PROG, "copies", NULL};
    run(node.tcp_addr, argv, &res);
    assert_null(strstr(res.err, ATTACHED));
}

static void bad_addresses(void **state)
{
    (void)state;
    char *argv[] = {PROG, "bad", NULL};
    run(node.unix_addr, argv, &res);
    assert_non_null(strstr(res.err, ATTACHED));
}

/* Session A holds a secret at a fixed address; session B names that address both ways. */
static void other_session_refused(void **state)
{
    (void)state;
    char flag[] = "/tmp/tfuse-attach-flag-XXXXXX";
    int fd = mkstemp(flag);
    assert_true(fd >= 0);
    close(fd);
    unlink(flag);
    char *argv_a[] = {PROG, "secret", flag, NULL};
    int out_a = -1;
    pid_t a = spawn_program(node.unix_addr, "t0k", argv_a, &out_a);
    assert_true(a > 0);
    assert_true(wait_for_output(out_a, "addr=0x7e5500000000", 120));
    char *argv_b[] = {PROG, "steal", "0x7e5500000000", NULL};
    run(node.unix_addr, argv_b, &res);
    FILE *f = fopen(flag, "w");
    assert_non_null(f);
    fclose(f);
    assert_true(wait_for_output(out_a, "secret intact", 120));
    close(out_a);
    waitpid(a, NULL, 0);
    unlink(flag);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(copies_attached),
        cmocka_unit_test(copies_pipelined),
        cmocka_unit_test(copies_refused_by_program),
        cmocka_unit_test(copies_refused_by_node),
        cmocka_unit_test(copies_over_tcp_staged),
        cmocka_unit_test(bad_addresses),
        cmocka_unit_test(other_session_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
