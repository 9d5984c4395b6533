/*
 * End-to-end forwarding tests: a node on softgpu (started here), programs run through
 * `tfuse run` over unix+shm and over TCP, and the fault cases of issue 3: a client killed
 * mid-stream (its worker process, and with it everything it held, goes away; other sessions
 * carry on), the node killed (the client's next call fails within a second), a wrong token.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../common/test_timeouts.h"
#include "harness.h"
#include "proto.h"
#include "transport.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>

#define PROG TFUSE_BUILD_DIR "/tests/forwarding/prog_driver"
#define PROG_NVML TFUSE_BUILD_DIR "/tests/forwarding/prog_nvml"

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

static void expect_ok_run(const char *addr)
{
    char *argv[] = {PROG, "all", NULL};
    struct run_result r;
    assert_int_equal(run_program(addr, "t0k", argv, 60, &r), 0);
    if (r.status != 0 || !strstr(r.out, "prog_driver: OK"))
        fprintf(stderr, "status %d\n--- stdout\n%s\n--- stderr\n%s\n", r.status, r.out, r.err);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "vadd: ok"));
    assert_non_null(strstr(r.out, "stream pipeline from page-locked memory: ok"));
    assert_non_null(strstr(r.out, "copy past allocation refused: ok"));
    assert_non_null(strstr(r.out, "fork child refused: ok"));
    assert_non_null(strstr(r.out, "prog_driver: OK"));
}

static void driver_program_over_unix(void **state)
{
    (void)state;
    char *argv[] = {PROG, "all", NULL};
    struct run_result r;
    expect_ok_run(node.unix_addr);
    assert_int_equal(run_program(node.unix_addr, "t0k", argv, 60, &r), 0);
    assert_non_null(strstr(r.out, "managed: ok"));   /* the same host maps managed memory */
}

static void driver_program_over_tcp(void **state)
{
    (void)state;
    expect_ok_run(node.tcp_addr);
}

static void nvml_sees_the_session_device(void **state)
{
    (void)state;
    char *argv[] = {PROG_NVML, NULL};
    struct run_result r;
    assert_int_equal(run_program(node.unix_addr, "t0k", argv, 30, &r), 0);
    if (r.status != 0)
        fprintf(stderr, "status %d\n--- stdout\n%s\n--- stderr\n%s\n", r.status, r.out, r.err);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "nvml memory used grows with allocations: ok"));
}

static void wrong_token_is_refused(void **state)
{
    (void)state;
    char *argv[] = {PROG, "all", NULL};
    struct run_result r;
    assert_int_equal(run_program(node.unix_addr, "wrong", argv, 30, &r), 0);
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "bad session token"));
}

static int wait_workers(int want, double timeout_s)
{
    double deadline = now_seconds() + tt_scaled_s(timeout_s);
    int n;
    while ((n = node_workers(&node)) != want && now_seconds() < deadline)
        usleep(20000);
    return n;
}

static void killed_client_frees_its_session(void **state)
{
    (void)state;
    int before = wait_workers(0, 3.0);   /* earlier sessions have ended */
    char *argv[] = {PROG, "hold", "268435456", NULL};
    int out;
    pid_t pid = spawn_program(node.unix_addr, "t0k", argv, &out);
    assert_true(pid > 0);
    assert_true(wait_for_output(out, "held 0x", 30));
    assert_int_equal(node_workers(&node), before + 1);
    kill(pid, SIGKILL);   /* mid-stream: it launches and synchronizes in a loop */
    waitpid(pid, NULL, 0);
    close(out);
    /* Its worker process exits, and with it the session's 256 MiB and every handle. */
    assert_int_equal(wait_workers(before, 2.0), before);
    /* Another session works as before. */
    expect_ok_run(node.tcp_addr);
}

