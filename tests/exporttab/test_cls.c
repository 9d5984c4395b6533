/*
 * Context-local storage through the CONTEXT_LOCAL_STORAGE table, the way cudart uses it:
 * put/get/delete with NULL meaning the current context, destructors run by
 * exporttab_context_destroyed, and concurrent get from many threads while others mutate.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cls.h"
#include "fake_driver.h"

typedef void (*dtor_fn)(CUcontext, void *, void *);
typedef CUresult (*put_fn)(CUcontext, void *, void *, dtor_fn);
typedef CUresult (*delete_fn)(CUcontext, void *);
typedef CUresult (*get_fn)(void **, CUcontext, void *);

static put_fn cls_put_slot;
static delete_fn cls_delete_slot;
static get_fn cls_get_slot;

static int key_a, key_b; /* cudart uses addresses of its own statics as keys */
static int ctx_x, ctx_y;
#define CTX_X ((CUcontext)&ctx_x)
#define CTX_Y ((CUcontext)&ctx_y)

static struct { CUcontext ctx; void *key; void *value; } dtor_log[8];
static int dtor_calls;

static void record_dtor(CUcontext ctx, void *key, void *value)
{
    if (dtor_calls < 8)
        dtor_log[dtor_calls] = (typeof(dtor_log[0])){ ctx, key, value };
    dtor_calls++;
}

static int setup(void **state)
{
    (void)state;
    fake_driver_install();
    const void *const *t = fake_table(UUID_CLS);
    cls_put_slot = (put_fn)t[0];
    cls_delete_slot = (delete_fn)t[1];
    cls_get_slot = (get_fn)t[2];
    return 0;
}

static int reset(void **state)
{
    (void)state;
    exporttab_context_destroyed(CTX_X);
    exporttab_context_destroyed(CTX_Y);
    dtor_calls = 0;
    fake_current = NULL;
    return 0;
}

static void test_no_current_context_fails(void **state)
{
    void *v = NULL;
    (void)state;
    assert_int_not_equal(cls_get_slot(&v, NULL, &key_a), CUDA_SUCCESS);
    assert_int_equal(cls_put_slot(NULL, &key_a, &v, NULL), CUDA_ERROR_INVALID_CONTEXT);
    assert_int_equal(cls_get_slot(NULL, CTX_X, &key_a), CUDA_ERROR_INVALID_VALUE);
}

static void test_put_get_replace_delete(void **state)
{
    int v1 = 1, v2 = 2;
    void *v = NULL;
    (void)state;
    fake_current = CTX_X;
    assert_int_equal(cls_get_slot(&v, NULL, &key_a), CUDA_ERROR_INVALID_HANDLE);
    assert_int_equal(cls_put_slot(NULL, &key_a, &v1, record_dtor), CUDA_SUCCESS);
    assert_int_equal(cls_get_slot(&v, NULL, &key_a), CUDA_SUCCESS);
    assert_ptr_equal(v, &v1);
    assert_int_equal(cls_get_slot(&v, CTX_X, &key_a), CUDA_SUCCESS); /* explicit == current */
    assert_ptr_equal(v, &v1);
    assert_int_equal(cls_get_slot(&v, (CUcontext)(intptr_t)-1, &key_a), CUDA_SUCCESS);
    assert_ptr_equal(v, &v1);

    /* Other context, other key: independent. */
    assert_int_equal(cls_get_slot(&v, CTX_Y, &key_a), CUDA_ERROR_INVALID_HANDLE);
    assert_int_equal(cls_get_slot(&v, CTX_X, &key_b), CUDA_ERROR_INVALID_HANDLE);

    /* Replace: the cached value must not survive. */
    assert_int_equal(cls_put_slot(CTX_X, &key_a, &v2, record_dtor), CUDA_SUCCESS);
    assert_int_equal(cls_get_slot(&v, NULL, &key_a), CUDA_SUCCESS);
    assert_ptr_equal(v, &v2);
    assert_int_equal(dtor_calls, 0);

    assert_int_equal(cls_delete_slot(CTX_X, &key_a), CUDA_SUCCESS);
    assert_int_equal(cls_get_slot(&v, NULL, &key_a), CUDA_ERROR_INVALID_HANDLE);
    assert_int_equal(cls_delete_slot(CTX_X, &key_a), CUDA_ERROR_INVALID_HANDLE);
    assert_int_equal(dtor_calls, 0); /* delete is the owner's own removal: no destructor */
}

