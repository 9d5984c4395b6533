/*
 * The mutating admission webhook's review (webhook.c), callable without a listener (tests).
 * May call: annotations.h.
 */
#ifndef TFUSE_K8S_WEBHOOK_H
#define TFUSE_K8S_WEBHOOK_H

#include <stddef.h>

#include "annotations.h"

struct k8s_webhook_opts {
    struct k8s_gpu_defaults defaults;
    const char *scheduler_name;        /* NULL or "": spec.schedulerName is left alone */
};

/* Answers an AdmissionReview (body) with one (*resp, malloc'd): 200, or 400 with an error
 * object when the body is not an admission.k8s.io/v1 AdmissionReview with a request uid. */
int k8s_webhook_review(const struct k8s_webhook_opts *o, const char *body, size_t len,
                       char **resp);

#endif
