/*
 * nvml_smi's table: what nvidia-smi prints by default (driver, devices, processes), every
 * cell from one NVML call, "N/A" where the call is not supported.
 */
#include <stdio.h>
#include <string.h>

#include "nvml_smi.h"

#define LINE "+-----------------------------------------+------------------------+----------------------+"

static const char *onoff(nvmlReturn_t r, nvmlEnableState_t e)
{
    return r != NVML_SUCCESS ? "N/A" : e == NVML_FEATURE_ENABLED ? "On" : "Off";
}

static const char *uint_or_na(nvmlReturn_t r, unsigned v, const char *unit)
{
    return r == NVML_SUCCESS ? smi_fmt("%u%s", v, unit) : "N/A";
}

static void header(void)
{
    char drv[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE] = "N/A";
    int cuda = 0;
    nvmlReturn_t r;
    CALL(r, nvmlReturn_t (*)(char *, unsigned), nvmlSystemGetDriverVersion, drv, sizeof drv);
    CALL(r, nvmlReturn_t (*)(int *), nvmlSystemGetCudaDriverVersion_v2, &cuda);
    (void)r;   /* "N/A" and 0.0 stand for what did not answer */
    printf("%s\n| NVML-SMI %-22s Driver Version: %-18s CUDA Version: %d.%-8d|\n", LINE, "", drv,
           cuda / 1000, cuda % 1000 / 10);
    printf("|-----------------------------------------+------------------------+----------------------+\n");
    printf("| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |\n");
    printf("| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |\n");
    printf("|                                         |                        |               MIG M. |\n");
    printf("|=========================================+========================+======================|\n");
}

static void device_rows(unsigned i, nvmlDevice_t d)
{
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE] = "N/A";
    nvmlEnableState_t pm = 0, disp = 0, ecc = 0, eccp = 0;
    nvmlPciInfo_t pci = {.busId = "N/A"};
    unsigned fan = 0, temp = 0, pw = 0, cap = 0, cur = 0, pend = 0;
    nvmlPstates_t ps = NVML_PSTATE_UNKNOWN;
    nvmlMemory_t mem = {0};
    nvmlUtilization_t u = {0};
    nvmlComputeMode_t cm = NVML_COMPUTEMODE_DEFAULT;
    nvmlReturn_t r, rpm, rdisp, recc, rfan, rtemp, rps, rpw, rcap, rmem, ru, rcm, rmig;
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, char *, unsigned), nvmlDeviceGetName, d, name, sizeof name);
    CALL(rpm, nvmlReturn_t (*)(nvmlDevice_t, nvmlEnableState_t *), nvmlDeviceGetPersistenceMode, d, &pm);
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlPciInfo_t *), nvmlDeviceGetPciInfo_v3, d, &pci);
    (void)r;   /* name and bus id stay "N/A" when they did not answer */
    CALL(rdisp, nvmlReturn_t (*)(nvmlDevice_t, nvmlEnableState_t *), nvmlDeviceGetDisplayActive, d, &disp);
    CALL(recc, nvmlReturn_t (*)(nvmlDevice_t, nvmlEnableState_t *, nvmlEnableState_t *), nvmlDeviceGetEccMode, d, &ecc, &eccp);
    CALL(rfan, nvmlReturn_t (*)(nvmlDevice_t, unsigned *), nvmlDeviceGetFanSpeed, d, &fan);
    CALL(rtemp, nvmlReturn_t (*)(nvmlDevice_t, nvmlTemperatureSensors_t, unsigned *), nvmlDeviceGetTemperature, d, NVML_TEMPERATURE_GPU, &temp);
    CALL(rps, nvmlReturn_t (*)(nvmlDevice_t, nvmlPstates_t *), nvmlDeviceGetPerformanceState, d, &ps);
    CALL(rpw, nvmlReturn_t (*)(nvmlDevice_t, unsigned *), nvmlDeviceGetPowerUsage, d, &pw);
    CALL(rcap, nvmlReturn_t (*)(nvmlDevice_t, unsigned *), nvmlDeviceGetEnforcedPowerLimit, d, &cap);
    CALL(rmem, nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_t *), nvmlDeviceGetMemoryInfo, d, &mem);
    CALL(ru, nvmlReturn_t (*)(nvmlDevice_t, nvmlUtilization_t *), nvmlDeviceGetUtilizationRates, d, &u);
    CALL(rcm, nvmlReturn_t (*)(nvmlDevice_t, nvmlComputeMode_t *), nvmlDeviceGetComputeMode, d, &cm);
    CALL(rmig, nvmlReturn_t (*)(nvmlDevice_t, unsigned *, unsigned *), nvmlDeviceGetMigMode, d, &cur, &pend);
    printf("| %3u  %-27.27s %4s | %18s %4s | %20s |\n", i, name, onoff(rpm, pm), pci.busId,
           onoff(rdisp, disp), recc == NVML_SUCCESS && ecc ? "0" : "N/A");
    printf("| %-4s %-5s  %-5s %8s / %5s | %8s / %8s | %8s %11s |\n", uint_or_na(rfan, fan, "%"),
           uint_or_na(rtemp, temp, "C"), rps == NVML_SUCCESS ? smi_fmt("P%d", ps) : "N/A",
           uint_or_na(rpw, pw / 1000, "W"), uint_or_na(rcap, cap / 1000, "W"),
           rmem == NVML_SUCCESS ? smi_fmt("%lluMiB", mem.used >> 20) : "N/A",
           rmem == NVML_SUCCESS ? smi_fmt("%lluMiB", mem.total >> 20) : "N/A",
           uint_or_na(ru, u.gpu, "%"),
           rcm != NVML_SUCCESS ? "N/A" : cm == NVML_COMPUTEMODE_DEFAULT ? "Default"
                                     : cm == NVML_COMPUTEMODE_PROHIBITED ? "Prohibited" : "E. Process");
    printf("| %39s | %22s | %20s |\n%s\n", "", "",
           rmig != NVML_SUCCESS ? "N/A" : cur ? "Enabled" : "Disabled", LINE);
}

