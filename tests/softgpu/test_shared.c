/*
 * The shared softgpu device (docs/softgpu.md "The shared device"): processes of one machine
 * (SOFTGPU_NAMESPACE) share one device's memory. Each case forks worker processes that run the
 * driver on command (allocate, free, report), while this process only watches through NVML:
 * capacity shared (A holds 3/4, B cannot take 1/2, B sees A's use), a SIGKILLed process's memory
 * back within a bounded wait, kills at random points of an allocation storm leaving the counter
 * exact, NVML's process list, separate namespaces, the creator's SOFTGPU_MEMORY winning, another
 * build's segment (in use: a private device; unused: replaced) and the segment's unlinking.
 * Runs with SOFTGPU_MEMORY=64MiB.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sg_test.h"
#include "shm_stats.h" /* SG_SHM_VERSION: the segment layout this build writes */
#if __has_include("test_timeouts.h")
#include "test_timeouts.h" /* TFUSE_TEST_TIMEOUT_SCALE */
#else
static int tt_scaled_n(int n) { return n; } /* until tests/common/test_timeouts.h is in */
#endif
#define TFUSE_NVML_NO_VERSION_MACROS
#include "tfuse/nvml.h"

#define MIB (1ull << 20)
#define CAP (64 * MIB)

enum op { OP_ALLOC, OP_FREE_ALL, OP_INFO, OP_TOTAL, OP_STORM, OP_EXIT };
struct cmd { int op; uint64_t arg; };
struct reply { int64_t a, b; };

struct worker { pid_t pid; int to, from; };

static CUdeviceptr held[64];
static int nheld;

static void *storm_thread(void *ctx)
{
    cuCtxSetCurrent((CUcontext)ctx);
    for (unsigned i = 0;; i++) {
        CUdeviceptr p;
        if (cuMemAlloc(&p, (1 + i % 7) * MIB) == CUDA_SUCCESS)
            cuMemFree(p);
    }
    return NULL;
}

/* The worker's loop: one reply per command, until OP_EXIT or a kill. */
static void serve(int in, int out)
{
    CUcontext ctx;
    if (cuInit(0) != CUDA_SUCCESS || cuDevicePrimaryCtxRetain(&ctx, 0) != CUDA_SUCCESS
        || cuCtxSetCurrent(ctx) != CUDA_SUCCESS)
        _exit(3);
    struct cmd c;
    while (read(in, &c, sizeof c) == (ssize_t)sizeof c) {
        struct reply r = {0, 0};
        size_t f = 0, t = 0;
        pthread_t th;
        switch (c.op) {
        case OP_ALLOC:
            r.a = cuMemAlloc(&held[nheld], c.arg);
            nheld += r.a == CUDA_SUCCESS;
            break;
        case OP_FREE_ALL:
            while (nheld)
                cuMemFree(held[--nheld]);
            break;
        case OP_INFO:
            r.a = cuMemGetInfo(&f, &t);
            r.a = r.a ? -1 : (int64_t)f;
            r.b = (int64_t)t;
            break;
        case OP_TOTAL:
            r.a = cuDeviceTotalMem(&t, 0) ? -1 : (int64_t)t;
            break;
        case OP_STORM:
            for (uint64_t i = 0; i < c.arg; i++)
                pthread_create(&th, NULL, storm_thread, ctx);
            break;
        case OP_EXIT:
            cuDevicePrimaryCtxRelease(0);
            exit(0); /* atexit: the driver gives its slot back and may unlink the segment */
        }
        if (write(out, &r, sizeof r) != (ssize_t)sizeof r)
            _exit(4);
    }
    _exit(5);
}

/* A worker process; `env` ("NAME=value" or NULL) is set in it before cuInit. */
static struct worker spawn(const char *env)
{
    int to[2], from[2];
    assert_int_equal(pipe(to), 0);
    assert_int_equal(pipe(from), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(to[1]);
        close(from[0]);
        if (env)
            putenv((char *)env);
        serve(to[0], from[1]);
    }
    close(to[0]);
    close(from[1]);
    return (struct worker){pid, to[1], from[0]};
}

static struct reply ask(struct worker *w, int op, uint64_t arg)
{
    struct cmd c = {op, arg};
    struct reply r = {-100, -100};
    assert_int_equal(write(w->to, &c, sizeof c), (ssize_t)sizeof c);
    assert_int_equal(read(w->from, &r, sizeof r), (ssize_t)sizeof r);
    return r;
}

