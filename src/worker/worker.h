/*
 * The worker: serves one session (one client connection) by executing its calls on a backend.
 * The node forks one worker process per accepted connection (docs/design.md: a crash or sticky
 * error in one tenant cannot touch another, and everything a session held goes when its process
 * exits), and calls tfw_serve in the child.
 *
 * Owns: the session (handles, allocations, held asynchronous errors, printf capture), the
 * request loop, the handlers. May call: src/transport, src/backend, src/proto, src/fatbin,
 * src/common.
 */
#ifndef TFUSE_WORKER_H
#define TFUSE_WORKER_H

#include "backend.h"
#include "transport.h"

struct vgpu_region;
struct tfw_stats;

struct tfw_opts {
    const char *backend_path;   /* library to load (tf_backend_resolve's answer) */
    const char *token;          /* required session token; NULL or "" accepts any */
    const char *cache_dir;      /* module image cache folder; NULL: no cache */
    unsigned long long cache_max_total;  /* its bounds (modcache.h); 0: nothing is cached */
    unsigned long long cache_max_scope;
    int capture_stdout;         /* 1: fd 1 becomes a memfd whose bytes go back with replies */
    /* vGPUs (the node's per-device regions, inherited across fork). A client whose token is a
     * live vGPU's token is attached to it (enforce.h). Any other client is served the whole
     * device only when nregions == 0 (a node without vGPUs) or allow_unlimited is set, and
     * then `token` still applies; otherwise it is rejected. */
    struct vgpu_region *const *regions;
    int nregions;
    int allow_unlimited;
    unsigned long long ctx_overhead; /* bytes charged per attached session */
    struct tfw_stats *stats;    /* this session's entry in the node's table (stats.h), or NULL */
    /* The client's hello when the node already read it (tf_server_handshake) and authorized
     * it before forking this worker; NULL: the worker reads it itself. */
    const struct tf_hello *hello;
    /* The backend a warm worker loaded before its session came (warm.c); NULL: load it. */
    const struct tf_backend *preloaded;
    /* Freeze (freeze.h): 1 to allocate the vGPU session's device memory through the virtual
     * memory API, so that the node can freeze it; where disk images go (NULL: no disk). */
    int freezable;
    const char *freeze_dir;
    /* Oversubscription (--oversubscribe-memory): 1 when the node freezes other vGPUs to make
     * room for an allocation or a resume that does not fit; how long such a call waits for
     * room before it fails with CUDA_ERROR_OUT_OF_MEMORY (0: freeze.c's default). */
    int room;
    int room_wait_ms;
    /* Model switching (--switch-idle-ms, docs/freeze.md): > 0 when an allocation or resume
     * past the vGPU's own limit asks the node to freeze other sessions of the vGPU idle for
     * this many ms (their frozen bytes refunded to the ledger); it waits room_wait_ms. */
    int switch_idle_ms;
};

/* Who a client's session token lets in: the number of vGPUs it names (regions[i], slots[i]
 * filled; at most TFW_MAX_GPUS), 0 for a whole-device session (no vGPU token, and the node
 * allows those: no regions or allow_unlimited, and the node's `token` matches, compared in
 * constant time), or -1 with the reason to tell the client in err. Reads the regions only:
 * the node calls it before fork, the worker again before it attaches. */
int tfw_authorize(const struct tfw_opts *o, const char *token, struct vgpu_region **regions,
                  int *slots, char *err, size_t errlen);

/* Shakes hands on an accepted connection (checks the token, loads the backend, accepts or
 * rejects with a reason), then serves requests until the client goes away or sends a
 * malformed frame. Closes the connection. Returns 0 when the client ended the session
 * normally, 1 otherwise. Must run in a process of its own (it changes fd 1). */
int tfw_serve(struct tf_conn *conn, const struct tfw_opts *opts);

/* ---- Warm workers (warm.c) ---------------------------------------------------------------- */
/* A process the node starts before any client comes: it loads the backend, creates the primary
 * context of backend device `device`, says so on `sock` (one byte, TFW_WARM_READY), then waits
 * for one session handed over on sock (tf_conn_handoff_recv) with a struct tfw_warm_handoff as
 * its extra bytes, and serves it as tfw_serve does: the token is checked again, the vGPU, its
 * limits and the module cache scope are taken from the hello only now. Used once: the process
 * exits with the session. `table` (cap entries) is the node's session table the handoff's
 * stats_index points into (NULL: none). Returns tfw_serve's status, 0 when the node closed
 * sock before handing anything (retired), 2 when the backend or the context failed. */
#define TFW_WARM_READY 'R'
#define TFW_WARM_MAGIC 0x4d524157u   /* "WARM" */
struct tfw_warm_handoff {
    uint32_t magic;
    int32_t stats_index;        /* the session's entry in the node's table, -1: none */
    struct tf_hello hello;      /* the client's hello as the node read and authorized it */
};
int tfw_warm_serve(int sock, int device, const struct tfw_opts *opts, struct tfw_stats *table,
                   int cap);

#endif
