// Corpus: 2D and 3D grids and blocks; every thread writes an id built from all coordinates.
extern "C" __global__ void grid2d(int *out, int width, int height)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x < width && y < height)
        out[y * width + x] = (y << 16) | x;
}

extern "C" __global__ void grid3d(unsigned *out, int nx, int ny, int nz)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    int z = blockIdx.z * blockDim.z + threadIdx.z;
    if (x < nx && y < ny && z < nz)
        out[(z * ny + y) * nx + x] = (unsigned)(x + 1000 * y + 1000000 * z) ^
                                     (gridDim.x << 28) ^ (blockDim.z << 24);
}
