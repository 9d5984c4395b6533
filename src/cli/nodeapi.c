/*
 * The node API client and `tfuse vgpu create|list|resize|delete` (see nodeapi.h).
 * May call: src/common/httpc.h, jansson, src/vgpu (parsing and formatting of quantities, the
 * vGPU id rule).
 */
#include "nodeapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "httpc.h"
#include "vgpu_id.h"
#include "vgpu_parse.h"

static const char *api_token;
static int api_token_set;

void nodeapi_set_token(const char *token)
{
    api_token = token;
    api_token_set = 1;
}

int nodeapi_set_ca_file(const char *cmd, const char *path)
{
    char err[512];
    if (tf_http_set_ca_file(path, err, sizeof err) != 0) {
        fprintf(stderr, "%s: --ca-file: %s\n", cmd, err);
        return -1;
    }
    setenv("TFUSE_CA_FILE", path, 1);
    return 0;
}

void nodeapi_vgpu_path(char *out, size_t len, const char *id)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = (size_t)snprintf(out, len, "/api/v1/vgpus/");
    for (const unsigned char *p = (const unsigned char *)id; *p && o + 4 <= len; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-';
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o < len ? o : len - 1] = '\0';
}

int nodeapi_call(const char *addr, const char *method, const char *path, json_t *body,
                 json_t **reply, char *err, size_t errlen)
{
    char url[1024];
    const char *sock;
    *reply = NULL;
    if (tf_http_api_url(addr, path, url, sizeof url, &sock, err, errlen) != 0)
        return 0;
    struct tf_http_opts o = {
        .bearer = api_token_set ? api_token : getenv("TFUSE_NODE_TOKEN"),
        .unix_socket = sock,
    };
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct tf_http_response r;
    char why[256];
    int rc = tf_http_request(method, url, text, 30000, &o, &r, why, sizeof why);
    free(text);
    if (rc != 0) {
        snprintf(err, errlen, "cannot reach the node API at %s: %s", addr, why);
        return 0;
    }
    if (r.len)
        *reply = json_loadb(r.body, r.len, 0, NULL);
    free(r.body);
    return (int)r.status;
}

int nodeapi_get(const char *addr, const char *path, json_t **reply, char *err, size_t errlen)
{
    int status = nodeapi_call(addr, "GET", path, NULL, reply, err, errlen);
    if (status == 0)
        return 0;
    if (status == 200 && json_is_object(*reply))
        return 200;
    if (status == 401)
        snprintf(err, errlen, "the node at %s refused the API token (401): pass --token or set "
                              "TFUSE_NODE_TOKEN", addr);
    else if (status == 200)
        snprintf(err, errlen, "GET %s at %s: the answer is not a JSON object", path, addr);
    else
        snprintf(err, errlen, "GET %s at %s: HTTP %d: %s", path, addr, status,
                 nodeapi_message(*reply, "no message"));
    json_decref(*reply);
    *reply = NULL;
    return status == 200 ? 502 : status;
}

int nodeapi_wait_gone(const char *addr, const char *path, double seconds)
{
    for (double waited = 0;; waited += 0.1) {
        char err[512];
        json_t *reply = NULL;
        int status = nodeapi_call(addr, "GET", path, NULL, &reply, err, sizeof err);
        json_decref(reply);
        if (status == 404)
            return 1;
        if (waited >= seconds)
            return 0;
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
}

const char *nodeapi_message(json_t *reply, const char *fallback)
{
    json_t *m = json_object_get(reply, "message");
    return json_is_string(m) ? json_string_value(m) : fallback;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tfuse vgpu create --node ADDR --vram SIZE [--compute PCT|TFLOPs]\n"
               "                         [--compute-limit PCT|TFLOPs] [--qos CLASS] [--id ID]\n"
               "                         [--device UUID] [--json]\n"
               "       tfuse vgpu list --node ADDR [--json]\n"
               "       tfuse vgpu delete --node ADDR [--json] ID\n"
               "       tfuse vgpu resize --node ADDR ID [--memory SIZE] [--compute PCT|TFLOPs|\n"
               "                         unlimited] [--compute-limit PCT|TFLOPs] [--qos CLASS]\n"
               "                         [--json]   (live: running programs see it at once)\n"
               "       tfuse vgpu freeze --node ADDR ID [--to host|disk] [--json]\n"
               "       tfuse vgpu resume --node ADDR ID [--json]   (docs/freeze.md)\n"
               "       tfuse vgpu migrate --node ADDR ID --device N [--json]   (to device\n"
               "                         index N of the same node; docs/freeze.md)\n"
               "ADDR is the node's --api address (unix:PATH, tcp:HOST:PORT); $TFUSE_NODE_API\n"
               "is used when --node is not given. --token T (or $TFUSE_NODE_TOKEN) is the\n"
               "node's API token, needed for remote (tcp) calls to a node that has one.\n"
               "--ca-file FILE (or $TFUSE_CA_FILE): the CA an https:// node's certificate\n"
               "must chain to (default: the system store).\n");
}

