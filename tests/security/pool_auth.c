/*
 * The pool's authentication (issue 19), against a pool served in-process with fake nodes
 * (TEST DOUBLEs, tests/pool/fake_node.c): every route but /healthz refuses a request without a
 * credential (401); a tenant sees, frees and reads the tokens of its own allocations only, and
 * another tenant's ids answer 404; a node cannot register without the join token, cannot take a
 * live node's name or GPU uuid, and heartbeats only with its own credential; the nodes' API
 * token goes only to registered nodes; the store and the credential files are 0600 and keep no
 * tenant token in clear.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "credfile.h"
#include "fake_node.h"
#include "httpc.h"
#include "pool_http.h"
#include "pool_nodeclient.h"
#include "pool_store.h"
#include "pool_svc.h"

#define GiB (1ull << 30)
#define ADMIN "sec-admin-credential"
#define JOIN "sec-join-token"
#define NODE_API_TOKEN "sec-node-api-token"

struct env {
    char db[256];
    struct pool_svc *svc;
    struct pool_http *http;
    char url[64];
    struct fake_node *nodes[2];
};

static struct fake_node *start_node(const char *name, const char *uuid_prefix)
{
    static char uuids[8][32];
    static int next;
    struct fake_gpu gpus[2];
    for (int i = 0; i < 2; i++) {
        char *u = uuids[next++ % 8];
        snprintf(u, 32, "%s-gpu%d", uuid_prefix, i);
        gpus[i] = (struct fake_gpu){u, "H100", 80 * GiB, 100};
    }
    return fake_node_start(name, gpus, 2);
}

static int setup(void **state)
{
    struct env *env = calloc(1, sizeof *env);
    snprintf(env->db, sizeof env->db, "/tmp/tfuse-test-sec-pool-%d.db", getpid());
    pool_store_remove_files(env->db);
    struct pool_config cfg = {.db_path = env->db, .heartbeat_timeout_s = 60,
                              .admin_token = ADMIN, .join_token = JOIN};
    char err[256];
    env->svc = pool_svc_open(&cfg, err, sizeof err);
    assert_non_null(env->svc);
    env->http = pool_http_start(env->svc, "127.0.0.1", 0, err, sizeof err);
    assert_non_null(env->http);
    snprintf(env->url, sizeof env->url, "http://127.0.0.1:%u", pool_http_port(env->http));
    pool_node_set_token(NODE_API_TOKEN);
    env->nodes[0] = start_node("node0", "n0");
    env->nodes[1] = start_node("node1", "n1");
    for (int i = 0; i < 2; i++) {
        fake_node_set_join_token(env->nodes[i], JOIN);
        assert_int_equal(fake_node_register(env->nodes[i], env->url, NULL, NULL), 201);
        assert_true(strlen(fake_node_credential(env->nodes[i])) > 32);
    }
    *state = env;
    return 0;
}

static int teardown(void **state)
{
    struct env *env = *state;
    pool_http_stop(env->http);
    pool_svc_close(env->svc);
    fake_node_stop(env->nodes[0]);
    fake_node_stop(env->nodes[1]);
    pool_store_remove_files(env->db);
    free(env);
    return 0;
}

/* One request with bearer (NULL: no Authorization); the parsed answer and the status. */
static json_t *call(struct env *env, const char *bearer, const char *method, const char *path,
                    const char *body, long *status)
{
    char url[512], err[256];
    snprintf(url, sizeof url, "%s%s", env->url, path);
    struct tf_http_response r;
    struct tf_http_opts o = {.bearer = bearer};
    if (tf_http_request(method, url, body, 10000, &o, &r, err, sizeof err)) {
        *status = -1;
        return NULL;
    }
    *status = r.status;
    json_t *v = json_loadb(r.body, r.len, 0, NULL);
    free(r.body);
    return v;
}

static long status_of(struct env *env, const char *bearer, const char *method, const char *path,
                      const char *body)
{
    long status;
    json_decref(call(env, bearer, method, path, body, &status));
    return status;
}

