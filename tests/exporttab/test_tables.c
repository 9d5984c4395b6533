/*
 * The export tables as cudart sees them: ids, size words, slots that must be present, the
 * primary-context slot, CONTEXT_CHECKS, the TOOLS buffers, and the INTEGRITY_CHECK answer
 * recomputed here from the message layout in docs/export-tables.md, "INTEGRITY_CHECK".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "fake_driver.h"

static void test_size_words_and_slots(void **state)
{
    static const struct { const unsigned char *uuid; uintptr_t size; int nslots; } t[] = {
        { UUID_CUDART_INTERFACE, 104, 13 }, { UUID_TOOLS_HOOKS, 56, 7 },
        { UUID_TOOLS_TLS, 32, 4 }, { UUID_CONTEXT_CHECKS, 32, 4 }, { UUID_INTEGRITY, 24, 3 },
        { UUID_TOOLS_CONTEXT, 760, 95 }, { UUID_TOOLS_MODULE, 512, 64 },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        const void *const *tab = fake_table(t[i].uuid);
        assert_non_null(tab);
        assert_int_equal((uintptr_t)tab[0], t[i].size);
        for (int s = 1; s < t[i].nslots; s++)
            assert_non_null(tab[s]); /* no NULL for cudart to jump through */
    }
    /* CONTEXT_LOCAL_STORAGE has no size word: 3 functions then a NULL terminator. */
    const void *const *cls = fake_table(UUID_CLS);
    assert_non_null(cls);
    assert_non_null(cls[0]);
    assert_non_null(cls[1]);
    assert_non_null(cls[2]);
    assert_null(cls[3]);
}

static void test_same_address_every_call(void **state)
{
    (void)state;
    assert_ptr_equal(fake_table(UUID_INTEGRITY), fake_table(UUID_INTEGRITY));
    assert_ptr_equal(fake_table(UUID_CLS), fake_table(UUID_CLS));
}

static void test_unknown_uuid_refused(void **state)
{
    /* f8cff951-...: the first table cudart asks for; refusing it is the documented choice. */
    const unsigned char f8[16] = { 0xf8, 0xcf, 0xf9, 0x51, 0x21, 0x46, 0x8b, 0x4e,
                                   0xb9, 0xe2, 0xfb, 0x46, 0x9e, 0x7c, 0x0d, 0xd9 };
    CUuuid id;
    const void *t = (const void *)&id;
    (void)state;
    memcpy(id.bytes, f8, 16);
    assert_int_equal(exporttab_get(&t, &id), CUDA_ERROR_INVALID_VALUE);
    assert_null(t);
    memset(id.bytes, 0, 16);
    t = (const void *)&id;
    assert_int_equal(exporttab_get(&t, &id), CUDA_ERROR_INVALID_VALUE);
    assert_null(t);
    t = (const void *)&id;
    assert_int_equal(exporttab_get(&t, NULL), CUDA_ERROR_INVALID_VALUE);
    assert_null(t);
    assert_int_equal(exporttab_get(NULL, &id), CUDA_ERROR_INVALID_VALUE);
    assert_null(exporttab_name(&id));
    memcpy(id.bytes, UUID_INTEGRITY, 16);
    assert_string_equal(exporttab_name(&id), "INTEGRITY_CHECK");
}

static void test_primary_context_slot(void **state)
{
    typedef CUresult (*get_primary_fn)(CUcontext *, CUdevice);
    get_primary_fn get = (get_primary_fn)fake_table(UUID_CUDART_INTERFACE)[2];
    CUcontext c = NULL;
    (void)state;
    assert_int_equal(get(&c, 1), CUDA_SUCCESS);
    assert_ptr_equal(c, (CUcontext)&fake_contexts[1]);
    assert_int_equal(get(&c, 5), CUDA_ERROR_INVALID_DEVICE);
    assert_int_equal(get(NULL, 0), CUDA_ERROR_INVALID_VALUE);
}

