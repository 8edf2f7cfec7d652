/*
 * The secret analysts' pseudonyms are keyed with (see pseudonym_secret.h).
 */
#include "pseudonym_secret.h"

#include "auth.h"
#include "engine.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Makes DIR/pseudonym.secret (64 hex digits of 32 random bytes, mode 0600)
 * unless it exists. Returns 0 (made or already there), -1 with err. */
static int make_default(const char *path, char *err, size_t cap) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 && errno == EEXIST) return 0;
  if (fd < 0) {
    snprintf(err, cap,
             "cannot create the pseudonym secret file %s: %s (give --pseudonym-secret-file)", path,
             strerror(errno));
    return -1;
  }
  uint8_t raw[32];
  char hex[65 + 1];
  int ok = RAND_bytes(raw, sizeof raw) == 1;
  for (size_t i = 0; i < sizeof raw; i++)
    snprintf(hex + 2 * i, 3, "%02x", raw[i]);
  hex[64] = '\n';
  hex[65] = 0;
  ok = ok && write(fd, hex, 65) == 65 && fsync(fd) == 0;
  OPENSSL_cleanse(raw, sizeof raw);
  OPENSSL_cleanse(hex, sizeof hex);
  if (close(fd) != 0) ok = 0;
  if (!ok) {
    unlink(path);
    snprintf(err, cap, "cannot write the pseudonym secret file %s", path);
    return -1;
  }
  cs_log(CS_LOG_INFO, "made a new pseudonym secret in %s (keep it with the index)", path);
  return 0;
}

int cs_pseudonym_secret_load(const char *path, const char *index_dir, char *err, size_t cap) {
  char def[4096];
  if (!path) {
    if ((size_t)snprintf(def, sizeof def, "%s/pseudonym.secret", index_dir) >= sizeof def) {
      snprintf(err, cap, "the index directory path is too long");
      return -1;
    }
    if (make_default(def, err, cap)) return -1;
    path = def;
  }
  size_t len;
  char *buf =
      cs_read_private("pseudonym secret file", path, CS_PSEUDONYM_SECRET_MAX + 2, &len, err, cap);
  if (!buf) return -1;
  /* One line ending is not part of it, as for the token secret. */
  if (len > 0 && buf[len - 1] == '\n') {
    len--;
    if (len > 0 && buf[len - 1] == '\r') len--;
  }
  int rc = cs_pseudonym_set_secret(buf, len);
  if (rc)
    snprintf(err, cap, "the pseudonym secret in %s must hold %d to %d bytes", path,
             CS_PSEUDONYM_SECRET_MIN, CS_PSEUDONYM_SECRET_MAX);
  OPENSSL_cleanse(buf, len);
  free(buf);
  return rc;
}
