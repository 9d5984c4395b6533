/*
 * `tfuse doctor [--surface] [--refused] [--json] [--softgpu LIB]`: what TensorFuse makes of the
 * CUDA driver API, per family of functions. For every function NVIDIA's driver exports
 * (src/driverkit/driver_api.def, generated from the toolkit):
 *   - through the stub (tfuse run): forwarded to the node's worker, answered locally in the
 *     program's process, or refused (CUDA_ERROR_NOT_SUPPORTED) — from calls.def, the table the
 *     stub itself is built from;
 *   - on softgpu: served or refused, read from the built library's dynamic symbol table (a WEAK
 *     definition is softgpu's refusal: src/softgpu/surface.c).
 * A per-thread variant (_ptds/_ptsz) shares the fate of the function it is the variant of.
 * Owns: the family of a driver function, the surface printout. May call: proto (calls.def),
 * driverkit (driver_api.def), elf.h, jansson, src/common.
 */
#include <elf.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "doctor.h"
#include "paths.h"
#include "proto.h"

enum fate { FATE_REFUSED, FATE_FORWARDED, FATE_LOCAL, FATE_SERVED };
static const char *const fate_names[] = {"refused", "forwarded", "local", "served"};

struct fn {
    const char *base, *sym, *of;
    enum fate stub, soft;
};

static struct fn fns[] = {
#define CU_API(base, ver, sym, params, args) {#base, #sym, NULL, FATE_REFUSED, FATE_SERVED},
#define CU_API_PT(base, ver, sym, of, kind, params, args) {#base, #sym, #of, FATE_REFUSED, FATE_SERVED},
#include "driver_api.def"
#undef CU_API
#undef CU_API_PT
};
#define NFNS (sizeof fns / sizeof fns[0])

/* What calls.def says of each symbol it names. */
static const struct {
    const char *sym;
    enum fate fate;
} declared[] = {
#define TF_CALL(sym, base, ver, mode, ...) {#sym, FATE_FORWARDED},
#define TF_CUSTOM(sym, base, ver, mode) {#sym, FATE_FORWARDED},
#define TF_LOCAL(sym, base, ver) {#sym, FATE_LOCAL},
#include "calls_defaults.h"
#include "calls.def"
#include "calls_undef.h"
};

/* Families, first match wins: a prefix, or "~" and a substring. */
static const struct {
    const char *family, *patterns;
} families[] = {
    {"graphics interop", "cuGraphics cuGL cuEGL cuVDPAU cuWGL"},
    {"arrays, textures, surfaces",
     "cuArray cuMipmappedArray cuTex cuSurf cuModuleGetTexRef cuModuleGetSurfRef cuParamSetTexRef "
     "~AtoA ~AtoD ~AtoH ~DtoA ~HtoA cuMemMapArrayAsync cuExternalMemoryGetMappedMipmappedArray"},
    {"graphs and capture",
     "cuGraph cuUserObject cuStreamBeginCapture cuStreamEndCapture cuStreamIsCapturing "
     "cuStreamGetCaptureInfo cuStreamUpdateCaptureDependencies cuThreadExchangeStreamCaptureMode "
     "cuDeviceGetGraphMem cuDeviceSetGraphMem cuDeviceGraphMem"},
    {"IPC", "cuIpc"},
    {"memory pools",
     "cuMemPool cuMemAllocAsync cuMemAllocFromPoolAsync cuMemFreeAsync cuDeviceGetDefaultMemPool "
     "cuDeviceGetMemPool cuDeviceSetMemPool cuMemGetDefaultMemPool cuMemGetMemPool cuMemSetMemPool"},
    {"virtual memory",
     "cuMemAddress cuMemCreate cuMemRelease cuMemMap cuMemUnmap cuMemSetAccess cuMemGetAccess "
     "cuMemGetAllocation cuMemExport cuMemImport cuMemRetainAllocationHandle cuMulticast"},
    {"copies and memsets", "cuMemcpy cuMemset cuMemBatchDecompress"},
    {"memory", "cuMem cuPointer"},
    {"streams and events", "cuStream cuEvent cuLaunchHostFunc"},
    {"modules and launches",
     "cuModule cuLibrary cuKernel cuFunc cuLink cuLaunch cuOccupancy cuParam"},
    {"contexts", "cuCtx cuDevicePrimaryCtx cuGreenCtx cuDevResource cuDevSmResource"},
    {"external resources", "cuImportExternal cuExternal cuDestroyExternal cuSignalExternal "
                           "cuWaitExternal"},
    {"tensor maps", "cuTensorMap"},
    {"tools (profiler, logs, core dumps, checkpoints)", "cuProfiler cuLogs cuCoredump cuCheckpoint"},
    {"init, versions, devices", "cu"},
};
#define NFAMILIES (sizeof families / sizeof families[0])

