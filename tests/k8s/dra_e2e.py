#!/usr/bin/python3
"""The DRA driver end to end on this machine (issue 17): a kubelet (python3-grpcio, dra_kubelet)
drives `tfuse-k8s dra-plugin`, which reads the claim from an API server stand-in
(test_k8s_api.FakeAPI: answers in the shape of the Kubernetes API reference; NOT a
kube-apiserver), creates a vGPU on a real `tfuse node --backend soft` and writes the claim's CDI
spec. The spec is then applied as a container runtime would: its env, and its mounts bound at
their container paths in a private mount namespace (unshare -m; without the privilege for it,
the mounts' host folders stand in), and CUDA programs run inside the vGPU's memory limit:
tests/cuda's meminfo and tests/isolation's vram_view. Unprepare, after a plugin restart and the
claim's deletion, deletes the vGPU and the spec.

usage: dra_e2e.py BUILD_DIR TFUSE_K8S PYPROTO_DIR   (exit 77: the CUDA programs are not built)
"""
import json
import os
import shlex
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dra_kubelet  # noqa: E402
from dra_kubelet import wait_for  # noqa: E402
import test_k8s_api as api  # noqa: E402

MiB = 1 << 20
VRAM = 256 * MiB
fails = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)
    return cond


class DraPlugin:
    def __init__(self, e, binary):
        self.e, self.binary = e, binary
        self.plugin_dir = os.path.join(e.dir, "plugins", api.DRIVER)
        self.registry = os.path.join(e.dir, "plugins_registry")
        os.makedirs(os.path.dirname(self.plugin_dir), exist_ok=True)
        os.makedirs(self.registry, exist_ok=True)
        self.sock = os.path.join(self.plugin_dir, "dra.sock")
        self.reg_sock = os.path.join(self.registry, api.DRIVER + "-reg.sock")
        self.log = os.path.join(e.dir, "dra-plugin.log")

    def start(self):
        e = self.e
        cmd = [self.binary, "dra-plugin", "--kube-api",
               "http://127.0.0.1:%d" % e.api.server_address[1], "--kube-token-file", e.token,
               "--kube-ca-file", "", "--node-name", api.NODE, "--node-api",
               "unix:" + e.api_sock, "--cdi-dir", e.cdi, "--stub-dir",
               os.path.join(e.build, "lib", "tfuse"), "--plugin-dir", self.plugin_dir,
               "--registry-dir", self.registry]
        self.p = subprocess.Popen(cmd, stdout=open(self.log, "a"), stderr=subprocess.STDOUT)
        return wait_for(lambda: os.path.exists(self.reg_sock) or self.p.poll() is not None)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        return self.p.wait(timeout=60)


def sanitizer_env(spec):
    """Under TFUSE_SANITIZE our libcuda.so.1 is instrumented and the nvcc program is not: the
    sanitizer runtimes go first (as tests/cuda/run-cuda-test does); not a runtime's doing."""
    libs = [m["hostPath"] for m in spec["devices"][0]["containerEdits"].get("mounts", [])
            if m["hostPath"].endswith("libcuda.so.1")]
    if not libs:
        return []
    out = subprocess.run(["ldd", libs[0]], capture_output=True, text=True).stdout
    san = [ln.split("=>")[1].split()[0] for ln in out.splitlines()
           if ("libasan.so" in ln or "libubsan.so" in ln) and "=>" in ln]
    return ["LD_PRELOAD=" + ":".join(san), "ASAN_OPTIONS=detect_leaks=0"] if san else []


def runtime_script(spec, argv):
    """A shell script doing what a runtime does with a CDI device's edits on the host's root:
    each mount bound at its container path (a missing path is made on a tmpfs laid over its
    nearest existing folder, inside this mount namespace only), then the program with the
    spec's env."""
    edits = spec["devices"][0]["containerEdits"]
    lines = ["set -e", "mount --make-rprivate /"]
    covered = set()
    for m in edits.get("mounts", []):
        host, cont = m["hostPath"], m["containerPath"]
        if host == cont:
            continue
        anc = os.path.dirname(cont)
        while not os.path.exists(anc):
            anc = os.path.dirname(anc)
        if not os.path.exists(cont) and anc not in covered:
            lines.append("mount -t tmpfs tmpfs %s" % shlex.quote(anc))
            covered.add(anc)
        lines.append("mkdir -p %s" % shlex.quote(os.path.dirname(cont)))
        lines.append("[ -e {0} ] || touch {0}".format(shlex.quote(cont)))
        lines.append("mount --bind %s %s" % (shlex.quote(host), shlex.quote(cont)))
        if "ro" in m.get("options", []):
            lines.append("mount -o remount,bind,ro %s" % shlex.quote(cont))
    env = ["PATH=/usr/bin:/bin"] + edits.get("env", []) + sanitizer_env(spec)
    lines.append("exec env -i %s %s" % (" ".join(shlex.quote(x) for x in env),
                                         " ".join(shlex.quote(a) for a in argv)))
    return "\n".join(lines)


