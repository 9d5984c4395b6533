/*
 * What the stub composes from calls it forwards, in the program's process: the older ABIs that
 * NVIDIA's driver still exports under plain names (same arguments, or a subset, of the current
 * one), images named by file, the occupancy search that calls the program's own callback, the
 * device lookup by PCI bus id, and the profiler controls.
 * May call: the stub's entry points (entry.c, custom.c, local.c, hostmem.c, graph.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cudaProfiler.h>

#include "stub.h"

/* The older ABIs: plain names that cuda.h maps to the newest one (stub.h's calls.def undoes
 * those macros), declared here with their own signatures. */
CUresult CUDAAPI cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev);
CUresult CUDAAPI cuCtxDestroy(CUcontext ctx);
CUresult CUDAAPI cuCtxPushCurrent(CUcontext ctx);
CUresult CUDAAPI cuCtxPopCurrent(CUcontext *pctx);
CUresult CUDAAPI cuStreamDestroy(CUstream hStream);
CUresult CUDAAPI cuEventDestroy(CUevent hEvent);
CUresult CUDAAPI cuStreamBeginCapture(CUstream hStream);
CUresult CUDAAPI cuMemHostRegister(void *p, size_t bytesize, unsigned int Flags);
CUresult CUDAAPI cuGraphInstantiate(CUgraphExec *phGraphExec, CUgraph hGraph,
                                    CUgraphNode *phErrorNode, char *logBuffer, size_t bufferSize);
CUresult CUDAAPI cuGraphExecUpdate(CUgraphExec hGraphExec, CUgraph hGraph,
                                   CUgraphNode *hErrorNode_out,
                                   CUgraphExecUpdateResult *updateResult_out);
CUresult CUDAAPI cuIpcOpenMemHandle(CUdeviceptr *pdptr, CUipcMemHandle handle, unsigned int Flags);

/* ---- older ABIs ---- */

CUresult CUDAAPI cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
    return cuCtxCreate_v2(pctx, flags, dev);
}
CUresult CUDAAPI cuCtxDestroy(CUcontext ctx) { return cuCtxDestroy_v2(ctx); }
CUresult CUDAAPI cuCtxPushCurrent(CUcontext ctx) { return cuCtxPushCurrent_v2(ctx); }
CUresult CUDAAPI cuCtxPopCurrent(CUcontext *pctx) { return cuCtxPopCurrent_v2(pctx); }
CUresult CUDAAPI cuStreamDestroy(CUstream hStream) { return cuStreamDestroy_v2(hStream); }
CUresult CUDAAPI cuEventDestroy(CUevent hEvent) { return cuEventDestroy_v2(hEvent); }

/* CUDA 10.0's capture had one mode: what CUDA 10.1 calls global. */
CUresult CUDAAPI cuStreamBeginCapture(CUstream hStream)
{
    return cuStreamBeginCapture_v2(hStream, CU_STREAM_CAPTURE_MODE_GLOBAL);
}

CUresult CUDAAPI cuMemHostRegister(void *p, size_t bytesize, unsigned int Flags)
{
    return cuMemHostRegister_v2(p, bytesize, Flags);
}

CUresult CUDAAPI cuGraphInstantiate(CUgraphExec *phGraphExec, CUgraph hGraph,
                                    CUgraphNode *phErrorNode, char *logBuffer, size_t bufferSize)
{
    return cuGraphInstantiate_v2(phGraphExec, hGraph, phErrorNode, logBuffer, bufferSize);
}

CUresult CUDAAPI cuGraphExecUpdate(CUgraphExec hGraphExec, CUgraph hGraph,
                                   CUgraphNode *hErrorNode_out,
                                   CUgraphExecUpdateResult *updateResult_out)
{
    if (!hErrorNode_out || !updateResult_out)
        return CUDA_ERROR_INVALID_VALUE;
    CUgraphExecUpdateResultInfo info = {0};
    CUresult r = cuGraphExecUpdate_v2(hGraphExec, hGraph, &info);
    *hErrorNode_out = info.errorNode;
    *updateResult_out = info.result;
    return r;
}

/* The backend's answer travels inside a successful reply, so a failed update keeps its result
 * structure (which node, why): programs read it to decide whether to instantiate anew. */
CUresult CUDAAPI cuGraphExecUpdate_v2(CUgraphExec hGraphExec, CUgraph hGraph,
                                      CUgraphExecUpdateResultInfo *resultInfo)
{
    if (!resultInfo)
        return CUDA_ERROR_INVALID_VALUE;
    CUgraphExecUpdateResultInfo info = {0};
    int status = CUDA_SUCCESS;
    CUresult r = tfi_graph_exec_update(hGraphExec, hGraph, &info, &status);
    if (r != CUDA_SUCCESS)
        return r;
    *resultInfo = info;
    return (CUresult)status;
}

