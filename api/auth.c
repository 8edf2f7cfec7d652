/*
 * Authentication (see auth.h). Service tokens are kept only as SHA-256
 * hashes; a presented token is hashed and compared against every entry with
 * CRYPTO_memcmp, so neither the comparison nor the number of entries
 * examined depends on how much of a hash matched. Per-employee tokens are
 * authenticated (HMAC compared in constant time) before their payload is
 * parsed, so unauthenticated bytes never reach the JSON parser.
 */
#include "auth.h"

#include "base64url.h"
#include "digits.h"
#include "grow.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAX (1u << 20) /* tokens file */
#define SECRET_MAX 4096     /* secret file */
#define SECRET_MIN 16       /* bytes of secret we accept */
#define ENTRIES_MAX 10000   /* service tokens */
#define PAYLOAD_MAX 1024    /* decoded payload of a per-employee token */

typedef struct entry {
  uint8_t hash[32];
  cs_caller caller;
} entry;

struct cs_auth {
  entry *v;
  size_t n;
  uint8_t *secret;
  size_t secret_len;
  int64_t max_ttl; /* seconds a per-employee token may still have to live */
};

/* ---------------------------------------------------------------- hashing */

static int sha256(const void *p, size_t n, uint8_t out[32]) {
  unsigned int len = 0;
  return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32 ? 0 : -1;
}

static int hmac_sha256(const uint8_t *key, size_t klen, const void *p, size_t n, uint8_t out[32]) {
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key, (int)klen, p, n, out, &len) || len != 32) return -1;
  return 0;
}

/* ---------------------------------------------------------------- files */

/* Reads a secret-bearing file after checking that only its owner may read
 * or write it. Returns a malloc'd, NUL-terminated buffer or NULL with err
 * filled. The mode is checked on the opened descriptor so the file cannot be
 * swapped between the check and the read. */
static const char *file_type(mode_t m) {
  return S_ISDIR(m)    ? "a directory"
         : S_ISFIFO(m) ? "a FIFO"
         : S_ISSOCK(m) ? "a socket"
         : S_ISCHR(m)  ? "a character device"
         : S_ISBLK(m)  ? "a block device"
                       : "not a regular file";
}

