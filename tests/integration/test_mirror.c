/*
 * The OpenSearch mirror against a real OpenSearch node (the os_node fixture,
 * scripts/opensearch.sh) behind a fault-injecting proxy
 * (tests/opensearch/fault_proxy.py):
 *   - 429s and 5xx on items, failed requests, dropped connections, slow
 *     answers: the mirror ends equal to the index (verify --opensearch),
 *     and local search stays fresh throughout;
 *   - OpenSearch down for a while, and the indexer killed with -9 while a
 *     backlog is pending: after both come back the backlog drains, nothing
 *     lost or doubled;
 *   - erasure reaches the mirror;
 *   - reindex moves the alias to a new index atomically;
 *   - a mirror stopped while creating its index (the first load's
 *     compaction) and started again leaves the alias on one write index;
 *     an alias on two indices holds the stream back, nothing dropped;
 *     an alias whose index was deleted is made again and refilled (also
 *     when the indexer stopped before it could queue everything again);
 *     an answer to the alias's look that is not OpenSearch's is asked again;
 *     an index taken from behind the alias is put back there;
 *   - reindex survives backpressure (30% of items 429, every 7th _bulk
 *     503) and ends with a complete mirror; when OpenSearch refuses for
 *     longer than --bulk-retry-s it fails within that bound, and the old
 *     generation and index keep serving.
 */
#include "harness.h"
#include "store.h"

#include <curl/curl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char os_url[128];   /* the proxy */
static char node_url[128]; /* the node itself */

static size_t sink(char *p, size_t s, size_t n, void *arg) {
  (void)p;
  (void)arg;
  return s * n;
}

/* Sends method path (with a JSON body, or none) to base (the proxy or the
 * node); returns the HTTP status, 0 when there was no answer. */
static long http_call(const char *base, const char *method, const char *path, const char *json) {
  CURL *h = curl_easy_init();
  char url[256];
  snprintf(url, sizeof url, "%s%s", base, path);
  struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  if (json) curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
  CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(hdr);
  curl_easy_cleanup(h);
  return rc == CURLE_OK ? status : 0;
}

static size_t keep(char *p, size_t s, size_t n, void *arg) {
  char *out = arg;
  size_t have = strlen(out), add = s * n;
  if (have + add >= 256) add = 255 - have;
  memcpy(out + have, p, add);
  out[have + add] = 0;
  return s * n;
}

/* GETs base path; the answer's first 255 bytes in body (256 bytes). */
static void get_body(const char *base, const char *path, char *body) {
  body[0] = 0;
  CURL *h = curl_easy_init();
  char url[256];
  snprintf(url, sizeof url, "%s%s", base, path);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
  curl_easy_perform(h);
  curl_easy_cleanup(h);
}

/* The index the alias "convsearch" points at on the node ("" when none). */
static void alias_index(char *out, size_t n) {
  char body[256];
  get_body(node_url, "/_alias/convsearch", body);
  /* {"convsearch-gN":{"aliases":{"convsearch":{}}}} */
  const char *q = strchr(body, '"');
  size_t len = q ? strcspn(q + 1, "\"") : 0;
  snprintf(out, n, "%.*s", len < n ? (int)len : 0, q ? q + 1 : "");
}

static long os_call(const char *method, const char *path, const char *json) {
  return http_call(os_url, method, path, json);
}

/* Replaces the proxy's fault configuration. */
static int faults(const char *json) {
  return http_call(os_url, "POST", "/_proxy/faults", json) == 200 ? 0 : -1;
}

