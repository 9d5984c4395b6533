/*
 * NVML front, the device's sensors and controls: clocks, performance state, throttle reasons,
 * temperature, fans, power and energy, PCIe link, events and field values.
 *
 * Clocks are the device's rated clocks (the provider's facts), reported for every clock id:
 * neither library sees a live clock, and a vGPU runs at its device's clock (a share of time,
 * not of frequency), so nothing is scaled. No sensor (temperature, fan, power, energy, PCIe
 * counters) is known to either library: those are NVML_ERROR_NOT_SUPPORTED, NVIDIA's answer
 * for a board without the sensor, which nvidia-smi shows as N/A and monitoring tools skip;
 * a made-up constant would be drawn as a measurement. No events are ever delivered.
 */
#include <stdlib.h>
#include <time.h>

#include "front.h"

static nvmlReturn_t device_and(nvmlDevice_t device, int out_ok, unsigned *i)
{
    nvmlReturn_t r = tfn_device(device, i);
    if (r == NVML_SUCCESS && !out_ok)
        r = NVML_ERROR_INVALID_ARGUMENT;
    return r;
}

/* ---- clocks ---- */

/* The rated clock of one domain in MHz; NOT_SUPPORTED where it is not known. */
static nvmlReturn_t rated_clock(nvmlDevice_t device, nvmlClockType_t type, unsigned *mhz)
{
    unsigned i;
    nvmlReturn_t r = device_and(device, mhz && (unsigned)type < NVML_CLOCK_COUNT, &i);
    if (r != NVML_SUCCESS)
        return r;
    const struct tfn_facts *f = tfn_facts(i);
    unsigned v = type == NVML_CLOCK_MEM ? f->mem_clock_mhz
                 : type == NVML_CLOCK_VIDEO ? 0 : f->sm_clock_mhz;
    if (!v)
        return NVML_ERROR_NOT_SUPPORTED;
    *mhz = v;
    return NVML_SUCCESS;
}

TFN_API nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, nvmlClockType_t type,
                                            unsigned int *clock)
{
    return rated_clock(device, type, clock);
}

TFN_API nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t device, nvmlClockType_t type,
                                               unsigned int *clock)
{
    return rated_clock(device, type, clock);
}

TFN_API nvmlReturn_t nvmlDeviceGetApplicationsClock(nvmlDevice_t device,
                                                    nvmlClockType_t clockType,
                                                    unsigned int *clockMHz)
{
    return rated_clock(device, clockType, clockMHz);
}

TFN_API nvmlReturn_t nvmlDeviceGetDefaultApplicationsClock(nvmlDevice_t device,
                                                           nvmlClockType_t clockType,
                                                           unsigned int *clockMHz)
{
    return rated_clock(device, clockType, clockMHz);
}

TFN_API nvmlReturn_t nvmlDeviceGetMaxCustomerBoostClock(nvmlDevice_t device,
                                                        nvmlClockType_t clockType,
                                                        unsigned int *clockMHz)
{
    return rated_clock(device, clockType, clockMHz);
}

TFN_API nvmlReturn_t nvmlDeviceGetClock(nvmlDevice_t device, nvmlClockType_t clockType,
                                        nvmlClockId_t clockId, unsigned int *clockMHz)
{
    if ((unsigned)clockId >= NVML_CLOCK_ID_COUNT)
        return tfn_initialized() ? NVML_ERROR_INVALID_ARGUMENT : NVML_ERROR_UNINITIALIZED;
    return rated_clock(device, clockType, clockMHz);
}

/* The clocks never move from their rated values: no reason holds them back, none is known. */
static nvmlReturn_t no_reasons(nvmlDevice_t device, unsigned long long *reasons)
{
    unsigned i;
    nvmlReturn_t r = device_and(device, reasons != NULL, &i);
    if (r == NVML_SUCCESS)
        *reasons = nvmlClocksThrottleReasonNone;
    return r;
}

TFN_API nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device,
                                                               unsigned long long *reasons)
{
    return no_reasons(device, reasons);
}

TFN_API nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device,
                                                            unsigned long long *reasons)
{
    return no_reasons(device, reasons);
}

