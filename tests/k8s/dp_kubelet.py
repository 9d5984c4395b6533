#!/usr/bin/python3
"""The device plugin (`tfuse-k8s device-plugin`, src/k8s/devplugin.c) against a python kubelet.

The kubelet's side is played by another gRPC implementation (Debian's python3-grpcio) speaking
the messages of src/k8s/proto/deviceplugin_v1beta1.proto (our text of the kubelet's api.proto):
a Registration server on a temporary kubelet.sock, and a client of the plugin's socket that
calls it as the kubelet's device manager does. The GPUs come from a real `tfuse node --backend
soft` with two devices. Allocate goes to the test binary's double of k8s_dp_allocate
(tests/k8s/dp_test_plugin.c), which echoes the shares it was given.

Cases: registration; options; ListAndWatch lists 4 shares of each GPU; GetPreferredAllocation
spreads over GPUs and keeps must-include ids; Allocate carries env and mounts, refuses shares
that are not ours, repeated or unhealthy, and reports the allocator's refusal; malformed
requests; the node stopped (every share Unhealthy), back with one GPU (its shares only); the
kubelet restarted (folder emptied, kubelet.sock recreated, first Register refused): the plugin
serves again and registers again; SIGTERM ends it and removes its socket; bad flags exit 2;
the DaemonSet's (deploy/k8s-device-plugin) command, args and env start it.

Usage: dp_kubelet.py --plugin dp_test_plugin --tfuse tfuse --pb DIR (deviceplugin_v1beta1_pb2)
"""
import argparse
import http.client
import json
import os
import queue
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc

SCALE = float(os.environ.get("TFUSE_TEST_TIMEOUT_SCALE", "1") or "1")
SHARES = 4
RESOURCE = "tensorfuse.io/vgpu"
ENDPOINT = "tensorfuse-vgpu.sock"
failures = 0
pb = None


def T(seconds):
    return seconds * SCALE


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what, file=sys.stderr, flush=True)
    return cond


def wait_for(fn, timeout):
    end = time.monotonic() + T(timeout)
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    return fn()


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("node", timeout=T(10))
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(T(10))
        self.sock.connect(self.path)


def node_get(api, path):
    """(status, JSON) of GET path on the node's unix API; (0, None) when it does not answer."""
    try:
        c = UnixHTTP(api)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, json.loads(body) if body else None
    except OSError:
        return 0, None


class Node:
    """A real `tfuse node --backend soft` with its API on a unix socket."""

    def __init__(self, tfuse, work):
        self.tfuse, self.work = tfuse, work
        self.api = os.path.join(work, "api.sock")
        self.sess = os.path.join(work, "s.sock")
        self.proc = None
        self.ns = "k8sdp%d" % os.getpid()

    def start(self, devices):
        env = dict(os.environ, SOFTGPU_DEVICES=str(devices), SOFTGPU_MEMORY="256MiB",
                   SOFTGPU_NAMESPACE=self.ns)
        log = open(os.path.join(self.work, "node.log"), "ab")
        self.proc = subprocess.Popen([self.tfuse, "node", "--backend", "soft", "--listen",
                                      "unix:" + self.sess, "--api", "unix:" + self.api],
                                     stdout=log, stderr=subprocess.STDOUT, env=env)
        ok = wait_for(lambda: node_get(self.api, "/healthz")[0] == 200, 60)
        check(ok, "the node answers /healthz")
        status, body = node_get(self.api, "/api/v1/devices")
        check(status == 200 and len(body["devices"]) == devices, "node devices: %s" % body)
        return [d["uuid"] for d in body["devices"]]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(T(30))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Kubelet:
    """The kubelet's Registration service on DIR/kubelet.sock; refuses the first `refuse`."""

    def __init__(self, folder, refuse=0):
        self.path = os.path.join(folder, "kubelet.sock")
        self.requests = queue.Queue()
        self.refuse = refuse
        handler = grpc.method_handlers_generic_handler("v1beta1.Registration", {
            "Register": grpc.unary_unary_rpc_method_handler(
                self.register, request_deserializer=pb.RegisterRequest.FromString,
                response_serializer=pb.Empty.SerializeToString)})
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((handler,))
        self.server.add_insecure_port("unix:" + self.path)
        self.server.start()

    def register(self, req, context):
        self.requests.put(req)
        if self.refuse > 0:
            self.refuse -= 1
            context.abort(grpc.StatusCode.UNAVAILABLE, "test kubelet: not ready yet")
        return pb.Empty()

    def next_request(self, timeout):
        try:
            return self.requests.get(timeout=T(timeout))
        except queue.Empty:
            return None

    def stop(self):
        self.server.stop(0).wait()


