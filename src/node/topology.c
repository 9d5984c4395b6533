/*
 * Device topology for pool registration (see topology.h): NUMA node through
 * nvmlDeviceGetNumaNodeId, else the PCI device's sysfs numa_node; NVLink peers through
 * nvmlDeviceGetP2PStatus(NVLINK). Every NVML call is looked up with dlsym and optional: an old
 * driver or softgpu's NVML answers what it has.
 * May call: discover.h (which library, the PCI bus ids), dlopen/dlsym, libc, jansson.
 */
#include "topology.h"

#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "discover.h"
#define TFUSE_NVML_NO_VERSION_MACROS
#include "tfuse/nvml.h"

typedef nvmlReturn_t (*by_uuid_fn)(const char *, nvmlDevice_t *);
typedef nvmlReturn_t (*numa_fn)(nvmlDevice_t, unsigned int *);
typedef nvmlReturn_t (*p2p_fn)(nvmlDevice_t, nvmlDevice_t, nvmlGpuP2PCapsIndex_t,
                               nvmlGpuP2PStatus_t *);

int node_topology_sysfs_numa(const char *root, const char *pci_bus_id)
{
    char id[32], path[512];
    const char *colon = strchr(pci_bus_id, ':');
    /* NVML: 8-digit domain "00000000:41:00.0"; sysfs: "0000:41:00.0", lower case. */
    if (!colon || strlen(pci_bus_id) >= sizeof id)
        return -1;
    size_t dom = (size_t)(colon - pci_bus_id);
    snprintf(id, sizeof id, "%s", pci_bus_id + (dom > 4 ? dom - 4 : 0));
    for (char *p = id; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    snprintf(path, sizeof path, "%s/bus/pci/devices/%s/numa_node", root, id);
    FILE *f = fopen(path, "r");
    int numa = -1;
    if (f) {
        if (fscanf(f, "%d", &numa) != 1 || numa < 0)
            numa = -1;   /* the kernel writes -1 on a machine without NUMA */
        fclose(f);
    }
    return numa;
}

/* The device of v whose uuid NVML reports at NVML index k, or -1. */
static int node_index(const struct node_vgpus *v, const char *uuid)
{
    for (int i = 0; i < v->ndev; i++)
        if (strcmp(v->dev[i].uuid, uuid) == 0)
            return i;
    return -1;
}

static void probe_nvml(struct tfd_nvml *nv, const struct node_vgpus *v, struct node_topology *t)
{
    void *lib = dlopen(tfd_library_path(nv), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    by_uuid_fn by_uuid = lib ? (by_uuid_fn)dlsym(lib, "nvmlDeviceGetHandleByUUID") : NULL;
    numa_fn numa = lib ? (numa_fn)dlsym(lib, "nvmlDeviceGetNumaNodeId") : NULL;
    p2p_fn p2p = lib ? (p2p_fn)dlsym(lib, "nvmlDeviceGetP2PStatus") : NULL;
    nvmlDevice_t h[NODE_MAX_DEVICES] = {0};
    for (unsigned k = 0; k < tfd_count(nv); k++) {
        struct tfd_device d;
        char err[256];
        int i = tfd_device_at(nv, k, &d, err, sizeof err) == 0 ? node_index(v, d.uuid) : -1;
        if (i < 0)
            continue;
        unsigned n;
        if (by_uuid && by_uuid(d.uuid, &h[i]) != NVML_SUCCESS)
            h[i] = NULL;
        if (h[i] && numa && numa(h[i], &n) == NVML_SUCCESS && n < 1024)
            t->numa[i] = (int)n;
        else
            t->numa[i] = node_topology_sysfs_numa("/sys", d.pci_bus_id);
    }
    for (int i = 0; p2p && i < v->ndev; i++)
        for (int j = 0; h[i] && j < v->ndev; j++) {
            nvmlGpuP2PStatus_t st;
            if (j != i && h[j] && p2p(h[i], h[j], NVML_P2P_CAPS_INDEX_NVLINK, &st) ==
                                      NVML_SUCCESS && st == NVML_P2P_STATUS_OK)
                t->peer[i][t->npeers[i]++] = j;
        }
    if (lib)
        dlclose(lib);
}

void node_topology_probe(const struct node_vgpus *v, struct node_topology *t)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < NODE_MAX_DEVICES; i++)
        t->numa[i] = -1;
    char err[512];
    struct tfd_nvml *nv = tfd_open(TFD_MODE_AUTO, err, sizeof err);
    if (!nv)
        return;   /* no NVML at all: the pool shows numa -1 and no peers */
    probe_nvml(nv, v, t);
    tfd_close(nv);
}

void node_topology_json(const struct node_topology *t, const struct node_vgpus *v, int i,
                        json_t *dev)
{
    json_t *peers = json_array();
    for (int k = 0; k < t->npeers[i]; k++)
        json_array_append_new(peers, json_string(v->dev[t->peer[i][k]].uuid));
    json_object_set_new(dev, "numa", json_integer(t->numa[i]));
    json_object_set_new(dev, "nvlink_peers", peers);
}
