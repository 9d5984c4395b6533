/*
 * Tests of the shared vGPU region and the memory ledger (src/vgpu/vgpu_region.c, vgpu_mem.c):
 * device-wide limit sums, tokens, lifecycle, the exact limit under 8 racing processes, and the
 * reaper refunding a SIGKILLed process's bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ledger_racer.h"
#include "vgpu_mem.h"
#include "vgpu_region.h"

#define GiB (1ull << 30)
#define MiB (1ull << 20)

static struct vgpu_region *make_region(uint64_t device_mem, uint32_t flags)
{
    struct vgpu_device_desc dev = {.index = 0, .uuid = "GPU-test", .memory = device_mem, .flags = flags};
    struct vgpu_region *r = NULL;
    char err[256];
    if (vgpu_region_create(NULL, &dev, 16, &r, err, sizeof err) != 0)
        fail_msg("region: %s", err);
    return r;
}

static int create(struct vgpu_region *r, uint64_t mem, char *err, size_t errlen)
{
    struct vgpu_spec spec = {.mem_limit = mem, .request_bp = 2000, .qos = VGPU_QOS_MEDIUM};
    return vgpu_create(r, &spec, err, errlen);
}

static void test_device_sum_and_tokens(void **state)
{
    struct vgpu_region *r = make_region(8 * GiB, 0);
    char err[256];
    int a = create(r, 4 * GiB, err, sizeof err);
    int b = create(r, 3 * GiB, err, sizeof err);
    int c = create(r, 1 * GiB, err, sizeof err);
    assert_true(a >= 0 && b >= 0 && c >= 0);
    err[0] = 0;
    assert_int_equal(create(r, 1, err, sizeof err), -1); /* full to the byte */
    assert_non_null(strstr(err, "does not fit"));
    assert_true(r->hdr->mem_limit_sum == 8 * GiB);

    struct vgpu_slot *sa = vgpu_slot_at(r, a), *sb = vgpu_slot_at(r, b);
    assert_int_equal(strlen(sa->token), 2 * VGPU_TOKEN_BYTES);
    assert_string_not_equal(sa->token, sb->token);
    assert_int_equal(vgpu_find_token(r, sb->token), b);
    assert_int_equal(vgpu_find_token(r, "00000000000000000000000000000000"), -1);
    assert_int_equal(vgpu_find_token(r, "short"), -1);

    /* Deleting with nobody attached frees the slot and its share of the device at once. */
    assert_int_equal(vgpu_delete(r, b), 0);
    assert_int_equal(vgpu_delete(r, b), -ENOENT);
    assert_int_equal(vgpu_find_token(r, sb->token), -1);
    assert_true(r->hdr->mem_limit_sum == 5 * GiB);
    assert_true(create(r, 3 * GiB, err, sizeof err) >= 0);

    /* Bad specs are refused with a reason. */
    struct vgpu_spec bad = {.mem_limit = 0};
    assert_int_equal(vgpu_create(r, &bad, err, sizeof err), -1);
    struct vgpu_spec inverted = {.mem_limit = 1, .request_bp = 5000, .limit_bp = 3000};
    assert_int_equal(vgpu_create(r, &inverted, err, sizeof err), -1);
    assert_non_null(strstr(err, "below the request"));
    vgpu_region_close(r);

    /* An oversubscribing node may promise more than the device has. */
    r = make_region(8 * GiB, VGPU_REGION_OVERSUBSCRIBE);
    assert_true(create(r, 6 * GiB, err, sizeof err) >= 0);
    assert_true(create(r, 6 * GiB, err, sizeof err) >= 0);
    vgpu_region_close(r);
}

