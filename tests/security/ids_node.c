/*
 * vGPU ids and idempotency keys at a real node (issue 19, item 3; listen_node.h):
 *   bad_ids     an empty id, "a/b", non-ASCII, a newline, 64 characters, a leading dot: each
 *               400 with a message that states the rule, and nothing is created;
 *   long_key    an 80-character idempotency_key: 400 saying it is too long (not "must be
 *               strings"), nothing created;
 *   legacy      a state folder an older node wrote, with the ids "a/b", "" and "x\ny": the node
 *               loads them, lists them, and deletes each by its percent-encoded path; the log
 *               carries "x\x0ay", never a line that starts with the client's "y";
 *   cli         `tfuse vgpu create --id a/b` is refused by the CLI itself with the rule.
 *
 *   ids_node BUILD_DIR
 *
 * Owns: nothing. May call: listen_node.c, libc; runs tfuse.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "listen_node.h"


static int vgpu_count(const struct tnode *n)
{
    static char reply[1 << 16];
    int st = tnode_http(n, 0, "GET", "/api/v1/vgpus", NULL, reply, sizeof reply);
    CHECK(st == 200, "list: %d", st);
    int count = 0;
    for (const char *p = reply; (p = strstr(p, "\"generation\"")); p++)
        count++;
    return count;
}

static void bad_ids(const struct tnode *n)
{
    char sixty_four[80];
    memset(sixty_four, 'v', 64);
    sixty_four[64] = '\0';
    /* JSON string bodies: what a client sends, escapes included */
    const char *ids[] = {"", "a/b", "caf\\u00e9", "a\\nb", sixty_four, ".hidden", "a b"};
    int before = vgpu_count(n);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char body[300], reply[4096];
        snprintf(body, sizeof body, "{\"vram_bytes\": 16777216, \"id\": \"%s\"}", ids[i]);
        for (int tcp = 0; tcp < 2; tcp++) {
            int st = tnode_http(n, tcp, "POST", "/api/v1/vgpus", body, reply, sizeof reply);
            CHECK(st == 400 && strstr(reply, "1-63 characters of [A-Za-z0-9_.-]"),
                  "id \"%s\" over %s: %d %s", ids[i], tcp ? "tcp" : "unix", st, reply);
        }
    }
    CHECK(vgpu_count(n) == before, "a refused id created a vGPU (%d, was %d)", vgpu_count(n),
          before);
    char reply[4096];
    char body[200];
    snprintf(body, sizeof body, "{\"vram_bytes\": 16777216, \"id\": \"%.63s\"}", sixty_four);
    int st = tnode_http(n, 0, "POST", "/api/v1/vgpus", body, reply, sizeof reply);
    CHECK(st == 201, "a 63-character id: %d %s", st, reply);
}

static void long_key(const struct tnode *n)
{
    char key[81], body[300], reply[4096];
    memset(key, 'k', 80);
    key[80] = '\0';
    int before = vgpu_count(n);
    snprintf(body, sizeof body, "{\"vram_bytes\": 16777216, \"idempotency_key\": \"%s\"}", key);
    int st = tnode_http(n, 0, "POST", "/api/v1/vgpus", body, reply, sizeof reply);
    CHECK(st == 400 && strstr(reply, "idempotency_key is 80 characters long; at most 79"),
          "an 80-character key: %d %s", st, reply);
    CHECK(!strstr(reply, "must be strings"), "misleading message: %s", reply);
    CHECK(vgpu_count(n) == before, "a refused key created a vGPU");
}

/* The device's uuid, from GET /api/v1/devices. */
static void device_uuid(const struct tnode *n, char *out, size_t len)
{
    char reply[4096];
    tnode_http(n, 0, "GET", "/api/v1/devices", NULL, reply, sizeof reply);
    const char *u = strstr(reply, "\"uuid\":\"");
    out[0] = '\0';
    if (u)
        snprintf(out, len, "%.*s", (int)strcspn(u + 8, "\""), u + 8);
}

static void legacy(const char *build, const char *uuid)
{
    char state[] = "/tmp/tfuse-sec-state-XXXXXX", path[300];
    CHECK(mkdtemp(state) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/vgpus.json", state);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "write %s", path);
    if (!f)
        return;
    const char *ids[] = {"a/b", "", "x\\ny"};
    fprintf(f, "{\"version\": 1, \"vgpus\": [");
    for (int i = 0; i < 3; i++)
        fprintf(f, "%s{\"device\": \"%s\", \"slot\": %d, \"id\": \"%s\", \"vram_bytes\": "
                "16777216, \"request_bp\": 0, \"limit_bp\": 0, \"qos\": \"medium\", \"token\": "
                "\"%032d\", \"idempotency_key\": \"\"}", i ? ", " : "", uuid, i, ids[i], i + 1);
    fprintf(f, "]}\n");
    fclose(f);
    struct tnode n;
    if (tnode_start(&n, build, state, NULL) != 0) {
        tnode_failures++;
        tnode_stop(&n, 1);
        return;
    }
    CHECK(vgpu_count(&n) == 3, "the older node's vGPUs did not all come back (%d)",
          vgpu_count(&n));
    const char *paths[] = {"/api/v1/vgpus/a%2Fb", "/api/v1/vgpus/", "/api/v1/vgpus/x%0Ay"};
    for (int i = 0; i < 3; i++) {
        char reply[4096];
        int st = tnode_http(&n, 0, "DELETE", paths[i], NULL, reply, sizeof reply);
        CHECK(st == 204, "DELETE %s: %d %s", paths[i], st, reply);
    }
    CHECK(vgpu_count(&n) == 0, "vGPUs left after deleting the older node's");
    CHECK(tnode_log_has(&n, "deleted vGPU x\\x0ay"), "the log does not escape the newline");
    CHECK(!tnode_log_has(&n, "\ny on device"), "a client's byte started a log line");
    tnode_stop(&n, tnode_failures > 0);
    snprintf(path, sizeof path, "rm -rf '%s'", state);
    CHECK(system(path) == 0, "rm");
}

static void cli(const struct tnode *n)
{
    char cmd[1200], api[320];
    snprintf(api, sizeof api, "unix:%s", n->api_sock);
    snprintf(cmd, sizeof cmd, "'%s' vgpu create --node '%s' --vram 16MiB --id 'a/b' 2>&1",
             n->tfuse, api);
    FILE *p = popen(cmd, "r");
    char out[1024] = "";
    size_t len = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[len] = '\0';
    int rc = p ? pclose(p) : -1;
    CHECK(rc != 0 && strstr(out, "--id: the vGPU id has '/' at position 2"),
          "tfuse vgpu create --id a/b: %d '%s'", rc, out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ids_node BUILD_DIR\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct tnode n;
    if (tnode_start(&n, argv[1], NULL, NULL) != 0) {
        tnode_stop(&n, 1);
        return 1;
    }
    char uuid[128];
    device_uuid(&n, uuid, sizeof uuid);
    CHECK(uuid[0], "no device uuid");
    bad_ids(&n);
    long_key(&n);
    cli(&n);
    tnode_stop(&n, tnode_failures > 0);
    legacy(argv[1], uuid);
    if (tnode_failures)
        fprintf(stderr, "%d check(s) failed\n", tnode_failures);
    return tnode_failures ? 1 : 0;
}
