// ipc: a producer and a consumer process share device memory through an IPC handle. The
// producer fills an allocation, passes cudaIpcGetMemHandle's bytes to a second process of its
// own (exec'd, so that it is a fresh CUDA process), which opens the handle, checks the bytes,
// adds one to each element with a kernel, closes the handle and exits; the producer then sees
// the consumer's writes. An event orders nothing here: the consumer synchronizes before exit.
#include <cstring>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

enum { N = 1 << 16 };

__global__ void inc(int *p)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N)
        p[i] += 1;
}

static void to_hex(const cudaIpcMemHandle_t *h, char *out)
{
    for (size_t i = 0; i < sizeof h->reserved; i++)
        sprintf(out + 2 * i, "%02x", (unsigned char)h->reserved[i]);
}

static int consume(const char *hex)
{
    cudaIpcMemHandle_t h;
    for (size_t i = 0; i < sizeof h.reserved; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        h.reserved[i] = (char)v;
    }
    int *d;
    CHECK(cudaIpcOpenMemHandle((void **)&d, h, cudaIpcMemLazyEnablePeerAccess));
    static int host[N];
    CHECK(cudaMemcpy(host, d, sizeof host, cudaMemcpyDeviceToHost));
    for (int i = 0; i < N; i++)
        if (host[i] != 3 * i)
            FAIL("consumer: element %d is %d, expected %d", i, host[i], 3 * i);
    inc<<<N / 256, 256>>>(d);
    CHECK_LAUNCH();
    CHECK(cudaDeviceSynchronize());
    CHECK(cudaIpcCloseMemHandle(d));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "consume"))
        return consume(argv[2]);
    static int host[N];
    for (int i = 0; i < N; i++)
        host[i] = 3 * i;
    int *d;
    CHECK(cudaMalloc(&d, sizeof host));
    CHECK(cudaMemcpy(d, host, sizeof host, cudaMemcpyHostToDevice));
    cudaIpcMemHandle_t h;
    CHECK(cudaIpcGetMemHandle(&h, d));
    char hex[2 * sizeof h.reserved + 1];
    to_hex(&h, hex);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        execl("/proc/self/exe", argv[0], "consume", hex, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        FAIL("the consumer failed (status %d)", status);
    CHECK(cudaMemcpy(host, d, sizeof host, cudaMemcpyDeviceToHost));
    for (int i = 0; i < N; i++)
        if (host[i] != 3 * i + 1)
            FAIL("producer: element %d is %d after the consumer, expected %d", i, host[i],
                 3 * i + 1);
    CHECK(cudaFree(d));
    printf("ipc: OK %d ints shared with a second process, its writes seen\n", N);
    return 0;
}
