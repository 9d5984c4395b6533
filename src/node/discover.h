/*
 * Device discovery for the node daemon: which GPUs this machine has, through NVML.
 *
 * Owns: loading an NVML library at run time (NVIDIA's libnvidia-ml.so.1, or softgpu's
 * libtfuse-softgpu-nvml.so when no NVIDIA driver is present), reading each device's model,
 * memory, UUID and PCI bus id, and rating it in FP16 dense TFLOPs from a built-in table
 * (tflops.c). May call: dlopen/dlsym, libc. Knows nothing of sessions, vGPUs or HTTP.
 *
 * Two ways to use it:
 *   - tfd_discover(): one shot, fills an array of struct tfd_device and unloads NVML.
 *   - tfd_open() / tfd_device_at() / tfd_usage() / tfd_close(): keeps NVML loaded so that the
 *     node can sample utilization and memory in use for its metrics.
 */
#ifndef TFUSE_NODE_DISCOVER_H
#define TFUSE_NODE_DISCOVER_H

#include <stddef.h>
#include <stdint.h>

/* Which NVML to load. AUTO: NVIDIA's when its library loads, initializes and reports at least
 * one device; softgpu's otherwise (the node's `--backend auto` default). */
enum tfd_mode { TFD_MODE_AUTO, TFD_MODE_NVIDIA, TFD_MODE_SOFT };

/* Where a device's TFLOPs figure came from. */
enum tfd_rating {
    TFD_RATING_UNKNOWN,  /* model not in the table: fp16_tflops is 0 */
    TFD_RATING_TABLE,    /* the built-in datasheet table */
    TFD_RATING_SOFTGPU,  /* derived from softgpu's SM count (tfd_softgpu_tflops) */
};

#define TFD_MAX_DEVICES 64
#define TFD_NAME_LEN 96
#define TFD_UUID_LEN 96
#define TFD_PCI_LEN 32

struct tfd_device {
    unsigned index;                 /* NVML index */
    char name[TFD_NAME_LEN];        /* exactly as NVML reports it */
    char uuid[TFD_UUID_LEN];        /* "GPU-xxxxxxxx-..." */
    char pci_bus_id[TFD_PCI_LEN];   /* "00000000:41:00.0" */
    uint64_t memory_total;          /* bytes */
    double fp16_tflops;             /* dense FP16 tensor peak; 0 when unknown */
    enum tfd_rating rating;
};

struct tfd_usage {
    unsigned gpu_percent;           /* NVML utilization.gpu */
    unsigned memory_percent;        /* NVML utilization.memory */
    uint64_t memory_used;           /* bytes */
    uint64_t memory_total;          /* bytes */
};

struct tfd_nvml;  /* an open NVML library (opaque) */

/* "auto", "nvidia" or "soft" (also "softgpu"); -1 and a message in err for anything else. */
int tfd_parse_mode(const char *text, enum tfd_mode *mode, char *err, size_t errlen);
const char *tfd_mode_name(enum tfd_mode mode);

/*
 * Loads and initializes NVML for mode. Library paths, in order:
 *   nvidia: $TFUSE_NVIDIA_NVML_LIB, else "libnvidia-ml.so.1" from the loader's search path
 *           (a TensorFuse library found there, e.g. our stub's, is refused: the node must
 *           never discover GPUs through itself);
 *   soft:   $TFUSE_SOFTGPU_NVML_LIB, else <dir of the running executable>/../lib/
 *           libtfuse-softgpu-nvml.so (where the build and `make install` put it).
 * Returns NULL with a message in err on failure; in AUTO mode err says why NVIDIA's was
 * skipped only when softgpu's failed too.
 */
struct tfd_nvml *tfd_open(enum tfd_mode mode, char *err, size_t errlen);
void tfd_close(struct tfd_nvml *nv);

/* TFD_MODE_NVIDIA or TFD_MODE_SOFT: the library tfd_open settled on, and its path. */
enum tfd_mode tfd_backend(const struct tfd_nvml *nv);
const char *tfd_library_path(const struct tfd_nvml *nv);
unsigned tfd_count(const struct tfd_nvml *nv);
/* In AUTO mode after falling back to softgpu: why NVIDIA's NVML was not used (missing
 * library, nvmlInit error, no devices), worth a warning on a machine meant to have GPUs.
 * "" when NVIDIA's NVML is in use or the mode was not AUTO. */
const char *tfd_nvidia_skipped(const struct tfd_nvml *nv);

/* Fills *out for device index (< tfd_count); -1 with a message on an NVML error. */
int tfd_device_at(struct tfd_nvml *nv, unsigned index, struct tfd_device *out, char *err,
                  size_t errlen);
/* Current utilization and memory of device index; -1 with a message on an NVML error. */
int tfd_usage(struct tfd_nvml *nv, unsigned index, struct tfd_usage *out, char *err,
              size_t errlen);

/*
 * One shot: opens NVML for mode, fills out[0..*count) (at most cap devices; more is an error,
 * not a silent truncation), records the backend used in *used (may be NULL), closes NVML.
 * Returns 0, or -1 with a message in err.
 */
int tfd_discover(enum tfd_mode mode, struct tfd_device *out, size_t cap, size_t *count,
                 enum tfd_mode *used, char *err, size_t errlen);

/* ---- the TFLOPs table (tflops.c) ---- */

/* The dense FP16 tensor TFLOPs of an NVML model name: exact match first, then ignoring case
 * and a leading "NVIDIA ", "Tesla " or "GeForce ". Returns 0 when the model is unknown. */
double tfd_tflops_lookup(const char *nvml_name);
/* softgpu models an A100 (sm_80, 1410 MHz): the A100's per-SM rating times sms. softgpu's own
 * answers give sms: its NVML's core count over TFD_SOFTGPU_CORES_PER_SM, or its driver's
 * CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT. */
double tfd_softgpu_tflops(int sms);
#define TFD_SOFTGPU_CORES_PER_SM 64
/* The model name softgpu's NVML reports. */
#define TFD_SOFTGPU_NAME "softgpu (CPU reference GPU)"

/* Table rows, for listing and tests: returns the row's name and rating, NULL past the end. */
const char *tfd_tflops_row(size_t i, double *tflops);

#endif
