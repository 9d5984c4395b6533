/*
 * The heartbeat watchdog: a thread that wakes a few times per heartbeat timeout and marks silent
 * nodes unhealthy (pool_svc_check_health). Stopping is prompt: the thread waits on a condition
 * variable that pool_health_stop signals. Calls pool_svc and pthreads.
 */
#include "pool_svc_int.h"

#include <errno.h>
#include <math.h>
#include <time.h>

static void *health_main(void *arg)
{
    struct pool_svc *svc = arg;
    double period = svc->cfg.heartbeat_timeout_s / 4;
    if (period > 1)
        period = 1;
    if (period < 0.02)
        period = 0.02;
    for (;;) {
        pthread_mutex_lock(&svc->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        double secs = until.tv_sec + until.tv_nsec * 1e-9 + period;
        until.tv_sec = (time_t)secs;
        until.tv_nsec = (long)((secs - floor(secs)) * 1e9);
        while (!svc->stopping) {
            if (pthread_cond_timedwait(&svc->stop_cond, &svc->lock, &until) == ETIMEDOUT)
                break;
        }
        bool stop = svc->stopping;
        pthread_mutex_unlock(&svc->lock);
        if (stop)
            return NULL;
        pool_svc_check_health(svc, pool_now());
    }
}

int pool_health_start(struct pool_svc *svc)
{
    if (pthread_create(&svc->health, NULL, health_main, svc) != 0)
        return -1;
    svc->health_running = true;
    return 0;
}

void pool_health_stop(struct pool_svc *svc)
{
    if (!svc->health_running)
        return;
    pthread_mutex_lock(&svc->lock);
    svc->stopping = true;
    pthread_cond_signal(&svc->stop_cond);
    pthread_mutex_unlock(&svc->lock);
    pthread_join(svc->health, NULL);
    svc->health_running = false;
}
