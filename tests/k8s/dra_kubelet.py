#!/usr/bin/python3
"""The kubelet's side of a DRA driver, played by Debian's python3-grpcio with the messages of
our src/k8s/proto files (compiled by protoc at build time): the plugin watcher's GetInfo and
NotifyRegistrationStatus, then NodePrepareResources / NodeUnprepareResources in v1 and v1beta1,
as pkg/kubelet/cm/dra does. Run against test_dra_server (the plugin with a double of the claim
logic), it checks what the gRPC service and its checkpoint owe the kubelet: every claim
answered, per-claim errors, idempotence (also under concurrent calls), the checkpoint written
before the answer, unprepare after a restart and for unknown claims, a failed save rolled back,
a corrupt checkpoint refused and kept.

Usage: dra_kubelet.py TEST_DRA_SERVER PYPROTO_DIR
Kubelet and wait_for are also used by dra_e2e.py and grpcsrv_client.py.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import grpc

DRIVER = "gpu.tensorfuse.io"
V1 = "/k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin/"
V1BETA1 = "/k8s.io.kubelet.pkg.apis.dra.v1beta1.DRAPlugin/"
REG = "/pluginregistration.Registration/"


class Kubelet:
    """Calls a DRA plugin the way the kubelet does: discovery through the registration socket,
    then the DRA service at the endpoint GetInfo names."""

    def __init__(self, pyproto):
        sys.path.insert(0, pyproto)
        import dra_v1_pb2
        import dra_v1beta1_pb2
        import pluginregistration_v1_pb2
        self.reg_pb = pluginregistration_v1_pb2
        self.pb = {"v1": (dra_v1_pb2, V1), "v1beta1": (dra_v1beta1_pb2, V1BETA1)}

    def _unary(self, sock, method, req, resp_cls, timeout=60):
        with grpc.insecure_channel("unix:" + sock) as ch:
            call = ch.unary_unary(method, request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=resp_cls.FromString)
            return call(req, timeout=timeout)

    def get_info(self, reg_sock):
        return self._unary(reg_sock, REG + "GetInfo", self.reg_pb.InfoRequest(),
                           self.reg_pb.PluginInfo)

    def notify(self, reg_sock, ok, error=""):
        st = self.reg_pb.RegistrationStatus(plugin_registered=ok, error=error)
        return self._unary(reg_sock, REG + "NotifyRegistrationStatus", st,
                           self.reg_pb.RegistrationStatusResponse)

    def prepare(self, sock, claims, version="v1"):
        pb, svc = self.pb[version]
        req = pb.NodePrepareResourcesRequest(
            claims=[pb.Claim(namespace=ns, uid=uid, name=name) for ns, name, uid in claims])
        return self._unary(sock, svc + "NodePrepareResources", req,
                           pb.NodePrepareResourcesResponse)

    def unprepare(self, sock, claims, version="v1"):
        pb, svc = self.pb[version]
        req = pb.NodeUnprepareResourcesRequest(
            claims=[pb.Claim(namespace=ns, uid=uid, name=name) for ns, name, uid in claims])
        return self._unary(sock, svc + "NodeUnprepareResources", req,
                           pb.NodeUnprepareResourcesResponse)


def wait_for(fn, timeout=60.0):
    """fn() until it is true or timeout seconds passed (bounded waits on a busy machine)"""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    return fn()


failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what, file=sys.stderr)
    return cond


class Plugin:
    """test_dra_server in its folders; stop() ends it the way a DaemonSet pod ends."""

    def __init__(self, binary, root):
        self.plugin_dir = os.path.join(root, "plugins", DRIVER)
        self.registry = os.path.join(root, "plugins_registry")
        self.state = os.path.join(root, "state")
        for d in (os.path.dirname(self.plugin_dir), self.registry, self.state):
            os.makedirs(d, exist_ok=True)
        self.binary = binary
        self.sock = os.path.join(self.plugin_dir, "dra.sock")
        self.reg_sock = os.path.join(self.registry, DRIVER + "-reg.sock")
        self.ckpt = os.path.join(self.plugin_dir, "checkpoint.json")

    def start(self):
        self.p = subprocess.Popen([self.binary, self.plugin_dir, self.registry, self.state],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().strip()
        if line != "ready":
            self.p.wait(timeout=60)
            return self.p.returncode, self.p.stderr.read()
        return 0, ""

    def stop(self):
        self.p.stdin.close()
        rc = self.p.wait(timeout=60)
        out = self.p.stdout.read().strip()
        self.p.stdout.close()
        self.p.stderr.close()
        return rc, out

    def log(self):
        path = os.path.join(self.state, "log")
        return open(path).read().split("\n")[:-1] if os.path.exists(path) else []

    def checkpoint_uids(self):
        with open(self.ckpt) as f:
            return [c["uid"] for c in json.load(f)["claims"]]


def test_registration(k, pl):
    info = k.get_info(pl.reg_sock)
    check(info.type == "DRAPlugin" and info.name == DRIVER, "plugin info: %s" % info)
    check(info.endpoint == pl.sock, "endpoint %s" % info.endpoint)
    check(list(info.supported_versions) == ["v1.DRAPlugin", "v1beta1.DRAPlugin"],
          "versions %s" % list(info.supported_versions))
    check(oct(os.stat(pl.sock).st_mode & 0o777) == "0o600", "dra.sock mode")
    k.notify(pl.reg_sock, True)


def test_prepare(k, pl):
    claims = [("ns1", "ok", "u1"), ("ns1", "bad-one", "u2"), ("ns1", "pair-2", "u3"),
              ("ns1", "", "u4"), ("ns1", "share-a", "u6")]
    r = k.prepare(pl.sock, claims)
    check(sorted(r.claims.keys()) == ["u1", "u2", "u3", "u4", "u6"], "every claim answered")
    u1 = r.claims["u1"]
    check(u1.error == "" and len(u1.devices) == 1, "u1 prepared: %s" % u1)
    d = u1.devices[0]
    check(d.pool_name == "node-a" and d.device_name == "gpu-0" and
          list(d.request_names) == ["gpu0"] and
          list(d.cdi_device_ids) == ["k8s.%s/claim=u1-0" % DRIVER], "u1 device: %s" % d)
    check("no allocation" in r.claims["u2"].error and not r.claims["u2"].devices,
          "u2 error: %r" % r.claims["u2"].error)
    check(len(r.claims["u3"].devices) == 2, "u3 two devices")
    check(r.claims["u4"].error == "claim without a name", "u4: %r" % r.claims["u4"].error)
    check(r.claims["u6"].devices[0].share_id == "share-0", "v1 carries share_id")
    # the checkpoint holds the prepared ones before the kubelet heard of them
    check(sorted(pl.checkpoint_uids()) == ["u1", "u3", "u6"], "checkpoint after prepare")
    # again, in v1beta1: answered from the checkpoint, the double not called again
    r2 = k.prepare(pl.sock, [("ns1", "ok", "u1"), ("ns1", "ok", "u1"), ("ns1", "share-a", "u6")],
                   "v1beta1")
    check(sorted(r2.claims.keys()) == ["u1", "u6"], "one entry per uid")
    check(list(r2.claims["u1"].devices[0].cdi_device_ids) == ["k8s.%s/claim=u1-0" % DRIVER],
          "v1beta1 answer from the checkpoint")
    raw = k.pb["v1"][0].Device()
    raw.ParseFromString(r2.claims["u6"].devices[0].SerializeToString())
    check(raw.share_id == "", "v1beta1 answers carry no share_id")
    check(pl.log().count("prepare u1") == 1, "prepare of u1 ran once: %s" % pl.log())


def test_concurrent(k, pl):
    answers = []

    def call():
        answers.append(k.prepare(pl.sock, [("ns2", "slow-c", "u7")]).claims["u7"])
    ts = [threading.Thread(target=call) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(len(answers) == 4 and all(a == answers[0] and not a.error for a in answers),
          "four concurrent prepares of one claim agree")
    check(pl.log().count("prepare u7") == 1, "one prepare for four concurrent calls")


def test_unprepare_after_restart(k, pl, binary):
    rc, out = pl.stop()
    check(rc == 0 and out == "registered 0", "plugin stops, saw the registration: %s" % out)
    check(not os.path.exists(pl.reg_sock), "registration socket removed at stop")
    check(pl.start() == (0, ""), "restart")
    r = k.unprepare(pl.sock, [("ns1", "ok", "u1"), ("ns1", "x", "never-seen")])
    check(r.claims["u1"].error == "" and r.claims["never-seen"].error == "",
          "unprepare after restart, and of an unknown claim")
    check("unprepare u1" in pl.log() and "unprepare never-seen" not in pl.log(),
          "undo ran from the checkpoint only")
    check(not os.path.exists(os.path.join(pl.state, "vgpu-u1-0")), "u1's vGPU gone")
    check("u1" not in pl.checkpoint_uids(), "u1 out of the checkpoint")
    r = k.unprepare(pl.sock, [("ns1", "ok", "u1")], "v1beta1")
    check(r.claims["u1"].error == "" and pl.log().count("unprepare u1") == 1,
          "a second unprepare is a no-op")


def test_failures(k, pl):
    marker = os.path.join(pl.state, "fail-unprepare")
    open(marker, "w").close()
    r = k.unprepare(pl.sock, [("ns1", "pair-2", "u3")])
    check("busy" in r.claims["u3"].error, "unprepare error reported: %r" % r.claims["u3"].error)
    check("u3" in pl.checkpoint_uids(), "a failed undo keeps the record")
    os.unlink(marker)
    r = k.unprepare(pl.sock, [("ns1", "pair-2", "u3")])
    check(r.claims["u3"].error == "" and "u3" not in pl.checkpoint_uids(), "retry works")
    # a save that cannot happen (its temporary name taken by a folder: fails for root too)
    tmp = pl.ckpt + ".tmp"
    os.mkdir(tmp)
    r = k.prepare(pl.sock, [("ns3", "ok", "u8")])
    os.rmdir(tmp)
    check("checkpoint.json.tmp" in r.claims["u8"].error and not r.claims["u8"].devices,
          "failed save reported: %r" % r.claims["u8"].error)
    check(pl.log()[-2:] == ["prepare u8", "unprepare u8"], "failed save rolled back")
    check("u8" not in pl.checkpoint_uids(), "u8 not recorded")
    r = k.prepare(pl.sock, [("ns3", "ok", "u8")])
    check(r.claims["u8"].error == "" and "u8" in pl.checkpoint_uids(), "u8 on the retry")
    try:
        with grpc.insecure_channel("unix:" + pl.sock) as ch:
            ch.unary_unary(V1 + "NodePrepareResources")(b"\xff\xff\xff", timeout=30)
        check(False, "garbage must be refused")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, "garbage: %s" % e.code())


def test_corrupt(pl):
    rc, _ = pl.stop()
    with open(pl.ckpt) as f:
        text = f.read()
    bad = text.replace('"u6"', '"u9"')
    check(bad != text, "corruption applied")
    with open(pl.ckpt, "w") as f:
        f.write(bad)
    rc, err = pl.start()
    check(rc == 3 and "checksum" in err, "corrupt checkpoint refused: %d %s" % (rc, err))
    with open(pl.ckpt) as f:
        check(f.read() == bad, "corrupt checkpoint left as it was")
    with open(pl.ckpt, "w") as f:  # torn: a crash in the middle of a write that was not ours
        f.write(text[:len(text) // 2])
    rc, err = pl.start()
    check(rc == 3 and "unreadable checkpoint" in err, "torn checkpoint refused: %s" % err)


def main():
    binary, pyproto = sys.argv[1], sys.argv[2]
    k = Kubelet(pyproto)
    root = tempfile.mkdtemp(prefix="dra-kubelet-")
    pl = Plugin(binary, root)
    try:
        started = pl.start()
        if not check(started == (0, ""), "plugin starts: %s %s" % started):
            return 1
        test_registration(k, pl)
        test_prepare(k, pl)
        test_concurrent(k, pl)
        test_unprepare_after_restart(k, pl, binary)
        test_failures(k, pl)
        test_corrupt(pl)
    finally:
        if pl.p.poll() is None:
            pl.p.kill()
        shutil.rmtree(root, ignore_errors=True)
    print("dra_kubelet: %s" % ("ok" if not failures else "%d failures" % failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
