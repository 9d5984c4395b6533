/*
 * Unit tests of the forwarding pieces that need no device: the byte writer and reader,
 * call ids and modes from calls.def, SHA-256 against FIPS 180-4 vectors, the worker's handle
 * set and allocation ranges, the worker's decoders refusing malformed requests, and mirrored
 * memory's runs (diff, merge, reader).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mirror.h"
#include "proto.h"
#include "session.h"
#include "worker_int.h"

static void writer_gathers_and_reader_bounds(void **state)
{
    (void)state;
    struct tfp_writer w;
    tfp_writer_init(&w);
    static uint8_t big[100000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)i;
    tfp_put_u32(&w, 7);
    tfp_put_ref(&w, big, sizeof big);   /* referenced, not copied */
    tfp_put_str(&w, "vadd");
    tfp_put_u64(&w, 42);
    assert_false(w.failed);
    struct iovec iov[8];
    int n = tfp_iov(&w, iov, 8);
    assert_int_equal(n, 3);
    assert_ptr_equal(iov[1].iov_base, big);
    size_t total = 0;
    uint8_t *flat = malloc(w.total);
    for (int i = 0; i < n; i++) {
        memcpy(flat + total, iov[i].iov_base, iov[i].iov_len);
        total += iov[i].iov_len;
    }
    assert_int_equal(total, w.total);
    struct tfp_reader r;
    tfp_reader_init(&r, flat, total);
    assert_int_equal(tfp_get_u32(&r), 7);
    const uint8_t *b = tfp_get_ref(&r, sizeof big);
    assert_memory_equal(b, big, sizeof big);
    assert_string_equal(tfp_get_str(&r), "vadd");
    assert_int_equal(tfp_get_u64(&r), 42);
    assert_true(tfp_reader_done(&r));
    /* reading past the end marks the reader bad and zero-fills */
    uint64_t v = 99;
    tfp_get(&r, &v, sizeof v);
    assert_true(r.bad);
    assert_int_equal(v, 0);
    free(flat);
    tfp_writer_free(&w);
}

/* A handler reserves every bulk output of a reply before the call writes them: a reservation
 * must stay where it is when more is reserved or written after it. */
static void reservations_stay_put(void **state)
{
    (void)state;
    struct tfp_writer w;
    tfp_writer_init(&w);
    tfp_put_u32(&w, 1);
    uint8_t *a = tfp_reserve(&w, 512), *b = tfp_reserve(&w, 4096);
    assert_non_null(a);
    assert_non_null(b);
    for (int i = 0; i < 64; i++)
        tfp_put_u64(&w, (uint64_t)i);   /* grows the inline buffer */
    memset(a, 0xa5, 512);               /* ASan: a use after free if `a` moved */
    memset(b, 0x5a, 4096);
    struct iovec iov[16];
    int n = tfp_iov(&w, iov, 16);
    assert_true(n > 0);
    uint8_t *flat = malloc(w.total);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        memcpy(flat + total, iov[i].iov_base, iov[i].iov_len);
        total += iov[i].iov_len;
    }
    struct tfp_reader r;
    tfp_reader_init(&r, flat, total);
    assert_int_equal(tfp_get_u32(&r), 1);
    const uint8_t *ra = tfp_get_ref(&r, 512), *rb = tfp_get_ref(&r, 4096);
    for (int i = 0; i < 512; i++)
        assert_int_equal(ra[i], 0xa5);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(rb[i], 0x5a);
    for (int i = 0; i < 64; i++)
        assert_int_equal(tfp_get_u64(&r), (uint64_t)i);
    assert_true(tfp_reader_done(&r));
    free(flat);
    tfp_writer_free(&w);
}

static void strings_are_checked(void **state)
{
    (void)state;
    uint8_t msg[16];
    struct tfp_reader r;
    uint32_t len = 5;
    memcpy(msg, &len, 4);
    memcpy(msg + 4, "ab\0cd", 5);         /* NUL inside */
    tfp_reader_init(&r, msg, 9);
    assert_null(tfp_get_str(&r));
    memcpy(msg + 4, "abcde", 5);          /* no NUL */
    tfp_reader_init(&r, msg, 9);
    assert_null(tfp_get_str(&r));
    len = 1000;                           /* longer than the message */
    memcpy(msg, &len, 4);
    tfp_reader_init(&r, msg, 9);
    assert_null(tfp_get_str(&r));
}

