/*
 * A question's terms (qa_int.h): its content words, the related words of a
 * checklist point's category, and their expansions (administrator
 * synonyms, lemmas, the thesaurus, prefixes, names spelt otherwise).
 */
#include "qa_int.h"
#include "corrupt.h"
#include "expand.h"
#include "lemmas.h"
#include "redact.h"
#include "synonyms.h"
#include "thesaurus.h"
#include "tstats.h"

#include "analyzer.h"
#include "errors.h"
#include "parser.h"
#include "rank.h"
#include "varint.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Words related to each intake category, added to a checklist question at
 * half weight: interviewers rarely repeat the standard wording. */
static const struct {
  const char *category;
  const char *words;
} related[] = {
    {"vivienda", "vivir casa piso alquiler albergue calle dormir habitación desahucio hogar"},
    {"empleo", "trabajo trabajar ingreso dinero euros sueldo contrato nómina paro cobrar"},
    {"salud", "médico salud enfermedad tratamiento medicación hospital sanitaria centro"},
    {"documentación", "pasaporte documento papeles empadronamiento tarjeta permiso nie"},
    {"familia", "hijos hija hijo familia pareja marido mujer niños colegio"},
    {"alimentación", "comer comida comedor alimentos hambre"},
};

static int is_focus(const cs_token *prev, const cs_token *tok) {
  return prev->pos + 1 == tok->pos && (!strcmp(prev->word, "que") || !strcmp(prev->word, "cual") ||
                                       !strcmp(prev->word, "cuales"));
}

/* Whether the word at byte `at` of s (len bytes) starts with a capital letter (ASCII or
 * Latin-1 accented: a name, most of the time) and does not open a sentence. */
int cs__qa_is_name(const char *s, size_t len, size_t at) {
  if (at >= len) return 0;
  unsigned char c0 = (unsigned char)s[at];
  unsigned char c1 = c0 == 0xC3 && at + 1 < len ? (unsigned char)s[at + 1] : 0;
  if (!(c0 >= 'A' && c0 <= 'Z') && !(c1 >= 0x80 && c1 <= 0x9E && c1 != 0x97)) return 0;
  size_t i = at;
  while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '"' || s[i - 1] == '(' || s[i - 1] == '\n'))
    i--;
  return i > 0 && s[i - 1] != '.' && s[i - 1] != '?' && s[i - 1] != '!' && s[i - 1] != ':';
}

static int add_terms(cs_analyzer *an, const char *text, size_t len, double weight, qa_term *t,
                     size_t *n) {
  const cs_token *toks;
  size_t nt;
  if (cs_analyze(an, "es", text, len, &toks, &nt)) return CS_ENOMEM;
  for (size_t i = 0; i < nt && *n < QA_TERMS_MAX; i++) {
    if (toks[i].flags & CS_TOK_STOP) continue;
    size_t kl = (size_t)toks[i].term_len + 1;
    int dup = 0;
    for (size_t j = 0; j < *n && !dup; j++)
      dup = t[j].len == kl && memcmp(t[j].key + 1, toks[i].term, kl - 1) == 0;
    if (dup) continue;
    memset(&t[*n], 0, sizeof t[*n]);
    t[*n].key[0] = CS_PASSAGE_PREFIX;
    memcpy(t[*n].key + 1, toks[i].term, kl - 1);
    t[*n].len = kl;
    t[*n].weight = weight;
    t[*n].word_len = toks[i].word_len < CS_TERM_MAX ? toks[i].word_len : CS_TERM_MAX;
    memcpy(t[*n].word, toks[i].word, t[*n].word_len);
    t[*n].group = (uint32_t)*n;
    t[*n].qpos = toks[i].pos;
    t[*n].scale = 1;
    t[*n].focus = i > 0 && is_focus(&toks[i - 1], &toks[i]);
    t[*n].name = cs__qa_is_name(text, len, toks[i].start);
    size_t sl = toks[i].end - toks[i].start;
    t[*n].surf_len = sl < CS_TERM_MAX ? sl : 0;
    for (size_t j = 0; j < t[*n].surf_len; j++) {
      char ch = text[toks[i].start + j];
      t[*n].surf[j] = (char)(ch >= 'A' && ch <= 'Z' ? ch | 0x20 : ch);
    }
    (*n)++;
  }
  return 0;
}

