/*
 * Redaction of people's names for analysts (see redact.h). Words are the
 * analyzer's: the name and the texts are split and folded by the same
 * analyzer that indexes them, so "ÁLVARO", "alvaro" and "Álvaro," are all
 * the word "alvaro".
 */
#include "redact.h"

#include "highlight.h"
#include "internal.h"
#include "parser.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cs__pseudonym(uint64_t patient_id, char buf[32]) {
  /* A stable pseudonym: a keyed mix of the id, not reversible by reading. */
  uint64_t h = patient_id * 0x9E3779B97F4A7C15ULL;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 32;
  snprintf(buf, 32, "Persona %06" PRIx64, h & 0xFFFFFF);
}

void cs__redact_init(cs__redact *rd, const cs_caller *c, cs_reader *r, uint64_t patient_id) {
  rd->on = c->role == CS_CALLER_ANALYST;
  rd->patient = patient_id;
  rd->nwords = 0;
  rd->plen = 0;
  rd->pseudonym[0] = 0;
  if (!rd->on) return;
  cs__pseudonym(patient_id, rd->pseudonym);
  rd->plen = strlen(rd->pseudonym);
  cs_patient p;
  if (cs_reader_patient(r, patient_id, &p) != 0 || !p.name.len) return;
  cs_analyzer *a = cs__analyzer_get();
  const cs_token *t;
  size_t n;
  if (!a || cs_analyze(a, "es", p.name.p, p.name.len, &t, &n) != 0) n = 0;
  for (size_t i = 0; i < n && rd->nwords < CS__REDACT_WORDS; i++) {
    /* Particles ("de", "la", "y") and initials would erase half the text. */
    if ((t[i].flags & CS_TOK_STOP) || t[i].word_len < 2) continue;
    if (cs__redact_is_name_word(rd, t[i].word, t[i].word_len)) continue;
    memcpy(rd->words[rd->nwords], t[i].word, (size_t)t[i].word_len + 1);
    memcpy(rd->stems[rd->nwords], t[i].term, (size_t)t[i].term_len + 1);
    rd->nwords++;
  }
  cs__analyzer_put(a);
}

int cs__redact_is_name_word(const cs__redact *rd, const char *w, size_t n) {
  for (int i = 0; rd->on && i < rd->nwords; i++) {
    if (strlen(rd->words[i]) == n && memcmp(rd->words[i], w, n) == 0) return 1;
  }
  return 0;
}

int cs__redact_blocks(const cs__redact *rd, const char *term, size_t len) {
  for (int i = 0; rd->on && i < rd->nwords; i++) {
    if (strlen(rd->stems[i]) == len && memcmp(rd->stems[i], term, len) == 0) return 1;
  }
  return 0;
}

/* Whether the speaker label names the person (one of its words is a name
 * word). */
static int names_person(const cs__redact *rd, cs_str speaker) {
  if (!rd->nwords || !speaker.len) return 0;
  cs_analyzer *a = cs__analyzer_get();
  const cs_token *t;
  size_t n;
  int yes = 0;
  if (a && cs_analyze(a, "es", speaker.p, speaker.len, &t, &n) == 0) {
    for (size_t i = 0; i < n && !yes; i++)
      yes = cs__redact_is_name_word(rd, t[i].word, t[i].word_len);
  }
  cs__analyzer_put(a);
  return yes;
}

cs_str cs__redact_speaker_str(const cs__redact *rd, cs_str speaker, int role) {
  if (!rd->on) return speaker;
  if (names_person(rd, speaker)) return (cs_str){rd->pseudonym, rd->plen};
  const char *name = cs_role_name(role);
  return (cs_str){name, strlen(name)};
}

json_t *cs__redact_speaker(const cs__redact *rd, cs_str speaker, int role) {
  return cs_json_str(cs__redact_speaker_str(rd, speaker, role));
}

static int joins_run(const char *text, uint32_t from, uint32_t to) {
  for (uint32_t i = from; i < to; i++) {
    if (text[i] != ' ' && text[i] != '-') return 0;
  }
  return 1;
}

long cs__redact_find(const cs__redact *rd, const char *text, size_t len, cs__brange **out) {
  *out = NULL;
  if (!rd->on || !rd->nwords || !len) return 0;
  cs_analyzer *a = cs__analyzer_get();
  if (!a) return -1;
  const cs_token *t;
  size_t n;
  long m = 0, cap = 0;
  int rc = cs_analyze(a, "es", text, len, &t, &n);
  for (size_t i = 0; !rc && i < n; i++) {
    if (!cs__redact_is_name_word(rd, t[i].word, t[i].word_len)) continue;
    if (m && joins_run(text, (*out)[m - 1].end, t[i].start)) {
      (*out)[m - 1].end = t[i].end;
      continue;
    }
    if (m == cap) {
      cap = cap ? cap * 2 : 8;
      cs__brange *g = realloc(*out, (size_t)cap * sizeof *g);
      if (!g) {
        rc = -1;
        break;
      }
      *out = g;
    }
    (*out)[m].start = t[i].start;
    (*out)[m].end = t[i].end;
    m++;
  }
  cs__analyzer_put(a);
  if (rc) {
    free(*out);
    *out = NULL;
    return -1;
  }
  return m;
}

static void put(cs_buf *out, const char *s, size_t n, int html) {
  if (html)
    cs__html_escape(out, s, n);
  else
    cs_buf_bytes(out, s, n);
}

void cs__redact_write(const cs__redact *rd, const char *text, size_t from, size_t to,
                      const cs__brange *names, size_t nnames, int html, cs_buf *out) {
  size_t at = from;
  for (size_t i = 0; i < nnames && at < to; i++) {
    if (names[i].end <= at) continue;
    if (names[i].start >= to) break;
    if (names[i].start > at) put(out, text + at, names[i].start - at, html);
    cs_buf_bytes(out, rd->pseudonym, rd->plen);
    at = names[i].end < to ? names[i].end : to;
  }
  if (at < to) put(out, text + at, to - at, html);
}

void cs__redact_append(const cs__redact *rd, const char *text, size_t len, size_t from, size_t to,
                       cs_buf *out) {
  cs__brange *names;
  long n = cs__redact_find(rd, text, len, &names);
  if (n < 0) {
    out->err = -1;
    return;
  }
  cs__redact_write(rd, text, from, to, names, (size_t)n, 0, out);
  free(names);
}

json_t *cs__redact_json(const cs__redact *rd, cs_str text) {
  if (!rd->on || !rd->nwords) return cs_json_str(text);
  cs_buf b;
  cs_buf_init(&b);
  cs__redact_append(rd, text.p, text.len, 0, text.len, &b);
  json_t *j = b.err ? NULL : json_stringn_nocheck(b.len ? (const char *)b.p : "", b.len);
  cs_buf_free(&b);
  return j;
}

int cs__redact_check_filters(const cs_caller *c, const char *speaker, const struct cs__query *q,
                             cs_engine_error *err) {
  if (c->role != CS_CALLER_ANALYST) return 0;
  if (speaker && *speaker) {
    cs_engine_err(err, 400, "bad_parameter",
                  "analysts cannot filter by speaker name (names are pseudonymised); use role");
    return -1;
  }
  if (q->nspeakers || q->nnot_speakers) {
    cs_engine_err(err, 400, "bad_query",
                  "analysts cannot use speaker: (names are pseudonymised); use role:");
    return -1;
  }
  return 0;
}
