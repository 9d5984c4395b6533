/*
 * Helpers shared by the benchmarks in bench/ (pool, transport, isolation): where a benchmark
 * writes its results, percentiles of timing samples, and the host's load average (benchmarks
 * print it because latency on a busy host says as much about the host as about us).
 *
 * Owns: nothing but these functions. May call: libc only.
 */
#ifndef TFUSE_BENCH_COMMON_H
#define TFUSE_BENCH_COMMON_H

#include <stddef.h>

/*
 * The path a benchmark writes `file` to: $TFUSE_BENCH_DIR/file when that is set (as
 * scripts/run-benches does), else build/bench/file next to the build/bin the executable runs
 * from (the folder is created if missing), else file in the current folder.
 */
void bench_output_path(char *path, size_t len, const char *file);

/* The p-th percentile (0..100) of n samples, by nearest rank over the sorted samples (v is
 * sorted in place). 0 for no samples. */
double bench_percentile(double *v, int n, double p);

/* The 1-minute load average from /proc/loadavg, or -1 where it cannot be read. */
double bench_loadavg(void);

#endif
