/*
 * Unit tests of src/fatbin over real images built by nvcc 13.0 (tests/fatbin/data, made by
 * regen-data.sh from vadd.cu; the tests do not need nvcc): classification, sizing, entry
 * listing, zstd/LZ4 decompression, PTX selection by SM, and clean errors for truncated,
 * corrupted and absurdly sized images.
 *
 * May call: the fat-binary reader (fatbin.h), libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fatbin.h"

struct blob {
    uint8_t *bytes;
    size_t size;
};

static struct blob load(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", FATBIN_DATA_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    struct blob b = {malloc((size_t)n + 1), (size_t)n};
    assert_non_null(b.bytes);
    assert_int_equal(fread(b.bytes, 1, b.size, f), b.size);
    b.bytes[n] = 0;
    fclose(f);
    return b;
}

/* Entry header fields we corrupt on purpose (docs/fatbin.md, "Entry header"). */
#define CONTAINER_HDR 16
#define ENT_HEADER_SIZE 4
#define ENT_PAYLOAD_SIZE 8
#define ENT_COMPRESSED_SIZE 16
#define ENT_UNCOMPRESSED_SIZE 56

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Offset (from the container start) of the first entry of `kind`. */
static size_t entry_offset(const struct blob *b, enum fatbin_entry_kind kind)
{
    size_t off = CONTAINER_HDR;
    while (off + 64 <= b->size) {
        uint16_t k;
        memcpy(&k, b->bytes + off, 2);
        if (k == kind)
            return off;
        off += get32(b->bytes + off + ENT_HEADER_SIZE) + get64(b->bytes + off + ENT_PAYLOAD_SIZE);
    }
    fail_msg("no entry of kind %d", kind);
    return 0;
}

static int list(const struct blob *b, struct fatbin_entry *v, size_t max, size_t *n, char *err)
{
    return fatbin_entries(b->bytes, b->size, v, max, n, err, 256);
}

/* ---- classification and sizing ----------------------------------------------------------- */

static void test_kinds(void **state)
{
    (void)state;
    struct blob fb = load("zstd_sm80.fatbin"), elf = load("vadd_sm80.cubin"),
                ptx = load("vadd.ptx");
    uint8_t wrapper[24] = {0};
    put32(wrapper, FATBIN_WRAPPER_MAGIC);
    put32(wrapper + 4, 1);
    memcpy(wrapper + 8, &fb.bytes, sizeof fb.bytes);

    assert_int_equal(fatbin_image_kind(fb.bytes, fb.size), FATBIN_IMAGE_CONTAINER);
    assert_int_equal(fatbin_image_kind(elf.bytes, elf.size), FATBIN_IMAGE_ELF);
    assert_int_equal(fatbin_image_kind(ptx.bytes, ptx.size), FATBIN_IMAGE_PTX);
    assert_int_equal(fatbin_image_kind(wrapper, sizeof wrapper), FATBIN_IMAGE_WRAPPER);
    assert_int_equal(fatbin_image_kind("\x01\x02\x03\x04garbage", 11), FATBIN_IMAGE_UNKNOWN);
    assert_int_equal(fatbin_image_kind(fb.bytes, 3), FATBIN_IMAGE_UNKNOWN);
    assert_int_equal(fatbin_image_kind("    \n\t  ", 8), FATBIN_IMAGE_UNKNOWN);
    /* generated PTX may open with more blank space than the 64 bytes looked at (cuDNN's) */
    char spaced[300];
    memset(spaced, '\n', 200);
    memset(spaced + 1, ' ', 100);
    snprintf(spaced + 200, 100, ".version 8.0\n.target sm_80\n.address_size 64\n");
    assert_int_equal(fatbin_image_kind(spaced, strlen(spaced)), FATBIN_IMAGE_PTX);
    const void *data;
    size_t size;
    assert_int_equal(fatbin_locate(spaced, &data, &size, NULL, 0), FATBIN_OK);
    assert_int_equal(size, strlen(spaced) + 1);
    assert_int_equal(fatbin_image_kind(NULL, 100), FATBIN_IMAGE_UNKNOWN);
    free(fb.bytes);
    free(elf.bytes);
    free(ptx.bytes);
}

