/*
 * Transport: what goes wrong. Version mismatch and bad tokens are rejected with a reason;
 * malformed and oversized frames close only their own session; a peer killed mid-call (client
 * or server, shm or TCP) becomes an error within a second; closing wakes the peer at once; an
 * idle waiter sleeps instead of spinning. Uses internal.h only to forge an oversized frame
 * over shm (a well-behaved client refuses to send one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/test_timeouts.h"
#include "echo_server.h"
#include "transport_test_util.h"
#include "internal.h"

static const char *unix_address(const char *tag)
{
    static char addr[128];
    snprintf(addr, sizeof addr, "unix:/tmp/tfuse-fault-%s-%d.sock", tag, (int)getpid());
    return addr;
}

/* A plain socket to the server's address, for speaking a broken protocol on purpose. */
static int raw_connect(const char *address)
{
    struct tf_addr a;
    assert_int_equal(tf_addr_parse(address, &a, NULL, 0), TF_OK);
    int fd;
    if (a.kind == TF_ADDR_UNIX) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        strcpy(sun.sun_path, a.path);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    } else {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(a.port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    }
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void raw_hello(int fd, uint32_t version, struct tf_welcome *w)
{
    struct tf_hello h = {.version = version, .transport = TF_TRANSPORT_STREAM, .pid = getpid()};
    strcpy(h.token, "tok");
    uint8_t buf[TF_WELCOME_MAX_SIZE];
    int n = tf_hello_encode(&h, buf, sizeof buf);
    assert_int_equal(write(fd, buf, (size_t)n), n);
    ssize_t got = 0, r;
    while ((r = read(fd, buf + got, sizeof buf - (size_t)got)) > 0) {
        got += r;
        if (got >= 40 && got == 40 + (buf[32] | buf[33] << 8))
            break;
    }
    char why[160];
    assert_int_equal(tf_welcome_decode(buf, (size_t)got, w, why, sizeof why), TF_OK);
}

static int last_error_has(struct echo_server *srv, const char *text)
{
    char err[300];
    echo_server_last(srv, err, sizeof err);
    return strstr(err, text) != NULL;
}

static void echo_once(struct tf_conn *c)
{
    struct iovec v = {"ping", 4};
    assert_int_equal(tf_send(c, T_ECHO, 0, 1, &v, 1), TF_OK);
    struct tf_frame_header h;
    const void *p;
    assert_int_equal(tf_recv(c, &h, &p, 5000), TF_OK);
    assert_int_equal(h.length, 4);
    assert_memory_equal(p, "ping", 4);
}

static void test_version_mismatch(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, unix_address("ver"), NULL, 0), TF_OK);
    int fd = raw_connect(srv.address);
    struct tf_welcome w;
    raw_hello(fd, 99, &w);
    close(fd);
    assert_int_equal(w.accepted, 0);
    assert_int_equal(w.version, TFUSE_PROTOCOL_VERSION);
    char ours[32];
    snprintf(ours, sizeof ours, "version %u", TFUSE_PROTOCOL_VERSION);
    assert_non_null(strstr(w.reason, "version 99"));
    assert_non_null(strstr(w.reason, ours));
    assert_true(echo_server_wait_ended(&srv, 1, 5000));
    assert_int_equal(echo_server_last(&srv, NULL, 0), TF_ERR_VERSION);
    echo_server_stop(&srv);
}

static void test_bad_token(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, unix_address("tok"), "right", 0), TF_OK);
    struct tf_client_opts o = {.token = "wrong"};
    struct tf_conn *c = NULL;
    char err[256] = "";
    assert_int_equal(tf_connect(srv.address, &o, &c, err, sizeof err), TF_ERR_REJECTED);
    assert_null(c);
    assert_string_equal(err, "bad session token");
    o.token = "right";
    assert_int_equal(tf_connect(srv.address, &o, &c, err, sizeof err), TF_OK);
    echo_once(c);
    tf_conn_close(c);
    char longtok[TF_TOKEN_MAX + 2];
    memset(longtok, 'a', sizeof longtok - 1);
    longtok[sizeof longtok - 1] = 0;
    o.token = longtok;
    assert_int_equal(tf_connect(srv.address, &o, &c, err, sizeof err), TF_ERR_INVALID);
    assert_int_equal(tf_connect("unix:/nonexistent/x.sock", NULL, &c, err, sizeof err),
                     TF_ERR_CLOSED);
    echo_server_stop(&srv);
}

