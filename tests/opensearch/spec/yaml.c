/*
 * YAML to JSON (jansson) with libyaml's event parser, for the OpenSearch
 * API specification and its test stories. Scalars are typed the way the
 * YAML 1.2 core schema types them: plain null/~/empty, true/false, integers
 * (decimal, 0x, 0o) and floats become JSON values, anything quoted or
 * tagged !!str stays a string. Anchors and aliases are supported; merge keys
 * (<<) are not needed by these files and are kept as ordinary keys.
 * Nesting is capped (FOS_YAML_DEPTH_MAX) and so is the input size.
 */
#include "spec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define FOS_YAML_DEPTH_MAX 200
#define FOS_YAML_SIZE_MAX ((size_t)32 << 20)

static int match_any(const char *s, const char *const *list) {
  for (int i = 0; list[i]; i++) {
    if (!strcmp(s, list[i])) return 1;
  }
  return 0;
}

static json_t *typed_scalar(const char *s, size_t len, int plain, const char *tag) {
  if (tag && !strcmp(tag, YAML_STR_TAG)) return json_stringn(s, len);
  if (!plain) return json_stringn(s, len);
  static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
  static const char *const trues[] = {"true", "True", "TRUE", NULL};
  static const char *const falses[] = {"false", "False", "FALSE", NULL};
  if (match_any(s, nulls)) return json_null();
  if (match_any(s, trues)) return json_true();
  if (match_any(s, falses)) return json_false();
  char *end;
  errno = 0;
  if ((s[0] >= '0' && s[0] <= '9') ||
      ((s[0] == '-' || s[0] == '+') && s[1] >= '0' && s[1] <= '9')) {
    int base = 10;
    const char *p = s;
    if (!strncmp(s, "0x", 2)) base = 16, p = s + 2;
    if (!strncmp(s, "0o", 2)) base = 8, p = s + 2;
    long long v = strtoll(p, &end, base);
    if (!*end && !errno && end != p) return json_integer(v);
    errno = 0;
    double d = strtod(s, &end);
    if (!*end && !errno && strpbrk(s, ".eE")) return json_real(d);
  }
  if (!strcmp(s, ".inf") || !strcmp(s, "+.inf")) return json_string(s); /* JSON has no inf */
  if (!strcmp(s, "-.inf") || !strcmp(s, ".nan")) return json_string(s);
  return json_stringn(s, len);
}

typedef struct frame {
  json_t *node;
  char *key; /* pending mapping key */
} frame;

json_t *fos_yaml_load(const char *text, size_t len, char *err, size_t errcap) {
  if (len > FOS_YAML_SIZE_MAX) {
    snprintf(err, errcap, "YAML input over %zu bytes", (size_t)FOS_YAML_SIZE_MAX);
    return NULL;
  }
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p)) {
    snprintf(err, errcap, "cannot initialize the YAML parser");
    return NULL;
  }
  yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
  frame stack[FOS_YAML_DEPTH_MAX + 1];
  int depth = 0, done = 0, failed = 0;
  json_t *root = NULL, *anchors = json_object();
  while (!done && !failed) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&p, &ev)) {
      snprintf(err, errcap, "YAML error at line %zu: %s", p.problem_mark.line + 1,
               p.problem ? p.problem : "?");
      failed = 1;
      break;
    }
    json_t *value = NULL;
    const char *anchor = NULL;
    int push = 0;
    switch (ev.type) {
    case YAML_STREAM_END_EVENT:
    case YAML_DOCUMENT_END_EVENT:
      done = ev.type == YAML_STREAM_END_EVENT || root != NULL;
      break;
    case YAML_SCALAR_EVENT:
      value = typed_scalar((const char *)ev.data.scalar.value, ev.data.scalar.length,
                           ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE,
                           (const char *)ev.data.scalar.tag);
      anchor = (const char *)ev.data.scalar.anchor;
      break;
    case YAML_ALIAS_EVENT:
      value = json_object_get(anchors, (const char *)ev.data.alias.anchor);
      if (!value) {
        snprintf(err, errcap, "unknown YAML alias *%s", ev.data.alias.anchor);
        failed = 1;
      } else {
        json_incref(value);
      }
      break;
    case YAML_SEQUENCE_START_EVENT:
      value = json_array();
      anchor = (const char *)ev.data.sequence_start.anchor;
      push = 1;
      break;
    case YAML_MAPPING_START_EVENT:
      value = json_object();
      anchor = (const char *)ev.data.mapping_start.anchor;
      push = 1;
      break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      depth--;
      free(stack[depth].key);
      break;
    default:
      break;
    }
    if (value && !failed) {
      if (anchor) json_object_set(anchors, anchor, value);
      int attached = 0; /* the parent holds a reference of its own */
      if (depth > 0) {
        frame *f = &stack[depth - 1];
        if (json_is_array(f->node)) {
          json_array_append(f->node, value);
          attached = 1;
        } else if (!f->key) {
          /* a mapping key: its text, whatever its type */
          if (push || ev.type != YAML_SCALAR_EVENT) {
            snprintf(err, errcap, "complex YAML keys are not supported (line %zu)",
                     ev.start_mark.line + 1);
            failed = 1;
          } else {
            f->key = strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
          }
        } else {
          json_object_set(f->node, f->key, value);
          free(f->key);
          f->key = NULL;
          attached = 1;
        }
      }
      if (push && !failed && depth == FOS_YAML_DEPTH_MAX) {
        snprintf(err, errcap, "YAML nesting deeper than %d", FOS_YAML_DEPTH_MAX);
        failed = 1;
      }
      if (push && !failed) {
        stack[depth].node = value;
        stack[depth].key = NULL;
        depth++;
      }
      if (depth == (push && !failed ? 1 : 0) && !attached && !failed && !root) {
        root = value; /* the document's top node keeps our reference */
      } else {
        json_decref(value);
      }
    }
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&p);
  while (depth > 0) { /* after an error: nodes are owned by their parents and root */
    depth--;
    free(stack[depth].key);
  }
  json_decref(anchors);
  if (failed) {
    json_decref(root);
    return NULL;
  }
  if (!root) root = json_null();
  return root;
}

json_t *fos_yaml_load_file(const char *path, char *err, size_t errcap) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errcap, "%s: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (n == cap) {
      if (cap > FOS_YAML_SIZE_MAX) break;
      cap *= 2;
      buf = realloc(buf, cap);
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
  }
  fclose(f);
  json_t *j = fos_yaml_load(buf, n, err, errcap);
  free(buf);
  return j;
}
