/*
 * A full disk is named as such, and leaves the index as it was: the index
 * lives in a small tmpfs (mounted in a private user and mount namespace,
 * `unshare -rm`; skipped, exit 77, where that is not permitted) that is
 * then filled so that
 *   - `compact` cannot write its copy: it fails (non-zero exit), the log
 *     says "no space left on device" (not "input/output error"), and the
 *     index still verifies and serves from the old generation;
 *   - `run --once` cannot commit new rows: it fails, saying so, and the
 *     checkpoint does not move; once space is freed the rows are indexed;
 *   - a first load, which by default writes its pages in the map with the
 *     map allocated on disk (store.h, CS_STORE_BULK), cannot allocate the
 *     map it grows to: it says so and goes on keeping page copies, then
 *     fails as above (an exit, not SIGBUS), and completes once space is
 *     freed. (The first index's load keeps page copies, --no-load-in-map.)
 *   - a reindex of that index, also written in the map, cannot grow it: it
 *     starts again keeping page copies, fails as above, leaves the old
 *     generation serving and no partial one behind, and succeeds once
 *     space is freed.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define IN_NS "--in-namespace"

/* Bytes left free on the tmpfs: room for LMDB's lock file (its reader
 * table), far from room for a copy of the index. */
#define LEAVE_FREE (1 << 20)

static long long free_bytes(const char *dir) {
  struct statvfs v;
  return statvfs(dir, &v) == 0 ? (long long)v.f_bavail * (long long)v.f_frsize : -1;
}

/* Fills dir's file system up to `leave` bytes with the file `path`. */
static void fill_leaving(const char *dir, const char *path, long long leave) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0, "cannot create %s: %s", path, strerror(errno));
  static char chunk[64 << 10];
  memset(chunk, 'x', sizeof chunk);
  while (free_bytes(dir) > leave + (long long)sizeof chunk)
    REQUIRE(write(fd, chunk, sizeof chunk) == (ssize_t)sizeof chunk, "filling: %s",
            strerror(errno));
  close(fd);
}

static void fill(const char *dir, const char *path) {
  fill_leaving(dir, path, LEAVE_FREE);
}

/* The generation `current` names. */
static const char *current_gen(const char *index) {
  static char name[64];
  char link[800];
  snprintf(link, sizeof link, "%s/current", index);
  ssize_t n = readlink(link, name, sizeof name - 1);
  name[n > 0 ? n : 0] = 0;
  return name;
}

/* How many generation directories (g1, g2...) the index has. */
static int generations(const char *index) {
  DIR *d = opendir(index);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    n += e->d_name[0] == 'g' && e->d_name[1] >= '0' && e->d_name[1] <= '9';
  if (d) closedir(d);
  return n;
}

