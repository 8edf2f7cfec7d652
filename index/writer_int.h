/*
 * What the writer's files share. writer.c: batches, the format, the outbox,
 * points and the checkpoint; writer_conv.c: conversations; writer_people.c:
 * people and events; writer_docs.c: texts into pending postings and out of
 * LMDB; writer_flush.c: pending postings into LMDB; writer_passages.c:
 * passages; writer_heal.c: damaged entities; writer_ochanges.c: the per-owner keys a commit
 * added or removed; pending.c: the pending map; checksum.c: source checksums. Private to
 * index/writer*.c.
 */
#ifndef CS_WRITER_INT_H
#define CS_WRITER_INT_H

#include "analyzer.h"
#include "oblock.h"
#include "passages.h"
#include "passblock.h"
#include "pending.h"
#include "textpack.h"
#include "errors.h"
#include "writer.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CS__WMEMO_SLOTS (1u << CS_TOKEN_MEMO_BITS) /* one per word-cache slot */

struct cs_writer {
  cs_store *store;
  cs_txn *txn;
  size_t largest_commit; /* cs_writer_largest_commit */
  cs_analyzer *an;
  cs_textpack *zt; /* compresses stored turn text */
  int zdict_new;   /* zt's dictionary is in this transaction only */
  cs__pmap terms, words;
  /* Per-owner statistics (writer_owner.c): df deltas of removals and moves
   * keyed by be64 owner + term (oterms) or + word (owords, with the stem),
   * and the document and token deltas of one owner at a time (ost_*),
   * written back when another owner's documents come or at flush. */
  cs__pmap oterms, owords;
  uint64_t owner; /* whose statistics the documents being added or removed count in */
  /* Entries of w->terms (touched[0]) and w->words (touched[1]) whose odf
   * counts documents of w->owner added since it was set: one per-owner
   * lookup per entry and owner, not per document. */
  cs__pentry **touched[2];
  size_t ntouched[2], touched_cap[2];
  /* ... and where they go: per owner, a run of df deltas per entry of
   * w->terms / w->words (writer_owner.c), merged into CS_T_OLEX /
   * CS_T_OWORDS at flush (writer_oblock.c). */
  struct cs__oruns {
    struct cs__orun *v; /* one per owner */
    size_t n, cap;
    size_t bytes; /* memory held by the runs' slots */
  } orun[2];
  uint64_t ost_owner;
  int ost_set;
  int64_t ost_docs[CS_DOC_KINDS], ost_tokens[CS_DOC_KINDS];
  uint32_t ost_next; /* 1 + the largest docid counted in (+1): the owner's next_docid */
  /* Ranges of CS_T_OLEX counted again from the postings during this flush
   * (a damaged block, writer_oblock.c): already final, deltas skip them. */
  struct cs__oheal *oheal;
  size_t noheal, oheal_cap;
  /* Owners whose CS_T_OSTATS record is damaged, counted again at flush. */
  uint64_t *ostats_heal;
  size_t nostats_heal, ostats_heal_cap;
  /* During a flush: cursors on CS_T_LEX and CS_T_WORDS that its updates,
   * in key order, go through (NULL: point operations). */
  cs_cursor *lexc, *wordc;
  cs_stats stats;
  uint32_t pending_min; /* smallest docid in `terms`, CS_DOCID_END when none */
  cs_buf buf, buf2;
  cs_plist tmp;
  cs__pentry **ents; /* the last cs__wr_add_doc's term entry per token */
  size_t ents_cap;
  /* A token's word and term entries by its memo (cs_token.memo): a word
   * seen before skips both maps' lookups. Emptied with the maps. */
  struct cs__wmemo {
    uint64_t memo;
    cs__pentry *word, *term;
  } * memo;            /* CS__WMEMO_SLOTS; NULL until needed, or when calloc failed */
  int mirror;          /* META "mirror" present: append outbox operations */
  uint64_t outbox_seq; /* last outbox sequence used (META "outbox_seq") */
  int outbox_dirty;
  /* For the chunks' conversation bounds (cbound.h): what each document
   * recorded since the last flush is, docid base + i at index i: its kind
   * (0: not recorded) and its conversation's key; prev: the key of the last
   * one before the flush (a conversation that goes on in this batch). */
  struct cs__wcb {
    uint8_t *kind;
    uint32_t *conv;
    uint32_t base, n, cap;
    uint32_t last, prev;
    int bad, prev_set;
    /* A put under way (writer_conv.c): its conversation's documents may go
     * on past a flush, so the chunks holding its key get no bound. */
    int open;
    uint32_t open_key;
    /* Scratch for a chunk's conversations to their ends (writer_flush.c). */
    uint8_t *skind;
    uint32_t *sconv;
    uint32_t scap;
    uint32_t avg[CS_CB_KINDS]; /* during a flush: the averages the bounds use */
  } cb;
  /* The per-owner keys this transaction added or removed, and the
   * collection's (writer_ochanges.c), in the order noted. */
  struct cs__ochg {
    struct cs__ochgent {
      uint64_t owner;
      uint32_t seq, off; /* off: in keys */
      uint8_t len, kind; /* kind: writer_ochanges.c */
    } * v;
    size_t n, cap;
    cs_buf keys;
    int over;   /* more than the writer notes: every owner's are not known */
    int sorted; /* v is in (owner, seq) order */
    /* The collection's, kept apart as its list already (records.h): a
     * first load adds keys by the hundred thousand, and its commits are
     * not to sort them. */
    cs_buf gkeys;
    uint32_t gn, gremoved;
    int gmany;
  } ochg;
};