/* Sends a hand-made frame header on an accepted raw stream session; the server must close it
 * with `reason` while the good connection goes on working. */
static void bad_frame_closes_only_its_session(struct echo_server *srv, struct tf_conn *good,
                                              const struct tf_frame_header *h, int corrupt_magic,
                                              const char *reason, int ended_before)
{
    int fd = raw_connect(srv->address);
    struct tf_welcome w;
    raw_hello(fd, TFUSE_PROTOCOL_VERSION, &w);
    assert_int_equal(w.accepted, 1);
    uint8_t buf[TF_FRAME_HEADER_SIZE];
    tf_frame_header_encode(h, buf);
    if (corrupt_magic)
        buf[1] ^= 0x55;
    assert_int_equal(write(fd, buf, sizeof buf), (ssize_t)sizeof buf);
    char c;
    assert_int_equal(read(fd, &c, 1), 0);   /* the server hung up on us (not a timeout) */
    close(fd);
    assert_true(echo_server_wait_ended(srv, ended_before + 1, 5000));
    assert_true(last_error_has(srv, reason));
    echo_once(good);
}

static void test_malformed_frames_close_their_session(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, "tcp:127.0.0.1:0", NULL, 1 << 20), TF_OK);
    struct tf_conn *good = tt_connect_or_fail(srv.address, TF_TRANSPORT_AUTO, 0);
    echo_once(good);
    struct tf_frame_header h = {.type = T_ECHO, .length = 10};
    bad_frame_closes_only_its_session(&srv, good, &h, 1, "magic", 0);
    h.length = 2u << 20;   /* above the server's 1 MiB bound: refused before any allocation */
    bad_frame_closes_only_its_session(&srv, good, &h, 0, "exceeds", 1);
    h.length = UINT64_MAX;
    bad_frame_closes_only_its_session(&srv, good, &h, 0, "exceeds", 2);
    h.type = 0;
    h.length = 0;
    bad_frame_closes_only_its_session(&srv, good, &h, 0, "type 0", 3);
    tf_conn_close(good);
    echo_server_stop(&srv);
}

/* Accepted sessions that then send random bytes: each ends on its own, the server survives. */
static void test_random_garbage_sessions(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, "tcp:127.0.0.1:0", NULL, 1 << 20), TF_OK);
    struct tf_conn *good = tt_connect_or_fail(srv.address, TF_TRANSPORT_AUTO, 0);
    uint32_t x = 12345;
    for (int round = 0; round < 12; round++) {
        int fd = raw_connect(srv.address);
        struct tf_welcome w;
        raw_hello(fd, TFUSE_PROTOCOL_VERSION, &w);
        assert_int_equal(w.accepted, 1);
        uint8_t junk[256];
        for (size_t i = 0; i < sizeof junk; i++) {
            x = x * 1103515245u + 12345u;
            junk[i] = (uint8_t)(x >> 16);
        }
        if (round % 3 == 0) {   /* sometimes a valid magic and version, then nonsense */
            struct tf_frame_header h = {.type = 0x1000 | (x & 0xff), .length = x % 100};
            tf_frame_header_encode(&h, junk);
        }
        assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
        close(fd);
        assert_true(echo_server_wait_ended(&srv, round + 1, 5000));
        echo_once(good);
    }
    tf_conn_close(good);
    echo_server_stop(&srv);
}

static void test_oversized_over_shm(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, unix_address("big"), NULL, 1 << 20), TF_OK);
    struct tf_conn *good = tt_connect_or_fail(srv.address, TF_TRANSPORT_AUTO, 64 << 10);
    struct tf_conn *bad = tt_connect_or_fail(srv.address, TF_TRANSPORT_AUTO, 64 << 10);
    struct tf_conn_info info;
    tf_conn_get_info(bad, &info);
    assert_int_equal(info.max_frame, 1 << 20);   /* negotiated down to the server's bound */
    size_t len = 2u << 20;
    uint8_t *big = calloc(1, len);
    struct iovec v = {big, len};
    assert_int_equal(tf_send(bad, T_ECHO, 0, 1, &v, 1), TF_ERR_TOO_LARGE);   /* refused locally */
    echo_once(bad);
    bad->max_frame = 1ull << 30;   /* forge: a client that ignores the negotiated bound */
    assert_int_equal(tf_send(bad, T_ECHO, 0, 2, &v, 1), TF_ERR_CLOSED);
    struct tf_frame_header h;
    assert_int_equal(tf_recv_header(bad, &h, 2000), TF_ERR_CLOSED);
    assert_true(echo_server_wait_ended(&srv, 1, 5000));
    assert_true(last_error_has(&srv, "exceeds"));
    echo_once(good);
    free(big);
    tf_conn_close(bad);
    tf_conn_close(good);
    echo_server_stop(&srv);
}

