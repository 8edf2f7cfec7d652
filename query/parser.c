/*
 * The query parser (grammar in parser.h). Two passes: a lexer cuts the
 * query into tokens (words with their '*' / '~' marks, phrases, fields,
 * parentheses, OR, '-'), then a recursive-descent parser builds the tree,
 * running every word through the same analyzer the indexer used so that a
 * query word becomes exactly the term the postings are keyed by.
 *
 * The parser is forgiving where a person is still typing (an unclosed quote
 * or parenthesis closes at the end, a lone '-' or '*' is ignored) and
 * strict where the query cannot mean anything (OR with nothing on one side,
 * an exclusion inside OR, a query that only excludes): those are 400
 * "bad_query" errors with a sentence that says what to fix.
 */
#include "parser.h"

#include "errors.h"
#include "internal.h"
#include "records.h"
#include "synonyms.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- analyzers */

#define POOL_MAX 16

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static cs_analyzer *pool[POOL_MAX];
static int pool_n;

cs_analyzer *cs__analyzer_get(void) {
  cs_analyzer *a = NULL;
  pthread_mutex_lock(&pool_lock);
  if (pool_n > 0) a = pool[--pool_n];
  pthread_mutex_unlock(&pool_lock);
  return a ? a : cs_analyzer_create();
}

void cs__analyzer_put(cs_analyzer *a) {
  if (!a) return;
  pthread_mutex_lock(&pool_lock);
  if (pool_n < POOL_MAX) {
    pool[pool_n++] = a;
    a = NULL;
  }
  pthread_mutex_unlock(&pool_lock);
  cs_analyzer_destroy(a);
}

int cs__fold_speaker(const char *s, size_t len, char *out, size_t cap) {
  /* Trim spaces so " Ana " finds "Ana". */
  while (len && (*s == ' ' || *s == '\t'))
    s++, len--;
  while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
    len--;
  return cs_fold_word(s, len, out, cap);
}

/* ---------------------------------------------------------------- lexer */

enum { T_END = 0, T_WORD, T_PHRASE, T_LPAREN, T_RPAREN, T_OR, T_NOT, T_FIELD };
enum { FLD_NONE = 0, FLD_TITLE, FLD_SPEAKER, FLD_ROLE };

typedef struct tok {
  int type;
  const char *s; /* WORD, PHRASE, FIELD: the text (marks and quotes removed) */
  size_t len;
  uint8_t prefix; /* WORD / FIELD value: ended with '*' */
  int8_t fuzzy;   /* -1: none; 0..2 explicit edits ("~1"); 3: "~" alone */
  uint8_t field;  /* FIELD: FLD_* */
  uint8_t quoted; /* FIELD: the value was a quoted phrase */
  uint8_t at_end; /* WORD: nothing follows it, not even a space */
} tok;

typedef struct parser {
  cs_analyzer *a;
  const cs__parse_opts *o;
  const char *lang;
  cs__query *q;
  cs_engine_error *err;
  tok *toks;
  size_t ntoks, i;
  uint32_t terms; /* words + operators so far */
  int lone_last;  /* the last word is the only word: keep it even if a stop word */
  int failed;
} parser;

static int is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Length of a quote mark at s (", “, ”), or 0. */
static size_t quote_len(const char *s, size_t left) {
  if (left >= 1 && s[0] == '"') return 1;
  if (left >= 3 && (unsigned char)s[0] == 0xE2 && (unsigned char)s[1] == 0x80 &&
      ((unsigned char)s[2] == 0x9C || (unsigned char)s[2] == 0x9D))
    return 3;
  return 0;
}

static int ascii_ieq(const char *a, size_t n, const char *b) {
  if (strlen(b) != n) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != b[i]) return 0;
  }
  return 1;
}

static int field_of(const char *s, size_t n) {
  if (ascii_ieq(s, n, "title") || ascii_ieq(s, n, "titulo")) return FLD_TITLE;
  if (n == 7 && (s[0] == 't' || s[0] == 'T') && memcmp(s + 1, "\xc3\xadtulo", 6) == 0)
    return FLD_TITLE; /* "título" */
  if (ascii_ieq(s, n, "speaker") || ascii_ieq(s, n, "hablante")) return FLD_SPEAKER;
  if (ascii_ieq(s, n, "role") || ascii_ieq(s, n, "rol")) return FLD_ROLE;
  return FLD_NONE;
}

