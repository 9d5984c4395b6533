/*
 * A pod's GPU request from annotations (src/k8s/annotations.h): Kubernetes quantities, our
 * annotations, Tensor Fusion's and HAMi's vocabulary as aliases, disagreements and bad values
 * refused with a reason, the defaults, and the pool request and annotations written back.
 * May call: annotations.h, jansson.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "annotations.h"

static int failures;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                               \
        }                                                                             \
    } while (0)

static const struct k8s_gpu_defaults defs = {0, 10, 100};

/* Reads the pod written as JSON (single quotes stand for double ones). */
static int req_of(const char *text, struct k8s_gpu_request *r, char *err, size_t errlen)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *p = buf; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t je;
    json_t *pod = json_loads(buf, 0, &je);
    if (!pod) {
        fprintf(stderr, "bad fixture: %s: %s\n", je.text, buf);
        failures++;
        return -2;
    }
    err[0] = '\0';
    int rc = k8s_pod_gpu_request(pod, &defs, r, err, errlen);
    json_decref(pod);
    return rc;
}

static void quantities(void)
{
    uint64_t b;
    double d;
    CHECK(k8s_ann_bytes("1Gi", &b) == 0 && b == 1ull << 30);
    CHECK(k8s_ann_bytes("512Mi", &b) == 0 && b == 512ull << 20);
    CHECK(k8s_ann_bytes("1.5Gi", &b) == 0 && b == 3ull << 29);
    CHECK(k8s_ann_bytes("2G", &b) == 0 && b == 2000000000ull);
    CHECK(k8s_ann_bytes("1e3", &b) == 0 && b == 1000);
    CHECK(k8s_ann_bytes("100m", &b) == 0 && b == 1);   /* rounded up, as the API server does */
    CHECK(k8s_ann_bytes("-1Gi", &b) != 0);
    CHECK(k8s_ann_bytes("2Pi", &b) != 0);    /* above 1 PiB */
    CHECK(k8s_ann_bytes("1Gib", &b) != 0);
    CHECK(k8s_ann_bytes("", &b) != 0);
    CHECK(k8s_ann_bytes("inf", &b) != 0);
    CHECK(k8s_ann_bytes("0x10", &b) != 0);
    CHECK(k8s_ann_number("100m", &d) == 0 && d > 0.0999 && d < 0.1001);
    CHECK(k8s_ann_number("71200m", &d) == 0 && d > 71.19 && d < 71.21);
    CHECK(k8s_ann_number("20", &d) == 0 && d == 20);
    CHECK(k8s_ann_number("nan", &d) != 0);
    CHECK(k8s_ann_number("1e400", &d) != 0);
}

