/*
 * Tests for the HTTP layer's authentication (api/auth.c): the tokens file
 * grammar and its refusals (with line numbers), the permission rule on the
 * tokens and secret files, service tokens, per-employee v1 tokens (valid,
 * expired, forged, tampered, wrong role or subject). base64url itself is
 * tested by test_util.
 *
 *   test_auth            runs every check; exit 1 on any failure
 */
#include "auth.h"
#include "base64url.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

CS_CHECK_COUNTERS;
static char dir[256];

/* Paths live in a ring of buffers so a few can be held at once. */
static const char *write_file(const char *name, const char *text, mode_t mode) {
  static char ring[4][512];
  static int next;
  char *path = ring[next++ % 4];
  snprintf(path, 512, "%s/%s", dir, name);
  unlink(path);
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(2);
  }
  fputs(text, f);
  fclose(f);
  chmod(path, mode);
  return path;
}

static void sha256_hex(const char *s, char out[65]) {
  unsigned char h[32];
  unsigned int n = 0;
  EVP_Digest(s, strlen(s), h, &n, EVP_sha256(), NULL);
  for (int i = 0; i < 32; i++)
    sprintf(out + 2 * i, "%02x", h[i]);
}

static const char secret[] = "0123456789abcdef0123456789abcdef";

/* A v1 token over an arbitrary payload, signed with key. */
static void mint_raw(const char *payload, const char *key, char *out, size_t cap) {
  strcpy(out, "v1.");
  int n = cs_b64url_encode(payload, strlen(payload), out + 3, cap - 3);
  size_t signed_len = 3 + (size_t)n;
  unsigned char mac[32];
  unsigned int ml = 0;
  HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)out, signed_len, mac, &ml);
  out[signed_len] = '.';
  cs_b64url_encode(mac, 32, out + signed_len + 1, cap - signed_len - 1);
}

static int load(const char *tokens, const char *sec, cs_auth **a, char *err) {
  return cs_auth_load(tokens, sec, a, err, 512);
}

static void test_file_rules(void) {
  char h[65], line[512], err[512];
  cs_auth *a = NULL;
  sha256_hex("tok", h);
  snprintf(line, sizeof line, "sha256:%s admin\n", h);

  const char *p = write_file("t644", line, 0644);
  th_check(load(p, NULL, &a, err) != 0 && strstr(err, "0644") && strstr(err, p),
           "tokens file readable by others refused, naming file and mode (%s)", err);
  p = write_file("t640", line, 0640);
  th_check(load(p, NULL, &a, err) != 0 && strstr(err, "0640"), "group-readable refused (%s)", err);
  p = write_file("t602", line, 0602);
  th_check(load(p, NULL, &a, err) != 0 && strstr(err, "0602"), "world-writable refused (%s)", err);
  p = write_file("t600", line, 0600);
  th_check(load(p, NULL, &a, err) == 0 && cs_auth_count(a) == 1, "mode 0600 accepted");
  cs_auth_free(a);
  p = write_file("t400", line, 0400);
  th_check(load(p, NULL, &a, err) == 0, "mode 0400 accepted");
  cs_auth_free(a);
  th_check(load("/nonexistent/tokens", NULL, &a, err) != 0 && strstr(err, "/nonexistent/tokens"),
           "missing file named (%s)", err);

  const char *tp = write_file("tok", line, 0600);
  p = write_file("s644", secret, 0644);
  th_check(load(tp, p, &a, err) != 0 && strstr(err, "secret") && strstr(err, "0644"),
           "secret file readable by others refused (%s)", err);
  p = write_file("sshort", "short\n", 0600);
  th_check(load(tp, p, &a, err) != 0 && strstr(err, "shorter"), "short secret refused (%s)", err);
  p = write_file("sok", "0123456789abcdef0123456789abcdef\n", 0600);
  th_check(load(tp, p, &a, err) == 0, "secret with trailing newline accepted (%s)", err);
  cs_auth_free(a);
}