static void fail(parser *p, const char *msg) {
  if (!p->failed) cs_engine_err(p->err, 400, "bad_query", "%s", msg);
  p->failed = 1;
}

static void fail_nomem(parser *p) {
  if (!p->failed) cs_engine_err(p->err, 503, "unavailable", "out of memory");
  p->failed = 1;
}

/* Strips trailing '*' and '~N' marks from a word. */
static void word_marks(tok *t) {
  t->fuzzy = -1;
  for (;;) {
    if (t->len >= 1 && t->s[t->len - 1] == '*') {
      t->prefix = 1;
      t->len--;
      continue;
    }
    if (t->len >= 2 && t->s[t->len - 2] == '~' && t->s[t->len - 1] >= '0' &&
        t->s[t->len - 1] <= '9') {
      int e = t->s[t->len - 1] - '0';
      t->fuzzy = (int8_t)(e > 2 ? 2 : e);
      t->len -= 2;
      continue;
    }
    if (t->len >= 1 && t->s[t->len - 1] == '~') {
      t->fuzzy = 3;
      t->len--;
      continue;
    }
    break;
  }
}

/* Reads a quoted phrase starting at the quote at q[*i]. */
static void lex_phrase(const char *q, size_t len, size_t *i, tok *t) {
  *i += quote_len(q + *i, len - *i);
  size_t s = *i;
  while (*i < len && !quote_len(q + *i, len - *i))
    (*i)++;
  t->s = q + s;
  t->len = *i - s;
  if (*i < len) *i += quote_len(q + *i, len - *i); /* unclosed: ends at the end */
}

static int lex(parser *p, const char *q, size_t len) {
  size_t cap = 4 * (size_t)p->o->max_terms + 16;
  p->toks = calloc(cap + 1, sizeof *p->toks);
  if (!p->toks) {
    fail_nomem(p);
    return -1;
  }
  size_t i = 0, n = 0;
  while (i < len) {
    unsigned char c = (unsigned char)q[i];
    if (is_space(c)) {
      i++;
      continue;
    }
    if (n >= cap) {
      fail(p, "the query has too many terms");
      return -1;
    }
    tok *t = &p->toks[n];
    memset(t, 0, sizeof *t);
    t->fuzzy = -1;
    if (c == '(' || c == ')') {
      t->type = c == '(' ? T_LPAREN : T_RPAREN;
      i++;
      n++;
      continue;
    }
    if (quote_len(q + i, len - i)) {
      t->type = T_PHRASE;
      lex_phrase(q, len, &i, t);
      n++;
      continue;
    }
    if (c == '-') {
      while (i < len && q[i] == '-')
        i++;
      /* A lone dash (or one before a closing parenthesis) excludes nothing. */
      if (i < len && !is_space((unsigned char)q[i]) && q[i] != ')') {
        t->type = T_NOT;
        n++;
      }
      continue;
    }
    size_t s = i;
    while (i < len && !is_space((unsigned char)q[i]) && q[i] != '(' && q[i] != ')' &&
           !quote_len(q + i, len - i))
      i++;
    t->s = q + s;
    t->len = i - s;
    if ((t->len == 2 && memcmp(t->s, "OR", 2) == 0) || (t->len == 1 && t->s[0] == '|') ||
        (t->len == 2 && memcmp(t->s, "||", 2) == 0)) {
      t->type = T_OR;
      n++;
      continue;
    }
    const char *colon = memchr(t->s, ':', t->len);
    int field = colon ? field_of(t->s, (size_t)(colon - t->s)) : FLD_NONE;
    if (field) {
      t->type = T_FIELD;
      t->field = (uint8_t)field;
      t->s = colon + 1;
      t->len = (size_t)(q + i - t->s);
      if (t->len == 0 && i < len && quote_len(q + i, len - i)) {
        lex_phrase(q, len, &i, t);
        t->quoted = 1;
      } else {
        word_marks(t);
      }
      n++;
      continue;
    }
    t->type = T_WORD;
    word_marks(t);
    t->at_end = i == len;
    if (t->len == 0) continue; /* "*" or "~" alone */
    n++;
  }
  p->ntoks = n;
  p->toks[n].type = T_END;
  /* Is the last word the only word of the query? (See parse_word.) */
  int words = 0;
  for (size_t k = 0; k < n; k++) {
    int ty = p->toks[k].type;
    if (ty == T_WORD || ty == T_PHRASE || (ty == T_FIELD && p->toks[k].field == FLD_TITLE)) words++;
  }
  p->lone_last = words == 1;
  return 0;
}

