/*
 * The store: LMDB behind named tables (see store.h). This is the only file
 * that includes lmdb.h.
 *
 * Map size. LMDB maps the whole data file at a fixed size. The writer starts
 * with a map twice the data file (at least 256 MiB) and doubles it when a
 * write fails with MDB_MAP_FULL (cs_store_grow). Readers map 1 TiB of address
 * space up front, so a writer in another process that grows the file rarely
 * forces them to remap; when it does (MDB_MAP_RESIZED), the reader waits for
 * its own open transactions to end, remaps and retries. A rwlock orders that:
 * every transaction holds it shared; remapping takes it exclusively.
 *
 * Stale readers. A process killed while it held a read transaction (a
 * query server under kill -9) leaves its slot in the reader table, and
 * LMDB keeps every page that snapshot could see: freed pages are never
 * reused and the file grows with every commit. mdb_reader_check() clears
 * the slots of dead processes; it runs when an environment is opened and,
 * in the writer, at the start of a write transaction at most every
 * CS_READER_CHECK_S seconds.
 *
 * Bulk writes (CS_STORE_BULK). Without MDB_WRITEMAP, LMDB keeps a malloc'd
 * copy of every page a write transaction changes until it commits (and
 * keeps those buffers for the next ones): a first load's batch touches the
 * last leaf of each of its terms, so that memory grows with the index. With
 * it, LMDB writes the pages in the map, and they are the kernel's file
 * pages, written back and reclaimed as any. But a page of the map that the
 * file system cannot give a block (a full disk) then kills the process
 * with SIGBUS. So the whole map is allocated (fallocate) before a write
 * transaction may write in it: LMDB writes nowhere else (a transaction
 * that would needs a larger map: MDB_MAP_FULL, cs_store_grow). Where the
 * map cannot be allocated when the store opens, it opens without the flag;
 * where a grown map cannot be before the next write transaction, that
 * transaction is refused with CS_ENOSPC before it writes. So a first load
 * in bulk mode needs free disk up to its map, at most twice its data,
 * until it ends: leaving bulk mode (or closing) truncates the file to the
 * data in use, handing the rest back (LMDB extends a file it does not map
 * for writing as it goes). And the map is opened without readahead
 * (MDB_NORDAHEAD, MADV_RANDOM): with it, a first load of 300,000 synthetic
 * interviews wrote 351 GB to the disk, without it 23.6 GB (as much as with
 * page copies). Most likely the page cache's large folios: readahead brings
 * pages in as large folios, and one page written through the map dirties,
 * and writes back, its whole folio; a fault without readahead brings one
 * page. Its commits are not synced (MDB_NOSYNC) where the generation can
 * carry the marker of unsynced.h, which says what a crash of the machine
 * then costs: the generation is written again.
 */
#include "store.h"

#include "errors.h"
#include "grow.h"
#include "log.h"
#include "path.h"
#include "unsynced.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CS_MAP_MIN ((size_t)256 << 20)
#define CS_MAP_MAX ((size_t)1 << 40)
#define CS_READER_MAP ((size_t)1 << 40)
#define CS_READER_CHECK_S 1

static const char *const table_names[CS_T__COUNT] = {
    "meta",  "post",   "lex",   "words",  "docs",  "conv",    "turn", "patient", "pconv",  "event",
    "inter", "erased", "point", "outbox", "owner", "passage", "olex", "owords",  "ostats",
};

struct cs_store {
  MDB_env *env;
  MDB_dbi dbi[CS_T__COUNT];
  unsigned flags;
  int lock_fd;
  size_t map_size;
  pthread_rwlock_t remap;
  char dir[PATH_MAX];  /* the index directory (DIR) */
  char gen[64];        /* generation name, e.g. "g1" */
  time_t reader_check; /* last mdb_reader_check (writer) */
  int registered;      /* dev, ino (of data.mdb): in the open generations (below) */
  uint64_t allocated;  /* CS_STORE_BULK: bytes of the data file allocated (the map's) */
  int unsynced;        /* CS_STORE_BULK: commits not synced, the marker put (unsynced.h) */
  dev_t dev;
  ino_t ino;
};

struct cs_txn {
  cs_store *s;
  MDB_txn *txn;
  unsigned track;  /* tables whose written keys' 8-byte prefixes are noted */
  uint64_t *noted; /* those prefixes (be64), in the order written */
  size_t nnoted, capnoted;
  int track_err; /* noting one failed (memory): the caller is told */
};

struct cs_cursor {
  MDB_cursor *c;
  cs_txn *t;
  cs_table tbl;
};

const char *cs_strerror(int rc) {
  switch (rc) {
  case 0:
    return "ok";
#define CS_ERRNO_MSG(name, value, msg)                                                             \
  case value:                                                                                      \
    return msg;
    CS_ERRNO_MAP(CS_ERRNO_MSG)
#undef CS_ERRNO_MSG
  default:
    return "unknown error";
  }
}

