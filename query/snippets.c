/*
 * Hits as JSON text: the plain fields of a hit, and for the page's hits only
 * the highlighted snippets of their best turns, titles and descriptions.
 * Written as text without a tree (a page was a few hundred jansson objects
 * built and freed, ~11 % of a cheap query's CPU: bench/analysis.md); the
 * snippets and highlighted fields are written ahead into the page's pool
 * in docid order, then copied into each hit in its order.
 */
#include "search_int.h"

#include "errors.h"
#include "isotime.h"
#include "turnmap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct snip_ref {
  uint32_t docid;
  uint32_t hit;  /* index in the page */
  uint32_t rank; /* 0..2 within the hit; REF_TITLE, REF_DESC */
} snip_ref;

#define REF_TITLE SNIPPETS

#define REF_DESC (SNIPPETS + 1)

static int snip_cmp(const void *a, const void *b) {
  const snip_ref *x = a, *y = b;
  return x->docid < y->docid ? -1 : x->docid > y->docid;
}

static void put_ms(cs_jtext *o, int64_t ms) {
  if (ms < 0)
    cs_jtext_raw(o, "null", 4);
  else
    cs_jtext_int(o, ms);
}

static void put_str(cs_jtext *o, cs_str s) {
  cs_jtext_string(o, s.p ? s.p : "", s.p ? s.len : 0);
}

/* Writes a string into the page's pool as span *sp. */
static int pool_string(cs__page_text *pt, const void *p, size_t n, cs__jspan *sp) {
  size_t off = pt->pool.n;
  cs_jtext_string(&pt->pool, p, n);
  if (pt->pool.err) return CS_ENOMEM;
  *sp = (cs__jspan){off, pt->pool.n - off};
  return 0;
}

/* Conversations of at most this many turns (the portal's interviews,
 * ~37) have their snippets' turns found from a guess of their seq: in
 * longer ones (a ParlaMint sitting, ~540 paragraphs) passages are spread
 * unevenly enough between the turns that the guess is often more than
 * CS_TURN_NEAR_STEPS blocks off (measured: 20% missed, 5.5 blocks walked on
 * average, slower than the CS_T_DOCS lookup it saves); theirs are found
 * through the turn map (turnmap.h). The map for every conversation was
 * measured on the 10k interviews: no faster than the guess. */
#define NEAR_TURNS_MAX 128

/* Where turn docid d of conversation c should be: its seq if c's seqs
 * run from 0 without gaps and its passages' docids are spread evenly
 * between its turns' (cs_reader_turn_near looks around it); -1: not worth
 * guessing. */
static int32_t seq_guess(const cs_conv *c, uint32_t d) {
  uint32_t t0 = c->first_docid + (c->title.len > 0) + (c->description.len > 0);
  uint32_t end = c->first_docid + c->ndocs;
  if (c->nturns > NEAR_TURNS_MAX || d < t0 || end <= t0) return -1;
  return (int32_t)((uint64_t)(d - t0) * c->nturns / (end - t0));
}

/* A snippet object for turn docid d of the page's hit whose conversation
 * is pc, written into the pool as *out (left empty when there is none). */
