/*
 * Authentication of HTTP callers: service tokens from the tokens file
 * (stored as SHA-256 hashes) and per-employee tokens minted by the portal
 * (v1.<payload>.<signature>, HMAC-SHA256 with a shared secret). The result is
 * the cs_caller the query engine enforces document-level security for.
 *
 * Tokens file grammar, one entry per line:
 *
 *   line    = blank | comment | entry
 *   comment = "#" anything
 *   entry   = "sha256:" 64*HEXDIG SP role [SP "employee=" id]
 *   role    = "admin" | "analyst" | "portal"
 *   id      = positive decimal integer below 2^63
 *
 * "employee=" is only meaningful for portal tokens: such a token acts as that
 * employee; a portal token without it sees nobody's data. Both the tokens
 * file and the secret file must not be readable or writable by group or
 * others (the server refuses to start otherwise).
 *
 * Per-employee tokens: payload = base64url(JSON {"sub": employee id, "role":
 * "portal", "exp": unix seconds}), signature = base64url(HMAC-SHA256(secret,
 * "v1." payload)); base64url without padding (padding is tolerated). The
 * secret is the secret file's bytes minus one line ending ("\n" or "\r\n")
 * at the end. Their lifetime is capped: a token whose exp is more than the
 * maximum lifetime (default one day) from now is refused, so that a leaked
 * token cannot be minted to last for ever.
 */
#ifndef CS_AUTH_H
#define CS_AUTH_H

#include "engine.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cs_auth cs_auth;

/* Longest Authorization header value and token we look at. */
#define CS_TOKEN_MAX 4096

/* Loads the tokens file and, when secret_path is not NULL, the token
 * secret. On failure returns -1 and writes one sentence naming the file (and
 * line, or mode) to err[0..cap). The result is owned by the caller
 * (cs_auth_free). */
int cs_auth_load(const char *tokens_path, const char *secret_path, cs_auth **out, char *err,
                 size_t cap);
void cs_auth_free(cs_auth *a);

/* Reads a secret-bearing file ("what" names it in errors) of at most max
 * bytes, after checking on the opened descriptor that it is a regular file
 * no group or other may read or write. Returns a malloc'd NUL-terminated
 * buffer (*len bytes; the caller cleanses and frees it) or NULL with one
 * sentence in err. */
char *cs_read_private(const char *what, const char *path, size_t max, size_t *len, char *err,
                      size_t cap);
/* Number of service tokens loaded. */
size_t cs_auth_count(const cs_auth *a);

/* Longest lifetime of a per-employee token, in seconds: the default, and
 * the most the setting accepts (one year). */
#define CS_TOKEN_TTL_DEFAULT 86400
#define CS_TOKEN_TTL_MAX 31536000
/* Sets the lifetime cap (clamped to 1..CS_TOKEN_TTL_MAX); reads it. */
void cs_auth_set_max_ttl(cs_auth *a, int64_t seconds);
int64_t cs_auth_max_ttl(const cs_auth *a);

enum {
  CS_AUTH_OK = 0,
  CS_AUTH_MISSING = -1,  /* no Authorization header, or not "Bearer" */
  CS_AUTH_INVALID = -2,  /* unknown token, bad signature, malformed */
  CS_AUTH_EXPIRED = -3,  /* a well-signed per-employee token past its exp */
  CS_AUTH_TOO_LONG = -4, /* a well-signed per-employee token whose exp is
                            further away than the lifetime cap */
};

/* Checks an Authorization header value (NULL when absent) at time now_s.
 * Fills *out on CS_AUTH_OK. Comparisons of secrets are constant-time. */
int cs_auth_check(const cs_auth *a, const char *authorization, int64_t now_s, cs_caller *out);

/* Mints a per-employee token (what the portal backend does); for tests and
 * operators. Returns the length written or -1. */
int cs_auth_mint(const void *secret, size_t secret_len, uint64_t employee_id, int64_t exp,
                 char *out, size_t cap);

#endif
