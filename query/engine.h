/*
 * The query engine: everything the HTTP layer may ask of the index. It owns
 * the read side (one LMDB read view per call), the query language, ranking,
 * highlighting, ordering and document-level security. The HTTP layer never
 * sees postings: it validates and bounds parameters, authenticates the
 * caller, and serializes the JSON documents returned here.
 *
 * Every function builds its answer as a jansson object in the shape of the
 * API contract (../shared/DESIGN.md, "HTTP API contract (v1)") and returns 0,
 * or fills *err (HTTP status, code, message) and returns -1. Objects returned
 * in *out belong to the caller (json_decref).
 *
 * Document-level security is enforced here, for every function:
 *   - CS_CALLER_PORTAL sees only people whose owner is caller->employee_id
 *     and their conversations, in hits, totals, snippets, suggestions and
 *     errors alike (someone else's conversation is "not found", exactly like
 *     a missing one);
 *   - CS_CALLER_ANALYST sees everything but never contact fields (email,
 *     phone), and never a real name: people's names are pseudonymised
 *     ("Persona 3k9x2mq7d1t0v"), and so are speaker labels and name words in every
 *     turn, title and description shown (redact.h); their queries never
 *     match a word of a person's name in that person's conversations, and
 *     speaker filters are refused (400);
 *   - CS_CALLER_ADMIN sees everything.
 * Thread safety: one cs_engine serves many threads at once.
 */
#ifndef CS_ENGINE_H
#define CS_ENGINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cs_engine cs_engine;

typedef enum cs_caller_role {
  CS_CALLER_ADMIN = 1,
  CS_CALLER_ANALYST = 2,
  CS_CALLER_PORTAL = 3,
} cs_caller_role;

typedef struct cs_caller {
  cs_caller_role role;
  uint64_t employee_id; /* portal callers: whose people they see (0: nobody) */
} cs_caller;

typedef struct cs_engine_error {
  int status;        /* HTTP status: 400, 403, 404, 500, 503 ... */
  char code[32];     /* machine code: "bad_query", "not_found", "bad_cursor" ... */
  char message[256]; /* one sentence for a person */
} cs_engine_error;

/* Bounds the HTTP layer enforces before calling (the engine re-checks). */
#define CS_QUERY_MAX_BYTES 1024 /* q parameter */
#define CS_QUERY_MAX_TERMS 32   /* words/operators in one query */
#define CS_PAGE_MAX 100         /* limit */
#define CS_CURSOR_MAX 512       /* cursor length */

/* Opens the index in dir (read-only). Picks up new commits by itself and
 * reopens when a reindex or compaction swaps the generation. */
int cs_engine_open(const char *index_dir, cs_engine **out, cs_engine_error *err);
void cs_engine_close(cs_engine *e);

/* The most the owners' copies of their words and terms (what a portal
 * caller's typo and prefix expansions walk, one per owner) hold together,
 * in bytes: the least recently used owner's go first, and an owner without
 * one reads the index. Default CS_ENGINE_OWNER_CACHE_DEFAULT; 0: none kept.
 * Call before serving. */
#define CS_ENGINE_OWNER_CACHE_DEFAULT ((size_t)96 << 20)
void cs_engine_set_owner_cache(cs_engine *e, size_t bytes);

/* The default Spanish thesaurus (Debian's mythes-es). */
#define CS_THESAURUS_DEFAULT "/usr/share/mythes/th_es_ES_v2.dat"
/* Loads a MyThes thesaurus (path NULL or "": none) whose synonyms expand
 * the words of Q&A questions (a synonym counts less than the word itself).
 * Returns the number of headwords; 0 when it cannot be read, which is
 * logged once (a warning) and leaves questions unexpanded. Call before
 * serving. */
size_t cs_engine_load_thesaurus(cs_engine *e, const char *path);

/* The default hunspell dictionary (Debian's hunspell-es), without .aff/.dic. */
#define CS_LEMMAS_DEFAULT "/usr/share/hunspell/es_ES"
/* Loads a hunspell dictionary (PREFIX.aff, PREFIX.dic; NULL or "": none)
 * whose lemmas expand the words of Q&A questions ("puso" -> poner).
 * Returns 0, or -1 when it cannot be read (logged once: questions are not
 * expanded with lemmas). Call before serving. */
int cs_engine_load_lemmas(cs_engine *e, const char *prefix);

enum { CS_SORT_RELEVANCE = 0, CS_SORT_DATE_ASC, CS_SORT_DATE_DESC };
enum { CS_ANY_ROLE = -1 };

