/*
 * Fuzz target for vGPU quantity parsing (src/vgpu/vgpu_parse.c): the CLI and the node's HTTP API
 * hand it strings from users. Every input must be either accepted with a value in range or
 * refused with a message; never a crash, never a read past the string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vgpu_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    char err[160];
    uint64_t bytes = 1;
    if (vgpu_parse_size(text, &bytes, err, sizeof err) == 0 && bytes == 0)
        abort();
    uint32_t bp;
    if (vgpu_parse_percent(text, &bp, err, sizeof err) == 0 && (bp == 0 || bp > VGPU_BP_FULL))
        abort();
    if (vgpu_parse_compute(text, 40.0, &bp, err, sizeof err) == 0 && (bp == 0 || bp > VGPU_BP_FULL))
        abort();
    int q = vgpu_qos_parse(text);
    if (q < -1 || q >= VGPU_QOS_COUNT)
        abort();
    char out[32];
    vgpu_format_size(bytes, out, sizeof out);
    free(text);
    return 0;
}
