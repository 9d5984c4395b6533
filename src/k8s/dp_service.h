/*
 * The DevicePlugin service's handlers (v1beta1): GetDevicePluginOptions, ListAndWatch,
 * GetPreferredAllocation, Allocate, PreStartContainer, each over protobuf bytes.
 * Owns: decoding the kubelet's requests, checking the share ids it names, encoding answers.
 * May call: grpcsrv.h, dp_devices.h, dp_alloc.h (K4: a container's vGPU), protobuf-c.
 */
#ifndef TFUSE_K8S_DP_SERVICE_H
#define TFUSE_K8S_DP_SERVICE_H

#include "dp_devices.h"
#include "grpcsrv.h"
#include "k8s.h"

#define K8S_DP_SERVICE "/v1beta1.DevicePlugin/"
#define K8S_DP_REGISTER "/v1beta1.Registration/Register"
#define K8S_DP_API_VERSION "v1beta1"

/* What the handlers read; lives as long as every server that serves it. */
struct k8s_dp_service {
    const struct k8s_config *cfg;
    struct k8s_dp_devices *devs;
};

/* Adds the five methods of the DevicePlugin service to srv (before it starts). 0, or -1. */
int k8s_dp_service_add(struct k8s_grpc_server *srv, struct k8s_dp_service *svc);

/* The RegisterRequest for resource at endpoint (a file name in the kubelet's folder), packed;
 * *out malloc'd. 0, or -1 out of memory. */
int k8s_dp_register_request(const char *endpoint, const char *resource, uint8_t **out,
                            size_t *len);

#endif
