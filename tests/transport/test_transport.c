/*
 * Transport: the working paths. Address parsing, frame and handshake codecs, round trips over
 * unix+shm, unix stream and TCP loopback, gather sends, 64 MiB frames streamed through a small
 * ring, polling, pipelined sends, fd passing and shared regions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "echo_server.h"
#include "transport_test_util.h"
#include "transport.h"

static char sock_path[108];

static const char *unix_address(void)
{
    static char addr[128];
    snprintf(sock_path, sizeof sock_path, "/tmp/tfuse-test-%d.sock", (int)getpid());
    snprintf(addr, sizeof addr, "unix:%s", sock_path);
    return addr;
}

/* ---- codecs ---- */

static void test_addr_parse(void **state)
{
    struct tf_addr a;
    char err[200], back[300];
    assert_int_equal(tf_addr_parse("unix:/run/tfuse.sock", &a, err, sizeof err), TF_OK);
    assert_int_equal(a.kind, TF_ADDR_UNIX);
    assert_string_equal(a.path, "/run/tfuse.sock");
    assert_int_equal(tf_addr_parse("tcp:10.0.0.7:7100", &a, err, sizeof err), TF_OK);
    assert_string_equal(a.host, "10.0.0.7");
    assert_int_equal(a.port, 7100);
    tf_addr_format(&a, back, sizeof back);
    assert_string_equal(back, "tcp:10.0.0.7:7100");
    assert_int_equal(tf_addr_parse("tcp:[::1]:80", &a, err, sizeof err), TF_OK);
    assert_string_equal(a.host, "::1");
    tf_addr_format(&a, back, sizeof back);
    assert_string_equal(back, "tcp:[::1]:80");

    const char *bad[] = {"", "unix:", "tcp:host", "tcp::80", "tcp:host:", "tcp:host:65536",
                         "tcp:host:8x", "tcp:::1:80", "http://x", "tcp:[::1]80", NULL};
    for (int i = 0; bad[i]; i++) {
        err[0] = 0;
        assert_int_equal(tf_addr_parse(bad[i], &a, err, sizeof err), TF_ERR_INVALID);
        assert_non_null(strstr(err, "bad address"));
    }
    assert_int_equal(tf_addr_parse(NULL, &a, NULL, 0), TF_ERR_INVALID);
}

static void test_frame_codec(void **state)
{
    struct tf_frame_header h = {.type = 42, .flags = 7, .id = 0x1122334455667788ull,
                                .length = 1000}, d;
    uint8_t buf[TF_FRAME_HEADER_SIZE];
    char why[160];
    tf_frame_header_encode(&h, buf);
    assert_int_equal(tf_frame_header_decode(buf, sizeof buf, 1000, &d, why, sizeof why), TF_OK);
    assert_int_equal(d.type, 42);
    assert_int_equal(d.flags, 7);
    assert_true(d.id == h.id && d.length == 1000);
    assert_int_equal(tf_frame_header_decode(buf, sizeof buf, 999, &d, why, sizeof why),
                     TF_ERR_TOO_LARGE);
    assert_non_null(strstr(why, "exceeds"));
    assert_int_equal(tf_frame_header_decode(buf, 31, 1000, &d, why, sizeof why), TF_ERR_PROTOCOL);
    buf[0] ^= 1;
    assert_int_equal(tf_frame_header_decode(buf, sizeof buf, 1000, &d, why, sizeof why),
                     TF_ERR_PROTOCOL);
    assert_non_null(strstr(why, "magic"));
    h.type = 0;
    tf_frame_header_encode(&h, buf);
    assert_int_equal(tf_frame_header_decode(buf, sizeof buf, 1000, &d, why, sizeof why),
                     TF_ERR_PROTOCOL);
}