static void test_locate(void **state)
{
    (void)state;
    struct blob fb = load("multi_ptx.fatbin"), elf = load("vadd_sm80.cubin"),
                ptx = load("vadd.ptx");
    const void *data;
    size_t size;
    char err[256];
    uint8_t wrapper[24] = {0};
    put32(wrapper, FATBIN_WRAPPER_MAGIC);
    put32(wrapper + 4, 1);
    memcpy(wrapper + 8, &fb.bytes, sizeof fb.bytes);

    assert_int_equal(fatbin_locate(fb.bytes, &data, &size, err, sizeof err), FATBIN_OK);
    assert_ptr_equal(data, fb.bytes);
    assert_int_equal(size, fb.size);
    assert_int_equal(fatbin_locate(wrapper, &data, &size, err, sizeof err), FATBIN_OK);
    assert_ptr_equal(data, fb.bytes);
    assert_int_equal(size, fb.size);
    assert_int_equal(fatbin_locate(elf.bytes, &data, &size, err, sizeof err), FATBIN_OK);
    assert_int_equal(size, elf.size);
    assert_int_equal(fatbin_locate(ptx.bytes, &data, &size, err, sizeof err), FATBIN_OK);
    assert_int_equal(size, strlen((char *)ptx.bytes) + 1);

    void *null = NULL;
    memcpy(wrapper + 8, &null, sizeof null);
    assert_int_equal(fatbin_locate(wrapper, &data, &size, err, sizeof err), FATBIN_EFORMAT);
    assert_non_null(strstr(err, "no data pointer"));
    uint8_t bogus[16] = {0x11, 0x22, 0x33, 0x44};
    void *bp = bogus;
    memcpy(wrapper + 8, &bp, sizeof bp);
    assert_int_equal(fatbin_locate(wrapper, &data, &size, err, sizeof err), FATBIN_EFORMAT);
    assert_int_equal(fatbin_locate(bogus, &data, &size, err, sizeof err), FATBIN_EFORMAT);
    assert_non_null(strstr(err, "unrecognised"));
    /* A container that claims more bytes than any image may hold. */
    put64(fb.bytes + 8, (uint64_t)1 << 60);
    assert_int_equal(fatbin_locate(fb.bytes, &data, &size, err, sizeof err), FATBIN_ETOOBIG);
    free(fb.bytes);
    free(elf.bytes);
    free(ptx.bytes);
}

/* The wrapper exactly as nvcc emits it: a host object's .nvFatBinSegment, whose data pointer
 * is a relocation against .nv_fatbin. We "link" it by hand: patch in the address where we
 * loaded .nv_fatbin. */
static const uint8_t *elf_section(const struct blob *o, const char *want, size_t *size)
{
    const uint8_t *p = o->bytes;
    uint64_t shoff = get64(p + 40);
    uint16_t shentsize, shnum, shstrndx;
    memcpy(&shentsize, p + 58, 2);
    memcpy(&shnum, p + 60, 2);
    memcpy(&shstrndx, p + 62, 2);
    assert_true(shoff + (uint64_t)shnum * shentsize <= o->size && shstrndx < shnum);
    const uint8_t *strtab = p + get64(p + shoff + (uint64_t)shstrndx * shentsize + 24);
    for (unsigned i = 0; i < shnum; i++) {
        const uint8_t *sh = p + shoff + (uint64_t)i * shentsize;
        if (strcmp((const char *)strtab + get32(sh), want) == 0) {
            *size = (size_t)get64(sh + 32);
            assert_true(get64(sh + 24) + *size <= o->size);
            return p + get64(sh + 24);
        }
    }
    fail_msg("no section %s", want);
    return NULL;
}

