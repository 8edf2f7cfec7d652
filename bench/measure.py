#!/usr/bin/python3
"""Runs a command and reports what it cost, as one JSON line on stdout.

    measure.py OUT.json -- COMMAND [ARGS...]

wall seconds, user and system CPU seconds and max RSS of the command (from
wait4's rusage: the process and its waited-for children), and, sampled from
/proc/PID/status every 50 ms, the peak anonymous RSS (RssAnon: memory of
its own, without the file pages it maps, such as an LMDB index) and the
peak RSS. The command's stdout goes to stderr, so this script's stdout
stays the JSON line; its exit status is the command's.
"""
import json
import os
import subprocess
import sys
import threading
import time


def status_kb(pid, keys):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in keys:
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def main():
    out_path = sys.argv[1]
    cmd = sys.argv[sys.argv.index("--") + 1:]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=sys.stderr)
    peak = {"RssAnon": 0, "VmRSS": 0}
    done = threading.Event()

    def sample():
        while not done.is_set():
            s = status_kb(p.pid, ("RssAnon", "VmRSS"))
            for k, v in s.items():
                peak[k] = max(peak[k], v)
            done.wait(0.05)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    done.set()
    th.join()
    rc = os.waitstatus_to_exitcode(status)
    res = {"cmd": " ".join(cmd), "rc": rc, "wall_s": round(wall, 3),
           "user_s": round(ru.ru_utime, 3), "sys_s": round(ru.ru_stime, 3),
           "maxrss_kb": ru.ru_maxrss, "peak_rss_anon_kb": peak["RssAnon"],
           "peak_rss_sampled_kb": peak["VmRSS"]}
    with open(out_path, "w") as f:
        json.dump(res, f)
        f.write("\n")
    print(json.dumps(res))
    sys.exit(rc)


if __name__ == "__main__":
    main()
