/*
 * The stored-text dictionary (index/textpack.h) on a real index: the
 * indexer builds it once it has seen enough turn text; a turn written
 * before it and turns written with it read back to the byte through the
 * server; it holds no word of anyone's turns (only statistics and stop
 * words: erasure must be able to remove a person's words); damaged, it is
 * reported through the corruption path: the server keeps answering, the
 * turns that need it are index_corrupt, /v1/health counts it, verify names
 * it.
 */
#include "harness.h"
#include "records.h"
#include "store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads META zdict into out (NULL when absent); returns its length. With
 * flip, the byte at the middle is changed in place first. */
static size_t meta_zdict(const char *index, uint8_t *out, size_t cap, int flip) {
  cs_store *s;
  cs_txn *txn;
  char err[512] = "";
  REQUIRE(cs_store_open(index, 0, &s, err, sizeof err) == 0, "open the index: %s", err);
  REQUIRE(cs_txn_begin(s, flip, &txn) == 0, "transaction");
  cs_slice k = {"zdict", 5}, v;
  size_t n = 0;
  if (cs_get(txn, CS_T_META, k, &v) == 0 && v.len <= cap) {
    memcpy(out, v.data, v.len);
    n = v.len;
  }
  if (flip && n) {
    out[n / 2] ^= 0x21;
    cs_slice nv = {out, n};
    REQUIRE(cs_put(txn, CS_T_META, k, nv) == 0 && cs_txn_commit(txn) == 0, "write the damage");
  } else {
    cs_txn_abort(txn);
  }
  cs_store_close(s);
  return n;
}

/* A turn's text as the store has it. */
static char *turn_text(PGconn *c, int conv, int seq) {
  char q[160];
  snprintf(q, sizeof q, "SELECT text FROM segments WHERE conversation_id = %d AND seq = %d", conv,
           seq);
  PGresult *r = PQexec(c, q);
  REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "turn %d/%d", conv, seq);
  char *t = strdup(PQgetvalue(r, 0, 0));
  PQclear(r);
  return t;
}

int main(void) {
  th_init("zdict");
  PGconn *c;
  char pg[700], index[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_zdict", NULL, &c));
  snprintf(index, sizeof index, "%s/index", th_dir());
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  /* Conversation 1, alone: too little text for a dictionary. */
  th_sql(c, "INSERT INTO employees VALUES (1, 'Ana', NULL);"
            "INSERT INTO patients (id, owner_id, name) VALUES (1, 1, 'Uno'), (2, 1, 'Dos');"
            "INSERT INTO conversations (id, patient_id, owner_id) VALUES (1, 1, 1);"
            "INSERT INTO segments VALUES (1, 0, 'a', 'other', 0, 1, 'Antes del diccionario: la "
            "vivienda de alquiler que nos dieron en el centro no tiene luz ni agua desde el "
            "invierno, y el casero no contesta a las llamadas de la trabajadora social.')");
  const char *once[] = {"run", "--pg", pg, "--index", index, "--once", NULL};
  REQUIRE(th_indexer(once) == 0, "first run failed");
  uint8_t dict[65536];
  CHECK(meta_zdict(index, dict, sizeof dict, 0) == 0, "no dictionary from one turn");

  /* ~1 MB more: 2000 conversations of 3 turns, words from a fixed list,
   * each turn with the word xilofonista (a word of these people only). */
  th_sql(c, "INSERT INTO conversations (id, patient_id, owner_id) "
            "SELECT g, 1 + g % 2, 1 FROM generate_series(2, 2001) g;"
            "INSERT INTO segments SELECT g, s, 'a', 'other', s, s + 1, "
            "(SELECT 'xilofonista ' || string_agg((ARRAY['la','vivienda','de','alquiler','que',"
            "'el','medico','nos','dijo','ayuda','para','comida','familia','trabajo','en','centro',"
            "'no','tenemos','luz','agua','manana','gracias','cita','social','casero'])"
            "[1 + (g * 7 + s * 13 + k * k * 3 + k * g) % 25], ' ') "
            " FROM generate_series(1, 20 + (g + s) % 17) k) "
            "FROM generate_series(2, 2001) g, generate_series(0, 2) s");
  REQUIRE(th_indexer(once) == 0, "second run failed");
  size_t dn = meta_zdict(index, dict, sizeof dict, 0);
  CHECK(dn > 9, "the indexer built a dictionary (%zu bytes)", dn);
  CHECK(!memmem(dict, dn, "xilofonista", 11) && !memmem(dict, dn, "vivienda", 8) &&
            !memmem(dict, dn, "casero", 6),
        "it holds no word of the turns");
  const char *verify[] = {"verify", "--pg", pg, "--index", index, NULL};
  CHECK(th_indexer(verify) == 0, "verify passes with the dictionary");

  int port, st;
  pid_t srv = th_server_start(index, &port);
  char *want1 = turn_text(c, 1, 0), *want2 = turn_text(c, 1500, 1);
  char *b = th_http_get_status(port, "/v1/conversations/1", TH_ADMIN_TOKEN, &st);
  CHECK(st == 200 && b && strstr(b, want1), "the turn from before the dictionary reads back (%d)",
        st);
  free(b);
  b = th_http_get_status(port, "/v1/conversations/1500", TH_ADMIN_TOKEN, &st);
  CHECK(st == 200 && b && strstr(b, want2), "a turn compressed with it reads back (%d)", st);
  free(b);
  b = th_http_get_status(port, "/v1/search?q=casero+llamadas", TH_ADMIN_TOKEN, &st);
  CHECK(st == 200 && b && strstr(b, "\"conversation_id\":1,") && strstr(b, "<em>casero</em>"),
        "a search shows a highlighted snippet (%d): %.300s", st, b ? b : "");
  free(b);
  th_stop(srv);

  /* Damaged: a fresh server (no dictionary loaded yet) keeps answering. */
  REQUIRE(meta_zdict(index, dict, sizeof dict, 1) == dn, "damage the dictionary");
  srv = th_server_start(index, &port);
  b = th_http_get_status(port, "/v1/conversations/1500", TH_ADMIN_TOKEN, &st);
  CHECK(st == 500 && b && strstr(b, "index_corrupt"),
        "a conversation whose turns need the damaged dictionary is 500 index_corrupt (%d)", st);
  free(b);
  b = th_http_get_status(port, "/v1/conversations/1", TH_ADMIN_TOKEN, &st);
  CHECK(st == 200 && b && strstr(b, want1), "a turn from before it still reads (%d)", st);
  free(b);
  b = th_http_get_status(port, "/v1/search?q=alquiler", TH_ADMIN_TOKEN, &st);
  CHECK(st == 200 && b && strstr(b, "\"total\""), "a search still answers (%d)", st);
  free(b);
  CHECK(kill(srv, 0) == 0, "the server is still running");
  b = th_http_get_status(port, "/v1/health", NULL, &st);
  CHECK(st == 200 && b && strstr(b, "degraded") && strstr(b, "\"meta\""),
        "/v1/health is degraded and counts the dictionary: %s", b ? b : "(none)");
  free(b);
  CHECK(th_server_log_count("damaged index record: meta 'zdict'") == 1,
        "the log names the dictionary once");
  th_stop(srv);
  CHECK(th_indexer(verify) == 1, "verify fails on a damaged dictionary");
  CHECK(th_log_count("damaged record: meta 'zdict' cannot be decoded") == 1,
        "verify names the dictionary");
  free(want1);
  free(want2);
  PQfinish(c);
  return th_done();
}
