#!/usr/bin/python3
"""Writes bench/RESULTS.md (to stdout) from the files bench/run.sh left in
OUTDIR, then appends the hand-written analysis.

    report.py OUTDIR ANALYSIS.md [--json RESULTS.json] > RESULTS.md
    report.py --scale OUTDIR --json RESULTS.json > SCALE.md

--json also writes the machine-readable summary (issue #10 item 7; its
"scale" section, written by --scale, is kept across runs).

Percentiles are nearest-rank over every recorded execution of the queries
of a type (all measured passes). MB = 10^6 bytes of turn text (UTF-8).
"""
import glob
import json
import math
import os
import re
import statistics
import sys

PEERS = [("pgfts", "PostgreSQL FTS"), ("fts5", "SQLite FTS5"), ("xapian", "Xapian"),
         ("lucene", "Lucene"), ("tantivy", "Tantivy")]
TYPES = [("single", "single term (all bands)"), ("term_high", "  term, high df"),
         ("term_mid", "  term, mid df"), ("term_low", "  term, low df"), ("and", "two-term AND"),
         ("or", "two-term OR"), ("phrase", "phrase"), ("prefix", "prefix"),
         ("fuzzy", "one-typo word"), ("nl", "natural-language question")]


def load_json(path, default=None):
    try:
        with open(path) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return default


