/*
 * Fat-binary reader: classifies device-code images, sizes images known only by their address,
 * lists container entries, decompresses them (zstd, LZ4) and picks the PTX a device can JIT.
 * Formats: docs/fatbin.md ("Wrapper", "Container header", "Entry header", "Compression",
 * "Cubin ELF").
 *
 * May call: libc, libzstd, liblz4. Nothing else: this file must stay usable from the stub, the
 * worker and softgpu alike.
 *
 * Every multi-byte field is read with memcpy (images need not be aligned) and every length is
 * checked against the bytes that remain before it is used, with overflow-safe subtraction
 * (`len > avail - off` after checking `off <= avail`) rather than addition.
 */
#include "fatbin.h"

#include <lz4.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define WRAPPER_BYTES 24
#define CONTAINER_HEADER_BYTES 16
#define ENTRY_HEADER_MIN_BYTES 64
#define OLD_CONTAINER_MAGIC 0x1EE55A01u
#define FLAG_LZ4 0x2000u
#define FLAG_ZSTD 0x8000u
#define ELF_HEADER_BYTES 64
/* An LZ4 block expands at most ~255 times (a 1-byte token + run-length bytes of 255). */
#define LZ4_MAX_RATIO 255
/* fatbin_locate() trusts memory but not sizes: nothing it returns is larger than this. */
#define MAX_IMAGE_BYTES ((uint64_t)4 << 30)

