/*
 * Hits as JSON: the plain fields of a hit, and for the page's hits only the
 * highlighted snippets of their best turns, titles and descriptions.
 */
#include "search_int.h"

#include "errors.h"
#include "expand.h"
#include "varint.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
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

static json_t *json_ms(int64_t ms) {
  return ms < 0 ? json_null() : json_integer((json_int_t)ms);
}

/* Sets key to value in object o, taking value's reference (also on
 * failure); 1 on failure, so that failures add up. */
static int put(json_t *o, const char *key, json_t *value) {
  return json_object_set_new_nocheck(o, key, value) != 0;
}

/* Conversations of at most this many turns (the portal's interviews,
 * ~37) have their snippets' turns found from a guess of their seq: in
 * longer ones (a ParlaMint sitting, ~540 paragraphs) passages are spread
 * unevenly enough between the turns that the guess is often more than
 * CS_TURN_NEAR_STEPS blocks off (measured: 20% missed, 5.5 blocks walked on
 * average, slower than the CS_T_DOCS lookup it saves). */
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
 * is pc. */
static int snippet_json(xsearch *s, uint32_t d, const cs__page_conv *pc, cs_buf *b, json_t **out) {
  *out = NULL;
  size_t n;
  int rc = cs__doc_spans(s->x, d, CS_DOC_TURN, &n);
  if (rc) return rc;
  /* Found from its docid near where it should be (no CS_T_DOCS lookup),
   * else through its document's seq. */
  cs_turn t;
  uint64_t patient = pc->c.patient_id;
  int32_t guess = pc->rc ? -1 : seq_guess(&pc->c, d);
  rc = guess < 0 ? CS_ENOTFOUND : cs_reader_turn_near(s->r, pc->c.id, guess, d, &t);
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
  json_t *o = json_object();
  if (!o) return CS_ENOMEM;
  /* One statement each: keys keep this order in the output. */
  int bad = put(o, "seq", json_integer(t.seq));
  bad |= put(o, "speaker", cs__redact_speaker(rd, t.speaker, t.role));
  bad |= put(o, "role", json_string_nocheck(cs_role_name(t.role)));
  bad |= put(o, "start_ms", json_ms(t.start_ms));
  bad |= put(o, "end_ms", json_ms(t.end_ms));
  bad |= put(o, "text", json_stringn_nocheck((const char *)b->p, b->len));
  if (bad) {
    json_decref(o);
    return CS_ENOMEM;
  }
  *out = o;
  return 0;
}

/* Every hit has "title_highlight", the title HTML-escaped (with <em> once
 * field_json finds a match in it), and "description_highlight", null until
 * field_json finds a match in the description. */
int cs__plain_fields(xsearch *s, const cs__page_conv *pc, cs_buf *b, json_t *hit) {
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
  json_t *t = json_stringn_nocheck(b->len ? (const char *)b->p : "", b->len);
  if (!t || json_object_set_new(hit, "title_highlight", t) ||
      json_object_set_new(hit, "description_highlight", json_null()))
    return CS_ENOMEM;
  return 0;
}

/* The highlighted title (kind CS_DOC_TITLE) or description of the
 * conversation of hit object `hit`, whose document is d: replaces
 * "title_highlight" (the escaped title without <em>) or sets
 * "description_highlight" (a window around the matches, like a snippet)
 * when the query matches in it. */
static int field_json(xsearch *s, uint32_t d, int kind, const cs__page_conv *pc, cs_buf *b,
                      json_t *hit) {
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
  json_t *str = json_stringn_nocheck((const char *)b->p, b->len);
  if (!str) return CS_ENOMEM;
  return json_object_set_new(hit, title ? "title_highlight" : "description_highlight", str)
             ? CS_ENOMEM
             : 0;
}

/* Builds the snippets of the page's hits (hits[i] best first) into
 * arrays[i], and the highlighted titles and descriptions into the hit
 * objects hobjs[i]. */