static void call_table_is_consistent(void **state)
{
    (void)state;
    assert_string_equal(tfp_call_name(TFP_ID_cuMemAlloc_v2), "cuMemAlloc_v2");
    assert_int_equal(tfp_call_mode(TFP_ID_cuLaunchKernel), TFP_ASYNC);
    assert_int_equal(tfp_call_mode(TFP_ID_cuCtxSynchronize), TFP_SYNCPT);
    assert_int_equal(tfp_call_mode(TFP_ID_cuMemcpyDtoHAsync_v2), TFP_STREAMPT);
    assert_null(tfp_call_name(0));
    assert_null(tfp_call_name(TFP_CALL_COUNT));
    for (uint32_t id = 1; id < TFP_CALL_COUNT; id++) {
        assert_non_null(tfp_call_name(id));
        assert_non_null(tfw_handler_for(id));
    }
}

static void sha256_vectors(void **state)
{
    (void)state;
    static const uint8_t abc[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    static const uint8_t empty[32] = {
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
        0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};
    static const uint8_t two_blocks[32] = {
        0x24, 0x8d, 0x6a, 0x61, 0xd2, 0x06, 0x38, 0xb8, 0xe5, 0xc0, 0x26, 0x93, 0x0c, 0x3e, 0x60, 0x39,
        0xa3, 0x3c, 0xe4, 0x59, 0x64, 0xff, 0x21, 0x67, 0xf6, 0xec, 0xed, 0xd4, 0x19, 0xdb, 0x06, 0xc1};
    uint8_t out[32];
    tfp_sha256("abc", 3, out);
    assert_memory_equal(out, abc, 32);
    tfp_sha256("", 0, out);
    assert_memory_equal(out, empty, 32);
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    tfp_sha256(m, strlen(m), out);
    assert_memory_equal(out, two_blocks, 32);
}

static void handles_and_ranges(void **state)
{
    (void)state;
    struct tfw_handles h = {0};
    for (uint64_t i = 1; i <= 1000; i++)
        assert_int_equal(tfw_handles_add(&h, i * 64, TFW_K_STREAM), 0);
    assert_int_equal(tfw_handles_kind(&h, 64 * 500), TFW_K_STREAM);
    assert_int_equal(tfw_handles_kind(&h, 64 * 500 + 1), TFW_K_NONE);
    tfw_handles_del(&h, 64 * 500);
    assert_int_equal(tfw_handles_kind(&h, 64 * 500), TFW_K_NONE);
    assert_int_equal(tfw_handles_kind(&h, 64 * 501), TFW_K_STREAM);
    /* library -> module -> function, and a global of the module: forgotten together */
    struct tf_ranges g = {0};
    assert_int_equal(tfw_handles_add(&h, 0xa000, TFW_K_LIB), 0);
    assert_int_equal(tfw_handles_add_child(&h, 0xb000, TFW_K_MOD, 0xa000), 0);
    assert_int_equal(tfw_handles_add_child(&h, 0xc000, TFW_K_FUNC, 0xb000), 0);
    assert_int_equal(tf_ranges_add_child(&g, 0x9000, 64, 0xb000), 0);
    assert_int_equal(tf_ranges_add(&g, 0x8000, 64), 0);
    tfw_handles_del_tree(&h, 0xa000, &g);
    assert_int_equal(tfw_handles_kind(&h, 0xb000), TFW_K_NONE);
    assert_int_equal(tfw_handles_kind(&h, 0xc000), TFW_K_NONE);
    assert_false(tf_ranges_contains(&g, 0x9000, 1));
    assert_true(tf_ranges_contains(&g, 0x8000, 1));
    assert_int_equal(tfw_handles_kind(&h, 64 * 501), TFW_K_STREAM);
    tf_ranges_free(&g);
    tfw_handles_free(&h);

    struct tf_ranges r = {0};
    assert_int_equal(tf_ranges_add(&r, 0x2000, 0x100), 0);
    assert_int_equal(tf_ranges_add(&r, 0x1000, 0x100), 0);
    assert_true(tf_ranges_contains(&r, 0x1000, 0x100));
    assert_true(tf_ranges_contains(&r, 0x10ff, 1));
    assert_false(tf_ranges_contains(&r, 0x10ff, 2));      /* runs past the end */
    assert_false(tf_ranges_contains(&r, 0x1800, 1));      /* between ranges */
    assert_false(tf_ranges_contains(&r, 0xfff, 1));
    assert_false(tf_ranges_contains(&r, 0x2000, UINT64_MAX)); /* no wrap-around */
    assert_true(tf_ranges_is_base(&r, 0x2000));
    assert_false(tf_ranges_is_base(&r, 0x2001));
    tf_ranges_del(&r, 0x1000);
    assert_false(tf_ranges_contains(&r, 0x1000, 1));
    tf_ranges_free(&r);
}

/* The worker's decoders against requests that lie: the session is marked malformed (and
 * would be closed) and nothing reaches the (empty) backend. */
static void malformed_requests_are_refused(void **state)
{
    (void)state;
    struct tfw_session s;
    memset(&s, 0, sizeof s);
    s.out_fd = -1;
    s.max_frame = 1 << 20;
    tfp_writer_init(&s.out);
    tfw_self = &s;
    uint8_t req[64] = {0};
    /* cuMemAlloc_v2 wants a size_t after the context word: give it 3 bytes */
    assert_int_not_equal(tfw_handle_request(&s, TFP_ID_cuMemAlloc_v2, req, 11), CUDA_SUCCESS);
    assert_true(s.malformed);
    s.malformed = 0;
    /* unknown call id */
    tfw_handle_request(&s, TFP_CALL_COUNT + 5, req, 8);
    assert_true(s.malformed);
    s.malformed = 0;
    /* a well-formed call on a backend without the entry: not supported, not malformed */
    assert_int_equal(tfw_handle_request(&s, TFP_ID_cuMemAlloc_v2, req, 16),
                     CUDA_ERROR_NOT_SUPPORTED);
    assert_false(s.malformed);
    /* a context the session does not own */
    uint64_t ctx = 0x1234000;
    memcpy(req, &ctx, 8);
    assert_int_equal(tfw_handle_request(&s, TFP_ID_cuMemAlloc_v2, req, 16),
                     CUDA_ERROR_INVALID_CONTEXT);
    tfp_writer_free(&s.out);
    tfw_self = NULL;
}

/* Byte counts derived from arguments saturate: a count whose byte size wraps around is refused
 * by the range check, not checked as the small wrapped number. */
static void wrapped_sizes_are_refused(void **state)
{
    (void)state;
    struct tfw_session s;
    memset(&s, 0, sizeof s);
    s.out_fd = -1;
    s.max_frame = 1 << 20;
    tfp_writer_init(&s.out);
    tfw_self = &s;
    assert_int_equal(tf_ranges_add(&s.allocs, 0x100000, 4096), 0);
    uint8_t req[28] = {0};           /* context, dstDevice, ui, N */
    uint64_t dst = 0x100000, n = (1ull << 62) + 1;   /* n * 4 wraps to 4 */
    memcpy(req + 8, &dst, 8);
    memcpy(req + 20, &n, 8);
    assert_int_equal(tfw_handle_request(&s, TFP_ID_cuMemsetD32_v2, req, sizeof req),
                     CUDA_ERROR_INVALID_VALUE);
    n = 1024;                        /* exactly the allocation: passes the checks */
    memcpy(req + 20, &n, 8);
    assert_int_equal(tfw_handle_request(&s, TFP_ID_cuMemsetD32_v2, req, sizeof req),
                     CUDA_ERROR_NOT_SUPPORTED);
    n = 1025;                        /* one element past it */
    memcpy(req + 20, &n, 8);
    assert_int_equal(tfw_handle_request(&s, TFP_ID_cuMemsetD32_v2, req, sizeof req),
                     CUDA_ERROR_INVALID_VALUE);
    assert_false(s.malformed);
    /* a client built from another call table is refused at its first request */
    uint8_t hello[16] = {0};
    uint64_t hash = tfp_table_hash() ^ 1;
    memcpy(hello + 8, &hash, 8);
    assert_int_equal(tfw_handle_request(&s, TFP_ID_tfi_session_info, hello, sizeof hello),
                     CUDA_ERROR_SYSTEM_DRIVER_MISMATCH);
    hash = tfp_table_hash();
    memcpy(hello + 8, &hash, 8);
    assert_int_equal(tfw_handle_request(&s, TFP_ID_tfi_session_info, hello, sizeof hello),
                     CUDA_ERROR_NOT_SUPPORTED);   /* matches; this backend has no devices */
    assert_int_equal(TFP_ID_tfi_session_info, 1); /* its id never moves */
    assert_int_equal(tfp_span2d(UINT64_MAX / 2, 8, 3), UINT64_MAX);
    assert_int_equal(tfp_span2d(256, 8, 3), 520);
    assert_int_equal(tfp_span2d(256, 8, 0), 0);
    tf_ranges_free(&s.allocs);
    tfp_writer_free(&s.out);
    tfw_self = NULL;
}

/* Sends a's changes to b in chunks of cap bytes; returns how many chunks it took. */
static int mirror_send(uint8_t *a, uint8_t *sa, uint8_t *b, uint8_t *sb, size_t len, size_t cap)
{
    uint8_t out[4096];
    size_t pos = 0;
    int chunks = 0;
    do {
        size_t used = 0, at = 0;
        tfp_mirror_diff(9, 0, a, sa, len, &pos, out, cap, &used);
        uint64_t key;
        uint32_t off, n;
        const uint8_t *in;
        while (tfp_mirror_next(out, used, &at, &key, &off, &n, &in) == 1) {
            assert_int_equal(key, 9);
            tfp_mirror_apply(b + off, sb + off, in, n);
        }
        assert_int_equal(at, used);
        chunks++;
    } while (pos < len);
    return chunks;
}

static void mirror_runs_merge(void **state)
{
    (void)state;
    enum { LEN = 300 };
    uint8_t a[LEN] = {0}, sa[LEN] = {0}, b[LEN] = {0}, sb[LEN] = {0};
    a[10] = a[13] = a[20] = 1;   /* one run spanning the unchanged 11..19 */
    b[15] = 0x55;                /* the receiver's own write inside that span */
    assert_int_equal(mirror_send(a, sa, b, sb, LEN, sizeof a), 1);
    assert_int_equal(b[10], 1);
    assert_int_equal(b[20], 1);
    assert_int_equal(b[15], 0x55);   /* kept: the sender did not change it */
    assert_memory_equal(sa, sb, LEN);
    /* the other way: b's own write reaches a; nothing else moves */
    assert_int_equal(mirror_send(b, sb, a, sa, LEN, sizeof a), 1);
    assert_memory_equal(a, b, LEN);
    assert_memory_equal(sa, sb, LEN);
    /* nothing changed: no runs */
    size_t pos = 0, used = 0;
    uint8_t out[64];
    tfp_mirror_diff(9, 0, a, sa, LEN, &pos, out, sizeof out, &used);
    assert_int_equal(used, 0);
    assert_int_equal(pos, LEN);
    /* many scattered changes through a small reply: several chunks, same result */
    for (size_t i = 0; i < LEN; i += 37)
        a[i] = (uint8_t)(i + 3);
    assert_true(mirror_send(a, sa, b, sb, LEN, TFP_MIRROR_RUN_HEADER + 8) > 3);
    assert_memory_equal(a, b, LEN);
    assert_memory_equal(sa, sb, LEN);
}

static void mirror_runs_are_checked(void **state)
{
    (void)state;
    uint8_t buf[40] = {0};
    uint64_t key = 1;
    uint32_t off = 0, len = 30;
    memcpy(buf, &key, 8);
    memcpy(buf + 8, &off, 4);
    memcpy(buf + 12, &len, 4);
    size_t at = 0;
    const uint8_t *in;
    assert_int_equal(tfp_mirror_next(buf, sizeof buf, &at, &key, &off, &len, &in), -1);
    len = 0;   /* an empty run is malformed too */
    memcpy(buf + 12, &len, 4);
    at = 0;
    assert_int_equal(tfp_mirror_next(buf, sizeof buf, &at, &key, &off, &len, &in), -1);
    at = 0;
    assert_int_equal(tfp_mirror_next(buf, 10, &at, &key, &off, &len, &in), -1);
    len = 24;
    memcpy(buf + 12, &len, 4);
    at = 0;
    assert_int_equal(tfp_mirror_next(buf, sizeof buf, &at, &key, &off, &len, &in), 1);
    assert_int_equal(tfp_mirror_next(buf, sizeof buf, &at, &key, &off, &len, &in), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writer_gathers_and_reader_bounds),
        cmocka_unit_test(reservations_stay_put),
        cmocka_unit_test(strings_are_checked),
        cmocka_unit_test(call_table_is_consistent),
        cmocka_unit_test(sha256_vectors),
        cmocka_unit_test(handles_and_ranges),
        cmocka_unit_test(malformed_requests_are_refused),
        cmocka_unit_test(wrapped_sizes_are_refused),
        cmocka_unit_test(mirror_runs_merge),
        cmocka_unit_test(mirror_runs_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