static void test_host_object_wrapper(void **state)
{
    (void)state;
    struct blob o = load("vadd_host.elf");
    size_t seg_size, fb_size, rela_size;
    const uint8_t *seg = elf_section(&o, ".nvFatBinSegment", &seg_size);
    const uint8_t *fb = elf_section(&o, ".nv_fatbin", &fb_size);
    const uint8_t *rela = elf_section(&o, ".rela.nvFatBinSegment", &rela_size);
    assert_int_equal(seg_size, 24);
    assert_int_equal(rela_size, 24);          /* one Elf64_Rela: the data pointer */
    assert_int_equal(get64(rela), 8);         /* r_offset */
    assert_int_equal(get64(rela + 8) & 0xffffffff, 1); /* R_X86_64_64 */
    uint8_t wrapper[24];
    memcpy(wrapper, seg, sizeof wrapper);
    const uint8_t *target = fb + get64(rela + 16); /* + r_addend */
    memcpy(wrapper + 8, &target, sizeof target);
    assert_int_equal(get32(wrapper), FATBIN_WRAPPER_MAGIC);
    assert_int_equal(get32(wrapper + 4), 1);  /* per-TU wrapper */
    assert_int_equal(fatbin_image_kind(wrapper, sizeof wrapper), FATBIN_IMAGE_WRAPPER);

    const void *data;
    size_t size;
    char err[256], *ptx;
    assert_int_equal(fatbin_locate(wrapper, &data, &size, err, sizeof err), FATBIN_OK);
    assert_ptr_equal(data, target);
    assert_true(size <= fb_size && size + 16 > fb_size); /* the section pads to 16 at most */
    assert_int_equal(fatbin_select_ptx(wrapper, sizeof wrapper, 80, &ptx, &size, err, sizeof err),
                     FATBIN_OK);
    assert_non_null(strstr(ptx, ".entry vadd"));
    free(ptx);
    free(o.bytes);
}

/* ---- entries and decompression ----------------------------------------------------------- */

static char *entry_text(const struct fatbin_entry *e, size_t *len)
{
    uint8_t *out;
    char err[256];
    assert_int_equal(fatbin_entry_bytes(e, &out, len, err, sizeof err), FATBIN_OK);
    return (char *)out;
}

/* The same kernel's PTX, stored zstd, LZ4 and plain, must read back identical. */
static void test_compression_variants(void **state)
{
    (void)state;
    const char *names[] = {"zstd_sm80.fatbin", "lz4_sm80.fatbin", "plain_sm80.fatbin",
                           "all_zstd.fatbin"};
    const uint64_t ptx_flag[] = {0x8000, 0x2000, 0, 0x8000};
    char *first_ptx = NULL;
    uint8_t *first_elf = NULL;
    size_t first_ptx_len = 0, first_elf_len = 0;
    for (int i = 0; i < 4; i++) {
        struct blob b = load(names[i]);
        struct fatbin_entry v[8];
        size_t n, len;
        char err[256];
        assert_int_equal(list(&b, v, 8, &n, err), FATBIN_OK);
        assert_int_equal(n, 2);
        assert_int_equal(v[0].kind, FATBIN_ENTRY_ELF);
        assert_int_equal(v[0].arch, 80);
        assert_int_equal(v[1].kind, FATBIN_ENTRY_PTX);
        assert_int_equal(v[1].arch, 80);
        assert_int_equal(v[1].major, 9);
        assert_int_equal(v[1].flags & 0xa000, ptx_flag[i]);
        assert_true(ptx_flag[i] ? v[1].uncompressed_size > v[1].payload_size
                                : v[1].uncompressed_size == 0);
        char *text = entry_text(&v[1], &len);
        assert_int_equal(strlen(text), len);
        assert_non_null(strstr(text, ".target sm_80"));
        assert_non_null(strstr(text, ".entry vadd"));
        uint8_t *elf = (uint8_t *)entry_text(&v[0], &len);
        assert_memory_equal(elf, "\x7f" "ELF", 4);
        if (!first_ptx) {
            first_ptx = text, first_ptx_len = strlen(text);
            first_elf = elf, first_elf_len = len;
        } else {
            assert_int_equal(strlen(text), first_ptx_len);
            assert_string_equal(text, first_ptx);
            assert_int_equal(len, first_elf_len);
            assert_memory_equal(elf, first_elf, len);
            free(text);
            free(elf);
        }
        free(b.bytes);
    }
    free(first_ptx);
    free(first_elf);
}