static void test_corrupt_ring_index(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, unix_address("ring"), NULL, 0), TF_OK);
    struct tf_conn *good = tt_connect_or_fail(srv.address, TF_TRANSPORT_AUTO, 64 << 10);
    struct tf_conn *bad = tt_connect_or_fail(srv.address, TF_TRANSPORT_AUTO, 64 << 10);
    echo_once(bad);
    /* A hostile client claims far more bytes than the ring holds. */
    atomic_store(&bad->shm->req.head, atomic_load(&bad->shm->req.tail) + 10 * (64 << 10));
    assert_true(echo_server_wait_ended(&srv, 1, 5000));
    assert_true(last_error_has(&srv, "corrupted the ring"));
    assert_int_equal(echo_server_last(&srv, NULL, 0), TF_ERR_PROTOCOL);
    echo_once(good);
    tf_conn_close(bad);
    tf_conn_close(good);
    echo_server_stop(&srv);
}

static void test_handshake_silence_and_hangup(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, unix_address("hs"), NULL, 0), TF_OK);
    srv.handshake_timeout_ms = 200;
    /* Says nothing: dropped after the handshake timeout, with a reason. */
    int fd = raw_connect(srv.address);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_true(echo_server_wait_ended(&srv, 1, 5000));
    assert_true(tt_elapsed_ms_since(&start) < tt_scaled_ms(1000)); /* not 5 s */
    assert_true(last_error_has(&srv, "no handshake"));
    char byte;
    assert_int_equal(read(fd, &byte, 1), 0);
    close(fd);
    /* Hangs up in the middle of its hello. */
    fd = raw_connect(srv.address);
    assert_int_equal(write(fd, "TFFHxxxx", 8), 8);
    close(fd);
    assert_true(echo_server_wait_ended(&srv, 2, 5000));
    assert_int_equal(echo_server_last(&srv, NULL, 0), TF_ERR_CLOSED);
    /* Speaks another protocol entirely. */
    fd = raw_connect(srv.address);
    const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n.............";
    assert_int_equal(write(fd, http, 40), 40);
    assert_true(echo_server_wait_ended(&srv, 3, 5000));
    assert_true(last_error_has(&srv, "not a TensorFuse handshake"));
    close(fd);
    echo_server_stop(&srv);
}

/* The parent's half of a forked-child test: waits for the child's ready byte on the pipe
 * (closing both ends), lets it settle for settle_ms so it is mid-work, then SIGKILLs it.
 * Returns when it was killed (CLOCK_MONOTONIC). */
static struct timespec kill_child_when_ready(pid_t pid, int ready[2], int settle_ms)
{
    close(ready[1]);
    char r;
    assert_int_equal(read(ready[0], &r, 1), 1);
    close(ready[0]);
    usleep((useconds_t)settle_ms * 1000);
    struct timespec killed;
    clock_gettime(CLOCK_MONOTONIC, &killed);
    kill(pid, SIGKILL);
    return killed;
}

/* The client process dies while the server is in the middle of receiving a frame. */
static void client_killed_mid_frame(const char *listen)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, listen, NULL, 0), TF_OK);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct tf_client_opts o = {.ring_bytes = 64 << 10};
        struct tf_conn *c;
        if (tf_connect(srv.address, &o, &c, NULL, 0))
            _exit(2);
        static uint8_t block[1 << 20];
        struct iovec v[64];
        for (int i = 0; i < 64; i++)
            v[i] = (struct iovec){block, sizeof block};
        if (write(ready[1], "r", 1) != 1)
            _exit(3);
        for (;;)   /* 64 MiB frames, endlessly: the server is nearly always mid-frame */
            tf_send(c, T_SINK, 0, 0, v, 64);
    }
    struct timespec killed = kill_child_when_ready(pid, ready, 100);
    assert_true(echo_server_wait_ended(&srv, 1, 1000));
    double ms = tt_elapsed_ms_since(&killed);
    waitpid(pid, NULL, 0);
    assert_int_equal(echo_server_last(&srv, NULL, 0), TF_ERR_CLOSED);
    fprintf(stderr, "  %s: server saw the client's death after %.1f ms\n", listen, ms);
    assert_true(ms < tt_scaled_ms(1000));   /* promptly: on the death, not a timeout */
    echo_server_stop(&srv);
}

