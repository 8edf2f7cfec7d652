/*
 * Term statistics a caller's results may depend on (see tstats.h).
 */
#include "tstats.h"

#include "errors.h"
#include "records.h"

#include <string.h>

void cs__tstats_init(cs__tstats *ts, cs_reader *r, const cs_caller *c) {
  ts->r = r;
  ts->own = c && c->role == CS_CALLER_PORTAL;
  ts->owner = ts->own ? c->employee_id : 0;
  ts->ost_rc = ts->own ? cs_reader_owner_stats(r, ts->owner, &ts->ost) : 0;
  ts->gst_rc = cs_reader_stats(r, &ts->gst);
  ts->version =
      ts->own ? (ts->ost_rc == 0 ? ts->ost.version : 0) : (ts->gst_rc == 0 ? ts->gst.version : 0);
}

int cs__ts_stats(const cs__tstats *ts, cs_stats *out) {
  if (ts->gst_rc) return ts->gst_rc;
  *out = ts->gst;
  if (!ts->own) return 0;
  if (ts->ost_rc) return ts->ost_rc;
  *out = ts->ost;
  out->next_docid = ts->gst.next_docid;
  return 0;
}

int cs__ts_lex(const cs__tstats *ts, const char *term, size_t len, cs_lex *out) {
  return ts->own ? cs_reader_owner_lex(ts->r, ts->owner, term, len, out)
                 : cs_reader_lex(ts->r, term, len, out);
}

int cs__ts_word(const cs__tstats *ts, const char *word, size_t len, cs_word *out) {
  return ts->own ? cs_reader_owner_word(ts->r, ts->owner, word, len, out)
                 : cs_reader_word(ts->r, word, len, out);
}

cs_table cs__ts_words_table(const cs__tstats *ts) {
  return ts->own ? CS_T_OWORDS : CS_T_WORDS;
}

cs_table cs__ts_lex_table(const cs__tstats *ts) {
  return ts->own ? CS_T_OLEX : CS_T_LEX;
}

void cs__ts_key_prefix(const cs__tstats *ts, uint8_t kp[8], size_t *kplen) {
  *kplen = 0;
  if (!ts->own) return;
  cs_key_u64(kp, ts->owner);
  *kplen = 8;
}
