/*
 * softgpu's NVML provider: the device's truth for the NVML front (src/nvml/front.h), built
 * with it as libtfuse-softgpu-nvml.so and lib/softgpu/libnvidia-ml.so.1. It reports the
 * devices the driver library would create (same environment, UUIDs, PCI ids and attributes)
 * and answers memory, processes and utilization from the shared device every driver process
 * maps (shm_stats.h: the device-wide memory counter, one slot per live process). Calls config.c,
 * shm_map.c and shm_charge.c.
 *
 * Facts of a CPU device: memory is the shared device's capacity (its creator's SOFTGPU_MEMORY);
 * clocks are the rated clocks the driver reports as attributes (1410 MHz SM, 1215 MHz memory),
 * constant, at P0; no ECC, NVLink, PCIe link, video engines or sensors (temperature, fan,
 * power: NOT_SUPPORTED, see front_sensors.c). Devices are peers of each other through host
 * memory (read, write, atomics), as cuDeviceCanAccessPeer says. A softgpu device's serial is its
 * UUID's first 6 bytes in decimal (a CPU device has no board serial; this one is stable and
 * unique).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "front.h"

#include "config.h"
#include "shm_stats.h"

#define SG_NVML_DRIVER_VERSION "13.0.0-softgpu"
#define SG_NVML_CUDA_VERSION 13000
/* The driver's attribute values (device.c), as NVML reports them. */
#define SG_NVML_NAME "softgpu (CPU reference GPU)"
#define SG_NVML_SM_CLOCK_MHZ 1410
#define SG_NVML_MEM_CLOCK_MHZ 1215
#define SG_NVML_BUS_WIDTH 5120
#define SG_NVML_PCI_DEVICE_ID 0x20b010deu
#define SG_NVML_PCI_SUBSYSTEM_ID 0x134f10deu

const nvmlGpuTopologyLevel_t tfn_p_peer_level = NVML_TOPOLOGY_NODE;
const nvmlGpuVirtualizationMode_t tfn_p_virtualization = NVML_GPU_VIRTUALIZATION_MODE_NONE;

static pthread_mutex_t files_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sg_config cfg;
static struct sg_shm_att atts[SG_MAX_DEVICES];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

nvmlReturn_t tfn_p_open(void)
{
    sg_config_load(&cfg, NULL);
    return NVML_SUCCESS;
}

void tfn_p_close(void)
{
    pthread_mutex_lock(&files_lock);
    for (int d = 0; d < SG_MAX_DEVICES; d++)
        if (atts[d].f) {
            sg_shm_detach(&atts[d], cfg.ns, d); /* after nvmlShutdown no call reads it */
            munmap(atts[d].f, sizeof *atts[d].f);
            atts[d].f = NULL;
        }
    pthread_mutex_unlock(&files_lock);
}

nvmlReturn_t tfn_p_count(unsigned *n)
{
    *n = (unsigned)cfg.ndev;
    return NVML_SUCCESS;
}

nvmlReturn_t tfn_p_facts(unsigned i, struct tfn_facts *f)
{
    snprintf(f->name, sizeof f->name, "%s", SG_NVML_NAME);
    sg_device_uuid(f->uuid, (int)i);
    unsigned long long serial = 0;
    for (int b = 0; b < 6; b++)
        serial = serial << 8 | f->uuid[b];
    snprintf(f->serial, sizeof f->serial, "%015llu", serial);
    f->pci_domain = 0;
    f->pci_bus = SG_PCI_BUS_BASE + i;
    f->pci_device = 0;
    f->pci_device_id = SG_NVML_PCI_DEVICE_ID;
    f->pci_subsystem_id = SG_NVML_PCI_SUBSYSTEM_ID;
    f->cc_major = cfg.cc_major;
    f->cc_minor = cfg.cc_minor;
    f->sm_count = (unsigned)cfg.sms;
    f->mem_bus_width = SG_NVML_BUS_WIDTH;
    f->sm_clock_mhz = SG_NVML_SM_CLOCK_MHZ;
    f->mem_clock_mhz = SG_NVML_MEM_CLOCK_MHZ;
    f->ecc_enabled = 0;
    f->compute_mode = NVML_COMPUTEMODE_DEFAULT;
    f->pstate = NVML_PSTATE_0;
    return NVML_SUCCESS;
}

const char *tfn_p_driver_version(void) { return SG_NVML_DRIVER_VERSION; }