int cs__qa_answer_kind(cs_analyzer *an, const char *q) {
  static const char *const number[] = {"cuando", "cuanto", "cuanta", "cuantos",    "cuantas",
                                       "año",    "años",   "fecha",  "porcentaje", "siglo"};
  static const char *const name[] = {"quien", "quienes", "donde"};
  if (getenv("CS_BENCH_QA_NO_ANSWER")) return ANSWER_ANY;
  const cs_token *toks;
  size_t n;
  if (cs_analyze(an, "es", q, strlen(q), &toks, &n)) return ANSWER_ANY;
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < sizeof number / sizeof *number; j++)
      if (!strcmp(toks[i].word, number[j])) return ANSWER_NUMBER;
    for (size_t j = 0; j < sizeof name / sizeof *name; j++)
      if (!strcmp(toks[i].word, name[j])) return ANSWER_NAME;
  }
  return ANSWER_ANY;
}

int cs__qa_question_terms(const char *q, const char *category, qa_term *t, size_t *nt,
                          cs_engine_error *err) {
  cs_analyzer *an = cs__analyzer_get();
  if (!an) {
    cs_engine_err(err, 503, "unavailable", "out of memory");
    return -1;
  }
  *nt = 0;
  int rc = add_terms(an, q, strlen(q), 1.0, t, nt);
  size_t own = *nt;
  for (size_t i = 0; !rc && category && i < sizeof related / sizeof related[0]; i++) {
    if (!strcmp(category, related[i].category))
      rc = add_terms(an, related[i].words, strlen(related[i].words), 0.5, t, nt);
  }
  cs__analyzer_put(an);
  if (rc) {
    cs_engine_err(err, 503, "unavailable", "out of memory");
    return -1;
  }
  if (own == 0) {
    cs_engine_err(err, 400, "bad_query", "the question has no searchable words");
    return -1;
  }
  return 0;
}

/* Adds entry e (a word, or a phrase on its first word) standing for
 * question term `group` at `weight`, unless the question has it already. */
static void add_entry(const cs__syn_seq *e, uint32_t group, double weight, qa_term *t, size_t *nt) {
  if (*nt >= QA_TERMS_MAX || e->n == 0 || e->n > QA_PHRASE_MAX) return;
  size_t kl = e->len[0] + 1u;
  for (size_t m = 0; m < *nt && e->n == 1; m++)
    if (!t[m].nrest && t[m].len == kl && memcmp(t[m].key + 1, e->stem[0], kl - 1) == 0) return;
  qa_term *x = &t[(*nt)++];
  memset(x, 0, sizeof *x);
  x->key[0] = CS_PASSAGE_PREFIX;
  memcpy(x->key + 1, e->stem[0], kl - 1);
  x->len = kl;
  for (uint8_t k = 1; k < e->n; k++) {
    x->rest[x->nrest][0] = CS_PASSAGE_PREFIX;
    memcpy(x->rest[x->nrest] + 1, e->stem[k], e->len[k]);
    x->rest_len[x->nrest] = (uint8_t)(e->len[k] + 1);
    x->rest_off[x->nrest++] = e->pos[k];
  }
  x->weight = weight;
  x->group = group;
}

/* The administrator's synonyms of each question term (synonyms.h), at
 * CS__W_SYNONYM as in the search box; a phrase synonym matches as a phrase,
 * and question words in a row that make a phrase entry ("piso de alquiler")
 * add its synonyms, standing for the first of them. */
