/*
 * Transport: a server connection handed to another process (handoff.c), as the node hands a
 * client to a warm worker. The server reads the hello (tf_server_handshake), sends the
 * connection and some bytes of its own over a SOCK_SEQPACKET pair to a forked child, and
 * abandons its copy; the child accepts and echoes, and the client, which only waited for its
 * welcome, runs its frames as with any server: over the shared-memory rings, a unix stream and
 * TCP. Refusals: a connection before its hello or after its welcome, extra bytes over the
 * bound; the receiver's answers to a closed pair, a timeout, a message without descriptors or
 * with a wrong header, and extra bytes longer than its buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "echo_server.h"
#include "transport.h"
#include "transport_test_util.h"

#define EXTRA "warm-worker-bytes"
#define SESSION_ID 4242

struct client {
    char address[300];
    enum tf_transport_kind kind;
    int frames_ok;
    uint64_t session_id;
};

/* The client: connects (waiting for the welcome the child sends), then echoes frames. */
static void *client_main(void *p)
{
    struct client *cl = p;
    struct tf_client_opts o = {.transport = cl->kind, .token = "tok", .ring_bytes = 64 << 10};
    struct tf_conn *c = NULL;
    char err[300];
    if (tf_connect(cl->address, &o, &c, err, sizeof err) != TF_OK) {
        fprintf(stderr, "connect: %s\n", err);
        return NULL;
    }
    struct tf_conn_info info;
    tf_conn_get_info(c, &info);
    cl->session_id = info.session_id;
    uint8_t buf[70000], *back;
    for (int i = 0; i < 300; i++) {
        size_t len = (size_t)((i * 7919u) % sizeof buf);
        tt_fill_pattern(buf, len, (uint32_t)i);
        struct iovec v = {buf, len};
        struct tf_frame_header h;
        const void *payload;
        if (tf_send(c, T_ECHO, 0, (uint64_t)i, &v, len ? 1 : 0) != TF_OK ||
            tf_recv(c, &h, &payload, 5000) != TF_OK || h.id != (uint64_t)i || h.length != len)
            break;
        back = (uint8_t *)payload;
        if (len && memcmp(back, buf, len) != 0)
            break;
        cl->frames_ok++;
    }
    tf_conn_close(c);
    return NULL;
}

/* The child: takes the connection, checks the extra bytes, accepts, echoes until closed. */
static int child_serve(int sock)
{
    struct tf_conn *c = NULL;
    char extra[64] = {0};
    size_t n = 0;
    if (tf_conn_handoff_recv(sock, 10000, &c, extra, sizeof extra, &n) != TF_OK ||
        n != strlen(EXTRA) || memcmp(extra, EXTRA, n) != 0)
        return 3;
    if (tf_server_accept(c, SESSION_ID) != TF_OK)
        return 4;
    for (;;) {
        struct tf_frame_header h;
        const void *payload;
        int rc = tf_recv(c, &h, &payload, 10000);
        if (rc == TF_ERR_CLOSED)
            break;
        struct iovec v = {(void *)payload, h.length};
        if (rc != TF_OK || tf_send(c, T_ECHO_REPLY, h.flags, h.id, &v, h.length ? 1 : 0) != TF_OK)
            return 5;
    }
    tf_conn_close(c);
    return 0;
}

/* A listener's next connection, its hello read. */
static struct tf_conn *accept_hello(struct tf_listener *l, struct tf_hello *hello)
{
    struct tf_conn *c = NULL;
    struct pollfd p = {tf_listener_fd(l), POLLIN, 0};
    for (int i = 0; i < 100 && tf_listener_accept(l, &c) != TF_OK; i++)
        poll(&p, 1, 100);
    assert_non_null(c);
    assert_int_equal(tf_server_handshake(c, NULL, hello), TF_OK);
    return c;
}

static void handoff_over(const char *listen, enum tf_transport_kind kind,
                         enum tf_transport_kind expect)
{
    struct tf_listener *l = NULL;
    char err[300];
    assert_int_equal(tf_listen(listen, &l, err, sizeof err), TF_OK);
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(sp[0]);
        close(tf_listener_fd(l));
        _exit(child_serve(sp[1]));
    }
    close(sp[1]);
    struct client cl = {.kind = kind};
    snprintf(cl.address, sizeof cl.address, "%s", tf_listener_address(l));
    pthread_t t;
    pthread_create(&t, NULL, client_main, &cl);
    struct tf_hello hello;
    struct tf_conn *c = accept_hello(l, &hello);
    assert_int_equal(hello.pid, getpid());
    struct tf_conn_info info;
    tf_conn_get_info(c, &info);
    assert_int_equal(info.transport, expect);
    assert_int_equal(tf_conn_handoff_send(c, sp[0], EXTRA, strlen(EXTRA)), TF_OK);
    tf_conn_abandon(c);   /* the child has it now */
    close(sp[0]);
    pthread_join(t, NULL);
    assert_int_equal(cl.session_id, SESSION_ID);
    assert_int_equal(cl.frames_ok, 300);
    int status = -1;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    tf_listener_close(l);
}