static void test_open_checks(void **state)
{
    char name[64], err[256];
    snprintf(name, sizeof name, "/tfuse-vgpu-test-%d", getpid());
    struct vgpu_device_desc dev = {.memory = GiB};
    struct vgpu_region *r = NULL, *r2 = NULL;
    assert_int_equal(vgpu_region_create(name, &dev, 4, &r, err, sizeof err), 0);
    assert_int_equal(vgpu_region_create(name, &dev, 4, &r2, err, sizeof err), -1); /* exclusive */
    assert_int_equal(vgpu_region_open(name, -1, &r2, err, sizeof err), 0);
    assert_int_equal(r2->hdr->nslots, 4);
    int slot = create(r, MiB, err, sizeof err);
    assert_int_equal(vgpu_find_token(r2, vgpu_slot_at(r, slot)->token), slot);
    vgpu_region_close(r2);
    assert_int_equal(vgpu_region_open(NULL, r->fd, &r2, err, sizeof err), 0);
    vgpu_region_close(r2);
    vgpu_region_close(r);
    assert_int_equal(vgpu_region_unlink(name), 0);

    /* A file of zeros (or anything else) is not a region. */
    int fd = memfd_create("junk", 0);
    assert_int_equal(ftruncate(fd, 65536), 0);
    err[0] = 0;
    assert_int_equal(vgpu_region_open(NULL, fd, &r2, err, sizeof err), -1);
    assert_non_null(strstr(err, "magic"));
    close(fd);
    assert_int_equal(vgpu_region_open("/tfuse-vgpu-does-not-exist", -1, &r2, err, sizeof err), -1);
}

static void test_limit_and_release(void **state)
{
    struct vgpu_region *r = make_region(GiB, 0);
    char err[256];
    int slot = create(r, 1000, err, sizeof err);
    struct vgpu_slot *s = vgpu_slot_at(r, slot);
    struct vgpu_mem_client c;
    assert_int_equal(vgpu_mem_attach(s, getpid(), &c), 0);
    assert_int_equal(vgpu_mem_attach(s, getpid(), &(struct vgpu_mem_client){0}), -EBUSY);
    assert_int_equal(vgpu_mem_reserve(&c, 600), 0);
    assert_int_equal(vgpu_mem_reserve(&c, 401), -ENOMEM); /* one byte over: refused */
    assert_true(s->mem_denied_max == 401);                 /* the largest refused, bytes */
    assert_true(vgpu_mem_used(s) == 600 && vgpu_mem_free(s) == 400);
    assert_int_equal(vgpu_mem_reserve(&c, 400), 0);       /* exactly the limit: fine */
    assert_true(vgpu_mem_free(s) == 0 && vgpu_mem_limit(s) == 1000);
    assert_int_equal(vgpu_mem_reserve(&c, 1), -ENOMEM);
    assert_int_equal(vgpu_mem_reserve(&c, UINT64_MAX), -ENOMEM);
    assert_int_equal(vgpu_mem_reserve(&c, 0), -EINVAL);
    assert_int_equal(vgpu_mem_release(&c, 1001), -EINVAL); /* more than held: nothing changes */
    assert_true(vgpu_mem_used(s) == 1000);
    assert_int_equal(vgpu_mem_release(&c, 250), 0);
    assert_true(vgpu_mem_held_by(s, getpid()) == 750 && vgpu_mem_used(s) == 750);
    assert_true(s->mem_peak == 1000 && s->mem_denied == 3 && s->mem_denied_max == UINT64_MAX);

    /* Deleted while attached: memory calls fail, the slot waits for the process to go. */
    assert_int_equal(vgpu_delete(r, slot), 0);
    assert_int_equal(vgpu_mem_reserve(&c, 1), -ENODEV);
    assert_int_equal(vgpu_region_collect(r), 0);
    assert_int_equal(atomic_load(&s->state), VGPU_SLOT_DELETED);
    assert_true(vgpu_mem_detach(&c) == 750);
    assert_true(vgpu_mem_used(s) == 0);
    assert_int_equal(vgpu_region_collect(r), 1);
    assert_int_equal(atomic_load(&s->state), VGPU_SLOT_FREE);
    assert_true(r->hdr->mem_limit_sum == 0);
    assert_int_equal(vgpu_mem_attach(s, getpid(), &c), -ENODEV);
    vgpu_region_close(r);
}