typedef struct cs_search_params {
  const char *q;                         /* UTF-8; search-box words and/or analyst syntax */
  uint32_t limit;                        /* 1..CS_PAGE_MAX */
  const char *cursor;                    /* NULL for the first page */
  uint64_t patient, owner, conversation; /* 0: no filter */
  int64_t from_ms, to_ms;                /* conversation created_at range; INT64_MIN/MAX: open */
  const char *speaker;                   /* NULL: any */
  int role;                              /* CS_ROLE_* from records.h, or CS_ANY_ROLE */
  int sort;                              /* CS_SORT_* */
  uint32_t timeout_ms;                   /* work budget; past it, partial results are flagged */
  int no_snippets; /* 1: the same hits, totals and cursor, but no snippets ("snippets": []) and
                      titles without highlights (benchmarks: the work ranking alone costs) */
} cs_search_params;

/* GET /v1/search. {"total", "took_ms", "next_cursor", "hits": [...]} */
int cs_engine_search(cs_engine *e, const cs_caller *c, const cs_search_params *p, json_t **out,
                     cs_engine_error *err);
/* The same answer as compact JSON text, written without a tree (what the
 * HTTP API sends; cs_engine_search parses it): *out malloc'd and
 * NUL-terminated, *len its length, reals with `precision` (1..17)
 * significant digits. */
int cs_engine_search_text(cs_engine *e, const cs_caller *c, const cs_search_params *p,
                          int precision, char **out, size_t *len, cs_engine_error *err);

/* GET /v1/suggest. {"suggestions": [{"text", "kind": "word"|"person", "id"?}]} */
int cs_engine_suggest(cs_engine *e, const cs_caller *c, const char *q, uint32_t limit, json_t **out,
                      cs_engine_error *err);

enum { CS_PEOPLE_NAME = 0, CS_PEOPLE_NAME_DESC, CS_PEOPLE_INTERACTION, CS_PEOPLE_RECENT };

/* GET /v1/patients. {"items": [...], "next_cursor"} */
int cs_engine_patients(cs_engine *e, const cs_caller *c, int sort, const char *q, uint32_t limit,
                       const char *cursor, json_t **out, cs_engine_error *err);

/* GET /v1/conversations/{id}[?q=]. The stored transcript, optionally
 * highlighted; 404 for a conversation the caller may not see. */
int cs_engine_conversation(cs_engine *e, const cs_caller *c, uint64_t id, const char *q,
                           json_t **out, cs_engine_error *err);

typedef struct cs_qa_params {
  const char *question;     /* UTF-8, <= CS_QUERY_MAX_BYTES */
  uint64_t conversation_id; /* 0: any the caller may see (or the person's) */
  uint64_t patient_id;      /* 0: any */
  uint32_t k;               /* passages wanted, 1..CS_QA_K_MAX (default 5) */
  uint32_t max_tokens;      /* budget of the context string, 1..CS_QA_TOKENS_MAX */
} cs_qa_params;

#define CS_QA_K_MAX 50
#define CS_QA_TOKENS_MAX 32768

/* POST /v1/qa/retrieve. {"passages": [{"conversation_id", "seqs": [first,
 * last], "speakers", "start_ms", "end_ms", "text", "score"}], "context"}.
 * The context numbers its citations [1], [2]... with conversation, time
 * range and speakers, and its estimated token count (cs_qa_tokens) never
 * exceeds max_tokens. */
int cs_engine_qa_retrieve(cs_engine *e, const cs_caller *c, const cs_qa_params *p, json_t **out,
                          cs_engine_error *err);

/* GET /v1/conversations/{id}/checklist. {"conversation_id", "items":
 * [{"relevant_point_id", "text", "category", "covered", "score",
 * "passage"|null}]}. */
int cs_engine_checklist(cs_engine *e, const cs_caller *c, uint64_t conversation_id, json_t **out,
                        cs_engine_error *err);

/* Groupings of analytics. */
enum { CS_GROUP_MONTH = 0, CS_GROUP_CATEGORY, CS_GROUP_ROLE, CS_GROUP_OWNER };

/* POST /v1/analytics. Counts the conversations matching p->q under the
 * filters of p (patient, owner, conversation, from_ms/to_ms, speaker, role;
 * limit, cursor and sort are ignored) that the caller may see, and their
 * matching turns, per bucket of group_by (CS_GROUP_*):
 * {"group_by", "buckets": [{"key", "conversations", "turns"}], "total":
 * {"conversations", "turns"}, "took_ms"[, "timed_out": true]}.
 * Matching is that of cs_engine_search (a conversation matches as a search
 * hit would, without relaxation; its matching turns are those holding a
 * match and passing the turn filters; an empty q matches everything).
 * Buckets are sorted by key, the null-key bucket last; see analytics.c for
 * what each key is. p->timeout_ms bounds the work (0: none): past it the
 * counts are partial and "timed_out" is true.
 * Errors: 400 bad_query / query_too_long / bad_parameter, 500, 503. */
