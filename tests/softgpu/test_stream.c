/*
 * softgpu: streams (FIFO order, flags, priorities, query, callbacks and host functions,
 * legacy default-stream synchronisation, the per-thread stream) and events (record, query,
 * synchronize, elapsed time, cross-stream waits).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "sg_test.h"

struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int open;
};

static void gate_wait(void *arg)
{
    struct gate *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = 1;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

struct log {
    _Atomic int n;
    int order[16];
};
struct tag {
    struct log *log;
    int value;
};

static void record(void *arg)
{
    struct tag *t = arg;
    int i = atomic_fetch_add(&t->log->n, 1);
    t->log->order[i] = t->value;
}

static void sleep_ms(void *arg)
{
    struct timespec ts = {0, (long)(intptr_t)arg * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_stream_basics(void **state)
{
    (void)state;
    CUstream s;
    CU_OK(cuStreamCreateWithPriority(&s, CU_STREAM_NON_BLOCKING, -3));
    unsigned flags;
    int prio;
    CU_OK(cuStreamGetFlags(s, &flags));
    assert_int_equal(flags, CU_STREAM_NON_BLOCKING);
    CU_OK(cuStreamGetPriority(s, &prio));
    assert_int_equal(prio, -3);
    CUcontext ctx, cur;
    CU_OK(cuStreamGetCtx(s, &ctx));
    CU_OK(cuCtxGetCurrent(&cur));
    assert_ptr_equal(ctx, cur);
    unsigned long long id1, id2;
    CU_OK(cuStreamGetId(s, &id1));
    CU_OK(cuStreamGetId(NULL, &id2));
    assert_true(id1 != id2);
    CU_OK(cuStreamQuery(s));
    /* work held back by a gate: the stream is busy until it opens */
    struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    CU_OK(cuLaunchHostFunc(s, gate_wait, &g));
    CU_ERR(cuStreamQuery(s), CUDA_ERROR_NOT_READY);
    gate_open(&g);
    CU_OK(cuStreamSynchronize(s));
    CU_OK(cuStreamQuery(s));
    CU_OK(cuStreamDestroy(s));
    CU_ERR(cuStreamQuery(s), CUDA_ERROR_INVALID_HANDLE);
    CU_ERR(cuStreamCreate(&s, 0x10), CUDA_ERROR_INVALID_VALUE);
}

static void test_fifo_order(void **state)
{
    (void)state;
    CUstream s;
    CU_OK(cuStreamCreate(&s, 0));
    struct log log = {0};
    struct tag tags[8];
    for (int i = 0; i < 8; i++) {
        tags[i] = (struct tag){&log, i};
        if (i == 2)
            CU_OK(cuLaunchHostFunc(s, sleep_ms, (void *)(intptr_t)5));
        CU_OK(cuLaunchHostFunc(s, record, &tags[i]));
    }
    CU_OK(cuStreamSynchronize(s));
    assert_int_equal(atomic_load(&log.n), 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(log.order[i], i);
    CU_OK(cuStreamDestroy(s));
}

/* Async copies between page-locked memory and the device run in stream order, after the host
 * function queued before them. */
static void test_copy_ordering(void **state)
{
    (void)state;
    CUstream s;
    CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, 4096));
    CU_OK(cuMemsetD32(d, 1, 1024));
    struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    unsigned *host, *out;
    CU_OK(cuMemAllocHost((void **)&host, 4096));
    CU_OK(cuMemAllocHost((void **)&out, 4096));
    for (int i = 0; i < 1024; i++)
        host[i] = 7;
    memset(out, 0, 4096);
    CU_OK(cuLaunchHostFunc(s, gate_wait, &g));
    CU_OK(cuMemcpyHtoDAsync(d, host, 4096, s));
    CU_OK(cuMemsetD32Async(d, 9, 512, s));
    CU_OK(cuMemcpyDtoHAsync(out, d, 4096, s));
    usleep(10000);
    assert_int_equal(out[0], 0); /* nothing ran: the gate holds the stream */
    gate_open(&g);
    CU_OK(cuStreamSynchronize(s));
    assert_int_equal(out[0], 9);
    assert_int_equal(out[511], 9);
    assert_int_equal(out[512], 7);
    /* errors found when the call is made are returned by the call */
    CU_ERR(cuMemcpyHtoDAsync(0x40, host, 4, s), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuMemcpyHtoDAsync(d, host, 4, (CUstream)0x999), CUDA_ERROR_INVALID_HANDLE);
    CU_OK(cuMemFreeHost(host));
    CU_OK(cuMemFreeHost(out));
    CU_OK(cuMemFree(d));
    CU_OK(cuStreamDestroy(s));
}

/* Pageable memory: the source of an async copy is taken when the call is made; a copy into
 * pageable memory is complete when the call returns. */