def env(out):
    e = {}
    with open(os.path.join(out, "env.txt")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            e[k] = v
    return e


def pct(xs, q):
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[max(0, math.ceil(q / 100.0 * len(s)) - 1)]


def fmt(x, nd=2):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if abs(x) >= 100:
        return "%.0f" % x
    if abs(x) >= 10:
        return "%.1f" % x
    return ("%%.%df" % nd) % x


def ratio(a, b):
    if a is None or b is None or b == 0 or any(
            isinstance(v, float) and math.isnan(v) for v in (a, b)):
        return "—"
    return "%.2f×" % (a / b)


def latencies(path):
    """type -> list of ms; type -> (queries, zero-hit queries, mean returned)"""
    lat, hits = {}, {}
    try:
        f = open(path)
    except OSError:
        return None, None
    with f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 6:
                continue
            qid, kind, pas, us, ret, total = p[:6]
            ms = float(us) / 1000.0
            for k in (kind, "single") if kind.startswith("term") else (kind,):
                lat.setdefault(k, []).append(ms)
                if pas == "1":
                    h = hits.setdefault(k, [0, 0, 0, 0])
                    h[0] += 1
                    h[1] += int(ret) == 0
                    h[2] += int(ret)
                    h[3] += int(total) == -2
    return lat, hits


def wrk(path):
    try:
        with open(path) as f:
            txt = f.read()
    except OSError:
        return None
    m = re.search(r"WRK_JSON (\{.*\})", txt)
    if not m:
        return None
    d = json.loads(m.group(1))
    d["rps"] = d["requests"] / (d["duration_us"] / 1e6)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", txt)
    d["non2xx"] = int(m.group(1)) if m else 0
    return d


def wrk_runs(out, name):
    """The runs of HTTP phase NAME (bench/run.sh --http-reps): [(wrk, suffix)],
    run 1's files being NAME, run r's NAME-rR."""
    runs = []
    for i in range(1, 100):
        sfx = "" if i == 1 else "-r%d" % i
        path = os.path.join(out, "wrk-%s%s.txt" % (name, sfx))
        if not os.path.exists(path):
            break
        d = wrk(path)
        if d:
            runs.append((d, sfx))
    return runs


def median_run(runs):
    """The run of median req/s (of two middle ones, the slower) and its suffix."""
    if not runs:
        return None, ""
    s = sorted(runs, key=lambda r: r[0]["rps"])
    return s[(len(s) - 1) // 2]


def proc_status(path):
    d = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(":")
                d[k.strip()] = int(v.split()[0])
    except OSError:
        pass
    return d


def latency_tables(p, out, prefix):
    """Writes the latency and hit tables for lat files OUT/PREFIX<engine>.tsv;
    returns [(type, ours p50, ours p99, best peer p50, best peer p99)]."""
    lat, hits = {}, {}
    for key in ("ours-exact", "ours-box", "ours-nosnip") + tuple(k for k, _ in PEERS):
        lat[key], hits[key] = latencies(os.path.join(out, "%s%s.tsv" % (prefix, key)))
    p("| query type | ours p50 / p95 / p99 | ours, search box p50 / p99 "
      "| ours, no snippets p50 / p99 | %s "
      "| p50 ours ÷ best peer | p99 ours ÷ best peer "
      "| p50 / p99 ours, no snippets ÷ best peer |" % " | ".join(
          "%s p50 / p99" % name for _, name in PEERS))
    p("|---|" + "---:|" * (6 + len(PEERS)))
    summary_types = []
    for t, label in TYPES:
        o = (lat.get("ours-exact") or {}).get(t, [])
        if not o:
            continue
        b = (lat.get("ours-box") or {}).get(t, [])
        ns = (lat.get("ours-nosnip") or {}).get(t, [])
        cells = ["%s / %s / %s" % (fmt(pct(o, 50)), fmt(pct(o, 95)), fmt(pct(o, 99))),
                 "%s / %s" % (fmt(pct(b, 50)), fmt(pct(b, 99))),
                 "%s / %s" % (fmt(pct(ns, 50)), fmt(pct(ns, 99)))]
        bp50 = bp99 = None
        for key, _ in PEERS:
            x = (lat.get(key) or {}).get(t, [])
            cells.append("%s / %s" % (fmt(pct(x, 50)), fmt(pct(x, 99))))
            if x:
                bp50 = pct(x, 50) if bp50 is None else min(bp50, pct(x, 50))
                bp99 = pct(x, 99) if bp99 is None else min(bp99, pct(x, 99))
        cells += [ratio(pct(o, 50), bp50), ratio(pct(o, 99), bp99),
                  "%s / %s" % (ratio(pct(ns, 50), bp50), ratio(pct(ns, 99), bp99))]
        p("| %s | %s |" % (label.replace("  ", "↳ "), " | ".join(cells)))
        if not t.startswith("term_"):
            summary_types.append((t, pct(o, 50), pct(o, 99), bp50, bp99))
    p("")
    p("Matches returned (first measured pass): mean hits in the top 10 / queries with no hit.")
    p("")
    p("| query type | ours | ours, search box | %s |" % " | ".join(name for _, name in PEERS))
    p("|---|" + "---:|" * (2 + len(PEERS)))
    for t, label in TYPES:
        if t.startswith("term_"):
            continue
        cells = []
        for key in ("ours-exact", "ours-box") + tuple(k for k, _ in PEERS):
            h = (hits.get(key) or {}).get(t)
            cells.append("%.1f / %d%s" % (h[2] / h[0], h[1], " (%d errors)" % h[3] if h[3] else "")
                         if h else "—")
        p("| %s | %s |" % (label, " | ".join(cells)))
    p("")
    return summary_types, lat


JSON_TYPES = [("single", "single"), ("and", "and"), ("or", "or"), ("phrase", "phrase"),
              ("prefix", "prefix"), ("typo", "fuzzy"), ("question", "nl")]
JSON_ENGINES = [("convsearch", "ours-exact")] + [(k, k) for k, _ in PEERS]


def json_latency(lat):
    """{TYPE: {ENGINE: {p50, p99}}} in ms from latency_tables' {engine: {type: [ms]}}."""
    res = {}
    for jt, t in JSON_TYPES:
        row = {}
        for je, key in JSON_ENGINES:
            xs = (lat.get(key) or {}).get(t)
            if xs:
                row[je] = {"p50": round(pct(xs, 50), 4), "p99": round(pct(xs, 99), 4)}
        res[jt] = row
    return res


def write_json(path, doc):
    def clean(x):
        if isinstance(x, float):
            return None if math.isnan(x) else round(x, 4)
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(clean(doc), f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)

# The issue's names of our query types.
ISSUE_TYPE = {"fuzzy": "typo", "nl": "question"}


def kilo(n):
    n = int(n)
    return "%dM" % (n // 1000000) if n % 1000000 == 0 else "%dk" % (n // 1000)


def must_show_10(p, summaries, ours_mbs, best_mbs, ratios, idle, live, fresh_p99, srv, scale,
                 idle_emp=None, live_emp=None):
    """Issue 10's must-show rows, each measured in this run (the scale rows from
    the last --scale run kept in results.json), and whether it is met."""
    yes = lambda ok: "yes" if ok else "**no**"
    p("## Issue 10: the must-show rows")
    p("")
    p("| row | measured | met |")
    p("|---|---|---|")
    for corpus, summ in summaries.items():
        for q, col in ((50, 1), (99, 2)):
            if not summ:
                continue
            bad = [(o[0], o[col] / o[col + 2]) for o in summ if o[col + 2] and o[col] > o[col + 2]]
            p("| %s: our p%d ≤ 1.0× the best peer, every type | %d of %d types%s | %s |" % (
                corpus, q, len(summ) - len(bad), len(summ),
                "; over: " + ", ".join("%s %.2f×" % (ISSUE_TYPE.get(t, t), r) for t, r in bad)
                if bad else "",
                yes(not bad)))
    if ours_mbs and best_mbs:
        p("| bulk indexing ≥ the best peer | %s MB/s ÷ %s MB/s = %s | %s |" % (
            fmt(ours_mbs), fmt(best_mbs), ratio(ours_mbs, best_mbs), yes(ours_mbs >= best_mbs)))
    rs = [(c, r) for c, r in ratios.items() if r]
    if rs:
        p("| index ≤ 2.5× the text | %s | %s |" % (
            ", ".join("%s %.2f×" % (c, r) for c, r in rs), yes(all(r <= 2.5 for _, r in rs))))
    for name, d, rps, p99 in (("idle", idle, 5000, 20), ("while indexing", live, 4000, 25),
                              ("idle, as the portal's 12 employees in turn", idle_emp, 5000, 20),
                              ("while indexing, as the 12 employees in turn", live_emp, 4000,
                               25)):
        if d:
            p("| HTTP %s: ≥ %s req/s, p99 ≤ %d ms | %s req/s, p99 %s ms | %s |" % (
                name, "{:,}".format(rps), p99, "{:,.0f}".format(d["rps"]),
                fmt(d["p99_us"] / 1e3), yes(d["rps"] >= rps and d["p99_us"] / 1e3 <= p99)))
    if fresh_p99 is not None:
        p("| freshness under load p99 < 100 ms | %s ms | %s |" % (fmt(fresh_p99),
                                                               yes(fresh_p99 < 100)))
    if srv:
        p("| the query server's own memory stays small | %s MB anonymous RSS after the HTTP "
          "phases (the issue sets no number) | — |" % fmt(srv.get("RssAnon", 0) / 1024))
    sizes = (scale or {}).get("sizes") or {}
    big = sizes.get("1000000")
    if big:
        ns = sorted(sizes, key=int)
        at = " (scale run at `%s`)" % (scale.get("commit") or "")[:7]
        # The search box is the portal's (DESIGN.md): its callers are employees, each over
        # their own people; an admin's search over every conversation is the other case.
        for key, who in (("box_mix", "as an admin, over every conversation"),
                         ("box_mix_employees", "as the portal's employees in turn, each over "
                          "their own people")):
            mix = big.get(key) or {}
            if mix.get("p99") is None:
                continue
            p("| scale, 1M conversations: search-box mix p99 ≤ 25 ms in process, %s | %s ms%s "
              "| %s |" % (who, fmt(mix["p99"]), at, yes(mix["p99"] <= 25)))
            steps = []
            for a, b in zip(ns, ns[1:]):
                ma = sizes[a].get(key) or {}
                mb = sizes[b].get(key) or {}
                if ma.get("p50") and mb.get("p50"):
                    steps.append((a, b, mb["p50"] / ma["p50"], int(b) / int(a)))
            if steps:
                p("| scale: latency grows sub-linearly with the corpus (search-box mix p50, %s) "
                  "| %s | %s |" % (who, ", ".join("%s → %s: ×%.1f for ×%d" % (kilo(a), kilo(b), g, n)
                                                   for a, b, g, n in steps),
                                   yes(all(g < n for _, _, g, n in steps))))
        mem = [(n, sizes[n]["memory_mb"].get("indexer_bulk_anon")) for n in ns
               if sizes[n].get("memory_mb")]
        mem = [(n, m) for n, m in mem if m]
        if len(mem) >= 2:
            p("| scale: indexer memory flat (taken as: the largest size within 1.25× the smallest) "
              "| %s MB | %s |" % (" / ".join(fmt(m) for _, m in mem),
                                  yes(mem[-1][1] <= 1.25 * mem[0][1])))
    p("")


def scale_table(p, sizes):
    """The scale curve's table, one row per size (results.json's "scale" sizes)."""
    p("| conversations | turns | text MB | index MB (÷ text) | MB/s | " +
      " | ".join("%s p50 / p99" % jt for jt, _ in JSON_TYPES) +
      " | box mix p50 / p99 | box mix as employees p50 / p99 | HTTP idle req/s, p99 | HTTP indexing req/s, p99 | freshness p99 "
      "| indexer bulk / following MB | server own / mapped MB |")
    p("|" + "---:|" * (12 + len(JSON_TYPES)))
    for n, r in sizes.items():
        ix, h, m = r["indexing"], r["http"], r["memory_mb"]
        def hh(x):
            return "%s, %s ms" % ("{:,.0f}".format(x["rps"]), fmt(x["p99_ms"])) if x else "—"
        emp = r.get("box_mix_employees") or {}
        p("| %s | %s | %s | %s (%s) | %s | %s | %s / %s | %s / %s | %s | %s | %s | %s / %s | %s / %s |" % (
            "{:,}".format(r["conversations"]), "{:,}".format(r["turns"]), fmt(r["text_mb"]),
            fmt(ix["index_mb"]), fmt(ix["size_ratio"]), fmt(ix["mb_s"]),
            " | ".join("%s / %s" % (fmt(v["p50"]), fmt(v["p99"])) for v in r["latency"].values()),
            fmt(r["box_mix"]["p50"]), fmt(r["box_mix"]["p99"]), fmt(emp.get("p50")),
            fmt(emp.get("p99")), hh(h.get("idle")),
            hh(h.get("indexing")), fmt((r["freshness"] or {}).get("p99_ms")),
            fmt(m["indexer_bulk_anon"]), fmt(m["indexer_following_anon"]), fmt(m["server_anon"]),
            fmt(m["server_file"])))
    p("")


def scale_main(out, json_path):
    """The scale curve (bench/scale.sh): Markdown to stdout, the "scale"
    section of json_path."""
    e = env(out)
    sizes = {}
    for n in e.get("sizes", "").split():
        d = os.path.join(out, n)
        try:
            c = open(os.path.join(d, "corpus.txt")).read().split()
        except OSError:
            continue
        turns, text_bytes = int(c[0]), int(c[1])
        b = load_json(os.path.join(d, "build.json"), {})
        try:
            size = int(open(os.path.join(d, "size.txt")).read().split()[0])
        except (OSError, IndexError, ValueError):
            size = None
        lat = {}
        for m in ("exact", "box"):
            lat[m], _ = latencies(os.path.join(d, "lat-ours-%s.tsv" % m))
        lj = load_json(os.path.join(d, "live.json"), {})
        srv = proc_status(os.path.join(d, "rss-server.txt"))
        fol = proc_status(os.path.join(d, "rss-indexer-following.txt"))
        http = {}
        for k, f in (("idle", "wrk-idle.txt"), ("indexing", "wrk-live.txt")):
            w = wrk(os.path.join(d, f))
            http[k] = {"rps": w["rps"], "p99_ms": w["p99_us"] / 1e3,
                       "errors": w["non2xx"] + w["errors_connect"] + w["errors_read"] +
                       w["errors_write"] + w["errors_timeout"]} if w else None
        box_all = [x for t, xs in (lat["box"] or {}).items() if t != "single" for x in xs]
        emp_f = os.path.join(d, "lat-ours-box-employees.tsv")
        emp, _ = latencies(emp_f) if os.path.exists(emp_f) else (None, None)
        emp_all = [x for t, xs in (emp or {}).items() if t != "single" for x in xs]
        sizes[n] = {
            "conversations": int(c[2]), "turns": turns, "text_mb": text_bytes / 1e6,
            "indexing": {"mb_s": text_bytes / 1e6 / b["wall_s"] if b.get("rc") == 0 else None,
                         "wall_s": b.get("wall_s"), "index_mb": size / 1e6 if size else None,
                         "size_ratio": size / text_bytes if size else None},
            "latency": {jt: {"p50": pct((lat["exact"] or {}).get(t, []), 50),
                             "p99": pct((lat["exact"] or {}).get(t, []), 99),
                             "box_p50": pct((lat["box"] or {}).get(t, []), 50),
                             "box_p99": pct((lat["box"] or {}).get(t, []), 99)}
                        for jt, t in JSON_TYPES},
            "box_mix": {"p50": pct(box_all, 50), "p99": pct(box_all, 99)},
            "box_mix_employees": {"p50": pct(emp_all, 50),
                                  "p99": pct(emp_all, 99)} if emp_all else None,
            "http": http,
            "freshness": {"p99_ms": pct(lj["freshness_ms"], 99),
                          "timeouts": lj.get("probe_timeouts")} if lj.get("freshness_ms") else None,
            "memory_mb": {"indexer_bulk_anon": b.get("peak_rss_anon_kb", 0) / 1024 or None,
                          "indexer_following_anon": fol.get("RssAnon", 0) / 1024 or None,
                          "server_anon": srv.get("RssAnon", 0) / 1024 or None,
                          "server_file": srv.get("RssFile", 0) / 1024 or None},
        }
    w = []
    p = w.append
    p("# Scale curve (bench/run.sh --scale)")
    p("")
    p("commit `%s`, %s, %s cores, whole run %s s. Synthetic interviews (cs-bench-synth seed 42); "
      "one query set drawn from the smallest size (bench/queries/scale/); latency in process "
      "(cs-bench-ours, exact = peers' semantics, box = the search box); HTTP = wrk 64 "
      "connections, search-box mix, %s s per phase; freshness with the HTTP load and the write "
      "load; memory = anonymous RSS." % (e.get("commit"), e.get("date"), e.get("nproc"),
                                        e.get("elapsed_s"), e.get("http_seconds")))
    p("")
    scale_table(p, sizes)
    sys.stdout.write("\n".join(w))
    if json_path:
        doc = load_json(json_path, {}) or {}
        doc["scale"] = {"commit": e.get("commit"), "date": e.get("date"), "sizes": sizes}
        write_json(json_path, doc)


def main():
    args = sys.argv[1:]
    json_path = None
    if "--json" in args:
        i = args.index("--json")
        json_path = args[i + 1]
        del args[i:i + 2]
    if args and args[0] == "--scale":
        return scale_main(args[1], json_path)
    out, analysis = args[0], args[1]
    e = env(out)
    corpus = open(os.path.join(out, "corpus.txt")).read().split()
    turns, text_bytes, convs = int(corpus[0]), int(corpus[1]), int(corpus[2])
    mb = text_bytes / 1e6
    load = load_json(os.path.join(out, "load.json"), {})
    w = []
    p = w.append
    quick = e.get("mode") == "quick"
    p("# convsearch benchmark results")
    p("")
    p("Generated by `%s` (bench/report.py; the analysis at the end is bench/analysis.md, "
      "written by hand). Every number below was measured in that one run; nothing is "
      "copied from elsewhere." % e["command"].strip())
    p("")
    p("## Setup")
    p("")
    dirty = int(e.get("dirty", "0"))
    p("| | |")
    p("|---|---|")
    p("| date (UTC) | %s; whole run %s s |" % (e["date"], e["elapsed_s"]))
    p("| machine | %s cores (`nproc`), %s, %.1f GiB RAM, %s, Linux %s |" % (
        e["nproc"], e["cpu"], int(e["mem_kb"]) / 1048576, e["os"], e["kernel"]))
    p("| commit | `%s`%s |" % (e["commit"], " plus %d uncommitted change(s) outside bench/ "
                               "(`git status`)" % dirty if dirty else ""))
    p("| build | CMake Release (-O3), %s |" % e["cc"])
    p("| versions | PostgreSQL %s, SQLite %s, Xapian %s, Lucene %s (Java %s), Tantivy %s, "
      "LMDB %s, ICU %s, jemalloc %s (our server's and in-process benchmark's allocator), "
      "wrk %s |" % (
          e["postgresql"], e["sqlite"], e["xapian"], e.get("lucene", "?"), e.get("java", "?"),
          e.get("tantivy", "?"), e["lmdb"], e["icu"], e.get("jemalloc", "none"), e["wrk"]))
    p("| corpus | ParlaMint-ES%s: %d sittings as conversations, %s turns (paragraphs), "
      "%.1f MB of text; loaded with COPY in %.1f s |" % (
          " quick subset (every 10th sitting)" if quick else " (whole)", convs,
          "{:,}".format(turns), mb, load.get("load_s", float("nan"))))
    p("")

    # ---------------------------------------------------------------- indexing
    def med(vals):
        vals = [v for v in vals if v is not None]
        return statistics.median(vals) if vals else None

    ours_runs = [load_json(f) for f in sorted(glob.glob(os.path.join(out, "build-ours-*.json")))]
    ours_mbs = med([mb / r["wall_s"] for r in ours_runs if r and r["rc"] == 0])
    ours_wall = med([r["wall_s"] for r in ours_runs if r and r["rc"] == 0])
    sizes = []
    for f in sorted(glob.glob(os.path.join(out, "size-ours-*.txt"))):
        v = open(f).read().split()
        sizes.append(int(v[1]) * 1024)
    ours_size = sizes[-1] if sizes else None
    ours_rss = max((r["peak_rss_anon_kb"] for r in ours_runs if r), default=None)
    ours_maxrss = max((r["maxrss_kb"] for r in ours_runs if r), default=None)
    peers_build = {}
    for key, _ in PEERS:
        runs = [load_json(f) for f in sorted(glob.glob(os.path.join(out, "build-%s-*.json" % key)))]
        runs = [r for r in runs if r]
        if runs:
            peers_build[key] = {"mbs": med([mb / r["seconds"] for r in runs]),
                                "wall": med([r["seconds"] for r in runs]),
                                "size": runs[-1]["size_bytes"], "n": len(runs), "last": runs[-1]}
    best_mbs = max((v["mbs"] for v in peers_build.values()), default=None)
    best_size = min((v["size"] for v in peers_build.values()), default=None)
    p("## Bulk indexing (one core)")
    p("")
    p("Throughput = MB of turn text ÷ wall time, median of the runs. Ours: "
      "`taskset -c 0 convsearch-indexer run --once` catching up from PostgreSQL over the "
      "loaded stores into an empty index (reading the stores is included; PostgreSQL serves "
      "from the other core). Peers: their bulk build of the same turns (see notes).")
    p("")
    p("| engine | MB/s | wall s | runs | index size MB | size ÷ text |")
    p("|---|---:|---:|---:|---:|---:|")
    p("| **convsearch** | **%s** | %s | %d | %s | %s |" % (
        fmt(ours_mbs), fmt(ours_wall), len(ours_runs), fmt(ours_size / 1e6 if ours_size else None),
        fmt(ours_size / text_bytes if ours_size else None)))
    for key, name in PEERS:
        b = peers_build.get(key)
        if b:
            p("| %s | %s | %s | %d | %s | %s |" % (name, fmt(b["mbs"]), fmt(b["wall"]), b["n"],
                                                 fmt(b["size"] / 1e6), fmt(b["size"] / text_bytes)))
    p("| ours ÷ best peer | %s | | | %s | |" % (ratio(ours_mbs, best_mbs), ratio(ours_size, best_size)))
    p("")
    pg = peers_build.get("pgfts", {}).get("last", {})
    fts = peers_build.get("fts5", {}).get("last", {})
    p("Details: convsearch index = LMDB files on disk (`du`), holding postings with positions, "
      "the stored turns with their token tables, lexicon and word table. "
      "PostgreSQL = GIN index (%s MB) + stored tsvector column (%s MB); its build = INSERT "
      "with the generated tsvector %s s + CREATE INDEX %s s; not counted: ANALYZE %s s, the "
      "pg_trgm word table for fuzzy search %s s (%s MB). SQLite = the whole database file "
      "(FTS5 index + stored text); not counted: the 'optimize' merge, %s s. Xapian = the "
      "database directory (postings, positions, spelling data, no stored text)." % (
          fmt(pg.get("gin_bytes", 0) / 1e6), fmt(pg.get("tsvector_bytes", 0) / 1e6),
          fmt(pg.get("insert_seconds")), fmt(pg.get("gin_seconds")), fmt(pg.get("analyze_seconds")),
          fmt(pg.get("fuzzy_support_seconds")), fmt(pg.get("words_table_bytes", 0) / 1e6),
          fmt(fts.get("optimize_seconds"))) +
      " Lucene and Tantivy = the index directory after the merge into one segment (postings, "
      "positions, the unstemmed word field, the stored turn id, no stored text); not counted: "
      "that merge, %s s and %s s." % (
          fmt(peers_build.get("lucene", {}).get("last", {}).get("merge_seconds")),
          fmt(peers_build.get("tantivy", {}).get("last", {}).get("merge_seconds"))))
    p("")

    # ---------------------------------------------------------------- latency
    qinfo = load_json(os.path.join(out, "queries.json"), {})
    p("## Query latency, top 10, single thread, warm (ms)")
    p("")
    p("In process: ours through `cs_engine_search_text` (query/engine.h: the answer's JSON text, "
      "what the server sends; admin caller, limit 10, snippets built), PostgreSQL through libpq (prepared statements, server on the same "
      "machine), SQLite and Xapian through their C/C++ APIs. One warm-up pass over all queries, "
      "then every query once per measured pass (ours and Xapian: %s passes, SQLite and "
      "PostgreSQL: %s). %s queries per type from the corpus (seed %s; bands: high df %s, "
      "mid %s, low %s turns), in `bench/queries/%s/queries.tsv`, top-10 ids of every engine "
      "beside it. *ours* = the peers' semantics in our syntax; *ours, search box* = what the "
      "portal sends (typo tolerance, last word as prefix, relaxation); *ours, no snippets* = "
      "*ours* without building snippets or highlights (`--snippets 0`: the same hits, like "
      "the peers' ids); the ratios to the best peer use *ours* (the issue's rows), and the last "
      "column, the same work as the peers (ten ids, no snippets), is beside them to show "
      "how much of each ratio the snippets are." % (
          "5" if quick else "3", "2" if quick else "1", qinfo.get("per_type", "?"),
          qinfo.get("seed", "?"), "–".join(map(str, qinfo.get("df_high", []))),
          "–".join(map(str, qinfo.get("df_mid", []))),
          "–".join(map(str, qinfo.get("df_low", []) or [])), e["mode"]))
    p("")
    summary_types, lat_main = latency_tables(p, out, "lat-")
    p("Ours returns conversations (a sitting here, ~%d turns each), the peers return turns: "
      "the same words are searched, the unit ranked differs." % (turns // max(1, convs)))
    p("")

    # ---------------------------------------------------------------- HTTP
    runs = {f: wrk_runs(out, f) for f in ("idle", "live", "idle-employees", "live-employees")}
    med = {f: median_run(r) for f, r in runs.items()}
    idle, live = med["idle"][0], med["live"][0]
    idle_emp, live_emp = med["idle-employees"][0], med["live-employees"][0]
    nruns = max(len(r) for r in runs.values())
    lj = load_json(os.path.join(out, "live.json"), {})
    # The freshness probes beside the admin's load: every run's.
    lj_all = dict(lj) if lj else {}
    for _, sfx in runs["live"][1:]:
        more = load_json(os.path.join(out, "live%s.json" % sfx), {})
        if lj_all and more.get("freshness_ms") is not None:
            lj_all["freshness_ms"] = lj_all.get("freshness_ms", []) + more["freshness_ms"]
            lj_all["probe_timeouts"] = lj_all.get("probe_timeouts", 0) + more.get("probe_timeouts", 0)
    lq = load_json(os.path.join(out, "live-quiet.json"), {})
    p("## HTTP throughput, 64 connections (convsearch-server)")
    p("")
    p("`wrk -t2 -c64 -d%ss --latency` with bench/wrk_search.lua rotating `GET /v1/search?q=…"
      "&limit=10` over the queries above as typed in the search box (admin token), against "
      "`convsearch-server` on 127.0.0.1 (default threads; under `nice -n 10`, as its systemd "
      "unit runs it with `CPUWeight=10` and `Nice=10`), with the following indexer "
      "(`convsearch-indexer run`) attached. wrk, the server, the indexer, PostgreSQL and the "
      "writer share the 2 cores. Peers have no HTTP server: not measured. The last two rows "
      "are what the portal sends: the same requests, each with the token of the next of the 12 "
      "employees in turn, who see their own people's sittings only (~%d each)." % (
          e["http_seconds"], convs // 12))
    if nruns > 1:
        p("")
        p("The idle phases ran %d times in turn, before the phases while indexing (once: "
          "their write load adds conversations to the employees' people, so a later run "
          "would search a larger index); each row is the phase's median run by "
          "requests/s, and the last column the range over all its runs." % nruns)
    p("")
    p("| phase | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors | server CPU µs a request "
      "| wrk, cores | the rest, cores |%s" % (" all runs: req/s; p99 ms |" if nruns > 1 else ""))
    p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|%s" % ("---:|" if nruns > 1 else ""))
    for name, d, f in (("indexer idle", idle, "idle"), ("while indexing the write load", live, "live"),
                       ("indexer idle, as the portal's 12 employees in turn (not the issue's row)",
                        idle_emp, "idle-employees"),
                       ("while indexing the write load, as the 12 employees (not the issue's row)",
                        live_emp, "live-employees")):
        if d:
            errs = d["non2xx"] + d["errors_connect"] + d["errors_read"] + d["errors_write"] + \
                d["errors_timeout"]
            cpu = load_json(os.path.join(out, "cpu-%s%s.json" % (f, med[f][1])), {})
            secs = d["duration_us"] / 1e6
            if cpu and d["requests"]:
                hz = cpu["hz"]
                cols = (fmt(cpu["server"] / hz / d["requests"] * 1e6),
                        "%.2f" % (cpu["wrk"] / hz / secs),
                        "%.2f" % (max(0, cpu["machine"] - cpu["server"] - cpu["wrk"]) / hz / secs))
            else:
                cols = ("—", "—", "—")
            if nruns > 1:
                rr = sorted(x["rps"] for x, _ in runs[f])
                pp = sorted(x["p99_us"] / 1e3 for x, _ in runs[f])
                cols += ("{:,.0f}–{:,.0f}; {}–{}".format(rr[0], rr[-1], fmt(pp[0]), fmt(pp[-1]))
                         if len(rr) > 1 else "one run",)
            p("| %s | %s | %s | %s | %s | %s | %d |" % (
                name, "{:,.0f}".format(d["rps"]), fmt(d["p50_us"] / 1e3), fmt(d["p90_us"] / 1e3),
                fmt(d["p99_us"] / 1e3), fmt(d["max_us"] / 1e3), errs) +
              "".join(" %s |" % c for c in cols))
    p("")
    p("CPU: clock ticks over each phase, from /proc: the server's own (all its threads), wrk's, "
      "and the rest of the machine's busy time (the indexer, PostgreSQL, the writer, the "
      "probes and anything else), in cores (2 = the whole machine). Before the first phase "
      "the bench database is vacuumed and analyzed and no autovacuum worker is left running, "
      "so that no PostgreSQL work left by the peers' builds runs beside the phases.")
    p("")
    if lj:
        p("Write load during the second phase (cs-bench-live): %d conversations (%s turns, "
          "%.2f MB of text) committed in %.1f s — %.1f conversations/s, %.0f turns/s — each one "
          "transaction, plus %d freshness probes; %d write errors." % (
              lj["conversations"], "{:,}".format(lj["turns"]), lj["text_bytes"] / 1e6,
              lj["seconds"], lj["conversations"] / lj["seconds"], lj["turns"] / lj["seconds"],
              lj["probes"] + lj["probe_timeouts"], lj["write_errors"]))
        p("")

    # ---------------------------------------------------------------- freshness
    p("## Freshness: commit in PostgreSQL → visible in search")
    p("")
    p("A probe commits a new conversation whose turn holds a made-up word (new in every run: "
      "made from the conversation's id), then searches for it in process (`cs_engine_search`) "
      "every 0.5 ms; freshness = found − COMMIT returned. 10 probes/s, beside the write load "
      "of 5 conversations/s.")
    p("")
    p("| condition | probes | p50 ms | p99 ms | max ms | not visible within 10 s |")
    p("|---|---:|---:|---:|---:|---:|")
    fresh_p99 = None
    for name, d in (("with the HTTP load" + (" (every run's probes)" if len(runs["live"]) > 1
                                             else ""), lj_all),
                    ("without the HTTP load", lq)):
        if d and d.get("freshness_ms") is not None:
            xs = d["freshness_ms"]
            p("| %s | %d | %s | %s | %s | %d |" % (name, len(xs), fmt(pct(xs, 50)), fmt(pct(xs, 99)),
                                                   fmt(max(xs) if xs else None), d["probe_timeouts"]))
            if d is lj_all:
                fresh_p99 = pct(xs, 99)
    p("")

    # ---------------------------------------------------------------- memory
    si, sl = proc_status(os.path.join(out, "server-rss-idle.txt")), proc_status(
        os.path.join(out, "server-rss-loaded.txt"))
    synth = load_json(os.path.join(out, "synth.json"), {})
    bs = load_json(os.path.join(out, "build-synth.json"), {})
    ssize = None
    try:
        ssize = int(open(os.path.join(out, "size-synth.txt")).read().split()[0]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    p("## Memory")
    p("")
    p("| what | anonymous RSS MB (own memory) | file-backed RSS MB (mapped index) | peak RSS MB |")
    p("|---|---:|---:|---:|")
    if si:
        p("| query server, started | %s | %s | %s |" % (fmt(si.get("RssAnon", 0) / 1024),
                                                        fmt(si.get("RssFile", 0) / 1024),
                                                        fmt(si.get("VmHWM", 0) / 1024)))
    # After each HTTP phase in turn (runs from 2026-12-06 on), then after all of them.
    for f, what in (("server-rss-after-idle.txt", "after the admin's idle phase"),
                    ("server-rss-after-idle-employees.txt", "after the employees' idle phase"),
                    ("server-rss-after-live.txt", "after the admin's phase while indexing")):
        d = proc_status(os.path.join(out, f))
        if d:
            p("| query server, %s | %s | %s | %s |" % (
                what, fmt(d.get("RssAnon", 0) / 1024), fmt(d.get("RssFile", 0) / 1024),
                fmt(d.get("VmHWM", 0) / 1024)))
    if sl:
        p("| query server, after the HTTP phases | %s | %s | %s |" % (
            fmt(sl.get("RssAnon", 0) / 1024), fmt(sl.get("RssFile", 0) / 1024),
            fmt(sl.get("VmHWM", 0) / 1024)))
    if ours_runs:
        p("| indexer, catch-up of the %.0f MB corpus (peak) | %s | | %s |" % (
            mb, fmt(ours_rss / 1024), fmt(ours_maxrss / 1024)))
    if bs:
        p("| indexer, catch-up of %s synthetic interviews, %.0f MB (peak) | %s | | %s |" % (
            "{:,}".format(synth.get("conversations", 0)), synth.get("text_bytes", 0) / 1e6,
            fmt(bs["peak_rss_anon_kb"] / 1024), fmt(bs["maxrss_kb"] / 1024)))
    fl = proc_status(os.path.join(out, "indexer-rss-idle-after-load.txt"))
    if fl and synth:
        p("| indexer following the stores (`run`), idle after that same load | %s | %s | %s |" % (
            fmt(fl.get("RssAnon", 0) / 1024), fmt(fl.get("RssFile", 0) / 1024),
            fmt(fl.get("VmHWM", 0) / 1024)))
    p("")
    p("Anonymous RSS sampled every 50 ms from /proc/PID/status (RssAnon); peak RSS = "
      "getrusage ru_maxrss (includes the pages of the LMDB map the process touched). The "
      "following indexer's row is read from /proc/PID/status 2 s after its load was "
      "compacted (peak RSS there: VmHWM).")
    p("")
    if bs and synth:
        smb = synth["text_bytes"] / 1e6
        p("## Synthetic interviews (cs-bench-synth, seed 42)")
        p("")
        p("%s conversations, %s people, %s turns, %.1f MB of text (the portal's shape: short "
          "turns, ~%d per conversation). `convsearch-indexer run --once`, one core: %.1f s wall, "
          "**%.1f MB/s**, index %s MB (%.2f× the text)." % (
              "{:,}".format(synth["conversations"]), "{:,}".format(synth["patients"]),
              "{:,}".format(synth["segments"]), smb, synth["segments"] // synth["conversations"],
              bs["wall_s"], smb / bs["wall_s"], fmt(ssize / 1e6 if ssize else None),
              (ssize or 0) / synth["text_bytes"]))
        p("")

    sc = None
    synl_summary, synl_ratio = [], None
    try:
        sc = open(os.path.join(out, "synl-corpus.txt")).read().split()
    except OSError:
        pass
    if sc:
        sturns, sbytes, sconvs = int(sc[0]), int(sc[1]), int(sc[2])
        smb2 = sbytes / 1e6
        p("## The portal's shape: synthetic interviews, every engine")
        p("")
        p("A second, smaller synthetic set (cs-bench-synth seed 11): %s conversations, %s turns "
          "(~%d per conversation), %.1f MB of text, indexed once by every engine the same way "
          "as above, with its own query set (`bench/queries/%s-synthetic/`). Synthetic text is "
          "word salad with a Zipfian vocabulary: good for speed, meaningless for relevance." % (
              "{:,}".format(sconvs), "{:,}".format(sturns), sturns // max(1, sconvs), smb2,
              e["mode"]))
        p("")
        p("| engine | MB/s (one run) | wall s | index size MB | size ÷ text |")
        p("|---|---:|---:|---:|---:|")
        ob = load_json(os.path.join(out, "synl-build-ours-1.json"), {})
        try:
            osz = int(open(os.path.join(out, "synl-size-ours-1.txt")).read().split()[1]) * 1024
        except (OSError, IndexError, ValueError):
            osz = None
        if ob:
            p("| **convsearch** | **%s** | %s | %s | %s |" % (
                fmt(smb2 / ob["wall_s"]), fmt(ob["wall_s"]), fmt(osz / 1e6 if osz else None),
                fmt(osz / sbytes if osz else None)))
        for key, name in PEERS:
            b = load_json(os.path.join(out, "synl-build-%s-1.json" % key))
            if b:
                p("| %s | %s | %s | %s | %s |" % (name, fmt(smb2 / b["seconds"]), fmt(b["seconds"]),
                                                 fmt(b["size_bytes"] / 1e6),
                                                 fmt(b["size_bytes"] / sbytes)))
        p("")
        synl_summary, lat_synl = latency_tables(p, out, "synl-lat-")
        synl_ratio = osz / sbytes if osz else None

    # ---------------------------------------------------------------- issue 10
    scale = (load_json(json_path, {}) or {}).get("scale") if json_path else None
    if scale and scale.get("sizes"):
        p("## Scale curve (synthetic interviews; the last `bench/run.sh --scale` run)")
        p("")
        p("Run at `%s`, %s (kept in results.json across full runs). cs-bench-synth seed 42, ~37 "
          "turns a conversation, one employee per 200 conversations; one query set for every "
          "size; in process, ms: exact = the peers' semantics as an admin, box = the search box "
          "as an admin over every conversation, and as the portal's employees in turn, each "
          "over their own people (at 100k and 1M more owners take turns than the 64 whose "
          "people are kept, so each of those searches reads its own); HTTP = wrk, 64 "
          "connections, the admin's search-box mix; memory = anonymous RSS, MB." % (
              (scale.get("commit") or "")[:7], scale.get("date")))
        p("")
        scale_table(p, scale["sizes"])
    must_show_10(p, {"ParlaMint": summary_types, "interviews": synl_summary},
                 ours_mbs, best_mbs,
                 {"ParlaMint": ours_size / text_bytes if ours_size else None,
                  "interviews": synl_ratio},
                 idle, live, fresh_p99, sl, (load_json(json_path, {}) or {}).get("scale")
                 if json_path else None, idle_emp, live_emp)

    # ---------------------------------------------------------------- targets
    p("## Targets (issue #6)")
    p("")
    p("| target | measured | met |")
    p("|---|---|---|")
    if ours_mbs and best_mbs:
        p("| indexing ≥ 2× best peer | %s MB/s vs %s MB/s = %s | %s |" % (
            fmt(ours_mbs), fmt(best_mbs), ratio(ours_mbs, best_mbs),
            "yes" if ours_mbs >= 2 * best_mbs else "**no**"))
    beat = [t for t, o50, o99, b50, b99 in summary_types
            if b50 is not None and o50 < b50 and o99 < b99]
    lose = [t for t, o50, o99, b50, b99 in summary_types if t not in beat]
    p("| query p50 and p99 better than every peer | better on %d of %d types%s | %s |" % (
        len(beat), len(summary_types), (" (not: %s)" % ", ".join(lose)) if lose else "",
        "yes" if not lose else "**no**"))
    over = [(t, o99) for t, o50, o99, b50, b99 in summary_types if o99 >= 1.0]
    p("| query p99 < 1 ms | %s | %s |" % (
        "all types" if not over else "over on " + ", ".join("%s %s ms" % (t, fmt(v)) for t, v in over),
        "yes" if not over else "**no**"))
    if fresh_p99 is not None:
        p("| freshness p99 < 100 ms (under load) | %s ms | %s |" % (
            fmt(fresh_p99), "yes" if fresh_p99 < 100 and not lj_all.get("probe_timeouts") else "**no**"))
    if live:
        ok = live["rps"] >= 10000 and live["p99_us"] < 20000
        p("| ≥ 10,000 search req/s at p99 < 20 ms while indexing | %s req/s, p99 %s ms | %s |" % (
            "{:,.0f}".format(live["rps"]), fmt(live["p99_us"] / 1e3), "yes" if ok else "**no**"))
    p("")

    # ---------------------------------------------------------------- Q&A
    p("## Q&A retrieval quality (issues #4, #13)")
    p("")
    qa = os.path.join(out, "qa.md")
    if os.path.exists(qa):
        p(open(qa).read().rstrip())
    else:
        p("Not measured by this run. Issue #4 fills this table (SQuAD-es passage retrieval; "
          "CACM MAP against Anserini): a `bench/qa.sh` that prints it as Markdown is run by "
          "run.sh and its output lands here.")
        p("")
        p("| engine | Recall@1 | Recall@5 | Recall@10 | MRR@10 | CACM MAP |")
        p("|---|---:|---:|---:|---:|---:|")
        p("| convsearch | | | | | |")
        p("| Anserini BM25 (published) | | | | | 0.3123 |")
    p("")

    # ---------------------------------------------------------------- notes
    p("## How each engine is set up")
    p("")
    p("- **convsearch**: the index written by `convsearch-indexer` from the canonical stores "
      "(ParlaMint mapping: one sitting = one conversation with one synthetic person and one of "
      "12 synthetic employees as owner; paragraphs = turns; chair → interviewer, other speakers "
      "→ beneficiary/other; turn times from word counts at 150 words/minute — see "
      "bench/load_parlamint.py). Queries in our syntax, per type: `\"w\"`, `\"a\" \"b\"`, "
      "`\"a\" OR \"b\"`, `\"a b c\"`, `pre*`, `w~1`, content words OR-ed; search box: the "
      "text as typed.")
    p("- **PostgreSQL FTS**: table of turns with `tsv tsvector GENERATED ALWAYS AS "
      "(to_tsvector('spanish', body)) STORED`, GIN index, `ORDER BY ts_rank(tsv, q) DESC LIMIT "
      "10`; to_tsquery / phraseto_tsquery; prefix `pre:*`; fuzzy: the 3 most similar corpus "
      "words by pg_trgm OR-ed; shared_buffers 2GB, JIT off. The `spanish` configuration "
      "does not fold accents.")
    p("- **SQLite FTS5**: `fts5(text, tokenize = 'unicode61 remove_diacritics 2')` (no "
      "Spanish stemmer exists for FTS5), `ORDER BY rank` (bm25), one transaction for the "
      "build, optimized afterwards; fuzzy: the word's one-edit neighbours found in the "
      "fts5vocab vocabulary, OR-ed.")
    p("- **Xapian**: TermGenerator/QueryParser with Stem(\"spanish\"), STEM_SOME, Spanish "
      "stop list at query time (bench/stopwords-es.txt), BM25Weight defaults, spelling data "
      "indexed; fuzzy = QueryParser spelling correction; prefix = FLAG_WILDCARD.")
    p("- **Lucene** (bench/lucene): SpanishAnalyzer (standard tokenizer, lower case, Spanish "
      "stop words, light stemmer), BM25Similarity, 256 MB RAM buffer, one indexing thread, "
      "forceMerge(1), MMapDirectory, query cache off, `search(query, 10)` (top-k pruning, hit "
      "count a lower bound); the words also unstemmed in a frequencies-only field for "
      "PrefixQuery and FuzzyQuery (maxEdits 1); queries built with the API; 3 JIT warm-up "
      "passes before the measured ones; JVM -Xms1g -Xmx2g.")
    p("- **Tantivy** (bench/tantivy): SimpleTokenizer, LowerCaser, Spanish stop words and "
      "Snowball stemmer, BM25, one indexing thread (512 MB), no merges while loading then one "
      "merge into a single segment, `TopDocs::with_limit(10)` (block-WAND, no count); the "
      "words also unstemmed (frequencies only) for prefix (`FuzzyTermQuery::new_prefix`, "
      "distance 0) and typo (`FuzzyTermQuery`, distance 1) queries; 3 warm-up passes.")
    p("")
    with open(analysis) as f:
        p(f.read().rstrip())
    p("")
    sys.stdout.write("\n".join(w))
    if json_path:
        ob = load_json(os.path.join(out, "synl-build-ours-1.json"), {})
        indexing = {"convsearch": {"mb_s": ours_mbs,
                                   "index_mb": ours_size / 1e6 if ours_size else None,
                                   "size_ratio": ours_size / text_bytes if ours_size else None}}
        for key, _ in PEERS:
            b = peers_build.get(key)
            if b:
                indexing[key] = {"mb_s": b["mbs"], "index_mb": b["size"] / 1e6,
                                 "size_ratio": b["size"] / text_bytes}
        doc = {"commit": e["commit"], "mode": e["mode"], "indexing": indexing,
               "latency": {"parlamint": json_latency(lat_main),
                           "interviews": json_latency(lat_synl) if sc else {}},
               "http": {k: {"rps": d["rps"], "p99_ms": d["p99_us"] / 1e3} if d else None
                        for k, d in (("idle", idle), ("indexing", live),
                                     ("idle_employees", idle_emp),
                                     ("indexing_employees", live_emp))},
               "freshness": {k: {"p99_ms": pct(d["freshness_ms"], 99)}
                             if d and d.get("freshness_ms") else None
                             for k, d in (("loaded", lj_all), ("idle", lq))}}
        old = load_json(json_path, {}) or {}
        if "scale" in old:
            doc["scale"] = old["scale"]
        write_json(json_path, doc)


if __name__ == "__main__":
    main()
