/*
 * nvml_smi's answers for what a device is doing (memory, utilization, processes) and for its
 * sensors (clocks, thermals, power, PCIe), events and field values. Moving values are printed
 * as checks against what this process holds (alloc_bytes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "nvml_smi.h"

static int exclusive(void)
{
    const char *e = getenv("NVML_SMI_EXCLUSIVE");
    return e && *e == '1';
}

static const char *yes(int ok) { return ok ? "yes" : "NO"; }

static void memory_answers(nvmlDevice_t d, unsigned long long alloc)
{
    nvmlMemory_t m = {0};
    nvmlMemory_v2_t m2 = {.version = nvmlMemory_v2};
    nvmlBAR1Memory_t bar1;
    nvmlReturn_t r;
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_t *), nvmlDeviceGetMemoryInfo, d, &m);
    smi_answer("nvmlDeviceGetMemoryInfo", "", r,
               smi_fmt("total %lluMiB used>=alloc %s free+used=total %s", m.total >> 20,
                       yes(m.used >= alloc), yes(m.free + m.used == m.total)));
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_v2_t *), nvmlDeviceGetMemoryInfo_v2, d, &m2);
    smi_answer("nvmlDeviceGetMemoryInfo_v2", "", r,
               smi_fmt("total %lluMiB reserved %llu used>=alloc %s free+used=total %s",
                       m2.total >> 20, m2.reserved, yes(m2.used >= alloc),
                       yes(m2.free + m2.used == m2.total)));
    m2.version = 1;
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_v2_t *), nvmlDeviceGetMemoryInfo_v2, d, &m2);
    smi_answer("nvmlDeviceGetMemoryInfo_v2", "version 1", r, NULL);
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlBAR1Memory_t *), nvmlDeviceGetBAR1MemoryInfo, d, &bar1);
    smi_answer("nvmlDeviceGetBAR1MemoryInfo", "", r, NULL);
}

/* "self>=alloc yes" (and the count, when nobody else uses the device) of a process list. */
static const char *list_check(const void *infos, size_t size, unsigned n, unsigned long long alloc)
{
    int self = 0;
    for (unsigned k = 0; k < n && k < 64; k++) {
        const nvmlProcessInfo_v1_t *p = (const void *)((const char *)infos + k * size);
        self |= p->pid == (unsigned)getpid() && p->usedGpuMemory >= alloc;
    }
    return exclusive() ? smi_fmt("count %u self>=alloc %s", n, yes(self))
                       : smi_fmt("self>=alloc %s", yes(self));
}

#define LIST(name, type, alloc)                                                               \
    do {                                                                                      \
        type l_[64];                                                                          \
        unsigned n_ = 64;                                                                     \
        nvmlReturn_t r_;                                                                      \
        CALL(r_, nvmlReturn_t (*)(nvmlDevice_t, unsigned *, type *), name, d, &n_, l_);       \
        smi_answer(#name, "", r_, alloc ? list_check(l_, sizeof(type), n_, alloc)             \
                                        : smi_fmt("count %u", n_));                           \
    } while (0)

static void process_answers(nvmlDevice_t d, unsigned long long alloc)
{
    LIST(nvmlDeviceGetComputeRunningProcesses_v3, nvmlProcessInfo_t, alloc);
    LIST(nvmlDeviceGetComputeRunningProcesses_v2, nvmlProcessInfo_v2_t, alloc);
    LIST(nvmlDeviceGetComputeRunningProcesses, nvmlProcessInfo_v1_t, alloc);
    LIST(nvmlDeviceGetGraphicsRunningProcesses_v3, nvmlProcessInfo_t, 0);
    LIST(nvmlDeviceGetGraphicsRunningProcesses_v2, nvmlProcessInfo_v2_t, 0);
    LIST(nvmlDeviceGetGraphicsRunningProcesses, nvmlProcessInfo_v1_t, 0);
    LIST(nvmlDeviceGetMPSComputeRunningProcesses_v3, nvmlProcessInfo_t, 0);
    LIST(nvmlDeviceGetMPSComputeRunningProcesses_v2, nvmlProcessInfo_v2_t, 0);
    LIST(nvmlDeviceGetMPSComputeRunningProcesses, nvmlProcessInfo_v1_t, 0);
    nvmlProcessUtilizationSample_t s[64];
    unsigned n = 64, self = 0;
    nvmlReturn_t r;
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlProcessUtilizationSample_t *, unsigned *, unsigned long long),
         nvmlDeviceGetProcessUtilization, d, s, &n, 0);
    for (unsigned k = 0; r == NVML_SUCCESS && k < n; k++)
        self |= s[k].pid == (unsigned)getpid() && s[k].smUtil <= 100;
    smi_answer("nvmlDeviceGetProcessUtilization", "", r, smi_fmt("self sample %s", yes(self)));
}