static void test_grammar(void) {
  char h1[65], h2[65], text[2048], err[512];
  cs_auth *a = NULL;
  sha256_hex("one", h1);
  sha256_hex("two", h2);
  snprintf(
      text, sizeof text,
      "# service tokens\n\n  sha256:%s analyst  \n\t\n# portal\nsha256:%s portal employee=7\r\n",
      h1, h2);
  const char *p = write_file("g_ok", text, 0600);
  th_check(load(p, NULL, &a, err) == 0 && cs_auth_count(a) == 2,
           "comments, blank lines, spaces and CRLF (%s)", err);
  cs_auth_free(a);

  struct {
    const char *line3, *want;
  } bad[] = {
      {"sha256:abc admin", "line 3"},
      {"md5:0123 admin", "line 3"},
      {"sha256:%s root", "unknown role"},
      {"sha256:%s", "missing role"},
      {"sha256:%s admin employee=4", "portal tokens only"},
      {"sha256:%s portal employee=0", "employee=ID"},
      {"sha256:%s portal employee=-1", "employee=ID"},
      {"sha256:%s portal employee=abc", "employee=ID"},
      {"sha256:%s portal employee=9223372036854775808", "employee=ID"},
      {"sha256:%s portal employee=1 extra", "unexpected"},
      {"sha256:%s admin", "twice"},
      {"%s admin", "line 3"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char l3[256];
    snprintf(l3, sizeof l3, bad[i].line3, h1);
    /* A hash with a non-hex digit, for the first case. */
    snprintf(text, sizeof text, "# x\nsha256:%s admin\n%s\n", h1, l3);
    if (i == 0) snprintf(text, sizeof text, "# x\nsha256:%s admin\nsha256:%.63sg admin\n", h2, h1);
    p = write_file("g_bad", text, 0600);
    int rc = load(p, NULL, &a, err);
    th_check(rc != 0 && strstr(err, "line 3") && strstr(err, bad[i].want),
             "bad line \"%s\" refused with line number and \"%s\" (%s)", l3, bad[i].want, err);
    if (!rc) cs_auth_free(a);
  }
}

static void test_check(void) {
  char ha[65], hp[65], hq[65], text[1024], err[512], tok[1024], hdr[1200], forged[1200];
  sha256_hex("admin-token", ha);
  sha256_hex("portal-token", hp);
  sha256_hex("portal-nobody", hq);
  snprintf(text, sizeof text, "sha256:%s admin\nsha256:%s portal employee=42\nsha256:%s portal\n",
           ha, hp, hq);
  const char *tp = write_file("c_tok", text, 0600);
  char sp[512];
  snprintf(sp, sizeof sp, "%s", write_file("c_sec", secret, 0600));
  cs_auth *a = NULL;
  if (load(tp, sp, &a, err)) {
    th_check(0, "load for checks: %s", err);
    return;
  }
  int64_t now = (int64_t)time(NULL);
  cs_caller c;

  th_check(cs_auth_check(a, NULL, now, &c) == CS_AUTH_MISSING, "no header -> missing");
  th_check(cs_auth_check(a, "Basic YTpi", now, &c) == CS_AUTH_MISSING, "Basic -> missing");
  th_check(cs_auth_check(a, "Bearer ", now, &c) == CS_AUTH_MISSING, "empty bearer -> missing");
  th_check(cs_auth_check(a, "Bearer admin-token", now, &c) == CS_AUTH_OK &&
               c.role == CS_CALLER_ADMIN,
           "admin service token");
  th_check(cs_auth_check(a, "bearer   admin-token", now, &c) == CS_AUTH_OK,
           "scheme case-insensitive, extra spaces");
  th_check(cs_auth_check(a, "Bearer admin-tokeN", now, &c) == CS_AUTH_INVALID, "wrong token");
  th_check(cs_auth_check(a, "Bearer admin token", now, &c) == CS_AUTH_INVALID, "space inside");
  th_check(cs_auth_check(a, "Bearer portal-token", now, &c) == CS_AUTH_OK &&
               c.role == CS_CALLER_PORTAL && c.employee_id == 42,
           "portal service token acts as its employee");
  th_check(cs_auth_check(a, "Bearer portal-nobody", now, &c) == CS_AUTH_OK &&
               c.role == CS_CALLER_PORTAL && c.employee_id == 0,
           "portal token without employee sees nobody");
  char *longh = malloc(CS_TOKEN_MAX + 64);
  strcpy(longh, "Bearer ");
  memset(longh + 7, 'a', CS_TOKEN_MAX + 10);
  longh[CS_TOKEN_MAX + 17] = 0;
  th_check(cs_auth_check(a, longh, now, &c) == CS_AUTH_INVALID, "over-long token refused");
  free(longh);

  /* Per-employee tokens. */
  int n = cs_auth_mint(secret, strlen(secret), 7, now + 600, tok, sizeof tok);
  snprintf(hdr, sizeof hdr, "Bearer %s", tok);
  th_check(n > 0 && cs_auth_check(a, hdr, now, &c) == CS_AUTH_OK && c.role == CS_CALLER_PORTAL &&
               c.employee_id == 7,
           "minted v1 token accepted as employee 7");
  th_check(cs_auth_check(a, hdr, now + 601, &c) == CS_AUTH_EXPIRED, "v1 token past exp -> expired");
  th_check(cs_auth_check(a, hdr, now + 600, &c) == CS_AUTH_EXPIRED, "exp is exclusive");
  /* The format tolerates '=' padding (the signature's 32 bytes take one),
   * but not a wrong amount of it. */
  char padded[sizeof hdr + 2];
  snprintf(padded, sizeof padded, "%s=", hdr);
  th_check(cs_auth_check(a, padded, now, &c) == CS_AUTH_OK, "padded signature accepted");
  snprintf(padded, sizeof padded, "%s==", hdr);
  th_check(cs_auth_check(a, padded, now, &c) == CS_AUTH_INVALID, "over-padded signature refused");

  /* Lifetime cap: one day by default, configurable. */
  char capped[1024];
  th_check(cs_auth_max_ttl(a) == 86400, "default token lifetime cap is one day");
  cs_auth_mint(secret, strlen(secret), 7, now + 86400, capped, sizeof capped);
  snprintf(hdr, sizeof hdr, "Bearer %s", capped);
  th_check(cs_auth_check(a, hdr, now, &c) == CS_AUTH_OK, "exp exactly one day ahead accepted");
  cs_auth_mint(secret, strlen(secret), 7, now + 86401, capped, sizeof capped);
  snprintf(hdr, sizeof hdr, "Bearer %s", capped);
  th_check(cs_auth_check(a, hdr, now, &c) == CS_AUTH_TOO_LONG, "exp past the cap -> too long");
  cs_auth_mint(secret, strlen(secret), 7, INT64_MAX, capped, sizeof capped);
  snprintf(hdr, sizeof hdr, "Bearer %s", capped);
  th_check(cs_auth_check(a, hdr, now, &c) == CS_AUTH_TOO_LONG, "exp in year 292e9 -> too long");
  cs_auth_set_max_ttl(a, 60);
  snprintf(hdr, sizeof hdr, "Bearer %s", tok);
  th_check(cs_auth_check(a, hdr, now, &c) == CS_AUTH_TOO_LONG &&
               cs_auth_check(a, hdr, now + 540, &c) == CS_AUTH_OK,
           "a 60 s cap refuses a token 600 s from its exp until 60 s before it");
  cs_auth_set_max_ttl(a, CS_TOKEN_TTL_DEFAULT);

  /* Forged: last signature character changed. */

  snprintf(forged, sizeof forged, "Bearer %s", tok);
  size_t L = strlen(forged);
  forged[L - 2] = forged[L - 2] == 'A' ? 'B' : 'A';
  th_check(cs_auth_check(a, forged, now, &c) == CS_AUTH_INVALID, "forged signature -> invalid");

  /* Tampered payload with the old signature. */
  char tampered[1024], other[1024];
  cs_auth_mint(secret, strlen(secret), 8, now + 600, other, sizeof other);
  const char *sig = strrchr(tok, '.');
  const char *odot = strrchr(other, '.');
  snprintf(tampered, sizeof tampered, "Bearer %.*s%s", (int)(odot - other), other, sig);
  th_check(cs_auth_check(a, tampered, now, &c) == CS_AUTH_INVALID, "payload swapped -> invalid");

  /* Signed with another secret. */
  cs_auth_mint("another secret of 32 bytes......", 32, 7, now + 600, other, sizeof other);
  snprintf(hdr, sizeof hdr, "Bearer %s", other);
  th_check(cs_auth_check(a, hdr, now, &c) == CS_AUTH_INVALID, "other secret -> invalid");

  struct {
    const char *payload;
    int want;
    const char *what;
  } cases[] = {
      {"{\"sub\":7,\"role\":\"admin\",\"exp\":%lld}", CS_AUTH_INVALID, "role admin"},
      {"{\"sub\":0,\"role\":\"portal\",\"exp\":%lld}", CS_AUTH_INVALID, "sub 0"},
      {"{\"sub\":-5,\"role\":\"portal\",\"exp\":%lld}", CS_AUTH_INVALID, "negative sub"},
      {"{\"sub\":\"7\",\"role\":\"portal\",\"exp\":%lld}", CS_AUTH_INVALID, "string sub"},
      {"{\"sub\":7.5,\"role\":\"portal\",\"exp\":%lld}", CS_AUTH_INVALID, "real sub"},
      {"{\"sub\":7,\"exp\":%lld}", CS_AUTH_INVALID, "no role"},
      {"{\"sub\":7,\"role\":\"portal\",\"exp\":\"%lld\"}", CS_AUTH_INVALID, "string exp"},
      {"{\"sub\":7,\"role\":\"portal\"}", CS_AUTH_INVALID, "no exp"},
      {"[7,\"portal\",%lld]", CS_AUTH_INVALID, "not an object"},
      {"{\"sub\":7,\"sub\":8,\"role\":\"portal\",\"exp\":%lld}", CS_AUTH_INVALID, "duplicate key"},
      {"not json %lld", CS_AUTH_INVALID, "not JSON"},
      {"{\"sub\":7,\"role\":\"portal\",\"exp\":%lld,\"x\":1}", CS_AUTH_OK, "extra member ignored"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char payload[256];
    snprintf(payload, sizeof payload, cases[i].payload, (long long)(now + 600));
    mint_raw(payload, secret, tok, sizeof tok);
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    th_check(cs_auth_check(a, hdr, now, &c) == cases[i].want, "v1 payload: %s", cases[i].what);
  }
  th_check(cs_auth_check(a, "Bearer v1.abc", now, &c) == CS_AUTH_INVALID, "v1 without signature");
  th_check(cs_auth_check(a, "Bearer v1..", now, &c) == CS_AUTH_INVALID, "v1 empty parts");
  th_check(cs_auth_check(a, "Bearer v1.a.b.c", now, &c) == CS_AUTH_INVALID, "v1 extra dot");
  cs_auth_free(a);

  /* Without a secret file, no v1 token is accepted. */
  if (load(tp, NULL, &a, err) == 0) {
    cs_auth_mint(secret, strlen(secret), 7, now + 600, tok, sizeof tok);
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    th_check(cs_auth_check(a, hdr, now, &c) == CS_AUTH_INVALID, "v1 refused without a secret");
    cs_auth_free(a);
  }
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/test_auth.XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 2;
  }
  test_file_rules();
  test_grammar();
  test_check();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  printf("test_auth: %d passed, %d failed\n", th_passed, th_failed);
  return th_failed ? 1 : 0;
}
