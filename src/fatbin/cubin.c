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
 * guess. Owns: nothing. May call: libc.
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

int fatbin_cubin_globals_bytes(const void *image, size_t size, uint64_t *bytes, char *err,
                               size_t errlen)
{
    const uint8_t *p = image;
    Elf64_Ehdr eh;
    if (size < sizeof eh || memcmp(p, ELFMAG, SELFMAG) != 0)
        return fail(err, errlen, "not an ELF image");
    memcpy(&eh, p, sizeof eh);
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr))
        return fail(err, errlen, "not a 64-bit ELF image");
    if (eh.e_shoff > size || eh.e_shnum > (size - eh.e_shoff) / sizeof(Elf64_Shdr))
        return fail(err, errlen, "section table outside the image");
    if (eh.e_shstrndx >= eh.e_shnum)
        return fail(err, errlen, "no section name table");
    Elf64_Shdr names;
    memcpy(&names, p + eh.e_shoff + (size_t)eh.e_shstrndx * sizeof names, sizeof names);
    if (names.sh_offset > size || names.sh_size > size - names.sh_offset)
        return fail(err, errlen, "section name table outside the image");
    uint64_t total = 0;
    for (size_t i = 0; i < eh.e_shnum; i++) {
        Elf64_Shdr sh;
        memcpy(&sh, p + eh.e_shoff + i * sizeof sh, sizeof sh);
        if (sh.sh_name >= names.sh_size)
            return fail(err, errlen, "section name outside the name table");
        const char *name = (const char *)p + names.sh_offset + sh.sh_name;
        if (!memchr(name, '\0', names.sh_size - sh.sh_name))
            return fail(err, errlen, "unterminated section name");
        if (!is_module_storage(name))
            continue;
        if (sh.sh_type != SHT_NOBITS &&
            (sh.sh_offset > size || sh.sh_size > size - sh.sh_offset))
            return fail(err, errlen, "section data outside the image");
        if (sh.sh_size > FATBIN_MAX_ENTRY_BYTES || total > UINT64_MAX - sh.sh_size)
            return fail(err, errlen, "section size beyond limits");
        total += sh.sh_size;
    }
    *bytes = total;
    return FATBIN_OK;
}

/* The largest of the ELF entries' storage: which of them the driver loads depends on the
 * device, and charging the largest never lets a load take more than it was charged. */
int fatbin_image_globals_bytes(const void *image, size_t size, uint64_t *bytes, char *err,
                               size_t errlen)
{
    enum fatbin_image_kind kind = size >= 4 ? fatbin_image_kind(image, size) : FATBIN_IMAGE_UNKNOWN;
    if (kind == FATBIN_IMAGE_ELF)
        return fatbin_cubin_globals_bytes(image, size, bytes, err, errlen);
    if (kind != FATBIN_IMAGE_CONTAINER)
        return fail(err, errlen, "neither a cubin nor a fat-binary container");
    enum { MAX_ENTRIES = 256 };
    struct fatbin_entry *e = calloc(MAX_ENTRIES, sizeof *e);
    size_t n = 0;
    if (!e)
        return FATBIN_ENOMEM;
    int rc = fatbin_entries(image, size, e, MAX_ENTRIES, &n, err, errlen);
    uint64_t most = 0;
    for (size_t i = 0; rc == FATBIN_OK && i < n && i < MAX_ENTRIES; i++) {
        if (e[i].kind != FATBIN_ENTRY_ELF)
            continue;
        uint8_t *elf = NULL;
        size_t len = 0;
        uint64_t b = 0;
        rc = fatbin_entry_bytes(&e[i], &elf, &len, err, errlen);
        if (rc == FATBIN_OK)
            rc = fatbin_cubin_globals_bytes(elf, len, &b, err, errlen);
        free(elf);
        if (b > most)
            most = b;
    }
    free(e);
    if (rc == FATBIN_OK)
        *bytes = most;
    return rc;
}