static void test_destructor_on_context_destroyed(void **state)
{
    int va = 1, vb = 2, vy = 3;
    void *v = NULL;
    (void)state;
    assert_int_equal(cls_put_slot(CTX_X, &key_a, &va, record_dtor), CUDA_SUCCESS);
    assert_int_equal(cls_put_slot(CTX_X, &key_b, &vb, record_dtor), CUDA_SUCCESS);
    assert_int_equal(cls_put_slot(CTX_Y, &key_a, &vy, record_dtor), CUDA_SUCCESS);
    fake_current = CTX_X;
    assert_int_equal(cls_get_slot(&v, NULL, &key_a), CUDA_SUCCESS); /* warm the cache */

    exporttab_context_destroyed(CTX_X);
    assert_int_equal(dtor_calls, 2);
    for (int i = 0; i < 2; i++) {
        assert_ptr_equal(dtor_log[i].ctx, CTX_X);
        if (dtor_log[i].key == &key_a)
            assert_ptr_equal(dtor_log[i].value, &va);
        else
            assert_ptr_equal(dtor_log[i].value, &vb);
    }
    assert_ptr_not_equal(dtor_log[0].key, dtor_log[1].key);
    assert_int_equal(cls_get_slot(&v, NULL, &key_a), CUDA_ERROR_INVALID_HANDLE);
    assert_int_equal(cls_get_slot(&v, CTX_Y, &key_a), CUDA_SUCCESS);
    assert_ptr_equal(v, &vy);

    /* cudart re-puts after cudaDeviceReset on the same handle. */
    assert_int_equal(cls_put_slot(NULL, &key_a, &vb, record_dtor), CUDA_SUCCESS);
    assert_int_equal(cls_get_slot(&v, NULL, &key_a), CUDA_SUCCESS);
    assert_ptr_equal(v, &vb);
    exporttab_context_destroyed(CTX_X);
    exporttab_context_destroyed(CTX_X); /* twice: nothing left to destroy */
    assert_int_equal(dtor_calls, 3);
}

/* A destructor that uses the map again must not deadlock. */
static void reentrant_dtor(CUcontext ctx, void *key, void *value)
{
    void *v;
    (void)key;
    (void)value;
    assert_int_equal(cls_get_slot(&v, ctx, &key_b), CUDA_ERROR_INVALID_HANDLE);
    assert_int_equal(cls_put_slot(CTX_Y, &key_b, value, NULL), CUDA_SUCCESS);
    dtor_calls++;
}

static void test_reentrant_destructor(void **state)
{
    int va = 1;
    void *v;
    (void)state;
    assert_int_equal(cls_put_slot(CTX_X, &key_a, &va, reentrant_dtor), CUDA_SUCCESS);
    exporttab_context_destroyed(CTX_X);
    assert_int_equal(dtor_calls, 1);
    assert_int_equal(cls_get_slot(&v, CTX_Y, &key_b), CUDA_SUCCESS);
    assert_ptr_equal(v, &va);
}

static void test_many_entries_grow(void **state)
{
    static int keys[1000];
    void *v;
    (void)state;
    size_t before = cls_size();
    for (int i = 0; i < 1000; i++)
        assert_int_equal(cls_put_slot(CTX_Y, &keys[i], &keys[999 - i], NULL), CUDA_SUCCESS);
    assert_int_equal(cls_size(), before + 1000);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(cls_get_slot(&v, CTX_Y, &keys[i]), CUDA_SUCCESS);
        assert_ptr_equal(v, &keys[999 - i]);
    }
    exporttab_context_destroyed(CTX_Y);
    assert_int_equal(cls_size(), before);
}

/* ---- concurrency ---- */

#define READERS 4
#define ROUNDS 200000
static int thread_ctx[READERS];
static atomic_int stop_writer;
static atomic_long wrong_answers;

static void *reader(void *arg)
{
    int me = (int)(intptr_t)arg;
    fake_current = (CUcontext)&thread_ctx[me];
    for (int i = 0; i < ROUNDS; i++) {
        void *v = NULL;
        if (cls_get_slot(&v, NULL, &key_a) != CUDA_SUCCESS || v != &thread_ctx[me])
            atomic_fetch_add(&wrong_answers, 1);
    }
    return NULL;
}

/* Keeps bumping the generation (puts/deletes on another context) so readers take both paths. */
static void *writer(void *arg)
{
    int v;
    (void)arg;
    while (!atomic_load(&stop_writer)) {
        cls_put_slot(CTX_Y, &key_b, &v, NULL);
        cls_delete_slot(CTX_Y, &key_b);
    }
    return NULL;
}

static void test_concurrent_get(void **state)
{
    pthread_t r[READERS], w;
    (void)state;
    for (int i = 0; i < READERS; i++)
        assert_int_equal(cls_put_slot((CUcontext)&thread_ctx[i], &key_a, &thread_ctx[i], NULL),
                         CUDA_SUCCESS);
    assert_int_equal(pthread_create(&w, NULL, writer, NULL), 0);
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&r[i], NULL, reader, (void *)(intptr_t)i), 0);
    for (int i = 0; i < READERS; i++)
        pthread_join(r[i], NULL);
    atomic_store(&stop_writer, 1);
    pthread_join(w, NULL);
    assert_int_equal(atomic_load(&wrong_answers), 0);
    for (int i = 0; i < READERS; i++)
        exporttab_context_destroyed((CUcontext)&thread_ctx[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_no_current_context_fails, reset),
        cmocka_unit_test_setup(test_put_get_replace_delete, reset),
        cmocka_unit_test_setup(test_destructor_on_context_destroyed, reset),
        cmocka_unit_test_setup(test_reentrant_destructor, reset),
        cmocka_unit_test_setup(test_many_entries_grow, reset),
        cmocka_unit_test_setup(test_concurrent_get, reset),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
