/*
 * lib_ptx_scan: how much of a shared library's device code softgpu can load. For each file
 * named on the command line it finds every fat-binary container in the file (anywhere in the
 * ELF, not only in .nv_fatbin: cuFFT keeps many in other sections), lists their entries per
 * target, picks the PTX a device of the given SM would JIT (fatbin's own selection) and parses
 * it with softgpu's PTX front end, the way cuLibraryLoadData does. It prints per library:
 * containers, PTX and SASS entries per target, containers whose selected PTX parses, SASS-only
 * containers, and the most frequent parse errors (line numbers stripped).
 *
 * A module that fails only because it calls functions it declares `.extern` is a link input
 * (cuSPARSE's operator kernels: `_Z6mul_opff` and the like come from the caller). Such a
 * module is then linked through softgpu's own cuLinkCreate/AddData/Complete with a second
 * input that defines each missing function (its declaration with an empty body), and the
 * result loaded with cuModuleLoadData: the count of link inputs that load that way.
 *
 *   lib_ptx_scan [-sm N] [-all] [-v] [-dump DIR] lib.so ...
 *
 * -all parses every PTX entry instead of the selected one; -v prints each failure; -dump
 * writes the text of each module that fails into DIR (named by container offset and target).
 * Used by scripts/lib-ptx-report; docs/libraries.md records its numbers. Calls src/fatbin,
 * src/softgpu/ptx and, for link inputs, softgpu's driver API.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cuda.h>

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
    int link_inputs, linked;   /* failed only on .extern calls; of those, loaded when linked */
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

/* The `.extern .func` declaration of `name` in text, as [*start, *end) ending at its ';'. */
static int find_extern_decl(const char *text, const char *name, const char **start,
                            const char **end)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(text, ".extern"); p; p = strstr(p + 7, ".extern")) {
        const char *semi = strchr(p, ';');
        if (!semi)
            return -1;
        const char *q = p + 7 + strspn(p + 7, " \t");
        if (strncmp(q, ".func", 5) != 0)
            continue;
        for (const char *n = strstr(q, name); n && n < semi; n = strstr(n + 1, name))
            if (strchr(" \t\n)", n[-1]) && strchr(" \t\n(;", n[nl])) {
                *start = p;
                *end = semi;
                return 0;
            }
    }
    return -1;
}

/* Appends to defs a definition of `name` made from its declaration in text: `.visible` for
 * `.extern`, an empty body for the ';'. */
static int add_definition(char **defs, const char *text, const char *name)
{
    const char *b, *e;
    if (find_extern_decl(text, name, &b, &e))
        return -1;
    size_t old = *defs ? strlen(*defs) : 0, body = (size_t)(e - b) - 7;
    char *d = realloc(*defs, old + body + 32);
    if (!d)
        return -1;
    int n = sprintf(d + old, ".visible");
    memcpy(d + old + n, b + 7, body);
    strcpy(d + old + n + body, "\n{\n\tret;\n}\n");
    *defs = d;
    return 0;
}

/* Links text with definitions of what it calls but does not define, as cuSPARSE's caller
 * would, through softgpu's cuLink*, and loads the result. 0 when it loads. */
static int link_with_definitions(const char *text, unsigned sm, char *why, size_t whylen)
{
    static int ready;
    if (!ready) {
        char cc[16];
        snprintf(cc, sizeof cc, "%u.%u", sm / 10, sm % 10);
        setenv("SOFTGPU_CC", cc, 0);
        CUdevice dev;
        CUcontext ctx;
        if (cuInit(0) || cuDeviceGet(&dev, 0) || cuCtxCreate(&ctx, NULL, 0, dev))
            return snprintf(why, whylen, "softgpu did not start"), -1;
        ready = 1;
    }
    char *defs = NULL, log[512];
    int rc = -1;
    snprintf(why, whylen, "too many missing functions");
    for (int round = 0; round < 64; round++) {
        CUjit_option o[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
        void *ov[] = {log, (void *)(uintptr_t)sizeof log};
        CUlinkState st;
        void *out;
        size_t outlen;
        log[0] = 0;
        if (cuLinkCreate(2, o, ov, &st))
            break;
        CUresult r = cuLinkAddData(st, CU_JIT_INPUT_PTX, (void *)text, strlen(text) + 1, "lib",
                                   0, NULL, NULL);
        if (!r && defs)
            r = cuLinkAddData(st, CU_JIT_INPUT_PTX, defs, strlen(defs) + 1, "defs", 0, NULL,
                              NULL);
        if (!r)
            r = cuLinkComplete(st, &out, &outlen);
        CUmodule mod;
        if (!r && !(r = cuModuleLoadData(&mod, out))) {
            cuModuleUnload(mod);
            rc = 0;
        }
        cuLinkDestroy(st);
        const char *u = strstr(log, "call to undefined function '");
        char name[256];
        if (rc == 0 || !u || sscanf(u + 28, "%255[^']", name) != 1) {
            if (rc)
                snprintf(why, whylen, "%s", log[0] ? log : "load failed");
            break;
        }
        if (!defs) {   /* the definitions module's header: the one the link keeps wins */
            defs = strdup(".version 7.0\n.target sm_50\n.address_size 64\n");
            if (!defs)
                break;
        }
        if (add_definition(&defs, text, name)) {
            snprintf(why, whylen, "no declaration of '%s'", name);
            break;
        }
    }
    free(defs);
    return rc;
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
        if (strstr(err, "call to undefined function")) {
            char why[512];
            char *z = malloc(len + 1);   /* fat-binary PTX need not end in a NUL */
            s->link_inputs++;
            if (z) {
                memcpy(z, text, len);
                z[len] = 0;
                if (link_with_definitions(z, s->sm, why, sizeof why) == 0)
                    s->linked++;
                else if (s->verbose)
                    printf("  link input at 0x%zx did not load: %s\n", where, why);
                free(z);
            }
        }
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
    if (s->link_inputs)
        printf("  link inputs (only .extern calls missing) that load linked with definitions of"
               " them: %d of %d\n", s->linked, s->link_inputs);
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
