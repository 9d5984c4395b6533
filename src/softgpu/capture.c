/*
 * Stream capture: between cuStreamBeginCapture and cuStreamEndCapture, work submitted to a
 * stream becomes graph nodes instead of running. Each capturing stream keeps its current
 * dependency set; an event recorded in capture remembers the nodes it stood for, so another
 * stream waiting on it joins the capture (fork/join across streams). Also capturing into an
 * existing graph (cuStreamBeginCaptureToGraph), cuStreamIsCapturing, cuStreamGetCaptureInfo
 * (v1, v2, v3), cuStreamUpdateCaptureDependencies (both ABIs) and
 * cuThreadExchangeStreamCaptureMode. Calls graph.c and stream.c.
 */
#include <stdlib.h>
#include <string.h>

#include "graph.h"

static _Atomic unsigned long long next_capture_id = 1;

static int set_deps(struct sg_stream *s, struct sg_graph_node *const *nodes, size_t n)
{
    struct sg_graph_node **d = NULL;
    if (n) {
        d = malloc(n * sizeof *d);
        if (!d)
            return -1;
        memcpy(d, nodes, n * sizeof *d);
    }
    free(s->cap_deps);
    s->cap_deps = d;
    s->cap_ndeps = n;
    return 0;
}

CUresult sg_capture_add(struct sg_stream *s, struct sg_work *w)
{
    struct sg_graph_node *n;
    CUresult r = sg_graph_add_work(s->capture, w, s->cap_deps, s->cap_ndeps, &n);
    if (!r && set_deps(s, &n, 1) != 0)
        r = CUDA_ERROR_OUT_OF_MEMORY;
    if (r && !s->capture_error)
        s->capture_error = r; /* the capture is invalidated: EndCapture reports it */
    return r;
}

CUresult sg_capture_event_record(struct sg_stream *s, struct sg_event *e)
{
    pthread_mutex_lock(&e->lock);
    struct sg_graph_node **copy = NULL;
    if (s->cap_ndeps) {
        copy = malloc(s->cap_ndeps * sizeof *copy);
        if (!copy) {
            pthread_mutex_unlock(&e->lock);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
        memcpy(copy, s->cap_deps, s->cap_ndeps * sizeof *copy);
    }
    free(e->cap_nodes);
    e->cap_nodes = copy;
    e->cap_nnodes = s->cap_ndeps;
    e->cap_graph = s->capture;
    pthread_mutex_unlock(&e->lock);
    return CUDA_SUCCESS;
}

CUresult sg_capture_event_wait(struct sg_stream *s, struct sg_event *e)
{
    pthread_mutex_lock(&e->lock);
    struct sg_graph *g = e->cap_graph;
    int live = g && sg_handle_is(g, SG_K_GRAPH) && g->capturing;
    size_t n = e->cap_nnodes;
    struct sg_graph_node **nodes = NULL;
    if (live && n && (nodes = malloc(n * sizeof *nodes)))
        memcpy(nodes, e->cap_nodes, n * sizeof *nodes);
    pthread_mutex_unlock(&e->lock);
    if (live && n && !nodes)
        return CUDA_ERROR_OUT_OF_MEMORY;
    if (!live) /* an event recorded outside any capture */
        return sg_event_wait_submit(s, e);
    CUresult r = CUDA_SUCCESS;
    if (!s->capture) {
        /* fork: this stream joins the capture after the event's nodes */
        if (s->is_null)
            r = CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
        else {
            s->capture = g;
            s->capture_id = 0;
            s->capture_error = CUDA_SUCCESS;
            if (set_deps(s, nodes, n) != 0)
                r = CUDA_ERROR_OUT_OF_MEMORY;
        }
    } else if (s->capture != g) {
        r = CUDA_ERROR_STREAM_CAPTURE_ISOLATION;
    } else {
        /* join: the union of both dependency sets */
        size_t total = s->cap_ndeps + n;
        struct sg_graph_node **u = malloc((total ? total : 1) * sizeof *u);
        if (!u)
            r = CUDA_ERROR_OUT_OF_MEMORY;
        else {
            size_t k = 0;
            for (size_t i = 0; i < s->cap_ndeps; i++)
                u[k++] = s->cap_deps[i];
            for (size_t i = 0; i < n; i++) {
                size_t j = 0;
                while (j < k && u[j] != nodes[i])
                    j++;
                if (j == k)
                    u[k++] = nodes[i];
            }
            free(s->cap_deps);
            s->cap_deps = u;
            s->cap_ndeps = k;
        }
    }
    free(nodes);
    return r;
}

static int mode_valid(CUstreamCaptureMode mode)
{
    return mode == CU_STREAM_CAPTURE_MODE_GLOBAL || mode == CU_STREAM_CAPTURE_MODE_THREAD_LOCAL
           || mode == CU_STREAM_CAPTURE_MODE_RELAXED;
}

/* The checks of both begin calls: a capturable stream that is not capturing, a valid mode. */
static CUresult begin_check(CUstream hStream, CUstreamCaptureMode mode, struct sg_stream **s)
{
    CUresult r = sg_stream_resolve(hStream, s);
    if (r)
        return r;
    if (!mode_valid(mode))
        return CUDA_ERROR_INVALID_VALUE;
    if ((*s)->is_null)
        return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED; /* the legacy stream cannot be captured */
    return (*s)->capture ? CUDA_ERROR_ILLEGAL_STATE : CUDA_SUCCESS;
}

static void begin(struct sg_stream *s, struct sg_graph *g, CUstreamCaptureMode mode)
{
    g->capturing = 1;
    s->capture = g;
    s->capture_mode = mode;
    s->capture_id = atomic_fetch_add(&next_capture_id, 1);
    s->capture_error = CUDA_SUCCESS;
}

CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode)
{
    struct sg_stream *s;
    CUresult r = begin_check(hStream, mode, &s);
    if (r)
        return r;
    struct sg_graph *g = sg_graph_new();
    if (!g)
        return CUDA_ERROR_OUT_OF_MEMORY;
    begin(s, g, mode);
    set_deps(s, NULL, 0);
    return CUDA_SUCCESS;
}

