/*
 * NVML front, core: initialization and its reference count, the device handles and the facts
 * read from the provider at the first nvmlInit, error strings, system queries and the handle
 * lookups (by index, UUID, serial, PCI bus id). See front.h.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "front.h"

struct nvmlDevice_st {
    unsigned index;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int init_count;
static unsigned ndev;
static struct nvmlDevice_st handles[TFN_MAX_DEVICES];
static struct tfn_facts facts[TFN_MAX_DEVICES];

/* ---- shared helpers ---- */

int tfn_initialized(void)
{
    pthread_mutex_lock(&lock);
    int ok = init_count > 0;
    pthread_mutex_unlock(&lock);
    return ok;
}

unsigned tfn_count(void) { return ndev; }

nvmlReturn_t tfn_device(nvmlDevice_t device, unsigned *index)
{
    if (!tfn_initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (!device || device < handles || device >= handles + ndev)
        return NVML_ERROR_INVALID_ARGUMENT;
    *index = device->index;
    return NVML_SUCCESS;
}

nvmlDevice_t tfn_handle(unsigned index) { return &handles[index]; }

const struct tfn_facts *tfn_facts(unsigned index) { return &facts[index]; }

nvmlReturn_t tfn_copy(char *dst, unsigned length, const char *src)
{
    if (!dst)
        return NVML_ERROR_INVALID_ARGUMENT;
    size_t n = strlen(src) + 1;
    if (n > length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dst, src, n);
    return NVML_SUCCESS;
}

void tfn_uuid_text(const unsigned char u[16], char out[NVML_DEVICE_UUID_BUFFER_SIZE])
{
    snprintf(out, NVML_DEVICE_UUID_BUFFER_SIZE,
             "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
             u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
}

unsigned long long tfn_now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (unsigned long long)tv.tv_sec * 1000000ull + (unsigned long long)tv.tv_usec;
}

/* ---- initialization ---- */

/* Reads the devices and their facts from the provider (lock held). */
static nvmlReturn_t load_devices(void)
{
    unsigned n = 0;
    nvmlReturn_t r = tfn_p_count(&n);
    if (r != NVML_SUCCESS)
        return r;
    ndev = n > TFN_MAX_DEVICES ? TFN_MAX_DEVICES : n;
    for (unsigned i = 0; i < ndev && r == NVML_SUCCESS; i++) {
        handles[i].index = i;
        memset(&facts[i], 0, sizeof facts[i]);
        r = tfn_p_facts(i, &facts[i]);
    }
    return r;
}

TFN_API nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    (void)flags;
    nvmlReturn_t r = NVML_SUCCESS;
    pthread_mutex_lock(&lock);
    if (init_count == 0) {
        r = tfn_p_open();
        if (r == NVML_SUCCESS && (r = load_devices()) != NVML_SUCCESS)
            tfn_p_close();
    }
    if (r == NVML_SUCCESS)
        init_count++;
    pthread_mutex_unlock(&lock);
    return r;
}

TFN_API nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
TFN_API nvmlReturn_t nvmlInit(void) { return nvmlInitWithFlags(0); }

TFN_API nvmlReturn_t nvmlShutdown(void)
{
    pthread_mutex_lock(&lock);
    nvmlReturn_t r = init_count > 0 ? NVML_SUCCESS : NVML_ERROR_UNINITIALIZED;
    if (init_count > 0 && --init_count == 0) {
        tfn_p_close();
        ndev = 0;
    }
    pthread_mutex_unlock(&lock);
    return r;
}

