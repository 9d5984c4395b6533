/*
 * Placement properties of each strategy on crafted inventories (src/pool/pool_place.c), plus the
 * filters (model, labels, health, pool), gangs, oversubscription and capacity edges, and the
 * per-node verdicts of the dry run. Pure: no store, no HTTP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "pool_inv.h"
#include "pool_place.h"

#define GiB (1ull << 30)

static struct pool_inv inv;

static int setup(void **state)
{
    (void)state;
    pool_inv_init(&inv, 1.0, POOL_STRATEGY_COMPACT_FIRST);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pool_inv_free(&inv);
    return 0;
}

/* Adds node `name` with ngpu GPUs of one model; labels "k=v" or NULL. */
static struct pool_node *add_node(const char *name, const char *pool, const char *model, int ngpu,
                                  uint64_t mem, double tflops, const char *label)
{
    struct pool_node n;
    memset(&n, 0, sizeof n);
    snprintf(n.name, sizeof n.name, "%s", name);
    snprintf(n.pool, sizeof n.pool, "%s", pool);
    snprintf(n.address, sizeof n.address, "http://%s:1", name);
    if (label) {
        const char *eq = strchr(label, '=');
        snprintf(n.labels[0].key, sizeof n.labels[0].key, "%.*s", (int)(eq - label), label);
        snprintf(n.labels[0].value, sizeof n.labels[0].value, "%s", eq + 1);
        n.nlabels = 1;
    }
    n.ndev = ngpu;
    for (int i = 0; i < ngpu; i++) {
        snprintf(n.dev[i].uuid, sizeof n.dev[i].uuid, "%s-gpu%d", name, i);
        snprintf(n.dev[i].model, sizeof n.dev[i].model, "%s", model);
        n.dev[i].memory_bytes = mem;
        n.dev[i].tflops = tflops;
        n.dev[i].numa = -1;
    }
    char err[128];
    struct pool_node *stored = pool_inv_put_node(&inv, &n, err, sizeof err);
    assert_non_null(stored);
    stored->healthy = true;
    return stored;
}

static struct pool_alloc_req req_tflops(double tflops, uint64_t vram)
{
    struct pool_alloc_req r;
    memset(&r, 0, sizeof r);
    strcpy(r.tenant, "t");
    strcpy(r.pool, "default");
    r.gpu_count = 1;
    r.tflops_request = tflops;
    r.vram_request = vram;
    r.vram_limit = vram;
    r.strategy = -1;
    return r;
}

/* Places and books; returns the chosen node, device index in *dev. */
static struct pool_node *place_book(const struct pool_alloc_req *r, enum pool_strategy s, int *dev)
{
    struct pool_placement p;
    if (pool_place(&inv, r, s, &p) != 0)
        return NULL;
    struct pool_node *n = inv.nodes[p.slot];
    for (int i = 0; i < p.ndev; i++)
        pool_device_book(&n->dev[p.dev[i]], p.tflops[i], r->vram_request);
    if (dev)
        *dev = p.dev[0];
    return n;
}

static void strategies_choose_differently(void **state)
{
    (void)state;
    struct pool_node *a = add_node("a", "default", "H100", 2, 80 * GiB, 100, NULL);
    add_node("b", "default", "H100", 1, 80 * GiB, 100, NULL);
    pool_device_book(&a->dev[0], 50, 10 * GiB);
    struct pool_alloc_req r = req_tflops(10, GiB);
    struct pool_placement p;

    assert_int_equal(pool_place(&inv, &r, POOL_STRATEGY_COMPACT_FIRST, &p), 0);
    assert_string_equal(inv.nodes[p.slot]->name, "a"); /* the fullest GPU that fits */
    assert_int_equal(p.dev[0], 0);

    assert_int_equal(pool_place(&inv, &r, POOL_STRATEGY_LOW_LOAD_FIRST, &p), 0);
    assert_int_equal(pool_device_load(&inv.nodes[p.slot]->dev[p.dev[0]], 1.0) == 0, 1);

    assert_int_equal(pool_place(&inv, &r, POOL_STRATEGY_NODE_COMPACT_GPU_LOW_LOAD, &p), 0);
    assert_string_equal(inv.nodes[p.slot]->name, "a"); /* the fuller node ... */
    assert_int_equal(p.dev[0], 1);                     /* ... and its emptier GPU */
}