void cs__qa_synonym_terms(const cs__synonyms *syn, qa_term *t, size_t *nt) {
  size_t own = *nt;
  if (!syn) return;
  cs__syn_seq *q = calloc(own ? own : 1, sizeof *q);
  for (size_t i = 0; q && i < own; i++) {
    q[i].n = 1;
    q[i].len[0] = (uint8_t)(t[i].len - 1);
    memcpy(q[i].stem[0], t[i].key + 1, t[i].len - 1);
  }
  for (size_t i = 0; i < own; i++) {
    const char *st[CS__SYN_EXPAND];
    uint8_t sl[CS__SYN_EXPAND];
    size_t ns = cs__synonyms_lookup(syn, t[i].key + 1, t[i].len - 1, st, sl, CS__SYN_EXPAND);
    for (size_t j = 0; j < ns; j++) {
      cs__syn_seq one = {.n = 1, .len = {sl[j]}};
      memcpy(one.stem[0], st[j], sl[j]);
      add_entry(&one, (uint32_t)i, CS__W_SYNONYM, t, nt);
    }
    const cs__syn_seq *me[CS__SYN_EXPAND];
    uint8_t used[CS__SYN_EXPAND];
    size_t nm = q ? cs__synonyms_multi(syn, &q[i], own - i, me, used, CS__SYN_EXPAND) : 0;
    for (size_t j = 0; j < nm; j++)
      add_entry(me[j], (uint32_t)i, CS__W_SYNONYM, t, nt);
  }
  free(q);
}

/* Lemma expansion (lemmas.h): each question word's hunspell lemmas whose
 * stem differs from the word's, at LEMMA_WEIGHT (chosen on the tuning half
 * of SQuAD-es, bench/RESULTS.md). */
#define LEMMA_WEIGHT 0.8

void cs__qa_lemma_terms(cs__lemmas *lm, cs_analyzer *an, qa_term *t, size_t *nt) {
  size_t own = *nt;
  for (size_t i = 0; lm && i < own; i++) {
    if (t[i].group != i || t[i].weight < 1.0) continue;
    char lem[CS__LEMMA_MAX][CS__LEMMA_LEN];
    size_t nl = cs__lemmas_of(lm, t[i].surf, t[i].surf_len, lem);
    for (size_t j = 0; j < nl && *nt < QA_TERMS_MAX; j++) {
      const cs_token *toks;
      size_t ntok;
      if (cs_analyze(an, "es", lem[j], strlen(lem[j]), &toks, &ntok)) return;
      if (ntok != 1 || (toks[0].flags & CS_TOK_STOP)) continue;
      size_t kl = (size_t)toks[0].term_len + 1;
      int dup = 0;
      for (size_t m = 0; m < *nt && !dup; m++)
        dup = t[m].len == kl && memcmp(t[m].key + 1, toks[0].term, kl - 1) == 0;
      if (dup) continue;
      qa_term *x = &t[(*nt)++];
      memset(x, 0, sizeof *x);
      x->key[0] = CS_PASSAGE_PREFIX;
      memcpy(x->key + 1, toks[0].term, kl - 1);
      x->len = kl;
      x->weight = LEMMA_WEIGHT;
      x->group = (uint32_t)i;
    }
  }
}

/* Thesaurus expansion of a question (thesaurus.h): each question word's
 * synonyms, most shared among its meanings first, at most THES_PER_WORD of
 * them, each weighing THES_WEIGHT x its share of the word's meanings (so an
 * ambiguous word's synonyms count less), and none already in the question.
 * A multi-word synonym ("llevar a cabo") is a phrase: its words at their
 * positions (stop words keep their place). THES_WEIGHT was chosen on the tuning
 * half of SQuAD-es: no setting measurably helps or hurts there
 * (bench/RESULTS.md); paraphrase in that corpus is rarely a thesaurus
 * synonym. */
#define THES_WEIGHT 0.1
#define THES_PER_WORD 4

