/*
 * The analyst console (GET /console/): static files from a directory (the
 * built assets of console/, see console/README.md), served as they are. No
 * server-side rendering: the page calls the v1 API with the token the user
 * typed, like any other client.
 *
 * Only plain file names directly in the directory are served (letters,
 * digits, '.', '-', '_'; no leading dot, no subdirectory, no "..") with a
 * known extension; anything else is 404. Every answer carries a strict
 * Content-Security-Policy (no inline script or style, no other origin).
 */
#ifndef CS_CONSOLE_H
#define CS_CONSOLE_H

#include "routes.h"

/* The policy of every console answer. */
#define CS_CONSOLE_CSP                                                                             \
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "          \
  "connect-src 'self'; font-src 'self'; form-action 'none'; frame-ancestors 'none'; "              \
  "base-uri 'none'"

/* Largest file served. */
#define CS_CONSOLE_FILE_MAX (8u << 20)

/* Answers GET/HEAD path ("/console" or "/console/...") from dir (NULL: the
 * console is off, 404). */
void cs_console_reply(const char *dir, const char *path, cs_reply *rp);

#endif
