/* The forwarding tests' process helpers (see harness.h). */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/test_timeouts.h"

#define TFUSE_BIN TFUSE_BUILD_DIR "/bin/tfuse"

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads one line from fd (blocking with a deadline). Returns its length or -1. */
static int read_line(int fd, char *buf, size_t len, double deadline)
{
    size_t n = 0;
    while (n + 1 < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ms = (int)((deadline - now_seconds()) * 1000);
        if (ms <= 0 || poll(&p, 1, ms) <= 0)
            return -1;
        char c;
        if (read(fd, &c, 1) != 1)
            return -1;
        if (c == '\n')
            break;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return (int)n;
}

int node_start(struct node_proc *n, const char *token)
{
    return node_start_tls(n, token, NULL, NULL);
}

int node_start_tls(struct node_proc *n, const char *token, const char *cert, const char *key)
{
    memset(n, 0, sizeof *n);
    snprintf(n->dir, sizeof n->dir, "/tmp/tfuse-fwd-XXXXXX");
    if (!mkdtemp(n->dir))
        return -1;
    snprintf(n->unix_addr, sizeof n->unix_addr, "unix:%s/node.sock", n->dir);
    char state[300];
    snprintf(state, sizeof state, "%s/state", n->dir);
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    n->pid = fork();
    if (n->pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        const char *argv[20] = {TFUSE_BIN, "node", "--backend", "soft", "--listen", n->unix_addr,
                                "--listen", "tcp:127.0.0.1:0", "--state", state};
        int k = 10;
        if (token) {
            argv[k++] = "--token";
            argv[k++] = token;
        }
        if (cert && key) {
            argv[k++] = "--tls-cert";
            argv[k++] = cert;
            argv[k++] = "--tls-key";
            argv[k++] = key;
        }
        argv[k] = NULL;
        execv(TFUSE_BIN, (char **)argv);
        _exit(127);
    }
    close(pfd[1]);
    double deadline = now_seconds() + tt_scaled_s(20);
    char line[512];
    int got = 0;
    while (got < 2 && read_line(pfd[0], line, sizeof line, deadline) >= 0) {
        const char *tag = "listening on ";
        char *at = strstr(line, tag);
        if (at && (strncmp(at + strlen(tag), "tcp:", 4) == 0 ||
                   strncmp(at + strlen(tag), "tls:", 4) == 0)) {
            snprintf(n->tcp_addr, sizeof n->tcp_addr, "%s", at + strlen(tag));
            got++;
        } else if (at) {
            got++;
        }
    }
    close(pfd[0]);   /* the node's later stdout lines go nowhere (it only prints at start) */
    return got == 2 ? 0 : -1;
}

void node_stop(struct node_proc *n)
{
    if (n->pid > 0) {
        kill(n->pid, SIGTERM);
        waitpid(n->pid, NULL, 0);
        n->pid = 0;
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", n->dir);
    if (n->dir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", n->dir);
}

int node_workers(const struct node_proc *n)
{
    DIR *d = opendir("/proc");
    int count = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *close_paren = strrchr(buf, ')');
        char state;
        int ppid;
        if (close_paren && sscanf(close_paren + 2, "%c %d", &state, &ppid) == 2 &&
            ppid == n->pid && state != 'Z')
            count++;
    }
    if (d)
        closedir(d);
    return count;
}

static void exec_run(const char *addr, const char *token, char *const argv[])
{
    const char *args[64] = {TFUSE_BIN, "run", "--connect", addr};
    int k = 4;
    if (token) {
        args[k++] = "--token";
        args[k++] = token;
    }
    args[k++] = "--";
    for (int i = 0; argv[i] && k < 63; i++)
        args[k++] = argv[i];
    args[k] = NULL;
    execv(TFUSE_BIN, (char **)args);
    _exit(127);
}

pid_t spawn_program(const char *addr, const char *token, char *const argv[], int *out_fd)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        exec_run(addr, token, argv);
    }
    close(pfd[1]);
    *out_fd = pfd[0];
    return pid;
}

int wait_for_output(int fd, const char *want, double timeout_s)
{
    double deadline = now_seconds() + tt_scaled_s(timeout_s);
    char line[1024];
    while (read_line(fd, line, sizeof line, deadline) >= 0)
        if (strstr(line, want))
            return 1;
    return 0;
}

/* Drains both pipes into res until the child exits or the deadline passes. */
int run_program(const char *addr, const char *token, char *const argv[], double timeout_s,
                struct run_result *res)
{
    memset(res, 0, sizeof *res);
    timeout_s = tt_scaled_s(timeout_s);
    int po[2], pe[2];
    if (pipe(po) != 0 || pipe(pe) != 0)
        return -1;
    double start = now_seconds();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        close(po[1]);
        close(pe[1]);
        exec_run(addr, token, argv);
    }
    close(po[1]);
    close(pe[1]);
    size_t no = 0, ne = 0;
    int open_fds = 2;
    while (open_fds > 0) {
        struct pollfd p[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
        int ms = (int)((start + timeout_s - now_seconds()) * 1000);
        if (ms <= 0 || poll(p, 2, ms) <= 0)
            break;
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP)) || p[i].fd < 0)
                continue;
            char *buf = i == 0 ? res->out : res->err;
            size_t *n = i == 0 ? &no : &ne;
            ssize_t k = read(p[i].fd, buf + *n, sizeof res->out - 1 - *n);
            if (k <= 0) {
                close(i == 0 ? po[0] : pe[0]);
                if (i == 0)
                    po[0] = -1;
                else
                    pe[0] = -1;
                open_fds--;
            } else {
                *n += (size_t)k;
            }
        }
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == 0) {
        double deadline = start + timeout_s;
        while (now_seconds() < deadline && waitpid(pid, &status, WNOHANG) == 0)
            usleep(10000);
        if (now_seconds() >= deadline && kill(pid, 0) == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            res->status = -1;
            goto out;
        }
    }
    res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
out:
    if (po[0] >= 0)
        close(po[0]);
    if (pe[0] >= 0)
        close(pe[0]);
    res->out[no] = '\0';
    res->err[ne] = '\0';
    res->seconds = now_seconds() - start;
    return 0;
}
