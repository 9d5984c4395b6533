/*
 * The device plugin's share bookkeeping (src/k8s/dp_devices.c) in C: share ids and their one
 * spelling, the list ListAndWatch sends as the node's GPUs come, go and stop answering, what
 * Allocate accepts, and the preferred-allocation choice (distinct GPUs first, then the GPU
 * with the most shares left, must-include ids kept).
 * May call: dp_devices.h, libc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_devices.h"

static int failures;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);     \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

static void test_parse(void)
{
    char uuid[K8S_DP_UUID_MAX];
    unsigned k = 99;
    CHECK(k8s_dp_share_parse("GPU-1234-abcd::0", uuid, &k) == 0);
    CHECK(!strcmp(uuid, "GPU-1234-abcd") && k == 0);
    CHECK(k8s_dp_share_parse("GPU-a::63", uuid, &k) == 0 && k == 63);
    const char *bad[] = {"", "::1", "GPU-a", "GPU-a::", "GPU-a::01", "GPU-a::-1", "GPU-a::1x",
                         "GPU-a::1234", "GPU a::1", "GPU/a::1", "GPU-a:1", "GPU-a::+1",
                         "GPU-a\n::1", NULL};
    for (int i = 0; bad[i]; i++) {
        int r = k8s_dp_share_parse(bad[i], uuid, &k);
        if (r != -1)
            fprintf(stderr, "accepted '%s'\n", bad[i]);
        CHECK(r == -1);
    }
    char longid[128];
    memset(longid, 'a', 60);
    strcpy(longid + 60, "::1");
    CHECK(k8s_dp_share_parse(longid, uuid, &k) == -1);
    CHECK(k8s_dp_share_parse(NULL, uuid, &k) == -1);
}

static void test_list(void)
{
    struct k8s_dp_devices d;
    k8s_dp_devices_init(&d, 3);
    struct k8s_dp_share *s;
    uint64_t g0, g;
    CHECK(k8s_dp_devices_list(&d, &s, &g0) == 0 && s == NULL);

    const char *two[] = {"GPU-aa", "GPU-bb"};
    size_t skipped = 9;
    CHECK(k8s_dp_devices_set(&d, two, 2, &skipped) == 1 && skipped == 0);
    size_t n = k8s_dp_devices_list(&d, &s, &g);
    CHECK(n == 6 && g != g0);
    CHECK(!strcmp(s[0].id, "GPU-aa::0") && !strcmp(s[2].id, "GPU-aa::2"));
    CHECK(!strcmp(s[3].id, "GPU-bb::0") && !strcmp(s[5].id, "GPU-bb::2"));
    for (size_t i = 0; i < n; i++)
        CHECK(s[i].healthy);
    free(s);

    /* the same answer again changes nothing; ListAndWatch sends nothing new */
    CHECK(k8s_dp_devices_set(&d, two, 2, NULL) == 0);
    CHECK(k8s_dp_devices_wait(&d, g, 10) == g);

    CHECK(k8s_dp_devices_check(&d, "GPU-bb::2") == 1);
    CHECK(k8s_dp_devices_check(&d, "GPU-bb::3") == -1);   /* beyond the shares */
    CHECK(k8s_dp_devices_check(&d, "GPU-cc::0") == -1);   /* not a GPU of the node */
    CHECK(k8s_dp_devices_check(&d, "GPU-bb") == -1);

    /* node down: the GPUs stay, every share Unhealthy, Allocate refuses them */
    CHECK(k8s_dp_devices_node_down(&d) == 1);
    CHECK(k8s_dp_devices_node_down(&d) == 0);
    CHECK(k8s_dp_devices_wait(&d, g, 10) != g);
    n = k8s_dp_devices_list(&d, &s, &g);
    CHECK(n == 6);
    for (size_t i = 0; i < n; i++)
        CHECK(!s[i].healthy);
    free(s);
    CHECK(k8s_dp_devices_check(&d, "GPU-aa::0") == 0);

    /* back with one GPU gone, and answers that cannot name a share skipped */
    const char *next[] = {"GPU-bb", "bad uuid", "GPU-bb", "", NULL};
    CHECK(k8s_dp_devices_set(&d, next, 5, &skipped) == 1 && skipped == 4);
    n = k8s_dp_devices_list(&d, &s, &g);
    CHECK(n == 3 && !strcmp(s[0].id, "GPU-bb::0") && s[0].healthy);
    free(s);
    CHECK(k8s_dp_devices_check(&d, "GPU-aa::0") == -1);
    k8s_dp_devices_destroy(&d);
}

static size_t prefer(const char **avail, size_t na, const char **must, size_t nm, size_t size,
                     const char **out)
{
    return k8s_dp_prefer(avail, na, must, nm, size, out);
}

static int gpu_is(const char *id, const char *uuid)
{
    return !strncmp(id, uuid, strlen(uuid)) && !strncmp(id + strlen(uuid), "::", 2);
}

static void test_prefer(void)
{
    const char *avail[] = {"GPU-a::0", "GPU-a::1", "GPU-a::2", "GPU-b::0", "GPU-b::1",
                           "GPU-c::0"};
    const char *out[8];
    /* two shares: two GPUs, the two with the most shares left (a, then b) */
    CHECK(prefer(avail, 6, NULL, 0, 2, out) == 2);
    CHECK(gpu_is(out[0], "GPU-a") && gpu_is(out[1], "GPU-b"));
    /* three: every GPU once */
    CHECK(prefer(avail, 6, NULL, 0, 3, out) == 3);
    CHECK(gpu_is(out[2], "GPU-c"));
    /* four: a GPU twice only after each has one */
    CHECK(prefer(avail, 6, NULL, 0, 4, out) == 4);
    CHECK(gpu_is(out[3], "GPU-a"));
    /* must-include comes first and counts for its GPU */
    const char *must[] = {"GPU-c::0"};
    CHECK(prefer(avail, 6, must, 1, 2, out) == 2);
    CHECK(!strcmp(out[0], "GPU-c::0") && gpu_is(out[1], "GPU-a"));
    /* more than there is: all of it, each once */
    CHECK(prefer(avail, 6, NULL, 0, 8, out) == 6);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < i; j++)
            CHECK(strcmp(out[i], out[j]) != 0);
    /* ids that are not shares are never chosen; repeats are chosen once */
    const char *odd[] = {"junk", "GPU-a::0", "GPU-a::0", "x::y"};
    CHECK(prefer(odd, 4, NULL, 0, 3, out) == 1 && !strcmp(out[0], "GPU-a::0"));
    CHECK(prefer(avail, 6, NULL, 0, 0, out) == 0);
    CHECK(prefer(NULL, 0, NULL, 0, 2, out) == 0);
}

int main(void)
{
    test_parse();
    test_list();
    test_prefer();
    if (failures) {
        fprintf(stderr, "test_dp_devices: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_dp_devices: ok\n");
    return 0;
}
