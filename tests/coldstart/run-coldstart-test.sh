#!/usr/bin/env bash
# Issue 21's tests on a real softgpu `tfuse node` (docs/forwarding.md, docs/softgpu.md):
#   jitscope  the JIT's disk cache is per tenant under a node: two vGPUs' workers compile the
#             same PTX into two folders and never read each other's files; a tenant's second
#             process hits its own file (read, not compiled again); a program run directly uses
#             the user's folder; the size bound is per folder (one tenant's eviction leaves the
#             other's and the user's files alone); past SOFTGPU_JIT_SCOPES folders the least
#             recently used goes
#   switch    bench_coldstart's model switch, small (16 MiB models, one repetition, one pair a
#             row): every kernel's sums are checked by model_prog across the freeze and resume,
#             and the JSON says ok
#   run-coldstart-test.sh CASE BUILD SRC
set -u
case_name=$1 build=$2 src=$3
tfuse=$build/bin/tfuse
prog=$build/bin/coldstart_prog
. "$src/tests/lib/node-harness.sh" coldstart-test

field() { jq -r "$1"; }
token_of() {   # a new vGPU's token
    local r
    r=$(http POST /api/v1/vgpus "{\"vram\":\"64MiB\",\"id\":\"$1\"}")
    [ "${r%% *}" = 201 ] || fail "create $1 answered $r"
    echo "${r#* }" | field .token
}

# One kernel, k0, writing f(tid): coldstart_prog runs it and prints out[5].
write_ptx() {
    cat >"$1" <<'PTX'
.version 7.0
.target sm_50
.address_size 64
.visible .entry k0(.param .u64 out)
{
  .reg .b32 %r<4>;
  .reg .b64 %rd<5>;
  ld.param.u64 %rd1, [out];
  mov.u32 %r1, %tid.x;
  mul.lo.u32 %r2, %r1, 7;
  add.u32 %r2, %r2, 3;
  cvta.to.global.u64 %rd2, %rd1;
  mul.wide.u32 %rd3, %r1, 4;
  add.u64 %rd4, %rd2, %rd3;
  st.global.u32 [%rd4], %r2;
  ret;
}
PTX
}

