/*
 * The index reader: a consistent, read-only view of the index (one LMDB read
 * transaction) with decoded records and postings cursors. The query engine is
 * written against this interface and the cursor contract (docid, next,
 * next_geq), never against the store.
 *
 * A value that fails to decode is reported through corrupt.h (counted,
 * logged once by name) and its call returns CS_ECORRUPT.
 *
 * Lifetimes: every cs_str in a record returned here points into the mapped
 * index and is valid until cs_reader_close(). A reader is used by one thread.
 */
#ifndef CS_READER_H
#define CS_READER_H

#include "postings.h"
#include "records.h"
#include "store.h"

typedef struct cs_reader cs_reader;
typedef struct cs_pcur cs_pcur;

/* Begins a read view; fails with CS_EVERSION (and a readable message via
 * cs_strerror) on an index of another format. */
int cs_reader_open(cs_store *s, cs_reader **out);
void cs_reader_close(cs_reader *r);

/* The snapshot the view reads (cs_txn_id): equal ids, equal contents. */
uint64_t cs_reader_snapshot(const cs_reader *r);
int cs_reader_stats(cs_reader *r, cs_stats *out);
int cs_reader_checkpoint(cs_reader *r, cs_checkpoint *out); /* zeroed if none */
/* Entries of a table (cheap: LMDB keeps the count; the logical entries of the block
 * tables and turns, CS_T_TURN, are counted one by one). */
int cs_reader_count(cs_reader *r, cs_table t, uint64_t *out);

int cs_reader_lex(cs_reader *r, const char *term, size_t len, cs_lex *out);
int cs_reader_word(cs_reader *r, const char *word, size_t len, cs_word *out);
/* The same statistics over one owner's documents (records.h, "Per-owner
 * statistics"); owner stats are zeroed when the owner has none. Their
 * next_docid is 1 + the largest docid ever counted in for the owner (0 for
 * none): a paging horizon for that owner that says nothing of others'. Walks over an owner's
 * words or terms scan CS_T_OWORDS / CS_T_OLEX under the be64 owner prefix. */
int cs_reader_owner_stats(cs_reader *r, uint64_t owner, cs_stats *out);
int cs_reader_owner_lex(cs_reader *r, uint64_t owner, const char *term, size_t len, cs_lex *out);
int cs_reader_owner_word(cs_reader *r, uint64_t owner, const char *word, size_t len, cs_word *out);
int cs_reader_doc(cs_reader *r, uint32_t docid, cs_doc *out);
int cs_reader_conv(cs_reader *r, uint64_t id, cs_conv *out);
/* The turn with its text readable until the next cs_reader_turn on r
 * (CS_ENOTFOUND when the conversation has no turn `seq`). Its text is not
 * checked for UTF-8 (cs_reader_turns checks it): the snippets write a
 * window of it, which the JSON writer checks. */
int cs_reader_turn(cs_reader *r, uint64_t conv, int32_t seq, cs_turn *out);
/* Reports the stored block that holds turn `seq` of conversation conv as
 * damaged (corrupt.h: counted and named by its key, as every other reader
 * of that block names it), for a caller that found the turn's text is not
 * UTF-8. Returns CS_ECORRUPT. */
int cs_reader_turn_damaged(cs_reader *r, uint64_t conv, int32_t seq);
/* cs_reader_turn for the turn with docid `docid` of conversation conv
 * without its CS_T_DOCS record: from the block holding seq `guess`, at most
 * CS_TURN_NEAR_STEPS blocks back or on (a conversation's docids grow with
 * its seqs). CS_ENOTFOUND when not found so (a bad guess, or anything
 * damaged: nothing is reported, cs_reader_doc + cs_reader_turn tell). */
#define CS_TURN_NEAR_STEPS 16
int cs_reader_turn_near(cs_reader *r, uint64_t conv, int32_t guess, uint32_t docid, cs_turn *out);
/* Where the turn blocks of a conversation begin: the seq each block's key
 * holds and the docid of its first turn, in key order (so in docid order:
 * a conversation's docids grow with its seqs). */
typedef struct cs_tbmark {
  int32_t seq;
  uint32_t docid;
} cs_tbmark;
/* The marks of conversation conv's blocks, appended to (*out)[*n..)
 * (cs_grow: *cap its capacity). 0 (no block: none appended), CS_ECORRUPT
 * when a block's header does not decode (not reported: the caller finds
 * its turns another way, which reports it), CS_ENOMEM, or the store's
 * code when the cursor fails. */