void cs__qa_thesaurus_terms(const cs__thesaurus *th, cs_analyzer *an, qa_term *t, size_t *nt) {
  size_t own = *nt;
  for (size_t i = 0; th && i < own; i++) {
    cs__thes_syn syn[16];
    size_t ns = cs__thesaurus_lookup(th, t[i].word, t[i].word_len, syn, 16), added = 0;
    for (size_t j = 0; j < ns && added < THES_PER_WORD && *nt < QA_TERMS_MAX; j++) {
      const cs_token *toks;
      size_t ntok, content = 0, at = SIZE_MAX;
      if (cs_analyze(an, "es", syn[j].text, syn[j].len, &toks, &ntok)) return;
      for (size_t k = 0; k < ntok; k++) {
        if (!(toks[k].flags & CS_TOK_STOP)) {
          content++;
          if (at == SIZE_MAX) at = k;
        }
      }
      if (content == 0 || content > QA_PHRASE_MAX) continue;
      size_t kl = (size_t)toks[at].term_len + 1;
      int dup = 0;
      for (size_t m = 0; m < *nt && !dup && content == 1; m++)
        dup = !t[m].nrest && t[m].len == kl && memcmp(t[m].key + 1, toks[at].term, kl - 1) == 0;
      if (dup) continue;
      qa_term *x = &t[(*nt)++];
      memset(x, 0, sizeof *x);
      for (size_t k = at + 1; k < ntok; k++) {
        if (toks[k].flags & CS_TOK_STOP) continue;
        x->rest[x->nrest][0] = CS_PASSAGE_PREFIX;
        memcpy(x->rest[x->nrest] + 1, toks[k].term, toks[k].term_len);
        x->rest_len[x->nrest] = (uint8_t)(toks[k].term_len + 1);
        x->rest_off[x->nrest++] = (uint8_t)(toks[k].pos - toks[at].pos);
      }
      x->key[0] = CS_PASSAGE_PREFIX;
      memcpy(x->key + 1, toks[at].term, kl - 1);
      x->len = kl;
      x->weight = THES_WEIGHT * syn[j].share;
      x->word_len = toks[at].word_len < CS_TERM_MAX ? toks[at].word_len : CS_TERM_MAX;
      memcpy(x->word, toks[at].word, x->word_len);
      x->group = (uint32_t)i;
      added++;
    }
  }
}

/* Prefix fallback: forms Snowball does not bring together (names spelt
 * or translated slightly differently, derivations such as "coloniza" /
 * "colonial" or "catedrático" / "cátedra") often share a long beginning. Each question word whose
 * stem is longer than PREFIX_LEN bytes also matches up to PREFIX_PER_WORD other indexed passage
 * terms starting with its first PREFIX_LEN bytes, at PREFIX_WEIGHT (tuning half of SQuAD-es,
 * bench/analysis.md). CS_BENCH_QA_NO_PREFIX turns it off, for bench/qa_steps.sh only. */
#define PREFIX_LEN 5
#define PREFIX_PER_WORD 4
#define PREFIX_WEIGHT 0.3
#define PREFIX_SCAN 64 /* lexicon keys looked at per word */

typedef struct prefix_ctx {
  const qa_term *t, *q;
  size_t nt, n, scanned;
  struct {
    char key[CS_TERM_MAX + 2];
    size_t len, lcp;
  } v[PREFIX_PER_WORD];
} prefix_ctx;

/* Keeps the PREFIX_PER_WORD terms sharing the longest beginning with the
 * question word (the first ones in key order among equals). */
static int each_prefixed(void *ctx, cs_slice k, cs_slice v) {
  (void)v;
  prefix_ctx *c = ctx;
  if (c->scanned++ == PREFIX_SCAN) return 1;
  if (k.len > CS_TERM_MAX + 1) return 0;
  for (size_t m = 0; m < c->nt; m++)
    if (!c->t[m].nrest && c->t[m].len == k.len && memcmp(c->t[m].key, k.data, k.len) == 0) return 0;
  const char *kd = k.data;
  size_t lcp = 0;
  while (lcp < k.len && lcp < c->q->len && kd[lcp] == c->q->key[lcp])
    lcp++;
  size_t at = c->n;
  while (at > 0 && c->v[at - 1].lcp < lcp)
    at--;
  if (at == PREFIX_PER_WORD) return 0;
  if (c->n < PREFIX_PER_WORD) c->n++;
  memmove(&c->v[at + 1], &c->v[at], (c->n - 1 - at) * sizeof c->v[0]);
  memcpy(c->v[at].key, k.data, k.len);
  c->v[at].len = k.len;
  c->v[at].lcp = lcp;
  return 0;
}