static inline cs_slice sl(const void *p, size_t n) {
  cs_slice s = {p, n};
  return s;
}

static inline int cs__wr_put_buf(cs_writer *w, cs_table t, const void *key, size_t klen,
                                 cs_buf *b) {
  if (b->err) return b->err;
  return cs_put(w->txn, t, sl(key, klen), sl(b->p, b->len));
}

/* The value of key in table t, read through cursor c when not NULL (it is
 * left there, so that the next key in order needs no descent). */
static inline int cs__wr_get_at(cs_writer *w, cs_cursor *c, cs_table t, cs_slice key,
                                cs_slice *val) {
  if (!c) return cs_get(w->txn, t, key, val);
  cs_slice k;
  int rc = cs_cursor_seek(c, key, &k, val);
  if (rc == 0 && (k.len != key.len || memcmp(k.data, key.data, key.len) != 0)) rc = CS_ENOTFOUND;
  return rc;
}

/* cs_put, through cursor c when not NULL. */
static inline int cs__wr_put_at(cs_writer *w, cs_cursor *c, cs_table t, cs_slice key,
                                cs_slice val) {
  return c ? cs_cursor_put(c, key, val) : cs_put(w->txn, t, key, val);
}

static inline size_t cs__slen(const char *s) {
  return s ? strlen(s) : 0;
}

/* writer.c */
/* Builds and stores the text dictionary once enough text has been sampled
 * (textpack.h); otherwise nothing. */
int cs__wr_zdict(cs_writer *w);
/* Appends a mirror operation when mirroring is on. */
int cs__wr_outbox(cs_writer *w, int action, int kind, uint64_t id);
/* Copies the value of be64 key `id` in table t into copy (CS_ENOTFOUND). */
int cs__wr_get_copy(cs_writer *w, cs_table t, uint64_t id, cs_buf *copy);
/* Deletes every key of `tbl` that starts with be64(id) (calling each
 * first with the key, when not NULL). */
int cs__wr_delete_prefix(cs_writer *w, cs_table tbl, uint64_t id,
                         int (*each)(cs_writer *, const uint8_t *key));
/* Whether the person was erased (CS_T_ERASED). */
int cs__wr_erased(cs_writer *w, uint64_t patient);

/* writer_docs.c: records docid's kind and conversation for the bounds. */
void cs__wr_cb_record(cs_writer *w, uint32_t docid, int kind, uint64_t conv);

/* writer_flush.c */
/* Empties the pending maps (the batch's postings are dropped). */
void cs__wr_reset_pending(cs_writer *w);
/* Merges the pending postings and words into LMDB and empties the maps. */
int cs__wr_flush(cs_writer *w);
/* Adds ddf (and dcf) to the lexicon entry `term` of CS_T_LEX; an entry
 * left with df 0 is deleted. */
int cs__wr_lex_add(cs_writer *w, const char *term, size_t len, int64_t ddf, int64_t dcf);
/* Adds ddf to the word entry `key` of CS_T_WORDS, with its stem; an entry
 * left with df 0 is deleted. */
int cs__wr_word_add(cs_writer *w, const char *key, size_t len, int64_t ddf, const char *stem);
/* Removes docid from term's postings in LMDB (and its lexicon counts):
 * 1 when it was there, 0 when not, or an error (< 0). */
int cs__wr_remove_posting(cs_writer *w, cs_cursor *cur, const char *term, size_t len,
                          uint32_t docid);

