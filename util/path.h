/*
 * File paths: a directory joined with a name, refused rather than cut
 * short when it does not fit.
 */
#ifndef CS_PATH_H
#define CS_PATH_H

#include <stddef.h>

/* Writes "dir/name" to out (cap bytes): 0, or -1 when it does not fit. */
int cs_path_join(char *out, size_t cap, const char *dir, const char *name);

#endif
