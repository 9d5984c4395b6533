// Module-scope variables for the globals-sizing test (data/globals_sass.fatbin, built by
// regen-data.sh): 4000 bytes uninitialised, 20 initialised, 1200 constant.
__device__ float dbuf[1000];
__device__ int dinit[5] = {1, 2, 3, 4, 5};
__constant__ float cbuf[300];
extern "C" __global__ void use_globals(float *o)
{
    o[threadIdx.x] = dbuf[threadIdx.x] + cbuf[threadIdx.x] + dinit[threadIdx.x % 5];
}