/* Two containers back to back (as in an object's .nv_fatbin section) read as one list. */
static void test_concatenated(void **state)
{
    (void)state;
    struct blob a = load("multi_ptx.fatbin"), b = load("sass_only_80_90.fatbin");
    size_t pad = 8, total = a.size + pad + b.size;
    uint8_t *both = calloc(1, total);
    memcpy(both, a.bytes, a.size);
    memcpy(both + a.size + pad, b.bytes, b.size);
    struct fatbin_entry v[2];
    size_t n;
    char err[256];
    assert_int_equal(fatbin_entries(both, total, v, 2, &n, err, sizeof err), FATBIN_OK);
    assert_int_equal(n, 6); /* count is the total even when max is smaller */
    assert_int_equal(fatbin_entries(both, total, NULL, 0, &n, err, sizeof err), FATBIN_OK);
    assert_int_equal(n, 6);
    free(both);
    free(a.bytes);
    free(b.bytes);
}

/* ---- selection ---------------------------------------------------------------------------- */

static void expect_ptx_target(const struct blob *b, unsigned sm, const char *target)
{
    char *ptx, err[256];
    size_t len;
    int rc = fatbin_select_ptx(b->bytes, b->size, sm, &ptx, &len, err, sizeof err);
    if (rc)
        fail_msg("sm_%u: %s", sm, err);
    assert_non_null(strstr(ptx, target));
    assert_int_equal(strlen(ptx), len);
    free(ptx);
}

static void expect_nocode(const void *image, size_t size, unsigned sm, const char *needle)
{
    char *ptx = NULL, err[256] = "";
    size_t len;
    assert_int_equal(fatbin_select_ptx(image, size, sm, &ptx, &len, err, sizeof err),
                     FATBIN_ENOCODE);
    assert_null(ptx);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void test_select(void **state)
{
    (void)state;
    struct blob multi = load("multi_ptx.fatbin"), sass = load("sass_only_80_90.fatbin"),
                sass1 = load("sass_only_sm80.fatbin"), elf = load("vadd_sm80.cubin"),
                ptx = load("vadd.ptx"), p90 = load("ptx_only_90.fatbin");
    expect_ptx_target(&multi, 75, ".target sm_75");
    expect_ptx_target(&multi, 80, ".target sm_80");
    expect_ptx_target(&multi, 86, ".target sm_80"); /* highest PTX <= sm */
    expect_ptx_target(&multi, 90, ".target sm_90");
    expect_ptx_target(&multi, 120, ".target sm_90");
    expect_nocode(multi.bytes, multi.size, 70, "compute_75");
    expect_nocode(sass.bytes, sass.size, 80, "sm_80, sm_90");
    expect_nocode(sass1.bytes, sass1.size, 80, "SASS");
    expect_nocode(elf.bytes, elf.size, 80, "sm_80");
    expect_nocode(p90.bytes, p90.size, 80, "compute_90");
    expect_ptx_target(&p90, 90, ".target sm_90");
    expect_ptx_target(&ptx, 80, ".target sm_80");

    uint8_t wrapper[24] = {0};
    put32(wrapper, FATBIN_WRAPPER_MAGIC);
    put32(wrapper + 4, 1);
    memcpy(wrapper + 8, &multi.bytes, sizeof multi.bytes);
    struct blob w = {wrapper, sizeof wrapper};
    expect_ptx_target(&w, 80, ".target sm_80");
    memcpy(wrapper + 8, &sass.bytes, sizeof sass.bytes);
    expect_nocode(wrapper, sizeof wrapper, 80, "sm_80, sm_90");

    free(multi.bytes);
    free(sass.bytes);
    free(sass1.bytes);
    free(elf.bytes);
    free(ptx.bytes);
    free(p90.bytes);
}

/* sm_100+ cubins carry 112-byte entry headers (an extra blob skipped via header_size). */
static void test_blackwell_entries(void **state)
{
    (void)state;
    struct blob b = load("blackwell.fatbin");
    struct fatbin_entry v[4];
    size_t n;
    char err[256];
    assert_int_equal(list(&b, v, 4, &n, err), FATBIN_OK);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].kind, FATBIN_ENTRY_ELF);
    assert_int_equal(v[0].arch, 100);
    assert_int_equal(v[1].arch, 120);
    assert_int_equal(v[2].kind, FATBIN_ENTRY_PTX);
    assert_int_equal(v[2].arch, 120);
    for (int i = 0; i < 2; i++) { /* the payload starts after the long header: a real ELF */
        uint8_t *elf;
        size_t len;
        assert_int_equal(fatbin_entry_bytes(&v[i], &elf, &len, err, sizeof err), FATBIN_OK);
        assert_memory_equal(elf, "\x7f" "ELF", 4);
        assert_int_equal((get32(elf + 48) >> 8) & 0xff, v[i].arch);
        free(elf);
    }
    expect_ptx_target(&b, 120, ".target sm_120");
    expect_nocode(b.bytes, b.size, 90, "SASS for sm_100, sm_120");
    free(b.bytes);
}

