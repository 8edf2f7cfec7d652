/*
 * Passages in the writer: a conversation's transcript cut into passages
 * (passages.h), each indexed as a document of its own from the tokens of
 * the turns it covers, and removed again from the stored turns.
 */
#include "writer_int.h"
#include "corrupt.h"

#include "errors.h"
#include "varint.h"

#include <stdlib.h>
#include <string.h>

void cs__tt_free(cs__turn_texts *tt) {
  cs_buf_free(&tt->arena);
  free(tt->off);
  free(tt->len);
  free(tt->seq);
  free(tt->role);
  free(tt->start);
  free(tt->end);
  memset(tt, 0, sizeof *tt);
}
int cs__tt_push(cs__turn_texts *tt, int32_t seq, int role, int64_t start, int64_t end,
                const char *text, size_t len) {
  if (tt->n == tt->cap) {
    size_t cap = tt->cap ? tt->cap * 2 : 32;
    void *a[6] = {realloc(tt->off, cap * 4), NULL, NULL, NULL, NULL, NULL};
    if (a[0]) tt->off = a[0];
    a[1] = realloc(tt->len, cap * 4);
    if (a[1]) tt->len = a[1];
    a[2] = realloc(tt->seq, cap * 4);
    if (a[2]) tt->seq = a[2];
    a[3] = realloc(tt->role, cap);
    if (a[3]) tt->role = a[3];
    a[4] = realloc(tt->start, cap * 8);
    if (a[4]) tt->start = a[4];
    a[5] = realloc(tt->end, cap * 8);
    if (a[5]) tt->end = a[5];
    for (int i = 0; i < 6; i++)
      if (!a[i]) return CS_ENOMEM;
    tt->cap = cap;
  }
  if (tt->arena.len + len > UINT32_MAX) return CS_ELIMIT;
  tt->off[tt->n] = (uint32_t)tt->arena.len;
  tt->len[tt->n] = (uint32_t)len;
  tt->seq[tt->n] = seq;
  tt->role[tt->n] = (uint8_t)role;
  tt->start[tt->n] = start;
  tt->end[tt->n] = end;
  tt->n++;
  cs_buf_bytes(&tt->arena, text, len);
  return tt->arena.err;
}
const char *cs__tt_text(const cs__turn_texts *tt, size_t i) {
  return (const char *)tt->arena.p + tt->off[i];
}
/* A stored conversation's turns, for removing its passages. */
static int tt_add(cs_writer *w, void *ctx, const cs_turn *t) {
  (void)w;
  return cs__tt_push(ctx, t->seq, t->role, t->start_ms, t->end_ms, t->text.p, t->text.len);
}
/* A passage's text: its slices of turns joined by newlines. */
static int passage_text(const cs__turn_texts *tt, const cs_passage_span *sp, cs_buf *out) {
  cs_buf_reset(out);
  for (uint32_t i = sp->first; i <= sp->last && i < tt->n; i++) {
    uint32_t from = i == sp->first ? sp->first_off : 0;
    uint32_t to = i == sp->last ? sp->last_end : tt->len[i];
    if (from > to || to > tt->len[i]) return CS_ECORRUPT;
    if (i > sp->first) cs_buf_u8(out, '\n');
    cs_buf_bytes(out, cs__tt_text(tt, i) + from, to - from);
  }
  return out->err;
}
/* Time at byte `off` of turn i, interpolated; -1 when unknown. */
static int64_t time_at(const cs__turn_texts *tt, size_t i, uint32_t off) {
  int64_t s = tt->start[i], e = tt->end[i];
  if (s < 0) return -1;
  if (e < s || tt->len[i] == 0) return s;
  return s + (int64_t)((double)(e - s) * off / tt->len[i]);
}
int cs__passages_begin(cs__passage_builder *pb, const cs__turn_texts *tt) {
  cs_passage_turn *pt = malloc((tt->n ? tt->n : 1) * sizeof *pt);
  if (!pt) return CS_ENOMEM;
  for (size_t i = 0; i < tt->n; i++)
    pt[i] = (cs_passage_turn){cs__tt_text(tt, i), tt->len[i], tt->role[i]};
  int rc = cs_passages_build(pt, tt->n, &pb->sp, &pb->n);
  free(pt);
  return rc;
}
void cs__passages_end(cs__passage_builder *pb) {
  free(pb->sp);
  free(pb->ent);
  free(pb->pos);
  cs_pblock_b_free(&pb->blk);
  memset(pb, 0, sizeof *pb);
}
/* Indexes the passage being filled (number pb->next) as docid *d. */
static int passage_flush(cs_writer *w, cs__passage_builder *pb, const cs_conv *c,
                         const cs__turn_texts *tt, uint32_t *d) {
  const cs_passage_span *sp = &pb->sp[pb->next];
  uint32_t dl = 0;
  int rc = cs__wr_add_passage(w, *d, pb->ent, pb->pos, pb->ntok, &dl);
  if (!rc)
    rc = cs__wr_put_doc_entry(w, *d, CS_DOC_PASSAGE, c->id, c->patient_id, (int32_t)pb->next, dl);
  if (rc) return rc;
  cs_passage p = {*d,
                  tt->seq[sp->first],
                  tt->seq[sp->last],
                  sp->first_off,
                  sp->last_end,
                  time_at(tt, sp->first, sp->first_off),
                  time_at(tt, sp->last, sp->last_end)};
  (*d)++;
  cs_pblock_b_add(&pb->blk, &p);
  pb->next++;
  pb->ntok = 0;
  pb->next_pos = 0;
  return pb->next % CS_PBLOCK_PASSAGES ? 0 : cs__passages_finish(w, pb, c->id);
}
int cs__passages_finish(cs_writer *w, cs__passage_builder *pb, uint64_t conv) {
  if (pb->blk.n == 0) return 0;
  uint8_t key[12];
  cs_pblock_key(key, conv, (uint32_t)(pb->next - 1));
  int rc = cs_pblock_b_encode(&pb->blk, &w->buf);
  return rc ? rc : cs__wr_put_buf(w, CS_T_PASSAGE, key, 12, &w->buf);
}
/* Routes turn i's tokens to the passages covering them (by byte range; the
 * same terms as analyzing the passage's own text, since passages are cut
 * at white space), indexing each passage when its last turn is done. */
