/*
 * People and their events in the writer: a person's record and indexed
 * name, deletion and erasure (every trace of the person, refused from then
 * on), and events folded into interaction scores, each applied once.
 */
#include "writer_int.h"
#include "corrupt.h"

#include "errors.h"
#include "varint.h"

#include <stdlib.h>
#include <string.h>

static int get_patient(cs_writer *w, uint64_t id, cs_patient *p, cs_buf *copy) {
  int rc = cs__wr_get_copy(w, CS_T_PATIENT, id, copy);
  uint8_t key[8];
  cs_key_u64(key, id);
  return rc ? rc
            : cs_corrupt_rc(cs_patient_decode(copy->p, copy->len, p), CS_T_PATIENT, sl(key, 8));
}

static int remove_patient_record(cs_writer *w, uint64_t id, const char *what) {
  cs_buf copy;
  cs_buf_init(&copy);
  cs_patient p;
  int rc = get_patient(w, id, &p, &copy);
  if (rc == 0) rc = cs__wr_set_owner(w, p.owner_id);
  if (rc == 0 && p.name_docid)
    rc = cs__wr_remove_doc(w, p.name_docid, "es", p.name.p, p.name.len, CS_DOC_NAME);
  if (rc == 0) {
    uint8_t key[16];
    cs_key_u64u64(key, p.owner_id, id);
    rc = cs_del(w->txn, CS_T_OWNER, sl(key, 16));
    if (rc == CS_ENOTFOUND) rc = 0;
    cs_key_u64(key, id);
    if (!rc) rc = cs_del(w->txn, CS_T_PATIENT, sl(key, 8));
  }
  /* Damaged on the way (reported): removed without decoding it. */
  if (rc == CS_ECORRUPT) rc = cs__wr_heal_patient(w, id, what, NULL, NULL);
  cs_buf_free(&copy);
  return rc;
}

/* Appends the be64 b of every key (be64 a, be64 b) of table t to out. */
static int second_ids(cs_writer *w, cs_table t, uint64_t a, cs_buf *out) {
  uint8_t pfx[8];
  cs_key_u64(pfx, a);
  cs_cursor *cur;
  int rc = cs_cursor_open(w->txn, t, &cur);
  if (rc) return rc;
  cs_slice k, v;
  for (rc = cs_cursor_seek(cur, sl(pfx, 8), &k, &v); rc == 0; rc = cs_cursor_next(cur, &k, &v)) {
    if (k.len != 16 || memcmp(k.data, pfx, 8) != 0) break;
    cs_buf_bytes(out, (const uint8_t *)k.data + 8, 8);
  }
  cs_cursor_close(cur);
  if (rc == CS_ENOTFOUND) rc = 0;
  return rc ? rc : out->err;
}

/* Moves the statistics of the person's conversations to owner `to` from
 * where they count: the person's previous owner when known, else the
 * owner each conversation names. */
static int move_conversations(cs_writer *w, uint64_t patient, int known, uint64_t was,
                              uint64_t to) {
  /* The conversation ids first (moving writes to other tables). */
  cs_buf x;
  cs_buf_init(&x);
  int rc = second_ids(w, CS_T_PCONV, patient, &x);
  cs_buf copy;
  cs_buf_init(&copy);
  for (size_t i = 0; !rc && i + 8 <= x.len; i += 8) {
    cs_conv c;
    rc = cs__wr_get_copy(w, CS_T_CONV, cs_be64_get(x.p + i), &copy);
    if (!rc) rc = cs_corrupt_rc(cs_conv_decode(copy.p, copy.len, &c), CS_T_CONV, sl(x.p + i, 8));
    /* Damaged (reported): its counts stay where they are until its next
     * change rebuilds it. */
    if (rc == CS_ENOTFOUND || rc == CS_ECORRUPT) {
      rc = 0;
      continue;
    }
    if (!rc) rc = cs__wr_own_move(w, &c, known ? was : c.owner_id, to);
  }
  cs_buf_free(&copy);
  cs_buf_free(&x);
  return rc;
}

