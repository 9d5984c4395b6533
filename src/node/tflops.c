/*
 * The FP16 TFLOPs rating of common GPU models, keyed by the name NVML reports
 * (nvmlDeviceGetName), and softgpu's derived rating. Used by discover.c; calls libc only.
 *
 * What the number means: the dense (no 2:4 sparsity) FP16 tensor-core peak with FP32
 * accumulation, in TFLOPs, from NVIDIA's public datasheets and architecture whitepapers.
 * Datasheets print the sparse figure with an asterisk; the dense one is half of it. FP32
 * accumulation is what mixed-precision training uses and it is the only rate at which
 * datacenter and GeForce parts compare fairly (GeForce cards run FP16-accumulate at twice
 * the rate; that figure is not used here). The pool weighs TFLOPs against VRAM when placing
 * work, so the table must rank models consistently more than it must be precise.
 *
 * softgpu's rating is nominal: softgpu has no FP16 units (its PTX interpreter computes FP16 in
 * software, orders of magnitude slower), so no measured rate is meant. It rates a softgpu device
 * as the slice of an A100 its SM count models (312 x SMs / 108: 23.1 for the default 8 SMs), so
 * that a TFLOPs request converts to the same share of the device as on the card softgpu stands
 * in for, and the pool places TFLOPs requests on softgpu nodes the way it will on real ones.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "discover.h"

struct tflops_row {
    const char *nvml_name;  /* exactly as nvmlDeviceGetName returns it */
    double fp16_dense;
};

static const struct tflops_row table[] = {
    /* Blackwell: HGX B200, 4.5 PFLOPS sparse FP16/BF16 per GPU */
    {"NVIDIA B200", 2250.0},
    /* Hopper: SXM 1,979 sparse; PCIe 1,513 sparse; NVL (2024 datasheet, per GPU) 1,671 sparse */
    {"NVIDIA H200", 989.5},
    {"NVIDIA H200 NVL", 835.5},
    {"NVIDIA H100 80GB HBM3", 989.5},
    {"NVIDIA H100 PCIe", 756.5},
    {"NVIDIA H100 NVL", 835.5},
    {"NVIDIA H800", 989.5},
    {"NVIDIA H800 PCIe", 756.5},
    {"NVIDIA GH200 480GB", 989.5},
    /* Ampere datacenter: A100 312 dense (all memory sizes and form factors) */
    {"NVIDIA A100-SXM4-40GB", 312.0},
    {"NVIDIA A100-SXM4-80GB", 312.0},
    {"NVIDIA A100-PCIE-40GB", 312.0},
    {"NVIDIA A100 80GB PCIe", 312.0},
    {"NVIDIA A800-SXM4-80GB", 312.0},
    {"NVIDIA A800 80GB PCIe", 312.0},
    {"NVIDIA A30", 165.0},
    {"NVIDIA A40", 149.7},
    {"NVIDIA A10", 125.0},
    {"NVIDIA RTX A6000", 154.8},
    /* Ada datacenter and workstation */
    {"NVIDIA L40S", 362.05},
    {"NVIDIA L40", 181.05},
    {"NVIDIA L4", 121.0},
    {"NVIDIA RTX 6000 Ada Generation", 364.2},
    /* Turing and Volta */
    {"Tesla T4", 65.0},
    {"Tesla V100-SXM2-16GB", 125.0},
    {"Tesla V100-SXM2-32GB", 125.0},
    {"Tesla V100-PCIE-16GB", 112.0},
    {"Tesla V100-PCIE-32GB", 112.0},
    {"Tesla V100S-PCIE-32GB", 130.0},
    /* GeForce, FP32-accumulate rate (see the header comment) */
    {"NVIDIA GeForce RTX 4090", 165.2},
    {"NVIDIA GeForce RTX 3090", 71.0},
};

#define TABLE_ROWS (sizeof table / sizeof table[0])

/* A100 (108 SMs, 1410 MHz boost): 312 TFLOPs dense FP16, i.e. this much per SM. softgpu
 * reports sm_80 and the A100's clock, so its "devices" are rated as A100 slices. */
#define A100_SMS 108
#define A100_FP16_DENSE 312.0

/* Skips one vendor or brand prefix NVML names carry; the comparison then ignores case. */
static const char *strip_brand(const char *name)
{
    static const char *prefixes[] = {"NVIDIA ", "Tesla ", "GeForce "};
    for (int again = 1; again;) {
        again = 0;
        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
            size_t n = strlen(prefixes[i]);
            if (strncasecmp(name, prefixes[i], n) == 0) {
                name += n;
                again = 1;
            }
        }
    }
    return name;
}

double tfd_tflops_lookup(const char *nvml_name)
{
    if (!nvml_name || !*nvml_name)
        return 0.0;
    for (size_t i = 0; i < TABLE_ROWS; i++)
        if (strcmp(table[i].nvml_name, nvml_name) == 0)
            return table[i].fp16_dense;
    /* Names seen through other tools ("A100-SXM4-80GB", "nvidia l4") still resolve. */
    const char *bare = strip_brand(nvml_name);
    for (size_t i = 0; i < TABLE_ROWS; i++)
        if (strcasecmp(strip_brand(table[i].nvml_name), bare) == 0)
            return table[i].fp16_dense;
    return 0.0;
}

double tfd_softgpu_tflops(int sms)
{
    if (sms <= 0)
        return 0.0;
    return A100_FP16_DENSE * (double)sms / A100_SMS;
}

const char *tfd_tflops_row(size_t i, double *tflops)
{
    if (i >= TABLE_ROWS)
        return NULL;
    if (tflops)
        *tflops = table[i].fp16_dense;
    return table[i].nvml_name;
}
