/*
 * A workload's chart as data (issue 14): GET /api/v1/workloads/{tenant}/{name}/chart, which
 * `tfuse pool plot` draws. The columns pool_plot_points makes of the workload's history, read
 * from the pool's history source (its store, or Prometheus with --history), each with the
 * recommendation the pool's recommender would have made at its end. The samples of the
 * HALF_LIVES half-lives before the chart are read too: the recommender remembers them.
 *
 * Owns: the chart's view. May call: pool_plot_points, the history source in use
 * (pool_auto_int.h), jansson, libc.
 */
#include "pool_auto_int.h"
#include "pool_plot.h"
#include "pool_svc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HALF_LIVES 8                           /* weights below 1/256 are not read back */
#define CONTEXT_MAX_MS (90ll * 24 * 3600 * 1000)

static json_t *point_json(const struct pool_plot_point *p)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f}", "t_ms", (json_int_t)p->t_ms,
                     "mem_used", (json_int_t)p->mem_used, "mem_peak", (json_int_t)p->mem_peak,
                     "mem_limit", (json_int_t)p->mem_limit, "mem_target",
                     (json_int_t)p->mem_target, "compute_used", p->compute_used,
                     "compute_limit", p->compute_limit, "compute_target", p->compute_target);
}

/* The samples of workload in [from_ms - context, to_ms) from the source in use, under the pass
 * lock (a chart and a pass of auto mode read the source one at a time). Two queries: a source
 * that coarsens its step for a long range (Prometheus) keeps the chart's own time fine. */
static int history(struct pool_svc *svc, const char *workload, int64_t context, int64_t from_ms,
                   int64_t to_ms, struct pool_usage_sample **s, size_t *n, char *err,
                   size_t errlen)
{
    struct pool_usage_sample *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    pthread_mutex_lock(&svc->autos->pass_lock);
    struct pool_usage_source src = svc->autos->history;
    if (!src.query)
        src = pool_svc_store_source(svc);
    int rc = src.query(src.ctx, workload, from_ms - context, from_ms, &a, &na, err, errlen);
    if (rc == 0)
        rc = src.query(src.ctx, workload, from_ms, to_ms, &b, &nb, err, errlen);
    pthread_mutex_unlock(&svc->autos->pass_lock);
    if (rc == 0 && nb) {
        struct pool_usage_sample *all = realloc(a, (na + nb) * sizeof *a);
        if (all) {
            memcpy(all + na, b, nb * sizeof *b);
            a = all;
        } else {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    free(b);
    if (rc != 0) {
        free(a);
        return -1;
    }
    *s = a;
    *n = na + nb;
    return 0;
}

json_t *pool_svc_chart_json(struct pool_svc *svc, const char *workload, const char *owner,
                            int64_t from_ms, int64_t to_ms, int columns, struct pool_error *e)
{
    size_t own = owner ? strlen(owner) : 0;
    if (owner && (strncmp(workload, owner, own) != 0 || workload[own] != '/')) {
        pool_err_set(e, 404, POOL_FAIL_INVALID);
        snprintf(e->message, sizeof e->message, "no such workload");
        return NULL;
    }
    if (to_ms <= from_ms || columns < 1 || columns > POOL_CHART_COLUMNS_MAX) {
        pool_err_set(e, 400, POOL_FAIL_INVALID);
        snprintf(e->message, sizeof e->message, "a chart needs from_ms < to_ms and 1 to %d "
                 "columns", POOL_CHART_COLUMNS_MAX);
        return NULL;
    }
    struct pool_reco_params p;
    if (svc->cfg.reco)
        p = *svc->cfg.reco;
    else
        pool_reco_params_default(&p);
    int64_t context = (int64_t)(p.half_life_s * 1000 * HALF_LIVES);
    context = context > 0 && context < CONTEXT_MAX_MS ? context : CONTEXT_MAX_MS;
    struct pool_usage_sample *s;
    struct pool_plot_point *pts = NULL;
    size_t n, npts = 0;
    char err[sizeof e->message - 32];
    int rc = history(svc, workload, context, from_ms, to_ms, &s, &n, err, sizeof err);
    if (rc == 0) {
        rc = pool_plot_points(s, n, from_ms, &p, (size_t)columns, &pts, &npts, err, sizeof err);
        free(s);
    }
    if (rc != 0) {
        pool_err_set(e, 502, POOL_FAIL_NODE_ERROR);
        snprintf(e->message, sizeof e->message, "the history: %s", err);
        return NULL;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < npts; i++)
        json_array_append_new(arr, point_json(&pts[i]));
    free(pts);
    return json_pack("{s:s, s:I, s:I, s:f, s:o}", "workload", workload, "from_ms",
                     (json_int_t)from_ms, "to_ms", (json_int_t)to_ms, "half_life_s",
                     p.half_life_s, "points", arr);
}
