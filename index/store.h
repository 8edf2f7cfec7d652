/*
 * The store: the only module that talks to LMDB. It gives the rest of the
 * index named tables of ordered byte keys, transactions and cursors, and
 * hides LMDB's map management (the writer grows the map when it fills up;
 * readers in other processes follow the new size by themselves).
 *
 * An index directory holds one LMDB environment per generation, DIR/gN/, and
 * a symlink DIR/current naming the generation that serves. A batch reindex
 * builds a new generation and swaps the symlink; readers notice with
 * cs_store_generation_changed() and reopen.
 *
 * Lifetimes: a value or key returned by cs_get() or a cursor points into the
 * map and is valid only until the next write in the same transaction or the
 * end of the transaction (LMDB's rule).
 */
#ifndef CS_STORE_H
#define CS_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cs_store cs_store;
typedef struct cs_txn cs_txn;
typedef struct cs_cursor cs_cursor;

typedef struct cs_slice {
  const void *data;
  size_t len;
} cs_slice;

/* Tables of the index. Their key and value layouts are documented in
 * records.h (records) and postings.h (postings). Never renumbered. */
typedef enum cs_table {
  CS_T_META = 0, /* string key -> value: format, checkpoint, statistics */
  CS_T_POST,     /* term \0 be32(first docid) -> postings chunk */
  CS_T_LEX,      /* term -> lexicon entry (df, cf) */
  CS_T_WORDS,    /* folded surface word -> word entry (stem, df) */
  CS_T_DOCS,     /* be32 docid -> doc entry (what the docid is) */
  CS_T_CONV,     /* be64 conversation id -> conversation record */
  CS_T_TURN,     /* be64 conversation id, be32 first seq -> turn block (turnblock.h) */
  CS_T_PATIENT,  /* be64 patient id -> patient record */
  CS_T_PCONV,    /* be64 patient id, be64 conversation id -> empty */
  CS_T_EVENT,    /* be64 patient id, be64 event position -> event record */
  CS_T_INTER,    /* be64 patient id, be64 actor id -> interaction record */
  CS_T_ERASED,   /* be64 patient id -> be64 erased-at (unix ms) */
  CS_T_POINT,    /* be64 relevant point id -> point record */
  CS_T_OUTBOX,   /* be64 outbox sequence -> mirror operation */
  CS_T_OWNER,    /* be64 owner id, be64 patient id -> empty */
  CS_T_PASSAGE,  /* be64 conversation id, be32 first number -> passage block (passblock.h) */
  /* Per-owner term statistics (see records.h "Per-owner statistics"): the
   * documents of the people an employee owns, counted on their own. */
  CS_T_OLEX,   /* be64 owner id, term -> lexicon entry (df; cf 0) */
  CS_T_OWORDS, /* be64 owner id, folded surface word -> word entry (stem, df) */
  CS_T_OSTATS, /* be64 owner id -> statistics record (documents, tokens per kind) */
  CS_T__COUNT
} cs_table;

enum {
  CS_STORE_RDONLY = 1 << 0, /* open an existing index for reading only */
  CS_STORE_CREATE = 1 << 1, /* create DIR (and its parents) and a first generation */
  /* Everything written can be derived again from the stores, from the
   * checkpoint committed with it (the tail): a commit flushes its pages but
   * not the meta page that makes it current (MDB_NOMETASYNC; the next
   * commit or the close flushes it). An OS crash may then undo the last
   * commit, never leave the index inconsistent; the tail reads it again. */
  CS_STORE_REDERIVABLE = 1 << 2,
  /* A first load or a reindex: LMDB writes the pages of a transaction in
   * the map (MDB_WRITEMAP) instead of keeping a copy of each in memory
   * until the commit, so the writer's memory does not grow with the index.
   * The map is allocated on disk before a transaction writes in it, so a
   * full disk refuses a transaction before it writes (CS_ENOSPC) rather
   * than killing the process; where the first map cannot be allocated, the
   * store is opened without this flag (cs_store_bulk says which). Its
   * commits are not synced, behind a marker naming the boot (unsynced.h):
   * a generation found with another boot's marker is refused by readers
   * and by writers other than CS_STORE_REDERIVABLE ones (CS_ECORRUPT),
   * which start it over, empty. Readers never use the flag. */
  CS_STORE_BULK = 1 << 3,
};

/* Opens the index in `dir` (the generation DIR/current points at).
 * Writers hold an exclusive lock file so two writers cannot run at once
 * (CS_EBUSY). Returns 0 or a CS_E* code; on error *out is NULL and, when
 * `err` is not NULL, a message is written to err[0..errcap). */
int cs_store_open(const char *dir, unsigned flags, cs_store **out, char *err, size_t errcap);
void cs_store_close(cs_store *s);
/* Closes the generation a store opened with cs_store_open serves and opens
 * the one DIR/current names now (after a compaction or a reindex), or the
 * same one again (LMDB hands back what its commits kept), keeping the
 * writer lock: no other writer can take the index in between. No
 * transaction may be open. On error only cs_store_close may follow. */