/* Creates tenant name (as the admin) and returns its token (static buffer per slot). */
static const char *make_tenant(struct env *env, const char *name, int slot)
{
    static char tokens[4][TF_CRED_MAX];
    char path[128];
    long status;
    snprintf(path, sizeof path, "/api/v1/tenants/%s", name);
    json_t *v = call(env, ADMIN, "POST", path, "{\"max_vgpus\":4}", &status);
    assert_int_equal(status, 201);
    const char *t = json_string_value(json_object_get(v, "token"));
    assert_non_null(t);
    snprintf(tokens[slot], sizeof tokens[slot], "%s", t);
    json_decref(v);
    return tokens[slot];
}

static const char *const routes[][2] = {
    {"GET", "/api/v1/allocations"}, {"POST", "/api/v1/allocations"},
    {"GET", "/api/v1/allocations/alloc-1"}, {"DELETE", "/api/v1/allocations/alloc-1"},
    {"GET", "/api/v1/nodes"}, {"POST", "/api/v1/nodes"}, {"GET", "/api/v1/nodes/node0"},
    {"DELETE", "/api/v1/nodes/node0"}, {"POST", "/api/v1/nodes/node0/heartbeat"},
    {"GET", "/api/v1/nodes/node0/vgpus"}, {"GET", "/api/v1/quotas"},
    {"GET", "/api/v1/quotas/t"}, {"PUT", "/api/v1/quotas/t"}, {"GET", "/api/v1/pools/default"},
    {"PUT", "/api/v1/pools/default"}, {"GET", "/api/v1/tenants"},
    {"POST", "/api/v1/tenants/t"}, {"POST", "/api/v1/tenants/t/token"},
    {"DELETE", "/api/v1/tenants/t"}, {"GET", "/metrics"}, {"GET", "/api/v1/nothing"},
    {"GET", "/api/v1/bad%20segment"}, {"GET", "/api/v1/recommendations"},
    {"GET", "/api/v1/workloads/t/w"}, {"PUT", "/api/v1/workloads/t/w/mode"},
    {"GET", "/api/v1/events"}, {"POST", "/api/v1/autoscale"}, {"POST", "/api/v1/test/clock"},
};

static void unauthenticated_requests_get_401_but_health(void **state)
{
    struct env *env = *state;
    const char *bad[] = {NULL, "wrong-token", JOIN "x", ""};
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
            long status;
            json_t *v = call(env, bad[k], routes[i][0], routes[i][1], "{}", &status);
            if (status != 401)
                fail_msg("%s %s with '%s': %ld, not 401", routes[i][0], routes[i][1],
                         bad[k] ? bad[k] : "(none)", status);
            assert_string_equal(json_string_value(json_object_get(v, "error")), "unauthorized");
            json_decref(v);
        }
    assert_int_equal(status_of(env, NULL, "GET", "/healthz", NULL), 200);
    /* The 401 names the scheme (RFC 6750), seen on the wire. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)atoi(strrchr(env->url, ':') + 1))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char *req = "GET /api/v1/allocations HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_true(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
    char resp[2048] = "";
    size_t got = 0;
    ssize_t n;
    while (got < sizeof resp - 1 && (n = read(fd, resp + got, sizeof resp - 1 - got)) > 0)
        got += (size_t)n;
    close(fd);
    assert_non_null(strstr(resp, " 401 "));
    assert_non_null(strstr(resp, "Bearer realm="));
    /* Nothing happened: no allocation, no tenant. */
    json_t *v = call(env, ADMIN, "GET", "/api/v1/tenants", NULL, &n);
    assert_int_equal(json_array_size(json_object_get(v, "tenants")), 0);
    json_decref(v);
}

/* A's allocation of one GPU; its id into id. */
static void allocate_as(struct env *env, const char *token, const char *key, char *id,
                        json_t **out)
{
    char body[256];
    snprintf(body, sizeof body, "{\"vram_request\":1073741824,\"tflops_request\":5,"
                                "\"idempotency_key\":\"%s\"}", key);
    long status;
    json_t *v = call(env, token, "POST", "/api/v1/allocations", body, &status);
    assert_int_equal(status, 201);
    snprintf(id, POOL_UUID_MAX, "%s", json_string_value(json_object_get(v, "id")));
    if (out)
        *out = v;
    else
        json_decref(v);
}

