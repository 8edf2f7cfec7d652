/*
 * Conversation bounds of a postings chunk: what a chunk of a search term
 * says about the conversations it holds documents of, so that a search can
 * pass a run of chunks whose conversations cannot make its page without
 * decoding and scoring them one conversation at a time. Pure arithmetic:
 * this module never sees LMDB; postings.c stores the bound in a chunk's
 * header, the writer computes it, the query engine reads it.
 *
 * c / CS_CB_UNIT is at least, for every conversation with documents in
 * the chunk, v1 + S2 v2 + S3 v3 where v1 >= v2 >= v3 are the three best
 * values (0 when fewer)
 *
 *   w_kind (k1 + 1) tf / (tf + k1 (1 - b + b len / avg[kind]))
 *
 * of all its documents of the term (turns, title, description), in this
 * chunk and in the chunks before and after it (index format 12; before,
 * of its documents in the chunk only: a conversation across several chunks
 * had its parts bounded, their sum its bound). So the first chunk of a
 * conversation bounds it whole, however many chunks its documents span
 * (a sitting of 540 turns holding a frequent word in 300). The writer
 * leaves the bound out of a chunk where it cannot know a conversation
 * whole. cs_cbound_build computes it over the documents it is given: all
 * those of the chunk's conversations. It is: a
 * conversation's score (query/rank.h, cs__conv_score) for a word of idf 1,
 * with the constants below and the average lengths avg[] / CS_CB_AVG_UNIT
 * recorded with the bound (0 for a kind the chunk does not hold). A search
 * whose averages moved since (a later commit, an owner's own statistics)
 * multiplies by cs_cbound_scale: a larger average raises a document's
 * value by at most their ratio, a smaller one only lowers it. The bound
 * holds for any idf, boost and field restriction (they multiply or remove
 * documents), and the sum of several words' bounds bounds their sum (the
 * best three count, with falling weights: the score is subadditive); other
 * k1, b, kind weights or shares than these make it unusable (CS_CB_*).
 */
#ifndef CS_CBOUND_H
#define CS_CBOUND_H

#include <stdint.h>

#define CS_CB_K1 0.9
#define CS_CB_B 0.4
#define CS_CB_W_TURN 1.0
#define CS_CB_W_TITLE 2.0
#define CS_CB_W_DESCRIPTION 1.5
#define CS_CB_S2 0.25
#define CS_CB_S3 0.1
#define CS_CB_UNIT 256.0
#define CS_CB_AVG_UNIT 16.0
/* Kinds a bound covers: 1 (CS_DOC_TURN) .. 3 (CS_DOC_DESCRIPTION). */
#define CS_CB_KINDS 4

typedef struct cs_cbound {
  uint32_t avg[CS_CB_KINDS]; /* by kind, in 1/CS_CB_AVG_UNIT; 0: the chunk holds none of it */
  uint32_t c;                /* in 1/CS_CB_UNIT, rounded up */
} cs_cbound;

/* The value above of one document (kind 1..3, avg >= 1, in its unit). */
double cs_cbound_doc(int kind, uint32_t tf, uint32_t len, uint32_t avg);

/* The bound of n documents in docid order, each with its kind, its tf and
 * length, and a key that is equal for the documents of one conversation
 * (those of one conversation are next to each other): avg[] gives the
 * averages by kind (>= 1 where used, in their unit). Returns 0, or -1 when
 * a document's kind has no bound (a name, a passage). */
int cs_cbound_build(const uint8_t *kind, const uint32_t *conv, const uint32_t *tf,
                    const uint32_t *len, uint32_t n, const uint32_t avg[CS_CB_KINDS],
                    cs_cbound *out);

/* into also bounds the conversations `old` bounds (documents of other
 * conversations than into's), at the averages now[] (by kind, >= 1 where
 * either uses the kind): the larger of the two, old's moved to now[]. */
void cs_cbound_merge(cs_cbound *into, const cs_cbound *old, const uint32_t now[CS_CB_KINDS]);

/* What the bound is multiplied by under the averages avgdl[] (tokens, by
 * kind, indexed like CS_DOC_*): at least 1. */
double cs_cbound_scale(const cs_cbound *b, const double *avgdl);

#endif