/* Session B names session A's live allocation: refused, whatever the transport. */
static void other_sessions_memory_is_refused(void **state)
{
    (void)state;
    char *argv[] = {PROG, "hold", "1048576", NULL};
    int out;
    pid_t pid = spawn_program(node.unix_addr, "t0k", argv, &out);
    assert_true(pid > 0);
    char line[256] = "";
    FILE *f = fdopen(out, "r");
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, "held 0x"));
    char ptr[64];
    snprintf(ptr, sizeof ptr, "%s", strstr(line, "0x"));
    ptr[strcspn(ptr, "\n")] = '\0';
    char *probe[] = {PROG, "probe", ptr, NULL};
    struct run_result r;
    assert_int_equal(run_program(node.tcp_addr, "t0k", probe, 30, &r), 0);
    fprintf(stderr, "%s", r.out);
    assert_int_equal(r.status, 0);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fclose(f);
}

/* A tenant's kernel faults: the sticky error stays in its session; a busy neighbour carries on. */
static void sticky_error_stays_in_its_session(void **state)
{
    (void)state;
    char *hold[] = {PROG, "hold", "1048576", NULL};
    int out;
    pid_t neighbour = spawn_program(node.unix_addr, "t0k", hold, &out);
    assert_true(neighbour > 0);
    assert_true(wait_for_output(out, "held 0x", 30));
    char *fault[] = {PROG, "fault", NULL};
    struct run_result r;
    assert_int_equal(run_program(node.tcp_addr, "t0k", fault, 60, &r), 0);
    fprintf(stderr, "%s", r.out);
    assert_int_equal(r.status, 0);
    usleep(100000);
    assert_int_equal(kill(neighbour, 0), 0);   /* still launching and synchronizing */
    int status;
    assert_int_equal(waitpid(neighbour, &status, WNOHANG), 0);
    kill(neighbour, SIGKILL);
    waitpid(neighbour, NULL, 0);
    close(out);
    expect_ok_run(node.unix_addr);
}

/* The first session stored its module image in the node's cache, named by its SHA-256. */
/* One folder per tenant (scope) under the cache: src/worker/modcache.h. */
static void module_images_are_cached_by_hash(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls %s/state/modules/*/*.img >/dev/null 2>&1", node.dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "grep -l 'visible .entry vadd' %s/state/modules/*/*.img >/dev/null",
             node.dir);
    assert_int_equal(system(cmd), 0);
}

static void killed_node_fails_client_promptly(void **state)
{
    (void)state;
    struct node_proc doomed;
    assert_int_equal(node_start(&doomed, NULL), 0);
    char *argv[] = {PROG, "loop", NULL};
    int out;
    pid_t pid = spawn_program(doomed.unix_addr, NULL, argv, &out);
    assert_true(pid > 0);
    /* Connected and looping on cuCtxSynchronize: a generous wait for a busy machine. */
    assert_true(wait_for_output(out, "looping", 60));
    assert_int_equal(kill(pid, 0), 0);
    double t0 = now_seconds();
    kill(doomed.pid, SIGKILL);
    waitpid(doomed.pid, NULL, 0);
    doomed.pid = 0;
    int status = 0;
    /* Promptly means on the peer's hang-up: the stub waits for a reply without a timeout,
     * so without the hang-up it would wait forever; 20 s is generous for a busy machine. */
    double limit = tt_scaled_s(20);
    while (waitpid(pid, &status, WNOHANG) == 0 && now_seconds() - t0 < limit)
        usleep(5000);
    double elapsed = now_seconds() - t0;
    if (kill(pid, 0) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    close(out);
    node_stop(&doomed);
    fprintf(stderr, "client failed %.3f s after the node was killed\n", elapsed);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);   /* "sync failed" */
    assert_true(elapsed < limit);
}

/* The session is gone when the worker closes: a receive fails instead of timing out. */
static void expect_closed(struct tf_conn *c)
{
    struct tf_frame_header h;
    int e = tf_recv_header(c, &h, 3000);
    assert_true(e == TF_ERR_CLOSED || e == TF_ERR_PROTOCOL);
}