int cs_engine_analytics(cs_engine *e, const cs_caller *c, const cs_search_params *p, int group_by,
                        json_t **out, cs_engine_error *err);

/* Facets of a search (GET /v1/search?facets=): CS_FACET_* bits. */
enum { CS_FACET_MONTH = 1, CS_FACET_OWNER = 2, CS_FACET_CATEGORY = 4, CS_FACET_ROLE = 8 };
/* The CS_FACET_* bit of a facet name ("month", "owner", "category",
 * "role"), 0 for any other. */
int cs_facet_bit(const char *name, size_t len);
/* {"month": [{"key", "count"}], ...[, "timed_out": true]}: for each facet
 * asked in `which`, the conversations counted by cs_engine_analytics with
 * the same q and filters, grouped the same way (so the same matching and
 * security as the hits, without relaxation), as {key, count} in the order
 * of its buckets. p->timeout_ms bounds each facet. Errors are those of
 * cs_engine_analytics. */
int cs_engine_facets(cs_engine *e, const cs_caller *c, const cs_search_params *p, unsigned which,
                     json_t **out, cs_engine_error *err);

/* GET /v1/export: every matching turn the caller may see, as NDJSON, one
 * line per turn:
 *   {"conversation_id", "patient_id", "seq", "speaker", "role", "start_ms",
 *    "end_ms", "created_at", "text"}
 * in conversation id order, then seq order (analysts: names redacted as
 * everywhere, redact.h). Matching is that of
 * cs_engine_analytics.
 *
 * The stream is produced in resumable batches: each call of
 * cs_engine_export_next that needs more data takes its own short read view,
 * formats the next batch of lines (about 256 KiB) and remembers where it
 * stopped as (conversation id, seq), so no LMDB read transaction lives
 * longer than one batch however slowly the client reads, and memory stays
 * bounded whatever the number of matches. A conversation that changes
 * between batches is re-evaluated in the newer view from where the stream
 * stopped; one that became invisible to the caller is skipped. */
typedef struct cs_export cs_export;

/* Formats of an export: NDJSON lines as above, or CSV (RFC 4180: a header
 * row naming the members above, in that order, then one row per turn, CRLF
 * line ends, null as an empty field). */
enum { CS_EXPORT_NDJSON = 0, CS_EXPORT_CSV };

/* Validates p and the query (p->q, filters as for analytics; limit, cursor,
 * sort and timeout_ms are ignored) and prepares the stream. e and c must
 * outlive the stream; p's strings are copied. Returns 0 with *out set, or
 * -1 with err filled (400 bad_query / query_too_long / bad_parameter, 503). */
int cs_engine_export_open(cs_engine *e, const cs_caller *c, const cs_search_params *p, int format,
                          cs_export **out, cs_engine_error *err);
/* Copies the next bytes of the stream into buf[0..cap) (cap >= 1): as many
 * as are ready, lines possibly split across calls. *len 0 means the stream
 * is complete. Returns 0, or -1 with err filled (500/503) when the index
 * cannot be read: the stream is then broken and must be abandoned. */
int cs_engine_export_next(cs_export *x, char *buf, size_t cap, size_t *len, cs_engine_error *err);
/* Lines produced so far. */
uint64_t cs_engine_export_lines(const cs_export *x);
void cs_engine_export_close(cs_export *x);

/* GET /v1/admin/synonyms: {"sets": [...]} (see query/synonyms.h; no sets
 * when none were ever defined). */
int cs_engine_synonyms_get(cs_engine *e, json_t **out, cs_engine_error *err);
/* PUT /v1/admin/synonyms: replaces every set with those of doc, stored in
 * the index directory and applied from the next query on. *out gets the
 * stored document. Errors: 400 bad_synonyms (message says which set and
 * word), 503 when the file cannot be written. */
int cs_engine_synonyms_put(cs_engine *e, const json_t *doc, json_t **out, cs_engine_error *err);

/* Token estimate used for max_tokens: one token per 3 characters (code
 * points), rounded up. LLM tokenizers average about 4 characters per token
 * on Spanish prose, so the estimate errs on the safe side. */
uint32_t cs_qa_tokens(const char *s, size_t len);

/* The secret pseudonyms are keyed with (query/pseudonym.c): analysts see a
 * person as "Persona " and 13 base32 characters of HMAC-SHA256(secret, id).
 * Set it once, before serving; until then a random per-process secret is
 * used. Returns -1 when len is outside MIN..MAX. */
#define CS_PSEUDONYM_SECRET_MIN 16
#define CS_PSEUDONYM_SECRET_MAX 1024
int cs_pseudonym_set_secret(const void *secret, size_t len);

/* GET /v1/health body parts from the index: document counts, checkpoint,
 * generation, last commit time. */
int cs_engine_health(cs_engine *e, json_t **out);

#endif