static void test_legacy_module_slots_without_loader(void **state)
{
    typedef CUresult (*load_fn)(CUmodule *, const void *);
    load_fn load = (load_fn)fake_table(UUID_CUDART_INTERFACE)[1];
    CUmodule m;
    int image = 0;
    (void)state;
    assert_int_equal(load(&m, &image), CUDA_ERROR_NOT_SUPPORTED);
    assert_int_equal(load(&m, NULL), CUDA_ERROR_INVALID_VALUE);
}

static void test_context_checks(void **state)
{
    typedef CUresult (*check_fn)(CUcontext, uint32_t *, const void **);
    typedef uint32_t (*fn3)(void);
    const void *const *t = fake_table(UUID_CONTEXT_CHECKS);
    uint32_t flags = 77;
    const void *p = &flags;
    (void)state;
    assert_int_equal(((check_fn)t[2])((CUcontext)&fake_contexts[0], &flags, &p), CUDA_SUCCESS);
    assert_int_equal(flags, 0);
    assert_ptr_equal(p, &flags); /* left alone */
    assert_int_equal(((fn3)t[3])(), 0);
}

static void test_tools_hook_buffers(void **state)
{
    typedef void (*buf_fn)(void **, size_t *);
    const void *const *t = fake_table(UUID_TOOLS_HOOKS);
    void *p1 = NULL, *p2 = NULL;
    size_t n1 = 0, n2 = 0;
    (void)state;
    ((buf_fn)t[2])(&p1, &n1);
    ((buf_fn)t[6])(&p2, &n2);
    assert_true(n1 >= 600);
    assert_true(n2 >= 14);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_ptr_not_equal(p1, p2);
    for (size_t i = 0; i < n1 * 4; i++)
        assert_int_equal(((unsigned char *)p1)[i], 0);
    for (size_t i = 0; i < n2 * 4; i++)
        assert_int_equal(((unsigned char *)p2)[i], 0);
}

typedef CUresult (*integrity_fn)(uint32_t, uint64_t, uint64_t[2]);

static void expected_integrity(uint64_t seconds, uint64_t out[2])
{
    unsigned char msg[48 + FAKE_DEVICES * 28], *p = msg;
    const void *const *t = fake_table(UUID_INTEGRITY);
    uint32_t u32[4] = { FAKE_DRIVER_VERSION, 13002, (uint32_t)getpid(),
                        (uint32_t)(uintptr_t)pthread_self() };
    uint64_t u64[4] = { (uintptr_t)fake_table(UUID_CUDART_INTERFACE), (uintptr_t)t,
                        (uintptr_t)t[1], seconds };
    memcpy(p, u32, 16);
    memcpy(p + 16, u64, 32);
    p += 48;
    for (int dev = 0; dev < FAKE_DEVICES; dev++) {
        int32_t pci[3] = { 0, 7 + dev, 0 };
        for (int i = 0; i < 16; i++)
            p[i] = (unsigned char)(0x10 * dev + i);
        memcpy(p + 16, pci, 12);
        p += 28;
    }
    const unsigned char key[16] = { 0x14, 0x6a, 0xdd, 0xae, 0x53, 0xa9, 0xa7, 0x52,
                                    0xaa, 0x08, 0x41, 0x36, 0x0b, 0xf5, 0x5a, 0x9f };
    exporttab_hmac_md2(key, msg, sizeof(msg), (unsigned char *)out);
}

