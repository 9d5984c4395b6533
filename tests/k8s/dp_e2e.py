#!/usr/bin/python3
"""The device-plugin path's last step end to end: the kubelet's Allocate on the real
`tfuse-k8s device-plugin` (K4's k8s_dp_allocate inside), a CUDA program run with what it
answered, inside the vGPU's memory limit.

Real: `tfuse node --backend soft` (one device; the vGPU of 64 MiB is made through its API, as
the pool does for the extender's bind), `tfuse-k8s device-plugin`, our libcuda.so.1 and
tests/isolation's prog_iso. Stand-ins: the kubelet (dp_kubelet.py's python3-grpcio
Registration server and DevicePlugin client) and the API server (k4_fake_apiserver.py, in the
shape of the API reference: it is not one), holding the pod and its token Secret as the
extender's bind leaves them.

Checked: Register and the node's shares; Allocate for the pod's container answers
TFUSE_CONNECT (the session address), TFUSE_TOKEN (the vGPU's token, from the Secret: never
from the pod) and the stub's libraries mounted read-only with LD_LIBRARY_PATH naming them;
prog_iso run with that env and the mount's host folder sees a 64 MiB device and is refused
96 MiB; a second Allocate of the same shape is refused (the pod's one container was served),
with the allocator's reason reaching the kubelet.

Usage: dp_e2e.py BUILD_DIR PB_DIR   (BUILD_DIR/bin/tfuse-k8s, bin/tfuse, lib/tfuse and
       prog_iso, built from tests/isolation/prog_iso.c; PB_DIR: deviceplugin_v1beta1_pb2.py).
       Exit 77: prog_iso or the stub is not built.
"""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dp_kubelet as k  # noqa: E402  (the python kubelet, its checks and its node)

MiB = 1 << 20
NODE = "node-a"


def node_post(api, path, body):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(k.T(30))
    s.connect(api)
    data = json.dumps(body).encode()
    s.sendall(b"POST %s HTTP/1.0\r\nHost: node\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % (path.encode(), len(data)) + data)
    raw = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        raw += chunk
    s.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload or b"null")


def api_post(base, path, obj):
    req = urllib.request.Request(base + path, data=json.dumps(obj).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=k.T(30)) as r:
        return r.status


def seed_bound_pod(base, token, sess):
    """The pod and Secret as the extender's bind leaves them (src/k8s/ext_bind.c)."""
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    api_post(base, "/api/v1/namespaces/team-a/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tfuse-vgpu-p1"},
        "data": {"tokens": b64(token), "connect": b64("unix:" + sess)}})
    api_post(base, "/api/v1/namespaces/team-a/pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "trainer", "labels": {"tensorfuse.io/vgpu": "true"},
                     "annotations": {"tensorfuse.io/allocation": "alloc-1",
                                     "tensorfuse.io/node": NODE,
                                     "tensorfuse.io/vgpu-ids": "dp-e2e-0",
                                     "tensorfuse.io/secret": "tfuse-vgpu-p1",
                                     "tensorfuse.io/bind-time": "%.6f" % time.time()}},
        "spec": {"nodeName": NODE, "schedulerName": "tfuse-scheduler",
                 "containers": [{"name": "main", "image": "trainer:1",
                                 "resources": {"limits": {"tensorfuse.io/vgpu": "1"}}}]}})


def run_in_container(build, resp, *args):
    """prog_iso with the Allocate answer applied as a runtime would: its env, and each mount's
    host folder on LD_LIBRARY_PATH in place of the container folder it would appear at."""
    env = dict(os.environ)
    env.update(dict(resp.envs))
    dirs = {os.path.dirname(m.container_path): os.path.dirname(m.host_path) for m in resp.mounts}
    env["LD_LIBRARY_PATH"] = ":".join(dirs.get(d, d) for d in env["LD_LIBRARY_PATH"].split(":"))
    prog = os.path.join(build, "tests", "isolation", "prog_iso")
    return subprocess.run([prog] + list(args), env=env, capture_output=True, text=True,
                          timeout=k.T(120))