static void test_process_table_full(void **state)
{
    struct vgpu_region *r = make_region(GiB, 0);
    char err[256];
    struct vgpu_slot *s = vgpu_slot_at(r, create(r, MiB, err, sizeof err));
    struct vgpu_mem_client c;
    for (int i = 0; i < VGPU_MAX_PROCS; i++)
        assert_int_equal(vgpu_mem_attach(s, 100000 + i, &c), 0);
    assert_int_equal(vgpu_mem_attach(s, 99, &c), -ENOSPC);
    assert_true(vgpu_mem_reap(s, 100005, NULL) == 0);
    assert_int_equal(vgpu_mem_attach(s, 99, &c), 0);
    vgpu_region_close(r);
}

/* ---- 8 processes racing on one ledger ---- */

#define RACERS 8
#define OPS_PER_RACER 20000
#define RACE_LIMIT 1000003ull /* odd, so that filling it exactly takes odd sizes */

/* A racer: random reserves and releases, checking the invariants after every step. Exits
 * with a distinct code per violated invariant, 0 when all held. */
static int racer(struct vgpu_slot *s, unsigned seed)
{
    struct vgpu_mem_client c;
    if (vgpu_mem_attach(s, getpid(), &c) != 0)
        return 10;
    struct racer_state st = {.nheld = 0};
    for (int op = 0; op < OPS_PER_RACER; op++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = seed >> 8;
        /* Mostly chunks around 1/20 of the limit, sometimes tiny or huge. */
        uint64_t size = (r >> 1) % 100 < 5 ? 1 + (r >> 8) % 7
                      : (r >> 1) % 100 < 8 ? RACE_LIMIT - (r >> 8) % 3
                                           : 1 + (r >> 4) % (RACE_LIMIT / 10);
        int rc = racer_step(&c, &st, r, size);
        if (rc != 0)
            return rc;
        uint64_t used = vgpu_mem_used(s);
        if (used > RACE_LIMIT)
            return 13;
        if (vgpu_mem_held_by(s, getpid()) != st.mine)
            return 14;
        if (used < st.mine) /* the ledger holds at least what this process holds */
            return 15;
    }
    while (st.nheld > 0)
        if (vgpu_mem_release(&c, st.held[--st.nheld]) != 0)
            return 16;
    return vgpu_mem_detach(&c) == 0 ? 0 : 17;
}

static void test_racing_processes(void **state)
{
    struct vgpu_region *r = make_region(GiB, 0);
    char err[256];
    int slot = create(r, RACE_LIMIT, err, sizeof err);
    struct vgpu_slot *s = vgpu_slot_at(r, slot);
    pid_t pids[RACERS];
    for (int i = 0; i < RACERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            _exit(racer(s, 7919u * (unsigned)(i + 1)));
    }
    /* The parent watches too, while they race. */
    uint64_t max_seen = 0;
    int running = RACERS, failures = 0;
    while (running > 0) {
        uint64_t used = vgpu_mem_used(s);
        if (used > max_seen)
            max_seen = used;
        int status;
        pid_t p = waitpid(-1, &status, WNOHANG);
        if (p > 0) {
            running--;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                print_error("racer %d: status %d\n", p, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
                failures++;
            }
        }
    }
    assert_int_equal(failures, 0);
    assert_true(max_seen <= RACE_LIMIT);
    assert_true(s->mem_peak <= RACE_LIMIT);
    assert_true(vgpu_mem_used(s) == 0);
    /* The race really raced: the limit was hit and refused many times. */
    assert_true(s->mem_denied > 1000);
    assert_true(s->mem_peak > RACE_LIMIT * 9 / 10);
    for (int i = 0; i < VGPU_MAX_PROCS; i++)
        assert_int_equal(atomic_load(&s->procs[i].pid), 0);
    print_message("racers: peak %llu of %llu, %llu refusals\n", (unsigned long long)s->mem_peak,
                  RACE_LIMIT, (unsigned long long)s->mem_denied);
    vgpu_region_close(r);
}