/* ---- hostile input ------------------------------------------------------------------------ */

/* Every prefix of a real image is either rejected cleanly or (a prefix that ends between two
 * containers) accepted; nothing crashes and nothing reads past the prefix (ASan checks that,
 * since each prefix is copied into an exactly sized buffer). */
static void test_truncations(void **state)
{
    (void)state;
    struct blob b = load("multi_ptx.fatbin");
    for (size_t n = 0; n < b.size; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, b.bytes, n);
        struct fatbin_entry v[8];
        size_t count;
        char err[256], *ptx = NULL;
        size_t len;
        assert_int_equal(fatbin_entries(copy, n, v, 8, &count, err, sizeof err), FATBIN_EFORMAT);
        int rc = fatbin_select_ptx(copy, n, 80, &ptx, &len, err, sizeof err);
        assert_true(rc == FATBIN_EFORMAT || rc == FATBIN_ENOCODE);
        assert_true(strlen(err) > 0);
        free(copy);
    }
    free(b.bytes);
}

static int entries_rc(struct blob *b, char *err)
{
    struct fatbin_entry v[8];
    size_t n;
    int rc = list(b, v, 8, &n, err);
    if (rc)
        return rc;
    /* Listing succeeded: decompression must catch the rest. */
    for (size_t i = 0; i < n && i < 8; i++) {
        uint8_t *out;
        size_t len;
        rc = fatbin_entry_bytes(&v[i], &out, &len, err, 256);
        if (rc)
            return rc;
        free(out);
    }
    return FATBIN_OK;
}

