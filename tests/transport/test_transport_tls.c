/*
 * The transport's TLS (tls:HOST:PORT, src/transport/tls.c): echo round trips of every size up
 * to a 64 MiB frame both ways through the echo server; a node-like server that advances a
 * connection with tf_server_hello_ready, reads the hello, forks a child that keeps the TLS
 * session while the parent abandons it (no close_notify: the session goes on); the refusals
 * (a CA that did not sign the server's certificate, a plaintext client on a TLS listener, a TLS
 * client on a plain one, a tls: listener without a certificate); the address form. Certificates
 * are made with openssl in a temporary folder; without openssl the tests are skipped.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "echo_server.h"
#include "transport.h"
#include "transport_test_util.h"

static char dir[] = "/tmp/tfuse-tls-test-XXXXXX";
static char *cert, *key;
static int have_certs;

static char *slurp(const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    char *buf = f ? calloc(1, 65536) : NULL;
    if (buf && fread(buf, 1, 65535, f) == 0) {
        free(buf);
        buf = NULL;
    }
    if (f)
        fclose(f);
    return buf;
}

static int make_certs(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd %s && for ca in ca other; do openssl req -x509 -newkey ec -pkeyopt "
             "ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=$ca -keyout $ca.key -out $ca.pem "
             "|| exit 1; done && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-subj /CN=srv -keyout srv.key -out srv.csr && printf 'subjectAltName=IP:127.0.0.1"
             "\\n' >srv.ext && openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key "
             "-CAcreateserial -days 2 -extfile srv.ext -out srv.pem) >/dev/null 2>&1", dir);
    memmove(cmd + 1, cmd, strlen(cmd) + 1);
    cmd[0] = '(';
    have_certs = system(cmd) == 0 && (cert = slurp("srv.pem")) && (key = slurp("srv.key"));
    if (!have_certs)
        fprintf(stderr, "no openssl or no certificates: the TLS tests are skipped\n");
    return 0;
}

static int remove_certs(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    free(cert);
    free(key);
    return 0;
}

#define NEED_CERTS()                                                                            \
    do {                                                                                        \
        if (!have_certs)                                                                        \
            skip();                                                                             \
    } while (0)

static const char *ca_path(const char *name)
{
    static char path[300];
    snprintf(path, sizeof path, "%s/%s.pem", dir, name);
    return path;
}

static int tls_connect(const char *addr, const char *ca, struct tf_conn **c, char *err,
                       size_t errlen)
{
    struct tf_client_opts o = {.token = "tok", .ca_file = ca ? ca_path(ca) : NULL,
                               .timeout_ms = 20000};
    return tf_connect(addr, &o, c, err, errlen);
}

static void echo_check(struct tf_conn *c, uint8_t *out, uint8_t *back, size_t len, uint64_t id)
{
    tt_fill_pattern(out, len, (uint32_t)id);
    struct iovec v = {out, len};
    assert_int_equal(tf_send(c, T_ECHO, 0, id, &v, len ? 1 : 0), TF_OK);
    struct tf_frame_header h;
    assert_int_equal(tf_recv_header(c, &h, 30000), TF_OK);
    assert_int_equal(h.type, T_ECHO_REPLY);
    assert_int_equal(h.id, id);
    assert_int_equal(h.length, len);
    assert_int_equal(tf_recv_payload(c, back, len), TF_OK);
    assert_true(memcmp(out, back, len) == 0);
}

static void start_tls_echo(struct echo_server *srv)
{
    assert_int_equal(echo_server_start(srv, "tcp:127.0.0.1:0", "tok", 0), TF_OK);
    char err[300];
    assert_int_equal(tf_listener_set_tls(srv->listener, cert, key, err, sizeof err), TF_OK);
    memcpy(srv->address, "tls:", 4);
    assert_string_equal(tf_listener_address(srv->listener), srv->address);
}

static void test_tls_echo_sizes(void **state)
{
    (void)state;
    NEED_CERTS();
    struct echo_server srv;
    start_tls_echo(&srv);
    struct tf_conn *c;
    char err[400];
    assert_int_equal(tls_connect(srv.address, "ca", &c, err, sizeof err), TF_OK);
    struct tf_conn_info info;
    tf_conn_get_info(c, &info);
    assert_int_equal(info.tls, 1);
    assert_int_equal(info.transport, TF_TRANSPORT_STREAM);
    size_t big = 64u << 20;
    uint8_t *out = malloc(big), *back = malloc(big);
    assert_non_null(out);
    assert_non_null(back);
    for (uint64_t i = 0; i < 300; i++)   /* around one record (16 KiB) and the 64 KiB buffer */
        echo_check(c, out, back, (size_t)((i * 7919u) % (200u << 10)), i);
    echo_check(c, out, back, big, 1000);
    tf_conn_close(c);
    free(out);
    free(back);
    echo_server_stop(&srv);
}