int cs_writer_put_patient(cs_writer *w, const cs_patient_in *in, unsigned *flags_out) {
  unsigned flags = 0;
  if (flags_out) *flags_out = 0;
  if (cs__wr_erased(w, in->id)) {
    if (flags_out) *flags_out = CS_PUT_ERASED;
    return 0;
  }
  uint64_t sum = cs_patient_in_checksum(in);
  cs_buf copy, f[3];
  cs_buf_init(&copy);
  for (int i = 0; i < 3; i++)
    cs_buf_init(&f[i]);
  cs_patient old;
  int rc = get_patient(w, in->id, &old, &copy);
  if (rc == 0 && old.checksum == sum) {
    flags |= CS_PUT_UNCHANGED;
    rc = 0;
    goto out;
  }
  /* No docid left for the name (see cs_writer_put_conversation). */
  if (in->name && *in->name && w->stats.next_docid >= CS_DOCID_END) {
    rc = CS_ELIMIT;
    goto out;
  }
  if (rc == 0 && old.owner_id != in->owner_id) flags |= CS_PUT_OWNER_CHANGED;
  int known = rc == 0;
  uint64_t was = known ? old.owner_id : 0;
  if (rc == CS_ECORRUPT) { /* reported; the source row rebuilds it */
    rc = cs__wr_heal_patient(w, in->id, CS__HEAL_REBUILT, &was, &known);
    if (!rc && known && was != in->owner_id) flags |= CS_PUT_OWNER_CHANGED;
  } else {
    rc = rc == 0 ? remove_patient_record(w, in->id, CS__HEAL_REBUILT) : rc == CS_ENOTFOUND ? 0 : rc;
  }
  /* The person's conversations count for their owner from now on. */
  if (!rc) rc = move_conversations(w, in->id, known, was, in->owner_id);
  if (rc) goto out;
  cs_patient p;
  memset(&p, 0, sizeof p);
  p.id = in->id;
  p.owner_id = in->owner_id;
  const char *name = cs__wr_clean(&f[0], in->name, cs__slen(in->name), CS_FIELD_MAX, &flags);
  const char *email = cs__wr_clean(&f[1], in->email, cs__slen(in->email), CS_FIELD_MAX, &flags);
  const char *phone = cs__wr_clean(&f[2], in->phone, cs__slen(in->phone), CS_FIELD_MAX, &flags);
  p.name = (cs_str){name, strlen(name)};
  p.email = (cs_str){email, strlen(email)};
  p.phone = (cs_str){phone, strlen(phone)};
  p.created_at_ms = in->created_at_ms;
  p.updated_at_ms = in->updated_at_ms;
  p.checksum = sum;
  rc = cs__wr_set_owner(w, p.owner_id);
  if (rc) goto out;
  if (p.name.len) {
    p.name_docid = w->stats.next_docid++;
    rc = cs__wr_index_text(w, p.name_docid, "es", name, p.name.len, CS_DOC_NAME, 0, p.id, -1, NULL,
                           NULL);
    if (rc) goto out;
  }
  cs_buf_reset(&w->buf);
  cs_patient_encode(&w->buf, &p);
  uint8_t key[16];
  cs_key_u64(key, p.id);
  rc = cs__wr_put_buf(w, CS_T_PATIENT, key, 8, &w->buf);
  if (rc) goto out;
  cs_key_u64u64(key, p.owner_id, p.id);
  rc = cs_put(w->txn, CS_T_OWNER, sl(key, 16), sl("", 0));
  if (!rc) rc = cs__wr_outbox(w, CS_OUT_PUT, CS_OUT_PATIENT, p.id);
out:
  cs_buf_free(&copy);
  for (int i = 0; i < 3; i++)
    cs_buf_free(&f[i]);
  if (flags_out) *flags_out = flags;
  return rc;
}

static int delete_pconv(cs_writer *w, const uint8_t *key) {
  return cs_writer_delete_conversation(w, cs_be64_get(key + 8));
}

