/* Helpers shared by the benchmarks; see bench_common.h. May call: libc only. */
#include "bench_common.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void bench_output_path(char *path, size_t len, const char *file)
{
    const char *dir = getenv("TFUSE_BENCH_DIR");
    if (dir && *dir) {
        snprintf(path, len, "%s/%s", dir, file);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = n > 0 ? memchr(exe, '/', (size_t)n) : NULL;
    if (!slash) {
        snprintf(path, len, "%s", file);
        return;
    }
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';   /* the folder the executable is in: build/bin */
    snprintf(path, len, "%s/../bench", exe);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        fprintf(stderr, "bench: mkdir %s: %s\n", path, strerror(errno));
    size_t used = strlen(path);
    snprintf(path + used, len - used, "/%s", file);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_percentile(double *v, int n, double p)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int i = (int)(p / 100 * (n - 1) + 0.5);
    return v[i];
}

double bench_loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}
