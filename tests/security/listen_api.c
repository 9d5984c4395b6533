/*
 * The node's API listeners under a flood of idle connections (issue 19, item 4). A real node
 * (listen_node.h) with a unix and a tcp API:
 *   one_host    1,200 idle tcp connections from one stranger (127.0.0.2): /healthz answers on the
 *               unix socket and on tcp (from 127.0.0.1), a vGPU can be created and deleted over
 *               tcp, and the stranger keeps no more than the per-host cap (64) open;
 *   many_hosts  1,200 idle connections from 20 addresses (60 each, under the per-host cap): the
 *               unix socket, a listener of its own, still answers and creates a vGPU; tcp holds
 *               at most its total (1000); when the flood ends tcp answers again;
 *   big_body    a declared 10 MB body is refused with 413 before it is sent.
 * Before this issue the API polled with select(2): past fd 1024 it failed on every listener.
 *
 *   listen_api BUILD_DIR
 *
 * Owns: nothing. May call: listen_node.c, libc.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "listen_node.h"

#define FLOOD 1200


static int fds[FLOOD];

static void close_flood(void)
{
    for (int i = 0; i < FLOOD; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
}

/* Waits (bounded) until at least `want` of the flood's connections were closed by the node. */
static int wait_closed(int want)
{
    int closed = 0;
    for (int i = 0; i < tnode_scaled_n(300); i++) {
        if ((closed = tnode_count_closed(fds, FLOOD)) >= want)
            break;
        tnode_sleep_ms(100);
    }
    return closed;
}

static void create_and_delete(const struct tnode *n, int tcp, const char *id)
{
    char body[200], reply[4096], path[200];
    snprintf(body, sizeof body, "{\"vram_bytes\": 16777216, \"id\": \"%s\"}", id);
    int st = tnode_http(n, tcp, "POST", "/api/v1/vgpus", body, reply, sizeof reply);
    CHECK(st == 201, "create %s over %s under the flood: %d %s", id, tcp ? "tcp" : "unix", st,
          reply);
    snprintf(path, sizeof path, "/api/v1/vgpus/%s", id);
    st = tnode_http(n, tcp, "DELETE", path, NULL, reply, sizeof reply);
    CHECK(st == 204, "delete %s: %d %s", id, st, reply);
}

static void one_host(const struct tnode *n)
{
    for (int i = 0; i < FLOOD; i++)
        fds[i] = tnode_idle_connect("127.0.0.2", n->api_port);
    tnode_sleep_ms(500);
    char reply[4096];
    int st = tnode_http(n, 0, "GET", "/healthz", NULL, reply, sizeof reply);
    CHECK(st == 200, "unix /healthz under a one-host flood: %d %s", st, reply);
    st = tnode_http(n, 1, "GET", "/healthz", NULL, reply, sizeof reply);
    CHECK(st == 200, "tcp /healthz under a one-host flood: %d %s", st, reply);
    create_and_delete(n, 1, "flood-tcp");
    create_and_delete(n, 0, "flood-unix");
    int closed = wait_closed(FLOOD - 64);
    CHECK(closed >= FLOOD - 64, "the stranger keeps %d connections open (per-host cap 64)",
          FLOOD - closed);
    close_flood();
}

static void many_hosts(const struct tnode *n)
{
    for (int i = 0; i < FLOOD; i++) {
        char src[32];
        snprintf(src, sizeof src, "127.0.1.%d", 1 + i / 60);
        fds[i] = tnode_idle_connect(src, n->api_port);
    }
    tnode_sleep_ms(500);
    char reply[4096];
    int st = tnode_http(n, 0, "GET", "/healthz", NULL, reply, sizeof reply);
    CHECK(st == 200, "unix /healthz with tcp at its cap: %d %s", st, reply);
    create_and_delete(n, 0, "many-unix");
    int closed = wait_closed(FLOOD - 1000);
    CHECK(closed >= FLOOD - 1000, "tcp holds %d connections (total cap 1000)", FLOOD - closed);
    close_flood();
    st = 0;
    for (int i = 0; i < tnode_scaled_n(100) && st != 200; i++) {
        st = tnode_http(n, 1, "GET", "/healthz", NULL, reply, sizeof reply);
        if (st != 200)
            tnode_sleep_ms(100);
    }
    CHECK(st == 200, "tcp /healthz after the flood: %d", st);
}

static void big_body(const struct tnode *n)
{
    /* tnode_http would send the body; here only the headers go, declaring 10 MB */
    int fd = tnode_idle_connect("127.0.0.1", n->api_port);
    CHECK(fd >= 0, "connect");
    if (fd < 0)
        return;
    tnode_sleep_ms(100);
    char req[400], reply[4096];
    int len = snprintf(req, sizeof req,
                       "POST /api/v1/vgpus HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                       "Content-Type: application/json\r\nContent-Length: 10485760\r\n\r\n",
                       TNODE_TOKEN);
    CHECK(write(fd, req, (size_t)len) == len, "write");
    tnode_read_until(fd, "\r\n\r\n", 15, reply, sizeof reply);
    CHECK(strncmp(reply, "HTTP/1.1 413", 12) == 0, "a declared 10 MB body: '%.60s'", reply);
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: listen_api BUILD_DIR\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    long nofile = tnode_raise_nofile(FLOOD + 200);
    if (nofile < FLOOD + 100) {
        fprintf(stderr, "SKIP: the open-files hard limit (%ld) is below %d\n", nofile, FLOOD + 100);
        return 77;
    }
    for (int i = 0; i < FLOOD; i++)
        fds[i] = -1;
    struct tnode n;
    if (tnode_start(&n, argv[1], NULL, NULL) != 0) {
        tnode_stop(&n, 1);
        return 1;
    }
    one_host(&n);
    many_hosts(&n);
    big_body(&n);
    CHECK(waitpid(n.pid, NULL, WNOHANG) == 0, "the node died");
    tnode_stop(&n, tnode_failures > 0);
    if (tnode_failures)
        fprintf(stderr, "%d check(s) failed\n", tnode_failures);
    return tnode_failures ? 1 : 0;
}