static void finish(struct worker *w)
{
    struct cmd c = {OP_EXIT, 0};
    int st = 0;
    assert_int_equal(write(w->to, &c, sizeof c), (ssize_t)sizeof c);
    assert_int_equal(waitpid(w->pid, &st, 0), w->pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(w->to);
    close(w->from);
}

static void kill_worker(struct worker *w)
{
    int st;
    kill(w->pid, SIGKILL);
    assert_int_equal(waitpid(w->pid, &st, 0), w->pid);
    close(w->to);
    close(w->from);
}

static nvmlDevice_t nvml_dev(void)
{
    nvmlDevice_t d;
    assert_int_equal(nvmlDeviceGetHandleByIndex_v2(0, &d), NVML_SUCCESS);
    return d;
}

static unsigned long long nvml_used(void)
{
    nvmlMemory_t m;
    assert_int_equal(nvmlDeviceGetMemoryInfo(nvml_dev(), &m), NVML_SUCCESS);
    assert_int_equal(m.total, CAP);
    return m.used;
}

/* NVML's bytes for pid; -1 when it is not listed. */
static long long nvml_bytes_of(pid_t pid)
{
    nvmlProcessInfo_t v[16];
    unsigned n = 16;
    assert_int_equal(nvmlDeviceGetComputeRunningProcesses_v3(nvml_dev(), &n, v), NVML_SUCCESS);
    for (unsigned i = 0; i < n; i++)
        if (v[i].pid == (unsigned)pid)
            return (long long)v[i].usedGpuMemory;
    return -1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void test_capacity_is_shared(void **state)
{
    (void)state;
    struct worker a = spawn(NULL), b = spawn(NULL);
    assert_int_equal(ask(&a, OP_ALLOC, CAP / 4 * 3).a, CUDA_SUCCESS);
    assert_int_equal(ask(&b, OP_ALLOC, CAP / 2).a, CUDA_ERROR_OUT_OF_MEMORY);
    struct reply info = ask(&b, OP_INFO, 0);
    assert_int_equal(info.b, CAP);
    assert_true(info.a >= 0 && (uint64_t)info.a <= CAP / 4); /* A's 3/4 is not free for B */
    assert_int_equal(ask(&b, OP_ALLOC, CAP / 8).a, CUDA_SUCCESS);
    /* NVML: both processes with their bytes, and the device's used is their sum */
    long long ba = nvml_bytes_of(a.pid), bb = nvml_bytes_of(b.pid);
    assert_int_equal(ba, CAP / 4 * 3);
    assert_int_equal(bb, CAP / 8);
    assert_int_equal(nvml_used(), (unsigned long long)(ba + bb));
    assert_int_equal(nvml_bytes_of(getpid()), -1); /* this process never opened the driver */
    ask(&a, OP_FREE_ALL, 0);
    assert_int_equal(ask(&b, OP_ALLOC, CAP / 2).a, CUDA_SUCCESS);
    finish(&a);
    finish(&b);
    assert_int_equal(nvml_used(), 0); /* a process that exits gives everything back */
}

static void test_killed_process_memory_comes_back(void **state)
{
    (void)state;
    struct worker a = spawn(NULL), b = spawn(NULL);
    assert_int_equal(ask(&a, OP_ALLOC, CAP / 4 * 3).a, CUDA_SUCCESS);
    assert_int_equal(ask(&b, OP_ALLOC, CAP / 2).a, CUDA_ERROR_OUT_OF_MEMORY);
    kill(a.pid, SIGKILL); /* not waited for yet: a zombie is dead too */
    int ok = 0;
    for (int i = 0; i < tt_scaled_n(400) && !ok; i++) {
        ok = ask(&b, OP_ALLOC, CAP / 2).a == CUDA_SUCCESS;
        if (!ok)
            sleep_ms(50);
    }
    assert_true(ok);
    assert_int_equal(nvml_bytes_of(a.pid), -1);
    kill_worker(&a);
    assert_int_equal(nvml_used(), CAP / 2);
    finish(&b);
}

/* Kills land anywhere in allocation and free paths of four threads; afterwards the device's
 * count is exactly the survivor's. */
static void test_kills_mid_allocation_leave_exact_counts(void **state)
{
    (void)state;
    struct worker b = spawn(NULL);
    assert_int_equal(ask(&b, OP_ALLOC, 5 * MIB).a, CUDA_SUCCESS);
    srand((unsigned)time(NULL));
    for (int round = 0; round < 6; round++) {
        struct worker s = spawn(NULL);
        ask(&s, OP_STORM, 4);
        sleep_ms(20 + rand() % 180);
        kill_worker(&s);
        assert_int_equal(nvml_used(), 5 * MIB); /* NVML reaps the dead slot as it reads */
    }
    struct reply info = ask(&b, OP_INFO, 0);
    assert_int_equal(info.a, CAP - 5 * MIB);
    finish(&b);
}

static void test_namespaces_are_separate_machines(void **state)
{
    (void)state;
    static char other[80];
    snprintf(other, sizeof other, "SOFTGPU_NAMESPACE=%.40s-other", getenv("SOFTGPU_NAMESPACE"));
    struct worker a = spawn(NULL), c = spawn(other);
    assert_int_equal(ask(&c, OP_ALLOC, CAP / 4 * 3).a, CUDA_SUCCESS);
    assert_int_equal(ask(&a, OP_ALLOC, CAP / 4 * 3).a, CUDA_SUCCESS);
    assert_int_equal(nvml_bytes_of(c.pid), -1);
    assert_int_equal(nvml_used(), CAP / 4 * 3);
    finish(&a);
    finish(&c);
}

static void test_creator_memory_size_wins(void **state)
{
    (void)state;
    struct worker a = spawn(NULL), d = spawn("SOFTGPU_MEMORY=32MiB");
    ask(&a, OP_INFO, 0); /* a has attached: the segment exists with 64 MiB */
    assert_int_equal(ask(&d, OP_TOTAL, 0).a, CAP);
    assert_int_equal(ask(&d, OP_ALLOC, 48 * MIB).a, CUDA_SUCCESS);
    finish(&d);
    finish(&a);
}

/* A segment file of another layout under namespace ns; its descriptor (unlocked). */
static int write_foreign(const char *ns, char *path, size_t n)
{
    snprintf(path, n, "/dev/shm/softgpu-%u-%s-dev0", (unsigned)getuid(), ns);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    uint32_t hdr[4] = {0x53475055u, 99, 4096, 0};
    assert_int_equal(write(fd, hdr, sizeof hdr), (ssize_t)sizeof hdr);
    assert_int_equal(ftruncate(fd, 4096), 0);
    return fd;
}

static void test_foreign_segment(void **state)
{
    (void)state;
    char ns[64], env[96], path[160];
    snprintf(ns, sizeof ns, "%.40s-foreign", getenv("SOFTGPU_NAMESPACE"));
    snprintf(env, sizeof env, "SOFTGPU_NAMESPACE=%s", ns);
    /* in use by a process of "another build": the driver runs on a private device */
    int fd = write_foreign(ns, path, sizeof path);
    assert_int_equal(flock(fd, LOCK_SH), 0);
    struct worker w = spawn(env);
    assert_int_equal(ask(&w, OP_ALLOC, CAP / 2).a, CUDA_SUCCESS);
    assert_int_equal(ask(&w, OP_INFO, 0).a, CAP / 2);
    finish(&w);
    uint32_t hdr[2];
    assert_int_equal(pread(fd, hdr, sizeof hdr, 0), (ssize_t)sizeof hdr);
    assert_int_equal(hdr[1], 99); /* untouched */
    close(fd);
    /* nobody holds it: replaced by this build's segment, which goes with its last process */
    struct worker x = spawn(env);
    assert_int_equal(ask(&x, OP_ALLOC, CAP / 2).a, CUDA_SUCCESS);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, hdr, sizeof hdr, 0), (ssize_t)sizeof hdr);
    assert_int_equal(hdr[1], SG_SHM_VERSION); /* replaced by this build's layout */
    close(fd);
    finish(&x);
    assert_int_equal(access(path, F_OK), -1);
}