static void compact_first_fills_gpus_one_by_one(void **state)
{
    (void)state;
    add_node("a", "default", "H100", 2, 80 * GiB, 100, NULL);
    add_node("b", "default", "H100", 2, 80 * GiB, 100, NULL);
    struct pool_alloc_req r = req_tflops(25, GiB);
    int dev;
    struct pool_node *first = place_book(&r, POOL_STRATEGY_COMPACT_FIRST, &dev);
    assert_non_null(first);
    int first_dev = dev;
    for (int i = 0; i < 3; i++) { /* the same GPU until it is full */
        assert_ptr_equal(place_book(&r, POOL_STRATEGY_COMPACT_FIRST, &dev), first);
        assert_int_equal(dev, first_dev);
    }
    assert_true(pool_device_load(&first->dev[first_dev], 1.0) > 0.999);
    struct pool_node *next = place_book(&r, POOL_STRATEGY_COMPACT_FIRST, &dev);
    assert_non_null(next);
    assert_false(next == first && dev == first_dev);
}

static void low_load_first_spreads(void **state)
{
    (void)state;
    add_node("a", "default", "H100", 2, 80 * GiB, 100, NULL);
    add_node("b", "default", "H100", 2, 80 * GiB, 100, NULL);
    struct pool_alloc_req r = req_tflops(10, GiB);
    for (int i = 0; i < 4; i++)
        assert_non_null(place_book(&r, POOL_STRATEGY_LOW_LOAD_FIRST, NULL));
    for (int s = 0; s < inv.nslots; s++) /* one vGPU on every GPU */
        for (int d = 0; d < 2; d++)
            assert_int_equal(inv.nodes[s]->dev[d].vgpus, 1);
}

static void node_compact_packs_nodes_spreads_gpus(void **state)
{
    (void)state;
    struct pool_node *a = add_node("a", "default", "H100", 4, 80 * GiB, 100, NULL);
    add_node("b", "default", "H100", 4, 80 * GiB, 100, NULL);
    pool_device_book(&a->dev[0], 5, GiB); /* a is the fuller node */
    struct pool_alloc_req r = req_tflops(10, GiB);
    for (int i = 0; i < 3; i++) {
        int dev;
        assert_ptr_equal(place_book(&r, POOL_STRATEGY_NODE_COMPACT_GPU_LOW_LOAD, &dev), a);
        assert_int_equal(dev, i + 1); /* each time the least loaded GPU of a */
    }
    struct pool_node *b = pool_inv_node(&inv, "b");
    for (int d = 0; d < 4; d++)
        assert_int_equal(b->dev[d].vgpus, 0);
}

static void filters_model_labels_health_pool(void **state)
{
    (void)state;
    add_node("h100", "default", "H100", 1, 80 * GiB, 100, "zone=a");
    add_node("l4", "default", "L4", 1, 24 * GiB, 120, "zone=b");
    struct pool_node *sick = add_node("sick", "default", "A100", 1, 80 * GiB, 100, NULL);
    add_node("other", "batch", "A100", 1, 80 * GiB, 100, NULL);
    sick->healthy = false;
    struct pool_alloc_req r = req_tflops(10, GiB);
    struct pool_placement p;

    strcpy(r.model, "L4");
    assert_int_equal(pool_place(&inv, &r, POOL_STRATEGY_COMPACT_FIRST, &p), 0);
    assert_string_equal(inv.nodes[p.slot]->name, "l4");

    strcpy(r.model, "A100"); /* only on an unhealthy node of this pool */
    assert_int_equal(pool_place(&inv, &r, POOL_STRATEGY_COMPACT_FIRST, &p), -1);
    strcpy(r.pool, "batch");
    assert_int_equal(pool_place(&inv, &r, POOL_STRATEGY_COMPACT_FIRST, &p), 0);
    assert_string_equal(inv.nodes[p.slot]->name, "other");

    strcpy(r.pool, "default");
    r.model[0] = '\0';
    r.nlabels = 1;
    strcpy(r.labels[0].key, "zone");
    strcpy(r.labels[0].value, "a");
    assert_int_equal(pool_place(&inv, &r, POOL_STRATEGY_LOW_LOAD_FIRST, &p), 0);
    assert_string_equal(inv.nodes[p.slot]->name, "h100");
    strcpy(r.labels[0].value, "c");
    assert_int_equal(pool_place(&inv, &r, POOL_STRATEGY_LOW_LOAD_FIRST, &p), -1);
}

