/*
 * The record codec (layouts in records.h): byte buffers, untrusted readers,
 * and one encode/decode pair per record. Each record is
 *   u8 version (CS_RECORD_V1), then its fields as varints, zigzag varints,
 *   length-prefixed strings and raw doubles, in the order of the struct.
 * A decoder fails with CS_ECORRUPT unless it consumed the value exactly.
 */
#include "records.h"

#include "analyzer.h"
#include "errors.h"
#include "utf8.h"
#include "varint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- buffers */

void cs_buf_init(cs_buf *b) {
  memset(b, 0, sizeof *b);
}

void cs_buf_free(cs_buf *b) {
  free(b->p);
  cs_buf_init(b);
}

void cs_buf_reset(cs_buf *b) {
  b->len = 0;
  b->err = 0;
}

int cs_buf_reserve(cs_buf *b, size_t more) {
  if (b->err) return -1;
  if (b->len + more <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more)
    cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p) {
    b->err = CS_ENOMEM;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

void cs_buf_bytes(cs_buf *b, const void *p, size_t n) {
  if (n == 0 || cs_buf_reserve(b, n)) return;
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

void cs_buf_u8(cs_buf *b, uint8_t v) {
  cs_buf_bytes(b, &v, 1);
}

void cs_buf_varint(cs_buf *b, uint64_t v) {
  if (cs_buf_reserve(b, 10)) return;
  b->len += cs_varint_put(b->p + b->len, v);
}

void cs_buf_zigzag(cs_buf *b, int64_t v) {
  cs_buf_varint(b, cs_zigzag(v));
}

void cs_buf_str(cs_buf *b, const char *s, size_t n) {
  cs_buf_varint(b, n);
  cs_buf_bytes(b, s, n);
}

void cs_buf_cstr(cs_buf *b, const char *s) {
  cs_buf_str(b, s ? s : "", s ? strlen(s) : 0);
}

void cs_buf_f64(cs_buf *b, double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  uint8_t raw[8];
  cs_be64_put(raw, u);
  cs_buf_bytes(b, raw, 8);
}

void cs_rd_init(cs_rd *r, const void *p, size_t n) {
  r->p = p;
  r->end = r->p + n;
  r->err = 0;
}

uint8_t cs_rd_u8(cs_rd *r) {
  if (r->err || r->p >= r->end) {
    r->err = CS_ECORRUPT;
    return 0;
  }
  return *r->p++;
}

uint64_t cs_rd_varint(cs_rd *r) {
  uint64_t v = 0;
  if (r->err || cs_varint_get(&r->p, r->end, &v)) {
    r->err = CS_ECORRUPT;
    return 0;
  }
  return v;
}

uint32_t cs_rd_u32(cs_rd *r) {
  uint64_t v = cs_rd_varint(r);
  if (v > UINT32_MAX) {
    r->err = CS_ECORRUPT;
    return 0;
  }
  return (uint32_t)v;
}

int64_t cs_rd_zigzag(cs_rd *r) {
  return cs_unzigzag(cs_rd_varint(r));
}

cs_str cs_rd_str(cs_rd *r) {
  cs_str s = {"", 0};
  uint64_t n = cs_rd_varint(r);
  if (r->err) return s;
  if (n > (uint64_t)(r->end - r->p)) {
    r->err = CS_ECORRUPT;
    return s;
  }
  s.p = (const char *)r->p;
  s.len = (size_t)n;
  r->p += n;
  return s;
}

cs_str cs_rd_text(cs_rd *r) {
  cs_str s = cs_rd_str(r);
  if (!r->err && !cs_utf8_valid(s.p, s.len)) {
    r->err = CS_ECORRUPT;
    return (cs_str){"", 0};
  }
  return s;
}

double cs_rd_f64(cs_rd *r) {
  if (r->err || r->end - r->p < 8) {
    r->err = CS_ECORRUPT;
    return 0;
  }
  uint64_t u = cs_be64_get(r->p);
  r->p += 8;
  double v;
  memcpy(&v, &u, sizeof v);
  return v;
}

static int rd_finish(cs_rd *r) {
  if (r->err) return r->err;
  return r->p == r->end ? 0 : CS_ECORRUPT;
}

static int rd_begin(cs_rd *r, const void *p, size_t n) {
  cs_rd_init(r, p, n);
  return cs_rd_u8(r) == CS_RECORD_V1 ? 0 : CS_ECORRUPT;
}

static void str_put(cs_buf *b, cs_str s) {
  cs_buf_str(b, s.p, s.len);
}

/* ---------------------------------------------------------------- enums */

int cs_role_parse(const char *s) {
  if (!s) return CS_ROLE_OTHER;
  if (!strcmp(s, "interviewer")) return CS_ROLE_INTERVIEWER;
  if (!strcmp(s, "beneficiary")) return CS_ROLE_BENEFICIARY;
  return CS_ROLE_OTHER;
}

const char *cs_role_name(int role) {
  switch (role) {
  case CS_ROLE_INTERVIEWER:
    return "interviewer";
  case CS_ROLE_BENEFICIARY:
    return "beneficiary";
  default:
    return "other";
  }
}

int cs_event_type_parse(const char *s) {
  static const struct {
    const char *name;
    int type;
  } types[] = {
      {"patient.registered", CS_EV_REGISTERED}, {"patient.renamed", CS_EV_RENAMED},
      {"patient.erased", CS_EV_ERASED},         {"conversation.recorded", CS_EV_RECORDED},
      {"conversation.played", CS_EV_PLAYED},    {"question.asked", CS_EV_QUESTION},
      {"sheet.updated", CS_EV_SHEET},
  };
  if (!s) return CS_EV_UNKNOWN;
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    if (!strcmp(s, types[i].name)) return types[i].type;
  }
  return CS_EV_UNKNOWN;
}

/* ---------------------------------------------------------------- records */

void cs_doc_encode(cs_buf *b, const cs_doc *d) {
  cs_buf_u8(b, CS_RECORD_V1);
  cs_buf_u8(b, d->kind);
  cs_buf_varint(b, d->conversation_id);
  cs_buf_varint(b, d->patient_id);
  cs_buf_zigzag(b, d->seq);
  cs_buf_varint(b, d->len);
}

int cs_doc_decode(const void *p, size_t n, cs_doc *d) {
  cs_rd r;
  if (rd_begin(&r, p, n)) return CS_ECORRUPT;
  d->kind = cs_rd_u8(&r);
  d->conversation_id = cs_rd_varint(&r);
  d->patient_id = cs_rd_varint(&r);
  int64_t seq = cs_rd_zigzag(&r);
  d->len = cs_rd_u32(&r);
  if (seq < INT32_MIN || seq > INT32_MAX || d->kind == 0 || d->kind >= CS_DOC_KINDS)
    return CS_ECORRUPT;
  d->seq = (int32_t)seq;
  return rd_finish(&r);
}

void cs_conv_encode(cs_buf *b, const cs_conv *c) {
  cs_buf_u8(b, CS_RECORD_V1);
  cs_buf_varint(b, c->id);
  cs_buf_varint(b, c->patient_id);
  cs_buf_varint(b, c->owner_id);
  str_put(b, c->title);
  str_put(b, c->description);
  str_put(b, c->language);
  str_put(b, c->audio_uri);
  str_put(b, c->status);
  cs_buf_zigzag(b, c->duration_ms);
  cs_buf_zigzag(b, c->created_at_ms);
  cs_buf_zigzag(b, c->updated_at_ms);
  cs_buf_varint(b, c->first_docid);
  cs_buf_varint(b, c->ndocs);
  cs_buf_varint(b, c->nturns);
  cs_buf_varint(b, c->checksum);
}

int cs_conv_decode(const void *p, size_t n, cs_conv *c) {
  cs_rd r;
  if (rd_begin(&r, p, n)) return CS_ECORRUPT;
  c->id = cs_rd_varint(&r);
  c->patient_id = cs_rd_varint(&r);
  c->owner_id = cs_rd_varint(&r);
  c->title = cs_rd_text(&r);
  c->description = cs_rd_text(&r);
  c->language = cs_rd_text(&r);
  c->audio_uri = cs_rd_text(&r);
  c->status = cs_rd_text(&r);
  c->duration_ms = cs_rd_zigzag(&r);
  c->created_at_ms = cs_rd_zigzag(&r);
  c->updated_at_ms = cs_rd_zigzag(&r);
  c->first_docid = cs_rd_u32(&r);
  c->ndocs = cs_rd_u32(&r);
  c->nturns = cs_rd_u32(&r);
  c->checksum = cs_rd_varint(&r);
  /* Its documents are docids first .. first + ndocs - 1, below the end
   * marker (UINT32_MAX): past it a range would wrap. */
  if ((uint64_t)c->first_docid + c->ndocs > UINT32_MAX) return CS_ECORRUPT;
  return rd_finish(&r);
}

void cs_patient_encode(cs_buf *b, const cs_patient *pt) {
  cs_buf_u8(b, CS_RECORD_V1);
  cs_buf_varint(b, pt->id);
  cs_buf_varint(b, pt->owner_id);
  str_put(b, pt->name);
  str_put(b, pt->email);
  str_put(b, pt->phone);
  cs_buf_zigzag(b, pt->created_at_ms);
  cs_buf_zigzag(b, pt->updated_at_ms);
  cs_buf_varint(b, pt->name_docid);
  cs_buf_varint(b, pt->checksum);
}

int cs_patient_decode(const void *p, size_t n, cs_patient *pt) {
  cs_rd r;
  if (rd_begin(&r, p, n)) return CS_ECORRUPT;
  pt->id = cs_rd_varint(&r);
  pt->owner_id = cs_rd_varint(&r);
  pt->name = cs_rd_text(&r);
  pt->email = cs_rd_text(&r);
  pt->phone = cs_rd_text(&r);
  pt->created_at_ms = cs_rd_zigzag(&r);
  pt->updated_at_ms = cs_rd_zigzag(&r);
  pt->name_docid = cs_rd_u32(&r);
  pt->checksum = cs_rd_varint(&r);
  return rd_finish(&r);
}

void cs_event_encode(cs_buf *b, const cs_event *e) {
  cs_buf_u8(b, CS_RECORD_V1);
  cs_buf_u8(b, e->type);
  cs_buf_varint(b, e->patient_id);
  cs_buf_varint(b, e->actor_id);
  cs_buf_varint(b, e->conversation_id);
  cs_buf_zigzag(b, e->recorded_at_ms);
}

int cs_event_decode(const void *p, size_t n, cs_event *e) {
  cs_rd r;
  if (rd_begin(&r, p, n)) return CS_ECORRUPT;
  e->type = cs_rd_u8(&r);
  e->patient_id = cs_rd_varint(&r);
  e->actor_id = cs_rd_varint(&r);
  e->conversation_id = cs_rd_varint(&r);
  e->recorded_at_ms = cs_rd_zigzag(&r);
  return rd_finish(&r);
}

void cs_inter_encode(cs_buf *b, const cs_inter *x) {
  cs_buf_u8(b, CS_RECORD_V1);
  cs_buf_varint(b, x->events);
  cs_buf_f64(b, x->score_ref);
  cs_buf_zigzag(b, x->last_at_ms);
}

int cs_inter_decode(const void *p, size_t n, cs_inter *x) {
  cs_rd r;
  if (rd_begin(&r, p, n)) return CS_ECORRUPT;
  x->events = cs_rd_varint(&r);
  x->score_ref = cs_rd_f64(&r);
  x->last_at_ms = cs_rd_zigzag(&r);
  if (!isfinite(x->score_ref) || x->score_ref < 0) return CS_ECORRUPT;
  return rd_finish(&r);
}

void cs_lex_encode(cs_buf *b, const cs_lex *x) {
  cs_buf_u8(b, CS_RECORD_V1);
  cs_buf_varint(b, x->df);
  cs_buf_varint(b, x->cf);
}

int cs_lex_decode(const void *p, size_t n, cs_lex *x) {
  cs_rd r;
  if (rd_begin(&r, p, n)) return CS_ECORRUPT;
  x->df = cs_rd_varint(&r);
  x->cf = cs_rd_varint(&r);
  return rd_finish(&r);
}

void cs_word_encode(cs_buf *b, const cs_word *w) {
  cs_buf_u8(b, CS_RECORD_V1);
  cs_buf_varint(b, w->df);
  str_put(b, w->stem);
}

int cs_word_decode(const void *p, size_t n, cs_word *w) {
  cs_rd r;
  if (rd_begin(&r, p, n)) return CS_ECORRUPT;
  w->df = cs_rd_varint(&r);
  w->stem = cs_rd_str(&r);
  return rd_finish(&r);
}

void cs_point_encode(cs_buf *b, const cs_point *x) {
  cs_buf_u8(b, CS_RECORD_V1);
  cs_buf_varint(b, x->id);
  str_put(b, x->text);
  str_put(b, x->category);
}

int cs_point_decode(const void *p, size_t n, cs_point *x) {
  cs_rd r;
  if (rd_begin(&r, p, n)) return CS_ECORRUPT;
  x->id = cs_rd_varint(&r);
  x->text = cs_rd_text(&r);
  x->category = cs_rd_text(&r);
  return rd_finish(&r);
}

void cs_outop_encode(cs_buf *b, const cs_outop *o) {
  cs_buf_u8(b, CS_RECORD_V1);
  cs_buf_u8(b, o->action);
  cs_buf_u8(b, o->kind);
  cs_buf_varint(b, o->id);
  cs_buf_zigzag(b, o->queued_at_ms);
}

int cs_outop_decode(const void *p, size_t n, cs_outop *o) {
  cs_rd r;
  if (rd_begin(&r, p, n)) return CS_ECORRUPT;
  o->action = cs_rd_u8(&r);
  o->kind = cs_rd_u8(&r);
  o->id = cs_rd_varint(&r);
  o->queued_at_ms = cs_rd_zigzag(&r);
  if (o->action < CS_OUT_PUT || o->action > CS_OUT_DELETE || o->kind < CS_OUT_CONVERSATION ||
      o->kind > CS_OUT_PATIENT)
    return CS_ECORRUPT;
  return rd_finish(&r);
}

void cs_checkpoint_encode(cs_buf *b, const cs_checkpoint *c) {
  cs_buf_u8(b, CS_RECORD_V1);
  cs_buf_varint(b, c->floor_xid);
  cs_buf_varint(b, c->round_xid);
  cs_buf_u8(b, c->marker_kind);
  cs_buf_varint(b, c->marker_entity);
  cs_buf_varint(b, c->rounds);
  cs_buf_zigzag(b, c->updated_at_ms);
  if (c->marker_group) cs_buf_varint(b, c->marker_group);
}

int cs_checkpoint_decode(const void *p, size_t n, cs_checkpoint *c) {
  cs_rd r;
  if (rd_begin(&r, p, n)) return CS_ECORRUPT;
  c->floor_xid = cs_rd_varint(&r);
  c->round_xid = cs_rd_varint(&r);
  c->marker_kind = cs_rd_u8(&r);
  c->marker_entity = cs_rd_varint(&r);
  c->rounds = cs_rd_varint(&r);
  c->updated_at_ms = cs_rd_zigzag(&r);
  c->marker_group = !r.err && r.p < r.end ? cs_rd_varint(&r) : 0;
  return rd_finish(&r);
}

void cs_stats_encode(cs_buf *b, const cs_stats *s) {
  cs_buf_u8(b, CS_RECORD_V1);
  for (int i = 0; i < CS_DOC_KINDS; i++) {
    cs_buf_varint(b, s->docs[i]);
    cs_buf_varint(b, s->tokens[i]);
  }
  cs_buf_varint(b, s->next_docid);
  if (!s->version) return;
  cs_buf_varint(b, s->version);
  if (!s->prev_version) return;
  cs_buf_varint(b, s->prev_version);
  cs_buf_varint(b, (uint64_t)s->nchanges << 1 | (s->many != 0));
  cs_buf_varint(b, s->nremoved);
  cs_buf_varint(b, s->changes_len);
  cs_buf_bytes(b, s->changes, s->changes_len);
}

int cs_stats_decode(const void *p, size_t n, cs_stats *s) {
  cs_rd r;
  if (rd_begin(&r, p, n)) return CS_ECORRUPT;
  for (int i = 0; i < CS_DOC_KINDS; i++) {
    s->docs[i] = cs_rd_varint(&r);
    s->tokens[i] = cs_rd_varint(&r);
  }
  s->next_docid = cs_rd_u32(&r);
  s->version = r.p < r.end ? cs_rd_varint(&r) : 0;
  s->prev_version = 0;
  s->nchanges = s->nremoved = 0;
  s->many = 0;
  s->changes = NULL;
  s->changes_len = 0;
  if (!r.err && r.p < r.end) {
    s->prev_version = cs_rd_varint(&r);
    uint64_t nm = cs_rd_varint(&r);
    s->nremoved = cs_rd_u32(&r);
    uint64_t len = cs_rd_varint(&r);
    if (r.err || nm >> 1 > CS_GCHANGES_MAX || len > (uint64_t)(r.end - r.p)) return CS_ECORRUPT;
    s->nchanges = (uint32_t)(nm >> 1);
    s->many = nm & 1;
    s->changes = r.p;
    s->changes_len = (size_t)len;
    r.p += len;
  }
  return rd_finish(&r);
}

int cs_ostats_decode(const void *p, size_t n, cs_stats *s) {
  int rc = cs_stats_decode(p, n, s);
  return rc ? rc : s->nchanges > CS_OCHANGES_MAX ? CS_ECORRUPT : 0;
}

/* A change: u8 table (0: CS_T_OWORDS or CS_T_WORDS, 1: CS_T_OLEX or CS_T_LEX), u8 length (1 ..
 * CS_TERM_MAX + 2), the key's bytes. */
void cs_ochange_put(cs_buf *b, int lex, const char *key, size_t len) {
  cs_buf_u8(b, (uint8_t)(lex != 0));
  cs_buf_u8(b, (uint8_t)len);
  cs_buf_bytes(b, key, len);
}

int cs_ochanges_each(const cs_stats *s, int (*fn)(void *ctx, int lex, const char *key, size_t len),
                     void *ctx) {
  const uint8_t *p = s->changes, *end = p ? p + s->changes_len : p;
  uint32_t n = 0;
  while (p < end) {
    if (end - p < 2 || p[0] > 1 || p[1] == 0 || p[1] > CS_TERM_MAX + 2 || end - p - 2 < p[1])
      return CS_ECORRUPT;
    int rc = fn(ctx, p[0], (const char *)p + 2, p[1]);
    if (rc) return rc;
    p += 2 + p[1];
    n++;
  }
  return n == s->nchanges ? 0 : CS_ECORRUPT;
}

/* ---------------------------------------------------------------- interaction */

double cs_interaction_weight(int event_type) {
  switch (event_type) {
  case CS_EV_RECORDED:
    return 5.0;
  case CS_EV_QUESTION:
    return 3.0;
  case CS_EV_PLAYED:
    return 2.0;
  case CS_EV_SHEET:
    return 2.0;
  case CS_EV_REGISTERED:
    return 1.0;
  case CS_EV_RENAMED:
    return 0.5;
  default:
    return 0.0;
  }
}

/* T0 = 2020-01-01T00:00:00Z. With a 30-day half-life, 2^((t - T0)/H) stays
 * far inside a double's range until the year 2100. */
#define CS_INTER_T0_MS 1577836800000LL
#define CS_DAY_MS 86400000.0

double cs_interaction_ref(double weight, int64_t t_ms) {
  double halvings = (double)(t_ms - CS_INTER_T0_MS) / (CS_INTER_HALF_LIFE_DAYS * CS_DAY_MS);
  if (halvings > 1000) halvings = 1000;
  if (halvings < -1000) halvings = -1000;
  return weight * exp2(halvings);
}

double cs_interaction_now(const cs_inter *x, int64_t now_ms) {
  return x->score_ref / cs_interaction_ref(1.0, now_ms);
}

/* ---------------------------------------------------------------- checksums */

uint64_t cs_checksum_init(void) {
  return 1469598103934665603ULL;
}

uint64_t cs_checksum_str(uint64_t h, const char *s, size_t n) {
  h = cs_checksum_i64(h, (int64_t)n);
  for (size_t i = 0; i < n; i++) {
    h ^= (uint8_t)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

uint64_t cs_checksum_i64(uint64_t h, int64_t v) {
  for (int i = 0; i < 8; i++) {
    h ^= (uint8_t)((uint64_t)v >> (8 * i));
    h *= 1099511628211ULL;
  }
  return h;
}

/* ---------------------------------------------------------------- keys */

void cs_key_u64(uint8_t out[8], uint64_t a) {
  cs_be64_put(out, a);
}

void cs_key_u64u64(uint8_t out[16], uint64_t a, uint64_t b) {
  cs_be64_put(out, a);
  cs_be64_put(out + 8, b);
}

int cs_cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

void cs_key_turn(uint8_t out[12], uint64_t conv, int32_t seq) {
  cs_be64_put(out, conv);
  cs_be32_put(out + 8, (uint32_t)seq ^ 0x80000000u);
}

int32_t cs_key_turn_seq(const uint8_t key[12]) {
  return (int32_t)(cs_be32_get(key + 8) ^ 0x80000000u);
}

size_t cs_key_post(uint8_t *out, const char *term, size_t term_len, uint32_t docid) {
  memcpy(out, term, term_len);
  out[term_len] = 0;
  cs_be32_put(out + term_len + 1, docid);
  return term_len + 5;
}
