/*
 * The node's half of freeze and resume (src/node/vgpus_freeze.c) in one process: a vGPU region,
 * the session table, and fake workers (a thread) that answer the commands written into their
 * entries, so that the paths the end-to-end tests cannot steer are driven here: a session that
 * fails its freeze (the others are resumed: frozen whole or not at all), a session that ends
 * while the node waits, the answers to bad requests, tenant tokens, the JSON and the metrics;
 * and oversubscription's room thread (vgpus_oversub.c): which vGPUs it freezes for an ask, in
 * which order, and the option's checks; model switching's choice of sessions (vgpus_switch.c).
 * Owns: nothing. May call: src/node (vgpus_freeze.h, sessions.h), src/vgpu, jansson, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sessions.h"
#include "stats.h"
#include "vgpus_freeze.h"

#define MiB (1ull << 20)
#define NFAKE 4

enum fake_mode { ANSWER, FAIL_FREEZE, END_INSTEAD };

struct fake {
    struct tfw_stats *e;
    enum fake_mode mode;
    uint32_t seen;
    uint32_t cmds[16];   /* what it was asked, in order */
    int ncmds;
};

static struct node_vgpus v;
static struct node_sessions t;
static struct node_freeze f;
static struct fake fakes[NFAKE];
static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t fake_thread;
static _Atomic int stop;
static char dir[] = "/tmp/test_freeze_node.XXXXXX";

/* What a worker does with a command (src/worker/freeze.c), minus the copying. */
static void answer(struct fake *k, uint32_t seq)
{
    uint32_t cmd = atomic_load(&k->e->fz.cmd);
    if (k->ncmds < 16)
        k->cmds[k->ncmds++] = cmd;
    k->seen = seq;
    if (k->mode == END_INSTEAD) {
        atomic_store(&k->e->state, TFW_STATS_FREE);   /* as the reaper leaves an ended one */
        return;
    }
    int fail = k->mode == FAIL_FREEZE && cmd != TFW_FZ_CMD_RESUME;
    if (!fail) {
        uint32_t to = cmd == TFW_FZ_CMD_RESUME ? 0
                    : cmd == TFW_FZ_CMD_FREEZE_DISK || cmd == TFW_FZ_CMD_SWITCH_DISK ? 2 : 1;
        int sw = cmd == TFW_FZ_CMD_SWITCH_HOST || cmd == TFW_FZ_CMD_SWITCH_DISK;
        atomic_store(&k->e->fz.frozen, to);
        atomic_store(&k->e->fz.frozen_bytes, to ? 64 * MiB : 0);
        atomic_store(&k->e->fz.uncharged_bytes, sw ? 64 * MiB : 0);   /* off the ledger */
        atomic_fetch_add(to ? &k->e->fz.freezes : &k->e->fz.resumes, 1);
    }
    atomic_store(&k->e->fz.result, fail ? 2 : 0);
    atomic_store_explicit(&k->e->fz.done, seq, memory_order_release);
}

static void *fake_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        pthread_mutex_lock(&fake_mu);
        for (int i = 0; i < NFAKE; i++) {
            struct fake *k = &fakes[i];
            uint32_t seq = k->e ? atomic_load_explicit(&k->e->fz.seq, memory_order_acquire) : 0;
            if (k->e && seq != k->seen)
                answer(k, seq);
        }
        pthread_mutex_unlock(&fake_mu);
        usleep(1000);
    }
    return NULL;
}

static int make_vgpu_qos(const char *id, int qos)
{
    char err[256];
    struct vgpu_spec spec = {.id = id, .mem_limit = 256 * MiB, .qos = qos};
    int slot = vgpu_create(v.regions[0], &spec, err, sizeof err);
    assert_true(slot >= 0);
    return slot;
}

static int make_vgpu(const char *id, char *token, size_t len)
{
    char err[256];
    struct vgpu_spec spec = {.id = id, .mem_limit = 256 * MiB, .qos = VGPU_QOS_MEDIUM};
    int slot = vgpu_create(v.regions[0], &spec, err, sizeof err);
    assert_true(slot >= 0);
    snprintf(token, len, "%s", vgpu_slot_at(v.regions[0], slot)->token);
    return slot;
}