static int fail(int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

static uint16_t rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* ---- classification --------------------------------------------------------------------- */

static int is_text_byte(uint8_t c)
{
    return (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '\v';
}

/* PTX is text: after any leading white space (generated PTX can open with many blank lines) we
 * look at up to 64 bytes (or to the first NUL) and require them all to be printable or white
 * space, with at least one that is not white space. */
static int looks_like_ptx(const uint8_t *p, size_t avail)
{
    while (avail && is_text_byte(p[0]) && (p[0] <= 0x20)) { /* white space */
        p++;
        avail--;
    }
    size_t n = avail < 64 ? avail : 64;
    int visible = 0;
    for (size_t i = 0; i < n && p[i]; i++) {
        if (!is_text_byte(p[i]))
            return 0;
        if (p[i] > 0x20 && p[i] < 0x7f)
            visible = 1;
    }
    return visible;
}

enum fatbin_image_kind fatbin_image_kind(const void *image, size_t avail)
{
    const uint8_t *p = image;
    if (!p || avail < 4)
        return FATBIN_IMAGE_UNKNOWN;
    uint32_t magic = rd32(p);
    if (magic == FATBIN_WRAPPER_MAGIC)
        return FATBIN_IMAGE_WRAPPER;
    if (magic == FATBIN_CONTAINER_MAGIC)
        return FATBIN_IMAGE_CONTAINER;
    if (memcmp(p, "\x7f" "ELF", 4) == 0)
        return FATBIN_IMAGE_ELF;
    if (looks_like_ptx(p, avail))
        return FATBIN_IMAGE_PTX;
    return FATBIN_IMAGE_UNKNOWN;
}

/* ---- sizing ------------------------------------------------------------------------------ */

/* end = max(end, off + len), failing when that passes `limit`. */
static int extend_end(uint64_t *end, uint64_t off, uint64_t len, uint64_t limit)
{
    if (off > limit || len > limit - off)
        return -1;
    if (off + len > *end)
        *end = off + len;
    return 0;
}

/* The extent of an ELF64 image: the end of its header tables and of every section and segment
 * that occupies file bytes. Reads headers only after checking that they lie within `avail`. */
static int elf_extent(const uint8_t *p, size_t avail, size_t *size, char *err, size_t errlen)
{
    if (avail < ELF_HEADER_BYTES)
        return fail(FATBIN_EFORMAT, err, errlen, "ELF image truncated: %zu bytes, header needs 64",
                    avail);
    if (p[4] != 2 || p[5] != 1)
        return fail(FATBIN_EFORMAT, err, errlen, "ELF image is not 64-bit little-endian");
    uint64_t phoff = rd64(p + 32), shoff = rd64(p + 40);
    uint16_t phentsize = rd16(p + 54), phnum = rd16(p + 56);
    uint16_t shentsize = rd16(p + 58), shnum = rd16(p + 60);
    uint64_t end = ELF_HEADER_BYTES;
    if ((phnum && phentsize < 56) || (shnum && shentsize < 64))
        return fail(FATBIN_EFORMAT, err, errlen, "ELF header table entries too small");
    if (extend_end(&end, phoff, (uint64_t)phnum * phentsize, avail) ||
        extend_end(&end, shoff, (uint64_t)shnum * shentsize, avail))
        return fail(FATBIN_EFORMAT, err, errlen, "ELF header tables extend past the image");
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = p + phoff + (uint64_t)i * phentsize;
        if (extend_end(&end, rd64(ph + 8), rd64(ph + 32), avail))
            return fail(FATBIN_EFORMAT, err, errlen, "ELF segment %u extends past the image", i);
    }
    for (unsigned i = 0; i < shnum; i++) {
        const uint8_t *sh = p + shoff + (uint64_t)i * shentsize;
        uint32_t type = rd32(sh + 4);
        if (type == 0 || type == 8) /* SHT_NULL, SHT_NOBITS: no file bytes */
            continue;
        if (extend_end(&end, rd64(sh + 24), rd64(sh + 32), avail))
            return fail(FATBIN_EFORMAT, err, errlen, "ELF section %u extends past the image", i);
    }
    *size = (size_t)end;
    return FATBIN_OK;
}

/* The checks both header kinds (container, entry) start with: the fixed min bytes are there,
 * and the size the header declares for itself (a 16- or 32-bit field at offset `field`) covers
 * them and fits in avail. `what` names the header in the error. */
static int header_size_at(const uint8_t *p, size_t avail, size_t min, size_t field, int wide,
                          const char *what, uint32_t *header_size, char *err, size_t errlen)
{
    if (avail < min)
        return fail(FATBIN_EFORMAT, err, errlen, "%s header truncated (%zu bytes)", what, avail);
    *header_size = wide ? rd32(p + field) : rd16(p + field);
    if (*header_size < min || *header_size > avail)
        return fail(FATBIN_EFORMAT, err, errlen, "%s header size %u is invalid", what,
                    *header_size);
    return FATBIN_OK;
}

static int container_extent(const uint8_t *p, size_t avail, size_t *size, char *err,
                            size_t errlen)
{
    uint32_t header_size = 0;
    int rc = header_size_at(p, avail, CONTAINER_HEADER_BYTES, 6, 0, "fat binary", &header_size,
                            err, errlen);
    if (rc != FATBIN_OK)
        return rc;
    uint64_t files_size = rd64(p + 8);
    if (files_size > avail - header_size)
        return fail(files_size > MAX_IMAGE_BYTES ? FATBIN_ETOOBIG : FATBIN_EFORMAT, err, errlen,
                    "fat binary declares %llu bytes of entries, only %zu available",
                    (unsigned long long)files_size, avail - header_size);
    *size = header_size + (size_t)files_size;
    return FATBIN_OK;
}

int fatbin_locate(const void *image, const void **data, size_t *size, char *err, size_t errlen)
{
    const uint8_t *p = image;
    if (!p || !data || !size)
        return fail(FATBIN_EFORMAT, err, errlen, "no image");
    enum fatbin_image_kind kind = fatbin_image_kind(p, 4);
    if (kind == FATBIN_IMAGE_UNKNOWN && is_text_byte(p[0])) /* text opening with white space */
        kind = fatbin_image_kind(p, strnlen((const char *)p, 4096));
    switch (kind) {
    case FATBIN_IMAGE_WRAPPER: {
        const void *container;
        memcpy(&container, p + 8, sizeof container);
        if (!container)
            return fail(FATBIN_EFORMAT, err, errlen, "fat binary wrapper has no data pointer");
        if (fatbin_image_kind(container, 4) != FATBIN_IMAGE_CONTAINER)
            return fail(FATBIN_EFORMAT, err, errlen,
                        "fat binary wrapper does not point at a fat binary (magic 0x%08x)",
                        rd32(container));
        *data = container;
        return container_extent(container, MAX_IMAGE_BYTES, size, err, errlen);
    }
    case FATBIN_IMAGE_CONTAINER:
        *data = p;
        return container_extent(p, MAX_IMAGE_BYTES, size, err, errlen);
    case FATBIN_IMAGE_ELF:
        *data = p;
        return elf_extent(p, MAX_IMAGE_BYTES, size, err, errlen);
    case FATBIN_IMAGE_PTX: {
        size_t n = strnlen((const char *)p, MAX_IMAGE_BYTES);
        if (n == MAX_IMAGE_BYTES)
            return fail(FATBIN_ETOOBIG, err, errlen, "PTX text has no terminating NUL");
        *data = p;
        *size = n + 1;
        return FATBIN_OK;
    }
    default:
        break;
    }
    if (rd32(p) == OLD_CONTAINER_MAGIC)
        return fail(FATBIN_EFORMAT, err, errlen, "old-style fat binary (0x1EE55A01) not supported");
    return fail(FATBIN_EFORMAT, err, errlen, "unrecognised image (first word 0x%08x)", rd32(p));
}

/* ---- entries ----------------------------------------------------------------------------- */

/* Decodes the entry header at p (avail bytes to the end of its container) into *e and the byte
 * count to the next entry into *step. Unknown kinds are reported as kind 0 so the caller skips
 * them: newer toolkits may add kinds a PTX-only device has no use for. */
static int parse_entry(const uint8_t *p, size_t avail, struct fatbin_entry *e, size_t *step,
                       char *err, size_t errlen)
{
    uint32_t header_size = 0;
    int rc = header_size_at(p, avail, ENTRY_HEADER_MIN_BYTES, 4, 1, "fat binary entry",
                            &header_size, err, errlen);
    if (rc != FATBIN_OK)
        return rc;
    uint16_t kind = rd16(p);
    uint64_t payload_size = rd64(p + 8);
    uint32_t compressed_size = rd32(p + 16);
    uint64_t flags = rd64(p + 40);
    uint64_t uncompressed_size = rd64(p + 56);
    if (payload_size > avail - header_size)
        return fail(FATBIN_EFORMAT, err, errlen,
                    "fat binary entry payload of %llu bytes passes the end of the container",
                    (unsigned long long)payload_size);
    memset(e, 0, sizeof *e);
    e->kind = (kind == FATBIN_ENTRY_PTX || kind == FATBIN_ENTRY_ELF) ? kind : 0;
    e->minor = rd16(p + 24);
    e->major = rd16(p + 26);
    e->arch = rd32(p + 28);
    e->flags = flags;
    e->payload = p + header_size;
    e->payload_size = (size_t)payload_size;
    *step = header_size + (size_t)payload_size;
    if ((flags & FLAG_LZ4) && (flags & FLAG_ZSTD))
        return fail(FATBIN_EFORMAT, err, errlen, "fat binary entry flags both LZ4 and zstd");
    if (flags & (FLAG_LZ4 | FLAG_ZSTD)) {
        if (compressed_size == 0 || compressed_size > payload_size)
            return fail(FATBIN_EFORMAT, err, errlen,
                        "compressed size %u does not fit the entry's %llu payload bytes",
                        compressed_size, (unsigned long long)payload_size);
        if (uncompressed_size == 0)
            return fail(FATBIN_EFORMAT, err, errlen, "compressed entry has no uncompressed size");
        if (uncompressed_size > FATBIN_MAX_ENTRY_BYTES)
            return fail(FATBIN_ETOOBIG, err, errlen,
                        "entry decompresses to %llu bytes (limit %zu)",
                        (unsigned long long)uncompressed_size, (size_t)FATBIN_MAX_ENTRY_BYTES);
        e->payload_size = compressed_size;
        e->uncompressed_size = (size_t)uncompressed_size;
    } else if (payload_size > FATBIN_MAX_ENTRY_BYTES) {
        return fail(FATBIN_ETOOBIG, err, errlen, "entry of %llu bytes (limit %zu)",
                    (unsigned long long)payload_size, (size_t)FATBIN_MAX_ENTRY_BYTES);
    }
    return FATBIN_OK;
}

/* Lists one container's entries starting at *n, and returns its total size in *used. */
static int container_entries(const uint8_t *p, size_t avail, struct fatbin_entry *out, size_t max,
                             size_t *n, size_t *used, char *err, size_t errlen)
{
    size_t total;
    if (rd32(p) != FATBIN_CONTAINER_MAGIC)
        return fail(FATBIN_EFORMAT, err, errlen, "bad fat binary magic 0x%08x", rd32(p));
    int rc = container_extent(p, avail, &total, err, errlen);
    if (rc)
        return rc;
    size_t off = rd16(p + 6);
    while (off < total) {
        struct fatbin_entry e;
        size_t step = 0;
        rc = parse_entry(p + off, total - off, &e, &step, err, errlen);
        if (rc)
            return rc;
        if (e.kind) {
            if (*n < max)
                out[*n] = e;
            (*n)++;
        }
        off += step;
    }
    *used = total;
    return FATBIN_OK;
}

int fatbin_entries(const void *container, size_t size, struct fatbin_entry *out, size_t max,
                   size_t *count, char *err, size_t errlen)
{
    const uint8_t *p = container;
    size_t off = 0, n = 0;
    if (!p || !count)
        return fail(FATBIN_EFORMAT, err, errlen, "no fat binary");
    if (!out)
        max = 0;
    *count = 0;
    if (size < CONTAINER_HEADER_BYTES)
        return fail(FATBIN_EFORMAT, err, errlen, "fat binary truncated (%zu bytes)", size);
    while (off < size) {
        /* Containers in a section are 8-byte aligned: zero padding may separate or end them. */
        if (size - off < CONTAINER_HEADER_BYTES || rd32(p + off) == 0) {
            while (off < size && p[off] == 0)
                off++;
            if (off == size)
                break;
            if (size - off < CONTAINER_HEADER_BYTES)
                return fail(FATBIN_EFORMAT, err, errlen, "%zu stray bytes after fat binary",
                            size - off);
        }
        size_t used = 0;
        int rc = container_entries(p + off, size - off, out, max, &n, &used, err, errlen);
        if (rc)
            return rc;
        off += used;
    }
    *count = n;
    return FATBIN_OK;
}

/* ---- decompression ----------------------------------------------------------------------- */

static int decompress_zstd(const struct fatbin_entry *e, uint8_t *dst, char *err, size_t errlen)
{
    unsigned long long declared = ZSTD_getFrameContentSize(e->payload, e->payload_size);
    if (declared == ZSTD_CONTENTSIZE_ERROR)
        return fail(FATBIN_EFORMAT, err, errlen, "zstd payload is not a zstd frame");
    if (declared == ZSTD_CONTENTSIZE_UNKNOWN || declared != e->uncompressed_size)
        return fail(FATBIN_EFORMAT, err, errlen,
                    "zstd frame content size does not match the entry's %zu bytes",
                    e->uncompressed_size);
    size_t got = ZSTD_decompress(dst, e->uncompressed_size, e->payload, e->payload_size);
    if (ZSTD_isError(got))
        return fail(FATBIN_EFORMAT, err, errlen, "zstd: %s", ZSTD_getErrorName(got));
    if (got != e->uncompressed_size)
        return fail(FATBIN_EFORMAT, err, errlen, "zstd produced %zu bytes, expected %zu", got,
                    e->uncompressed_size);
    return FATBIN_OK;
}

static int decompress_lz4(const struct fatbin_entry *e, uint8_t *dst, char *err, size_t errlen)
{
    if (e->payload_size > (size_t)LZ4_MAX_INPUT_SIZE || e->uncompressed_size > (size_t)INT32_MAX)
        return fail(FATBIN_ETOOBIG, err, errlen, "LZ4 entry too large");
    int got = LZ4_decompress_safe((const char *)e->payload, (char *)dst, (int)e->payload_size,
                                  (int)e->uncompressed_size);
    if (got < 0)
        return fail(FATBIN_EFORMAT, err, errlen, "LZ4 payload is corrupt");
    if ((size_t)got != e->uncompressed_size)
        return fail(FATBIN_EFORMAT, err, errlen, "LZ4 produced %d bytes, expected %zu", got,
                    e->uncompressed_size);
    return FATBIN_OK;
}

int fatbin_entry_bytes(const struct fatbin_entry *e, uint8_t **out, size_t *len, char *err,
                       size_t errlen)
{
    if (!e || !out || !len || (!e->payload && e->payload_size))
        return fail(FATBIN_EFORMAT, err, errlen, "no entry");
    int compressed = (e->flags & (FLAG_LZ4 | FLAG_ZSTD)) != 0;
    size_t n = compressed ? e->uncompressed_size : e->payload_size;
    if (n > FATBIN_MAX_ENTRY_BYTES)
        return fail(FATBIN_ETOOBIG, err, errlen, "entry of %zu bytes (limit %zu)", n,
                    (size_t)FATBIN_MAX_ENTRY_BYTES);
    if (compressed && n == 0)
        return fail(FATBIN_EFORMAT, err, errlen, "compressed entry has no uncompressed size");
    /* Reject what cannot decompress to n bytes before allocating n bytes for it. */
    if (compressed && (e->flags & FLAG_ZSTD) &&
        ZSTD_getFrameContentSize(e->payload, e->payload_size) != (unsigned long long)n)
        return fail(FATBIN_EFORMAT, err, errlen,
                    "zstd frame content size does not match the entry's %zu bytes", n);
    if (compressed && !(e->flags & FLAG_ZSTD) && n / LZ4_MAX_RATIO > e->payload_size)
        return fail(FATBIN_EFORMAT, err, errlen,
                    "LZ4 entry of %zu bytes cannot hold %zu uncompressed bytes", e->payload_size,
                    n);
    uint8_t *buf = malloc(n + 1);
    if (!buf)
        return fail(FATBIN_ENOMEM, err, errlen, "out of memory for a %zu-byte entry", n);
    int rc = FATBIN_OK;
    if (!compressed)
        memcpy(buf, e->payload, n);
    else if (e->flags & FLAG_ZSTD)
        rc = decompress_zstd(e, buf, err, errlen);
    else
        rc = decompress_lz4(e, buf, err, errlen);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = 0;
    if (e->kind == FATBIN_ENTRY_PTX)
        n = strnlen((const char *)buf, n); /* the text ends at its first NUL (padding) */
    *out = buf;
    *len = n;
    return FATBIN_OK;
}

/* ---- PTX selection ----------------------------------------------------------------------- */

/* "sm_80, sm_90" (or "compute_...") for the entries of one kind, for error messages. */
static void list_archs(const struct fatbin_entry *v, size_t n, enum fatbin_entry_kind kind,
                       char *buf, size_t buflen)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && used < buflen; i++) {
        if (v[i].kind != kind)
            continue;
        int w = snprintf(buf + used, buflen - used, "%s%s_%u", used ? ", " : "",
                         kind == FATBIN_ENTRY_PTX ? "compute" : "sm", v[i].arch);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static int select_from_entries(const struct fatbin_entry *v, size_t n, unsigned sm, char **ptx,
                               size_t *len, char *err, size_t errlen)
{
    const struct fatbin_entry *best = NULL;
    for (size_t i = 0; i < n; i++)
        if (v[i].kind == FATBIN_ENTRY_PTX && v[i].arch <= sm && (!best || v[i].arch > best->arch))
            best = &v[i];
    if (!best) {
        char ptxs[256], sass[256];
        list_archs(v, n, FATBIN_ENTRY_PTX, ptxs, sizeof ptxs);
        list_archs(v, n, FATBIN_ENTRY_ELF, sass, sizeof sass);
        if (ptxs[0])
            return fail(FATBIN_ENOCODE, err, errlen,
                        "no PTX for sm_%u: PTX only for %s%s%s", sm, ptxs,
                        sass[0] ? "; SASS for " : "", sass);
        if (sass[0])
            return fail(FATBIN_ENOCODE, err, errlen,
                        "no PTX in the fat binary, only SASS for %s (rebuild with PTX, "
                        "e.g. -arch=sm_%u)", sass, sm);
        return fail(FATBIN_ENOCODE, err, errlen, "fat binary holds no code");
    }
    uint8_t *bytes;
    int rc = fatbin_entry_bytes(best, &bytes, len, err, errlen);
    if (rc == FATBIN_OK)
        *ptx = (char *)bytes;
    return rc;
}

static int select_from_container(const void *c, size_t size, unsigned sm, char **ptx,
                                 size_t *len, char *err, size_t errlen)
{
    size_t n;
    int rc = fatbin_entries(c, size, NULL, 0, &n, err, errlen);
    if (rc)
        return rc;
    struct fatbin_entry *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return fail(FATBIN_ENOMEM, err, errlen, "out of memory for %zu entries", n);
    rc = fatbin_entries(c, size, v, n, &n, err, errlen);
    if (rc == FATBIN_OK)
        rc = select_from_entries(v, n, sm, ptx, len, err, errlen);
    free(v);
    return rc;
}

static int copy_ptx_text(const char *text, size_t size, char **ptx, size_t *len, char *err,
                         size_t errlen)
{
    size_t n = strnlen(text, size);
    if (n > FATBIN_MAX_ENTRY_BYTES)
        return fail(FATBIN_ETOOBIG, err, errlen, "PTX text of %zu bytes", n);
    char *copy = malloc(n + 1);
    if (!copy)
        return fail(FATBIN_ENOMEM, err, errlen, "out of memory for %zu bytes of PTX", n);
    memcpy(copy, text, n);
    copy[n] = 0;
    *ptx = copy;
    *len = n;
    return FATBIN_OK;
}

int fatbin_select_ptx(const void *image, size_t size, unsigned sm, char **ptx, size_t *len,
                      char *err, size_t errlen)
{
    if (!image || !ptx || !len)
        return fail(FATBIN_EFORMAT, err, errlen, "no image");
    switch (fatbin_image_kind(image, size)) {
    case FATBIN_IMAGE_PTX:
        return copy_ptx_text(image, size, ptx, len, err, errlen);
    case FATBIN_IMAGE_CONTAINER:
        return select_from_container(image, size, sm, ptx, len, err, errlen);
    case FATBIN_IMAGE_WRAPPER: {
        /* A wrapper points at its container: like fatbin_locate, trust that it is mapped. */
        const void *c;
        size_t csize;
        if (size < WRAPPER_BYTES)
            return fail(FATBIN_EFORMAT, err, errlen, "fat binary wrapper truncated");
        int rc = fatbin_locate(image, &c, &csize, err, errlen);
        return rc ? rc : select_from_container(c, csize, sm, ptx, len, err, errlen);
    }
    case FATBIN_IMAGE_ELF: {
        const uint8_t *p = image;
        unsigned arch = size >= ELF_HEADER_BYTES ? (rd32(p + 48) >> 8) & 0xff : 0;
        return fail(FATBIN_ENOCODE, err, errlen,
                    "image is a cubin (SASS only, sm_%u); no PTX to run", arch);
    }
    default:
        return fail(FATBIN_EFORMAT, err, errlen, "unrecognised image");
    }
}