TFN_API nvmlReturn_t nvmlDeviceGetSupportedClocksThrottleReasons(nvmlDevice_t device,
                                                                 unsigned long long *supported)
{
    return no_reasons(device, supported);
}

TFN_API nvmlReturn_t nvmlDeviceGetSupportedClocksEventReasons(nvmlDevice_t device,
                                                              unsigned long long *supported)
{
    return no_reasons(device, supported);
}

TFN_API nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t device, nvmlPstates_t *pState)
{
    unsigned i;
    nvmlReturn_t r = device_and(device, pState != NULL, &i);
    if (r != NVML_SUCCESS)
        return r;
    if (tfn_facts(i)->pstate == NVML_PSTATE_UNKNOWN)
        return NVML_ERROR_NOT_SUPPORTED;
    *pState = tfn_facts(i)->pstate;
    return NVML_SUCCESS;
}

TFN_API nvmlReturn_t nvmlDeviceGetPowerState(nvmlDevice_t device, nvmlPstates_t *pState)
{
    return nvmlDeviceGetPerformanceState(device, pState);
}

/* ---- sensors no library of ours has ---- */

#define NO_SENSOR(name, params, out_ok)                                                       \
    TFN_API nvmlReturn_t name params                                                          \
    {                                                                                         \
        unsigned i;                                                                           \
        nvmlReturn_t r = device_and(device, (out_ok), &i);                                    \
        return r != NVML_SUCCESS ? r : NVML_ERROR_NOT_SUPPORTED;                              \
    }

NO_SENSOR(nvmlDeviceGetTemperature,
          (nvmlDevice_t device, nvmlTemperatureSensors_t sensorType, unsigned int *temp),
          temp && (unsigned)sensorType < NVML_TEMPERATURE_COUNT)
NO_SENSOR(nvmlDeviceGetTemperatureThreshold,
          (nvmlDevice_t device, nvmlTemperatureThresholds_t thresholdType, unsigned int *temp),
          temp && (unsigned)thresholdType < NVML_TEMPERATURE_THRESHOLD_COUNT)
NO_SENSOR(nvmlDeviceGetFanSpeed, (nvmlDevice_t device, unsigned int *speed), speed != NULL)
NO_SENSOR(nvmlDeviceGetFanSpeed_v2, (nvmlDevice_t device, unsigned int fan, unsigned int *speed),
          speed != NULL)
NO_SENSOR(nvmlDeviceGetPowerUsage, (nvmlDevice_t device, unsigned int *power), power != NULL)
NO_SENSOR(nvmlDeviceGetPowerManagementMode, (nvmlDevice_t device, nvmlEnableState_t *mode),
          mode != NULL)
NO_SENSOR(nvmlDeviceGetPowerManagementLimit, (nvmlDevice_t device, unsigned int *limit),
          limit != NULL)
NO_SENSOR(nvmlDeviceGetPowerManagementDefaultLimit,
          (nvmlDevice_t device, unsigned int *defaultLimit), defaultLimit != NULL)
NO_SENSOR(nvmlDeviceGetPowerManagementLimitConstraints,
          (nvmlDevice_t device, unsigned int *minLimit, unsigned int *maxLimit),
          minLimit && maxLimit)
NO_SENSOR(nvmlDeviceGetEnforcedPowerLimit, (nvmlDevice_t device, unsigned int *limit),
          limit != NULL)
NO_SENSOR(nvmlDeviceGetTotalEnergyConsumption, (nvmlDevice_t device, unsigned long long *energy),
          energy != NULL)
NO_SENSOR(nvmlDeviceGetCurrPcieLinkGeneration, (nvmlDevice_t device, unsigned int *currLinkGen),
          currLinkGen != NULL)
NO_SENSOR(nvmlDeviceGetCurrPcieLinkWidth, (nvmlDevice_t device, unsigned int *currLinkWidth),
          currLinkWidth != NULL)
NO_SENSOR(nvmlDeviceGetMaxPcieLinkGeneration, (nvmlDevice_t device, unsigned int *maxLinkGen),
          maxLinkGen != NULL)
