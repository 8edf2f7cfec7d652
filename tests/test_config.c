/*
 * Settings files (util/config.c, --config FILE of both programs): the
 * expanded argv for files and command lines, options of the command line
 * winning, flags, sections, the indexer's per-command filter, and refusals
 * (bad lines, missing or special files, --config twice).
 */
#include "check.h"
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

CS_CHECK_COUNTERS;

static char dir[] = "/tmp/cs-test-config-XXXXXX";
static char path[256];

static void write_settings(const char *text) {
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
}

/* Expands argv (space-separated words, "FILE" standing for the settings
 * file) and joins the result with spaces into out; returns the rc. */
static int expand(const char *words, int first, const char *section, cs_config_accepts acc,
                  char *out, size_t cap, char *err) {
  char buf[512], *argv[32], eq[300];
  snprintf(eq, sizeof eq, "--config=%s", path);
  int argc = 0;
  snprintf(buf, sizeof buf, "%s", words);
  for (char *w = strtok(buf, " "); w && argc < 31; w = strtok(NULL, " "))
    argv[argc++] = !strcmp(w, "FILE") ? path : !strcmp(w, "--config=FILE") ? eq : w;
  argv[argc] = NULL;
  int n = 0;
  char **av = NULL;
  err[0] = 0;
  int rc = cs_config_expand(argc, argv, first, section, acc, NULL, &n, &av, err, 256);
  out[0] = 0;
  if (rc == 0) {
    for (int i = 0; i < n; i++) {
      size_t l = strlen(out);
      snprintf(out + l, cap - l, "%s%s", i ? " " : "", av[i]);
    }
    if (av[n] != NULL) snprintf(out, cap, "argv not NULL-terminated");
    cs_config_free(av);
  }
  return rc;
}

/* As the indexer's status command: takes --index only, knows --pg. */
static int status_accepts(const char *name, void *ctx) {
  (void)ctx;
  return strcmp(name, "--pg") != 0;
}

int main(void) {
  if (!mkdtemp(dir)) return 2;
  snprintf(path, sizeof path, "%s/convsearch.conf", dir);
  char out[1024], err[256];

  write_settings("# comment\n\n[indexer]\npg = host=/tmp dbname=portal\n"
                 "  index=/var/lib/x  \nonce = true\nportal = false\n"
                 "[server]\r\nindex = /srv/i\nlisten = 127.0.0.1:8750\ncors-origin = https://a\n"
                 "cors-origin = https://b\n");
  CHECK(expand("convsearch-server --config FILE", 1, "server", NULL, out, sizeof out, err) == 0 &&
            !strcmp(out, "convsearch-server --index /srv/i --listen 127.0.0.1:8750 "
                         "--cors-origin https://a --cors-origin https://b"),
        "server section: %s %s", out, err);
  CHECK(expand("convsearch-indexer run --config FILE --poll-ms 10", 2, "indexer", NULL, out,
               sizeof out, err) == 0 &&
            !strcmp(out, "convsearch-indexer run --pg host=/tmp dbname=portal --index /var/lib/x "
                         "--once --poll-ms 10"),
        "indexer section, true is a flag, false nothing: %s %s", out, err);
  /* The pg value keeps its spaces: one argument. */
  CHECK(expand("convsearch-server --listen 127.0.0.1:0 --config=FILE --cors-origin=https://c", 1,
               "server", NULL, out, sizeof out, err) == 0 &&
            !strcmp(out, "convsearch-server --index /srv/i --listen 127.0.0.1:0 "
                         "--cors-origin=https://c"),
        "command line wins (both forms, repeatable options too): %s %s", out, err);
  CHECK(expand("convsearch-indexer status --config FILE", 2, "indexer", status_accepts, out,
               sizeof out, err) == 0 &&
            !strcmp(out, "convsearch-indexer status --index /var/lib/x --once"),
        "options the command does not take are skipped: %s %s", out, err);
  CHECK(expand("convsearch-server --index i --listen l", 1, "server", NULL, out, sizeof out, err) ==
                0 &&
            !strcmp(out, "convsearch-server --index i --listen l"),
        "without --config, a copy: %s %s", out, err);
  CHECK(expand("convsearch-server --config FILE", 1, "other", NULL, out, sizeof out, err) == 0 &&
            !strcmp(out, "convsearch-server"),
        "another section: nothing: %s %s", out, err);

  static const struct {
    const char *text, *err;
  } bad[] = {
      {"pg = x\n", ":1: expected"},           {"[indexer]\n# fine\npg\n", ":3: expected"},
      {"[indexer]\npg =\n", ":2: expected"},  {"[indexer]\n= x\n", ":2: expected"},
      {"[indexer\npg = x\n", ":1: expected"}, {"[server]\nsome name = x\n", ":2: expected"},
      {"[server]\nindex = a\0b\n", "NUL"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    FILE *f = fopen(path, "w");
    fwrite(bad[i].text, 1, strlen(bad[i].text) + (strstr(bad[i].err, "NUL") ? 4 : 0), f);
    fclose(f);
    CHECK(expand("p --config FILE", 1, "server", NULL, out, sizeof out, err) == -1 &&
              strstr(err, bad[i].err),
          "bad settings %zu refused with \"%s\": %s", i, bad[i].err, err);
  }
  write_settings("[server]\nindex = x\n");
  CHECK(expand("p --config FILE --config FILE", 1, "server", NULL, out, sizeof out, err) == -1 &&
            strstr(err, "twice"),
        "--config twice: %s", err);
  CHECK(expand("p --config", 1, "server", NULL, out, sizeof out, err) == -1 &&
            strstr(err, "missing value"),
        "--config without a file: %s", err);
  CHECK(expand("p --config /nonexistent/convsearch.conf", 1, "server", NULL, out, sizeof out,
               err) == -1 &&
            strstr(err, "cannot open settings file /nonexistent/convsearch.conf"),
        "missing file: %s", err);
  CHECK(expand("p --config /tmp", 1, "server", NULL, out, sizeof out, err) == -1 &&
            strstr(err, "not a regular file"),
        "a directory: %s", err);
  unlink(path);
  mkfifo(path, 0600);
  CHECK(expand("p --config FILE", 1, "server", NULL, out, sizeof out, err) == -1 &&
            strstr(err, "not a regular file"),
        "a FIFO is refused, not waited on: %s", err);
  unlink(path);
  FILE *f = fopen(path, "w");
  for (int i = 0; i < 7000; i++)
    fputs("# padding\n", f);
  fclose(f);
  CHECK(expand("p --config FILE", 1, "server", NULL, out, sizeof out, err) == -1 &&
            strstr(err, "larger than"),
        "a file over 64 KiB: %s", err);
  unlink(path);
  rmdir(dir);
  return th_check_done();
}