class Plugin:
    """A client of the plugin's socket, calling it as the kubelet's device manager does."""

    def __init__(self, sock):
        self.ch = grpc.insecure_channel("unix:" + sock)
        self.options = self.method("GetDevicePluginOptions", pb.Empty, pb.DevicePluginOptions)
        self.watch_call = self.ch.unary_stream(
            "/v1beta1.DevicePlugin/ListAndWatch", request_serializer=pb.Empty.SerializeToString,
            response_deserializer=pb.ListAndWatchResponse.FromString)
        self.prefer = self.method("GetPreferredAllocation", pb.PreferredAllocationRequest,
                                  pb.PreferredAllocationResponse)
        self.allocate = self.method("Allocate", pb.AllocateRequest, pb.AllocateResponse)
        self.prestart = self.method("PreStartContainer", pb.PreStartContainerRequest,
                                    pb.PreStartContainerResponse)
        self.raw_allocate = self.ch.unary_unary("/v1beta1.DevicePlugin/Allocate")

    def method(self, name, req, resp):
        return self.ch.unary_unary("/v1beta1.DevicePlugin/" + name,
                                   request_serializer=req.SerializeToString,
                                   response_deserializer=resp.FromString)

    def close(self):
        self.ch.close()


class Watch:
    """One ListAndWatch stream read on a thread: lists in a queue, then None when it ends."""

    def __init__(self, plugin):
        self.call = plugin.watch_call(pb.Empty())
        self.q = queue.Queue()
        self.ended = threading.Event()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        try:
            for resp in self.call:
                self.q.put([(d.ID, d.health) for d in resp.devices])
        except grpc.RpcError:
            pass
        self.ended.set()
        self.q.put(None)

    def next(self, timeout=30):
        try:
            return self.q.get(timeout=T(timeout))
        except queue.Empty:
            return "timeout"

    def until(self, pred, timeout=30):
        """The first list that pred accepts; the last seen (or 'timeout') if none did."""
        end = time.monotonic() + T(timeout)
        last = "timeout"
        while time.monotonic() < end:
            got = self.next(max(0.1, (end - time.monotonic()) / SCALE))
            if got is None or got == "timeout":
                return last if got == "timeout" else None
            last = got
            if pred(got):
                return got
        return last

    def cancel(self):
        self.call.cancel()


def code_of(fn, *args):
    try:
        fn(*args, timeout=T(30))
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


def shares_of(uuids):
    return [("%s::%d" % (u, k)) for u in uuids for k in range(SHARES)]


def gpu(share):
    return share.rsplit("::", 1)[0]


def case_registration(kubelet, dpdir):
    req = kubelet.next_request(60)
    if not check(req is not None, "the plugin registers with the kubelet"):
        return False
    check(req.version == "v1beta1", "RegisterRequest.version %r" % req.version)
    check(req.endpoint == ENDPOINT, "RegisterRequest.endpoint %r" % req.endpoint)
    check(req.resource_name == RESOURCE, "RegisterRequest.resource_name %r" % req.resource_name)
    check(req.options.get_preferred_allocation_available and
          not req.options.pre_start_required, "RegisterRequest.options %s" % req.options)
    st = os.stat(os.path.join(dpdir, ENDPOINT))
    check(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077 == 0,
          "the plugin's socket is a socket only its owner can use: %o" % st.st_mode)
    return True


