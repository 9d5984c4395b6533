// The kernel behind the checked-in fat binaries in data/ (regen-data.sh builds them with nvcc at
// several architectures and compressions); test_fatbin and kernels_fatbin run it as c = a + b.
extern "C" __global__ void vadd(const float *a, const float *b, float *c, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) c[i] = a[i] + b[i];
}
