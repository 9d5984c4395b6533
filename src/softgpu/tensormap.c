/*
 * Tensor maps (TMA descriptors): cuTensorMapEncodeTiled, cuTensorMapEncodeIm2col,
 * cuTensorMapEncodeIm2colWide and cuTensorMapReplaceAddress check what the driver API documents
 * (alignment, rank, dimensions, strides, box, modes) and encode the map into the 128-byte
 * CUtensorMap in a layout of softgpu's own (for a future cp.async.bulk.tensor to read):
 *   opaque[0]  magic "TFTM" | kind << 32 | rank << 40 | data type << 48
 *   opaque[1]  the global address
 *   opaque[2..6]   globalDim[0..4]       opaque[7..10]  globalStrides[0..3]
 *   opaque[11] boxDim, 9 bits each       opaque[12] elementStrides, 4 bits each, then
 *              interleave << 20, swizzle << 24, L2 promotion << 28, OOB fill << 32
 *   opaque[13] im2col: the pixel box's lower corner (3 x 16 bits) and opaque[14] its upper
 *              corner (im2col wide: widths); opaque[15] channels per pixel | pixels per column
 *              << 32 (wide: | mode << 62)
 * Calls nothing else of softgpu.
 */
#include <string.h>

#include "softgpu.h"

#define TM_MAGIC 0x4d544654ull   /* "TFTM" */
enum { TM_TILED = 1, TM_IM2COL = 2, TM_IM2COL_WIDE = 3 };

/* Bits per element of a data type; 0 for a type this toolkit does not list. */
static unsigned bits_of(CUtensorMapDataType t)
{
    static const unsigned bits[] = {8, 16, 32, 32, 64, 64, 16, 32, 64, 16, 32, 32, 32, 4, 4, 6};
    return (unsigned)t < sizeof bits / sizeof bits[0] ? bits[t] : 0;
}

static int packed(CUtensorMapDataType t)
{
    return t == CU_TENSOR_MAP_DATA_TYPE_16U4_ALIGN8B || t == CU_TENSOR_MAP_DATA_TYPE_16U4_ALIGN16B ||
           t == CU_TENSOR_MAP_DATA_TYPE_16U6_ALIGN16B;
}

static int is_float(CUtensorMapDataType t)
{
    return t >= CU_TENSOR_MAP_DATA_TYPE_FLOAT16 && t <= CU_TENSOR_MAP_DATA_TYPE_TFLOAT32_FTZ;
}

