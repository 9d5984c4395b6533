/*
 * A worker session's record of what belongs to it: every handle the client was given (contexts,
 * streams, events, modules, functions, libraries, kernels) and every device allocation as a
 * byte range. Calls naming anything else are refused before they reach the backend, which is
 * what keeps one tenant from touching another's objects through a guessed handle or pointer.
 *
 * Owns: the handle set (open addressing, u64 -> kind); the allocation ranges are a struct
 * tf_ranges (src/common/ranges.h).
 * May call: libc only. Not thread-safe: one worker thread per session.
 */
#ifndef TFUSE_WORKER_SESSION_H
#define TFUSE_WORKER_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "ranges.h"

enum tfw_kind {
    TFW_K_NONE = 0,
    TFW_K_CTX,
    TFW_K_STREAM,
    TFW_K_EVENT,
    TFW_K_MOD,
    TFW_K_FUNC,
    TFW_K_LIB,
    TFW_K_KERN,
    TFW_K_POOL,
    TFW_K_GRAPH,
    TFW_K_GEXEC,
    TFW_K_NODE,     /* a graph node: recorded as a child of its graph, forgotten with it */
    TFW_K_ALLOC,    /* a physical allocation of the virtual memory API (cuMemCreate) */
    TFW_K_ARRAY,    /* a CUDA array (a mipmap level or plane is a child of its array) */
    TFW_K_MIPMAP,   /* a mipmapped array */
    TFW_K_TEXOBJ,   /* a texture object */
    TFW_K_SURFOBJ,  /* a surface object */
    TFW_K_TEXREF,   /* a module's texture reference (a child of its module) */
    TFW_K_SURFREF,  /* a module's surface reference (a child of its module) */
    TFW_K_LINK,     /* a link in progress (cuLinkCreate) */
    TFW_K_GREEN,    /* a green context (its context and streams are its children) */
    TFW_K_RDESC,    /* a device resource descriptor (cuDevResourceGenerateDesc) */
    TFW_K_EXTMEM,   /* imported external memory (what is mapped from it outlives it) */
    TFW_K_EXTSEM,   /* an imported external semaphore */
};

struct tfw_handles {
    uint64_t *keys;       /* 0 = empty slot, TFW_TOMBSTONE = deleted */
    uint8_t *kinds;
    uint64_t *parents;    /* the module or library a function, kernel or module came from */
    size_t cap, used, live;
};

int tfw_handles_add(struct tfw_handles *h, uint64_t key, enum tfw_kind kind);
/* As tfw_handles_add, remembering the object it came from (0: none). */
int tfw_handles_add_child(struct tfw_handles *h, uint64_t key, enum tfw_kind kind, uint64_t parent);
/* Forgets key and, recursively, every handle that came from it; the ranges that came from any
 * of them are removed from r (module globals) when r is not NULL. */
void tfw_handles_del_tree(struct tfw_handles *h, uint64_t key, struct tf_ranges *r);
enum tfw_kind tfw_handles_kind(const struct tfw_handles *h, uint64_t key);
void tfw_handles_del(struct tfw_handles *h, uint64_t key);
/* The object key was recorded as coming from (0: none or unknown key). */
uint64_t tfw_handles_parent(const struct tfw_handles *h, uint64_t key);
void tfw_handles_free(struct tfw_handles *h);

#endif