/* CUDA 12.0's instantiation with parameters: the flags, then an upload when asked; the result
 * says why instantiation failed as far as the error code tells. */
CUresult CUDAAPI cuGraphInstantiateWithParams(CUgraphExec *phGraphExec, CUgraph hGraph,
                                              CUDA_GRAPH_INSTANTIATE_PARAMS *params)
{
    if (!params)
        return CUDA_ERROR_INVALID_VALUE;
    params->hErrNode_out = NULL;
    CUresult r = cuGraphInstantiateWithFlags(phGraphExec, hGraph,
                                             params->flags & ~(cuuint64_t)CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD);
    if (r == CUDA_SUCCESS && (params->flags & CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD))
        r = cuGraphUpload(*phGraphExec, params->hUploadStream);
    params->result_out = r == CUDA_SUCCESS ? CUDA_GRAPH_INSTANTIATE_SUCCESS
                         : r == CUDA_ERROR_INVALID_VALUE ? CUDA_GRAPH_INSTANTIATE_INVALID_STRUCTURE
                                                         : CUDA_GRAPH_INSTANTIATE_ERROR;
    return r;
}

/* CUDA 11.4's form: affinity parameters travel as CUDA 12.5's creation parameters. */
CUresult CUDAAPI cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams,
                                unsigned int flags, CUdevice dev)
{
    if (numParams < 0 || (numParams > 0 && !paramsArray))
        return CUDA_ERROR_INVALID_VALUE;
    CUctxCreateParams params = {.execAffinityParams = numParams ? paramsArray : NULL,
                                .numExecAffinityParams = numParams};
    return cuCtxCreate_v4(pctx, &params, flags, dev);
}

/* ---- IPC: the worker decides whether this session may open the handle ---- */

CUresult CUDAAPI cuIpcOpenMemHandle_v2(CUdeviceptr *pdptr, CUipcMemHandle handle,
                                       unsigned int Flags)
{
    if (!pdptr)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t size = 0;
    CUresult r = tfi_ipc_open(handle, Flags, pdptr, &size);
    if (r == CUDA_SUCCESS)
        tfs_dev_add(*pdptr, (size_t)size);
    return r;
}

CUresult CUDAAPI cuIpcOpenMemHandle(CUdeviceptr *pdptr, CUipcMemHandle handle, unsigned int Flags)
{
    return cuIpcOpenMemHandle_v2(pdptr, handle, Flags);
}

/* ---- devices ---- */

/* "domain:bus:device.function" with the domain optional, as the driver accepts it. */
static int parse_bus_id(const char *id, unsigned *domain, unsigned *bus, unsigned *device)
{
    unsigned fn;
    if (sscanf(id, "%x:%x:%x.%x", domain, bus, device, &fn) == 4)
        return 0;
    *domain = 0;
    return sscanf(id, "%x:%x.%x", bus, device, &fn) == 3 ? 0 : -1;
}

CUresult CUDAAPI cuDeviceGetByPCIBusId(CUdevice *dev, const char *pciBusId)
{
    unsigned want[3], have[3];
    if (!dev || !pciBusId || parse_bus_id(pciBusId, &want[0], &want[1], &want[2]) != 0)
        return CUDA_ERROR_INVALID_VALUE;
    int count = 0;
    CUresult r = cuDeviceGetCount(&count);
    for (int d = 0; r == CUDA_SUCCESS && d < count; d++) {
        char id[32];
        r = cuDeviceGetPCIBusId(id, sizeof id, d);
        if (r == CUDA_SUCCESS && parse_bus_id(id, &have[0], &have[1], &have[2]) == 0
            && !memcmp(want, have, sizeof want)) {
            *dev = d;
            return CUDA_SUCCESS;
        }
    }
    return r == CUDA_SUCCESS ? CUDA_ERROR_INVALID_DEVICE : r;
}

/* ---- images named by file ---- */

/* The whole file, NUL-terminated (a PTX image is text); NULL with errno on failure. */
static char *read_image(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0
        && (buf = malloc((size_t)size + 1)) != NULL) {
        if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
            free(buf);
            buf = NULL;
        } else {
            buf[size] = '\0';
        }
    }
    fclose(f);
    return buf;
}

