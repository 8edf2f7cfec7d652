/*
 * The postings codec: how the documents and positions of one term are laid
 * out in a chunk, the value of one CS_T_POST entry. Pure bytes in, bytes
 * out: this module never sees LMDB.
 *
 * A term's postings are a run of chunks keyed `term \0 be32(first docid)`,
 * each holding at most CS_CHUNK_DOCS documents in increasing docid order.
 * Grammar of a chunk (integers are unsigned LEB128 varints unless said):
 *
 *   chunk     := header docs positions
 *   header    := ndocs        1..CS_CHUNK_DOCS
 *                span         last docid - first docid
 *                max_tf_cb    2 x max_tf + has_cb: max_tf is the largest tf
 *                             in the chunk (block-max scoring), has_cb 1
 *                             when a conversation bound follows
 *                min_len      shortest doc in the chunk, >= 1 (block-max
 *                             scoring)
 *                docs_bytes   size of the docs section
 *                [cbound]     when has_cb (format 9)
 *   cbound    := kinds        bit k set (k = 1..3) when avg[k] follows
 *                avg[k]...    >= 1, by increasing k
 *                c            (cbound.h: what a conversation scores at
 *                             most, which lets a search pass chunks
 *                             unscored)
 *   docs      := wd wl fields tfmap tf*
 *                wd, wl: one byte each, 0..32: the bits of a docid delta
 *                and of a length above min_len (format 10)
 *                fields: docs 1..ndocs-1's docid deltas (> 0; the first
 *                doc's docid is the key's), wd bits each, then every doc's
 *                len - min_len, wl bits each, where len = tokens in the
 *                doc (>= tf, >= 1); packed from the low bit of each byte
 *                on, in ceil(((ndocs - 1) wd + ndocs wl) / 8) bytes, the
 *                last byte's unused high bits 0 (format 10: read
 *                without a branch per document, ~3.5x faster than the
 *                varint pairs before it)
 *                tfmap has ceil(ndocs / 8) bytes, bit i (of byte i / 8,
 *                from the low bit) set when doc i's tf is above 1; then
 *                those tfs (>= 2, varints) in doc order; the other docs'
 *                tf is 1 (format 7: most postings of short turns and
 *                passages have tf 1: a byte less each, and no branch per
 *                doc on it when decoding)
 *   positions := for each doc, tf x pos_delta: the first position of a doc
 *                is absolute, the next ones are deltas > 0; the last doc's
 *                positions end the chunk (reading them checks it)
 *
 * Every decoder checks every bound and returns CS_ECORRUPT on bytes that do
 * not follow the grammar (the index file is untrusted input).
 */
#ifndef CS_POSTINGS_H
#define CS_POSTINGS_H

#include "cbound.h"

#include <stddef.h>
#include <stdint.h>

#define CS_CHUNK_DOCS 128
#define CS_DOCID_END UINT32_MAX
/* Bound on positions of one term in one doc that the codec accepts. */
#define CS_TF_MAX (1u << 22)

/* A decoded chunk's documents. Positions stay encoded until asked for. */
typedef struct cs_chunk {
  uint32_t n;
  uint32_t first, last;
  uint32_t max_tf, min_len;
  int has_cb;   /* cb holds the chunk's conversation bound */
  cs_cbound cb; /* (cbound.h) */
  uint32_t docid[CS_CHUNK_DOCS];
  uint32_t tf[CS_CHUNK_DOCS];
  uint32_t len[CS_CHUNK_DOCS];
  const uint8_t *pos_begin, *pos_end; /* the positions section (borrowed) */
  /* Lazy positions reader state: positions of docs [0, pos_doc) consumed. */
  const uint8_t *pos_next;
  uint32_t pos_doc;
} cs_chunk;

/* Read only the header: cheap skipping of whole chunks. The second also
 * gives the conversation bound: *has_cb 1 and *cb when the chunk has one. */
int cs_chunk_peek(const uint8_t *p, size_t len, uint32_t first, uint32_t *last, uint32_t *ndocs,
                  uint32_t *max_tf, uint32_t *min_len);
int cs_chunk_peek_cb(const uint8_t *p, size_t len, uint32_t first, uint32_t *last, uint32_t *max_tf,
                     uint32_t *min_len, int *has_cb, cs_cbound *cb);

/* Decodes the docs section of a chunk stored under docid `first`. The
 * chunk keeps pointers into p; it is valid as long as p is. */
int cs_chunk_decode(const uint8_t *p, size_t len, uint32_t first, cs_chunk *c);

/* Decodes the positions of doc i (i must not go backwards between calls on
 * the same chunk, except to restart at 0). Writes c->tf[i] positions to out
 * (cap >= tf, else CS_ELIMIT). */
int cs_chunk_positions(cs_chunk *c, uint32_t i, uint32_t *out, uint32_t cap);

/* An in-memory postings list for building chunks: parallel arrays, positions
 * of all docs concatenated. */
typedef struct cs_plist {
  uint32_t n, cap;
  uint32_t *docid, *tf, *len;
  uint32_t *pos;
  size_t npos, pos_cap;
} cs_plist;

void cs_plist_init(cs_plist *l);
void cs_plist_free(cs_plist *l);
void cs_plist_clear(cs_plist *l);
/* Appends one doc (docid greater than the last one). Returns 0 or CS_ENOMEM. */
int cs_plist_add(cs_plist *l, uint32_t docid, uint32_t len, const uint32_t *pos, uint32_t tf);
/* cs_plist_add of one occurrence, for a caller that knows docid is greater
 * than the last one (not checked: the list's last docid is not read). */
int cs_plist_add1(cs_plist *l, uint32_t docid, uint32_t len, uint32_t pos);
/* Appends every doc of a decoded chunk, positions included. */
int cs_plist_add_chunk(cs_plist *l, cs_chunk *c);
/* Removes doc `docid` if present; returns 1 when removed, 0 otherwise. */
int cs_plist_remove(cs_plist *l, uint32_t docid);

/* Encodes docs [from, from+count) of l as one chunk into a malloc'd buffer
 * (*out, *out_len, owned by the caller). count <= CS_CHUNK_DOCS. cb: the
 * chunk's conversation bound, or NULL for none. */
int cs_chunk_encode(const cs_plist *l, uint32_t from, uint32_t count, const cs_cbound *cb,
                    uint8_t **out, size_t *out_len);

#endif