void smi_usage_answers(nvmlDevice_t d, unsigned long long alloc)
{
    nvmlUtilization_t u = {0};
    unsigned v = 0, period = 0;
    nvmlReturn_t r;
    memory_answers(d, alloc);
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlUtilization_t *), nvmlDeviceGetUtilizationRates, d, &u);
    smi_answer("nvmlDeviceGetUtilizationRates", "", r, smi_fmt("in 0..100 %s", yes(u.gpu <= 100 && u.memory <= 100)));
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, unsigned *, unsigned *), nvmlDeviceGetEncoderUtilization, d, &v, &period);
    smi_answer("nvmlDeviceGetEncoderUtilization", "", r, smi_fmt("%u", v));
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, unsigned *, unsigned *), nvmlDeviceGetDecoderUtilization, d, &v, &period);
    smi_answer("nvmlDeviceGetDecoderUtilization", "", r, smi_fmt("%u", v));
    process_answers(d, alloc);
}

static void clock_answers(nvmlDevice_t d)
{
    static const char *const types[] = {"graphics", "sm", "mem", "video"};
    static const char *const names[] = {
        "nvmlDeviceGetClockInfo", "nvmlDeviceGetMaxClockInfo", "nvmlDeviceGetApplicationsClock",
        "nvmlDeviceGetDefaultApplicationsClock", "nvmlDeviceGetMaxCustomerBoostClock"};
    for (unsigned q = 0; q < 5; q++)
        for (unsigned t = 0; t < 4; t++) {
            unsigned v = 0;
            clock_q fn = (clock_q)smi_sym(names[q]);
            nvmlReturn_t r = fn ? fn(d, (nvmlClockType_t)t, &v) : NVML_ERROR_FUNCTION_NOT_FOUND;
            smi_answer(names[q], types[t], r, smi_fmt("%u", v));
        }
    for (unsigned id = 0; id < NVML_CLOCK_ID_COUNT; id++) {
        unsigned v = 0;
        nvmlReturn_t r;
        CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlClockType_t, nvmlClockId_t, unsigned *),
             nvmlDeviceGetClock, d, NVML_CLOCK_SM, (nvmlClockId_t)id, &v);
        smi_answer("nvmlDeviceGetClock", smi_fmt("sm,%u", id), r, smi_fmt("%u", v));
    }
    ONE(nvmlDeviceGetCurrentClocksThrottleReasons, unsigned long long, ull_q, "%#llx");
    ONE(nvmlDeviceGetCurrentClocksEventReasons, unsigned long long, ull_q, "%#llx");
    ONE(nvmlDeviceGetSupportedClocksThrottleReasons, unsigned long long, ull_q, "%#llx");
    ONE(nvmlDeviceGetSupportedClocksEventReasons, unsigned long long, ull_q, "%#llx");
    ONE(nvmlDeviceGetPerformanceState, nvmlPstates_t, nvmlReturn_t (*)(nvmlDevice_t, nvmlPstates_t *), "P%d");
    ONE(nvmlDeviceGetPowerState, nvmlPstates_t, nvmlReturn_t (*)(nvmlDevice_t, nvmlPstates_t *), "P%d");
}

