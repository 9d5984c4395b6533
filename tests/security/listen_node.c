/* The node under test of the security suite's listener and id tests; see listen_node.h. */
#include "listen_node.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <poll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


int tnode_failures;

double tnode_scale(void)
{
    const char *s = getenv("TFUSE_TEST_TIMEOUT_SCALE");
    char *end;
    double f = s && *s ? strtod(s, &end) : 1.0;
    if (s && *s && (*end || !(f > 0) || f > 1000)) {
        fprintf(stderr, "TFUSE_TEST_TIMEOUT_SCALE=%s: expected a factor above 0\n", s);
        exit(2);
    }
    return f;
}

double tnode_scaled_s(double seconds)
{
    return seconds * tnode_scale();
}

int tnode_scaled_n(int n)
{
    return (int)(n * tnode_scale() + 0.5);
}

void tnode_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int tnode_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void set_timeouts(int fd, double seconds)
{
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (time_t)seconds) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* A tcp connection to 127.0.0.1:port (path NULL) or to the unix socket at path. */
static int connect_to(const char *path, int port)
{
    int fd = socket(path ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    set_timeouts(fd, tnode_scaled_s(15));
    int rc;
    if (!path) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof a.sun_path, "%.100s", path);
        rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    }
    if (rc != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int tnode_http_to(const char *path, int port, const char *token, const char *method,
                  const char *url, const char *body, char *out, size_t outlen)
{
    out[0] = '\0';
    int fd = connect_to(path, port);
    if (fd < 0)
        return 0;
    char head[1024];
    size_t blen = body ? strlen(body) : 0;
    int hl = snprintf(head, sizeof head,
                      "%s %s HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n%s%s%s"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      method, url, token ? "Authorization: Bearer " : "", token ? token : "",
                      token ? "\r\n" : "", blen);
    static char reply[1 << 20];
    size_t got = 0;
    if (write_all(fd, head, (size_t)hl) == 0 && (!body || write_all(fd, body, blen) == 0)) {
        ssize_t r;
        while (got < sizeof reply - 1 && (r = read(fd, reply + got, sizeof reply - 1 - got)) > 0)
            got += (size_t)r;
    }
    close(fd);
    reply[got] = '\0';
    int status = 0;
    if (sscanf(reply, "HTTP/1.%*d %d", &status) != 1)
        return 0;
    const char *b = strstr(reply, "\r\n\r\n");
    snprintf(out, outlen, "%s", b ? b + 4 : "");
    return status;
}

int tnode_http(const struct tnode *n, int tcp, const char *method, const char *path,
               const char *body, char *out, size_t outlen)
{
    return tnode_http_to(tcp ? NULL : n->api_sock, n->api_port, tcp ? TNODE_TOKEN : NULL, method,
                         path, body, out, outlen);
}

int tnode_idle_connect(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in from = {.sin_family = AF_INET};
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    inet_pton(AF_INET, src, &from.sin_addr);
    if (bind(fd, (struct sockaddr *)&from, sizeof from) != 0 ||
        (connect(fd, (struct sockaddr *)&to, sizeof to) != 0 && errno != EINPROGRESS)) {
        close(fd);
        return -1;
    }
    return fd;
}

int tnode_count_closed(const int *fds, int n)
{
    int closed = 0;
    for (int i = 0; i < n; i++) {
        char c;
        if (fds[i] < 0) {
            closed++;
            continue;
        }
        ssize_t r = recv(fds[i], &c, 1, MSG_DONTWAIT | MSG_PEEK);
        closed += r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    }
    return closed;
}

long tnode_raise_nofile(long want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if ((long)rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || (long)rl.rlim_max > want ? (rlim_t)want
                                                                               : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (long)rl.rlim_cur;
}

int tnode_children(pid_t pid)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        char path[300], buf[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        const char *close_paren = strrchr(buf, ')');   /* the name may hold spaces */
        int ppid;
        char state;
        if (close_paren && sscanf(close_paren + 1, " %c %d", &state, &ppid) == 2 &&
            ppid == pid && state != 'Z')
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

int tnode_log_has(const struct tnode *n, const char *text)
{
    FILE *f = fopen(n->log, "r");
    if (!f)
        return 0;
    static char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    return strstr(buf, text) != NULL;
}

static int exec_node(struct tnode *n, const char *state, const char *const *extra)
{
    char listen_unix[320], listen_tcp[64], api_unix[320], api_tcp[64];
    snprintf(listen_unix, sizeof listen_unix, "unix:%s", n->sess_sock);
    snprintf(listen_tcp, sizeof listen_tcp, "tcp:127.0.0.1:%d", n->sess_port);
    snprintf(api_unix, sizeof api_unix, "unix:%s", n->api_sock);
    snprintf(api_tcp, sizeof api_tcp, "tcp:127.0.0.1:%d", n->api_port);
    const char *argv[64] = {n->tfuse, "node", "--backend", "soft", "--listen", listen_unix,
                            "--listen", listen_tcp, "--api", api_unix, "--api", api_tcp};
    int argc = 12;
    if (state) {
        argv[argc++] = "--state";
        argv[argc++] = state;
    }
    for (int i = 0; extra && extra[i] && argc < 62; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    int fd = open(n->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    setenv("TFUSE_NODE_TOKEN", TNODE_TOKEN, 1);
    execv(n->tfuse, (char *const *)argv);
    _exit(127);
}

int tnode_start(struct tnode *n, const char *build, const char *state, const char *const *extra)
{
    memset(n, 0, sizeof *n);
    n->pid = -1;
    snprintf(n->build, sizeof n->build, "%s", build);
    snprintf(n->tfuse, sizeof n->tfuse, "%s/bin/tfuse", build);
    snprintf(n->work, sizeof n->work, "/tmp/tfuse-sec-XXXXXX");
    if (!mkdtemp(n->work)) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(n->log, sizeof n->log, "%s/node.log", n->work);
    snprintf(n->api_sock, sizeof n->api_sock, "%s/api.sock", n->work);
    snprintf(n->sess_sock, sizeof n->sess_sock, "%s/sess.sock", n->work);
    n->api_port = tnode_free_port();
    n->sess_port = tnode_free_port();
    n->pid = fork();
    if (n->pid == 0)
        exec_node(n, state, extra);
    char body[4096];
    for (int i = 0; i < tnode_scaled_n(600); i++) {   /* 60 s: a loaded machine starts slowly */
        if (tnode_http(n, 0, "GET", "/healthz", NULL, body, sizeof body) == 200 &&
            tnode_http(n, 1, "GET", "/healthz", NULL, body, sizeof body) == 200)
            return 0;
        if (waitpid(n->pid, NULL, WNOHANG) == n->pid) {
            n->pid = -1;
            break;
        }
        tnode_sleep_ms(100);
    }
    fprintf(stderr, "the node did not start; its log (%s):\n", n->log);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "cat %s >&2", n->log);
    if (system(cmd) != 0)
        fprintf(stderr, "(no log)\n");
    return -1;
}

void tnode_stop(struct tnode *n, int show_log)
{
    if (n->pid > 0) {
        kill(n->pid, SIGTERM);
        int done = 0;
        for (int i = 0; i < tnode_scaled_n(300) && !done; i++) {
            done = waitpid(n->pid, NULL, WNOHANG) == n->pid;
            if (!done)
                tnode_sleep_ms(100);
        }
        if (!done) {
            kill(n->pid, SIGKILL);
            waitpid(n->pid, NULL, 0);
        }
        n->pid = -1;
    }
    if (n->work[0]) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "tail -n 60 '%s' >&2", n->log);
        if (show_log && system(cmd) != 0)
            fprintf(stderr, "(no log)\n");
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", n->work);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", n->work);
        n->work[0] = '\0';
    }
}

int tnode_create_vgpu(const struct tnode *n, const char *id, long long vram, char *tok,
                      size_t len)
{
    char body[256], reply[4096];
    if (id)
        snprintf(body, sizeof body, "{\"vram_bytes\": %lld, \"id\": \"%s\"}", vram, id);
    else
        snprintf(body, sizeof body, "{\"vram_bytes\": %lld}", vram);
    int st = tnode_http(n, 0, "POST", "/api/v1/vgpus", body, reply, sizeof reply);
    const char *t = strstr(reply, "\"token\":\"");
    tok[0] = '\0';
    if (t && len > 0) {
        t += 9;
        size_t k = strcspn(t, "\"");
        snprintf(tok, len, "%.*s", (int)(k < len ? k : len - 1), t);
    }
    return st;
}

pid_t tnode_run(const struct tnode *n, const char *token, const char *prog,
                const char *const *args, int *out_fd)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        char connect[320];
        snprintf(connect, sizeof connect, "unix:%s", n->sess_sock);
        const char *argv[24] = {n->tfuse, "run", "--connect", connect, "--vgpu", token, "--",
                                prog};
        int k = 8;
        for (int i = 0; args && args[i] && k < 23; i++)
            argv[k++] = args[i];
        argv[k] = NULL;
        execv(n->tfuse, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    *out_fd = p[0];
    return pid;
}

int tnode_wait_exit(pid_t pid, int secs)
{
    int st;
    for (int i = 0; i < tnode_scaled_n(secs * 10); i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        tnode_sleep_ms(100);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

void tnode_read_until(int fd, const char *want, int secs, char *out, size_t len)
{
    size_t got = 0;
    out[0] = '\0';
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        double left = tnode_scaled_s(secs) - (double)(t.tv_sec - t0.tv_sec) -
                      (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0 || got + 1 >= len || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
            return;
        ssize_t r = read(fd, out + got, len - 1 - got);
        if (r <= 0)
            return;
        got += (size_t)r;
        out[got] = '\0';
        if (want && strstr(out, want))
            return;
    }
}
