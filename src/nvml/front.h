/*
 * The NVML front: every NVML entry point our two libnvidia-ml.so.1 export, written once
 * (front_*.c). The front checks arguments, keeps the init count and the device handles, and
 * builds NVML's answers from what a provider knows. A provider is the other half of one
 * library and implements the tfn_p_* functions below:
 *   src/softgpu/nvml.c  softgpu's devices, the device's truth (libtfuse-softgpu-nvml.so);
 *   src/stub/nvml.c     the session's vGPUs as a tenant sees them (the stub's libnvidia-ml.so.1).
 * The front knows nothing of either: it calls libc and its provider only.
 */
#ifndef TFUSE_NVML_FRONT_H
#define TFUSE_NVML_FRONT_H

#define TFUSE_NVML_NO_VERSION_MACROS
#include "tfuse/nvml.h"

#define TFN_API __attribute__((visibility("default")))
#define TFN_MAX_DEVICES 64
#define TFN_NO_MIG 0xFFFFFFFFu

/* What a provider knows of one device that does not change while NVML is initialized. */
struct tfn_facts {
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    unsigned char uuid[16];
    char serial[NVML_DEVICE_SERIAL_BUFFER_SIZE]; /* "": not known (NOT_SUPPORTED) */
    unsigned pci_domain, pci_bus, pci_device;
    unsigned pci_device_id, pci_subsystem_id;    /* device << 16 | vendor, as NVML packs them */
    int cc_major, cc_minor;
    unsigned sm_count;
    unsigned mem_bus_width;                      /* bits; 0: not known */
    unsigned sm_clock_mhz, mem_clock_mhz;        /* rated clocks; 0: not known */
    int ecc_enabled;
    nvmlComputeMode_t compute_mode;
    nvmlPstates_t pstate;                        /* NVML_PSTATE_UNKNOWN: not known */
};

/* ---- the provider (one per library) ---- */

nvmlReturn_t tfn_p_open(void);   /* first nvmlInit */
void tfn_p_close(void);          /* last nvmlShutdown */
nvmlReturn_t tfn_p_count(unsigned *n);
nvmlReturn_t tfn_p_facts(unsigned i, struct tfn_facts *f);
const char *tfn_p_driver_version(void);
nvmlReturn_t tfn_p_cuda_version(int *version);
/* total and used bytes; used is at most total */
nvmlReturn_t tfn_p_memory(unsigned i, unsigned long long *total, unsigned long long *used);
nvmlReturn_t tfn_p_utilization(unsigned i, nvmlUtilization_t *u);
/* the device's compute processes: up to cap of them into out, their number into *n */
nvmlReturn_t tfn_p_processes(unsigned i, nvmlProcessInfo_t *out, unsigned cap, unsigned *n);
/* one utilization sample per compute process (same rules) */
nvmlReturn_t tfn_p_process_util(unsigned i, nvmlProcessUtilizationSample_t *out, unsigned cap,
                                unsigned *n);
/* peer access between two different devices */
nvmlReturn_t tfn_p_p2p(unsigned a, unsigned b, nvmlGpuP2PCapsIndex_t index,
                       nvmlGpuP2PStatus_t *status);
extern const nvmlGpuTopologyLevel_t tfn_p_peer_level;          /* two different devices */
extern const nvmlGpuVirtualizationMode_t tfn_p_virtualization;

/* ---- shared by the front's files ---- */

int tfn_initialized(void);
unsigned tfn_count(void);
/* The index of a handle: NVML_ERROR_UNINITIALIZED before nvmlInit, INVALID_ARGUMENT for a
 * pointer that is not one of ours. */
nvmlReturn_t tfn_device(nvmlDevice_t device, unsigned *index);
nvmlDevice_t tfn_handle(unsigned index);
const struct tfn_facts *tfn_facts(unsigned index);
/* Copies src with its terminator, or INSUFFICIENT_SIZE (INVALID_ARGUMENT for a NULL dst). */
nvmlReturn_t tfn_copy(char *dst, unsigned length, const char *src);
/* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
void tfn_uuid_text(const unsigned char uuid[16], char out[NVML_DEVICE_UUID_BUFFER_SIZE]);
/* CPU time now in microseconds since 1970 (NVML's time stamps). */
unsigned long long tfn_now_us(void);

#endif
