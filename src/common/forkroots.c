/*
 * LeakSanitizer and fork() in a threaded process, for sanitizer builds.
 *
 * The node forks its workers while its other threads (pool registration, the HTTP API) hold
 * heap objects that only their stacks point to: a request body, a curl handle. The child has
 * one thread; LeakSanitizer scans the stacks of live threads only, so at the worker's exit it
 * reported those objects as the worker's leaks, now and then, depending on what the other
 * threads were doing at the fork. Before each fork this finds the other threads' stacks (each
 * thread's stack pointer from /proc/self/task/TID/syscall, the mapping holding it in
 * /proc/self/maps) and the child registers them as root regions: what those threads held
 * stays reachable, and a worker's own leaks are still reported.
 *
 * Compiled to nothing without AddressSanitizer. May call: libc, the sanitizer interface.
 */
#include "forkroots.h"

#if defined(__SANITIZE_ADDRESS__)
#include <dirent.h>
#include <pthread.h>
#include <sanitizer/lsan_interface.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ROOTS 128

struct root {
    uintptr_t lo, hi;
};

static struct root roots[MAX_ROOTS];
static int nroots;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The stack pointer of thread tid, or 0 when it is running (no syscall line to read). */
static uintptr_t thread_sp(const char *tid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/self/task/%s/syscall", tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    uintptr_t sp = 0;
    if (fgets(line, sizeof line, f) && strncmp(line, "running", 7) != 0) {
        /* "NR ARGS... SP PC" or "-1 SP PC": the stack pointer is the next to last field */
        char *last = strrchr(line, ' ');
        if (last) {
            *last = '\0';
            char *prev = strrchr(line, ' ');
            sp = (uintptr_t)strtoull(prev ? prev + 1 : line, NULL, 16);
        }
    }
    fclose(f);
    return sp;
}

/* Adds the writable mapping that holds sp. */
static void add_mapping_of(uintptr_t sp)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return;
    char line[512];
    while (nroots < MAX_ROOTS && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && sp >= lo && sp < hi) {
            if (perms[0] == 'r' && perms[1] == 'w')
                roots[nroots++] = (struct root){lo, hi};
            break;
        }
    }
    fclose(f);
}

static void before_fork(void)
{
    nroots = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    char self[24];
    snprintf(self, sizeof self, "%ld", (long)gettid());
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, self) == 0)
            continue;   /* the forking thread's stack lives on in the child */
        uintptr_t sp = thread_sp(e->d_name);
        if (sp)
            add_mapping_of(sp);
    }
    closedir(d);
}

static void in_child(void)
{
    for (int i = 0; i < nroots; i++)
        __lsan_register_root_region((void *)roots[i].lo, roots[i].hi - roots[i].lo);
}

static void install_once(void)
{
    pthread_atfork(before_fork, NULL, in_child);
}

void tf_forkroots_install(void)
{
    pthread_once(&once, install_once);
}
#else
void tf_forkroots_install(void)
{
}
#endif