/* ---------------------------------------------------------------- tree */

static int grow(void **pp, uint32_t *cap, uint32_t need, size_t size) {
  if (need <= *cap) return 0;
  uint32_t c = *cap ? *cap : 16;
  while (c < need)
    c *= 2;
  void *n = realloc(*pp, (size_t)c * size);
  if (!n) return -1;
  *pp = n;
  *cap = c;
  return 0;
}

static int32_t new_node(parser *p, uint8_t type) {
  cs__query *q = p->q;
  if (grow((void **)&q->nodes, &q->nodes_cap, q->nnodes + 1, sizeof *q->nodes)) {
    fail_nomem(p);
    return -1;
  }
  cs__qnode *n = &q->nodes[q->nnodes];
  memset(n, 0, sizeof *n);
  n->type = type;
  n->fields = CS__F_ALL;
  n->boost = 1.0;
  return (int32_t)q->nnodes++;
}

static int32_t new_word(parser *p) {
  cs__query *q = p->q;
  if (grow((void **)&q->words, &q->words_cap, q->nwords + 1, sizeof *q->words)) {
    fail_nomem(p);
    return -1;
  }
  memset(&q->words[q->nwords], 0, sizeof q->words[0]);
  return (int32_t)q->nwords++;
}

/* A group node of `type` over kids[0..n). AND inside AND and OR inside OR
 * are flattened (parentheses), so the top-level AND lists every clause the
 * relaxation may drop. One kid is returned as is; none gives -1. */
static int32_t new_group(parser *p, uint8_t type, const int32_t *kids, uint32_t n) {
  if (n == 0) return -1;
  if (n == 1) return kids[0];
  cs__query *q = p->q;
  uint32_t total = 0;
  for (uint32_t k = 0; k < n; k++) {
    const cs__qnode *c = &q->nodes[kids[k]];
    total += c->type == type ? c->nkids : 1;
  }
  if (grow((void **)&q->kids, &q->kids_cap, q->nkids + total, sizeof *q->kids)) {
    fail_nomem(p);
    return -1;
  }
  uint32_t at = q->nkids;
  for (uint32_t k = 0; k < n; k++) {
    const cs__qnode *c = &q->nodes[kids[k]];
    if (c->type == type) {
      for (uint32_t j = 0; j < c->nkids; j++)
        q->kids[q->nkids++] = q->kids[c->kid + j];
    } else {
      q->kids[q->nkids++] = (uint32_t)kids[k];
    }
  }
  int32_t g = new_node(p, type);
  if (g < 0) return -1;
  q->nodes[g].kid = at;
  q->nodes[g].nkids = q->nkids - at;
  return g;
}

static int count_terms(parser *p, uint32_t n) {
  p->terms += n;
  if (p->terms > p->o->max_terms) {
    char msg[128];
    snprintf(msg, sizeof msg, "the query has too many terms (at most %u words and operators)",
             p->o->max_terms);
    fail(p, msg);
    return -1;
  }
  return 0;
}

static uint8_t count_chars(const char *s, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    c += ((unsigned char)s[i] & 0xC0) != 0x80;
  return (uint8_t)(c > 255 ? 255 : c);
}

/* Typo tolerance scaled by length: short words and numbers get none. */
static uint8_t auto_edits(const cs__qword *w) {
  if (w->number) return 0;
  if (w->chars <= 4) return 0;
  if (w->chars <= 8) return 1;
  return 2;
}

static void copy_token(cs__qword *w, const cs_token *t) {
  memcpy(w->term, t->term, t->term_len);
  w->term[t->term_len] = 0;
  w->term_len = (uint8_t)t->term_len;
  memcpy(w->word, t->word, t->word_len);
  w->word[t->word_len] = 0;
  w->word_len = (uint8_t)t->word_len;
  w->chars = count_chars(t->word, t->word_len);
  w->number = (t->flags & CS_TOK_NUMBER) != 0;
}