static const char *first_token(json_t *alloc)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(alloc, "devices"), 0), "token"));
}

static void tenants_see_only_their_own(void **state)
{
    struct env *env = *state;
    const char *a = make_tenant(env, "team-a", 0), *b = make_tenant(env, "team-b", 1);
    assert_int_equal(status_of(env, ADMIN, "POST", "/api/v1/tenants/team-a", NULL), 409);
    char id[POOL_UUID_MAX], idb[POOL_UUID_MAX], path[160];
    json_t *created;
    allocate_as(env, a, "job-1", id, &created);
    assert_string_equal(json_string_value(json_object_get(created, "tenant")), "team-a");
    assert_non_null(first_token(created)); /* the owner gets its token at creation */
    json_decref(created);
    snprintf(path, sizeof path, "/api/v1/allocations/%s", id);
    long status;

    json_t *v = call(env, b, "GET", "/api/v1/allocations", NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(json_object_get(v, "allocations")), 0);
    json_decref(v);
    v = call(env, b, "GET", "/api/v1/allocations?tenant=team-a", NULL, &status);
    assert_int_equal(json_array_size(json_object_get(v, "allocations")), 0);
    json_decref(v);
    assert_int_equal(status_of(env, b, "GET", path, NULL), 404);
    assert_int_equal(status_of(env, b, "DELETE", path, NULL), 404);
    assert_int_equal(status_of(env, b, "GET", "/api/v1/quotas/team-a", NULL), 404);
    assert_int_equal(status_of(env, b, "PUT", "/api/v1/quotas/team-b", "{}"), 403);
    assert_int_equal(status_of(env, b, "GET", "/api/v1/nodes", NULL), 403);
    assert_int_equal(status_of(env, b, "GET", "/api/v1/nodes/node0/vgpus", NULL), 403);
    assert_int_equal(status_of(env, b, "GET", "/metrics", NULL), 403);
    assert_int_equal(status_of(env, b, "GET", "/api/v1/tenants", NULL), 403);
    assert_int_equal(status_of(env, b, "POST", "/api/v1/tenants/team-a/token", NULL), 403);
    assert_int_equal(status_of(env, b, "POST", "/api/v1/allocations",
                               "{\"tenant\":\"team-a\",\"vram_request\":1,\"tflops_request\":1}"),
                     403);
    v = call(env, b, "GET", "/api/v1/quotas", NULL, &status);
    assert_int_equal(json_array_size(json_object_get(v, "quotas")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(v, "quotas"), 0), "tenant")),
                        "team-b");
    json_decref(v);
    /* The same idempotency key is B's own: a new allocation, nothing of A's. */
    json_t *bv;
    allocate_as(env, b, "job-1", idb, &bv);
    assert_string_not_equal(id, idb);
    assert_string_equal(json_string_value(json_object_get(bv, "tenant")), "team-b");
    json_decref(bv);

    v = call(env, a, "GET", path, NULL, &status); /* the owner reads its token */
    assert_int_equal(status, 200);
    assert_non_null(first_token(v));
    json_decref(v);
    v = call(env, ADMIN, "GET", path, NULL, &status); /* the admin sees it, without the token */
    assert_int_equal(status, 200);
    assert_null(first_token(v));
    json_decref(v);
    v = call(env, ADMIN, "GET", "/api/v1/allocations", NULL, &status);
    assert_int_equal(json_array_size(json_object_get(v, "allocations")), 2);
    assert_null(first_token(json_array_get(json_object_get(v, "allocations"), 0)));
    assert_null(first_token(json_array_get(json_object_get(v, "allocations"), 1)));
    json_decref(v);

    assert_int_equal(status_of(env, ADMIN, "DELETE", "/api/v1/tenants/team-a", NULL), 409);
    assert_int_equal(status_of(env, a, "DELETE", path, NULL), 204);
    /* A rotated credential: the old one is refused, the new one works. */
    v = call(env, ADMIN, "POST", "/api/v1/tenants/team-a/token", NULL, &status);
    assert_int_equal(status, 200);
    char fresh[TF_CRED_MAX];
    snprintf(fresh, sizeof fresh, "%s", json_string_value(json_object_get(v, "token")));
    json_decref(v);
    assert_int_equal(status_of(env, a, "GET", "/api/v1/allocations", NULL), 401);
    assert_int_equal(status_of(env, fresh, "GET", "/api/v1/allocations", NULL), 200);
    assert_int_equal(status_of(env, ADMIN, "DELETE", "/api/v1/tenants/team-a", NULL), 204);
    assert_int_equal(status_of(env, fresh, "GET", "/api/v1/allocations", NULL), 401);
}

