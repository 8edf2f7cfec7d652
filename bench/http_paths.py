#!/usr/bin/python3
"""Request paths for the HTTP load: one `/v1/search?q=...&limit=10` per query
of a bench/gen_queries.py file, with q as a person types it in the search box
(the same forms as `cs-bench-ours --mode box`), URL-encoded.

    http_paths.py QUERIES.tsv > PATHS.txt
"""
import sys
import urllib.parse


def box(kind, text):
    if kind == "or":
        return " OR ".join(text.split())
    if kind == "phrase":
        return '"%s"' % text
    return text


with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        _, kind, text = line.rstrip("\n").split("\t", 2)
        print("/v1/search?limit=10&q=" + urllib.parse.quote(box(kind, text), safe=""))
