/*
 * The worker's decoders for graph construction, 3D copies and migration hints
 * (src/worker/graph.c) against requests that lie: foreign graphs and nodes, dependencies on
 * another graph's nodes, ranges past an allocation (also with products that would wrap),
 * counts past the bounds, truncated or inconsistent requests. The backend is a table of fakes
 * for the few entries a passing request reaches, so a test can tell "refused by the checks"
 * from "reached the backend".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "worker_int.h"

#define GRAPH_A 0xa000ull
#define GRAPH_B 0xb000ull
#define STREAM 0x1000ull
#define FUNC 0x2000ull
#define ALLOC 0x100000ull
#define ALLOC_SIZE 4096ull
#define MANAGED 0x500000000000ull

static uint64_t next_node = 0x70000;
static int backend_calls;

static CUresult fake_empty(CUgraphNode *out, CUgraph g, const CUgraphNode *d, size_t n)
{
    backend_calls++;
    next_node += 0x40;
    *out = (CUgraphNode)(uintptr_t)next_node;
    return CUDA_SUCCESS;
}

/* A captured graph of three nodes the session was never told about. */
static CUresult fake_get_nodes(CUgraph g, CUgraphNode *nodes, size_t *n)
{
    backend_calls++;
    for (size_t i = 0; nodes && i < *n; i++)
        nodes[i] = i < 3 ? (CUgraphNode)(uintptr_t)(0x90000 + 0x40 * i) : NULL;
    *n = 3;
    return CUDA_SUCCESS;
}

static CUresult fake_count(int *count)
{
    *count = 1;
    return CUDA_SUCCESS;
}

struct req {
    uint8_t b[1024];
    size_t n;
};

static void put(struct req *r, const void *p, size_t n)
{
    memcpy(r->b + r->n, p, n);
    r->n += n;
}
static void put64(struct req *r, uint64_t v) { put(r, &v, 8); }
static void put32(struct req *r, uint32_t v) { put(r, &v, 4); }

/* Starts a request: the context word (none current). */
static void begin(struct req *r)
{
    r->n = 0;
    put64(r, 0);
}

static CUresult send(struct tfw_session *s, uint32_t id, const struct req *r)
{
    tfp_writer_reset(&s->out);
    return tfw_handle_request(s, id, r->b, r->n);
}

static int setup(void **state)
{
    static struct tfw_session s;
    memset(&s, 0, sizeof s);
    s.out_fd = -1;
    s.max_frame = 1 << 20;
    tfp_writer_init(&s.out);
    tfw_handles_add(&s.handles, GRAPH_A, TFW_K_GRAPH);
    tfw_handles_add(&s.handles, GRAPH_B, TFW_K_GRAPH);
    tfw_handles_add(&s.handles, STREAM, TFW_K_STREAM);
    tfw_handles_add(&s.handles, FUNC, TFW_K_FUNC);
    tf_ranges_add(&s.allocs, ALLOC, ALLOC_SIZE);
    /* the stub's managed memory as tfi_map_host records it: kind 1 in hostmaps */
    tf_ranges_add(&s.allocs, MANAGED, 8192);
    tf_ranges_add_child(&s.hostmaps, MANAGED, 8192, 1);
    s.be.cuGraphAddEmptyNode = fake_empty;
    s.be.cuDeviceGetCount = fake_count;
    s.be.cuGraphGetNodes = fake_get_nodes;
    tfw_self = &s;
    backend_calls = 0;
    *state = &s;
    return 0;
}

static int teardown(void **state)
{
    struct tfw_session *s = *state;
    tfw_handles_free(&s->handles);
    tf_ranges_free(&s->allocs);
    tf_ranges_free(&s->hostmaps);
    tfp_writer_free(&s->out);
    tfw_self = NULL;
    return 0;
}

/* The reply as the transport would send it: its pieces, one after the other (a reservation may
 * live outside the writer's inline buffer). Returns the length, or 0 if it exceeds cap. */