/* A session of vGPU slot `slot` in table entry k, answering as `mode`. */
static void add_session(int k, int slot, enum fake_mode mode)
{
    struct tfw_stats *e = node_sessions_claim(&t);
    assert_non_null(e);
    node_sessions_forked(&t, e, getpid());
    e->device = 0;
    e->slot = slot;
    e->vgpu_generation = vgpu_slot_at(v.regions[0], slot)->generation;
    snprintf(e->vgpu, sizeof e->vgpu, "%s", vgpu_slot_at(v.regions[0], slot)->id);
    atomic_store(&e->fz.enabled, 1);
    atomic_store(&e->state, TFW_STATS_ACTIVE);
    pthread_mutex_lock(&fake_mu);
    fakes[k] = (struct fake){.e = e, .mode = mode, .seen = atomic_load(&e->fz.seq)};
    pthread_mutex_unlock(&fake_mu);
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    memset(&v, 0, sizeof v);
    memset(fakes, 0, sizeof fakes);
    pthread_mutex_init(&v.lock, NULL);
    struct vgpu_device_desc dev = {.index = 0, .uuid = "GPU-test", .memory = 1024 * MiB};
    assert_int_equal(vgpu_region_create(NULL, &dev, 16, &v.regions[0], err, sizeof err), 0);
    v.ndev = 1;
    snprintf(v.dev[0].uuid, sizeof v.dev[0].uuid, "GPU-test");
    assert_int_equal(node_sessions_init(&t, 8, err, sizeof err), 0);
    assert_non_null(mkdtemp(strcpy(dir, "/tmp/test_freeze_node.XXXXXX")));
    assert_int_equal(node_freeze_init(&f, &v, &t, "host", 0, dir, err, sizeof err), 0);
    atomic_store(&stop, 0);
    assert_int_equal(pthread_create(&fake_thread, NULL, fake_main, NULL), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    atomic_store(&stop, 1);
    pthread_join(fake_thread, NULL);
    node_freeze_stop(&f);   /* removes the empty folder */
    node_sessions_destroy(&t);
    vgpu_region_close(v.regions[0]);
    rmdir(dir);
    return 0;
}

/* vGPU id with two sessions, the first answering, the second as `second`; its slot. */
static int two_sessions(const char *id, enum fake_mode second)
{
    char tok[VGPU_TOKEN_MAX];
    int slot = make_vgpu(id, tok, sizeof tok);
    add_session(0, slot, ANSWER);
    add_session(1, slot, second);
    return slot;
}

static const char *str(json_t *o, const char *path1, const char *key)
{
    json_t *x = path1 ? json_object_get(o, path1) : o;
    return json_string_value(json_object_get(x, key));
}

/* How many sessions of an answer had this outcome. */
static int outcomes(json_t *reply, const char *outcome)
{
    json_t *s = json_object_get(reply, "sessions");
    int n = 0;
    for (size_t i = 0; i < json_array_size(s); i++)
        n += strcmp(str(json_array_get(s, i), NULL, "outcome"), outcome) == 0;
    return n;
}

static void freeze_resume_and_views(void **state)
{
    (void)state;
    int slot = two_sessions("fz", ANSWER);
    json_t *reply = NULL;
    assert_int_equal(node_freeze_request(&f, "fz", 0, NULL, &reply), 200);
    assert_string_equal(str(reply, "freeze", "state"), "frozen");
    assert_string_equal(str(reply, "freeze", "frozen_to"), "host");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(reply, "freeze"),
                                                        "frozen_bytes")), 128 * MiB);
    assert_int_equal(json_array_size(json_object_get(reply, "sessions")), 2);
    json_decref(reply);
    /* the vGPU's JSON and the metrics */
    json_t *g = json_pack("{s:s, s:i, s:I}", "id", "fz", "device_index", 0, "generation",
                          (json_int_t)vgpu_slot_at(v.regions[0], slot)->generation);
    node_freeze_describe(&f, g);
    assert_true(json_is_true(json_object_get(json_object_get(g, "freeze"), "frozen")));
    json_decref(g);
    char *m = node_freeze_metrics(&f);
    assert_non_null(strstr(m, "tfuse_vgpu_frozen{vgpu=\"fz\",device=\"GPU-test\"} 1\n"));
    assert_non_null(strstr(m, "tfuse_vgpu_freezes_total{vgpu=\"fz\",device=\"GPU-test\"} 2\n"));
    free(m);
    /* twice: refused, and nothing was asked of the workers */
    assert_int_equal(node_freeze_request(&f, "fz", 0, NULL, &reply), 409);
    assert_string_equal(str(reply, NULL, "error"), "already_frozen");
    json_decref(reply);
    assert_int_equal(fakes[0].ncmds, 1);
    json_t *disk = json_pack("{s:s}", "to", "disk");
    assert_int_equal(node_freeze_request(&f, "fz", 1, NULL, &reply), 200);
    json_decref(reply);
    assert_int_equal(node_freeze_request(&f, "fz", 1, NULL, &reply), 409);
    assert_string_equal(str(reply, NULL, "error"), "not_frozen");
    json_decref(reply);
    assert_int_equal(node_freeze_request(&f, "fz", 0, disk, &reply), 200);
    assert_string_equal(str(reply, "freeze", "frozen_to"), "disk");
    json_decref(reply);
    json_decref(disk);
    assert_int_equal(fakes[1].ncmds, 3);
    assert_int_equal(fakes[1].cmds[0], TFW_FZ_CMD_FREEZE_HOST);
    assert_int_equal(fakes[1].cmds[1], TFW_FZ_CMD_RESUME);
    assert_int_equal(fakes[1].cmds[2], TFW_FZ_CMD_FREEZE_DISK);
}

