/*
 * softgpu configuration shared by the driver library and the NVML library (both must report
 * the same devices): environment parsing and the stable per-index device UUID. Calls libc only.
 */
#ifndef SOFTGPU_CONFIG_H
#define SOFTGPU_CONFIG_H

#include <stdint.h>

#define SG_NS_MAX 48

struct sg_config {
    int ndev, sms, threads, log_level;
    int pin_sms; /* SOFTGPU_PIN_SMS=1: pool thread i on the i-th allowed CPU (ptx_pool_pin) */
    int cc_major, cc_minor; /* SOFTGPU_CC: the compute capability reported (default 8.0) */
    uint64_t mem_bytes;
    /* SOFTGPU_NAMESPACE: names a separate machine (its own shared devices); "" is the default */
    char ns[SG_NS_MAX + 1];
};

/* Reads SOFTGPU_DEVICES, SOFTGPU_SMS, SOFTGPU_MEMORY, SOFTGPU_THREADS, SOFTGPU_CC, SOFTGPU_LOG and
 * SOFTGPU_NAMESPACE;
 * malformed values are reported through warn (may be NULL) and replaced by defaults. */
void sg_config_load(struct sg_config *c, void (*warn)(const char *msg));
/* An integer environment setting in [lo, hi]; a malformed one is reported through warn (may be
 * NULL) and def used. */
int sg_env_int(const char *name, int def, int lo, int hi, void (*warn)(const char *msg));
/* "4GiB", "512MiB", "123" ...; 0 for a malformed string. */
uint64_t sg_parse_bytes(const char *s);
void sg_device_uuid(unsigned char out[16], int ordinal);

#define SG_MAX_DEVICES 16
/* SOFTGPU_CC bounds: the PTX targets the interpreter is written against (sm_50 .. sm_121). */
#define SG_CC_MIN 50
#define SG_CC_MAX 121
#define SG_PCI_BUS_BASE 0x41

#endif
