/*
 * Times as text: ISO 8601 in UTC, the one form every time in the logs, the
 * status JSON and the HTTP API takes ("2026-11-23T13:35:00.123Z").
 *
 * Every int64 of milliseconds since the Unix epoch is a real time here:
 * 0 is 1970-01-01T00:00:00.000Z and negative values are before it (-1 is
 * 1969-12-31T23:59:59.999Z). A caller whose field uses a value to mean
 * "unknown" or "never" (0, or a negative number) tests for it itself and
 * writes what it means (null, nothing) instead of calling these.
 * Proleptic Gregorian calendar; years outside 0000..9999 are written in ISO
 * 8601's expanded form with a sign ("+10000-01-01...", "-0001-12-31...").
 */
#ifndef CS_ISOTIME_H
#define CS_ISOTIME_H

#include <stdint.h>

#define CS_TIME_ISO_LEN 64

/* Writes unix time `ms` (milliseconds) as "YYYY-MM-DDTHH:MM:SS.mmmZ".
 * Returns out. */
char *cs_time_iso(int64_t ms, char out[CS_TIME_ISO_LEN]);

/* The calendar month of unix time `ms`, counted as year * 12 + (month - 1)
 * (January 1970 is 23640), for grouping by month. */
int64_t cs_time_month(int64_t ms);

/* Writes a month counted as cs_time_month does as "YYYY-MM". Returns out. */
char *cs_time_month_iso(int64_t month, char out[CS_TIME_ISO_LEN]);

#endif
