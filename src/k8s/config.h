/*
 * The configuration every tfuse-k8s subcommand shares (struct k8s_config of k8s.h), from flags
 * and the environment: defaults first, then the environment (what a DaemonSet sets), then the
 * command line, which wins.
 * Owns: parsing, defaults and the help text of the shared options. Each subcommand parses its
 * own options from what k8s_config_parse leaves in argv. May call: libc.
 */
#ifndef TFUSE_K8S_CONFIG_H
#define TFUSE_K8S_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "k8s.h"

/* Defaults, then the environment:
 *   TFUSE_K8S_DRIVER, NODE_NAME, TFUSE_NODE_API, TFUSE_NODE_TOKEN_FILE, TFUSE_SESSION_ADDR,
 *   TFUSE_STUB_DIR, TFUSE_CDI_DIR, TFUSE_K8S_PLUGIN_DIR, TFUSE_K8S_REGISTRY_DIR,
 *   TFUSE_KUBE_API, TFUSE_KUBE_TOKEN_FILE, TFUSE_KUBE_CA_FILE. */
void k8s_config_init(struct k8s_config *cfg);

/*
 * Takes the shared options (--driver, --node-name, --node-api, --node-token-file,
 * --session-addr, --stub-dir, --cdi-dir, --plugin-dir, --registry-dir, --kube-api,
 * --kube-token-file, --kube-ca-file; "--opt VALUE" or "--opt=VALUE") out of argv, keeping the
 * others in order (argv[0] stays). Returns the new argc, or -1 with the reason in err (a
 * missing value, a value too long, a driver name that is not a DNS subdomain).
 */
int k8s_config_parse(struct k8s_config *cfg, int argc, char **argv, char *err, size_t errlen);

/* Checks what a subcommand that talks to the node needs: node_name and node_api set. */
int k8s_config_check_node(const struct k8s_config *cfg, char *err, size_t errlen);

/* The help lines of the shared options. */
void k8s_config_usage(FILE *f);

/* Reads a small secret file (a token): its first line, whitespace trimmed. -1 with err. */
int k8s_read_token(const char *path, char *out, size_t outlen, char *err, size_t errlen);

#endif