static void gang_needs_one_node(void **state)
{
    (void)state;
    struct pool_node *a = add_node("a", "default", "H100", 2, 80 * GiB, 100, NULL);
    add_node("b", "default", "H100", 2, 80 * GiB, 100, NULL);
    pool_device_book(&a->dev[0], 95, GiB); /* a has only one GPU with room */
    struct pool_alloc_req r = req_tflops(20, GiB);
    r.gpu_count = 2;
    struct pool_placement p;
    for (int s = 0; s < POOL_STRATEGY_COUNT; s++) {
        assert_int_equal(pool_place(&inv, &r, (enum pool_strategy)s, &p), 0);
        assert_string_equal(inv.nodes[p.slot]->name, "b");
        assert_int_equal(p.ndev, 2);
        assert_int_not_equal(p.dev[0], p.dev[1]);
    }
    r.gpu_count = 3; /* no node has three GPUs */
    assert_int_equal(pool_place(&inv, &r, POOL_STRATEGY_COMPACT_FIRST, &p), -1);
}

static void gang_is_one_model(void **state)
{
    (void)state;
    struct pool_node n;
    memset(&n, 0, sizeof n);
    strcpy(n.name, "mixed");
    strcpy(n.pool, "default");
    n.ndev = 2;
    strcpy(n.dev[0].uuid, "g0");
    strcpy(n.dev[0].model, "H100");
    strcpy(n.dev[1].uuid, "g1");
    strcpy(n.dev[1].model, "L4");
    n.dev[0].memory_bytes = n.dev[1].memory_bytes = 24 * GiB;
    n.dev[0].tflops = n.dev[1].tflops = 100;
    char err[64];
    pool_inv_put_node(&inv, &n, err, sizeof err)->healthy = true;
    struct pool_alloc_req r = req_tflops(10, GiB);
    r.gpu_count = 2;
    struct pool_placement p;
    assert_int_equal(pool_place(&inv, &r, POOL_STRATEGY_COMPACT_FIRST, &p), -1);
    r.gpu_count = 1;
    assert_int_equal(pool_place(&inv, &r, POOL_STRATEGY_COMPACT_FIRST, &p), 0);
}

static void oversubscription_ratio(void **state)
{
    (void)state;
    add_node("a", "default", "H100", 1, 80 * GiB, 100, NULL);
    struct pool_alloc_req r = req_tflops(60, GiB);
    assert_non_null(place_book(&r, POOL_STRATEGY_COMPACT_FIRST, NULL));
    assert_null(place_book(&r, POOL_STRATEGY_COMPACT_FIRST, NULL)); /* 120 > 100 */
    struct pool_def d = {.oversub = 2.0, .strategy = POOL_STRATEGY_COMPACT_FIRST};
    strcpy(d.name, "default");
    assert_true(pool_inv_set_pool(&inv, &d));
    assert_non_null(place_book(&r, POOL_STRATEGY_COMPACT_FIRST, NULL)); /* 120 <= 200 */
    struct pool_alloc_req big = req_tflops(150, GiB); /* more than the card itself */
    struct pool_placement p;
    assert_int_equal(pool_place(&inv, &big, POOL_STRATEGY_COMPACT_FIRST, &p), -1);
}

