/*
 * The worker's session loop (see worker.h): handshake, request decoding and dispatch, held
 * asynchronous errors, device printf capture and replies.
 * May call: src/transport, src/backend, dispatch.c, src/common/log.h.
 */
#include "worker.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "attach.h"
#include "bulk.h"
#include "devmap.h"
#include "enforce.h"
#include "freeze.h"
#include "log.h"
#include "migrate.h"
#include "secret.h"
#include "stats.h"
#include "vgpu_mem.h"
#include "worker_int.h"

__thread struct tfw_session *tfw_self;

CUresult tfw_malformed(struct tfw_session *s, const char *call, const char *what)
{
    if (!s->malformed) {
        s->malformed = 1;
        snprintf(s->reason, sizeof s->reason, "malformed %s request: %s", call, what);
    }
    return CUDA_ERROR_INVALID_VALUE;
}

CUresult tfw_check_handle(struct tfw_session *s, enum tfw_kind k, uint64_t h)
{
    if (h == 0)
        return CUDA_SUCCESS;
    if (k == TFW_K_STREAM && (h == (uint64_t)(uintptr_t)CU_STREAM_LEGACY ||
                              h == (uint64_t)(uintptr_t)CU_STREAM_PER_THREAD))
        return CUDA_SUCCESS;
    enum tfw_kind have = tfw_handles_kind(&s->handles, h);
    if (have == k || (k == TFW_K_FUNC && have == TFW_K_KERN))
        return CUDA_SUCCESS;
    tf_debug("refused handle 0x%llx (kind %d, session has kind %d)", (unsigned long long)h, k,
             have);
    return k == TFW_K_CTX ? CUDA_ERROR_INVALID_CONTEXT : CUDA_ERROR_INVALID_HANDLE;
}

CUresult tfw_check_range(struct tfw_session *s, uint64_t p, uint64_t len)
{
    if (len == 0 || tf_ranges_contains(&s->allocs, p, len))
        return CUDA_SUCCESS;
    tf_debug("refused device range 0x%llx+%llu", (unsigned long long)p, (unsigned long long)len);
    return CUDA_ERROR_INVALID_VALUE;
}

void tfw_record_handle(struct tfw_session *s, enum tfw_kind k, uint64_t h)
{
    if (h && tfw_handles_add_child(&s->handles, h, k, s->last_parent) != 0)
        tf_error("out of memory recording a handle: the session will refuse it");
}

void tfw_record_alloc(struct tfw_session *s, uint64_t base, uint64_t size)
{
    if (base && tf_ranges_add_child(&s->allocs, base, size, s->last_parent) != 0)
        tf_error("out of memory recording an allocation: the session will refuse it");
}

#define REGION_BIT (1ull << 63)

const void *tfw_get_in(struct tfw_session *s, struct tfp_reader *in, uint64_t *len, int *shared)
{
    uint64_t word = tfp_get_u64(in);
    *shared = (word & REGION_BIT) != 0;
    *len = word & ~(REGION_BIT | TFW_ATTACH_BIT);
    if (!*shared && (word & TFW_ATTACH_BIT)) {   /* the client's address (attach.c) */
        uint64_t addr = tfp_get_u64(in);
        return in->bad ? NULL : tfw_attach_in(s, addr, *len);
    }
    if (!*shared)
        return tfp_get_ref(in, *len);
    uint64_t id = tfp_get_u64(in), off = tfp_get_u64(in);
    if (in->bad)
        return NULL;
    int err = 0;
    void *p = tf_region_ptr(s->conn, id, off, *len ? *len : 1, &err);
    if (!p)
        tfw_malformed(s, "buffer", "shared region range is not the client's");
    return p;
}

int tfw_get_out(struct tfw_session *s, struct tfp_reader *in, uint64_t *id, uint64_t *off)
{
    uint64_t where = tfp_get_u64(in);
    if (where == 0)
        return 0;
    *id = tfp_get_u64(in);
    *off = tfp_get_u64(in);
    if (where == TFW_ATTACH_WHERE && *off == 0) {   /* the client's address in id (attach.c) */
        tfw_attach_note_out(*id);
        return 0;
    }
    if (where != 1)
        in->bad = 1;
    return 1;
}