static const struct {
    nvmlReturn_t code;
    const char *text;
} error_texts[] = {
    {NVML_SUCCESS, "Success"},
    {NVML_ERROR_UNINITIALIZED, "Uninitialized"},
    {NVML_ERROR_INVALID_ARGUMENT, "Invalid Argument"},
    {NVML_ERROR_NOT_SUPPORTED, "Not Supported"},
    {NVML_ERROR_NO_PERMISSION, "Insufficient Permissions"},
    {NVML_ERROR_ALREADY_INITIALIZED, "Already Initialized"},
    {NVML_ERROR_NOT_FOUND, "Not Found"},
    {NVML_ERROR_INSUFFICIENT_SIZE, "Insufficient Size"},
    {NVML_ERROR_INSUFFICIENT_POWER, "Insufficient External Power"},
    {NVML_ERROR_DRIVER_NOT_LOADED, "Driver Not Loaded"},
    {NVML_ERROR_TIMEOUT, "Timeout"},
    {NVML_ERROR_IRQ_ISSUE, "Interrupt Request Issue"},
    {NVML_ERROR_LIBRARY_NOT_FOUND, "NVML Shared Library Not Found"},
    {NVML_ERROR_FUNCTION_NOT_FOUND, "Function Not Found"},
    {NVML_ERROR_CORRUPTED_INFOROM, "Corrupted infoROM"},
    {NVML_ERROR_GPU_IS_LOST, "GPU is lost"},
    {NVML_ERROR_RESET_REQUIRED, "GPU requires restart"},
    {NVML_ERROR_OPERATING_SYSTEM, "Operating System Error"},
    {NVML_ERROR_LIB_RM_VERSION_MISMATCH, "RM has detected an NVML/RM version mismatch"},
    {NVML_ERROR_IN_USE, "In use by another client"},
    {NVML_ERROR_MEMORY, "Insufficient Memory"},
    {NVML_ERROR_NO_DATA, "No Data"},
    {NVML_ERROR_VGPU_ECC_NOT_SUPPORTED, "vGPU ECC Not Supported"},
    {NVML_ERROR_INSUFFICIENT_RESOURCES, "Insufficient Resources"},
    {NVML_ERROR_FREQ_NOT_SUPPORTED, "Frequency Not Supported"},
    {NVML_ERROR_ARGUMENT_VERSION_MISMATCH, "Argument Version Mismatch"},
    {NVML_ERROR_DEPRECATED, "Deprecated"},
    {NVML_ERROR_NOT_READY, "Not Ready"},
    {NVML_ERROR_GPU_NOT_FOUND, "GPU not found"},
    {NVML_ERROR_INVALID_STATE, "Invalid state"},
};

TFN_API const char *nvmlErrorString(nvmlReturn_t result)
{
    for (size_t i = 0; i < sizeof error_texts / sizeof error_texts[0]; i++)
        if (error_texts[i].code == result)
            return error_texts[i].text;
    return "Unknown Error";
}

/* ---- system ---- */

TFN_API nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    if (!tfn_initialized())
        return NVML_ERROR_UNINITIALIZED;
    return tfn_copy(version, length, tfn_p_driver_version());
}

/* NVIDIA's form: the CUDA major version, then the driver version ("12.535.104.05"). */
TFN_API nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
    int cuda = 0;
    nvmlReturn_t r = tfn_p_cuda_version(&cuda);
    if (r != NVML_SUCCESS)
        return r;
    char text[NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE];
    snprintf(text, sizeof text, "%d.%s", cuda / 1000, tfn_p_driver_version());
    return tfn_copy(version, length, text);
}

TFN_API nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion)
{
    return cudaDriverVersion ? tfn_p_cuda_version(cudaDriverVersion) : NVML_ERROR_INVALID_ARGUMENT;
}

TFN_API nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion)
{
    return nvmlSystemGetCudaDriverVersion(cudaDriverVersion);
}