static void unknown_and_truncated_requests_close_the_session(void **state)
{
    (void)state;
    struct tf_client_opts o = {.token = "t0k"};
    char err[256];
    struct tf_conn *c;
    /* a call id that does not exist */
    assert_int_equal(tf_connect(node.unix_addr, &o, &c, err, sizeof err), TF_OK);
    uint64_t ctx = 0;
    struct iovec iov = {&ctx, sizeof ctx};
    assert_int_equal(tf_send(c, TFP_CALL_COUNT + 7, 0, 1, &iov, 1), TF_OK);
    expect_closed(c);
    tf_conn_close(c);
    /* cuMemAlloc_v2 with its size argument cut short */
    assert_int_equal(tf_connect(node.tcp_addr, &o, &c, err, sizeof err), TF_OK);
    uint8_t shortreq[11] = {0};
    iov = (struct iovec){shortreq, sizeof shortreq};
    assert_int_equal(tf_send(c, TFP_ID_cuMemAlloc_v2, 0, 1, &iov, 1), TF_OK);
    expect_closed(c);
    tf_conn_close(c);
    /* a kernel name without its NUL */
    assert_int_equal(tf_connect(node.unix_addr, &o, &c, err, sizeof err), TF_OK);
    uint8_t badname[8 + 8 + 4 + 4] = {0};   /* context, module, u32 length, name */
    uint32_t len = 4;
    memcpy(badname + 16, &len, 4);
    memcpy(badname + 20, "abcd", 4);
    iov = (struct iovec){badname, sizeof badname};
    assert_int_equal(tf_send(c, TFP_ID_cuModuleGetFunction, 0, 1, &iov, 1), TF_OK);
    expect_closed(c);
    tf_conn_close(c);
    expect_ok_run(node.unix_addr);   /* the node and other sessions carry on */
}

/* An oversized frame header, written on a raw TCP socket after a valid handshake. */
static void oversized_frame_closes_the_session(void **state)
{
    (void)state;
    struct tf_addr a;
    char err[256];
    assert_int_equal(tf_addr_parse(node.tcp_addr, &a, err, sizeof err), TF_OK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(a.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct tf_hello h = {.version = TFUSE_PROTOCOL_VERSION, .transport = TF_TRANSPORT_STREAM,
                         .pid = getpid()};
    snprintf(h.token, sizeof h.token, "t0k");
    snprintf(h.hostname, sizeof h.hostname, "test");
    uint8_t buf[TF_WELCOME_MAX_SIZE];
    int n = tf_hello_encode(&h, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(write(fd, buf, (size_t)n), n);
    ssize_t got = 0;
    struct tf_welcome w;
    while (got < 40) {   /* the fixed part, then the (empty) reason */
        ssize_t k = read(fd, buf + got, sizeof buf - (size_t)got);
        assert_true(k > 0);
        got += k;
    }
    assert_int_equal(tf_welcome_decode(buf, (size_t)got, &w, err, sizeof err), TF_OK);
    assert_int_equal(w.accepted, 1);
    struct tf_frame_header fh = {.type = TFP_ID_cuInit, .id = 1, .length = w.max_frame + 1};
    uint8_t raw[TF_FRAME_HEADER_SIZE];
    tf_frame_header_encode(&fh, raw);
    assert_int_equal(write(fd, raw, sizeof raw), (ssize_t)sizeof raw);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 3000), 1);
    assert_true(read(fd, buf, sizeof buf) <= 0);   /* closed, not answered */
    close(fd);
    expect_ok_run(node.tcp_addr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(driver_program_over_unix),
        cmocka_unit_test(driver_program_over_tcp),
        cmocka_unit_test(nvml_sees_the_session_device),
        cmocka_unit_test(wrong_token_is_refused),
        cmocka_unit_test(unknown_and_truncated_requests_close_the_session),
        cmocka_unit_test(oversized_frame_closes_the_session),
        cmocka_unit_test(killed_client_frees_its_session),
        cmocka_unit_test(other_sessions_memory_is_refused),
        cmocka_unit_test(sticky_error_stays_in_its_session),
        cmocka_unit_test(module_images_are_cached_by_hash),
        cmocka_unit_test(killed_node_fails_client_promptly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