void *tfw_out_buffer(struct tfw_session *s, struct tfp_writer *out, int shared, uint64_t id,
                     uint64_t off, uint64_t len)
{
    if (!shared && tfw_attach_out_pending())
        return tfw_attach_out(s, len);   /* written to the client after the call */
    if (!shared && len < (64u << 10))
        return tfp_reserve(out, (size_t)len);
    if (!shared) {
        if (len > s->bulk_cap) {
            free(s->bulk);
            s->bulk = malloc(len);
            s->bulk_cap = s->bulk ? len : 0;
            if (!s->bulk)
                return NULL;
        }
        tfp_put_ref(out, s->bulk, len);
        return out->failed ? NULL : s->bulk;
    }
    int err = 0;
    void *p = tf_region_ptr(s->conn, id, off, len ? len : 1, &err);
    if (!p)
        tfw_malformed(s, "buffer", "shared region range is not the client's");
    return p;
}

int tfw_capturing(struct tfw_session *s)
{
    CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
    return s->be.cuStreamIsCapturing &&
           s->be.cuStreamIsCapturing(s->last_stream, &st) == CUDA_SUCCESS &&
           st != CU_STREAM_CAPTURE_STATUS_NONE;
}

/* ---- internal calls ---- */

CUresult tfw_tfi_graph_node_count(CUgraph hGraph, size_t *numNodes)
{
    struct tfw_session *s = tfw_self;
    *numNodes = 0;
    return s->be.cuGraphGetNodes ? s->be.cuGraphGetNodes(hGraph, NULL, numNodes)
                                 : CUDA_ERROR_NOT_SUPPORTED;
}

CUresult tfw_tfi_primary_ctx_handle(CUcontext *pctx, CUdevice dev)
{
    static const CUuuid cudart_interface = {{(char)0x6b, (char)0xd5, (char)0xfb, 0x6c, 0x5b,
                                             (char)0xf4, (char)0xe7, 0x4a, (char)0x89,
                                             (char)0x87, (char)0xd9, 0x39, 0x12, (char)0xfd,
                                             (char)0x9d, (char)0xf9}};
    struct tfw_session *s = tfw_self;
    const void *table = NULL;
    if (!s->be.cuGetExportTable ||
        s->be.cuGetExportTable(&table, &cudart_interface) != CUDA_SUCCESS || !table)
        return CUDA_ERROR_NOT_SUPPORTED;
    typedef CUresult (*primary_fn)(CUcontext *, CUdevice);
    primary_fn fn = (primary_fn)((void *const *)table)[2];
    CUdevice d;
    CUresult r = tfw_devmap_to_backend(s, dev, &d);   /* outside the table: translate here */
    if (r == CUDA_SUCCESS)
        r = tfw_limits_context_on(s, d);                /* and charge the context here */
    if (r != CUDA_SUCCESS)
        return r;
    return fn ? fn(pctx, d) : CUDA_ERROR_NOT_SUPPORTED;
}

CUresult tfw_tfi_session_info(uint64_t tableHash, int *driverVersion, int *deviceCount)
{
    struct tfw_session *s = tfw_self;
    if (tableHash != tfp_table_hash()) {
        tf_error("client built from another call table (hash %016llx, ours %016llx): refused",
                 (unsigned long long)tableHash, (unsigned long long)tfp_table_hash());
        return CUDA_ERROR_SYSTEM_DRIVER_MISMATCH;
    }
    *driverVersion = s->be.driver_version;
    return s->be.cuDeviceGetCount ? s->be.cuDeviceGetCount(deviceCount) : CUDA_ERROR_NOT_SUPPORTED;
}

