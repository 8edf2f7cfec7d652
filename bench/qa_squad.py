#!/usr/bin/python3
"""SQuAD-es passage retrieval, for bench/qa.sh.

  qa_squad.py load SQUAD.json OUT_DIR
      writes OUT_DIR/{conversations,segments}.tsv (COPY format) and
      OUT_DIR/questions.tsv (qid, paragraph id, question; v2.0's unanswerable
      questions are left out): each paragraph is
      one conversation with one turn; the article title is not given to any
      engine (the peers index turns only).
  qa_squad.py ours URL TOKEN OUT_DIR
      asks POST URL/v1/qa/retrieve {question, k: 10} for every question and
      writes OUT_DIR/results-ours.tsv (qid, ranked distinct conversation ids).
  qa_squad.py peers-queries OUT_DIR
      writes OUT_DIR/queries.tsv in the peers' format (qid, "nl", question).
  qa_squad.py score OUT_DIR ENGINE...
      prints the Markdown table: Recall@1/5/10 and MRR@10 per engine.
  qa_squad.py halves OUT_DIR ENGINE...
      MRR@10 per engine on the tuning half (questions of odd-numbered
      articles), the held-out half (even-numbered) and the whole.
  qa_squad.py step OUT_DIR NAME
      one row of bench/qa_steps.sh's table (ours: MRR@10 whole / tuning /
      held-out, latency p50 / p99).
"""
import http.client
import json
import sys
import time
import urllib.parse


def tsv(s):
    return s.replace("\\", "\\\\").replace("\t", " ").replace("\n", " ").replace("\r", " ")


def load(path, out):
    data = json.load(open(path, encoding="utf-8"))["data"]
    with open(out + "/dataset.txt", "w") as f:
        f.write(path.rsplit("/", 1)[-1] + "\n")
    pid = 0
    qid = 0
    with open(out + "/conversations.tsv", "w", encoding="utf-8") as conv, \
         open(out + "/segments.tsv", "w", encoding="utf-8") as seg, \
         open(out + "/questions.tsv", "w", encoding="utf-8") as qs, \
         open(out + "/patients.tsv", "w", encoding="utf-8") as pat:
        for a, article in enumerate(data, 1):
            pat.write("%d\t1\tArtículo %d\n" % (a, a))
            for p in article["paragraphs"]:
                pid += 1
                conv.write("%d\t%d\t1\tPárrafo %d\n" % (pid, a, pid))
                seg.write("%d\t0\tx\tother\t\\N\t\\N\t%s\n" % (pid, tsv(p["context"])))
                for q in p["qas"]:
                    if q.get("is_impossible"):
                        continue  # v2.0: only answerable questions have a paragraph to find
                    qid += 1
                    qs.write("%d\t%d\t%s\n" % (qid, pid, tsv(q["question"])))


def questions(out):
    for line in open(out + "/questions.tsv", encoding="utf-8"):
        qid, pid, q = line.rstrip("\n").split("\t", 2)
        yield int(qid), int(pid), q


def ours(url, token, out):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    hdr = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    t0 = time.time()
    n = 0
    lat = []
    with open(out + "/results-ours.tsv", "w") as res:
        for qid, _, q in questions(out):
            body = json.dumps({"question": q, "k": 10, "max_tokens": 8000})
            t1 = time.time()
            conn.request("POST", "/v1/qa/retrieve", body, hdr)
            r = conn.getresponse()
            data = r.read()
            lat.append((time.time() - t1) * 1000)
            ids = []
            if r.status == 200:
                for p in json.loads(data)["passages"]:
                    if p["conversation_id"] not in ids:
                        ids.append(p["conversation_id"])
            res.write("%d\t%s\n" % (qid, ",".join(map(str, ids))))
            n += 1
    sys.stderr.write("ours: %d questions over HTTP in %.1f s\n" % (n, time.time() - t0))
    lat.sort()
    with open(out + "/latency-ours.txt", "w") as f:  # one client, one question at a time
        f.write("%.2f %.2f\n" % (lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]))


def peers_queries(out):
    with open(out + "/queries.tsv", "w", encoding="utf-8") as f:
        for qid, _, q in questions(out):
            f.write("%d\tnl\t%s\n" % (qid, q))


