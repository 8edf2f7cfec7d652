/*
 * convsearch-server: the query server. Parses the command line, loads the
 * tokens, opens the index read-only and serves the v1 HTTP API until SIGTERM
 * or SIGINT, then stops accepting, finishes, stops a running reindex job,
 * closes the index and exits 0.
 *
 * Signals are blocked in every thread and taken with sigwait() here, so no
 * handler ever runs inside libmicrohttpd or the engine.
 */
#include "auth.h"
#include "config.h"
#include "engine.h"
#include "jobs.h"
#include "log.h"
#include "pseudonym_secret.h"
#include "server.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: convsearch-server --index DIR --listen HOST:PORT --tokens FILE\n"
    "                         [--token-secret-file FILE [--token-max-ttl SECONDS]]\n"
    "                         [--threads N] [--pollers N]\n"
    "                         [--reindex-pg CONNINFO [--indexer PATH] [--opensearch URL]]\n"
    "                         [--cors-origin ORIGIN]... [--console-dir DIR|off]\n"
    "                         [--pseudonym-secret-file FILE]\n"
    "                         [--thesaurus FILE|none] [--hunspell PREFIX|none]\n"
    "                         [--owner-cache-mb N]\n"
    "\n"
    "Serves the convsearch v1 HTTP API (see api/openapi.yaml) over the index in DIR.\n"
    "\n"
    "  --index DIR               index directory written by convsearch-indexer\n"
    "  --listen HOST:PORT        address to listen on, e.g. 127.0.0.1:8750 or [::1]:8750\n"
    "                            (port 0 picks a free port; the log says which)\n"
    "  --tokens FILE             service tokens, one per line:\n"
    "                              sha256:<hex of the token> admin|analyst|portal [employee=ID]\n"
    "                            must not be readable or writable by group or others\n"
    "  --token-secret-file FILE  shared secret for per-employee tokens minted by the portal\n"
    "                            (v1.<payload>.<signature>); same permission rule; one\n"
    "                            line ending at the end of the file is not part of it\n"
    "  --token-max-ttl SECONDS   longest lifetime of a per-employee token: one whose exp is\n"
    "                            further from now is refused (default 86400, one day;\n"
    "                            at most 31536000)\n"
    "  --pseudonym-secret-file FILE  secret the pseudonyms analysts see are keyed with\n"
    "                            (HMAC-SHA256 of the person's id); same permission rule;\n"
    "                            16 to 1024 bytes (default: DIR/pseudonym.secret, made\n"
    "                            with 32 random bytes on first start, kept after)\n"
    "  --threads N               threads answering requests, in the order they arrive\n"
    "                            (default: CPU cores + 1, 1..256)\n"
    "  --pollers N               threads reading requests and writing answers (default:\n"
    "                            one per 4 CPU cores, at least one; 1..256)\n"
    "  --reindex-pg CONNINFO     enables POST /v1/admin/reindex: runs\n"
    "                              INDEXER reindex --pg CONNINFO --index DIR [--opensearch URL]\n"
    "                            (prefer a passfile to a password in CONNINFO: command\n"
    "                            lines are visible to every local user)\n"
    "  --indexer PATH            convsearch-indexer to run (default: the one next to this\n"
    "                            program)\n"
    "  --opensearch URL          mirror passed to reindex jobs\n"
    "  --cors-origin ORIGIN      lets browser pages from ORIGIN (scheme://host[:port], e.g.\n"
    "                            https://portal.example.org) call the API: their requests\n"
    "                            and preflights get Access-Control-Allow-Origin; repeatable;\n"
    "                            other origins get no CORS header (default: no CORS)\n"
    "  --console-dir DIR|off     serves the analyst console (static files) from DIR at\n"
    "                            /console/ (default: share/convsearch/console next to the\n"
    "                            bin/ directory of this program, when it exists); off: none\n"
    "  --thesaurus FILE          MyThes thesaurus expanding Q&A questions with synonyms\n"
    "                            (default " CS_THESAURUS_DEFAULT ",\n"
    "                            Debian's mythes-es; \"none\": no expansion; an unreadable\n"
    "                            file is logged once and questions are not expanded)\n"
    "  --hunspell PREFIX         hunspell dictionary (PREFIX.aff, PREFIX.dic) whose lemmas\n"
    "                            expand Q&A question words (default " CS_LEMMAS_DEFAULT ",\n"
    "                            Debian's hunspell-es; \"none\": no lemmas)\n"
    "  --owner-cache-mb N        the most the copies of owners' words and terms (what a\n"
    "                            portal caller's typos and prefixes walk, one per owner)\n"
    "                            hold together, in MiB; the least recently used owner's go\n"
    "                            first (default 96; 0: none kept, the index is read)\n"
    "  --help                    this text\n"
    "  --version                 the version of convsearch\n"
    "  --config FILE             settings: the [server] section of FILE, one \"name = value\"\n"
    "                            line for each --name value (\"true\" for a flag); options\n"
    "                            on the command line win\n"
    "\n"
    "Logs one line per request to stderr; stops cleanly on SIGTERM or SIGINT.\n";

