/*
 * The shared configuration of tfuse-k8s (see config.h): a table of options, each with its flag,
 * its environment variable, its default and the field of struct k8s_config it fills.
 * May call: libc.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIELD(f) offsetof(struct k8s_config, f), sizeof(((struct k8s_config *)0)->f)

struct opt {
    const char *flag, *env, *def;
    size_t off, size;
    const char *help;
};

static const struct opt opts[] = {
    {"driver", "TFUSE_K8S_DRIVER", K8S_DRIVER_NAME_DEFAULT, FIELD(driver),
     "DRA driver name (a DNS subdomain, at most 63 characters)"},
    {"node-name", "NODE_NAME", NULL, FIELD(node_name),
     "this Kubernetes node's name (default the host name)"},
    {"node-api", "TFUSE_NODE_API", "unix:/run/tfuse/api.sock", FIELD(node_api),
     "the TensorFuse node's API: unix:PATH, tcp:HOST:PORT or http(s)://HOST:PORT"},
    {"node-token-file", "TFUSE_NODE_TOKEN_FILE", "", FIELD(node_token_file),
     "file holding the node API's bearer token (a tcp API with --api-token)"},
    {"session-addr", "TFUSE_SESSION_ADDR", "", FIELD(session_addr),
     "address programs in containers dial (TFUSE_CONNECT; default the node's own)"},
    {"stub-dir", "TFUSE_STUB_DIR", "/opt/tensorfuse/lib", FIELD(stub_dir),
     "host folder with TensorFuse's libcuda.so.1 and libnvidia-ml.so.1"},
    {"cdi-dir", "TFUSE_CDI_DIR", "/var/run/cdi", FIELD(cdi_dir), "where CDI specs are written"},
    {"plugin-dir", "TFUSE_K8S_PLUGIN_DIR", "", FIELD(plugin_dir),
     "kubelet plugin folder (default /var/lib/kubelet/plugins/DRIVER)"},
    {"registry-dir", "TFUSE_K8S_REGISTRY_DIR", "/var/lib/kubelet/plugins_registry",
     FIELD(registry_dir), "the kubelet's plugin registry folder"},
    {"kube-api", "TFUSE_KUBE_API", "", FIELD(kube_api),
     "API server URL (default in-cluster: $KUBERNETES_SERVICE_HOST:_PORT)"},
    {"kube-token-file", "TFUSE_KUBE_TOKEN_FILE",
     "/var/run/secrets/kubernetes.io/serviceaccount/token", FIELD(kube_token_file),
     "service-account token (re-read before each request: tokens rotate)"},
    {"kube-ca-file", "TFUSE_KUBE_CA_FILE", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
     FIELD(kube_ca_file), "CA bundle the API server's certificate is checked against"},
};
#define NOPTS (sizeof opts / sizeof opts[0])

static int set_field(struct k8s_config *cfg, const struct opt *o, const char *value, char *err,
                     size_t errlen)
{
    char *dst = (char *)cfg + o->off;
    if (strlen(value) >= o->size) {
        snprintf(err, errlen, "--%s: the value is %zu characters long; at most %zu", o->flag,
                 strlen(value), o->size - 1);
        return -1;
    }
    memcpy(dst, value, strlen(value) + 1);
    return 0;
}

void k8s_config_init(struct k8s_config *cfg)
{
    char err[128];
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NOPTS; i++) {
        const char *env = getenv(opts[i].env);
        const char *v = env && *env ? env : opts[i].def;
        if (v && set_field(cfg, &opts[i], v, err, sizeof err) != 0 && opts[i].def)
            set_field(cfg, &opts[i], opts[i].def, err, sizeof err);   /* env too long */
    }
    if (!cfg->node_name[0] && gethostname(cfg->node_name, sizeof cfg->node_name - 1) != 0)
        cfg->node_name[0] = '\0';
}

/* A DNS subdomain (RFC 1123) of at most 63 characters: what ResourceSlice.spec.driver takes. */
static int driver_ok(const char *d)
{
    size_t n = strlen(d);
    if (n == 0 || n > 63 || !isalnum((unsigned char)d[0]) || !isalnum((unsigned char)d[n - 1]))
        return 0;
    for (const char *p = d; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' ||
              *p == '.') || (*p == '.' && (p[1] == '.' || p[1] == '-' || p[-1] == '-')))
            return 0;
    return 1;
}

static const struct opt *find_opt(const char *arg, const char **inline_value)
{
    if (strncmp(arg, "--", 2) != 0)
        return NULL;
    arg += 2;
    for (size_t i = 0; i < NOPTS; i++) {
        size_t n = strlen(opts[i].flag);
        if (strncmp(arg, opts[i].flag, n) == 0 && (arg[n] == '\0' || arg[n] == '=')) {
            *inline_value = arg[n] == '=' ? arg + n + 1 : NULL;
            return &opts[i];
        }
    }
    return NULL;
}

int k8s_config_parse(struct k8s_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    int out = 1;
    for (int i = 1; i < argc; i++) {
        const char *value;
        const struct opt *o = find_opt(argv[i], &value);
        if (!strcmp(argv[i], "--")) {   /* the rest belongs to the subcommand */
            while (i < argc)
                argv[out++] = argv[i++];
            break;
        }
        if (!o) {
            argv[out++] = argv[i];
            continue;
        }
        if (!value && i + 1 >= argc) {
            snprintf(err, errlen, "--%s needs a value", o->flag);
            return -1;
        }
        if (set_field(cfg, o, value ? value : argv[++i], err, errlen) != 0)
            return -1;
    }
    argv[out] = NULL;
    if (!driver_ok(cfg->driver)) {
        snprintf(err, errlen, "the driver name '%s' is not a DNS subdomain of at most 63 "
                              "characters (like %s)", cfg->driver, K8S_DRIVER_NAME_DEFAULT);
        return -1;
    }
    if (!cfg->plugin_dir[0])
        snprintf(cfg->plugin_dir, sizeof cfg->plugin_dir, "/var/lib/kubelet/plugins/%s",
                 cfg->driver);
    return out;
}

int k8s_config_check_node(const struct k8s_config *cfg, char *err, size_t errlen)
{
    if (!cfg->node_name[0]) {
        snprintf(err, errlen, "no node name: pass --node-name or set NODE_NAME (the DaemonSet "
                              "sets it from spec.nodeName)");
        return -1;
    }
    if (!cfg->node_api[0]) {
        snprintf(err, errlen, "no node API: pass --node-api or set TFUSE_NODE_API");
        return -1;
    }
    return 0;
}

void k8s_config_usage(FILE *f)
{
    fprintf(f, "shared options (flag, else environment, else default):\n");
    for (size_t i = 0; i < NOPTS; i++)
        fprintf(f, "  --%-17s %s\n  %-19s ($%s%s%s)\n", opts[i].flag, opts[i].help, "",
                opts[i].env, opts[i].def && *opts[i].def ? "; " : "",
                opts[i].def ? opts[i].def : "");
}

int k8s_read_token(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = fread(out, 1, outlen, f);
    int full = n == outlen && fgetc(f) != EOF;
    fclose(f);
    if (full || n == outlen) {
        snprintf(err, errlen, "%s: the token is longer than %zu bytes", path, outlen - 1);
        return -1;
    }
    out[n] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
    size_t len = strlen(out);
    while (len && isspace((unsigned char)out[len - 1]))
        out[--len] = '\0';
    if (!len) {
        snprintf(err, errlen, "%s holds no token", path);
        return -1;
    }
    return 0;
}
