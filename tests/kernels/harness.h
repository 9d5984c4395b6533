/*
 * The kernel-corpus harness: runs nvcc-compiled kernels (tests/kernels/NAME.cu, as PTX) through the
 * public CUDA driver API and checks each against a C reference on fresh random inputs. Output
 * buffers are poisoned (0xff bytes: NaN for floats, -1 for integers) before every launch so a
 * kernel that writes nothing cannot pass.
 *
 * Each case runs in a context of its own (created and destroyed by the harness), so one case's
 * sticky error cannot leak into the next. Cases report failure through kt_fail() and friends.
 *
 * May call: the CUDA driver API (cuda.h) as implemented by whatever libcuda-shaped library the
 * harness is linked with (softgpu in our build), libc.
 */
#ifndef KT_HARNESS_H
#define KT_HARNESS_H

#include <cuda.h>
#include <stddef.h>
#include <stdint.h>

struct kt_case {
    const char *name;   /* the kernel (or scenario) it checks */
    const char *module; /* tests/kernels/<module>.cu */
    int (*run)(void);   /* 0 = pass */
};
/* A table row for case_NAME (named NAME) checking tests/kernels/MODULE.cu. */
#define KT_CASE(name, module) {#name, module, case_##name}

#define KT_MAX_CASES 64
extern const struct kt_case kt_cases_basic[], kt_cases_numeric[], kt_cases_special[],
    kt_cases_extra[], kt_cases_isa[], kt_cases_texture[];
extern const int kt_ncases_basic, kt_ncases_numeric, kt_ncases_special, kt_ncases_extra,
    kt_ncases_isa, kt_ncases_texture;
extern const char *kt_fatbin_dir; /* --fatbin-dir: nvcc-built fat binaries (tests/fatbin/data) */

/* ---- failures ---------------------------------------------------------------------------- */

/* Records the reason of the current case's failure (the first one wins) and returns 1. */
int kt_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *kt_result_name(CUresult r);

/* Evaluates a driver call; on error fails the case with the call's text and the error name. */
#define KT_CHECK(call)                                                                       \
    do {                                                                                     \
        CUresult kt_rc_ = (call);                                                            \
        if (kt_rc_ != CUDA_SUCCESS)                                                          \
            return kt_fail("%s:%d: %s -> %s", __FILE__, __LINE__, #call,                    \
                           kt_result_name(kt_rc_));                                          \
    } while (0)

/* ---- inputs ------------------------------------------------------------------------------ */

uint32_t kt_rand(void);                  /* seeded once per case from the run's seed */
float kt_randf(float lo, float hi);      /* uniform in [lo, hi) */
double kt_randd(double lo, double hi);
int kt_randi(int lo, int hi);            /* uniform in [lo, hi] */
void *kt_host(size_t bytes);             /* zeroed host memory freed when the case ends */
/* n uniform random values in kt_host memory (NULL if that fails); bounds as kt_randf and friends */
float *kt_rand_floats(int n, float lo, float hi);
double *kt_rand_doubles(int n, double lo, double hi);
int32_t *kt_rand_ints(int n, int lo, int hi);

#define KT_CEIL_DIV(a, b) (((a) + (b) - 1) / (b)) /* blocks needed to cover a with blocks of b */

/* ---- device ------------------------------------------------------------------------------ */

/* The case's module (loaded from the PTX directory on first use) and one of its kernels. */
CUmodule kt_module(const char *module);
CUfunction kt_func(const char *module, const char *kernel);
/* Device memory poisoned with 0xff bytes; 0 on failure (after kt_fail). Freed with the context. */
CUdeviceptr kt_alloc(size_t bytes);
/* kt_alloc + a copy of `bytes` of host data. */
CUdeviceptr kt_upload(const void *host, size_t bytes);
int kt_download(void *host, CUdeviceptr dev, size_t bytes);
/* A download whose bytes depend on the order threads ran in (slots handed out by atomics): the
 * case checks what does not (a permutation, sorted values); KT_DIGEST records not its bytes,
 * and the case may record what is order-free with kt_digest (the engines' schedules within a
 * block differ, tests/kernels/diff_engines.sh). */
int kt_download_sched(void *host, CUdeviceptr dev, size_t bytes);
void kt_digest(const void *host, size_t bytes);

/* cuLaunchKernel then cuCtxSynchronize; returns the first error (not recorded as a failure,
 * so cases that expect an error can check it). */
CUresult kt_launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                   unsigned bz, unsigned shmem, void **params);
/* The same with a failure recorded on error. */
int kt_run(CUfunction f, unsigned gx, unsigned bx, unsigned shmem, void **params);

/* Runs fn with fd 1 and 2 redirected to a temporary file and returns what was written
 * (NUL-terminated, freed with the case), or NULL after kt_fail. *rc gets fn's result. */
char *kt_capture(CUresult (*fn)(void *), void *arg, CUresult *rc);

/* A fresh context replacing the case's current one (after a sticky error). */
int kt_new_context(void);

/* ---- comparisons ------------------------------------------------------------------------- */
/* Each fails the case on the first mismatch, naming the array, the index and both values.
 * Floating-point comparisons pass when |got - want| <= atol + rtol * |want|. */
int kt_expect_f32(const char *what, const float *got, const float *want, size_t n, double rtol,
                  double atol);
int kt_expect_f64(const char *what, const double *got, const double *want, size_t n, double rtol,
                  double atol);
int kt_expect_i32(const char *what, const int32_t *got, const int32_t *want, size_t n);
int kt_expect_u32(const char *what, const uint32_t *got, const uint32_t *want, size_t n);
int kt_expect_i64(const char *what, const int64_t *got, const int64_t *want, size_t n);

#endif
