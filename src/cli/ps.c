/*
 * `tfuse ps --node ADDR [--token T] [--json]`: one snapshot of a node (devices, vGPUs, sessions,
 * warm workers)
 * as tables, or as one JSON document. Also what ps and top share: fetching a snapshot from the
 * node API, argument parsing and error messages (view.h).
 * May call: nodeapi.c, view.c, jansson.
 */
#include "view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "nodeapi.h"

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* GET path and take the array field key out of it. Optional routes (a node older than them
 * answers 404) give JSON null; any other failure fails the snapshot. */
static int fetch_list(const char *addr, const char *path, const char *key, int optional,
                      json_t **out, char *err, size_t errlen)
{
    json_t *reply = NULL;
    int status = nodeapi_get(addr, path, &reply, err, errlen);
    if (status == 404 && optional) {
        *out = json_null();
        return 200;
    }
    if (status != 200)
        return status;
    json_t *list = json_object_get(reply, key);
    if (!json_is_array(list)) {
        snprintf(err, errlen, "GET %s at %s: no \"%s\" list in the answer", path, addr, key);
        json_decref(reply);
        return 502;
    }
    *out = json_incref(list);
    json_decref(reply);
    return 200;
}

/* GET /api/v1/sessions: its sessions (null from a node without the route) and its warm
 * workers (an empty list from a node older than them). */
static int fetch_sessions(const char *addr, json_t **sessions, json_t **warm, char *err,
                          size_t errlen)
{
    json_t *reply = NULL;
    int status = nodeapi_get(addr, "/api/v1/sessions", &reply, err, errlen);
    *sessions = NULL;
    *warm = NULL;
    if (status == 404) {
        *sessions = json_null();
        *warm = json_array();
        return 200;
    }
    if (status != 200)
        return status;
    json_t *list = json_object_get(reply, "sessions"), *w = json_object_get(reply, "warm");
    if (!json_is_array(list)) {
        snprintf(err, errlen, "GET /api/v1/sessions at %s: no \"sessions\" list in the answer",
                 addr);
        json_decref(reply);
        return 502;
    }
    *sessions = json_incref(list);
    *warm = json_is_array(w) ? json_incref(w) : json_array();
    json_decref(reply);
    return 200;
}

json_t *view_fetch(const char *addr, int *status, char *err, size_t errlen)
{
    json_t *devices = NULL, *vgpus = NULL, *sessions = NULL, *version = NULL, *warm = NULL;
    double t = wall_now();
    *status = fetch_list(addr, "/api/v1/devices", "devices", 0, &devices, err, errlen);
    if (*status == 200)
        *status = fetch_list(addr, "/api/v1/vgpus", "vgpus", 0, &vgpus, err, errlen);
    if (*status == 200)
        *status = fetch_sessions(addr, &sessions, &warm, err, errlen);
    if (*status == 200) {
        int vs = nodeapi_get(addr, "/api/v1/version", &version, err, errlen);
        if (vs != 200 && vs != 404) {
            *status = vs;
        } else if (vs == 404) {
            version = json_null();
        }
    }
    if (*status != 200) {
        json_decref(devices);
        json_decref(vgpus);
        json_decref(sessions);
        json_decref(warm);
        json_decref(version);
        return NULL;
    }
    return json_pack("{s:s, s:f, s:o, s:o, s:o, s:o, s:o}", "node", addr, "time_unix", t,
                     "version", version, "devices", devices, "vgpus", vgpus, "sessions", sessions,
                     "warm", warm);
}