/* One session cannot freeze: the API says so with each outcome, and the one that froze is
 * resumed, so that the vGPU is not left half frozen. */
static void failed_freeze_is_undone(void **state)
{
    (void)state;
    two_sessions("half", FAIL_FREEZE);
    json_t *reply = NULL;
    assert_int_equal(node_freeze_request(&f, "half", 0, NULL, &reply), 500);
    assert_string_equal(str(reply, NULL, "error"), "failed");
    assert_int_equal(outcomes(reply, "failed"), 1);
    json_decref(reply);
    assert_int_equal(fakes[0].ncmds, 2);
    assert_int_equal(fakes[0].cmds[1], TFW_FZ_CMD_RESUME);
    assert_int_equal(atomic_load(&fakes[0].e->fz.frozen), 0);
}

/* A session that ends while the node waits answers for itself (it holds nothing any more). */
static void ended_session_answers(void **state)
{
    (void)state;
    two_sessions("gone", END_INSTEAD);
    json_t *reply = NULL;
    assert_int_equal(node_freeze_request(&f, "gone", 0, NULL, &reply), 200);
    assert_int_equal(outcomes(reply, "ended"), 1);
    json_decref(reply);
}

static void bad_requests_and_tokens(void **state)
{
    (void)state;
    char tok[VGPU_TOKEN_MAX], other[VGPU_TOKEN_MAX];
    int slot = make_vgpu("bad", tok, sizeof tok);
    make_vgpu("nosess", other, sizeof other);
    add_session(0, slot, ANSWER);
    struct { const char *id, *body, *reason; int resume, status; } cases[] = {
        {"nope", NULL, "not_found", 0, 404},
        {"nosess", NULL, "no_sessions", 0, 409},
        {"bad", "{\"to\": \"tape\"}", "bad_request", 0, 400},
        {"bad", "{\"to\": \"host\", \"x\": 1}", "bad_request", 0, 400},
        {"bad", "[1]", "bad_request", 0, 400},
        {"bad", "{\"to\": 3}", "bad_request", 0, 400},
        {"bad", "{\"to\": \"host\"}", "bad_request", 1, 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *body = cases[i].body ? json_loads(cases[i].body, 0, NULL) : NULL, *reply = NULL;
        assert_int_equal(node_freeze_request(&f, cases[i].id, cases[i].resume, body, &reply),
                         cases[i].status);
        assert_string_equal(str(reply, NULL, "error"), cases[i].reason);
        json_decref(reply);
        json_decref(body);
    }
    assert_int_equal(fakes[0].ncmds, 0);   /* nothing reached a worker */
    assert_int_equal(node_freeze_tenant_token(&f, "bad", tok), 1);
    assert_int_equal(node_freeze_tenant_token(&f, "bad", other), -1);
    assert_int_equal(node_freeze_tenant_token(&f, "bad", "0123456789abcdef0123456789abcdef"), 0);
    assert_int_equal(node_freeze_tenant_token(&f, "bad", ""), 0);
    /* a node without --freeze-to */
    struct node_freeze off;
    char err[256];
    assert_int_equal(node_freeze_init(&off, &v, &t, "off", 0, dir, err, sizeof err), 0);
    json_t *reply = NULL;
    assert_int_equal(node_freeze_request(&off, "bad", 0, NULL, &reply), 409);
    assert_string_equal(str(reply, NULL, "error"), "freeze_off");
    json_decref(reply);
    assert_int_equal(node_freeze_init(&off, &v, &t, "tape", 0, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "--freeze-to must be off, host or disk"));
}

/* A session of fake k asks for room as a worker does (freeze.c: ask_room); the answer. vgpu:
 * within its vGPU's limit (model switching). */
static int ask_room_in(int k, uint64_t need, int vgpu)
{
    struct tfw_freeze_words *w = &fakes[k].e->fz;
    atomic_store(&w->room_need, need);
    atomic_store(&w->room_vgpu, (uint32_t)vgpu);
    uint32_t seq = atomic_load(&w->room_seq) + 1;
    atomic_store_explicit(&w->room_seq, seq, memory_order_release);
    for (int i = 0; i < 20000 && atomic_load_explicit(&w->room_done, memory_order_acquire) != seq;
         i++)
        usleep(1000);
    assert_int_equal(atomic_load(&w->room_done), seq);
    return atomic_load(&w->room_result);
}

static int ask_room(int k, uint64_t need)
{
    return ask_room_in(k, need, 0);
}

static uint64_t metric(const char *name, const char *id)
{
    char *m = node_freeze_metrics(&f), key[160];
    snprintf(key, sizeof key, "%s{vgpu=\"%s\",device=\"GPU-test\"} ", name, id);
    const char *at = strstr(m, key);
    assert_non_null(at);
    uint64_t val = strtoull(at + strlen(key), NULL, 10);
    free(m);
    return val;
}

/* The requester (medium) gets room from the least recently active vGPU of its QoS or lower,
 * one at a time as it asks; a high one is never frozen for it, even the idlest; with nothing
 * left the answer is "none". Counted per vGPU. */
static void room_lru_and_qos(void **state)
{
    (void)state;
    static const struct { const char *id; int qos; uint64_t last; } vg[NFAKE] = {
        {"req", VGPU_QOS_MEDIUM, 9000}, {"old", VGPU_QOS_LOW, 2000},
        {"new", VGPU_QOS_MEDIUM, 3000}, {"top", VGPU_QOS_HIGH, 1000}};
    for (int k = 0; k < NFAKE; k++) {
        add_session(k, make_vgpu_qos(vg[k].id, vg[k].qos), ANSWER);
        atomic_store(&fakes[k].e->last_call_ticks, vg[k].last);
        atomic_store(&fakes[k].e->fz.freezable_bytes, 64 * MiB);
    }
    node_oversub_init(&f, 1, 2);
    assert_int_equal(node_freeze_start(&f), 0);
    assert_int_equal(ask_room(0, 64 * MiB), TFW_ROOM_FREED);
    assert_int_equal(fakes[1].ncmds, 1);   /* old: the idlest of the lower or equal QoS */
    assert_int_equal(fakes[1].cmds[0], TFW_FZ_CMD_FREEZE_HOST);
    assert_int_equal(fakes[2].ncmds + fakes[3].ncmds, 0);
    assert_int_equal(ask_room(0, 64 * MiB), TFW_ROOM_FREED);
    assert_int_equal(fakes[2].ncmds, 1);   /* then new */
    assert_int_equal(ask_room(0, 64 * MiB), TFW_ROOM_NONE);
    assert_int_equal(fakes[3].ncmds, 0);   /* top: never for a lower QoS */
    assert_int_equal(fakes[0].ncmds, 0);   /* nor the requester */
    assert_int_equal(ask_room(3, 64 * MiB), TFW_ROOM_FREED);   /* top may freeze req */
    assert_int_equal(fakes[0].ncmds, 1);
    assert_int_equal(metric("tfuse_vgpu_evictions_total", "old"), 1);
    assert_int_equal(metric("tfuse_vgpu_evictions_total", "top"), 0);
    assert_int_equal(metric("tfuse_vgpu_room_requests_total", "req"), 3);
    assert_int_equal(metric("tfuse_vgpu_room_failures_total", "req"), 1);
    /* a withdrawn ask is answered and freezes nothing */
    atomic_store(&fakes[3].e->fz.room_need, 0);
    uint32_t seq = atomic_load(&fakes[3].e->fz.room_seq) + 1;
    atomic_store(&fakes[3].e->fz.room_seq, seq);
    for (int i = 0; i < 20000 && atomic_load(&fakes[3].e->fz.room_done) != seq; i++)
        usleep(1000);
    assert_int_equal(atomic_load(&fakes[3].e->fz.room_result), TFW_ROOM_NONE);
}

/* Model switching: an ask within a vGPU freezes its other sessions idle for the switch's time,
 * one session at a time with the switch command, never a busy one, never the requester, never
 * a session of another vGPU (even idler), nor one already switched out; none left: "none".
 * The option needs --freeze-to. */
static void switch_choice(void **state)
{
    (void)state;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    int mm = make_vgpu_qos("mm", VGPU_QOS_MEDIUM), ot = make_vgpu_qos("ot", VGPU_QOS_LOW);
    static const uint64_t ago[NFAKE] = {0, 60, 0, 90};   /* seconds since the last call */
    for (int k = 0; k < NFAKE; k++) {
        add_session(k, k == 3 ? ot : mm, ANSWER);
        /* no call yet: the node reads the start (CLOCK_MONOTONIC, not the stats clock's
         * ticks); 0 seconds: later than now, as a session in a call now would look */
        atomic_store(&fakes[k].e->last_call_ticks, 0);
        fakes[k].e->started_mono_ns = ago[k] ? now - ago[k] * 1000000000ull : now + 60000000000ull;
        atomic_store(&fakes[k].e->fz.freezable_bytes, 64 * MiB);
    }
    char err[256];
    assert_int_equal(node_switch_init(&f, 100, err, sizeof err), 0);
    assert_int_equal(node_freeze_start(&f), 0);   /* the room thread serves switches too */
    assert_int_equal(ask_room_in(0, 32 * MiB, 1), TFW_ROOM_FREED);
    assert_int_equal(fakes[1].ncmds, 1);   /* the idle one of the same vGPU */
    assert_int_equal(fakes[1].cmds[0], TFW_FZ_CMD_SWITCH_HOST);
    assert_int_equal(fakes[2].ncmds + fakes[3].ncmds + fakes[0].ncmds, 0);
    assert_int_equal(ask_room_in(0, 32 * MiB, 1), TFW_ROOM_NONE);   /* 1 switched out already */
    assert_int_equal(fakes[1].ncmds + fakes[2].ncmds + fakes[3].ncmds, 1);
    assert_int_equal(metric("tfuse_vgpu_session_switches_total", "mm"), 1);
    assert_int_equal(metric("tfuse_vgpu_session_switches_total", "ot"), 0);
    json_t *vj = json_pack("{s:s, s:I}", "id", "mm",
                           "generation", (json_int_t)vgpu_slot_at(v.regions[0], mm)->generation);
    node_freeze_describe(&f, vj);
    assert_string_equal(str(vj, "freeze", "state"), "partly_frozen");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(vj, "freeze"),
                                                        "switched_bytes")), 64 * MiB);
    json_decref(vj);
    struct node_freeze off = {0};
    assert_int_equal(node_switch_init(&off, 100, err, sizeof err), -1);   /* no --freeze-to */
    assert_non_null(strstr(err, "--switch-idle-ms needs --freeze-to"));
    assert_int_equal(node_switch_init(&off, 0, err, sizeof err), 0);
}

static void oversub_option(void **state)
{
    (void)state;
    char err[256];
    double r = 0;
    assert_int_equal(node_oversub_parse(NULL, "off", 0, &r, err, sizeof err), 0);
    assert_true(r == 1);
    assert_int_equal(node_oversub_parse("1.8", "host", 0, &r, err, sizeof err), 0);
    assert_true(r == 1.8);
    const char *bad[][2] = {{"0.5", "host"}, {"abc", "host"}, {"1.5x", "disk"}, {"101", "host"},
                            {"2", "off"}, {"2", NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        assert_int_equal(node_oversub_parse(bad[i][0], bad[i][1], 0, &r, err, sizeof err), -1);
        assert_non_null(strstr(err, "--oversubscribe-memory"));
    }
    assert_int_equal(node_oversub_parse("2", "host", 1, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "--oversubscribe do not go together"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(freeze_resume_and_views, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_freeze_is_undone, setup, teardown),
        cmocka_unit_test_setup_teardown(ended_session_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_requests_and_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(room_lru_and_qos, setup, teardown),
        cmocka_unit_test_setup_teardown(switch_choice, setup, teardown),
        cmocka_unit_test(oversub_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
