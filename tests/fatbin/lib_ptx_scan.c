/*
 * lib_ptx_scan: how much of a shared library's device code softgpu can load. For each file
 * named on the command line it finds every fat-binary container in the file (anywhere in the
 * ELF, not only in .nv_fatbin: cuFFT keeps many in other sections), lists their entries per
 * target, picks the PTX a device of the given SM would JIT (fatbin's own selection) and parses
 * it with softgpu's PTX front end, the way cuLibraryLoadData does. It prints per library:
 * containers, PTX and SASS entries per target, containers whose selected PTX parses, SASS-only
 * containers, and the most frequent parse errors (line numbers stripped).
 *
 *   lib_ptx_scan [-sm N] [-all] [-v] [-dump DIR] lib.so ...
 *
 * -all parses every PTX entry instead of the selected one; -v prints each failure; -dump
 * writes the text of each module that fails into DIR (named by container offset and target).
 * Used by scripts/lib-ptx-report; docs/libraries.md records its numbers. Calls src/fatbin and
 * src/softgpu/ptx only.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fatbin.h"
#include "ptx.h"

#define MAX_ARCH 200
#define MAX_REASONS 64

struct reason {
    char text[160];
    int count;
};

struct scan {
    unsigned sm;
    int all, verbose;
    const char *dump; /* -dump DIR: write each PTX module that fails there */
    int containers, with_ptx, sass_only, parsed, failed;
    int ptx_by_arch[MAX_ARCH], sass_by_arch[MAX_ARCH];
    struct reason reasons[MAX_REASONS];
    int nreasons;
};

/* "line 42: unknown instruction 'x'" -> "unknown instruction 'x'": group equal causes. */
static void add_reason(struct scan *s, const char *err)
{
    const char *p = err;
    if (!strncmp(p, "line ", 5)) {
        const char *c = strstr(p, ": ");
        if (c)
            p = c + 2;
    }
    for (int i = 0; i < s->nreasons; i++)
        if (!strncmp(s->reasons[i].text, p, sizeof s->reasons[i].text - 1)) {
            s->reasons[i].count++;
            return;
        }
    if (s->nreasons == MAX_REASONS)
        return;
    snprintf(s->reasons[s->nreasons].text, sizeof s->reasons[0].text, "%s", p);
    s->reasons[s->nreasons++].count = 1;
}

static void try_parse(struct scan *s, const struct fatbin_entry *e, size_t where)
{
    uint8_t *text;
    size_t len;
    char err[256] = "";
    if (fatbin_entry_bytes(e, &text, &len, err, sizeof err) != FATBIN_OK) {
        s->failed++;
        add_reason(s, err);
        return;
    }
    ptx_module *m = ptx_module_parse((const char *)text, len, err, sizeof err);
    if (m) {
        s->parsed++;
        ptx_module_free(m);
    } else {
        s->failed++;
        add_reason(s, err);
        if (s->verbose)
            printf("  container at 0x%zx, compute_%u: %s\n", where, e->arch, err);
        char path[4096];
        FILE *f = NULL;
        if (s->dump && snprintf(path, sizeof path, "%s/0x%zx_compute_%u.ptx", s->dump, where,
                                e->arch) < (int)sizeof path)
            f = fopen(path, "w");
        if (f) {
            fwrite(text, 1, len, f);
            fclose(f);
        }
    }
    free(text);
}