def allocate_and_run(build, p, uuid, token, sess, api):
    resp = p.allocate(k.alloc_req(["%s::1" % uuid]), timeout=k.T(60)).container_responses[0]
    env = dict(resp.envs)
    k.check(env.get("TFUSE_CONNECT") == "unix:" + sess, "TFUSE_CONNECT: %s" % env)
    k.check(env.get("TFUSE_TOKEN") == token, "TFUSE_TOKEN is the vGPU's token")
    stub = os.path.join(build, "lib", "tfuse")
    mounts = {m.container_path: (m.host_path, m.read_only) for m in resp.mounts}
    lib = [c for c in mounts if c.endswith("/libcuda.so.1")]
    k.check(lib and mounts[lib[0]] == (os.path.join(stub, "libcuda.so.1"), True) and
            env.get("LD_LIBRARY_PATH", "").split(":")[0] == os.path.dirname(lib[0]),
            "our libcuda.so.1 mounted read-only, first on LD_LIBRARY_PATH: %s %s" %
            (mounts, env.get("LD_LIBRARY_PATH")))
    r = run_in_container(build, resp, "meminfo")
    k.check(r.returncode == 0 and ("total %d" % (64 * MiB)) in r.stdout,
            "the container's program sees its 64 MiB vGPU: %r %r" % (r.stdout, r.stderr[-300:]))
    # the first program's worker gives its context back a moment after the program ends
    k.wait_for(lambda: k.node_get(api, "/api/v1/vgpus/dp-e2e-0")[1]["used_bytes"] == 0, 30)
    r = run_in_container(build, resp, "overlimit", str(96 * MiB))
    k.check(r.returncode == 0 and "other work ok" in r.stdout,
            "96 MiB refused inside the vGPU, other work goes on: %r %r" %
            (r.stdout, r.stderr[-300:]))
    code, msg = k.code_of(p.allocate, k.alloc_req(["%s::0" % uuid]))
    k.check(code == grpc.StatusCode.FAILED_PRECONDITION and "no pending pod" in msg,
            "a second Allocate finds no pod owed a container: %s %s" % (code, msg))


def run(build, work):
    node = k.Node(os.path.join(build, "bin", "tfuse"), work)
    dpdir = os.path.join(work, "device-plugins")
    state = os.path.join(work, "state")
    os.mkdir(dpdir, 0o700)
    os.mkdir(state, 0o700)
    procs, kubelet, p = [], None, None
    try:
        uuid = node.start(1)[0]
        st, v = node_post(node.api, "/api/v1/vgpus", {"id": "dp-e2e-0", "vram_bytes": 64 * MiB})
        if not k.check(st == 201 and v.get("token"), "vGPU made: %s %s" % (st, v)):
            return
        portfile = os.path.join(work, "api.port")
        procs.append(subprocess.Popen([sys.executable, os.path.join(HERE, "k4_fake_apiserver.py"),
                                       portfile]))
        k.check(k.wait_for(lambda: os.path.exists(portfile), 30), "the API stand-in listens")
        base = "http://127.0.0.1:" + open(portfile).read().strip()
        seed_bound_pod(base, v["token"], node.sess)
        kubelet = k.Kubelet(dpdir)
        log = open(os.path.join(work, "plugin.log"), "ab")
        procs.append(subprocess.Popen(
            [os.path.join(build, "bin", "tfuse-k8s"), "device-plugin", "--device-plugin-dir",
             dpdir, "--node-name", NODE, "--node-api", "unix:" + node.api, "--kube-api", base,
             "--kube-token-file", os.path.join(work, "no-token"), "--plugin-dir", state,
             "--stub-dir", os.path.join(build, "lib", "tfuse"), "--shares-per-gpu", "2"],
            stdout=log, stderr=subprocess.STDOUT))
        req = kubelet.next_request(60)
        if not k.check(req is not None and req.resource_name == k.RESOURCE, "registered"):
            return
        p = k.Plugin(os.path.join(dpdir, k.ENDPOINT))
        w = k.Watch(p)
        k.check(w.next() == [("%s::%d" % (uuid, i), "Healthy") for i in range(2)],
                "two Healthy shares of the node's GPU")
        w.cancel()
        allocate_and_run(build, p, uuid, v["token"], node.sess, node.api)
        procs[-1].send_signal(signal.SIGTERM)
        k.check(procs[-1].wait(k.T(30)) == 0, "the plugin stops on SIGTERM")
    finally:
        if p:
            p.close()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        if kubelet:
            kubelet.stop()
        node.stop()


def main():
    build, pbdir = os.path.abspath(sys.argv[1]), sys.argv[2]
    for need in (("tests", "isolation", "prog_iso"), ("lib", "tfuse", "libcuda.so.1")):
        if not os.path.exists(os.path.join(build, *need)):
            print("skip: %s is not built" % os.path.join(*need))
            sys.exit(77)
    sys.path.insert(0, pbdir)
    import deviceplugin_v1beta1_pb2
    k.pb = deviceplugin_v1beta1_pb2
    work = tempfile.mkdtemp(prefix="k8s-dp-e2e-")
    try:
        run(build, work)
    finally:
        if k.failures:
            for name in ("plugin.log", "node.log"):
                path = os.path.join(work, name)
                if os.path.exists(path):
                    print("--- %s (last 40 lines)" % name, file=sys.stderr)
                    with open(path, errors="replace") as f:
                        sys.stderr.write("".join(f.readlines()[-40:]))
        shutil.rmtree(work, ignore_errors=True)
    if k.failures:
        print("dp_e2e: %d failure(s)" % k.failures, file=sys.stderr)
        sys.exit(1)
    print("dp_e2e: ok")


if __name__ == "__main__":
    main()