NO_SENSOR(nvmlDeviceGetGpuMaxPcieLinkGeneration, (nvmlDevice_t device, unsigned int *maxLinkGen),
          maxLinkGen != NULL)
NO_SENSOR(nvmlDeviceGetMaxPcieLinkWidth, (nvmlDevice_t device, unsigned int *maxLinkWidth),
          maxLinkWidth != NULL)
NO_SENSOR(nvmlDeviceGetPcieThroughput,
          (nvmlDevice_t device, nvmlPcieUtilCounter_t counter, unsigned int *value),
          value && (unsigned)counter < NVML_PCIE_UTIL_COUNT)
NO_SENSOR(nvmlDeviceGetPcieReplayCounter, (nvmlDevice_t device, unsigned int *value),
          value != NULL)

/* Passively cooled as far as NVML can tell: no fans. */
TFN_API nvmlReturn_t nvmlDeviceGetNumFans(nvmlDevice_t device, unsigned int *numFans)
{
    unsigned i;
    nvmlReturn_t r = device_and(device, numFans != NULL, &i);
    if (r == NVML_SUCCESS)
        *numFans = 0;
    return r;
}

/* ---- events: none are supported, a set can be made and waited on ---- */

struct nvmlEventSet_st {
    int unused;
};

TFN_API nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device,
                                                      unsigned long long *eventTypes)
{
    unsigned i;
    nvmlReturn_t r = device_and(device, eventTypes != NULL, &i);
    if (r == NVML_SUCCESS)
        *eventTypes = nvmlEventTypeNone;
    return r;
}

TFN_API nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
    if (!tfn_initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (!set)
        return NVML_ERROR_INVALID_ARGUMENT;
    *set = calloc(1, sizeof **set);
    return *set ? NVML_SUCCESS : NVML_ERROR_MEMORY;
}

TFN_API nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long eventTypes,
                                              nvmlEventSet_t set)
{
    unsigned i;
    nvmlReturn_t r = device_and(device, set != NULL, &i);
    if (r != NVML_SUCCESS)
        return r;
    return eventTypes == nvmlEventTypeNone ? NVML_SUCCESS : NVML_ERROR_NOT_SUPPORTED;
}

/* Nothing ever arrives: waits the whole timeout (a caller's loop does not spin), then TIMEOUT. */
TFN_API nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data,
                                         unsigned int timeoutms)
{
    if (!tfn_initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (!set || !data)
        return NVML_ERROR_INVALID_ARGUMENT;
    struct timespec ts = {(time_t)(timeoutms / 1000), (long)(timeoutms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
    return NVML_ERROR_TIMEOUT;
}

TFN_API nvmlReturn_t nvmlEventSetWait(nvmlEventSet_t set, nvmlEventData_t *data,
                                      unsigned int timeoutms)
{
    return nvmlEventSetWait_v2(set, data, timeoutms);
}

TFN_API nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
    if (!tfn_initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (!set)
        return NVML_ERROR_INVALID_ARGUMENT;
    free(set);
    return NVML_SUCCESS;
}

/* ---- field values: the same answers as the functions above ---- */

static void field(const struct tfn_facts *f, nvmlFieldValue_t *v)
{
    v->latencyUsec = 0;
    v->nvmlReturn = NVML_SUCCESS;
    v->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
    switch (v->fieldId) {
    case NVML_FI_DEV_ECC_CURRENT:
    case NVML_FI_DEV_ECC_PENDING: v->value.uiVal = f->ecc_enabled ? 1 : 0; break;
    case NVML_FI_DEV_NVLINK_LINK_COUNT: v->value.uiVal = 0; break;
    default: v->nvmlReturn = NVML_ERROR_NOT_SUPPORTED; break;   /* energy, ECC counts, ... */
    }
}

TFN_API nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int valuesCount,
                                              nvmlFieldValue_t *values)
{
    unsigned i;
    nvmlReturn_t r = device_and(device, values && valuesCount >= 0, &i);
    if (r != NVML_SUCCESS)
        return r;
    long long now = (long long)tfn_now_us();
    for (int k = 0; k < valuesCount; k++) {
        values[k].timestamp = now;
        field(tfn_facts(i), &values[k]);
    }
    return NVML_SUCCESS;
}