def case_options_and_list(p, uuids):
    code, _ = code_of(p.options, pb.Empty())
    check(code == grpc.StatusCode.OK, "GetDevicePluginOptions: %s" % code)
    o = p.options(pb.Empty(), timeout=T(30))
    check(o.get_preferred_allocation_available and not o.pre_start_required,
          "GetDevicePluginOptions says what Register said: %s" % o)
    w = Watch(p)
    first = w.next()
    want = [(s, "Healthy") for s in shares_of(uuids)]
    check(first == want, "ListAndWatch: %d shares of each GPU, Healthy: %s" % (SHARES, first))
    return w


def case_prefer(p, uuids):
    avail = shares_of(uuids)
    a, b = uuids

    def ask(avail, must, size):
        r = p.prefer(pb.PreferredAllocationRequest(container_requests=[
            pb.ContainerPreferredAllocationRequest(available_deviceIDs=avail,
                                                   must_include_deviceIDs=must,
                                                   allocation_size=size)]), timeout=T(30))
        check(len(r.container_responses) == 1, "one answer per container")
        return list(r.container_responses[0].deviceIDs)

    two = ask(avail, [], 2)
    check(len(two) == 2 and {gpu(x) for x in two} == {a, b}, "2 shares on 2 GPUs: %s" % two)
    kept = ask(avail, ["%s::3" % b], 3)
    check(len(kept) == 3 and kept[0] == "%s::3" % b and set(kept) <= set(avail) and
          len(set(kept)) == 3 and {gpu(x) for x in kept} == {a, b},
          "must-include first, both GPUs: %s" % kept)
    # three of a's shares taken already: one more goes to b, which has the most left
    left = ["%s::3" % a] + shares_of([b])
    one = ask(left, [], 1)
    check(len(one) == 1 and gpu(one[0]) == b, "the GPU with the most shares left: %s" % one)
    code, _ = code_of(p.prefer, pb.PreferredAllocationRequest(container_requests=[
        pb.ContainerPreferredAllocationRequest(available_deviceIDs=avail, allocation_size=-1)]))
    check(code == grpc.StatusCode.INVALID_ARGUMENT, "a negative size is refused: %s" % code)


def alloc_req(*containers):
    return pb.AllocateRequest(container_requests=[
        pb.ContainerAllocateRequest(devices_ids=list(c)) for c in containers])


def case_allocate(p, uuids, sess, refused):
    a, b = uuids
    r = p.allocate(alloc_req(["%s::1" % a], ["%s::0" % a, "%s::2" % b]), timeout=T(30))
    check(len(r.container_responses) == 2, "one response per container")
    c0, c1 = r.container_responses
    check(c0.envs["TFUSE_TEST_SHARES"] == "%s::1" % a and c0.envs["TFUSE_NODE"] == "unix:" + sess,
          "container 0's env: %s" % dict(c0.envs))
    check(c1.envs["TFUSE_TEST_SHARES"] == "%s::0,%s::2" % (a, b), "container 1's shares, in "
          "order: %s" % dict(c1.envs))
    check(len(c0.mounts) == 1 and c0.mounts[0].read_only and
          c0.mounts[0].host_path == "/opt/tensorfuse/lib/libcuda.so.1" and
          c0.mounts[0].container_path == "/usr/lib/tensorfuse/libcuda.so.1",
          "the allocation's mount: %s" % c0.mounts)
    bad = [(["GPU-not-here::0"], "a GPU the node does not list"),
           (["%s::%d" % (a, SHARES)], "a share beyond the shares per GPU"),
           (["%s::01" % a], "a second spelling of a share"),
           (["%s::1" % a, "%s::1" % a], "a share named twice"),
           ([], "no share at all")]
    for ids, what in bad:
        code, msg = code_of(p.allocate, alloc_req(ids))
        check(code == grpc.StatusCode.INVALID_ARGUMENT and msg, "%s: %s %s" % (what, code, msg))
    code, msg = code_of(p.allocate, alloc_req(["%s::0" % a], [refused]))
    check(code == grpc.StatusCode.FAILED_PRECONDITION and "no pod bound" in msg,
          "the allocator's refusal reaches the kubelet: %s %s" % (code, msg))
    code, _ = code_of(p.raw_allocate, b"\xff\xff\xff")
    check(code == grpc.StatusCode.INVALID_ARGUMENT, "a request that is no message: %s" % code)
    r = p.prestart(pb.PreStartContainerRequest(devices_ids=["%s::1" % a]), timeout=T(30))
    check(r is not None, "PreStartContainer answers")
    # the plugin still serves after all that
    code, _ = code_of(p.allocate, alloc_req(["%s::1" % b]))
    check(code == grpc.StatusCode.OK, "Allocate after refusals: %s" % code)