/* writer_docs.c */
/* Cleans a source string: repaired UTF-8, cut to `max` bytes. The result
 * lives in `b` (NUL-terminated). */
const char *cs__wr_clean(cs_buf *b, const char *s, size_t len, size_t max, unsigned *flags);
/* Adds one document's tokens to the pending postings (and the word table);
 * its length in indexed tokens goes to *len. w->ents[i] gets token i's term
 * entry (NULL for a stop word) until the next call. Not for passages. */
int cs__wr_add_doc(cs_writer *w, uint32_t docid, int kind, const cs_token *toks, size_t n,
                   uint32_t *len);
/* The passage-field entry of term entry te (created on first use). */
cs__pentry *cs__wr_field_entry(cs_writer *w, cs__pentry *te);
/* Adds a passage: n tokens, their passage-field entries and positions.
 * Passages leave the word table alone: their words are the turns'. */
int cs__wr_add_passage(cs_writer *w, uint32_t docid, cs__pentry *const *ents, const uint32_t *pos,
                       size_t n, uint32_t *len);
/* Records what docid is, and counts it in the statistics. */
int cs__wr_put_doc_entry(cs_writer *w, uint32_t docid, int kind, uint64_t conv, uint64_t patient,
                         int32_t seq, uint32_t dl);
/* Indexes a text as one doc of `kind`; the analyzer's tokens go to
 * *toks_out (may be NULL), valid until the next analysis. */
int cs__wr_index_text(cs_writer *w, uint32_t docid, const char *lang, const char *text, size_t len,
                      int kind, uint64_t conv, uint64_t patient, int32_t seq,
                      const cs_token **toks_out, size_t *ntoks_out);
/* Removes docid from term's postings (cs__wr_remove_posting) and, when it
 * was there, from w->owner's df of the term: 0 or an error (a damaged
 * chunk is reported and left as it is). */
int cs__wr_unpost(cs_writer *w, cs_cursor *cur, const char *term, size_t len, uint32_t docid);
/* Removes a document whose text (as indexed) is `text`, analyzed in `lang`. */
int cs__wr_remove_doc(cs_writer *w, uint32_t docid, const char *lang, const char *text,
                      size_t text_len, int kind);

/* writer_owner.c */
/* The per-owner entry of `owner` and key[0..len) (a term, or a word) in
 * map m (w->oterms or w->owords), for removals and moves. NULL when out of
 * memory. */
cs__pentry *cs__wr_own(cs__pmap *m, uint64_t owner, const char *key, size_t len);
/* Writes the per-owner deltas of w->orun (after the entries' ranks were
 * set) and of w->oterms, w->owords into LMDB; empties w->orun. */
int cs__wr_own_write(cs_writer *w);
/* Empties w->orun (the batch's per-owner deltas are dropped). */
void cs__wr_own_reset(cs_writer *w);
/* Memory held by w->orun. */
size_t cs__wr_own_bytes(const cs_writer *w);
/* Whose statistics the documents added or removed from now on count in
 * (what was added for the previous owner goes to its entries first). */
int cs__wr_set_owner(cs_writer *w, uint64_t owner);
/* Counts one more document of w->owner holding pending entry e (a term,
 * or with word 1 a surface word): into e->odf, then at the next owner
 * change or flush into the owner's entry. */
int cs__wr_own_add(cs_writer *w, cs__pentry *e, int word);
/* Moves the odf counts into the per-owner entries (cs__wr_flush and
 * cs__wr_set_owner call it). */
int cs__wr_own_drain(cs_writer *w);
/* Counts document `docid` of `kind` and `dl` tokens in (+1) or out (-1) of
 * w->owner's statistics. The owner's next_docid (1 + the largest docid ever
 * counted in) is a paging horizon that tells nothing of other owners. */
int cs__wr_own_doc(cs_writer *w, int kind, int sign, uint32_t dl, uint32_t docid);
/* Writes the per-owner document counts back (the df maps are flushed by
 * cs__wr_flush). */
int cs__wr_own_flush(cs_writer *w);
/* Counts again, from the documents, the statistics of the owners whose
 * record cs__wr_own_flush found damaged (the end of cs__wr_flush). */
int cs__wr_own_heal(cs_writer *w);
/* The owner a conversation of `patient` counts for: the person's owner, or
 * `conv_owner` while the person is not indexed. */
