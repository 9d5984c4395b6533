/*
 * The Kubernetes side of a TensorFuse node: what its parts share. A kubelet plugin (DRA v1 and
 * v1beta1 over gRPC, plugin registration, a device plugin for older clusters), the publisher of
 * the node's ResourceSlices, the CDI specs a container runtime applies, and the admission webhook
 * and scheduler extender of the device-plugin path, all in the `tfuse-k8s` binary.
 * Owns: the driver's configuration and the record of a prepared claim, the one type the gRPC
 * services (dra_service.c, checkpoint.c) and the claim logic (claim.c, cdi.c) exchange.
 * May call: nothing; this header holds types and the prepare/unprepare contract only.
 */
#ifndef TFUSE_K8S_H
#define TFUSE_K8S_H

#include <stddef.h>

#define K8S_DRIVER_NAME_DEFAULT "gpu.tensorfuse.io"
#define K8S_NAME_MAX 256          /* namespace, name, uid, pool, device: DNS names fit */
#define K8S_CDI_ID_MAX 320        /* vendor/class=name */
#define K8S_CLAIM_DEVICES_MAX 16  /* results per claim we prepare */

/* Where the driver lives and whom it talks to; filled from flags and the environment. */
struct k8s_config {
    char driver[K8S_NAME_MAX];        /* DRA driver name, K8S_DRIVER_NAME_DEFAULT */
    char node_name[K8S_NAME_MAX];     /* this Kubernetes node ($NODE_NAME) */
    char node_api[512];               /* the TensorFuse node's API: URL or unix socket path */
    char node_token_file[512];        /* admin credential of the node API ("" = none) */
    char session_addr[512];           /* what programs in containers dial (TFUSE_NODE) */
    char stub_dir[512];               /* host folder with our libcuda.so.1, libnvidia-ml.so.1 */
    char cdi_dir[512];                /* /var/run/cdi */
    char plugin_dir[512];             /* /var/lib/kubelet/plugins/<driver> (dra.sock, state) */
    char registry_dir[512];           /* /var/lib/kubelet/plugins_registry */
    char kube_api[512];               /* https://host:port; "" = in-cluster from the env */
    char kube_token_file[512];        /* service account token */
    char kube_ca_file[512];           /* service account CA bundle */
};

/* One allocated device of a claim, once prepared: one vGPU on the node. */
struct k8s_prepared_device {
    char request[K8S_NAME_MAX];       /* the claim's request name this result answers */
    char pool[K8S_NAME_MAX];
    char device[K8S_NAME_MAX];
    char share_id[K8S_NAME_MAX];      /* consumable capacity's share id, "" when none */
    char vgpu_id[K8S_NAME_MAX];       /* the vGPU created for it on the TensorFuse node */
    char cdi_id[K8S_CDI_ID_MAX];      /* vendor/class=name the runtime resolves */
};

/* A prepared claim: what the checkpoint keeps so unprepare works after restarts and deletion. */
struct k8s_prepared_claim {
    char uid[K8S_NAME_MAX];
    char ns[K8S_NAME_MAX];
    char name[K8S_NAME_MAX];
    size_t n_devices;
    struct k8s_prepared_device devices[K8S_CLAIM_DEVICES_MAX];
};

/*
 * Prepare one claim: read it from the API server, take the results and config for our driver,
 * create a vGPU per result on the node, write the claim's CDI spec, report the devices in the
 * claim's status. 0 and *out filled, or -1 with a message in err (nothing left behind: vGPUs
 * created before the failure are deleted, the spec removed). The caller serialises calls for
 * one uid and answers a uid already in its checkpoint from there (idempotence).
 */
int k8s_claim_prepare(const struct k8s_config *cfg, const char *ns, const char *name,
                      const char *uid, struct k8s_prepared_claim *out, char *err, size_t errlen);

/* Undo a prepare from its record alone (the claim may be gone): delete the vGPUs and the CDI
 * spec. Missing pieces are not errors (idempotent). 0, or -1 with a message in err. */
int k8s_claim_unprepare(const struct k8s_config *cfg, const struct k8s_prepared_claim *pc,
                        char *err, size_t errlen);

#endif