nvmlReturn_t tfn_p_cuda_version(int *version)
{
    *version = SG_NVML_CUDA_VERSION;
    return NVML_SUCCESS;
}

/* The shared device's segment, attached on first use (with the shared flock: while this
 * library holds it, the segment outlives the driver processes); NULL while no process has
 * created it. Dead processes' slots are reaped on every read, so that what NVML says is the
 * device's truth as soon as a process is gone. */
static struct sg_shm_file *usage(unsigned index)
{
    pthread_mutex_lock(&files_lock);
    if (!atts[index].f) {
        char msg[512];
        atts[index].fd = -1;
        if (sg_shm_attach(&atts[index], cfg.ns, (int)index, cfg.mem_bytes, 0, msg,
                          sizeof msg) != 0)
            atts[index].f = NULL;
    }
    struct sg_shm_file *f = atts[index].f;
    pthread_mutex_unlock(&files_lock);
    if (f)
        sg_shm_reap(f);
    return f;
}

nvmlReturn_t tfn_p_memory(unsigned i, unsigned long long *total, unsigned long long *used)
{
    struct sg_shm_file *f = usage(i);
    *total = f ? f->capacity : cfg.mem_bytes;
    *used = f ? sg_shm_used_bytes(f) : 0;
    if (*used > *total)
        *used = *total;
    return NVML_SUCCESS;
}

nvmlReturn_t tfn_p_utilization(unsigned i, nvmlUtilization_t *u)
{
    unsigned gpu = 0, mem = 0;
    uint64_t now = now_ns();
    struct sg_shm_file *f = usage(i);
    for (int s = 0; f && s < SG_SHM_SLOTS; s++) {
        if (!sg_shm_live_owner(f, s))
            continue;
        gpu += sg_shm_slot_util(&f->slots[s], now, 0);
        mem += sg_shm_slot_util(&f->slots[s], now, 1);
    }
    u->gpu = gpu > 100 ? 100 : gpu;
    u->memory = mem > 100 ? 100 : mem;
    return NVML_SUCCESS;
}

nvmlReturn_t tfn_p_processes(unsigned i, nvmlProcessInfo_t *out, unsigned cap, unsigned *n)
{
    struct sg_shm_file *f = usage(i);
    *n = 0;
    for (int s = 0; f && s < SG_SHM_SLOTS; s++) {
        uint64_t owner = sg_shm_live_owner(f, s);
        if (!owner)
            continue;
        if (*n < cap)
            out[*n] = (nvmlProcessInfo_t){.pid = (unsigned)(owner & 0x7fffffffu),
                                          .usedGpuMemory = sg_shm_slot_bytes(f, s),
                                          .gpuInstanceId = TFN_NO_MIG,
                                          .computeInstanceId = TFN_NO_MIG};
        ++*n;
    }
    return NVML_SUCCESS;
}

/* smUtil: the process's kernel time, memUtil: its copy time, over the last second. */
nvmlReturn_t tfn_p_process_util(unsigned i, nvmlProcessUtilizationSample_t *out, unsigned cap,
                                unsigned *n)
{
    struct sg_shm_file *f = usage(i);
    uint64_t now = now_ns();
    unsigned long long stamp = tfn_now_us();
    *n = 0;
    for (int s = 0; f && s < SG_SHM_SLOTS; s++) {
        uint64_t owner = sg_shm_live_owner(f, s);
        if (!owner)
            continue;
        if (*n < cap)
            out[*n] = (nvmlProcessUtilizationSample_t){
                .pid = (unsigned)(owner & 0x7fffffffu), .timeStamp = stamp,
                .smUtil = sg_shm_slot_util(&f->slots[s], now, 0),
                .memUtil = sg_shm_slot_util(&f->slots[s], now, 1)};
        ++*n;
    }
    return NVML_SUCCESS;
}

nvmlReturn_t tfn_p_p2p(unsigned a, unsigned b, nvmlGpuP2PCapsIndex_t index,
                       nvmlGpuP2PStatus_t *status)
{
    (void)a;
    (void)b;
    int ok = index == NVML_P2P_CAPS_INDEX_READ || index == NVML_P2P_CAPS_INDEX_WRITE ||
             index == NVML_P2P_CAPS_INDEX_ATOMICS;
    *status = ok ? NVML_P2P_STATUS_OK : NVML_P2P_STATUS_NOT_SUPPORTED;
    return NVML_SUCCESS;
}