static char *checkpoint_of(const char *index) {
  char cmd[900];
  snprintf(cmd, sizeof cmd, "'%s' status --index '%s' | grep -o '\"floor_xid\": [0-9]*'",
           th_indexer_path(), index);
  FILE *p = popen(cmd, "r");
  static char line[200];
  line[0] = 0;
  if (p) {
    if (!fgets(line, sizeof line, p)) line[0] = 0;
    pclose(p);
  }
  return line;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], IN_NS) != 0) {
    if (system("unshare -rm true 2>/dev/null") != 0) {
      printf("skipped: unshare -rm (a user and mount namespace) is not permitted here\n");
      return 77;
    }
    execlp("unshare", "unshare", "-rm", argv[0], IN_NS, (char *)NULL);
    printf("skipped: cannot run unshare: %s\n", strerror(errno));
    return 77;
  }
  th_init("disk_full");
  char small[600], index[700], filler[700];
  snprintf(small, sizeof small, "%s/small", th_dir());
  snprintf(index, sizeof index, "%s/index", small);
  snprintf(filler, sizeof filler, "%s/filler", small);
  REQUIRE(mkdir(small, 0700) == 0, "mkdir %s", small);
  if (mount("tmpfs", small, "tmpfs", 0, "size=256m") != 0) {
    printf("skipped: cannot mount a tmpfs: %s\n", strerror(errno));
    th_done();
    return 77;
  }

  PGconn *c;
  char pg[700];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_disk_full", NULL, &c));
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  /* 300 conversations of 20 turns, each turn 8 words never seen elsewhere:
   * an index of several MB. */
  th_sql(c, "INSERT INTO employees VALUES (1, 'Ana', NULL);"
            "INSERT INTO patients (id, owner_id, name) VALUES (1, 1, 'Uno');"
            "INSERT INTO conversations (id, patient_id, owner_id)"
            "  SELECT g, 1, 1 FROM generate_series(1, 300) g;"
            "INSERT INTO segments SELECT c, s, 'a', 'other', s * 1000, s * 1000 + 900,"
            "  'vivienda ' || (SELECT string_agg(md5((c * 1000 + s * 10 + k)::text), ' ')"
            "                  FROM generate_series(1, 8) k)"
            "  FROM generate_series(1, 300) c, generate_series(0, 19) s");
  const char *load[] = {"run", "--pg", pg, "--index", index, "--once", "--no-load-in-map", NULL};
  const char *once[] = {"run", "--pg", pg, "--index", index, "--once", NULL};
  const char *verify[] = {"verify", "--pg", pg, "--index", index, NULL};
  const char *compact[] = {"compact", "--index", index, NULL};
  REQUIRE(th_indexer(load) == 0, "run failed");
  CHECK(th_log_count("no room on disk for the index's map") == 0,
        "--no-load-in-map did not try to allocate the map");
  int docs = th_docs_with(index, "vivienda");
  REQUIRE(docs >= 6000, "the first run indexed every turn (%d documents)", docs);

  char gen[64];
  snprintf(gen, sizeof gen, "%s", current_gen(index));
  fill(small, filler);
  int rc = th_indexer(compact);
  CHECK(rc != 0, "compact fails when its copy does not fit (exit %d)", rc);
  CHECK(th_log_count("compact: copy failed: no space left on device") == 1,
        "the log says the device is full");
  CHECK(th_log_count("input/output error") == 0, "and not that it is an I/O error");
  CHECK(generations(index) == 1 && strcmp(current_gen(index), gen) == 0,
        "the partial copy is removed, %s still current", gen);
  CHECK(th_docs_with(index, "vivienda") == docs, "the index still answers");
  CHECK(th_indexer(verify) == 0, "and still verifies");
  int port, hst;
  pid_t srv = th_server_start(index, &port);
  char *b = th_http_get_status(port, "/v1/search?q=vivienda", TH_ADMIN_TOKEN, &hst);
  CHECK(hst == 200 && b && strstr(b, "\"conversation_id\":"), "the server serves it (%d)", hst);
  free(b);
  th_stop(srv);

  /* New rows while the disk is full: the commit fails, the checkpoint stays. */
  char before[200];
  snprintf(before, sizeof before, "%s", checkpoint_of(index));
  REQUIRE(before[0], "status prints the checkpoint");
  th_sql(c, "INSERT INTO conversations (id, patient_id, owner_id)"
            "  SELECT g, 1, 1 FROM generate_series(301, 700) g;"
            "INSERT INTO segments SELECT c, s, 'a', 'other', s * 1000, s * 1000 + 900,"
            "  'tejado ' || (SELECT string_agg(md5((c * 1000 + s * 10 + k)::text), ' ')"
            "                FROM generate_series(1, 8) k)"
            "  FROM generate_series(301, 700) c, generate_series(0, 19) s");
  fill(small, filler);
  rc = th_indexer(once);
  CHECK(rc != 0, "run fails when its commit does not fit (exit %d)", rc);
  CHECK(th_log_count("no space left on device") >= 2, "saying the device is full");
  CHECK(strcmp(checkpoint_of(index), before) == 0, "the checkpoint did not move (%s)", before);
  CHECK(th_docs_with(index, "tejado") == 0 && th_docs_with(index, "vivienda") == docs,
        "the index is as it was");
  CHECK(th_indexer(verify) != 0, "verify names the rows not yet indexed");

  unlink(filler);
  CHECK(th_indexer(once) == 0, "with space again, run succeeds");
  CHECK(th_docs_with(index, "tejado") >= 8000, "and indexes the new rows");
  CHECK(th_indexer(verify) == 0, "the index verifies");
  CHECK(th_indexer(compact) == 0, "and compacts");

  /* A first load into a second index, its map starting at 2 MiB, with 6 MiB
   * left: the map it grows to soon cannot be allocated. */
  char index2[720];
  snprintf(index2, sizeof index2, "%s/index2", small);
  const char *once2[] = {"run", "--pg", pg, "--index", index2, "--once", "--batch-mb", "1", NULL};
  const char *verify2[] = {"verify", "--pg", pg, "--index", index2, NULL};
  fill_leaving(small, filler, 6 << 20);
  setenv("CONVSEARCH_INITIAL_MAP_MB", "2", 1);
  int went_on = th_log_count("going on with LMDB's page copies in memory");
  int full = th_log_count("no space left on device");
  rc = th_indexer(once2);
  CHECK(rc > 0, "a first load that outgrows the disk fails, not killed by a signal (exit %d)", rc);
  CHECK(th_log_count("going on with LMDB's page copies in memory") == went_on + 1,
        "having said it goes on keeping page copies");
  CHECK(th_log_count("no space left on device") >= full + 2, "then that the device is full");
  unlink(filler);
  CHECK(th_indexer(once2) == 0, "with space again, the load completes");
  CHECK(th_docs_with(index2, "tejado") >= 8000 && th_docs_with(index2, "vivienda") >= 6000,
        "with every row");
  CHECK(th_indexer(verify2) == 0, "and the index verifies");

  /* A reindex of that index, which writes in the map too, with 6 MiB left:
   * the map cannot grow, the reindex starts again keeping page copies, and
   * fails as a commit does; the old generation serves, nothing is left.
   * (The file system grows first: with space again, the reindex needs room
   * for its map, up to twice its data, beside two indexes.) */
  REQUIRE(mount("tmpfs", small, NULL, MS_REMOUNT, "size=512m") == 0, "growing the tmpfs: %s",
          strerror(errno));
  const char *reindex2[] = {"reindex", "--pg", pg, "--index", index2, NULL};
  const char *again = "starting again with LMDB's page copies";
  int restarts = th_log_count(again);
  char gen2[64];
  snprintf(gen2, sizeof gen2, "%s", current_gen(index2));
  int gens2 = generations(index2);
  fill_leaving(small, filler, 6 << 20);
  long long left = free_bytes(small);
  full = th_log_count("no space left on device");
  rc = th_indexer(reindex2);
  CHECK(rc > 0, "a reindex that outgrows the disk fails, not killed by a signal (exit %d)", rc);
  CHECK(th_log_count(again) == restarts + 1, "having said it starts again keeping page copies");
  CHECK(th_log_count("no space left on device") > full, "then that the device is full");
  CHECK(strcmp(current_gen(index2), gen2) == 0 && generations(index2) == gens2,
        "%s still serves and the new generation is removed", gen2);
  CHECK(free_bytes(small) >= left, "the disk has the room it had (%lld < %lld bytes)",
        free_bytes(small), left);
  CHECK(th_indexer(verify2) == 0, "the index still verifies");
  unlink(filler);
  CHECK(th_indexer(reindex2) == 0, "with space again, the reindex succeeds");
  CHECK(th_log_count(again) == restarts + 1, "in the map, without starting again");
  CHECK(strcmp(current_gen(index2), gen2) != 0, "its generation serves");
  CHECK(th_docs_with(index2, "tejado") >= 8000 && th_docs_with(index2, "vivienda") >= 6000,
        "with every row");
  CHECK(th_indexer(verify2) == 0, "and the index verifies");
  unsetenv("CONVSEARCH_INITIAL_MAP_MB");

  PQfinish(c);
  umount2(small, MNT_DETACH);
  return th_done();
}
