/* The open-files limit of server processes; see fdlimit.h. */
#include "fdlimit.h"

#include <sys/resource.h>

#include "log.h"

unsigned long long tf_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = was;
    }
    tf_debug("open files limit: %llu", (unsigned long long)rl.rlim_cur);
    return (unsigned long long)rl.rlim_cur;
}