/* The process's executable as /proc tells it (its first argument, else its name). */
TFN_API nvmlReturn_t nvmlSystemGetProcessName(unsigned int pid, char *name, unsigned int length)
{
    if (!tfn_initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (!name || length == 0)
        return NVML_ERROR_INVALID_ARGUMENT;
    char path[64], text[256] = "";
    snprintf(path, sizeof path, "/proc/%u/cmdline", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? NVML_ERROR_NOT_FOUND : NVML_ERROR_NO_PERMISSION;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    if (!text[0]) {   /* a kernel thread or a zombie: its name */
        snprintf(path, sizeof path, "/proc/%u/comm", pid);
        if ((f = fopen(path, "r"))) {
            n = fread(text, 1, sizeof text - 1, f);
            fclose(f);
            text[n] = 0;
            text[strcspn(text, "\n")] = 0;
        }
    }
    return tfn_copy(name, length, text);
}

/* S-class units are NVIDIA's external enclosures: there are none. */
TFN_API nvmlReturn_t nvmlUnitGetCount(unsigned int *unitCount)
{
    if (!tfn_initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (!unitCount)
        return NVML_ERROR_INVALID_ARGUMENT;
    *unitCount = 0;
    return NVML_SUCCESS;
}

/* ---- handles ---- */

TFN_API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    if (!tfn_initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (!deviceCount)
        return NVML_ERROR_INVALID_ARGUMENT;
    *deviceCount = ndev;
    return NVML_SUCCESS;
}

TFN_API nvmlReturn_t nvmlDeviceGetCount(unsigned int *deviceCount)
{
    return nvmlDeviceGetCount_v2(deviceCount);
}

TFN_API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    if (!tfn_initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (!device || index >= ndev)
        return NVML_ERROR_INVALID_ARGUMENT;
    *device = &handles[index];
    return NVML_SUCCESS;
}

TFN_API nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
    return nvmlDeviceGetHandleByIndex_v2(index, device);
}

/* The first device whose text (as `text_of` writes it) is `want`. */
static nvmlReturn_t find(const char *want, void (*text_of)(unsigned, char *), nvmlDevice_t *out)
{
    if (!tfn_initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (!want || !out)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned i = 0; i < ndev; i++) {
        char text[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = "";
        text_of(i, text);
        if (text[0] && strcasecmp(text, want) == 0) {
            *out = &handles[i];
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

static void uuid_of(unsigned i, char *out) { tfn_uuid_text(facts[i].uuid, out); }
static void serial_of(unsigned i, char *out) { strcpy(out, facts[i].serial); }
static void bus_id_of(unsigned i, char *out)
{
    sprintf(out, "%08x:%02x:%02x.0", facts[i].pci_domain, facts[i].pci_bus, facts[i].pci_device);
}

TFN_API nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
    return find(uuid, uuid_of, device);
}

TFN_API nvmlReturn_t nvmlDeviceGetHandleBySerial(const char *serial, nvmlDevice_t *device)
{
    return find(serial, serial_of, device);
}

/* "domain:bus:device.function" or "bus:device.function", in hex, with any number of digits:
 * NVML's, CUDA's ("0000:41:00.0") and lspci's forms. Writes the canonical form. */
static int canonical_bus_id(const char *in, char out[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE])
{
    unsigned v[4] = {0}, n = 0;
    const char *p = in;
    while (n < 4) {
        char *end;
        if (!isxdigit((unsigned char)*p))
            return -1;
        v[n++] = (unsigned)strtoul(p, &end, 16);
        p = end;
        if (*p != ':' && *p != '.')
            break;
        p++;
    }
    if (*p || n < 3)
        return -1;
    unsigned dom = n == 4 ? v[0] : 0, bus = v[n - 3], dev = v[n - 2], fn = v[n - 1];
    if (fn != 0)
        return -1;
    snprintf(out, NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE, "%08x:%02x:%02x.0", dom, bus, dev);
    return 0;
}

TFN_API nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *pciBusId, nvmlDevice_t *device)
{
    char want[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
    if (!tfn_initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (!pciBusId || !device || canonical_bus_id(pciBusId, want) != 0)
        return NVML_ERROR_INVALID_ARGUMENT;
    return find(want, bus_id_of, device);
}

TFN_API nvmlReturn_t nvmlDeviceGetHandleByPciBusId(const char *pciBusId, nvmlDevice_t *device)
{
    return nvmlDeviceGetHandleByPciBusId_v2(pciBusId, device);
}
