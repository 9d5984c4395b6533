/*
 * The device memory a cubin's variables take, read from its ELF section table: what a driver
 * allocates when it loads the module, for images that carry no PTX to read it from (SASS-only
 * fat binaries, bare cubins). The worker charges it to the vGPU before the load.
 *
 * Sections that become per-module device memory (names as nvcc emits them):
 *   .nv.global        __device__ variables without an initialiser (NOBITS: sh_size only)
 *   .nv.global.init   __device__ variables with one
 *   .nv.constantN     constant banks of the module: N = 3 holds __constant__ variables, the
 *                     others compiler constants. `.nv.constant0.<kernel>` is a kernel's
 *                     parameter bank, filled per launch, not module storage: not counted.
 * Every offset and size is checked against the image; a malformed table is an error, never a
 * guess. The same tables give the names of a SASS-only image's kernels, so that a lookup of
 * one can say it has no code softgpu runs rather than that it does not exist.
 * Owns: nothing. May call: libc and fatbin.c.
 */
#include "fatbin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <elf.h>

/* Whether a section of this name is module storage (see the header comment). */
static int is_module_storage(const char *name)
{
    if (strcmp(name, ".nv.global") == 0 || strcmp(name, ".nv.global.init") == 0)
        return 1;
    return strncmp(name, ".nv.constant", 12) == 0 && name[12] >= '1' && name[12] <= '9';
}

static int fail(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "cubin: %s", what);
    return FATBIN_EFORMAT;
}

/* Checks the ELF header and the section table of a cubin of `size` bytes into *eh. */
static int cubin_header(const uint8_t *p, size_t size, Elf64_Ehdr *eh, char *err, size_t errlen)
{
    if (size < sizeof *eh || memcmp(p, ELFMAG, SELFMAG) != 0)
        return fail(err, errlen, "not an ELF image");
    memcpy(eh, p, sizeof *eh);
    if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_shentsize != sizeof(Elf64_Shdr))
        return fail(err, errlen, "not a 64-bit ELF image");
    if (eh->e_shoff > size || eh->e_shnum > (size - eh->e_shoff) / sizeof(Elf64_Shdr))
        return fail(err, errlen, "section table outside the image");
    return FATBIN_OK;
}

/* Section i (i < e_shnum, checked by the caller) and whether its bytes lie in the image. */
static int section_at(const uint8_t *p, size_t size, const Elf64_Ehdr *eh, size_t i,
                      Elf64_Shdr *sh)
{
    memcpy(sh, p + eh->e_shoff + i * sizeof *sh, sizeof *sh);
    return sh->sh_type == SHT_NOBITS ||
           (sh->sh_offset <= size && sh->sh_size <= size - sh->sh_offset);
}

int fatbin_cubin_globals_bytes(const void *image, size_t size, uint64_t *bytes, char *err,
                               size_t errlen)
{
    const uint8_t *p = image;
    Elf64_Ehdr eh;
    int rc = cubin_header(p, size, &eh, err, errlen);
    if (rc)
        return rc;
    if (eh.e_shstrndx >= eh.e_shnum)
        return fail(err, errlen, "no section name table");
    Elf64_Shdr names;
    if (!section_at(p, size, &eh, eh.e_shstrndx, &names) || names.sh_type == SHT_NOBITS)
        return fail(err, errlen, "section name table outside the image");
    uint64_t total = 0;
    for (size_t i = 0; i < eh.e_shnum; i++) {
        Elf64_Shdr sh;
        int inside = section_at(p, size, &eh, i, &sh);
        if (sh.sh_name >= names.sh_size)
            return fail(err, errlen, "section name outside the name table");
        const char *name = (const char *)p + names.sh_offset + sh.sh_name;
        if (!memchr(name, '\0', names.sh_size - sh.sh_name))
            return fail(err, errlen, "unterminated section name");
        if (!is_module_storage(name))
            continue;
        if (!inside)
            return fail(err, errlen, "section data outside the image");
        if (sh.sh_size > FATBIN_MAX_ENTRY_BYTES || total > UINT64_MAX - sh.sh_size)
            return fail(err, errlen, "section size beyond limits");
        total += sh.sh_size;
    }
    *bytes = total;
    return FATBIN_OK;
}

/* Adds name to the list unless it is there (lists are short: a translation unit's kernels). */
static int add_name(struct fatbin_names *l, const char *name, size_t maxlen)
{
    size_t n = strnlen(name, maxlen);
    if (n == maxlen)
        return FATBIN_EFORMAT;
    for (size_t i = 0; i < l->count; i++)
        if (!strcmp(l->names[i], name))
            return FATBIN_OK;
    char **nv = realloc(l->names, (l->count + 1) * sizeof *nv);
    if (!nv)
        return FATBIN_ENOMEM;
    l->names = nv;
    if (!(nv[l->count] = strndup(name, n)))
        return FATBIN_ENOMEM;
    l->count++;
    return FATBIN_OK;
}