static void test_integrity_answers(void **state)
{
    integrity_fn check = (integrity_fn)fake_table(UUID_INTEGRITY)[1];
    uint64_t r[2], want[2];
    (void)state;
    assert_int_equal(check(13000, 1700000000, r), CUDA_SUCCESS);
    assert_true(r[0] == 0x3341181C03CB675Cull && r[1] == 0x8ED383AA1F4CD1E8ull);
    assert_int_equal(check(13001, 1700000000, r), CUDA_SUCCESS);
    assert_true(r[0] == 0x1841181C03CB675Cull && r[1] == 0x8ED383AA1F4CD1E8ull);

    assert_int_equal(check(13002, 1700000123, r), CUDA_SUCCESS);
    expected_integrity(1700000123, want);
    assert_memory_equal(r, want, 16);

    /* The time is part of the message. */
    assert_int_equal(check(13002, 1700000124, r), CUDA_SUCCESS);
    assert_memory_not_equal(r, want, 16);

    assert_int_equal(check(13002, 1, NULL), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(check(13003, 1, r), CUDA_ERROR_NOT_SUPPORTED);
}

static void test_integrity_propagates_driver_error(void **state)
{
    integrity_fn check = (integrity_fn)fake_table(UUID_INTEGRITY)[1];
    uint64_t r[2];
    (void)state;
    fake_fail_uuid = 1;
    assert_int_equal(check(13002, 1, r), CUDA_ERROR_INVALID_DEVICE);
    fake_fail_uuid = 0;
}

static int setup(void **state)
{
    (void)state;
    fake_driver_install();
    return 0;
}

/* The libraries' tables: TOOLS_CONTEXT slot 4 is the context id (NULL: the current context);
 * unknown slots answer NOT_SUPPORTED instead of crashing (docs/export-tables.md, "Tables the
 * libraries add"). */
static void test_library_tables(void **state)
{
    typedef CUresult (*id_fn)(CUcontext, unsigned long long *);
    typedef CUresult (*unknown_fn)(void);
    const void *const *t = fake_table(UUID_TOOLS_CONTEXT);
    unsigned long long id = 0;
    (void)state;
    assert_int_equal(((id_fn)t[4])((CUcontext)&fake_contexts[1], &id), CUDA_SUCCESS);
    assert_int_equal(id, 101);
    fake_current = (CUcontext)&fake_contexts[0];
    assert_int_equal(((id_fn)t[4])(NULL, &id), CUDA_SUCCESS);
    assert_int_equal(id, 100);
    fake_current = NULL;
    assert_int_equal(((id_fn)t[4])(NULL, &id), CUDA_ERROR_INVALID_CONTEXT);
    assert_int_equal(((id_fn)t[4])((CUcontext)&id, &id), CUDA_ERROR_INVALID_CONTEXT);
    assert_int_equal(((id_fn)t[4])((CUcontext)&fake_contexts[0], NULL), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(((unknown_fn)t[50])(), CUDA_ERROR_NOT_SUPPORTED);
    assert_int_equal(((unknown_fn)t[50])(), CUDA_ERROR_NOT_SUPPORTED); /* said once */
    assert_int_equal(((unknown_fn)fake_table(UUID_TOOLS_MODULE)[8])(), CUDA_ERROR_NOT_SUPPORTED);
    assert_int_equal(((unknown_fn)fake_table(UUID_TOOLS_TLS)[1])(), CUDA_ERROR_NOT_SUPPORTED);
    assert_int_equal(((unknown_fn)fake_table(UUID_TOOLS_TLS)[3])(), CUDA_ERROR_NOT_SUPPORTED);
}

/* What cuBLAS asks before a reduction to a host scalar: TOOLS_TLS slot 2 gives the current
 * context, TOOLS_CONTEXT slot 51 the stream a runtime handle means in it (NULL: the legacy
 * stream, or the per-thread one when asked), slot 39 that stream's id. */
static void test_stream_slots(void **state)
{
    typedef CUresult (*ctx_fn)(CUcontext *);
    typedef CUresult (*stream_fn)(CUcontext, CUstream, CUstream *, int);
    typedef CUresult (*sid_fn)(CUcontext, CUstream, unsigned long long *);
    const void *const *t = fake_table(UUID_TOOLS_CONTEXT);
    ctx_fn current = (ctx_fn)fake_table(UUID_TOOLS_TLS)[2];
    stream_fn stream = (stream_fn)t[51];
    sid_fn stream_id = (sid_fn)t[39];
    CUcontext ctx = (CUcontext)&fake_streams[0]; /* overwritten */
    CUstream s = NULL;
    unsigned long long id = 0;
    (void)state;
    fake_current = NULL;
    assert_int_equal(current(&ctx), CUDA_ERROR_INVALID_CONTEXT);
    assert_null(ctx);
    assert_int_equal(current(NULL), CUDA_ERROR_INVALID_VALUE);
    fake_current = (CUcontext)&fake_contexts[1];
    assert_int_equal(current(&ctx), CUDA_SUCCESS);
    assert_ptr_equal(ctx, &fake_contexts[1]);

    const struct { CUstream in; int per_thread; CUstream out; unsigned long long id; } cases[] = {
        { NULL, 0, CU_STREAM_LEGACY, 1001 },
        { NULL, 1, CU_STREAM_PER_THREAD, 2001 },
        { CU_STREAM_LEGACY, 0, CU_STREAM_LEGACY, 1001 },
        { CU_STREAM_PER_THREAD, 1, CU_STREAM_PER_THREAD, 2001 },
        { (CUstream)&fake_streams[1], 0, (CUstream)&fake_streams[1], 11 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(stream(ctx, cases[i].in, &s, cases[i].per_thread), CUDA_SUCCESS);
        assert_ptr_equal(s, cases[i].out);
        assert_int_equal(stream_id(ctx, s, &id), CUDA_SUCCESS);
        assert_int_equal(id, cases[i].id);
    }
    /* The special handles name the current context's streams: not another context's. */
    CUcontext other = (CUcontext)&fake_contexts[0];
    assert_int_equal(stream(other, NULL, &s, 0), CUDA_ERROR_INVALID_CONTEXT);
    assert_int_equal(stream_id(other, CU_STREAM_LEGACY, &id), CUDA_ERROR_INVALID_CONTEXT);
    assert_int_equal(stream(other, (CUstream)&fake_streams[0], &s, 0), CUDA_SUCCESS);
    assert_int_equal(stream_id(other, s, &id), CUDA_SUCCESS);
    assert_int_equal(id, 10);
    assert_int_equal(stream_id(ctx, (CUstream)&id, &id), CUDA_ERROR_INVALID_HANDLE);
    assert_int_equal(stream(ctx, NULL, NULL, 0), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(stream_id(ctx, s, NULL), CUDA_ERROR_INVALID_VALUE);
    fake_current = NULL;
}

/* TOOLS_MODULE slot 7 calls back once per function of the module and answers 1 (what cuFFT
 * takes for success); a module without functions is NOT_FOUND. */
static void keep_function(void *arg, CUfunction f)
{
    CUfunction *seen = arg;
    seen[(uintptr_t)f - 1] = f;
}

static void test_module_functions_slot(void **state)
{
    typedef CUresult (*each_fn)(CUcontext, CUmodule, void (*)(void *, CUfunction), void *);
    each_fn each = (each_fn)fake_table(UUID_TOOLS_MODULE)[7];
    unsigned three = 3, none = 0;
    CUfunction seen[3] = {0};
    (void)state;
    assert_int_equal(each(NULL, (CUmodule)&three, keep_function, seen), 1);
    for (uintptr_t i = 0; i < 3; i++)
        assert_ptr_equal(seen[i], (CUfunction)(i + 1));
    assert_int_equal(each(NULL, (CUmodule)&none, keep_function, seen), CUDA_ERROR_NOT_FOUND);
    assert_int_equal(each(NULL, NULL, keep_function, seen), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(each(NULL, (CUmodule)&three, NULL, seen), CUDA_ERROR_INVALID_VALUE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_words_and_slots),
        cmocka_unit_test(test_same_address_every_call),
        cmocka_unit_test(test_unknown_uuid_refused),
        cmocka_unit_test(test_primary_context_slot),
        cmocka_unit_test(test_legacy_module_slots_without_loader),
        cmocka_unit_test(test_context_checks),
        cmocka_unit_test(test_tools_hook_buffers),
        cmocka_unit_test(test_integrity_answers),
        cmocka_unit_test(test_integrity_propagates_driver_error),
        cmocka_unit_test(test_library_tables),
        cmocka_unit_test(test_module_functions_slot),
        cmocka_unit_test(test_stream_slots),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
