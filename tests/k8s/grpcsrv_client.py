#!/usr/bin/python3
"""grpcsrv against another gRPC implementation (Debian's python3-grpcio): unary calls, a
server-streaming call the client abandons (the handler's send/wait must report the client gone),
a request over 4 MiB (refused), and a server stopped during a stream (the stream ends, the
server's free joins the handler and returns).

Usage: grpcsrv_client.py PATH/TO/test_grpcsrv   (it runs `test_grpcsrv serve SOCK`)
"""
import os
import subprocess
import sys
import tempfile

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dra_kubelet import wait_for  # noqa: E402

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what, file=sys.stderr)


def main():
    tmp = tempfile.mkdtemp(prefix="grpcsrv-py-")
    sock = os.path.join(tmp, "t.sock")
    srv = subprocess.Popen([sys.argv[1], "serve", sock], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    check(srv.stdout.readline().strip() == "ready", "server ready")
    ch = grpc.insecure_channel("unix:" + sock)
    echo = ch.unary_unary("/t.T/Echo")
    stats = ch.unary_unary("/t.T/Stats")
    count = ch.unary_stream("/t.T/Count")

    check(echo(b"abc", timeout=30) == b"abc+", "echo")
    try:
        echo(b"!why", timeout=30)
        check(False, "error status expected")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.FAILED_PRECONDITION and e.details() == "refused: why",
              "status code and text: %s %s" % (e.code(), e.details()))
    try:
        echo(b"x" * (4 * 1024 * 1024 + 16), timeout=30)
        check(False, "an over-limit request must be refused")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, "big request: %s" % e.code())
    check(echo(b"still", timeout=30) == b"still+", "the server goes on after a refused call")

    # a stream the client abandons after 3 of 5 messages
    it = count(bytes([5]), timeout=60)
    got = [next(it) for _ in range(3)]
    check(got == [b"#\x00", b"#\x01", b"#\x02"], "stream messages in order: %r" % got)
    it.cancel()
    check(wait_for(lambda: stats(b"", timeout=30) == b"1 1"), "handler saw the client go")

    # a stream that waits when the server stops
    it = count(bytes([2]), timeout=60)
    check([next(it), next(it)] == [b"#\x00", b"#\x01"], "second stream")
    srv.stdin.close()
    try:
        next(it)
        check(False, "the stream must end when the server stops")
    except grpc.RpcError as e:
        check(e.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE),
              "stream end at stop: %s" % e.code())
    try:
        rc = srv.wait(timeout=60)
        line = srv.stdout.readline().strip()
    except subprocess.TimeoutExpired:
        srv.kill()
        rc, line = -1, "(hung in free)"
    check(rc == 0 and line == "stopped 2 2", "server stopped and joined: rc %s, %s" % (rc, line))
    check(not os.path.exists(sock), "socket file removed at stop")
    ch.close()
    os.rmdir(tmp) if not os.listdir(tmp) else None
    print("grpcsrv_client: %s" % ("ok" if not failures else "%d failures" % failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
