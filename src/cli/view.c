/*
 * Text rendering for `tfuse ps` and `tfuse top` (see view.h): sizes, bars, durations, aligned
 * tables, and the frame of one node snapshot. Pure functions of their input: no I/O, so the unit
 * tests check them byte for byte. Fields a node does not report render as "-".
 * May call: libc, jansson.
 */
#include "view.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void view_printf(struct view_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *nd = realloc(b->data, cap);
        if (!nd)
            return; /* out of memory: the frame is shorter, never corrupt */
        b->data = nd;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void view_buf_free(struct view_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void view_size(uint64_t bytes, char *out, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, len, "%llu B", (unsigned long long)bytes);
    else if (v >= 100 || v == (double)(uint64_t)v)
        snprintf(out, len, "%.0f %s", v, units[u]);
    else if (v >= 10)
        snprintf(out, len, "%.1f %s", v, units[u]);
    else
        snprintf(out, len, "%.2f %s", v, units[u]);
}

void view_bar(double used, double limit, int width, char *out, size_t len)
{
    if (width < 1 || len < (size_t)width + 3) {
        if (len)
            out[0] = '\0';
        return;
    }
    if (used < 0 || limit <= 0) {
        memset(out, ' ', (size_t)width + 2);
        out[(width + 1) / 2] = '-';
        out[width + 2] = '\0';
        return;
    }
    double frac = used / limit;
    int fill = (int)(frac * width + 0.5);
    if (fill > width)
        fill = width;
    if (fill == 0 && used > 0)
        fill = 1; /* anything at all shows */
    out[0] = '[';
    for (int i = 0; i < width; i++)
        out[1 + i] = i < fill ? '#' : '.';
    if (frac > 1.02) /* over the limit by more than measurement noise */
        out[width] = '!';
    out[width + 1] = ']';
    out[width + 2] = '\0';
}

void view_duration(double s, char *out, size_t len)
{
    if (s < 0) {
        snprintf(out, len, "-");
        return;
    }
    unsigned long t = (unsigned long)s;
    if (t < 60)
        snprintf(out, len, "%lus", t);
    else if (t < 3600)
        snprintf(out, len, "%lum%02lus", t / 60, t % 60);
    else if (t < 86400)
        snprintf(out, len, "%luh%02lum", t / 3600, t / 60 % 60);
    else
        snprintf(out, len, "%lud%02luh", t / 86400, t / 3600 % 24);
}

void view_table_init(struct view_table *t, int ncols, const char *const *names)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols > VIEW_MAX_COLS ? VIEW_MAX_COLS : ncols;
    for (int c = 0; c < t->ncols; c++) {
        t->right[c] = names[c][0] == '>';
        t->head[c] = names[c] + t->right[c];
    }
}

int view_table_row(struct view_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        int cap = t->cap ? t->cap * 2 : 8;
        char **nc = realloc(t->cells, (size_t)cap * (size_t)t->ncols * sizeof *nc);
        if (!nc)
            return -1;
        t->cells = nc;
        t->cap = cap;
    }
    char **row = t->cells + (size_t)t->nrows * (size_t)t->ncols;
    for (int c = 0; c < t->ncols; c++) {
        row[c] = strdup(cells[c] ? cells[c] : "-");
        if (!row[c]) {
            while (c-- > 0)
                free(row[c]);
            return -1;
        }
    }
    t->nrows++;
    return 0;
}

static void render_cell(struct view_buf *b, const char *s, int width, int right, int last)
{
    if (right)
        view_printf(b, "%*s", width, s);
    else if (last)
        view_printf(b, "%s", s); /* no trailing blanks */
    else
        view_printf(b, "%-*s", width, s);
}

void view_table_render(const struct view_table *t, struct view_buf *b)
{
    int w[VIEW_MAX_COLS], last = t->ncols - 1;
    while (last > 0 && (t->hidden >> last & 1))
        last--;
    for (int c = 0; c < t->ncols; c++) {
        w[c] = (int)strlen(t->head[c]);
        for (int r = 0; r < t->nrows; r++) {
            int n = (int)strlen(t->cells[(size_t)r * (size_t)t->ncols + (size_t)c]);
            w[c] = n > w[c] ? n : w[c];
        }
    }
    for (int r = -1; r < t->nrows; r++) {
        int first = 1;
        for (int c = 0; c <= last; c++) {
            if (t->hidden >> c & 1)
                continue;
            const char *s = r < 0 ? t->head[c] : t->cells[(size_t)r * (size_t)t->ncols + (size_t)c];
            if (!first)
                view_printf(b, "  ");
            first = 0;
            render_cell(b, s, w[c], t->right[c], c == last);
        }
        view_printf(b, "\n");
    }
}

