/*
 * The node's devices (see vgpus.h): the probe of the backend's devices, in a child process so
 * that the node itself never initializes the driver it forks workers from, and their view
 * (GET /api/v1/devices). Split from vgpus.c, which keeps the vGPUs.
 * May call: src/backend, src/vgpu, jansson, libc.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "log.h"
#include "vgpus_int.h"

/* ---- device probe (in a child: the node itself never initializes the driver) ---- */

static void format_uuid(const CUuuid *u, char *out, size_t len)
{
    const unsigned char *b = (const unsigned char *)u->bytes;
    snprintf(out, len,
             "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

/* Compute capability, driver version and PCI address, for the node's devices listing. */
static void probe_k8s_facts(struct tf_backend *be, int i, struct node_device *d)
{
    int dom = 0, bus = 0, slot = 0;
    d->driver_version = be->driver_version;
    if (!be->cuDeviceGetAttribute)
        return;
    be->cuDeviceGetAttribute(&d->cc_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, i);
    be->cuDeviceGetAttribute(&d->cc_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, i);
    if (be->cuDeviceGetAttribute(&bus, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, i) != CUDA_SUCCESS)
        return;
    be->cuDeviceGetAttribute(&dom, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, i);
    be->cuDeviceGetAttribute(&slot, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, i);
    snprintf(d->pci_bus_id, sizeof d->pci_bus_id, "%04x:%02x:%02x.0", (unsigned)dom & 0xffff,
             (unsigned)bus & 0xff, (unsigned)slot & 0x1f);
}

static void probe_child(int fd, const char *backend_path)
{
    struct tf_backend be;
    char err[512];
    int n = 0;
    if (tf_backend_load(&be, backend_path, err, sizeof err) != 0 || !be.cuDeviceGetCount ||
        be.cuDeviceGetCount(&n) != CUDA_SUCCESS)
        n = -1;
    if (n > NODE_MAX_DEVICES)
        n = NODE_MAX_DEVICES;
    if (write(fd, &n, sizeof n) != sizeof n)
        _exit(1);
    for (int i = 0; i < n; i++) {
        struct node_device d;
        memset(&d, 0, sizeof d);
        size_t total = 0;
        CUuuid u;
        memset(&u, 0, sizeof u);
        be.cuDeviceGetName(d.name, sizeof d.name, i);
        be.cuDeviceTotalMem_v2(&total, i);
        if (be.cuDeviceGetUuid_v2)
            be.cuDeviceGetUuid_v2(&u, i);
        if (be.cuDeviceGetAttribute)
            be.cuDeviceGetAttribute(&d.sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, i);
        d.memory = total;
        format_uuid(&u, d.uuid, sizeof d.uuid);
        probe_k8s_facts(&be, i, &d);
        if (write(fd, &d, sizeof d) != sizeof d)
            _exit(1);
    }
    _exit(0);
}

static int read_all(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

int node_vgpus_probe(struct node_vgpus *v, const char *backend_path, char *err, size_t len)
{
    int p[2];
    if (pipe(p) != 0) {
        snprintf(err, len, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        probe_child(p[1], backend_path);
    }
    close(p[1]);
    int n = -1, rc = -1;
    if (pid > 0 && read_all(p[0], &n, sizeof n) == 0 && n >= 0) {
        rc = 0;
        for (int i = 0; i < n && rc == 0; i++)
            rc = read_all(p[0], &v->dev[i], sizeof v->dev[i]);
        v->ndev = rc == 0 ? n : 0;
    }
    close(p[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    if (rc != 0)
        snprintf(err, len, "cannot list the backend's devices (%s)", backend_path);
    return rc;
}

/* The facts a Kubernetes ResourceSlice publishes; absent when the backend did not say. */
static void node_device_facts(const struct node_device *d, json_t *o)
{
    char cc[32];
    if (d->cc_major > 0) {
        snprintf(cc, sizeof cc, "%d.%d", d->cc_major, d->cc_minor);
        json_object_set_new(o, "compute_capability", json_string(cc));
    }
    if (d->driver_version > 0)
        json_object_set_new(o, "cuda_driver_version", json_integer(d->driver_version));
    if (d->pci_bus_id[0])
        json_object_set_new(o, "pci_bus_id", json_string(d->pci_bus_id));
}

int node_vgpus_devices(struct node_vgpus *v, json_t **reply)
{
    json_t *arr = json_array();
    for (int d = 0; d < v->ndev; d++) {
        struct vgpu_region_header *h = v->regions[d]->hdr;
        json_array_append_new(
            arr, json_pack("{s:i, s:s, s:s, s:I, s:f, s:I}", "index", d, "uuid", v->dev[d].uuid,
                           "model", v->dev[d].name, "memory_bytes", (json_int_t)v->dev[d].memory,
                           "tflops_fp16", v->dev[d].tflops, "memory_limit_sum",
                           (json_int_t)atomic_load(&h->mem_limit_sum)));
        json_t *o = json_array_get(arr, json_array_size(arr) - 1);
        json_object_set_new(o, "warm_workers", json_integer(atomic_load(&v->warm_workers[d])));
        json_object_set_new(o, "warm_bytes", json_integer((json_int_t)atomic_load(
                                                 &v->warm_bytes[d])));
        json_object_set_new(o, "memory_promisable_bytes", h->flags & VGPU_REGION_OVERSUBSCRIBE
                            ? json_null() : json_integer((json_int_t)(h->mem_promise_max
                            ? h->mem_promise_max : h->device_mem)));
        node_device_facts(&v->dev[d], o);
    }
    *reply = json_pack("{s:o}", "devices", arr);
    return 200;
}