int cs_reader_turn_marks(cs_reader *r, uint64_t conv, cs_tbmark **out, size_t *n, size_t *cap);
/* cs_reader_turn for the turn with docid `docid`, read from the block
 * whose key is (conv, block_seq) exactly (a cs_tbmark's): CS_ENOTFOUND
 * when there is no such block or it lacks that turn; a damaged block is
 * reported, CS_ECORRUPT, as by cs_reader_turn. */
int cs_reader_turn_at(cs_reader *r, uint64_t conv, int32_t block_seq, uint32_t docid, cs_turn *out);
/* Calls fn for the turns of conversation conv from seq `from` on, in seq
 * order, until fn returns non-zero (that value is returned) or the turns
 * end (0). A turn lives until fn returns; its text.p is NULL (text.len
 * set) unless CS_TURNS_TEXT. A damaged block (turnblock.h) is reported
 * (corrupt.h) and all its turns are left out (it is decoded whole before
 * any is passed on), or with CS_TURNS_STRICT the walk ends there with
 * CS_ECORRUPT. CS_TURNS_ALL: every conversation's (conv and
 * from ignored). */
enum { CS_TURNS_TEXT = 1, CS_TURNS_STRICT = 2, CS_TURNS_ALL = 4 };
typedef int (*cs_turn_fn)(void *ctx, const cs_turn *t);
int cs_reader_turns(cs_reader *r, uint64_t conv, int32_t from, unsigned flags, cs_turn_fn fn,
                    void *ctx);
int cs_reader_patient(cs_reader *r, uint64_t id, cs_patient *out);
int cs_reader_point(cs_reader *r, uint64_t id, cs_point *out);
int cs_reader_inter(cs_reader *r, uint64_t patient, uint64_t actor, cs_inter *out);
int cs_reader_is_erased(cs_reader *r, uint64_t patient);
/* Passage number `n` of a conversation (numbered from 0 in transcript order). */
int cs_reader_passage(cs_reader *r, uint64_t conv, uint32_t n, cs_passage *out);
/* Calls fn (NULL: none) with each turn of passage n of conversation conv
 * (p, cs_reader_passage's) and the part [from, to) of its text the passage
 * covers, in seq order: one walk over the turn blocks from first_seq to
 * last_seq, until fn returns non-zero (returned; 1 is taken as "done").
 * Offsets past a turn's text, or cutting a character in two (the text
 * would not be UTF-8), are damage: the passage's block is reported
 * (corrupt.h) and CS_ECORRUPT returned. */
typedef int (*cs_passage_slice_fn)(void *ctx, const cs_turn *t, uint32_t from, uint32_t to);
int cs_reader_passage_slices(cs_reader *r, uint64_t conv, uint32_t n, const cs_passage *p,
                             cs_passage_slice_fn fn, void *ctx);
/* A raw META value (e.g. "mirror_status", JSON written by the mirror). */
int cs_reader_meta(cs_reader *r, const char *key, cs_slice *val);
/* The oldest pending mirror operation (CS_ENOTFOUND when none). */
int cs_reader_outbox_first(cs_reader *r, cs_outop *out);

/* Calls fn for every entry of `t` whose key starts with prefix[0..plen)
 * (plen 0: all), in key order, until fn returns non-zero (that value is
 * returned) or the entries end (0). Keys and values live until the reader
 * closes. */
typedef int (*cs_scan_fn)(void *ctx, cs_slice key, cs_slice val);
int cs_reader_scan(cs_reader *r, cs_table t, const void *prefix, size_t plen, cs_scan_fn fn,
                   void *ctx);
/* Every entry of t as stored: the block tables' blocks (oblock.h), not
 * their logical entries (verify decodes every stored value). */
int cs_reader_scan_stored(cs_reader *r, cs_table t, cs_scan_fn fn, void *ctx);
/* Same, starting at the first key >= from (from within the prefix). */
int cs_reader_scan_from(cs_reader *r, cs_table t, const void *prefix, size_t plen, const void *from,
                        size_t flen, cs_scan_fn fn, void *ctx);
/* A cursor over table t in the reader's view, for walks that seek often,
 * such as the query engine's typo expansion over CS_T_WORDS; over the block
 * tables (CS_T_OLEX, CS_T_OWORDS: oblock.h) it walks their logical entries.
 * Keys and values live until the reader closes. Seek: first key >= key;
 * CS_ENOTFOUND past the end. Close it before the reader. */
