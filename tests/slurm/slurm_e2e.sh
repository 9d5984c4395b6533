#!/usr/bin/env bash
# The Slurm plugin end to end (issue 18, docs/slurm.md): a private Slurm on this machine
# (munged with a key of its own, slurmctld and slurmd in the foreground on free ports, config,
# state and spool in a scratch folder) beside a real softgpu `tfuse node`; jobs run prog_iso
# through tfuse_spank.so. Checks: a step's vGPU size and compute, and its limit held; two jobs
# on one device at once, each within its slice; GRES placement (pending, refused) and sizing; a
# request the node cannot hold fails with the plugin's message; a cancelled job's vGPU is gone;
# #SBATCH --tfuse-vram, and an srun inside the batch job joining its slice; tfuse ps and the
# metrics name the job; a node without `tfuse node`, or a bad plugstack.conf line, fails the
# step at once. Everything started here is stopped on every exit path. Skipped (77) when
# Slurm's programs are not installed.
#
#   slurm_e2e.sh BUILD_DIR SOURCE_DIR
set -u
build=$1 src=$2
tfuse=$build/bin/tfuse
prog=$build/tests/isolation/prog_iso
plugin=$build/lib/slurm/tfuse_spank.so
for p in slurmctld slurmd srun sbatch squeue scancel scontrol munged; do
    command -v "$p" >/dev/null || { echo "SKIP: $p is not installed (Slurm, munge)"; exit 77; }