int cs_store_reopen(cs_store *s, char *err, size_t errcap);
/* Opens the store's generation again in or out of CS_STORE_BULK (no
 * transaction may be open; errors as cs_store_reopen). Out of it, the data
 * file is cut back to the data in use. */
int cs_store_set_bulk(cs_store *s, int on, char *err, size_t errcap);
/* 1 when the store writes in CS_STORE_BULK mode. */
int cs_store_bulk(const cs_store *s);

/* The index directory DIR of a store opened with cs_store_open. */
const char *cs_store_dir(const cs_store *s);

/* Opens generation directory `gendir` directly (used by reindex to build a
 * fresh generation before it is made current). Same flags and errors. */
int cs_store_open_generation(const char *gendir, unsigned flags, cs_store **out, char *err,
                             size_t errcap);

/* Name of the generation this handle serves ("g1"...). Owned by the store. */
const char *cs_store_generation(const cs_store *s);
/* 1 when DIR/current now names another generation than this handle's. */
int cs_store_generation_changed(const cs_store *s);

/* Begins a transaction: read-only unless `write`. Read transactions may be
 * used by the thread that began them only. */
int cs_txn_begin(cs_store *s, int write, cs_txn **out);
int cs_txn_commit(cs_txn *t); /* frees t whatever the outcome */
void cs_txn_abort(cs_txn *t); /* frees t; NULL is a no-op */
/* The snapshot a transaction reads: the id of the last write committed
 * before it began (increases with every commit). Two read transactions
 * with the same id see the same data. */
uint64_t cs_txn_id(const cs_txn *t);

/* Notes, from now on, the first 8 bytes (be64) of every key written or
 * deleted in the tables of the mask (1 << table), however it is written:
 * put, delete, through a cursor (keys shorter than 8 bytes are not noted).
 * A mask of 0 stops noting. */
void cs_txn_track(cs_txn *t, unsigned tables);
/* The prefixes noted so far, sorted, each once (valid until the next noted
 * write or the transaction's end). Returns CS_ENOMEM when one could not be
 * noted (the list is then incomplete), else 0. */
int cs_txn_tracked(cs_txn *t, const uint64_t **prefixes, size_t *n);

/* Doubles the map (up to the configured ceiling). No transaction of this
 * handle may be open. Called by writers after CS_EFULL. */
int cs_store_grow(cs_store *s);
size_t cs_store_map_size(const cs_store *s);
/* Bytes the environment's data file uses (last used page). */
int cs_store_used_bytes(cs_store *s, uint64_t *out);

/* Writes a compacted copy of the environment to directory `path` (created if
 * missing; it must be empty): every table's entries rewritten in key order
 * into full pages, so neither freed pages nor the free space of half-full
 * ones (where deleted data may linger) are in the copy, and the copy is
 * smaller than the pages it came from. The copy gets its lock file and the
 * index's modes, ready for readers of another user. */
int cs_store_copy_compact(cs_store *s, const char *path);

/* Point operations. cs_get returns CS_ENOTFOUND when the key is absent.
 * cs_del returns CS_ENOTFOUND too (callers that do not care ignore it). */
int cs_get(cs_txn *t, cs_table tbl, cs_slice key, cs_slice *val);
int cs_put(cs_txn *t, cs_table tbl, cs_slice key, cs_slice val);
int cs_del(cs_txn *t, cs_table tbl, cs_slice key);
/* Number of entries in a table. */
int cs_table_count(cs_txn *t, cs_table tbl, uint64_t *out);

/* Cursors live inside their transaction and must be closed before it ends. */
int cs_cursor_open(cs_txn *t, cs_table tbl, cs_cursor **out);
void cs_cursor_close(cs_cursor *c);
/* Positions at the first key >= key (CS_ENOTFOUND past the end). */
int cs_cursor_seek(cs_cursor *c, cs_slice key, cs_slice *k, cs_slice *v);
int cs_cursor_first(cs_cursor *c, cs_slice *k, cs_slice *v);
int cs_cursor_last(cs_cursor *c, cs_slice *k, cs_slice *v);
int cs_cursor_next(cs_cursor *c, cs_slice *k, cs_slice *v);
int cs_cursor_prev(cs_cursor *c, cs_slice *k, cs_slice *v);
/* Puts key -> val through the cursor, which is left on it: puts (and
 * seeks) in key order land on the leaf the cursor is on without a descent
 * from the root. */
int cs_cursor_put(cs_cursor *c, cs_slice key, cs_slice val);
/* Deletes the entry under the cursor; the cursor then sits on the next one
 * (call cs_cursor_current to read it). */
int cs_cursor_del(cs_cursor *c);
int cs_cursor_current(cs_cursor *c, cs_slice *k, cs_slice *v);

#endif
