/*
 * The authentication the fuzzers run with: service tokens "admin",
 * "analyst" and "portal" (employee 7) and the per-employee token secret
 * FUZZ_SECRET (tests/fuzz/seeds.c mints with it).
 */
#ifndef CS_FUZZ_AUTH_H
#define CS_FUZZ_AUTH_H

#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_SECRET "convsearch fuzzing secret, 32 bytes"

static inline cs_auth *fuzz_auth(void) {
  char dir[] = "/tmp/fuzz_auth.XXXXXX", tokens[64], secret[64], err[512];
  if (!mkdtemp(dir)) abort();
  snprintf(tokens, sizeof tokens, "%s/tokens", dir);
  snprintf(secret, sizeof secret, "%s/secret", dir);
  FILE *f = fopen(tokens, "w");
  if (!f) abort();
  /* sha256 of "admin", "analyst", "portal" */
  fputs("sha256:8c6976e5b5410415bde908bd4dee15dfb167a9c873fc4bb8a81f6f2ab448a918 admin\n"
        "sha256:f44ceb062e35dfeea6ed7f8524d53bb0bff19f553e25cae7ef4850e4185ccbba analyst\n"
        "sha256:d0960501f8971be812f2e5494426e08cdbb2cbc3b3190ba60075f14b8da7178a portal "
        "employee=7\n",
        f);
  fclose(f);
  f = fopen(secret, "w");
  if (!f) abort();
  fputs(FUZZ_SECRET "\n", f);
  fclose(f);
  chmod(tokens, 0600);
  chmod(secret, 0600);
  cs_auth *a = NULL;
  if (cs_auth_load(tokens, secret, &a, err, sizeof err)) {
    fprintf(stderr, "fuzz: %s\n", err);
    abort();
  }
  unlink(tokens);
  unlink(secret);
  rmdir(dir);
  return a;
}

#endif