static int map_rc(int rc) {
  switch (rc) {
  case MDB_SUCCESS:
    return 0;
  case MDB_NOTFOUND:
    return CS_ENOTFOUND;
  case MDB_MAP_FULL:
  case MDB_TXN_FULL:
    return CS_EFULL;
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND:
  case MDB_INVALID:
    return CS_ECORRUPT;
  case MDB_VERSION_MISMATCH:
    return CS_EVERSION;
  case ENOMEM:
    return CS_ENOMEM;
  case EIO:
    return CS_EIO;
  case ENOSPC:
  case EDQUOT:
    return CS_ENOSPC;
  default:
    return CS_ESTORE;
  }
}

/* LMDB reports a write the file system cut short (it was full) as EIO,
 * not ENOSPC: such an EIO, with next to no space left where env lives, is
 * CS_ENOSPC. */
#define FULL_SLACK (1u << 20)
static int write_rc(MDB_env *env, int rc) {
  if (rc != EIO) return map_rc(rc);
  const char *path;
  struct statvfs v;
  if (mdb_env_get_path(env, &path) == 0 && statvfs(path, &v) == 0) {
    uint64_t left = (uint64_t)(geteuid() == 0 ? v.f_bfree : v.f_bavail) * v.f_frsize;
    if (left < FULL_SLACK) return CS_ENOSPC;
  }
  return CS_EIO;
}

static void set_err(char *err, size_t cap, const char *fmt, const char *a, const char *b) {
  if (err && cap) snprintf(err, cap, fmt, a, b);
}

/* Modes of what the index writer creates (README, "Users and modes"): a
 * server running as another user of the directory's group reads the index.
 * LMDB readers record themselves in lock.mdb, so it is group-writable. Set
 * explicitly, whatever the umask; a setgid bit inherited from the parent
 * directory is kept, so files take the directory's group. */
#define CS_MODE_DIR 0750
#define CS_MODE_DATA 0640
#define CS_MODE_LOCK 0660

/* Creates directory `path` if missing with CS_MODE_DIR. Returns 0 when it
 * exists afterwards. */
static int make_dir(const char *path) {
  if (mkdir(path, CS_MODE_DIR) != 0) return errno == EEXIST ? 0 : -1;
  struct stat st;
  if (stat(path, &st) == 0) chmod(path, CS_MODE_DIR | (st.st_mode & S_ISGID));
  return 0;
}

/* mkdir -p: creates the missing parents of `path` and `path` itself. */
static int make_dirs(const char *path) {
  char buf[PATH_MAX];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(buf, path, n + 1);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    int rc = make_dir(buf);
    *p = '/';
    if (rc) return -1;
  }
  return make_dir(buf);
}

/* Gives the files of an environment directory their modes (the writer owns
 * them; failures are harmless for the writer itself and show up as a
 * reader's "permission denied"). */
static void set_env_modes(const char *gendir) {
  char path[PATH_MAX];
  if (cs_path_join(path, sizeof path, gendir, "data.mdb") == 0) chmod(path, CS_MODE_DATA);
  if (cs_path_join(path, sizeof path, gendir, "lock.mdb") == 0) chmod(path, CS_MODE_LOCK);
}

/* The generations open in this process, by their data file's device and
 * inode. LMDB must not have one environment open twice in a process:
 * closing one copy can take the process for the last user and destroy the
 * lock file's mutexes while the other uses them (a crash in another
 * thread, found in a test harness that did it). A second open is refused
 * with a clear error instead. */
static pthread_mutex_t opened_lock = PTHREAD_MUTEX_INITIALIZER;
static struct opened {
  dev_t dev;
  ino_t ino;
} * opened;
static size_t nopened, opened_cap;

/* A forked child holds none of its parent's file locks and must not use
 * its environments (LMDB): it may open any generation afresh. The list's
 * lock is held across fork, so the child's copy is not taken mid-change. */
static void opened_hold(void) {
  pthread_mutex_lock(&opened_lock);
}

static void opened_release(void) {
  pthread_mutex_unlock(&opened_lock);
}

static void opened_forget(void) {
  nopened = 0;
  pthread_mutex_unlock(&opened_lock);
}

static void opened_init(void) {
  (void)pthread_atfork(opened_hold, opened_release, opened_forget);
}

static int is_open(dev_t dev, ino_t ino) {
  for (size_t i = 0; i < nopened; i++) {
    if (opened[i].dev == dev && opened[i].ino == ino) return 1;
  }
  return 0;
}

/* mdb_env_open(s->env, gendir, ...) unless gendir's data file is open in
 * this process already (CS_EBUSY, said in err); once open, the data file is
 * recorded (by its inode: LMDB holds it open, so the number is not reused
 * meanwhile). Under the list's lock, so two threads cannot both open. */
