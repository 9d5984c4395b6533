/*
 * Unit tests of the topology a node registers (src/node/topology.c): the sysfs NUMA lookup
 * from an NVML PCI bus id (8-digit domain shortened, case folded, -1 for "no NUMA", a missing
 * device or junk), and the JSON fields a device gets.
 * Owns: nothing. May call: topology.h, cmocka, libc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "topology.h"

static char root[64];

/* Writes root/bus/pci/devices/ID/numa_node with text. */
static void fake_device(const char *id, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/bus", root);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/bus/pci", root);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/bus/pci/devices", root);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/bus/pci/devices/%s", root, id);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/bus/pci/devices/%s/numa_node", root, id);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_sysfs_numa(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/tfuse-topo-XXXXXX");
    assert_non_null(mkdtemp(root));
    fake_device("0000:41:00.0", "1\n");
    fake_device("0000:c1:00.0", "-1\n");
    fake_device("0000:02:00.0", "junk\n");
    assert_int_equal(node_topology_sysfs_numa(root, "00000000:41:00.0"), 1);
    assert_int_equal(node_topology_sysfs_numa(root, "0000:41:00.0"), 1);
    assert_int_equal(node_topology_sysfs_numa(root, "00000000:C1:00.0"), -1);
    assert_int_equal(node_topology_sysfs_numa(root, "00000000:02:00.0"), -1);
    assert_int_equal(node_topology_sysfs_numa(root, "00000000:99:00.0"), -1);
    assert_int_equal(node_topology_sysfs_numa(root, "no-colon"), -1);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    assert_int_equal(system(cmd), 0);
}

static void test_json(void **state)
{
    (void)state;
    static struct node_vgpus v;
    v.ndev = 3;
    for (int i = 0; i < 3; i++)
        snprintf(v.dev[i].uuid, sizeof v.dev[i].uuid, "GPU-%d", i);
    struct node_topology t = {.numa = {0, 1, -1}, .npeers = {2, 0, 0}};
    t.peer[0][0] = 1;
    t.peer[0][1] = 2;
    json_t *d0 = json_object(), *d2 = json_object();
    node_topology_json(&t, &v, 0, d0);
    node_topology_json(&t, &v, 2, d2);
    assert_int_equal(json_integer_value(json_object_get(d0, "numa")), 0);
    json_t *p = json_object_get(d0, "nvlink_peers");
    assert_int_equal(json_array_size(p), 2);
    assert_string_equal(json_string_value(json_array_get(p, 0)), "GPU-1");
    assert_string_equal(json_string_value(json_array_get(p, 1)), "GPU-2");
    assert_int_equal(json_integer_value(json_object_get(d2, "numa")), -1);
    assert_int_equal(json_array_size(json_object_get(d2, "nvlink_peers")), 0);
    json_decref(d0);
    json_decref(d2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sysfs_numa),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
