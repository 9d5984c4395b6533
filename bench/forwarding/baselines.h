/* The line's limits measured beside the forwarded paths (baselines.c). */
#ifndef TFUSE_BENCH_BASELINES_H
#define TFUSE_BENCH_BASELINES_H

#include <stddef.h>

struct baselines {
    double unix_ping_pong_us, tcp_ping_pong_us;
    /* 64 MiB transfers: out = this process to its child, in = back (median GB/s) */
    double tcp_stream_out_gbps, tcp_stream_in_gbps;
    double unix_stream_out_gbps, unix_stream_in_gbps;
};

/* The median of n values (sorted in place): on a 2-core VM one descheduling adds milliseconds
 * to a run, so each figure is the median of several (the same statistic on every path). */
double baselines_median(double *v, int n);
/* The q-quantile (0..1) of n values already sorted (baselines_median sorts). */
double baselines_quantile(const double *sorted, int n, double q);
/* Random bytes (xorshift), or compressible ones: each 64-byte line 16 random bytes and 48 zeros
 * (LZ4 shrinks it about 3x), a stand-in for sparse activations and padded tensors. */
void baselines_fill(void *p, size_t n, int compressible);
/* The 1-minute load average (0 when unknown): how busy the cores were. */
double baselines_loadavg(void);
void baselines_measure(struct baselines *b, size_t bytes, int reps);
/* The mean of both directions: what a copy is compared with. */
double baselines_tcp_stream(const struct baselines *b);
double baselines_unix_stream(const struct baselines *b);

/* A line kept open beside a forwarded path: the same transfer, timed right before each copy, so
 * that a ratio compares the two under the same load (the host's load moves both). */
struct line {
    int fd;
    int pid;
    unsigned char *buf;
    size_t bytes;
};
int line_open(struct line *l, int tcp, size_t bytes);   /* tcp: loopback TCP, else unix */
double line_once(struct line *l, int to_peer);           /* GB/s of one transfer, or -1 */
void line_close(struct line *l);

#endif