static int family_of(const char *base)
{
    for (size_t f = 0; f < NFAMILIES; f++) {
        const char *p = families[f].patterns;
        while (*p) {
            size_t n = strcspn(p, " ");
            char pat[64];
            snprintf(pat, sizeof pat, "%.*s", (int)n, p);
            if (pat[0] == '~' ? strstr(base, pat + 1) != NULL : strncmp(base, pat, n) == 0)
                return (int)f;
            p += n + (p[n] == ' ');
        }
    }
    return (int)NFAMILIES - 1;
}

/* The weak cu* symbols of an ELF shared library's dynamic symbol table: 1 in weak[i] when
 * fns[i].sym is defined weak, -1 when it is not defined at all. */
static int read_weak_symbols(const char *path, int *weak)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(Elf64_Ehdr)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    const unsigned char *img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (img == MAP_FAILED)
        return -1;
    size_t size = (size_t)st.st_size;
    const Elf64_Ehdr *eh = (const void *)img;
    int rc = -1;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64
        && eh->e_shoff < size && eh->e_shnum <= (size - eh->e_shoff) / sizeof(Elf64_Shdr)) {
        const Elf64_Shdr *sh = (const void *)(img + eh->e_shoff);
        for (int i = 0; i < eh->e_shnum; i++) {
            if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum)
                continue;
            const Elf64_Shdr *strs = &sh[sh[i].sh_link];
            if (sh[i].sh_offset > size || sh[i].sh_size > size - sh[i].sh_offset
                || strs->sh_offset > size || strs->sh_size > size - strs->sh_offset)
                break;
            const Elf64_Sym *sym = (const void *)(img + sh[i].sh_offset);
            const char *names = (const char *)img + strs->sh_offset;
            for (size_t k = 0; k < NFNS; k++)
                weak[k] = -1;
            for (size_t s = 0; s < sh[i].sh_size / sizeof *sym; s++) {
                if (sym[s].st_shndx == SHN_UNDEF || sym[s].st_name >= strs->sh_size)
                    continue;
                const char *name = names + sym[s].st_name;
                if (strnlen(name, strs->sh_size - sym[s].st_name) == strs->sh_size - sym[s].st_name)
                    continue;
                for (size_t k = 0; k < NFNS; k++)
                    if (!strcmp(fns[k].sym, name))
                        weak[k] = ELF64_ST_BIND(sym[s].st_info) == STB_WEAK;
            }
            rc = 0;
            break;
        }
    }
    munmap((void *)img, size);
    return rc;
}

static enum fate fate_of_symbol(const char *sym, int softgpu)
{
    for (size_t i = 0; i < NFNS; i++)
        if (!strcmp(fns[i].sym, sym))
            return softgpu ? fns[i].soft : fns[i].stub;
    return FATE_REFUSED;
}

/* Fills in every function's fate through the stub and on softgpu (-1: softgpu not readable). */
static int classify(const char *softgpu_lib)
{
    for (size_t i = 0; i < NFNS; i++)
        for (size_t d = 0; d < sizeof declared / sizeof declared[0]; d++)
            if (!strcmp(declared[d].sym, fns[i].sym))
                fns[i].stub = declared[d].fate;
    int *weak = calloc(NFNS, sizeof *weak);
    int rc = weak ? read_weak_symbols(softgpu_lib, weak) : -1;
    for (size_t i = 0; i < NFNS; i++)
        fns[i].soft = rc == 0 && weak[i] == 0 ? FATE_SERVED : FATE_REFUSED;
    free(weak);
    for (size_t i = 0; i < NFNS; i++)
        if (fns[i].of) {
            fns[i].stub = fate_of_symbol(fns[i].of, 0);
            fns[i].soft = fate_of_symbol(fns[i].of, 1);
        }
    return rc;
}

struct tally {
    int total, stub[4], soft[4];
};