static void test_corrupt_fields(void **state)
{
    (void)state;
    char err[256];
    struct blob b = load("zstd_sm80.fatbin"), l = load("lz4_sm80.fatbin");
    size_t p = entry_offset(&b, FATBIN_ENTRY_PTX), lp = entry_offset(&l, FATBIN_ENTRY_PTX);
    uint8_t *orig = malloc(b.size), *lorig = malloc(l.size);
    memcpy(orig, b.bytes, b.size);
    memcpy(lorig, l.bytes, l.size);
#define RESET() (memcpy(b.bytes, orig, b.size), memcpy(l.bytes, lorig, l.size))
#define EXPECT(blob, code, needle)                                                           \
    do {                                                                                     \
        assert_int_equal(entries_rc(&(blob), err), code);                                    \
        if (!strstr(err, needle))                                                            \
            fail_msg("error '%s' does not mention '%s'", err, needle);                       \
        RESET();                                                                             \
    } while (0)

    assert_int_equal(entries_rc(&b, err), FATBIN_OK);
    assert_int_equal(entries_rc(&l, err), FATBIN_OK);
    put64(b.bytes + 8, b.size); /* files_size past the end */
    EXPECT(b, FATBIN_EFORMAT, "only");
    put32(b.bytes, 0x1EE55A01); /* old-style magic */
    EXPECT(b, FATBIN_EFORMAT, "magic");
    put32(b.bytes + p + ENT_HEADER_SIZE, 8); /* entry header smaller than its fields */
    EXPECT(b, FATBIN_EFORMAT, "header size");
    put32(b.bytes + p + ENT_HEADER_SIZE, 0xfffffff0u);
    EXPECT(b, FATBIN_EFORMAT, "header size");
    put64(b.bytes + p + ENT_PAYLOAD_SIZE, UINT64_MAX - 8); /* overflow bait */
    EXPECT(b, FATBIN_EFORMAT, "payload");
    put32(b.bytes + p + ENT_COMPRESSED_SIZE, 0xffffffffu);
    EXPECT(b, FATBIN_EFORMAT, "compressed size");
    put64(b.bytes + p + ENT_UNCOMPRESSED_SIZE, (uint64_t)1 << 40); /* absurd */
    EXPECT(b, FATBIN_ETOOBIG, "limit");
    put64(b.bytes + p + ENT_UNCOMPRESSED_SIZE, get64(orig + p + ENT_UNCOMPRESSED_SIZE) + 1);
    EXPECT(b, FATBIN_EFORMAT, "content size");
    put64(b.bytes + p + ENT_UNCOMPRESSED_SIZE, 0);
    EXPECT(b, FATBIN_EFORMAT, "uncompressed size");
    memset(b.bytes + p + get32(orig + p + ENT_HEADER_SIZE), 0x5a, 4); /* zstd frame magic destroyed */
    EXPECT(b, FATBIN_EFORMAT, "zstd");
    /* A frame cut short (nvcc's frames carry no checksum, so scrambled literals can go
     * unnoticed; a missing tail cannot). */
    put32(b.bytes + p + ENT_COMPRESSED_SIZE, get32(orig + p + ENT_COMPRESSED_SIZE) - 10);
    EXPECT(b, FATBIN_EFORMAT, "zstd");
    b.bytes[p + 41] |= 0x20; /* both LZ4 and zstd */
    EXPECT(b, FATBIN_EFORMAT, "both");

    put64(l.bytes + lp + ENT_UNCOMPRESSED_SIZE, get64(lorig + lp + ENT_UNCOMPRESSED_SIZE) + 7);
    EXPECT(l, FATBIN_EFORMAT, "LZ4");
    memset(l.bytes + lp + get32(lorig + lp + ENT_HEADER_SIZE) + 1, 0xff, 64); /* LZ4 block scrambled */
    EXPECT(l, FATBIN_EFORMAT, "LZ4");
#undef EXPECT
#undef RESET
    free(orig);
    free(lorig);
    free(b.bytes);
    free(l.bytes);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    char err[256];
    size_t n;
    const void *d;
    char *ptx;
    assert_int_equal(fatbin_entries(NULL, 100, NULL, 0, &n, err, sizeof err), FATBIN_EFORMAT);
    assert_int_equal(fatbin_entries("\x50\xed\x55\xba", 4, NULL, 0, &n, err, sizeof err),
                     FATBIN_EFORMAT);
    assert_int_equal(fatbin_locate(NULL, &d, &n, err, sizeof err), FATBIN_EFORMAT);
    assert_int_equal(fatbin_select_ptx(NULL, 0, 80, &ptx, &n, err, sizeof err), FATBIN_EFORMAT);
    assert_int_equal(fatbin_select_ptx("\x01\x02\x03\x04", 4, 80, &ptx, &n, NULL, 0),
                     FATBIN_EFORMAT);
    assert_int_equal(fatbin_entry_bytes(NULL, (uint8_t **)&ptx, &n, err, sizeof err),
                     FATBIN_EFORMAT);
}

