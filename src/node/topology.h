/*
 * The topology a node registers with its pool: each device's NUMA node and NVLink peers,
 * discovered once through NVML (the library discover.h picks: NVIDIA's, else softgpu's).
 *
 * Owns: struct node_topology. May call: discover.h, dlopen/dlsym, libc, jansson.
 */
#ifndef TFUSE_NODE_TOPOLOGY_H
#define TFUSE_NODE_TOPOLOGY_H

#include <jansson.h>

#include "vgpus.h"

struct node_topology {
    int numa[NODE_MAX_DEVICES];              /* -1: unknown (or a machine without NUMA) */
    int npeers[NODE_MAX_DEVICES];
    int peer[NODE_MAX_DEVICES][NODE_MAX_DEVICES];   /* indexes into the node's devices */
};

/* Fills t for v's devices (matched by uuid). What NVML or sysfs cannot answer stays unknown:
 * numa -1, no peers. Never fails. */
void node_topology_probe(const struct node_vgpus *v, struct node_topology *t);

/* Adds "numa" and "nvlink_peers" (uuids) of device i to the registration's device object. */
void node_topology_json(const struct node_topology *t, const struct node_vgpus *v, int i,
                        json_t *dev);

/* The NUMA node of a PCI device from sysfs (/sys/bus/pci/devices/BUSID/numa_node), BUSID as
 * NVML writes it ("00000000:41:00.0": the domain is shortened to 4 digits); -1 when unknown.
 * root: the sysfs mount ("/sys"; tests pass a fake tree). */
int node_topology_sysfs_numa(const char *root, const char *pci_bus_id);

#endif
