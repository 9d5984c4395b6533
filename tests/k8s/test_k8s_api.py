#!/usr/bin/python3
"""tfuse_k8s_api end to end (K2 of issue 17), driven through k8s_api_tool
(tests/k8s/k8s_api_tool.c).

Stand-ins: the Kubernetes API server is FakeAPI below, a local HTTP server that answers in the
shape of the Kubernetes API reference (objects with metadata.resourceVersion and uid, List
objects, Status objects for errors, 409 Conflict on a stale resourceVersion, a bearer token
checked on every request). It is NOT a kube-apiserver: no validation, no defaulting, no watch.
The TensorFuse node is real: `tfuse node --backend soft` with a unix API socket. CDI specs are
checked with the CDI project's JSON schema (tests/k8s/cdi-schema) by python3-jsonschema, and a
CUDA program runs with a spec's environment applied as a runtime would.

usage: test_k8s_api.py BUILD_DIR K8S_API_TOOL
"""
import http.client
import http.server
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = "gpu.tensorfuse.io"
NODE = "node-a"
MiB = 1 << 20
SHARE_ID = "3f0c2b1e-0000-4000-8000-000000000001"


class FakeAPI(http.server.ThreadingHTTPServer):
    """Objects by path; answers like the API server does for the verbs the driver uses."""

    def __init__(self, token_file):
        super().__init__(("127.0.0.1", 0), Handler)
        self.objs, self.log, self.lock = {}, [], threading.Lock()
        self.version = {"major": "1", "minor": "36", "gitVersion": "v1.36.0"}
        self.token_file, self.rv, self.conflicts = token_file, 100, 0

    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    def put_obj(self, path, obj):
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", "uid-%d" % self.rv)
        meta["resourceVersion"] = self.next_rv()
        self.objs[path] = obj


def status(code, reason, msg):
    return code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": msg, "reason": reason, "code": code}


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do(self, method):
        s = self.server
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n)) if n else None
        url = urllib.parse.urlsplit(self.path)
        with s.lock:
            s.log.append((method, self.path, self.headers.get("Content-Type"), body))
            with open(s.token_file) as f:
                want = "Bearer " + f.read().strip()
            if self.headers.get("Authorization") != want:
                code, out = status(401, "Unauthorized", "Unauthorized")
            else:
                code, out = self.route(method, url.path, urllib.parse.parse_qs(url.query), body)
        self.answer(code, out)

    def route(self, method, path, query, body):
        s = self.server
        if path == "/version":
            return 200, s.version
        if method == "GET" and path == "/apis/resource.k8s.io/v1/resourceslices":
            return 200, self.list_slices(query)
        if method == "POST" and path == "/apis/resource.k8s.io/v1/resourceslices":
            key = path + "/" + body["metadata"]["name"]
            if key in s.objs:
                return status(409, "AlreadyExists", "resourceslices \"%s\" already exists" % key)
            s.put_obj(key, body)
            return 201, body
        sub = path.endswith("/status")
        key = path[:-7] if sub else path
        if key not in s.objs:
            return status(404, "NotFound", "%s not found" % key)
        if method == "GET":
            return 200, s.objs[key]
        if method == "DELETE":
            del s.objs[key]
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}
        if method == "PUT":
            cur = s.objs[key]
            if s.conflicts > 0:   # someone else wrote first
                s.conflicts -= 1
                cur["metadata"]["resourceVersion"] = s.next_rv()
            if body["metadata"].get("resourceVersion") != cur["metadata"]["resourceVersion"]:
                return status(409, "Conflict", "Operation cannot be fulfilled on %s: the object "
                              "has been modified; please apply your changes to the latest "
                              "version and try again" % key)
            new = dict(cur) if sub else body
            if sub:
                new["status"] = body.get("status")
            else:
                new["status"] = cur.get("status")
            s.put_obj(key, new)
            return 200, new
        return status(405, "MethodNotAllowed", method)

    def list_slices(self, query):
        sel = dict(kv.split("=", 1) for kv in query.get("fieldSelector", [""])[0].split(",")
                   if kv)
        items = [o for k, o in self.server.objs.items() if "/resourceslices/" in k and
                 all(o["spec"].get(f.split(".")[1]) == v for f, v in sel.items())]
        return {"kind": "ResourceSliceList", "apiVersion": "resource.k8s.io/v1",
                "metadata": {"resourceVersion": str(self.server.rv)}, "items": items}

    def do_GET(self):
        self.do("GET")

    def do_POST(self):
        self.do("POST")

    def do_PUT(self):
        self.do("PUT")

    def do_DELETE(self):
        self.do("DELETE")


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.path)


