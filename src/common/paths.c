/* Paths relative to the running executable; see paths.h. */
#include "paths.h"

#include <dlfcn.h>

#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int tf_exe_relative(const char *rel, char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return (size_t)snprintf(out, len, "%s/%s", exe, rel) < len ? 0 : -1;
}

int tf_is_tensorfuse_library(const void *symbol)
{
    Dl_info info;
    if (!dladdr(symbol, &info) || !info.dli_fname)
        return 0;
    char real[PATH_MAX];
    const char *path = realpath(info.dli_fname, real) ? real : info.dli_fname;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strncmp(base, "libtfuse", 8) == 0 || strstr(path, "/lib/tfuse/") != NULL ||
           strstr(path, "/lib/softgpu/") != NULL;
}
