#!/usr/bin/env python3
"""Every global symbol our built libraries define carries its module's prefix.

    check_symbols.py BUILD_DIR

Reads `nm -g --defined-only` of every static and shared library under BUILD_DIR/lib. A name
without one of the prefixes below is a function or variable that escaped its file without
saying whose it is (and could collide with a program's or another module's): the test names it.
The driver's and NVML's own names (cu*, nvml*) are what the libraries exist to export.
"""
import os
import re
import subprocess
import sys

PREFIXES = (
    'cu', 'nvml', 'NVML',                        # the APIs we implement
    'slurm_spank_', 'spank_', 'plugin_',         # Slurm's SPANK plugin ABI (src/slurm)
    'tfuse_', 'tf_', 'tfs_', 'tfw_', 'tft_', 'tfp_', 'tfd_', 'tt_',   # stub, worker, transport...
    'sg_', 'ptx_', 'pz_',                        # softgpu and its PTX front end
    'dk_', 'exporttab_', 'cls_', 'fatbin_',      # the driver kit and its parts
    'vgpu_', 'node_', 'pool_',                   # vGPU regions, node, pool
    'bench_', 'fake_node_', 'echo_server_',      # benchmark and test helper libraries
    'tnode_',                                    # tests/security's node under test
    'sn_',                                       # tests/security's state-test helpers
    'k8s_',                                      # tfuse-k8s (src/k8s)
    'nodeapi_', 'tfsl_',                         # the CLI's node client, src/slurm
    'pluginregistration__', 'v1beta1__',         # protoc-c's names of the kubelet's messages
)


def libraries(build):
    for root, _, files in os.walk(os.path.join(build, 'lib')):
        for f in files:
            if f.endswith('.a') or re.search(r'\.so(\.\d+)*$', f):
                yield os.path.join(root, f)


def main():
    build = sys.argv[1]
    bad = []
    for lib in sorted(libraries(build)):
        out = subprocess.run(['nm', '-g', '--defined-only', lib], capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) != 3 or parts[1] in 'AUwv':
                continue
            name = parts[2].split('@')[0]
            if not name.startswith('_') and not name.startswith(PREFIXES):
                bad.append(f'{os.path.relpath(lib, build)}: {name}')
    for b in sorted(set(bad)):
        print(f'check_symbols: global symbol without a module prefix: {b}')
    if not any(True for _ in libraries(build)):
        print('check_symbols: no libraries under', os.path.join(build, 'lib'))
        return 1
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