static void test_handshake_codec(void **state)
{
    struct tf_hello h = {.version = TFUSE_PROTOCOL_VERSION, .transport = TF_TRANSPORT_SHM,
                         .pid = 77, .ring_bytes = 1 << 20, .max_frame = 4096}, d;
    strcpy(h.token, "secret-token");
    strcpy(h.hostname, "node-a");
    uint8_t buf[TF_HELLO_MAX_SIZE];
    char why[160];
    int n = tf_hello_encode(&h, buf, sizeof buf);
    assert_true(n > 40);
    assert_int_equal(tf_hello_decode(buf, (size_t)n, &d, why, sizeof why), TF_OK);
    assert_string_equal(d.token, "secret-token");
    assert_string_equal(d.hostname, "node-a");
    assert_int_equal(d.pid, 77);
    assert_int_equal(tf_hello_decode(buf, (size_t)n - 1, &d, why, sizeof why), TF_ERR_PROTOCOL);
    buf[40] = 0;   /* a NUL inside the token must not shorten it silently */
    assert_int_equal(tf_hello_decode(buf, (size_t)n, &d, why, sizeof why), TF_ERR_PROTOCOL);

    struct tf_welcome w = {.version = 1, .accepted = 0}, wd;
    strcpy(w.reason, "no such vGPU");
    uint8_t wb[TF_WELCOME_MAX_SIZE];
    n = tf_welcome_encode(&w, wb, sizeof wb);
    assert_int_equal(tf_welcome_decode(wb, (size_t)n, &wd, why, sizeof why), TF_OK);
    assert_string_equal(wd.reason, "no such vGPU");
    wb[8] = 5;   /* accept flag out of range */
    assert_int_equal(tf_welcome_decode(wb, (size_t)n, &wd, why, sizeof why), TF_ERR_PROTOCOL);
}

/* ---- round trips ---- */

static void echo_roundtrips(struct tf_conn *c, int count, size_t max_len)
{
    uint8_t *out = malloc(max_len + 1), *expect = malloc(max_len + 1);
    for (int i = 0; i < count; i++) {
        size_t len = (size_t)((i * 7919u) % (max_len + 1));
        tt_fill_pattern(expect, len, (uint32_t)i);
        struct iovec v = {expect, len};
        assert_int_equal(tf_send(c, T_ECHO, (uint32_t)i, (uint64_t)i, &v, len ? 1 : 0), TF_OK);
        struct tf_frame_header h;
        const void *payload;
        assert_int_equal(tf_recv(c, &h, &payload, 5000), TF_OK);
        assert_int_equal(h.type, T_ECHO_REPLY);
        assert_int_equal(h.id, (uint64_t)i);
        assert_int_equal(h.flags, (uint32_t)i);
        assert_int_equal(h.length, len);
        if (len)
            assert_memory_equal(payload, expect, len);
    }
    free(out);
    free(expect);
}

static void roundtrip_over(const char *listen, enum tf_transport_kind kind,
                           enum tf_transport_kind expect)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, listen, "tok", 0), TF_OK);
    struct tf_conn *c = tt_connect_or_fail(srv.address, kind, 64 << 10);
    struct tf_conn_info info;
    tf_conn_get_info(c, &info);
    assert_int_equal(info.transport, expect);
    assert_int_equal(info.session_id, 1000);
    echo_roundtrips(c, 2000, 100000);   /* many frames wrap the 64 KiB ring */
    tf_conn_close(c);
    assert_true(echo_server_wait_ended(&srv, 1, 5000));
    assert_int_equal(echo_server_last(&srv, NULL, 0), TF_ERR_CLOSED);
    assert_int_equal(srv.last_hello.pid, getpid());
    echo_server_stop(&srv);
}

static void test_roundtrip_unix_shm(void **state)
{
    roundtrip_over(unix_address(), TF_TRANSPORT_AUTO, TF_TRANSPORT_SHM);
}

static void test_roundtrip_unix_stream(void **state)
{
    roundtrip_over(unix_address(), TF_TRANSPORT_STREAM, TF_TRANSPORT_STREAM);
}

static void test_roundtrip_tcp(void **state)
{
    /* Asking for shm over tcp is answered with stream. */
    roundtrip_over("tcp:127.0.0.1:0", TF_TRANSPORT_SHM, TF_TRANSPORT_STREAM);
}

