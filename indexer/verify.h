#ifndef CS_VERIFY_H
#define CS_VERIFY_H
/* Compares the stores with the index; prints one line per difference on
 * stdout. Returns 0 when they agree, 1 on differences, 2 on errors. */
int cs_verify(const char *conninfo, const char *index_dir, const char *opensearch);
#endif
