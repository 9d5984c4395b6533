/*
 * bench_isolation's reading of the device's host CPU: the run and run-queue wait times
 * (/proc/<pid>/task/<tid>/schedstat) of the softgpu SM threads ("sg-sm<i>", ptx_pool.c) of
 * every worker of the node. Their ratio, run / (run + wait), is the share of a host CPU the
 * device got while it had a block to run: what other programs on the host left it.
 *
 * Owns: nothing. May call: libc (/proc).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "real.h"

/* The parent pid of process `pid` (the field after the command's closing parenthesis). */
static long parent_of(const char *pid)
{
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    long ppid = -1;
    if (!rp || sscanf(rp + 1, " %*c %ld", &ppid) != 1)
        return -1;
    return ppid;
}

/* Adds the schedstat times of process pid's SM threads. */
static void add_sm_threads(const char *pid, uint64_t *run, uint64_t *wait)
{
    char dir[300];
    snprintf(dir, sizeof dir, "/proc/%s/task", pid);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[600], comm[32] = "";
        snprintf(path, sizeof path, "%s/%s/comm", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        int named = fgets(comm, sizeof comm, f) && strncmp(comm, "sg-sm", 5) == 0;
        fclose(f);
        snprintf(path, sizeof path, "%s/%s/schedstat", dir, e->d_name);
        unsigned long long r = 0, w = 0;
        if (named && (f = fopen(path, "r")) != NULL) {
            if (fscanf(f, "%llu %llu", &r, &w) == 2) {
                *run += r;
                *wait += w;
            }
            fclose(f);
        }
    }
    closedir(d);
}

int iso_sm_cpu(pid_t parent, uint64_t *run_ns, uint64_t *wait_ns)
{
    *run_ns = *wait_ns = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && parent_of(e->d_name) == (long)parent)
            add_sm_threads(e->d_name, run_ns, wait_ns);
    closedir(d);
    return 0;
}