typedef struct args {
  const char *index, *listen, *tokens, *secret, *max_ttl, *pseudonym_secret, *thesaurus, *hunspell;
  const char *owner_cache;
  const char *reindex_pg, *indexer, *opensearch;
  const char *console_dir;
  unsigned threads, pollers;
  cs_cors cors;
} args;

static int bad(const char *msg, const char *arg) {
  fprintf(stderr, "convsearch-server: %s%s%s\n\n%s", msg, arg ? ": " : "", arg ? arg : "", usage);
  return 2;
}

static int parse(int argc, char **argv, args *a) {
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *val = NULL;
    char name[32];
    const char *eq = strchr(o, '=');
    if (!strncmp(o, "--", 2) && eq && (size_t)(eq - o) < sizeof name) {
      memcpy(name, o, (size_t)(eq - o));
      name[eq - o] = 0;
      val = eq + 1;
    } else {
      snprintf(name, sizeof name, "%s", o);
    }
    const char **slot = NULL;
    if (!strcmp(name, "--index"))
      slot = &a->index;
    else if (!strcmp(name, "--listen"))
      slot = &a->listen;
    else if (!strcmp(name, "--tokens"))
      slot = &a->tokens;
    else if (!strcmp(name, "--token-secret-file"))
      slot = &a->secret;
    else if (!strcmp(name, "--pseudonym-secret-file"))
      slot = &a->pseudonym_secret;
    else if (!strcmp(name, "--token-max-ttl"))
      slot = &a->max_ttl;
    else if (!strcmp(name, "--reindex-pg"))
      slot = &a->reindex_pg;
    else if (!strcmp(name, "--indexer"))
      slot = &a->indexer;
    else if (!strcmp(name, "--opensearch"))
      slot = &a->opensearch;
    else if (!strcmp(name, "--console-dir"))
      slot = &a->console_dir;
    else if (!strcmp(name, "--thesaurus"))
      slot = &a->thesaurus;
    else if (!strcmp(name, "--hunspell"))
      slot = &a->hunspell;
    else if (!strcmp(name, "--owner-cache-mb"))
      slot = &a->owner_cache;
    else if (strcmp(name, "--threads") != 0 && strcmp(name, "--pollers") != 0 &&
             strcmp(name, "--cors-origin") != 0)
      return bad(o[0] == '-' ? "unknown option" : "unexpected argument", o);
    if (!val) {
      if (i + 1 >= argc) return bad("missing value for", name);
      val = argv[++i];
    }
    if (!*val) return bad("empty value for", name);
    if (slot) {
      if (*slot) return bad("option given twice", name);
      *slot = val;
      continue;
    }
    if (!strcmp(name, "--cors-origin")) {
      char err[400];
      if (cs_cors_add(&a->cors, val, err, sizeof err)) return bad(err, NULL);
      continue;
    }
    char *end;
    errno = 0;
    long t = strtol(val, &end, 10);
    int pollers = !strcmp(name, "--pollers");
    if (errno || *end || t < 1 || t > 256)
      return bad(pollers ? "--pollers takes a number from 1 to 256"
                         : "--threads takes a number from 1 to 256",
                 val);
    *(pollers ? &a->pollers : &a->threads) = (unsigned)t; /* the last one given */
  }
  if (!a->index) return bad("--index is required", NULL);
  if (!a->listen) return bad("--listen is required", NULL);
  if (!a->tokens) return bad("--tokens is required", NULL);
  if (a->max_ttl && !a->secret)
    return bad("--token-max-ttl is for per-employee tokens: it needs --token-secret-file", NULL);
  if ((a->indexer || a->opensearch) && !a->reindex_pg)
    return bad("--indexer and --opensearch are for reindex jobs: they need --reindex-pg", NULL);
  return 0;
}