int cs__passages_feed(cs_writer *w, cs__passage_builder *pb, const cs_conv *c,
                      const cs__turn_texts *tt, uint32_t i, const cs_token *toks, size_t n,
                      uint32_t *d) {
  uint32_t base = UINT32_MAX, last = 0;
  for (size_t k = 0; k < n; k++) {
    while (pb->next < pb->n &&
           (pb->sp[pb->next].last < i ||
            (pb->sp[pb->next].last == i && toks[k].start >= pb->sp[pb->next].last_end))) {
      int rc = passage_flush(w, pb, c, tt, d);
      if (rc) return rc;
      base = UINT32_MAX;
    }
    if (pb->next >= pb->n) break;
    const cs_passage_span *sp = &pb->sp[pb->next];
    if (sp->first > i || (sp->first == i && toks[k].start < sp->first_off)) continue;
    if (toks[k].flags & CS_TOK_STOP) continue;
    if (base == UINT32_MAX) base = toks[k].pos;
    if (pb->ntok == pb->cap) {
      size_t cap = pb->cap ? pb->cap * 2 : 256;
      cs__pentry **e = realloc(pb->ent, cap * sizeof *e);
      if (e) pb->ent = e;
      uint32_t *p = realloc(pb->pos, cap * sizeof *p);
      if (p) pb->pos = p;
      if (!e || !p) return CS_ENOMEM;
      pb->cap = cap;
    }
    cs__pentry *fe = cs__wr_field_entry(w, w->ents[k]);
    if (!fe) return CS_ENOMEM;
    last = pb->next_pos + (toks[k].pos - base);
    pb->ent[pb->ntok] = fe;
    pb->pos[pb->ntok++] = last;
  }
  if (base != UINT32_MAX) pb->next_pos = last + 2; /* a gap between turns */
  /* Passages that end with this turn are complete. */
  while (pb->next < pb->n && pb->sp[pb->next].last <= i) {
    int rc = passage_flush(w, pb, c, tt, d);
    if (rc) return rc;
  }
  return 0;
}
static int seq_index(const cs__turn_texts *tt, int32_t seq, uint32_t *out) {
  size_t lo = 0, hi = tt->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (tt->seq[mid] < seq)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo >= tt->n || tt->seq[lo] != seq) return CS_ECORRUPT;
  *out = (uint32_t)lo;
  return 0;
}
/* Removes a conversation's passages (before its turns go). */
int cs__passages_each(cs_writer *w, uint64_t conv, const char *lang, cs__doc_fn fn, void *ctx) {
  cs__turn_texts tt;
  memset(&tt, 0, sizeof tt);
  cs_buf text;
  cs_buf_init(&text);
  int rc = cs__wr_turns_each(w, conv, tt_add, &tt);
  uint8_t key[12];
  cs_key_u64(key, conv);
  memset(key + 8, 0, 4);
  cs_buf blk;
  cs_buf_init(&blk);
  while (!rc) {
    /* fn writes: the block is copied and the cursor closed first. */
    rc = cs__wr_conv_block(w, CS_T_PASSAGE, key, &blk);
    if (rc <= 0) break;
    rc = 0;
    cs_pblock_it it;
    cs_passage p;
    /* Only the block's decoding is its damage (drc): a passage naming
     * turns that are not stored is a mismatch between two blocks that
     * decode (CS_ECORRUPT, not blamed on this block). */
    int drc = cs_pblock_begin(&it, blk.p, blk.len);
    while (!rc && !drc && !(drc = cs_pblock_next(&it, &p))) {
      cs_passage_span sp = {0, 0, p.first_off, p.last_end};
      rc = seq_index(&tt, p.first_seq, &sp.first);
      if (!rc) rc = seq_index(&tt, p.last_seq, &sp.last);
      if (!rc) rc = passage_text(&tt, &sp, &text);
      if (!rc) rc = fn(w, ctx, p.docid, CS_DOC_PASSAGE, lang, (const char *)text.p, text.len);
    }
    if (drc == CS_ENOTFOUND) drc = 0;
    if (!rc) rc = cs_corrupt_rc(drc, CS_T_PASSAGE, sl(key, 12));
    /* The next block: the key after this one. */
    uint32_t n = cs_be32_get(key + 8);
    if (n == UINT32_MAX) break;
    cs_be32_put(key + 8, n + 1);
  }
  cs_buf_free(&blk);
  cs_buf_free(&text);
  cs__tt_free(&tt);
  return rc;
}
