/*
 * Pseudonyms (see redact.h, cs__pseudonym): the one place they are made.
 *
 * A pseudonym is "Persona " and the first 64 bits of HMAC-SHA256(secret,
 * the id as 8 big-endian bytes), written as 13 characters of Crockford's
 * base32 in lowercase (digits and letters but i, l, o, u: nothing to
 * misread). Without the secret it cannot be computed from the id nor
 * turned back into it; 64 bits do not collide below billions of people.
 * The secret is process-wide: convsearch-server sets it once at start
 * (--pseudonym-secret-file, or the file it keeps in the index directory).
 * Until it is set, a random secret made for this process is used, so a
 * pseudonym is never unkeyed (but then not stable across restarts).
 */
#include "engine.h"
#include "redact.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static uint8_t key[CS_PSEUDONYM_SECRET_MAX];
static size_t key_len;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void random_key(void) {
  if (key_len) return;
  if (RAND_bytes(key, 32) != 1) abort();
  key_len = 32;
}

int cs_pseudonym_set_secret(const void *secret, size_t len) {
  if (len < CS_PSEUDONYM_SECRET_MIN || len > CS_PSEUDONYM_SECRET_MAX) return -1;
  memcpy(key, secret, len);
  key_len = len;
  return 0;
}

void cs__pseudonym(uint64_t patient_id, char buf[32]) {
  pthread_once(&key_once, random_key);
  uint8_t msg[8], mac[EVP_MAX_MD_SIZE];
  for (int i = 0; i < 8; i++)
    msg[i] = (uint8_t)(patient_id >> (56 - 8 * i));
  unsigned int mlen = 0;
  if (!HMAC(EVP_sha256(), key, (int)key_len, msg, sizeof msg, mac, &mlen) || mlen < 8) abort();
  uint64_t h = 0;
  for (int i = 0; i < 8; i++)
    h = h << 8 | mac[i];
  OPENSSL_cleanse(mac, sizeof mac);
  static const char b32[] = "0123456789abcdefghjkmnpqrstvwxyz";
  memcpy(buf, "Persona ", 8);
  /* 13 digits of 5 bits: the first holds the top 4. */
  for (int i = 12; i >= 0; i--) {
    buf[8 + i] = b32[h & 31];
    h >>= 5;
  }
  buf[21] = 0;
}