static int env_open_once(cs_store *s, const char *gendir, unsigned eflags, char *err,
                         size_t errcap) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, opened_init);
  char path[PATH_MAX];
  struct stat st;
  pthread_mutex_lock(&opened_lock);
  if (snprintf(path, sizeof path, "%s/data.mdb", gendir) < (int)sizeof path &&
      stat(path, &st) == 0 && is_open(st.st_dev, st.st_ino)) {
    pthread_mutex_unlock(&opened_lock);
    set_err(err, errcap, "index generation %s is already open in this process%s", gendir,
            " (LMDB allows one open per process: share that store)");
    return CS_EBUSY;
  }
  int rc = mdb_env_open(s->env, gendir, eflags, CS_MODE_DATA);
  int fd;
  if (!rc && mdb_env_get_fd(s->env, &fd) == 0 && fstat(fd, &st) == 0 &&
      !cs_grow((void **)&opened, &opened_cap, nopened + 1, sizeof *opened)) {
    opened[nopened++] = (struct opened){st.st_dev, st.st_ino};
    s->registered = 1;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
  }
  pthread_mutex_unlock(&opened_lock);
  return rc;
}

/* mdb_env_close(s->env), and s's data file out of the list, under the
 * list's lock: no other thread opens it while it closes. */
static void env_close_once(cs_store *s) {
  if (!s->registered) {
    mdb_env_close(s->env);
    return;
  }
  pthread_mutex_lock(&opened_lock);
  mdb_env_close(s->env);
  for (size_t i = 0; i < nopened; i++) {
    if (opened[i].dev == s->dev && opened[i].ino == s->ino) {
      opened[i] = opened[--nopened];
      break;
    }
  }
  pthread_mutex_unlock(&opened_lock);
  s->registered = 0;
}

/* CS_STORE_BULK: the data file allocated up to the map. Called before the
 * environment's first transaction, or within a write transaction that has
 * written nothing. */
static int bulk_room(cs_store *s) {
  int fd;
  if (s->map_size <= s->allocated) return 0;
  if (mdb_env_get_fd(s->env, &fd)) return CS_EIO;
  if (fallocate(fd, 0, (off_t)s->allocated, (off_t)(s->map_size - s->allocated)) != 0)
    return errno == ENOSPC || errno == EDQUOT ? CS_ENOSPC : CS_EIO;
  s->allocated = s->map_size;
  return 0;
}

/* CS_STORE_BULK, and entering it: closes the environment and truncates its
 * data file to the data in use (the map's length and its allocation past
 * the data handed back). Pages past it belong to no committed snapshot: no
 * reader in any process reads them. */
static void bulk_close(cs_store *s) {
  if (s->unsynced) { /* synced before its marker goes (unsynced.h) */
    const char *dir;
    if (mdb_env_sync(s->env, 1) == 0 && mdb_env_get_path(s->env, &dir) == 0) cs_unsynced_clear(dir);
    s->unsynced = 0;
  }
  uint64_t used = 0;
  int fd, ok = cs_store_used_bytes(s, &used) == 0 && used > 0 && mdb_env_get_fd(s->env, &fd) == 0;
  if (ok) fd = dup(fd);
  env_close_once(s);
  if (ok && fd >= 0) {
    if (ftruncate(fd, (off_t)used) != 0) {
      /* left as long as the map: sparse past what was allocated, no harm */
    }
    close(fd);
  }
  s->allocated = 0;
}

/* A failed open: the marker it put goes, unless an earlier writer's pages
 * are still to be synced (before: the state the open found). */
static void unmark_failed(cs_store *s, const char *gendir, int before) {
  if (s->unsynced && before == CS_UNSYNCED_NONE) cs_unsynced_clear(gendir);
  s->unsynced = 0;
}

