/*
 * Redaction of people's names for analysts (internal to the query engine).
 *
 * Analysts never see a real name (../shared/DESIGN.md, "Security model").
 * Everything a route shows of a conversation goes through here, with the
 * conversation's person:
 *   - a speaker label naming the person (any word of the registered name,
 *     compared folded: case and accents ignored; words as the analyzer
 *     splits and folds them) becomes the person's
 *     pseudonym; every other speaker label becomes its role
 *     ("interviewer", "beneficiary", "other");
 *   - in titles, descriptions and turns, each word of the person's
 *     registered name (folded the way the analyzer folds surface forms; stop
 *     words such as "de" or "la" and one-letter words excepted) is replaced
 *     by the pseudonym, a run of them ("Álvaro Gómez Ruiz") by one
 *     pseudonym;
 *   - a highlight never falls on a replaced word (highlight.c drops it), and
 *     search never matches one: for analysts, a query term whose stem is the
 *     stem of a word of the person's name matches nothing in that person's
 *     conversations (search.c, cs__redact_blocks), so results, counts and
 *     snippets are those of the redacted text.
 * Portal callers and admins get everything unchanged (the functions are
 * no-ops when the redaction is off).
 */
#ifndef CS_QUERY_REDACT_H
#define CS_QUERY_REDACT_H

#include "analyzer.h"
#include "engine.h"
#include "reader.h"
#include "records.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CS__REDACT_WORDS 16
#define CS__REDACT_WORD_MAX (CS_TERM_MAX + 1)
#define CS__REDACT_KEYS 32

typedef struct cs__redact {
  int on;             /* an analyst caller: names are redacted */
  uint64_t patient;   /* whose names */
  char pseudonym[32]; /* "Persona 3k9x2mq7d1t0v" */
  size_t plen;
  cs_str name; /* the registered name (in the read view) */
  /* The person's record is damaged (corrupt.h): the name cannot be known,
   * so every text is shown as the pseudonym and no term matches. */
  int withheld;
  /* Cheap keys of the name's words (redact.c): a text, term or speaker
   * none of whose keys is here holds no name word, and is not analyzed. */
  int nkeys, keys_all; /* keys_all: the name has words the keys cannot tell */
  uint32_t keys[CS__REDACT_KEYS];
  /* The name as the analyzer sees it, computed on first need. */
  int analyzed;
  int nwords; /* folded words of the registered name */
  char words[CS__REDACT_WORDS][CS__REDACT_WORD_MAX];
  char stems[CS__REDACT_WORDS][CS__REDACT_WORD_MAX]; /* their stems (analyzer terms) */
} cs__redact;

/* The cheap key of a word, term or stem: its first (at most) three bytes
 * folded without the analyzer, up to the first character that is not a
 * letter or digit; CS__KEY_ANY when the cheap folding cannot tell (the
 * analyzer must decide), 0 when there is no word. */
#define CS__KEY_ANY 0xFFFFFFFFu
uint32_t cs__redact_key(const char *s, size_t n);
/* Whether some key of the person's name is in keys[0..n) (sorted), or the
 * name's keys cannot tell: only then can a term with one of those keys be
 * a word of the name. */
int cs__redact_maybe(const cs__redact *rd, const uint32_t *keys, size_t n);

/* A byte range [start, end) of a text. */
typedef struct cs__brange {
  uint32_t start, end;
} cs__brange;

/* Prepares the redaction of patient_id's conversations for caller c (off
 * unless c is an analyst). Reads the person's record; a person without one
 * (erased) has no name words, and speaker labels still become roles. A
 * damaged record fails closed (withheld). */
void cs__redact_init(cs__redact *rd, const cs_caller *c, cs_reader *r, uint64_t patient_id);

/* The speaker label to show: unchanged when off. */
json_t *cs__redact_speaker(const cs__redact *rd, cs_str speaker, int role);
/* The same as a string (valid while rd and speaker are). */
cs_str cs__redact_speaker_str(const cs__redact *rd, cs_str speaker, int role);

/* A text to show as a JSON string, name words replaced. */
json_t *cs__redact_json(const cs__redact *rd, cs_str text);
/* The same as a string: text itself, or its copy in b with name words
 * replaced (valid while text and b are). 0, or CS_ENOMEM. */
int cs__redact_str(const cs__redact *rd, cs_str text, cs_buf *b, cs_str *out);

/* Name words of text[0..len), in order, merged into runs (words separated
 * only by spaces or hyphens). *out is malloc'ed (NULL when none). Returns
 * the count, or -1 when out of memory. */
long cs__redact_find(const cs__redact *rd, const char *text, size_t len, cs__brange **out);

/* Appends text[from..to) to out, the name ranges (from cs__redact_find on
 * the whole text) that touch it written as the pseudonym once, the rest
 * HTML-escaped when html. */
void cs__redact_write(const cs__redact *rd, const char *text, size_t from, size_t to,
                      const cs__brange *names, size_t nnames, int html, cs_buf *out);

/* Appends text[from..to) of text[0..len) with name words replaced (plain
 * text). Out-of-memory is reported through out->err. */
void cs__redact_append(const cs__redact *rd, const char *text, size_t len, size_t from, size_t to,
                       cs_buf *out);

/* Whether the analyzer term (stem) term[0..len) is the stem of a word of the
 * person's name: such a term matches nothing in their conversations for an
 * analyst. 0 when off. */
int cs__redact_blocks(const cs__redact *rd, const char *term, size_t len);

/* Whether the folded surface word w[0..n) is a word of the person's name
 * (0 when off). */
int cs__redact_is_name_word(const cs__redact *rd, const char *w, size_t n);

/* Analysts see speakers as pseudonyms and roles, never names: a speaker
 * filter (the speaker parameter, speaker: in the query) is refused with 400
 * (bad_parameter, bad_query). Returns 0, or -1 with err filled. */
struct cs__query;
int cs__redact_check_filters(const cs_caller *c, const char *speaker, const struct cs__query *q,
                             cs_engine_error *err);

/* The pseudonym of a person (query/pseudonym.c, the only place they are
 * made): "Persona " and 13 base32 characters of HMAC-SHA256(secret, id),
 * e.g. "Persona 3k9x2mq7d1t0v". buf needs 32 bytes. */
void cs__pseudonym(uint64_t patient_id, char buf[32]);

#endif