static void capacity_edges(void **state)
{
    (void)state;
    struct pool_node *a = add_node("a", "default", "H100", 1, 80 * GiB, 100, NULL);
    struct pool_placement p;
    struct pool_alloc_req exact = req_tflops(100, 80 * GiB);
    assert_int_equal(pool_place(&inv, &exact, POOL_STRATEGY_COMPACT_FIRST, &p), 0);
    struct pool_alloc_req over = req_tflops(100, 80 * GiB + 1);
    assert_int_equal(pool_place(&inv, &over, POOL_STRATEGY_COMPACT_FIRST, &p), -1);
    struct pool_alloc_req over_t = req_tflops(100.001, GiB);
    assert_int_equal(pool_place(&inv, &over_t, POOL_STRATEGY_COMPACT_FIRST, &p), -1);
    /* vGPU slots per device are bounded */
    struct pool_alloc_req tiny = req_tflops(0.01, 1);
    for (int i = 0; i < POOL_MAX_VGPUS_PER_DEVICE; i++)
        assert_non_null(place_book(&tiny, POOL_STRATEGY_COMPACT_FIRST, NULL));
    assert_int_equal(a->dev[0].vgpus, POOL_MAX_VGPUS_PER_DEVICE);
    assert_null(place_book(&tiny, POOL_STRATEGY_COMPACT_FIRST, NULL));
    /* unbooking everything leaves no residue */
    for (int i = 0; i < POOL_MAX_VGPUS_PER_DEVICE; i++)
        pool_device_unbook(&a->dev[0], 0.01, 1);
    assert_true(a->dev[0].tflops_booked == 0 && a->dev[0].vram_booked == 0);
}

static void percent_requests_scale_with_card(void **state)
{
    (void)state;
    add_node("small", "default", "L4", 1, 24 * GiB, 120, NULL);
    struct pool_alloc_req r = req_tflops(0, GiB);
    r.compute_request_pct = 50;
    r.compute_limit_pct = 80;
    struct pool_placement p;
    assert_int_equal(pool_place(&inv, &r, POOL_STRATEGY_COMPACT_FIRST, &p), 0);
    assert_true(p.tflops[0] > 59.999 && p.tflops[0] < 60.001);
    assert_true(p.tflops_limit[0] > 95.999 && p.tflops_limit[0] < 96.001);
}

static void reregistration_keeps_bookings(void **state)
{
    (void)state;
    struct pool_node *a = add_node("a", "default", "H100", 2, 80 * GiB, 100, NULL);
    pool_device_book(&a->dev[1], 30, 8 * GiB);
    struct pool_node n = *a;
    n.dev[0].tflops = 90; /* a new rating is fine */
    char err[256];
    struct pool_node *b = pool_inv_put_node(&inv, &n, err, sizeof err);
    assert_non_null(b);
    assert_int_equal(b->dev[1].vgpus, 1);
    assert_true(b->dev[1].tflops_booked == 30);
    n = *b;
    n.ndev = 1; /* dropping the booked GPU is refused */
    assert_null(pool_inv_put_node(&inv, &n, err, sizeof err));
    assert_non_null(strstr(err, "a-gpu1"));
    assert_int_equal(pool_inv_node(&inv, "a")->ndev, 2);
}

/* The dry run's view of one node (pool_place_on_node): the same filters and the same choice as
 * pool_place, a score that ranks nodes as the strategy does, and the node a request pins. */
