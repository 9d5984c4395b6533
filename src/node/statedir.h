/*
 * The node's folders on disk: the --state folder (created 0700, locked against a second node by
 * persist.c's node.lock) and the workers' module cache (modcache.h) under it, or without --state
 * a cache folder of this process's own, removed at exit, where the caches that dead nodes left
 * are removed too. node.c owns the struct; vGPU scopes of the cache go when their vGPU does.
 */
#ifndef TFUSE_NODE_STATEDIR_H
#define TFUSE_NODE_STATEDIR_H

#include <limits.h>
#include <stddef.h>

struct node_vgpus;

struct node_statedir {
    char cache_dir[PATH_MAX]; /* "": caching off (the folder could not be made) */
    int cache_private;        /* cache_dir is this process's own (no --state): removed at exit */
    int lock;                 /* --state's node.lock, held while we run; 0: none */
};

/* Creates and locks `state` (NULL: none) and the module cache. -1 with err when the state
 * folder cannot be made or another node holds it; a cache folder that cannot be made turns
 * caching off with a warning. */
int node_statedir_open(struct node_statedir *s, const char *state, char *err, size_t errlen);
/* Drops the cache scopes of vGPUs that are gone: all but v's live ones, less (skip_dev,
 * skip_slot) (-1: none), a vGPU about to be deleted. */
void node_statedir_sweep(const struct node_statedir *s, const struct node_vgpus *v, int skip_dev,
                         int skip_slot);
/* At exit, the workers gone: the private cache removed, the lock released. */
void node_statedir_close(struct node_statedir *s);

#endif
