/*
 * convsearch-indexer: installs change capture in the stores, tails them into
 * the LMDB index, and answers operator commands (status, verify, compact,
 * query).
 */
#include "admin.h"
#include "install.h"
#include "log.h"
#include "reindex.h"
#include "tail.h"
#include "verify.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: convsearch-indexer COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  install --pg CONNINFO [--portal]\n"
    "      create the canonical tables if missing (or adapt an existing portal\n"
    "      database with --portal) and install change capture; idempotent\n"
    "  run --pg CONNINFO --index DIR [--once] [--batch-mb N] [--poll-ms N]\n"
    "      [--opensearch URL]\n"
    "      catch up from the checkpoint, then follow live changes; on an index\n"
    "      never loaded, first load everything already in the stores (from one\n"
    "      snapshot, resumable; a progress bar on a terminal, JSON lines otherwise);\n"
    "      --once: catch up to the current end and exit 0;\n"
    "      --opensearch: mirror every change to OpenSearch through an outbox\n"
    "  status --index DIR            index counts and checkpoint, as JSON\n"
    "  verify --pg CONNINFO --index DIR [--opensearch URL]\n"
    "      compare stores, index (and mirror); exit 0 only when they agree,\n"
    "      else print every difference and exit 1\n"
    "  reindex --pg CONNINFO --index DIR [--opensearch URL]\n"
    "      rebuild into a new generation from one snapshot of the stores while\n"
    "      the current one serves, then swap it in (and the mirror's alias);\n"
    "      a progress bar on a terminal, JSON lines otherwise\n"
    "  compact --index DIR           rewrite the index without free pages\n"
    "  query --index DIR [--limit N] TEXT\n"
    "      list documents containing every word of TEXT (debugging aid)\n";

typedef struct args {
  const char *pg, *index, *text, *opensearch;
  int portal, once, limit, poll_ms;
  long batch_mb;
} args;

static int bad(const char *msg, const char *arg) {
  fprintf(stderr, "convsearch-indexer: %s%s%s\n\n%s", msg, arg ? ": " : "", arg ? arg : "", usage);
  return 2;
}

static int parse_int(const char *s, long lo, long hi, long *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static int parse(int argc, char **argv, args *a) {
  for (int i = 2; i < argc; i++) {
    const char *o = argv[i];
    int has = i + 1 < argc;
    long v;
    if (!strcmp(o, "--pg") && has) {
      a->pg = argv[++i];
    } else if (!strcmp(o, "--index") && has) {
      a->index = argv[++i];
    } else if (!strcmp(o, "--opensearch") && has) {
      a->opensearch = argv[++i];
    } else if (!strcmp(o, "--portal")) {
      a->portal = 1;
    } else if (!strcmp(o, "--once")) {
      a->once = 1;
    } else if (!strcmp(o, "--limit") && has) {
      if (parse_int(argv[++i], 1, 100000, &v)) return bad("--limit takes 1..100000", argv[i]);
      a->limit = (int)v;
    } else if (!strcmp(o, "--batch-mb") && has) {
      if (parse_int(argv[++i], 1, 65536, &v)) return bad("--batch-mb takes 1..65536", argv[i]);
      a->batch_mb = v;
    } else if (!strcmp(o, "--poll-ms") && has) {
      if (parse_int(argv[++i], 10, 600000, &v)) return bad("--poll-ms takes 10..600000", argv[i]);
      a->poll_ms = (int)v;
    } else if (o[0] == '-' && o[1] == '-') {
      return bad(has || strchr(o, '=') ? "unknown option" : "unknown option or missing value", o);
    } else if (!a->text) {
      a->text = o;
    } else {
      return bad("unexpected argument", o);
    }
  }
  return 0;
}

static void on_signal(int sig) {
  (void)sig;
  cs_tail_stop = 1;
}

int main(int argc, char **argv) {
  cs_log_init("indexer");
  if (argc < 2) return bad("missing command", NULL);
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    fputs(usage, stdout);
    return 0;
  }
  args a = {.limit = 20, .batch_mb = 16, .poll_ms = 1000};
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--help")) {
      fputs(usage, stdout);
      return 0;
    }
  }
  int rc = parse(argc, argv, &a);
  if (rc) return rc;
  if (!strcmp(cmd, "install")) {
    if (!a.pg) return bad("install needs --pg", NULL);
    if (a.text) return bad("unexpected argument", a.text);
    return cs_install(a.pg, a.portal);
  }
  if (!strcmp(cmd, "run")) {
    if (!a.pg || !a.index) return bad("run needs --pg and --index", NULL);
    if (a.text) return bad("unexpected argument", a.text);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    cs_tail_opts o = {a.pg, a.index, a.once, (size_t)a.batch_mb << 20, a.poll_ms, a.opensearch};
    cs_log(CS_LOG_INFO, "indexing into %s%s", a.index, a.once ? " (once)" : "");
    return cs_tail_run(&o);
  }
  if (!strcmp(cmd, "status")) {
    if (!a.index) return bad("status needs --index", NULL);
    return cs_status(a.index);
  }
  if (!strcmp(cmd, "verify")) {
    if (!a.pg || !a.index) return bad("verify needs --pg and --index", NULL);
    return cs_verify(a.pg, a.index, a.opensearch);
  }
  if (!strcmp(cmd, "reindex")) {
    if (!a.pg || !a.index) return bad("reindex needs --pg and --index", NULL);
    return cs_reindex(a.pg, a.index, a.opensearch);
  }
  if (!strcmp(cmd, "compact")) {
    if (!a.index) return bad("compact needs --index", NULL);
    return cs_compact(a.index);
  }
  if (!strcmp(cmd, "query")) {
    if (!a.index || !a.text) return bad("query needs --index and TEXT", NULL);
    return cs_debug_query(a.index, a.text, a.limit);
  }
  return bad("unknown command", cmd);
}