static void scan_container(struct scan *s, const uint8_t *p, size_t size, size_t where)
{
    size_t n = 0;
    if (fatbin_entries(p, size, NULL, 0, &n, NULL, 0) != FATBIN_OK)
        return;
    struct fatbin_entry *v = calloc(n ? n : 1, sizeof *v);
    if (!v || fatbin_entries(p, size, v, n, &n, NULL, 0) != FATBIN_OK) {
        free(v);
        return;
    }
    s->containers++;
    const struct fatbin_entry *best = NULL;
    int any_ptx = 0;
    for (size_t i = 0; i < n; i++) {
        int *by = v[i].kind == FATBIN_ENTRY_PTX ? s->ptx_by_arch : s->sass_by_arch;
        by[v[i].arch < MAX_ARCH ? v[i].arch : 0]++;
        if (v[i].kind != FATBIN_ENTRY_PTX)
            continue;
        any_ptx = 1;
        if (s->all)
            try_parse(s, &v[i], where);
        else if (v[i].arch <= s->sm && (!best || v[i].arch > best->arch))
            best = &v[i];
    }
    if (any_ptx)
        s->with_ptx++;
    else
        s->sass_only++;
    if (!s->all && best)
        try_parse(s, best, where);
    else if (!s->all && any_ptx) {
        s->failed++;
        add_reason(s, "no PTX at or below the device's SM");
    }
    free(v);
}

/* Containers are 8-byte aligned: look for the magic, version 1 and a 16-byte header whose
 * declared size fits in the file. */
static void scan_file(struct scan *s, const uint8_t *p, size_t size)
{
    for (size_t off = 0; off + 16 <= size; off += 8) {
        uint32_t magic;
        memcpy(&magic, p + off, 4);
        if (magic != FATBIN_CONTAINER_MAGIC || p[off + 4] != 1 || p[off + 6] != 16)
            continue;
        uint64_t files;
        memcpy(&files, p + off + 8, 8);
        if (files > size - off - 16)
            continue;
        scan_container(s, p + off, 16 + (size_t)files, off);
        off += (16 + (size_t)files) / 8 * 8 - 8;
    }
}

static void print_archs(const char *what, const int *by)
{
    printf("  %s:", what);
    int any = 0;
    for (int a = 0; a < MAX_ARCH; a++)
        if (by[a]) {
            printf(" %d×%d", a, by[a]);
            any = 1;
        }
    printf("%s\n", any ? "" : " none");
}

static int cmp_reason(const void *a, const void *b)
{
    return ((const struct reason *)b)->count - ((const struct reason *)a)->count;
}

static void report(const char *path, struct scan *s)
{
    const char *base = strrchr(path, '/');
    printf("%s (sm_%u%s)\n", base ? base + 1 : path, s->sm, s->all ? ", every PTX entry" : "");
    printf("  containers: %d, with PTX: %d, SASS only: %d\n", s->containers, s->with_ptx,
           s->sass_only);
    print_archs("PTX entries by target", s->ptx_by_arch);
    print_archs("SASS entries by target", s->sass_by_arch);
    printf("  PTX modules parsed: %d of %d\n", s->parsed, s->parsed + s->failed);
    qsort(s->reasons, (size_t)s->nreasons, sizeof s->reasons[0], cmp_reason);
    for (int i = 0; i < s->nreasons && i < 12; i++)
        printf("    %5d  %s\n", s->reasons[i].count, s->reasons[i].text);
}

int main(int argc, char **argv)
{
    struct scan proto = {.sm = 120};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-sm") && i + 1 < argc)
            proto.sm = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "-all"))
            proto.all = 1;
        else if (!strcmp(argv[i], "-v"))
            proto.verbose = 1;
        else if (!strcmp(argv[i], "-dump") && i + 1 < argc)
            proto.dump = argv[++i];
        else {
            fprintf(stderr, "usage: %s [-sm N] [-all] [-v] [-dump DIR] lib.so ...\n", argv[0]);
            return 2;
        }
    }
    int rc = 0;
    for (; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st)) {
            perror(argv[i]);
            rc = 1;
            continue;
        }
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (p == MAP_FAILED) {
            perror(argv[i]);
            rc = 1;
            continue;
        }
        struct scan *s = malloc(sizeof *s);
        *s = proto;
        scan_file(s, p, (size_t)st.st_size);
        report(argv[i], s);
        free(s);
        munmap(p, (size_t)st.st_size);
    }
    return rc;
}