static void process_rows(unsigned i, nvmlDevice_t d)
{
    nvmlProcessInfo_t p[64];
    unsigned n = 64;
    nvmlReturn_t r;
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *),
         nvmlDeviceGetComputeRunningProcesses_v3, d, &n, p);
    if (r != NVML_SUCCESS) {
        printf("|  %3u   %s%-70s |\n", i, "processes: ", smi_error(r));
        return;
    }
    for (unsigned k = 0; k < n && k < 64; k++) {
        char name[64] = "N/A";
        CALL(r, nvmlReturn_t (*)(unsigned, char *, unsigned), nvmlSystemGetProcessName, p[k].pid,
             name, sizeof name);
        printf("|  %3u %8u      C   %-45.45s %12lluMiB |\n", i, p[k].pid, name,
               p[k].usedGpuMemory >> 20);
    }
}

void smi_print_table(void)
{
    unsigned n = 0;
    nvmlReturn_t r;
    header();
    CALL(r, nvmlReturn_t (*)(unsigned *), nvmlDeviceGetCount_v2, &n);
    for (unsigned i = 0; i < n; i++) {
        nvmlDevice_t d;
        CALL(r, nvmlReturn_t (*)(unsigned, nvmlDevice_t *), nvmlDeviceGetHandleByIndex_v2, i, &d);
        if (r == NVML_SUCCESS)
            device_rows(i, d);
    }
    printf("\n+-----------------------------------------------------------------------------------------+\n");
    printf("| Processes:                                                                              |\n");
    printf("|  GPU      PID   Type   Process name                                         GPU Memory |\n");
    printf("|=========================================================================================|\n");
    for (unsigned i = 0; i < n; i++) {
        nvmlDevice_t d;
        CALL(r, nvmlReturn_t (*)(unsigned, nvmlDevice_t *), nvmlDeviceGetHandleByIndex_v2, i, &d);
        if (r == NVML_SUCCESS)
            process_rows(i, d);
    }
    printf("+-----------------------------------------------------------------------------------------+\n");
}