def case_node_changes(p, w, node, uuids):
    node.stop()
    down = w.until(lambda l: l and all(h == "Unhealthy" for _, h in l))
    check(down not in (None, "timeout") and [i for i, _ in down] == shares_of(uuids),
          "node stopped: the same shares, every one Unhealthy: %s" % (down,))
    code, msg = code_of(p.allocate, alloc_req(["%s::0" % uuids[0]]))
    check(code == grpc.StatusCode.FAILED_PRECONDITION and "unhealthy" in msg,
          "Allocate of an Unhealthy share: %s %s" % (code, msg))
    one = node.start(1)
    back = w.until(lambda l: l and all(h == "Healthy" for _, h in l))
    check(back == [(s, "Healthy") for s in shares_of(one)],
          "node back with one GPU: its shares only, Healthy: %s" % (back,))
    return one


def case_kubelet_restart(kubelet, dpdir, w, uuids):
    """The kubelet's device manager empties its folder when it starts, then serves a new
    kubelet.sock; a plugin must serve again and register again (the NVIDIA plugin does)."""
    kubelet.stop()
    for name in os.listdir(dpdir):
        os.unlink(os.path.join(dpdir, name))
    ended = w.ended.wait(T(30))
    check(ended, "the old ListAndWatch stream ends when the plugin serves anew")
    k2 = Kubelet(dpdir, refuse=1)
    first = k2.next_request(60)
    check(first is not None and first.resource_name == RESOURCE,
          "the plugin registers with the new kubelet")
    again = k2.next_request(60)
    check(again is not None and again.endpoint == ENDPOINT,
          "a refused Register is retried: %s" % again)
    sock = os.path.join(dpdir, ENDPOINT)
    check(wait_for(lambda: os.path.exists(sock), 30), "the plugin's socket is back")
    p2 = Plugin(sock)
    w2 = Watch(p2)
    check(w2.next() == [(s, "Healthy") for s in shares_of(uuids)],
          "ListAndWatch on the new socket")
    extra = k2.next_request(2)
    check(extra is None, "registered once the kubelet accepted: %s" % extra)
    return k2, p2, w2


def case_bad_flags(plugin_bin, work):
    base = [plugin_bin, "device-plugin", "--node-name", "n", "--node-api", "unix:/nonexistent",
            "--device-plugin-dir", work]
    for extra, what in [(["--shares-per-gpu", "0"], "zero shares"),
                        (["--shares-per-gpu", "65"], "more shares than vGPU slots"),
                        (["--shares-per-gpu", "2.5"], "a fraction of a share"),
                        (["--resource-name", "kubernetes.io/vgpu"], "a reserved domain"),
                        (["--resource-name", "vgpu"], "no domain"),
                        (["--socket", "a/b.sock"], "a path for a socket name"),
                        (["--poll-interval", "x"], "a poll interval that is no number"),
                        (["--bogus"], "an unknown option")]:
        r = subprocess.run(base + extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=T(30))
        check(r.returncode == 2 and r.stderr, "%s: exit %d, %r" % (what, r.returncode, r.stderr))