static void ours_and_aliases(void)
{
    struct k8s_gpu_request r;
    char err[600];
    CHECK(req_of("{'metadata':{},'spec':{'containers':[{'name':'a'}]}}", &r, err, sizeof err)
          == 0);
    /* our annotations */
    CHECK(req_of("{'metadata':{'annotations':{'tensorfuse.io/vram-request':'2Gi',"
                 "'tensorfuse.io/gpu-count':'2','tensorfuse.io/tflops-request':'10',"
                 "'tensorfuse.io/tflops-limit':'20','tensorfuse.io/qos':'high'}},"
                 "'spec':{'containers':[{'name':'a'},{'name':'b'}]}}", &r, err, sizeof err)
          == 1);
    CHECK(r.gpu_count == 2 && r.vram_request == 2ull << 30 && r.vram_limit == 2ull << 30);
    CHECK(r.tflops_request == 10 && r.tflops_limit == 20 && r.compute_request_pct == 0);
    CHECK(!strcmp(r.qos, "high") && r.n_containers == 1 && !strcmp(r.containers[0], "a"));
    /* Tensor Fusion's */
    CHECK(req_of("{'metadata':{'annotations':{'tensor-fusion.ai/vram-request':'1Gi',"
                 "'tensor-fusion.ai/vram-limit':'4Gi','tensor-fusion.ai/tflops-request':'100m',"
                 "'tensor-fusion.ai/gpupool':'gold','tensor-fusion.ai/inject-container':'b',"
                 "'tensor-fusion.ai/gpu-model':'H100'}},"
                 "'spec':{'containers':[{'name':'a'},{'name':'b'}]}}", &r, err, sizeof err)
          == 1);
    CHECK(r.vram_request == 1ull << 30 && r.vram_limit == 4ull << 30);
    CHECK(r.tflops_request > 0.0999 && r.tflops_request < 0.1001);
    CHECK(!strcmp(r.pool, "gold") && !strcmp(r.model, "H100"));
    CHECK(r.n_containers == 1 && !strcmp(r.containers[0], "b"));
    /* HAMi's container resources */
    CHECK(req_of("{'metadata':{'annotations':{'hami.io/gpu-scheduler-policy':'spread'}},"
                 "'spec':{'containers':[{'name':'side'},{'name':'cuda','resources':{'limits':"
                 "{'nvidia.com/gpu':'1','nvidia.com/gpumem':'3000','nvidia.com/gpucores':'30',"
                 "'nvidia.com/priority':'0'}}}]}}", &r, err, sizeof err) == 1);
    CHECK(r.gpu_count == 1 && r.vram_request == 3000ull << 20 && r.vram_limit == r.vram_request);
    CHECK(r.compute_request_pct == 30 && r.compute_limit_pct == 30);
    CHECK(!strcmp(r.strategy, "LowLoadFirst") && !strcmp(r.qos, "high"));
    CHECK(r.n_containers == 1 && !strcmp(r.containers[0], "cuda"));
}

static void refusals(void)
{
    struct k8s_gpu_request r;
    char err[600];
    CHECK(req_of("{'metadata':{'annotations':{'tensorfuse.io/vram-request':'2Gi',"
                 "'tensor-fusion.ai/vram-request':'1Gi'}},'spec':{'containers':[{'name':'a'}]}}",
                 &r, err, sizeof err) == -1);
    CHECK(strstr(err, "disagree") && strstr(err, "tensor-fusion.ai/vram-request"));
    CHECK(req_of("{'metadata':{},'spec':{'containers':[{'name':'a','resources':{'limits':"
                 "{'nvidia.com/gpu':'1','nvidia.com/gpumem':'1024'}}},{'name':'b','resources':"
                 "{'limits':{'nvidia.com/gpu':'1','nvidia.com/gpumem':'2048'}}}]}}", &r, err,
                 sizeof err) == -1);
    CHECK(strstr(err, "container b's nvidia.com/gpumem") != NULL);
    CHECK(req_of("{'metadata':{'annotations':{'tensorfuse.io/gpu-count':'abc',"
                 "'tensorfuse.io/vram-request':'1Gi'}},'spec':{'containers':[{'name':'a'}]}}",
                 &r, err, sizeof err) == -1 && strstr(err, "gpu-count"));
    CHECK(req_of("{'metadata':{'annotations':{'tensorfuse.io/gpu-count':'17',"
                 "'tensorfuse.io/vram-request':'1Gi'}},'spec':{'containers':[{'name':'a'}]}}",
                 &r, err, sizeof err) == -1);
    CHECK(req_of("{'metadata':{'annotations':{'tensorfuse.io/gpu-count':'1'}},"
                 "'spec':{'containers':[{'name':'a'}]}}", &r, err, sizeof err) == -1 &&
          strstr(err, "vram-request"));
    CHECK(req_of("{'metadata':{'annotations':{'tensorfuse.io/vram-request':'1Gi',"
                 "'tensorfuse.io/vram-limit':'512Mi'}},'spec':{'containers':[{'name':'a'}]}}",
                 &r, err, sizeof err) == -1 && strstr(err, "below"));
    CHECK(req_of("{'metadata':{'annotations':{'tensorfuse.io/vram-request':'1Gi',"
                 "'tensorfuse.io/tflops-request':'5','tensorfuse.io/compute-request':'20'}},"
                 "'spec':{'containers':[{'name':'a'}]}}", &r, err, sizeof err) == -1 &&
          strstr(err, "one form"));
    CHECK(req_of("{'metadata':{'annotations':{'tensorfuse.io/vram-request':'1Gi',"
                 "'tensorfuse.io/containers':'nope'}},'spec':{'containers':[{'name':'a'}]}}",
                 &r, err, sizeof err) == -1 && strstr(err, "nope"));
    CHECK(req_of("{'metadata':{'annotations':{'tensorfuse.io/vram-request':'1Gi',"
                 "'tensorfuse.io/qos':'urgent'}},'spec':{'containers':[{'name':'a'}]}}",
                 &r, err, sizeof err) == -1);
    CHECK(req_of("{'metadata':{'annotations':{'tensorfuse.io/vram-request':'1Gi',"
                 "'tensorfuse.io/pool':'a/b'}},'spec':{'containers':[{'name':'a'}]}}",
                 &r, err, sizeof err) == -1);
    CHECK(req_of("{'metadata':{},'spec':{'containers':[{'name':'a','resources':{'limits':"
                 "{'nvidia.com/gpu':'1','nvidia.com/gpumem-percentage':'50'}}}]}}", &r, err,
                 sizeof err) == -1 && strstr(err, "gpumem-percentage"));
    CHECK(req_of("{'kind':'Pod'}", &r, err, sizeof err) == -1);
}

