/*
 * Conversations in the writer: a put replaces the conversation and all its
 * turns (title, description, turns and passages indexed, turn text stored
 * compressed); a delete removes every document of it by analyzing its
 * stored texts again.
 */
#include "writer_int.h"
#include "corrupt.h"
#include "tmarks.h"
#include "turnblock.h"

#include "errors.h"
#include "varint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int get_conv(cs_writer *w, uint64_t id, cs_conv *c, cs_buf *copy) {
  int rc = cs__wr_get_copy(w, CS_T_CONV, id, copy);
  uint8_t key[8];
  cs_key_u64(key, id);
  return rc ? rc : cs_corrupt_rc(cs_conv_decode(copy->p, copy->len, c), CS_T_CONV, sl(key, 8));
}

static int delete_conversation(cs_writer *w, uint64_t id, uint64_t owner_hint, const char *what);

int cs_writer_delete_conversation(cs_writer *w, uint64_t id) {
  int rc = delete_conversation(w, id, 0, CS__HEAL_REMOVED);
  if (rc == 0) rc = cs__wr_outbox(w, CS_OUT_DELETE, CS_OUT_CONVERSATION, id);
  return rc;
}

/* The title and description documents of c (its first documents). */
static int fields_each(cs_writer *w, const cs_conv *c, const char *lang, cs__doc_fn fn, void *ctx) {
  int rc = 0;
  if (c->ndocs <= c->nturns) return 0;
  for (uint32_t d = c->first_docid; d < c->first_docid + c->ndocs && !rc; d++) {
    uint8_t dk[4];
    cs_be32_put(dk, d);
    cs_slice v;
    cs_doc doc;
    if (cs_get(w->txn, CS_T_DOCS, sl(dk, 4), &v) ||
        cs_corrupt_rc(cs_doc_decode(v.data, v.len, &doc), CS_T_DOCS, sl(dk, 4)))
      continue; /* damaged: reported; its postings stay until a reindex */
    if (doc.kind == CS_DOC_TITLE)
      rc = fn(w, ctx, d, CS_DOC_TITLE, lang, c->title.p, c->title.len);
    else if (doc.kind == CS_DOC_DESCRIPTION)
      rc = fn(w, ctx, d, CS_DOC_DESCRIPTION, lang, c->description.p, c->description.len);
  }
  return rc;
}

uint32_t cs_conv_in_nturns(const cs_conv_in *c, int *bad_seq) {
  size_t n = c->nturns < CS_TURNS_MAX ? c->nturns : CS_TURNS_MAX;
  uint32_t kept = n ? 1 : 0;
  *bad_seq = 0;
  for (size_t i = 1, top = 0; i < n; i++) {
    if (c->turns[i].seq <= c->turns[top].seq) {
      *bad_seq = 1;
    } else {
      top = i;
      kept++;
    }
  }
  return kept;
}

int cs__wr_conv_block(cs_writer *w, cs_table t, uint8_t key[12], cs_buf *blk) {
  cs_cursor *cur;
  int rc = cs_cursor_open(w->txn, t, &cur);
  if (rc) return rc;
  cs_slice k, v;
  rc = cs_cursor_seek(cur, sl(key, 12), &k, &v);
  int mine = rc == 0 && k.len == 12 && memcmp(k.data, key, 8) == 0;
  if (mine) {
    memcpy(key, k.data, 12);
    cs_buf_reset(blk);
    cs_buf_bytes(blk, v.data, v.len);
    rc = blk->err;
  }
  cs_cursor_close(cur);
  if (rc) return rc == CS_ENOTFOUND ? 0 : rc;
  return mine;
}

int cs__wr_turns_each(cs_writer *w, uint64_t conv, cs__turn_fn fn, void *ctx) {
  uint8_t key[12];
  cs_key_turn(key, conv, INT32_MIN);
  cs_buf blk, text;
  cs_buf_init(&blk);
  cs_buf_init(&text);
  int rc = 0;
  for (;;) {
    /* fn may write: each block is copied and the cursor closed first. */
    rc = cs__wr_conv_block(w, CS_T_TURN, key, &blk);
    if (rc <= 0) break;
    rc = 0;
    cs_tblock_it it;
    cs_turn t;
    /* Only the block's decoding is its damage (drc); fn's code is fn's. */
    int drc = cs_tblock_begin(&it, sl(key, 12), sl(blk.p, blk.len));
    if (!drc) drc = cs_tblock_texts(&it, &text);
    while (!drc && !rc && !(drc = cs_tblock_next(&it, &t)))
      rc = fn(w, ctx, &t);
    if (drc == CS_ENOTFOUND) drc = 0;
    if (!rc) rc = cs_corrupt_rc(drc, CS_T_TURN, sl(key, 12));
    uint32_t s = cs_be32_get(key + 8);
    if (rc || s == UINT32_MAX) break;
    cs_be32_put(key + 8, s + 1); /* the next block's key is past this one */
  }
  cs_buf_free(&blk);
  cs_buf_free(&text);
  return rc;
}