def run_in_container(spec, argv):
    r = subprocess.run(["unshare", "-m", "sh", "-c", runtime_script(spec, argv)],
                       capture_output=True, text=True, timeout=180)
    if r.returncode != 0 and "unshare" in r.stderr and "ermission" in r.stderr:
        print("note: no mount namespace here; the mounts' host folders stand in")
        edits = spec["devices"][0]["containerEdits"]
        env = dict(kv.split("=", 1) for kv in edits.get("env", []))
        env["PATH"] = "/usr/bin:/bin"
        libdirs = {os.path.dirname(m["hostPath"]) for m in edits.get("mounts", [])
                   if m["hostPath"].endswith(".so.1")}
        env["LD_LIBRARY_PATH"] = ":".join(sorted(libdirs))
        env.update(kv.split("=", 1) for kv in sanitizer_env(spec))
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180)
    return r


def prepare_and_run(e, k, pl, progs, uid):
    api.claim(e, "c1", uid, [api.result(e, consumed={"memory": "256Mi", "compute": "50"})])
    r = k.prepare(pl.sock, [("team-a", "c1", uid)])
    a = r.claims[uid]
    if not check(a.error == "" and len(a.devices) == 1, "NodePrepareResources: %s" % a):
        return None
    d = a.devices[0]
    cdi_id = "%s/vgpu=%s-0" % (api.DRIVER, uid)
    check(list(d.cdi_device_ids) == [cdi_id] and d.pool_name == api.NODE and
          d.device_name == e.dev["uuid"].lower() and d.share_id == api.SHARE_ID,
          "the kubelet gets the CDI id, pool, device and share id")
    st, v = api.node_get(e.api_sock, "/api/v1/vgpus/k8s-%s-0" % uid)
    check(st == 200 and v["vram_bytes"] == VRAM, "a 256 MiB vGPU on the softgpu node")
    spec = api.cdi_check(e, uid)
    for prog, want in ((progs[0], "meminfo: OK"), (progs[1], "over limit: out of memory")):
        p = run_in_container(spec, [prog])
        check(p.returncode == 0 and want in p.stdout,
              "%s in the claim's container: %s" % (os.path.basename(prog),
                                                    (p.stdout + p.stderr).strip()[-300:]))
        if "total" in p.stdout:
            check("total %d" % VRAM in p.stdout, "it sees the vGPU's 256 MiB as the total")
    r2 = k.prepare(pl.sock, [("team-a", "c1", uid)], "v1beta1")
    _, all_v = api.node_get(e.api_sock, "/api/v1/vgpus")
    check(list(r2.claims[uid].devices[0].cdi_device_ids) == [cdi_id] and
          len(all_v["vgpus"]) == 1, "a repeated prepare (v1beta1) answers the same, no new vGPU")
    return v


def main():
    build, tfuse_k8s, pyproto = sys.argv[1], sys.argv[2], sys.argv[3]
    progs = [os.path.join(build, "tests", "cuda", "meminfo"),
             os.path.join(build, "tests", "isolation", "vram_view")]
    if not all(os.path.exists(p) for p in progs):
        print("SKIPPED: the CUDA programs (nvcc) are not built: %s" % progs)
        return 77
    k = dra_kubelet.Kubelet(pyproto)
    e = api.Env(build, None)
    pl = DraPlugin(e, tfuse_k8s)
    try:
        if not check(pl.start() and pl.p.poll() is None, "dra-plugin serves registration"):
            return 1
        info = k.get_info(pl.reg_sock)
        check(info.endpoint == pl.sock and info.name == api.DRIVER, "GetInfo names dra.sock")
        k.notify(pl.reg_sock, True)
        os.unlink(pl.reg_sock)  # a kubelet cleaning its registry folder
        check(wait_for(lambda: os.path.exists(pl.reg_sock)) and
              k.get_info(pl.reg_sock).endpoint == pl.sock,
              "a removed registration socket is served again")
        k.notify(pl.reg_sock, True)
        check(wait_for(lambda: [o for p, o in list(e.api.objs.items())
                                if "/resourceslices/" in p]),
              "the node's ResourceSlices published at start")
        uid = "9e4c1b2a-7d3f-4a6b-8c9d-0e1f2a3b4c5d"
        v = prepare_and_run(e, k, pl, progs, uid)
        n_get = len(e.api.log)
        pl.p.send_signal(signal.SIGHUP)
        check(wait_for(lambda: any("resourceslices" in x[1] for x in e.api.log[n_get:])),
              "SIGHUP syncs the slices again")
        check(pl.stop() == 0 and not os.path.exists(pl.reg_sock), "dra-plugin stops cleanly")
        del e.api.objs[api.CLAIMS + "c1"]  # the claim is gone; the checkpoint is not
        check(pl.start() and pl.p.poll() is None, "dra-plugin restarts")
        r = k.unprepare(pl.sock, [("team-a", "c1", uid)])
        st, _ = api.node_get(e.api_sock, "/api/v1/vgpus/k8s-%s-0" % uid)
        check(r.claims[uid].error == "" and st == 404 and not os.listdir(e.cdi),
              "unprepare after a restart and the claim's deletion deletes the vGPU and spec")
        with open(os.path.join(pl.plugin_dir, "checkpoint.json")) as f:
            check(json.load(f)["claims"] == [], "the checkpoint is empty again")
        check(v is not None and pl.stop() == 0, "dra-plugin stops")
    finally:
        if pl.p.poll() is None:
            pl.p.kill()
        e.close()
        if fails or api.FAILS:
            print(open(pl.log).read()[-3000:])
    print("%d failed" % (len(fails) + len(api.FAILS)))
    return 1 if fails or api.FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