CUresult cuStreamBeginCaptureToGraph(CUstream hStream, CUgraph hGraph,
                                     const CUgraphNode *dependencies,
                                     const CUgraphEdgeData *dependencyData, size_t numDependencies,
                                     CUstreamCaptureMode mode)
{
    struct sg_stream *s;
    struct sg_graph *g;
    CUresult r = begin_check(hStream, mode, &s);
    if (!r)
        r = sg_graph_lookup(hGraph, &g);
    if (!r && (g->capturing || (numDependencies && !dependencies)))
        r = CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; !r && i < numDependencies; i++) {
        if (dependencyData && dependencyData[i].type != CU_GRAPH_DEPENDENCY_TYPE_DEFAULT)
            r = CUDA_ERROR_NOT_SUPPORTED; /* only default edges exist */
        else if (!sg_handle_is(dependencies[i], SG_K_NODE)
                 || ((struct sg_graph_node *)dependencies[i])->graph != g)
            r = CUDA_ERROR_INVALID_VALUE;
    }
    if (r)
        return r;
    if (set_deps(s, (struct sg_graph_node *const *)dependencies, numDependencies) != 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    g->capture_into = 1;
    begin(s, g, mode);
    return CUDA_SUCCESS;
}

static __thread CUstreamCaptureMode thread_capture_mode = CU_STREAM_CAPTURE_MODE_GLOBAL;

CUresult cuThreadExchangeStreamCaptureMode(CUstreamCaptureMode *mode)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!mode || !mode_valid(*mode))
        return CUDA_ERROR_INVALID_VALUE;
    CUstreamCaptureMode old = thread_capture_mode;
    thread_capture_mode = *mode;
    *mode = old;
    return CUDA_SUCCESS;
}

/* The 10.0 ABI: global mode. */
#undef cuStreamBeginCapture
CUresult cuStreamBeginCapture(CUstream hStream);
CUresult cuStreamBeginCapture(CUstream hStream)
{
    return cuStreamBeginCapture_v2(hStream, CU_STREAM_CAPTURE_MODE_GLOBAL);
}

CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph)
{
    if (!phGraph)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(hStream, &s);
    if (r)
        return r;
    if (!s->capture || !s->capture_id)
        return CUDA_ERROR_ILLEGAL_STATE; /* not capturing, or a joined stream (not the origin) */
    struct sg_graph *g = s->capture;
    CUresult err = s->capture_error;
    /* streams that joined through events leave the capture with it */
    pthread_mutex_lock(&s->ctx->lock);
    for (struct sg_stream *o = s->ctx->streams; o; o = o->next_in_ctx)
        if (o != s && o->capture == g) {
            o->capture = NULL;
            set_deps(o, NULL, 0);
        }
    pthread_mutex_unlock(&s->ctx->lock);
    s->capture = NULL;
    s->capture_id = 0;
    set_deps(s, NULL, 0);
    g->capturing = 0;
    int into = g->capture_into; /* the caller's graph: kept, with what was captured */
    g->capture_into = 0;
    if (err) {
        if (!into)
            sg_graph_free(g);
        *phGraph = NULL;
        return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    }
    *phGraph = (CUgraph)g;
    return CUDA_SUCCESS;
}