CUresult CUDAAPI cuModuleLoad(CUmodule *module, const char *fname)
{
    if (!module || !fname)
        return CUDA_ERROR_INVALID_VALUE;
    char *image = read_image(fname);
    if (!image)
        return CUDA_ERROR_FILE_NOT_FOUND;
    CUresult r = cuModuleLoadData(module, image);
    free(image);
    return r;
}

CUresult CUDAAPI cuModuleLoadFatBinary(CUmodule *module, const void *fatCubin)
{
    return cuModuleLoadData(module, fatCubin);
}

CUresult CUDAAPI cuLibraryLoadFromFile(CUlibrary *library, const char *fileName,
                                       CUjit_option *jitOptions, void **jitOptionsValues,
                                       unsigned int numJitOptions, CUlibraryOption *libraryOptions,
                                       void **libraryOptionValues, unsigned int numLibraryOptions)
{
    if (!library || !fileName)
        return CUDA_ERROR_INVALID_VALUE;
    char *image = read_image(fileName);
    if (!image)
        return CUDA_ERROR_FILE_NOT_FOUND;
    CUresult r = cuLibraryLoadData(library, image, jitOptions, jitOptionsValues, numJitOptions,
                                   libraryOptions, libraryOptionValues, numLibraryOptions);
    free(image);
    return r;
}

/* ---- occupancy ---- */

/* The block size (a multiple of the warp size, at most the function's and the caller's limits)
 * that keeps the most threads resident per multiprocessor; ties go to the larger block. The
 * dynamic shared memory of each candidate comes from the program's callback when it gives one. */
CUresult CUDAAPI cuOccupancyMaxPotentialBlockSizeWithFlags(int *minGridSize, int *blockSize,
                                                           CUfunction func,
                                                           CUoccupancyB2DSize blockSizeToDynamicSMemSize,
                                                           size_t dynamicSMemSize,
                                                           int blockSizeLimit, unsigned int flags)
{
    if (!minGridSize || !blockSize || !func || blockSizeLimit < 0)
        return CUDA_ERROR_INVALID_VALUE;
    int max_threads = 0, warp = 32, sms = 0;
    CUdevice dev;
    CUresult r = cuFuncGetAttribute(&max_threads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, func);
    if (r == CUDA_SUCCESS)
        r = cuCtxGetDevice(&dev);
    if (r == CUDA_SUCCESS)
        r = cuDeviceGetAttribute(&warp, CU_DEVICE_ATTRIBUTE_WARP_SIZE, dev);
    if (r == CUDA_SUCCESS)
        r = cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
    if (r != CUDA_SUCCESS)
        return r;
    int limit = blockSizeLimit && blockSizeLimit < max_threads ? blockSizeLimit : max_threads;
    int best_threads = 0, best_size = 0, best_blocks = 0;
    for (int size = limit - limit % warp; size > 0; size -= warp) {
        size_t smem = blockSizeToDynamicSMemSize ? blockSizeToDynamicSMemSize(size) : dynamicSMemSize;
        int blocks = 0;
        r = cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(&blocks, func, size, smem, flags);
        if (r != CUDA_SUCCESS)
            return r;
        if (blocks * size > best_threads) {
            best_threads = blocks * size;
            best_size = size;
            best_blocks = blocks;
        }
    }
    if (limit > 0 && limit < warp && best_size == 0) {
        int blocks = 0;
        size_t smem = blockSizeToDynamicSMemSize ? blockSizeToDynamicSMemSize(limit) : dynamicSMemSize;
        r = cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(&blocks, func, limit, smem, flags);
        best_size = blocks ? limit : 0;
        best_blocks = blocks;
    }
    *blockSize = best_size;
    *minGridSize = best_blocks * sms;
    return r;
}

CUresult CUDAAPI cuOccupancyMaxPotentialBlockSize(int *minGridSize, int *blockSize, CUfunction func,
                                                  CUoccupancyB2DSize blockSizeToDynamicSMemSize,
                                                  size_t dynamicSMemSize, int blockSizeLimit)
{
    return cuOccupancyMaxPotentialBlockSizeWithFlags(minGridSize, blockSize, func,
                                                     blockSizeToDynamicSMemSize, dynamicSMemSize,
                                                     blockSizeLimit, CU_OCCUPANCY_DEFAULT);
}

/* ---- profiler: a forwarded program's profiling is the node's (the worker's driver) ---- */

CUresult CUDAAPI cuProfilerInitialize(const char *configFile, const char *outputFile,
                                      CUoutput_mode outputMode)
{
    (void)configFile, (void)outputFile, (void)outputMode;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuProfilerStart(void) { return CUDA_SUCCESS; }
CUresult CUDAAPI cuProfilerStop(void) { return CUDA_SUCCESS; }
