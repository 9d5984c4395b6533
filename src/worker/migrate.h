/*
 * Migration of a session to another device of the node (docs/freeze.md, "Migration"): the
 * node's command (TFW_FZ_CMD_MIGRATE + the backend ordinal, in the session's freeze words) is
 * run by the worker between two requests. The session's objects (its context, modules,
 * functions, streams, events) are made again on the new device, its freezable allocations'
 * bytes move under the same reservations (freeze.c), and the old objects are destroyed.
 *
 * The program keeps the handle values it holds: the worker translates them. Every handle
 * that comes in (the request's context word, HIN/HDEL arguments, a launch's function and
 * stream) goes through tfw_xin, every handle that goes out (HOUT/HFOUND replies, a created
 * context or module) through tfw_xout. Both are one branch while the session never migrated.
 *
 * Owns: the translation maps, the kept module images, the migration procedure (migrate.c).
 * May call: freeze.h, devmap.h, enforce_int.h, the backend's saved entries, log.h.
 */
#ifndef TFUSE_WORKER_MIGRATE_H
#define TFUSE_WORKER_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

struct tfw_session;

/* The node's command word: TFW_FZ_CMD_MIGRATE + the target backend device (stats.h's
 * commands are small numbers; this range is far above them). */
#define TFW_FZ_CMD_MIGRATE 0x1000u
#define TFW_FZ_CMD_MIGRATE_MAX (TFW_FZ_CMD_MIGRATE + 0xfffu)

struct tfw_xlate;   /* migrate_map.c */

/* The backend's object a value the program holds names (the value itself when unknown). */
uint64_t tfw_xlate_in(const struct tfw_xlate *x, uint64_t v);
/* The value the program knows an object of the backend by: its value before migration, a
 * stand-in when the backend reused an address the program still holds for another object, or
 * the value itself. */
uint64_t tfw_xlate_out(struct tfw_xlate *x, uint64_t v);
/* The program destroyed the object it knows as `held` (backend value `now`). */
void tfw_xlate_forget(struct tfw_xlate *x, uint64_t held, uint64_t now);
/* The backend's object `was` is replaced by `now` (migration): the value the program holds for
 * `was` names `now` from here on. Makes the map at the first call; 0, or -1 out of memory. */
int tfw_xlate_rebind(struct tfw_xlate **x, uint64_t was, uint64_t now);
void tfw_xlate_free(struct tfw_xlate *x);

/* A session that migrated has a map; one that never did pays one branch per handle. */
#define tfw_xin(s, v) ((s)->xl ? tfw_xlate_in((s)->xl, (v)) : (uint64_t)(v))
#define tfw_xout(s, v) ((s)->xl ? tfw_xlate_out((s)->xl, (v)) : (uint64_t)(v))

/* A module or library the session loaded (freezable sessions only), with its image (a module:
 * a copy is kept so that a migration can load it again) or NULL (a library: context-independent,
 * it stays); `globals` its __device__/__constant__ bytes. */
void tfw_migrate_note_module(struct tfw_session *s, uint64_t mod, const void *image,
                             uint64_t size, uint64_t globals);
/* After tfw_freeze_start: a freezable session's event creations are remembered with their
 * flags (the driver cannot tell an event's flags, and a migration makes the event again). */
void tfw_migrate_install(struct tfw_session *s);
/* The program unloaded module (or destroyed object) `h`: its kept image goes. */
void tfw_migrate_forget(struct tfw_session *s, uint64_t held, uint64_t now);

/* Moves the session to backend device `to`. CUDA_SUCCESS, or the reason in err (the session
 * then runs on where it was). */
CUresult tfw_migrate_run(struct tfw_session *s, int to, char *err, size_t elen);
/* The node's command (freeze.c's poll): tfw_migrate_run, logged. */
CUresult tfw_migrate_command(struct tfw_session *s, int to);

void tfw_migrate_end(struct tfw_session *s);

#endif