/* Module storage read from SASS: globals.cu declares 4000 + 20 bytes of __device__ and 1200
 * of __constant__ variables; nvcc adds at most a small compiler-constant bank. A kernel's
 * parameter bank (.nv.constant0.<kernel>) is not module storage: vadd has no globals. */
static void test_cubin_globals(void **state)
{
    (void)state;
    char err[256];
    uint64_t bytes = 1;
    struct blob v = load("vadd_sm80.cubin");
    assert_int_equal(fatbin_cubin_globals_bytes(v.bytes, v.size, &bytes, err, sizeof err), 0);
    assert_int_equal(bytes, 0);
    struct blob g = load("globals_sass.fatbin");
    assert_int_equal(fatbin_image_globals_bytes(g.bytes, g.size, &bytes, err, sizeof err), 0);
    assert_true(bytes >= 4000 + 20 + 1200 && bytes <= 4000 + 20 + 1200 + 256);
    /* every truncation of the cubin is refused or sized without reading past it */
    for (size_t n = 0; n < v.size; n += 7) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, v.bytes, n);
        int rc = fatbin_cubin_globals_bytes(cut, n, &bytes, err, sizeof err);
        assert_true(rc == 0 || rc == FATBIN_EFORMAT);
        free(cut);
    }
    assert_int_equal(fatbin_image_globals_bytes("junk", 4, &bytes, err, sizeof err),
                     FATBIN_EFORMAT);
    free(v.bytes);
    free(g.bytes);
}

/* Kernel names read from SASS: what a lookup in a SASS-only image is told has no code. The
 * two cubins of sass_only_80_90 define the same kernel: listed once. all_zstd's cubin is
 * compressed. Truncated cubins are refused or read without passing their end. */
static void test_kernel_names(void **state)
{
    (void)state;
    char err[256];
    struct blob v = load("vadd_sm80.cubin"), two = load("sass_only_80_90.fatbin"),
                z = load("all_zstd.fatbin");
    struct fatbin_names l = {0};
    assert_int_equal(fatbin_cubin_kernel_names(v.bytes, v.size, &l, err, sizeof err), 0);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.names[0], "vadd");
    fatbin_names_free(&l);
    assert_int_equal(fatbin_image_kernel_names(two.bytes, two.size, &l, err, sizeof err), 0);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.names[0], "vadd");
    assert_int_equal(fatbin_image_kernel_names(z.bytes, z.size, &l, err, sizeof err), 0);
    assert_int_equal(l.count, 1); /* same name again: not added */
    fatbin_names_free(&l);
    assert_null(l.names);
    for (size_t n = 0; n < v.size; n += 5) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, v.bytes, n);
        int rc = fatbin_cubin_kernel_names(cut, n, &l, err, sizeof err);
        assert_true(rc == 0 || rc == FATBIN_EFORMAT);
        fatbin_names_free(&l);
        free(cut);
    }
    assert_int_equal(fatbin_image_kernel_names("junk", 4, &l, err, sizeof err), FATBIN_EFORMAT);
    free(v.bytes);
    free(two.bytes);
    free(z.bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),          cmocka_unit_test(test_locate),
        cmocka_unit_test(test_host_object_wrapper),
        cmocka_unit_test(test_compression_variants), cmocka_unit_test(test_concatenated),
        cmocka_unit_test(test_select),         cmocka_unit_test(test_blackwell_entries),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_corrupt_fields), cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_cubin_globals), cmocka_unit_test(test_kernel_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
