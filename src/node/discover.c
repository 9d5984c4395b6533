/*
 * Device discovery through an NVML library loaded at run time (see discover.h).
 * May call: dlopen/dlsym/dladdr, libc, tflops.c. Uses only the NVML subset declared in
 * include/tfuse/nvml.h, by its versioned symbol names.
 */
#include "discover.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TFUSE_NVML_NO_VERSION_MACROS
#include "tfuse/nvml.h"
#include "paths.h"

struct nvml_api {
    nvmlReturn_t (*init)(void);
    nvmlReturn_t (*shutdown)(void);
    const char *(*error_string)(nvmlReturn_t);
    nvmlReturn_t (*count)(unsigned int *);
    nvmlReturn_t (*handle_by_index)(unsigned int, nvmlDevice_t *);
    nvmlReturn_t (*name)(nvmlDevice_t, char *, unsigned int);
    nvmlReturn_t (*uuid)(nvmlDevice_t, char *, unsigned int);
    nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t *);
    nvmlReturn_t (*utilization)(nvmlDevice_t, nvmlUtilization_t *);
    nvmlReturn_t (*pci)(nvmlDevice_t, nvmlPciInfo_t *);
    nvmlReturn_t (*cores)(nvmlDevice_t, unsigned int *);   /* optional */
};

