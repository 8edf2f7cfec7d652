"""Starts the ExecStart= command of an installed systemd unit with its
--config FILE replaced by CONFIG (the example settings) and more options
appended (which must win over the file's), and checks that the program
comes up: convsearch-server must log "listening on" and answer
GET /v1/health with 200 (and /console/ when the package holds the
console), then exit 0 on SIGTERM.

    start_unit.py ROOT UNIT CONFIG OPTION...

ROOT: where the package was unpacked (the unit's program is ROOT + its path).
"""

import http.client
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time


def exec_start(unit):
    with open(unit, encoding="utf-8") as f:
        line = next(l for l in f if l.startswith("ExecStart="))
    return shlex.split(line[len("ExecStart="):])


def main():
    root, unit, config = sys.argv[1:4]
    argv = exec_start(root + unit)
    argv[0] = root + argv[0]
    argv[argv.index("--config") + 1] = root + config
    argv += sys.argv[4:]
    print("starting:", " ".join(shlex.quote(a) for a in argv), flush=True)
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)
    port = None
    deadline = time.time() + 20
    while time.time() < deadline and proc.poll() is None and port is None:
        time.sleep(0.05)
        log.seek(0)
        m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", log.read())
        port = m and int(m.group(1))
    ok = False
    if port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/v1/health")
        r = conn.getresponse()
        body = r.read()
        print("GET /v1/health:", r.status, body[:200].decode(errors="replace"))
        ok = r.status == 200
        # The packaged console, found by the server next to its bin/.
        if os.path.exists(root + "/usr/share/convsearch/console/index.html"):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/console/")
            r = conn.getresponse()
            print("GET /console/:", r.status, r.read(60))
            ok = ok and r.status == 200
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=20)
        ok = ok and rc == 0
    log.seek(0)
    if not ok:
        sys.stderr.write(log.read().decode(errors="replace"))
        sys.exit(1)


if __name__ == "__main__":
    main()