void view_table_free(struct view_table *t)
{
    for (size_t i = 0; i < (size_t)t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

static json_t *find_by_id(json_t *list, const char *id)
{
    json_t *v;
    size_t i;
    json_array_foreach(list, i, v) {
        json_t *vid = json_object_get(v, "id");
        if (json_is_string(vid) && strcmp(json_string_value(vid), id) == 0)
            return v;
    }
    return NULL;
}

void view_derive_compute(json_t *cur, json_t *prev)
{
    if (!prev)
        return;
    double dt = json_number_value(json_object_get(cur, "time_unix")) -
                json_number_value(json_object_get(prev, "time_unix"));
    if (dt <= 0)
        return;
    json_t *v, *pv = json_object_get(prev, "vgpus");
    size_t i;
    json_array_foreach(json_object_get(cur, "vgpus"), i, v) {
        json_t *id = json_object_get(v, "id");
        if (json_object_get(v, "compute_used_pct") || !json_is_string(id))
            continue;
        json_t *p = find_by_id(pv, json_string_value(id));
        json_t *b1 = json_object_get(v, "busy_ns"), *b0 = json_object_get(p, "busy_ns");
        if (!json_is_integer(b1) || !json_is_integer(b0))
            continue;
        double busy = (double)(json_integer_value(b1) - json_integer_value(b0));
        double pct = busy < 0 ? 0 : busy / (dt * 1e9) * 100.0;
        json_object_set_new(v, "compute_used_pct", json_real(pct > 100 ? 100 : pct));
    }
}

/* ---- the frame of one snapshot ---- */

/* A number field, or -1 when absent or null (every field shown is non-negative). */
static double num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : -1;
}

static const char *str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : "-";
}

static void fmt_size(double bytes, char *out, size_t len)
{
    if (bytes < 0)
        snprintf(out, len, "-");
    else
        view_size((uint64_t)bytes, out, len);
}

static void fmt_count(double v, char *out, size_t len)
{
    if (v < 0)
        snprintf(out, len, "-");
    else
        snprintf(out, len, "%.0f", v);
}

static void fmt_pct(double v, char *out, size_t len)
{
    if (v < 0)
        snprintf(out, len, "-");
    else
        snprintf(out, len, v < 10 ? "%.1f%%" : "%.0f%%", v);
}

/* "[###.......] 300 MiB / 1.00 GiB" */
static void memory_cell(double used, double limit, int bar, char *out, size_t len)
{
    char b[64], u[32], l[32];
    view_bar(used, limit, bar, b, sizeof b);
    fmt_size(used, u, sizeof u);
    fmt_size(limit, l, sizeof l);
    snprintf(out, len, "%s %s / %s", b, u, l);
}

/* "[##........] 18% / 20%"; an unlimited vGPU is drawn against the whole device. */
static void compute_cell(double used, double limit, int bar, char *out, size_t len)
{
    char b[64], u[16], l[16];
    view_bar(used, limit < 0 ? 100 : limit, bar, b, sizeof b);
    fmt_pct(used, u, sizeof u);
    if (limit < 0)
        snprintf(l, sizeof l, "none");
    else
        fmt_pct(limit, l, sizeof l);
    snprintf(out, len, "%s %s / %s", b, u, l);
}

static int on_device(json_t *vgpu, json_t *dev)
{
    double di = num(vgpu, "device_index");
    if (di >= 0)
        return di == num(dev, "index");
    return strcmp(str(vgpu, "device"), str(dev, "uuid")) == 0;
}

/* How much of the frame fits: bar cells, uuids cut to 12 characters, secondary columns. */
struct layout {
    int bar, short_uuid, compact;
};

static void render_devices(json_t *snap, const struct layout *lo, struct view_buf *b)
{
    int bar = lo->bar;
    static const char *const cols[] = {">IDX", "MODEL", "UUID", "MEMORY USED / TOTAL",
                                       "COMPUTE USED", "LIMITS SUM", ">TFLOPS"};
    struct view_table t;
    view_table_init(&t, 7, cols);
    if (lo->compact)
        t.hidden = 1u << 1 | 1u << 5; /* MODEL, LIMITS SUM */
    json_t *dev, *vg, *vgpus = json_object_get(snap, "vgpus");
    size_t i, k;
    json_array_foreach(json_object_get(snap, "devices"), i, dev) {
        double used = 0, compute = -1;
        json_array_foreach(vgpus, k, vg) {
            if (!on_device(vg, dev))
                continue;
            used += num(vg, "used_bytes") > 0 ? num(vg, "used_bytes") : 0;
            double c = num(vg, "compute_used_pct");
            if (c >= 0)
                compute = (compute < 0 ? 0 : compute) + c;
        }
        if (num(dev, "used_bytes") >= 0) /* the node's own count, sessions without a vGPU too */
            used = num(dev, "used_bytes");
        if (num(dev, "warm_bytes") > 0)  /* warm workers' contexts, charged to the node */
            used += num(dev, "warm_bytes");
        char idx[16], mem[160], cpu[128], limits[32], tflops[16];
        fmt_count(num(dev, "index"), idx, sizeof idx);
        memory_cell(used, num(dev, "memory_bytes"), bar, mem, sizeof mem);
        compute_cell(compute, 100, bar, cpu, sizeof cpu);
        fmt_size(num(dev, "memory_limit_sum"), limits, sizeof limits);
        double tf = num(dev, "tflops_fp16");
        if (tf < 0)
            snprintf(tflops, sizeof tflops, "-");
        else
            snprintf(tflops, sizeof tflops, "%.1f", tf);
        char uuid[64];
        /* "GPU-8f6c1a2b": enough to tell a node's devices apart (--json has the whole uuid) */
        snprintf(uuid, sizeof uuid, "%.*s", lo->short_uuid ? 12 : 63, str(dev, "uuid"));
        const char *row[] = {idx, str(dev, "model"), uuid, mem, cpu, limits, tflops};
        view_table_row(&t, row);
    }
    view_printf(b, "DEVICES\n");
    view_table_render(&t, b);
    view_table_free(&t);
}