static void print_vgpu(json_t *v)
{
    char size[64];
    vgpu_format_size((uint64_t)json_integer_value(json_object_get(v, "vram_bytes")), size,
                     sizeof size);
    json_t *req = json_object_get(v, "compute_request_pct");
    json_t *lim = json_object_get(v, "compute_limit_pct");
    char compute[64] = "unlimited";
    if (json_is_number(req))
        snprintf(compute, sizeof compute, "%.2f%%..%.2f%%", json_number_value(req),
                 json_number_value(lim));
    int frozen = json_is_true(json_object_get(json_object_get(v, "freeze"), "frozen"));
    printf("%-16s %-8s %10s %12lld %-16s %-8s %s\n", json_string_value(json_object_get(v, "id")),
           frozen ? "frozen" : json_string_value(json_object_get(v, "state")), size,
           (long long)json_integer_value(json_object_get(v, "used_bytes")), compute,
           json_string_value(json_object_get(v, "qos")),
           json_string_value(json_object_get(v, "device")));
}

/* `tfuse vgpu freeze|resume`: what moved, and how long it took. */
static void print_frozen(const char *cmd, json_t *reply)
{
    json_t *fz = json_object_get(reply, "freeze");
    const char *to = json_string_value(json_object_get(fz, "frozen_to"));
    printf("%s %s: %zu session(s) in %.1f ms; %lld bytes off the device%s%s\n",
           cmd[0] == 'f' ? "froze" : "resumed", json_string_value(json_object_get(reply, "id")),
           json_array_size(json_object_get(reply, "sessions")),
           json_number_value(json_object_get(reply, "took_ms")),
           (long long)json_integer_value(json_object_get(fz, "frozen_bytes")), to ? ", in " : "",
           to ? (strcmp(to, "disk") == 0 ? "files on disk" : "host memory") : "");
}

/* `tfuse vgpu migrate`: where its sessions went, and how long they were paused. */
static void print_migrated(json_t *reply)
{
    printf("migrated %s: device %lld -> %lld, %zu session(s), %lld bytes in %.1f ms\n",
           json_string_value(json_object_get(reply, "id")),
           (long long)json_integer_value(json_object_get(reply, "from_device")),
           (long long)json_integer_value(json_object_get(reply, "device")),
           json_array_size(json_object_get(reply, "sessions")),
           (long long)json_integer_value(json_object_get(reply, "moved_bytes")),
           json_number_value(json_object_get(reply, "took_ms")));
}

/* Adds --compute/--compute-limit as strings: the node converts TFLOPs with its device rating. */
static int build_create(json_t *body, const char *vram, const char *compute, const char *limit,
                        const char *qos, const char *id, const char *device)
{
    char err[256];
    uint64_t bytes;
    if (!vram || vgpu_parse_size(vram, &bytes, err, sizeof err) != 0) {
        fprintf(stderr, "tfuse: --vram: %s\n", vram ? err : "required (e.g. --vram 2GiB)");
        return -1;
    }
    if (qos && vgpu_qos_parse(qos) < 0) {
        fprintf(stderr, "tfuse: --qos must be low, medium, high or critical\n");
        return -1;
    }
    json_object_set_new(body, "vram_bytes", json_integer((json_int_t)bytes));
    if (compute)
        json_object_set_new(body, "compute_request", json_string(compute));
    if (limit)
        json_object_set_new(body, "compute_limit", json_string(limit));
    if (limit && !compute) {
        fprintf(stderr, "tfuse: --compute-limit needs --compute (the request)\n");
        return -1;
    }
    if (qos)
        json_object_set_new(body, "qos", json_string(qos));
    char why[200];
    if (id && vgpu_id_check(id, why, sizeof why) != 0) {
        fprintf(stderr, "tfuse: --id: %s\n", why);
        return -1;
    }
    if (id)
        json_object_set_new(body, "id", json_string(id));
    if (device)
        json_object_set_new(body, "device", json_string(device));
    return 0;
}

