/*
 * Transport: compressed ("packed") frames. Negotiation (asked, granted, refused by the node,
 * off on loopback unless asked, a bad TFUSE_COMPRESS), peers of before compression in both
 * roles, round trips of compressible and random payloads at every chunk boundary with lz4 and
 * zstd (whole sends and frames sent in pieces, read back in odd pieces), that compressible
 * bytes really travel smaller (TCP_INFO's bytes acked) and random ones do not grow, and that a
 * corrupt or unasked-for packed frame closes its own session with a clear reason while another
 * session of the same server goes on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo_server.h"
#include "transport.h"
#include "transport_test_util.h"

static struct tf_conn *connect_with(const char *addr, const char *compress)
{
    struct tf_client_opts o = {.token = "tok", .compress = compress};
    struct tf_conn *c = NULL;
    char err[300];
    int rc = tf_connect(addr, &o, &c, err, sizeof err);
    if (rc)
        fail_msg("connect %s (compress %s): %s", addr, compress ? compress : "-", err);
    return c;
}

static int compress_of(struct tf_conn *c)
{
    struct tf_conn_info info;
    tf_conn_get_info(c, &info);
    return info.compress;
}

/* Compressible: 16 bytes of the pattern then 48 zeros per 64; else the pattern itself. */
static void fill(uint8_t *p, size_t n, uint32_t seed, int compressible)
{
    tt_fill_pattern(p, n, seed);
    if (compressible)
        for (size_t i = 0; i < n; i++)
            if (i % 64 >= 16)
                p[i] = 0;
}

/* Echoes `n` bytes, read back in pieces of `piece` bytes, and checks them. */
static void echo_check(struct tf_conn *c, const uint8_t *src, size_t n, size_t piece)
{
    struct iovec v = {(void *)src, n};
    assert_int_equal(tf_send(c, T_ECHO, 5, 77, &v, n ? 1 : 0), TF_OK);
    struct tf_frame_header h;
    assert_int_equal(tf_recv_header(c, &h, 30000), TF_OK);
    assert_int_equal(h.type, T_ECHO_REPLY);
    assert_int_equal(h.flags, 5);
    assert_true(h.id == 77 && h.length == n);
    uint8_t *back = malloc(n + 1);
    assert_non_null(back);
    for (size_t off = 0; off < n;) {
        size_t k = n - off < piece ? n - off : piece;
        assert_int_equal(tf_recv_payload(c, back + off, k), TF_OK);
        off += k;
    }
    assert_memory_equal(back, src, n);
    free(back);
}

static void test_negotiation(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, "tcp:127.0.0.1:0", NULL, 0), 0);
    unsetenv("TFUSE_COMPRESS");
    struct tf_conn *c = connect_with(srv.address, "lz4");
    assert_int_equal(compress_of(c), TF_COMPRESS_LZ4);
    assert_int_equal(srv.last_hello.compress, TF_COMPRESS_LZ4);
    tf_conn_close(c);
    c = connect_with(srv.address, "zstd");
    assert_int_equal(compress_of(c), TF_COMPRESS_ZSTD);
    tf_conn_close(c);
    c = connect_with(srv.address, NULL);   /* auto: loopback is not compressed */
    assert_int_equal(compress_of(c), TF_COMPRESS_OFF);
    tf_conn_close(c);
    setenv("TFUSE_COMPRESS", "lz4", 1);    /* asked through the environment */
    c = connect_with(srv.address, NULL);
    assert_int_equal(compress_of(c), TF_COMPRESS_LZ4);
    tf_conn_close(c);
    unsetenv("TFUSE_COMPRESS");

    struct tf_client_opts o = {.token = "tok", .compress = "brotli"};
    char err[300] = "";
    assert_int_equal(tf_connect(srv.address, &o, &c, err, sizeof err), TF_ERR_INVALID);
    assert_non_null(strstr(err, "expected off, lz4, zstd or auto"));
    echo_server_stop(&srv);

    /* A node whose own TFUSE_COMPRESS is off grants nothing (the client asks explicitly, so
     * the variable only speaks for the server here). */
    assert_int_equal(echo_server_start(&srv, "tcp:127.0.0.1:0", NULL, 0), 0);
    setenv("TFUSE_COMPRESS", "off", 1);
    c = connect_with(srv.address, "lz4");
    assert_int_equal(compress_of(c), TF_COMPRESS_OFF);
    uint8_t *buf = malloc(1 << 20);
    fill(buf, 1 << 20, 3, 1);
    echo_check(c, buf, 1 << 20, 1 << 20);
    unsetenv("TFUSE_COMPRESS");
    tf_conn_close(c);
    free(buf);
    echo_server_stop(&srv);
}

