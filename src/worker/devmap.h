/*
 * The session's device numbering: a session holding vGPUs sees exactly the devices of its vGPUs,
 * as devices 0..N-1 in the order of its tokens, whatever their ordinals on the node. Every
 * backend entry that names a device ordinal (or reports one) is interposed on the session's
 * backend table and translated; an ordinal past N is CUDA_ERROR_INVALID_DEVICE.
 *
 * Installed above the enforcement wrappers (enforce.h), which therefore see the backend's
 * ordinals. A session without vGPUs (allow-unlimited) has no map and sees the whole node.
 *
 * Owns: the session ordinal <-> backend ordinal translation. May call: enforce.h (the vGPUs'
 * devices), the backend table (the saved entries).
 */
#ifndef TFUSE_WORKER_DEVMAP_H
#define TFUSE_WORKER_DEVMAP_H

#include <stddef.h>

#include "backend.h"

struct tfw_session;

/* After tfw_limits_attach: installs the translation for the session's vGPUs' devices (none:
 * nothing to do). Returns 0, or -1 with a message in err. */
int tfw_devmap_install(struct tfw_session *s, char *err, size_t errlen);

/* The backend's ordinal of the session's device dev (the same ordinal without a map), or
 * CUDA_ERROR_INVALID_DEVICE. For the calls that reach the backend outside its table. */
CUresult tfw_devmap_to_backend(const struct tfw_session *s, CUdevice dev, CUdevice *out);
/* The session's ordinal of a backend ordinal (unchanged without a map); INVALID_DEVICE for a
 * device the session does not hold. */
CUresult tfw_devmap_to_session(const struct tfw_session *s, CUdevice *dev);
/* A location in the backend's numbering: device ids translated, other kinds as they are. */
CUresult tfw_devmap_location(const struct tfw_session *s, CUmemLocation *loc);

/* Migration (migrate.c): the session's device i is backend device `to` from now on. */
void tfw_devmap_move(struct tfw_session *s, int i, CUdevice to);

void tfw_devmap_end(struct tfw_session *s);

#endif
