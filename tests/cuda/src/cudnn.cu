// cuDNN's activation forward (ReLU, sigmoid, tanh) and convolution forward on NCHW float
// tensors from NVIDIA's shared libcudnn, whose kernels softgpu runs from their compute_121 PTX
// (SOFTGPU_CC=12.1, docs/libraries.md), compared with the same functions computed on the CPU in
// double. Some convolution algorithms' kernels are SASS only: the program tries them in the
// order cuDNN ranks them and checks the first that succeeds (named on stderr).
#include <cmath>
#include <vector>

#include <cudnn.h>

#include "check.h"

#define DNN_CHECK(call) CHECK_STATUS(call, CUDNN_STATUS_SUCCESS)

// y = conv(x, w), x 1x2x7x6, w 3x2x3x3, zero padding 1, stride 1 (cross-correlation, as cuDNN's
// CUDNN_CROSS_CORRELATION): y is 1x3x7x6.
static void convolution(cudnnHandle_t h)
{
    const int N = 1, C = 2, H = 7, W = 6, K = 3, R = 3, S = 3;
    std::vector<float> x(N * C * H * W), w(K * C * R * S), y(N * K * H * W);
    for (size_t i = 0; i < x.size(); i++)
        x[i] = (float)(i % 11) / 4.0f - 1;
    for (size_t i = 0; i < w.size(); i++)
        w[i] = (float)(i % 7) / 3.0f - 1;
    float *dx, *dw, *dy;
    CHECK(cudaMalloc(&dx, x.size() * sizeof(float)));
    CHECK(cudaMalloc(&dw, w.size() * sizeof(float)));
    CHECK(cudaMalloc(&dy, y.size() * sizeof(float)));
    CHECK(cudaMemcpy(dx, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(dw, w.data(), w.size() * sizeof(float), cudaMemcpyHostToDevice));
    cudnnTensorDescriptor_t tx, ty;
    cudnnFilterDescriptor_t tw;
    cudnnConvolutionDescriptor_t conv;
    DNN_CHECK(cudnnCreateTensorDescriptor(&tx));
    DNN_CHECK(cudnnCreateTensorDescriptor(&ty));
    DNN_CHECK(cudnnCreateFilterDescriptor(&tw));
    DNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    DNN_CHECK(cudnnSetTensor4dDescriptor(tx, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, C, H, W));
    DNN_CHECK(cudnnSetFilter4dDescriptor(tw, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, K, C, R, S));
    DNN_CHECK(cudnnSetConvolution2dDescriptor(conv, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                              CUDNN_DATA_FLOAT));
    int on, oc, oh, ow;
    DNN_CHECK(cudnnGetConvolution2dForwardOutputDim(conv, tx, tw, &on, &oc, &oh, &ow));
    if (on != N || oc != K || oh != H || ow != W)
        FAIL("output %dx%dx%dx%d, expected %dx%dx%dx%d", on, oc, oh, ow, N, K, H, W);
    DNN_CHECK(cudnnSetTensor4dDescriptor(ty, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, K, H, W));

    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int found = 0, used = -1;
    DNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, tx, tw, conv, ty,
                                                     CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found,
                                                     perf));
    for (int a = 0; a < found && used < 0; a++) {
        if (perf[a].status != CUDNN_STATUS_SUCCESS)
            continue;
        size_t ws = 0;
        void *dws = nullptr;
        if (cudnnGetConvolutionForwardWorkspaceSize(h, tx, tw, conv, ty, perf[a].algo, &ws))
            continue;
        if (ws)
            CHECK(cudaMalloc(&dws, ws));
        const float one = 1, zero = 0;
        cudnnStatus_t st = cudnnConvolutionForward(h, &one, tx, dx, tw, dw, conv, perf[a].algo,
                                                   dws, ws, &zero, ty, dy);
        if (st == CUDNN_STATUS_SUCCESS)
            used = perf[a].algo;
        else
            fprintf(stderr, "convolution algorithm %d: status %d\n", (int)perf[a].algo, (int)st);
        CHECK(cudaDeviceSynchronize());
        CHECK(cudaFree(dws));
    }
    if (used < 0)
        FAIL("none of the %d convolution algorithms ran", found);
    fprintf(stderr, "convolution algorithm %d ran\n", used);
    CHECK(cudaMemcpy(y.data(), dy, y.size() * sizeof(float), cudaMemcpyDeviceToHost));
    double worst = 0;
    for (int k = 0; k < K; k++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                double acc = 0;
                for (int c = 0; c < C; c++)
                    for (int r = 0; r < R; r++)
                        for (int q = 0; q < S; q++) {
                            int yi = i + r - 1, xj = j + q - 1;
                            if (yi >= 0 && yi < H && xj >= 0 && xj < W)
                                acc += (double)x[(c * H + yi) * W + xj] *
                                       w[((k * C + c) * R + r) * S + q];
                        }
                worst = fmax(worst, fabs(acc - y[(k * H + i) * W + j]));
            }
    if (worst > 1e-4)
        FAIL("convolution (algorithm %d) differs from the CPU by %g", used, worst);
    printf("convolution forward %dx%dx%dx%d with %dx%dx%dx%d filters matches the CPU\n", N, C,
           H, W, K, C, R, S);
    DNN_CHECK(cudnnDestroyConvolutionDescriptor(conv));
    DNN_CHECK(cudnnDestroyFilterDescriptor(tw));
    DNN_CHECK(cudnnDestroyTensorDescriptor(tx));
    DNN_CHECK(cudnnDestroyTensorDescriptor(ty));
    CHECK(cudaFree(dx));
    CHECK(cudaFree(dw));
    CHECK(cudaFree(dy));
}

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
    convolution(h);
    DNN_CHECK(cudnnDestroy(h));
    return 0;
}
