/*
 * The index writer: the one way the index changes. It turns source records
 * (conversations with their turns, people, events, relevant points) into
 * postings, stored records and statistics, inside one LMDB write transaction
 * per batch, together with the tailing checkpoint that covers the batch.
 *
 * Postings of new documents collect in memory (per term) and are merged into
 * the terms' last chunks at commit, terms in sorted order. Deleting a
 * document re-analyzes its stored text to find its terms and removes it from
 * each term's chunk, so postings and statistics stay exact (no tombstones):
 * after compaction a deleted word is nowhere in the files.
 *
 * Usage: begin, any number of put/delete calls, commit (or abort). When a
 * call or the commit returns CS_EFULL the batch is lost: abort, call
 * cs_store_grow() and redo the batch from its source.
 */
#ifndef CS_WRITER_H
#define CS_WRITER_H

#include "records.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* Bounds applied to untrusted source text (longer values are cut, with the
 * cut reported in the result flags). */
#define CS_TEXT_MAX (4u << 20)   /* one turn's text */
#define CS_FIELD_MAX (64u << 10) /* title, description, names, other strings */
#define CS_TURNS_MAX 100000u     /* turns of one conversation */

typedef struct cs_turn_in {
  int32_t seq;
  const char *speaker;      /* may be NULL */
  const char *role;         /* "interviewer" | "beneficiary" | other/NULL */
  int64_t start_ms, end_ms; /* -1 when unknown */
  const char *text;
  size_t text_len;
} cs_turn_in;

typedef struct cs_conv_in {
  uint64_t id, patient_id, owner_id;
  const char *title, *description, *language, *audio_uri, *status; /* may be NULL */
  int64_t duration_ms, created_at_ms, updated_at_ms;               /* -1 when unknown */
  const cs_turn_in *turns;                                         /* in seq order */
  size_t nturns;
} cs_conv_in;

typedef struct cs_patient_in {
  uint64_t id, owner_id;
  const char *name, *email, *phone;
  int64_t created_at_ms, updated_at_ms;
} cs_patient_in;

typedef struct cs_event_in {
  uint64_t position;
  const char *type;
  uint64_t patient_id, actor_id, conversation_id; /* 0 when absent */
  int64_t recorded_at_ms;
} cs_event_in;

/* What a put did, for the caller's log line. */
enum {
  CS_PUT_UNCHANGED = 1 << 0,     /* same checksum as indexed: nothing written */
  CS_PUT_ERASED = 1 << 1,        /* the person was erased: refused */
  CS_PUT_CUT = 1 << 2,           /* some text was cut to the bounds above */
  CS_PUT_REPAIRED = 1 << 3,      /* invalid UTF-8 or NUL bytes were repaired */
  CS_PUT_DUPLICATE = 1 << 4,     /* event already applied */
  CS_PUT_SKIPPED = 1 << 5,       /* unknown event type or missing fields */
  CS_PUT_OWNER_CHANGED = 1 << 6, /* a person indexed before moved to another owner */
  CS_PUT_BAD_SEQ = 1 << 7,       /* turns whose seq was not past the one before: left out */
};

typedef struct cs_writer cs_writer;

/* Opens a writer on a store opened for writing; initializes the format
 * record of a new index and refuses (CS_EVERSION) an index of another
 * format. The writer does not own the store. */
int cs_writer_open(cs_store *s, cs_writer **out);
void cs_writer_close(cs_writer *w);

int cs_writer_begin(cs_writer *w);
int cs_writer_commit(cs_writer *w);
void cs_writer_abort(cs_writer *w);
/* Memory held by not yet merged postings: the indexer commits when this
 * passes its batch budget. */
size_t cs_writer_pending_bytes(const cs_writer *w);
/* The largest cs_writer_pending_bytes any commit of w has written. LMDB
 * keeps a copy of every page a commit changes until it ends, and keeps
 * those buffers for the store's later transactions until the store is
 * closed: a large commit's memory stays with the store. */
size_t cs_writer_largest_commit(const cs_writer *w);

/* Replaces a conversation and all its turns (re-transcription). *flags gets
 * CS_PUT_* bits; may be NULL. CS_ELIMIT, with nothing written, when the
 * index's 32-bit docids could run out in it (the same for a person's name
 * below): only `reindex` numbers the documents again. */
int cs_writer_put_conversation(cs_writer *w, const cs_conv_in *c, unsigned *flags);
int cs_writer_delete_conversation(cs_writer *w, uint64_t id);
int cs_writer_put_patient(cs_writer *w, const cs_patient_in *p, unsigned *flags);
/* Deletes the person's record, name and conversations (store row deleted). */
int cs_writer_delete_patient(cs_writer *w, uint64_t id);
/* Removes every trace of the person and refuses them from now on. */
int cs_writer_erase_patient(cs_writer *w, uint64_t id, int64_t at_ms);
int cs_writer_is_erased(cs_writer *w, uint64_t id);
/* Applies an event once: a second call with the same position is a no-op. */
int cs_writer_put_event(cs_writer *w, const cs_event_in *e, unsigned *flags);
/* Removes the events at `positions` (sorted ascending; their source rows
 * are gone) and recounts the interactions they had added to. *deleted is
 * how many the index held. */
int cs_writer_delete_events(cs_writer *w, const uint64_t *positions, size_t n, size_t *deleted);
int cs_writer_put_point(cs_writer *w, uint64_t id, const char *text, const char *category);
int cs_writer_delete_point(cs_writer *w, uint64_t id);

/* Mirroring: when on (a setting kept in the index), every change of a
 * conversation or person also appends an operation to the outbox, in the
 * same transaction, for the mirror to send; its sequence number is the
 * document's external version, always above 1, which bulk loads use.
 * Turning it on does not enqueue what is already indexed (see
 * cs_writer_enqueue_all; a reindex bulk-loads instead). */
int cs_writer_set_mirror(cs_writer *w, int on);
int cs_writer_mirror_on(cs_writer *w);
/* Enqueues a put of every conversation and person (initial mirror load). */
int cs_writer_enqueue_all(cs_writer *w);

/* The open batch's transaction, for META entries the writer does not own
 * (the indexer's record of bad source rows). */
cs_txn *cs_writer_txn(cs_writer *w);

int cs_writer_get_checkpoint(cs_writer *w, cs_checkpoint *c);
int cs_writer_set_checkpoint(cs_writer *w, const cs_checkpoint *c);

/* Lists the ids (be64 keys) of CS_T_CONV or CS_T_PATIENT, or the positions
 * of CS_T_EVENT, inside the open batch, ascending, into a malloc'd array owned by the caller. */
int cs_writer_list_ids(cs_writer *w, cs_table t, uint64_t **ids, size_t *n);

/* Checksums of source records, as stored in the index and recomputed by
 * `verify` from the stores. */
uint64_t cs_conv_in_checksum(const cs_conv_in *c);
/* How many of c's turns a put stores: of the first CS_TURNS_MAX, each
 * whose seq is past every seq before it (*bad_seq: some is not). */
uint32_t cs_conv_in_nturns(const cs_conv_in *c, int *bad_seq);
uint64_t cs_patient_in_checksum(const cs_patient_in *p);

#endif
