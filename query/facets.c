/*
 * Facets of a search (GET /v1/search?facets=...): how many of the matching
 * conversations fall in each month, owner, intake category or speaker
 * role, beside the hits.
 *
 * A facet is the conversation count of /v1/analytics grouped the same way
 * (analytics.c): the same matching (cs__match, the walk of search itself,
 * without relaxation), the same filters and the same document-level
 * security, so a portal caller's facets count only its own people. Each
 * facet is one walk in a read view of its own, bounded by p->timeout_ms.
 */
#include "internal.h"

#include <string.h>

static const struct {
  unsigned bit;
  int group;
  const char *name;
} facets[] = {
    {CS_FACET_MONTH, CS_GROUP_MONTH, "month"},
    {CS_FACET_OWNER, CS_GROUP_OWNER, "owner"},
    {CS_FACET_CATEGORY, CS_GROUP_CATEGORY, "category"},
    {CS_FACET_ROLE, CS_GROUP_ROLE, "role"},
};

int cs_facet_bit(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof facets / sizeof facets[0]; i++) {
    if (strlen(facets[i].name) == len && !memcmp(facets[i].name, name, len))
      return (int)facets[i].bit;
  }
  return 0;
}

int cs_engine_facets(cs_engine *e, const cs_caller *c, const cs_search_params *p, unsigned which,
                     json_t **out, cs_engine_error *err) {
  *out = json_object();
  if (!*out) {
    cs_engine_err(err, 503, "unavailable", "out of memory");
    return -1;
  }
  for (size_t i = 0; i < sizeof facets / sizeof facets[0]; i++) {
    if (!(which & facets[i].bit)) continue;
    json_t *a = NULL;
    if (cs_engine_analytics(e, c, p, facets[i].group, &a, err)) {
      json_decref(*out);
      *out = NULL;
      return -1;
    }
    json_t *list = json_array();
    size_t k;
    json_t *b;
    json_array_foreach(json_object_get(a, "buckets"), k, b) {
      json_array_append_new(list, json_pack("{s:O, s:O}", "key", json_object_get(b, "key"), "count",
                                            json_object_get(b, "conversations")));
    }
    json_object_set_new(*out, facets[i].name, list);
    if (json_is_true(json_object_get(a, "timed_out")))
      json_object_set_new(*out, "timed_out", json_true());
    json_decref(a);
  }
  return 0;
}
