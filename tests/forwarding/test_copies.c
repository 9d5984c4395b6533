/*
 * Bulk copies end to end (issue 22): prog_copies through a node on softgpu over unix+shm, TCP,
 * TCP with lz4 and with zstd compression asked for (TFUSE_COMPRESS; a loopback session is not
 * compressed unless asked) and TLS with lz4 (a throwaway CA made with openssl; skipped without
 * it). Every size at the thresholds and piece sizes of the copy paths, odd offsets, both
 * directions, pageable and page-locked memory, random and compressible bytes. Copies larger
 * than the session's frame bound (lowered to 12 MiB by TFUSE_FRAME_MAX_MB), split by the stub.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define PROG TFUSE_BUILD_DIR "/tests/forwarding/prog_copies"

static struct node_proc node;

static int setup(void **state)
{
    (void)state;
    return node_start(&node, "t0k");
}

static int teardown(void **state)
{
    (void)state;
    node_stop(&node);
    return 0;
}

static void run_copies(const char *addr, const char *compress, const char *mode)
{
    char *argv[] = {PROG, (char *)mode, NULL};
    struct run_result r;
    if (compress)
        setenv("TFUSE_COMPRESS", compress, 1);
    else
        unsetenv("TFUSE_COMPRESS");
    assert_int_equal(run_program(addr, "t0k", argv, 240, &r), 0);
    unsetenv("TFUSE_COMPRESS");
    if (r.status != 0 || !strstr(r.out, "prog_copies: OK"))
        fprintf(stderr, "%s (compress %s): status %d\n--- stdout\n%s\n--- stderr\n%s\n", addr,
                compress ? compress : "-", r.status, r.out, r.err);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "prog_copies: OK"));
}

static void copies_over_unix(void **state) { run_copies(node.unix_addr, NULL, "all"); }
static void copies_over_tcp(void **state) { run_copies(node.tcp_addr, NULL, "all"); }
static void copies_over_tcp_lz4(void **state) { run_copies(node.tcp_addr, "lz4", "all"); }
static void copies_over_tcp_zstd(void **state) { run_copies(node.tcp_addr, "zstd", "quick"); }

/* Copies of 40 MiB + 5 against a frame bound lowered to 12 MiB: the stub splits them (its
 * debug log says so) and every byte arrives; staged and by cross-memory attach on unix. */
static void run_split(const char *addr, const char *attach)
{
    char *argv[] = {PROG, "split", "40", NULL};
    struct run_result r;
    setenv("TFUSE_FRAME_MAX_MB", "12", 1);
    setenv("TFUSE_LOG", "debug", 1);
    if (attach)
        setenv("TFUSE_ATTACH", attach, 1);
    assert_int_equal(run_program(addr, "t0k", argv, 300, &r), 0);
    unsetenv("TFUSE_FRAME_MAX_MB");
    unsetenv("TFUSE_LOG");
    unsetenv("TFUSE_ATTACH");
    const char *said = "goes in pieces of 6291456 (frame bound 12582912)";
    if (r.status != 0 || !strstr(r.out, "prog_copies: OK") || !strstr(r.err, said))
        fprintf(stderr, "%s split: status %d\n--- stdout\n%s\n--- stderr (tail)\n%s\n", addr,
                r.status, r.out, strlen(r.err) > 4000 ? r.err + strlen(r.err) - 4000 : r.err);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "prog_copies: OK"));
    assert_non_null(strstr(r.err, said));
}

static void split_over_unix(void **state) { run_split(node.unix_addr, NULL); }
static void split_over_unix_staged(void **state) { run_split(node.unix_addr, "off"); }
static void split_over_tcp(void **state) { run_split(node.tcp_addr, NULL); }

static void copies_over_tls(void **state)
{
    char dir[] = "/tmp/tfuse-copies-tls-XXXXXX", cmd[2048];
    if (!mkdtemp(dir))
        fail_msg("mkdtemp");
    snprintf(cmd, sizeof cmd,
             "(cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-days 2 -subj /CN=t-ca -keyout ca.key -out ca.pem && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=t "
             "-keyout srv.key -out srv.csr && printf 'subjectAltName=IP:127.0.0.1\\n' >srv.ext "
             "&& openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-days 2 -extfile srv.ext -out srv.pem) >/dev/null 2>&1", dir);
    if (system(cmd) != 0) {
        print_message("openssl failed or is missing: TLS copies skipped\n");
        skip();
    }
    char cert[300], key[300], ca[300], rm[400];
    snprintf(cert, sizeof cert, "%s/srv.pem", dir);
    snprintf(key, sizeof key, "%s/srv.key", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    setenv("TFUSE_CA_FILE", ca, 1);
    struct node_proc tls;
    assert_int_equal(node_start_tls(&tls, "t0k", cert, key), 0);
    run_copies(tls.tcp_addr, "lz4", "quick");
    node_stop(&tls);
    unsetenv("TFUSE_CA_FILE");
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (system(rm) != 0)
        print_message("could not remove %s\n", dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(copies_over_unix),
        cmocka_unit_test(copies_over_tcp),
        cmocka_unit_test(copies_over_tcp_lz4),
        cmocka_unit_test(copies_over_tcp_zstd),
        cmocka_unit_test(copies_over_tls),
        cmocka_unit_test(split_over_unix),
        cmocka_unit_test(split_over_unix_staged),
        cmocka_unit_test(split_over_tcp),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
