/*
 * libFuzzer harness: the HTTP request router and handlers (api/routes.h,
 * cs_api_handle) over a real index, as the server calls them once
 * libmicrohttpd has framed a request. Input:
 *   line 1  METHOD URL          (URL percent-decoded as the server does)
 *   line 2  token name (admin, analyst, portal: a service token) or a raw
 *           Authorization value
 *   rest    the body
 * The index is CS_FUZZ_INDEX (scripts/fuzz.sh makes it with seeds.c).
 * Seeds: the requests of tests/http/*.case.
 */
#include "fuzz_auth.h"
#include "routes.h"

#include <stdlib.h>
#include <string.h>

static cs_api api;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *dir = getenv("CS_FUZZ_INDEX");
  cs_engine_error err = {0};
  if (!dir || cs_engine_open(dir, &api.engine, &err)) {
    fprintf(stderr, "fuzz_router: set CS_FUZZ_INDEX to an index (%s)\n", err.message);
    abort();
  }
  api.auth = fuzz_auth();
  api.started = cs_mono_seconds();
  return 0;
}

/* Splits "a=1&b=%20" into args, decoded as the server decodes them. */
static int split_args(char *q, cs_arg *args) {
  int n = 0;
  for (char *save = NULL, *kv = strtok_r(q, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
    if (n == CS_ARGS_MAX) return -1;
    char *eq = strchr(kv, '=');
    if (eq) *eq = 0;
    for (char *p = kv; *p; p++)
      if (*p == '+') *p = ' ';
    unsigned flags = 0;
    args[n].key = kv;
    args[n].klen = cs_unescape(kv, &flags);
    args[n].val = eq ? eq + 1 : "";
    if (eq) {
      for (char *p = eq + 1; *p; p++)
        if (*p == '+') *p = ' ';
      args[n].vlen = cs_unescape(eq + 1, &flags);
    } else {
      args[n].vlen = 0;
    }
    n++;
  }
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > CS_BODY_MAX + 4096) return 0;
  char *in = malloc(size + 1);
  if (!in) return 0;
  memcpy(in, data, size);
  in[size] = 0;
  char *line1 = in, *line2 = strchr(in, '\n'), *body = NULL;
  if (line2) {
    *line2++ = 0;
    body = strchr(line2, '\n');
    if (body) *body++ = 0;
  }
  char *url = strchr(line1, ' ');
  if (!url) {
    free(in);
    return 0;
  }
  *url++ = 0;
  cs_request rq;
  memset(&rq, 0, sizeof rq);
  rq.method = !strcmp(line1, "GET")    ? CS_M_GET
              : !strcmp(line1, "HEAD") ? CS_M_HEAD
              : !strcmp(line1, "POST") ? CS_M_POST
                                       : CS_M_OTHER;
  char *query = strchr(url, '?');
  if (query) *query++ = 0;
  unsigned flags = 0;
  cs_unescape(url, &flags);
  rq.path = url;
  rq.url_flags = flags;
  cs_arg args[CS_ARGS_MAX];
  rq.args = args;
  rq.nargs = query ? split_args(query, args) : 0;
  char authz[CS_TOKEN_MAX + 16];
  if (line2 && *line2) {
    snprintf(authz, sizeof authz, "%s%s",
             strcmp(line2, "admin") && strcmp(line2, "analyst") && strcmp(line2, "portal")
                 ? ""
                 : "Bearer ",
             line2);
    rq.authorization = authz;
  }
  rq.content_type = "application/json";
  rq.body = body;
  rq.body_len = body ? strlen(body) : 0;
  cs_reply rp;
  memset(&rp, 0, sizeof rp);
  cs_api_handle(&api, &rq, &rp);
  if (rp.stream) { /* an export: read it to the end, as the server sends it */
    char buf[4096];
    while (cs_stream_read(rp.stream, buf, sizeof buf) > 0) {
    }
  }
  cs_reply_free(&rp);
  free(in);
  return 0;
}
