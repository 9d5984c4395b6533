/*
 * Fuzz target for the pool's request decoders (src/pool/pool_req.c): every body the HTTP API
 * accepts goes through one of them. The first byte picks the decoder, the rest is the body.
 * Properties checked beyond "no crash": an accepted allocation request satisfies the invariants
 * the placement code relies on, and its canonical form is valid JSON that decodes to itself;
 * an accepted heartbeat's usage and workload mode are in range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool_req.h"

static void check_alloc(const struct pool_alloc_req *r)
{
    bool by_tflops = r->tflops_request > 0, by_pct = r->compute_request_pct > 0;
    if (by_tflops == by_pct || r->gpu_count < 1 || r->gpu_count > POOL_MAX_GANG ||
        r->vram_request == 0 || r->vram_limit < r->vram_request || !r->tenant[0] ||
        (unsigned)r->qos >= POOL_QOS_COUNT || r->strategy >= POOL_STRATEGY_COUNT)
        abort();
    char *canon = pool_req_canonical(r);
    if (!canon)
        abort();
    free(canon);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    char err[512];
    switch (data[0] % 6) {
    case 0: {
        struct pool_alloc_req r;
        if (pool_req_decode_alloc(body, len, &r, err, sizeof err) == 0)
            check_alloc(&r);
        else if (!err[0])
            abort(); /* a rejection always says why */
        break;
    }
    case 1: {
        struct pool_node *n = malloc(sizeof *n);
        if (pool_req_decode_node(body, len, n, err, sizeof err) == 0 &&
            (n->ndev < 1 || n->ndev > POOL_MAX_DEVICES || !n->name[0]))
            abort();
        free(n);
        break;
    }
    case 2: {
        struct pool_heartbeat hb;
        if (pool_req_decode_heartbeat(body, len, &hb, err, sizeof err) == 0 &&
            (hb.ndev > POOL_MAX_DEVICES || (hb.nvgpus > 0 && !hb.vgpus) ||
             (hb.nusage > 0 && !hb.usage)))
            abort();
        for (int i = 0; i < hb.nusage; i++)   /* what the usage history divides by and keeps */
            if (!hb.usage[i].vgpu[0] || !(hb.usage[i].compute_limit >= 0) ||
                hb.usage[i].compute_limit > 1)
                abort();
        pool_req_free_heartbeat(&hb);   /* also after a refusal: it owns nothing then */
        break;
    }
    case 3: {
        struct pool_quota q = {0};
        pool_req_decode_quota(body, len, &q, err, sizeof err);
        break;
    }
    case 5: {   /* PUT /api/v1/workloads/{tenant}/{name}/mode */
        struct pool_mode_req m;
        if (pool_req_decode_mode(body, len, &m, err, sizeof err) == 0 &&
            ((unsigned)m.mode >= POOL_MODE_COUNT || (m.max_vram && m.min_vram > m.max_vram)))
            abort();
        break;
    }
    default: {
        struct pool_def d = {.oversub = 1};
        if (pool_req_decode_pool(body, len, &d, err, sizeof err) == 0 && !(d.oversub >= 1))
            abort();
        break;
    }
    }
    return 0;
}