def node_get(sock, path):
    c = UnixHTTP(sock)
    c.request("GET", path)
    r = c.getresponse()
    data = r.read()
    return r.status, json.loads(data) if data else None


FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


class Env:
    def __init__(self, build, tool):
        self.build, self.tool = build, tool
        self.dir = tempfile.mkdtemp(prefix="k8s-api-")
        self.token = os.path.join(self.dir, "token")
        with open(self.token, "w") as f:
            f.write("token-one\n")
        self.api = FakeAPI(self.token)
        threading.Thread(target=self.api.serve_forever, daemon=True).start()
        self.api_sock = os.path.join(self.dir, "api.sock")
        self.sess = "unix:" + os.path.join(self.dir, "s.sock")
        self.cdi = os.path.join(self.dir, "cdi")
        self.node = subprocess.Popen(
            [os.path.join(build, "bin", "tfuse"), "node", "--backend", "soft", "--listen",
             self.sess, "--api", "unix:" + self.api_sock, "--state",
             os.path.join(self.dir, "state")], stdout=open(os.path.join(self.dir, "node.log"),
                                                           "w"), stderr=subprocess.STDOUT)
        for _ in range(600):
            try:
                if node_get(self.api_sock, "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        _, devs = node_get(self.api_sock, "/api/v1/devices")
        self.dev = devs["devices"][0]
        self.api.objs["/api/v1/nodes/" + NODE] = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE, "uid": "node-uid-1", "resourceVersion": "7"}}

    def run(self, *args, env=None):
        e = dict(os.environ, **(env or {}))
        cmd = [self.tool, "--kube-api", "http://127.0.0.1:%d" % self.api.server_address[1],
               "--kube-token-file", self.token, "--kube-ca-file", "", "--node-name", NODE,
               "--node-api", "unix:" + self.api_sock, "--cdi-dir", self.cdi, "--stub-dir",
               os.path.join(self.build, "lib", "tfuse")] + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=120)

    def close(self):
        self.node.terminate()
        self.node.wait(timeout=30)
        self.api.shutdown()


def test_client(e):
    r = e.run("version")
    check(r.returncode == 0 and json.loads(r.stdout)["minor"] == 36, "version: 1.36 read")
    e.api.version = {"major": "1", "minor": "35+", "gitVersion": "v1.35.2-gke.1"}
    r = e.run("version")
    check(r.returncode == 0 and json.loads(r.stdout)["minor"] == 35, "version: '35+' is 35")
    with open(e.token, "w") as f:   # a rotated token is used from the next request on
        f.write("token-two\n")
    check(e.run("version").returncode == 0, "rotated token re-read")
    r = e.run("get", "/api/v1/nodes/nope")
    check(r.returncode == 1 and "NotFound" in r.stderr and "nope not found" in r.stderr,
          "a 404 Status's reason and message reach the caller")
    e.api.conflicts = 3
    r = e.run("label", "/api/v1/nodes/" + NODE, "a", "b")
    puts = [x for x in e.api.log if x[0] == "PUT"]
    check(r.returncode == 0 and json.loads(r.stdout)["metadata"]["labels"]["a"] == "b" and
          len(puts) == 4, "update retried through 3 conflicts on a fresh read (%d PUTs)" %
          len(puts))
    with open(e.token, "w") as f:
        f.write("wrong\n")
    e.api.token_file = e.token + ".server"
    with open(e.api.token_file, "w") as f:
        f.write("token-two\n")
    r = e.run("version")
    check(r.returncode == 1 and "401" in r.stderr, "a refused token is an error: " +
          r.stderr.strip()[:80])
    with open(e.token, "w") as f:
        f.write("token-two\n")


def slices(e):
    return {k: v for k, v in e.api.objs.items() if "/resourceslices/" in k}