/* Analyzes a word chunk: one TERM per word it holds (AND of them when the
 * chunk holds several, as "e-mail" does). The last word of the query (no
 * space after it) also matches as a prefix; a stop word there is kept, as a
 * prefix only, when it is the query's only word (someone typing "des" has
 * not finished "desahucio", but "casa de" means "casa"). */
static int32_t parse_word(parser *p, const tok *t, uint8_t fields, int negated) {
  const cs_token *toks;
  size_t n;
  if (cs_analyze(p->a, p->lang, t->s, t->len, &toks, &n)) {
    fail_nomem(p);
    return -1;
  }
  int typo = p->o->typo && !p->o->plain;
  int32_t kids[64];
  uint32_t nk = 0;
  /* The analyzer's tokens live until its next call: nothing in this loop
   * calls it, and each word is copied into the query. */
  for (size_t k = 0; k < n; k++) {
    int last = k + 1 == n;
    if (nk == 64) {
      fail(p, "a word holds too many terms");
      return -1;
    }
    int implicit_prefix = typo && t->at_end && last && !negated;
    int is_stop = (toks[k].flags & CS_TOK_STOP) != 0;
    if (is_stop && !(last && (t->prefix || (implicit_prefix && p->lone_last)))) continue;
    if (count_terms(p, 1)) return -1;
    int32_t wi = new_word(p);
    int32_t ni = wi < 0 ? -1 : new_node(p, CS__N_TERM);
    if (ni < 0) return -1;
    cs__qword *w = &p->q->words[wi];
    copy_token(w, &toks[k]);
    w->stop = (uint8_t)is_stop;
    cs__qnode *node = &p->q->nodes[ni];
    node->word = (uint32_t)wi;
    node->nwords = 1;
    node->fields = fields;
    if (last && t->prefix) {
      if (w->chars < 2) {
        fail(p, "a prefix search needs at least 2 characters before '*'");
        return -1;
      }
      node->prefix = 1;
    } else if (implicit_prefix && w->chars >= 2) {
      node->prefix = 1;
    }
    if (last && t->fuzzy >= 0 && !p->o->plain) {
      uint8_t e = auto_edits(w);
      node->edits = t->fuzzy == 3 ? (uint8_t)(e ? e : 1) : (uint8_t)t->fuzzy;
      if (w->number && t->fuzzy == 3) node->edits = 0;
    } else if (typo) {
      node->edits = auto_edits(w);
    }
    kids[nk++] = ni;
  }
  return new_group(p, CS__N_AND, kids, nk);
}

/* A quoted phrase: its words at their analyzer positions (stop words leave
 * gaps). One word is a TERM without typos or prefix. */
static int32_t parse_phrase(parser *p, const char *s, size_t len, uint8_t fields) {
  const cs_token *toks;
  size_t n;
  if (cs_analyze(p->a, p->lang, s, len, &toks, &n)) {
    fail_nomem(p);
    return -1;
  }
  uint32_t first = p->q->nwords, nw = 0, base = 0;
  for (size_t k = 0; k < n; k++) {
    if (toks[k].flags & CS_TOK_STOP) continue;
    if (count_terms(p, 1)) return -1;
    int32_t wi = new_word(p);
    if (wi < 0) return -1;
    cs__qword *w = &p->q->words[wi];
    copy_token(w, &toks[k]);
    w->quoted = 1;
    if (nw == 0) base = toks[k].pos;
    w->pos = toks[k].pos - base;
    nw++;
  }
  if (nw == 0) return -1;
  int32_t ni = new_node(p, nw == 1 ? CS__N_TERM : CS__N_PHRASE);
  if (ni < 0) return -1;
  cs__qnode *node = &p->q->nodes[ni];
  node->word = first;
  node->nwords = nw;
  node->fields = fields;
  return ni;
}

static int parse_role(const char *s, size_t n) {
  if (ascii_ieq(s, n, "interviewer") || ascii_ieq(s, n, "entrevistador") ||
      ascii_ieq(s, n, "entrevistadora"))
    return CS_ROLE_INTERVIEWER;
  if (ascii_ieq(s, n, "beneficiary") || ascii_ieq(s, n, "beneficiario") ||
      ascii_ieq(s, n, "beneficiaria"))
    return CS_ROLE_BENEFICIARY;
  if (ascii_ieq(s, n, "other") || ascii_ieq(s, n, "otro") || ascii_ieq(s, n, "otra"))
    return CS_ROLE_OTHER;
  return -1;
}

