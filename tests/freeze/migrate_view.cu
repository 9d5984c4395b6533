/*
 * A CUDA runtime program for the migration test (docs/freeze.md, "Migration"), built by nvcc
 * (cudart loads its kernels as libraries, cuLibraryLoadData, and uses the primary context):
 * `migrate_view hold BYTES` holds BYTES in cudaMalloc'd memory and a 2 MiB buffer filled by
 * kernels on a stream of its own, prints "ready pid PID", then serves commands from stdin:
 *   check  one step of the kernel on the stream, an event recorded and waited for, every word
 *          compared with the CPU's: "ok STEP" or "FAIL ..." ("error NAME" for a failed call)
 *   end    exits 0
 * Owns: nothing. May call: the CUDA runtime (through our stub's libcuda under tfuse run).
 */
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__global__ void fill(uint32_t *p, size_t n, uint32_t seed)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = (uint32_t)i * 2654435761u + seed;
}

__global__ void step(uint32_t *p, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = p[i] * 3u + 1u;
}

#define TRY(call)                                                              \
    do {                                                                       \
        cudaError_t e_ = (call);                                               \
        if (e_ != cudaSuccess) {                                               \
            printf("error %s (%s)\n", cudaGetErrorName(e_), #call);            \
            return 1;                                                          \
        }                                                                      \
    } while (0)

static uint32_t *dev[2], *want[2], *got;
static size_t n[2];
static cudaStream_t stream;
static cudaEvent_t done;

static int check(int stepno)
{
    for (int b = 0; b < 2; b++)
        step<<<(unsigned)((n[b] + 255) / 256), 256, 0, stream>>>(dev[b], n[b]);
    TRY(cudaGetLastError());
    TRY(cudaEventRecord(done, stream));
    TRY(cudaEventSynchronize(done));
    for (int b = 0; b < 2; b++) {
        TRY(cudaMemcpy(got, dev[b], n[b] * 4, cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < n[b]; i++) {
            want[b][i] = want[b][i] * 3u + 1u;
            if (got[i] != want[b][i]) {
                printf("FAIL buffer %d word %zu: %u, the CPU says %u\n", b, i, got[i],
                       want[b][i]);
                return 1;
            }
        }
    }
    printf("ok %d\n", stepno);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 3 || strcmp(argv[1], "hold") != 0) {
        fprintf(stderr, "usage: migrate_view hold BYTES\n");
        return 2;
    }
    n[0] = strtoull(argv[2], NULL, 0) / 4;
    n[1] = (2u << 20) / 4;
    got = (uint32_t *)malloc(n[0] * 4);
    TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    TRY(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    for (int b = 0; b < 2; b++) {
        want[b] = (uint32_t *)malloc(n[b] * 4);
        if (!want[b] || !got)
            return 1;
        TRY(cudaMalloc(&dev[b], n[b] * 4));
        fill<<<(unsigned)((n[b] + 255) / 256), 256, 0, stream>>>(dev[b], n[b], 77u + b);
        for (size_t i = 0; i < n[b]; i++)
            want[b][i] = (uint32_t)i * 2654435761u + 77u + b;
    }
    TRY(cudaStreamSynchronize(stream));
    printf("ready pid %d\n", (int)getpid());
    char line[64];
    int steps = 0;
    while (fgets(line, sizeof line, stdin) && strncmp(line, "end", 3) != 0)
        if (strncmp(line, "check", 5) == 0)
            check(++steps);
    return 0;
}
