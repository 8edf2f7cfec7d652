/*
 * CORS origins (see cors.h).
 */
#include "cors.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Host: a DNS name or IPv4 address (letters, digits, '-', '.'), or an IPv6
 * address in brackets. Returns its length, 0 when malformed. */
static size_t host_len(const char *h) {
  if (h[0] == '[') {
    size_t n = strspn(h + 1, "0123456789abcdefABCDEF:.");
    return n > 1 && h[1 + n] == ']' ? n + 2 : 0;
  }
  size_t n = 0;
  while (isalnum((unsigned char)h[n]) || h[n] == '-' || h[n] == '.')
    n++;
  return n && h[0] != '.' && h[0] != '-' && h[n - 1] != '.' ? n : 0;
}

int cs_cors_add(cs_cors *c, const char *origin, char *err, size_t cap) {
  const char *why = NULL;
  const char *h = NULL;
  if (!strncasecmp(origin, "http://", 7))
    h = origin + 7;
  else if (!strncasecmp(origin, "https://", 8))
    h = origin + 8;
  else
    why = "it must start with http:// or https://";
  size_t hn = h ? host_len(h) : 0;
  if (!why && !hn) why = "the host is missing or malformed";
  const char *rest = h ? h + hn : NULL;
  if (!why && *rest == ':') {
    size_t pn = strspn(rest + 1, "0123456789");
    long port = 0;
    for (size_t i = 1; i <= pn && i < 7; i++)
      port = port * 10 + (rest[i] - '0');
    if (pn == 0 || pn > 5 || port < 1 || port > 65535)
      why = "the port must be a number from 1 to 65535";
    rest += 1 + pn;
  }
  if (!why && *rest) why = "an origin has no path, query, user or trailing slash";
  if (!why && strlen(origin) >= sizeof c->origin[0]) why = "it is too long";
  if (!why && c->n == CS_CORS_ORIGINS_MAX) why = "too many origins (at most 32)";
  if (why) {
    snprintf(err, cap,
             "--cors-origin takes scheme://host[:port], e.g. https://portal.example.org; "
             "\"%.200s\": %s",
             origin, why);
    return -1;
  }
  char *o = c->origin[c->n++];
  size_t i = 0;
  for (; origin[i]; i++)
    o[i] = (char)tolower((unsigned char)origin[i]);
  o[i] = 0;
  return 0;
}

const char *cs_cors_match(const cs_cors *c, const char *origin) {
  if (!c || !origin) return NULL;
  for (int i = 0; i < c->n; i++)
    if (!strcmp(c->origin[i], origin)) return c->origin[i];
  return NULL;
}