/* speaker: and role: filters; `top` says the clause stands at the top level
 * (possibly excluded), the only place a query-wide filter makes sense. */
static int parse_filter(parser *p, const tok *t, int top, int negated) {
  if (!top) {
    fail(p, "speaker: and role: filter the whole query; use them outside parentheses and OR");
    return -1;
  }
  if (count_terms(p, 1)) return -1;
  cs__query *q = p->q;
  if (t->field == FLD_ROLE) {
    int r = parse_role(t->s, t->len);
    if (r < 0) {
      fail(p, "role: must be interviewer, beneficiary or other");
      return -1;
    }
    if (negated)
      q->not_roles |= (uint8_t)(1u << r);
    else
      q->roles |= (uint8_t)(1u << r);
    return 0;
  }
  uint8_t *n = negated ? &q->nnot_speakers : &q->nspeakers;
  char(*list)[64] = negated ? q->not_speakers : q->speakers;
  if (*n >= CS__MAX_SPEAKERS) {
    fail(p, "too many speaker: filters");
    return -1;
  }
  int len = cs__fold_speaker(t->s, t->len, list[*n], sizeof list[0]);
  if (len < 0) {
    fail(p, "the speaker: name is too long");
    return -1;
  }
  if (len == 0) {
    fail(p, "speaker: needs a name");
    return -1;
  }
  (*n)++;
  return 0;
}

static int32_t parse_seq(parser *p, int depth);

/* Returns a node, -1 for "nothing" (stop words only, a filter) or on error
 * (p->failed tells). */
static int32_t parse_primary(parser *p, int depth, int top, int negated) {
  tok *t = &p->toks[p->i];
  switch (t->type) {
  case T_LPAREN: {
    p->i++;
    if (depth >= 16) {
      fail(p, "the query nests parentheses too deeply");
      return -1;
    }
    int32_t g = parse_seq(p, depth + 1);
    if (p->toks[p->i].type == T_RPAREN) p->i++; /* an unclosed group ends at the end */
    return g;
  }
  case T_PHRASE:
    p->i++;
    return parse_phrase(p, t->s, t->len, CS__F_ALL);
  case T_WORD:
    p->i++;
    return parse_word(p, t, CS__F_ALL, negated);
  case T_FIELD:
    p->i++;
    if (t->field == FLD_TITLE) {
      if (t->len == 0) {
        fail(p, "title: needs a word or a \"phrase\"");
        return -1;
      }
      return t->quoted ? parse_phrase(p, t->s, t->len, CS__F_TITLE)
                       : parse_word(p, t, CS__F_TITLE, negated);
    }
    parse_filter(p, t, top, negated);
    return -1;
  case T_OR:
    fail(p, "OR needs a term on both sides");
    return -1;
  case T_RPAREN:
    fail(p, "a closing parenthesis has no opening one");
    return -1;
  case T_NOT:
    fail(p, "an exclusion needs a term after '-'");
    return -1;
  default:
    return -1;
  }
}

/* NOT over one kid (new_group would return a single kid unchanged). */
static int32_t new_not(parser *p, int32_t kid) {
  cs__query *q = p->q;
  if (grow((void **)&q->kids, &q->kids_cap, q->nkids + 1, sizeof *q->kids)) {
    fail_nomem(p);
    return -1;
  }
  int32_t n = new_node(p, CS__N_NOT);
  if (n < 0) return -1;
  q->nodes[n].kid = q->nkids;
  q->nodes[n].nkids = 1;
  q->kids[q->nkids++] = (uint32_t)kid;
  return n;
}

static int32_t parse_unary(parser *p, int depth, int top) {
  if (p->toks[p->i].type == T_NOT) {
    p->i++;
    if (count_terms(p, 1)) return -1;
    if (p->toks[p->i].type == T_END || p->toks[p->i].type == T_OR) {
      fail(p, "an exclusion needs a term after '-'");
      return -1;
    }
    int32_t x = parse_primary(p, depth, top, 1);
    if (x < 0) return -1;
    return new_not(p, x);
  }
  return parse_primary(p, depth, top, 0);
}

static int is_not(parser *p, int32_t n) {
  return n >= 0 && p->q->nodes[n].type == CS__N_NOT;
}