/* The PATCH body of `tfuse vgpu resize`: only what was given changes. */
static int build_resize(json_t *body, const char *vram, const char *compute, const char *limit,
                        const char *qos)
{
    char err[256];
    uint64_t bytes;
    if (vram && vgpu_parse_size(vram, &bytes, err, sizeof err) != 0) {
        fprintf(stderr, "tfuse: --memory: %s\n", err);
        return -1;
    }
    if (qos && vgpu_qos_parse(qos) < 0) {
        fprintf(stderr, "tfuse: --qos must be low, medium, high or critical\n");
        return -1;
    }
    if (vram)
        json_object_set_new(body, "vram_bytes", json_integer((json_int_t)bytes));
    if (compute)
        json_object_set_new(body, "compute_request", strcmp(compute, "unlimited") == 0
                                                         ? json_null() : json_string(compute));
    if (limit)
        json_object_set_new(body, "compute_limit", json_string(limit));
    if (qos)
        json_object_set_new(body, "qos", json_string(qos));
    if (json_object_size(body) == 0) {
        fprintf(stderr, "tfuse vgpu resize: nothing to change: give --memory, --compute, "
                "--compute-limit or --qos\n");
        return -1;
    }
    return 0;
}

static void print_resized(json_t *reply)
{
    json_t *was = json_object_get(reply, "previous");
    char from[32], to[32];
    vgpu_format_size((uint64_t)json_integer_value(json_object_get(was, "vram_bytes")), from,
                     sizeof from);
    vgpu_format_size((uint64_t)json_integer_value(json_object_get(reply, "vram_bytes")), to,
                     sizeof to);
    printf("resized %s: memory %s -> %s (%lld bytes in use), qos %s -> %s\n",
           json_string_value(json_object_get(reply, "id")), from, to,
           (long long)json_integer_value(json_object_get(reply, "used_bytes")),
           json_string_value(json_object_get(was, "qos")),
           json_string_value(json_object_get(reply, "qos")));
}

