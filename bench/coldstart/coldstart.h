/*
 * What bench_coldstart.c shares with coldstart_switch.c: a node of the benchmark's own (its
 * start, its vGPUs, HTTP to its API socket) and the clock.
 *
 * Owns: nothing. May call: jansson, libc.
 */
#ifndef TFUSE_BENCH_COLDSTART_H
#define TFUSE_BENCH_COLDSTART_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

struct node {
    pid_t pid;
    int warm;
    char dir[300], sock[340], api[340], log[340], connect[360], token[200];
};

extern char work[256];   /* this run's scratch folder */

double mono_s(void);
void sleep_ms(int ms);
int http(const struct node *n, const char *method, const char *path, const char *json,
         char *body, size_t cap);
json_t *get_json(const struct node *n, const char *path);
int node_launch(struct node *n, const char *name, int warm, const char *tfuse,
                const char *const *extra, const char *const *env);
int vgpu_create(const struct node *n, const char *id, long long bytes, char *token, size_t len);
void node_stop(struct node *n);
int warm_ready_count(const struct node *n, int *sessions);
void softgpu_segment_remove(const char *ns);

/* The model-switch figure (coldstart_switch.c): prints its rows and returns its JSON object
 * ("ok": false and "error" when it could not be measured). */
json_t *model_switch_measure(const char *build, const char *tfuse);
void model_switch_print(const json_t *o);

#endif