no_sessions() {   # every session's worker has ended (the node lists it until it reaps it)
    local r
    r=$(http GET /api/v1/sessions)
    [ "${r%% *}" = 200 ] && [ "$(echo "${r#* }" | jq '.sessions | length')" = 0 ]
}
run_as() {   # run_as TOKEN: the program through the node, its kernel's result checked
    local out
    out=$(timeout "$T60" "$tfuse" run --connect "$sess" --vgpu "$1" -- "$prog" "$work/k.ptx" 2>&1)
    echo "$out" | grep -qx 'value 38' || fail "the program through the node said: $out"
    # The optimised compile goes to the disk when the worker exits, after the program did (a
    # quick tier ran the kernel): look at the folders once it has.
    wait_until 60 no_sessions || fail "the session's worker did not end"
}
objects() { find "$1" -maxdepth 1 -name '*.o' -printf '%f %i %T@\n' 2>/dev/null | sort; }
scope_dirs() { find "$jit/scopes" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort; }

case_jitscope() {
    jit=$work/jit
    write_ptx "$work/k.ptx"
    SOFTGPU_JIT_CACHE=$jit SOFTGPU_EXEC=jit SOFTGPU_JIT_CACHE_MB=1 SOFTGPU_JIT_SCOPES=2 \
        start_node --warm 1
    local ta tb tc dirs da db a1 a2 b1
    ta=$(token_of ta)
    tb=$(token_of tb)
    run_as "$ta"
    wait_until 10 eval '[ -n "$(scope_dirs)" ]' || fail "no scope folder under $jit/scopes"
    da=$(scope_dirs)
    [ "$(echo "$da" | wc -l)" = 1 ] || fail "one tenant made several folders: $da"
    [ -z "$(objects "$jit")" ] || fail "a tenant's kernel went into the user's folder"
    a1=$(objects "$da")
    [ -n "$a1" ] || fail "tenant a compiled nothing into $da"
    [ "$(stat -c %a "$da")" = 700 ] || fail "$da is not 0700"
    touch -d '2001-01-01' "$da"/*.o   # a read (a hit) makes a file recent again
    a1=$(objects "$da")

    run_as "$tb"   # the same PTX: another tenant compiles its own
    dirs=$(scope_dirs)
    [ "$(echo "$dirs" | wc -l)" = 2 ] || fail "expected two scope folders: $dirs"
    db=$(echo "$dirs" | grep -vx "$da")
    b1=$(objects "$db")
    [ "$(echo "$b1" | cut -d' ' -f1)" = "$(echo "$a1" | cut -d' ' -f1)" ] ||
        fail "tenant b's kernels are not the same keys as a's: '$b1' vs '$a1'"
    [ "$(objects "$da")" = "$a1" ] || fail "tenant b read or changed tenant a's files"
    echo "two tenants, one PTX: two folders, the same key in each, b never read a's"

    run_as "$ta"   # a's second process: its own file read (same inode, now recent)
    a2=$(objects "$da")
    [ "$(echo "$a2" | cut -d' ' -f1,2)" = "$(echo "$a1" | cut -d' ' -f1,2)" ] ||
        fail "a's second process wrote its kernel again: '$a2' vs '$a1'"
    [ "$a2" != "$a1" ] || fail "a's second process did not read its cached kernel"
    echo "tenant a's second process hit its own cache"

    # The bound is a folder's: junk of 1.2 MiB in b's folder goes, a's and the user's stay.
    head -c $((600 << 10)) /dev/zero >"$db/$(printf '%064d' 1).o"
    head -c $((600 << 10)) /dev/zero >"$db/$(printf '%064d' 2).o"
    head -c $((900 << 10)) /dev/zero >"$jit/$(printf '%064d' 3).o"
    touch -d '2001-01-01' "$db/$(printf '%064d' 1).o" "$jit"/0*.o   # the oldest goes first
    touch -d '2002-01-01' "$db/$(printf '%064d' 2).o"
    rm -f "$(echo "$b1" | head -1 | cut -d' ' -f1 | sed "s|^|$db/|")"
    run_as "$tb"   # compiles again (its file removed), writes, evicts in its own folder
    [ ! -e "$db/$(printf '%064d' 1).o" ] || fail "b's folder went past its bound"
    [ -e "$jit/$(printf '%064d' 3).o" ] || fail "b's eviction removed a file of the user's"
    [ "$(objects "$da" | cut -d' ' -f1,2)" = "$(echo "$a1" | cut -d' ' -f1,2)" ] ||
        fail "b's eviction touched a's folder"
    echo "bounded per folder: b's junk evicted, a's and the user's files kept"

    # Two scope folders at most here: a third tenant's removes the least recently used (a's).
    touch -d '2003-01-01' "$da"
    touch -d '2004-01-01' "$db"
    tc=$(token_of tc)
    run_as "$tc"
    [ ! -e "$da" ] && [ -d "$db" ] && [ "$(scope_dirs | wc -l)" = 2 ] ||
        fail "a third tenant did not replace the oldest folder: $(scope_dirs)"
    echo "at most SOFTGPU_JIT_SCOPES folders: the third tenant's replaced the oldest"

    # A program run directly: the user's folder, as before.
    rm -f "$jit"/0*.o
    LD_LIBRARY_PATH=$build/lib/softgpu SOFTGPU_JIT_CACHE=$jit SOFTGPU_EXEC=jit \
        timeout "$T60" "$prog" "$work/k.ptx" | grep -qx 'value 38' || fail "the direct run failed"
    [ "$(objects "$jit" | cut -d' ' -f1)" = "$(echo "$a1" | cut -d' ' -f1)" ] ||
        fail "a direct run did not use the user's folder: $(objects "$jit")"
    echo "a direct run uses the user's folder"
}

case_switch() {
    local out=$work/bench
    mkdir -p "$out"
    TFUSE_BENCH_DIR=$out TFUSE_COLDSTART_PAIRS=1 TFUSE_COLDSTART_MODEL_MB=16 \
        TFUSE_COLDSTART_SWITCHES=1 timeout "$(scaled 240)" "$build/bin/bench_coldstart" \
        >"$work/bench.out" 2>&1 || { cat "$work/bench.out"; fail "bench_coldstart failed"; }
    cat "$work/bench.out"
    jq -e '.model_switch.ok == true and .model_switch.repetitions == 1 and
           .model_switch.switch_ms.median > 0 and .model_switch.scratch_ms.median > 0 and
           .model_switch.one_vgpu == true and .model_switch.switch_freeze_a_ms.median > 0 and
           .model_switch.vgpu_mib < 2 * .model_switch.model_mib' "$out/coldstart.json" \
        >/dev/null || fail "the JSON's model switch: $(jq -c .model_switch "$out/coldstart.json")"
}

"case_$case_name"
echo "PASS $case_name"