static int open_env(cs_store *s, const char *gendir, char *err, size_t errcap) {
  int rc = mdb_env_create(&s->env);
  if (rc) {
    set_err(err, errcap, "%s%s", "cannot create LMDB environment: ", mdb_strerror(rc));
    return map_rc(rc);
  }
  mdb_env_set_maxdbs(s->env, CS_T__COUNT + 2);
  mdb_env_set_maxreaders(s->env, 1024);
  int rdonly = (s->flags & CS_STORE_RDONLY) != 0;
  if (rdonly) {
    s->map_size = CS_READER_MAP;
  } else {
    char path[PATH_MAX];
    struct stat st;
    /* CONVSEARCH_INITIAL_MAP_MB lowers the starting map (tests use it to
     * exercise growth); the map still doubles as needed. */
    size_t want = CS_MAP_MIN;
    const char *env = getenv("CONVSEARCH_INITIAL_MAP_MB");
    if (env && atoi(env) > 0 && atoi(env) < 1 << 20) want = (size_t)atoi(env) << 20;
    if (cs_path_join(path, sizeof path, gendir, "data.mdb") == 0 && stat(path, &st) == 0) {
      while (want < (size_t)st.st_size * 2 && want < CS_MAP_MAX)
        want *= 2;
    }
    s->map_size = want;
  }
  mdb_env_set_mapsize(s->env, s->map_size);
  unsigned eflags = MDB_NOTLS | (rdonly ? MDB_RDONLY : 0);
  if (!rdonly && (s->flags & CS_STORE_REDERIVABLE)) eflags |= MDB_NOMETASYNC;
  if (rdonly) s->flags &= ~(unsigned)CS_STORE_BULK;
  if (s->flags & CS_STORE_BULK) eflags |= MDB_WRITEMAP | MDB_NORDAHEAD;
  int unsynced = cs_unsynced_state(gendir);
  if (unsynced == CS_UNSYNCED_LOST) {
    /* Written without a sync per commit when the machine stopped: pages
     * its commits name may never have reached the disk (unsynced.h). */
    if (rdonly || !(s->flags & CS_STORE_REDERIVABLE)) {
      set_err(err, errcap,
              "index generation %s was being written when the machine stopped, without a sync "
              "per commit: it cannot be read%s",
              gendir, "; convsearch-indexer run writes it again from the stores");
      mdb_env_close(s->env);
      s->env = NULL;
      return CS_ECORRUPT;
    }
    cs_log(CS_LOG_WARN,
           "index generation %s was being written when the machine stopped, without a sync per "
           "commit: starting it over (the stores are loaded again)",
           gendir);
    char path[PATH_MAX];
    if (cs_path_join(path, sizeof path, gendir, "data.mdb") == 0) unlink(path);
    if (cs_path_join(path, sizeof path, gendir, "lock.mdb") == 0) unlink(path);
    cs_unsynced_clear(gendir);
    unsynced = CS_UNSYNCED_NONE;
  }
  /* Bulk writes skip the sync per commit where the marker can be put. */
  s->unsynced = (s->flags & CS_STORE_BULK) && cs_unsynced_mark(gendir, CS_MODE_DATA) == 0;
  if (s->unsynced) eflags |= MDB_NOSYNC;
  rc = env_open_once(s, gendir, eflags, err, errcap);
  if (rc) unmark_failed(s, gendir, unsynced);
  if (rc == CS_EBUSY) {
    mdb_env_close(s->env); /* never opened: touches no lock file */
    s->env = NULL;
    return rc;
  }
  if (rc) {
    set_err(err, errcap, "cannot open index %s: %s", gendir, mdb_strerror(rc));
    mdb_env_close(s->env);
    s->env = NULL;
    return rc == ENOENT ? CS_ENOTFOUND : map_rc(rc);
  }
  if (!rdonly) set_env_modes(gendir);
  if (!rdonly && !s->unsynced && unsynced == CS_UNSYNCED_THIS && mdb_env_sync(s->env, 1) == 0)
    cs_unsynced_clear(gendir); /* a writer in bulk mode died: its pages are all in the cache */
  int dead = 0;
  if (mdb_reader_check(s->env, &dead) == 0) s->reader_check = time(NULL);
  MDB_txn *txn;
  rc = mdb_txn_begin(s->env, NULL, rdonly ? MDB_RDONLY : 0, &txn);
  if (rc) goto fail;
  for (int i = 0; i < CS_T__COUNT; i++) {
    rc = mdb_dbi_open(txn, table_names[i], rdonly ? 0 : MDB_CREATE, &s->dbi[i]);
    if (rc) {
      mdb_txn_abort(txn);
      if (rc == MDB_NOTFOUND) {
        /* A table a later format added: an index of an older version. */
        set_err(err, errcap,
                "the index in %s has an older format (no table %s): rebuild it with "
                "convsearch-indexer reindex",
                gendir, table_names[i]);
        unmark_failed(s, gendir, unsynced);
        env_close_once(s);
        s->env = NULL;
        return CS_EVERSION;
      }
      goto fail;
    }
  }
  rc = mdb_txn_commit(txn);
  if (rc) goto fail;
  if ((s->flags & CS_STORE_BULK) && bulk_room(s) != 0) {
    /* No room to allocate the map: opened again, keeping page copies. */
    bulk_close(s);
    s->env = NULL;
    s->flags &= ~(unsigned)CS_STORE_BULK;
    return open_env(s, gendir, err, errcap);
  }
  return 0;
fail:
  set_err(err, errcap, "cannot open index tables in %s: %s", gendir, mdb_strerror(rc));
  unmark_failed(s, gendir, unsynced);
  env_close_once(s);
  s->env = NULL;
  return rc == MDB_NOTFOUND ? CS_EVERSION : map_rc(rc);
}

static int store_new(unsigned flags, cs_store **out) {
  cs_store *s = calloc(1, sizeof *s);
  if (!s) return CS_ENOMEM;
  s->flags = flags;
  s->lock_fd = -1;
  pthread_rwlock_init(&s->remap, NULL);
  *out = s;
  return 0;
}

