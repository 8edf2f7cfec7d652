/*
 * libFuzzer harness: the token verifier (api/auth.h, cs_auth_check): the
 * input is the Authorization header value, checked against a tokens file
 * with one token of each role and a per-employee token secret. Seeds:
 * minted tokens, good and forged (tests/fuzz/seeds.c).
 */
#include "auth.h"
#include "fuzz_auth.h"

#include <stdlib.h>
#include <string.h>

static cs_auth *auth;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  auth = fuzz_auth();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *h = malloc(size + 1);
  if (!h) return 0;
  memcpy(h, data, size);
  h[size] = 0;
  cs_caller c;
  cs_auth_check(auth, h, 1700000000, &c);
  /* Also as a bare token after "Bearer ". */
  char *b = malloc(size + 8);
  if (b) {
    memcpy(b, "Bearer ", 7);
    memcpy(b + 7, data, size);
    b[size + 7] = 0;
    cs_auth_check(auth, b, 1700000000, &c);
    free(b);
  }
  free(h);
  return 0;
}
