/*
 * The module image cache (issue 19, items 5 and 6), against a real `tfuse node --backend soft
 * --state DIR --module-cache-per-vgpu 5KiB --module-cache-max 8KiB` with two tenants' vGPUs:
 *   validated  an image the driver refuses is never written to the cache
 *   scoped     after tenant A loaded image X, tenant B asking for X by hash alone (a raw client
 *              speaking the session protocol) is told to send the bytes, exactly as for an
 *              image nobody loaded; tenant A's own second session is not (the check can fail)
 *   bounded    many distinct images loaded by both tenants: every scope stays within 5 KiB and
 *              the cache within 8 KiB, and the newest images are the ones kept
 *   swept      deleting a vGPU removes its scope
 *
 *   modcache_scope BUILD_DIR MODCACHE_PROG
 *
 * Owns: nothing. May call: state_node.h, src/transport (tf_connect, frames), src/proto (SHA-256,
 * call ids), libc; runs tfuse and modcache_prog.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto.h"
#include "state_node.h"
#include "transport.h"

#define IMAGE_BYTES 2048

static const char *work, *prog;
static char state[300], cache[320];
static struct sn_node node;

/* A valid PTX module of about IMAGE_BYTES (padded with a comment), distinct per n. */
static void write_ptx(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    fprintf(f, ".version 7.0\n.target sm_50\n.address_size 64\n\n"
               ".visible .entry kernel_%d()\n{\n\tret;\n}\n//", n);
    for (long pad = ftell(f); pad < IMAGE_BYTES - 1; pad++)
        fputc('x', f);
    fputc('\n', f);
    fclose(f);
}

static void hash_file(const char *path, uint8_t hash[32], uint64_t *size)
{
    static char buf[IMAGE_BYTES * 2];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';   /* the stub sends PTX with its NUL */
    tfp_sha256(buf, n + 1, hash);
    *size = n + 1;
}

/* Runs modcache_prog on the vGPU with this token over the files; 1 when every line it printed
 * starts with want ("ok" or "fail"). */
static int load(const char *token, char *const files[], int nfiles, const char *want)
{
    char *argv[40] = {sn_tfuse, "run", "--connect", node.listen, "--vgpu", (char *)token, "--",
                      (char *)prog};
    int a = 8;
    for (int i = 0; i < nfiles && a < 39; i++)
        argv[a++] = files[i];
    argv[a] = NULL;
    int out;
    pid_t pid = sn_spawn(argv, &out);
    char text[8192] = "";
    size_t len = 0;
    ssize_t k;
    while ((k = read(out, text + len, sizeof text - 1 - len)) > 0)
        len += (size_t)k;
    text[len] = '\0';
    close(out);
    int status = 0;
    waitpid(pid, &status, 0);
    int lines = 0, good = 1;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        lines++;
        if (strncmp(line, want, strlen(want)) != 0) {
            fprintf(stderr, "  unexpected: %s\n", line);
            good = 0;
        }
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 && lines == nfiles && good;
}

/* Bytes and files in one folder's *.img; the names of the files in names (space-separated). */
static long long folder_bytes(const char *dir, int *files, char *names, size_t len)
{
    long long total = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    if (names)
        names[0] = '\0';
    while (d && (de = readdir(d))) {
        char path[1024];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (strstr(de->d_name, ".img") && stat(path, &st) == 0) {
            total += st.st_size;
            (*files)++;
            if (names && strlen(names) + strlen(de->d_name) + 2 < len)
                strcat(strcat(names, de->d_name), " ");
        }
    }
    if (d)
        closedir(d);
    return total;
}

/* Over every scope: total bytes, the largest scope's bytes, the number of scopes. */
static long long cache_bytes(long long *largest, int *scopes, int *files)
{
    long long total = 0;
    *largest = 0;
    *scopes = *files = 0;
    DIR *d = opendir(cache);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' || de->d_type != DT_DIR)
            continue;
        char path[700];
        snprintf(path, sizeof path, "%s/%s", cache, de->d_name);
        long long b = folder_bytes(path, files, NULL, 0);
        total += b;
        *largest = b > *largest ? b : *largest;
        (*scopes)++;
    }
    if (d)
        closedir(d);
    return total;
}

/* Whether an image with this hash is cached in any scope. */
static int cached_anywhere(const uint8_t hash[32])
{
    char hex[65], names[8192];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    DIR *d = opendir(cache);
    struct dirent *de;
    int found = 0;
    while (d && (de = readdir(d))) {
        char path[700];
        int files = 0;
        snprintf(path, sizeof path, "%s/%s", cache, de->d_name);
        if (de->d_name[0] != '.' && de->d_type == DT_DIR) {
            folder_bytes(path, &files, names, sizeof names);
            found |= strstr(names, hex) != NULL;
        }
    }
    if (d)
        closedir(d);
    return found;
}

/* A raw session of the vGPU with this token asks for an image by hash alone. Returns the
 * status the worker answered (0 loaded, 1 send the bytes), or -(CUresult) on an error reply,
 * or -1000 when the session failed. */