int cs_writer_delete_patient(cs_writer *w, uint64_t id) {
  int rc = cs__wr_delete_prefix(w, CS_T_PCONV, id, delete_pconv);
  if (!rc) rc = remove_patient_record(w, id, CS__HEAL_REMOVED);
  if (rc == CS_ENOTFOUND) rc = 0;
  if (!rc) rc = cs__wr_outbox(w, CS_OUT_DELETE, CS_OUT_PATIENT, id);
  return rc;
}

int cs_writer_erase_patient(cs_writer *w, uint64_t id, int64_t at_ms) {
  int rc = cs_writer_delete_patient(w, id);
  if (!rc) rc = cs__wr_delete_prefix(w, CS_T_EVENT, id, NULL);
  if (!rc) rc = cs__wr_delete_prefix(w, CS_T_INTER, id, NULL);
  if (rc) return rc;
  uint8_t key[8], val[8];
  cs_key_u64(key, id);
  cs_be64_put(val, (uint64_t)at_ms);
  return cs_put(w->txn, CS_T_ERASED, sl(key, 8), sl(val, 8));
}

/* ---------------------------------------------------------------- events */

static int recount_interaction(cs_writer *w, uint64_t patient, uint64_t actor);

int cs_writer_put_event(cs_writer *w, const cs_event_in *in, unsigned *flags_out) {
  if (flags_out) *flags_out = 0;
  int type = cs_event_type_parse(in->type);
  if (type == CS_EV_UNKNOWN || in->patient_id == 0) {
    if (flags_out) *flags_out = CS_PUT_SKIPPED;
    return 0;
  }
  if (cs__wr_erased(w, in->patient_id)) {
    if (flags_out) *flags_out = CS_PUT_ERASED;
    return 0;
  }
  if (type == CS_EV_ERASED) return cs_writer_erase_patient(w, in->patient_id, in->recorded_at_ms);
  uint8_t key[16];
  cs_key_u64u64(key, in->patient_id, in->position);
  cs_slice v;
  int rc = cs_get(w->txn, CS_T_EVENT, sl(key, 16), &v);
  if (rc == 0) {
    if (flags_out) *flags_out = CS_PUT_DUPLICATE;
    return 0;
  }
  if (rc != CS_ENOTFOUND) return rc;
  cs_event e = {(uint8_t)type, in->patient_id, in->actor_id, in->conversation_id,
                in->recorded_at_ms};
  cs_buf_reset(&w->buf);
  cs_event_encode(&w->buf, &e);
  rc = cs__wr_put_buf(w, CS_T_EVENT, key, 16, &w->buf);
  if (rc) return rc;
  if (!in->actor_id) return 0;
  cs_key_u64u64(key, in->patient_id, in->actor_id);
  cs_inter x = {0, 0, INT64_MIN};
  rc = cs_get(w->txn, CS_T_INTER, sl(key, 16), &v);
  if (rc == 0) rc = cs_corrupt_rc(cs_inter_decode(v.data, v.len, &x), CS_T_INTER, sl(key, 16));
  /* Damaged (reported): counted again from the events, this one included. */
  if (rc == CS_ECORRUPT) return recount_interaction(w, in->patient_id, in->actor_id);
  if (rc && rc != CS_ENOTFOUND) return rc;
  x.events++;
  x.score_ref += cs_interaction_ref(cs_interaction_weight(type), in->recorded_at_ms);
  if (in->recorded_at_ms > x.last_at_ms) x.last_at_ms = in->recorded_at_ms;
  cs_buf_reset(&w->buf);
  cs_inter_encode(&w->buf, &x);
  return cs__wr_put_buf(w, CS_T_INTER, key, 16, &w->buf);
}

/* Recomputes the interaction of `actor` with `patient` from the events the
 * index still holds (exact, unlike subtracting a decayed float), or removes
 * it when none is left. */
