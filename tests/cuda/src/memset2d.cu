// memset2d: cudaMemset, cudaMallocPitch, cudaMemset2D, cudaMemcpy2D host<->device and
// device->device on a sub-rectangle.
#include <vector>
#include "check.h"

__global__ void add_rows(float *p, size_t pitch, int w, int h)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y;
    if (x < w && y < h) {
        float *row = (float *)((char *)p + y * pitch);
        row[x] += (float)(y * 1000);
    }
}

int main()
{
    /* cudaMemset on a linear buffer */
    const int bytes = 10000;
    unsigned char *d_bytes;
    std::vector<unsigned char> hb(bytes);
    CHECK(cudaMalloc(&d_bytes, bytes));
    CHECK(cudaMemset(d_bytes, 0xab, bytes));
    CHECK(cudaMemset(d_bytes + 100, 0x11, 50));
    CHECK(cudaMemcpy(hb.data(), d_bytes, bytes, cudaMemcpyDeviceToHost));
    for (int i = 0; i < bytes; i++)
        if (hb[i] != ((i >= 100 && i < 150) ? 0x11 : 0xab))
            FAIL("byte %d = %#x", i, hb[i]);

    /* pitched 2D: w x h floats */
    const int w = 300, h = 40;
    float *d;
    size_t pitch = 0;
    CHECK(cudaMallocPitch(&d, &pitch, w * sizeof(float), h));
    if (pitch < w * sizeof(float))
        FAIL("pitch %zu < row of %zu bytes", pitch, w * sizeof(float));
    CHECK(cudaMemset2D(d, pitch, 0, w * sizeof(float), h));
    std::vector<float> host(w * h), back(w * h, -1.0f);
    for (int i = 0; i < w * h; i++)
        host[i] = (float)(i % w);
    CHECK(cudaMemcpy2D(d, pitch, host.data(), w * sizeof(float), w * sizeof(float), h,
                       cudaMemcpyHostToDevice));
    add_rows<<<dim3((w + 127) / 128, h), 128>>>(d, pitch, w, h);
    CHECK_LAUNCH();
    CHECK(cudaMemcpy2D(back.data(), w * sizeof(float), d, pitch, w * sizeof(float), h,
                       cudaMemcpyDeviceToHost));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (back[y * w + x] != (float)(x + y * 1000))
                FAIL("(%d,%d) = %f", x, y, back[y * w + x]);

    /* device->device: a 10x5 rectangle starting at (20,3) into a dense buffer */
    float *d_rect;
    float rect[5][10];
    CHECK(cudaMalloc(&d_rect, sizeof(rect)));
    CHECK(cudaMemcpy2D(d_rect, 10 * sizeof(float), (char *)d + 3 * pitch + 20 * sizeof(float),
                       pitch, 10 * sizeof(float), 5, cudaMemcpyDeviceToDevice));
    CHECK(cudaMemcpy(rect, d_rect, sizeof(rect), cudaMemcpyDeviceToHost));
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 10; x++)
            if (rect[y][x] != (float)((x + 20) + (y + 3) * 1000))
                FAIL("rect (%d,%d) = %f", x, y, rect[y][x]);

    CHECK(cudaFree(d_bytes));
    CHECK(cudaFree(d));
    CHECK(cudaFree(d_rect));
    printf("memset2d: OK memset, pitch-linear %dx%d, 2D copies three ways\n", w, h);
    return 0;
}