static void tally_families(struct tally *t)
{
    memset(t, 0, sizeof(struct tally) * (NFAMILIES + 1));
    for (size_t i = 0; i < NFNS; i++) {
        struct tally *rows[] = {&t[family_of(fns[i].base)], &t[NFAMILIES]};
        for (int r = 0; r < 2; r++) {
            rows[r]->total++;
            rows[r]->stub[fns[i].stub]++;
            rows[r]->soft[fns[i].soft]++;
        }
    }
}

static void print_table(const struct tally *t, int have_soft)
{
    printf("%-48s %5s   %9s %6s %7s   %7s %7s\n", "driver functions by family", "all",
           "forwarded", "local", "refused", "softgpu", "refused");
    for (size_t f = 0; f <= NFAMILIES; f++) {
        if (f == NFAMILIES)
            printf("%-48s %5s   %9s %6s %7s   %7s %7s\n", "", "-----", "---------", "------",
                   "-------", "-------", "-------");
        const char *name = f < NFAMILIES ? families[f].family : "all";
        if (!t[f].total)
            continue;
        printf("%-48s %5d   %9d %6d %7d", name, t[f].total, t[f].stub[FATE_FORWARDED],
               t[f].stub[FATE_LOCAL], t[f].stub[FATE_REFUSED]);
        if (have_soft)
            printf("   %7d %7d\n", t[f].soft[FATE_SERVED], t[f].soft[FATE_REFUSED]);
        else
            printf("   %7s %7s\n", "?", "?");
    }
    printf("\nforwarded/local/refused: through the stub (tfuse run); softgpu: served/refused by "
           "softgpu itself.\nA refused function returns CUDA_ERROR_NOT_SUPPORTED and is logged "
           "once by name;\ndocs/driver-surface.md gives each its reason (tfuse doctor --refused "
           "lists them).\n");
}

static void print_refused(int have_soft)
{
    for (int lib = 0; lib < 1 + have_soft; lib++) {
        printf("%s refuses:\n", lib ? "softgpu" : "the stub");
        for (size_t f = 0; f < NFAMILIES; f++)
            for (size_t i = 0; i < NFNS; i++)
                if (family_of(fns[i].base) == (int)f
                    && (lib ? fns[i].soft : fns[i].stub) == FATE_REFUSED)
                    printf("  %-44s %s\n", fns[i].sym, families[f].family);
    }
}

static int print_json(int have_soft)
{
    json_t *list = json_array();
    for (size_t i = 0; i < NFNS; i++) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "symbol", fns[i].sym, "name", fns[i].base,
                              "family", families[family_of(fns[i].base)].family, "stub",
                              fate_names[fns[i].stub]);
        if (have_soft)
            json_object_set_new(o, "softgpu", json_string(fate_names[fns[i].soft]));
        json_array_append_new(list, o);
    }
    int rc = json_dumpf(list, stdout, JSON_INDENT(1)) == 0 ? 0 : 1;
    putchar('\n');
    json_decref(list);
    return rc;
}

static const char doctor_usage[] =
    "usage: tfuse doctor [--surface] [--refused] [--json] [--softgpu LIB]\n"
    "  the CUDA driver API per family: forwarded, answered locally or refused through the stub,\n"
    "  served or refused by softgpu (LIB: default <tfuse>/../lib/libtfuse-softgpu.so)\n"
    "  --refused  list every refused function;  --json  every function with its fate\n";

int tfuse_doctor_main(int argc, char **argv)
{
    int json = 0, refused = 0;
    const char *softgpu = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--refused"))
            refused = 1;
        else if (!strcmp(argv[i], "--surface"))
            continue;
        else if (!strcmp(argv[i], "--softgpu") && i + 1 < argc)
            softgpu = argv[++i];
        else {
            int help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
            fputs(doctor_usage, help ? stdout : stderr);
            return help ? 0 : 2;
        }
    }
    char lib[4096];
    if (!softgpu && tf_exe_relative("../lib/libtfuse-softgpu.so", lib, sizeof lib) == 0)
        softgpu = lib;
    int have_soft = softgpu && classify(softgpu) == 0;
    if (!have_soft) {
        classify("/nonexistent");
        fprintf(stderr, "tfuse doctor: cannot read softgpu's library %s: its column is unknown\n",
                softgpu ? softgpu : "(not found)");
    }
    if (json)
        return print_json(have_soft);
    if (refused) {
        print_refused(have_soft);
        return 0;
    }
    struct tally t[NFAMILIES + 1];
    tally_families(t);
    print_table(t, have_soft);
    return 0;
}
