/*
 * Records: the values of every table but CS_T_POST, and the keys built from
 * ids. Every record starts with a version byte (CS_RECORD_V1); decoders
 * validate every length against the value's end and return CS_ECORRUPT, so a
 * damaged index file yields an error, never a crash.
 *
 * Decoded strings (cs_str) point into the encoded bytes: they live exactly as
 * long as those bytes (for an LMDB value, until the transaction ends or the
 * next write in it). They are not NUL-terminated.
 */
#ifndef CS_RECORDS_H
#define CS_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#define CS_RECORD_V1 1

/* Index format, stored in META "format": magic + version. Readers refuse
 * any other version with a readable message, but for the one before
 * (CS_FORMAT_UPGRADES): its layout is this one's, and a writer marks it
 * with this version when it opens it. Format 13 lists the keys each
 * commit adds to the collection's words and terms in META stats, which a
 * format-12 binary would read as damage (more than 64), and whose
 * versions an older writer would leave as they were while changing the
 * tables: it must refuse the index. */
#define CS_FORMAT_MAGIC "convsearch-index"
#define CS_FORMAT_VERSION 13
#define CS_FORMAT_UPGRADES 12

typedef struct cs_str {
  const char *p;
  size_t len;
} cs_str;

/* Growable byte buffer with a sticky error: after a failed append every
 * later append is a no-op and err stays set, so a chain is checked once. */
typedef struct cs_buf {
  uint8_t *p;
  size_t len, cap;
  int err;
} cs_buf;

void cs_buf_init(cs_buf *b);
void cs_buf_free(cs_buf *b);
void cs_buf_reset(cs_buf *b);
/* Room for `more` bytes past len: 0, or -1 with err set. */
int cs_buf_reserve(cs_buf *b, size_t more);
void cs_buf_bytes(cs_buf *b, const void *p, size_t n);
void cs_buf_u8(cs_buf *b, uint8_t v);
void cs_buf_varint(cs_buf *b, uint64_t v);
void cs_buf_zigzag(cs_buf *b, int64_t v);
void cs_buf_str(cs_buf *b, const char *s, size_t n); /* varint length + bytes */
void cs_buf_cstr(cs_buf *b, const char *s);          /* NULL is stored as "" */
void cs_buf_f64(cs_buf *b, double v);

/* Reader over untrusted bytes, sticky error too. */
typedef struct cs_rd {
  const uint8_t *p, *end;
  int err;
} cs_rd;

void cs_rd_init(cs_rd *r, const void *p, size_t n);
uint8_t cs_rd_u8(cs_rd *r);
uint64_t cs_rd_varint(cs_rd *r);
uint32_t cs_rd_u32(cs_rd *r); /* a varint that must fit 32 bits */
int64_t cs_rd_zigzag(cs_rd *r);
cs_str cs_rd_str(cs_rd *r);
/* A string the writer stores as text: valid UTF-8 without NUL bytes
 * (index/writer_docs.c cleans what it is given), else CS_ECORRUPT: a
 * damaged record, never a JSON answer that cannot be written. */
cs_str cs_rd_text(cs_rd *r);
double cs_rd_f64(cs_rd *r);

/* Roles of a turn's speaker. */
enum { CS_ROLE_OTHER = 0, CS_ROLE_INTERVIEWER = 1, CS_ROLE_BENEFICIARY = 2 };
int cs_role_parse(const char *s);
const char *cs_role_name(int role);

/* What a docid stands for. */
enum {
  CS_DOC_TURN = 1,
  CS_DOC_TITLE = 2,
  CS_DOC_DESCRIPTION = 3,
  CS_DOC_NAME = 4,
  CS_DOC_PASSAGE = 5, /* a question-answer span for Q&A retrieval (passages.h) */
};
#define CS_DOC_KINDS 6

/* Passage documents are indexed as a field of their own: their terms are the
 * analyzer's terms prefixed with this byte, which no analyzer term starts
 * with, so searches over turns never see them and vice versa. */
#define CS_PASSAGE_PREFIX '\x01'

/* A passage (stored in blocks in CS_T_PASSAGE, passblock.h), number n of its conversation:
 * from byte first_off of turn first_seq to byte last_end of turn last_seq. */
typedef struct cs_passage {
  uint32_t docid;
  int32_t first_seq, last_seq;
  uint32_t first_off, last_end;
  int64_t start_ms, end_ms; /* -1: unknown; interpolated inside a split turn */
} cs_passage;

typedef struct cs_doc {
  uint8_t kind;
  uint64_t conversation_id; /* 0 for a person's name */
  uint64_t patient_id;
  int32_t seq;  /* turn number for CS_DOC_TURN, else -1 */
  uint32_t len; /* tokens */
} cs_doc;

typedef struct cs_conv {
  uint64_t id, patient_id, owner_id;
  cs_str title, description, language, audio_uri, status;
  int64_t duration_ms, created_at_ms, updated_at_ms; /* -1: unknown */
  uint32_t first_docid, ndocs, nturns;
  uint64_t checksum; /* of the source row and its turns, see cs_checksum_* */
} cs_conv;

