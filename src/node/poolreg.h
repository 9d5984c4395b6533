/*
 * `tfuse node --pool URL`: the node's side of the node → pool contract (docs/node-api.md).
 * A background thread registers the node and its devices with the pool manager and then sends
 * heartbeats with each device's usage; it registers again when the pool forgets the node (404)
 * and keeps retrying while the pool is unreachable. It never holds the vGPU lock across a
 * network call, so sessions and the control API never wait for the pool.
 * Credentials (docs/pool-api.md, "Authentication"): the first registration presents the pool's
 * join token; the pool answers with a credential of the node's own, which it keeps in
 * --state/pool-credential (0600) and presents on every heartbeat and later registration (a
 * node restarted without it waits until its old registration stops heartbeating).
 *
 * Owns: the registration thread, the node's pool credential. May call: vgpus.h (device list,
 * usage), discover.h (TFLOPs ratings), src/common/httpc.h, src/common/credfile.h, jansson,
 * src/common/log.h.
 */
#ifndef TFUSE_NODE_POOLREG_H
#define TFUSE_NODE_POOLREG_H

#include <stddef.h>

#include "vgpus.h"

struct node_poolreg_opts {
    const char *pool_url;     /* http://HOST:PORT of `tfuse pool serve` */
    const char *name;         /* node name at the pool; NULL: the host name */
    const char *advertise;    /* tcp:HOST:PORT the pool calls; NULL: the first tcp --api */
    int api_tls;              /* the tcp --api serves https: the pool is told https:// */
    const char *const *api;   /* the node's --api addresses */
    int napi;
    double interval_s;        /* heartbeat period; <= 0: 3 s */
    const char *pool_name;    /* --pool-name: the pool it joins; NULL: the pool's default */
    const char *const *labels;    /* --label KEY=VALUE entries */
    int nlabels;
    const char *join_token;   /* the pool's join token, or */
    const char *join_token_file;   /* the file holding it; both NULL: only a saved credential */
    const char *state_dir;    /* where the node keeps its credential; NULL: in memory only */
};

struct node_poolreg;

/* Checks the options and starts the thread. 0, or -1 with a message in err. */
int node_poolreg_start(struct node_poolreg **out, const struct node_poolreg_opts *o,
                       struct node_vgpus *v, char *err, size_t errlen);
/* Stops the thread (wakes it from its sleep) and frees everything; NULL is a no-op. */
void node_poolreg_stop(struct node_poolreg *r);

/* The dense FP16 TFLOPs rating of a device model the node's backend reports: the table of
 * discover.h, or for softgpu its rating at the SM count (sms) its driver reports; 0 when
 * unknown. */
double node_device_tflops(const char *model, int sms);

#endif