static void test_gather_send(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, unix_address(), NULL, 0), TF_OK);
    struct tf_conn *c = tt_connect_or_fail(srv.address, TF_TRANSPORT_AUTO, 0);
    char a[] = "gather", b[] = "", d[] = "-list", e[3000];
    memset(e, 'x', sizeof e);
    struct iovec v[4] = {{a, 6}, {b, 0}, {d, 5}, {e, sizeof e}};
    assert_int_equal(tf_send(c, T_ECHO, 0, 9, v, 4), TF_OK);
    struct tf_frame_header h;
    assert_int_equal(tf_recv_header(c, &h, 5000), TF_OK);
    assert_int_equal(h.length, 11 + sizeof e);
    char got[11];
    assert_int_equal(tf_recv_payload(c, got, 4), TF_OK);    /* payload read in pieces */
    assert_int_equal(tf_recv_payload(c, got + 4, 7), TF_OK);
    assert_memory_equal(got, "gather-list", 11);
    assert_int_equal(tf_recv_remaining(c), sizeof e);
    assert_int_equal(tf_recv_payload(c, got, sizeof e + 1), TF_ERR_STATE);
    /* The rest is discarded by the next receive; the stream stays in step. */
    echo_roundtrips(c, 3, 100);
    assert_int_equal(tf_send(c, TF_FRAME_TYPE_RESERVED_MIN, 0, 0, NULL, 0), TF_ERR_INVALID);
    assert_int_equal(tf_send(c, 0, 0, 0, NULL, 0), TF_ERR_INVALID);
    tf_conn_close(c);
    echo_server_stop(&srv);
}

static void large_message_over(const char *listen, enum tf_transport_kind kind, size_t len)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, listen, NULL, 0), TF_OK);
    struct tf_conn *c = tt_connect_or_fail(srv.address, kind, 1 << 20);   /* 1 MiB rings */
    uint8_t *data = malloc(len), *back = malloc(len);
    assert_non_null(data);
    assert_non_null(back);
    tt_fill_pattern(data, len, 1234);
    /* Split across two iovecs at an odd offset to exercise gather + wrap together. */
    struct iovec v[2] = {{data, 12345}, {data + 12345, len - 12345}};
    assert_int_equal(tf_send(c, T_ECHO, 0, 1, v, 2), TF_OK);
    struct tf_frame_header h;
    assert_int_equal(tf_recv_header(c, &h, 10000), TF_OK);
    assert_int_equal(h.length, len);
    assert_int_equal(tf_recv_payload(c, back, len), TF_OK);
    assert_true(memcmp(data, back, len) == 0);
    free(data);
    free(back);
    tf_conn_close(c);
    echo_server_stop(&srv);
}

static void test_large_message_shm(void **state)
{
    large_message_over(unix_address(), TF_TRANSPORT_AUTO, 64u << 20);
}

static void test_large_message_tcp(void **state)
{
    large_message_over("tcp:127.0.0.1:0", TF_TRANSPORT_STREAM, 64u << 20);
}

static void test_poll_and_pipeline(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, unix_address(), NULL, 0), TF_OK);
    struct tf_conn *c = tt_connect_or_fail(srv.address, TF_TRANSPORT_AUTO, 64 << 10);
    assert_int_equal(tf_poll(c, 0), 0);
    uint32_t ms = 100;
    struct iovec v = {&ms, 4};
    assert_int_equal(tf_send(c, T_DELAY, 0, 5, &v, 1), TF_OK);
    assert_int_equal(tf_poll(c, 0), 0);              /* not yet: the server sleeps 100 ms */
    assert_int_equal(tf_poll(c, 2000), 1);
    struct tf_frame_header h;
    const void *p;
    assert_int_equal(tf_recv(c, &h, &p, 0), TF_OK);
    assert_int_equal(h.type, T_STATUS);
    assert_int_equal(tf_recv(c, &h, &p, 20), TF_ERR_TIMEOUT);

    /* Pipelined: thousands of frames, no replies, far more bytes than the ring holds. */
    uint8_t chunk[1000];
    memset(chunk, 3, sizeof chunk);
    struct iovec cv = {chunk, sizeof chunk};
    for (int i = 0; i < 5000; i++)
        assert_int_equal(tf_send(c, T_SINK, 0, (uint64_t)i, &cv, 1), TF_OK);
    assert_int_equal(tf_send(c, T_COUNT, 0, 1, NULL, 0), TF_OK);
    assert_int_equal(tf_recv(c, &h, &p, 5000), TF_OK);
    uint64_t counts[2];
    memcpy(counts, p, sizeof counts);
    assert_int_equal(counts[0], 5000);
    assert_int_equal(counts[1], 5000 * sizeof chunk);
    tf_conn_close(c);
    echo_server_stop(&srv);
}

struct client_job {
    const char *address;
    enum tf_transport_kind kind;
    int seed;
    int failures;
};

