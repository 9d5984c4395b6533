/*
 * The node's session listeners against strangers (issue 19, item 4). A real node
 * (listen_node.h, --handshake-timeout 3, --max-sessions-per-vgpu 1):
 *   idle      300 idle tcp connections to the session listener fork no worker (the node's
 *             children are counted from /proc while they are held) and are all closed by the
 *             node within the handshake timeout; meanwhile a real session on the unix listener
 *             runs (prog_iso meminfo through `tfuse run`);
 *   token     a client with a token no vGPU has is refused by the node itself, before any fork
 *             ("node[PID] warn: rejected client" in the log, no worker line);
 *   per_vgpu  with one session holding a vGPU, a second on the same vGPU is refused with the
 *             cap's reason; once the first ends the second is served.
 * Before this issue each connection forked a worker at once, handshake or not.
 *
 *   listen_sessions BUILD_DIR PROG_ISO
 *
 * Owns: nothing. May call: listen_node.c, libc; runs prog_iso through tfuse run.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "listen_node.h"

#define IDLE 300

static const char *prog;

/* Runs prog_iso with args on the vGPU of token to its end; its exit status, output in out. */
static int run_to_end(const struct tnode *n, const char *token, const char *const *args,
                      char *out, size_t len)
{
    int fd;
    pid_t pid = tnode_run(n, token, prog, args, &fd);
    tnode_read_until(fd, NULL, 120, out, len);
    close(fd);
    return tnode_wait_exit(pid, 60);
}

static void idle(const struct tnode *n, const char *token)
{
    static int fds[IDLE];
    for (int i = 0; i < IDLE; i++)
        fds[i] = tnode_idle_connect("127.0.0.2", n->sess_port);
    int most = 0;
    for (int i = 0; i < 15; i++) {   /* 1.5 s of samples while they are held */
        int c = tnode_children(n->pid);
        most = c > most ? c : most;
        tnode_sleep_ms(100);
    }
    CHECK(most == 0, "%d worker(s) forked for %d idle connections", most, IDLE);
    char out[8192];
    static const char *const meminfo[] = {"meminfo", NULL};
    int rc = run_to_end(n, token, meminfo, out, sizeof out);
    CHECK(rc == 0 && strstr(out, "free "), "a session beside the idle ones: exit %d, '%s'", rc,
          out);
    int closed = 0;
    for (int i = 0; i < tnode_scaled_n(300) && closed < IDLE; i++) {   /* timeout 3 s; 30 s bound */
        closed = tnode_count_closed(fds, IDLE);
        if (closed < IDLE)
            tnode_sleep_ms(100);
    }
    CHECK(closed == IDLE, "%d of %d idle connections still open after the handshake timeout",
          IDLE - closed, IDLE);
    for (int i = 0; i < IDLE; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static void bad_token(const struct tnode *n)
{
    char out[8192], want[64];
    static const char *const meminfo[] = {"meminfo", NULL};
    int rc = run_to_end(n, "0123456789abcdef0123456789abcdef", meminfo, out, sizeof out);
    CHECK(rc != 0 && strstr(out, "unknown vGPU token"), "a stranger's token: exit %d, '%s'", rc,
          out);
    snprintf(want, sizeof want, "node[%d] warn: rejected client", (int)n->pid);
    CHECK(tnode_log_has(n, want), "the node itself did not refuse the token ('%s')", want);
}

static void per_vgpu(const struct tnode *n, const char *token)
{
    int hold_fd;
    static const char *const hold[] = {"hold", "1048576", NULL};
    pid_t holder = tnode_run(n, token, prog, hold, &hold_fd);
    char out[8192];
    tnode_read_until(hold_fd, "held pid", 120, out, sizeof out);
    CHECK(strstr(out, "held pid"), "the first session did not start: '%s'", out);
    static const char *const meminfo[] = {"meminfo", NULL};
    int rc = run_to_end(n, token, meminfo, out, sizeof out);
    CHECK(rc != 0 && strstr(out, "maximum of 1 sessions"), "a second session on the vGPU: "
          "exit %d, '%s'", rc, out);
    kill(holder, SIGTERM);
    tnode_wait_exit(holder, 30);
    close(hold_fd);
    rc = 1;
    for (int i = 0; i < 20 && rc != 0; i++) {   /* the node reaps the holder's worker first */
        rc = run_to_end(n, token, meminfo, out, sizeof out);
        if (rc != 0)
            tnode_sleep_ms(250);
    }
    CHECK(rc == 0, "after the first ended, the second: exit %d, '%s'", rc, out);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: listen_sessions BUILD_DIR PROG_ISO\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    prog = argv[2];
    tnode_raise_nofile(IDLE + 200);
    struct tnode n;
    /* --warm 0: the node's children are then only sessions' workers (tests/node tests warm
     * workers, which are started before any client by design) */
    static const char *const extra[] = {"--handshake-timeout", "3", "--max-sessions-per-vgpu",
                                        "1", "--warm", "0", NULL};
    if (tnode_start(&n, argv[1], NULL, extra) != 0) {
        tnode_stop(&n, 1);
        return 1;
    }
    char token[128];
    int st = tnode_create_vgpu(&n, "sessions", 256ll << 20, token, sizeof token);
    CHECK(st == 201 && token[0], "create the vGPU: %d", st);
    for (int i = 0; i < tnode_scaled_n(100) && tnode_children(n.pid) > 0; i++)
        tnode_sleep_ms(100);   /* the device probe's child, if still there, goes first */
    idle(&n, token);
    bad_token(&n);
    per_vgpu(&n, token);
    CHECK(waitpid(n.pid, NULL, WNOHANG) == 0, "the node died");
    tnode_stop(&n, tnode_failures > 0);
    if (tnode_failures)
        fprintf(stderr, "%d check(s) failed\n", tnode_failures);
    return tnode_failures ? 1 : 0;
}