/* unary (OR unary)*: an OR of its sides, which must not be exclusions. */
static int32_t parse_or(parser *p, int depth) {
  int32_t kids[64];
  uint32_t nk = 0;
  int32_t first = parse_unary(p, depth, depth == 0);
  if (p->failed) return -1;
  int any_or = 0;
  if (first >= 0) kids[nk++] = first;
  while (p->toks[p->i].type == T_OR) {
    p->i++;
    any_or = 1;
    if (count_terms(p, 1)) return -1;
    int ty = p->toks[p->i].type;
    if (ty == T_END || ty == T_RPAREN || ty == T_OR) {
      fail(p, "OR needs a term on both sides");
      return -1;
    }
    int32_t x = parse_unary(p, depth, 0);
    if (p->failed) return -1;
    if (x >= 0 && nk == 64) {
      fail(p, "OR joins too many terms");
      return -1;
    }
    if (x >= 0) kids[nk++] = x;
  }
  if (any_or) {
    for (uint32_t k = 0; k < nk; k++) {
      if (is_not(p, kids[k])) {
        fail(p, "an excluded term cannot be one side of OR");
        return -1;
      }
    }
    return new_group(p, CS__N_OR, kids, nk);
  }
  return first;
}

static int32_t parse_seq(parser *p, int depth) {
  int32_t kids[256];
  uint32_t nk = 0;
  while (!p->failed) {
    int ty = p->toks[p->i].type;
    if (ty == T_END) break;
    if (ty == T_RPAREN) {
      if (depth > 0) break;
      fail(p, "a closing parenthesis has no opening one");
      return -1;
    }
    if (ty == T_OR) {
      fail(p, "OR needs a term on both sides");
      return -1;
    }
    int32_t x = parse_or(p, depth);
    if (p->failed) return -1;
    if (x >= 0 && nk == 256) {
      fail(p, "the query has too many terms");
      return -1;
    }
    if (x >= 0) kids[nk++] = x;
  }
  if (p->failed) return -1;
  uint32_t positive = 0;
  for (uint32_t k = 0; k < nk; k++)
    positive += !is_not(p, kids[k]);
  if (nk && !positive) {
    fail(p, depth ? "a group in parentheses only excludes terms; add a term to search for"
                  : "the query only excludes terms; add a term to search for");
    return -1;
  }
  uint8_t type = depth == 0 && p->o->default_or ? CS__N_OR : CS__N_AND;
  if (type == CS__N_OR) {
    for (uint32_t k = 0; k < nk; k++) {
      if (is_not(p, kids[k])) type = CS__N_AND; /* exclusions need AND */
    }
  }
  return new_group(p, type, kids, nk);
}

/* Plain mode: every analyzed word is a clause; a repeated word counts once
 * with a higher weight, as a bag of words does (Anserini's BM25 runs). */
static int32_t parse_plain(parser *p, const char *s, size_t len) {
  const cs_token *toks;
  size_t n;
  if (cs_analyze(p->a, p->lang, s, len, &toks, &n)) {
    fail_nomem(p);
    return -1;
  }
  int32_t *kids = malloc((n ? n : 1) * sizeof *kids);
  if (!kids) {
    fail_nomem(p);
    return -1;
  }
  uint32_t nk = 0;
  for (size_t k = 0; k < n && !p->failed; k++) {
    if (toks[k].flags & CS_TOK_STOP) continue;
    uint32_t j;
    for (j = 0; j < nk; j++) {
      const cs__qword *w = &p->q->words[p->q->nodes[kids[j]].word];
      if (w->term_len == toks[k].term_len && memcmp(w->term, toks[k].term, w->term_len) == 0) break;
    }
    if (j < nk) {
      p->q->nodes[kids[j]].boost += 1.0;
      continue;
    }
    if (count_terms(p, 1)) break;
    int32_t wi = new_word(p);
    int32_t ni = wi < 0 ? -1 : new_node(p, CS__N_TERM);
    if (ni < 0) break;
    copy_token(&p->q->words[wi], &toks[k]);
    p->q->nodes[ni].word = (uint32_t)wi;
    p->q->nodes[ni].nwords = 1;
    kids[nk++] = ni;
  }
  int32_t g = p->failed ? -1 : new_group(p, p->o->default_or ? CS__N_OR : CS__N_AND, kids, nk);
  free(kids);
  return g;
}

