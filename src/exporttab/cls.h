/*
 * Context-local storage: the map (context, key) -> (value, destructor) behind cudart's
 * CONTEXT_LOCAL_STORAGE export table. Private to src/exporttab; the table's slots (which
 * resolve a NULL context to the calling thread's current one) live in exporttab.c.
 * Contexts here are opaque handles that are never dereferenced.
 */
#ifndef TFUSE_EXPORTTAB_CLS_H
#define TFUSE_EXPORTTAB_CLS_H

#include <cuda.h>
#include <stddef.h>

typedef void (*cls_dtor_fn)(CUcontext ctx, void *key, void *value);

/* Store or replace (ctx,key). Replacing does not call the old destructor: the caller that
 * replaces its own value owns the old one. CUDA_ERROR_OUT_OF_MEMORY when allocation fails. */
CUresult cls_put(CUcontext ctx, void *key, void *value, cls_dtor_fn dtor);

/* Remove (ctx,key) without calling its destructor (cudart deletes its own value at exit).
 * CUDA_ERROR_INVALID_HANDLE when absent. */
CUresult cls_delete(CUcontext ctx, void *key);

/* The value of (ctx,key), or CUDA_ERROR_INVALID_HANDLE when absent. Lock-free when the calling
 * thread asked for the same pair last and nothing changed since. */
CUresult cls_get(void **value, CUcontext ctx, void *key);

/* Remove every entry of ctx, then call their destructors (outside the lock, so a destructor
 * may use the map again). Returns how many entries were removed. */
size_t cls_context_destroyed(CUcontext ctx);

/* Entries currently stored (for tests and diagnostics). */
size_t cls_size(void);

#endif