/* A turn, as read from its block in CS_T_TURN (turnblock.h: a
 * conversation's turns are stored in runs, their texts compressed
 * together). No byte offsets are stored: the highlighter finds word bounds
 * in the text again (cs_analyze_bounds). */
typedef struct cs_turn {
  uint32_t docid;
  int32_t seq;
  uint8_t role;
  cs_str speaker, text;
  int64_t start_ms, end_ms; /* -1: unknown */
  cs_str marks;             /* word-scan restart points (tmarks.h); empty: none */
} cs_turn;

typedef struct cs_patient {
  uint64_t id, owner_id;
  cs_str name, email, phone;
  int64_t created_at_ms, updated_at_ms;
  uint32_t name_docid; /* 0: name not indexed */
  uint64_t checksum;
} cs_patient;

/* Event types the index understands; others are skipped by the indexer. */
enum {
  CS_EV_UNKNOWN = 0,
  CS_EV_REGISTERED,
  CS_EV_RENAMED,
  CS_EV_ERASED,
  CS_EV_RECORDED,
  CS_EV_PLAYED,
  CS_EV_QUESTION,
  CS_EV_SHEET,
};
int cs_event_type_parse(const char *s);

typedef struct cs_event {
  uint8_t type;
  uint64_t patient_id, actor_id, conversation_id;
  int64_t recorded_at_ms;
} cs_event;

/* Interaction of one employee with one person: decayed weight sum kept as
 * score_ref = sum(w * 2^((t - T0) / H)); see cs_interaction_now(). */
typedef struct cs_inter {
  uint64_t events;
  double score_ref;
  int64_t last_at_ms;
} cs_inter;

typedef struct cs_lex {
  uint64_t df, cf;
} cs_lex;

typedef struct cs_word {
  uint64_t df;
  cs_str stem;
} cs_word;

typedef struct cs_point {
  uint64_t id;
  cs_str text, category;
} cs_point;

/* One pending mirror operation (CS_T_OUTBOX value, keyed by be64 sequence;
 * the sequence is the document's external version in OpenSearch). The
 * document itself is read from the index when the operation is sent. */
enum { CS_OUT_PUT = 1, CS_OUT_DELETE = 2 };
enum { CS_OUT_CONVERSATION = 1, CS_OUT_PATIENT = 2 };
typedef struct cs_outop {
  uint8_t action, kind;
  uint64_t id;
  int64_t queued_at_ms;
} cs_outop;
void cs_outop_encode(cs_buf *b, const cs_outop *o);
int cs_outop_decode(const void *p, size_t n, cs_outop *o);

/* Checkpoint of the tailing indexer (META "checkpoint"): see indexer/tail.c. */
typedef struct cs_checkpoint {
  uint64_t floor_xid;  /* changes with xid >= floor are not yet known applied */
  uint64_t round_xid;  /* horizon of the round in progress (0: none) */
  uint8_t marker_kind; /* last (kind, entity) applied in that round */
  uint64_t marker_entity;
  uint64_t rounds;
  int64_t updated_at_ms;
  /* A load's pages come in (group, id) order (indexer/load.c: the owner for
   * people and conversations): the group of the marker's entity. Written
   * after the fields above only when not 0, so a checkpoint without it
   * reads as group 0. */
  uint64_t marker_group;
} cs_checkpoint;

/* Collection statistics for ranking (META "stats"; per owner, CS_T_OSTATS
 * with next_docid 0).
 *
 * Per-owner statistics (format 4): a portal caller's ranking may depend
 * only on what the caller may see, so besides the collection's statistics
 * the writer keeps, per owner (the current owner of a document's person;
 * while the person is not indexed yet, the owner the conversation names),
 * the same counts over that owner's documents alone: documents and tokens
 * per kind (CS_T_OSTATS), the document frequency of each term (CS_T_OLEX)
 * and of each surface word with its stem (CS_T_OWORDS). A person moving to
 * another owner moves the counts of all their documents. */