/* What every kind shares: the map, its type and rank, the global region and the modes. */
static CUresult check_common(const CUtensorMap *map, CUtensorMapDataType type, cuuint32_t rank,
                             const void *addr, const cuuint64_t *dim, const cuuint64_t *strides,
                             const cuuint32_t *estrides, CUtensorMapInterleave il,
                             CUtensorMapSwizzle sw, CUtensorMapL2promotion l2,
                             CUtensorMapFloatOOBfill oob)
{
    unsigned bits = bits_of(type);
    int align32 = il == CU_TENSOR_MAP_INTERLEAVE_32B || type == CU_TENSOR_MAP_DATA_TYPE_16U6_ALIGN16B ||
                  type == CU_TENSOR_MAP_DATA_TYPE_16U4_ALIGN16B;
    if (!map || ((uintptr_t)map & 63) || !bits || !rank || rank > 5 || !dim || !estrides ||
        (rank > 1 && !strides) || (uintptr_t)addr & (align32 ? 31 : 15))
        return CUDA_ERROR_INVALID_VALUE;
    if ((unsigned)il > CU_TENSOR_MAP_INTERLEAVE_32B || (il && rank < 3) ||
        (unsigned)sw > CU_TENSOR_MAP_SWIZZLE_128B_ATOM_64B ||
        (il == CU_TENSOR_MAP_INTERLEAVE_32B && sw != CU_TENSOR_MAP_SWIZZLE_32B) ||
        (unsigned)l2 > CU_TENSOR_MAP_L2_PROMOTION_L2_256B ||
        (unsigned)oob > CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA ||
        (oob && (!is_float(type) || packed(type))))
        return CUDA_ERROR_INVALID_VALUE;
    for (cuuint32_t i = 0; i < rank; i++) {
        if (!dim[i] || dim[i] > (1ull << 32) || !estrides[i] || estrides[i] > 8)
            return CUDA_ERROR_INVALID_VALUE;
        if (i + 1 < rank && (strides[i] % (align32 ? 32 : 16) || strides[i] >= (1ull << 40)))
            return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

static void encode_common(CUtensorMap *map, unsigned kind, CUtensorMapDataType type,
                          cuuint32_t rank, void *addr, const cuuint64_t *dim,
                          const cuuint64_t *strides, const cuuint32_t *estrides,
                          CUtensorMapInterleave il, CUtensorMapSwizzle sw,
                          CUtensorMapL2promotion l2, CUtensorMapFloatOOBfill oob)
{
    memset(map, 0, sizeof *map);
    map->opaque[0] = TM_MAGIC | (cuuint64_t)kind << 32 | (cuuint64_t)rank << 40 |
                     (cuuint64_t)type << 48;
    map->opaque[1] = (cuuint64_t)(uintptr_t)addr;
    for (cuuint32_t i = 0; i < rank; i++) {
        map->opaque[2 + i] = dim[i];
        if (i + 1 < rank)
            map->opaque[7 + i] = strides[i];
        map->opaque[12] |= (cuuint64_t)estrides[i] << (4 * i);
    }
    map->opaque[12] |= (cuuint64_t)il << 20 | (cuuint64_t)sw << 24 | (cuuint64_t)l2 << 28 |
                       (cuuint64_t)oob << 32;
}

CUresult cuTensorMapEncodeTiled(CUtensorMap *tensorMap, CUtensorMapDataType tensorDataType,
                                cuuint32_t tensorRank, void *globalAddress,
                                const cuuint64_t *globalDim, const cuuint64_t *globalStrides,
                                const cuuint32_t *boxDim, const cuuint32_t *elementStrides,
                                CUtensorMapInterleave interleave, CUtensorMapSwizzle swizzle,
                                CUtensorMapL2promotion l2Promotion, CUtensorMapFloatOOBfill oobFill)
{
    CUresult r = check_common(tensorMap, tensorDataType, tensorRank, globalAddress, globalDim,
                              globalStrides, elementStrides, interleave, swizzle, l2Promotion,
                              oobFill);
    if (r != CUDA_SUCCESS || !boxDim)
        return r != CUDA_SUCCESS ? r : CUDA_ERROR_INVALID_VALUE;
    unsigned inner = boxDim[0] * bits_of(tensorDataType) / 8;
    static const unsigned swizzle_span[] = {0, 32, 64, 128, 128, 128, 128};
    for (cuuint32_t i = 0; i < tensorRank; i++)
        if (!boxDim[i] || boxDim[i] > 256)
            return CUDA_ERROR_INVALID_VALUE;
    if (interleave == CU_TENSOR_MAP_INTERLEAVE_NONE &&
        (inner % 16 || (swizzle && inner > swizzle_span[swizzle])))
        return CUDA_ERROR_INVALID_VALUE;
    CUtensorMap m;
    encode_common(&m, TM_TILED, tensorDataType, tensorRank, globalAddress, globalDim,
                  globalStrides, elementStrides, interleave, swizzle, l2Promotion, oobFill);
    for (cuuint32_t i = 0; i < tensorRank; i++)
        m.opaque[11] |= (cuuint64_t)boxDim[i] << (9 * i);
    memcpy(tensorMap, &m, sizeof m);   /* the caller's map need only be 64-byte aligned */
    return CUDA_SUCCESS;
}

/* The im2col pixel box: lower and upper corners for the rank - 2 spatial dimensions. */
static CUresult check_box(cuuint32_t rank, const int *lower, const int *upper,
                          cuuint32_t channels, cuuint32_t pixels)
{
    if (rank < 3 || !lower || !upper || !channels || channels > 256 || !pixels || pixels > 1024)
        return CUDA_ERROR_INVALID_VALUE;
    int lim = rank == 3 ? 1 << 15 : rank == 4 ? 1 << 7 : 1 << 3;   /* 16, 8 and 4 signed bits */
    for (cuuint32_t i = 0; i < rank - 2; i++)
        if (lower[i] < -lim || lower[i] >= lim || upper[i] < -lim || upper[i] >= lim)
            return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}

CUresult cuTensorMapEncodeIm2col(CUtensorMap *tensorMap, CUtensorMapDataType tensorDataType,
                                 cuuint32_t tensorRank, void *globalAddress,
                                 const cuuint64_t *globalDim, const cuuint64_t *globalStrides,
                                 const int *pixelBoxLowerCorner, const int *pixelBoxUpperCorner,
                                 cuuint32_t channelsPerPixel, cuuint32_t pixelsPerColumn,
                                 const cuuint32_t *elementStrides, CUtensorMapInterleave interleave,
                                 CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2Promotion,
                                 CUtensorMapFloatOOBfill oobFill)
{
    CUresult r = check_common(tensorMap, tensorDataType, tensorRank, globalAddress, globalDim,
                              globalStrides, elementStrides, interleave, swizzle, l2Promotion,
                              oobFill);
    if (r == CUDA_SUCCESS)
        r = check_box(tensorRank, pixelBoxLowerCorner, pixelBoxUpperCorner, channelsPerPixel,
                      pixelsPerColumn);
    if (r != CUDA_SUCCESS)
        return r;
    CUtensorMap m;
    encode_common(&m, TM_IM2COL, tensorDataType, tensorRank, globalAddress, globalDim,
                  globalStrides, elementStrides, interleave, swizzle, l2Promotion, oobFill);
    for (cuuint32_t i = 0; i < tensorRank - 2; i++) {
        m.opaque[13] |= (cuuint64_t)(uint16_t)pixelBoxLowerCorner[i] << (16 * i);
        m.opaque[14] |= (cuuint64_t)(uint16_t)pixelBoxUpperCorner[i] << (16 * i);
    }
    m.opaque[15] = channelsPerPixel | (cuuint64_t)pixelsPerColumn << 32;
    memcpy(tensorMap, &m, sizeof m);
    return CUDA_SUCCESS;
}

CUresult cuTensorMapEncodeIm2colWide(CUtensorMap *tensorMap, CUtensorMapDataType tensorDataType,
                                     cuuint32_t tensorRank, void *globalAddress,
                                     const cuuint64_t *globalDim, const cuuint64_t *globalStrides,
                                     int pixelBoxLowerCornerWidth, int pixelBoxUpperCornerWidth,
                                     cuuint32_t channelsPerPixel, cuuint32_t pixelsPerColumn,
                                     const cuuint32_t *elementStrides,
                                     CUtensorMapInterleave interleave,
                                     CUtensorMapIm2ColWideMode mode, CUtensorMapSwizzle swizzle,
                                     CUtensorMapL2promotion l2Promotion,
                                     CUtensorMapFloatOOBfill oobFill)
{
    int lower[3] = {pixelBoxLowerCornerWidth, 0, 0}, upper[3] = {pixelBoxUpperCornerWidth, 0, 0};
    CUresult r = check_common(tensorMap, tensorDataType, tensorRank, globalAddress, globalDim,
                              globalStrides, elementStrides, interleave, swizzle, l2Promotion,
                              oobFill);
    if (r == CUDA_SUCCESS)
        r = check_box(3, lower, upper, channelsPerPixel, pixelsPerColumn);
    if (r == CUDA_SUCCESS && ((unsigned)mode > 1 || interleave != CU_TENSOR_MAP_INTERLEAVE_NONE))
        r = CUDA_ERROR_INVALID_VALUE;
    if (r != CUDA_SUCCESS)
        return r;
    CUtensorMap m;
    encode_common(&m, TM_IM2COL_WIDE, tensorDataType, tensorRank, globalAddress, globalDim,
                  globalStrides, elementStrides, interleave, swizzle, l2Promotion, oobFill);
    m.opaque[13] = (uint16_t)pixelBoxLowerCornerWidth;
    m.opaque[14] = (uint16_t)pixelBoxUpperCornerWidth;
    m.opaque[15] = channelsPerPixel | (cuuint64_t)pixelsPerColumn << 32 | (cuuint64_t)mode << 62;
    memcpy(tensorMap, &m, sizeof m);
    return CUDA_SUCCESS;
}

CUresult cuTensorMapReplaceAddress(CUtensorMap *tensorMap, void *globalAddress)
{
    CUtensorMap m;
    if (!tensorMap || ((uintptr_t)tensorMap & 63))
        return CUDA_ERROR_INVALID_VALUE;
    memcpy(&m, tensorMap, sizeof m);
    if ((m.opaque[0] & 0xffffffffull) != TM_MAGIC)
        return CUDA_ERROR_INVALID_VALUE;
    CUtensorMapInterleave il = (CUtensorMapInterleave)((m.opaque[12] >> 20) & 15);
    CUtensorMapDataType type = (CUtensorMapDataType)((m.opaque[0] >> 48) & 0xff);
    int align32 = il == CU_TENSOR_MAP_INTERLEAVE_32B || type == CU_TENSOR_MAP_DATA_TYPE_16U6_ALIGN16B ||
                  type == CU_TENSOR_MAP_DATA_TYPE_16U4_ALIGN16B;
    if ((uintptr_t)globalAddress & (align32 ? 31 : 15))
        return CUDA_ERROR_INVALID_VALUE;
    m.opaque[1] = (cuuint64_t)(uintptr_t)globalAddress;
    memcpy(tensorMap, &m, sizeof m);
    return CUDA_SUCCESS;
}
