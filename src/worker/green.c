/*
 * Green contexts' SM splits (tfi_sm_split): the backend's cuDevSmResourceSplitByCount, whose
 * group count is both input and output. Everything else of green contexts is plain calls.def
 * entries; their creation is charged like a first context (enforce.c).
 * May call: the backend table.
 */
#include "worker_int.h"

CUresult tfw_tfi_sm_split(unsigned int groups, const CUdevResource *input, unsigned int useFlags,
                          unsigned int minCount, unsigned int *groupsOut,
                          CUdevResource *remaining, void *result)
{
    struct tfw_session *s = tfw_self;
    if (!s->be.cuDevSmResourceSplitByCount)
        return CUDA_ERROR_NOT_SUPPORTED;
    unsigned n = groups;
    CUresult r = s->be.cuDevSmResourceSplitByCount(groups ? result : NULL, &n, input, remaining,
                                                   useFlags, minCount);
    if (r == CUDA_SUCCESS)
        *groupsOut = n;
    return r;
}