static void test_reaper_refunds_killed_process(void **state)
{
    struct vgpu_region *r = make_region(GiB, 0);
    char err[256];
    struct vgpu_slot *s = vgpu_slot_at(r, create(r, 64 * MiB, err, sizeof err));
    struct vgpu_mem_client mine;
    assert_int_equal(vgpu_mem_attach(s, getpid(), &mine), 0);
    assert_int_equal(vgpu_mem_reserve(&mine, 5 * MiB), 0);

    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct vgpu_mem_client c;
        if (vgpu_mem_attach(s, getpid(), &c) != 0 || vgpu_mem_reserve(&c, 3 * MiB) != 0 ||
            vgpu_mem_reserve(&c, 7 * MiB) != 0 || vgpu_mem_reserve(&c, 12345) != 0 ||
            vgpu_mem_release(&c, 7 * MiB) != 0)
            _exit(1);
        char byte = 1;
        if (write(ready[1], &byte, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    char byte;
    assert_int_equal(read(ready[0], &byte, 1), 1);
    assert_true(vgpu_mem_used(s) == 5 * MiB + 3 * MiB + 12345);
    kill(child, SIGKILL);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    uint64_t in_flight = 99;
    assert_true(vgpu_mem_reap(s, child, &in_flight) == 3 * MiB + 12345);
    assert_true(in_flight == 0);
    assert_true(vgpu_mem_used(s) == 5 * MiB);           /* exactly the survivor's bytes */
    assert_true(vgpu_mem_held_by(s, getpid()) == 5 * MiB);
    assert_true(vgpu_mem_reap(s, child, NULL) == 0);    /* reaping twice refunds nothing */
    close(ready[0]);
    close(ready[1]);
    vgpu_region_close(r);
}

static void test_region_reap_and_token_attach(void **state)
{
    /* One dead process that held memory on two vGPUs, one of them deleted meanwhile. */
    struct vgpu_region *r = make_region(GiB, 0);
    char err[256];
    int a = create(r, 10 * MiB, err, sizeof err), b = create(r, 20 * MiB, err, sizeof err);
    struct vgpu_mem_client ca, cb, other;
    const pid_t dead = 424242, alive = 434343;
    assert_int_equal(vgpu_mem_attach_token(r, vgpu_slot_at(r, a)->token, dead, &ca), a);
    assert_int_equal(vgpu_mem_attach_token(r, vgpu_slot_at(r, b)->token, dead, &cb), b);
    assert_int_equal(vgpu_mem_attach_token(r, vgpu_slot_at(r, b)->token, alive, &other), b);
    assert_int_equal(vgpu_mem_attach_token(r, "0123456789abcdef0123456789abcdef", dead, &ca), -ENOENT);
    assert_int_equal(vgpu_mem_reserve(&ca, 4 * MiB), 0);
    assert_int_equal(vgpu_mem_reserve(&cb, 6 * MiB), 0);
    assert_int_equal(vgpu_mem_reserve(&other, 1 * MiB), 0);
    assert_int_equal(vgpu_delete(r, a), 0);
    assert_int_equal(vgpu_region_collect(r), 0); /* still attached */
    uint64_t in_flight = 1;
    assert_true(vgpu_region_reap(r, dead, &in_flight) == 10 * MiB);
    assert_true(in_flight == 0);
    assert_int_equal(atomic_load(&vgpu_slot_at(r, a)->state), VGPU_SLOT_FREE); /* collected */
    assert_true(vgpu_mem_used(vgpu_slot_at(r, b)) == 1 * MiB);
    assert_true(r->hdr->mem_limit_sum == 20 * MiB);
    vgpu_region_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_sum_and_tokens), cmocka_unit_test(test_open_checks),
        cmocka_unit_test(test_limit_and_release),     cmocka_unit_test(test_process_table_full),
        cmocka_unit_test(test_racing_processes),      cmocka_unit_test(test_reaper_refunds_killed_process),
        cmocka_unit_test(test_region_reap_and_token_attach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