static void test_tls_wrong_ca(void **state)
{
    (void)state;
    NEED_CERTS();
    struct echo_server srv;
    start_tls_echo(&srv);
    struct tf_conn *c = NULL;
    char err[400] = "";
    assert_int_equal(tls_connect(srv.address, "other", &c, err, sizeof err), TF_ERR_PROTOCOL);
    assert_null(c);
    assert_non_null(strstr(err, "is not trusted"));
    assert_non_null(strstr(err, "TFUSE_CA_FILE"));
    assert_int_equal(tls_connect(srv.address, "nothere", &c, err, sizeof err), TF_ERR_INVALID);
    assert_non_null(strstr(err, "nothere.pem"));
    assert_true(echo_server_wait_ended(&srv, 1, 10000));   /* the server's handshake failed */
    echo_server_stop(&srv);
}

static void test_plain_client_on_tls_listener(void **state)
{
    (void)state;
    NEED_CERTS();
    struct echo_server srv;
    start_tls_echo(&srv);
    char plain[300], err[400] = "";
    assert_true(snprintf(plain, sizeof plain, "tcp:%s", srv.address + 4) < (int)sizeof plain);
    struct tf_conn *c = NULL;
    struct tf_client_opts o = {.token = "tok", .timeout_ms = 20000};
    assert_int_equal(tf_connect(plain, &o, &c, err, sizeof err), TF_ERR_REJECTED);
    assert_non_null(strstr(err, "speaks TLS: connect with tls:"));
    echo_server_stop(&srv);
}

static void test_tls_client_on_plain_listener(void **state)
{
    (void)state;
    NEED_CERTS();
    struct echo_server srv;
    assert_int_equal(echo_server_start(&srv, "tcp:127.0.0.1:0", "tok", 0), TF_OK);
    char tls[300], err[400] = "";
    assert_true(snprintf(tls, sizeof tls, "tls:%s", srv.address + 4) < (int)sizeof tls);
    struct tf_conn *c = NULL;
    assert_int_equal(tls_connect(tls, "ca", &c, err, sizeof err), TF_ERR_PROTOCOL);
    assert_non_null(strstr(err, "answered in plain text"));
    echo_server_stop(&srv);
}

/* The node's way: the hello read through tf_server_hello_ready without blocking, then a fork;
 * the child serves the session, the parent abandons its copy. Returns the child's pid. */
static pid_t serve_forked(struct tf_listener *l)
{
    struct tf_conn *s = NULL;
    for (int i = 0; i < 20000 && tf_listener_accept(l, &s) != TF_OK; i++)
        usleep(1000);
    assert_non_null(s);
    short events;
    uint64_t progress;
    int rc;
    while ((rc = tf_server_hello_ready(s, &events, &progress)) == 0) {
        struct pollfd p = {tf_conn_fd(s), events, 0};
        assert_true(poll(&p, 1, 20000) > 0);
    }
    assert_int_equal(rc, 1);
    struct tf_hello hello;
    assert_int_equal(tf_server_handshake(s, NULL, &hello), TF_OK);   /* no wait: it is there */
    assert_string_equal(hello.token, "tok");
    pid_t pid = fork();
    if (pid == 0) {
        int ok = tf_server_accept(s, 77) == TF_OK;
        struct tf_frame_header h;
        const void *payload;
        for (int i = 0; ok && i < 3; i++) {
            ok = tf_recv(s, &h, &payload, 20000) == TF_OK;
            struct iovec v = {(void *)payload, h.length};
            ok = ok && tf_send(s, T_ECHO_REPLY, 0, h.id, &v, h.length ? 1 : 0) == TF_OK;
        }
        tf_conn_close(s);
        _exit(ok ? 0 : 1);
    }
    tf_conn_abandon(s);
    return pid;
}

