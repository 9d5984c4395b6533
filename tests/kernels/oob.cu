// Corpus: an out-of-bounds store far past the end of the buffer by one thread.
extern "C" __global__ void oob_write(int *out, int n, long long bad_index)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = i;
    if (i == n / 2)
        out[bad_index] = 42;
}