static int recount_interaction(cs_writer *w, uint64_t patient, uint64_t actor) {
  uint8_t pfx[8], key[16];
  cs_key_u64(pfx, patient);
  cs_inter x = {0, 0, INT64_MIN};
  cs_cursor *cur;
  int rc = cs_cursor_open(w->txn, CS_T_EVENT, &cur);
  if (rc) return rc;
  cs_slice k, v;
  for (rc = cs_cursor_seek(cur, sl(pfx, 8), &k, &v);
       rc == 0 && k.len == 16 && memcmp(k.data, pfx, 8) == 0; rc = cs_cursor_next(cur, &k, &v)) {
    cs_event e;
    /* A damaged event (reported) is left out: the interaction is then
     * short of it until a reindex, but the stream goes on. */
    if (cs_corrupt_rc(cs_event_decode(v.data, v.len, &e), CS_T_EVENT, k)) continue;
    if (e.actor_id != actor) continue;
    x.events++;
    x.score_ref += cs_interaction_ref(cs_interaction_weight(e.type), e.recorded_at_ms);
    if (e.recorded_at_ms > x.last_at_ms) x.last_at_ms = e.recorded_at_ms;
  }
  cs_cursor_close(cur);
  if (rc && rc != CS_ENOTFOUND) return rc;
  cs_key_u64u64(key, patient, actor);
  if (!x.events) {
    rc = cs_del(w->txn, CS_T_INTER, sl(key, 16));
    return rc == CS_ENOTFOUND ? 0 : rc;
  }
  cs_buf_reset(&w->buf);
  cs_inter_encode(&w->buf, &x);
  return cs__wr_put_buf(w, CS_T_INTER, key, 16, &w->buf);
}

/* Recounts every interaction of `patient`. */
static int recount_all(cs_writer *w, uint64_t patient) {
  cs_buf actors;
  cs_buf_init(&actors);
  int rc = second_ids(w, CS_T_INTER, patient, &actors);
  for (size_t i = 0; !rc && i + 8 <= actors.len; i += 8)
    rc = recount_interaction(w, patient, cs_be64_get(actors.p + i));
  cs_buf_free(&actors);
  return rc;
}

int cs_writer_delete_events(cs_writer *w, const uint64_t *positions, size_t n, size_t *deleted) {
  *deleted = 0;
  if (n == 0) return 0;
  /* Events are keyed by (person, position): one pass over the table finds
   * the positions, then each is removed and its interaction recounted. */
  struct gone {
    uint64_t patient, position, actor_id;
  } *g = malloc(n * sizeof *g); /* positions are unique: at most n */
  size_t ng = 0;
  if (!g) return CS_ENOMEM;
  cs_cursor *cur;
  int rc = cs_cursor_open(w->txn, CS_T_EVENT, &cur);
  if (rc) {
    free(g);
    return rc;
  }
  cs_slice k, v;
  for (rc = cs_cursor_first(cur, &k, &v); rc == 0; rc = cs_cursor_next(cur, &k, &v)) {
    if (k.len != 16) continue;
    uint64_t pos = cs_be64_get((const uint8_t *)k.data + 8);
    if (!bsearch(&pos, positions, n, sizeof *positions, cs_cmp_u64)) continue;
    cs_event e;
    /* Damaged (reported): whose interaction it counted in is unknown, so
     * all of the person's are counted again. */
    if (cs_corrupt_rc(cs_event_decode(v.data, v.len, &e), CS_T_EVENT, k)) e.actor_id = UINT64_MAX;
    if (ng == n) break;
    g[ng++] = (struct gone){cs_be64_get(k.data), pos, e.actor_id};
  }
  cs_cursor_close(cur);
  if (rc == CS_ENOTFOUND) rc = 0;
  for (size_t i = 0; !rc && i < ng; i++) {
    uint8_t key[16];
    cs_key_u64u64(key, g[i].patient, g[i].position);
    rc = cs_del(w->txn, CS_T_EVENT, sl(key, 16));
    if (!rc && g[i].actor_id == UINT64_MAX) rc = recount_all(w, g[i].patient);
    if (!rc && g[i].actor_id && g[i].actor_id != UINT64_MAX)
      rc = recount_interaction(w, g[i].patient, g[i].actor_id);
    if (!rc) (*deleted)++;
  }
  free(g);
  return rc;
}