static int take_writer_lock(cs_store *s, const char *dir, char *err, size_t errcap) {
  char path[PATH_MAX];
  if (cs_path_join(path, sizeof path, dir, "writer.lock")) return CS_EINVAL;
  s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, CS_MODE_DATA);
  if (s->lock_fd < 0) {
    set_err(err, errcap, "cannot open %s: %s", path, strerror(errno));
    return CS_EIO;
  }
  fchmod(s->lock_fd, CS_MODE_DATA); /* whatever the umask, like the rest */
  if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    set_err(err, errcap, "%s%s", "another writer holds the index lock ", path);
    return CS_EBUSY;
  }
  return 0;
}

/* Opens the environment of the generation DIR/current names (s->dir). A
 * reindex or compaction switches the link, then removes the generation it
 * named: an open that read the link just before finds that generation
 * gone. It is tried again on the generation the link names now (a few
 * times: one switch per reindex, and a reindex takes seconds at least). */
static int open_current(cs_store *s, char *err, size_t errcap) {
  char cur[PATH_MAX], gendir[PATH_MAX];
  if (cs_path_join(cur, sizeof cur, s->dir, "current")) return CS_EINVAL;
  for (int attempt = 0;; attempt++) {
    ssize_t n = readlink(cur, s->gen, sizeof s->gen - 1);
    if (n <= 0) {
      set_err(err, errcap, "no index in %s (%s)", s->dir, n < 0 ? strerror(errno) : "empty link");
      return CS_ENOTFOUND;
    }
    s->gen[n] = 0;
    if (strchr(s->gen, '/')) {
      set_err(err, errcap, "%s%s",
              "index link must name a generation in the same directory: ", cur);
      return CS_ECORRUPT;
    }
    if (cs_path_join(gendir, sizeof gendir, s->dir, s->gen)) return CS_EINVAL;
    int rc = open_env(s, gendir, err, errcap);
    char now[sizeof s->gen];
    ssize_t m;
    if (!rc || attempt == 3 || (m = readlink(cur, now, sizeof now - 1)) <= 0) return rc;
    now[m] = 0;
    if (!strcmp(now, s->gen)) return rc; /* the same generation: a real failure */
  }
}

int cs_store_open(const char *dir, unsigned flags, cs_store **out, char *err, size_t errcap) {
  *out = NULL;
  if (strlen(dir) > PATH_MAX - 64) return CS_EINVAL;
  cs_store *s;
  int rc = store_new(flags, &s);
  if (rc) return rc;
  snprintf(s->dir, sizeof s->dir, "%s", dir);
  char cur[PATH_MAX], gendir[PATH_MAX];
  if (cs_path_join(cur, sizeof cur, dir, "current")) {
    rc = CS_EINVAL;
    goto fail;
  }
  if ((flags & CS_STORE_CREATE) && !(flags & CS_STORE_RDONLY)) {
    if (make_dirs(dir) != 0) {
      set_err(err, errcap, "cannot create %s: %s", dir, strerror(errno));
      rc = CS_EIO;
      goto fail;
    }
    struct stat st;
    if (lstat(cur, &st) != 0) {
      if (cs_path_join(gendir, sizeof gendir, dir, "g1")) {
        rc = CS_EINVAL;
        goto fail;
      }
      if (make_dir(gendir) != 0) {
        set_err(err, errcap, "cannot create %s: %s", gendir, strerror(errno));
        rc = CS_EIO;
        goto fail;
      }
      if (symlink("g1", cur) != 0) {
        set_err(err, errcap, "cannot create %s: %s", cur, strerror(errno));
        rc = CS_EIO;
        goto fail;
      }
    }
  }
  if (!(flags & CS_STORE_RDONLY)) {
    rc = take_writer_lock(s, dir, err, errcap);
    if (rc) goto fail;
  }
  rc = open_current(s, err, errcap);
  if (rc) goto fail;
  *out = s;
  return 0;
fail:
  cs_store_close(s);
  return rc;
}

/* Closes s's environment, if open; in bulk mode, or with cut, its data
 * file cut to the data in use. */
static void close_env(cs_store *s, int cut) {
  if (!s->env) return;
  /* CS_STORE_REDERIVABLE: the last commit's meta page was not synced. */
  if ((s->flags & CS_STORE_REDERIVABLE) && !(s->flags & CS_STORE_RDONLY)) mdb_env_sync(s->env, 1);
  if (cut || (s->flags & CS_STORE_BULK))
    bulk_close(s);
  else
    env_close_once(s);
  s->env = NULL;
}

int cs_store_reopen(cs_store *s, char *err, size_t errcap) {
  if (!s->dir[0]) return CS_EINVAL;
  close_env(s, 0);
  return open_current(s, err, errcap);
}

