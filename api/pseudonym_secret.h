/*
 * The secret analysts' pseudonyms are keyed with (HMAC-SHA256, see
 * query/pseudonym.c). From --pseudonym-secret-file FILE when given (same
 * rules as the token secret: a regular file no group or other may read or
 * write; one line ending at the end is not part of it; 16 to 1024 bytes).
 * Without it, DIR/pseudonym.secret in the index directory, made on first
 * start (32 random bytes as hex, mode 0600) and read on every later one, so
 * pseudonyms stay the same across restarts and reindexes (generations live
 * beside it, it is never replaced) with no setting; the server refuses to
 * start when it can neither read nor make it.
 */
#ifndef CS_PSEUDONYM_SECRET_H
#define CS_PSEUDONYM_SECRET_H

#include <stddef.h>

/* Loads the secret (path, or the default in index_dir when path is NULL)
 * into the query engine. Returns 0, or -1 with one sentence in err. */
int cs_pseudonym_secret_load(const char *path, const char *index_dir, char *err, size_t cap);

#endif