static int ask_by_hash(const char *token, const uint8_t hash[32], uint64_t size)
{
    struct tf_client_opts o = {.token = token, .transport = TF_TRANSPORT_STREAM};
    struct tf_conn *c;
    char err[256];
    if (tf_connect(node.listen, &o, &c, err, sizeof err) != TF_OK) {
        fprintf(stderr, "  connect: %s\n", err);
        return -1000;
    }
    uint64_t info[2] = {0, tfp_table_hash()};
    uint8_t req[8 + 4 + 4 + 32 + 8] = {0};   /* context 0, module, hash only, hash, size */
    memcpy(req + 16, hash, 32);
    memcpy(req + 48, &size, 8);
    struct iovec iov[2] = {{info, sizeof info}, {req, sizeof req}};
    uint32_t calls[2] = {TFP_ID_tfi_session_info, TFP_ID_cuModuleLoadData};
    int answer = -1000;
    for (int i = 0; i < 2; i++) {
        struct tf_frame_header h;
        const void *p;
        if (tf_send(c, calls[i], 0, (uint64_t)i + 1, &iov[i], 1) != TF_OK ||
            tf_recv(c, &h, &p, 30000) != TF_OK || h.type != TFP_REPLY || h.length < 8)
            break;
        int32_t result;
        uint32_t printed, status = 0;
        memcpy(&result, p, 4);
        memcpy(&printed, (const char *)p + 4, 4);
        if (i == 0 && result != 0)
            break;
        if (i == 1 && result != 0)
            answer = -result;
        else if (i == 1 && h.length >= 12 + printed) {
            memcpy(&status, (const char *)p + 8 + printed, 4);
            answer = (int)status;
        }
    }
    tf_conn_close(c);
    return answer;
}

static void scoped_and_validated(const char *token_a, const char *token_b)
{
    char x[400], bad[400];
    snprintf(x, sizeof x, "%s/x.ptx", work);
    snprintf(bad, sizeof bad, "%s/bad.ptx", work);
    write_ptx(x, 1000);
    FILE *f = fopen(bad, "w");
    /* PTX to the stub (it sends it), nonsense to the driver. */
    fprintf(f, ".version 7.0\n.target sm_50\n.address_size 64\n\nthis is not { valid PTX\n");
    fclose(f);
    uint8_t hx[32], hbad[32];
    uint64_t sx, sbad;
    hash_file(x, hx, &sx);
    hash_file(bad, hbad, &sbad);
    char *files_bad[] = {bad};
    SN_CHECK(load(token_a, files_bad, 1, "fail"), "the driver refuses the bad image");
    SN_CHECK(!cached_anywhere(hbad), "a refused image is not cached");
    char *files_x[] = {x};
    SN_CHECK(load(token_a, files_x, 1, "ok"), "tenant A loads X");
    SN_CHECK(cached_anywhere(hx), "X is cached (for A)");
    int b = ask_by_hash(token_b, hx, sx);
    SN_CHECK(b == 1, "tenant B asking for X by hash alone must be told to send it (got %d)", b);
    int a = ask_by_hash(token_a, hx, sx);
    SN_CHECK(a != 1 && a != -1000, "tenant A's own session finds X in its scope (got %d)", a);
    SN_CHECK(load(token_b, files_x, 1, "ok"), "tenant B loads X with its bytes");
}

static void bounded(const char *token_a, const char *token_b)
{
    char paths[12][400];
    char *files[12];
    for (int i = 0; i < 12; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/img%d.ptx", work, i);
        write_ptx(paths[i], i);
        files[i] = paths[i];
    }
    SN_CHECK(load(token_a, files, 6, "ok"), "tenant A loads 6 images");
    SN_CHECK(load(token_b, files + 6, 6, "ok"), "tenant B loads 6 others");
    long long largest;
    int scopes, nfiles;
    long long total = cache_bytes(&largest, &scopes, &nfiles);
    fprintf(stderr, "  cache: %lld bytes in %d files, %d scopes, largest scope %lld\n", total,
            nfiles, scopes, largest);
    SN_CHECK(largest <= 5 * 1024, "a scope holds at most 5 KiB (%lld)", largest);
    SN_CHECK(total <= 8 * 1024, "the cache holds at most 8 KiB (%lld)", total);
    uint8_t h[32];
    uint64_t size;
    hash_file(paths[11], h, &size);
    SN_CHECK(nfiles > 0 && cached_anywhere(h), "the newest image is kept (LRU)");
    hash_file(paths[0], h, &size);
    SN_CHECK(!cached_anywhere(h), "the oldest was evicted");
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: modcache_scope BUILD_DIR MODCACHE_PROG\n");
        return 2;
    }
    work = sn_init(argv[1]);
    prog = argv[2];
    snprintf(state, sizeof state, "%s/state", work);
    snprintf(cache, sizeof cache, "%s/modules", state);
    const char *flags[] = {"--module-cache-per-vgpu", "5KiB", "--module-cache-max", "8KiB",
                           NULL};
    if (sn_start(&node, "node", state, flags, 0) != 0) {
        fprintf(stderr, "FAIL: the node did not start (log %s)\n", node.log);
        return 1;
    }
    char token_a[128], token_b[128];
    SN_CHECK(sn_create(&node, "{\"id\":\"a\",\"vram_bytes\":268435456}", token_a,
                       sizeof token_a) == 201, "tenant A's vGPU");
    SN_CHECK(sn_create(&node, "{\"id\":\"b\",\"vram_bytes\":268435456}", token_b,
                       sizeof token_b) == 201, "tenant B's vGPU");
    scoped_and_validated(token_a, token_b);
    bounded(token_a, token_b);
    long long largest;
    int before, after, files;
    cache_bytes(&largest, &before, &files);
    struct sn_resp r = sn_http(&node, "DELETE", "/api/v1/vgpus/b", NULL);
    SN_CHECK(r.status == 204 || r.status == 202, "delete b: %ld", r.status);
    sn_free(&r);
    cache_bytes(&largest, &after, &files);
    SN_CHECK(before == 2 && after == 1, "deleting a vGPU removes its scope (%d, then %d)", before,
             after);
    sn_stop(&node);
    fprintf(stderr, "%s (%d failure(s)); work folder %s\n", sn_failures ? "FAILED" : "passed",
            sn_failures, work);
    return sn_failures ? 1 : 0;
}