int cs_store_set_bulk(cs_store *s, int on, char *err, size_t errcap) {
  if (!s->dir[0] || (s->flags & CS_STORE_RDONLY)) return CS_EINVAL;
  if (!on == !(s->flags & CS_STORE_BULK)) return 0;
  /* Entering the mode, the file is cut to the data first: the map is
   * sized from the file, and a load in the mode that did not close (a
   * crash) left its file as long as its map, which would double at each
   * restart. */
  close_env(s, on);
  if (on)
    s->flags |= CS_STORE_BULK;
  else
    s->flags &= ~(unsigned)CS_STORE_BULK;
  return open_current(s, err, errcap);
}

int cs_store_bulk(const cs_store *s) {
  return (s->flags & CS_STORE_BULK) != 0;
}

int cs_store_open_generation(const char *gendir, unsigned flags, cs_store **out, char *err,
                             size_t errcap) {
  *out = NULL;
  cs_store *s;
  int rc = store_new(flags, &s);
  if (rc) return rc;
  if (!(flags & CS_STORE_RDONLY) && make_dir(gendir) != 0) {
    set_err(err, errcap, "cannot create %s: %s", gendir, strerror(errno));
    cs_store_close(s);
    return CS_EIO;
  }
  const char *base = strrchr(gendir, '/');
  snprintf(s->gen, sizeof s->gen, "%s", base ? base + 1 : gendir);
  rc = open_env(s, gendir, err, errcap);
  if (rc) {
    cs_store_close(s);
    return rc;
  }
  *out = s;
  return 0;
}

void cs_store_close(cs_store *s) {
  if (!s) return;
  close_env(s, 0);
  if (s->lock_fd >= 0) close(s->lock_fd);
  pthread_rwlock_destroy(&s->remap);
  free(s);
}

const char *cs_store_dir(const cs_store *s) {
  return s->dir;
}

const char *cs_store_generation(const cs_store *s) {
  return s->gen;
}

int cs_store_generation_changed(const cs_store *s) {
  if (!s->dir[0]) return 0;
  char cur[PATH_MAX], gen[64];
  if (cs_path_join(cur, sizeof cur, s->dir, "current")) return 0;
  ssize_t n = readlink(cur, gen, sizeof gen - 1);
  if (n <= 0) return 0;
  gen[n] = 0;
  return strcmp(gen, s->gen) != 0;
}

uint64_t cs_txn_id(const cs_txn *t) {
  return (uint64_t)mdb_txn_id(t->txn);
}

int cs_txn_begin(cs_store *s, int write, cs_txn **out) {
  *out = NULL;
  cs_txn *t = calloc(1, sizeof *t);
  if (!t) return CS_ENOMEM;
  t->s = s;
  if (write) {
    time_t now = time(NULL);
    int dead = 0;
    if (now - s->reader_check >= CS_READER_CHECK_S && mdb_reader_check(s->env, &dead) == 0)
      s->reader_check = now;
  }
  for (int attempt = 0;; attempt++) {
    pthread_rwlock_rdlock(&s->remap);
    int rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
    /* A grown map allocated under LMDB's writer lock (the mirror's thread
     * writes too), before any page is written. */
    if (rc == 0 && write && (s->flags & CS_STORE_BULK) && (rc = bulk_room(s)) != 0) {
      mdb_txn_abort(t->txn);
      pthread_rwlock_unlock(&s->remap);
      free(t);
      return rc;
    }
    if (rc == 0) break;
    pthread_rwlock_unlock(&s->remap);
    if (rc != MDB_MAP_RESIZED || attempt > 3) {
      free(t);
      return map_rc(rc);
    }
    /* Another process grew the map beyond ours: remap once no transaction
     * of ours is open, then retry. */
    pthread_rwlock_wrlock(&s->remap);
    mdb_env_set_mapsize(s->env, 0);
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) == 0) s->map_size = info.me_mapsize;
    pthread_rwlock_unlock(&s->remap);
  }
  *out = t;
  return 0;
}

int cs_txn_commit(cs_txn *t) {
  int rc = write_rc(t->s->env, mdb_txn_commit(t->txn));
  pthread_rwlock_unlock(&t->s->remap);
  free(t->noted);
  free(t);
  return rc;
}

void cs_txn_abort(cs_txn *t) {
  if (!t) return;
  mdb_txn_abort(t->txn);
  pthread_rwlock_unlock(&t->s->remap);
  free(t->noted);
  free(t);
}

void cs_txn_track(cs_txn *t, unsigned tables) {
  t->track = tables;
}

