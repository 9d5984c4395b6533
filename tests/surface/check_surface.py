#!/usr/bin/env python3
"""The driver surface test. From the installed toolkit itself (the symbols of
lib64/stubs/libcuda.so, and cudaTypedefs.h through scripts/gen-driver-api):
  1. src/driverkit/driver_api.def is what the generator makes of this toolkit (so a newer
     toolkit shows at once what we lack);
  2. every function the toolkit's driver exports is exported by each library given;
  3. every driver function of src/proto/calls.def carries the name and ABI version that
     driver_api.def gives its symbol (what the stub's cuGetProcAddress and the backend's table
     are built from);
  4. a forwarded call that names a device as IN(CUdevice, n) is translated by a wrapper of
     src/worker/devmap.c (new entries use DEV/DEVOUT/LOC, translated by the worker's decoder);
  5. a forwarded call whose argument kinds take or give back memory (DPOUT, DPFREE, their
     32-bit forms, HOUT/HDEL of ALLOC, ARRAY, MIPMAP) is wrapped by the vGPU ledger in
     src/worker/enforce*.c;
  6. each library exports nothing of ours but the driver's names and tfuse_*;
  7. each library's refused functions (WEAK definitions from its surface.c; per-thread variants
     share the fate of the function they are variants of and are not listed) are exactly those that
     docs/driver-surface.md lists, with a reason, under that library's heading.
usage: check_surface.py SOURCE_DIR CUDA_ROOT NAME=LIB [NAME=LIB ...]"""
import glob, re, subprocess, sys

src, cuda, libs = sys.argv[1], sys.argv[2], dict(a.split('=', 1) for a in sys.argv[3:])
failed = False


def fail(msg):
    global failed
    failed = True
    print('FAIL:', msg)


def dynsyms(path):
    out = subprocess.run(['nm', '-D', '--defined-only', path], capture_output=True, text=True,
                         check=True).stdout
    return {f[2]: f[1] for f in (l.split() for l in out.splitlines()) if len(f) == 3}


generated = subprocess.run([f'{src}/scripts/gen-driver-api', cuda], capture_output=True,
                           text=True).stdout
checked_in = open(f'{src}/src/driverkit/driver_api.def').read()
if generated != checked_in:
    fail('src/driverkit/driver_api.def differs from scripts/gen-driver-api for this toolkit: '
         'regenerate it, then export what is new')

toolkit = {s for s in dynsyms(f'{cuda}/lib64/stubs/libcuda.so') if s.startswith('cu')}
variant_of = dict(re.findall(r'^CU_API_PT\(\w+, \d+, (\w+), (\w+),', checked_in, re.M))

abi = {m[2]: (m[0], int(m[1])) for m in
       re.findall(r'^CU_API(?:_PT)?\((\w+), (\d+), (\w+),', checked_in, re.M)}
calls = ''.join(open(f).read() for f in sorted(glob.glob(f'{src}/src/proto/calls*.def')))
for sym, base, ver in re.findall(r'^TF_(?:CALL|CUSTOM|LOCAL|BACKEND)\((\w+), (\w+), (\d+)',
                                 calls, re.M):
    if abi.get(sym) != (base, int(ver)):
        fail(f'calls.def: {sym} is declared as {base} {ver}, the driver has {abi.get(sym)}')

# A forwarded call that names a device by plain IN(CUdevice, ...) must be translated by a
# wrapper of src/worker/devmap.c; new entries say DEV/DEVOUT/LOC and are translated generically.
def wrapped(*paths):
    return set(re.findall(r'\bTFW_WRAP\([^,]+, (\w+),', ''.join(open(p).read() for p in paths)))


devmap = wrapped(f'{src}/src/worker/devmap.c')
ledger = wrapped(*glob.glob(f'{src}/src/worker/enforce*.c'))
MEMORY = {'takes': r'\bDPOUT(?:32)?\(|\bHOUT\(\s*(?:ALLOC|ARRAY|MIPMAP)\b',
          'gives back': r'\bDPFREE(?:32)?\(|\bHDEL\(\s*(?:ALLOC|ARRAY|MIPMAP)\b'}
unledgered = 0
entries = re.findall(r'^TF_CALL\((\w+),(.*?)\)\s*$(?=\s*(?:TF_|/\*|$))', calls, re.M | re.S)
for sym, body in entries:
    if re.search(r'\bIN\(\s*CUdevice\b', body) and sym not in devmap:
        fail(f'calls.def: {sym} names a device with IN(CUdevice, ...) but nothing translates it: '
             'use DEV(n)')
    # 5. The ledger's interception follows from the kinds: what takes or gives back memory is
    # wrapped in src/worker/enforce*.c (or says DPADDR/DPADDRFREE/HFOUND: it takes none).
    for what, kinds in MEMORY.items():
        if re.search(kinds, body) and sym not in ledger:
            unledgered += 1
            fail(f'calls.def: {sym} {what} memory but no TFW_WRAP of src/worker/enforce*.c charges '
                 'the vGPU for it')
if not unledgered:
    print(f'calls.def: {len(entries)} forwarded entries; '
          f'{sum(any(re.search(k, b) for k in MEMORY.values()) for _, b in entries)} take or give back '
          f'memory, all intercepted by the vGPU ledger')

doc = open(f'{src}/docs/driver-surface.md').read()
for name, path in libs.items():
    syms = dynsyms(path)
    missing = sorted(toolkit - set(syms))
    ours = sorted(s for s in syms if not s.startswith(('cu', 'tfuse_')) and syms[s] != 'A')
    if ours:    # the version script keeps our internals out of the program's namespace
        fail(f'{name}: exports symbols that are neither the driver\'s nor tfuse_: {" ".join(ours[:20])}')
    if missing:
        fail(f'{name}: {len(missing)} driver functions not exported: {" ".join(missing[:20])}')
    weak = {s for s in toolkit if syms.get(s) in ('W', 'V')}
    refused = {s for s in weak if s not in variant_of}   # its variants share its fate
    section = re.search(rf'^## Refused by {name}\b.*?(?=^## |\Z)', doc, re.M | re.S)
    listed = set(re.findall(r'`(cu\w+)`', section.group(0))) if section else set()
    if not section:
        fail(f'docs/driver-surface.md has no "## Refused by {name}" section')
    for s in sorted(refused - listed):
        fail(f'{name}: {s} is refused but docs/driver-surface.md gives no reason')
    for s in sorted(listed - refused):
        fail(f'{name}: docs/driver-surface.md lists {s} as refused but {name} serves it')
    served = len(toolkit) - len(variant_of) - len(refused)
    print(f'{name}: all {len(toolkit)} driver functions exported; of the {len(toolkit) - len(variant_of)} '
          f'that are not per-thread variants, {served} served and {len(refused)} refused')
sys.exit(1 if failed else 0)
