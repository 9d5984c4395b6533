/*
 * A driver-API program for modcache_scope, run through `tfuse run` on a vGPU: loads each file
 * named on the command line as a module image (cuModuleLoadData: the stub sends its hash first,
 * then its bytes when the node asks) and prints "ok FILE" or "fail FILE RESULT" per file.
 * Exits 0 when it could at least make a context.
 * Owns: nothing. May call: the CUDA driver API (our stub through tfuse run).
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = calloc(1, (size_t)n + 1);   /* PTX is text: NUL-terminated */
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

int main(int argc, char **argv)
{
    CUcontext ctx;
    CUdevice dev;
    if (cuInit(0) != CUDA_SUCCESS || cuDeviceGet(&dev, 0) != CUDA_SUCCESS ||
        cuCtxCreate(&ctx, NULL, 0, dev) != CUDA_SUCCESS) {
        fprintf(stderr, "modcache_prog: no context\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        char *image = slurp(argv[i]);
        CUmodule m;
        CUresult r = image ? cuModuleLoadData(&m, image) : CUDA_ERROR_FILE_NOT_FOUND;
        if (r == CUDA_SUCCESS) {
            printf("ok %s\n", argv[i]);
            cuModuleUnload(m);
        } else {
            printf("fail %s %d\n", argv[i], (int)r);
        }
        free(image);
    }
    fflush(stdout);
    cuCtxDestroy(ctx);
    return 0;
}
