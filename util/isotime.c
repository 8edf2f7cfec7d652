/*
 * ISO 8601 times (see isotime.h). The date comes from the day count by
 * arithmetic (H. Hinnant's civil_from_days), not from gmtime_r, so that
 * every int64 is defined: no time_t range, no failure path, and division
 * that rounds toward minus infinity for times before 1970.
 */
#include "isotime.h"

#include <inttypes.h>
#include <stdio.h>

#define MS_PER_DAY 86400000

typedef struct {
  int64_t year;
  unsigned month, day; /* 1-based */
} civil;

static int64_t floor_div(int64_t a, int64_t b, int64_t *rem) {
  int64_t q = a / b, r = a % b;
  if (r < 0) {
    r += b;
    q--;
  }
  *rem = r;
  return q;
}

/* Days since 1970-01-01 to a proleptic Gregorian date. */
static civil civil_from_days(int64_t z) {
  z += 719468; /* days from 0000-03-01 to 1970-01-01 */
  int64_t doe_rem;
  int64_t era = floor_div(z, 146097, &doe_rem);
  unsigned doe = (unsigned)doe_rem;                                     /* [0, 146096] */
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
  unsigned mp = (5 * doy + 2) / 153;                                    /* March = 0 */
  civil c;
  c.day = doy - (153 * mp + 2) / 5 + 1;
  c.month = mp < 10 ? mp + 3 : mp - 9;
  c.year = (int64_t)yoe + era * 400 + (c.month <= 2);
  return c;
}

/* Writes v as exactly n decimal digits (v < 10^n); returns the end. */
static char *put_digits(char *p, unsigned v, int n) {
  for (int i = n - 1; i >= 0; i--) {
    p[i] = (char)('0' + v % 10);
    v /= 10;
  }
  return p + n;
}

/* Writes the year (4 digits, or signed expanded form); returns its length.
 * By hand rather than snprintf for the common years: every search hit and
 * snippet carries times. */
static int put_year(char out[CS_TIME_ISO_LEN], int64_t year) {
  if (year >= 0 && year <= 9999) {
    *put_digits(out, (unsigned)year, 4) = 0;
    return 4;
  }
  return snprintf(out, CS_TIME_ISO_LEN, "%+05" PRId64, year);
}

char *cs_time_iso(int64_t ms, char out[CS_TIME_ISO_LEN]) {
  int64_t in_day;
  civil c = civil_from_days(floor_div(ms, MS_PER_DAY, &in_day));
  int n = put_year(out, c.year);
  /* "-MM-DDThh:mm:ss.mmmZ": 20 characters, every field in its range
   * (in_day is in [0, MS_PER_DAY)); the longest year leaves room. */
  char *p = out + n;
  *p++ = '-';
  p = put_digits(p, c.month, 2);
  *p++ = '-';
  p = put_digits(p, c.day, 2);
  *p++ = 'T';
  p = put_digits(p, (unsigned)(in_day / 3600000), 2);
  *p++ = ':';
  p = put_digits(p, (unsigned)(in_day / 60000 % 60), 2);
  *p++ = ':';
  p = put_digits(p, (unsigned)(in_day / 1000 % 60), 2);
  *p++ = '.';
  p = put_digits(p, (unsigned)(in_day % 1000), 3);
  *p++ = 'Z';
  *p = 0;
  return out;
}

int64_t cs_time_month(int64_t ms) {
  int64_t in_day;
  civil c = civil_from_days(floor_div(ms, MS_PER_DAY, &in_day));
  return c.year * 12 + (int64_t)c.month - 1;
}

char *cs_time_month_iso(int64_t month, char out[CS_TIME_ISO_LEN]) {
  int64_t m;
  int64_t year = floor_div(month, 12, &m);
  int n = put_year(out, year);
  snprintf(out + n, (size_t)(CS_TIME_ISO_LEN - n), "-%02d", (int)m + 1);
  return out;
}