done
[ -f "$plugin" ] || { echo "SKIP: $plugin was not built (no slurm/spank.h)"; exit 77; }
export PATH=$PATH:/usr/sbin
. "$src/tests/lib/node-harness.sh" slurm-e2e
chmod 755 "$work"   # munged wants its socket's folders searchable by all
slurm_pids=()
cleanup_slurm() {
    if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ] && [ ${#slurm_pids[@]} -gt 0 ]; then
        timeout 10 scancel --quiet --full $(squeue -h -o %i 2>/dev/null) 2>/dev/null
        wait_until 30 no_jobs
    fi
    for ((i = ${#slurm_pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${slurm_pids[i]}" 2>/dev/null
        for _ in $(seq 50); do kill -0 "${slurm_pids[i]}" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "${slurm_pids[i]}" 2>/dev/null
    done
    cleanup
}
trap cleanup_slurm EXIT
fail() {
    echo "FAIL: $*" >&2
    for f in node.log slurm/ctld.log slurm/slurmd.log; do
        echo "--- $f" >&2
        tail -${TFUSE_E2E_LOG_LINES:-25} "$work/$f" >&2
    done
    exit 1
}
no_jobs() { [ -z "$(squeue -h -o %i 2>/dev/null)" ]; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# ---- the node, and the GRES lines `tfuse slurm gres` generates from it ----
SOFTGPU_MEMORY=1GiB start_node
gres=$("$tfuse" slurm gres --node "$api" --name tfnode) || fail "tfuse slurm gres: $gres"
echo "$gres" | grep -qx 'NodeName=tfnode Name=tfuse_mem Count=1024' || fail "gres.conf: $gres"
echo "$gres" | grep -qx 'NodeName=tfnode Name=tfuse_compute Count=100' || fail "gres: $gres"
node_gres=$(echo "$gres" | sed -n 's/^NodeName=tfnode Gres=//p')
[ "$node_gres" = tfuse_mem:1024,tfuse_compute:100 ] || fail "slurm.conf Gres: $gres"

# ---- a private Slurm ----
s=$work/slurm
mkdir -p "$s/state" "$s/spool" "$s/munge"
chmod 700 "$s/munge"
head -c 1024 /dev/urandom >"$s/munge/munge.key"
chmod 600 "$s/munge/munge.key"
munged -F -f --key-file="$s/munge/munge.key" --socket="$s/munge/sock" \
    --pid-file="$s/munge/pid" --log-file="$s/munge/log" --seed-file="$s/munge/seed" \
    >/dev/null 2>&1 &
slurm_pids+=($!)
wait_until 10 test -S "$s/munge/sock" || fail "munged did not start: $(cat "$s/munge/log")"
user=$(id -un)
ctld_port=$(free_port) slurmd_port=$(free_port)
cat >"$s/slurm.conf" <<EOF
ClusterName=tfusee2e
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
AuthInfo=socket=$s/munge/sock
CredType=cred/munge
StateSaveLocation=$s/state
SlurmdSpoolDir=$s/spool
SlurmctldPidFile=$s/ctld.pid
SlurmdPidFile=$s/slurmd.pid
SlurmctldLogFile=$s/ctld.log
SlurmdLogFile=$s/slurmd.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
KillWait=5
PlugStackConfig=$s/plugstack.conf
GresTypes=tfuse_mem,tfuse_compute
NodeName=tfnode NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=4 RealMemory=4000 State=UNKNOWN \
  Gres=$node_gres
PartitionName=debug Nodes=tfnode Default=YES MaxTime=10 State=UP
EOF
echo "$gres" | grep '^NodeName=tfnode Name=' >"$s/gres.conf"
echo "required $plugin api=$api stub_dir=$build/lib/tfuse lease=6" >"$s/plugstack.conf"
export SLURM_CONF=$s/slurm.conf
slurmctld -D -i -f "$SLURM_CONF" >/dev/null 2>&1 &
slurm_pids+=($!)
slurmd -D -N tfnode -f "$SLURM_CONF" >/dev/null 2>&1 &
slurm_pids+=($!)
node_idle() { sinfo -h -n tfnode -o %t 2>/dev/null | grep -qx idle; }
wait_until 60 node_idle || fail "the Slurm node did not come up: $(sinfo 2>&1)"
echo "private Slurm up: slurmctld :$ctld_port, slurmd :$slurmd_port"

vgpus() { http GET /api/v1/vgpus | cut -d' ' -f2-; }
job_vgpu() {   # job_vgpu JOB FIELD: FIELD of the vGPU of JOB (its first step's)
    vgpus | jq -r --arg j "$1" "[.vgpus[] | select(.slurm_job == \$j)][0].$2"
}
has_vgpu() { [ "$(job_vgpu "$1" id)" != null ]; }
no_vgpu() { [ "$(job_vgpu "$1" id)" = null ]; }
slurm_vgpus() { vgpus | jq '[.vgpus[] | select(.slurm_job != null)] | length'; }
out_has() { grep -q "$2" "$1" 2>/dev/null; }
submit() {   # submit ARGS... -> job id
    sbatch --parsable -o "$work/%j.out" "$@" | cut -d';' -f1
}
MB256=268435456

# ---- 1. srun --tfuse-vram=256M --tfuse-compute=30%: a 256 MiB device, held to it ----
out=$(timeout 120 srun --tfuse-vram=256M --tfuse-compute=30% "$prog" meminfo 2>&1) ||
    fail "srun meminfo: $out"
echo "$out" | grep -q "total $MB256 " || fail "the step does not see 256 MiB: $out"
out=$(timeout 120 srun --tfuse-vram=256M "$prog" overlimit 300000000 2>&1) ||
    fail "over the limit was not refused: $out"
echo "$out" | grep -q "other work ok" || fail "overlimit: $out"
[ "$(slurm_vgpus)" = 0 ] || fail "a finished step left its vGPU: $(vgpus)"
out=$(TFUSE_VRAM=128M timeout 120 srun "$prog" meminfo 2>&1) || fail "TFUSE_VRAM: $out"
echo "$out" | grep -q "total $((128 << 20)) " || fail "TFUSE_VRAM=128M: $out"
slurm_var=SLURM_SPANK__SLURM_SPANK_OPTION_tfuse_tfuse_vram
out=$(env "$slurm_var=64M" timeout 120 srun "$prog" meminfo 2>&1) ||
    fail "Slurm's option variable: $out"
echo "$out" | grep -q "total $((64 << 20)) " || fail "Slurm's option variable, 64M: $out"
echo "ok 1: 256 MiB seen, an allocation past it refused, the vGPU deleted at the step's end;"
echo "      sized from TFUSE_VRAM and from Slurm's option variable"

# ---- 2. two jobs on one device at once, each within its slice; ps and metrics ----
held() { printf '#!/bin/bash\n"%s" meminfo\n"%s" overlimit 300000000\nexec "%s" hold %s\n' \
             "$prog" "$prog" "$prog" "$1"; }
held 100000000 >"$work/held.sh"
a=$(submit --tfuse-vram=256M --tfuse-compute=30% "$work/held.sh") || fail "sbatch a"
b=$(submit --tfuse-vram=256M --tfuse-compute=20% --tfuse-compute-limit=40% "$work/held.sh") ||
    fail "sbatch b"
wait_until 120 out_has "$work/$a.out" "held pid" || fail "job $a: $(cat "$work/$a.out")"
wait_until 120 out_has "$work/$b.out" "held pid" || fail "job $b: $(cat "$work/$b.out")"
for j in $a $b; do
    grep -q "total $MB256 " "$work/$j.out" || fail "job $j's view: $(cat "$work/$j.out")"
    grep -q "other work ok" "$work/$j.out" || fail "job $j's limit: $(cat "$work/$j.out")"
    [ "$(job_vgpu "$j" vram_bytes)" = $MB256 ] || fail "job $j's vGPU: $(vgpus)"
    [ "$(job_vgpu "$j" slurm_step)" = batch ] || fail "job $j's step: $(vgpus)"
    [ "$(job_vgpu "$j" used_bytes)" -ge 100000000 ] || fail "job $j holds nothing: $(vgpus)"
done
[ "$(job_vgpu "$a" device)" = "$(job_vgpu "$b" device)" ] || fail "two devices: $(vgpus)"
[ "$(job_vgpu "$a" compute_request_pct)" = 30 ] && [ "$(job_vgpu "$a" compute_limit_pct)" = 30 ] ||
    fail "job $a's compute: $(vgpus)"
[ "$(job_vgpu "$b" compute_request_pct)" = 20 ] && [ "$(job_vgpu "$b" compute_limit_pct)" = 40 ] ||
    fail "job $b's compute: $(vgpus)"
ps_out=$("$tfuse" ps --node "$api" 2>&1)
echo "$ps_out" | grep -q "SLURM" && echo "$ps_out" | grep -q " $a\.batch" ||
    fail "tfuse ps does not show job $a: $ps_out"
metrics=$(http GET /metrics)
labels="slurm_job=\"$b\",slurm_step=\"batch\""
echo "$metrics" | grep -q "tfuse_vgpu_memory_limit_bytes{.*$labels} $MB256" ||
    fail "metrics carry no job label: $(echo "$metrics" | grep memory_limit_bytes)"
echo "ok 2: jobs $a and $b share $(job_vgpu "$a" device), 256 MiB each, in tfuse ps and metrics"

# ---- 3. a cancelled job's vGPU is gone; the other job's stays ----
scancel "$a"
wait_until 60 no_vgpu "$a" || fail "cancelled job $a kept its vGPU: $(vgpus)"
has_vgpu "$b" || fail "job $b lost its vGPU when $a was cancelled"
scancel "$b"
wait_until 60 no_vgpu "$b" || fail "cancelled job $b kept its vGPU: $(vgpus)"
echo "ok 3: cancelled jobs' vGPUs deleted"

# ---- 4. GRES: sized from the allocation, pending while the node's books are full ----
out=$(timeout 120 srun --gres=tfuse_mem:256,tfuse_compute:30 "$prog" meminfo 2>&1) ||
    fail "srun --gres: $out"
echo "$out" | grep -q "total $MB256 " || fail "GRES-sized step: $out"
held 1000000 >"$work/small.sh"
c=$(submit --gres=tfuse_mem:768,tfuse_compute:50 "$work/small.sh") || fail "sbatch c"
wait_until 120 out_has "$work/$c.out" "held pid" || fail "job $c: $(cat "$work/$c.out")"
[ "$(job_vgpu "$c" vram_bytes)" = $((768 << 20)) ] &&
    [ "$(job_vgpu "$c" compute_request_pct)" = 50 ] ||
    fail "job $c's GRES slice: $(vgpus)"
d=$(submit --gres=tfuse_mem:512 "$work/small.sh") || fail "sbatch d"
pending() { [ "$(squeue -h -j "$1" -o '%T %r')" = "PENDING Resources" ]; }
wait_until 30 pending "$d" ||
    fail "job $d asking more than is left is '$(squeue -h -j "$d" -o '%T %r')'"
sleep 2   # a scheduler pass or two later it still waits
pending "$d" || fail "job $d: '$(squeue -h -j "$d" -o '%T %r')' beside $c"
no_vgpu "$d" || fail "pending job $d has a vGPU"
scancel "$c"
wait_until 120 out_has "$work/$d.out" "held pid" || fail "job $d did not start after $c ended"
[ "$(job_vgpu "$d" vram_bytes)" = $((512 << 20)) ] || fail "job $d's slice: $(vgpus)"
scancel "$d"
wait_until 60 no_vgpu "$d" || fail "job $d kept its vGPU"
out=$(timeout 60 srun --gres=tfuse_mem:4096 true 2>&1) && fail "4 GiB of a 1 GiB node ran"
echo "$out" | grep -qi "not available\|unavailable" || fail "no placement error: $out"
echo "ok 4: GRES sizes the slice; $d pended behind $c; 4 GiB refused at submission ($out)"

# ---- 5. more than the node has, without GRES: the plugin's message, at once ----
out=$(timeout 120 srun --tfuse-vram=4G "$prog" meminfo 2>&1) && fail "a 4 GiB vGPU ran: $out"
echo "$out" | grep -q "tfuse: step .* has no room for the slice" || fail "no clear message: $out"
out=$(timeout 120 srun --gres=tfuse_mem:256 --tfuse-vram=512M "$prog" meminfo 2>&1) &&
    fail "512M inside a 256 MiB GRES ran: $out"
echo "$out" | grep -q "asks more than the 256 MiB of tfuse_mem" || fail "no clear message: $out"
out=$(timeout 120 srun --tfuse-gpus=2 --tfuse-vram=64M "$prog" meminfo 2>&1) &&
    fail "two vGPUs on a node of one device: $out"
echo "$out" | grep -q "2 vGPUs asked: the node has 1 device" || fail "no clear message: $out"
out=$(timeout 60 srun --tfuse-vram=lots true 2>&1) && fail "--tfuse-vram=lots ran"
echo "$out" | grep -q "tfuse-vram=lots" || fail "bad option message: $out"
[ "$(slurm_vgpus)" = 0 ] || fail "a refused step left a vGPU: $(vgpus)"
echo "ok 5: refused with the plugin's messages"

# ---- 6. sbatch with #SBATCH --tfuse-vram; an srun inside joins the job's slice ----
cat >"$work/batch.sh" <<EOF
#!/bin/bash
#SBATCH --tfuse-vram=256M
"$prog" meminfo
echo "vgpus \$TFUSE_SLURM_VGPUS"
srun "$prog" meminfo
EOF
e=$(submit "$work/batch.sh") || fail "sbatch e"
job_done() { [ -z "$(squeue -h -j "$1" 2>/dev/null)" ]; }
wait_until 120 job_done "$e" || fail "batch job $e did not end"
[ "$(grep -c "total $MB256 " "$work/$e.out")" = 2 ] || fail "job $e: $(cat "$work/$e.out")"
grep -qx "vgpus slurm-$e.batch" "$work/$e.out" || fail "job $e's vGPU: $(cat "$work/$e.out")"
[ "$(slurm_vgpus)" = 0 ] || fail "batch job $e left a vGPU: $(vgpus)"
echo "ok 6: #SBATCH --tfuse-vram, and its srun step on the same slice"

# ---- 7. no tfuse node on the node: the step fails at once with the reason ----
echo "required $plugin api=unix:$work/none.sock stub_dir=$build/lib/tfuse" >"$s/plugstack.conf"
out=$(timeout 60 srun --tfuse-vram=256M "$prog" meminfo 2>&1) && fail "ran without a node"
echo "$out" | grep -q "cannot make the slice.*none.sock" || fail "no clear message: $out"
echo "ok 7: without a node: $(echo "$out" | grep -m1 tfuse:)"
# ---- 8. a bad plugstack.conf line: the steps fail with it, the node stays up ----
echo "required $plugin api=$api colour=red" >"$s/plugstack.conf"
out=$(timeout 60 srun "$prog" meminfo 2>&1) && fail "ran with a bad plugstack.conf: $out"
echo "$out" | grep -q "tfuse: plugstack.conf: unknown argument 'colour=red'" ||
    fail "no clear message: $out"
wait_until 30 node_idle || fail "the node is not idle after a bad plugstack.conf: $(sinfo 2>&1)"
echo "ok 8: a bad plugstack.conf line fails the step, not the node"
echo "PASS"
