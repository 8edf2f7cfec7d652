/*
 * Passages for question answering: spans of a transcript an LLM can cite.
 * Built at indexing time from a conversation's turns:
 *   - an interviewer's question stays together with the answer that follows
 *     it (the turns up to the next question);
 *   - a turn longer than CS_PASSAGE_TURN_WORDS is split at sentence
 *     boundaries into pieces of about CS_PASSAGE_PIECE_WORDS words, and the
 *     question that precedes it stays with its first piece;
 *   - a passage never grows past CS_PASSAGE_MAX_WORDS: the answer then goes
 *     on in a new passage;
 *   - without roles (e.g. the portal's transcripts), a turn that ends with a
 *     question mark plays the interviewer's part.
 * Pure computation over the turns' texts: no index access.
 */
#ifndef CS_PASSAGES_H
#define CS_PASSAGES_H

#include <stddef.h>
#include <stdint.h>

#define CS_PASSAGE_MAX_WORDS 160
#define CS_PASSAGE_TURN_WORDS 120
#define CS_PASSAGE_PIECE_WORDS 80

typedef struct cs_passage_turn {
  const char *text;
  size_t len;
  int role; /* CS_ROLE_* */
} cs_passage_turn;

/* A passage: from byte `first_off` of turn `first` to byte `last_end` of
 * turn `last` (turn indexes into the array given, inclusive). */
typedef struct cs_passage_span {
  uint32_t first, last;
  uint32_t first_off, last_end;
} cs_passage_span;

/* Splits n turns into passages; *out is malloc'd (caller frees), *count set.
 * Returns 0 or CS_ENOMEM. Empty turns belong to no passage. */
int cs_passages_build(const cs_passage_turn *turns, size_t n, cs_passage_span **out, size_t *count);

#endif