static int register_as(struct fake_node *fn, const char *url, const char *join,
                       const char *cred)
{
    fake_node_set_join_token(fn, join);
    fake_node_set_credential(fn, cred);
    return fake_node_register(fn, url, NULL, NULL);
}

static void rogue_nodes_cannot_register_or_heartbeat(void **state)
{
    struct env *env = *state;
    const char *tenant = make_tenant(env, "team-r", 2);
    struct fake_node *rogue = start_node("rogue", "rogue");
    assert_int_equal(register_as(rogue, env->url, NULL, NULL), 401);
    assert_int_equal(register_as(rogue, env->url, "guess", NULL), 401);
    assert_int_equal(register_as(rogue, env->url, tenant, NULL), 403);
    /* A node's credential proves that node only. */
    assert_int_equal(register_as(rogue, env->url, NULL, fake_node_credential(env->nodes[0])),
                     401);
    long status;
    json_t *v = call(env, ADMIN, "GET", "/api/v1/nodes", NULL, &status);
    assert_int_equal(json_array_size(json_object_get(v, "nodes")), 2);
    json_decref(v);
    assert_int_equal(status_of(env, NULL, "POST", "/api/v1/nodes/node0/heartbeat",
                               "{\"devices\":[]}"), 401);
    assert_int_equal(status_of(env, fake_node_credential(env->nodes[1]), "POST",
                               "/api/v1/nodes/node0/heartbeat", "{\"devices\":[]}"), 401);
    assert_int_equal(status_of(env, JOIN, "POST", "/api/v1/nodes/node0/heartbeat",
                               "{\"devices\":[]}"), 403);
    assert_int_equal(fake_node_heartbeat(env->nodes[0], env->url), 204);
    assert_int_equal(status_of(env, fake_node_credential(env->nodes[0]), "GET",
                               "/api/v1/nodes/node0/vgpus", NULL), 200);
    assert_int_equal(status_of(env, fake_node_credential(env->nodes[0]), "GET",
                               "/api/v1/nodes/node1/vgpus", NULL), 401);
    assert_int_equal(status_of(env, fake_node_credential(env->nodes[0]), "GET",
                               "/api/v1/allocations", NULL), 401);
    fake_node_stop(rogue);
}

static void live_names_and_uuids_are_their_nodes(void **state)
{
    struct env *env = *state;
    char real_cred[TF_CRED_MAX];
    snprintf(real_cred, sizeof real_cred, "%s", fake_node_credential(env->nodes[0]));
    /* The join token alone cannot take a live node's name ... */
    struct fake_node *imposter = start_node("node0", "imp");
    assert_int_equal(register_as(imposter, env->url, JOIN, NULL), 409);
    fake_node_stop(imposter);
    /* ... nor a live node's GPU under another name. */
    struct fake_gpu stolen = {"n0-gpu1", "H100", 80 * GiB, 100};
    struct fake_node *thief = fake_node_start("thief", &stolen, 1);
    assert_int_equal(register_as(thief, env->url, JOIN, NULL), 409);
    /* The node itself, with its credential, registers again: no new credential. */
    assert_int_equal(register_as(env->nodes[0], env->url, NULL, real_cred), 200);
    assert_string_equal(fake_node_credential(env->nodes[0]), real_cred);
    long status;
    json_t *v = call(env, ADMIN, "GET", "/api/v1/nodes/node0", NULL, &status);
    assert_string_equal(json_string_value(json_object_get(v, "address")),
                        fake_node_url(env->nodes[0]));
    json_decref(v);
    /* A node silent past the timeout may be replaced (a node that lost its state folder). */
    assert_int_equal(pool_svc_check_health(env->svc, pool_now() + 3600), 2);
    assert_int_equal(register_as(thief, env->url, JOIN, NULL), 201);
    imposter = start_node("node0", "imp2");
    assert_int_equal(register_as(imposter, env->url, JOIN, NULL), 200);
    assert_string_not_equal(fake_node_credential(imposter), real_cred);
    assert_int_equal(status_of(env, real_cred, "POST", "/api/v1/nodes/node0/heartbeat",
                               "{\"devices\":[]}"), 401);
    fake_node_stop(imposter);
    fake_node_stop(thief);
}

