/*
 * Generations written without a sync per commit (store.c, CS_STORE_BULK).
 *
 * A first load or a reindex writes in the map and, where this marker can
 * be written, lets the kernel write the pages back when it will instead of
 * syncing them at each commit (LMDB's MDB_NOSYNC): at 300,000 synthetic
 * interviews a first load took 9-15 % less time (bench/analysis.md): the
 * pages a commit's sync cleaned were written again, and faulted again, by
 * the next ones. Within one boot of the machine nothing is lost by it:
 * every process reads the same page cache, and a process that dies leaves
 * its writes there. Only a
 * crash of the machine can leave a committed meta page on the disk
 * pointing at pages that never reached it. So before its first unsynced
 * commit the writer puts the file `unsynced` in the generation's
 * directory, holding the boot id (/proc/sys/kernel/random/boot_id), on
 * the disk; it removes the file once the environment is synced (leaving
 * bulk mode, closing). A generation found with the file of another boot
 * cannot be trusted: the tail writes it again from the stores (an empty
 * generation, a first load), and nothing else opens it.
 */
#ifndef CS_UNSYNCED_H
#define CS_UNSYNCED_H

/* The marker's file in a generation directory, and the one it is written
 * to before its rename (whoever removes a generation removes both). */
#define CS_UNSYNCED_FILE "unsynced"
#define CS_UNSYNCED_TMP CS_UNSYNCED_FILE ".tmp"

enum {
  CS_UNSYNCED_NONE = 0, /* synced, or never written unsynced */
  CS_UNSYNCED_THIS = 1, /* written unsynced in this boot: the page cache holds it all */
  CS_UNSYNCED_LOST = 2, /* written unsynced before the machine stopped: not to be read */
};

/* The state of generation directory `gendir` (a marker that cannot be
 * read counts as another boot's). */
int cs_unsynced_state(const char *gendir);

/* Puts the marker of this boot in `gendir` with `mode` (whatever the
 * umask: a server running as another user of the group reads it), on the
 * disk (the file and the directory synced). Returns 0, or -1 when it could
 * not (no boot id, a full disk): the writer then keeps syncing its
 * commits. */
int cs_unsynced_mark(const char *gendir, unsigned mode);

/* Removes the marker, once the environment is synced. */
void cs_unsynced_clear(const char *gendir);

#endif
