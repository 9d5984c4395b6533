/*
 * The node's state folder (issue 19, item 5 and the state lock, and DELETE's answer), against a
 * real `tfuse node --backend soft`:
 *   full    a state folder full past 1,500 bytes (persist.c's test-only fault injection) takes
 *           a few vGPUs; the creation that cannot be saved is refused (507
 *           insufficient_storage), listed nowhere, its memory promise released; after a restart (no limit) exactly the vGPUs answered 201 are back
 *   delete  a delete that cannot be saved (vgpus.json.tmp is a folder) is refused and changes
 *           nothing; once it can, it is made and stays made across a restart
 *   lock    a second node on the same --state exits with an error naming the first one's pid
 *   free    DELETE of a vGPU a session holds: 204 only with its memory back, or 202 "deleting"
 *           until GET answers 404; right after that signal the same vGPU is created again
 *
 *   state_persist BUILD_DIR PROG_ISO
 *
 * Owns: nothing. May call: state_node.h, libc; runs tfuse and prog_iso.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "state_node.h"

static const char *work, *prog_iso;

static void full_folder(void)
{
    char state[300], body[200], created[16][16];
    snprintf(state, sizeof state, "%s/full-state", work);
    struct sn_node n;
    /* A vgpus.json entry is about 300 bytes: a few fit in a folder full past 1,500. */
    if (sn_start(&n, "full", state, NULL, 1500) != 0) {
        SN_CHECK(0, "the node did not start (log %s)", n.log);
        return;
    }
    int ncreated = 0;
    long status = 0;
    char refused[16] = "";
    for (int i = 0; i < 16; i++) {
        char id[16];
        snprintf(id, sizeof id, "full-%d", i);
        snprintf(body, sizeof body, "{\"id\":\"%s\",\"vram_bytes\":1048576}", id);
        struct sn_resp r = sn_http(&n, "POST", "/api/v1/vgpus", body);
        status = r.status;
        if (status == 201) {
            snprintf(created[ncreated++], sizeof created[0], "%s", id);
        } else {
            const char *msg = json_string_value(json_object_get(r.json, "message"));
            const char *err = json_string_value(json_object_get(r.json, "error"));
            fprintf(stderr, "  %s refused: %ld %s\n", id, status, msg ? msg : "");
            SN_CHECK(status == 507 && err && strcmp(err, "insufficient_storage") == 0,
                     "a creation the full folder cannot take: %ld %s", status, err ? err : "");
            SN_CHECK(msg && strstr(msg, "not created"), "the message says so: %s", msg ?: "");
            snprintf(refused, sizeof refused, "%s", id);
        }
        sn_free(&r);
        if (status != 201)
            break;
    }
    SN_CHECK(ncreated >= 1 && refused[0], "some created (%d), then one refused (%ld)", ncreated,
             status);
    char st[32];
    sn_vgpu_state(&n, refused, st, sizeof st);
    SN_CHECK(refused[0] && st[0] == '\0', "the refused vGPU is not listed (%s)", st);
    long long memory, promised;
    sn_device_memory(&n, &memory, &promised);
    SN_CHECK(promised == ncreated * 1048576LL, "promised %lld bytes for %d vGPUs", promised,
             ncreated);
    sn_stop(&n);
    if (sn_start(&n, "full2", state, NULL, 0) != 0) {
        SN_CHECK(0, "the node did not restart (log %s)", n.log);
        return;
    }
    for (int i = 0; i < ncreated; i++) {
        sn_vgpu_state(&n, created[i], st, sizeof st);
        SN_CHECK(strcmp(st, "live") == 0, "%s came back after the restart (%s)", created[i], st);
    }
    struct sn_resp all = sn_http(&n, "GET", "/api/v1/vgpus", NULL);
    SN_CHECK(json_array_size(json_object_get(all.json, "vgpus")) == (size_t)ncreated,
             "only the %d created came back", ncreated);
    sn_free(&all);
    sn_stop(&n);
}

static void delete_unsaved(void)
{
    char state[300], tmp[400], st[32];
    snprintf(state, sizeof state, "%s/del-state", work);
    struct sn_node n;
    if (sn_start(&n, "del", state, NULL, 0) != 0) {
        SN_CHECK(0, "the node did not start (log %s)", n.log);
        return;
    }
    SN_CHECK(sn_create(&n, "{\"id\":\"keep\",\"vram_bytes\":1048576}", NULL, 0) == 201, "made");
    snprintf(tmp, sizeof tmp, "%s/vgpus.json.tmp", state);
    SN_CHECK(mkdir(tmp, 0700) == 0, "mkdir %s", tmp);   /* the next save cannot write */
    struct sn_resp r = sn_http(&n, "DELETE", "/api/v1/vgpus/keep", NULL);
    const char *msg = json_string_value(json_object_get(r.json, "message"));
    SN_CHECK(r.status == 500 || r.status == 507, "unsaved delete refused: %ld", r.status);
    SN_CHECK(msg && strstr(msg, "not deleted"), "the message says so: %s", msg ? msg : "");
    sn_free(&r);
    sn_vgpu_state(&n, "keep", st, sizeof st);
    SN_CHECK(strcmp(st, "live") == 0, "the vGPU stays live (%s)", st);
    rmdir(tmp);
    r = sn_http(&n, "DELETE", "/api/v1/vgpus/keep", NULL);
    SN_CHECK(r.status == 204, "then the delete is made: %ld", r.status);
    sn_free(&r);
    sn_stop(&n);
    if (sn_start(&n, "del2", state, NULL, 0) == 0) {
        sn_vgpu_state(&n, "keep", st, sizeof st);
        SN_CHECK(st[0] == '\0', "a made delete stays made across a restart (%s)", st);
    }
    sn_stop(&n);
}

