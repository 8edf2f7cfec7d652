/*
 * Damaged stored data (see corrupt.h).
 */
#include "corrupt.h"

#include "oblock.h"

#include "errors.h"
#include "log.h"
#include "postings.h"
#include "textpack.h"
#include "passblock.h"
#include "turnblock.h"
#include "varint.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Distinct records are told apart by a 64-bit hash of (table, key) in an
 * open-addressing set twice the size of what it names; 0 marks a free slot. */
#define SLOTS (2 * CS_CORRUPT_NAMED)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t seen[SLOTS];
static size_t nseen;
static int overflow_logged;
static atomic_uint_fast64_t per_table[CS_T__COUNT];
static atomic_uint_fast64_t reads;

static uint64_t hash(cs_table t, cs_slice key) {
  uint64_t h = 1469598103934665603ULL ^ (uint64_t)t;
  const uint8_t *p = key.data;
  for (size_t i = 0; i < key.len; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h ? h : 1;
}

/* 1 when (t, key) is new and now remembered, 0 when seen before, -1 when
 * the set is full. */
static int remember(uint64_t h) {
  size_t i = (size_t)(h % SLOTS);
  while (seen[i]) {
    if (seen[i] == h) return 0;
    i = (i + 1) % SLOTS;
  }
  if (nseen >= CS_CORRUPT_NAMED) return -1;
  seen[i] = h;
  nseen++;
  return 1;
}

int cs_corrupt(cs_table t, cs_slice key) {
  if ((unsigned)t >= CS_T__COUNT) t = CS_T_META;
  atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
  uint64_t h = hash(t, key);
  pthread_mutex_lock(&lock);
  int fresh = remember(h), say_full = 0;
  if (fresh < 0 && !overflow_logged) overflow_logged = say_full = 1;
  pthread_mutex_unlock(&lock);
  if (fresh > 0) {
    atomic_fetch_add_explicit(&per_table[t], 1, memory_order_relaxed);
    char name[160];
    cs_log(CS_LOG_ERROR,
           "damaged index record: %s cannot be decoded; it is skipped where it is only met, "
           "and requests for it fail (run `convsearch-indexer verify`, then `reindex`)",
           cs_corrupt_name(t, key, name, sizeof name));
  } else if (say_full) {
    cs_log(CS_LOG_ERROR,
           "more than %d damaged index records: no more are named or counted (run "
           "`convsearch-indexer verify`)",
           CS_CORRUPT_NAMED);
  }
  return CS_ECORRUPT;
}

int cs_corrupt_rc(int rc, cs_table t, cs_slice key) {
  return rc == CS_ECORRUPT ? cs_corrupt(t, key) : rc;
}

uint64_t cs_corrupt_records(void) {
  uint64_t n = 0;
  for (int t = 0; t < CS_T__COUNT; t++)
    n += atomic_load_explicit(&per_table[t], memory_order_relaxed);
  return n;
}

uint64_t cs_corrupt_records_in(cs_table t) {
  return (unsigned)t < CS_T__COUNT ? atomic_load_explicit(&per_table[t], memory_order_relaxed) : 0;
}

uint64_t cs_corrupt_reads(void) {
  return atomic_load_explicit(&reads, memory_order_relaxed);
}

void cs_corrupt_reset(void) {
  pthread_mutex_lock(&lock);
  memset(seen, 0, sizeof seen);
  nseen = 0;
  overflow_logged = 0;
  for (int t = 0; t < CS_T__COUNT; t++)
    atomic_store(&per_table[t], 0);
  atomic_store(&reads, 0);
  pthread_mutex_unlock(&lock);
}

const char *cs_corrupt_kind(cs_table t) {
  static const char *const kinds[CS_T__COUNT] = {
      [CS_T_META] = "meta",
      [CS_T_POST] = "postings",
      [CS_T_LEX] = "lexicon",
      [CS_T_WORDS] = "word",
      [CS_T_DOCS] = "document",
      [CS_T_CONV] = "conversation",
      [CS_T_TURN] = "turn",
      [CS_T_PATIENT] = "person",
      [CS_T_PCONV] = "person_conversation",
      [CS_T_EVENT] = "event",
      [CS_T_INTER] = "interaction",
      [CS_T_ERASED] = "erasure",
      [CS_T_POINT] = "point",
      [CS_T_OUTBOX] = "outbox",
      [CS_T_OWNER] = "owner",
      [CS_T_PASSAGE] = "passage",
      [CS_T_OLEX] = "owner_lexicon",
      [CS_T_OWORDS] = "owner_word",
      [CS_T_OSTATS] = "owner_statistics",
  };
  return (unsigned)t < CS_T__COUNT && kinds[t] ? kinds[t] : "unknown";
}

/* Up to 40 bytes of a string key, non-printable bytes as \xNN. */
static void quote(const uint8_t *p, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n && i < 40 && o + 5 < cap; i++) {
    if (p[i] >= 0x20 && p[i] != 0x7f && p[i] != '\'' && p[i] != '\\')
      out[o++] = (char)p[i];
    else
      o += (size_t)snprintf(out + o, cap - o, "\\x%02x", p[i]);
  }
  out[o] = 0;
}

