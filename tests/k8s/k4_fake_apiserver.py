#!/usr/bin/python3
"""A stand-in for the Kubernetes API server, for the device-plugin path's tests (K4): it keeps
pods and Secrets in memory and answers in the shapes of the Kubernetes API reference (core/v1
Pod, PodList, Secret, Binding, Status; JSON merge patch). It is NOT a real API server: no
admission, no watch, no field validation beyond what the tests need, and the label and field
selectors understand only "key=value" terms joined by commas.

    k4_fake_apiserver.py PORTFILE      (listens on 127.0.0.1, an ephemeral port, written to
                                        PORTFILE once listening)

Besides the API it records every request it was sent, for the tests to inspect:
GET /test/requests answers them as a JSON list of {method, path, body}.
"""
import json
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
PODS = {}      # (ns, name) -> pod
SECRETS = {}   # (ns, name) -> secret
REQUESTS = []


def status(code, reason, message):
    return code, {"apiVersion": "v1", "kind": "Status", "status": "Failure",
                  "message": message, "reason": reason, "code": code}


def selector_match(obj, expr, fields):
    for term in filter(None, (expr or "").split(",")):
        key, _, want = term.partition("=")
        if fields:
            cur = obj
            for part in key.split("."):
                cur = cur.get(part, {}) if isinstance(cur, dict) else {}
            got = cur if isinstance(cur, str) else ""
        else:
            got = obj.get("metadata", {}).get("labels", {}).get(key)
        if got != want:
            return False
    return True


def merge(target, patch):
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            merge(target[k], v)
        else:
            target[k] = v


def pod_list(query, ns=None):
    items = [p for (pns, _), p in sorted(PODS.items())
             if (ns is None or pns == ns)
             and selector_match(p, query.get("labelSelector", [""])[0], False)
             and selector_match(p, query.get("fieldSelector", [""])[0], True)]
    return 200, {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"},
                 "items": items}


def create(store, ns, kind, body):
    meta = body.setdefault("metadata", {})
    meta["namespace"] = ns
    key = (ns, meta.get("name", ""))
    if key in store:
        return status(409, "AlreadyExists", f'{kind} "{key[1]}" already exists')
    meta.setdefault("uid", str(uuid.uuid4()))
    meta["resourceVersion"] = "1"
    if kind == "pods":
        body.setdefault("status", {"phase": "Pending"})
    store[key] = body
    return 201, body


def route(method, path, query, body):
    parts = path.strip("/").split("/")
    if parts[:2] != ["api", "v1"]:
        return status(404, "NotFound", "the server could not find the requested resource")
    parts = parts[2:]
    if parts == ["pods"] and method == "GET":
        return pod_list(query)
    if len(parts) < 3 or parts[0] != "namespaces" or parts[2] not in ("pods", "secrets"):
        return status(404, "NotFound", "the server could not find the requested resource")
    ns, kind, rest = parts[1], parts[2], parts[3:]
    store = PODS if kind == "pods" else SECRETS
    if not rest:
        if method == "POST":
            return create(store, ns, kind, body)
        if method == "GET" and kind == "pods":
            return pod_list(query, ns)
        return status(405, "MethodNotAllowed", "method not allowed")
    key = (ns, rest[0])
    obj = store.get(key)
    if obj is None:
        return status(404, "NotFound", f'{kind} "{rest[0]}" not found')
    if rest[1:] == ["binding"] and method == "POST" and kind == "pods":
        if obj["spec"].get("nodeName"):
            return status(409, "Conflict", f'pod {rest[0]} is already assigned to a node')
        if body.get("kind") != "Binding" or "name" not in body.get("target", {}):
            return status(400, "BadRequest", "a Binding with a target is required")
        obj["spec"]["nodeName"] = body["target"]["name"]
        return 201, {"apiVersion": "v1", "kind": "Status", "status": "Success", "code": 201}
    if rest[1:]:
        return status(404, "NotFound", "no such subresource")
    if method == "GET":
        return 200, obj
    if method == "DELETE":
        del store[key]
        return 200, obj
    if method == "PATCH":
        merge(obj, body)
        return 200, obj
    if method == "PUT":
        body.setdefault("metadata", {})["uid"] = obj["metadata"]["uid"]
        store[key] = body
        return 200, body
    return status(405, "MethodNotAllowed", "method not allowed")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        url = urlsplit(self.path)
        with LOCK:
            if url.path == "/test/requests":
                return self.answer(200, REQUESTS)
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return self.answer(*status(400, "BadRequest", "invalid JSON"))
            REQUESTS.append({"method": self.command, "path": self.path, "body": body,
                             "content_type": self.headers.get("Content-Type", "")})
            if self.command == "PATCH" and \
                    self.headers.get("Content-Type") != "application/merge-patch+json":
                return self.answer(*status(415, "UnsupportedMediaType", "merge patch only"))
            self.answer(*route(self.command, url.path, parse_qs(url.query), body))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
