/*
 * A tiny fake driver for the exporttab tests: two devices with fixed UUIDs and PCI ids, a
 * per-thread current context, and switches that make a query fail. Header-only (static) so
 * each test program has its own copy.
 */
#ifndef TFUSE_TEST_FAKE_DRIVER_H
#define TFUSE_TEST_FAKE_DRIVER_H

#include <stdint.h>
#include <string.h>

#include "exporttab.h"

#define FAKE_DRIVER_VERSION 13000
#define FAKE_DEVICES 2

static __thread CUcontext fake_current;
static int fake_fail_uuid;
static int fake_contexts[FAKE_DEVICES]; /* their addresses are the primary context handles */

static CUresult fake_driver_get_version(int *v) { *v = FAKE_DRIVER_VERSION; return CUDA_SUCCESS; }
static CUresult fake_device_get_count(int *n) { *n = FAKE_DEVICES; return CUDA_SUCCESS; }

static CUresult fake_device_get_uuid(CUuuid *u, CUdevice dev)
{
    if (fake_fail_uuid)
        return CUDA_ERROR_INVALID_DEVICE;
    for (int i = 0; i < 16; i++)
        u->bytes[i] = (char)(0x10 * dev + i);
    return CUDA_SUCCESS;
}

static CUresult fake_device_get_attribute(int *v, CUdevice_attribute a, CUdevice dev)
{
    switch (a) {
    case CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID: *v = 0; return CUDA_SUCCESS;
    case CU_DEVICE_ATTRIBUTE_PCI_BUS_ID: *v = 7 + dev; return CUDA_SUCCESS;
    case CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID: *v = 0; return CUDA_SUCCESS;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
}

static CUresult fake_primary_ctx_handle(CUcontext *c, CUdevice dev)
{
    if (dev < 0 || dev >= FAKE_DEVICES)
        return CUDA_ERROR_INVALID_DEVICE;
    *c = (CUcontext)&fake_contexts[dev];
    return CUDA_SUCCESS;
}

static CUresult fake_ctx_get_current(CUcontext *c)
{
    *c = fake_current;
    return CUDA_SUCCESS;
}

/* Context ids: 100 + the device of a primary context; anything else is not a context. */
static CUresult fake_ctx_get_id(CUcontext c, unsigned long long *id)
{
    for (int i = 0; i < FAKE_DEVICES; i++)
        if (c == (CUcontext)&fake_contexts[i]) {
            *id = 100 + (unsigned long long)i;
            return CUDA_SUCCESS;
        }
    return CUDA_ERROR_INVALID_CONTEXT;
}

/* Modules: a module handle is the address of its function count; functions are 1, 2, ... */
static CUresult fake_module_function_count(unsigned *n, CUmodule m)
{
    *n = *(const unsigned *)m;
    return CUDA_SUCCESS;
}

static CUresult fake_module_functions(CUfunction *f, unsigned n, CUmodule m)
{
    for (unsigned i = 0; i < n && i < *(const unsigned *)m; i++)
        f[i] = (CUfunction)(uintptr_t)(i + 1);
    return CUDA_SUCCESS;
}

/* Streams: a created stream is the address of an element of fake_streams (id 10 + index);
 * CU_STREAM_LEGACY and CU_STREAM_PER_THREAD are the current context's (ids 1000 and 2000 plus
 * its device), which needs one; anything else is not a stream. */
static int fake_streams[2];

static CUresult fake_stream_get_id(CUstream s, unsigned long long *id)
{
    for (int i = 0; i < 2; i++)
        if (s == (CUstream)&fake_streams[i]) {
            *id = 10 + (unsigned long long)i;
            return CUDA_SUCCESS;
        }
    if (s != CU_STREAM_LEGACY && s != CU_STREAM_PER_THREAD)
        return CUDA_ERROR_INVALID_HANDLE;
    for (int i = 0; i < FAKE_DEVICES; i++)
        if (fake_current == (CUcontext)&fake_contexts[i]) {
            *id = (s == CU_STREAM_LEGACY ? 1000 : 2000) + (unsigned long long)i;
            return CUDA_SUCCESS;
        }
    return CUDA_ERROR_INVALID_CONTEXT;
}

static void fake_driver_install(void)
{
    static const struct exporttab_driver d = {
        .driver_get_version = fake_driver_get_version,
        .device_get_count = fake_device_get_count,
        .device_get_uuid = fake_device_get_uuid,
        .device_get_attribute = fake_device_get_attribute,
        .primary_ctx_handle = fake_primary_ctx_handle,
        .ctx_get_current = fake_ctx_get_current,
        .ctx_get_id = fake_ctx_get_id,
        .module_function_count = fake_module_function_count,
        .module_functions = fake_module_functions,
        .stream_get_id = fake_stream_get_id,
    };
    exporttab_init(&d);
}

static const void *const *fake_table(const unsigned char uuid[16])
{
    CUuuid id;
    const void *t = NULL;
    memcpy(id.bytes, uuid, 16);
    if (exporttab_get(&t, &id) != CUDA_SUCCESS)
        return NULL;
    return (const void *const *)t;
}

static const unsigned char UUID_CUDART_INTERFACE[16] = {
    0x6b, 0xd5, 0xfb, 0x6c, 0x5b, 0xf4, 0xe7, 0x4a, 0x89, 0x87, 0xd9, 0x39, 0x12, 0xfd, 0x9d, 0xf9 };
static const unsigned char UUID_TOOLS_HOOKS[16] = {
    0xa0, 0x94, 0x79, 0x8c, 0x2e, 0x74, 0x2e, 0x74, 0x93, 0xf2, 0x08, 0x00, 0x20, 0x0c, 0x0a, 0x66 };
static const unsigned char UUID_TOOLS_TLS[16] = {
    0x42, 0xd8, 0x5a, 0x81, 0x23, 0xf6, 0xcb, 0x47, 0x82, 0x98, 0xf6, 0xe7, 0x8a, 0x3a, 0xec, 0xdc };
static const unsigned char UUID_CLS[16] = {
    0xc6, 0x93, 0x33, 0x6e, 0x11, 0x21, 0xdf, 0x11, 0xa8, 0xc3, 0x68, 0xf3, 0x55, 0xd8, 0x95, 0x93 };
static const unsigned char UUID_CONTEXT_CHECKS[16] = {
    0x26, 0x3e, 0x88, 0x60, 0x7c, 0xd2, 0x61, 0x43, 0x92, 0xf6, 0xbb, 0xd5, 0x00, 0x6d, 0xfa, 0x7e };
static const unsigned char UUID_INTEGRITY[16] = {
    0xd4, 0x08, 0x20, 0x55, 0xbd, 0xe6, 0x70, 0x4b, 0x8d, 0x34, 0xba, 0x12, 0x3c, 0x66, 0xe1, 0xf2 };
static const unsigned char UUID_TOOLS_CONTEXT[16] = {
    0x21, 0x31, 0x8c, 0x60, 0x97, 0x14, 0x32, 0x48, 0x8c, 0xa6, 0x41, 0xff, 0x73, 0x24, 0xc8, 0xf2 };
static const unsigned char UUID_TOOLS_MODULE[16] = {
    0x6e, 0x16, 0x3f, 0xbe, 0xb9, 0x58, 0x44, 0x4d, 0x83, 0x5c, 0xe1, 0x82, 0xaf, 0xf1, 0x99, 0x1e };

#endif
