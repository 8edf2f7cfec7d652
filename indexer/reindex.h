#ifndef CS_REINDEX_H
#define CS_REINDEX_H
/* Rebuilds the index into a new generation from one consistent snapshot of
 * the stores while the current one keeps serving, then swaps it in (and the
 * OpenSearch alias, with a mirror URL). Returns a process exit code. */
int cs_reindex(const char *conninfo, const char *index_dir, const char *opensearch);
#endif
