/*
 * Batched stream memory operations (tfi_batch_memop: cuStreamBatchMemOp, both ABIs): every wait
 * and write names a word that must lie in one of the session's allocations; flushes and
 * barriers name nothing (the check is shared with batch memory operation nodes, graph_params.c).
 * The operations go to the backend from a copy (the driver may write their alias fields).
 * May call: the session's checks (worker.c), the backend table.
 */
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"

CUresult tfw_memop_check(struct tfw_session *s, const CUstreamBatchMemOpParams *op)
{
    switch (op->operation) {
    case CU_STREAM_MEM_OP_WAIT_VALUE_32:
    case CU_STREAM_MEM_OP_WRITE_VALUE_32:
        return tfw_check_range(s, op->waitValue.address, sizeof(cuuint32_t));
    case CU_STREAM_MEM_OP_WAIT_VALUE_64:
    case CU_STREAM_MEM_OP_WRITE_VALUE_64:
        return tfw_check_range(s, op->waitValue.address, sizeof(cuuint64_t));
    case CU_STREAM_MEM_OP_FLUSH_REMOTE_WRITES:
    case CU_STREAM_MEM_OP_BARRIER:
        return CUDA_SUCCESS;
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult tfw_tfi_batch_memop(CUstream stream, unsigned int count,
                             const CUstreamBatchMemOpParams *ops, unsigned int flags,
                             unsigned int v2)
{
    struct tfw_session *s = tfw_self;
    if (!count)
        return CUDA_ERROR_INVALID_VALUE;
    for (unsigned i = 0; i < count; i++) {
        CUresult r = tfw_memop_check(s, &ops[i]);
        if (r != CUDA_SUCCESS)
            return r;
    }
    if (v2 ? !s->be.cuStreamBatchMemOp_v2 : !s->be.cuStreamBatchMemOp)
        return CUDA_ERROR_NOT_SUPPORTED;
    CUstreamBatchMemOpParams *copy = malloc(count * sizeof *copy);
    if (!copy)
        return CUDA_ERROR_OUT_OF_MEMORY;
    memcpy(copy, ops, count * sizeof *copy);
    CUresult r = v2 ? s->be.cuStreamBatchMemOp_v2(stream, count, copy, flags)
                    : s->be.cuStreamBatchMemOp(stream, count, copy, flags);
    free(copy);
    return r;
}