/* ---- a node of before compression: the welcome's byte 34 is 0 whatever the hello asked ---- */

struct old_node {
    int listen_fd;
    uint16_t port;
    uint8_t asked;                 /* byte 36 of the hello it got */
    struct tf_frame_header first;  /* the first frame's header, as received */
};

static int read_all(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = read(fd, p, n);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void *old_node_main(void *arg)
{
    struct old_node *o = arg;
    int fd = accept(o->listen_fd, NULL, NULL);
    uint8_t hello[TF_HELLO_MAX_SIZE], hdr[TF_FRAME_HEADER_SIZE];
    if (fd < 0 || read_all(fd, hello, 40))
        return NULL;
    size_t rest = (size_t)(hello[32] | hello[33] << 8) + (size_t)(hello[34] | hello[35] << 8);
    if (read_all(fd, hello + 40, rest))
        return NULL;
    o->asked = hello[36];
    struct tf_welcome w = {.version = TFUSE_PROTOCOL_VERSION, .accepted = 1,
                           .transport = TF_TRANSPORT_STREAM, .session_id = 9,
                           .max_frame = 1 << 30};   /* .compress 0: what an old node writes */
    uint8_t buf[TF_WELCOME_MAX_SIZE];
    int n = tf_welcome_encode(&w, buf, sizeof buf);
    if (write(fd, buf, (size_t)n) != n || read_all(fd, hdr, sizeof hdr) == 0)
        tf_frame_header_decode(hdr, sizeof hdr, UINT64_MAX, &o->first, NULL, 0);
    close(fd);
    return NULL;
}

static void test_old_peers(void **state)
{
    /* A new client asking lz4 of an old node: granted nothing, its frames go plain. */
    struct old_node o = {.listen_fd = socket(AF_INET, SOCK_STREAM, 0)};
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(o.listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(o.listen_fd, 1), 0);
    assert_int_equal(getsockname(o.listen_fd, (struct sockaddr *)&sa, &sl), 0);
    char addr[64];
    snprintf(addr, sizeof addr, "tcp:127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    pthread_t t;
    pthread_create(&t, NULL, old_node_main, &o);
    struct tf_conn *c = connect_with(addr, "lz4");
    assert_int_equal(compress_of(c), TF_COMPRESS_OFF);
    size_t n = 256 << 10;
    uint8_t *buf = calloc(1, n);
    struct iovec v = {buf, n};
    tf_send(c, T_SINK, 0, 1, &v, 1);   /* the old node reads its header, then hangs up */
    pthread_join(t, NULL);
    assert_int_equal(o.asked, TF_COMPRESS_LZ4);
    assert_int_equal(o.first.type, T_SINK);   /* not TF_FRAME_PACKED */
    assert_true(o.first.length == n);
    tf_conn_close(c);
    close(o.listen_fd);
    free(buf);

    /* An old client (hello byte 36 = 0, as "off" writes it) on a new node: plain both ways. */
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, "tcp:127.0.0.1:0", NULL, 0), 0);
    c = connect_with(srv.address, "off");
    assert_int_equal(srv.last_hello.compress, 0);
    assert_int_equal(compress_of(c), TF_COMPRESS_OFF);
    buf = malloc(n);
    fill(buf, n, 8, 1);
    echo_check(c, buf, n, 4097);
    tf_conn_close(c);
    free(buf);
    echo_server_stop(&srv);
}

