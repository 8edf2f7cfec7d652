/*
 * Settings files for both programs (--config FILE): "name = value" lines in
 * an [indexer] and a [server] section, each line standing for the
 * command-line option --name value of that program; "name = true" stands for
 * a flag without value (--once), "name = false" for nothing. '#' starts a
 * comment line. Options given on the command line win: a name the command
 * line gives (as --name or --name=...) is not taken from the file.
 * Shared by the indexer and the query server; packaging/convsearch.conf is
 * the example.
 */
#ifndef CS_CONFIG_H
#define CS_CONFIG_H

#include <stddef.h>

#define CS_CONFIG_MAX_BYTES (64 * 1024)

/* Whether the program's current command takes --name (name given with its
 * leading "--"): 1 take it from the file, 0 skip it silently (an option of
 * the program that this command does not take). Return 1 for names the
 * program does not know, so that its parser refuses them by name. */
typedef int (*cs_config_accepts)(const char *name, void *ctx);

/* Expands "--config FILE" (or --config=FILE) among argv[first..argc): the
 * result is argv[0..first), then "--name" ["value"] for each setting of
 * FILE's [section] that accepts() takes and the command line does not give,
 * in file order, then the rest of argv without --config FILE. Without
 * --config the result is a copy of argv. FILE must be a regular file of at
 * most CS_CONFIG_MAX_BYTES (a FIFO or device is refused, never waited on);
 * a line outside a section, without '=', or with an empty name or value,
 * and --config given twice or without a file, are errors.
 * On success *out_argv is NULL-terminated, owned by the caller (release it
 * with cs_config_free; its strings point into argv or into the same block);
 * returns 0. On error returns -1 with one sentence in err (naming FILE:LINE
 * for a bad line). */
int cs_config_expand(int argc, char **argv, int first, const char *section,
                     cs_config_accepts accepts, void *ctx, int *out_argc, char ***out_argv,
                     char *err, size_t errcap);
void cs_config_free(char **argv);

#endif