/* The directory of this program. */
static int self_dir(char *out, size_t cap) {
  ssize_t n = readlink("/proc/self/exe", out, cap - 1);
  if (n <= 0) return -1;
  out[n] = 0;
  char *slash = strrchr(out, '/');
  if (!slash) return -1;
  *slash = 0;
  return 0;
}

/* convsearch-indexer in the directory of this program. */
static int default_indexer(char *out, size_t cap) {
  char self[PATH_MAX];
  if (self_dir(self, sizeof self)) return -1;
  int k = snprintf(out, cap, "%s/convsearch-indexer", self);
  return k < 0 || (size_t)k >= cap ? -1 : 0;
}

/* The console's default directory: share/convsearch/console next to the
 * bin/ directory of this program (the build tree and an installed prefix
 * have the same layout), when it exists. */
static int default_console(char *out, size_t cap) {
  char self[PATH_MAX];
  if (self_dir(self, sizeof self)) return -1;
  int k = snprintf(out, cap, "%s/../share/convsearch/console", self);
  struct stat st;
  return k < 0 || (size_t)k >= cap || stat(out, &st) != 0 || !S_ISDIR(st.st_mode) ? -1 : 0;
}

/* Every connection takes two descriptors (libmicrohttpd's and the reaper's
 * dup), so raise the soft limit as far as the hard one allows and size the
 * connection limit to what we got. */
static unsigned connection_budget(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 256;
  rlim_t want = (rlim_t)CS_CONN_MAX * 2 + 128;
  if (rl.rlim_cur < want) {
    rlim_t cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    if (cur > rl.rlim_cur) {
      rl.rlim_cur = cur;
      if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
    }
  }
  if (rl.rlim_cur >= want) return CS_CONN_MAX;
  long n = ((long)rl.rlim_cur - 128) / 2;
  return n < 16 ? 16 : (unsigned)n;
}

