/*
 * What cuMemHostRegister must know about a host range before page-locking it: whether every
 * byte is mapped, and whether every page is writable (read-only pages need
 * CU_MEMHOSTREGISTER_READ_ONLY), read from /proc/self/maps. Calls libc only.
 */
#include <stdio.h>

#include "softgpu.h"

int sg_host_range_mapped(uint64_t addr, uint64_t len, int *writable)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return 0;
    uint64_t covered = addr, end = addr + len;
    int all_writable = 1;
    char line[512];
    /* the mappings are listed in address order */
    while (covered < end && fgets(line, sizeof line, f)) {
        unsigned long long lo, hi;
        char perms[8];
        if (sscanf(line, "%llx-%llx %7s", &lo, &hi, perms) != 3 || hi <= covered)
            continue;
        if (lo > covered || perms[0] != 'r')
            break; /* a hole, or a page the device could not read */
        if (perms[1] != 'w')
            all_writable = 0;
        covered = hi;
    }
    fclose(f);
    *writable = all_writable;
    return covered >= end;
}
