/*
 * The plugin's plugstack.conf arguments (see slurm_args.h).
 * May call: src/cli/nodeapi.h, src/cli/ephemeral.h (the lease bound), libc.
 */
#include "slurm_args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ephemeral.h"
#include "httpc.h"
#include "nodeapi.h"

/* The first line of path, without its newline. */
static int read_token(const char *path, char *out, size_t len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "token_file=%s: %s", path, strerror(errno));
        return -1;
    }
    int ok = fgets(out, (int)len, f) != NULL;
    fclose(f);
    out[ok ? strcspn(out, "\r\n") : 0] = '\0';
    if (!out[0]) {
        snprintf(err, errlen, "token_file=%s: empty", path);
        return -1;
    }
    return 0;
}

static int set_value(struct slurm_args *a, const char *key, const char *val, char *err,
                     size_t errlen)
{
    char *end;
    if (strcmp(key, "api") == 0) {
        snprintf(a->api, sizeof a->api, "%s", val);
    } else if (strcmp(key, "stub_dir") == 0) {
        snprintf(a->stub_dir, sizeof a->stub_dir, "%s", val);
    } else if (strcmp(key, "ca_file") == 0) {
        snprintf(a->ca_file, sizeof a->ca_file, "%s", val);
        if (tf_http_set_ca_file(val, err, errlen) != 0)
            return -1;
    } else if (strcmp(key, "token_file") == 0) {
        if (read_token(val, a->token, sizeof a->token, err, errlen) != 0)
            return -1;
        nodeapi_set_token(a->token);
    } else if (strcmp(key, "lease") == 0) {
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < 3 || v > EPH_LEASE_MAX_S) {
            snprintf(err, errlen, "lease=%s: expected whole seconds from 3 to %d", val,
                     EPH_LEASE_MAX_S);
            return -1;
        }
        a->lease = (int)v;
    } else if (strcmp(key, "gres") == 0 && (!strcmp(val, "auto") || !strcmp(val, "off"))) {
        a->gres_auto = strcmp(val, "auto") == 0;
    } else {
        snprintf(err, errlen, "unknown argument '%s=%s' (api, token_file, ca_file, stub_dir, "
                 "lease, gres=auto|off)", key, val);
        return -1;
    }
    return 0;
}

int tfsl_args_parse(struct slurm_args *a, int argc, char **argv, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    snprintf(a->api, sizeof a->api, "%s", SLURM_ARGS_API_DEFAULT);
    snprintf(a->stub_dir, sizeof a->stub_dir, "%s", TFUSE_SLURM_STUB_DIR);
    a->lease = EPH_LEASE_DEFAULT_S;
    a->gres_auto = 1;
    for (int i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        char key[64];
        if (!eq || eq == argv[i] || (size_t)(eq - argv[i]) >= sizeof key || !eq[1]) {
            snprintf(err, errlen, "argument '%s': expected KEY=VALUE", argv[i]);
            return -1;
        }
        snprintf(key, sizeof key, "%.*s", (int)(eq - argv[i]), argv[i]);
        if (set_value(a, key, eq + 1, err, errlen) != 0)
            return -1;
    }
    return 0;
}
