/*
 * Parsing of the quantities a user types when creating a vGPU: memory sizes ("2GiB", "512MiB",
 * "1.5G", "4096"), compute shares ("30%", "0.3"), compute in TFLOPs ("12.5TFLOPs", converted
 * with the device's rating) and QoS class names. Shared by the CLI and the node so that both
 * accept and reject exactly the same strings, with the same messages.
 *
 * Owns: nothing but these pure functions. May call: libc only.
 */
#ifndef TFUSE_VGPU_PARSE_H
#define TFUSE_VGPU_PARSE_H

#include <stddef.h>
#include <stdint.h>

enum vgpu_qos { VGPU_QOS_LOW, VGPU_QOS_MEDIUM, VGPU_QOS_HIGH, VGPU_QOS_CRITICAL, VGPU_QOS_COUNT };

/* Compute shares are carried as basis points of one device: 10000 = the whole device. */
#define VGPU_BP_FULL 10000u

/*
 * "2GiB", "512MiB", "1.5GB", "100k", "4096" (bytes). Binary suffixes (KiB, MiB, GiB, TiB) are
 * powers of 1024, decimal ones (kB/KB, MB, GB, TB) powers of 1000, single letters (K, M, G, T)
 * powers of 1024 as most tools read them; a trailing "B" alone means bytes. Case-insensitive.
 * Returns 0 and stores the byte count, or -1 with a message in err (zero is rejected: a vGPU
 * without memory is a typo, not a request).
 */
int vgpu_parse_size(const char *text, uint64_t *bytes, char *err, size_t errlen);

/* "30%", "30.5%", or a fraction "0.3" (0 < x <= 1). Stores basis points (1..10000); -1 + err. */
int vgpu_parse_percent(const char *text, uint32_t *bp, char *err, size_t errlen);

/*
 * A compute amount as the CLI takes it: a percent/fraction as above, or "12.5TFLOPs"/"12.5tf",
 * converted with device_tflops (the device's rating; <= 0 means unknown, and TFLOPs are then
 * rejected). An amount above the device's rating is rejected, not silently clamped.
 */
int vgpu_parse_compute(const char *text, double device_tflops, uint32_t *bp, char *err,
                       size_t errlen);

/* "low", "medium", "high", "critical" (case-insensitive); -1 for anything else. */
int vgpu_qos_parse(const char *name);
const char *vgpu_qos_name(int qos);

/* Formats bytes as the largest binary unit that divides it, e.g. "2GiB", "1536MiB", "17B". */
void vgpu_format_size(uint64_t bytes, char *out, size_t outlen);

#endif