int main(int argc, char **argv) {
  cs_log_init("server");
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(usage, stdout);
      return 0;
    }
    if (!strcmp(argv[i], "--version")) {
      printf("convsearch-server %s\n", CS_VERSION);
      return 0;
    }
  }
  static char **config_argv; /* until exit (static: not a leak) */
  char cerr[512];
  if (cs_config_expand(argc, argv, 1, "server", NULL, NULL, &argc, &config_argv, cerr, sizeof cerr))
    return bad(cerr, NULL);
  argv = config_argv;
  static args a; /* zeroed; large (the CORS origins) */
  int rc = parse(argc, argv, &a);
  if (rc) return rc;
  long long max_ttl = CS_TOKEN_TTL_DEFAULT;
  if (a.max_ttl) {
    char *end;
    errno = 0;
    max_ttl = strtoll(a.max_ttl, &end, 10);
    if (errno || *end || max_ttl < 1 || max_ttl > CS_TOKEN_TTL_MAX)
      return bad("--token-max-ttl takes a number of seconds from 1 to 31536000", a.max_ttl);
  }
  long long owner_cache_mb = 0;
  if (a.owner_cache) {
    char *end;
    errno = 0;
    owner_cache_mb = strtoll(a.owner_cache, &end, 10);
    if (errno || *end || owner_cache_mb < 0 || owner_cache_mb > 1048576)
      return bad("--owner-cache-mb takes a number of MiB from 0 to 1048576", a.owner_cache);
  }
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  if (cores < 1) cores = 1;
  /* One per core and one more, for a thread waiting on the disk. On 2
   * cores, as the portal's 12 employees: p99 ~20 ms against ~22.5 with
   * 2 per core, and as many requests per second; with 1 per core, 4 %
   * fewer, and 20 % fewer beside an analyst (bench/analysis.md). */
  if (!a.threads) a.threads = cores > 255 ? 256 : (unsigned)(cores + 1);
  /* Polling threads only read and write: on 2 cores one gave ~3 % more
   * requests per second than two, at the same p99 (bench/analysis.md). */
  if (!a.pollers) a.pollers = cores >= 8 ? (unsigned)(cores > 1024 ? 256 : cores / 4) : 1;

  /* Before any thread exists, so that every thread inherits the mask. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  char err[512];
  cs_auth *auth = NULL;
  if (cs_auth_load(a.tokens, a.secret, &auth, err, sizeof err)) {
    fprintf(stderr, "convsearch-server: %s\n", err);
    return 1;
  }
  cs_auth_set_max_ttl(auth, max_ttl);
  if (cs_auth_count(auth) == 0 && !a.secret)
    cs_log(CS_LOG_WARN, "the tokens file %s holds no token: only /v1/health will answer", a.tokens);

  cs_engine *engine = NULL;
  cs_engine_error eerr = {0};
  if (cs_engine_open(a.index, &engine, &eerr)) {
    fprintf(stderr, "convsearch-server: cannot open the index in %s: %s\n", a.index,
            eerr.message[0] ? eerr.message : "unknown error");
    cs_auth_free(auth);
    return 1;
  }
  if (cs_pseudonym_secret_load(a.pseudonym_secret, a.index, err, sizeof err)) {
    fprintf(stderr, "convsearch-server: %s\n", err);
    cs_engine_close(engine);
    cs_auth_free(auth);
    return 1;
  }
  const char *thes = a.thesaurus ? a.thesaurus : CS_THESAURUS_DEFAULT;
  cs_engine_load_thesaurus(engine, strcmp(thes, "none") ? thes : NULL);
  const char *dic = a.hunspell ? a.hunspell : CS_LEMMAS_DEFAULT;
  cs_engine_load_lemmas(engine, strcmp(dic, "none") ? dic : NULL);
  if (a.owner_cache) cs_engine_set_owner_cache(engine, (size_t)owner_cache_mb << 20);

  cs_jobs *jobs = NULL;
  if (a.reindex_pg) {
    char indexer[PATH_MAX];
    if (!a.indexer && default_indexer(indexer, sizeof indexer)) {
      fprintf(stderr, "convsearch-server: cannot locate convsearch-indexer; give --indexer\n");
      cs_engine_close(engine);
      cs_auth_free(auth);
      return 1;
    }
    cs_jobs_config jc = {a.indexer ? a.indexer : indexer, a.reindex_pg, a.index, a.opensearch};
    if (cs_jobs_create(&jc, &jobs, err, sizeof err)) {
      fprintf(stderr, "convsearch-server: %s\n", err);
      cs_engine_close(engine);
      cs_auth_free(auth);
      return 1;
    }
  }

  static char console_dir[PATH_MAX];
  const char *console = NULL;
  if (a.console_dir && strcmp(a.console_dir, "off") != 0) {
    struct stat st;
    if (stat(a.console_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
      fprintf(stderr, "convsearch-server: --console-dir %s is not a directory\n", a.console_dir);
      cs_jobs_destroy(jobs);
      cs_engine_close(engine);
      cs_auth_free(auth);
      return 1;
    }
    console = a.console_dir;
  } else if (!a.console_dir && default_console(console_dir, sizeof console_dir) == 0) {
    console = console_dir;
  }
  cs_server_opts so = {a.listen, a.threads, a.pollers, connection_budget(), jobs, &a.cors, console};
  cs_server *srv = NULL;
  if (cs_server_start(&so, engine, auth, &srv, err, sizeof err)) {
    fprintf(stderr, "convsearch-server: %s\n", err);
    cs_jobs_destroy(jobs);
    cs_engine_close(engine);
    cs_auth_free(auth);
    return 1;
  }
  cs_log(CS_LOG_INFO,
         "listening on %s (index %s, %u threads, %u polling, %zu service tokens%s, "
         "%u connections%s, %d CORS origins, console %s)",
         cs_server_address(srv), a.index, a.threads, a.pollers, cs_auth_count(auth),
         a.secret ? ", per-employee tokens on" : "", so.max_connections,
         jobs ? ", reindex jobs on" : "", a.cors.n, console ? console : "off");

  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  cs_log(CS_LOG_INFO, "stopping on %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  cs_server_stop(srv);
  cs_jobs_destroy(jobs);
  cs_engine_close(engine);
  cs_auth_free(auth);
  cs_log(CS_LOG_INFO, "stopped");
  return 0;
}
