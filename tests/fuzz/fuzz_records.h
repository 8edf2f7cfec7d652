/*
 * fuzz_records' input: a selector byte (which decoder), then the stored
 * value (a chunk: its be32 first docid, then the value; a per-owner block:
 * its table (0 CS_T_OLEX, 1 CS_T_OWORDS), its key's length and key, then
 * the value). seeds.c writes
 * the same layout from a real index.
 */
#ifndef CS_FUZZ_RECORDS_H
#define CS_FUZZ_RECORDS_H

enum {
  FUZZ_DOC,
  FUZZ_CONV,
  FUZZ_TURN,
  FUZZ_PATIENT,
  FUZZ_EVENT,
  FUZZ_INTER,
  FUZZ_LEX,
  FUZZ_WORD,
  FUZZ_POINT,
  FUZZ_CHECKPOINT,
  FUZZ_STATS,
  FUZZ_OUTOP,
  FUZZ_PASSAGE,
  FUZZ_CHUNK,
  FUZZ_OBLOCK,
  FUZZ_KINDS
};

#endif