static void *client_thread(void *p)
{
    struct client_job *job = p;
    struct tf_client_opts o = {.token = "tok", .transport = job->kind, .ring_bytes = 16 << 10};
    struct tf_conn *c;
    if (tf_connect(job->address, &o, &c, NULL, 0)) {
        job->failures++;
        return NULL;
    }
    uint8_t *buf = malloc(200000), *expect = malloc(200000);
    for (int i = 0; i < 300; i++) {
        size_t len = (size_t)(((unsigned)(job->seed * 31 + i) * 2654435761u) % 200000);
        tt_fill_pattern(expect, len, (uint32_t)(job->seed * 1000 + i));
        struct iovec v = {expect, len};
        struct tf_frame_header h;
        if (tf_send(c, T_ECHO, 0, (uint64_t)i, &v, len ? 1 : 0) ||
            tf_recv_header(c, &h, 10000) || h.id != (uint64_t)i || h.length != len ||
            tf_recv_payload(c, buf, len) || memcmp(buf, expect, len) != 0)
            job->failures++;
    }
    free(buf);
    free(expect);
    tf_conn_close(c);
    return NULL;
}

/* Several sessions at once on one server, shm and stream mixed, frames larger than the rings. */
static void test_concurrent_sessions(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, unix_address(), NULL, 0), TF_OK);
    enum { N = 4 };
    struct client_job jobs[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct client_job){srv.address, i % 2 ? TF_TRANSPORT_STREAM : TF_TRANSPORT_SHM,
                                      i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, client_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
    }
    assert_true(echo_server_wait_ended(&srv, N, 5000));
    echo_server_stop(&srv);
}

/* ---- same host extras ---- */

static void test_fd_passing(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, unix_address(), NULL, 0), TF_OK);
    struct tf_conn *c = tt_connect_or_fail(srv.address, TF_TRANSPORT_AUTO, 0);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    assert_int_equal(tf_conn_send_fd(c, 77, pipefd[1]), TF_OK);
    close(pipefd[1]);
    assert_int_equal(tf_send(c, T_TAKE_FD, 0, 77, NULL, 0), TF_OK);
    struct tf_frame_header h;
    const void *p;
    assert_int_equal(tf_recv(c, &h, &p, 5000), TF_OK);
    int32_t status;
    memcpy(&status, p, 4);
    assert_int_equal(status, TF_OK);
    char got[8] = "";
    assert_int_equal(read(pipefd[0], got, sizeof got), 5);
    assert_memory_equal(got, "fd-ok", 5);
    close(pipefd[0]);
    /* A tag never sent is reported, not waited for. */
    assert_int_equal(tf_send(c, T_TAKE_FD, 0, 78, NULL, 0), TF_OK);
    assert_int_equal(tf_recv(c, &h, &p, 5000), TF_OK);
    memcpy(&status, p, 4);
    assert_int_equal(status, TF_ERR_AGAIN);
    tf_conn_close(c);
    echo_server_stop(&srv);
}

static int32_t region_call(struct tf_conn *c, uint64_t id, uint64_t off, uint64_t len,
                           uint64_t *sum)
{
    uint64_t req[3] = {id, off, len};
    struct iovec v = {req, sizeof req};
    assert_int_equal(tf_send(c, T_REGION, 0, id, &v, 1), TF_OK);
    struct tf_frame_header h;
    const void *p;
    assert_int_equal(tf_recv(c, &h, &p, 5000), TF_OK);
    int32_t status;
    memcpy(&status, p, 4);
    memcpy(sum, (const uint8_t *)p + 8, 8);
    return status;
}

