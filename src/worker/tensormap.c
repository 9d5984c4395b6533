/*
 * tfi_tensormap_replace: cuTensorMapReplaceAddress on a copy of the program's map (the driver
 * wants it 64-byte aligned, which request bytes are not), sent back whole.
 * May call: the backend table.
 */
#include <string.h>

#include "worker_int.h"

CUresult tfw_tfi_tensormap_replace(const CUtensorMap *in, void *globalAddress,
                                   CUtensorMap *replaced)
{
    struct tfw_session *s = tfw_self;
    if (!s->be.cuTensorMapReplaceAddress)
        return CUDA_ERROR_NOT_SUPPORTED;
    CUtensorMap map;
    memcpy(&map, in, sizeof map);
    CUresult r = s->be.cuTensorMapReplaceAddress(&map, globalAddress);
    if (r == CUDA_SUCCESS)
        memcpy(replaced, &map, sizeof map);
    return r;
}
