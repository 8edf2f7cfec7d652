#ifndef CS_ADMIN_H
#define CS_ADMIN_H
/* Each returns a process exit code; errors are logged. */
int cs_status(const char *index_dir);
int cs_compact(const char *index_dir);
int cs_debug_query(const char *index_dir, const char *text, int limit);
#endif