static int snippet_text(xsearch *s, uint32_t d, const cs__page_conv *pc, cs_buf *b,
                        cs__page_text *pt, cs__jspan *out) {
  size_t n;
  int rc = cs__doc_spans(s->x, d, CS_DOC_TURN, &n);
  if (rc) return rc;
  /* Found from its docid near where it should be, or in a long
   * conversation from where its blocks begin (turnmap.h): no CS_T_DOCS
   * lookup. Else through its document's seq. */
  cs_turn t;
  uint64_t patient = pc->c.patient_id;
  int32_t guess = pc->rc ? -1 : seq_guess(&pc->c, d);
  int32_t bseq;
  if (guess >= 0)
    rc = cs_reader_turn_near(s->r, pc->c.id, guess, d, &t);
  else if (!pc->rc && s->turns &&
           !cs__turnmap_find(s->turns, s->r, pc->c.id, pc->c.first_docid, d, &bseq))
    rc = cs_reader_turn_at(s->r, pc->c.id, bseq, d, &t);
  else
    rc = CS_ENOTFOUND;
  if (rc == CS_ENOTFOUND) {
    cs_doc doc;
    rc = cs_reader_doc(s->r, d, &doc);
    if (rc == CS_ENOTFOUND || rc == CS_ECORRUPT) return 0; /* damaged: reported, no snippet */
    if (rc) return rc;
    /* The conversation's language: the turn is analyzed again for byte
     * offsets. */
    rc = pc->rc;
    if (!rc) rc = cs_reader_turn(s->r, pc->c.id, doc.seq, &t);
    patient = doc.patient_id;
  }
  if (rc == CS_ENOTFOUND || rc == CS_ECORRUPT) return 0;
  if (rc) return rc;
  cs_buf_reset(b);
  const cs__redact *rd = cs__redact_for(s, patient);
  if (!s->a || cs__highlight_turn(s->a, pc->c.language, t.text, t.marks, s->x->sp, n,
                                  CS__SNIPPET_BYTES, rd, b))
    return CS_ENOMEM;
  cs_jtext *o = &pt->pool;
  size_t off = o->n;
  const char *role = cs_role_name(t.role);
  cs_jtext_c(o, '{');
  cs_jtext_key(o, "seq", 1);
  cs_jtext_int(o, t.seq);
  cs_jtext_key(o, "speaker", 0);
  put_str(o, cs__redact_speaker_str(rd, t.speaker, t.role));
  cs_jtext_key(o, "role", 0);
  cs_jtext_string(o, role, strlen(role));
  cs_jtext_key(o, "start_ms", 0);
  put_ms(o, t.start_ms);
  cs_jtext_key(o, "end_ms", 0);
  put_ms(o, t.end_ms);
  cs_jtext_key(o, "text", 0);
  cs_jtext_string(o, b->len ? (const char *)b->p : "", b->len);
  cs_jtext_c(o, '}');
  if (o->err == CS_JTEXT_BAD_UTF8) {
    /* The writer stores UTF-8: a text that is not is damage, reported
     * (once) and left out, as a turn block that does not decode. */
    cs_jtext_rewind(o, off);
    cs_reader_turn_damaged(s->r, pc->c.id, t.seq);
    return 0;
  }
  if (o->err) return CS_ENOMEM;
  *out = (cs__jspan){off, o->n - off};
  return 0;
}

/* Every hit has "title_highlight", the title HTML-escaped (with <em> once
 * field_text finds a match in it), and "description_highlight", null until
 * field_text finds a match in the description: pt's spans of hit i. */
int cs__plain_fields(xsearch *s, const cs__page_conv *pc, cs_buf *b, cs__page_text *pt,
                     uint32_t i) {
  const cs_conv *c = &pc->c;
  cs_str title = {"", 0};
  const cs__redact *rd = NULL;
  if (pc->rc == 0) {
    title = c->title;
    rd = cs__redact_for(s, c->patient_id);
  }
  cs_buf_reset(b);
  if (rd && rd->on) { /* analysts: the person's name words become the pseudonym */
    if (!s->a || cs__highlight_field(s->a, c->language, title, NULL, 0, 0, rd, b)) return CS_ENOMEM;
  } else {
    cs__html_escape(b, title.p, title.len);
  }
  if (b->err) return CS_ENOMEM;
  pt->desc[i] = (cs__jspan){0, 0};
  return pool_string(pt, b->p, b->len, &pt->title[i]);
}

/* The highlighted title (kind CS_DOC_TITLE) or description of the
 * conversation of hit i, whose document is d: replaces "title_highlight"
 * (the escaped title without <em>) or sets "description_highlight" (a
 * window around the matches, like a snippet) when the query matches in
 * it. */
static int field_text(xsearch *s, uint32_t d, int kind, const cs__page_conv *pc, cs_buf *b,
                      cs__page_text *pt, uint32_t i) {
  size_t n;
  int rc = cs__doc_spans(s->x, d, kind, &n);
  if (rc || !n || !s->a) return rc;
  rc = pc->rc;
  if (rc) return rc == CS_ENOTFOUND || rc == CS_ECORRUPT ? 0 : rc;
  const cs_conv *c = &pc->c;
  cs_buf_reset(b);
  int title = kind == CS_DOC_TITLE;
  if (cs__highlight_field(s->a, c->language, title ? c->title : c->description, s->x->sp, n,
                          title ? 0 : CS__SNIPPET_BYTES, cs__redact_for(s, c->patient_id), b))
    return CS_ENOMEM;
  return pool_string(pt, b->p, b->len, title ? &pt->title[i] : &pt->desc[i]);
}

/* Builds the snippets of the page's hits (hits[i] best first) and their
 * highlighted titles and descriptions into pt. */
