/*
 * The state tests' node and HTTP helpers (see state_node.h).
 * Owns: nothing. May call: libcurl, jansson, libc.
 */
#include "state_node.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int sn_failures;
char sn_tfuse[512];
static char work[256];

double sn_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sn_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

const char *sn_init(const char *build_dir)
{
    snprintf(sn_tfuse, sizeof sn_tfuse, "%s/bin/tfuse", build_dir);
    snprintf(work, sizeof work, "/tmp/tfuse-sec-state-XXXXXX");
    if (!mkdtemp(work)) {
        perror("mkdtemp");
        exit(1);
    }
    curl_global_init(CURL_GLOBAL_ALL);
    signal(SIGPIPE, SIG_IGN);
    return work;
}

/* In the node's child: output through a pipe to a `cat` that writes the log (forked before the
 * file size limit, so the log is whole however small the limit). */
static void redirect_output(const char *log, pid_t *logger)
{
    int p[2];
    if (pipe(p) != 0)
        _exit(126);
    *logger = fork();
    if (*logger == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(p[0], 0);
        dup2(fd, 1);
        close(p[1]);
        execlp("cat", "cat", (char *)NULL);
        _exit(127);
    }
    dup2(p[1], 1);
    dup2(p[1], 2);
    close(p[0]);
    close(p[1]);
}

int sn_start(struct sn_node *n, const char *name, const char *state, const char *const *extra,
             long fsize)
{
    memset(n, 0, sizeof *n);
    snprintf(n->dir, sizeof n->dir, "%.200s/%.50s", work, name);
    mkdir(n->dir, 0700);
    snprintf(n->api, sizeof n->api, "%s/api.sock", n->dir);
    snprintf(n->listen, sizeof n->listen, "unix:%s/s.sock", n->dir);
    snprintf(n->log, sizeof n->log, "%s/node.log", n->dir);
    const char *argv[40] = {sn_tfuse, "node", "--backend", "soft", "--listen", n->listen};
    int a = 6;
    char api_flag[330];
    snprintf(api_flag, sizeof api_flag, "unix:%s", n->api);
    argv[a++] = "--api";
    argv[a++] = api_flag;
    if (state) {
        argv[a++] = "--state";
        argv[a++] = state;
    }
    for (int i = 0; extra && extra[i] && a < 38; i++)
        argv[a++] = extra[i];
    argv[a] = NULL;
    n->pid = fork();
    if (n->pid == 0) {
        pid_t logger = 0;
        redirect_output(n->log, &logger);
        if (fsize > 0) {   /* persist.c's test-only fault: a folder full past fsize bytes */
            char text[32];
            snprintf(text, sizeof text, "%ld", fsize);
            setenv("TFUSE_FAULT_STATE_MAX_BYTES", text, 1);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    for (double t0 = sn_now(); sn_now() - t0 < 60;) {
        struct sn_resp r = sn_http(n, "GET", "/healthz", NULL);
        sn_free(&r);
        if (r.status == 200)
            return 0;
        if (waitpid(n->pid, NULL, WNOHANG) == n->pid) {
            n->pid = 0;
            return -1;
        }
        sn_sleep_ms(100);
    }
    return -1;
}

int sn_wait_exit(struct sn_node *n, double seconds)
{
    int status = 0;
    for (double t0 = sn_now(); n->pid > 0 && sn_now() - t0 < seconds; sn_sleep_ms(50))
        if (waitpid(n->pid, &status, WNOHANG) == n->pid) {
            n->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
    return -1;
}

void sn_stop(struct sn_node *n)
{
    if (n->pid <= 0)
        return;
    kill(n->pid, SIGTERM);
    if (sn_wait_exit(n, 20) < 0) {
        kill(n->pid, SIGKILL);
        waitpid(n->pid, NULL, 0);
        n->pid = 0;
    }
}

struct buf {
    char *p;
    size_t len;
};

static size_t on_body(char *p, size_t sz, size_t k, void *arg)
{
    struct buf *b = arg;
    char *nb = realloc(b->p, b->len + sz * k + 1);
    if (!nb)
        return 0;
    memcpy(nb + b->len, p, sz * k);
    b->p = nb;
    b->len += sz * k;
    b->p[b->len] = '\0';
    return sz * k;
}

struct sn_resp sn_http(const struct sn_node *n, const char *method, const char *path,
                       const char *body)
{
    struct sn_resp r = {0};
    struct buf b = {0};
    char url[512];
    snprintf(url, sizeof url, "http://localhost%s", path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, n->api);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r.json = b.p ? json_loads(b.p, 0, NULL) : NULL;
    free(b.p);
    return r;
}

void sn_free(struct sn_resp *r)
{
    json_decref(r->json);
    r->json = NULL;
}

long sn_create(const struct sn_node *n, const char *body, char *token, size_t len)
{
    struct sn_resp r = sn_http(n, "POST", "/api/v1/vgpus", body);
    const char *t = json_string_value(json_object_get(r.json, "token"));
    if (token)
        snprintf(token, len, "%s", r.status == 201 && t ? t : "");
    if (r.status != 201)
        fprintf(stderr, "  create %s: %ld %s\n", body, r.status,
                json_string_value(json_object_get(r.json, "message")) ?: "");
    long status = r.status;
    sn_free(&r);
    return status;
}

void sn_vgpu_state(const struct sn_node *n, const char *id, char *out, size_t len)
{
    char path[300];
    snprintf(path, sizeof path, "/api/v1/vgpus/%s", id);
    struct sn_resp r = sn_http(n, "GET", path, NULL);
    const char *st = json_string_value(json_object_get(r.json, "state"));
    snprintf(out, len, "%s", r.status == 200 && st ? st : r.status == 404 ? "" : "?");
    sn_free(&r);
}

void sn_device_memory(const struct sn_node *n, long long *memory, long long *promised)
{
    struct sn_resp r = sn_http(n, "GET", "/api/v1/devices", NULL);
    json_t *d = json_array_get(json_object_get(r.json, "devices"), 0);
    *memory = json_integer_value(json_object_get(d, "memory_bytes"));
    *promised = json_integer_value(json_object_get(d, "memory_limit_sum"));
    sn_free(&r);
}

int sn_file_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    static char content[1 << 20];
    size_t k = fread(content, 1, sizeof content - 1, f);
    content[k] = '\0';
    fclose(f);
    return strstr(content, text) != NULL;
}

pid_t sn_spawn(char *const argv[], int *out)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);   /* its own group: a kill of the test's group leaves it alone */
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    *out = p[0];
    return pid;
}

int sn_wait_output(int fd, const char *want, double seconds)
{
    char seen[8192] = "";
    size_t len = 0;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    for (double t0 = sn_now(); sn_now() - t0 < seconds; sn_sleep_ms(20)) {
        ssize_t k = read(fd, seen + len, sizeof seen - 1 - len);
        if (k > 0) {
            len += (size_t)k;
            seen[len] = '\0';
            if (strstr(seen, want))
                return 1;
        } else if (k == 0) {
            return 0;
        }
    }
    return 0;
}
