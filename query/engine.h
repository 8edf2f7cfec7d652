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
 *     phone), and people's names are pseudonymised ("Persona 7f3a2c");
 *   - CS_CALLER_ADMIN sees everything.
 * Thread safety: one cs_engine serves many threads at once.
 */
#ifndef CS_ENGINE_H
#define CS_ENGINE_H

#include <jansson.h>
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
} cs_search_params;

/* GET /v1/search. {"total", "took_ms", "next_cursor", "hits": [...]} */
int cs_engine_search(cs_engine *e, const cs_caller *c, const cs_search_params *p, json_t **out,
                     cs_engine_error *err);

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

/* Token estimate used for max_tokens: one token per 3 characters (code
 * points), rounded up. LLM tokenizers average about 4 characters per token
 * on Spanish prose, so the estimate errs on the safe side. */
uint32_t cs_qa_tokens(const char *s, size_t len);

/* GET /v1/health body parts from the index: document counts, checkpoint,
 * generation, last commit time. */
int cs_engine_health(cs_engine *e, json_t **out);

#endif