def test_slices(e):
    for minor, shared in (("34", False), ("35", False), ("36", True)):
        e.api.version = {"major": "1", "minor": minor, "gitVersion": "v1.%s.0" % minor}
        for k in list(slices(e)):
            del e.api.objs[k]
        r = e.run("sync")
        sl = list(slices(e).values())
        check(r.returncode == 0 and len(sl) == 1, "1.%s: one slice published (%s)" %
              (minor, r.stderr.strip()))
        if not sl:
            continue
        s = sl[0]
        spec, dev = s["spec"], s["spec"]["devices"][0]
        check(spec["driver"] == DRIVER and spec["nodeName"] == NODE and
              spec["pool"] == {"name": NODE, "generation": 1, "resourceSliceCount": 1},
              "1.%s: driver, node, pool generation 1 of 1 slice" % minor)
        own = s["metadata"].get("ownerReferences", [{}])[0]
        check(own.get("kind") == "Node" and own.get("uid") == "node-uid-1",
              "1.%s: owned by the Node" % minor)
        a = dev["attributes"]
        check(a["uuid"]["string"] == e.dev["uuid"] and "productName" in a and
              a["computeCapability"]["version"] == e.dev["compute_capability"] + ".0" and
              "architecture" in a and a["driverVersion"]["version"] == "13.0.0" and
              a["resource.kubernetes.io/pciBusID"]["string"] == e.dev["pci_bus_id"],
              "1.%s: attributes uuid, productName, architecture, computeCapability, "
              "driverVersion, pciBusID" % minor)
        cap = dev["capacity"]
        check(int(cap["memory"]["value"]) == e.dev["memory_bytes"] and
              cap["compute"]["value"] == "100" and "tflops" in cap,
              "1.%s: capacities memory, compute, tflops" % minor)
        check(bool(dev.get("allowMultipleAllocations")) == shared and
              ("requestPolicy" in cap["memory"]) == shared,
              "1.%s: %s" % (minor, "consumable capacity" if shared else "whole GPUs"))
    writes = len([x for x in e.api.log if x[0] in ("POST", "PUT", "DELETE")])
    e.run("sync")
    check(len([x for x in e.api.log if x[0] in ("POST", "PUT", "DELETE")]) == writes,
          "a second sync with nothing changed writes nothing")
    stale = "/apis/resource.k8s.io/v1/resourceslices/%s-%s-9" % (NODE, DRIVER)
    old = json.loads(json.dumps(list(slices(e).values())[0]))
    old["metadata"]["name"] = stale.rsplit("/", 1)[1]
    e.api.put_obj(stale, old)
    other = json.loads(json.dumps(old))
    other["spec"]["nodeName"] = "node-b"
    e.api.put_obj("/apis/resource.k8s.io/v1/resourceslices/theirs", other)
    r = e.run("sync")
    ours = [v for v in slices(e).values() if v["spec"]["nodeName"] == NODE]
    check(r.returncode == 0 and len(ours) == 1 and stale not in e.api.objs and
          ours[0]["spec"]["pool"]["generation"] == 2 and
          "/apis/resource.k8s.io/v1/resourceslices/theirs" in e.api.objs,
          "an extra slice of ours is deleted, the generation bumped to 2, another node's kept")
    e.api.version = {"major": "1", "minor": "33", "gitVersion": "v1.33.0"}
    r = e.run("sync")
    check(r.returncode == 1 and "1.34" in r.stderr, "1.33 refused: " + r.stderr.strip()[:70])
    e.api.version = {"major": "1", "minor": "36", "gitVersion": "v1.36.0"}


CLAIMS = "/apis/resource.k8s.io/v1/namespaces/team-a/resourceclaims/"


def claim(e, name, uid, results, configs=()):
    e.api.put_obj(CLAIMS + name, {
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": "team-a", "uid": uid},
        "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {
            "deviceClassName": "vgpu.gpu.tensorfuse.io"}}]}},
        "status": {"allocation": {"devices": {"results": results, "config": list(configs)}}}})


def result(e, device=None, consumed=None, request="gpu"):
    r = {"request": request, "driver": DRIVER, "pool": NODE,
         "device": device or e.dev["uuid"].lower()}
    if consumed:
        r["consumedCapacity"] = consumed
        r["shareID"] = SHARE_ID
    return r


def vgpu_config(source, **params):
    return {"source": source, "requests": [], "opaque": {"driver": DRIVER, "parameters": dict(
        {"apiVersion": "gpu.tensorfuse.io/v1alpha1", "kind": "VGPUConfig"}, **params)}}