/* ---- round trips ---- */

static void roundtrips(const char *method)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, "tcp:127.0.0.1:0", NULL, 0), 0);
    struct tf_conn *c = connect_with(srv.address, method);
    assert_int_not_equal(compress_of(c), TF_COMPRESS_OFF);
    const size_t K = 1024, M = 1024 * 1024;
    const size_t sizes[] = {64 * K - 1, 64 * K, 64 * K + 1, M - 1, M, M + 1, 2 * M + 7,
                            3 * M + 5};
    uint8_t *buf = malloc(3 * M + 5);
    assert_non_null(buf);
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        for (int z = 0; z < 2; z++) {
            fill(buf, sizes[i], (uint32_t)(i * 2 + (size_t)z), z);
            echo_check(c, buf, sizes[i], i % 2 ? 4097 : sizes[i]);
        }
    /* A frame in pieces (the worker's bulk replies), odd piece sizes. */
    size_t n = 3 * M + 5;
    fill(buf, n, 99, 1);
    memset(buf + M, 0x11, M / 3);   /* one run of one byte: the best case */
    size_t cuts[] = {8, 65536, M - 3, M, n - (8 + 65536 + M - 3 + M)};
    struct iovec v = {buf, cuts[0]};
    assert_int_equal(tf_send_begin(c, T_ECHO, 0, 5, n, &v, 1), TF_OK);
    assert_int_equal(tf_send(c, T_ECHO, 0, 6, NULL, 0), TF_ERR_STATE);   /* mid-frame */
    size_t off = cuts[0];
    for (int i = 1; i < 5; i++) {
        v = (struct iovec){buf + off, cuts[i]};
        assert_int_equal(tf_send_more(c, &v, 1), TF_OK);
        off += cuts[i];
    }
    v = (struct iovec){buf, 1};
    assert_int_equal(tf_send_more(c, &v, 1), TF_ERR_INVALID);   /* beyond the frame */
    struct tf_frame_header h;
    uint8_t *back = malloc(n);
    assert_int_equal(tf_recv_header(c, &h, 30000), TF_OK);
    assert_true(h.length == n && h.id == 5);
    assert_int_equal(tf_recv_payload(c, back, n), TF_OK);
    assert_memory_equal(back, buf, n);
    free(back);
    free(buf);
    tf_conn_close(c);
    echo_server_stop(&srv);
}

static void test_roundtrip_lz4(void **state) { roundtrips("lz4"); }
static void test_roundtrip_zstd(void **state) { roundtrips("zstd"); }

/* Bytes the peer acknowledged on this TCP connection so far. */
static uint64_t acked(struct tf_conn *c)
{
    struct tcp_info ti;
    socklen_t sl = sizeof ti;
    memset(&ti, 0, sizeof ti);
    assert_int_equal(getsockopt(tf_conn_fd(c), IPPROTO_TCP, TCP_INFO, &ti, &sl), 0);
    return ti.tcpi_bytes_acked;
}

static void test_wire_bytes(void **state)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, "tcp:127.0.0.1:0", NULL, 0), 0);
    struct tf_conn *c = connect_with(srv.address, "lz4");
    size_t n = 8 << 20;
    uint8_t *buf = malloc(n);
    fill(buf, n, 1, 1);
    uint64_t a0 = acked(c);
    echo_check(c, buf, n, n);
    uint64_t z = acked(c) - a0;
    fill(buf, n, 2, 0);
    a0 = acked(c);
    echo_check(c, buf, n, n);
    uint64_t r = acked(c) - a0;
    print_message("8 MiB on the wire: compressible %llu bytes, random %llu bytes\n",
                  (unsigned long long)z, (unsigned long long)r);
    assert_true(z < n / 2);            /* 3/4 zeros: lz4 takes it well under half */
    assert_true(r >= n && r < n + n / 100);   /* random: sent raw, chunk headers only */
    free(buf);
    tf_conn_close(c);
    echo_server_stop(&srv);
}

