/*
 * Kernel arguments as launch requests carry them (the stub's tfs_kargs_put): decoded by
 * custom.c for cuLaunchKernel(Ex) and by graph.c for kernel nodes, so a node's arguments are
 * marshalled exactly as a launch's. Private to src/worker.
 */
#ifndef TFUSE_WORKER_KPARAMS_H
#define TFUSE_WORKER_KPARAMS_H

#include "worker_int.h"

struct tfw_launch {
    uint64_t f, stream;
    uint32_t grid[3], block[3], shmem;
    void *params[TFP_MAX_PARAMS];   /* pointers into the request buffer */
    void *extra[5];
    size_t buflen;
    int use_extra;
};

/* Reads the arguments, which must end the request: u32 count (UINT32_MAX: an `extra` buffer),
 * count x tfp_param, u32 bytes, the bytes. Fills l->params or l->extra. A malformed tail marks
 * the request malformed. */
CUresult tfw_read_kernel_params(struct tfw_session *s, struct tfp_reader *in, struct tfw_launch *l,
                                const char *call);

#endif