typedef struct doc_turn_ctx {
  const char *lang;
  cs__doc_fn fn;
  void *ctx;
} doc_turn_ctx;

static int doc_turn(cs_writer *w, void *ctx, const cs_turn *t) {
  doc_turn_ctx *d = ctx;
  return d->fn(w, d->ctx, t->docid, CS_DOC_TURN, d->lang, t->text.p, t->text.len);
}

static void lang_of(const cs_conv *c, char lang[16]) {
  snprintf(lang, 16, "%.*s", (int)(c->language.len < 15 ? c->language.len : 15), c->language.p);
}

int cs__wr_conv_docs(cs_writer *w, const cs_conv *c, cs__doc_fn fn, void *ctx) {
  char lang[16];
  lang_of(c, lang);
  int rc = fields_each(w, c, lang, fn, ctx);
  if (!rc) rc = cs__passages_each(w, c->id, lang, fn, ctx);
  doc_turn_ctx dt = {lang, fn, ctx};
  if (!rc) rc = cs__wr_turns_each(w, c->id, doc_turn, &dt);
  return rc;
}

static int remove_each(cs_writer *w, void *ctx, uint32_t docid, int kind, const char *lang,
                       const char *text, size_t len) {
  (void)ctx;
  return cs__wr_remove_doc(w, docid, lang, text, len, kind);
}

static int delete_conversation(cs_writer *w, uint64_t id, uint64_t owner_hint, const char *what) {
  cs_buf copy;
  cs_buf_init(&copy);
  cs_conv c;
  int rc = get_conv(w, id, &c, &copy);
  uint64_t owner = 0;
  if (!rc) owner_hint = c.owner_id;
  /* A damaged person record is not this conversation's damage: its owner
   * comes from CS_T_OWNER, as when the conversation is written. */
  if (!rc) rc = cs__wr_heal_owner(w, c.patient_id, c.owner_id, &owner);
  if (!rc) rc = cs__wr_set_owner(w, owner);
  /* Every document out of the postings and statistics, then the records. */
  if (!rc) rc = cs__wr_conv_docs(w, &c, remove_each, NULL);
  if (!rc) rc = cs__wr_delete_prefix(w, CS_T_PASSAGE, id, NULL);
  if (!rc) rc = cs__wr_delete_prefix(w, CS_T_TURN, id, NULL);
  if (rc) goto out;
  uint8_t key[16];
  cs_key_u64u64(key, c.patient_id, id);
  rc = cs_del(w->txn, CS_T_PCONV, sl(key, 16));
  if (rc && rc != CS_ENOTFOUND) goto out;
  cs_key_u64(key, id);
  rc = cs_del(w->txn, CS_T_CONV, sl(key, 8));
out:
  /* A record on the way is damaged (reported): what is left of the
   * conversation goes without decoding it (what was removed stays so). */
  if (rc == CS_ECORRUPT) rc = cs__wr_heal_conv(w, id, owner_hint, what);
  cs_buf_free(&copy);
  return rc;
}

/* Writes the block of turns tb holds (turnblock.h). */
static int put_turns(cs_writer *w, cs_tblock_b *tb) {
  uint8_t key[12];
  int rc = cs_tblock_b_encode(tb, w->zt, key, &w->buf);
  if (!rc && w->buf.len) rc = cs__wr_put_buf(w, CS_T_TURN, key, 12, &w->buf);
  return rc;
}

/* At most the docids a put of c takes: its title, its description, its
 * turns, and its passages (each holds a word, a word and the space after
 * it take two bytes, and a passage does not cross an empty turn). Loose:
 * it only matters at the end of the docid space. */
static uint64_t docids_needed(const cs_conv_in *c) {
  size_t n = c->nturns < CS_TURNS_MAX ? c->nturns : CS_TURNS_MAX;
  uint64_t need = 2 + (uint64_t)n;
  for (size_t i = 0; i < n; i++)
    need += (c->turns[i].text_len + 1) / 2 + 1;
  return need;
}

