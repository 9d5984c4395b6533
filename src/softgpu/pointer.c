/*
 * Pointer attributes (cuPointerGetAttribute, cuPointerGetAttributes, cuPointerSetAttribute):
 * what softgpu knows about an address from the region table (memory.c), the VMM mappings
 * (vmm.c) and registered host memory. Calls memory.c, vmm.c and context.c.
 */
#include <string.h>

#include "softgpu.h"

struct ptr_info {
    int known;
    CUmemorytype type;
    struct sg_ctx *ctx;   /* NULL for VMM mappings */
    int device;
    uint64_t base, size;
    int managed, mapped;
    struct sg_mempool *pool;
    unsigned long long buffer_id;
};

static void ptr_lookup(uint64_t p, struct ptr_info *out)
{
    memset(out, 0, sizeof *out);
    struct sg_region reg;
    uint64_t base, size;
    unsigned flags;
    int dev;
    if (sg_mem_find(p, &reg) == 0 && reg.kind != SG_R_RESERVED) {
        out->known = 1;
        out->type = reg.kind == SG_R_HOST ? CU_MEMORYTYPE_HOST : CU_MEMORYTYPE_DEVICE;
        out->ctx = reg.ctx;
        out->device = reg.device;
        out->base = reg.start;
        out->size = reg.size;
        out->managed = reg.kind == SG_R_MANAGED;
        out->mapped = 1;
        out->pool = reg.pool;
        out->buffer_id = reg.start >> SG_PAGE_SHIFT;
    } else if (sg_vmm_find_mapping(p, &base, &size, &dev) == 0) {
        out->known = 1;
        out->type = CU_MEMORYTYPE_DEVICE;
        out->device = dev;
        out->base = base;
        out->size = size;
        out->mapped = 1;
        out->buffer_id = base >> SG_PAGE_SHIFT;
    } else if (sg_mem_registered_find(p, &base, &size, &flags) == 0) {
        out->known = 1;
        out->type = CU_MEMORYTYPE_HOST;
        struct sg_ctx *c;
        out->ctx = sg_ctx_get(&c) == CUDA_SUCCESS ? c : NULL;
        out->device = out->ctx ? out->ctx->dev->ordinal : 0;
        out->base = base;
        out->size = size;
        out->mapped = 1;
        out->buffer_id = base >> SG_PAGE_SHIFT;
    }
}

static CUresult attribute(const struct ptr_info *i, CUpointer_attribute a, uint64_t p, void *data)
{
    switch (a) {
    case CU_POINTER_ATTRIBUTE_CONTEXT:
        if (!i->known)
            return CUDA_ERROR_INVALID_VALUE;
        *(CUcontext *)data = (CUcontext)i->ctx;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
        if (!i->known)
            return CUDA_ERROR_INVALID_VALUE;
        *(CUmemorytype *)data = i->type;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
        if (!i->known)
            return CUDA_ERROR_INVALID_VALUE;
        /* unified addressing: one address for both sides */
        if (a == CU_POINTER_ATTRIBUTE_DEVICE_POINTER)
            *(CUdeviceptr *)data = p;
        else
            *(void **)data = (void *)(uintptr_t)p;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS: *(int *)data = 1; return i->known ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID:
        if (!i->known)
            return CUDA_ERROR_INVALID_VALUE;
        *(unsigned long long *)data = i->buffer_id;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED: *(int *)data = i->managed; return i->known ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
        if (!i->known)
            return CUDA_ERROR_INVALID_VALUE;
        *(int *)data = i->device;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE: *(int *)data = 0; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
    case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR:
        if (!i->known)
            return CUDA_ERROR_INVALID_VALUE;
        *(void **)data = (void *)(uintptr_t)i->base;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
    case CU_POINTER_ATTRIBUTE_MAPPING_SIZE:
        if (!i->known)
            return CUDA_ERROR_INVALID_VALUE;
        *(size_t *)data = i->size;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MAPPED: *(int *)data = i->mapped; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES:
        *(unsigned long long *)data = CU_MEM_HANDLE_TYPE_NONE;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE: *(int *)data = 0; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_ACCESS_FLAGS:
        *(int *)data = sg_mem_ok(p, 1) ? CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READWRITE
                                       : CU_POINTER_ATTRIBUTE_ACCESS_FLAG_NONE;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE:
        *(CUmemoryPool *)data = (CUmemoryPool)i->pool;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID:
        *(unsigned long long *)data = i->buffer_id;
        return i->known ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    case CU_POINTER_ATTRIBUTE_IS_HW_DECOMPRESS_CAPABLE: *(int *)data = 0; return CUDA_SUCCESS;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute_id, CUdeviceptr ptr)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!data)
        return CUDA_ERROR_INVALID_VALUE;
    struct ptr_info i;
    ptr_lookup(ptr, &i);
    return attribute(&i, attribute_id, ptr, data);
}

/* Unlike the single form, unknown pointers are not an error here: each attribute reports its
 * "not ours" value, which is how cudaPointerGetAttributes classifies plain host memory. */
CUresult cuPointerGetAttributes(unsigned int numAttributes, CUpointer_attribute *attributes,
                                void **data, CUdeviceptr ptr)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!numAttributes || !attributes || !data)
        return CUDA_ERROR_INVALID_VALUE;
    struct ptr_info i;
    ptr_lookup(ptr, &i);
    for (unsigned k = 0; k < numAttributes; k++) {
        if (!data[k])
            return CUDA_ERROR_INVALID_VALUE;
        if (i.known) {
            r = attribute(&i, attributes[k], ptr, data[k]);
            if (r)
                return r;
            continue;
        }
        switch (attributes[k]) {
        case CU_POINTER_ATTRIBUTE_CONTEXT: *(CUcontext *)data[k] = NULL; break;
        case CU_POINTER_ATTRIBUTE_MEMORY_TYPE: *(CUmemorytype *)data[k] = 0; break;
        case CU_POINTER_ATTRIBUTE_DEVICE_POINTER: *(CUdeviceptr *)data[k] = 0; break;
        case CU_POINTER_ATTRIBUTE_HOST_POINTER: *(void **)data[k] = NULL; break;
        case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL: *(int *)data[k] = -2; break;
        case CU_POINTER_ATTRIBUTE_BUFFER_ID:
        case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID: *(unsigned long long *)data[k] = 0; break;
        case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
        case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR: *(void **)data[k] = NULL; break;
        case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
        case CU_POINTER_ATTRIBUTE_MAPPING_SIZE: *(size_t *)data[k] = 0; break;
        default:
            r = attribute(&i, attributes[k], ptr, data[k]);
            if (r)
                *(int *)data[k] = 0;
        }
    }
    return CUDA_SUCCESS;
}

CUresult cuPointerSetAttribute(const void *value, CUpointer_attribute attribute_id, CUdeviceptr ptr)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!value || attribute_id != CU_POINTER_ATTRIBUTE_SYNC_MEMOPS)
        return CUDA_ERROR_INVALID_VALUE;
    struct ptr_info i;
    ptr_lookup(ptr, &i);
    /* every synchronous memory operation already synchronises with the device */
    return i.known ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