int cs__qa_prefix_terms(cs_reader *r, qa_term *t, size_t *nt) {
  if (getenv("CS_BENCH_QA_NO_PREFIX")) return 0;
  size_t own = *nt;
  for (size_t i = 0; i < own; i++) {
    if (t[i].group != i || t[i].weight < 1 || t[i].nrest || t[i].len < PREFIX_LEN + 2) continue;
    prefix_ctx c = {.t = t, .q = &t[i], .nt = *nt};
    int rc = cs_reader_scan(r, CS_T_LEX, t[i].key, PREFIX_LEN + 1, each_prefixed, &c);
    if (rc < 0) return rc;
    for (size_t j = 0; j < c.n && *nt < QA_TERMS_MAX; j++) {
      qa_term *x = &t[(*nt)++];
      memset(x, 0, sizeof *x);
      memcpy(x->key, c.v[j].key, c.v[j].len);
      x->len = c.v[j].len;
      x->weight = PREFIX_WEIGHT;
      x->group = (uint32_t)i;
    }
  }
  return 0;
}

/* Names spelt otherwise, and words no passage holds: a name in the
 * question (a word capitalized inside it, is_name), or any question word
 * no passage in scope holds (a typo, a spelling the index lacks), of at
 * least NAME_CHARS letters also matches the indexed words within NAME_EDITS
 * edits of it ("Luther" / "Lutero"), the search box's typo expansion
 * (expand.h), at most NAME_PER_WORD of them at NAME_WEIGHT. Translated
 * questions and paragraphs often spell a foreign name differently. Chosen
 * on the tuning half of SQuAD-es (bench/analysis.md); CS_BENCH_QA_NO_NAMES
 * turns it off, for bench/qa_steps.sh only. */
#define NAME_EDITS 2
#define NAME_WEIGHT 0.3
#define NAME_PER_WORD 2
#define NAME_CHARS 5

int cs__qa_name_terms(const scope *s, qa_term *t, size_t *nt) {
  if (getenv("CS_BENCH_QA_NO_NAMES")) return 0;
  size_t own = *nt;
  for (size_t i = 0; i < own; i++) {
    if (t[i].group != i || t[i].weight < 1 || t[i].nrest || t[i].word_len < NAME_CHARS) continue;
    if (!t[i].name) {
      cs_lex lex = {0, 0};
      cs__ts_lex(&s->ts, t[i].key, t[i].len, &lex);
      if (lex.df > 0) continue;
    }
    cs__qword w;
    memset(&w, 0, sizeof w);
    memcpy(w.term, t[i].key + 1, t[i].len - 1);
    w.term_len = (uint8_t)(t[i].len - 1);
    memcpy(w.word, t[i].word, t[i].word_len);
    w.word_len = (uint8_t)t[i].word_len;
    for (size_t j = 0; j < t[i].word_len; j++)
      w.chars += ((unsigned char)t[i].word[j] & 0xC0) != 0x80;
    cs__variant v[16];
    uint32_t nv = 0;
    int rc = cs__expand(&s->ts, &w, 0, NAME_EDITS, 16, v, &nv);
    if (rc) return rc;
    size_t added = 0;
    for (uint32_t j = 0; j < nv && added < NAME_PER_WORD && *nt < QA_TERMS_MAX; j++) {
      if (v[j].exact || v[j].edits == 0) continue;
      size_t kl = (size_t)v[j].len + 1;
      int dup = 0;
      for (size_t m = 0; m < *nt && !dup; m++)
        dup = !t[m].nrest && t[m].len == kl && memcmp(t[m].key + 1, v[j].term, kl - 1) == 0;
      if (dup) continue;
      qa_term *x = &t[(*nt)++];
      memset(x, 0, sizeof *x);
      x->key[0] = CS_PASSAGE_PREFIX;
      memcpy(x->key + 1, v[j].term, kl - 1);
      x->len = kl;
      x->weight = NAME_WEIGHT;
      x->group = (uint32_t)i;
      added++;
    }
  }
  return 0;
}
