/*
 * Ephemeral vGPUs have an owner (issue 19): `tfuse run --vram` creates its vGPU with a lease and
 * renews it while its program runs. Against a real `tfuse node --backend soft`:
 *   renewed  a program that runs past several leases keeps its vGPU live all along
 *   orphan   `kill -9` of tfuse run whose program holds a session: the vGPU stays while the
 *            program (now an orphan) uses it, and is deleted once the program is gone
 *   idle     `kill -9` of tfuse run whose program never connects: deleted once the lease ran out
 *   api      the lease route: renewing an unknown vGPU is 404, one without a lease 409; a bad
 *            lease_seconds is refused (400) and creates nothing
 *
 *   ephemeral_lease BUILD_DIR PROG_ISO
 *
 * Owns: nothing. May call: state_node.h, libc; runs tfuse and prog_iso.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "state_node.h"

#define LEASE "3"

static const char *prog_iso;
static struct sn_node node;

/* The id of the one vGPU the node lists, waiting up to seconds for one to appear. */
static int only_vgpu(char *id, size_t len, double seconds)
{
    for (double t0 = sn_now(); sn_now() - t0 < seconds; sn_sleep_ms(100)) {
        struct sn_resp r = sn_http(&node, "GET", "/api/v1/vgpus", NULL);
        json_t *list = json_object_get(r.json, "vgpus");
        const char *got = json_string_value(json_object_get(json_array_get(list, 0), "id"));
        int one = json_array_size(list) == 1 && got;
        if (one)
            snprintf(id, len, "%s", got);
        sn_free(&r);
        if (one)
            return 1;
    }
    return 0;
}

static int gone_within(const char *id, double seconds)
{
    char st[32];
    for (double t0 = sn_now(); sn_now() - t0 < seconds; sn_sleep_ms(100)) {
        sn_vgpu_state(&node, id, st, sizeof st);
        if (!st[0])
            return 1;
    }
    return 0;
}

static pid_t run(char *const prog[], int *out)
{
    char api[340];
    snprintf(api, sizeof api, "unix:%s", node.api);
    char *argv[24] = {sn_tfuse, "run", "--api", api, "--connect", node.listen, "--vram", "64MiB",
                      "--lease", LEASE, "--"};
    int a = 11;
    for (int i = 0; prog[i] && a < 23; i++)
        argv[a++] = prog[i];
    argv[a] = NULL;
    return sn_spawn(argv, out);
}

static void renewed(void)
{
    char *prog[] = {"/bin/sh", "-c", "sleep 8; echo done", NULL};
    int out;
    pid_t pid = run(prog, &out);
    char id[80] = "", st[32];
    SN_CHECK(only_vgpu(id, sizeof id, 30), "tfuse run made its vGPU");
    /* Sampled until the program has said "done": from then on tfuse run deletes the vGPU
     * itself (state "deleting"), which a slow host (ASan) shows before tfuse run exits. */
    int live_all_along = 1;
    fcntl(out, F_SETFL, fcntl(out, F_GETFL) | O_NONBLOCK);
    char said[64] = "";
    size_t got = 0;
    while (!strstr(said, "done") && waitpid(pid, NULL, WNOHANG) == 0) {
        sn_vgpu_state(&node, id, st, sizeof st);
        ssize_t n = read(out, said + got, sizeof said - 1 - got);
        if (n > 0)
            said[got += (size_t)n] = '\0';
        if (strcmp(st, "live") != 0 && !strstr(said, "done"))
            live_all_along = 0;
        sn_sleep_ms(200);
    }
    waitpid(pid, NULL, 0);
    SN_CHECK(live_all_along, "renewed: live while its owner runs (8 s, lease " LEASE " s)");
    SN_CHECK(gone_within(id, 30), "deleted by its owner at the end");
    close(out);
}

static void orphan(void)
{
    char *prog[] = {(char *)prog_iso, "hold", "8388608", NULL};
    int out;
    pid_t pid = run(prog, &out);
    char id[80] = "", st[32];
    SN_CHECK(sn_wait_output(out, "held pid ", 60), "the program holds memory");
    SN_CHECK(only_vgpu(id, sizeof id, 10), "one vGPU");
    kill(pid, SIGKILL);   /* tfuse run only: its program lives on */
    waitpid(pid, NULL, 0);
    sn_sleep_ms(1000 * (atoi(LEASE) + 3));
    sn_vgpu_state(&node, id, st, sizeof st);
    SN_CHECK(strcmp(st, "live") == 0, "a session still uses it: kept past its lease (%s)", st);
    /* The program: the group tfuse run made for it is its own (sn_spawn put tfuse run in a
     * new group, which the program shares). */
    kill(-pid, SIGKILL);
    SN_CHECK(gone_within(id, 30), "deleted once its program is gone too");
    close(out);
}

static void idle(void)
{
    char *prog[] = {"/bin/sleep", "120", NULL};
    int out;
    pid_t pid = run(prog, &out);
    char id[80] = "";
    SN_CHECK(only_vgpu(id, sizeof id, 30), "tfuse run made its vGPU");
    sn_sleep_ms(500);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    SN_CHECK(gone_within(id, 30), "deleted once nobody renewed it for " LEASE " s");
    kill(-pid, SIGKILL);   /* the sleep */
    close(out);
}

static void api(void)
{
    struct sn_resp r = sn_http(&node, "POST", "/api/v1/vgpus/nobody/lease", NULL);
    SN_CHECK(r.status == 404, "renewing an unknown vGPU: %ld", r.status);
    sn_free(&r);
    SN_CHECK(sn_create(&node, "{\"id\":\"plain\",\"vram_bytes\":1048576}", NULL, 0) == 201,
             "a vGPU without a lease");
    r = sn_http(&node, "POST", "/api/v1/vgpus/plain/lease", NULL);
    SN_CHECK(r.status == 409, "renewing a vGPU without a lease: %ld", r.status);
    sn_free(&r);
    SN_CHECK(sn_create(&node, "{\"id\":\"bad\",\"vram_bytes\":1048576,\"lease_seconds\":0}",
                       NULL, 0) == 400, "lease_seconds 0 refused");
    SN_CHECK(sn_create(&node, "{\"id\":\"bad\",\"vram_bytes\":1048576,\"lease_seconds\":\"5\"}",
                       NULL, 0) == 400, "a string lease_seconds refused");
    char st[32];
    sn_vgpu_state(&node, "bad", st, sizeof st);
    SN_CHECK(!st[0], "nothing created by a refused lease");
    r = sn_http(&node, "DELETE", "/api/v1/vgpus/plain", NULL);
    sn_free(&r);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: ephemeral_lease BUILD_DIR PROG_ISO\n");
        return 2;
    }
    const char *work = sn_init(argv[1]);
    prog_iso = argv[2];
    if (sn_start(&node, "node", NULL, NULL, 0) != 0) {
        fprintf(stderr, "FAIL: the node did not start (log %s)\n", node.log);
        return 1;
    }
    api();
    renewed();
    orphan();
    idle();
    sn_stop(&node);
    fprintf(stderr, "%s (%d failure(s)); work folder %s\n", sn_failures ? "FAILED" : "passed",
            sn_failures, work);
    return sn_failures ? 1 : 0;
}
