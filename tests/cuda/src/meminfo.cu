// meminfo: cudaMemGetInfo reports total and free memory, and free memory follows an
// allocation and its release.
#include "check.h"

int main()
{
    const size_t chunk = 64u << 20;
    size_t free0, total0, free1, total1, free2, total2;
    CHECK(cudaFree(0)); /* create the context first: it may reserve memory of its own */
    CHECK(cudaMemGetInfo(&free0, &total0));
    if (total0 == 0 || free0 > total0)
        FAIL("free %zu total %zu", free0, total0);
    if (free0 < 2 * chunk)
        FAIL("only %zu bytes free", free0);

    void *p;
    CHECK(cudaMalloc(&p, chunk));
    CHECK(cudaMemGetInfo(&free1, &total1));
    CHECK(cudaFree(p));
    CHECK(cudaMemGetInfo(&free2, &total2));
    if (total1 != total0 || total2 != total0)
        FAIL("total changed: %zu %zu %zu", total0, total1, total2);
    if (free0 - free1 < chunk)
        FAIL("free went %zu -> %zu after a %zu-byte allocation", free0, free1, chunk);
    if (free2 < free1 + chunk)
        FAIL("free went %zu -> %zu after freeing %zu bytes", free1, free2, chunk);
    printf("meminfo: OK free drops by >= 64 MiB and comes back\n");
    return 0;
}
