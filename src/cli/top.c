/*
 * `tfuse top --node ADDR [--interval S] [--iterations N] [--json]`: a node's devices, vGPUs and
 * sessions, refreshed. On a terminal it redraws in place on the alternate screen (restored on
 * exit, ^C or SIGTERM; a resize redraws at the new width at once); otherwise it appends plain
 * snapshots, without escape codes, so logs and tests read it. --json prints one document per
 * refresh, one per line. vGPU compute shares a node does not report are derived from the
 * growth of busy_ns between refreshes.
 * May call: view.c, ps.c (fetch and arguments), libc.
 */
#include "view.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested, resized;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_resize(int sig)
{
    (void)sig;
    resized = 1;
}

/* No SA_RESTART: a signal cuts the sleep between refreshes short. */
static void install_handlers(void)
{
    struct sigaction sa = {0};
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_resize;
    sigaction(SIGWINCH, &sa, NULL);
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

#define ALT_SCREEN_ON "\033[?1049h\033[?25l" /* alternate screen, cursor hidden */
#define ALT_SCREEN_OFF "\033[?25h\033[?1049l"

static int terminal_rows(void)
{
    struct winsize ws;
    return ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 1 ? ws.ws_row : 24;
}

/* The frame for a terminal: from the top-left corner, every line cut at the width and the
 * frame at the height (a wrapped or scrolled line would push the frame off the screen), each
 * line cleared to its end, then the rest of the screen cleared. */
static void draw_tty(const struct view_buf *text, const char *status, int columns)
{
    struct view_buf out = {0};
    int rows = terminal_rows() - 1;
    view_printf(&out, "\033[H%.*s\033[K\n", columns, status);
    const char *p = text->data ? text->data : "";
    while (*p && --rows > 0) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        view_printf(&out, "%.*s\033[K\n", n < columns ? n : columns, p);
        p += n + (nl != NULL);
    }
    view_printf(&out, "\033[J");
    write_all(out.data, out.len);
    view_buf_free(&out);
}

struct top_state {
    struct view_args args;
    int tty, on_alt_screen;
    long refresh;
    json_t *last;          /* the snapshot on screen */
    char error[1024];      /* the last failure, shown on the terminal while it lasts */
};

static void show(struct top_state *st)
{
    int columns = view_columns();
    if (st->args.json) {
        char *text = json_dumps(st->last, JSON_COMPACT);
        if (text)
            printf("%s\n", text);
        free(text);
        fflush(stdout);
        return;
    }
    struct view_buf b = {0};
    view_render(st->last, columns, &b);
    if (st->tty) {
        char status[1200];
        if (st->error[0])
            snprintf(status, sizeof status, "tfuse top: %s (retrying)", st->error);
        else
            snprintf(status, sizeof status, "tfuse top: every %gs, ^C to quit",
                     st->args.interval);
        if (!st->on_alt_screen) { /* entered at the first frame: an early error stays visible */
            write_all(ALT_SCREEN_ON, strlen(ALT_SCREEN_ON));
            st->on_alt_screen = 1;
        }
        draw_tty(&b, status, columns);
    } else {
        printf("%s%s", st->refresh > 1 ? "\n" : "", b.data ? b.data : "");
        fflush(stdout);
    }
    view_buf_free(&b);
}

/* Sleeps the interval; a resize redraws at once and keeps sleeping, a stop ends it. */
static void wait_interval(struct top_state *st)
{
    struct timespec left = {(time_t)st->args.interval,
                            (long)((st->args.interval - (double)(time_t)st->args.interval) * 1e9)};
    while (!stop_requested && nanosleep(&left, &left) != 0 && errno == EINTR) {
        if (resized && st->tty && st->last) {
            resized = 0;
            show(st);
        }
    }
}

/* One refresh: 0 shown, 1 failed (a terminal keeps the last frame and says why). */
static int refresh(struct top_state *st)
{
    char err[1024];
    int status;
    json_t *snap = view_fetch(st->args.node, &status, err, sizeof err);
    if (!snap) {
        if (!st->tty || !st->last)
            return view_fetch_error("tfuse top", st->args.node, status, err);
        snprintf(st->error, sizeof st->error, "%s", err);
        show(st);
        return 0;
    }
    st->error[0] = '\0';
    view_derive_compute(snap, st->last);
    json_decref(st->last);
    st->last = snap;
    show(st);
    return 0;
}

int tfuse_top_main(int argc, char **argv)
{
    struct top_state st = {0};
    int rc = view_parse_args("tfuse top", argc, argv, 1, &st.args);
    if (rc)
        return rc == 1 ? 0 : rc;
    st.tty = isatty(STDOUT_FILENO) && !st.args.json;
    install_handlers();
    rc = 0;
    while (!stop_requested) {
        st.refresh++;
        if (refresh(&st) != 0) {
            rc = 1;
            break;
        }
        if (st.args.iterations && st.refresh >= st.args.iterations)
            break;
        wait_interval(&st);
    }
    if (st.on_alt_screen) {
        write_all(ALT_SCREEN_OFF, strlen(ALT_SCREEN_OFF));
        /* the last frame stays readable after the alternate screen is gone */
        if (st.last && rc == 0) {
            struct view_buf b = {0};
            view_render(st.last, view_columns(), &b);
            write_all(b.data, b.len);
            view_buf_free(&b);
        }
    }
    json_decref(st.last);
    return rc;
}
