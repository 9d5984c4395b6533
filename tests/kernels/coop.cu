// Corpus: cooperative groups. Every thread writes, the whole grid synchronises, then every
// thread reads a value another block wrote; repeated to check the barrier is reusable.
#include <cooperative_groups.h>
namespace cg = cooperative_groups;

extern "C" __global__ void coop_grid_sync(int *a, int *b, int rounds)
{
    cg::grid_group grid = cg::this_grid();
    unsigned n = grid.size();
    unsigned i = grid.thread_rank();
    a[i] = (int)i;
    for (int r = 0; r < rounds; r++) {
        grid.sync();
        int v = a[(i + blockDim.x) % n] + 1; // a value from the next block
        grid.sync();
        a[i] = v;
    }
    b[i] = a[i];
}
