/*
 * The kubelet's device plugin API v1beta1 for tensorfuse.io/vgpu shares: the DevicePlugin
 * service on our socket in the kubelet's device-plugins folder, and our Register with the
 * kubelet's Registration service on kubelet.sock, again whenever the kubelet restarts.
 * Owns: the plugin's gRPC server (K1's grpcsrv), the registration state, the protobuf
 * messages of deviceplugin v1beta1. May call: grpcsrv.h, dp_devices.h, dp_alloc.h (the
 * allocation of a container's vGPU, K4), protobuf-c.
 */
#ifndef TFUSE_K8S_DEVPLUGIN_H
#define TFUSE_K8S_DEVPLUGIN_H

#include <stddef.h>

#include "dp_devices.h"
#include "k8s.h"

#define K8S_DP_DIR_DEFAULT "/var/lib/kubelet/device-plugins"
#define K8S_DP_SOCKET_DEFAULT "tensorfuse-vgpu.sock"
#define K8S_DP_KUBELET_SOCKET "kubelet.sock"

struct k8s_dp_options {
    char dir[512];                    /* the kubelet's device-plugins folder */
    char socket[128];                 /* our socket's file name in dir (the Register endpoint) */
    char resource[K8S_NAME_MAX];      /* the extended resource, tensorfuse.io/vgpu */
};

struct k8s_dp;

/* A plugin serving devs (not owned; it outlives the plugin) with cfg's node for Allocate. */
struct k8s_dp *k8s_dp_new(const struct k8s_config *cfg, const struct k8s_dp_options *o,
                          struct k8s_dp_devices *devs);

/*
 * One step of the plugin's life, called every 100 ms or so from one thread: (re)starts the
 * server when it is not running or its socket file is gone or replaced (the kubelet empties
 * the folder when it starts), and registers with the kubelet when not registered since
 * kubelet.sock last appeared (a new kubelet.sock is a restarted kubelet: register again).
 * Failures are retried on later steps, with a doubling pause up to 30 s; each new failure is
 * logged once. Returns 1 while registered, 0 when not (yet).
 */
int k8s_dp_step(struct k8s_dp *p);

/* How many successful Register calls were made (tests and logs). */
unsigned k8s_dp_registrations(const struct k8s_dp *p);

/* Stops the server (streams end, calls are joined, the socket removed) and frees. */
void k8s_dp_free(struct k8s_dp *p);

/* Checks an extended resource name as the kubelet does: "domain/name", a DNS subdomain and a
 * name of [A-Za-z0-9._-] (the domain must not be kubernetes.io's). 0, or -1 with err. */
int k8s_dp_resource_check(const char *name, char *err, size_t errlen);

#endif