static void power_answers(nvmlDevice_t d)
{
    unsigned v = 0, w = 0;
    nvmlReturn_t r;
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlTemperatureSensors_t, unsigned *), nvmlDeviceGetTemperature, d, NVML_TEMPERATURE_GPU, &v);
    smi_answer("nvmlDeviceGetTemperature", "gpu", r, smi_fmt("%u", v));
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlTemperatureThresholds_t, unsigned *), nvmlDeviceGetTemperatureThreshold, d, NVML_TEMPERATURE_THRESHOLD_SLOWDOWN, &v);
    smi_answer("nvmlDeviceGetTemperatureThreshold", "slowdown", r, smi_fmt("%u", v));
    ONE(nvmlDeviceGetNumFans, unsigned, uint_q, "%u");
    ONE(nvmlDeviceGetFanSpeed, unsigned, uint_q, "%u");
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, unsigned, unsigned *), nvmlDeviceGetFanSpeed_v2, d, 0, &v);
    smi_answer("nvmlDeviceGetFanSpeed_v2", "0", r, smi_fmt("%u", v));
    ONE(nvmlDeviceGetPowerUsage, unsigned, uint_q, "%u");
    ONE(nvmlDeviceGetPowerManagementMode, nvmlEnableState_t, enable_q, "%d");
    ONE(nvmlDeviceGetPowerManagementLimit, unsigned, uint_q, "%u");
    ONE(nvmlDeviceGetPowerManagementDefaultLimit, unsigned, uint_q, "%u");
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, unsigned *, unsigned *), nvmlDeviceGetPowerManagementLimitConstraints, d, &v, &w);
    smi_answer("nvmlDeviceGetPowerManagementLimitConstraints", "", r, smi_fmt("%u %u", v, w));
    ONE(nvmlDeviceGetEnforcedPowerLimit, unsigned, uint_q, "%u");
    ONE(nvmlDeviceGetTotalEnergyConsumption, unsigned long long, ull_q, "%llu");
    ONE(nvmlDeviceGetCurrPcieLinkGeneration, unsigned, uint_q, "%u");
    ONE(nvmlDeviceGetCurrPcieLinkWidth, unsigned, uint_q, "%u");
    ONE(nvmlDeviceGetMaxPcieLinkGeneration, unsigned, uint_q, "%u");
    ONE(nvmlDeviceGetGpuMaxPcieLinkGeneration, unsigned, uint_q, "%u");
    ONE(nvmlDeviceGetMaxPcieLinkWidth, unsigned, uint_q, "%u");
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlPcieUtilCounter_t, unsigned *), nvmlDeviceGetPcieThroughput, d, NVML_PCIE_UTIL_TX_BYTES, &v);
    smi_answer("nvmlDeviceGetPcieThroughput", "tx", r, smi_fmt("%u", v));
    ONE(nvmlDeviceGetPcieReplayCounter, unsigned, uint_q, "%u");
}

static void event_answers(nvmlDevice_t d)
{
    nvmlEventSet_t set = NULL;
    nvmlEventData_t data;
    nvmlReturn_t r;
    ONE(nvmlDeviceGetSupportedEventTypes, unsigned long long, ull_q, "%#llx");
    CALL(r, nvmlReturn_t (*)(nvmlEventSet_t *), nvmlEventSetCreate, &set);
    smi_answer("nvmlEventSetCreate", "", r, NULL);
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, unsigned long long, nvmlEventSet_t), nvmlDeviceRegisterEvents, d, nvmlEventTypeXidCriticalError, set);
    smi_answer("nvmlDeviceRegisterEvents", "xid", r, NULL);
    CALL(r, nvmlReturn_t (*)(nvmlEventSet_t, nvmlEventData_t *, unsigned), nvmlEventSetWait_v2, set, &data, 10);
    smi_answer("nvmlEventSetWait_v2", "10ms", r, NULL);
    CALL(r, nvmlReturn_t (*)(nvmlEventSet_t, nvmlEventData_t *, unsigned), nvmlEventSetWait, set, &data, 0);
    smi_answer("nvmlEventSetWait", "0ms", r, NULL);
    CALL(r, nvmlReturn_t (*)(nvmlEventSet_t), nvmlEventSetFree, set);
    smi_answer("nvmlEventSetFree", "", r, NULL);
    nvmlFieldValue_t f[4] = {{.fieldId = NVML_FI_DEV_ECC_CURRENT}, {.fieldId = NVML_FI_DEV_NVLINK_LINK_COUNT},
                             {.fieldId = NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION}, {.fieldId = NVML_FI_DEV_RETIRED_DBE}};
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, int, nvmlFieldValue_t *), nvmlDeviceGetFieldValues, d, 4, f);
    smi_answer("nvmlDeviceGetFieldValues", "", r, NULL);
    for (int k = 0; r == NVML_SUCCESS && k < 4; k++)
        smi_answer("  field", smi_fmt("%u", f[k].fieldId), f[k].nvmlReturn, smi_fmt("%u", f[k].value.uiVal));
}

void smi_sensor_answers(nvmlDevice_t d)
{
    clock_answers(d);
    power_answers(d);
    event_answers(d);
}