int cs__build_snippets(xsearch *s, xhit **hits, const cs__page_conv *pcs, uint32_t nh,
                       cs__page_text *pt) {
  cs__exec *x = s->x;
  if (!x || !nh) return 0;
  /* Cursors only move forward: turns, titles and descriptions are visited
   * in docid order. */
  snip_ref *refs = malloc((size_t)nh * (SNIPPETS + 2) * sizeof *refs);
  cs_buf b;
  cs_buf_init(&b);
  int rc = refs ? 0 : CS_ENOMEM;
  size_t nr = 0;
  for (uint32_t i = 0; i < nh && !rc; i++) {
    const xrange *R = &hits[i]->R;
    uint32_t docs[SNIPPETS + 2], ranks[SNIPPETS + 2], m = 0;
    for (uint32_t k = 0; k < hits[i]->nsnip; k++) {
      docs[m] = hits[i]->snip[k];
      ranks[m++] = k;
    }
    if (R->title != END) docs[m] = R->title, ranks[m++] = REF_TITLE;
    if (R->desc != END) docs[m] = R->desc, ranks[m++] = REF_DESC;
    for (uint32_t k = 0; k < m; k++)
      refs[nr++] = (snip_ref){docs[k], i, ranks[k]};
  }
  if (!rc) qsort(refs, nr, sizeof *refs, snip_cmp);
  /* Reopen only the terms these hits matched, at the first document
   * visited. */
  for (uint32_t v = 0; v < x->nvars && !rc; v++) {
    int used = 0;
    for (uint32_t i = 0; i < nh && !used; i++)
      used = (hit_mask(hits[i])[v >> 6] >> (v & 63)) & 1;
    cs_pcur_close(x->vars[v].cur);
    x->vars[v].cur = NULL;
    x->vars[v].doc = END;
    if (used && nr) rc = cs__open_cursor(x, &x->vars[v], refs[0].docid);
  }
  for (size_t k = 0; k < nr && !rc; k++) {
    const snip_ref *sr = &refs[k];
    if (sr->rank == REF_TITLE || sr->rank == REF_DESC)
      rc = field_text(s, sr->docid, sr->rank == REF_TITLE ? CS_DOC_TITLE : CS_DOC_DESCRIPTION,
                      &pcs[sr->hit], &b, pt, sr->hit);
    else
      rc = snippet_text(s, sr->docid, &pcs[sr->hit], &b, pt,
                        &pt->snip[(size_t)sr->hit * SNIPPETS + sr->rank]);
  }
  free(refs);
  cs_buf_free(&b);
  return rc;
}

int cs__hit_text(xsearch *s, const xhit *h, const cs__page_conv *pc, const cs__page_text *pt,
                 uint32_t i, int precision, cs_buf *b, cs_jtext *o) {
  cs_str title = pc->rc == 0 ? pc->c.title : (cs_str){"", 0};
  const cs__redact *rd = cs__redact_for(s, h->R.patient);
  int rc = cs__redact_str(rd, title, b, &title);
  if (rc) return rc;
  cs_jtext_c(o, '{');
  cs_jtext_key(o, "conversation_id", 1);
  cs_jtext_int(o, (int64_t)h->R.id);
  cs_jtext_key(o, "patient_id", 0);
  cs_jtext_int(o, (int64_t)h->R.patient);
  cs_jtext_key(o, "owner_id", 0);
  cs_jtext_int(o, (int64_t)h->R.owner);
  cs_jtext_key(o, "title", 0);
  put_str(o, title);
  cs_jtext_key(o, "created_at", 0);
  if (h->R.created < 0) {
    cs_jtext_raw(o, "null", 4);
  } else {
    char iso[CS_TIME_ISO_LEN];
    cs_time_iso(h->R.created, iso);
    cs_jtext_string(o, iso, strlen(iso));
  }
  cs_jtext_key(o, "score", 0);
  cs_jtext_real(o, round(h->key.score * 1e6) / 1e6, precision);
  cs_jtext_key(o, "patient_name", 0);
  cs_patient pat;
  char pseudo[32];
  if (cs_reader_patient(s->r, h->R.patient, &pat) == 0)
    put_str(o, cs_person_name_str(s->caller, h->R.patient, pat.name, pseudo));
  else if (s->caller->role == CS_CALLER_ANALYST)
    put_str(o, cs_person_name_str(s->caller, h->R.patient, (cs_str){"", 0}, pseudo));
  else
    cs_jtext_raw(o, "null", 4);
  cs_jtext_key(o, "snippets", 0);
  cs_jtext_c(o, '[');
  int first = 1;
  for (uint32_t k = 0; k < SNIPPETS; k++) {
    const cs__jspan *sp = &pt->snip[(size_t)i * SNIPPETS + k];
    if (!sp->len) continue;
    if (!first) cs_jtext_c(o, ',');
    first = 0;
    cs_jtext_raw(o, pt->pool.p + sp->off, sp->len);
  }
  cs_jtext_c(o, ']');
  cs_jtext_key(o, "title_highlight", 0);
  cs_jtext_raw(o, pt->pool.p + pt->title[i].off, pt->title[i].len);
  cs_jtext_key(o, "description_highlight", 0);
  if (pt->desc[i].len)
    cs_jtext_raw(o, pt->pool.p + pt->desc[i].off, pt->desc[i].len);
  else
    cs_jtext_raw(o, "null", 4);
  cs_jtext_c(o, '}');
  return 0;
}