int cs_writer_put_conversation(cs_writer *w, const cs_conv_in *in, unsigned *flags_out) {
  unsigned flags = 0;
  int rc = 0;
  if (flags_out) *flags_out = 0;
  if (cs__wr_erased(w, in->patient_id)) {
    if (flags_out) *flags_out = CS_PUT_ERASED;
    rc = cs_writer_delete_conversation(w, in->id);
    return rc == CS_ENOTFOUND ? 0 : rc;
  }
  uint64_t sum = cs_conv_in_checksum(in);
  /* Reported even when unchanged: the bad row stays noted (indexer). */
  int bad_seq = 0;
  (void)cs_conv_in_nturns(in, &bad_seq);
  if (bad_seq) flags |= CS_PUT_BAD_SEQ;
  cs__turn_texts tt;
  memset(&tt, 0, sizeof tt);
  cs__passage_builder pb;
  memset(&pb, 0, sizeof pb);
  cs_tblock_b tb;
  cs_tblock_b_init(&tb, in->id);
  size_t *kept = NULL;
  cs_buf copy, f[7], marks;
  cs_buf_init(&copy);
  cs_buf_init(&marks);
  for (int i = 0; i < 7; i++)
    cs_buf_init(&f[i]);
  cs_conv old;
  rc = get_conv(w, in->id, &old, &copy);
  if (rc == 0 && old.checksum == sum) {
    flags |= CS_PUT_UNCHANGED;
    goto out;
  }
  /* Docids are 32-bit and never handed out twice (readers rely on it):
   * past the end of their space a conversation is refused before anything
   * is written (`reindex` numbers the documents again from 1). */
  if (docids_needed(in) > (uint64_t)CS_DOCID_END - w->stats.next_docid) {
    rc = CS_ELIMIT;
    goto out;
  }
  /* From here until it ends, a flush may find a part of its documents
   * (writer_flush.c, chunk_cbound). */
  w->cb.open = 1;
  w->cb.open_key = (uint32_t)(in->id ^ (in->id >> 32));
  /* Replaced, not deleted: the mirror gets one put (below), not a delete.
   * A damaged record is no reason to stop: the source row rebuilds it. */
  if (rc == 0 || rc == CS_ECORRUPT)
    rc = delete_conversation(w, in->id, in->owner_id, CS__HEAL_REBUILT);
  if (rc == CS_ENOTFOUND) rc = 0;
  if (rc) goto out;

  size_t nturns = in->nturns;
  if (nturns > CS_TURNS_MAX) {
    nturns = CS_TURNS_MAX;
    flags |= CS_PUT_CUT;
  }
  cs_conv c;
  memset(&c, 0, sizeof c);
  c.id = in->id;
  c.patient_id = in->patient_id;
  c.owner_id = in->owner_id;
  const char *title = cs__wr_clean(&f[0], in->title, cs__slen(in->title), CS_FIELD_MAX, &flags);
  const char *desc =
      cs__wr_clean(&f[1], in->description, cs__slen(in->description), CS_FIELD_MAX, &flags);
  const char *lang = cs__wr_clean(&f[2], in->language, cs__slen(in->language), 15, &flags);
  if (!*lang) lang = "es";
  c.title = (cs_str){title, strlen(title)};
  c.description = (cs_str){desc, strlen(desc)};
  c.language = (cs_str){lang, strlen(lang)};
  const char *uri =
      cs__wr_clean(&f[3], in->audio_uri, cs__slen(in->audio_uri), CS_FIELD_MAX, &flags);
  const char *status = cs__wr_clean(&f[4], in->status, cs__slen(in->status), CS_FIELD_MAX, &flags);
  c.audio_uri = (cs_str){uri, strlen(uri)};
  c.status = (cs_str){status, strlen(status)};
  c.duration_ms = in->duration_ms;
  c.created_at_ms = in->created_at_ms;
  c.updated_at_ms = in->updated_at_ms;
  c.nturns = (uint32_t)nturns;
  c.checksum = sum;
  uint64_t owner = 0;
  rc = cs__wr_heal_owner(w, c.patient_id, c.owner_id, &owner);
  if (!rc) rc = cs__wr_set_owner(w, owner);
  if (rc) goto out;
  c.first_docid = w->stats.next_docid;
  uint32_t d = c.first_docid;
  if (c.title.len) {
    rc = cs__wr_index_text(w, d++, lang, title, c.title.len, CS_DOC_TITLE, c.id, c.patient_id, -1,
                           NULL, NULL);
    if (rc) goto out;
  }
  if (c.description.len) {
    rc = cs__wr_index_text(w, d++, lang, desc, c.description.len, CS_DOC_DESCRIPTION, c.id,
                           c.patient_id, -1, NULL, NULL);
    if (rc) goto out;
  }
  /* Clean every turn first: passages are cut from the whole transcript.
   * A turn whose seq is not past the one before (a duplicate, or NULL read
   * as 0) cannot be stored in seq order: it is left out before anything of
   * it is indexed (bad input, CS_PUT_BAD_SEQ above). kept[j]: the input turn of
   * the j-th kept turn. */
  kept = malloc((nturns ? nturns : 1) * sizeof *kept);
  if (!kept) {
    rc = CS_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < nturns; i++) {
    const cs_turn_in *ti = &in->turns[i];
    if (tt.n && ti->seq <= tt.seq[tt.n - 1]) continue;
    kept[tt.n] = i;
    cs__wr_clean(&f[5], ti->text, ti->text ? ti->text_len : 0, CS_TEXT_MAX, &flags);
    if (f[5].err) {
      rc = f[5].err;
      goto out;
    }
    rc = cs__tt_push(&tt, ti->seq, cs_role_parse(ti->role), ti->start_ms, ti->end_ms,
                     (const char *)f[5].p, f[5].len);
    if (rc) goto out;
  }
  c.nturns = (uint32_t)tt.n;
  rc = cs__passages_begin(&pb, &tt);
  if (rc) goto out;
  /* Then analyze each turn once: its tokens make the turn's document and
   * go, by byte range, to the passages it belongs to; a passage is indexed
   * as soon as its last turn is done, so every docid stays increasing. */
  for (size_t i = 0; i < tt.n; i++) {
    const cs_turn_in *ti = &in->turns[kept[i]];
    const char *text = cs__tt_text(&tt, i);
    size_t tlen = tt.len[i];
    const cs_token *toks;
    size_t ntoks;
    rc = cs__wr_index_text(w, d, lang, text, tlen, CS_DOC_TURN, c.id, c.patient_id, ti->seq, &toks,
                           &ntoks);
    if (rc) goto out;
    cs_turn t;
    memset(&t, 0, sizeof t);
    t.docid = d++;
    t.seq = ti->seq;
    t.role = tt.role[i];
    const char *speaker =
        cs__wr_clean(&f[6], ti->speaker, cs__slen(ti->speaker), CS_FIELD_MAX, &flags);
    t.speaker = (cs_str){speaker, strlen(speaker)};
    t.text = (cs_str){text, tlen};
    t.start_ms = ti->start_ms;
    t.end_ms = ti->end_ms;
    cs_tmarks_build(text, tlen, toks, ntoks, &marks);
    if (marks.err) {
      rc = CS_ENOMEM;
      goto out;
    }
    t.marks = (cs_str){(const char *)marks.p, marks.len};
    if (!cs_tblock_b_fits(&tb, &t)) rc = put_turns(w, &tb);
    if (!rc) cs_tblock_b_add(&tb, &t);
    if (!rc) rc = cs__passages_feed(w, &pb, &c, &tt, (uint32_t)i, toks, ntoks, &d);
    if (rc) goto out;
  }
  rc = put_turns(w, &tb);
  if (!rc) rc = cs__passages_finish(w, &pb, c.id);
  if (rc) goto out;
  c.ndocs = d - c.first_docid;
  w->stats.next_docid = d;
  cs_buf_reset(&w->buf);
  cs_conv_encode(&w->buf, &c);
  uint8_t key[16];
  cs_key_u64(key, c.id);
  rc = cs__wr_put_buf(w, CS_T_CONV, key, 8, &w->buf);
  if (rc) goto out;
  cs_key_u64u64(key, c.patient_id, c.id);
  rc = cs_put(w->txn, CS_T_PCONV, sl(key, 16), sl("", 0));
  if (!rc) rc = cs__wr_outbox(w, CS_OUT_PUT, CS_OUT_CONVERSATION, c.id);
  if (!rc) rc = cs__wr_zdict(w); /* enough text sampled: the dictionary */
out:
  w->cb.open = 0;
  free(kept);
  cs_tblock_b_free(&tb);
  cs_buf_free(&marks);
  cs__passages_end(&pb);
  cs__tt_free(&tt);
  cs_buf_free(&copy);
  for (int i = 0; i < 7; i++)
    cs_buf_free(&f[i]);
  if (flags_out) *flags_out = flags;
  return rc;
}