int cs__wr_stats_owner(cs_writer *w, uint64_t patient, uint64_t conv_owner, uint64_t *owner);
/* Moves the statistics of conversation c's documents from owner `from` to
 * `to` (its person moved). */
int cs__wr_own_move(cs_writer *w, const cs_conv *c, uint64_t from, uint64_t to);

/* writer_oblock.c */
/* A merge of per-owner df deltas, in logical key order, into the blocks of
 * CS_T_OLEX or CS_T_OWORDS (oblock.h). */
typedef struct cs__omerge {
  cs_table t;
  cs_cursor *c;              /* reads and writes the blocks, in key order */
  int loaded;                /* a block's range is in memory */
  uint8_t bkey[CS_OKEY_MAX]; /* the stored key it came from (bklen 0: none) */
  size_t bklen;
  int bounded; /* the range ends before bound (the next block) */
  uint8_t bound[CS_OKEY_MAX];
  size_t bdlen;
  uint8_t last[CS_OKEY_MAX]; /* the last key added */
  size_t last_len;
  struct cs__oent *e; /* the range's entries, in key order */
  size_t n, cap, at;  /* at: the first entry not before the last key */
  cs_buf arena, out;
} cs__omerge;
/* A range of CS_T_OLEX counted again (lo up to hi; hilen 0: up to the end
 * of lo's owner). */
struct cs__oheal {
  uint8_t lo[CS_OKEY_MAX], hi[CS_OKEY_MAX];
  size_t lolen, hilen;
};
/* Whether logical key k[0..len) of CS_T_OLEX is in a range counted again
 * during this flush. */
int cs__wr_oheal_covers(const cs_writer *w, const uint8_t *key, size_t len);
void cs__om_begin(cs__omerge *m, cs_table t);

/* writer_ochanges.c */
/* Notes owner-prefixed key[0..len) of CS_T_OWORDS or CS_T_OLEX (t) as added
 * by this transaction, or counts it as removed (the key is not kept). */
void cs__wr_ochange(cs_writer *w, cs_table t, const uint8_t *key, size_t len, int removed);
/* Notes that what this transaction changed in owner's entries is not known;
 * ..._unknown: in any owner's (a damaged key names none for sure). */
void cs__wr_ochange_many(cs_writer *w, uint64_t owner);
void cs__wr_ochange_unknown(cs_writer *w);
/* The collection's own: notes key[0..len) of CS_T_WORDS or CS_T_LEX (t) as
 * added (into ochg.gkeys, the list META stats gets at commit: put_stats),
 * or counts it as removed. */
void cs__wr_gchange(cs_writer *w, cs_table t, const char *key, size_t len, int removed);
/* The list of owner's changes for its record (records.h): the keys added
 * into out (reset first), their count, the keys removed, and the "many"
 * flag. */
void cs__wr_ochanges_of(cs_writer *w, uint64_t owner, cs_buf *out, uint32_t *n, uint32_t *removed,
                        uint8_t *many);
void cs__wr_ochanges_reset(cs_writer *w);
void cs__wr_ochanges_free(cs_writer *w);
/* Adds ddf to the df of logical key k[0..len) (be64 owner + term or word;
 * a word's stem replaced by `stem`); an entry left at df 0 is dropped. */
int cs__om_add(cs_writer *w, cs__omerge *m, const char *k, size_t len, int64_t ddf,
               const char *stem);
/* Writes back what is in memory (unless rc, which it returns) and frees. */
int cs__om_end(cs_writer *w, cs__omerge *m, int rc);

/* A document of a stored conversation with its text as indexed. */
typedef int (*cs__doc_fn)(cs_writer *w, void *ctx, uint32_t docid, int kind, const char *lang,
                          const char *text, size_t len);
/* A turn of a stored conversation, its text readable (until fn returns). */
typedef int (*cs__turn_fn)(cs_writer *w, void *ctx, const cs_turn *t);
/* Calls fn for the turns of stored conversation conv in seq order; fn may
 * write. A damaged turn block is reported and ends it (CS_ECORRUPT). */
int cs__wr_turns_each(cs_writer *w, uint64_t conv, cs__turn_fn fn, void *ctx);
/* A conversation's next block of table t (turn or passage blocks, keyed by
 * the conversation's 8 bytes and 4 more): the first at or after key whose
 * key shares key's first 8 bytes is copied into blk and its key into key.
 * Returns 1, 0 when the conversation has no block there, or a CS_E* code
 * (< 0). The cursor is closed before it returns: the caller may write. */