static void note(cs_txn *t, cs_table tbl, const void *key, size_t len) {
  if (!(t->track & (1u << tbl)) || len < 8) return; /* shorter: no prefix to note */
  uint64_t p = 0;
  for (int i = 0; i < 8; i++)
    p = p << 8 | ((const uint8_t *)key)[i];
  /* Runs of writes under one prefix (a table's keys in order) note it once. */
  if (t->nnoted && t->noted[t->nnoted - 1] == p) return;
  if (cs_grow((void **)&t->noted, &t->capnoted, t->nnoted + 1, sizeof *t->noted)) {
    t->track_err = CS_ENOMEM;
    return;
  }
  t->noted[t->nnoted++] = p;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

int cs_txn_tracked(cs_txn *t, const uint64_t **prefixes, size_t *n) {
  if (t->nnoted > 1) {
    qsort(t->noted, t->nnoted, sizeof *t->noted, cmp_u64);
    size_t m = 1;
    for (size_t i = 1; i < t->nnoted; i++)
      if (t->noted[i] != t->noted[m - 1]) t->noted[m++] = t->noted[i];
    t->nnoted = m;
  }
  *prefixes = t->noted;
  *n = t->nnoted;
  return t->track_err;
}

int cs_store_grow(cs_store *s) {
  if (s->map_size >= CS_MAP_MAX) return CS_EFULL;
  size_t want = s->map_size * 2;
  pthread_rwlock_wrlock(&s->remap);
  int rc = mdb_env_set_mapsize(s->env, want);
  if (rc == 0) s->map_size = want;
  pthread_rwlock_unlock(&s->remap);
  return map_rc(rc);
}

size_t cs_store_map_size(const cs_store *s) {
  return s->map_size;
}

int cs_store_used_bytes(cs_store *s, uint64_t *out) {
  MDB_envinfo info;
  MDB_stat st;
  int rc = mdb_env_info(s->env, &info);
  if (!rc) rc = mdb_env_stat(s->env, &st);
  if (rc) return map_rc(rc);
  *out = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
  return 0;
}

/* Bytes of entries a repacking copy writes per transaction: a bound on the
 * transaction's dirty pages (LMDB refuses more than ~128k in one), which
 * LMDB holds in memory until the commit and keeps for reuse after it: the
 * copy's own memory. A first load of 100k synthetic interviews with
 * --batch-mb 16 peaked at 172 MB anonymous in its compaction with 64 MiB;
 * with 16 at 133 MB in the load itself, and the compaction took as long. */
#define CS_REPACK_TXN_BYTES ((size_t)16 << 20)

/* Copies every table of `s` into `dst`, entry by entry in key order, each
 * one appended (MDB_APPEND: the last leaf fills before the next starts), in
 * transactions of at most CS_REPACK_TXN_BYTES. */
static int repack_tables(cs_store *s, MDB_env *dst) {
  MDB_txn *rt = NULL, *wt = NULL;
  MDB_cursor *c = NULL, *wc = NULL; /* wc: appends, staying on the last leaf */
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &rt);
  if (rc) return rc;
  for (int i = 0; !rc && i < CS_T__COUNT; i++) {
    MDB_dbi d;
    if (!wt) rc = mdb_txn_begin(dst, NULL, 0, &wt);
    if (!rc) rc = mdb_dbi_open(wt, table_names[i], MDB_CREATE, &d);
    if (!rc) rc = mdb_cursor_open(rt, s->dbi[i], &c);
    MDB_val k, v;
    size_t bytes = 0;
    int more = rc ? MDB_NOTFOUND : mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (!rc && more == 0) {
      if (!wt) rc = mdb_txn_begin(dst, NULL, 0, &wt);
      if (!rc && !wc) rc = mdb_cursor_open(wt, d, &wc);
      if (!rc) rc = mdb_cursor_put(wc, &k, &v, MDB_APPEND);
      bytes += k.mv_size + v.mv_size + 16;
      if (!rc && bytes >= CS_REPACK_TXN_BYTES) {
        mdb_cursor_close(wc);
        wc = NULL;
        rc = mdb_txn_commit(wt);
        wt = NULL;
        bytes = 0;
      }
      if (!rc) more = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (!rc && more != MDB_NOTFOUND) rc = more;
    if (c) mdb_cursor_close(c);
    c = NULL;
    if (wc) mdb_cursor_close(wc);
    wc = NULL;
  }
  if (wt && !rc)
    rc = mdb_txn_commit(wt);
  else if (wt)
    mdb_txn_abort(wt);
  mdb_txn_abort(rt);
  return rc;
}

int cs_store_copy_compact(cs_store *s, const char *path) {
  if (make_dir(path) != 0) return errno == ENOSPC || errno == EDQUOT ? CS_ENOSPC : CS_EIO;
  uint64_t used = 0;
  int rc = cs_store_used_bytes(s, &used);
  if (rc) return rc;
  MDB_env *env;
  rc = mdb_env_create(&env);
  if (rc) return map_rc(rc);
  mdb_env_set_maxdbs(env, CS_T__COUNT + 2);
  mdb_env_set_maxreaders(env, 1024);
  /* The copy holds at most what the source uses, plus branch pages. */
  size_t map = CS_MAP_MIN;
  while (map < used + used / 4 + ((size_t)16 << 20) && map < CS_MAP_MAX)
    map *= 2;
  mdb_env_set_mapsize(env, map);
  rc = mdb_env_open(env, path, MDB_NOTLS | MDB_NOSYNC, CS_MODE_DATA);
  if (!rc) rc = repack_tables(s, env);
  if (!rc) rc = mdb_env_sync(env, 1);
  if (rc) rc = write_rc(env, rc);
  mdb_env_close(env);
  if (rc) return rc;
  set_env_modes(path);
  return 0;
}

static MDB_val to_val(cs_slice x) {
  MDB_val v = {x.len, (void *)x.data};
  return v;
}

static cs_slice from_val(MDB_val v) {
  cs_slice x = {v.mv_data, v.mv_size};
  return x;
}

int cs_get(cs_txn *t, cs_table tbl, cs_slice key, cs_slice *val) {
  MDB_val k = to_val(key), v;
  int rc = mdb_get(t->txn, t->s->dbi[tbl], &k, &v);
  if (rc) return map_rc(rc);
  *val = from_val(v);
  return 0;
}

int cs_put(cs_txn *t, cs_table tbl, cs_slice key, cs_slice val) {
  if (key.len == 0 || key.len > 511) return CS_EINVAL;
  MDB_val k = to_val(key), v = to_val(val);
  note(t, tbl, key.data, key.len);
  return map_rc(mdb_put(t->txn, t->s->dbi[tbl], &k, &v, 0));
}

int cs_del(cs_txn *t, cs_table tbl, cs_slice key) {
  MDB_val k = to_val(key);
  note(t, tbl, key.data, key.len);
  return map_rc(mdb_del(t->txn, t->s->dbi[tbl], &k, NULL));
}

int cs_table_count(cs_txn *t, cs_table tbl, uint64_t *out) {
  MDB_stat st;
  int rc = mdb_stat(t->txn, t->s->dbi[tbl], &st);
  if (rc) return map_rc(rc);
  *out = st.ms_entries;
  return 0;
}

int cs_cursor_open(cs_txn *t, cs_table tbl, cs_cursor **out) {
  cs_cursor *c = malloc(sizeof *c);
  if (!c) return CS_ENOMEM;
  c->t = t;
  c->tbl = tbl;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[tbl], &c->c);
  if (rc) {
    free(c);
    return map_rc(rc);
  }
  *out = c;
  return 0;
}