/* The segment is unlinked when its last process leaves (this one's NVML included). */
static void test_segment_goes_with_last_process(void **state)
{
    (void)state;
    char path[160];
    snprintf(path, sizeof path, "/dev/shm/softgpu-%u-%s-dev0", (unsigned)getuid(),
             getenv("SOFTGPU_NAMESPACE"));
    struct worker a = spawn(NULL);
    ask(&a, OP_INFO, 0);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(nvmlShutdown(), NVML_SUCCESS);
    finish(&a);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(nvmlInit_v2(), NVML_SUCCESS);
}

static int setup(void **state)
{
    (void)state;
    return nvmlInit_v2() == NVML_SUCCESS ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return nvmlShutdown() == NVML_SUCCESS ? 0 : -1;
}

int main(void)
{
    if (!getenv("SOFTGPU_NAMESPACE")) {
        fprintf(stderr, "run by ctest: SOFTGPU_NAMESPACE names this test's machine\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity_is_shared),
        cmocka_unit_test(test_killed_process_memory_comes_back),
        cmocka_unit_test(test_kills_mid_allocation_leave_exact_counts),
        cmocka_unit_test(test_namespaces_are_separate_machines),
        cmocka_unit_test(test_creator_memory_size_wins),
        cmocka_unit_test(test_foreign_segment),
        cmocka_unit_test(test_segment_goes_with_last_process),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
