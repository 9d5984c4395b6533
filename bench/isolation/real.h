/*
 * bench_isolation's real mode, shared between its files: the scenarios and what is measured of
 * each tenant (real.c runs them, real_report.c prints and writes them, hog.c loads the host).
 *
 * Owns: these declarations. May call: nothing.
 */
#ifndef TFUSE_BENCH_ISOLATION_REAL_H
#define TFUSE_BENCH_ISOLATION_REAL_H

#include <stdint.h>
#include <sys/types.h>

#define MAXT 4
#define MAXS 2048

struct tenant {
    const char *name;
    double limit_pct;
    char id[64], token[80];
    pid_t pid;
    uint64_t busy0, busy_prev, launches0;
    double share;      /* GPU-time share, % of the window: the node's measured busy_ns */
    double rate;       /* kernels per second over the same window (the node's launch count) */
    double tput;       /* throughput share, %: rate against the program alone on the device */
    double tput_lo, tput_hi; /* the lowest and highest of its rounds' throughput shares */
    double work;       /* work share, %: rate against the sum of the scenario's rates (measured
                        * at the same time, so host load falls on all alike) */
    double series[MAXS];
};

struct rscenario {
    const char *name;
    int n;
    struct tenant t[MAXT];
    int hogs;          /* CPU-bound processes beside the tenants (and beside its alone runs) */
    int nsamples;
    double at[MAXS];
    double mae;        /* GPU-time shares against the limits, points */
    double tput_mae;   /* throughput shares against the limits, points */
    pid_t alone_pid;   /* the program alone: a whole-device session run between the phases */
    int rounds;        /* tenant phases, each followed by an alone phase */
    double alone_lo, alone_hi; /* kernels/s of the program alone: the lowest, highest phase */
    double alone;      /* over all alone phases: the reference of the throughput shares */
    double sm[4];      /* SM threads' run and wait ns: tenant phases, then alone phases */
    double cpu_tenants, cpu_alone; /* run / (run + wait) of each: the host CPU the SM got */
};

/* real_report.c */
void iso_print_header(unsigned iters, double seconds);
void iso_print_scenario(const struct rscenario *sc);
void iso_print_summary(const struct rscenario *rs, int nrs);
int iso_write_outputs(const struct rscenario *rs, int nrs, double seconds, unsigned iters,
                      int hogs, double direct, double limited);

/* smcpu.c: the summed schedstat run and wait times of the SM threads of parent's children. */
int iso_sm_cpu(pid_t parent, uint64_t *run_ns, uint64_t *wait_ns);

/* hog.c: n processes spinning on a CPU each, until iso_hogs_stop (or the bench's death). */
int iso_hogs_start(int n);
void iso_hogs_stop(void);

#endif
