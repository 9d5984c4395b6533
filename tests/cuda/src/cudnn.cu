// cuDNN's activation forward (ReLU, sigmoid, tanh) on an NCHW float tensor from NVIDIA's
// shared libcudnn, whose kernels softgpu runs from their compute_121 PTX (SOFTGPU_CC=12.1,
// docs/libraries.md), compared with the functions computed on the CPU in double.
#include <cmath>
#include <vector>

#include <cudnn.h>

#include "check.h"

#define DNN_CHECK(call) CHECK_STATUS(call, CUDNN_STATUS_SUCCESS)

int main()
{
    const int N = 2, C = 3, H = 8, W = 8, n = N * C * H * W;
    std::vector<float> x(n), y(n);
    for (int i = 0; i < n; i++)
        x[i] = (float)(i % 17) / 4.0f - 2;
    float *dx, *dy;
    CHECK(cudaMalloc(&dx, n * sizeof(float)));
    CHECK(cudaMalloc(&dy, n * sizeof(float)));
    CHECK(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    cudnnHandle_t h;
    cudnnTensorDescriptor_t t;
    cudnnActivationDescriptor_t a;
    DNN_CHECK(cudnnCreate(&h));
    DNN_CHECK(cudnnCreateTensorDescriptor(&t));
    DNN_CHECK(cudnnSetTensor4dDescriptor(t, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, C, H, W));
    DNN_CHECK(cudnnCreateActivationDescriptor(&a));
    static const struct {
        const char *name;
        cudnnActivationMode_t mode;
    } modes[] = {{"ReLU", CUDNN_ACTIVATION_RELU},
                 {"sigmoid", CUDNN_ACTIVATION_SIGMOID},
                 {"tanh", CUDNN_ACTIVATION_TANH}};
    for (int m = 0; m < 3; m++) {
        const float one = 1, zero = 0;
        DNN_CHECK(cudnnSetActivationDescriptor(a, modes[m].mode, CUDNN_NOT_PROPAGATE_NAN, 0.0));
        DNN_CHECK(cudnnActivationForward(h, a, &one, t, dx, &zero, t, dy));
        CHECK(cudaMemcpy(y.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost));
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double r = m == 0 ? fmax(x[i], 0.0) : m == 1 ? 1 / (1 + exp(-x[i])) : tanh(x[i]);
            worst = fmax(worst, fabs(r - y[i]));
        }
        if (worst > 1e-6)
            FAIL("%s differs from the CPU by %g", modes[m].name, worst);
        printf("activation forward %s on %dx%dx%dx%d matches the CPU\n", modes[m].name, N, C, H,
               W);
    }
    DNN_CHECK(cudnnDestroyActivationDescriptor(a));
    DNN_CHECK(cudnnDestroyTensorDescriptor(t));
    DNN_CHECK(cudnnDestroy(h));
    return 0;
}