def case_manifest(plugin_bin, work):
    """The DaemonSet's command, args and plain env values start the plugin (flags that drift
    from the binary would stop it with exit 2): it serves its socket in a folder of ours."""
    import yaml
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    with open(os.path.join(src, "deploy", "k8s-device-plugin", "device-plugin.yaml")) as f:
        ds = yaml.safe_load(f)
    c = ds["spec"]["template"]["spec"]["containers"][0]
    env = dict(os.environ, NODE_NAME="node-a")
    env.update({e["name"]: e["value"] for e in c.get("env", []) if "value" in e})
    folder = os.path.join(work, "manifest")
    os.mkdir(folder, 0o700)
    check(c["command"][0].endswith("/tfuse-k8s") and c["command"][1] == "device-plugin",
          "the DaemonSet runs tfuse-k8s device-plugin: %s" % c["command"])
    argv = [plugin_bin] + c["command"][1:] + c.get("args", []) + ["--device-plugin-dir", folder]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    up = wait_for(lambda: os.path.exists(os.path.join(folder, ENDPOINT)) or
                  proc.poll() is not None, 30)
    check(up and proc.poll() is None, "the DaemonSet's flags start the plugin: %s" % argv)
    proc.terminate()
    try:
        err = proc.communicate(timeout=T(30))[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        err = proc.communicate()[1]
    check(proc.returncode == 0, "stopped: %s %r" % (proc.returncode, err[-300:]))


def run(args, work):
    dpdir = os.path.join(work, "device-plugins")
    os.mkdir(dpdir, 0o700)
    node = Node(args.tfuse, work)
    kubelet = proc = None
    w = p = None
    try:
        uuids = node.start(2)
        kubelet = Kubelet(dpdir)
        refused = "%s::3" % uuids[1]
        env = dict(os.environ, TFUSE_DP_TEST_REFUSE=refused)
        log = open(os.path.join(work, "plugin.log"), "ab")
        proc = subprocess.Popen([args.plugin, "device-plugin", "--device-plugin-dir", dpdir,
                                 "--node-api", "unix:" + node.api, "--node-name", "node-a",
                                 "--session-addr", "unix:" + node.sess,
                                 "--stub-dir", "/opt/tensorfuse/lib",
                                 "--shares-per-gpu", str(SHARES), "--poll-interval", "0.2"],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        if not case_registration(kubelet, dpdir):
            return
        p = Plugin(os.path.join(dpdir, ENDPOINT))
        w = case_options_and_list(p, uuids)
        case_prefer(p, uuids)
        case_allocate(p, uuids, node.sess, refused)
        uuids = case_node_changes(p, w, node, uuids)
        kubelet, p2, w2 = case_kubelet_restart(kubelet, dpdir, w, uuids)
        p.close()
        p, w = p2, w2
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(T(30))
        except subprocess.TimeoutExpired:
            rc = "still running"
        check(rc == 0, "SIGTERM: the plugin exits 0 (%s)" % rc)
        check(w.ended.wait(T(30)), "SIGTERM ends the ListAndWatch stream")
        check(not os.path.exists(os.path.join(dpdir, ENDPOINT)), "its socket is removed")
        case_bad_flags(args.plugin, work)
        case_manifest(args.plugin, work)
    finally:
        if w:
            w.cancel()
        if p:
            p.close()
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        if kubelet:
            kubelet.stop()
        node.stop()


def main():
    global pb
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--tfuse", required=True)
    ap.add_argument("--pb", required=True, help="folder of deviceplugin_v1beta1_pb2.py")
    args = ap.parse_args()
    sys.path.insert(0, args.pb)
    import deviceplugin_v1beta1_pb2
    pb = deviceplugin_v1beta1_pb2
    work = tempfile.mkdtemp(prefix="k8s-dp-")
    try:
        run(args, work)
    finally:
        if failures:
            for name in ("plugin.log", "node.log"):
                path = os.path.join(work, name)
                if os.path.exists(path):
                    print("--- %s (last 40 lines)" % name, file=sys.stderr)
                    with open(path, errors="replace") as f:
                        sys.stderr.write("".join(f.readlines()[-40:]))
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("dp_kubelet: %d failure(s)" % failures, file=sys.stderr)
        sys.exit(1)
    print("dp_kubelet: ok")


if __name__ == "__main__":
    main()
