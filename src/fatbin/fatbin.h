/*
 * Reader for the device-code images that CUDA programs hand to the driver: nvcc's fat-binary
 * wrapper (__fatBinC_Wrapper_t), fat-binary containers, cubin ELF files and PTX text
 * (formats: docs/fatbin.md). It sizes images that arrive as a bare pointer, lists a
 * container's entries, decompresses them (zstd, LZ4) and picks the code a device of a given
 * SM version can run. Pure functions over bytes: no CUDA, no TensorFuse.
 *
 * Every decoder here treats its input as hostile: lengths are checked against the bytes
 * actually available, and a failure returns a FATBIN_E* code with a one-line reason in err.
 */
#ifndef TFUSE_FATBIN_H
#define TFUSE_FATBIN_H

#include <stddef.h>
#include <stdint.h>

#define FATBIN_WRAPPER_MAGIC 0x466243B1u
#define FATBIN_CONTAINER_MAGIC 0xBA55ED50u

enum fatbin_result {
    FATBIN_OK = 0,
    FATBIN_EFORMAT = -1,  /* malformed or truncated image */
    FATBIN_ENOCODE = -2,  /* well formed, but nothing this device can run (e.g. SASS only) */
    FATBIN_ETOOBIG = -3,  /* a declared size beyond the limits below */
    FATBIN_ENOMEM = -4,
};

/* Hostile-size limits: no single entry decompresses to more than this. */
#define FATBIN_MAX_ENTRY_BYTES ((size_t)1 << 30)

enum fatbin_image_kind {
    FATBIN_IMAGE_UNKNOWN = 0,
    FATBIN_IMAGE_WRAPPER,   /* __fatBinC_Wrapper_t: points at a container elsewhere in memory */
    FATBIN_IMAGE_CONTAINER, /* 0xBA55ED50 header followed by entries */
    FATBIN_IMAGE_ELF,       /* a cubin */
    FATBIN_IMAGE_PTX,       /* NUL-terminated PTX text */
};

/* Classifies an image from its first bytes (avail = how many may be read, at least 4). */
enum fatbin_image_kind fatbin_image_kind(const void *image, size_t avail);

/* For an image known only by its address (what cuModuleLoadData and cuLibraryLoadData receive):
 * follows a wrapper to its container and returns the bytes that make up the code, *data and *size,
 * which a caller may copy (to send it to another process) and later parse with a known size.
 * PTX: the text including its NUL; ELF: up to the end of the last header or section. Trusts the
 * memory to be mapped, as the driver must; still rejects absurd sizes. */
int fatbin_locate(const void *image, const void **data, size_t *size, char *err, size_t errlen);

enum fatbin_entry_kind { FATBIN_ENTRY_PTX = 1, FATBIN_ENTRY_ELF = 2 };

struct fatbin_entry {
    enum fatbin_entry_kind kind;
    unsigned arch;            /* SM number: 80 for sm_80 / compute_80 */
    unsigned major, minor;    /* PTX ISA version for PTX entries */
    uint64_t flags;           /* 0x2000 LZ4, 0x8000 ZSTD, ... */
    const uint8_t *payload;   /* inside the container */
    size_t payload_size;      /* bytes of payload as stored (compressed size when compressed) */
    size_t uncompressed_size; /* 0 when not compressed */
};

/* Lists the entries of a container of `size` bytes (several concatenated containers are read
 * in turn). Writes at most max entries and the total count to *count. */
int fatbin_entries(const void *container, size_t size, struct fatbin_entry *out, size_t max,
                   size_t *count, char *err, size_t errlen);

/* The entry's bytes, decompressed when needed, in a new buffer the caller frees. PTX text is
 * NUL-terminated with padding NULs stripped (*len excludes the NUL). */
int fatbin_entry_bytes(const struct fatbin_entry *e, uint8_t **out, size_t *len, char *err,
                       size_t errlen);

/* The PTX a device of compute capability `sm` (e.g. 80) should JIT from an image of `size`
 * bytes of any kind: the PTX entry with the highest arch <= sm. FATBIN_ENOCODE (with a reason
 * that names the SASS architectures present) when the image holds only cubins. */
int fatbin_select_ptx(const void *image, size_t size, unsigned sm, char **ptx, size_t *len,
                      char *err, size_t errlen);

/* Device memory a cubin's module-scope variables take (.nv.global, .nv.global.init and the
 * module's constant banks; kernel parameter banks excluded): what loading it allocates. For
 * images without PTX to read that from. 0 with *bytes, or FATBIN_EFORMAT with err. */
int fatbin_cubin_globals_bytes(const void *cubin, size_t size, uint64_t *bytes, char *err,
                               size_t errlen);
/* The same for a cubin or a container of cubins: the largest over its ELF entries (the one
 * the driver picks depends on the device). */
int fatbin_image_globals_bytes(const void *image, size_t size, uint64_t *bytes, char *err,
                               size_t errlen);

/* Kernel names (mangled) a cubin, or the cubins of a container, define: what a SASS-only image
 * would have offered. Names not yet in *out are appended (malloc'd; fatbin_names_free). */
struct fatbin_names {
    char **names;
    size_t count;
};
int fatbin_cubin_kernel_names(const void *cubin, size_t size, struct fatbin_names *out,
                              char *err, size_t errlen);
int fatbin_image_kernel_names(const void *image, size_t size, struct fatbin_names *out,
                              char *err, size_t errlen);
void fatbin_names_free(struct fatbin_names *l);

#endif
