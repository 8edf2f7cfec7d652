#!/usr/bin/python3
"""ParlaMint-ES -> COPY files for the canonical stores (schemas/canonical.sql).

    load_parlamint.py CORPUS.jsonl.gz OUTDIR [--every N]

Writes OUTDIR/{employees,patients,conversations,segments,events}.tsv in
PostgreSQL's COPY text format; bench/load_tsv.sh loads them. Deterministic
(no randomness at all): the same input gives the same bytes.

Mapping (the corpus has no interviews, owners or times, so these are made up):
  - one sitting = one conversation; sitting k (0-based, in file order) has
    conversation id k+1;
  - one patient per sitting (patient id = conversation id), named with a
    synthetic Spanish name picked from the sitting number;
  - 12 synthetic employees (interviewers); sitting k is owned by employee
    (k mod 12) + 1, who is also the patient's owner;
  - one paragraph = one turn (segment), seq as in the corpus; role chair ->
    'interviewer', regular -> 'beneficiary', anything else -> 'other';
    speaker = the speaker's name;
  - timestamps derived from word counts at 150 words/minute (400 ms per
    whitespace-separated word, at least 1 s per turn), turns back to back
    from 0; duration_ms = end of the last turn; created_at = the sitting's
    date at 09:00 Europe/Madrid;
  - events: patient.registered and conversation.recorded per sitting, by its
    owner, at created_at.
--every N keeps sittings 0, N, 2N, ... (the --quick subset uses N = 10).
"""
import gzip
import json
import sys

FIRST = ["María", "José", "Ana", "Juan", "Carmen", "Antonio", "Lucía", "Manuel", "Laura",
         "Francisco", "Marta", "David", "Elena", "Javier", "Sara", "Daniel", "Paula",
         "Carlos", "Cristina", "Miguel", "Fátima", "Mohamed", "Álvaro", "Nuria", "Íñigo",
         "Rocío", "Yolanda", "Ahmed", "Ioana", "Ñuflo"]
LAST = ["García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez",
        "Pérez", "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno",
        "Muñoz", "Álvarez", "Romero", "Alonso", "Gutiérrez", "Navarro", "Torres",
        "Domínguez", "Vázquez", "Ramos", "Gil", "Ramírez", "Serrano", "Blanco", "Ibáñez"]
EMPLOYEES = 12
ROLE = {"chair": "interviewer", "regular": "beneficiary"}


def esc(v):
    """One field in COPY text format."""
    if v is None:
        return "\\N"
    s = str(v)
    return (s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def row(f, *vals):
    f.write("\t".join(esc(v) for v in vals))
    f.write("\n")


def name_of(k):
    return "%s %s %s" % (FIRST[k % len(FIRST)], LAST[(k // len(FIRST)) % len(LAST)],
                         LAST[(k * 7 + 3) % len(LAST)])


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    every = 1
    if "--every" in argv:
        every = int(argv[argv.index("--every") + 1])
        args.remove(str(every))
    if len(args) != 2:
        sys.exit(__doc__)
    src, out = args
    files = {n: open("%s/%s.tsv" % (out, n), "w", encoding="utf-8", newline="\n")
             for n in ("employees", "patients", "conversations", "segments", "events")}
    for e in range(1, EMPLOYEES + 1):
        row(files["employees"], e, "Entrevistador %d" % e, "entrevistador%d@example.org" % e)
    nconv = nseg = nbytes = 0
    with gzip.open(src, "rt", encoding="utf-8") as f:
        for k, line in enumerate(f):
            if k % every:
                continue
            d = json.loads(line)
            cid = k + 1
            owner = k % EMPLOYEES + 1
            created = "%s 09:00:00 Europe/Madrid" % d["date"]
            row(files["patients"], cid, owner, name_of(k), "persona%d@example.org" % cid,
                "+34 6%08d" % (cid * 7919 % 100000000), created, created)
            t = 0
            segs = files["segments"]
            for s in d["segments"]:
                text = s["text"]
                dur = max(1000, 400 * len(text.split()))
                row(segs, cid, s["seq"], s["speaker"], ROLE.get(s["role"], "other"), t, t + dur,
                    text)
                t += dur
                nseg += 1
                nbytes += len(text.encode("utf-8"))
            row(files["conversations"], cid, cid, owner, d["title"], d["id"],
                d.get("language") or "es", "s3://bench/parlamint/%s.wav" % d["id"], t,
                "transcribed", created, created)
            ev = files["events"]
            row(ev, "patient-%d" % cid, 1, "patient.registered",
                json.dumps({"patient_id": cid, "owner_id": owner, "name": name_of(k)},
                           ensure_ascii=False), owner, created)
            row(ev, "conversation-%d" % cid, 1, "conversation.recorded",
                json.dumps({"conversation_id": cid, "patient_id": cid}), owner, created)
            nconv += 1
    for f in files.values():
        f.close()
    print(json.dumps({"conversations": nconv, "segments": nseg, "text_bytes": nbytes}))


if __name__ == "__main__":
    main(sys.argv)