static void usage(FILE *f, const char *cmd, int is_top)
{
    if (is_top)
        fprintf(f, "usage: tfuse top --node ADDR [--token T] [--ca-file F] [--interval S] "
                   "[--iterations N] [--json]\n"
                   "Refreshes the node's devices, vGPUs and sessions every S seconds (default 1)\n"
                   "in place on a terminal, as appended snapshots otherwise; --json prints one\n"
                   "JSON document per line per refresh. N refreshes, then exit (default: until\n"
                   "interrupted).\n");
    else
        fprintf(f, "usage: tfuse ps --node ADDR [--token T] [--ca-file F] [--json]\n"
                   "The node's devices, vGPUs and sessions, with usage against limits.\n");
    fprintf(f, "ADDR is the node's --api address (unix:PATH, tcp:HOST:PORT); $TFUSE_NODE_API is\n"
               "used when --node is not given. --token T (or $TFUSE_NODE_TOKEN): the node's API\n"
               "token, needed for remote calls to a node that has one. --ca-file FILE (or\n"
               "$TFUSE_CA_FILE): the CA an https:// node's certificate must chain to.\n");
    (void)cmd;
}

int view_parse_args(const char *cmd, int argc, char **argv, int is_top, struct view_args *a)
{
    memset(a, 0, sizeof *a);
    a->node = getenv("TFUSE_NODE_API");
    if (a->node && !*a->node)
        a->node = NULL;
    a->interval = 1.0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(f, "--help") == 0) {
            usage(stdout, cmd, is_top);
            return 1;
        } else if (strcmp(f, "--json") == 0) {
            a->json = 1;
        } else if (strcmp(f, "--node") == 0 && v) {
            a->node = argv[++i];
        } else if (strcmp(f, "--token") == 0 && v) {
            a->token = argv[++i];
        } else if (strcmp(f, "--ca-file") == 0 && v) {
            if (nodeapi_set_ca_file(cmd, argv[++i]) != 0)
                return 2;
        } else if (is_top && strcmp(f, "--interval") == 0 && v) {
            a->interval = strtod(argv[++i], &end);
            if (*end || !(a->interval >= 0.05 && a->interval <= 3600)) {
                fprintf(stderr, "%s: --interval takes seconds from 0.05 to 3600, not '%s'\n", cmd,
                        v);
                return 2;
            }
        } else if (is_top && strcmp(f, "--iterations") == 0 && v) {
            a->iterations = strtol(argv[++i], &end, 10);
            if (*end || a->iterations < 1) {
                fprintf(stderr, "%s: --iterations takes a count >= 1, not '%s'\n", cmd, v);
                return 2;
            }
        } else {
            fprintf(stderr, "%s: unexpected argument '%s'%s\n", cmd, f,
                    v || f[0] != '-' ? "" : " (or it needs a value)");
            usage(stderr, cmd, is_top);
            return 2;
        }
    }
    if (!a->node) {
        fprintf(stderr, "%s: need --node ADDR (the node's --api address)\n", cmd);
        return 2;
    }
    if (a->token)
        nodeapi_set_token(a->token);
    return 0;
}

int view_fetch_error(const char *cmd, const char *node, int status, const char *err)
{
    if (status == 0)
        fprintf(stderr, "%s: %s (is `tfuse node --api %s` running?)\n", cmd, err, node);
    else
        fprintf(stderr, "%s: %s\n", cmd, err);
    return 1;
}

int view_columns(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    int n = c ? atoi(c) : 0;
    return n > 20 ? n : 160;
}

int tfuse_ps_main(int argc, char **argv)
{
    struct view_args a;
    int rc = view_parse_args("tfuse ps", argc, argv, 0, &a);
    if (rc)
        return rc == 1 ? 0 : rc;
    char err[1024];
    int status;
    json_t *snap = view_fetch(a.node, &status, err, sizeof err);
    if (!snap)
        return view_fetch_error("tfuse ps", a.node, status, err);
    if (a.json) {
        char *text = json_dumps(snap, JSON_INDENT(2));
        if (text)
            printf("%s\n", text);
        free(text);
    } else {
        struct view_buf b = {0};
        view_render(snap, view_columns(), &b);
        fwrite(b.data, 1, b.len, stdout);
        view_buf_free(&b);
    }
    json_decref(snap);
    return fflush(stdout) == 0 ? 0 : 1;
}