typedef struct cs_rcur cs_rcur;
int cs_reader_cursor(cs_reader *r, cs_table t, cs_rcur **out);
int cs_rcur_seek(cs_rcur *c, cs_slice key, cs_slice *k, cs_slice *v);
int cs_rcur_first(cs_rcur *c, cs_slice *k, cs_slice *v);
int cs_rcur_next(cs_rcur *c, cs_slice *k, cs_slice *v);
void cs_rcur_close(cs_rcur *c); /* NULL is a no-op */

/* Postings cursor over one term. After open it sits on the term's first
 * document; cs_pcur_docid() returns CS_DOCID_END once exhausted. A damaged
 * chunk is reported (corrupt.h) and stepped over; other errors (the store's)
 * end the cursor and are kept in cs_pcur_error(). Damaged positions make
 * cs_pcur_positions() report them and return CS_ECORRUPT. */
int cs_pcur_open(cs_reader *r, const char *term, size_t len, cs_pcur **out);
/* The same, sitting on the term's first document at or after `from`
 * (found by one seek: the chunks before it are not read). CS_ENOTFOUND
 * when it has none there. */
int cs_pcur_open_at(cs_reader *r, const char *term, size_t len, uint32_t from, cs_pcur **out);
void cs_pcur_close(cs_pcur *c);
uint32_t cs_pcur_docid(const cs_pcur *c);
uint32_t cs_pcur_tf(const cs_pcur *c);
uint32_t cs_pcur_len(const cs_pcur *c);
void cs_pcur_next(cs_pcur *c);
/* Moves to the first document >= target (never backwards). */
void cs_pcur_next_geq(cs_pcur *c, uint32_t target);
/* Positions of the current document; the array lives until the cursor
 * moves. */
int cs_pcur_positions(cs_pcur *c, const uint32_t **pos, uint32_t *n);
/* Block-max information of the current chunk, for dynamic pruning. */
uint32_t cs_pcur_block_last(const cs_pcur *c);
uint32_t cs_pcur_block_max_tf(const cs_pcur *c);
uint32_t cs_pcur_block_min_len(const cs_pcur *c);
/* The current chunk's conversation bound (cbound.h), or NULL when it has
 * none. */
const cs_cbound *cs_pcur_block_cbound(const cs_pcur *c);
/* The documents of the current chunk from the current one on, without
 * moving: returns their count n and points tf[0..n) and len[0..n) (and
 * docid[0..n)) at the decoded chunk; valid until the cursor moves. 0 once
 * exhausted. The query engine bounds a conversation's score from the exact
 * tf and length of its documents before deciding to score it. */
uint32_t cs_pcur_peek(const cs_pcur *c, const uint32_t **docid, const uint32_t **tf,
                      const uint32_t **len);
/* The positions of the peeked document `doc` points at (a cs_pcur_peek
 * docid pointer, the cursor not having left that chunk since), without
 * moving: *pos[0..*n) valid until the next positions read on c. Reading
 * a document before the last one read costs a scan from the chunk's
 * start. As cs_pcur_positions otherwise. */
int cs_pcur_peek_positions(cs_pcur *c, const uint32_t *doc, const uint32_t **pos, uint32_t *n);
/* Moves to the document `end` points at: end is a cs_pcur_peek docid
 * pointer plus k <= its count, the cursor not having left that chunk since
 * (plus its count: to the next chunk). As cs_pcur_next_geq to that document,
 * without searching the chunk for it. */
void cs_pcur_advance_to(cs_pcur *c, const uint32_t *end);
int cs_pcur_error(const cs_pcur *c);

/* Passing chunks by their headers (a search whose bounds rule out every
 * conversation they hold, cbound.h), without decoding them. */
typedef struct cs_chunk_head {
  uint32_t first, last, max_tf, min_len;
  int has_cb;
  cs_cbound cb;
} cs_chunk_head;
/* The header of the term's next chunk not read yet (after the current
 * chunk, then after the last header read): 0, CS_ENOTFOUND when the term's
 * chunks are over, or CS_ECORRUPT for a damaged one (not reported here: a
 * cursor that moves onto it does). The cursor's document stays where it
 * is, until one of the three below. */
int cs_pcur_head_next(cs_pcur *c, cs_chunk_head *h);
/* Forgets the headers read: the cursor goes on from its document. */
void cs_pcur_head_back(cs_pcur *c);
/* Moves to the first document >= target, which may lie in a chunk whose
 * header was read (seeking, not stepping); the cursor's documents before
 * its current one are not there (never backwards, as cs_pcur_next_geq). */
void cs_pcur_seek(cs_pcur *c, uint32_t target);
/* Ends the cursor (the term's chunks ahead all passed). */
void cs_pcur_finish(cs_pcur *c);

#endif