def cdi_check(e, uid):
    path = os.path.join(e.cdi, "%s-vgpu_%s.json" % (DRIVER, uid))
    with open(os.path.join(HERE, "cdi-schema", "schema.json")) as f:
        schema = json.load(f)
    with open(os.path.join(HERE, "cdi-schema", "defs.json")) as f:
        defs = json.load(f)
    with open(path) as f:
        spec = json.load(f)
    resolver = jsonschema.RefResolver.from_schema(schema, store={"defs.json": defs})
    try:
        jsonschema.validate(spec, schema, resolver=resolver)
        valid = True
    except jsonschema.ValidationError as ex:
        valid = str(ex)[:200]
    check(valid is True, "CDI spec valid against the CDI schema (%s)" % valid)
    check(stat.S_IMODE(os.stat(path).st_mode) == 0o600, "CDI spec is mode 0600 (holds tokens)")
    return spec


def run_program(e, spec, *args):
    """Runs prog_iso (tests/isolation) with the device's env applied as a runtime would; the
    library mount's host folder stands in for its container path."""
    prog = os.path.join(e.build, "tests", "isolation", "prog_iso")
    if not os.path.exists(prog):
        return None
    env = dict(os.environ)
    for kv in spec["devices"][0]["containerEdits"]["env"]:
        k, v = kv.split("=", 1)
        env[k] = v
    env["LD_LIBRARY_PATH"] = os.path.join(e.build, "lib", "tfuse")
    return subprocess.run([prog] + list(args), env=env, capture_output=True, text=True,
                          timeout=120)


def test_claims(e):
    uid = "6c1f9a3e-5b2d-4e8f-a0c7-1d2e3f405162"
    claim(e, "c1", uid, [result(e, consumed={"memory": "64Mi", "compute": "30",
                                                "tflops": "0"})],
          [vgpu_config("FromClass", qos="high", computeLimit=40),
           vgpu_config("FromClaim", computeLimit=60)])
    r = e.run("prepare", "team-a", "c1", uid)
    check(r.returncode == 0, "prepare c1: " + r.stderr.strip()[:200])
    if r.returncode:
        return
    pc = json.loads(r.stdout)
    d = pc["devices"][0]
    check(d["cdi"] == "%s/vgpu=%s-0" % (DRIVER, uid) and d["request"] == "gpu",
          "CDI id DRIVER/vgpu=UID-0")
    st, v = node_get(e.api_sock, "/api/v1/vgpus/" + d["vgpu"])
    check(st == 200 and v["vram_bytes"] == 64 * MiB and abs(v["compute_request_pct"] - 30) <
          0.01 and abs(v["compute_limit_pct"] - 60) < 0.01 and v["qos"] == "high",
          "vGPU: 64Mi, 30%% guaranteed, claim's limit 60%% over the class's 40%%, qos high "
          "(%s)" % {k: v[k] for k in ("vram_bytes", "compute_request_pct", "compute_limit_pct",
                                       "qos")} if v else v)
    spec = cdi_check(e, uid)
    env = spec["devices"][0]["containerEdits"]["env"]
    check(any(x.startswith("TFUSE_TOKEN=") and len(x) > 13 for x in env) and
          "TFUSE_CONNECT=" + e.sess in env, "CDI env: TFUSE_CONNECT and TFUSE_TOKEN")
    mounts = {m["containerPath"]: m["hostPath"] for m in
              spec["devices"][0]["containerEdits"]["mounts"]}
    check(mounts.get("/usr/local/tensorfuse/lib/libcuda.so.1", "").endswith("libcuda.so.1") and
          e.sess[5:] in mounts, "CDI mounts: the stub's libcuda.so.1 and the session socket")
    sd = e.api.objs[CLAIMS + "c1"]["status"].get("devices", [])
    check(len(sd) == 1 and sd[0]["driver"] == DRIVER and sd[0]["data"]["vgpu"] == d["vgpu"] and
          sd[0].get("shareID") == SHARE_ID,
          "status.devices reports the vGPU")
    p = run_program(e, spec, "meminfo")
    if p is None:
        print("skip a CUDA program under the spec's env: prog_iso is not built")
    else:
        check(p.returncode == 0 and ("total %d" % (64 * MiB)) in p.stdout,
              "a CUDA program with the spec's env sees its 64 MiB vGPU: " + p.stdout.strip())
        for _ in range(300):   # the first program's worker gives its context back as it ends
            if node_get(e.api_sock, "/api/v1/vgpus/" + d["vgpu"])[1]["used_bytes"] == 0:
                break
            time.sleep(0.1)
        p = run_program(e, spec, "overlimit", str(96 * MiB))
        check(p.returncode == 0 and "other work ok" in p.stdout,
              "and is refused 96 MiB, then works within the limit: " +
              (p.stdout + p.stderr).strip()[-200:])
    r2 = e.run("prepare", "team-a", "c1", uid)
    _, all_v = node_get(e.api_sock, "/api/v1/vgpus")
    check(r2.returncode == 0 and json.loads(r2.stdout)["devices"][0]["vgpu"] == d["vgpu"] and
          len(all_v["vgpus"]) == 1, "a repeated prepare finds the same vGPU (idempotent)")
    with open(os.path.join(e.dir, "c1.json"), "w") as f:
        f.write(r.stdout)
    del e.api.objs[CLAIMS + "c1"]   # unprepare works from the record alone
    r = e.run("unprepare", os.path.join(e.dir, "c1.json"))
    st, _ = node_get(e.api_sock, "/api/v1/vgpus/" + d["vgpu"])
    check(r.returncode == 0 and st == 404 and not os.listdir(e.cdi),
          "unprepare of a deleted claim deletes the vGPU and the spec")
    check(e.run("unprepare", os.path.join(e.dir, "c1.json")).returncode == 0,
          "a repeated unprepare succeeds")
    test_claim_failures(e)