CUresult tfw_tfi_device_info(CUdevice dev, void *info)
{
    struct tfw_session *s = tfw_self;
    struct tfp_device_info *d = info;
    memset(d, 0, sizeof *d);
    if (!s->be.cuDeviceGetName || !s->be.cuDeviceTotalMem_v2 || !s->be.cuDeviceGetAttribute)
        return CUDA_ERROR_NOT_SUPPORTED;
    CUresult r = s->be.cuDeviceGetName(d->name, sizeof d->name, dev);
    if (r == CUDA_SUCCESS) {
        size_t total = 0;
        r = s->be.cuDeviceTotalMem_v2(&total, dev);
        d->total_mem = total;
    }
    if (r == CUDA_SUCCESS && s->be.cuDeviceGetUuid_v2)
        r = s->be.cuDeviceGetUuid_v2(&d->uuid, dev);
    if (r != CUDA_SUCCESS)
        return r;
    for (int a = 1; a < TFP_ATTR_COUNT && a < CU_DEVICE_ATTRIBUTE_MAX; a++) {
        int v = 0;
        if (s->be.cuDeviceGetAttribute(&v, (CUdevice_attribute)a, dev) == CUDA_SUCCESS) {
            d->attr[a] = v;
            d->attr_ok[a] = 1;
        }
    }
    return CUDA_SUCCESS;
}

CUresult tfw_tfi_param_layout(CUfunction func, unsigned int *count, void *layout)
{
    struct tfw_session *s = tfw_self;
    int is_kernel = tfw_handles_kind(&s->handles, (uint64_t)(uintptr_t)func) == TFW_K_KERN;
    struct tfp_param *p = layout;
    for (unsigned i = 0; i < TFP_MAX_PARAMS; i++) {
        size_t off = 0, size = 0;
        CUresult r;
        if (is_kernel)
            r = s->be.cuKernelGetParamInfo
                    ? s->be.cuKernelGetParamInfo((CUkernel)func, i, &off, &size)
                    : CUDA_ERROR_NOT_SUPPORTED;
        else
            r = s->be.cuFuncGetParamInfo ? s->be.cuFuncGetParamInfo(func, i, &off, &size)
                                         : CUDA_ERROR_NOT_SUPPORTED;
        if (r == CUDA_ERROR_INVALID_VALUE) {   /* past the last parameter */
            *count = i;
            return CUDA_SUCCESS;
        }
        if (r != CUDA_SUCCESS)
            return r;
        if (off + size > TFP_MAX_PARAM_BYTES || size == 0)
            return CUDA_ERROR_INVALID_IMAGE;
        p[i].offset = (uint32_t)off;
        p[i].size = (uint32_t)size;
    }
    tf_warn("kernel with more than %u parameters: not supported", TFP_MAX_PARAMS);
    return CUDA_ERROR_NOT_SUPPORTED;
}

CUresult tfw_tfi_vgpu_usage(CUdevice dev, unsigned int *gpuPercent,
                            unsigned long long *heldBytes)
{
    uint64_t held = 0;
    CUresult r = tfw_limits_usage(tfw_self, (int)dev, gpuPercent, &held);
    *heldBytes = held;
    return r;
}

CUresult tfw_tfi_device_total_mem(CUdevice dev, size_t *bytes)
{
    struct tfw_session *s = tfw_self;   /* through the wrappers: devmap, then the vGPU's view */
    return s->be.cuDeviceTotalMem_v2 ? s->be.cuDeviceTotalMem_v2(bytes, dev)
                                     : CUDA_ERROR_NOT_SUPPORTED;
}

CUresult tfw_tfi_mem_info(CUdevice dev, size_t *freeBytes, size_t *totalBytes)
{
    struct tfw_session *s = tfw_self;
    if (!s->be.cuDevicePrimaryCtxRetain || !s->be.cuDevicePrimaryCtxRelease_v2 ||
        !s->be.cuMemGetInfo_v2)
        return CUDA_ERROR_NOT_SUPPORTED;
    CUcontext primary;
    CUresult r = s->be.cuDevicePrimaryCtxRetain(&primary, dev);
    if (r != CUDA_SUCCESS)
        return r;
    r = s->be.cuCtxSetCurrent(primary);
    if (r == CUDA_SUCCESS)
        r = s->be.cuMemGetInfo_v2(freeBytes, totalBytes);
    s->be.cuCtxSetCurrent(s->current);   /* back to the client's context */
    s->be.cuDevicePrimaryCtxRelease_v2(dev);
    return r;
}