CUresult cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus)
{
    if (!captureStatus)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(hStream, &s);
    if (r)
        return r;
    *captureStatus = !s->capture ? CU_STREAM_CAPTURE_STATUS_NONE
                     : s->capture_error ? CU_STREAM_CAPTURE_STATUS_INVALIDATED
                                        : CU_STREAM_CAPTURE_STATUS_ACTIVE;
    return CUDA_SUCCESS;
}

static CUresult capture_info(CUstream hStream, CUstreamCaptureStatus *status,
                             cuuint64_t *id, CUgraph *graph, const CUgraphNode **deps,
                             const CUgraphEdgeData **edges, size_t *ndeps)
{
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(hStream, &s);
    if (r)
        return r;
    if (!status)
        return CUDA_ERROR_INVALID_VALUE;
    r = cuStreamIsCapturing(hStream, status);
    if (id)
        *id = s->capture_id;
    if (graph)
        *graph = (CUgraph)s->capture;
    if (deps)
        *deps = (const CUgraphNode *)s->cap_deps;
    if (edges)
        *edges = NULL; /* all edges are default edges */
    if (ndeps)
        *ndeps = s->capture ? s->cap_ndeps : 0;
    return r;
}

#undef cuStreamGetCaptureInfo /* the 10.1 ABI */
CUresult cuStreamGetCaptureInfo(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                cuuint64_t *id_out);
CUresult cuStreamGetCaptureInfo(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                cuuint64_t *id_out)
{
    return capture_info(hStream, captureStatus_out, id_out, NULL, NULL, NULL, NULL);
}

CUresult cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                   cuuint64_t *id_out, CUgraph *graph_out,
                                   const CUgraphNode **dependencies_out, size_t *numDependencies_out);
CUresult cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                   cuuint64_t *id_out, CUgraph *graph_out,
                                   const CUgraphNode **dependencies_out, size_t *numDependencies_out)
{
    return capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out, NULL,
                        numDependencies_out);
}

CUresult cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                   cuuint64_t *id_out, CUgraph *graph_out,
                                   const CUgraphNode **dependencies_out,
                                   const CUgraphEdgeData **edgeData_out, size_t *numDependencies_out)
{
    return capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out,
                        edgeData_out, numDependencies_out);
}

/* Replaces (CU_STREAM_SET_CAPTURE_DEPENDENCIES) or extends (ADD) the set of nodes the next
 * captured work depends on. */
static CUresult update_deps(CUstream hStream, CUgraphNode *deps, size_t n, unsigned flags)
{
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(hStream, &s);
    if (r)
        return r;
    if (!s->capture)
        return CUDA_ERROR_ILLEGAL_STATE;
    if ((n && !deps) || (flags != CU_STREAM_ADD_CAPTURE_DEPENDENCIES
                         && flags != CU_STREAM_SET_CAPTURE_DEPENDENCIES))
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < n; i++)
        if (!sg_handle_is(deps[i], SG_K_NODE)
            || ((struct sg_graph_node *)deps[i])->graph != s->capture)
            return CUDA_ERROR_INVALID_VALUE;
    size_t keep = flags == CU_STREAM_ADD_CAPTURE_DEPENDENCIES ? s->cap_ndeps : 0;
    struct sg_graph_node **u = malloc((keep + n ? keep + n : 1) * sizeof *u);
    if (!u)
        return CUDA_ERROR_OUT_OF_MEMORY;
    size_t k = 0;
    for (size_t i = 0; i < keep; i++)
        u[k++] = s->cap_deps[i];
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < k && u[j] != (struct sg_graph_node *)deps[i])
            j++;
        if (j == k)
            u[k++] = (struct sg_graph_node *)deps[i];
    }
    free(s->cap_deps);
    s->cap_deps = u;
    s->cap_ndeps = k;
    return CUDA_SUCCESS;
}

#undef cuStreamUpdateCaptureDependencies /* the 11.3 ABI, without edge data */
CUresult cuStreamUpdateCaptureDependencies(CUstream hStream, CUgraphNode *dependencies,
                                           size_t numDependencies, unsigned int flags);
CUresult cuStreamUpdateCaptureDependencies(CUstream hStream, CUgraphNode *dependencies,
                                           size_t numDependencies, unsigned int flags)
{
    return update_deps(hStream, dependencies, numDependencies, flags);
}

CUresult cuStreamUpdateCaptureDependencies_v2(CUstream hStream, CUgraphNode *dependencies,
                                              const CUgraphEdgeData *dependencyData,
                                              size_t numDependencies, unsigned int flags)
{
    (void)dependencyData; /* only default edges exist */
    return update_deps(hStream, dependencies, numDependencies, flags);
}