typedef struct cs_stats {
  uint64_t docs[CS_DOC_KINDS];
  uint64_t tokens[CS_DOC_KINDS];
  uint32_t next_docid;
  /* An owner's record (CS_T_OSTATS): a value drawn anew by every commit
   * that writes any of that owner's entries in CS_T_OLEX, CS_T_OWORDS or
   * CS_T_OSTATS (0: none known; records written before it had none). Two
   * snapshots where it is the same hold the same per-owner statistics for
   * that owner: copies made from one serve the other. The collection's
   * record (META stats) has one too, drawn anew by every commit, with its
   * list below of the keys of CS_T_WORDS and CS_T_LEX it added (records
   * written before had none). */
  uint64_t version;
  /* An owner's record: the version the commit replaced (0: not known), and
   * the keys of the owner's CS_T_OWORDS and CS_T_OLEX entries that commit
   * added (past the owner's 8 bytes; not those whose df alone changed;
   * the collection's record: its keys whole, a change's table byte 0 for
   * CS_T_WORDS and 1 for CS_T_LEX):
   * `nchanges` of them in changes[0..changes_len), read with
   * cs_ochanges_each; and how many it removed, `nremoved` (their keys are
   * not kept: an erased person's words leave the files); or `many`: more
   * than CS_OCHANGES_MAX (CS_GCHANGES_MAX) added, or not known
   * (a damaged block dropped or counted again; a commit adding or removing
   * more keys than the writer notes, e.g. a bulk load; memory short). Terms
   * of passages (CS_PASSAGE_PREFIX), which no expansion reaches, are not
   * listed. What the query server made
   * from the version before and no such key reaches holds for this one
   * (expmemo.h). Points into the value decoded. Written only with a
   * version. */
  uint64_t prev_version;
  uint32_t nchanges, nremoved;
  uint8_t many;
  const uint8_t *changes;
  size_t changes_len;
} cs_stats;

/* Keys an owner's record lists at most (else `many`); the collection's
 * record (META stats), which every commit writes: a conversation of new
 * words adds more than an owner's few, and with `many` nothing its
 * callers' expansions made passes on. */
#define CS_OCHANGES_MAX 64
#define CS_GCHANGES_MAX 1024

/* Calls fn for each key of s's changes: lex 1 for CS_T_OLEX, 0 for
 * CS_T_OWORDS. Returns CS_ECORRUPT when the list is damaged (fn may have
 * been called for the keys before), fn's nonzero answer, or 0. */
int cs_ochanges_each(const cs_stats *s, int (*fn)(void *ctx, int lex, const char *key, size_t len),
                     void *ctx);
/* Appends one key to a list of changes (the writer's). */
void cs_ochange_put(cs_buf *b, int lex, const char *key, size_t len);

void cs_doc_encode(cs_buf *b, const cs_doc *d);
int cs_doc_decode(const void *p, size_t n, cs_doc *d);
void cs_conv_encode(cs_buf *b, const cs_conv *c);
int cs_conv_decode(const void *p, size_t n, cs_conv *c);
void cs_patient_encode(cs_buf *b, const cs_patient *pt);
int cs_patient_decode(const void *p, size_t n, cs_patient *pt);
void cs_event_encode(cs_buf *b, const cs_event *e);
int cs_event_decode(const void *p, size_t n, cs_event *e);
void cs_inter_encode(cs_buf *b, const cs_inter *x);
int cs_inter_decode(const void *p, size_t n, cs_inter *x);
void cs_lex_encode(cs_buf *b, const cs_lex *x);
int cs_lex_decode(const void *p, size_t n, cs_lex *x);
void cs_word_encode(cs_buf *b, const cs_word *w);
int cs_word_decode(const void *p, size_t n, cs_word *w);
void cs_point_encode(cs_buf *b, const cs_point *x);
int cs_point_decode(const void *p, size_t n, cs_point *x);
void cs_checkpoint_encode(cs_buf *b, const cs_checkpoint *c);
int cs_checkpoint_decode(const void *p, size_t n, cs_checkpoint *c);
void cs_stats_encode(cs_buf *b, const cs_stats *s);
int cs_stats_decode(const void *p, size_t n, cs_stats *s);
/* An owner's record (CS_T_OSTATS): as cs_stats_decode, and a list of more
 * than CS_OCHANGES_MAX keys is damage (the collection's may hold more). */
int cs_ostats_decode(const void *p, size_t n, cs_stats *s);

/* Interaction weights and decay (documented in README "Interaction"). */
#define CS_INTER_HALF_LIFE_DAYS 30.0
double cs_interaction_weight(int event_type);
/* Contribution of an event at t_ms to score_ref. */
double cs_interaction_ref(double weight, int64_t t_ms);
/* The decayed score at now_ms. */
double cs_interaction_now(const cs_inter *x, int64_t now_ms);

/* FNV-1a 64 checksums that `verify` recomputes from the stores: the same
 * fields in the same order on both sides. */
uint64_t cs_checksum_init(void);
uint64_t cs_checksum_str(uint64_t h, const char *s, size_t n);
uint64_t cs_checksum_i64(uint64_t h, int64_t v);

/* Keys. */
void cs_key_u64(uint8_t out[8], uint64_t a);
void cs_key_u64u64(uint8_t out[16], uint64_t a, uint64_t b);
/* qsort/bsearch order of uint64_t values, ascending. */
int cs_cmp_u64(const void *a, const void *b);
void cs_key_turn(uint8_t out[12], uint64_t conv, int32_t seq);
/* The seq of a cs_key_turn key. */
int32_t cs_key_turn_seq(const uint8_t key[12]);
/* Postings key: term \0 be32(docid); out needs term_len + 5 bytes. */
size_t cs_key_post(uint8_t *out, const char *term, size_t term_len, uint32_t docid);

#endif