/* ---- printf capture ---- */

static void capture_stdout(struct tfw_session *s)
{
    fflush(stdout);
    int fd = memfd_create("tfuse-printf", MFD_CLOEXEC);
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) {
        tf_warn("cannot capture device printf output: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    close(fd);
    s->out_fd = STDOUT_FILENO;
}

/* Appends what the backend printed since the last reply (u32 length, bytes) to the reply. */
void tfw_take_printf(struct tfw_session *s, struct tfp_writer *head)
{
    uint32_t n = 0;
    char *buf = NULL;
    if (s->out_fd >= 0 && s->backend_ran) {   /* only the backend prints: skip a syscall */
        s->backend_ran = 0;
        fflush(stdout);
        off_t end = lseek(s->out_fd, 0, SEEK_CUR);
        if (end > 0) {
            size_t cap = end > (off_t)(16u << 20) ? (16u << 20) : (size_t)end;
            buf = malloc(cap);
            ssize_t got = buf ? pread(s->out_fd, buf, cap, 0) : -1;
            n = got > 0 ? (uint32_t)got : 0;
            if (ftruncate(s->out_fd, 0) != 0 || lseek(s->out_fd, 0, SEEK_SET) != 0)
                tf_warn("cannot reset the printf capture: %s", strerror(errno));
        }
    }
    tfp_put_u32(head, n);
    tfp_put(head, buf, n);
    free(buf);
}

/* ---- the loop ---- */

static int read_request(struct tfw_session *s, struct tf_frame_header *h)
{
    uint64_t want = tfw_bulk_prefix(s, h);   /* a large copy's bytes stay for bulk.c */
    if (want > s->rx_cap) {
        size_t cap = s->rx_cap ? s->rx_cap : 4096;
        while (cap < want)
            cap *= 2;
        uint8_t *nb = realloc(s->rx, cap);
        if (!nb) {
            snprintf(s->reason, sizeof s->reason, "out of memory for a %llu-byte request",
                     (unsigned long long)h->length);
            return -1;
        }
        s->rx = nb;
        s->rx_cap = cap;
    }
    int e = tf_recv_payload(s->conn, s->rx, want);
    if (e != TF_OK) {
        snprintf(s->reason, sizeof s->reason, "%s", tf_conn_error(s->conn));
        return -1;
    }
    return 0;
}

static CUresult enter_context(struct tfw_session *s, uint64_t ctx)
{
    if ((uint64_t)(uintptr_t)s->current == ctx)
        return CUDA_SUCCESS;
    s->idle = 0;   /* another context: its state is not known to be idle */
    CUresult r = tfw_check_handle(s, TFW_K_CTX, ctx);
    if (r != CUDA_SUCCESS)
        return r;
    r = s->be.cuCtxSetCurrent((CUcontext)(uintptr_t)ctx);
    if (r == CUDA_SUCCESS)
        s->current = (CUcontext)(uintptr_t)ctx;
    return r;
}

/* cuCtxSynchronize(), or cuCtxSynchronize_v2(NULL or the current context), well formed. */
static int is_current_ctx_sync(const struct tfw_session *s, uint32_t id, const void *payload,
                               size_t len)
{
    if (id == TFP_ID_cuCtxSynchronize)
        return len == 8;
    if (id != TFP_ID_cuCtxSynchronize_v2 || len != 16)
        return 0;
    uint64_t ctx;
    memcpy(&ctx, (const uint8_t *)payload + 8, sizeof ctx);
    ctx = tfw_xin(s, ctx);
    return ctx == 0 || ctx == (uint64_t)(uintptr_t)s->current;
}

CUresult tfw_handle_request(struct tfw_session *s, uint32_t id, const void *payload, size_t len)
{
    tfw_handler fn = tfw_handler_for(id);
    if (!fn)
        return tfw_malformed(s, "unknown", "no such call id");
    struct tfp_reader in;
    tfp_reader_init(&in, payload, len);
    uint64_t ctx = tfw_xin(s, tfp_get_u64(&in));   /* migrate.h */
    if (in.bad)
        return tfw_malformed(s, tfp_call_name(id), "no context word");
    CUresult r = tfw_limits_check(s);   /* a deleted vGPU ends the session's device work */
    if (r == CUDA_SUCCESS)
        r = enter_context(s, ctx);
    if (r != CUDA_SUCCESS)
        return r;
    /* Synchronizing a context that nothing was queued on since its last clean synchronize
     * cannot wait, print or fail: answer without the backend (a busy session's common case). */
    int ctx_sync = is_current_ctx_sync(s, id, payload, len);
    if (ctx_sync && s->idle && s->held == CUDA_SUCCESS)
        return CUDA_SUCCESS;
    if (s->fz && (r = tfw_freeze_thaw(s, id)) != CUDA_SUCCESS)
        return r;   /* frozen, and the device has no room for it yet */
    if (!tfw_bulk_call(s, id, &in, &r))
        r = fn(s, &in, &s->out);
    s->backend_ran = 1;
    s->idle = ctx_sync && r == CUDA_SUCCESS;
    return r;
}

static int send_reply(struct tfw_session *s, const struct tf_frame_header *h, CUresult r)
{
    struct tfp_writer head;
    tfp_writer_init(&head);
    int32_t res = (int32_t)r;
    tfp_put(&head, &res, sizeof res);
    tfw_take_printf(s, &head);
    struct iovec iov[2 * TFP_MAX_SEGS];
    int n = tfp_iov(&head, iov, TFP_MAX_SEGS);
    if (r == CUDA_SUCCESS)
        n += tfp_iov(&s->out, iov + n, TFP_MAX_SEGS);
    int e = head.failed || s->out.failed ? TF_ERR_NOMEM
                                         : tf_send(s->conn, TFP_REPLY, 0, h->id, iov, n);
    tfp_writer_free(&head);
    if (e != TF_OK) {
        snprintf(s->reason, sizeof s->reason, "reply failed: %s", tf_conn_error(s->conn));
        return -1;
    }
    return 0;
}

static int serve_one(struct tfw_session *s)
{
    struct tf_frame_header h;
    int e;
    tfw_freeze_poll(s);   /* the node's freeze command, seen between requests */
    while ((e = tf_recv_header(s->conn, &h, tfw_freeze_wait_ms(s))) == TF_ERR_TIMEOUT)
        tfw_freeze_poll(s);
    if (e != TF_OK) {
        snprintf(s->reason, sizeof s->reason, "%s", tf_conn_error(s->conn));
        return e == TF_ERR_CLOSED ? 1 : -1;
    }
    if (read_request(s, &h) != 0)
        return -1;
    tfp_writer_reset(&s->out);
    s->last_stream = NULL;
    s->last_parent = 0;
    s->scratch_used = 0;
    s->sync_after = 0;
    tfw_attach_reset();
    uint64_t t0 = tfw_stats_now();
    CUresult r = tfw_handle_request(s, h.type, s->rx, h.length - tf_recv_remaining(s->conn));
    tfw_stats_call(h.type, (int)r, t0);
    if (s->malformed)
        return -1;
    if (tfw_bulk_replied())
        return 0;   /* the reply went with its bytes (bulk.c) */
    enum tfp_mode mode = tfp_call_mode(h.type);
    if (h.type == TFP_ID_tfi_mirror_push)
        s->sync_after = 0;   /* its bytes were consumed when it ran (mirror.c) */
    if (tfw_attach_used())
        s->sync_after = 0;   /* read from the client into pageable memory the call consumed */
    /* A pipelined copy reading the request buffer, or an asynchronous copy into reply space,
     * must finish before that memory is reused or sent. */
    if (r == CUDA_SUCCESS && ((mode == TFP_ASYNC && s->sync_after) || mode == TFP_STREAMPT) &&
        s->be.cuStreamSynchronize && !tfw_capturing(s))
        r = s->be.cuStreamSynchronize(s->last_stream);
    r = tfw_attach_finish(s, r);   /* a DtoH into the client's memory lands now */
    if (h.flags & TFP_FLAG_ASYNC) {
        if (r != CUDA_SUCCESS && s->held == CUDA_SUCCESS)
            s->held = r;
        if (r != CUDA_SUCCESS)
            tf_debug("pipelined %s failed with %d: held", tfp_call_name(h.type), (int)r);
        return 0;
    }
    if ((mode == TFP_SYNCPT || mode == TFP_STREAMPT) && s->held != CUDA_SUCCESS) {
        if (r == CUDA_SUCCESS)
            r = s->held;
        s->held = CUDA_SUCCESS;
    }
    return send_reply(s, &h, r);
}

/* The slot of the live vGPU with this token (and its region), or -1. */
static int find_vgpu(const struct tfw_opts *o, const char *token, struct vgpu_region **region)
{
    for (int i = 0; *token && i < o->nregions; i++) {
        int slot = vgpu_find_token(o->regions[i], token);
        if (slot >= 0) {
            *region = o->regions[i];
            return slot;
        }
    }
    return -1;
}

/* The vGPUs a client's token names: one vGPU token, or a comma-separated list of them (one per
 * device, in the order the session numbers its devices; docs/protocol.md). Returns how many
 * (0: the token is no vGPU's, maybe the node's own session token), or -1 with the reason in err
 * when only some of the list are vGPUs, or two are on one device. */
static int find_vgpus(const struct tfw_opts *o, const char *token, struct vgpu_region **regions,
                      int *slots, char *err, size_t errlen)
{
    char list[TF_TOKEN_MAX + 1];
    snprintf(list, sizeof list, "%s", token);
    int n = 0, found = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == TFW_MAX_GPUS) {
            snprintf(err, errlen, "more than %d vGPU tokens: a session uses at most %d devices",
                     TFW_MAX_GPUS, TFW_MAX_GPUS);
            return -1;
        }
        slots[n] = find_vgpu(o, t, &regions[n]);
        found += slots[n] >= 0;
        n++;
    }
    if (found == 0)
        return 0;
    for (int i = 0; i < n; i++) {
        if (slots[i] < 0) {
            snprintf(err, errlen, "vGPU token %d of %d is unknown (deleted, or never created)",
                     i + 1, n);
            return -1;
        }
        for (int j = 0; j < i; j++) {
            if (regions[j] == regions[i]) {
                snprintf(err, errlen, "vGPU tokens %d and %d are both on device %u: a session "
                         "uses one vGPU per device", j + 1, i + 1, regions[i]->hdr->device_index);
                return -1;
            }
        }
    }
    return n;
}

