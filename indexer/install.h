#ifndef CS_INSTALL_H
#define CS_INSTALL_H

typedef struct cs_install_opts {
  int portal;               /* adapt the portal's (Django) tables */
  int switch_mode;          /* allow switching an installed database to the other source */
  const char *indexer_role; /* when set, granted the least the indexer needs */
} cs_install_opts;

/* Returns a process exit code; errors are logged. */
int cs_install(const char *conninfo, const cs_install_opts *o);
#endif