/* ---------------------------------------------------------------- synonyms */

/* A leaf for synonym entry e (TERM for a word, PHRASE for a phrase), ranked
 * as a synonym and matched as written. */
static int32_t entry_leaf(parser *p, const cs__syn_seq *e, uint8_t fields) {
  uint32_t first = p->q->nwords;
  for (uint8_t k = 0; k < e->n; k++) {
    int32_t wi = new_word(p);
    if (wi < 0) return -1;
    cs__qword *w = &p->q->words[wi];
    memcpy(w->term, e->stem[k], e->len[k]);
    memcpy(w->word, e->stem[k], e->len[k]);
    w->term_len = w->word_len = e->len[k];
    w->chars = count_chars(w->word, w->word_len);
    w->quoted = 1;
    w->pos = e->pos[k];
  }
  int32_t ni = new_node(p, e->n == 1 ? CS__N_TERM : CS__N_PHRASE);
  if (ni < 0) return -1;
  p->q->nodes[ni].word = first;
  p->q->nodes[ni].nwords = e->n;
  p->q->nodes[ni].fields = fields;
  p->q->nodes[ni].boost = CS__W_SYNONYM;
  return ni;
}

/* A node over kid ids v[0..n) (copied into kids[]), not flattened. */
static int32_t plain_group(parser *p, uint8_t type, const int32_t *v, uint32_t n) {
  cs__query *q = p->q;
  if (grow((void **)&q->kids, &q->kids_cap, q->nkids + n, sizeof *q->kids)) {
    fail_nomem(p);
    return -1;
  }
  uint32_t at = q->nkids;
  for (uint32_t k = 0; k < n; k++)
    q->kids[q->nkids++] = (uint32_t)v[k];
  int32_t g = new_node(p, type);
  if (g < 0) return -1;
  q->nodes[g].kid = at;
  q->nodes[g].nkids = n;
  return g;
}

/* Whether node x is a plain query word synonyms may expand. */
static int plain_leaf(const cs__query *q, uint32_t x) {
  const cs__qnode *n = &q->nodes[x];
  return n->type == CS__N_TERM && n->nwords == 1 && !q->words[n->word].quoted &&
         !q->words[n->word].stop;
}

/* The multi-word administrator synonyms (synonyms.h) of the words kids
 * leaves[0..n) (consecutive plain words of one group): an OR of those
 * words (an AND when several make the entry; the first word alone when
 * `keep`: the others stay beside it) and the matched entries, or -1 when
 * none matches. *used: the words it stands for. */
static int32_t multi_alternatives(parser *p, const cs__synonyms *syn, const uint32_t *leaves,
                                  size_t n, int keep, uint8_t *used) {
  cs__syn_seq qs[CS__SYN_PHRASE_MAX];
  const cs__query *q = p->q;
  for (size_t k = 0; k < n; k++) {
    const cs__qword *w = &q->words[q->nodes[leaves[k]].word];
    qs[k].n = 1;
    qs[k].len[0] = w->term_len;
    memcpy(qs[k].stem[0], w->term, w->term_len);
  }
  const cs__syn_seq *me[CS__SYN_EXPAND];
  uint8_t mu[CS__SYN_EXPAND], most = 0;
  size_t nm = cs__synonyms_multi(syn, qs, n, me, mu, CS__SYN_EXPAND);
  for (size_t k = 0; k < nm; k++)
    most = mu[k] > most ? mu[k] : most;
  if (!nm) return -1;
  uint8_t fields = q->nodes[leaves[0]].fields;
  for (uint8_t k = 0; k < most; k++) /* the words themselves rank above their synonyms */
    p->q->nodes[leaves[k]].has_syn = 1;
  int32_t alt[CS__SYN_EXPAND + 1], na = 0;
  if (most == 1 || keep) {
    alt[na++] = (int32_t)leaves[0];
  } else {
    int32_t run[CS__SYN_PHRASE_MAX];
    for (uint8_t k = 0; k < most; k++)
      run[k] = (int32_t)leaves[k];
    if ((alt[na++] = plain_group(p, CS__N_AND, run, most)) < 0) return -1;
  }
  for (size_t k = 0; k < nm; k++) {
    if (mu[k] != most) continue;
    if ((alt[na++] = entry_leaf(p, me[k], fields)) < 0) return -1;
  }
  *used = most;
  return plain_group(p, CS__N_OR, alt, (uint32_t)na);
}