static void render_vgpus(json_t *snap, const struct layout *lo, struct view_buf *b)
{
    int bar = lo->bar;
    static const char *const cols[] = {"ID", ">DEV", "QOS", "MEMORY USED / LIMIT", ">PEAK",
                                       "COMPUTE USED / LIMIT", ">REQ", ">THROTTLED", ">PROCS",
                                       ">LAUNCHES", "STATE", "SLURM"};
    struct view_table t;
    view_table_init(&t, 12, cols);
    if (lo->compact)
        t.hidden = 1u << 2 | 1u << 4 | 1u << 6 | 1u << 7; /* QOS, PEAK, REQ, THROTTLED */
    t.hidden |= 1u << 11;   /* SLURM (JOB.STEP) only on a node that runs Slurm's steps */
    json_t *vg;
    size_t i;
    json_array_foreach(json_object_get(snap, "vgpus"), i, vg) {
        char slurm[160] = "-";
        if (json_is_string(json_object_get(vg, "slurm_job"))) {
            snprintf(slurm, sizeof slurm, "%s.%s", str(vg, "slurm_job"), str(vg, "slurm_step"));
            t.hidden &= ~(1u << 11);
        }
        char dev[16], mem[160], peak[32], cpu[128], req[16], thr[32], procs[16], launches[32];
        fmt_count(num(vg, "device_index"), dev, sizeof dev);
        memory_cell(num(vg, "used_bytes"), num(vg, "vram_bytes"), bar, mem, sizeof mem);
        fmt_size(num(vg, "peak_bytes"), peak, sizeof peak);
        compute_cell(num(vg, "compute_used_pct"), num(vg, "compute_limit_pct"), bar, cpu,
                     sizeof cpu);
        fmt_pct(num(vg, "compute_request_pct"), req, sizeof req);
        double th = num(vg, "throttled_seconds");
        if (th < 0)
            snprintf(thr, sizeof thr, "-");
        else
            snprintf(thr, sizeof thr, "%.1fs", th);
        fmt_count(num(vg, "processes"), procs, sizeof procs);
        fmt_count(num(vg, "launches"), launches, sizeof launches);
        char state[96], held[32];   /* a frozen vGPU: where its memory is, and how much */
        json_t *fz = json_object_get(vg, "freeze");
        snprintf(state, sizeof state, "%s", str(vg, "state"));
        if (json_is_true(json_object_get(fz, "frozen"))) {
            fmt_size(num(fz, "frozen_bytes"), held, sizeof held);
            snprintf(state, sizeof state, "frozen (%s: %s)", str(fz, "frozen_to"), held);
        } else if (num(fz, "sessions_frozen") > 0) {   /* some sessions (a model switch) */
            fmt_size(num(fz, "frozen_bytes"), held, sizeof held);
            snprintf(state, sizeof state, "%s, %.0f frozen (%s: %s)", str(vg, "state"),
                     num(fz, "sessions_frozen"), str(fz, "frozen_to"), held);
        }
        const char *row[] = {str(vg, "id"), dev, str(vg, "qos"), mem, peak, cpu, req, thr,
                             procs, launches, state, slurm};
        view_table_row(&t, row);
    }
    view_printf(b, "\nVGPUS\n");
    if (t.nrows == 0)
        view_printf(b, "(none)\n");
    else
        view_table_render(&t, b);
    view_table_free(&t);
}

