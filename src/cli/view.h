/*
 * What `tfuse ps` and `tfuse top` show: a snapshot of one node (devices, vGPUs, sessions) fetched
 * from its API and rendered as aligned tables with usage-against-limit bars.
 * Owns: the snapshot format, text rendering (view.c), `tfuse ps` (ps.c), `tfuse top` (top.c).
 * May call: nodeapi.c, jansson.
 */
#ifndef TFUSE_CLI_VIEW_H
#define TFUSE_CLI_VIEW_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A growable text buffer: a frame is built whole, then written in one go (no flicker). */
struct view_buf {
    char *data;
    size_t len, cap;
};

void view_printf(struct view_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void view_buf_free(struct view_buf *b);

/* "0 B", "512 KiB", "1.5 GiB": three significant digits at most. */
void view_size(uint64_t bytes, char *out, size_t len);

/* "[#####.....]" with width cells filled by used/limit; a full bar ending in '!' when used is
 * over the limit by more than 2% (a measured share jitters around its limit); "-" padded to the bar's width when either is unknown (negative) or the limit
 * is 0. Always width + 2 characters. */
void view_bar(double used, double limit, int width, char *out, size_t len);

/* "45s", "3m04s", "2h05m", "3d04h"; "-" for a negative duration. */
void view_duration(double seconds, char *out, size_t len);

/* An aligned table: cells are copied; columns are as wide as their widest cell. */
#define VIEW_MAX_COLS 16
struct view_table {
    int ncols, nrows, cap;
    const char *head[VIEW_MAX_COLS];
    int right[VIEW_MAX_COLS]; /* right-aligned (numbers) */
    unsigned hidden;          /* bit c: column c is not rendered (narrow terminals) */
    char **cells;             /* nrows * ncols */
};

/* Columns by name; a name starting with '>' is right-aligned ("'>CALLS"). */
void view_table_init(struct view_table *t, int ncols, const char *const *names);
/* Appends a row of t->ncols strings (NULL reads as "-"). */
int view_table_row(struct view_table *t, const char *const *cells);
void view_table_render(const struct view_table *t, struct view_buf *b);
void view_table_free(struct view_table *t);

/*
 * A snapshot: {"node": ADDR, "time_unix": T, "version": {..}|null, "devices": [..],
 * "vgpus": [..], "sessions": [..]|null}; null where the node does not serve the route.
 * Returns NULL with err filled (and *status the HTTP status, 0 when unreachable) on failure.
 */
json_t *view_fetch(const char *addr, int *status, char *err, size_t errlen);

/*
 * Fills "compute_used_pct" of each vGPU of cur that lacks it (a node older than that field)
 * from the busy_ns growth since prev over the wall time between the two snapshots.
 */
void view_derive_compute(json_t *cur, json_t *prev);

/* The frame of one snapshot as text, no wider than columns where bars can shrink to fit. */
void view_render(json_t *snap, int columns, struct view_buf *b);

/* Options shared by ps and top. Returns 0, or 2 after printing usage/errors (1 for --help:
 * the caller exits 0). */
struct view_args {
    const char *node, *token;
    int json;
    double interval;
    long iterations; /* 0: until interrupted */
};
int view_parse_args(const char *cmd, int argc, char **argv, int is_top, struct view_args *a);

/* Prints the error of a failed fetch the way both commands do; returns the exit status 1. */
int view_fetch_error(const char *cmd, const char *node, int status, const char *err);

/* The terminal's width, else $COLUMNS, else 160 (logs and pipes have no width to fit). */
int view_columns(void);

int tfuse_ps_main(int argc, char **argv);
int tfuse_top_main(int argc, char **argv);

#endif
