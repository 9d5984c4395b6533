/*
 * nvml_smi's pieces (nvml_smi.c: loading and checks; nvml_smi_table.c: the nvidia-smi-like
 * table; nvml_smi_answers.c: one line per NVML function). Calls go through dlsym of the
 * library the loader found as libnvidia-ml.so.1.
 */
#ifndef NVML_SMI_H
#define NVML_SMI_H

#define TFUSE_NVML_NO_VERSION_MACROS
#include "tfuse/nvml.h"

/* The address of an NVML name, or NULL (counted as a failure). */
void *smi_sym(const char *name);

/* Calls NVML function `name` of type `type` with the arguments; its result into `r`
 * (FUNCTION_NOT_FOUND when the name is missing). */
#define CALL(r, type, name, ...)                                                              \
    do {                                                                                      \
        __typeof__(type) fn_ = (__typeof__(type))smi_sym(#name);                              \
        r = fn_ ? fn_(__VA_ARGS__) : NVML_ERROR_FUNCTION_NOT_FOUND;                           \
    } while (0)

const char *smi_error(nvmlReturn_t r);
/* One answer line "name(what): Result value"; codes NVML does not document for the call count
 * as failures. */
void smi_answer(const char *name, const char *what, nvmlReturn_t r, const char *value);
/* printf into one of 8 rotating buffers */
char *smi_fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

typedef nvmlReturn_t (*uint_q)(nvmlDevice_t, unsigned *);
typedef nvmlReturn_t (*ull_q)(nvmlDevice_t, unsigned long long *);
typedef nvmlReturn_t (*enable_q)(nvmlDevice_t, nvmlEnableState_t *);
typedef nvmlReturn_t (*text_q)(nvmlDevice_t, char *, unsigned);
typedef nvmlReturn_t (*clock_q)(nvmlDevice_t, nvmlClockType_t, unsigned *);

/* A query of device `d` with one output of the given type, printed with `f`. */
#define ONE(name, type, q, f)                                                                 \
    do {                                                                                      \
        type v_ = 0;                                                                          \
        nvmlReturn_t r_;                                                                      \
        CALL(r_, q, name, d, &v_);                                                            \
        smi_answer(#name, "", r_, smi_fmt(f, v_));                                            \
    } while (0)

void smi_print_table(void);
/* nvml_smi_usage.c: memory, utilization, processes / clocks, sensors, events, fields */
void smi_usage_answers(nvmlDevice_t d, unsigned long long alloc_bytes);
void smi_sensor_answers(nvmlDevice_t d);
void smi_print_answers(unsigned alloc_mib);

#endif
