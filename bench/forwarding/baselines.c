/*
 * The line's limits for bench_forwarding, measured in the same run as the forwarded paths: a
 * plain socket stream (TCP loopback, unix socket) moving the same 64 MiB transfers between the
 * same shape of process pair (this process and a forked child), and the ping-pong latencies.
 * A forwarded copy is reported as a ratio to these, so a busy or slow host shows as a slow
 * line, not as a slow TensorFuse. Calls libc sockets only.
 */
#include "baselines.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PING_ITERS 20000
#define SOCK_BUF (4 << 20)   /* what the transport asks for on TCP sessions, too */

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double baselines_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double baselines_quantile(const double *sorted, int n, double q)
{
    double x = q * (n - 1);
    int i = (int)x;
    return i + 1 < n ? sorted[i] + (x - i) * (sorted[i + 1] - sorted[i]) : sorted[n - 1];
}

void baselines_fill(void *p, size_t n, int compressible)
{
    uint64_t x = 0x9e3779b97f4a7c15ull, *w = p;
    for (size_t i = 0; i < n / 8; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w[i] = compressible && (i & 7) >= 2 ? 0 : x;
    }
}

double baselines_loadavg(void)
{
    double l = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = 0;
        fclose(f);
    }
    return l;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

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

static double ping_pong(int a, int b)
{
    pid_t pid = fork();
    uint8_t msg[64] = {0};
    if (pid == 0) {
        close(a);
        for (int i = 0; i < PING_ITERS + 100; i++)
            if (read_all(b, msg, sizeof msg) || write_all(b, msg, sizeof msg))
                _exit(1);
        _exit(0);
    }
    close(b);
    double t0 = 0;
    for (int i = 0; i < PING_ITERS + 100; i++) {
        if (i == 100)
            t0 = seconds();
        if (write_all(a, msg, sizeof msg) || read_all(a, msg, sizeof msg))
            break;
    }
    double us = (seconds() - t0) / PING_ITERS * 1e6;
    close(a);
    waitpid(pid, NULL, 0);
    return us;
}

/* One untimed and `reps` timed transfers of `bytes` from this process to the child (to_peer)
 * or back; each ends with a one-byte acknowledgement so the time covers the whole delivery.
 * The median bandwidth in GB/s, or -1. */
static double stream(int a, int b, size_t bytes, int reps, int to_peer)
{
    uint8_t *buf = malloc(bytes);
    if (!buf)
        return -1;
    memset(buf, 0x5a, bytes);
    pid_t pid = fork();
    if (pid == 0) {
        close(a);
        uint8_t ack = 1;
        for (int i = 0; i <= reps; i++)
            if (to_peer ? read_all(b, buf, bytes) || write_all(b, &ack, 1)
                        : write_all(b, buf, bytes) || read_all(b, &ack, 1))
                _exit(1);
        _exit(0);
    }
    close(b);
    double gbps[64];
    int ok = 1;
    for (int i = 0; i <= reps && ok; i++) {
        uint8_t ack = 1;
        double t0 = seconds();
        ok = to_peer ? !write_all(a, buf, bytes) && !read_all(a, &ack, 1)
                     : !read_all(a, buf, bytes) && !write_all(a, &ack, 1);
        if (i > 0)
            gbps[i - 1] = (double)bytes / (seconds() - t0) / 1e9;
    }
    close(a);
    waitpid(pid, NULL, 0);
    free(buf);
    return ok ? baselines_median(gbps, reps) : -1;
}

static int tcp_pair(int sv[2], int bulk)
{
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1, big = SOCK_BUF;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&sa, &len) != 0) {
        if (l >= 0)
            close(l);
        return -1;
    }
    sv[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(l);
        return -1;
    }
    sv[1] = accept(l, NULL, NULL);
    close(l);
    for (int i = 0; i < 2; i++) {
        setsockopt(sv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (bulk) {
            setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
            setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        }
    }
    return sv[1] < 0 ? -1 : 0;
}

static double unix_stream(size_t bytes, int reps, int to_peer)
{
    int sv[2];
    return socketpair(AF_UNIX, SOCK_STREAM, 0, sv) ? -1 : stream(sv[0], sv[1], bytes, reps,
                                                                 to_peer);
}

static double tcp_stream(size_t bytes, int reps, int to_peer)
{
    int sv[2];
    return tcp_pair(sv, 1) ? -1 : stream(sv[0], sv[1], bytes, reps, to_peer);
}

/* ---- a line beside a forwarded copy, for paired ratios ---- */

static void line_peer(int fd, size_t bytes)
{
    uint8_t *buf = malloc(bytes), cmd, ack = 1;
    if (!buf)
        _exit(1);
    memset(buf, 0x3c, bytes);
    while (read_all(fd, &cmd, 1) == 0) {
        if (cmd == 'o' ? read_all(fd, buf, bytes) || write_all(fd, &ack, 1)
                       : write_all(fd, buf, bytes) || read_all(fd, &ack, 1))
            break;
    }
    _exit(0);
}

int line_open(struct line *l, int tcp, size_t bytes)
{
    int sv[2];
    memset(l, 0, sizeof *l);
    l->fd = -1;
    if (tcp ? tcp_pair(sv, 1) : socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
        return -1;
    l->buf = malloc(bytes);
    l->bytes = bytes;
    if (!l->buf || (l->pid = fork()) < 0) {
        close(sv[0]);
        close(sv[1]);
        free(l->buf);
        return -1;
    }
    if (l->pid == 0) {
        close(sv[0]);
        line_peer(sv[1], bytes);
    }
    close(sv[1]);
    l->fd = sv[0];
    memset(l->buf, 0x5a, bytes);
    return 0;
}

double line_once(struct line *l, int to_peer)
{
    uint8_t cmd = to_peer ? 'o' : 'i', ack = 1;
    double t0 = seconds();
    int bad = write_all(l->fd, &cmd, 1) ||
              (to_peer ? write_all(l->fd, l->buf, l->bytes) || read_all(l->fd, &ack, 1)
                       : read_all(l->fd, l->buf, l->bytes) || write_all(l->fd, &ack, 1));
    return bad ? -1 : (double)l->bytes / (seconds() - t0) / 1e9;
}

void line_close(struct line *l)
{
    if (l->fd >= 0) {
        close(l->fd);
        waitpid(l->pid, NULL, 0);
    }
    free(l->buf);
    l->fd = -1;
    l->buf = NULL;
}

void baselines_measure(struct baselines *b, size_t bytes, int reps)
{
    int sv[2];
    memset(b, 0, sizeof *b);
    if (reps > 64)
        reps = 64;
    b->unix_ping_pong_us = socketpair(AF_UNIX, SOCK_STREAM, 0, sv) ? -1 : ping_pong(sv[0], sv[1]);
    b->tcp_ping_pong_us = tcp_pair(sv, 0) ? -1 : ping_pong(sv[0], sv[1]);
    b->tcp_stream_out_gbps = tcp_stream(bytes, reps, 1);
    b->tcp_stream_in_gbps = tcp_stream(bytes, reps, 0);
    b->unix_stream_out_gbps = unix_stream(bytes, reps, 1);
    b->unix_stream_in_gbps = unix_stream(bytes, reps, 0);
}

double baselines_tcp_stream(const struct baselines *b)
{
    return (b->tcp_stream_out_gbps + b->tcp_stream_in_gbps) / 2;
}

double baselines_unix_stream(const struct baselines *b)
{
    return (b->unix_stream_out_gbps + b->unix_stream_in_gbps) / 2;
}