int tfuse_vgpu_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1], *node = getenv("TFUSE_NODE_API"), *vram = NULL, *compute = NULL,
               *limit = NULL, *qos = NULL, *id = NULL, *device = NULL, *target = NULL,
               *token = NULL, *ca_file = NULL, *to = NULL;
    int as_json = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = strcmp(a, "--node") == 0 ? &node
                            : strcmp(a, "--vram") == 0 || strcmp(a, "--memory") == 0 ? &vram
                            : strcmp(a, "--compute") == 0 ? &compute
                            : strcmp(a, "--compute-limit") == 0 ? &limit
                            : strcmp(a, "--qos") == 0 ? &qos
                            : strcmp(a, "--id") == 0 ? &id
                            : strcmp(a, "--device") == 0 ? &device
                            : strcmp(a, "--token") == 0 ? &token
                            : strcmp(a, "--to") == 0 ? &to
                            : strcmp(a, "--ca-file") == 0 ? &ca_file : NULL;
        if (slot && v) {
            *slot = v;
            i++;
        } else if (strcmp(a, "--json") == 0) {
            as_json = 1;
        } else if (a[0] != '-' && !target) {
            target = a;
        } else {
            fprintf(stderr, "tfuse vgpu: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!node) {
        fprintf(stderr, "tfuse vgpu: need --node ADDR (the node's --api address)\n");
        return 2;
    }
    if (token)
        nodeapi_set_token(token);
    if (ca_file && nodeapi_set_ca_file("tfuse vgpu", ca_file) != 0)
        return 2;
    json_t *body = NULL, *reply = NULL;
    char path[512], err[512];
    const char *method;
    int want;
    if (strcmp(cmd, "create") == 0 && !target) {
        body = json_object();
        if (build_create(body, vram, compute, limit, qos, id, device) != 0) {
            json_decref(body);
            return 2;
        }
        method = "POST", want = 201;
        snprintf(path, sizeof path, "/api/v1/vgpus");
    } else if (strcmp(cmd, "list") == 0 && !target) {
        method = "GET", want = 200;
        snprintf(path, sizeof path, "/api/v1/vgpus");
    } else if (strcmp(cmd, "resize") == 0 && target) {
        body = json_object();
        if (build_resize(body, vram, compute, limit, qos) != 0) {
            json_decref(body);
            return 2;
        }
        method = "PATCH", want = 200;
        nodeapi_vgpu_path(path, sizeof path, target);
    } else if (strcmp(cmd, "delete") == 0 && target) {
        method = "DELETE", want = 204;
        nodeapi_vgpu_path(path, sizeof path, target);
    } else if ((strcmp(cmd, "freeze") == 0 || strcmp(cmd, "resume") == 0) && target &&
               (!to || cmd[0] == 'f')) {
        body = to ? json_pack("{s:s}", "to", to) : NULL;
        method = "POST", want = 200;
        nodeapi_vgpu_path(path, sizeof path, target);
        strncat(path, cmd[0] == 'f' ? "/freeze" : "/resume", sizeof path - strlen(path) - 1);
    } else if (strcmp(cmd, "migrate") == 0 && target && device) {
        char *end = NULL;
        long n = strtol(device, &end, 10);
        if (!*device || *end || n < 0 || n > 4095) {
            fprintf(stderr, "tfuse vgpu migrate: --device is a device index (0, 1, ...), not "
                    "'%s'\n", device);
            return 2;
        }
        body = json_pack("{s:i}", "device", (int)n);
        method = "POST", want = 200;
        nodeapi_vgpu_path(path, sizeof path, target);
        strncat(path, "/migrate", sizeof path - strlen(path) - 1);
    } else {
        usage(stderr);
        return 2;
    }
    int status = nodeapi_call(node, method, path, body, &reply, err, sizeof err);
    json_decref(body);
    if (status == 202 && want == 204 && !nodeapi_wait_gone(node, path, NODEAPI_DELETE_WAIT_S)) {
        fprintf(stderr, "tfuse vgpu delete: %s is deleted but its sessions still hold it after "
                "%d s; its memory comes back when they end\n", target, NODEAPI_DELETE_WAIT_S);
        json_decref(reply);
        return 1;
    }
    if (status == 202 && want == 204)
        status = 204;   /* gone now: its memory is back */
    if (status == 0 || (status != want && !(want == 201 && status == 200))) {
        fprintf(stderr, "tfuse vgpu %s: %s\n", cmd,
                status == 401 ? "the node refused the API token (401): pass --token or set "
                                "TFUSE_NODE_TOKEN"
                : status      ? nodeapi_message(reply, "the node refused")
                              : err);
        json_decref(reply);
        return 1;
    }
    if (as_json && reply) {
        char *text = json_dumps(reply, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
    } else if (strcmp(cmd, "create") == 0) {
        printf("id %s\ntoken %s\nconnect %s\n",
               json_string_value(json_object_get(reply, "id")),
               json_string_value(json_object_get(reply, "token")),
               json_string_value(json_object_get(reply, "connect")));
    } else if (strcmp(cmd, "list") == 0) {
        printf("%-16s %-8s %10s %12s %-16s %-8s %s\n", "ID", "STATE", "VRAM", "USED", "COMPUTE",
               "QOS", "DEVICE");
        json_t *arr = json_object_get(reply, "vgpus"), *v;
        size_t i;
        json_array_foreach(arr, i, v)
            print_vgpu(v);
    } else if (strcmp(cmd, "resize") == 0) {
        print_resized(reply);
    } else if (strcmp(cmd, "freeze") == 0 || strcmp(cmd, "resume") == 0) {
        print_frozen(cmd, reply);
    } else if (strcmp(cmd, "migrate") == 0) {
        print_migrated(reply);
    } else if (!as_json) {
        printf("deleted %s\n", target);
    }
    json_decref(reply);
    return 0;
}