static void render_sessions(json_t *snap, const struct layout *lo, struct view_buf *b)
{
    json_t *sessions = json_object_get(snap, "sessions");
    view_printf(b, "\nSESSIONS\n");
    if (!json_is_array(sessions)) {
        view_printf(b, "(this node does not report sessions)\n");
        return;
    }
    static const char *const cols[] = {">WORKER", ">CLIENT", "HOST", "TRANSPORT", "VGPU",
                                       ">MEMORY", ">CALLS", ">ERRORS", ">LAUNCHES", ">AGE",
                                       ">IDLE", "STATE"};
    struct view_table t;
    view_table_init(&t, 12, cols);
    if (lo->compact)
        t.hidden = 1u << 1 | 1u << 3 | 1u << 10; /* CLIENT, TRANSPORT, IDLE */
    double now = num(snap, "time_unix");
    json_t *s;
    size_t i;
    json_array_foreach(sessions, i, s) {
        char worker[24], client[24], mem[32], calls[32], errs[32], launches[32], age[16],
            idle[16];
        fmt_count(num(s, "worker_pid"), worker, sizeof worker);
        fmt_count(num(s, "client_pid"), client, sizeof client);
        fmt_size(num(s, "memory_bytes"), mem, sizeof mem);
        fmt_count(num(s, "calls_total"), calls, sizeof calls);
        fmt_count(num(s, "errors_total"), errs, sizeof errs);
        fmt_count(num(s, "launches_total"), launches, sizeof launches);
        double started = num(s, "started_unix"), last = num(s, "last_call_unix");
        view_duration(started >= 0 && now >= 0 ? now - started : -1, age, sizeof age);
        view_duration(last >= 0 && now >= 0 ? now - last : -1, idle, sizeof idle);
        const char *row[] = {worker, client, str(s, "host"), str(s, "transport"), str(s, "vgpu"),
                             mem, calls, errs, launches, age, idle, str(s, "state")};
        view_table_row(&t, row);
    }
    /* Warm workers: a process each, no client yet, their context charged to the node. */
    json_array_foreach(json_object_get(snap, "warm"), i, s) {
        char worker[24], mem[32], age[16];
        fmt_count(num(s, "worker_pid"), worker, sizeof worker);
        fmt_size(num(s, "memory_bytes"), mem, sizeof mem);
        double started = num(s, "started_unix");
        view_duration(started >= 0 && now >= 0 ? now - started : -1, age, sizeof age);
        const char *row[] = {worker, "-", "-", "-", "(node)", mem, "-", "-", "-", age, "-",
                             str(s, "state")};
        view_table_row(&t, row);
    }
    if (t.nrows == 0)
        view_printf(b, "(none)\n");
    else
        view_table_render(&t, b);
    view_table_free(&t);
}

static void render_header(json_t *snap, struct view_buf *b)
{
    char when[32] = "-";
    double t = num(snap, "time_unix");
    if (t >= 0) {
        time_t tt = (time_t)t;
        struct tm tm;
        strftime(when, sizeof when, "%H:%M:%S", localtime_r(&tt, &tm));
    }
    json_t *version = json_object_get(snap, "version"), *sessions = json_object_get(snap, "sessions");
    char nsess[32] = "-";
    if (json_is_array(sessions))
        snprintf(nsess, sizeof nsess, "%zu", json_array_size(sessions));
    view_printf(b, "node %s  version %s  devices %zu  vgpus %zu  sessions %s  at %s\n\n",
                str(snap, "node"), str(version, "version"),
                json_array_size(json_object_get(snap, "devices")),
                json_array_size(json_object_get(snap, "vgpus")), nsess, when);
}

static size_t widest_line(const struct view_buf *b)
{
    size_t widest = 0, cur = 0;
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] == '\n') {
            widest = cur > widest ? cur : widest;
            cur = 0;
        } else {
            cur++;
        }
    }
    return cur > widest ? cur : widest;
}

static void render_with(json_t *snap, const struct layout *lo, struct view_buf *b)
{
    render_header(snap, b);
    render_devices(snap, lo, b);
    render_vgpus(snap, lo, b);
    render_sessions(snap, lo, b);
}

void view_render(json_t *snap, int columns, struct view_buf *b)
{
    /* Narrower until it fits: shorter bars, then short uuids, then fewer columns. */
    static const struct layout layouts[] = {
        {20, 0, 0}, {16, 0, 0}, {12, 0, 0}, {20, 1, 0}, {16, 1, 0}, {12, 1, 0}, {10, 1, 0},
        {16, 1, 1}, {12, 1, 1}, {10, 1, 1}, {8, 1, 1},  {6, 1, 1},  {4, 1, 1},
    };
    int n = (int)(sizeof layouts / sizeof layouts[0]);
    for (int i = 0; i < n; i++) {
        struct view_buf trial = {0};
        render_with(snap, &layouts[i], &trial);
        if (i == n - 1 || widest_line(&trial) <= (size_t)columns) {
            view_printf(b, "%s", trial.data ? trial.data : "");
            view_buf_free(&trial);
            return;
        }
        view_buf_free(&trial);
    }
}