static void shared_folder(void)
{
    char state[300], want[64];
    snprintf(state, sizeof state, "%s/shared-state", work);
    struct sn_node a, b;
    if (sn_start(&a, "lock-a", state, NULL, 0) != 0) {
        SN_CHECK(0, "the first node did not start (log %s)", a.log);
        return;
    }
    int started = sn_start(&b, "lock-b", state, NULL, 0) == 0;
    int rc = started ? -1 : 0;
    if (started) {
        sn_stop(&b);
    }
    SN_CHECK(!started, "a second node on the same --state is refused");
    snprintf(want, sizeof want, "(pid %d)", (int)a.pid);
    SN_CHECK(sn_file_has(b.log, "in use by another node") && sn_file_has(b.log, want),
             "its error names the first node's pid %s (log %s)", want, b.log);
    (void)rc;
    struct sn_resp r = sn_http(&a, "GET", "/healthz", NULL);
    SN_CHECK(r.status == 200, "the first node carries on: %ld", r.status);
    sn_free(&r);
    sn_stop(&a);
    /* Once the first node is gone, the folder is free again. */
    if (sn_start(&b, "lock-c", state, NULL, 0) != 0)
        SN_CHECK(0, "a node starts on the released folder (log %s)", b.log);
    sn_stop(&b);
}

static void delete_frees(void)
{
    struct sn_node n;
    if (sn_start(&n, "free", NULL, NULL, 0) != 0) {
        SN_CHECK(0, "the node did not start (log %s)", n.log);
        return;
    }
    long long memory, promised;
    sn_device_memory(&n, &memory, &promised);
    char body[200], token[128], st[32];
    /* More than half the device: two of them never fit at once. */
    snprintf(body, sizeof body, "{\"id\":\"big\",\"vram_bytes\":%lld}", memory / 4 * 3);
    SN_CHECK(sn_create(&n, body, token, sizeof token) == 201, "created");
    char connect_flag[340];
    snprintf(connect_flag, sizeof connect_flag, "%s", n.listen);
    char *argv[] = {sn_tfuse, "run", "--connect", connect_flag, "--vgpu", token, "--",
                    (char *)prog_iso, "hold", "8388608", NULL};
    int out = -1;
    pid_t prog = sn_spawn(argv, &out);
    SN_CHECK(sn_wait_output(out, "held", 60), "the program holds memory on the vGPU");
    struct sn_resp r = sn_http(&n, "DELETE", "/api/v1/vgpus/big", NULL);
    long status = r.status;
    const char *state = json_string_value(json_object_get(r.json, "state"));
    fprintf(stderr, "  DELETE while held: %ld %s\n", status, state ? state : "");
    SN_CHECK(status == 204 || (status == 202 && state && strcmp(state, "deleting") == 0),
             "DELETE answers 204 or 202 deleting: %ld", status);
    sn_free(&r);
    if (status == 204) {
        sn_device_memory(&n, &memory, &promised);
        SN_CHECK(promised == 0, "204 means the memory is back: %lld still promised", promised);
    } else {
        double t0 = sn_now();
        do {
            sn_vgpu_state(&n, "big", st, sizeof st);
        } while (st[0] && sn_now() - t0 < 30 && (sn_sleep_ms(50), 1));
        SN_CHECK(st[0] == '\0', "GET answers 404 within 30 s (still %s)", st);
    }
    SN_CHECK(sn_create(&n, body, NULL, 0) == 201, "created again right after the signal");
    kill(prog, SIGKILL);
    waitpid(prog, NULL, 0);
    close(out);
    sn_stop(&n);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: state_persist BUILD_DIR PROG_ISO\n");
        return 2;
    }
    work = sn_init(argv[1]);
    prog_iso = argv[2];
    full_folder();
    delete_unsaved();
    shared_folder();
    delete_frees();
    fprintf(stderr, "%s (%d failure(s)); work folder %s\n", sn_failures ? "FAILED" : "passed",
            sn_failures, work);
    return sn_failures ? 1 : 0;
}
