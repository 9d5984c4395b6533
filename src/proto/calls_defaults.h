/* Gives every calls.def entry macro that the includer did not define an empty expansion.
 * Include right before calls.def; include calls_undef.h right after it. No include guard:
 * it is meant to be included once per expansion. */
#ifndef TF_CALL
#define TF_CALL(sym, base, ver, mode, ...)
#endif
#ifndef TF_CUSTOM
#define TF_CUSTOM(sym, base, ver, mode)
#endif
#ifndef TF_LOCAL
#define TF_LOCAL(sym, base, ver)
#endif
#ifndef TF_INTERNAL
#define TF_INTERNAL(sym, mode, ...)
#endif
#ifndef TF_BACKEND
#define TF_BACKEND(sym, base, ver)
#endif

/* cuda.h maps these names to their newest ABI with #define; calls.def lists each ABI under its
 * own exported name, so the plain names must mean the old symbols while it is expanded. */
#undef cuDeviceGetUuid
#undef cuEventElapsedTime
#undef cuGetProcAddress
#undef cuDevicePrimaryCtxRelease
#undef cuDevicePrimaryCtxReset
#undef cuDevicePrimaryCtxSetFlags
#undef cuGraphAddDependencies
#undef cuGraphInstantiate
#undef cuMemHostRegister
#undef cuCtxDestroy
#undef cuCtxPushCurrent
#undef cuCtxPopCurrent
#undef cuStreamDestroy
#undef cuEventDestroy
#undef cuStreamBeginCapture
#undef cuStreamGetCaptureInfo
#undef cuStreamWaitValue32
#undef cuGraphExecUpdate
#undef cuIpcOpenMemHandle
#undef cuCtxCreate
#undef cuLinkCreate
#undef cuGraphRemoveDependencies
#undef cuGraphAddKernelNode
#undef cuGraphAddNode
#undef cuMemcpyBatchAsync
#undef cuMemcpy3DBatchAsync
#undef cuStreamBatchMemOp
#undef cuGraphKernelNodeSetParams
#undef cuGraphExecKernelNodeSetParams
#undef cuMemAdvise
#undef cuMemPrefetchAsync
#undef cuMemcpy3DPeer
#undef cuMemcpy3DPeerAsync
#undef cuGraphGetEdges
#undef cuGraphNodeGetDependencies
#undef cuGraphNodeGetDependentNodes
#undef cuLinkAddData
#undef cuLinkAddFile
#undef cuStreamWaitValue64
#undef cuStreamWriteValue32
#undef cuStreamWriteValue64