/* ---- hostile frames ---- */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Writes a packed frame's header and one chunk header (+ stored garbage) on c's socket. */
static void write_packed(struct tf_conn *c, uint32_t raw, uint32_t stored, uint8_t method,
                         size_t garbage)
{
    uint8_t b[TF_FRAME_HEADER_SIZE + 8 + 12 + 256];
    struct tf_frame_header h = {TF_FRAME_PACKED, T_ECHO, 3, 128 << 10};
    tf_frame_header_encode(&h, b);
    memset(b + TF_FRAME_HEADER_SIZE, 0, 8 + 12);
    put32(b + TF_FRAME_HEADER_SIZE + 8, raw);
    put32(b + TF_FRAME_HEADER_SIZE + 12, stored);
    b[TF_FRAME_HEADER_SIZE + 16] = method;
    memset(b + TF_FRAME_HEADER_SIZE + 20, 0xa5, garbage);
    size_t len = TF_FRAME_HEADER_SIZE + 20 + garbage;
    assert_int_equal(write(tf_conn_fd(c), b, len), (ssize_t)len);
}

/* Session A gets `bad` bytes; its server side must end with `expect` in the reason, and
 * session B (opened before) must still echo. */
static void one_bad_frame(const char *method, uint32_t raw, uint32_t stored, uint8_t how,
                          size_t garbage, const char *expect)
{
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, "tcp:127.0.0.1:0", NULL, 0), 0);
    struct tf_conn *a = connect_with(srv.address, method), *b = connect_with(srv.address, "lz4");
    write_packed(a, raw, stored, how, garbage);
    assert_true(echo_server_wait_ended(&srv, 1, 10000));
    char why[300];
    assert_int_equal(echo_server_last(&srv, why, sizeof why), TF_ERR_PROTOCOL);
    if (!strstr(why, expect))
        fail_msg("reason \"%s\" does not say \"%s\"", why, expect);
    uint8_t buf[100 << 10];
    fill(buf, sizeof buf, 4, 1);
    echo_check(b, buf, sizeof buf, 999);   /* the other session goes on */
    tf_conn_close(a);
    tf_conn_close(b);
    echo_server_stop(&srv);
}

static void test_corrupt_frames(void **state)
{
    one_bad_frame("lz4", 65536, 200, TF_COMPRESS_LZ4, 200, "corrupt compressed frame: lz4");
    one_bad_frame("zstd", 65536, 200, TF_COMPRESS_ZSTD, 200, "corrupt compressed frame: zstd");
    /* sizes that would mean huge buffers are refused before anything is allocated */
    one_bad_frame("lz4", 0xffffffffu, 16, TF_COMPRESS_LZ4, 16, "chunk of 4294967295 bytes");
    one_bad_frame("lz4", 65536, 0xfffffff0u, TF_COMPRESS_LZ4, 16, "bytes stored for 65536");
    one_bad_frame("lz4", 65536, 200, TF_COMPRESS_ZSTD, 200, "chunk method 2");
    one_bad_frame("lz4", 65536, 100, 0, 100, "raw chunk stores 100 of 65536");
    one_bad_frame("off", 65536, 200, TF_COMPRESS_LZ4, 200, "did not negotiate compression");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiation),
        cmocka_unit_test(test_old_peers),
        cmocka_unit_test(test_roundtrip_lz4),
        cmocka_unit_test(test_roundtrip_zstd),
        cmocka_unit_test(test_wire_bytes),
        cmocka_unit_test(test_corrupt_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
