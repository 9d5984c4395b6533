// memcpy3d: 3D copies of a sub-box between page-locked host memory, pitched device memory and
// pageable host memory (synchronous and on a stream), with offsets on both sides; then
// cudaMemcpyPeer / cudaMemcpyPeerAsync between two allocations of device 0. Every byte of every
// destination is checked, including the ones the copies must leave alone.
#include <cstring>
#include "check.h"

enum { NX = 24, NY = 10, NZ = 6 };             // the host volume, in ints
enum { BX = 16, BY = 7, BZ = 4 };              // the box copied
enum { OX = 3, OY = 2, OZ = 1 };               // where the box starts in the host volume
static const size_t DPITCH = 128, DROWS = 9;   // device rows are padded, slices taller than BY

static int value(int x, int y, int z) { return 1 + x + 100 * y + 10000 * z; }

static cudaMemcpy3DParms box(cudaPitchedPtr src, cudaPos from, cudaPitchedPtr dst, cudaPos to,
                             cudaMemcpyKind kind)
{
    cudaMemcpy3DParms p = {};
    p.srcPtr = src, p.srcPos = from, p.dstPtr = dst, p.dstPos = to;
    p.extent = make_cudaExtent(BX * sizeof(int), BY, BZ);
    p.kind = kind;
    return p;
}

// Checks that a host volume holds the box (shifted to start at `at`) and `fill` elsewhere.
static void check_volume(const int *v, int ax, int ay, int az, int fill, const char *what)
{
    for (int z = 0; z < NZ; z++)
        for (int y = 0; y < NY; y++)
            for (int x = 0; x < NX; x++) {
                int bx = x - ax, by = y - ay, bz = z - az;
                int inside = bx >= 0 && bx < BX && by >= 0 && by < BY && bz >= 0 && bz < BZ;
                int want = inside ? value(bx + OX, by + OY, bz + OZ) : fill;
                int got = v[(z * NY + y) * NX + x];
                if (got != want)
                    FAIL("%s: (%d,%d,%d) = %d, expected %d", what, x, y, z, got, want);
            }
}

int main()
{
    const size_t vol = (size_t)NX * NY * NZ * sizeof(int);
    int *pinned, *back, *pageable;
    CHECK(cudaMallocHost(&pinned, vol));
    CHECK(cudaMallocHost(&back, vol));
    pageable = (int *)malloc(vol);
    for (int z = 0; z < NZ; z++)
        for (int y = 0; y < NY; y++)
            for (int x = 0; x < NX; x++)
                pinned[(z * NY + y) * NX + x] = value(x, y, z);
    const size_t dbytes = DPITCH * DROWS * BZ;
    char *d1, *d2;
    CHECK(cudaMalloc(&d1, dbytes));
    CHECK(cudaMalloc(&d2, dbytes + 256));
    CHECK(cudaMemset(d1, 0, dbytes));
    CHECK(cudaMemset(d2, 0, dbytes + 256));
    cudaPitchedPtr hp = make_cudaPitchedPtr(pinned, NX * sizeof(int), NX * sizeof(int), NY);
    cudaPitchedPtr hb = make_cudaPitchedPtr(back, NX * sizeof(int), NX * sizeof(int), NY);
    cudaPitchedPtr hq = make_cudaPitchedPtr(pageable, NX * sizeof(int), NX * sizeof(int), NY);
    cudaPitchedPtr dp1 = make_cudaPitchedPtr(d1, DPITCH, BX * sizeof(int), DROWS);
    cudaPitchedPtr dp2 = make_cudaPitchedPtr(d2, DPITCH, BX * sizeof(int), DROWS);
    cudaPos origin = make_cudaPos(0, 0, 0);
    cudaPos at_box = make_cudaPos(OX * sizeof(int), OY, OZ);

    // page-locked host -> device (the box lands at the device volume's origin)
    cudaMemcpy3DParms p = box(hp, at_box, dp1, origin, cudaMemcpyHostToDevice);
    CHECK(cudaMemcpy3D(&p));
    // device -> device
    p = box(dp1, origin, dp2, origin, cudaMemcpyDeviceToDevice);
    CHECK(cudaMemcpy3D(&p));
    // device -> page-locked host, at the origin of a zeroed volume
    memset(back, 0, vol);
    p = box(dp2, origin, hb, origin, cudaMemcpyDeviceToHost);
    CHECK(cudaMemcpy3D(&p));
    check_volume(back, 0, 0, 0, 0, "device to page-locked");
    // device -> pageable host on a stream, at an offset
    cudaStream_t s;
    CHECK(cudaStreamCreate(&s));
    memset(pageable, 0xff, vol);
    p = box(dp2, origin, hq, make_cudaPos(8 * sizeof(int), 3, 2), cudaMemcpyDeviceToHost);
    CHECK(cudaMemcpy3DAsync(&p, s));
    CHECK(cudaStreamSynchronize(s));
    check_volume(pageable, 8, 3, 2, -1, "device to pageable, async");
    // pageable host -> device on a stream, then back through page-locked memory
    CHECK(cudaMemset(d1, 0, dbytes));
    p = box(hq, make_cudaPos(8 * sizeof(int), 3, 2), dp1, origin, cudaMemcpyHostToDevice);
    CHECK(cudaMemcpy3DAsync(&p, s));
    memset(back, 0, vol);
    p = box(dp1, origin, hb, make_cudaPos(1 * sizeof(int), 1, 1), cudaMemcpyDeviceToHost);
    CHECK(cudaMemcpy3DAsync(&p, s));
    CHECK(cudaStreamSynchronize(s));
    check_volume(back, 1, 1, 1, 0, "pageable to device to page-locked, async");

    // Peer copies between two allocations of device 0.
    CHECK(cudaMemset(d2, 0, dbytes + 256));
    CHECK(cudaMemcpyPeer(d2 + 256, 0, d1, 0, dbytes));
    CHECK(cudaMemcpyPeerAsync(d1, 0, d2 + 256, 0, dbytes, s));
    CHECK(cudaStreamSynchronize(s));
    memset(back, 0, vol);
    p = box(dp1, origin, hb, origin, cudaMemcpyDeviceToHost);
    CHECK(cudaMemcpy3D(&p));
    check_volume(back, 0, 0, 0, 0, "after peer copies");
    // A copy past the end of an allocation is refused.
    if (cudaMemcpyPeer(d2 + dbytes, 0, d1, 0, dbytes) == cudaSuccess)
        FAIL("a peer copy past the end of its destination was accepted");
    (void)cudaGetLastError();

    CHECK(cudaStreamDestroy(s));
    CHECK(cudaFree(d1));
    CHECK(cudaFree(d2));
    CHECK(cudaFreeHost(pinned));
    CHECK(cudaFreeHost(back));
    free(pageable);
    printf("memcpy3d: OK %dx%dx%d box, page-locked, pageable and peer copies\n", BX, BY, BZ);
    return 0;
}