static void *connect_thread(void *p)
{
    char **args = p, err[400];
    struct tf_conn *c = NULL;
    if (tls_connect(args[0], "ca", &c, err, sizeof err) != TF_OK)
        fprintf(stderr, "connect: %s\n", err);
    return c;
}

static void test_tls_session_survives_fork(void **state)
{
    (void)state;
    NEED_CERTS();
    struct tf_listener *l;
    char err[400];
    assert_int_equal(tf_listen("tcp:127.0.0.1:0", &l, err, sizeof err), TF_OK);
    assert_int_equal(tf_listener_set_tls(l, cert, key, err, sizeof err), TF_OK);
    char addr[300];
    snprintf(addr, sizeof addr, "%s", tf_listener_address(l));
    char *args[] = {addr};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, connect_thread, args), 0);
    pid_t pid = serve_forked(l);
    void *cp;
    pthread_join(t, &cp);
    struct tf_conn *c = cp;
    assert_non_null(c);
    struct tf_conn_info info;
    tf_conn_get_info(c, &info);
    assert_int_equal(info.session_id, 77);
    uint8_t out[40000], back[40000];
    for (uint64_t i = 0; i < 3; i++)   /* after the parent's abandon: the session goes on */
        echo_check(c, out, back, (size_t)(i * 17000), i);
    struct tf_frame_header h;
    assert_int_equal(tf_recv_header(c, &h, 20000), TF_ERR_CLOSED);   /* the child closed */
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tf_conn_close(c);
    tf_listener_close(l);
}

static void test_tls_address_and_listener(void **state)
{
    (void)state;
    struct tf_addr a;
    char err[300], back[300];
    assert_int_equal(tf_addr_parse("tls:node1:7070", &a, err, sizeof err), TF_OK);
    assert_int_equal(a.kind, TF_ADDR_TCP);
    assert_int_equal(a.tls, 1);
    tf_addr_format(&a, back, sizeof back);
    assert_string_equal(back, "tls:node1:7070");
    assert_int_equal(tf_addr_parse("tls:[::1]:1", &a, err, sizeof err), TF_OK);
    tf_addr_format(&a, back, sizeof back);
    assert_string_equal(back, "tls:[::1]:1");
    assert_int_equal(tf_addr_parse("tls:host", &a, err, sizeof err), TF_ERR_INVALID);
    /* A tls: listener without a certificate lets nothing in; a unix one takes none. */
    struct tf_listener *l;
    assert_int_equal(tf_listen("tls:127.0.0.1:0", &l, err, sizeof err), TF_OK);
    assert_memory_equal(tf_listener_address(l), "tls:", 4);
    struct tf_conn *c = NULL;
    struct tf_client_opts o = {.token = "tok", .timeout_ms = 3000};
    char plain[300];
    snprintf(plain, sizeof plain, "tcp:%s", tf_listener_address(l) + 4);
    struct tf_conn *s = NULL;
    pid_t pid = fork();
    if (pid == 0) {   /* a client that waits for an answer that never comes */
        int rc = tf_connect(plain, &o, &c, err, sizeof err);
        _exit(rc == TF_OK ? 1 : 0);
    }
    int accepted = 0;
    for (int i = 0; i < 2000 && !accepted; i++) {
        accepted = tf_listener_accept(l, &s) == TF_OK;
        usleep(1000);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_false(accepted);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tf_listener_close(l);
    assert_int_equal(tf_listen("unix:/tmp/tfuse-tls-test.sock", &l, err, sizeof err), TF_OK);
    if (have_certs)
        assert_int_equal(tf_listener_set_tls(l, cert, key, err, sizeof err), TF_ERR_INVALID);
    tf_listener_close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_address_and_listener),
        cmocka_unit_test(test_tls_echo_sizes),
        cmocka_unit_test(test_tls_wrong_ca),
        cmocka_unit_test(test_plain_client_on_tls_listener),
        cmocka_unit_test(test_tls_client_on_plain_listener),
        cmocka_unit_test(test_tls_session_survives_fork),
    };
    return cmocka_run_group_tests(tests, make_certs, remove_certs);
}
