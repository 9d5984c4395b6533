/*
 * bench_transport: what a forwarded call pays to cross the transport, next to plain sockets.
 *
 * A forked server process (as the worker is a process apart from the program) answers:
 *   - our transport on a unix socket (shm rings, or stream when asked) and on TCP loopback;
 *   - a plain unix socket and a plain TCP socket echo (the baselines: read 64 bytes, write them).
 * Measured: small-message round trips (shm busy = back to back; shm after idle = the waiter has
 * gone to sleep, so a futex wake is paid; unix stream; TCP), and the bandwidth of 64 MiB frames
 * over shm and TCP (sent, read by the server into its own buffer, acknowledged).
 * Prints a table with ratios against the plain-socket baselines and writes transport.json into
 * $TFUSE_BENCH_DIR (set by scripts/run-benches) or build/bench next to build/bin.
 *
 * Owns: this benchmark. May call: the public transport API (transport.h), bench/common, libc.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "transport.h"

#define MSG 64
#define BULK (64u << 20)
#define T_PING 1
#define T_BULK 2

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

struct latency {
    double p50, p99, mean;
};

static struct latency summarize(double *s, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += s[i];
    double p50 = bench_percentile(s, n, 50), p99 = bench_percentile(s, n, 99);
    return (struct latency){p50, p99, sum / n};
}

/* ---- the server process ---- */

static void serve_transport_conn(struct tf_conn *c, uint8_t *bulk)
{
    struct tf_hello hello;
    if (tf_server_handshake(c, NULL, &hello) || tf_server_accept(c, 1)) {
        tf_conn_close(c);
        return;
    }
    for (;;) {
        struct tf_frame_header h;
        if (tf_recv_header(c, &h, -1))
            break;
        uint8_t small[MSG];
        if (h.type == T_PING && h.length <= MSG) {
            struct iovec v = {small, h.length};
            if (tf_recv_payload(c, small, h.length) || tf_send(c, T_PING, 0, h.id, &v, 1))
                break;
        } else if (h.type == T_BULK && h.length <= BULK) {
            if (tf_recv_payload(c, bulk, h.length) || tf_send(c, T_BULK, 0, h.id, NULL, 0))
                break;
        } else {
            break;
        }
    }
    tf_conn_close(c);
}

static void *raw_echo(void *p)
{
    int lfd = (int)(intptr_t)p;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char buf[MSG];
        for (;;) {
            ssize_t got = 0, n;
            while (got < MSG && (n = read(fd, buf + got, MSG - (size_t)got)) > 0)
                got += n;
            if (got < MSG || write(fd, buf, MSG) != MSG)
                break;
        }
        close(fd);
    }
    return NULL;
}

static int raw_listen(int family, const char *path, int *port)
{
    int fd = socket(family, SOCK_STREAM, 0), one = 1;
    if (family == AF_UNIX) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
        unlink(path);
        if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0)
            return -1;
    } else {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        socklen_t sl = sizeof sin;
        if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
            getsockname(fd, (struct sockaddr *)&sin, &sl) < 0)
            return -1;
        *port = ntohs(sin.sin_port);
    }
    return listen(fd, 8) < 0 ? -1 : fd;
}

struct endpoints {
    char tf_unix[128], tf_tcp[64], raw_unix[108];
    int raw_tcp_port;
};

static void server_main(struct endpoints *ep, int ready_fd)
{
    struct tf_listener *lu, *lt;
    char err[256];
    if (tf_listen(ep->tf_unix, &lu, err, sizeof err) || tf_listen("tcp:127.0.0.1:0", &lt, err, sizeof err)) {
        fprintf(stderr, "bench server: %s\n", err);
        _exit(1);
    }
    snprintf(ep->tf_tcp, sizeof ep->tf_tcp, "%s", tf_listener_address(lt));
    int ru = raw_listen(AF_UNIX, ep->raw_unix, NULL), rt = raw_listen(AF_INET, NULL, &ep->raw_tcp_port);
    if (ru < 0 || rt < 0)
        _exit(1);
    pthread_t t;
    pthread_create(&t, NULL, raw_echo, (void *)(intptr_t)ru);
    pthread_create(&t, NULL, raw_echo, (void *)(intptr_t)rt);
    if (write(ready_fd, ep, sizeof *ep) != sizeof *ep)
        _exit(1);
    uint8_t *bulk = malloc(BULK);
    memset(bulk, 0, BULK);
    for (;;) {   /* one client connection at a time, as the bench runs them */
        struct pollfd p[2] = {{tf_listener_fd(lu), POLLIN, 0}, {tf_listener_fd(lt), POLLIN, 0}};
        if (poll(p, 2, -1) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            struct tf_conn *c;
            if ((p[i].revents & POLLIN) && tf_listener_accept(i ? lt : lu, &c) == TF_OK)
                serve_transport_conn(c, bulk);
        }
    }
}

/* ---- the client side ---- */

