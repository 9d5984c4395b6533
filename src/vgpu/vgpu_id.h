/*
 * The one rule for vGPU ids, applied wherever an id enters the system: the node's API (a
 * create's "id"), the pool (the id a node answers with) and the CLI (`--id`). An id names a
 * vGPU in URL paths, log lines, Prometheus labels and the state file, so it is plain ASCII that
 * needs no escaping anywhere: [A-Za-z0-9][A-Za-z0-9_.-]*, 1 to VGPU_ID_LEN_MAX characters.
 * Ids that an older version accepted (and saved) are not re-checked when the state is loaded,
 * so such a vGPU still comes back and can still be deleted.
 *
 * Owns: the id rule and its message. May call: libc.
 */
#ifndef TFUSE_VGPU_ID_H
#define TFUSE_VGPU_ID_H

#include <stddef.h>

#define VGPU_ID_LEN_MAX 63                  /* characters, without the NUL */
#define VGPU_ID_RULE "1-63 characters of [A-Za-z0-9_.-], starting with a letter or a digit"

/* 0 when id follows the rule; else -1 with a message for a human in err (naming what is wrong:
 * empty, too long, the first bad character and its position). id NULL counts as empty. */
int vgpu_id_check(const char *id, char *err, size_t errlen);

#endif