def ranked(out, engine):
    """qid -> distinct conversation ids in rank order."""
    r = {}
    for line in open("%s/results-%s.tsv" % (out, engine)):
        f = line.rstrip("\n").split("\t")
        if engine == "ours":
            ids = [int(x) for x in f[1].split(",") if x]
        else:  # peers: qid, type, pass, ms, hits, ..., ids (turn id = conversation * 1e6 + seq)
            if len(f) < 6 or f[2] != "1":
                continue
            ids = []
            for x in f[-1].split(","):
                if x:
                    c = int(x) // 1000000
                    if c not in ids:
                        ids.append(c)
        r[int(f[0])] = ids
    return r


def article_of(out):
    """paragraph id -> article number (conversations.tsv: id, article, ...)."""
    return {int(l.split("\t")[0]): int(l.split("\t")[1])
            for l in open(out + "/conversations.tsv", encoding="utf-8")}


def mrr10(r, want):
    m = 0.0
    for qid, pid in want.items():
        ids = r.get(qid, [])[:10]
        if pid in ids:
            m += 1.0 / (ids.index(pid) + 1)
    return m / len(want) if want else 0.0


def step(out, name):
    """One Markdown row of bench/qa_steps.sh: MRR@10 on the whole, the tuning
    half and the held-out half, then p50/p99 latency of ours over HTTP."""
    art = article_of(out)
    want = {qid: pid for qid, pid, _ in questions(out)}
    tune = {q: p for q, p in want.items() if art[p] % 2 == 1}
    held = {q: p for q, p in want.items() if art[p] % 2 == 0}
    r = ranked(out, "ours")
    p50, p99 = open(out + "/latency-ours.txt").read().split()
    print("| %s | %.3f | %.3f | %.3f | %s | %s |" % (
        name, mrr10(r, want), mrr10(r, tune), mrr10(r, held), p50, p99))


def halves(out, engines):
    """MRR@10 on the tuning half (odd articles), the held-out half (even
    articles) and the whole: parameters are chosen on the tuning half only."""
    art = article_of(out)
    want = {qid: pid for qid, pid, _ in questions(out)}
    tune = {q: p for q, p in want.items() if art[p] % 2 == 1}
    held = {q: p for q, p in want.items() if art[p] % 2 == 0}
    for e in engines:
        r = ranked(out, e)
        print("%s\ttune %.4f (%d)\theld-out %.4f (%d)\twhole %.4f" % (
            e, mrr10(r, tune), len(tune), mrr10(r, held), len(held), mrr10(r, want)))


def score(out, engines):
    want = {qid: pid for qid, pid, _ in questions(out)}
    names = {"ours": "**convsearch** (`/v1/qa/retrieve` over HTTP)", "pgfts": "PostgreSQL FTS",
             "fts5": "SQLite FTS5", "xapian": "Xapian"}
    rows = []
    for e in engines:
        r = ranked(out, e)
        n = len(want)
        r1 = r5 = r10 = mrr = 0.0
        for qid, pid in want.items():
            ids = r.get(qid, [])[:10]
            if pid in ids:
                k = ids.index(pid) + 1
                mrr += 1.0 / k
                r1 += k == 1
                r5 += k <= 5
                r10 += 1
        rows.append((e, r1 / n, r5 / n, r10 / n, mrr / n))
    best_peer = max((x for x in rows if x[0] != "ours"), key=lambda x: x[4], default=None)
    print("| engine | Recall@1 | Recall@5 | Recall@10 | MRR@10 |")
    print("|---|---:|---:|---:|---:|")
    for e, a, b, c, d in rows:
        print("| %s | %.3f | %.3f | %.3f | %.3f |" % (names.get(e, e), a, b, c, d))
    ours_row = [x for x in rows if x[0] == "ours"]
    if ours_row and best_peer:
        o = ours_row[0]
        print("| ours ÷ best peer (%s) | %.2f× | %.2f× | %.2f× | %.2f× |" % (
            names[best_peer[0]], o[1] / best_peer[1], o[2] / best_peer[2], o[3] / best_peer[3],
            o[4] / best_peer[4]))
    print()
    print("%d questions over %d paragraphs (SQuAD-es %s); a hit is the question's own "
          "paragraph among the first 10 distinct paragraphs returned." % (
              len(want), len(set(want.values())), open(out + "/dataset.txt").read().strip()))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "load":
        load(sys.argv[2], sys.argv[3])
    elif cmd == "ours":
        ours(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "peers-queries":
        peers_queries(sys.argv[2])
    elif cmd == "score":
        score(sys.argv[2], sys.argv[3:])
    elif cmd == "halves":
        halves(sys.argv[2], sys.argv[3:])
    elif cmd == "step":
        step(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: see the docstring")