static struct tf_conn *open_conn(const char *addr, enum tf_transport_kind kind)
{
    struct tf_client_opts o = {.transport = kind};
    struct tf_conn *c;
    char err[256];
    if (tf_connect(addr, &o, &c, err, sizeof err)) {
        fprintf(stderr, "bench: connect %s: %s\n", addr, err);
        exit(1);
    }
    return c;
}

/* Times n round trips (after n/10 untimed ones that warm up both sides), each after idle_us of
 * sleep when that is non-zero. round_trip exits the bench when the path fails. */
static struct latency time_round_trips(int n, int idle_us, void (*round_trip)(void *arg, int i),
                                       void *arg)
{
    double *s = malloc(sizeof *s * (size_t)n);
    for (int i = -n / 10; i < n; i++) {
        if (idle_us)
            usleep((useconds_t)idle_us);
        double t0 = now_us();
        round_trip(arg, i);
        if (i >= 0)
            s[i] = now_us() - t0;
    }
    struct latency l = summarize(s, n);
    free(s);
    return l;
}

/* A ping's buffers live outside the timed call, so only the round trip itself is timed. */
struct tf_ping {
    struct tf_conn *c;
    uint8_t msg[MSG], back[MSG];
};

static void tf_round_trip(void *arg, int i)
{
    struct tf_ping *p = arg;
    struct iovec v = {p->msg, MSG};
    struct tf_frame_header h;
    if (tf_send(p->c, T_PING, 0, (uint64_t)i, &v, 1) || tf_recv_header(p->c, &h, -1) ||
        tf_recv_payload(p->c, p->back, h.length)) {
        fprintf(stderr, "bench: ping failed: %s\n", tf_conn_error(p->c));
        exit(1);
    }
}

static struct latency tf_pingpong(struct tf_conn *c, int n, int idle_us)
{
    struct tf_ping p = {.c = c, .msg = {1}};
    return time_round_trips(n, idle_us, tf_round_trip, &p);
}

static int raw_connect(int family, const char *path, int port)
{
    int fd = socket(family, SOCK_STREAM, 0), one = 1;
    int rc;
    if (family == AF_UNIX) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
        rc = connect(fd, (struct sockaddr *)&sun, sizeof sun);
    } else {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        rc = connect(fd, (struct sockaddr *)&sin, sizeof sin);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (rc < 0) {
        perror("bench: raw connect");
        exit(1);
    }
    return fd;
}

struct raw_ping {
    int fd;
    char buf[MSG];
};

static void raw_round_trip(void *arg, int i)
{
    (void)i;
    struct raw_ping *p = arg;
    ssize_t got = 0, r;
    if (write(p->fd, p->buf, MSG) != MSG)
        exit(1);
    while (got < MSG && (r = read(p->fd, p->buf + got, MSG - (size_t)got)) > 0)
        got += r;
    if (got < MSG)
        exit(1);
}

static struct latency raw_pingpong(int fd, int n)
{
    struct raw_ping p = {.fd = fd, .buf = {1}};
    return time_round_trips(n, 0, raw_round_trip, &p);
}

/* MiB/s for 64 MiB frames: send, the server reads the payload into its buffer, acks. */
static double bandwidth(struct tf_conn *c, const uint8_t *data, int reps)
{
    double best = 0;
    for (int i = 0; i < reps; i++) {
        struct iovec v = {(void *)data, BULK};
        struct tf_frame_header h;
        double t0 = now_us();
        if (tf_send(c, T_BULK, 0, 0, &v, 1) || tf_recv_header(c, &h, -1)) {
            fprintf(stderr, "bench: bulk failed: %s\n", tf_conn_error(c));
            exit(1);
        }
        double mibs = (BULK / 1048576.0) / ((now_us() - t0) / 1e6);
        if (mibs > best)
            best = mibs;
    }
    return best;
}

static char json_path[4096];

static FILE *open_json(void)
{
    bench_output_path(json_path, sizeof json_path, "transport.json");
    FILE *f = fopen(json_path, "w");
    if (!f)
        perror(json_path);
    return f;
}

/* Everything one run measures. */
struct results {
    struct latency shm_busy, shm_idle, unix_stream, tcp, raw_unix, raw_tcp;
    double bw_shm, bw_tcp;   /* MiB/s */
};

static void measure(const struct endpoints *ep, int n, int n_idle, int reps, struct results *r)
{
    struct tf_conn *c = open_conn(ep->tf_unix, TF_TRANSPORT_SHM);
    r->shm_busy = tf_pingpong(c, n, 0);
    r->shm_idle = tf_pingpong(c, n_idle, 2000);
    uint8_t *data = malloc(BULK);
    memset(data, 7, BULK);
    r->bw_shm = bandwidth(c, data, reps);
    tf_conn_close(c);

    c = open_conn(ep->tf_unix, TF_TRANSPORT_STREAM);
    r->unix_stream = tf_pingpong(c, n, 0);
    tf_conn_close(c);

    c = open_conn(ep->tf_tcp, TF_TRANSPORT_STREAM);
    r->tcp = tf_pingpong(c, n, 0);
    r->bw_tcp = bandwidth(c, data, reps);
    tf_conn_close(c);
    free(data);

    int fd = raw_connect(AF_UNIX, ep->raw_unix, 0);
    r->raw_unix = raw_pingpong(fd, n);
    close(fd);
    fd = raw_connect(AF_INET, NULL, ep->raw_tcp_port);
    r->raw_tcp = raw_pingpong(fd, n);
    close(fd);
}