static const char *unix_address(void)
{
    static char addr[128];
    snprintf(addr, sizeof addr, "unix:/tmp/tfuse-handoff-%d.sock", (int)getpid());
    return addr;
}

static void test_handoff_shm(void **state)
{
    handoff_over(unix_address(), TF_TRANSPORT_AUTO, TF_TRANSPORT_SHM);
}

static void test_handoff_unix_stream(void **state)
{
    handoff_over(unix_address(), TF_TRANSPORT_STREAM, TF_TRANSPORT_STREAM);
}

static void test_handoff_tcp(void **state)
{
    handoff_over("tcp:127.0.0.1:0", TF_TRANSPORT_AUTO, TF_TRANSPORT_STREAM);
}

/* What cannot move: a connection without its hello yet, and one already welcomed. */
static void test_handoff_refusals(void **state)
{
    struct tf_listener *l = NULL;
    char err[300];
    assert_int_equal(tf_listen(unix_address(), &l, err, sizeof err), TF_OK);
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
    struct client cl = {.kind = TF_TRANSPORT_AUTO};
    snprintf(cl.address, sizeof cl.address, "%s", tf_listener_address(l));
    pthread_t t;
    pthread_create(&t, NULL, client_main, &cl);
    struct tf_conn *c = NULL;
    struct pollfd p = {tf_listener_fd(l), POLLIN, 0};
    for (int i = 0; i < 100 && tf_listener_accept(l, &c) != TF_OK; i++)
        poll(&p, 1, 100);
    assert_non_null(c);
    assert_int_equal(tf_conn_handoff_send(c, sp[0], NULL, 0), TF_ERR_INVALID);   /* no hello */
    struct tf_hello hello;
    assert_int_equal(tf_server_handshake(c, NULL, &hello), TF_OK);
    assert_int_equal(tf_conn_handoff_send(c, sp[0], EXTRA, TF_HANDOFF_EXTRA_MAX + 1),
                     TF_ERR_INVALID);
    /* extra bytes longer than the receiver's buffer: refused there, its copies closed */
    assert_int_equal(tf_conn_handoff_send(c, sp[0], EXTRA, strlen(EXTRA)), TF_OK);
    struct tf_conn *cut = NULL;
    char small[8];
    size_t got_len = 0;
    assert_int_equal(tf_conn_handoff_recv(sp[1], 1000, &cut, small, sizeof small, &got_len),
                     TF_ERR_PROTOCOL);
    assert_null(cut);
    assert_int_equal(tf_server_accept(c, 1), TF_OK);
    assert_int_equal(tf_conn_handoff_send(c, sp[0], NULL, 0), TF_ERR_INVALID);   /* welcomed */
    tf_conn_close(c);
    pthread_join(t, NULL);
    /* nothing was sent: the receiver finds no message */
    struct tf_conn *got = NULL;
    char extra[8];
    size_t n = 0;
    assert_int_equal(tf_conn_handoff_recv(sp[1], 0, &got, extra, sizeof extra, &n),
                     TF_ERR_TIMEOUT);
    close(sp[0]);
    close(sp[1]);
    tf_listener_close(l);
}

/* The receiver: a closed pair, a message without descriptors, a wrong header, descriptors that
 * do not match the header; every fd that came is closed, nothing is built. */
static void test_handoff_malformed(void **state)
{
    int sp[2];
    struct tf_conn *got = NULL;
    char extra[8];
    size_t n = 0;
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
    char junk[400] = "not a handoff";
    assert_int_equal(send(sp[0], junk, sizeof junk, 0), (ssize_t)sizeof junk);
    assert_int_equal(tf_conn_handoff_recv(sp[1], 1000, &got, extra, sizeof extra, &n),
                     TF_ERR_PROTOCOL);
    assert_null(got);
    /* the same junk with a descriptor: refused, and the descriptor closed */
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = {junk, sizeof junk};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &pipefd[1], sizeof(int));
    assert_int_equal(sendmsg(sp[0], &m, 0), (ssize_t)sizeof junk);
    close(pipefd[1]);
    assert_int_equal(tf_conn_handoff_recv(sp[1], 1000, &got, extra, sizeof extra, &n),
                     TF_ERR_PROTOCOL);
    char b;
    assert_int_equal(read(pipefd[0], &b, 1), 0);   /* every write end is closed: the receiver's too */
    close(pipefd[0]);
    close(sp[0]);
    assert_int_equal(tf_conn_handoff_recv(sp[1], 1000, &got, extra, sizeof extra, &n),
                     TF_ERR_CLOSED);
    close(sp[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handoff_shm),
        cmocka_unit_test(test_handoff_unix_stream),
        cmocka_unit_test(test_handoff_tcp),
        cmocka_unit_test(test_handoff_refusals),
        cmocka_unit_test(test_handoff_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
