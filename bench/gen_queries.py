#!/usr/bin/python3
"""Query sets drawn from the corpus with a fixed seed.

    gen_queries.py TURNS.tsv STOPWORDS[,STOPWORDS...] OUT.tsv [--per-type N] [--seed S]

TURNS.tsv is `id<TAB>text` per turn (COPY text format, as run.sh exports it
from the segments table). Writes OUT.tsv: `qid<TAB>type<TAB>text`, and a
summary of the bands on stdout (JSON). Every word in a query is made only of
letters (str.isalpha), so that no engine's query syntax needs escaping.

Words are lowercased `\\w+` tokens; "content words" are alphabetic, at least
3 characters long and not stop words. They are ranked by document frequency
(number of turns holding them) and split in bands (the stop words are the
union of the lists given: run.sh passes bench/stopwords-es.txt and the
analyzer's own Spanish list, so that no query word is a stop word for any
engine):
  high: ranks 1-200, mid: ranks 201-5,000, low: rank > 5,000 with df >= 3.
Types (N each, --per-type, default 100):
  term_high, term_mid, term_low  one content word of that band
  and      two distinct content words (rank <= 20,000) of one random turn:
           they co-occur in at least one turn
  or       two random mid-band words
  phrase   2-3 consecutive words of a random turn, first and last content
           words (the middle one may be a stop word): it occurs
  prefix   the first 3-5 characters (and at least 2 fewer than the word) of
           a high or mid word of 6+ characters
  fuzzy    a mid-band word of 6-12 characters with one edit (substitution,
           deletion, insertion or transposition of letters, never the first
           letter) that is not itself a word of the corpus
  nl       a natural-language question from a template with 1-3 content
           words of one random turn ("¿Qué se ha dicho sobre la vivienda?")
"""
import json
import random
import re
import sys
from collections import Counter

WORD = re.compile(r"\w+")
LETTERS = "abcdefghijklmnopqrstuvwxyzáéíóúñü"
NL_TEMPLATES = [
    "¿Qué se ha dicho sobre {a}?",
    "¿Quién habló de {a} y {b}?",
    "¿Qué opina el Gobierno de {a}?",
    "¿Cuándo se habló de {a} en relación con {b}?",
    "¿Por qué se menciona {a}?",
    "¿Qué pasó con {a} y {b}?",
    "¿Hay alguna propuesta sobre {a} {b}?",
    "¿Qué datos se dieron sobre {a}, {b} y {c}?",
    "¿Alguien explicó por qué {a} afecta a {b}?",
    "¿Dónde se discutió {a}?",
]


def unescape(s):
    if "\\" not in s:
        return s
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r"}.get(m.group(1),
                                                                               m.group(1)), s)


def main(argv):
    args = [a for a in argv[1:]]
    per = 100
    seed = 20241
    if "--per-type" in args:
        i = args.index("--per-type")
        per = int(args[i + 1])
        del args[i:i + 2]
    if "--seed" in args:
        i = args.index("--seed")
        seed = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 3:
        sys.exit(__doc__)
    turns_path, stop_path, out_path = args
    stop = set()
    for sp in stop_path.split(","):
        with open(sp, encoding="utf-8") as f:
            for line in f:
                if not line.startswith("#"):
                    stop.update(line.split())

    turns = []
    df = Counter()
    with open(turns_path, encoding="utf-8") as f:
        for line in f:
            _, text = line.rstrip("\n").split("\t", 1)
            toks = WORD.findall(unescape(text).lower())
            turns.append(toks)
            df.update(set(toks))

    def content(w):
        return len(w) >= 3 and w.isalpha() and w not in stop

    ranked = [w for w, _ in sorted(df.items(), key=lambda kv: (-kv[1], kv[0])) if content(w)]
    rank = {w: i for i, w in enumerate(ranked)}
    high = ranked[:200]
    mid = ranked[200:5000]
    low = [w for w in ranked[5000:] if df[w] >= 3]
    vocab = set(df)
    rnd = random.Random(seed)
    queries = []

    def add(kind, text):
        queries.append((kind, text))

    def pick_turn(cond):
        while True:
            t = turns[rnd.randrange(len(turns))]
            r = cond(t)
            if r:
                return r

    for band, words in (("term_high", high), ("term_mid", mid), ("term_low", low)):
        for w in rnd.sample(words, min(per, len(words))):
            add(band, w)

    def two_from_turn(t):
        c = sorted({w for w in t if content(w) and rank.get(w, 1e9) < 20000})
        if len(c) < 2:
            return None
        a, b = rnd.sample(c, 2)
        return "%s %s" % (a, b)

    for _ in range(per):
        add("and", pick_turn(two_from_turn))
    for _ in range(per):
        a, b = rnd.sample(mid, 2)
        add("or", "%s %s" % (a, b))

    def phrase_from_turn(t):
        if len(t) < 3:
            return None
        for _ in range(10):
            n = rnd.choice((2, 3))
            i = rnd.randrange(0, len(t) - n + 1)
            ws = t[i:i + n]
            if all(w.isalpha() for w in ws) and content(ws[0]) and content(ws[-1]):
                return " ".join(ws)
        return None

    for _ in range(per):
        add("phrase", pick_turn(phrase_from_turn))

    long_words = [w for w in high + mid if len(w) >= 6]
    for w in rnd.sample(long_words, min(per, len(long_words))):
        n = min(rnd.choice((3, 4, 5)), len(w) - 2)
        add("prefix", w[:n])

    fuzzy_src = [w for w in mid if 6 <= len(w) <= 12]
    rnd.shuffle(fuzzy_src)
    made = 0
    for w in fuzzy_src:
        if made == per:
            break
        for _ in range(20):
            op = rnd.choice("sdit")
            i = rnd.randrange(1, len(w))
            if op == "s":
                v = w[:i] + rnd.choice(LETTERS) + w[i + 1:]
            elif op == "d":
                v = w[:i] + w[i + 1:]
            elif op == "i":
                v = w[:i] + rnd.choice(LETTERS) + w[i:]
            else:
                if i + 1 >= len(w):
                    continue
                v = w[:i] + w[i + 1] + w[i] + w[i + 2:]
            if v != w and v not in vocab and v.isalpha():
                add("fuzzy", v)
                made += 1
                break

    def nl_from_turn(t):
        c = [w for w in dict.fromkeys(t) if content(w) and rank.get(w, 1e9) < 30000]
        if len(c) < 3:
            return None
        a, b, cc = rnd.sample(c, 3)
        return rnd.choice(NL_TEMPLATES).format(a=a, b=b, c=cc)

    for _ in range(per):
        add("nl", pick_turn(nl_from_turn))

    with open(out_path, "w", encoding="utf-8") as f:
        for i, (kind, text) in enumerate(queries):
            f.write("%d\t%s\t%s\n" % (i + 1, kind, text))
    print(json.dumps({
        "turns": len(turns), "content_words": len(ranked), "seed": seed, "per_type": per,
        "df_high": [df[high[-1]], df[high[0]]], "df_mid": [df[mid[-1]], df[mid[0]]],
        "df_low": [df[low[-1]], df[low[0]]] if low else None,
        "queries": Counter(k for k, _ in queries)}, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv)
