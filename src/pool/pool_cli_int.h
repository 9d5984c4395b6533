/*
 * What `tfuse pool`'s command files share (pool_cli.c owns it): the client options every
 * operator command takes and the one HTTP call they make. pool_cli_auto.c (issue 14's
 * recommendations, modes, events and serve's autoscaling options) uses it. Calls nothing.
 */
#ifndef TFUSE_POOL_CLI_INT_H
#define TFUSE_POOL_CLI_INT_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "pool_svc.h"

struct client {
    const char *url;
    bool json;
    const char *token_file;            /* --token-file; else $TFUSE_POOL_TOKEN */
};

#define CLIENT_OPTS {"pool", required_argument, 0, 'P'}, {"json", no_argument, 0, 'J'}, \
                    {"token-file", required_argument, 0, 'F'}, \
                    {"ca-file", required_argument, 0, 'X'}

/* Says msg (and the usage) on stderr; returns 2. */
int pool_cli_usage(const char *msg);
int pool_cli_parse_size(const char *s, uint64_t *out);
/* Whether c was a client option (and takes it into cl). */
bool pool_cli_client_opt(int c, struct client *cl);
/* The answer's JSON (NULL after printing why it failed). */
json_t *pool_cli_call(const struct client *cl, const char *method, const char *path,
                      json_t *body, long *status);
/* Prints v (as JSON with --json, else with print) and frees it; 1 when v is NULL. */
/* A member of o as a number (0 when absent) or a string ("-" when absent). */
double pool_cli_num(json_t *o, const char *k);
const char *pool_cli_str(json_t *o, const char *k);
int pool_cli_finish_view(const struct client *cl, json_t *v, void (*print)(json_t *));

/* --ca-file: the CA that https answers are verified against (false: said why). */
bool pool_cli_set_ca_file(const char *path);
/* pool_cli_serve.c: `tfuse pool serve`; its exit status. */
int pool_cli_serve(int argc, char **argv);

/* pool_cli_auto.c: the commands recommendations, mode, events and autoscale (-1: cmd is not
 * one of them), and serve's options of the history and auto mode (long options numbered from
 * POOL_CLI_AUTO_OPT; -1: not one of them, 2: bad value, said). */
int pool_cli_auto_main(const char *cmd, int argc, char **argv);
#define POOL_CLI_AUTO_OPT 1000
#define POOL_CLI_AUTO_OPTS                                                                       \
    {"usage-period", required_argument, 0, POOL_CLI_AUTO_OPT},                                  \
        {"autoscale-period", required_argument, 0, POOL_CLI_AUTO_OPT + 1},                      \
        {"cooldown", required_argument, 0, POOL_CLI_AUTO_OPT + 2},                              \
        {"half-life", required_argument, 0, POOL_CLI_AUTO_OPT + 3},                             \
        {"reco-min-vram", required_argument, 0, POOL_CLI_AUTO_OPT + 4},                         \
        {"reco-max-vram", required_argument, 0, POOL_CLI_AUTO_OPT + 5},                         \
        {"test-clock", no_argument, 0, POOL_CLI_AUTO_OPT + 6},                                  \
        {"grow-cooldown", required_argument, 0, POOL_CLI_AUTO_OPT + 7},                         \
        {"auto-window", required_argument, 0, POOL_CLI_AUTO_OPT + 8},                           \
        {"auto-lookahead", required_argument, 0, POOL_CLI_AUTO_OPT + 9}
int pool_cli_auto_serve_opt(int c, const char *arg, struct pool_config *cfg);

/* pool_cli_plot.c: the command plot (-1: cmd is not plot), and serve's --history SPEC ("store",
 * NULL: the pool's store; "prometheus:URL": pool_promsrc.c) set on svc (0, or 2 said why). */
int pool_cli_plot_main(const char *cmd, int argc, char **argv);
int pool_cli_history_open(struct pool_svc *svc, const char *spec);

#endif
