/*
 * bench_isolation's host load (`--hog N`): N processes that do nothing but spin on a CPU, so
 * that the tenants, their workers and softgpu's executor threads compete for the host's cores
 * as they would on a machine busy with other work. The bench starts them and always ends them:
 * iso_hogs_stop at the end of a scenario and from its signal handler, and each hog asks the
 * kernel for SIGKILL when the bench dies (PR_SET_PDEATHSIG), so none outlives it.
 *
 * Owns: the hog processes. May call: libc (only async-signal-safe calls in iso_hogs_stop).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "real.h"

#define MAX_HOGS 64

static pid_t hogs[MAX_HOGS];
static volatile sig_atomic_t nhogs;

_Noreturn static void hog_main(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)   /* the bench died before the line above */
        _exit(0);
    volatile unsigned long x = 0;
    for (;;)
        x++;
}

int iso_hogs_start(int n)
{
    if (n < 0 || n > MAX_HOGS) {
        fprintf(stderr, "bench_isolation: --hog takes 0..%d processes\n", MAX_HOGS);
        return -1;
    }
    pid_t self = getpid();
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "bench_isolation: fork of a hog: %s\n", strerror(errno));
            iso_hogs_stop();
            return -1;
        }
        if (pid == 0)
            hog_main(self);
        hogs[nhogs] = pid;
        nhogs = nhogs + 1;
    }
    return 0;
}

void iso_hogs_stop(void)
{
    int n = nhogs;
    for (int i = 0; i < n; i++)
        kill(hogs[i], SIGKILL);
    for (int i = 0; i < n; i++)
        while (waitpid(hogs[i], NULL, 0) < 0 && errno == EINTR)
            ;
    nhogs = 0;
}