void cs_cursor_close(cs_cursor *c) {
  if (!c) return;
  mdb_cursor_close(c->c);
  free(c);
}

static int cursor_op(cs_cursor *c, MDB_val *k, cs_slice *ko, cs_slice *vo, MDB_cursor_op op) {
  MDB_val v;
  int rc = mdb_cursor_get(c->c, k, &v, op);
  if (rc) return map_rc(rc);
  if (ko) *ko = from_val(*k);
  if (vo) *vo = from_val(v);
  return 0;
}

int cs_cursor_seek(cs_cursor *c, cs_slice key, cs_slice *k, cs_slice *v) {
  MDB_val kk = to_val(key);
  return cursor_op(c, &kk, k, v, MDB_SET_RANGE);
}

int cs_cursor_put(cs_cursor *c, cs_slice key, cs_slice val) {
  if (key.len == 0 || key.len > 511) return CS_EINVAL;
  MDB_val k = to_val(key), v = to_val(val);
  note(c->t, c->tbl, key.data, key.len);
  return map_rc(mdb_cursor_put(c->c, &k, &v, 0));
}

int cs_cursor_first(cs_cursor *c, cs_slice *k, cs_slice *v) {
  MDB_val kk = {0, NULL};
  return cursor_op(c, &kk, k, v, MDB_FIRST);
}

int cs_cursor_last(cs_cursor *c, cs_slice *k, cs_slice *v) {
  MDB_val kk = {0, NULL};
  return cursor_op(c, &kk, k, v, MDB_LAST);
}

int cs_cursor_next(cs_cursor *c, cs_slice *k, cs_slice *v) {
  MDB_val kk = {0, NULL};
  return cursor_op(c, &kk, k, v, MDB_NEXT);
}

int cs_cursor_prev(cs_cursor *c, cs_slice *k, cs_slice *v) {
  MDB_val kk = {0, NULL};
  return cursor_op(c, &kk, k, v, MDB_PREV);
}

int cs_cursor_current(cs_cursor *c, cs_slice *k, cs_slice *v) {
  MDB_val kk = {0, NULL};
  return cursor_op(c, &kk, k, v, MDB_GET_CURRENT);
}

int cs_cursor_del(cs_cursor *c) {
  if (c->t->track & (1u << c->tbl)) {
    MDB_val k, v;
    int rc = mdb_cursor_get(c->c, &k, &v, MDB_GET_CURRENT);
    if (rc) return map_rc(rc);
    note(c->t, c->tbl, k.mv_data, k.mv_size);
  }
  return map_rc(mdb_cursor_del(c->c, 0));
}
