/*
 * Checksums of source records (see writer.h): the same fields in the same
 * order as `verify` reads them from the stores.
 */
#include "writer.h"

#include <string.h>

static size_t slen(const char *s) {
  return s ? strlen(s) : 0;
}

uint64_t cs_conv_in_checksum(const cs_conv_in *c) {
  uint64_t h = cs_checksum_init();
  h = cs_checksum_i64(h, (int64_t)c->id);
  h = cs_checksum_i64(h, (int64_t)c->patient_id);
  h = cs_checksum_i64(h, (int64_t)c->owner_id);
  const char *fields[] = {c->title, c->description, c->language, c->audio_uri, c->status};
  for (size_t i = 0; i < 5; i++)
    h = cs_checksum_str(h, fields[i] ? fields[i] : "", slen(fields[i]));
  h = cs_checksum_i64(h, c->duration_ms);
  h = cs_checksum_i64(h, c->created_at_ms);
  h = cs_checksum_i64(h, c->updated_at_ms);
  h = cs_checksum_i64(h, (int64_t)c->nturns);
  for (size_t i = 0; i < c->nturns; i++) {
    const cs_turn_in *t = &c->turns[i];
    h = cs_checksum_i64(h, t->seq);
    h = cs_checksum_str(h, t->speaker ? t->speaker : "", slen(t->speaker));
    h = cs_checksum_str(h, t->role ? t->role : "", slen(t->role));
    h = cs_checksum_i64(h, t->start_ms);
    h = cs_checksum_i64(h, t->end_ms);
    h = cs_checksum_str(h, t->text ? t->text : "", t->text ? t->text_len : 0);
  }
  return h;
}
uint64_t cs_patient_in_checksum(const cs_patient_in *p) {
  uint64_t h = cs_checksum_init();
  h = cs_checksum_i64(h, (int64_t)p->id);
  h = cs_checksum_i64(h, (int64_t)p->owner_id);
  const char *fields[] = {p->name, p->email, p->phone};
  for (size_t i = 0; i < 3; i++)
    h = cs_checksum_str(h, fields[i] ? fields[i] : "", slen(fields[i]));
  h = cs_checksum_i64(h, p->created_at_ms);
  h = cs_checksum_i64(h, p->updated_at_ms);
  return h;
}
