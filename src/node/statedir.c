/*
 * The node's folders (statedir.h): the --state folder and its lock, the module cache's folder,
 * the sweeps of dead nodes' caches and of deleted vGPUs' cache scopes.
 * May call: persist.c (the lock), src/worker/modcache.h (sweeps), src/common/log.h.
 */
#include "statedir.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "modcache.h"
#include "persist.h"
#include "vgpus.h"

static int make_dirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* Removes a module cache folder whole (its scopes, the node scope, the lock file). */
static void remove_cache_dir(const char *dir)
{
    char path[PATH_MAX + 16];
    tfw_cache_sweep(dir, NULL, 0);
    snprintf(path, sizeof path, "%.3000s/" TFW_CACHE_NODE_SCOPE, dir);
    tfw_cache_sweep(path, NULL, 0);   /* a scope holds "*.img" files: the sweep drops them */
    rmdir(path);
    snprintf(path, sizeof path, "%.3000s/.lock", dir);
    unlink(path);
    if (rmdir(dir) != 0)
        tf_debug("cannot remove the module cache %s: %s", dir, strerror(errno));
}

/* Removes the module caches that nodes without --state left behind (their pid is gone). */
static void remove_dead_caches(const char *parent)
{
    DIR *d = opendir(parent);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        int pid = 0;
        char path[PATH_MAX];
        if (sscanf(de->d_name, "modules-%d", &pid) == 1 && pid > 0 && kill(pid, 0) != 0 &&
            errno == ESRCH) {
            snprintf(path, sizeof path, "%.3000s/%.200s", parent, de->d_name);
            remove_cache_dir(path);
        }
    }
    if (d)
        closedir(d);
}

/* Without --state the cache is this process's own folder, so that nodes sharing /tmp never
 * sweep each other's tenants. */
int node_statedir_open(struct node_statedir *s, const char *state, char *err, size_t errlen)
{
    char parent[PATH_MAX];
    if (state) {
        if (make_dirs(state) != 0) {
            snprintf(err, errlen, "cannot create the state folder %s: %s", state,
                     strerror(errno));
            return -1;
        }
        if (node_persist_lock(state, &s->lock, err, errlen) != 0)
            return -1;
        snprintf(s->cache_dir, sizeof s->cache_dir, "%.3000s/modules", state);
    } else {
        snprintf(parent, sizeof parent, "/tmp/tfuse-node-%d", (int)getuid());
        snprintf(s->cache_dir, sizeof s->cache_dir, "%.3000s/modules-%d", parent, (int)getpid());
        s->cache_private = 1;
    }
    if (make_dirs(s->cache_dir) != 0) {
        tf_warn("cannot create the module cache %s: %s (caching off)", s->cache_dir,
                strerror(errno));
        s->cache_dir[0] = '\0';
    } else if (!state) {
        remove_dead_caches(parent);
    }
    return 0;
}

void node_statedir_sweep(const struct node_statedir *s, const struct node_vgpus *v, int skip_dev,
                         int skip_slot)
{
    static char keep[NODE_MAX_DEVICES * VGPU_MAX_SLOTS][TFW_CACHE_SCOPE_MAX];
    int nkeep = 0;
    for (int d = 0; d < v->ndev; d++)
        for (int i = 0; i < VGPU_MAX_SLOTS && i < (int)v->regions[d]->hdr->nslots; i++)
            if (atomic_load(&v->regions[d]->slots[i].state) == VGPU_SLOT_LIVE &&
                !(d == skip_dev && i == skip_slot))
                tfw_cache_scope_name(v->regions[d]->slots[i].token, keep[nkeep++]);
    if (s->cache_dir[0])
        tfw_cache_sweep(s->cache_dir, keep, nkeep);
}

void node_statedir_close(struct node_statedir *s)
{
    if (s->cache_private && s->cache_dir[0])
        remove_cache_dir(s->cache_dir);   /* the workers are gone: nobody reads it any more */
    if (s->lock > 0)
        close(s->lock);
    s->lock = 0;
}
