#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of a real OpenSearch node (tests only).

    fault_proxy.py --upstream http://127.0.0.1:9200 --port-file FILE

Listens on a free loopback port (written to FILE) and forwards every request
to the upstream node, except:

  POST /_proxy/faults {"seed", "bulk_item_429_rate", "bulk_item_500_rate",
                       "http_status", "http_status_rate", "delay_ms",
                       "drop_connection_rate", "down", "bulk_503_every",
                       "first_put_delay_ms", "alias_body"}
      replaces the fault configuration (absent keys are off);
      first_put_delay_ms holds the first PUT that follows back until a
      later PUT has been answered (at most that long), then forwards it
      even when its client has gone (as a node does with a request it has
      received): stats' "late_puts" counts them, "put_waits" those released
      by the time limit rather than by a later PUT;
      alias_body answers every GET /_alias/... 200 with that text (a page
      some proxy in the way might serve);
  GET  /_proxy/stats  counters.

Item faults are real: the refused items of a _bulk are taken out of the
request before it is forwarded (so the node never sees them) and answered
429/500 in their place in the node's answer. Whole-request faults (503,
"down", every Nth _bulk) answer without forwarding; drops close the
connection without an answer.
"""
import argparse
import gzip
import http.client
import http.server
import json
import random
import threading
import time
import urllib.parse

lock = threading.Lock()
faults = {}
rng = random.Random(0)
bulks = 0
stats = {"requests": 0, "bulk_items": 0, "items_failed": 0, "requests_failed": 0, "dropped": 0,
         "late_puts": 0, "put_waits": 0}
later_put = threading.Event()  # a PUT answered since the first one was held


def draw(key):
    rate = faults.get(key, 0)
    return rate > 0 and rng.random() < rate


def split_bulk(body):
    """NDJSON _bulk body -> list of items, each the list of its lines."""
    lines = [l for l in body.split(b"\n") if l.strip()]
    items, i = [], 0
    while i < len(lines):
        action = next(iter(json.loads(lines[i])))
        n = 1 if action == "delete" else 2
        items.append(lines[i:i + n])
        i += n
    return items


def item_error(items_line, status):
    action = next(iter(json.loads(items_line[0])))
    meta = json.loads(items_line[0])[action]
    kind = "es_rejected_execution_exception" if status == 429 else "internal_server_error"
    return {action: {"_index": meta.get("_index"), "_id": meta.get("_id"), "status": status,
                     "error": {"type": kind, "reason": "injected by fault_proxy"}}}


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = None

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def drop(self):
        self.close_connection = True
        self.connection.shutdown(2)

    def forward(self, body, headers):
        u = urllib.parse.urlsplit(self.upstream)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.getheader("Content-Type", "application/json"), r.read()
        finally:
            conn.close()

    def handle_any(self):
        global bulks, faults, rng
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_proxy/faults":
            with lock:
                faults = json.loads(body or b"{}")
                rng = random.Random(faults.get("seed", 0))
                bulks = 0
            return self.answer(200, {"acknowledged": True})
        if path == "/_proxy/stats":
            with lock:
                return self.answer(200, dict(stats))
        is_bulk = path.endswith("/_bulk")
        with lock:
            stats["requests"] += 1
            f = dict(faults)
            if is_bulk:
                bulks += 1
            every = f.get("bulk_503_every", 0)
            fail = f.get("down") or draw("http_status_rate") or (
                is_bulk and every and bulks % every == 0)
            dropped = not fail and draw("drop_connection_rate")
            if fail:
                stats["requests_failed"] += 1
            if dropped:
                stats["dropped"] += 1
            late = self.command == "PUT" and faults.pop("first_put_delay_ms", 0)
            if late:
                later_put.clear()
        if f.get("delay_ms"):
            time.sleep(f["delay_ms"] / 1000)
        if f.get("alias_body") and self.command == "GET" and path.startswith("/_alias/"):
            data = f["alias_body"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return self.wfile.write(data)
        if late:
            if not later_put.wait(late / 1000):
                with lock:
                    stats["put_waits"] += 1
            try:
                status, ctype, data = self.forward(body, {"Content-Type": "application/json"})
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass
            with lock:
                stats["late_puts"] += 1
            return
        if fail:
            status = 503 if f.get("down") or (is_bulk and every and not f.get("http_status")) \
                else f.get("http_status", 503)
            return self.answer(status, {"error": {"type": "injected", "reason": "fault_proxy"},
                                        "status": status})
        if dropped:
            return self.drop()
        headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
        if not is_bulk or body is None:
            if body is not None and self.headers.get("Content-Encoding"):
                headers["Content-Encoding"] = self.headers["Content-Encoding"]
            status, ctype, data = self.forward(body, headers)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            if self.command == "PUT":
                later_put.set()  # answered by the node, whether or not its client still listens
            self.end_headers()
            return self.wfile.write(data)
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        items = split_bulk(body)
        verdict = []
        with lock:
            for _ in items:
                stats["bulk_items"] += 1
                v = 429 if draw("bulk_item_429_rate") else 500 if draw("bulk_item_500_rate") else 0
                stats["items_failed"] += v != 0
                verdict.append(v)
        kept = [it for it, v in zip(items, verdict) if not v]
        answers, took = [], 0
        if kept:
            fwd = b"\n".join(l for it in kept for l in it) + b"\n"
            status, _, data = self.forward(fwd, headers)
            if status != 200:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                return self.wfile.write(data)
            res = json.loads(data)
            answers, took = res["items"], res.get("took", 0)
        out, k = [], 0
        for it, v in zip(items, verdict):
            if v:
                out.append(item_error(it, v))
            else:
                out.append(answers[k])
                k += 1
        errors = any(next(iter(a.values())).get("status", 200) >= 300 for a in out)
        self.answer(200, {"took": took, "errors": errors, "items": out})

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    Proxy.upstream = a.upstream.rstrip("/")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    srv.daemon_threads = True
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
