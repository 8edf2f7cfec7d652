#!/usr/bin/python3
"""Request paths for the HTTP load: one `/v1/search?q=...&limit=10` per query
of a bench/gen_queries.py file, with q as a person types it in the search box
(the same forms as `cs-bench-ours --mode box`), URL-encoded.

The paths come in a fixed shuffled order (seed 20241), so that the query
types are interleaved as the searches of many people are. A queries file
lists its types one block after another (200 queries each in the full sets,
100 in the quick and scale ones: single words, then AND, ...), and wrk's
threads walk the paths in order: in that order each thread sent a block's
searches of one type in a row, and the latency tail measured the stretches
where both threads were in the costly types (questions, AND) rather than a
mix (bench/analysis.md, "The HTTP mix was not mixed").

    http_paths.py QUERIES.tsv > PATHS.txt
"""
import random
import sys
import urllib.parse


def box(kind, text):
    if kind == "or":
        return " OR ".join(text.split())
    if kind == "phrase":
        return '"%s"' % text
    return text


paths = []
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        _, kind, text = line.rstrip("\n").split("\t", 2)
        paths.append("/v1/search?limit=10&q=" + urllib.parse.quote(box(kind, text), safe=""))
random.Random(20241).shuffle(paths)
for p in paths:
    print(p)