int cs__build_snippets(xsearch *s, xhit **hits, const cs__page_conv *pcs, uint32_t nh,
                       json_t **arrays, json_t *hobjs) {
  cs__exec *x = s->x;
  if (!x || !nh) return 0;
  /* Reopen only the terms these hits matched. */
  for (uint32_t v = 0; v < x->nvars; v++) {
    int used = 0;
    for (uint32_t i = 0; i < nh && !used; i++)
      used = (hit_mask(hits[i])[v >> 6] >> (v & 63)) & 1;
    cs_pcur_close(x->vars[v].cur);
    x->vars[v].cur = NULL;
    x->vars[v].doc = END;
    if (used) {
      int rc = cs__open_cursor(x, &x->vars[v]);
      if (rc) return rc;
    }
  }
  /* Cursors only move forward: turns, titles and descriptions are visited
   * in docid order. */
  snip_ref *refs = malloc((size_t)nh * (SNIPPETS + 2) * sizeof *refs);
  json_t **objs = calloc((size_t)nh * SNIPPETS, sizeof *objs);
  cs_buf b;
  cs_buf_init(&b);
  int rc = refs && objs ? 0 : CS_ENOMEM;
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
  for (size_t k = 0; k < nr && !rc; k++) {
    const snip_ref *sr = &refs[k];
    if (sr->rank == REF_TITLE || sr->rank == REF_DESC)
      rc = field_json(s, sr->docid, sr->rank == REF_TITLE ? CS_DOC_TITLE : CS_DOC_DESCRIPTION,
                      &pcs[sr->hit], &b, json_array_get(hobjs, sr->hit));
    else
      rc = snippet_json(s, sr->docid, &pcs[sr->hit], &b, &objs[sr->hit * SNIPPETS + sr->rank]);
  }
  for (uint32_t i = 0; i < nh && !rc; i++) {
    for (uint32_t k = 0; k < SNIPPETS; k++) {
      json_t *o = objs[i * SNIPPETS + k];
      if (o) {
        json_array_append_new(arrays[i], o);
        objs[i * SNIPPETS + k] = NULL;
      }
    }
  }
  if (objs) {
    for (size_t k = 0; k < (size_t)nh * SNIPPETS; k++)
      json_decref(objs[k]);
  }
  free(objs);
  free(refs);
  cs_buf_free(&b);
  return rc;
}

json_t *cs__hit_json(xsearch *s, const xhit *h, const cs__page_conv *pc, json_t **snippets) {
  cs_str title = pc->rc == 0 ? pc->c.title : (cs_str){"", 0};
  cs_patient pt;
  json_t *name;
  if (cs_reader_patient(s->r, h->R.patient, &pt) == 0)
    name = cs_json_person_name(s->caller, h->R.patient, pt.name);
  else if (s->caller->role == CS_CALLER_ANALYST)
    name = cs_json_person_name(s->caller, h->R.patient, (cs_str){"", 0});
  else
    name = json_null();
  *snippets = json_array();
  double score = round(h->key.score * 1e6) / 1e6;
  json_t *o = json_object();
  int bad = !o || !*snippets;
  if (o) {
    /* One statement each: keys keep this order in the output. */
    bad |= put(o, "conversation_id", json_integer((json_int_t)h->R.id));
    bad |= put(o, "patient_id", json_integer((json_int_t)h->R.patient));
    bad |= put(o, "owner_id", json_integer((json_int_t)h->R.owner));
    bad |= put(o, "title", cs__redact_json(cs__redact_for(s, h->R.patient), title));
    bad |= put(o, "created_at", cs_json_time(h->R.created));
    bad |= put(o, "score", json_real(score));
    bad |= put(o, "patient_name", name);
    bad |= put(o, "snippets", json_incref(*snippets));
    name = NULL;
  }
  json_decref(name);
  json_decref(*snippets);
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}