/* Prints the table (each path against its plain-socket baseline) and writes transport.json. */
static void report(const struct results *r, int n, int n_idle, int reps)
{
    struct row {
        const char *name;
        struct latency l;
        const struct latency *base;
        const char *base_name;
    } rows[] = {
        {"shm rings, busy (back to back)", r->shm_busy, &r->raw_unix, "unix socket"},
        {"shm rings, after 2 ms idle", r->shm_idle, &r->raw_unix, "unix socket"},
        {"unix stream (our frames)", r->unix_stream, &r->raw_unix, "unix socket"},
        {"plain unix socket ping-pong", r->raw_unix, &r->raw_unix, "unix socket"},
        {"tcp loopback (our frames)", r->tcp, &r->raw_tcp, "plain tcp"},
        {"plain tcp socket ping-pong", r->raw_tcp, &r->raw_tcp, "plain tcp"},
    };
    /* Spin-based latency depends on free cores, so say how busy the host was. */
    double load = bench_loadavg();
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("transport round trip, %d-byte message (%d samples; idle row %d); %ld CPUs, load %.2f\n",
           MSG, n, n_idle, cpus, load);
    printf("%-34s %10s %10s %10s  %s\n", "path", "p50 us", "p99 us", "mean us", "ratio (p50)");
    FILE *js = open_json();
    if (js)
        fprintf(js, "{\n  \"bench\": \"transport\",\n  \"message_bytes\": %d,\n  \"cpus\": %ld,\n"
                    "  \"load_average_1min\": %.2f,\n  \"round_trip\": [\n", MSG, cpus, load);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        double ratio = rows[i].l.p50 / rows[i].base->p50;
        printf("%-34s %10.2f %10.2f %10.2f  %.2fx %s\n", rows[i].name, rows[i].l.p50, rows[i].l.p99,
               rows[i].l.mean, ratio, rows[i].base_name);
        if (js)
            fprintf(js, "    {\"path\": \"%s\", \"p50_us\": %.3f, \"p99_us\": %.3f, \"mean_us\": %.3f, "
                        "\"ratio_vs\": \"%s\", \"ratio\": %.3f}%s\n", rows[i].name, rows[i].l.p50,
                    rows[i].l.p99, rows[i].l.mean, rows[i].base_name, ratio,
                    i + 1 < sizeof rows / sizeof rows[0] ? "," : "");
    }
    printf("\nbandwidth, 64 MiB frames (best of %d)\n", reps);
    printf("%-34s %10.0f MiB/s  %.2fx tcp\n", "shm rings", r->bw_shm, r->bw_shm / r->bw_tcp);
    printf("%-34s %10.0f MiB/s  1.00x tcp\n", "tcp loopback", r->bw_tcp);
    printf("aim: shm busy round trip under 2 us -> %s (%.2f us)\n",
           r->shm_busy.p50 < 2.0 ? "met" : "NOT met", r->shm_busy.p50);
    if (js) {
        fprintf(js, "  ],\n  \"bandwidth_mib_s\": {\"shm\": %.1f, \"tcp\": %.1f},\n", r->bw_shm,
                r->bw_tcp);
        fprintf(js, "  \"aim_shm_busy_under_2us\": %s\n}\n", r->shm_busy.p50 < 2.0 ? "true" : "false");
        fclose(js);
        printf("wrote %s\n", json_path);
    }
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && !strcmp(argv[1], "--quick");
    int n = quick ? 2000 : 50000, n_idle = quick ? 50 : 300, reps = quick ? 2 : 5;
    struct endpoints ep = {0};
    snprintf(ep.tf_unix, sizeof ep.tf_unix, "unix:/tmp/tfuse-bench-%d.sock", (int)getpid());
    snprintf(ep.raw_unix, sizeof ep.raw_unix, "/tmp/tfuse-bench-raw-%d.sock", (int)getpid());
    int ready[2];
    if (pipe(ready))
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        server_main(&ep, ready[1]);
    }
    close(ready[1]);
    if (read(ready[0], &ep, sizeof ep) != sizeof ep) {
        fprintf(stderr, "bench: server did not start\n");
        return 1;
    }
    struct results r;
    measure(&ep, n, n_idle, reps, &r);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    unlink(ep.raw_unix);
    unlink(ep.tf_unix + 5);
    report(&r, n, n_idle, reps);
    return 0;
}