static void node_token_goes_to_registered_nodes_only(void **state)
{
    struct env *env = *state;
    struct fake_node *rogue = start_node("rogue", "rogue");
    assert_int_equal(register_as(rogue, env->url, NULL, NULL), 401);
    assert_int_equal(register_as(rogue, env->url, make_tenant(env, "team-n", 3), NULL), 403);
    for (int i = 0; i < 6; i++) {
        char id[POOL_UUID_MAX], path[160], key[32];
        snprintf(key, sizeof key, "k%d", i);
        allocate_as(env, ADMIN, key, id, NULL);
        snprintf(path, sizeof path, "/api/v1/allocations/%s", id);
        assert_int_equal(status_of(env, ADMIN, "DELETE", path, NULL), 204);
    }
    assert_int_equal(fake_node_requests(rogue), 0);
    int calls = fake_node_requests(env->nodes[0]) + fake_node_requests(env->nodes[1]);
    int with_token = fake_node_requests_with_bearer(env->nodes[0], NODE_API_TOKEN) +
                     fake_node_requests_with_bearer(env->nodes[1], NODE_API_TOKEN);
    assert_int_equal(calls, 12); /* six creates, six deletes, each with the nodes' token */
    assert_int_equal(with_token, 12);
    fake_node_stop(rogue);
}

static size_t file_holds(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    static char buf[4 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return memmem(buf, n, needle, strlen(needle)) != NULL;
}

static void files_are_private_and_tokens_hashed(void **state)
{
    (void)state;
    mode_t old = umask(0);
    char db[256], path[300], err[256], token[TF_CRED_MAX];
    snprintf(db, sizeof db, "/tmp/tfuse-test-sec-files-%d.db", getpid());
    pool_store_remove_files(db);
    struct pool_config cfg = {.db_path = db, .admin_token = ADMIN};
    struct pool_svc *svc = pool_svc_open(&cfg, err, sizeof err);
    assert_non_null(svc);
    struct pool_error e = {0};
    assert_int_equal(pool_svc_create_tenant(svc, "t", NULL, token, &e), 0);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s%s", db, suffix[i]);
        assert_int_equal(stat(path, &st), 0);
        if ((st.st_mode & 0777) != 0600)
            fail_msg("%s has mode %o, not 600", path, st.st_mode & 0777);
        assert_false(file_holds(path, token)); /* tenant tokens are stored hashed */
        assert_false(file_holds(path, ADMIN));
    }
    pool_svc_close(svc);
    chmod(db, 0644); /* an existing, too open store is tightened */
    svc = pool_svc_open(&cfg, err, sizeof err);
    assert_non_null(svc);
    struct stat st;
    assert_int_equal(stat(db, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    json_t *tv = pool_svc_tenant_json(svc, "t"); /* the tenant came back from the store */
    assert_non_null(tv);
    json_decref(tv);
    pool_svc_close(svc);
    pool_store_remove_files(db);
    snprintf(path, sizeof path, "%s.cred", db);
    assert_int_equal(tf_cred_write(path, "secret-value", err, sizeof err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    unlink(path);
    umask(old);
}

int main(void)
{
    tf_http_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(unauthenticated_requests_get_401_but_health, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(tenants_see_only_their_own, setup, teardown),
        cmocka_unit_test_setup_teardown(rogue_nodes_cannot_register_or_heartbeat, setup, teardown),
        cmocka_unit_test_setup_teardown(live_names_and_uuids_are_their_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(node_token_goes_to_registered_nodes_only, setup,
                                        teardown),
        cmocka_unit_test(files_are_private_and_tokens_hashed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