static void test_shared_regions(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, unix_address(), NULL, 0), TF_OK);
    struct tf_conn *c = tt_connect_or_fail(srv.address, TF_TRANSPORT_AUTO, 0);
    uint64_t id1, id2, sum, id, off;
    uint8_t *r1, *r2;
    assert_int_equal(tf_region_create(c, 1 << 20, &id1, (void **)&r1), TF_OK);
    assert_int_equal(tf_region_create(c, 5000, &id2, (void **)&r2), TF_OK);
    assert_true(id1 != id2);
    tt_fill_pattern(r1, 1 << 20, 9);
    uint64_t expect = 0;
    for (size_t i = 100; i < 100 + 65536; i++)
        expect += r1[i];
    assert_int_equal(region_call(c, id1, 100, 65536, &sum), 0);
    assert_int_equal(sum, expect);
    /* The worker wrote through its own mapping; we see it without any copy. */
    uint8_t orig[200];
    tt_fill_pattern(orig, 200, 9);
    assert_int_equal(r1[100], (uint8_t)~orig[100]);
    assert_int_equal(r1[99], orig[99]);

    assert_int_equal(tf_region_find(c, r1 + 5, 10, &id, &off), 1);
    assert_int_equal(id, id1);
    assert_int_equal(off, 5);
    assert_int_equal(tf_region_find(c, r1 + (1 << 20) - 1, 2, &id, &off), 0);
    assert_non_null(tf_region_ptr(c, id2, 0, 4096, NULL));

    /* Out of range and unknown ids are errors, not crashes. */
    assert_int_equal(region_call(c, id2, 8100, 200, &sum), TF_ERR_INVALID);   /* 5000 -> 8192 */
    assert_int_equal(region_call(c, id2, UINT64_MAX, 2, &sum), TF_ERR_INVALID);
    assert_int_equal(region_call(c, 999, 0, 1, &sum), TF_ERR_NOT_FOUND);
    /* Released regions are gone on both sides. */
    assert_int_equal(tf_region_release(c, id1), TF_OK);
    assert_int_equal(tf_region_release(c, id1), TF_ERR_NOT_FOUND);
    assert_int_equal(region_call(c, id1, 0, 1, &sum), TF_ERR_NOT_FOUND);
    memset(r2, 1, 5000);
    assert_int_equal(region_call(c, id2, 0, 5000, &sum), 0);
    assert_int_equal(sum, 5000);
    tf_conn_close(c);   /* frees the remaining region */
    echo_server_stop(&srv);
}

static void test_tcp_has_no_fd_passing(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, "tcp:127.0.0.1:0", NULL, 0), TF_OK);
    struct tf_conn *c = tt_connect_or_fail(srv.address, TF_TRANSPORT_AUTO, 0);
    uint64_t id;
    void *p;
    assert_int_equal(tf_region_create(c, 4096, &id, &p), TF_ERR_NOT_SUPPORTED);
    assert_int_equal(tf_conn_send_fd(c, 1, 0), TF_ERR_NOT_SUPPORTED);
    tf_conn_close(c);
    echo_server_stop(&srv);
}

static void test_listener_socket_files(void **state)
{
    const char *addr = unix_address();
    struct tf_listener *a, *b;
    char err[256] = "";
    assert_int_equal(tf_listen(addr, &a, err, sizeof err), TF_OK);
    assert_string_equal(tf_listener_address(a), addr);
    /* A live server's socket is not stolen... */
    assert_int_equal(tf_listen(addr, &b, err, sizeof err), TF_ERR_INVALID);
    assert_non_null(strstr(err, "in use"));
    tf_listener_close(a);
    assert_int_equal(access(sock_path, F_OK), -1);   /* the owner removes its socket file */
    /* ...but one left behind by a server that died is replaced. */
    pid_t pid = fork();
    if (pid == 0)
        _exit(tf_listen(addr, &a, NULL, 0) == TF_OK ? 0 : 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(status, 0);
    assert_int_equal(access(sock_path, F_OK), 0);
    assert_int_equal(tf_listen(addr, &b, err, sizeof err), TF_OK);
    assert_int_equal(tf_listener_accept(b, &(struct tf_conn *){NULL}), TF_ERR_AGAIN);
    tf_listener_close(b);
    assert_int_equal(tf_listen("unix:/nonexistent-dir/x.sock", &b, err, sizeof err), TF_ERR_SYS);
    assert_int_equal(tf_listen("tcp:no-such-host.invalid:1", &b, err, sizeof err),
                     TF_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parse),
        cmocka_unit_test(test_frame_codec),
        cmocka_unit_test(test_handshake_codec),
        cmocka_unit_test(test_roundtrip_unix_shm),
        cmocka_unit_test(test_roundtrip_unix_stream),
        cmocka_unit_test(test_roundtrip_tcp),
        cmocka_unit_test(test_gather_send),
        cmocka_unit_test(test_large_message_shm),
        cmocka_unit_test(test_large_message_tcp),
        cmocka_unit_test(test_poll_and_pipeline),
        cmocka_unit_test(test_concurrent_sessions),
        cmocka_unit_test(test_fd_passing),
        cmocka_unit_test(test_shared_regions),
        cmocka_unit_test(test_tcp_has_no_fd_passing),
        cmocka_unit_test(test_listener_socket_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