char *cs_corrupt_name(cs_table t, cs_slice key, char *out, size_t cap) {
  const uint8_t *k = key.data;
  const char *kind = cs_corrupt_kind(t);
  char q[200];
  switch (t) {
  case CS_T_CONV:
  case CS_T_PATIENT:
  case CS_T_POINT:
  case CS_T_OUTBOX:
  case CS_T_ERASED:
  case CS_T_OSTATS:
    if (key.len != 8) break;
    snprintf(out, cap, "%s %" PRIu64, kind, cs_be64_get(k));
    return out;
  case CS_T_DOCS:
    if (key.len != 4) break;
    snprintf(out, cap, "document %" PRIu32, cs_be32_get(k));
    return out;
  case CS_T_TURN:
  case CS_T_PASSAGE:
    if (key.len != 12) break;
    snprintf(out, cap, "%s %" PRIu64 "/%" PRId32, kind, cs_be64_get(k),
             (int32_t)(cs_be32_get(k + 8) ^ (t == CS_T_TURN ? 0x80000000u : 0)));
    return out;
  case CS_T_EVENT:
  case CS_T_INTER:
  case CS_T_PCONV:
  case CS_T_OWNER:
    if (key.len != 16) break;
    snprintf(out, cap, "%s %" PRIu64 "/%" PRIu64, kind, cs_be64_get(k), cs_be64_get(k + 8));
    return out;
  case CS_T_POST:
    if (key.len < 6 || k[key.len - 5] != 0) break;
    quote(k, key.len - 5, q, sizeof q);
    snprintf(out, cap, "postings of '%s' from docid %" PRIu32, q, cs_be32_get(k + key.len - 4));
    return out;
  default:
    quote(k, key.len, q, sizeof q);
    snprintf(out, cap, "%s '%s'", kind, q);
    return out;
  }
  quote(k, key.len, q, sizeof q);
  snprintf(out, cap, "%s under a malformed key '%s'", kind, q);
  return out;
}

/* Every position of every document of a chunk. */
static int probe_chunk(cs_slice key, cs_slice val) {
  const uint8_t *k = key.data;
  if (key.len < 6 || k[key.len - 5] != 0) return CS_ECORRUPT;
  cs_chunk c;
  int rc = cs_chunk_decode(val.data, val.len, cs_be32_get(k + key.len - 4), &c);
  if (rc) return rc;
  uint32_t *pos = malloc(c.max_tf * sizeof *pos); /* max_tf <= CS_TF_MAX */
  if (!pos) return CS_ENOMEM;
  for (uint32_t i = 0; !rc && i < c.n; i++)
    rc = cs_chunk_positions(&c, i, pos, c.max_tf);
  free(pos);
  return rc;
}

/* cs_ochanges_each's callback for a list read only to be checked. */
static int no_change(void *ctx, int lex, const char *key, size_t len) {
  (void)ctx;
  (void)lex;
  (void)key;
  (void)len;
  return 0;
}

int cs_corrupt_probe(cs_table t, cs_slice key, cs_slice val, cs_buf *scratch) {
  union {
    cs_conv conv;
    cs_patient patient;
    cs_event event;
    cs_inter inter;
    cs_lex lex;
    cs_word word;
    cs_point point;
    cs_outop outop;
    cs_doc doc;
    cs_stats stats;
    cs_checkpoint checkpoint;
  } u;
  const void *p = val.data;
  size_t n = val.len;
  int rc = 0;
  switch (t) {
  case CS_T_META:
    if (key.len == 5 && !memcmp(key.data, "stats", 5)) {
      rc = cs_stats_decode(p, n, &u.stats);
      if (!rc) rc = cs_ochanges_each(&u.stats, no_change, NULL);
    }
    if (key.len == 10 && !memcmp(key.data, "checkpoint", 10))
      rc = cs_checkpoint_decode(p, n, &u.checkpoint);
    if (key.len == 5 && !memcmp(key.data, "zdict", 5))
      rc = cs_textpack_dict_load((cs_str){(const char *)p, n});
    if (key.len == 10 && !memcmp(key.data, "outbox_seq", 10) && n != 8) rc = CS_ECORRUPT;
    if (key.len == 6 && !memcmp(key.data, "docids", 6) && n != 4) rc = CS_ECORRUPT;
    return rc == CS_ELIMIT ? 0 : rc;
  case CS_T_POST:
    return probe_chunk(key, val);
  case CS_T_LEX:
    return cs_lex_decode(p, n, &u.lex);
  case CS_T_WORDS:
    return cs_word_decode(p, n, &u.word);
  case CS_T_DOCS:
    return cs_doc_decode(p, n, &u.doc);
  case CS_T_CONV:
    return cs_conv_decode(p, n, &u.conv);
  case CS_T_TURN:
    return cs_tblock_check(key, val, scratch);
  case CS_T_PATIENT:
    return cs_patient_decode(p, n, &u.patient);
  case CS_T_EVENT:
    return cs_event_decode(p, n, &u.event);
  case CS_T_INTER:
    return cs_inter_decode(p, n, &u.inter);
  case CS_T_ERASED:
    return n == 8 ? 0 : CS_ECORRUPT;
  case CS_T_POINT:
    return cs_point_decode(p, n, &u.point);
  case CS_T_OUTBOX:
    return cs_outop_decode(p, n, &u.outop);
  case CS_T_PASSAGE:
    /* Keyed (conversation, first passage): a block under any other key
     * is never read, and its passages would be numbered wrong. */
    if (key.len != 12 || cs_be32_get((const uint8_t *)key.data + 8) % CS_PBLOCK_PASSAGES)
      return CS_ECORRUPT;
    return cs_pblock_check(p, n);
  case CS_T_OLEX:
  case CS_T_OWORDS:
    return cs_oblock_check(t, key, val);
  case CS_T_OSTATS:
    rc = cs_ostats_decode(p, n, &u.stats);
    return rc ? rc : cs_ochanges_each(&u.stats, no_change, NULL);
  case CS_T_PCONV:
  case CS_T_OWNER:
    return n == 0 ? 0 : CS_ECORRUPT;
  default:
    return 0;
  }
}