static size_t reply_bytes(struct tfp_writer *w, void *dst, size_t cap)
{
    struct iovec iov[TFP_MAX_SEGS];
    int n = tfp_iov(w, iov, TFP_MAX_SEGS);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        if (len + iov[i].iov_len > cap)
            return 0;
        memcpy((uint8_t *)dst + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    return len;
}

/* Adds an empty node to graph after deps; returns the result, the node in *node. */
static CUresult add_empty(struct tfw_session *s, uint64_t graph, const uint64_t *deps, uint64_t n,
                          uint64_t *node)
{
    struct req r;
    begin(&r);
    put64(&r, graph);
    put64(&r, n);
    for (uint64_t i = 0; i < n; i++)
        put64(&r, deps[i]);
    CUresult res = send(s, TFP_ID_cuGraphAddEmptyNode, &r);
    if (res == CUDA_SUCCESS && node)
        assert_int_equal(reply_bytes(&s->out, node, 8), 8);
    return res;
}

static void nodes_belong_to_their_graph(void **state)
{
    struct tfw_session *s = *state;
    uint64_t a1, a2, b1;
    assert_int_equal(add_empty(s, GRAPH_A, NULL, 0, &a1), CUDA_SUCCESS);
    assert_int_equal(tfw_handles_kind(&s->handles, a1), TFW_K_NODE);
    assert_int_equal(tfw_handles_parent(&s->handles, a1), GRAPH_A);
    assert_int_equal(add_empty(s, GRAPH_A, &a1, 1, &a2), CUDA_SUCCESS);
    assert_int_equal(add_empty(s, GRAPH_B, NULL, 0, &b1), CUDA_SUCCESS);
    int calls = backend_calls;
    /* a node of graph B is no dependency in graph A; neither is a guessed handle */
    uint64_t mixed[2] = {a1, b1};
    assert_int_equal(add_empty(s, GRAPH_A, mixed, 2, NULL), CUDA_ERROR_INVALID_VALUE);
    uint64_t guess = 0x5550;
    assert_int_equal(add_empty(s, GRAPH_A, &guess, 1, NULL), CUDA_ERROR_INVALID_VALUE);
    /* a graph that is not the session's, and no graph at all */
    assert_int_equal(add_empty(s, 0xc000, NULL, 0, NULL), CUDA_ERROR_INVALID_HANDLE);
    assert_int_equal(add_empty(s, 0, NULL, 0, NULL), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(backend_calls, calls);
    assert_false(s->malformed);
    /* destroying a graph forgets its nodes */
    tfw_handles_del_tree(&s->handles, GRAPH_A, &s->allocs);
    assert_int_equal(tfw_handles_kind(&s->handles, a2), TFW_K_NONE);
    assert_int_equal(tfw_handles_kind(&s->handles, b1), TFW_K_NODE);
}

static void node_headers_are_bounded(void **state)
{
    struct tfw_session *s = *state;
    struct req r;
    begin(&r);
    put64(&r, GRAPH_A);
    put64(&r, TFP_MAX_GRAPH_DEPS + 1);     /* more dependencies than any request may name */
    assert_int_equal(send(s, TFP_ID_cuGraphAddEmptyNode, &r), CUDA_ERROR_INVALID_VALUE);
    assert_true(s->malformed);
    s->malformed = 0;
    begin(&r);
    put64(&r, GRAPH_A);
    put64(&r, 2);                          /* says two, carries one */
    put64(&r, 0x1234);
    assert_int_equal(send(s, TFP_ID_cuGraphAddEmptyNode, &r), CUDA_ERROR_INVALID_VALUE);
    assert_true(s->malformed);
    s->malformed = 0;
    begin(&r);
    put64(&r, GRAPH_A);
    put64(&r, UINT64_MAX / 4);             /* a count whose byte size wraps */
    assert_int_equal(send(s, TFP_ID_cuGraphAddEmptyNode, &r), CUDA_ERROR_INVALID_VALUE);
    assert_true(s->malformed);
    s->malformed = 0;
    /* edges: bounded count, both ends in the graph, a boolean edge-data flag */
    uint64_t a1 = 0, b1 = 0;   /* set by add_empty; -O3 cannot see it */
    assert_int_equal(add_empty(s, GRAPH_A, NULL, 0, &a1), CUDA_SUCCESS);
    assert_int_equal(add_empty(s, GRAPH_B, NULL, 0, &b1), CUDA_SUCCESS);
    begin(&r);
    put64(&r, GRAPH_A);
    put64(&r, 1);
    put64(&r, a1);
    put64(&r, b1);
    put32(&r, 0);
    assert_int_equal(send(s, TFP_ID_cuGraphAddDependencies_v2, &r), CUDA_ERROR_INVALID_VALUE);
    assert_false(s->malformed);
    r.n -= 4;
    put32(&r, 2);
    assert_int_equal(send(s, TFP_ID_cuGraphAddDependencies_v2, &r), CUDA_ERROR_INVALID_VALUE);
    assert_true(s->malformed);
    s->malformed = 0;
    begin(&r);
    put64(&r, GRAPH_A);
    put64(&r, 1);
    put64(&r, a1);
    put64(&r, a1);
    put32(&r, 0);
    assert_int_equal(send(s, TFP_ID_cuGraphAddDependencies_v2, &r), CUDA_ERROR_NOT_SUPPORTED);
}

/* A memset node request: header (graph A, no deps), ctx, dst, pitch, value, elem, width, height. */
static CUresult memset_node(struct tfw_session *s, uint64_t dst, uint64_t pitch, uint32_t elem,
                            uint64_t width, uint64_t height)
{
    struct req r;
    begin(&r);
    put64(&r, GRAPH_A);
    put64(&r, 0);
    put64(&r, 0);
    put64(&r, dst);
    put64(&r, pitch);
    put32(&r, 7);
    put32(&r, elem);
    put64(&r, width);
    put64(&r, height);
    return send(s, TFP_ID_cuGraphAddMemsetNode, &r);
}

static void memset_nodes_are_range_checked(void **state)
{
    struct tfw_session *s = *state;
    /* exactly the allocation (4 rows of 256 ints, pitch 1024) reaches the backend */
    assert_int_equal(memset_node(s, ALLOC, 1024, 4, 256, 4), CUDA_ERROR_NOT_SUPPORTED);
    assert_int_equal(memset_node(s, ALLOC, 1024, 4, 256, 5), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(memset_node(s, ALLOC + 4, 1024, 4, 256, 4), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(memset_node(s, ALLOC, 1024, 3, 16, 1), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(memset_node(s, ALLOC, UINT64_MAX / 2, 1, 16, 3), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(memset_node(s, ALLOC, 16, 4, (1ull << 62) + 1, 1), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(memset_node(s, 0x900000, 16, 1, 16, 1), CUDA_ERROR_INVALID_VALUE);
    assert_false(s->malformed);
}

/* One device side of a 3D copy. */
static void device_side(struct req *r, uint64_t ptr, uint64_t x, uint64_t y, uint64_t z,
                        uint64_t pitch, uint64_t rows)
{
    put32(r, 0);
    put64(r, ptr);
    uint64_t v[5] = {x, y, z, pitch, rows};
    put(r, v, sizeof v);
}

static CUresult copy3d(struct tfw_session *s, uint64_t dst_z, uint64_t w, uint64_t h, uint64_t d)
{
    struct req r;
    begin(&r);
    put64(&r, STREAM);
    device_side(&r, ALLOC, 0, 0, 0, 256, 4);       /* 4 slices of 4 rows of 256 bytes */
    device_side(&r, ALLOC, 0, 0, dst_z, 256, 4);
    put64(&r, w);
    put64(&r, h);
    put64(&r, d);
    return send(s, TFP_ID_cuMemcpy3DAsync_v2, &r);
}

static void copies_are_range_checked(void **state)
{
    struct tfw_session *s = *state;
    assert_int_equal(copy3d(s, 0, 256, 4, 4), CUDA_ERROR_NOT_SUPPORTED);   /* fits */
    assert_int_equal(copy3d(s, 1, 256, 4, 4), CUDA_ERROR_INVALID_VALUE);   /* a slice past */
    assert_int_equal(copy3d(s, 0, 257, 4, 1), CUDA_ERROR_INVALID_VALUE);   /* wider than pitch */
    assert_int_equal(copy3d(s, 0, 256, 5, 2), CUDA_ERROR_INVALID_VALUE);   /* taller than a slice */
    assert_int_equal(copy3d(s, UINT64_MAX / 1024 + 1, 1, 1, 1), CUDA_ERROR_INVALID_VALUE); /* wraps */
    assert_int_equal(copy3d(s, 0, 1, 1, UINT64_MAX), CUDA_ERROR_INVALID_VALUE);
    assert_false(s->malformed);
    /* a host side must be a region of the client's: this session has no connection at all */
    struct req r;
    begin(&r);
    put64(&r, STREAM);
    put32(&r, 1);
    put64(&r, 1);
    put64(&r, 42);
    put64(&r, 0);
    uint64_t v[5] = {0, 0, 0, 64, 1};
    put(&r, v, sizeof v);
    device_side(&r, ALLOC, 0, 0, 0, 64, 1);
    put64(&r, 64);
    put64(&r, 1);
    put64(&r, 1);
    assert_int_not_equal(send(s, TFP_ID_cuMemcpy3DAsync_v2, &r), CUDA_SUCCESS);
    assert_true(s->malformed);
    s->malformed = 0;
    /* an unknown side kind */
    begin(&r);
    put64(&r, STREAM);
    put32(&r, 7);
    put(&r, v, sizeof v);
    device_side(&r, ALLOC, 0, 0, 0, 64, 1);
    put64(&r, 64);
    put64(&r, 1);
    put64(&r, 1);
    assert_int_equal(send(s, TFP_ID_cuMemcpy3DAsync_v2, &r), CUDA_ERROR_INVALID_VALUE);
    assert_true(s->malformed);
    s->malformed = 0;
    /* peer copies are range-checked like every device-to-device copy */
    begin(&r);
    put64(&r, ALLOC + 8);
    put64(&r, 0);
    put64(&r, ALLOC);
    put64(&r, 0);
    put64(&r, ALLOC_SIZE);
    assert_int_equal(send(s, TFP_ID_cuMemcpyPeer, &r), CUDA_ERROR_INVALID_VALUE);
    r.n -= 8;
    put64(&r, ALLOC_SIZE - 8);
    assert_int_equal(send(s, TFP_ID_cuMemcpyPeer, &r), CUDA_ERROR_NOT_SUPPORTED);
}

/* A kernel node request with a parameter tail of `nparams` parameters. */
static CUresult kernel_node(struct tfw_session *s, uint64_t func, uint32_t nparams)
{
    struct req r;
    begin(&r);
    put64(&r, GRAPH_A);
    put64(&r, 0);
    put64(&r, func);
    put64(&r, 0);
    put64(&r, 0);
    for (int i = 0; i < 7; i++)
        put32(&r, 1);
    put32(&r, nparams);
    struct tfp_param p = {0, 8};
    for (uint32_t i = 0; i < nparams && i < 4; i++)
        put(&r, &p, sizeof p);
    put32(&r, 8);
    put64(&r, ALLOC);
    return send(s, TFP_ID_cuGraphAddKernelNode_v2, &r);
}

static void kernel_nodes_use_the_launch_checks(void **state)
{
    struct tfw_session *s = *state;
    assert_int_equal(kernel_node(s, FUNC, 1), CUDA_ERROR_NOT_SUPPORTED);
    assert_int_equal(kernel_node(s, 0x3000, 1), CUDA_ERROR_INVALID_HANDLE);
    assert_int_equal(kernel_node(s, 0, 1), CUDA_ERROR_INVALID_VALUE);
    assert_false(s->malformed);
    assert_int_equal(kernel_node(s, FUNC, TFP_MAX_PARAMS + 1), CUDA_ERROR_INVALID_VALUE);
    assert_true(s->malformed);
    s->malformed = 0;
    /* new arguments for a node that is not one of the session's */
    struct req r;
    begin(&r);
    put64(&r, 0);
    put64(&r, 0x7777);
    put64(&r, FUNC);
    put64(&r, 0);
    put64(&r, 0);
    for (int i = 0; i < 7; i++)
        put32(&r, 1);
    put32(&r, 0);
    put32(&r, 0);
    assert_int_equal(send(s, TFP_ID_cuGraphKernelNodeSetParams_v2, &r), CUDA_ERROR_INVALID_VALUE);
    assert_false(s->malformed);
}

static CUresult prefetch(struct tfw_session *s, uint64_t p, uint64_t n, int dev, uint64_t stream)
{
    struct req r;
    begin(&r);
    put64(&r, p);
    put64(&r, n);
    CUmemLocation loc = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = dev};
    put(&r, &loc, sizeof loc);
    put32(&r, 0);
    put64(&r, stream);
    return send(s, TFP_ID_cuMemPrefetchAsync_v2, &r);
}

static void hints_on_managed_memory_are_answered_here(void **state)
{
    struct tfw_session *s = *state;
    assert_int_equal(prefetch(s, MANAGED, 8192, 0, STREAM), CUDA_SUCCESS);
    assert_int_equal(prefetch(s, MANAGED + 4096, 4097, 0, STREAM), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(prefetch(s, MANAGED, 8192, 1, STREAM), CUDA_ERROR_INVALID_DEVICE);
    assert_int_equal(prefetch(s, MANAGED, 8192, 0, 0x4000), CUDA_ERROR_INVALID_HANDLE);
    /* device memory goes to the backend (which has no entry here) */
    assert_int_equal(prefetch(s, ALLOC, 64, 0, STREAM), CUDA_ERROR_NOT_SUPPORTED);
    struct req r;
    begin(&r);
    put64(&r, MANAGED);
    put64(&r, 64);
    put32(&r, CU_MEM_ADVISE_SET_ACCESSED_BY);
    CUmemLocation loc = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0};
    put(&r, &loc, sizeof loc);
    assert_int_equal(send(s, TFP_ID_cuMemAdvise_v2, &r), CUDA_SUCCESS);
    r.n -= sizeof loc + 4;
    put32(&r, 99);
    put(&r, &loc, sizeof loc);
    assert_int_equal(send(s, TFP_ID_cuMemAdvise_v2, &r), CUDA_ERROR_INVALID_VALUE);
    r.n -= 1;                                   /* truncated */
    assert_int_equal(send(s, TFP_ID_cuMemAdvise_v2, &r), CUDA_ERROR_INVALID_VALUE);
    assert_true(s->malformed);
}

static void listed_nodes_become_known(void **state)
{
    struct tfw_session *s = *state;
    assert_int_equal(tfw_handles_kind(&s->handles, 0x90040), TFW_K_NONE);
    struct req r;
    begin(&r);
    put64(&r, GRAPH_B);
    put64(&r, 4);                          /* room for four */
    put64(&r, 0);                          /* the nodes come back in the reply */
    assert_int_equal(send(s, TFP_ID_tfi_graph_nodes, &r), CUDA_SUCCESS);
    assert_int_equal(tfw_handles_kind(&s->handles, 0x90040), TFW_K_NODE);
    assert_int_equal(tfw_handles_parent(&s->handles, 0x90080), GRAPH_B);
    uint64_t reply[5];                     /* four nodes, then the count */
    assert_int_equal(reply_bytes(&s->out, reply, sizeof reply), sizeof reply);
    assert_int_equal(reply[1], 0x90040);
    assert_int_equal(reply[3], 0);
    assert_int_equal(reply[4], 3);
    /* now a dependency in graph B, and none in graph A */
    uint64_t dep = 0x90000;
    assert_int_equal(add_empty(s, GRAPH_B, &dep, 1, NULL), CUDA_SUCCESS);
    assert_int_equal(add_empty(s, GRAPH_A, &dep, 1, NULL), CUDA_ERROR_INVALID_VALUE);
    /* a capacity whose reply would not fit a frame is refused before the backend */
    int calls = backend_calls;
    r.n = 16;
    put64(&r, UINT64_MAX / 4);
    put64(&r, 0);
    assert_int_equal(send(s, TFP_ID_tfi_graph_nodes, &r), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(backend_calls, calls);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(nodes_belong_to_their_graph, setup, teardown),
        cmocka_unit_test_setup_teardown(node_headers_are_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(memset_nodes_are_range_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(copies_are_range_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(kernel_nodes_use_the_launch_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(hints_on_managed_memory_are_answered_here, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(listed_nodes_become_known, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
