/*
 * One line per event on stderr: "2026-11-23T13:35:00.123Z info indexer: ..."
 * (the time as isotime.h writes it).
 * Shared by the indexer and the query server.
 */
#ifndef CS_LOG_H
#define CS_LOG_H

enum { CS_LOG_DEBUG = 0, CS_LOG_INFO, CS_LOG_WARN, CS_LOG_ERROR };

/* Sets the component name printed on each line and the lowest level shown
 * (CONVSEARCH_LOG=debug|info|warn|error overrides the level). */
void cs_log_init(const char *component);
void cs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