int cs__wr_conv_block(cs_writer *w, cs_table t, uint8_t key[12], cs_buf *blk);
/* Calls fn for every document of stored conversation c: title,
 * description, passages, turns (writer_conv.c). */
int cs__wr_conv_docs(cs_writer *w, const cs_conv *c, cs__doc_fn fn, void *ctx);

/* writer_heal.c: entities whose stored records are damaged, removed
 * without decoding them (slow scans; rare), to be indexed again from their
 * source rows. `what` ends the log line ("rebuilt from the store"). */
#define CS__HEAL_REBUILT "rebuilt from the store"
#define CS__HEAL_REMOVED "removed"
/* Removes conversation id: its documents (found by scanning CS_T_DOCS)
 * from the postings and statistics, and its records by key. Its statistics
 * count for its person's owner, or owner_hint. */
int cs__wr_heal_conv(cs_writer *w, uint64_t id, uint64_t owner_hint, const char *what);
/* Removes person id: their name from the postings and statistics, their
 * records by key; *owner (may be NULL) gets the owner CS_T_OWNER knew,
 * *known whether it knew one. */
int cs__wr_heal_patient(cs_writer *w, uint64_t id, const char *what, uint64_t *owner, int *known);
/* cs__wr_stats_owner, and when the person's record is damaged, their owner
 * as CS_T_OWNER knows it (else conv_owner). */
int cs__wr_heal_owner(cs_writer *w, uint64_t patient, uint64_t conv_owner, uint64_t *owner);
/* The df and cf of `term` counted from its (decodable) postings. */
int cs__wr_heal_lex(cs_writer *w, const char *term, size_t len, cs_lex *x);
/* w->stats counted again from CS_T_DOCS (its record is damaged). */
int cs__wr_heal_stats(cs_writer *w);
/* The statistics of `owner` (its CS_T_OSTATS record is damaged), counted
 * again from the documents it owns (a scan of CS_T_DOCS). */
int cs__wr_heal_ostats(cs_writer *w, uint64_t owner, cs_stats *st);
/* The docids of the documents `owner` owns, ascending (*docids malloc'd). */
int cs__wr_heal_owner_docids(cs_writer *w, uint64_t owner, uint32_t **docids, size_t *n);
/* w->outbox_seq set above every version the mirror can have seen (its
 * record is damaged). */
int cs__wr_heal_outbox_seq(cs_writer *w);

/* writer_passages.c */
/* The cleaned texts of a conversation's turns, in seq order, in one arena. */
typedef struct cs__turn_texts {
  cs_buf arena;
  size_t n, cap;
  uint32_t *off, *len;
  int32_t *seq;
  uint8_t *role;
  int64_t *start, *end;
} cs__turn_texts;
/* Passages of the conversation being put, filled from its turns' tokens:
 * the passage being filled holds ntok tokens, their passage-field entries
 * and positions. */
typedef struct cs__passage_builder {
  cs_passage_span *sp;
  size_t n, next; /* passages, and the first one not yet indexed */
  cs__pentry **ent;
  uint32_t *pos;
  size_t ntok, cap;
  uint32_t next_pos; /* next position in the passage being filled */
  cs_pblock_b blk;   /* the indexed passages not yet written (passblock.h) */
} cs__passage_builder;

void cs__tt_free(cs__turn_texts *tt);
int cs__tt_push(cs__turn_texts *tt, int32_t seq, int role, int64_t start, int64_t end,
                const char *text, size_t len);
const char *cs__tt_text(const cs__turn_texts *tt, size_t i);
/* Cuts the conversation's passages from its cleaned turns. */
int cs__passages_begin(cs__passage_builder *pb, const cs__turn_texts *tt);
void cs__passages_end(cs__passage_builder *pb);
/* Writes the block of passages indexed but not yet written. */
int cs__passages_finish(cs_writer *w, cs__passage_builder *pb, uint64_t conv);
/* Routes turn i's tokens (toks, and w->ents from the turn's
 * cs__wr_add_doc) to the passages covering them, indexing each passage
 * (docid *d, then incremented) when its last turn is done. */
int cs__passages_feed(cs_writer *w, cs__passage_builder *pb, const cs_conv *c,
                      const cs__turn_texts *tt, uint32_t i, const cs_token *toks, size_t n,
                      uint32_t *d);
/* Calls fn for each passage of a stored conversation, with its text (the
 * turns must still be there). */
int cs__passages_each(cs_writer *w, uint64_t conv, const char *lang, cs__doc_fn fn, void *ctx);

#endif