static void test_pageable_async_copies(void **state)
{
    (void)state;
    CUstream s;
    CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, 64));
    struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    unsigned src[16], dst[16];
    for (int i = 0; i < 16; i++)
        src[i] = 100 + i;
    CU_OK(cuLaunchHostFunc(s, gate_wait, &g));
    CU_OK(cuMemcpyHtoDAsync(d, src, sizeof src, s));
    memset(src, 0, sizeof src); /* allowed right away for pageable memory */
    gate_open(&g);
    memset(dst, 0, sizeof dst);
    CU_OK(cuMemcpyDtoHAsync(dst, d, sizeof dst, s));
    assert_int_equal(dst[0], 100); /* no synchronize needed */
    assert_int_equal(dst[15], 115);
    CU_OK(cuMemFree(d));
    CU_OK(cuStreamDestroy(s));
}

static _Atomic int callback_status = -1;
static void CUDA_CB on_callback(CUstream s, CUresult status, void *user)
{
    (void)s;
    (void)user;
    atomic_store(&callback_status, (int)status);
}

static void test_callbacks(void **state)
{
    (void)state;
    CUstream s;
    CU_OK(cuStreamCreate(&s, 0));
    CU_OK(cuStreamAddCallback(s, on_callback, NULL, 0));
    CU_OK(cuStreamSynchronize(s));
    assert_int_equal(atomic_load(&callback_status), CUDA_SUCCESS);
    CU_ERR(cuStreamAddCallback(s, on_callback, NULL, 1), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuLaunchHostFunc(s, NULL, NULL), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuStreamDestroy(s));
}

/* Work on the legacy stream waits for blocking streams, but not for non-blocking ones. */
static void test_legacy_stream_semantics(void **state)
{
    (void)state;
    CUstream blocking, nonblocking;
    CU_OK(cuStreamCreate(&blocking, CU_STREAM_DEFAULT));
    CU_OK(cuStreamCreate(&nonblocking, CU_STREAM_NON_BLOCKING));
    struct gate g1 = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct gate g2 = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct log log = {0};
    struct tag t = {&log, 1};
    CU_OK(cuLaunchHostFunc(nonblocking, gate_wait, &g2));
    CU_OK(cuLaunchHostFunc(blocking, gate_wait, &g1));
    CU_OK(cuLaunchHostFunc(NULL, record, &t));
    usleep(10000);
    assert_int_equal(atomic_load(&log.n), 0); /* held behind the blocking stream */
    CU_ERR(cuStreamQuery(NULL), CUDA_ERROR_NOT_READY);
    gate_open(&g1);
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(atomic_load(&log.n), 1); /* ran although the non-blocking stream is held */
    CU_ERR(cuStreamQuery(nonblocking), CUDA_ERROR_NOT_READY);
    gate_open(&g2);
    CU_OK(cuCtxSynchronize());
    CU_OK(cuStreamQuery(nonblocking));
    CU_OK(cuStreamDestroy(blocking));
    CU_OK(cuStreamDestroy(nonblocking));
}

typedef CUresult (*host_func_fn)(CUstream, CUhostFn, void *);

static void test_per_thread_stream(void **state)
{
    (void)state;
    host_func_fn ptsz;
    CU_OK(cuGetProcAddress("cuLaunchHostFunc", (void **)&ptsz, 13000,
                           CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, NULL));
    /* the per-thread stream does not wait for a held non-blocking stream, and NULL through
     * the _ptsz entry names it */
    struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct log log = {0};
    struct tag t = {&log, 5};
    CUstream nb;
    CU_OK(cuStreamCreate(&nb, CU_STREAM_NON_BLOCKING));
    CU_OK(cuLaunchHostFunc(nb, gate_wait, &g));
    CU_OK(ptsz(NULL, record, &t));
    CU_OK(cuStreamSynchronize(CU_STREAM_PER_THREAD));
    assert_int_equal(atomic_load(&log.n), 1);
    gate_open(&g);
    CU_OK(cuStreamDestroy(nb));
    CU_ERR(cuStreamDestroy(CU_STREAM_PER_THREAD), CUDA_ERROR_INVALID_HANDLE);
}

struct thread_arg {
    CUcontext ctx;
    host_func_fn ptsz;
    struct tag *tag;
    CUresult result;
};

static void *per_thread_user(void *p)
{
    struct thread_arg *a = p;
    a->result = cuCtxSetCurrent(a->ctx);
    if (!a->result)
        a->result = a->ptsz(NULL, record, a->tag);
    if (!a->result)
        a->result = cuStreamSynchronize(CU_STREAM_PER_THREAD);
    return NULL; /* the thread's per-thread stream is destroyed as it exits */
}

static void test_per_thread_stream_other_threads(void **state)
{
    (void)state;
    struct thread_arg a;
    CU_OK(cuGetProcAddress("cuLaunchHostFunc", (void **)&a.ptsz, 13000,
                           CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, NULL));
    CU_OK(cuCtxGetCurrent(&a.ctx));
    struct log log = {0};
    struct tag t = {&log, 9};
    a.tag = &t;
    for (int i = 0; i < 4; i++) {
        pthread_t th;
        pthread_create(&th, NULL, per_thread_user, &a);
        pthread_join(th, NULL);
        CU_OK(a.result);
    }
    assert_int_equal(atomic_load(&log.n), 4);
    CU_OK(cuCtxSynchronize());
}