def test_claim_failures(e):
    uid = "7d2e0b4f-6c3e-4f90-b1d8-2e3f40516273"
    claim(e, "c2", uid, [result(e, consumed={"memory": "32Mi", "compute": "10"}),
                         result(e, device="gpu-not-here", request="gpu")])
    r = e.run("prepare", "team-a", "c2", uid)
    _, all_v = node_get(e.api_sock, "/api/v1/vgpus")
    check(r.returncode == 1 and "gpu-not-here" in r.stderr and not all_v["vgpus"] and
          not os.listdir(e.cdi), "a device not on the node fails the prepare and rolls back")
    r = e.run("prepare", "team-a", "c2", "00000000-1111-2222-3333-444444444444")
    check(r.returncode == 1 and "uid" in r.stderr, "a claim recreated under another uid")
    claim(e, "c3", uid, [result(e)], [vgpu_config("FromClaim", isolation="magic")])
    r = e.run("prepare", "team-a", "c3", uid)
    check(r.returncode == 1 and "isolation" in r.stderr, "a bad VGPUConfig field is named")
    claim(e, "c4", uid, [result(e)])
    r = e.run("prepare", "team-a", "c4", uid)
    st, v = node_get(e.api_sock, "/api/v1/vgpus/k8s-%s-0" % uid)
    check(r.returncode == 0 and st == 200 and v["vram_bytes"] == e.dev["memory_bytes"],
          "a whole-GPU result (no consumedCapacity) gets the whole memory")
    with open(os.path.join(e.dir, "c4.json"), "w") as f:
        f.write(r.stdout)
    e.run("unprepare", os.path.join(e.dir, "c4.json"))
    r = e.run("prepare", "team-a", "../x", uid)
    check(r.returncode == 1 and "bad claim reference" in r.stderr, "a hostile name refused")


def test_show(e):
    """`tfuse-k8s show --json` prints what sync publishes, and a spec the schema accepts."""
    for ver, layout in (("1.35", "whole"), ("1.36", "shared")):
        r = e.run("show", "--json", "--kube-version", ver, "--session-addr", e.sess)
        out = json.loads(r.stdout) if r.returncode == 0 else {}
        check(out.get("layout") == layout, "show --kube-version %s: layout %s" % (ver, layout))
    published = [v for v in slices(e).values() if v["spec"]["nodeName"] == NODE][0]
    check(out["resourceSlices"][0]["spec"]["devices"] == published["spec"]["devices"],
          "show prints the devices sync published")
    spec = out["cdiSpec"]
    with open(os.path.join(HERE, "cdi-schema", "schema.json")) as f:
        schema = json.load(f)
    with open(os.path.join(HERE, "cdi-schema", "defs.json")) as f:
        defs = json.load(f)
    resolver = jsonschema.RefResolver.from_schema(schema, store={"defs.json": defs})
    jsonschema.validate(spec, schema, resolver=resolver)
    check("TFUSE_CONNECT=" + e.sess in spec["devices"][0]["containerEdits"]["env"],
          "show's example CDI spec is valid and names the session address")
    r = e.run("show", "--kube-version", "1.33")
    check(r.returncode == 1 and "1.34" in r.stderr, "show refuses 1.33 with the reason")


def main():
    build, tool = sys.argv[1], sys.argv[2]
    e = Env(build, tool)
    try:
        test_client(e)
        test_slices(e)
        test_show(e)
        test_claims(e)
    finally:
        e.close()
    print("%d failed" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