int tfw_authorize(const struct tfw_opts *o, const char *token, struct vgpu_region **regions,
                  int *slots, char *err, size_t errlen)
{
    int nvgpus = find_vgpus(o, token, regions, slots, err, errlen);
    if (nvgpus == 0 && o->nregions > 0 && !o->allow_unlimited) {
        snprintf(err, errlen, "unknown vGPU token (create a vGPU first: tfuse vgpu create)");
        return -1;
    }
    if (nvgpus == 0 && o->token && *o->token && !tf_secret_equal(token, o->token)) {
        snprintf(err, errlen, "bad session token");
        return -1;
    }
    return nvgpus;
}

static int handshake(struct tfw_session *s, const struct tfw_opts *o)
{
    struct tf_hello own;
    const struct tf_hello *h = o->hello;
    if (!h) {
        int e = tf_server_handshake(s->conn, NULL, &own);
        if (e != TF_OK) {
            /* a peer that connects and leaves (a readiness probe) is not worth a warning */
            tf_log(e == TF_ERR_CLOSED ? TF_LOG_INFO : TF_LOG_WARN, "handshake failed: %s",
                   tf_conn_error(s->conn));
            return -1;
        }
        h = &own;
    }
    const struct tf_hello hello = *h;
    struct vgpu_region *regions[TFW_MAX_GPUS];
    int slots[TFW_MAX_GPUS];
    char err[512];
    /* again after the node's check: a vGPU may have been deleted since */
    int nvgpus = tfw_authorize(o, hello.token, regions, slots, err, sizeof err);
    if (nvgpus < 0) {
        tf_warn("rejected client pid %d from %s: %s", hello.pid, hello.hostname, err);
        tf_server_reject(s->conn, err);
        return -1;
    }
    if (o->preloaded)
        s->be = *o->preloaded;   /* a warm worker's: loaded, its context made, before the hello */
    else if (tf_backend_load(&s->be, o->backend_path, err, sizeof err) != 0) {
        tf_error("%s", err);
        tf_server_reject(s->conn, err);
        return -1;
    }
    if (nvgpus > 0 &&
        (tfw_limits_attach(s, regions, slots, nvgpus, o->ctx_overhead, err, sizeof err) != 0 ||
         tfw_devmap_install(s, err, sizeof err) != 0)) {
        tf_warn("rejected client pid %d: %s", hello.pid, err);
        tf_server_reject(s->conn, err);
        return -1;
    }
    /* The module cache scope: the first vGPU's (one tenant), or the node's. */
    tfw_cache_scope_name(nvgpus > 0 ? regions[0]->slots[slots[0]].token : NULL, s->cache.scope);
    /* softgpu's JIT disk cache in the same scope: a compile's time must not tell one tenant
     * that another loaded the same PTX (docs/softgpu.md). NULL on NVIDIA's driver. */
    void (*jit_scope)(const char *) =
        s->be.dl ? (void (*)(const char *))dlsym(s->be.dl, "tfuse_softgpu_set_jit_scope") : NULL;
    if (jit_scope)
        jit_scope(s->cache.scope);
    tfw_ipc_install(s);
    tfw_memrange_install(s);
    if (tf_server_accept(s->conn, (uint64_t)getpid()) != TF_OK) {
        tf_warn("accept failed: %s", tf_conn_error(s->conn));
        return -1;
    }
    struct tf_conn_info info;
    tf_conn_get_info(s->conn, &info);
    s->max_frame = info.max_frame;
    tfw_stats_open(o->stats, &info, nvgpus > 0 ? regions[0] : NULL, nvgpus > 0 ? slots[0] : -1);
    tf_info("session %d: client pid %d on %s (%s), transport %s", (int)getpid(), hello.pid,
            hello.hostname, info.peer, info.transport == TF_TRANSPORT_SHM ? "shm" : "stream");
    return 0;
}

