// Corpus: the sm_90 asynchronous-copy family as inline PTX (what cuda::ptx and cuda::barrier
// emit): mbarrier init/arrive/arrive.expect_tx/try_wait(.parity)/test_wait/pending_count/
// expect_tx/complete_tx/arrive_drop/inval, cp.async.bulk global->shared with mbarrier completion
// and shared->global with a bulk group, cp.async.bulk.prefetch, cp.async.mbarrier.arrive.noinc,
// fence.proxy.async, fence.mbarrier_init, elect.sync, setmaxnreg and griddepcontrol.
// Compiled with -arch=sm_80 -ptx: nvcc passes inline PTX through unchecked.

__device__ __forceinline__ unsigned smem(const void *p) { return (unsigned)__cvta_generic_to_shared(p); }

__device__ __forceinline__ unsigned elect_leader(unsigned members)
{
    unsigned lane, is;
    asm volatile("{ .reg .pred p; elect.sync %0|p, %2; selp.u32 %1, 1, 0, p; }"
                 : "=r"(lane), "=r"(is) : "r"(members));
    return is ? lane + 1 : 0; // lane + 1 in the leader, 0 elsewhere
}

__device__ __forceinline__ void wait_token(unsigned bar, unsigned long long token)
{
    unsigned done;
    do
        asm volatile("{ .reg .pred p; mbarrier.try_wait.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
                     : "=r"(done) : "r"(bar), "l"(token) : "memory");
    while (!done);
}

__device__ __forceinline__ void wait_parity(unsigned bar, unsigned parity)
{
    unsigned done;
    do
        asm volatile("{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
                     : "=r"(done) : "r"(bar), "r"(parity) : "memory");
    while (!done);
}

// Each block loads 1024 floats of in with one bulk copy, the block waits on the transaction
// count, computes 2x+1 in shared memory and one thread stores the tile with a bulk copy. A
// second phase (every thread arrives) is awaited by parity.
extern "C" __global__ void bulk_tile(const float *in, float *out)
{
    __shared__ alignas(128) float tile[1024];
    __shared__ alignas(8) unsigned long long bar;
    unsigned b = smem(&bar), t = smem(tile);
    const float *src = in + blockIdx.x * 1024;
    asm volatile("setmaxnreg.inc.sync.aligned.u32 240;");
    asm volatile("griddepcontrol.wait;" ::: "memory");
    if (threadIdx.x == 0) {
        asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" :: "r"(b), "r"(blockDim.x));
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
        asm volatile("cp.async.bulk.prefetch.L2.global [%0], 4096;" :: "l"(src));
    }
    __syncthreads();
    unsigned long long token;
    if (threadIdx.x < 32 && elect_leader(0xffffffffu)) {
        asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], 4096, [%2];"
                     :: "r"(t), "l"(src), "r"(b) : "memory");
        asm volatile("mbarrier.arrive.expect_tx.release.cta.shared::cta.b64 %0, [%1], 4096;"
                     : "=l"(token) : "r"(b) : "memory");
    } else {
        asm volatile("mbarrier.arrive.shared::cta.b64 %0, [%1];" : "=l"(token) : "r"(b) : "memory");
    }
    wait_token(b, token);
    for (int i = threadIdx.x; i < 1024; i += blockDim.x)
        tile[i] = 2.0f * tile[i] + 1.0f;
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" :: "r"(b) : "memory");
    wait_parity(b, 1);
    if (threadIdx.x == 0) {
        asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], 4096;"
                     :: "l"(out + blockIdx.x * 1024), "r"(t) : "memory");
        asm volatile("cp.async.bulk.commit_group;");
        asm volatile("cp.async.bulk.wait_group.read 0;" ::: "memory");
        asm volatile("cp.async.bulk.wait_group 0;" ::: "memory");
        asm volatile("mbarrier.inval.shared::cta.b64 [%0];" :: "r"(b) : "memory");
    }
    asm volatile("griddepcontrol.launch_dependents;");
}

__device__ __forceinline__ unsigned test_token(unsigned bar, unsigned long long token)
{
    unsigned done;
    asm volatile("{ .reg .pred p; mbarrier.test_wait.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
                 : "=r"(done) : "r"(bar), "l"(token) : "memory");
    return done;
}

__device__ __forceinline__ unsigned test_parity(unsigned bar, unsigned parity)
{
    unsigned done;
    asm volatile("{ .reg .pred p; mbarrier.test_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
                 : "=r"(done) : "r"(bar), "r"(parity) : "memory");
    return done;
}

// One thread walks mbarriers through their phases; f[] gets what it observes (see the case).
extern "C" __global__ void mbarrier_phases(unsigned *f)
{
    __shared__ alignas(8) unsigned long long bars[4];
    unsigned b0 = smem(&bars[0]), b1 = smem(&bars[1]), b2 = smem(&bars[2]), b3 = smem(&bars[3]);
    unsigned leader = elect_leader(0xfffffffeu);
    if (threadIdx.x == 0)
        f[7] = leader;
    if (threadIdx.x == 1)
        f[8] = leader;
    if (threadIdx.x != 0)
        return;
    unsigned long long tok, tok2;
    unsigned cnt;
    asm volatile("mbarrier.init.shared.b64 [%0], 3;" :: "r"(b0));
    asm volatile("mbarrier.arrive.shared.b64 %0, [%1];" : "=l"(tok) : "r"(b0));
    asm volatile("mbarrier.pending_count.b64 %0, %1;" : "=r"(cnt) : "l"(tok));
    f[0] = cnt;
    asm volatile("mbarrier.arrive.shared.b64 %0, [%1], 2;" : "=l"(tok2) : "r"(b0));
    f[1] = test_token(b0, tok) * 10 + test_token(b0, tok2);
    asm volatile("mbarrier.init.shared.b64 [%0], 1;" :: "r"(b1));
    asm volatile("mbarrier.expect_tx.relaxed.cta.shared::cta.b64 [%0], 16;" :: "r"(b1));
    asm volatile("mbarrier.arrive.shared.b64 %0, [%1];" : "=l"(tok) : "r"(b1));
    f[2] = test_token(b1, tok);
    asm volatile("mbarrier.complete_tx.relaxed.cta.shared::cta.b64 [%0], 16;" :: "r"(b1));
    f[3] = test_token(b1, tok);
    asm volatile("mbarrier.init.shared.b64 [%0], 2;" :: "r"(b2));
    asm volatile("mbarrier.arrive_drop.shared.b64 _, [%0];" :: "r"(b2));
    f[4] = test_parity(b2, 0);
    asm volatile("mbarrier.arrive.shared.b64 _, [%0];" :: "r"(b2));
    f[4] = f[4] * 10 + test_parity(b2, 0);
    asm volatile("mbarrier.arrive.shared.b64 _, [%0];" :: "r"(b2)); // expected is 1 now
    f[5] = test_parity(b2, 1);
    asm volatile("mbarrier.init.shared.b64 [%0], 1;" :: "r"(b3));
    asm volatile("cp.async.mbarrier.arrive.shared.b64 [%0];" :: "r"(b3));
    f[6] = test_parity(b3, 0);
    asm volatile("cp.async.mbarrier.arrive.noinc.shared.b64 [%0];" :: "r"(b3));
    f[6] = f[6] * 10 + test_parity(b3, 0);
}