/* Rewrites the parsed query for the synonyms with a phrase on either side:
 * in each AND or OR group (and a lone word), the longest run of
 * consecutive plain words that starts a phrase entry, or a word whose
 * synonym is a phrase, becomes an OR of itself and the entries. Under an
 * AND the words of the run become that one clause; under an OR the first
 * one does, the others stay beside it. One word -> one word synonyms are expanded with the other
 * variants (expand.c). */
static void rewrite_synonyms(parser *p) {
  const cs__synonyms *syn = cs__synonyms_current();
  cs__query *q = p->q;
  if (!syn || q->root < 0) return;
  uint32_t nn = q->nnodes;
  uint8_t used;
  if (plain_leaf(q, (uint32_t)q->root)) {
    uint32_t leaf = (uint32_t)q->root;
    int32_t x = multi_alternatives(p, syn, &leaf, 1, 0, &used);
    if (x >= 0) q->root = x;
    return;
  }
  for (uint32_t g = 0; g < nn && !p->failed; g++) {
    if (q->nodes[g].type != CS__N_AND && q->nodes[g].type != CS__N_OR) continue;
    for (uint32_t j = 0; j < q->nodes[g].nkids && !p->failed; j++) {
      uint32_t run[CS__SYN_PHRASE_MAX], n = 0, kid = q->nodes[g].kid;
      while (n < CS__SYN_PHRASE_MAX && j + n < q->nodes[g].nkids &&
             plain_leaf(q, q->kids[kid + j + n]) &&
             q->nodes[q->kids[kid + j + n]].fields == q->nodes[q->kids[kid + j]].fields) {
        run[n] = q->kids[kid + j + n];
        n++;
      }
      if (n == 0) continue;
      int32_t x = multi_alternatives(p, syn, run, n, q->nodes[g].type == CS__N_OR, &used);
      if (x < 0) continue;
      kid = q->nodes[g].kid; /* (kids[] may have moved, not this range) */
      q->kids[kid + j] = (uint32_t)x;
      if (q->nodes[g].type == CS__N_AND && used > 1) {
        uint32_t nk = q->nodes[g].nkids;
        memmove(&q->kids[kid + j + 1], &q->kids[kid + j + used], (nk - j - used) * sizeof *q->kids);
        q->nodes[g].nkids = nk - (used - 1u);
      }
    }
  }
}

void cs__parse_defaults(cs__parse_opts *o) {
  memset(o, 0, sizeof *o);
  o->lang = "es";
  o->typo = 1;
  o->max_terms = CS_QUERY_MAX_TERMS;
}

int cs__query_parse(cs_analyzer *a, const char *qs, size_t len, const cs__parse_opts *o,
                    cs__query *out, cs_engine_error *err) {
  memset(out, 0, sizeof *out);
  out->root = -1;
  parser p;
  memset(&p, 0, sizeof p);
  p.a = a;
  p.o = o;
  p.lang = o->lang ? o->lang : "es";
  p.q = out;
  p.err = err;
  if (!qs) len = 0;
  size_t k = 0;
  while (k < len && is_space((unsigned char)qs[k]))
    k++;
  if (k == len) {
    out->browse = 1;
    return 0;
  }
  if (o->plain) {
    out->root = parse_plain(&p, qs, len);
    if (!p.failed) rewrite_synonyms(&p);
    return p.failed ? -1 : 0;
  }
  if (lex(&p, qs, len)) goto out;
  out->root = parse_seq(&p, 0);
  if (!p.failed && out->root < 0) {
    /* No words: a query of filters only lists conversations; stop words
     * only match nothing. */
    int words = 0;
    for (size_t i = 0; i < p.ntoks; i++) {
      int ty = p.toks[i].type;
      words += ty == T_WORD || ty == T_PHRASE || (ty == T_FIELD && p.toks[i].field == FLD_TITLE);
    }
    out->browse = words == 0;
  }
  if (!p.failed) rewrite_synonyms(&p);
out:
  free(p.toks);
  return p.failed ? -1 : 0;
}

void cs__query_free(cs__query *q) {
  if (!q) return;
  free(q->nodes);
  free(q->kids);
  free(q->words);
  memset(q, 0, sizeof *q);
  q->root = -1;
}
