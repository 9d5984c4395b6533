/*
 * Portable driver for our fuzz targets when libFuzzer is not used (gcc builds, CI smoke runs).
 *
 * Feeds LLVMFuzzerTestOneInput every seed file named on the command line (files, or folders of
 * files), then a fixed number of mutations of them: byte flips, truncations, insertions, splices
 * and "interesting" integers written at random offsets (what breaks length fields). The random
 * generator is seeded from --seed so a failure is repeatable, and a crash (a fatal signal,
 * including a sanitizer's abort) writes the input that caused it to fuzz-crash-input.bin in the
 * working folder before the process dies.
 *
 *   fuzz_x [--runs N] [--seed S] SEED_PATH...
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEEDS 256
#define FUZZ_MAX_INPUT (1u << 20)

static uint8_t *seeds[MAX_SEEDS];
static size_t seed_len[MAX_SEEDS];
static int nseeds;
static uint64_t rng_state;
static const uint8_t *current_input;
static volatile size_t current_len;

/* Async-signal-safe: only open/write/close, then die with the original signal. */
static void save_crashing_input(int sig)
{
    int fd = open("fuzz-crash-input.bin", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0 && current_input) {
        ssize_t w = write(fd, current_input, current_len);
        (void)w;
    }
    if (fd >= 0)
        close(fd);
    signal(sig, SIG_DFL);
    raise(sig);
}

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void add_seed_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f || nseeds == MAX_SEEDS) {
        if (f)
            fclose(f);
        return;
    }
    uint8_t *buf = malloc(FUZZ_MAX_INPUT);
    size_t n = fread(buf, 1, FUZZ_MAX_INPUT, f);
    fclose(f);
    seeds[nseeds] = buf;
    seed_len[nseeds++] = n;
}

static void add_seed_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz: no such seed path %s\n", path);
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        add_seed_file(path);
        return;
    }
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        add_seed_file(full);
    }
    if (d)
        closedir(d);
}

static size_t mutate(uint8_t *buf, size_t len)
{
    static const uint64_t interesting[] = {0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff,
                                           0xffffffff, 0x80000000, UINT64_MAX, 1u << 20};
    int steps = 1 + (int)(rng() % 4);
    for (int s = 0; s < steps; s++) {
        switch (rng() % 6) {
        case 0: /* flip bits */
            if (len)
                buf[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
            break;
        case 1: /* truncate */
            if (len)
                len = rng() % len;
            break;
        case 2: /* interesting integer at a random offset */
            if (len >= 8) {
                uint64_t v = interesting[rng() % (sizeof interesting / sizeof *interesting)];
                size_t w = (size_t)1 << (rng() % 4);
                memcpy(buf + rng() % (len - w + 1), &v, w);
            }
            break;
        case 3: /* insert random bytes */
            if (len + 16 < FUZZ_MAX_INPUT) {
                size_t at = len ? rng() % len : 0, n = 1 + rng() % 16;
                memmove(buf + at + n, buf + at, len - at);
                for (size_t i = 0; i < n; i++)
                    buf[at + i] = (uint8_t)rng();
                len += n;
            }
            break;
        case 4: /* splice from another seed */
            if (nseeds && len) {
                int o = (int)(rng() % (uint64_t)nseeds);
                if (seed_len[o]) {
                    size_t from = rng() % seed_len[o], at = rng() % len;
                    size_t n = seed_len[o] - from;
                    if (at + n > FUZZ_MAX_INPUT)
                        n = FUZZ_MAX_INPUT - at;
                    memcpy(buf + at, seeds[o] + from, n);
                    if (at + n > len)
                        len = at + n;
                }
            }
            break;
        default: /* overwrite a random byte */
            if (len)
                buf[rng() % len] = (uint8_t)rng();
            break;
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    long runs = 10000;
    rng_state = 0x9e3779b97f4a7c15ull;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atol(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            rng_state = strtoull(argv[++i], NULL, 0) | 1;
        else
            add_seed_path(argv[i]);
    }
    uint8_t *buf = malloc(FUZZ_MAX_INPUT);
#ifdef __SANITIZE_ADDRESS__
    const int fatal[] = {SIGABRT}; /* ASan reports faults itself, then aborts */
#else
    const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
#endif
    for (size_t i = 0; i < sizeof fatal / sizeof *fatal; i++)
        signal(fatal[i], save_crashing_input);
    for (int s = 0; s < nseeds; s++) {
        current_input = seeds[s];
        current_len = seed_len[s];
        LLVMFuzzerTestOneInput(seeds[s], seed_len[s]);
    }
    for (long r = 0; r < runs; r++) {
        size_t len = 0;
        if (nseeds) {
            int s = (int)(rng() % (uint64_t)nseeds);
            memcpy(buf, seeds[s], seed_len[s]);
            len = seed_len[s];
        } else {
            len = rng() % 256;
            for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)rng();
        }
        len = mutate(buf, len);
        current_input = buf;
        current_len = len;
        LLVMFuzzerTestOneInput(buf, len);
    }
    current_input = NULL;   /* the leak check at exit must not save a freed input */
    current_len = 0;
    printf("fuzz: %d seeds, %ld mutated inputs, no crash\n", nseeds, runs);
    for (int s = 0; s < nseeds; s++)
        free(seeds[s]);
    free(buf);
    return 0;
}