static void one_node_verdicts_and_pin(void **state)
{
    (void)state;
    struct pool_node *a = add_node("a", "default", "H100", 2, 80 * GiB, 100, "zone=x");
    struct pool_node *b = add_node("b", "default", "H100", 1, 80 * GiB, 100, NULL);
    struct pool_node *c = add_node("c", "gold", "A100", 1, 40 * GiB, 50, NULL);
    pool_device_book(&a->dev[0], 50, 40 * GiB);
    struct pool_alloc_req r = req_tflops(10, GiB);
    struct pool_placement p, best;
    double sa = 0, sb = 0, sc;
    assert_int_equal(pool_place_on_node(&inv, a, &r, POOL_STRATEGY_COMPACT_FIRST, &p, &sa),
                     POOL_VERDICT_OK);
    assert_int_equal(p.dev[0], 0);   /* the fuller GPU, as pool_place would take */
    assert_int_equal(pool_place_on_node(&inv, b, &r, POOL_STRATEGY_COMPACT_FIRST, &p, &sb),
                     POOL_VERDICT_OK);
    assert_true(sa > sb && sa <= 1 && sb >= 0);   /* compact: the fuller node ranks first */
    assert_int_equal(pool_place(&inv, &r, POOL_STRATEGY_COMPACT_FIRST, &best), 0);
    assert_string_equal(inv.nodes[best.slot]->name, "a");
    pool_device_book(&a->dev[1], 10, 10 * GiB);   /* a has no empty GPU left; b has */
    assert_int_equal(pool_place_on_node(&inv, a, &r, POOL_STRATEGY_LOW_LOAD_FIRST, &p, &sa),
                     POOL_VERDICT_OK);
    assert_int_equal(pool_place_on_node(&inv, b, &r, POOL_STRATEGY_LOW_LOAD_FIRST, &p, &sb),
                     POOL_VERDICT_OK);
    assert_true(sb > sa);   /* low load: the empty node ranks first */
    assert_int_equal(pool_place_on_node(&inv, c, &r, POOL_STRATEGY_COMPACT_FIRST, &p, &sc),
                     POOL_VERDICT_OTHER_POOL);
    strcpy(r.labels[0].key, "zone");
    strcpy(r.labels[0].value, "y");
    r.nlabels = 1;
    assert_int_equal(pool_place_on_node(&inv, a, &r, POOL_STRATEGY_COMPACT_FIRST, &p, &sc),
                     POOL_VERDICT_LABELS);
    r.nlabels = 0;
    strcpy(r.model, "A100");
    assert_int_equal(pool_place_on_node(&inv, a, &r, POOL_STRATEGY_COMPACT_FIRST, &p, &sc),
                     POOL_VERDICT_MODEL);
    r.model[0] = '\0';
    r.vram_request = 81 * GiB;
    assert_int_equal(pool_place_on_node(&inv, b, &r, POOL_STRATEGY_COMPACT_FIRST, &p, &sc),
                     POOL_VERDICT_CAPACITY);
    b->healthy = false;
    assert_int_equal(pool_place_on_node(&inv, b, &r, POOL_STRATEGY_COMPACT_FIRST, &p, &sc),
                     POOL_VERDICT_UNHEALTHY);
    b->healthy = true;
    /* pinned to b, the request goes to b although compact placement prefers a */
    r.vram_request = GiB;
    strcpy(r.node, "b");
    assert_int_equal(pool_place(&inv, &r, POOL_STRATEGY_COMPACT_FIRST, &best), 0);
    assert_string_equal(inv.nodes[best.slot]->name, "b");
    strcpy(r.node, "c");   /* in another pool: nothing */
    assert_int_not_equal(pool_place(&inv, &r, POOL_STRATEGY_COMPACT_FIRST, &best), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(strategies_choose_differently, setup, teardown),
        cmocka_unit_test_setup_teardown(compact_first_fills_gpus_one_by_one, setup, teardown),
        cmocka_unit_test_setup_teardown(low_load_first_spreads, setup, teardown),
        cmocka_unit_test_setup_teardown(node_compact_packs_nodes_spreads_gpus, setup, teardown),
        cmocka_unit_test_setup_teardown(filters_model_labels_health_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(gang_needs_one_node, setup, teardown),
        cmocka_unit_test_setup_teardown(gang_is_one_model, setup, teardown),
        cmocka_unit_test_setup_teardown(oversubscription_ratio, setup, teardown),
        cmocka_unit_test_setup_teardown(capacity_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(percent_requests_scale_with_card, setup, teardown),
        cmocka_unit_test_setup_teardown(reregistration_keeps_bookings, setup, teardown),
        cmocka_unit_test_setup_teardown(one_node_verdicts_and_pin, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
