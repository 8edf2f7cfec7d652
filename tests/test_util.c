/*
 * Tests for the helpers of util/: base64url (RFC 4648 vectors, round trips
 * of every length 0..96, the padding rule, every invalid character, one
 * encoding per byte string), ISO 8601 times (epoch 0 is a real time,
 * negative times, milliseconds, the calendar against gmtime_r over a sweep,
 * years outside 0000..9999, the int64 extremes) and months, clocks and
 * deadlines, the digit parsers, and array growth (doubling, the first
 * capacity, sizes that would overflow refused with the array unchanged).
 *
 *   test_util            runs every check; exit 1 on any failure
 */
#include "base64url.h"
#include "check.h"
#include "clock.h"
#include "digits.h"
#include "grow.h"
#include "isotime.h"

#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

CS_CHECK_COUNTERS;

static int dec(const char *s, uint8_t *out, size_t cap, int flags) {
  return cs_b64url_decode(s, strlen(s), out, cap, flags);
}

static void test_b64_vectors(void) {
  /* RFC 4648 section 10, without the padding. */
  static const struct {
    const char *in, *out;
  } v[] = {{"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
           {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  char enc[32];
  uint8_t back[32];
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    int e = cs_b64url_encode(v[i].in, strlen(v[i].in), enc, sizeof enc);
    th_check(e == (int)strlen(v[i].out) && !strcmp(enc, v[i].out), "encode \"%s\" -> %s (got %s)",
             v[i].in, v[i].out, enc);
    int d = dec(v[i].out, back, sizeof back, 0);
    th_check(d == (int)strlen(v[i].in) && !memcmp(back, v[i].in, (size_t)d), "decode %s", v[i].out);
  }
  /* The URL alphabet: 62 and 63 are '-' and '_', never '+' and '/'. */
  const uint8_t hi[] = {0xfb, 0xff, 0xbf};
  cs_b64url_encode(hi, 3, enc, sizeof enc);
  th_check(!strcmp(enc, "-_-_"), "0xfbffbf -> -_-_ (got %s)", enc);
}

static void test_b64_round_trip(void) {
  uint8_t in[96], back[96];
  char enc[160];
  for (size_t n = 0; n <= sizeof in; n++) {
    for (size_t i = 0; i < n; i++)
      in[i] = (uint8_t)(i * 37 + n * 11 + 0x80 * (i & 1));
    int e = cs_b64url_encode(in, n, enc, sizeof enc);
    int d = cs_b64url_decode(enc, (size_t)(e < 0 ? 0 : e), back, n, 0);
    th_check(e == (int)cs_b64url_len(n) && d == (int)n && !memcmp(in, back, n),
             "round trip of %zu bytes", n);
    th_check(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
                 strlen(enc),
             "%zu bytes: only the alphabet, no padding", n);
    /* Exact buffers: the NUL must fit when encoding, nothing more needed
     * when decoding. */
    th_check(cs_b64url_encode(in, n, enc, cs_b64url_len(n)) == -1 && enc[0] == 0,
             "%zu bytes: encode refuses a buffer without room for the NUL", n);
    if (n > 0) {
      cs_b64url_encode(in, n, enc, sizeof enc);
      th_check(cs_b64url_decode(enc, strlen(enc), back, n - 1, 0) == -1,
               "%zu bytes: decode refuses a buffer one byte short", n);
    }
  }
}

static void test_b64_strict(void) {
  uint8_t out[16];
  /* Every byte value in each position of a valid 4-character group. */
  int wrong = 0;
  for (int c = 0; c < 256; c++) {
    int valid = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_';
    for (int pos = 0; pos < 4; pos++) {
      char s[5] = "AAAA";
      s[pos] = (char)c;
      if ((cs_b64url_decode(s, 4, out, sizeof out, 0) == 3) != valid) wrong++;
    }
  }
  th_check(wrong == 0, "exactly the 64 characters of the alphabet are accepted (%d wrong)", wrong);
  th_check(dec("Zm9v Yg", out, sizeof out, 0) == -1, "space refused");
  th_check(dec("Zm9v\nYg", out, sizeof out, 0) == -1, "newline refused");
  th_check(dec("Zm+v", out, sizeof out, 0) == -1 && dec("Zm/v", out, sizeof out, 0) == -1,
           "'+' and '/' (standard base64) refused");
  th_check(cs_b64url_decode("Zm\0v", 4, out, sizeof out, 0) == -1, "NUL refused");
  th_check(dec("Z", out, sizeof out, 0) == -1 && dec("Zm9vY", out, sizeof out, 0) == -1,
           "lengths 1 mod 4 refused");
  /* "Zh" carries 12 bits for 8: the 4 unused ones must be zero ("Zg"). */
  th_check(dec("Zh", out, sizeof out, 0) == -1 && dec("Zm9", out, sizeof out, 0) == -1,
           "non-zero unused bits refused (one encoding per byte string)");
  th_check(dec("", out, 0, 0) == 0, "empty string is zero bytes");
}

static void test_b64_padding(void) {
  uint8_t out[16];
  th_check(dec("Zm8=", out, sizeof out, 0) == -1 && dec("Zg==", out, sizeof out, 0) == -1,
           "padding refused without CS_B64URL_PADDING");
  th_check(dec("Zm8=", out, sizeof out, CS_B64URL_PADDING) == 2 &&
               dec("Zg==", out, sizeof out, CS_B64URL_PADDING) == 1 &&
               dec("Zm8", out, sizeof out, CS_B64URL_PADDING) == 2,
           "with CS_B64URL_PADDING: padded and unpadded both taken");
  th_check(dec("Zg=", out, sizeof out, CS_B64URL_PADDING) == -1 &&
               dec("Zm8==", out, sizeof out, CS_B64URL_PADDING) == -1 &&
               dec("Zm9v=", out, sizeof out, CS_B64URL_PADDING) == -1 &&
               dec("Zg===", out, sizeof out, CS_B64URL_PADDING) == -1 &&
               dec("=", out, sizeof out, CS_B64URL_PADDING) == -1 &&
               dec("Z=g=", out, sizeof out, CS_B64URL_PADDING) == -1,
           "wrong amount or place of padding refused");
}

static void iso_is(int64_t ms, const char *want) {
  char got[CS_TIME_ISO_LEN];
  cs_time_iso(ms, got);
  th_check(!strcmp(got, want), "%lld ms -> %s (got %s)", (long long)ms, want, got);
}

static void test_iso(void) {
  iso_is(0, "1970-01-01T00:00:00.000Z"); /* a real time, not "unknown" */
  iso_is(1, "1970-01-01T00:00:00.001Z");
  iso_is(999, "1970-01-01T00:00:00.999Z");
  iso_is(-1, "1969-12-31T23:59:59.999Z");
  iso_is(-1000, "1969-12-31T23:59:59.000Z");
  iso_is(-1001, "1969-12-31T23:59:58.999Z");
  iso_is(1795437300123, "2026-11-23T12:35:00.123Z");
  iso_is(951782400000, "2000-02-29T00:00:00.000Z");
  iso_is(4107542399999, "2100-02-28T23:59:59.999Z");
  iso_is(4107542400000, "2100-03-01T00:00:00.000Z"); /* 2100 is not a leap year */
  iso_is(-62135596800000, "0001-01-01T00:00:00.000Z");
  iso_is(-62167219200000, "0000-01-01T00:00:00.000Z");
  iso_is(-62167219200001, "-0001-12-31T23:59:59.999Z");
  iso_is(253402300799999, "9999-12-31T23:59:59.999Z");
  iso_is(253402300800000, "+10000-01-01T00:00:00.000Z");
  /* The extremes are written, not undefined. */
  char buf[CS_TIME_ISO_LEN];
  cs_time_iso(INT64_MAX, buf);
  th_check(!strncmp(buf, "+292278994-08-17T07:12:55.807Z", sizeof buf), "INT64_MAX -> %s", buf);
  cs_time_iso(INT64_MIN, buf);
  th_check(!strncmp(buf, "-292275055-05-16T16:47:04.192Z", sizeof buf), "INT64_MIN -> %s", buf);

  /* The calendar against the C library's, every 997,003 s from year 1 to
   * 2500 (seconds only: gmtime_r has no milliseconds). */
  int wrong = 0;
  for (int64_t s = -62135596800; s < 16725225600; s += 997003) {
    time_t t = (time_t)s;
    struct tm tm;
    char want[CS_TIME_ISO_LEN], got[CS_TIME_ISO_LEN];
    gmtime_r(&t, &tm);
    snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.000Z", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cs_time_iso(s * 1000, got);
    if (strcmp(want, got) && wrong++ < 3) fprintf(stderr, "  %s != %s\n", got, want);
  }
  th_check(wrong == 0, "ISO times agree with gmtime_r from year 1 to 2500 (%d differ)", wrong);
}

static void test_month(void) {
  char buf[CS_TIME_ISO_LEN];
  th_check(cs_time_month(0) == 1970 * 12, "epoch 0 is January 1970");
  th_check(cs_time_month(-1) == 1969 * 12 + 11, "-1 ms is December 1969");
  th_check(cs_time_month(1795437300123) == 2026 * 12 + 10, "2026-11-23 is November 2026");
  th_check(!strcmp(cs_time_month_iso(1970 * 12, buf), "1970-01"), "month 1970*12 -> %s", buf);
  th_check(!strcmp(cs_time_month_iso(2026 * 12 + 11, buf), "2026-12"), "December -> %s", buf);
  th_check(!strcmp(cs_time_month_iso(-1, buf), "-0001-12"), "month -1 -> %s", buf);
  cs_time_iso(1795437300123, buf);
  char m[CS_TIME_ISO_LEN];
  cs_time_month_iso(cs_time_month(1795437300123), m);
  th_check(!strncmp(buf, m, 7), "the month is the ISO time's first 7 characters (%s, %s)", m, buf);
}

static void test_clock(void) {
  int64_t before = (int64_t)time(NULL) * 1000;
  int64_t ms = cs_clock_ms(CLOCK_REALTIME);
  th_check(ms >= before && ms < before + 2000, "CLOCK_REALTIME in ms is unix time");
  int bad = 0;
  for (int64_t d = 0; d <= 3000; d += 7) {
    struct timespec t = cs_clock_after_ms(CLOCK_MONOTONIC, d);
    bad += t.tv_nsec < 0 || t.tv_nsec >= 1000000000L;
  }
  th_check(bad == 0, "deadlines are normalized (tv_nsec below 1e9)");
  struct timespec now = cs_clock_after_ms(CLOCK_MONOTONIC, 0),
                  later = cs_clock_after_ms(CLOCK_MONOTONIC, 60000);
  th_check(cs_clock_reached(CLOCK_MONOTONIC, &now), "a deadline of now is reached");
  th_check(!cs_clock_reached(CLOCK_MONOTONIC, &later), "one a minute away is not");
  th_check(later.tv_sec - now.tv_sec >= 59 && later.tv_sec - now.tv_sec <= 60,
           "60,000 ms is a minute");
}

static void test_digits(void) {
  uint64_t v = 0;
  th_check(cs_parse_id("1", 1, &v) == 0 && v == 1, "1");
  th_check(cs_parse_id("9223372036854775807", 19, &v) == 0 && v == INT64_MAX, "2^63-1");
  th_check(cs_parse_id("9223372036854775808", 19, &v) == -1, "2^63 refused");
  th_check(cs_parse_id("99999999999999999999", 20, &v) == -1, "20 digits refused");
  th_check(cs_parse_id("0", 1, &v) == -1 && cs_parse_id("", 0, &v) == -1, "0 and empty refused");
  th_check(cs_parse_id("+1", 2, &v) == -1 && cs_parse_id("-1", 2, &v) == -1 &&
               cs_parse_id(" 1", 2, &v) == -1 && cs_parse_id("1a", 2, &v) == -1,
           "sign, space and letters refused");
  th_check(cs_parse_id("12/", 2, &v) == 0 && v == 12, "only s[0..n) is read");
  int wrong = 0;
  for (int c = 0; c < 256; c++) {
    int want = c >= '0' && c <= '9'   ? c - '0'
               : c >= 'a' && c <= 'f' ? c - 'a' + 10
               : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                      : -1;
    wrong += cs_hex_digit(c) != want;
  }
  th_check(wrong == 0, "hex digits of every byte (%d wrong)", wrong);
}

static void test_grow(void) {
  int *v = NULL;
  size_t cap = 0;
  CHECK(cs_grow((void **)&v, &cap, 1, sizeof *v) == 0 && cap == 64 && v, "first growth: 64");
  v[63] = 7;
  CHECK(cs_grow((void **)&v, &cap, 64, sizeof *v) == 0 && cap == 64, "no growth when it fits");
  CHECK(cs_grow((void **)&v, &cap, 65, sizeof *v) == 0 && cap == 128 && v[63] == 7,
        "doubles, keeping the elements");
  CHECK(cs_grow((void **)&v, &cap, 1000, sizeof *v) == 0 && cap == 1024, "doubles to fit");
  int *before = v;
  CHECK(cs_grow((void **)&v, &cap, SIZE_MAX / 2 + 2, sizeof *v) == -1 && v == before && cap == 1024,
        "a count past SIZE_MAX/2 is refused, the array unchanged");
  CHECK(cs_grow((void **)&v, &cap, SIZE_MAX / sizeof *v + 1, sizeof *v) == -1 && v == before &&
            cap == 1024,
        "a byte size that would overflow is refused");
  free(v);
  v = NULL;
  cap = 0;
  CHECK(cs_grow_from((void **)&v, &cap, 3, sizeof *v, 16) == 0 && cap == 16, "first capacity");
  free(v);
}

int main(void) {
  test_b64_vectors();
  test_b64_round_trip();
  test_b64_strict();
  test_b64_padding();
  test_iso();
  test_month();
  test_clock();
  test_digits();
  test_grow();
  return th_check_done();
}