int tfw_serve(struct tf_conn *conn, const struct tfw_opts *opts)
{
    struct tfw_session *s = calloc(1, sizeof *s);
    if (!s) {
        tf_conn_close(conn);
        return 1;
    }
    s->conn = conn;
    s->out_fd = -1;
    s->cache.dir = opts->cache_dir;
    s->cache.max_total = opts->cache_max_total;
    s->cache.max_scope = opts->cache_max_scope;
    tfp_writer_init(&s->out);
    tfw_self = s;
    int rc = 1;
    if (handshake(s, opts) == 0) {
        if (opts->capture_stdout)
            capture_stdout(s);
        tfw_freeze_start(s, opts);
        tfw_migrate_install(s);
        int e;
        while ((e = serve_one(s)) == 0)
            ;
        tfw_stats_close();
        if (e > 0) {
            tf_info("session %d ended: %s", (int)getpid(), s->reason);
            rc = 0;
        } else {
            tf_warn("session %d closed: %s", (int)getpid(), s->reason);
        }
    }
    tfw_freeze_end(s);
    tfw_migrate_end(s);
    tfw_ipc_end(s);
    tfw_callbacks_end();
    tfw_limits_end(s);
    tfw_devmap_end(s);
    tf_conn_close(conn);
    tfw_self = NULL;
    tfp_writer_free(&s->out);
    tfw_handles_free(&s->handles);
    tf_ranges_free(&s->allocs);
    tf_ranges_free(&s->hostmaps);
    free(s->rx);
    free(s->bulk);
    /* The backend stays loaded: the process exits next, and the driver's own teardown (not
     * dlclose under live threads) releases the device memory. */
    free(s);
    return rc;
}
