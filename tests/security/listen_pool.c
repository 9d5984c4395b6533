/*
 * The pool's listener under a flood of idle connections (issue 19, item 4): `tfuse pool serve`
 * with 600 idle tcp connections from one stranger (127.0.0.2). Before this issue 530 of them
 * filled its 512 connections and its health check and the nodes' heartbeats timed out; now the
 * stranger keeps at most the per-host cap (64) open and /healthz answers from 127.0.0.1 at once.
 *
 *   listen_pool BUILD_DIR
 *
 * Owns: the pool process it starts. May call: listen_node.c, libc; runs tfuse pool serve.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "listen_node.h"

#define IDLE 600

static pid_t start_pool(const char *build, const char *work, int port)
{
    char tfuse[512], listen[64], db[300], log[300];
    snprintf(tfuse, sizeof tfuse, "%s/bin/tfuse", build);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(db, sizeof db, "%s/pool.db", work);
    snprintf(log, sizeof log, "%s/pool.log", work);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(tfuse, tfuse, "pool", "serve", "--listen", listen, "--db", db, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: listen_pool BUILD_DIR\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    tnode_raise_nofile(IDLE + 200);
    char work[] = "/tmp/tfuse-sec-pool-XXXXXX", reply[4096];
    if (!mkdtemp(work))
        return 1;
    int port = tnode_free_port();
    pid_t pool = start_pool(argv[1], work, port);
    int st = 0;
    for (int i = 0; i < tnode_scaled_n(300) && st != 200; i++) {
        st = tnode_http_to(NULL, port, NULL, "GET", "/healthz", NULL, reply, sizeof reply);
        if (st != 200)
            tnode_sleep_ms(100);
    }
    CHECK(st == 200, "the pool did not start: %d", st);
    static int fds[IDLE];
    for (int i = 0; i < IDLE; i++)
        fds[i] = tnode_idle_connect("127.0.0.2", port);
    tnode_sleep_ms(500);
    st = tnode_http_to(NULL, port, NULL, "GET", "/healthz", NULL, reply, sizeof reply);
    CHECK(st == 200, "/healthz beside %d idle connections: %d %s", IDLE, st, reply);
    int closed = 0;
    for (int i = 0; i < tnode_scaled_n(300) && closed < IDLE - 64; i++) {
        closed = tnode_count_closed(fds, IDLE);
        if (closed < IDLE - 64)
            tnode_sleep_ms(100);
    }
    CHECK(closed >= IDLE - 64, "the stranger keeps %d connections open (per-host cap 64)",
          IDLE - closed);
    for (int i = 0; i < IDLE; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    CHECK(waitpid(pool, NULL, WNOHANG) == 0, "the pool died");
    kill(pool, SIGTERM);
    for (int i = 0; i < tnode_scaled_n(100) && waitpid(pool, NULL, WNOHANG) != pool; i++)
        tnode_sleep_ms(100);
    kill(pool, SIGKILL);
    waitpid(pool, NULL, 0);
    char cmd[400];
    if (tnode_failures) {
        snprintf(cmd, sizeof cmd, "tail -n 40 '%s/pool.log' >&2", work);
        if (system(cmd) != 0)
            fprintf(stderr, "(no log)\n");
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", work);
    if (tnode_failures)
        fprintf(stderr, "%d check(s) failed\n", tnode_failures);
    return tnode_failures ? 1 : 0;
}
