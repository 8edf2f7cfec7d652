/*
 * convsearch-indexer: installs change capture in the stores, tails them into
 * the LMDB index, and answers operator commands (status, verify, compact,
 * query).
 */
#include "admin.h"
#include "config.h"
#include "install.h"
#include "log.h"
#include "reindex.h"
#include "tail.h"
#include "verify.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Options, as bits of the set each command accepts. */
enum {
  O_PG = 1 << 0,
  O_INDEX = 1 << 1,
  O_OPENSEARCH = 1 << 2,
  O_PORTAL = 1 << 3,
  O_ONCE = 1 << 4,
  O_LIMIT = 1 << 5,
  O_BATCH = 1 << 6,
  O_POLL = 1 << 7,
  O_TEXT = 1 << 8, /* a positional argument */
  O_SWITCH = 1 << 9,
  O_ROLE = 1 << 10,
  O_BULK = 1 << 11,
  O_MAP = 1 << 12,
  O_NOMAP = 1 << 13,
};

typedef struct command {
  const char *name;
  unsigned opts;
  const char *help; /* synopsis line, then what it does and its options */
} command;

static const command commands[] = {
    {"install", O_PG | O_PORTAL | O_SWITCH | O_ROLE,
     "install --pg CONNINFO [--portal] [--switch-mode] [--indexer-role NAME]\n"
     "  Creates the canonical tables if missing (or, with --portal, adapts an\n"
     "  existing portal database) and installs change capture; idempotent.\n"
     "  Refuses to switch an installed database to the other source unless\n"
     "  --switch-mode is given (then run reindex).\n"
     "  --pg CONNINFO        libpq connection string of the stores\n"
     "  --portal             install over the portal's Django tables\n"
     "  --switch-mode        switch an installed database to the other source\n"
     "  --indexer-role NAME  grant NAME the least privileges run, verify and\n"
     "                       reindex need\n"},
    {"run", O_PG | O_INDEX | O_ONCE | O_BATCH | O_POLL | O_OPENSEARCH | O_MAP | O_NOMAP,
     "run --pg CONNINFO --index DIR [--once] [--batch-mb N] [--poll-ms N] [--opensearch URL]\n"
     "    [--no-load-in-map]\n"
     "  Catches up from the checkpoint, then follows live changes. On an index\n"
     "  never loaded it first loads everything already in the stores, from one\n"
     "  snapshot (resumable after a crash; a progress bar on a terminal, JSON\n"
     "  lines otherwise), then tails from that snapshot. While\n"
     "  PostgreSQL is unreachable it logs one line per attempt and retries with\n"
     "  exponential backoff (100 ms doubling up to 10 s).\n"
     "  --pg CONNINFO      libpq connection string of the stores\n"
     "  --index DIR        index directory (created with its parents if missing)\n"
     "  --once             catch up to the current end and exit (non-zero when\n"
     "                     PostgreSQL cannot be reached)\n"
     "  --batch-mb N       commit when pending postings pass N MiB (1..65536, default 64)\n"
     "  --poll-ms N        poll interval when no notification comes (10..600000,\n"
     "                     default 1000; on a hot standby, which sends none, the\n"
     "                     only wake-up)\n"
     "  --opensearch URL   mirror every change to OpenSearch through an outbox\n"
     "  --no-load-in-map   a first load writes the pages it changes in the index's\n"
     "                     map by default (--load-in-map): its memory stays flat,\n"
     "                     and it needs free disk up to the map (twice the data at\n"
     "                     most) until it ends. With this option it keeps copies of\n"
     "                     them in memory until each commit instead, which grow\n"
     "                     with the index (423 MB at 1,000,000 interviews)\n"},
    {"status", O_INDEX,
     "status --index DIR\n"
     "  Prints the index counts and checkpoint as one JSON object.\n"},
    {"verify", O_PG | O_INDEX | O_OPENSEARCH,
     "verify --pg CONNINFO --index DIR [--opensearch URL]\n"
     "  Compares the stores, the index (and the mirror); exits 0 only when they\n"
     "  agree, else prints every difference and exits 1.\n"},
    {"reindex", O_PG | O_INDEX | O_OPENSEARCH | O_BULK | O_MAP | O_NOMAP,
     "reindex --pg CONNINFO --index DIR [--opensearch URL [--bulk-retry-s N]]\n"
     "        [--no-load-in-map]\n"
     "  Rebuilds into a new generation from one snapshot of the stores while the\n"
     "  current one serves, then swaps it in (and the mirror's alias). Progress:\n"
     "  a bar on a terminal, JSON lines otherwise.\n"
     "  --bulk-retry-s N  documents OpenSearch answers 429/5xx are sent again with\n"
     "                    backoff for at most N seconds per batch (1..86400,\n"
     "                    default 300); then the reindex fails and the old\n"
     "                    generation and index keep serving\n"
     "  --no-load-in-map  as for run: by default the new generation is written in\n"
     "                    its map (flat memory; free disk up to the map, twice\n"
     "                    the data at most, beside the old generation; where the\n"
     "                    map cannot grow, the reindex starts again without it).\n"
     "                    With this option LMDB keeps copies of the pages it\n"
     "                    writes in memory until each commit\n"},
    {"compact", O_INDEX,
     "compact --index DIR\n"
     "  Rewrites the index without free pages (erased data leaves the files) as a\n"
     "  new generation and swaps it in. Refuses while an indexer (run, reindex)\n"
     "  holds the index: stop it first.\n"},
    {"query", O_INDEX | O_LIMIT | O_TEXT,
     "query --index DIR [--limit N] TEXT\n"
     "  Lists the documents containing every word of TEXT (debugging aid);\n"
     "  --limit N: at most N (1..100000, default 20).\n"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void print_usage(FILE *f) {
  fputs("usage: convsearch-indexer COMMAND [OPTIONS]\n"
        "       convsearch-indexer COMMAND --help\n"
        "       convsearch-indexer --version\n\n"
        "Every command also takes --config FILE: the options of the file's [indexer]\n"
        "section that the command takes (\"pg = CONNINFO\" for --pg CONNINFO); options\n"
        "on the command line win.\n\ncommands:\n",
        f);
  for (size_t i = 0; i < NCOMMANDS; i++) {
    const char *h = commands[i].help;
    fprintf(f, "  %.*s\n", (int)(strchr(h, '\n') - h), h);
  }
}

static void print_command(FILE *f, const command *c) {
  fprintf(f, "usage: convsearch-indexer %s", c->help);
}

typedef struct args {
  const char *pg, *index, *text, *opensearch, *indexer_role;
  int portal, switch_mode, once, limit, poll_ms, bulk_retry_s, load_in_map;
  long batch_mb;
} args;

/* One line saying what is wrong, then the usage of the command (or the
 * overview without one). */
static int bad_for(const command *c, const char *msg, const char *arg) {
  fprintf(stderr, "convsearch-indexer: %s%s%s%s%s\n\n", c ? c->name : "", c ? ": " : "", msg,
          arg ? ": " : "", arg ? arg : "");
  if (c)
    print_command(stderr, c);
  else
    print_usage(stderr);
  return 2;
}

static int parse_int(const char *s, long lo, long hi, long *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static const struct {
  const char *name;
  unsigned bit;
} option_names[] = {{"--pg", O_PG},
                    {"--index", O_INDEX},
                    {"--opensearch", O_OPENSEARCH},
                    {"--portal", O_PORTAL},
                    {"--once", O_ONCE},
                    {"--limit", O_LIMIT},
                    {"--batch-mb", O_BATCH},
                    {"--poll-ms", O_POLL},
                    {"--switch-mode", O_SWITCH},
                    {"--indexer-role", O_ROLE},
                    {"--bulk-retry-s", O_BULK},
                    {"--load-in-map", O_MAP},
                    {"--no-load-in-map", O_NOMAP}};

/* Settings of --config FILE: the options this command takes, and names no
 * command knows (so that parse() refuses them by name). */
static int config_accepts(const char *name, void *ctx) {
  const command *c = ctx;
  for (size_t k = 0; k < sizeof option_names / sizeof option_names[0]; k++) {
    if (!strcmp(name, option_names[k].name)) return (c->opts & option_names[k].bit) != 0;
  }
  return 1;
}

static int parse(const command *c, int argc, char **argv, args *a) {
  for (int i = 2; i < argc; i++) {
    const char *o = argv[i];
    int has = i + 1 < argc;
    long v;
    unsigned bit = 0;
    for (size_t k = 0; k < sizeof option_names / sizeof option_names[0]; k++) {
      if (!strcmp(o, option_names[k].name)) bit = option_names[k].bit;
    }
    if (bit && !(c->opts & bit)) return bad_for(c, "option not taken by this command", o);
    if (bit && !(bit & (O_PORTAL | O_ONCE | O_SWITCH | O_MAP | O_NOMAP)) && !has)
      return bad_for(c, "missing value for", o);
    if (bit == O_PG) {
      a->pg = argv[++i];
    } else if (bit == O_INDEX) {
      a->index = argv[++i];
    } else if (bit == O_OPENSEARCH) {
      a->opensearch = argv[++i];
    } else if (bit == O_PORTAL) {
      a->portal = 1;
    } else if (bit == O_SWITCH) {
      a->switch_mode = 1;
    } else if (bit == O_ROLE) {
      a->indexer_role = argv[++i];
    } else if (bit == O_BULK) {
      if (parse_int(argv[++i], 1, 86400, &v))
        return bad_for(c, "--bulk-retry-s takes 1..86400", argv[i]);
      a->bulk_retry_s = (int)v;
    } else if (bit == O_ONCE) {
      a->once = 1;
    } else if (bit == O_MAP) {
      a->load_in_map = 1;
    } else if (bit == O_NOMAP) {
      a->load_in_map = 0;
    } else if (bit == O_LIMIT) {
      if (parse_int(argv[++i], 1, 100000, &v))
        return bad_for(c, "--limit takes 1..100000", argv[i]);
      a->limit = (int)v;
    } else if (bit == O_BATCH) {
      if (parse_int(argv[++i], 1, 65536, &v))
        return bad_for(c, "--batch-mb takes 1..65536", argv[i]);
      a->batch_mb = v;
    } else if (bit == O_POLL) {
      if (parse_int(argv[++i], 10, 600000, &v))
        return bad_for(c, "--poll-ms takes 10..600000", argv[i]);
      a->poll_ms = (int)v;
    } else if (o[0] == '-' && o[1] == '-') {
      return bad_for(c, "unknown option", o);
    } else if ((c->opts & O_TEXT) && !a->text) {
      a->text = o;
    } else {
      return bad_for(c, "unexpected argument", o);
    }
  }
  if ((c->opts & O_PG) && !a->pg) return bad_for(c, "--pg is required", NULL);
  if ((c->opts & O_INDEX) && !a->index) return bad_for(c, "--index is required", NULL);
  if ((c->opts & O_TEXT) && !a->text) return bad_for(c, "TEXT is required", NULL);
  return 0;
}

static void on_signal(int sig) {
  (void)sig;
  cs_tail_request_stop();
}

int main(int argc, char **argv) {
  cs_log_init("indexer");
  if (argc < 2) return bad_for(NULL, "missing command", NULL);
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--version")) {
    printf("convsearch-indexer %s\n", CS_VERSION);
    return 0;
  }
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    const command *c = NULL;
    for (size_t i = 0; argc > 2 && i < NCOMMANDS; i++) {
      if (!strcmp(argv[2], commands[i].name)) c = &commands[i];
    }
    if (c)
      print_command(stdout, c);
    else
      print_usage(stdout);
    return 0;
  }
  const command *c = NULL;
  for (size_t i = 0; i < NCOMMANDS; i++) {
    if (!strcmp(cmd, commands[i].name)) c = &commands[i];
  }
  if (!c) return bad_for(NULL, "unknown command", cmd);
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      print_command(stdout, c);
      return 0;
    }
  }
  static char **config_argv; /* until exit (static: not a leak) */
  char err[512];
  if (cs_config_expand(argc, argv, 2, "indexer", config_accepts, (void *)c, &argc, &config_argv,
                       err, sizeof err))
    return bad_for(c, err, NULL);
  argv = config_argv;
  args a = {.limit = 20, .batch_mb = 64, .poll_ms = 1000, .load_in_map = 1};
  int rc = parse(c, argc, argv, &a);
  if (rc) return rc;
  if (a.bulk_retry_s && !a.opensearch)
    return bad_for(c, "--bulk-retry-s is for reindex with --opensearch", NULL);
  if (!strcmp(cmd, "install")) {
    cs_install_opts io = {a.portal, a.switch_mode, a.indexer_role};
    return cs_install(a.pg, &io);
  }
  if (!strcmp(cmd, "run")) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    cs_tail_opts o = {a.pg,      a.index,      a.once,       (size_t)a.batch_mb << 20,
                      a.poll_ms, a.opensearch, a.load_in_map};
    cs_log(CS_LOG_INFO, "indexing into %s%s", a.index, a.once ? " (once)" : "");
    return cs_tail_run(&o);
  }
  if (!strcmp(cmd, "status")) return cs_status(a.index);
  if (!strcmp(cmd, "verify")) return cs_verify(a.pg, a.index, a.opensearch);
  if (!strcmp(cmd, "reindex"))
    return cs_reindex(a.pg, a.index, a.opensearch,
                      a.bulk_retry_s ? a.bulk_retry_s : CS_REINDEX_BULK_RETRY_S, a.load_in_map);
  if (!strcmp(cmd, "compact")) return cs_compact(a.index);
  return cs_debug_query(a.index, a.text, a.limit);
}