static void written_back(void)
{
    struct k8s_gpu_request r;
    char err[600];
    CHECK(req_of("{'metadata':{},'spec':{'containers':[{'name':'c','resources':{'limits':"
                 "{'nvidia.com/gpu':'2','nvidia.com/gpumem':'1024'}}}]}}", &r, err, sizeof err)
          == 1);
    /* the defaults of compute: 10% asked, no limit below the card */
    CHECK(r.compute_request_pct == 10 && r.compute_limit_pct == 100);
    json_t *ann = k8s_gpu_request_annotations(&r);
    CHECK(!strcmp(k8s_json_str(ann, "tensorfuse.io/gpu-count") ?: "", "2"));
    CHECK(!strcmp(k8s_json_str(ann, "tensorfuse.io/vram-request") ?: "", "1073741824"));
    CHECK(!strcmp(k8s_json_str(ann, "tensorfuse.io/compute-limit") ?: "", "100"));
    CHECK(!strcmp(k8s_json_str(ann, "tensorfuse.io/containers") ?: "", "c"));
    /* read back, the annotations give the same request */
    json_t *pod = json_pack("{s:{s:O}, s:{s:[{s:s}]}}", "metadata", "annotations", ann, "spec",
                            "containers", "name", "c");
    struct k8s_gpu_request again;
    CHECK(k8s_pod_gpu_request(pod, &defs, &again, err, sizeof err) == 1);
    CHECK(again.gpu_count == 2 && again.vram_request == r.vram_request &&
          again.compute_limit_pct == 100);
    json_decref(pod);
    json_decref(ann);
    json_t *body = k8s_gpu_request_pool_body(&r, "team-a", "node-1", "k8s-x");
    CHECK(json_integer_value(json_object_get(body, "gpu_count")) == 2);
    CHECK(json_integer_value(json_object_get(body, "vram_request")) == 1 << 30);
    CHECK(!strcmp(k8s_json_str(body, "node") ?: "", "node-1"));
    CHECK(!strcmp(k8s_json_str(body, "tenant") ?: "", "team-a"));
    CHECK(json_object_get(body, "tflops_request") == NULL);
    json_decref(body);
}

int main(void)
{
    quantities();
    ours_and_aliases();
    refusals();
    written_back();
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    else
        printf("annotations: all checks passed\n");
    return failures ? 1 : 0;
}