struct tfd_nvml {
    void *lib;
    struct nvml_api api;
    enum tfd_mode backend;   /* NVIDIA or SOFT */
    unsigned count;
    char path[PATH_MAX];
    char skipped[256];       /* AUTO: why NVIDIA's NVML was not used; "" otherwise */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int tfd_parse_mode(const char *text, enum tfd_mode *mode, char *err, size_t errlen)
{
    if (text && strcmp(text, "auto") == 0)
        *mode = TFD_MODE_AUTO;
    else if (text && strcmp(text, "nvidia") == 0)
        *mode = TFD_MODE_NVIDIA;
    else if (text && (strcmp(text, "soft") == 0 || strcmp(text, "softgpu") == 0))
        *mode = TFD_MODE_SOFT;
    else {
        set_err(err, errlen, "unknown device backend '%.64s' (want auto, nvidia or soft)",
                text ? text : "(null)");
        return -1;
    }
    return 0;
}

const char *tfd_mode_name(enum tfd_mode mode)
{
    switch (mode) {
    case TFD_MODE_AUTO: return "auto";
    case TFD_MODE_NVIDIA: return "nvidia";
    case TFD_MODE_SOFT: return "soft";
    }
    return "?";
}

/* <dir of the running executable>/../lib/libtfuse-softgpu-nvml.so, or the override. */
static int softgpu_nvml_path(char *out, size_t outlen, char *err, size_t errlen)
{
    const char *env = getenv("TFUSE_SOFTGPU_NVML_LIB");
    if (env && *env) {
        if ((size_t)snprintf(out, outlen, "%s", env) >= outlen)
            goto too_long;
        return 0;
    }
    if (tf_exe_relative("../lib/libtfuse-softgpu-nvml.so", out, outlen) != 0) {
        set_err(err, errlen, "cannot find softgpu's NVML next to the running executable "
                             "(/proc/self/exe unreadable or path too long)");
        return -1;
    }
    return 0;
too_long:
    set_err(err, errlen, "softgpu NVML library path too long");
    return -1;
}

#define BIND(field, symbol)                                                                  \
    do {                                                                                      \
        *(void **)&nv->api.field = dlsym(nv->lib, symbol);                                    \
        if (!nv->api.field) {                                                                 \
            set_err(err, errlen, "%s: missing NVML symbol %s", nv->path, symbol);             \
            return -1;                                                                        \
        }                                                                                     \
    } while (0)

static int bind_api(struct tfd_nvml *nv, char *err, size_t errlen)
{
    BIND(init, "nvmlInit_v2");
    BIND(shutdown, "nvmlShutdown");
    BIND(error_string, "nvmlErrorString");
    BIND(count, "nvmlDeviceGetCount_v2");
    BIND(handle_by_index, "nvmlDeviceGetHandleByIndex_v2");
    BIND(name, "nvmlDeviceGetName");
    BIND(uuid, "nvmlDeviceGetUUID");
    BIND(memory, "nvmlDeviceGetMemoryInfo");
    BIND(utilization, "nvmlDeviceGetUtilizationRates");
    BIND(pci, "nvmlDeviceGetPciInfo_v3");
    *(void **)&nv->api.cores = dlsym(nv->lib, "nvmlDeviceGetNumGpuCores");
    return 0;
}

static const char *nvml_error(struct tfd_nvml *nv, nvmlReturn_t r)
{
    const char *s = nv->api.error_string ? nv->api.error_string(r) : NULL;
    return s ? s : "unknown NVML error";
}

/* Loads one library and initializes NVML; on failure nv->lib is closed again. */
static int load(struct tfd_nvml *nv, enum tfd_mode backend, char *err, size_t errlen)
{
    int checked_origin = 0;
    nv->backend = backend;
    nv->count = 0;
    if (backend == TFD_MODE_SOFT) {
        if (softgpu_nvml_path(nv->path, sizeof nv->path, err, errlen) != 0)
            return -1;
    } else {
        const char *env = getenv("TFUSE_NVIDIA_NVML_LIB");
        checked_origin = !(env && *env);  /* an explicit path is the operator's choice */
        snprintf(nv->path, sizeof nv->path, "%s", checked_origin ? "libnvidia-ml.so.1" : env);
    }
    nv->lib = dlopen(nv->path, RTLD_NOW | RTLD_LOCAL);
    if (!nv->lib) {
        const char *why = dlerror();
        set_err(err, errlen, "cannot load %s: %s", nv->path, why ? why : "dlopen failed");
        return -1;
    }
    if (bind_api(nv, err, errlen) != 0)
        goto fail;
    if (checked_origin && tf_is_tensorfuse_library(*(void **)&nv->api.init)) {
        set_err(err, errlen, "libnvidia-ml.so.1 resolved to a TensorFuse library (a TensorFuse "
                "lib folder is on LD_LIBRARY_PATH); refusing to discover GPUs through it");
        goto fail;
    }
    nvmlReturn_t r = nv->api.init();
    if (r != NVML_SUCCESS) {
        set_err(err, errlen, "%s: nvmlInit failed: %s", nv->path, nvml_error(nv, r));
        goto fail;
    }
    r = nv->api.count(&nv->count);
    if (r != NVML_SUCCESS) {
        set_err(err, errlen, "%s: nvmlDeviceGetCount failed: %s", nv->path, nvml_error(nv, r));
        nv->api.shutdown();
        goto fail;
    }
    return 0;
fail:
    dlclose(nv->lib);
    nv->lib = NULL;
    return -1;
}

struct tfd_nvml *tfd_open(enum tfd_mode mode, char *err, size_t errlen)
{
    if (mode != TFD_MODE_AUTO && mode != TFD_MODE_NVIDIA && mode != TFD_MODE_SOFT) {
        set_err(err, errlen, "invalid device backend mode %d", (int)mode);
        return NULL;
    }
    struct tfd_nvml *nv = calloc(1, sizeof *nv);
    if (!nv) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    if (mode == TFD_MODE_AUTO) {
        char why[256] = "";
        if (load(nv, TFD_MODE_NVIDIA, why, sizeof why) == 0) {
            if (nv->count > 0)
                return nv;
            /* A driver without GPUs (e.g. all passed to VMs): softgpu is more useful. */
            snprintf(why, sizeof why, "NVIDIA NVML reports no devices");
            nv->api.shutdown();
            dlclose(nv->lib);
            nv->lib = NULL;
        }
        char soft_err[256] = "";
        if (load(nv, TFD_MODE_SOFT, soft_err, sizeof soft_err) == 0) {
            snprintf(nv->skipped, sizeof nv->skipped, "%s", why);
            return nv;
        }
        set_err(err, errlen, "no NVML found: %s; and softgpu: %s", why, soft_err);
    } else if (load(nv, mode, err, errlen) == 0) {
        return nv;
    }
    free(nv);
    return NULL;
}

void tfd_close(struct tfd_nvml *nv)
{
    if (!nv)
        return;
    if (nv->lib) {
        nv->api.shutdown();
        dlclose(nv->lib);
    }
    free(nv);
}

enum tfd_mode tfd_backend(const struct tfd_nvml *nv) { return nv->backend; }
const char *tfd_library_path(const struct tfd_nvml *nv) { return nv->path; }
unsigned tfd_count(const struct tfd_nvml *nv) { return nv->count; }
const char *tfd_nvidia_skipped(const struct tfd_nvml *nv) { return nv->skipped; }

static int handle_at(struct tfd_nvml *nv, unsigned index, nvmlDevice_t *dev, char *err,
                     size_t errlen)
{
    if (!nv || !nv->lib) {
        set_err(err, errlen, "NVML is not open");
        return -1;
    }
    if (index >= nv->count) {
        set_err(err, errlen, "device index %u out of range (%u devices)", index, nv->count);
        return -1;
    }
    nvmlReturn_t r = nv->api.handle_by_index(index, dev);
    if (r != NVML_SUCCESS) {
        set_err(err, errlen, "device %u: nvmlDeviceGetHandleByIndex: %s", index, nvml_error(nv, r));
        return -1;
    }
    return 0;
}

/* softgpu's SM count, from the cores its NVML reports (an sm_80 SM has 64 FP32 cores); 0 when
 * it does not say. */
static int softgpu_sms(struct tfd_nvml *nv, nvmlDevice_t dev)
{
    unsigned cores = 0;
    if (!nv->api.cores || nv->api.cores(dev, &cores) != NVML_SUCCESS)
        return 0;
    return (int)(cores / TFD_SOFTGPU_CORES_PER_SM);
}

static void rate(struct tfd_nvml *nv, nvmlDevice_t dev, struct tfd_device *d)
{
    if (nv->backend == TFD_MODE_SOFT && strcmp(d->name, TFD_SOFTGPU_NAME) == 0) {
        d->fp16_tflops = tfd_softgpu_tflops(softgpu_sms(nv, dev));
        d->rating = TFD_RATING_SOFTGPU;
        return;
    }
    d->fp16_tflops = tfd_tflops_lookup(d->name);
    d->rating = d->fp16_tflops > 0 ? TFD_RATING_TABLE : TFD_RATING_UNKNOWN;
}

int tfd_device_at(struct tfd_nvml *nv, unsigned index, struct tfd_device *out, char *err,
                  size_t errlen)
{
    nvmlDevice_t dev;
    if (handle_at(nv, index, &dev, err, errlen) != 0)
        return -1;
    memset(out, 0, sizeof *out);
    out->index = index;
    const char *what = "nvmlDeviceGetName";
    nvmlReturn_t r = nv->api.name(dev, out->name, sizeof out->name);
    if (r == NVML_SUCCESS) {
        what = "nvmlDeviceGetUUID";
        r = nv->api.uuid(dev, out->uuid, sizeof out->uuid);
    }
    nvmlMemory_t mem;
    if (r == NVML_SUCCESS) {
        what = "nvmlDeviceGetMemoryInfo";
        r = nv->api.memory(dev, &mem);
    }
    nvmlPciInfo_t pci;
    if (r == NVML_SUCCESS) {
        what = "nvmlDeviceGetPciInfo";
        r = nv->api.pci(dev, &pci);
    }
    if (r != NVML_SUCCESS) {
        set_err(err, errlen, "device %u: %s: %s", index, what, nvml_error(nv, r));
        return -1;
    }
    /* NVML's buffers are NUL-terminated on success; terminate anyway against a bad library. */
    out->name[sizeof out->name - 1] = '\0';
    out->uuid[sizeof out->uuid - 1] = '\0';
    pci.busId[sizeof pci.busId - 1] = '\0';
    snprintf(out->pci_bus_id, sizeof out->pci_bus_id, "%s", pci.busId);
    out->memory_total = mem.total;
    rate(nv, dev, out);
    return 0;
}

int tfd_usage(struct tfd_nvml *nv, unsigned index, struct tfd_usage *out, char *err,
              size_t errlen)
{
    nvmlDevice_t dev;
    if (handle_at(nv, index, &dev, err, errlen) != 0)
        return -1;
    nvmlUtilization_t util;
    nvmlMemory_t mem;
    nvmlReturn_t r = nv->api.utilization(dev, &util);
    if (r != NVML_SUCCESS) {
        set_err(err, errlen, "device %u: nvmlDeviceGetUtilizationRates: %s", index,
                nvml_error(nv, r));
        return -1;
    }
    r = nv->api.memory(dev, &mem);
    if (r != NVML_SUCCESS) {
        set_err(err, errlen, "device %u: nvmlDeviceGetMemoryInfo: %s", index, nvml_error(nv, r));
        return -1;
    }
    out->gpu_percent = util.gpu;
    out->memory_percent = util.memory;
    out->memory_used = mem.used;
    out->memory_total = mem.total;
    return 0;
}

int tfd_discover(enum tfd_mode mode, struct tfd_device *out, size_t cap, size_t *count,
                 enum tfd_mode *used, char *err, size_t errlen)
{
    if (!count || (!out && cap > 0)) {
        set_err(err, errlen, "tfd_discover: no output array");
        return -1;
    }
    *count = 0;
    struct tfd_nvml *nv = tfd_open(mode, err, errlen);
    if (!nv)
        return -1;
    int rc = 0;
    if (nv->count > cap) {
        set_err(err, errlen, "%u devices found but room for only %zu", nv->count, cap);
        rc = -1;
    }
    for (unsigned i = 0; rc == 0 && i < nv->count; i++)
        rc = tfd_device_at(nv, i, &out[i], err, errlen);
    if (rc == 0) {
        *count = nv->count;
        if (used)
            *used = nv->backend;
    }
    tfd_close(nv);
    return rc;
}
