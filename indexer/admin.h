#ifndef CS_ADMIN_H
#define CS_ADMIN_H
#include "store.h"

/* Each returns a process exit code; errors are logged. */
int cs_status(const char *index_dir);
int cs_compact(const char *index_dir);
/* cs_compact on the index of s, a writable store whose writer lock the
 * caller keeps: no writer can take the index meanwhile. The caller's
 * writers must be closed; the compacted generation is current on return,
 * for cs_store_reopen. */
int cs_compact_held(cs_store *s);
int cs_debug_query(const char *index_dir, const char *text, int limit);
#endif