/* The client dies between calls while the server polls with short timeouts (as a worker that
 * also watches other things would): the timeouts must not starve the liveness check. */
static void test_client_killed_between_calls(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, unix_address("kb"), NULL, 0), TF_OK);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct tf_conn *c;
        struct tf_frame_header h;
        struct iovec v = {"x", 1};
        if (tf_connect(srv.address, NULL, &c, NULL, 0) || tf_send(c, T_ECHO, 0, 1, &v, 1) ||
            tf_recv_header(c, &h, 5000) || write(ready[1], "r", 1) != 1)
            _exit(2);
        for (;;)
            pause();
    }
    struct timespec killed = kill_child_when_ready(pid, ready, 200);
    assert_true(echo_server_wait_ended(&srv, 1, 3000));
    double ms = tt_elapsed_ms_since(&killed);
    waitpid(pid, NULL, 0);
    fprintf(stderr, "  idle session: server saw the client's death after %.1f ms\n", ms);
    assert_int_equal(echo_server_last(&srv, NULL, 0), TF_ERR_CLOSED);
    assert_true(ms < tt_scaled_ms(1000));   /* promptly: on the death, not a timeout */
    echo_server_stop(&srv);
}

static void test_client_killed_shm(void **state) { client_killed_mid_frame(unix_address("kc")); }

static void test_client_killed_tcp(void **state) { client_killed_mid_frame("tcp:127.0.0.1:0"); }

/* A server process that takes one call and never answers it. */
static pid_t fork_mute_server(const char *address, char *bound, size_t boundlen)
{
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct tf_listener *l;
        if (tf_listen(address, &l, NULL, 0))
            _exit(2);
        const char *b = tf_listener_address(l);
        if (write(ready[1], b, strlen(b) + 1) < 0)
            _exit(3);
        struct tf_conn *c = NULL;
        while (tf_listener_accept(l, &c) == TF_ERR_AGAIN)
            usleep(1000);
        struct tf_hello hello;
        struct tf_frame_header h;
        if (tf_server_handshake(c, NULL, &hello) || tf_server_accept(c, 1) ||
            tf_recv_header(c, &h, -1))
            _exit(4);
        for (;;)
            pause();
    }
    close(ready[1]);
    assert_true(read(ready[0], bound, boundlen) > 0);
    close(ready[0]);
    return pid;
}

struct killer {
    pid_t pid;
    struct timespec at;
};

static void *kill_later(void *p)
{
    struct killer *k = p;
    usleep(200 * 1000);
    clock_gettime(CLOCK_MONOTONIC, &k->at);
    kill(k->pid, SIGKILL);
    return NULL;
}

/* The client only polls (timeout 0), as a stub checking for a pending reply does. */
static int poll_until_error(struct tf_conn *c)
{
    for (int i = 0; i < 5000; i++) {
        int rc = tf_poll(c, 0);
        if (rc != 0)
            return rc;
        usleep(1000);
    }
    return 0;
}

static void server_killed_mid_call(const char *listen, int only_poll)
{
    char bound[300];
    pid_t pid = fork_mute_server(listen, bound, sizeof bound);
    struct tf_conn *c = tt_connect_or_fail(bound, TF_TRANSPORT_AUTO, 0);
    assert_int_equal(tf_send(c, T_ECHO, 0, 1, NULL, 0), TF_OK);
    struct killer k = {.pid = pid};
    pthread_t t;
    pthread_create(&t, NULL, kill_later, &k);
    struct tf_frame_header h;
    if (only_poll)
        assert_int_equal(poll_until_error(c), TF_ERR_CLOSED);
    else
        assert_int_equal(tf_recv_header(c, &h, -1), TF_ERR_CLOSED);   /* never a hang */
    struct timespec seen;
    clock_gettime(CLOCK_MONOTONIC, &seen);
    pthread_join(t, NULL);   /* k.at is written by that thread: read it after the join */
    double ms = tt_ms_between(&k.at, &seen);
    waitpid(pid, NULL, 0);
    if (!strncmp(listen, "unix:", 5))
        unlink(listen + 5);   /* the killed server could not remove its socket file */
    fprintf(stderr, "  %s: client saw the server's death after %.1f ms (%s)\n", listen, ms,
            tf_conn_error(c));
    assert_true(ms < tt_scaled_ms(1000));   /* promptly: on the death, not a timeout */
    assert_int_equal(tf_send(c, T_ECHO, 0, 2, NULL, 0), TF_ERR_CLOSED);   /* sticky */
    tf_conn_close(c);
}

