#ifndef CS_INSTALL_H
#define CS_INSTALL_H
/* Returns a process exit code; errors are logged. */
int cs_install(const char *conninfo, int portal);
#endif