/* Starts the fault proxy in front of the node; sets os_url to it. */
static pid_t start_proxy(void) {
  char portfile[700], script[700];
  snprintf(portfile, sizeof portfile, "%s/proxy.port", th_dir());
  snprintf(script, sizeof script, "%s/tests/opensearch/fault_proxy.py", getenv("CS_SOURCE_DIR"));
  unlink(portfile);
  pid_t pid = fork();
  REQUIRE(pid >= 0, "fork");
  if (pid == 0) {
    char log[700];
    snprintf(log, sizeof log, "%s/fault_proxy.log", th_dir());
    REQUIRE(freopen(log, "a", stderr) != NULL, "log");
    execlp("python3", "python3", script, "--upstream", node_url, "--port-file", portfile,
           (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 500; i++) {
    FILE *f = fopen(portfile, "r");
    int port = 0;
    if (f) {
      if (fscanf(f, "%d", &port) != 1) port = 0;
      fclose(f);
    }
    if (port > 0) {
      snprintf(os_url, sizeof os_url, "http://127.0.0.1:%d", port);
      return pid;
    }
    th_sleep_ms(10);
  }
  REQUIRE(0, "fault_proxy.py did not start");
  return -1;
}

static int wait_drained(const char *index, int timeout_ms) {
  int64_t t0 = th_now_ms();
  while (th_index_count(index, CS_T_OUTBOX) != 0) {
    if (th_now_ms() - t0 > timeout_ms) return -1;
    th_sleep_ms(50);
  }
  return 0;
}

static void wave(PGconn *c, int n) {
  char sql[1024];
  snprintf(
      sql, sizeof sql,
      "INSERT INTO conversations (id, patient_id, owner_id, title) "
      "SELECT %d * 100 + g, 1 + g %% 5, 1, 'Ola %d' FROM generate_series(0, 49) g;"
      "INSERT INTO segments SELECT %d * 100 + g, s, 'x', 'other', s, s + 1, "
      "'palabraola%d y más texto ' || g FROM generate_series(0, 49) g, generate_series(0, 3) s;"
      "UPDATE segments SET text = text || ' editado%d' WHERE conversation_id %% 7 = %d;"
      "DELETE FROM conversations WHERE id %% 11 = %d AND id < %d * 100",
      n, n, n, n, n, n % 7, n % 11, n);
  th_sql(c, sql);
}

int main(void) {
  th_init("mirror");
  curl_global_init(CURL_GLOBAL_DEFAULT);
  th_os_url(node_url, sizeof node_url);
  /* One node serves every OpenSearch test (one at a time): start clean. */
  http_call(node_url, "DELETE", "/convsearch*", NULL);
  PGconn *c;
  char pg[700], index[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_mirror", NULL, &c));
  snprintf(index, sizeof index, "%s/index", th_dir());
  pid_t proxy = start_proxy();
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  th_sql(c,
         "INSERT INTO employees VALUES (1, 'Ana', NULL);"
         "INSERT INTO patients (id, owner_id, name) SELECT g, 1, 'Persona ' || g FROM "
         "generate_series(1, 5) g;"
         "INSERT INTO patients (id, owner_id, name) VALUES (9, 1, 'Zoe Borrable');"
         "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES (9, 9, 1, 'borrable');"
         "INSERT INTO segments VALUES (9, 0, 'x', 'other', 0, 1, 'unicaborrable')");
  const char *run[] = {"run", "--pg",         pg,     "--index", index, "--poll-ms",
                       "100", "--opensearch", os_url, NULL};
  const char *verify[] = {"verify", "--pg", pg, "--index", index, "--opensearch", os_url, NULL};

  /* 1. Faults of every kind while data flows. */
  REQUIRE(faults("{\"seed\": 7, \"bulk_item_429_rate\": 0.3, \"bulk_item_500_rate\": 0.1, "
                 "\"http_status\": 503, \"http_status_rate\": 0.2, \"delay_ms\": 100, "
                 "\"drop_connection_rate\": 0.1}") == 0,
          "cannot set faults");
  pid_t ix = th_indexer_spawn(run);
  int fresh_fail = 0;
  for (int n = 1; n <= 6; n++) {
    wave(c, n);
    char word[32];
    snprintf(word, sizeof word, "palabraola%d", n);
    if (th_wait_docs(index, word, 200, 1000) < 0) fresh_fail++;
  }
  CHECK(fresh_fail == 0, "local search stayed fresh (within 1 s) while OpenSearch failed (%d late)",
        fresh_fail);
  REQUIRE(faults("{}") == 0, "cannot clear faults");
  CHECK(wait_drained(index, 60000) == 0, "the backlog drains once OpenSearch behaves");
  CHECK(th_indexer(verify) == 0, "mirror equals the index after injected failures");

  /* 2. Erasure reaches the mirror. */
  th_sql(c, "INSERT INTO events (stream, version, type, payload, actor_id) VALUES "
            "('p9', 1, 'patient.erased', '{\"patient_id\": 9}', 1)");
  CHECK(th_wait_docs(index, "unicaborrable", 0, 2000) >= 0, "erased locally");
  CHECK(wait_drained(index, 30000) == 0, "erasure sent");
  CHECK(th_indexer(verify) == 0, "the erased person is gone from the mirror too");

  /* 3. OpenSearch down, indexer killed with a backlog pending. */
  REQUIRE(faults("{\"down\": true}") == 0, "cannot take it down");
  wave(c, 7);
  CHECK(th_wait_docs(index, "palabraola7", 200, 1000) >= 0,
        "local indexing goes on while OpenSearch is down");
  th_sleep_ms(300);
  CHECK(th_index_count(index, CS_T_OUTBOX) > 0, "a backlog builds up");
  kill(ix, SIGKILL);
  th_wait(ix, 5000);
  wave(c, 8);
  ix = th_indexer_spawn(run);
  CHECK(th_wait_docs(index, "palabraola8", 200, 5000) >= 0, "the restarted indexer catches up");
  REQUIRE(faults("{\"down\": false}") == 0, "cannot bring it back");
  CHECK(wait_drained(index, 60000) == 0, "the backlog drains after the outage and the crash");
  th_stop(ix);
  CHECK(th_indexer(verify) == 0, "nothing lost or doubled");

  /* 4. Reindex: a new OpenSearch index, the alias swapped. */
  const char *reindex[] = {"reindex", "--pg", pg, "--index", index, "--opensearch", os_url, NULL};
  char before[128], after[128];
  alias_index(before, sizeof before);
  CHECK(th_indexer(reindex) == 0, "reindex with the mirror");
  alias_index(after, sizeof after);
  CHECK(!strncmp(before, "convsearch-", 11) && !strncmp(after, "convsearch-", 11) &&
            strcmp(before, after),
        "the alias moved to the new index (%s -> %s)", before, after);
  char old[160];
  snprintf(old, sizeof old, "/%s", before);
  CHECK(os_call("GET", old, NULL) == 404, "the old index %s was dropped", before);
  char aliased[256];
  get_body(node_url, "/_alias/convsearch", aliased);
  CHECK(strstr(aliased, "\"is_write_index\":true") != NULL,
        "the new index is the alias's write index (%s)", aliased);
  CHECK(th_indexer(verify) == 0, "the mirror behind the swapped alias equals the new generation");
  ix = th_indexer_spawn(run);
  wave(c, 9);
  CHECK(th_wait_docs(index, "palabraola9", 200, 5000) >= 0,
        "indexing continues on the new generation");
  CHECK(wait_drained(index, 30000) == 0, "and mirrors into the new index");
  th_stop(ix);
  CHECK(th_indexer(verify) == 0, "verify agrees at the end");

  /* 5. Reindex under backpressure: retried until complete. */
  int retried_before = th_log_count("to send again"), failed_before = th_log_count("(HTTP 503)");
  REQUIRE(faults("{\"seed\": 11, \"bulk_item_429_rate\": 0.3, \"bulk_503_every\": 7}") == 0,
          "cannot set faults");
  int64_t t0 = th_now_ms();
  CHECK(th_indexer(reindex) == 0, "reindex succeeds with 30%% of items 429 and every 7th bulk 503");
  printf("reindex under backpressure: %.1f s, %d retry rounds, %d whole bulks failed\n",
         (double)(th_now_ms() - t0) / 1000, th_log_count("to send again") - retried_before,
         th_log_count("(HTTP 503)") - failed_before);
  CHECK(th_log_count("to send again") > retried_before + 2, "items were refused and sent again");
  CHECK(th_log_count("(HTTP 503)") > failed_before, "a whole bulk answered 503 was sent again");
  REQUIRE(faults("{}") == 0, "cannot clear faults");
  CHECK(th_indexer(verify) == 0, "the mirror is complete after a reindex under backpressure");

  /* 6. OpenSearch refusing for longer than --bulk-retry-s: the reindex
   * fails within the bound; the old generation and index keep serving. */
  char link[700], gen_before[64] = "", gen_after[64] = "";
  snprintf(link, sizeof link, "%s/current", index);
  ssize_t n = readlink(link, gen_before, sizeof gen_before - 1);
  gen_before[n > 0 ? n : 0] = 0;
  REQUIRE(faults("{\"bulk_item_429_rate\": 1}") == 0, "cannot set faults");
  const char *reindex_bound[] = {"reindex", "--pg",           pg,  "--index", index, "--opensearch",
                                 os_url,    "--bulk-retry-s", "2", NULL};
  t0 = th_now_ms();
  int rc = th_indexer(reindex_bound);
  double took = (double)(th_now_ms() - t0) / 1000;
  printf("reindex against an always-429 mirror with --bulk-retry-s 2: exit %d after %.1f s\n", rc,
         took);
  CHECK(rc == 1, "reindex fails when OpenSearch keeps refusing (exit %d)", rc);
  CHECK(took >= 2 && took < 10,
        "it gives up after the bound of 2 s, not before nor long after "
        "(%.1f s)",
        took);
  CHECK(th_log_count("giving up (--bulk-retry-s 2)") == 1, "with a message naming the bound");
  n = readlink(link, gen_after, sizeof gen_after - 1);
  gen_after[n > 0 ? n : 0] = 0;
  CHECK(gen_before[0] && !strcmp(gen_before, gen_after), "the old generation still serves (%s, %s)",
        gen_before, gen_after);
  CHECK(th_docs_with(index, "palabraola9") > 0, "and local search still finds its documents");
  char half[128];
  snprintf(half, sizeof half, "/convsearch-g%lu", strtoul(gen_before + 1, NULL, 10) + 1);
  CHECK(os_call("GET", half, NULL) == 404, "the half-loaded index %s was dropped", half + 1);
  REQUIRE(faults("{}") == 0, "cannot clear faults");
  CHECK(th_indexer(verify) == 0, "the alias still serves the old, complete index");

  /* 7. A hanging OpenSearch does not hold local indexing up when the
   * mirror stops (the indexer stops it before compacting a first load):
   * every request now takes 8 s; once a new index's first load is
   * searchable, a wave written next must be too within 3 s. */
  char index2[600];
  snprintf(index2, sizeof index2, "%s/index-hang", th_dir());
  REQUIRE(faults("{\"delay_ms\": 8000}") == 0, "cannot set faults");
  const char *run2[] = {"run", "--pg",         pg,     "--index", index2, "--poll-ms",
                        "100", "--opensearch", os_url, NULL};
  ix = th_indexer_spawn(run2);
  CHECK(th_wait_docs(index2, "palabraola9", 1, 10000) >= 0, "the first load is searchable");
  wave(c, 10);
  CHECK(th_wait_docs(index2, "palabraola10", 200, 3000) >= 0,
        "local search stays fresh while the mirror's requests hang (the compaction did not "
        "wait for them)");
  kill(ix, SIGTERM);
  CHECK(th_wait(ix, 5000) == 0, "the indexer stops at once, its mirror's request under way");
  REQUIRE(faults("{}") == 0, "cannot clear faults");

  /* 8. The first load's compaction stops the mirror while its index's
   * creation is under way; the mirror started on the compacted generation
   * creates its own. The stale creation lands last and is refused: the
   * alias keeps one write index, and the mirror ends complete. (The proxy
   * holds the first creation until the second one is answered, whatever
   * the load and compaction take: at most 30 s, "put_waits" then 1.) With
   * --no-load-in-map: a load written in the map starts the mirror when it
   * is over, and the compaction follows before it sends anything. */
  char index3[600], body[256];
  snprintf(index3, sizeof index3, "%s/index-race", th_dir());
  http_call(node_url, "DELETE", "/convsearch*", NULL);
  REQUIRE(faults("{\"first_put_delay_ms\": 30000}") == 0, "cannot set faults");
  const char *run3[] = {"run", "--pg",         pg,     "--index",          index3, "--poll-ms",
                        "100", "--opensearch", os_url, "--no-load-in-map", NULL};
  const char *verify3[] = {"verify", "--pg", pg, "--index", index3, "--opensearch", os_url, NULL};
  int created = th_log_count("behind alias convsearch");
  ix = th_indexer_spawn(run3);
  t0 = th_now_ms();
  do {
    th_sleep_ms(100);
    get_body(os_url, "/_proxy/stats", body);
  } while (!strstr(body, "\"late_puts\": 1") && th_now_ms() - t0 < 40000);
  CHECK(strstr(body, "\"late_puts\": 1") != NULL, "the first index's creation landed late (%s)",
        body);
  CHECK(strstr(body, "\"put_waits\": 0") != NULL,
        "it was held until the second creation was answered (%s)", body);
  CHECK(th_log_count("behind alias convsearch") - created == 2,
        "the mirror restarted after the compaction created its index meanwhile (%d creations)",
        th_log_count("behind alias convsearch") - created);
  wave(c, 11);
  CHECK(th_wait_docs(index3, "palabraola11", 200, 5000) >= 0, "indexing goes on");
  CHECK(wait_drained(index3, 20000) == 0, "and the mirror drains after the race");
  get_body(node_url, "/_alias/convsearch", body);
  const char *second = strstr(body, "\"aliases\"");
  CHECK(second && !strstr(second + 1, "\"aliases\""), "the alias is on one index (%s)", body);
  CHECK(th_indexer(verify3) == 0, "the mirror is complete after the race");

  /* 9. An alias on two indices, none its write index (what that race left
   * before): every write would be refused. The mirror sends nothing, keeps
   * its backlog and says why; once the alias is mended, it drains. */
  char cur[128], actions[512];
  alias_index(cur, sizeof cur);
  REQUIRE(http_call(node_url, "PUT", "/convsearch-extra", "{}") == 200, "cannot create an index");
  snprintf(actions, sizeof actions,
           "{\"actions\": [{\"add\": {\"index\": \"%s\", \"alias\": \"convsearch\", "
           "\"is_write_index\": false}}, {\"add\": {\"index\": \"convsearch-extra\", "
           "\"alias\": \"convsearch\"}}]}",
           cur);
  REQUIRE(http_call(node_url, "POST", "/_aliases", actions) == 200, "cannot split the alias");
  int refused = th_log_count("refused for good");
  wave(c, 12);
  t0 = th_now_ms();
  while (th_log_count("none its write index") == 0 && th_now_ms() - t0 < 10000)
    th_sleep_ms(50);
  CHECK(th_log_count("none its write index") > 0, "the log says the alias takes no writes");
  th_sleep_ms(1000);
  CHECK(th_index_count(index3, CS_T_OUTBOX) > 0, "the backlog is kept");
  CHECK(th_log_count("refused for good") == refused, "nothing was dropped (%d)",
        th_log_count("refused for good") - refused);
  snprintf(actions, sizeof actions,
           "{\"actions\": [{\"remove_index\": {\"index\": \"convsearch-extra\"}}, "
           "{\"add\": {\"index\": \"%s\", \"alias\": \"convsearch\", "
           "\"is_write_index\": true}}]}",
           cur);
  REQUIRE(http_call(node_url, "POST", "/_aliases", actions) == 200, "cannot mend the alias");
  CHECK(wait_drained(index3, 40000) == 0, "once mended, the backlog drains");
  th_stop(ix);
  CHECK(th_indexer(verify3) == 0, "and the mirror is complete");

  /* 10. The alias's index deleted on the node while the indexer runs: the
   * next writes do not make an index of the alias's name with guessed
   * mappings (require_alias); the mirror makes one from the template and
   * sends everything again. */
  ix = th_indexer_spawn(run3);
  th_sleep_ms(500);
  REQUIRE(http_call(node_url, "DELETE", "/convsearch*", NULL) == 200, "cannot delete the index");
  wave(c, 13);
  CHECK(th_wait_docs(index3, "palabraola13", 200, 5000) >= 0, "indexing goes on");
  t0 = th_now_ms();
  while (th_log_count("everything indexed is queued again") == 0 && th_now_ms() - t0 < 15000)
    th_sleep_ms(50);
  CHECK(th_log_count("is gone from OpenSearch") == 1 &&
            th_log_count("everything indexed is queued again") == 1,
        "the log says the alias was gone and everything is sent again");
  CHECK(wait_drained(index3, 30000) == 0, "the backlog drains");
  th_stop(ix);
  alias_index(cur, sizeof cur);
  CHECK(!strncmp(cur, "convsearch-", 11), "the alias is back, on %s", cur);
  CHECK(th_indexer(verify3) == 0, "and the mirror is complete again");

  /* 11. Sending everything again is recorded in the index (META
   * "mirror_requeue", with the alias's new index): asked for but not done
   * when the indexer stopped, it is done when it starts again. */
  cs_store *st;
  cs_txn *txn;
  REQUIRE(cs_store_open(index3, 0, &st, NULL, 0) == 0 && cs_txn_begin(st, 1, &txn) == 0,
          "cannot open %s", index3);
  REQUIRE(cs_put(txn, CS_T_META, (cs_slice){"mirror_requeue", 14}, (cs_slice){"1", 1}) == 0 &&
              cs_txn_commit(txn) == 0,
          "cannot ask for a requeue");
  cs_store_close(st);
  ix = th_indexer_spawn(run3);
  t0 = th_now_ms();
  while (th_log_count("everything indexed is queued again") < 2 && th_now_ms() - t0 < 10000)
    th_sleep_ms(50);
  CHECK(wait_drained(index3, 30000) == 0, "the backlog drains");
  CHECK(th_log_count("everything indexed is queued again") == 2, "queued again at the start, once");
  th_stop(ix);
  CHECK(th_indexer(verify3) == 0, "and the mirror is complete");

  /* 12. Something in the way answers the alias's look with a page, not
   * OpenSearch's JSON: a failed look, asked again (not an alias on no
   * index); nothing is sent meanwhile, and all of it once it answers. */
  REQUIRE(faults("{\"alias_body\": \"<html>maintenance</html>\"}") == 0, "cannot set faults");
  ix = th_indexer_spawn(run3);
  wave(c, 14);
  CHECK(th_wait_docs(index3, "palabraola14", 200, 5000) >= 0, "indexing goes on");
  t0 = th_now_ms();
  while (th_log_count("body that is not its JSON") < 2 && th_now_ms() - t0 < 10000)
    th_sleep_ms(50);
  CHECK(th_log_count("body that is not its JSON") >= 2, "the log says the answer was not JSON, "
                                                        "and it is asked again");
  CHECK(th_index_count(index3, CS_T_OUTBOX) > 0, "nothing was sent meanwhile");
  CHECK(th_log_count("on 0 indices") == 0, "nor was the alias taken for one on no index");
  REQUIRE(faults("{}") == 0, "cannot clear faults");
  CHECK(wait_drained(index3, 40000) == 0, "once it answers, the backlog drains");

  /* 13. The alias taken off its index, the index left: the index is put
   * back behind the alias (not made again), everything is sent again,
   * once. */
  alias_index(cur, sizeof cur);
  snprintf(actions, sizeof actions,
           "{\"actions\": [{\"remove\": {\"index\": \"%s\", \"alias\": \"convsearch\"}}]}", cur);
  REQUIRE(http_call(node_url, "POST", "/_aliases", actions) == 200, "cannot remove the alias");
  int requeued = th_log_count("everything indexed is queued again");
  wave(c, 15);
  CHECK(th_wait_docs(index3, "palabraola15", 200, 5000) >= 0, "indexing goes on");
  t0 = th_now_ms();
  while (th_log_count("everything indexed is queued again") == requeued && th_now_ms() - t0 < 15000)
    th_sleep_ms(50);
  CHECK(wait_drained(index3, 30000) == 0, "the backlog drains");
  th_sleep_ms(1000);
  CHECK(th_log_count("everything indexed is queued again") == requeued + 1,
        "everything was queued again, once (%d)",
        th_log_count("everything indexed is queued again") - requeued);
  char back[128];
  alias_index(back, sizeof back);
  CHECK(!strcmp(back, cur), "the alias is back on %s (%s)", cur, back);
  th_stop(ix);
  CHECK(th_indexer(verify3) == 0, "and the mirror is complete");

  char stats[256];
  get_body(os_url, "/_proxy/stats", stats);
  printf("fault proxy: %s\n", stats);
  kill(proxy, SIGTERM);
  th_wait(proxy, 5000);
  PQfinish(c);
  curl_global_cleanup();
  return th_done();
}
