// Corpus: warp-aggregated atomics through cooperative groups on partially active warps
// (cg::coalesced_threads() under divergence: activemask, lanemask_lt, popc, fns, shfl,
// match.any), and cg::reduce / inclusive_scan over a coalesced group.
#include <cooperative_groups.h>
#include <cooperative_groups/reduce.h>
#include <cooperative_groups/scan.h>
namespace cg = cooperative_groups;

// One slot per trip from counter c for every thread with `take`, one atomic per coalesced group
// and the thread's rank within it. A thread makes `trips` trips, so groups form from different
// subsets of the warp in each trip.
__device__ __forceinline__ void take_slots(int *c, bool take, int trips, int *slot)
{
    for (int k = 0; k < trips; k++) {
        if (!take)
            continue;
        cg::coalesced_group g = cg::coalesced_threads();
        int base = 0;
        if (g.thread_rank() == 0)
            base = atomicAdd(c, (int)g.size());
        base = g.shfl(base, 0);
        slot[k] = base + (int)g.thread_rank();
    }
}

// Odd values take 1 + v % 4 slots from counter 0, then multiples of 3 take 1 + v % 4 from
// counter 1.
extern "C" __global__ void agg_slots(const int *in, int *ctr, int *slot, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    int v = in[i];
    take_slots(&ctr[0], v & 1, 1 + (v & 3), &slot[8 * i]);
    take_slots(&ctr[1], v % 3 == 0, 1 + (v & 3), &slot[8 * i + 4]);
}

// Aggregation by key: the threads of a warp with the same key (match.any) add once per key.
extern "C" __global__ void agg_by_key(const int *in, int *bins, int *rank, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n || in[i] < 0)
        return;
    int key = in[i] & 7;
    unsigned peers = __match_any_sync(__activemask(), key);
    int leader = __ffs(peers) - 1;
    int lane = threadIdx.x & 31;
    int base = 0;
    if (lane == leader)
        base = atomicAdd(&bins[key], __popc(peers));
    base = __shfl_sync(peers, base, leader);
    rank[i] = base + __popc(peers & ((1u << lane) - 1));
}

// Collectives of a coalesced group: sum, maximum and inclusive scan of the active threads' values,
// the group's size and each thread's rank.
extern "C" __global__ void agg_reduce(const int *in, int *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    int v = in[i];
    if (v % 5 == 0 || (v & 2)) {
        cg::coalesced_group g = cg::coalesced_threads();
        out[5 * i + 0] = cg::reduce(g, v, cg::plus<int>());
        out[5 * i + 1] = cg::reduce(g, v, cg::greater<int>());
        out[5 * i + 2] = cg::inclusive_scan(g, v);
        out[5 * i + 3] = (int)g.size();
        out[5 * i + 4] = (int)g.thread_rank();
    }
}

// NVIDIA's warpAggregatedAtomicsCG sample: stream compaction of the positive values through a
// counter incremented once per coalesced group (ballot + shfl), and binning through
// cg::labeled_partition (match.any) of the coalesced group.
__device__ int agg_inc(int *counter)
{
    cg::coalesced_group active = cg::coalesced_threads();
    unsigned mask = active.ballot(1);
    int res = 0;
    if (active.thread_rank() == 0)
        res = atomicAdd(counter, __popc(mask));
    res = active.shfl(res, 0);
    return res + (int)active.thread_rank();
}

extern "C" __global__ void agg_filter(int *dst, int *nres, const int *src, int n)
{
    for (int i = threadIdx.x + blockIdx.x * blockDim.x; i < n; i += gridDim.x * blockDim.x)
        if (src[i] > 0)
            dst[agg_inc(nres)] = src[i];
}

extern "C" __global__ void agg_bins(const int *src, int *counters, int *rank, int n)
{
    int i = threadIdx.x + blockIdx.x * blockDim.x;
    if (i >= n || src[i] % 3 == 0)
        return;
    int bucket = src[i] & 7;
    cg::coalesced_group active = cg::coalesced_threads();
    auto same = cg::labeled_partition(active, bucket);
    int res = 0;
    if (same.thread_rank() == 0)
        res = atomicAdd(&counters[bucket], (int)same.size());
    res = same.shfl(res, 0);
    rank[i] = res + (int)same.thread_rank();
}

// Shuffles of a coalesced group by rank (fns finds the lane of a rank): the last rank's value,
// the next rank's, shfl_down by 1 and shfl_up by 2, and any/all.
extern "C" __global__ void agg_shuffle(const int *in, int *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    int v = in[i];
    if (v & 4) {
        cg::coalesced_group g = cg::coalesced_threads();
        out[6 * i + 0] = g.shfl(v, g.size() - 1);
        out[6 * i + 1] = g.shfl(v, (g.thread_rank() + 1) % g.size());
        out[6 * i + 2] = g.shfl_down(v, 1);
        out[6 * i + 3] = g.shfl_up(v, 2);
        out[6 * i + 4] = g.any(v > 900);
        out[6 * i + 5] = g.all(v > 100);
    }
}