int fatbin_cubin_kernel_names(const void *image, size_t size, struct fatbin_names *out,
                              char *err, size_t errlen)
{
    const uint8_t *p = image;
    Elf64_Ehdr eh;
    int rc = cubin_header(p, size, &eh, err, errlen);
    for (size_t i = 0; rc == FATBIN_OK && i < eh.e_shnum; i++) {
        Elf64_Shdr sym, str;
        if (!section_at(p, size, &eh, i, &sym) || sym.sh_type != SHT_SYMTAB)
            continue;
        if (sym.sh_link >= eh.e_shnum || !section_at(p, size, &eh, sym.sh_link, &str) ||
            str.sh_type == SHT_NOBITS)
            return fail(err, errlen, "symbol name table outside the image");
        for (size_t j = 0; rc == FATBIN_OK && j < sym.sh_size / sizeof(Elf64_Sym); j++) {
            Elf64_Sym s;
            memcpy(&s, p + sym.sh_offset + j * sizeof s, sizeof s);
            /* kernels: functions flagged 0x10 in st_other (docs/fatbin.md, "Cubin ELF") */
            if (ELF64_ST_TYPE(s.st_info) != STT_FUNC || !(s.st_other & 0x10))
                continue;
            if (s.st_name >= str.sh_size)
                return fail(err, errlen, "symbol name outside its table");
            rc = add_name(out, (const char *)p + str.sh_offset + s.st_name,
                          str.sh_size - s.st_name);
            if (rc == FATBIN_EFORMAT)
                return fail(err, errlen, "unterminated symbol name");
        }
    }
    return rc;
}

void fatbin_names_free(struct fatbin_names *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->names[i]);
    free(l->names);
    l->names = NULL;
    l->count = 0;
}

/* Calls fn on each cubin of an image (a cubin, or a container's ELF entries, decompressed). */
static int for_each_cubin(const void *image, size_t size,
                          int (*fn)(const uint8_t *elf, size_t len, void *arg, char *err,
                                    size_t errlen),
                          void *arg, char *err, size_t errlen)
{
    enum fatbin_image_kind kind = size >= 4 ? fatbin_image_kind(image, size) : FATBIN_IMAGE_UNKNOWN;
    if (kind == FATBIN_IMAGE_ELF)
        return fn(image, size, arg, err, errlen);
    if (kind != FATBIN_IMAGE_CONTAINER)
        return fail(err, errlen, "neither a cubin nor a fat-binary container");
    size_t n = 0;
    int rc = fatbin_entries(image, size, NULL, 0, &n, err, errlen);
    struct fatbin_entry *e = rc ? NULL : calloc(n ? n : 1, sizeof *e);
    if (!rc && !e)
        return FATBIN_ENOMEM;
    if (!rc)
        rc = fatbin_entries(image, size, e, n, &n, err, errlen);
    for (size_t i = 0; rc == FATBIN_OK && i < n; i++) {
        if (e[i].kind != FATBIN_ENTRY_ELF)
            continue;
        uint8_t *elf = NULL;
        size_t len = 0;
        rc = fatbin_entry_bytes(&e[i], &elf, &len, err, errlen);
        if (rc == FATBIN_OK)
            rc = fn(elf, len, arg, err, errlen);
        free(elf);
    }
    free(e);
    return rc;
}

static int largest_globals(const uint8_t *elf, size_t len, void *arg, char *err, size_t errlen)
{
    uint64_t b = 0, *most = arg;
    int rc = fatbin_cubin_globals_bytes(elf, len, &b, err, errlen);
    if (rc == FATBIN_OK && b > *most)
        *most = b;
    return rc;
}

/* The largest of the ELF entries' storage: which of them the driver loads depends on the
 * device, and charging the largest never lets a load take more than it was charged. */
int fatbin_image_globals_bytes(const void *image, size_t size, uint64_t *bytes, char *err,
                               size_t errlen)
{
    uint64_t most = 0;
    int rc = for_each_cubin(image, size, largest_globals, &most, err, errlen);
    if (rc == FATBIN_OK)
        *bytes = most;
    return rc;
}

static int cubin_names(const uint8_t *elf, size_t len, void *arg, char *err, size_t errlen)
{
    return fatbin_cubin_kernel_names(elf, len, arg, err, errlen);
}

int fatbin_image_kernel_names(const void *image, size_t size, struct fatbin_names *out,
                              char *err, size_t errlen)
{
    return for_each_cubin(image, size, cubin_names, out, err, errlen);
}