static void test_stream_attributes(void **state)
{
    (void)state;
    CUstream a, b;
    CU_OK(cuStreamCreateWithPriority(&a, 0, -2));
    CU_OK(cuStreamCreate(&b, 0));
    CUstreamAttrValue v;
    memset(&v, 0, sizeof v);
    CU_OK(cuStreamGetAttribute(a, CU_LAUNCH_ATTRIBUTE_PRIORITY, &v));
    assert_int_equal(v.priority, -2);
    v.syncPolicy = CU_SYNC_POLICY_BLOCKING_SYNC;
    CU_OK(cuStreamSetAttribute(a, CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY, &v));
    CU_OK(cuStreamCopyAttributes(b, a));
    memset(&v, 0, sizeof v);
    CU_OK(cuStreamGetAttribute(b, CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY, &v));
    assert_int_equal(v.syncPolicy, CU_SYNC_POLICY_BLOCKING_SYNC);
    int prio;
    CU_OK(cuStreamGetPriority(b, &prio));
    assert_int_equal(prio, -2);
    CU_ERR(cuStreamGetAttribute(a, CU_LAUNCH_ATTRIBUTE_COOPERATIVE, &v), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuStreamDestroy(a));
    CU_OK(cuStreamDestroy(b));
}

static void test_events(void **state)
{
    (void)state;
    CUstream s;
    CU_OK(cuStreamCreate(&s, 0));
    CUevent a, b, notiming;
    CU_OK(cuEventCreate(&a, CU_EVENT_DEFAULT));
    CU_OK(cuEventCreate(&b, CU_EVENT_BLOCKING_SYNC));
    CU_OK(cuEventCreate(&notiming, CU_EVENT_DISABLE_TIMING));
    CU_OK(cuEventQuery(a)); /* never recorded: complete */
    float ms;
    CU_ERR(cuEventElapsedTime(&ms, a, b), CUDA_ERROR_INVALID_HANDLE);
    CU_OK(cuEventRecord(a, s));
    CU_OK(cuLaunchHostFunc(s, sleep_ms, (void *)(intptr_t)30));
    CU_OK(cuEventRecord(b, s));
    CU_OK(cuEventRecord(notiming, s));
    CU_ERR(cuEventQuery(b), CUDA_ERROR_NOT_READY);
    CU_ERR(cuEventElapsedTime(&ms, a, b), CUDA_ERROR_NOT_READY);
    CU_OK(cuEventSynchronize(b));
    CU_OK(cuEventQuery(b));
    CU_OK(cuEventElapsedTime(&ms, a, b));
    assert_true(ms >= 29.0f && ms < 1000.0f);
    CU_ERR(cuEventElapsedTime(&ms, a, notiming), CUDA_ERROR_INVALID_HANDLE);
    CU_OK(cuEventRecordWithFlags(a, NULL, 0));
    CU_OK(cuEventSynchronize(a));
    CU_ERR(cuEventCreate(&a, 0x100), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuEventDestroy(b));
    CU_ERR(cuEventQuery(b), CUDA_ERROR_INVALID_HANDLE);
    CU_OK(cuEventDestroy(notiming));
    CU_OK(cuEventDestroy(a));
    CU_OK(cuStreamDestroy(s));
}

static void test_stream_wait_event(void **state)
{
    (void)state;
    CUstream producer, consumer;
    CU_OK(cuStreamCreate(&producer, CU_STREAM_NON_BLOCKING));
    CU_OK(cuStreamCreate(&consumer, CU_STREAM_NON_BLOCKING));
    CUevent e;
    CU_OK(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING));
    struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct log log = {0};
    struct tag first = {&log, 1}, second = {&log, 2};
    CU_OK(cuLaunchHostFunc(producer, gate_wait, &g));
    CU_OK(cuLaunchHostFunc(producer, record, &first));
    CU_OK(cuEventRecord(e, producer));
    CU_OK(cuStreamWaitEvent(consumer, e, 0));
    CU_OK(cuLaunchHostFunc(consumer, record, &second));
    usleep(10000);
    assert_int_equal(atomic_load(&log.n), 0);
    gate_open(&g);
    CU_OK(cuStreamSynchronize(consumer));
    assert_int_equal(atomic_load(&log.n), 2);
    assert_int_equal(log.order[0], 1);
    assert_int_equal(log.order[1], 2);
    CU_OK(cuEventDestroy(e));
    CU_OK(cuStreamDestroy(producer));
    CU_OK(cuStreamDestroy(consumer));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_basics),
        cmocka_unit_test(test_fifo_order),
        cmocka_unit_test(test_copy_ordering),
        cmocka_unit_test(test_pageable_async_copies),
        cmocka_unit_test(test_callbacks),
        cmocka_unit_test(test_legacy_stream_semantics),
        cmocka_unit_test(test_per_thread_stream),
        cmocka_unit_test(test_per_thread_stream_other_threads),
        cmocka_unit_test(test_stream_attributes),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_stream_wait_event),
    };
    return cmocka_run_group_tests(tests, sg_setup_primary, sg_teardown_primary);
}