char *cs_read_private(const char *what, const char *path, size_t max, size_t *len, char *err,
                      size_t cap) {
  /* Non-blocking: opening a FIFO for reading would otherwise wait for a
   * writer forever (with the signals that stop the server blocked). The type
   * is checked right after, on the descriptor. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    snprintf(err, cap, "cannot open the %s %s: %s", what, path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    snprintf(err, cap, "cannot stat the %s %s: %s", what, path, strerror(errno));
    close(fd);
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, cap, "the %s %s is %s: it must be a regular file", what, path,
             file_type(st.st_mode));
    close(fd);
    return NULL;
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    snprintf(err, cap,
             "the %s %s has mode %04o: it must not be readable or writable by group or others "
             "(chmod 600 %s)",
             what, path, (unsigned)(st.st_mode & 07777), path);
    close(fd);
    return NULL;
  }
  if ((size_t)st.st_size > max) {
    snprintf(err, cap, "the %s %s is larger than %zu bytes", what, path, max);
    close(fd);
    return NULL;
  }
  char *buf = malloc(max + 1);
  if (!buf) {
    snprintf(err, cap, "out of memory reading the %s", what);
    close(fd);
    return NULL;
  }
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, max + 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      snprintf(err, cap, "cannot read the %s %s: %s", what, path, strerror(errno));
      free(buf);
      close(fd);
      return NULL;
    }
    if (r == 0) break;
    n += (size_t)r;
    if (n > max) {
      snprintf(err, cap, "the %s %s is larger than %zu bytes", what, path, max);
      free(buf);
      close(fd);
      return NULL;
    }
  }
  close(fd);
  buf[n] = 0;
  *len = n;
  return buf;
}

/* Splits the next whitespace-separated field of [*p, end). */
static int next_field(const char **p, const char *end, const char **f, size_t *n) {
  const char *s = *p;
  while (s < end && (*s == ' ' || *s == '\t'))
    s++;
  if (s == end) return 0;
  const char *e = s;
  while (e < end && *e != ' ' && *e != '\t')
    e++;
  *f = s;
  *n = (size_t)(e - s);
  *p = e;
  return 1;
}

static int parse_line(const char *s, const char *end, entry *out, char *why, size_t cap) {
  const char *f;
  size_t n;
  memset(out, 0, sizeof *out);
  if (!next_field(&s, end, &f, &n) || n != 7 + 64 || memcmp(f, "sha256:", 7) != 0) {
    snprintf(why, cap, "expected \"sha256:<64 hex digits> ROLE [employee=ID]\"");
    return -1;
  }
  for (size_t i = 0; i < 32; i++) {
    int hi = cs_hex_digit((unsigned char)f[7 + 2 * i]),
        lo = cs_hex_digit((unsigned char)f[8 + 2 * i]);
    if (hi < 0 || lo < 0) {
      snprintf(why, cap, "the hash is not 64 hexadecimal digits");
      return -1;
    }
    out->hash[i] = (uint8_t)(hi << 4 | lo);
  }
  if (!next_field(&s, end, &f, &n)) {
    snprintf(why, cap, "missing role (admin, analyst or portal)");
    return -1;
  }
  if (n == 5 && !memcmp(f, "admin", 5)) {
    out->caller.role = CS_CALLER_ADMIN;
  } else if (n == 7 && !memcmp(f, "analyst", 7)) {
    out->caller.role = CS_CALLER_ANALYST;
  } else if (n == 6 && !memcmp(f, "portal", 6)) {
    out->caller.role = CS_CALLER_PORTAL;
  } else {
    snprintf(why, cap, "unknown role \"%.*s\" (admin, analyst or portal)", (int)(n > 32 ? 32 : n),
             f);
    return -1;
  }
  if (next_field(&s, end, &f, &n)) {
    if (n < 10 || memcmp(f, "employee=", 9) != 0 ||
        cs_parse_id(f + 9, n - 9, &out->caller.employee_id)) {
      snprintf(why, cap, "expected \"employee=ID\" with a positive integer ID");
      return -1;
    }
    if (out->caller.role != CS_CALLER_PORTAL) {
      snprintf(why, cap, "employee= applies to portal tokens only");
      return -1;
    }
  }
  if (next_field(&s, end, &f, &n)) {
    snprintf(why, cap, "unexpected text after the entry");
    return -1;
  }
  return 0;
}

static int load_tokens(cs_auth *a, const char *path, char *err, size_t cap) {
  size_t len;
  char *buf = cs_read_private("tokens file", path, FILE_MAX, &len, err, cap);
  if (!buf) return -1;
  int rc = -1;
  size_t cap_v = 0;
  unsigned line = 0;
  for (const char *s = buf, *end = buf + len; s < end;) {
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    const char *e = nl ? nl : end;
    line++;
    const char *t = s, *te = e;
    while (t < te && isspace((unsigned char)*t))
      t++;
    while (te > t && isspace((unsigned char)te[-1]))
      te--;
    s = nl ? nl + 1 : end;
    if (t == te || *t == '#') continue;
    if (memchr(t, 0, (size_t)(te - t))) {
      snprintf(err, cap, "tokens file %s line %u: NUL byte", path, line);
      goto out;
    }
    entry x;
    char why[160];
    if (parse_line(t, te, &x, why, sizeof why)) {
      snprintf(err, cap, "tokens file %s line %u: %s", path, line, why);
      goto out;
    }
    for (size_t i = 0; i < a->n; i++) {
      if (!memcmp(a->v[i].hash, x.hash, 32)) {
        snprintf(err, cap, "tokens file %s line %u: the same token hash appears twice", path, line);
        goto out;
      }
    }
    if (a->n == ENTRIES_MAX) {
      snprintf(err, cap, "tokens file %s: more than %d tokens", path, ENTRIES_MAX);
      goto out;
    }
    if (cs_grow_from((void **)&a->v, &cap_v, a->n + 1, sizeof *a->v, 16)) {
      snprintf(err, cap, "out of memory reading the tokens file");
      goto out;
    }
    a->v[a->n++] = x;
  }
  rc = 0;
out:
  OPENSSL_cleanse(buf, len);
  free(buf);
  return rc;
}

static int load_secret(cs_auth *a, const char *path, char *err, size_t cap) {
  size_t len;
  char *buf = cs_read_private("token secret file", path, SECRET_MAX, &len, err, cap);
  if (!buf) return -1;
  /* One line ending, as `echo secret > file` or an editor writes it, is not
   * part of the secret; every other byte is (README, "Per-employee tokens"). */
  if (len > 0 && buf[len - 1] == '\n') {
    len--;
    if (len > 0 && buf[len - 1] == '\r') len--;
  }
  if (len < SECRET_MIN) {
    snprintf(err, cap, "the token secret in %s is shorter than %d bytes", path, SECRET_MIN);
    OPENSSL_cleanse(buf, len);
    free(buf);
    return -1;
  }
  a->secret = (uint8_t *)buf;
  a->secret_len = len;
  return 0;
}

int cs_auth_load(const char *tokens_path, const char *secret_path, cs_auth **out, char *err,
                 size_t cap) {
  *out = NULL;
  cs_auth *a = calloc(1, sizeof *a);
  if (!a) {
    snprintf(err, cap, "out of memory");
    return -1;
  }
  a->max_ttl = CS_TOKEN_TTL_DEFAULT;
  if (load_tokens(a, tokens_path, err, cap) ||
      (secret_path && load_secret(a, secret_path, err, cap))) {
    cs_auth_free(a);
    return -1;
  }
  *out = a;
  return 0;
}

void cs_auth_free(cs_auth *a) {
  if (!a) return;
  if (a->v) OPENSSL_cleanse(a->v, a->n * sizeof *a->v);
  free(a->v);
  if (a->secret) OPENSSL_cleanse(a->secret, a->secret_len);
  free(a->secret);
  free(a);
}

size_t cs_auth_count(const cs_auth *a) {
  return a->n;
}

void cs_auth_set_max_ttl(cs_auth *a, int64_t seconds) {
  a->max_ttl = seconds < 1 ? 1 : seconds > CS_TOKEN_TTL_MAX ? CS_TOKEN_TTL_MAX : seconds;
}

int64_t cs_auth_max_ttl(const cs_auth *a) {
  return a->max_ttl;
}

/* ---------------------------------------------------------------- checking */

static int check_service(const cs_auth *a, const char *tok, size_t n, cs_caller *out) {
  uint8_t h[32];
  if (sha256(tok, n, h)) return CS_AUTH_INVALID;
  size_t found = SIZE_MAX;
  for (size_t i = 0; i < a->n; i++) {
    if (CRYPTO_memcmp(a->v[i].hash, h, 32) == 0) found = i;
  }
  if (found == SIZE_MAX) return CS_AUTH_INVALID;
  *out = a->v[found].caller;
  return CS_AUTH_OK;
}

static int check_employee(const cs_auth *a, const char *tok, size_t n, int64_t now_s,
                          cs_caller *out) {
  if (!a->secret) return CS_AUTH_INVALID;
  const char *dot = memchr(tok + 3, '.', n - 3);
  if (!dot) return CS_AUTH_INVALID;
  size_t signed_len = (size_t)(dot - tok);
  const char *sig = dot + 1;
  size_t sig_len = n - signed_len - 1;
  uint8_t want[32], got[33] = {0};
  if (hmac_sha256(a->secret, a->secret_len, tok, signed_len, want)) return CS_AUTH_INVALID;
  /* '=' padding is tolerated (some minting libraries add it), nothing else. */
  int glen = cs_b64url_decode(sig, sig_len, got, sizeof got, CS_B64URL_PADDING);
  /* Compare whatever came, in constant time, before judging its length. */
  int bad = CRYPTO_memcmp(want, got, 32) != 0;
  if (glen != 32 || bad) return CS_AUTH_INVALID;

  uint8_t payload[PAYLOAD_MAX];
  int plen = cs_b64url_decode(tok + 3, signed_len - 3, payload, sizeof payload, CS_B64URL_PADDING);
  if (plen <= 0) return CS_AUTH_INVALID;
  json_error_t je;
  json_t *j = json_loadb((const char *)payload, (size_t)plen, JSON_REJECT_DUPLICATES, &je);
  int rc = CS_AUTH_INVALID;
  if (!json_is_object(j)) goto out;
  json_t *sub = json_object_get(j, "sub"), *role = json_object_get(j, "role"),
         *exp = json_object_get(j, "exp");
  if (!json_is_integer(sub) || json_integer_value(sub) <= 0) goto out;
  if (!json_is_string(role) || strcmp(json_string_value(role), "portal") != 0) goto out;
  if (!json_is_integer(exp)) goto out;
  if (json_integer_value(exp) <= now_s) {
    rc = CS_AUTH_EXPIRED;
    goto out;
  }
  /* now_s + max_ttl cannot overflow: both are far below 2^62. */
  if (json_integer_value(exp) > now_s + a->max_ttl) {
    rc = CS_AUTH_TOO_LONG;
    goto out;
  }
  out->role = CS_CALLER_PORTAL;
  out->employee_id = (uint64_t)json_integer_value(sub);
  rc = CS_AUTH_OK;
out:
  json_decref(j);
  return rc;
}

int cs_auth_check(const cs_auth *a, const char *authorization, int64_t now_s, cs_caller *out) {
  if (!authorization) return CS_AUTH_MISSING;
  size_t n = strnlen(authorization, CS_TOKEN_MAX + 1);
  if (n > CS_TOKEN_MAX) return CS_AUTH_INVALID;
  if (n < 7 || strncasecmp(authorization, "Bearer ", 7) != 0) return CS_AUTH_MISSING;
  const char *tok = authorization + 7;
  while (*tok == ' ')
    tok++;
  size_t tn = strlen(tok);
  while (tn > 0 && tok[tn - 1] == ' ')
    tn--;
  if (tn == 0) return CS_AUTH_MISSING;
  /* token68 characters only: anything else cannot be one of ours. */
  for (size_t i = 0; i < tn; i++) {
    unsigned char c = (unsigned char)tok[i];
    if (!(isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' ||
          c == '='))
      return CS_AUTH_INVALID;
  }
  if (tn > 3 && !memcmp(tok, "v1.", 3)) return check_employee(a, tok, tn, now_s, out);
  return check_service(a, tok, tn, out);
}

int cs_auth_mint(const void *secret, size_t secret_len, uint64_t employee_id, int64_t exp,
                 char *out, size_t cap) {
  char payload[160];
  int pn = snprintf(payload, sizeof payload, "{\"sub\":%llu,\"role\":\"portal\",\"exp\":%lld}",
                    (unsigned long long)employee_id, (long long)exp);
  if (pn < 0 || (size_t)pn >= sizeof payload || cap < 4) return -1;
  memcpy(out, "v1.", 3);
  int e = cs_b64url_encode(payload, (size_t)pn, out + 3, cap - 3);
  if (e < 0) return -1;
  size_t signed_len = 3 + (size_t)e;
  uint8_t mac[32];
  if (hmac_sha256(secret, secret_len, out, signed_len, mac)) return -1;
  if (signed_len + 2 > cap) return -1;
  out[signed_len] = '.';
  int s = cs_b64url_encode(mac, 32, out + signed_len + 1, cap - signed_len - 1);
  if (s < 0) return -1;
  return (int)(signed_len + 1 + (size_t)s);
}
