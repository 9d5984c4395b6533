// Corpus: bitonic sort of blockDim.x keys per block (power of two) in shared memory.
extern "C" __global__ void bitonic_sort(unsigned *keys)
{
    extern __shared__ unsigned s[];
    unsigned tid = threadIdx.x, base = blockIdx.x * blockDim.x;
    s[tid] = keys[base + tid];
    __syncthreads();
    for (unsigned size = 2; size <= blockDim.x; size <<= 1) {
        for (unsigned stride = size >> 1; stride > 0; stride >>= 1) {
            unsigned partner = tid ^ stride;
            if (partner > tid) {
                bool ascending = (tid & size) == 0;
                unsigned a = s[tid], b = s[partner];
                if ((a > b) == ascending) {
                    s[tid] = b;
                    s[partner] = a;
                }
            }
            __syncthreads();
        }
    }
    keys[base + tid] = s[tid];
}
