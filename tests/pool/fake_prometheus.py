#!/usr/bin/env python3
"""A TEST DOUBLE of Prometheus' query_range API for run-promsrc.sh (tests/pool): what the
pool's Prometheus history source (src/pool/pool_promsrc.c) must make of exact series, and of
answers no Prometheus should give. The first path segment picks the answer:

  /derive/   crafted series of two vGPUs, "wl.a" and "wlxa" (only the one whose id the
             selector's regex names is answered, so an unescaped '.' shows), on the request's
             own grid, plus a point off the grid; the expected samples are in run-promsrc.sh
  /empty/    success, no series          /vector/   success, but not a matrix
  /badjson/  200 with text that is not JSON
  /error400/ Prometheus' own error body  /html502/  a proxy's HTML page
  /huge/     over 4 MiB                  /slow/     answers after 5 s
  /badvalue/ a value that is not a number
  /auth/     401 unless the request has basic authentication as user:s3cret

    fake_prometheus.py PORT_FILE    (writes the port it listens on, serves until killed)
"""
import base64
import json
import re
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MIB = 1 << 20
# Per step k = 0..6 of the request (k = 0 is the step before the first sample).
SERIES = {
    'tfuse_vgpu_memory_used_bytes': [0, 10, 20, 20, 5, 5, 30],
    'tfuse_vgpu_memory_peak_bytes': [0, 10, 50, 50, 50, 50, 50],
    'tfuse_vgpu_memory_limit_bytes': [100] * 7,
    'tfuse_vgpu_busy_seconds_total': [0, 5, 10, 10, 0, 2, 4],
    'tfuse_vgpu_throttled_seconds_total': [0, 0, 1, 2, 3, 4, 5],
    'tfuse_vgpu_launches_total': [0, 100, 200, 200, 200, 250, 300],
    'tfuse_vgpu_memory_denied_total': [0, 0, 1, 1, 3, 3, 3],
    'tfuse_vgpu_compute_limit_ratio': [0.5] * 7,
}
MAX_USED = [0, 10, 20, 25, 20, 5, 30]
AUTH = base64.b64encode(b'user:s3cret').decode()
IN_MIB = ('tfuse_vgpu_memory_used_bytes', 'tfuse_vgpu_memory_peak_bytes',
          'tfuse_vgpu_memory_limit_bytes')


def matrix(result):
    return {'status': 'success', 'data': {'resultType': 'matrix', 'result': result}}


def derive(q):
    query = q['query'][0]
    start, step = float(q['start'][0]), float(q['step'][0])
    m = re.search(r'vgpu=~"((?:[^"\\]|\\.)*)"', query)
    regex = m.group(1).replace('\\\\', '\\') if m else '.*'
    result = []
    for vgpu in ('wl.a', 'wlxa'):
        if not re.fullmatch(regex, vgpu):
            continue
        labels = {'vgpu': vgpu, 'device': 'GPU-1', 'qos': 'low', 'instance': 'n1:7070',
                  'job': 'tfuse'}
        if query.startswith('max_over_time('):
            vals = [[start + k * step, str(v * MIB)] for k, v in enumerate(MAX_USED)]
            result.append({'metric': labels, 'values': vals})
            continue
        for name, series in SERIES.items():
            scale = MIB if name in IN_MIB else 1
            vals = [[start + k * step, repr(v * scale)] for k, v in enumerate(series)]
            vals.insert(3, [start + 2.5 * step, '1e18'])   # off the grid: not ours to place
            result.append({'metric': dict(labels, __name__=name), 'values': vals})
    return 200, json.dumps(matrix(result))


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, ctype='application/json'):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        mode = url.path.strip('/').split('/')[0]
        if not url.path.endswith('/api/v1/query_range'):
            return self.answer(404, '{"status":"error","error":"not found"}')
        q = urllib.parse.parse_qs(url.query)
        if mode == 'auth':
            if self.headers.get('Authorization') != 'Basic ' + AUTH:
                return self.answer(401, 'Unauthorized', 'text/plain')
            return self.answer(200, json.dumps(matrix([])))
        if mode == 'derive':
            return self.answer(*derive(q))
        if mode == 'empty':
            return self.answer(200, json.dumps(matrix([])))
        if mode == 'vector':
            return self.answer(200, '{"status":"success","data":{"resultType":"vector",'
                                    '"result":[]}}')
        if mode == 'badjson':
            return self.answer(200, 'this is not JSON {', 'text/plain')
        if mode == 'error400':
            return self.answer(400, '{"status":"error","errorType":"bad_data","error":'
                                    '"invalid parameter \\"query\\": 1:1: parse error"}')
        if mode == 'html502':
            return self.answer(502, '<html><body>Bad Gateway</body></html>', 'text/html')
        if mode == 'huge':
            return self.answer(200, b'{"status":"success","data":' + b' ' * (5 * MIB) + b'}')
        if mode == 'slow':
            time.sleep(5)
            return self.answer(200, json.dumps(matrix([])))
        if mode == 'badvalue':
            return self.answer(200, json.dumps(matrix([{
                'metric': {'__name__': 'tfuse_vgpu_memory_used_bytes', 'vgpu': 'wl.a'},
                'values': [[float(q['start'][0]), 'abc']]}])))
        return self.answer(404, '{"status":"error","error":"unknown mode"}')


def main():
    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    with open(sys.argv[1] + '.tmp', 'w') as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(sys.argv[1] + '.tmp', sys.argv[1])
    server.serve_forever()


if __name__ == '__main__':
    main()
