/*
 * Where a long conversation's turns are stored, in RAM (internal to the
 * query engine). A snippet names its turn by docid, and the turn blocks
 * (turnblock.h) are keyed by (conversation, seq): for a conversation too
 * long for its seqs to be guessed from the docid (snippets.c), finding the
 * block took the turn's CS_T_DOCS record (a B-tree lookup and a decode)
 * and then a seek and a step back in CS_T_TURN. The map holds, per such
 * conversation, where each of its blocks begins (cs_tbmark: the key's seq
 * and the first turn's docid), so the block is found by a binary search
 * and one exact lookup.
 *
 * A conversation's blocks are written once for its docid range: an update
 * writes the conversation again at fresh docids (convs.h). So the marks of
 * (conversation, first docid) read from a snapshot that holds it are
 * right for the other snapshots that hold it, and the map is kept for the
 * whole generation, shared by its views under a lock. What makes a wrong
 * mark harmless is not that, though: cs_reader_turn_at reads the block
 * from the view's own snapshot and returns the turn only when its docid is
 * the one asked for (in one snapshot a docid is one document's), so a
 * stale mark (say, docids handed out again after a damaged statistics
 * record was healed: writer_heal.c) costs a fallback, never a wrong turn.
 * The map holds at most its cap in bytes, slots included. A full map
 * keeps what it holds and refuses the next conversations (CS_ENOTFOUND:
 * their turns are found as before) until it has refused many times more
 * than it holds; then it is emptied and filled again (turnmap.c). A
 * conversation whose marks would take more than a quarter of it is kept
 * without them (its turns found as before, its marks not read again).
 */
#ifndef CS_QUERY_TURNMAP_H
#define CS_QUERY_TURNMAP_H

#include "reader.h"

#include <stddef.h>
#include <stdint.h>

#define CS__TURNMAP_BYTES (8u << 20) /* the engine's */

typedef struct cs__turnmap cs__turnmap;

/* A map of at most `cap` bytes. */
int cs__turnmap_new(cs__turnmap **out, size_t cap);
void cs__turnmap_free(cs__turnmap *m); /* NULL: no-op */

/* The seq of the key of the block of conversation conv (whose docids
 * begin at first) that holds turn docid d, in *block_seq: read from r's
 * snapshot (which must hold that conversation) the first time. 0, or
 * CS_ENOTFOUND (no block begins at or before d, or a full map refused the
 * conversation, or it is kept without its marks), CS_ECORRUPT (a block's
 * header is damaged: the caller finds the turn another way), or another
 * CS_E* code of the reader (cs_reader_turn_marks). */
int cs__turnmap_find(cs__turnmap *m, cs_reader *r, uint64_t conv, uint32_t first, uint32_t d,
                     int32_t *block_seq);

/* Conversations held; the bytes they take and how many times the map was
 * emptied (tests; NULL: not wanted). */
size_t cs__turnmap_convs(cs__turnmap *m, size_t *bytes, size_t *emptied);

#endif