static void test_server_killed_shm(void **state) { server_killed_mid_call(unix_address("ks"), 0); }

static void test_server_killed_tcp(void **state) { server_killed_mid_call("tcp:127.0.0.1:0", 0); }

static void test_server_killed_polling_client(void **state)
{
    server_killed_mid_call(unix_address("kp"), 1);
    server_killed_mid_call("tcp:127.0.0.1:0", 1);
}

static void test_close_wakes_peer(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, unix_address("cw"), NULL, 0), TF_OK);
    struct tf_conn *c = tt_connect_or_fail(srv.address, TF_TRANSPORT_AUTO, 0);
    echo_once(c);
    /* The server closes 130 ms from now, while we sleep in the futex. Our liveness timer
     * would notice only at its next tick (200 ms after we began waiting, ~70 ms after the
     * close): being woken by the close itself is what passes. */
    uint32_t delay = 130;
    struct iovec v = {&delay, 4};
    assert_int_equal(tf_send(c, T_CLOSE, 0, 1, &v, 1), TF_OK);
    struct tf_frame_header h;
    assert_int_equal(tf_recv_header(c, &h, -1), TF_ERR_CLOSED);
    struct timespec seen;
    clock_gettime(CLOCK_MONOTONIC, &seen);
    assert_true(echo_server_wait_ended(&srv, 1, 5000));
    pthread_mutex_lock(&srv.lock);
    double gap = tt_ms_between(&srv.last_closed_at, &seen);
    pthread_mutex_unlock(&srv.lock);
    fprintf(stderr, "  the client saw the close %.2f ms after it happened\n", gap);
    assert_true(gap < 50);
    tf_conn_close(c);
    echo_server_stop(&srv);
}

static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double process_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_idle_waiter_sleeps(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, unix_address("idle"), NULL, 0), TF_OK);
    struct tf_conn *c = tt_connect_or_fail(srv.address, TF_TRANSPORT_AUTO, 0);
    for (int i = 0; i < 100; i++)   /* a busy phase first: spin budgets grow */
        echo_once(c);
    /* Idle: the client waits 1 s for a frame that never comes; the server waits for requests. */
    double t0 = thread_cpu_ms(), p0 = process_cpu_ms();
    struct tf_frame_header h;
    assert_int_equal(tf_recv_header(c, &h, 1000), TF_ERR_TIMEOUT);
    double waiter = thread_cpu_ms() - t0, all = process_cpu_ms() - p0;
    fprintf(stderr, "  idle second: waiter %.2f ms CPU, whole process %.2f ms CPU\n", waiter, all);
    assert_true(waiter < 50);
    assert_true(all < 100);
    /* A slow call: the waiter spins briefly, then sleeps until the reply wakes it. */
    uint32_t delay = 300;
    struct iovec v = {&delay, 4};
    assert_int_equal(tf_send(c, T_DELAY, 0, 1, &v, 1), TF_OK);
    t0 = thread_cpu_ms();
    assert_int_equal(tf_recv_header(c, &h, 5000), TF_OK);
    waiter = thread_cpu_ms() - t0;
    fprintf(stderr, "  300 ms call: waiter %.2f ms CPU\n", waiter);
    assert_true(waiter < 30);
    tf_conn_close(c);
    echo_server_stop(&srv);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);   /* raw sockets in these tests write to peers that hang up */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_mismatch),
        cmocka_unit_test(test_bad_token),
        cmocka_unit_test(test_malformed_frames_close_their_session),
        cmocka_unit_test(test_random_garbage_sessions),
        cmocka_unit_test(test_oversized_over_shm),
        cmocka_unit_test(test_corrupt_ring_index),
        cmocka_unit_test(test_handshake_silence_and_hangup),
        cmocka_unit_test(test_client_killed_between_calls),
        cmocka_unit_test(test_client_killed_shm),
        cmocka_unit_test(test_client_killed_tcp),
        cmocka_unit_test(test_server_killed_shm),
        cmocka_unit_test(test_server_killed_tcp),
        cmocka_unit_test(test_server_killed_polling_client),
        cmocka_unit_test(test_close_wakes_peer),
        cmocka_unit_test(test_idle_waiter_sleeps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
