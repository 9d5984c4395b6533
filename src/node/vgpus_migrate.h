/*
 * Migration of a vGPU's sessions to another device of the node (docs/freeze.md, "Migration"):
 * POST /api/v1/vgpus/{id}/migrate {"device": N}. The node writes the command into the entry
 * of each of the vGPU's sessions (src/worker/migrate.h's TFW_FZ_CMD_MIGRATE + N) and waits,
 * bounded, for every worker; the workers move their state (src/worker/migrate.c). All of the
 * vGPU's sessions move or none: one that fails has the others moved back.
 *
 * Owns: where each vGPU's sessions run when they migrated. May call: vgpus_freeze_int.h,
 * vgpus_int.h, sessions.h, src/worker/migrate.h's command words, jansson, log.h, libc.
 */
#ifndef TFUSE_NODE_VGPUS_MIGRATE_H
#define TFUSE_NODE_VGPUS_MIGRATE_H

#include <jansson.h>
#include <stdio.h>

#include "vgpus_freeze.h"

struct node_fz_target;

/* POST /api/v1/vgpus/{id}/migrate; body {"device": N}. An HTTP status and *reply. */
int node_migrate_request(struct node_freeze *f, const char *id, json_t *body, json_t **reply);
/* Adds "migration": {"device_index", "migrations_total"} to a vGPU's JSON once it migrated. */
void node_migrate_describe(struct node_freeze *f, json_t *vgpu);
/* The migration families of /metrics for the vGPUs g[0..n) (with freezing on):
 * tfuse_vgpu_migrations_total and tfuse_vgpu_running_device. */
void node_migrate_metrics(struct node_freeze *f, FILE *m, const struct node_fz_target *g, int n);

#endif
