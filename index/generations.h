/*
 * The generations of an index directory (store.h): DIR/gN/ each hold one
 * LMDB environment, and the symlink DIR/current names the one that serves.
 * A reindex or a compaction builds gN+1 beside it, switches the link, then
 * removes the old generation; processes that still map it keep its pages
 * until they reopen. This module is the one place that switches and
 * removes them.
 */
#ifndef CS_GENERATIONS_H
#define CS_GENERATIONS_H

#include <stddef.h>

/* Points DIR/current at generation gen, atomically (a new link renamed
 * over the old one): a reader sees the old generation or the new one,
 * never neither. 0, or -1 with errno set. */
int cs_generation_switch(const char *dir, const char *gen);

/* Removes generation gen of DIR: its files, then its directory. A reader
 * that read the old link just before a switch may open the generation
 * while it goes; LMDB creates its lock file before it finds the data file
 * gone, and a lock file put back so would keep the directory, so that one
 * is removed again (a few times) before giving up. What is still left is
 * removed by the next sweep. */
void cs_generation_remove(const char *dir, const char *gen);

/* Under DIR/reindex.lock (no generation is being built): reads the current
 * generation's name into cur and the next free number into *next, and
 * removes every other generation and half-written repack (gN.packed), which
 * only a run killed before it cleaned up leaves (an older generation still
 * holds what was erased since). -1 when DIR has no current generation. */
int cs_generation_sweep(const char *dir, char *cur, size_t curcap, unsigned long *next);

#endif
