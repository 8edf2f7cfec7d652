/*
 * The YAML reader and the schema validator that os-story and the template
 * test rely on, checked on small inline documents (no ../shared needed):
 * YAML typing, each keyword in both directions, discriminated oneOf,
 * unresolved $refs, and malformed or hostile YAML.
 */
#include "check.h"
#include "spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CS_CHECK_COUNTERS;

static json_t *yaml(const char *text) {
  char err[256];
  json_t *j = fos_yaml_load(text, strlen(text), err, sizeof err);
  if (!j) fprintf(stderr, "yaml: %s\n", err);
  return j;
}

/* Errors of validating instance (JSON) against schema (YAML). */
static int errors_of(const char *schema_yaml, const char *instance_json, int *unresolved) {
  json_t *schema = yaml(schema_yaml);
  json_t *inst = json_loads(instance_json, JSON_DECODE_ANY, NULL);
  json_t *errs = json_array();
  int u = 0;
  int n = fos_schema_validate(NULL, NULL, schema, inst, errs, &u);
  if (unresolved) *unresolved = u;
  json_decref(schema);
  json_decref(inst);
  json_decref(errs);
  return n;
}

static void test_yaml(void) {
  json_t *j = yaml("a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: [x, 'y', 3]\ng: {h: no}\n"
                   "i: ctx._source.pages = 376;\nj: 'ctx.op = \"none\";'\n'200': ok\n"
                   "k: &anchor {z: 1}\nl: *anchor\nm: |-\n  two\n  lines\n");
  CHECK(j != NULL, "parses");
  CHECK(json_is_integer(json_object_get(j, "a")), "plain 1 is an integer");
  CHECK(json_is_string(json_object_get(j, "b")), "quoted '1' is a string");
  CHECK(json_is_true(json_object_get(j, "c")), "true is a boolean");
  CHECK(json_is_null(json_object_get(j, "d")), "~ is null");
  CHECK(json_is_real(json_object_get(j, "e")), "1.5 is a number");
  CHECK(json_array_size(json_object_get(j, "f")) == 3 &&
            json_is_integer(json_array_get(json_object_get(j, "f"), 2)),
        "flow sequences");
  CHECK(json_is_string(json_object_get(json_object_get(j, "g"), "h")),
        "'no' stays a string (YAML 1.2 core schema)");
  CHECK(!strcmp(json_string_value(json_object_get(j, "i")), "ctx._source.pages = 376;"),
        "plain scalars with spaces and symbols");
  CHECK(!strcmp(json_string_value(json_object_get(j, "j")), "ctx.op = \"none\";"),
        "quoted scalars keep their quotes inside");
  CHECK(json_object_get(j, "200") != NULL, "quoted numeric keys");
  CHECK(json_equal(json_object_get(j, "k"), json_object_get(j, "l")), "anchors and aliases");
  CHECK(!strcmp(json_string_value(json_object_get(j, "m")), "two\nlines"), "block scalars");
  json_decref(j);
  char err[256];
  CHECK(fos_yaml_load("a: [1, 2", 8, err, sizeof err) == NULL, "unterminated flow: an error");
  CHECK(fos_yaml_load("a: *nope\n", 9, err, sizeof err) == NULL, "unknown alias: an error");
  char deep[1200];
  size_t n = 0;
  for (int i = 0; i < 500; i++)
    deep[n++] = '[';
  for (int i = 0; i < 500; i++)
    deep[n++] = ']';
  deep[n] = 0;
  CHECK(fos_yaml_load(deep, n, err, sizeof err) == NULL, "nesting is capped: %s", err);
  CHECK(fos_yaml_load("? [a]\n: b\n", 10, err, sizeof err) == NULL, "complex keys refused");
}

static void test_keywords(void) {
  CHECK(errors_of("type: integer", "5", NULL) == 0, "integer");
  CHECK(errors_of("type: integer", "5.0", NULL) == 0, "5.0 is an integer in JSON Schema");
  CHECK(errors_of("type: integer", "\"5\"", NULL) == 1, "a string is not an integer");
  CHECK(errors_of("type: [string, 'null']", "null", NULL) == 0, "type lists");
  CHECK(errors_of("type: integer\nformat: int32", "3000000000", NULL) == 1, "int32 range");
  CHECK(errors_of("enum: [a, b]", "\"c\"", NULL) == 1, "enum");
  CHECK(errors_of("const: x", "\"x\"", NULL) == 0, "const");
  const char *obj = "type: object\nproperties:\n  a: {type: string}\nrequired: [a]\n"
                    "additionalProperties: false\n";
  CHECK(errors_of(obj, "{\"a\": \"x\"}", NULL) == 0, "object ok");
  CHECK(errors_of(obj, "{}", NULL) == 1, "required");
  CHECK(errors_of(obj, "{\"a\": \"x\", \"b\": 1}", NULL) == 1, "additionalProperties false");
  CHECK(errors_of(obj, "{\"a\": 1}", NULL) == 1, "property type");
  CHECK(errors_of("additionalProperties: {type: integer}", "{\"x\": \"y\"}", NULL) == 1,
        "additionalProperties schema");
  CHECK(errors_of("propertyNames: {enum: [a]}\nminProperties: 1\nmaxProperties: 1", "{\"b\": 1}",
                  NULL) == 1,
        "propertyNames");
  CHECK(errors_of("minProperties: 1", "{}", NULL) == 1, "minProperties");
  CHECK(errors_of("items: {type: integer}\nminItems: 2", "[1, \"x\"]", NULL) == 1, "items");
  CHECK(errors_of("items: {type: integer}\nminItems: 2", "[1]", NULL) == 1, "minItems");
  CHECK(errors_of("type: string\npattern: ^(?:(-1)|([0-9\\.]+)(?:d|h|m|s|ms))$", "\"10s\"", NULL) ==
            0,
        "pattern with (?:...) groups");
  CHECK(errors_of("type: string\npattern: ^(?:(-1)|([0-9\\.]+)(?:d|h|m|s|ms))$", "\"10x\"", NULL) ==
            1,
        "pattern mismatch");
  CHECK(errors_of("minimum: 0\nmaximum: 10", "11", NULL) == 1, "maximum");
  CHECK(errors_of("allOf: [{type: object}, {required: [a]}]", "{}", NULL) == 1, "allOf");
  CHECK(errors_of("anyOf: [{type: string}, {type: integer}]", "true", NULL) == 1, "anyOf none");
  CHECK(errors_of("oneOf: [{type: number}, {type: integer}]", "1", NULL) == 1,
        "oneOf with two matches fails");
  CHECK(errors_of("oneOf: [{type: number}, {type: string}]", "1.5", NULL) == 0, "oneOf one match");
  CHECK(errors_of("not: {type: string}", "\"x\"", NULL) == 1, "not");
  const char *local = "$defs:\n  A: {type: integer}\n$ref: '#/$defs/A'\n";
  CHECK(errors_of(local, "\"x\"", NULL) == 1, "local $ref");
  int unres;
  CHECK(errors_of("$ref: 'missing.yaml#/components/schemas/X'", "\"x\"", &unres) == 0 && unres == 1,
        "an unresolvable $ref is accepted and counted");
  CHECK(errors_of("oneOf: [{$ref: 'missing.yaml#/X'}, {type: integer}]", "1", &unres) == 0 &&
            unres == 0,
        "a resolved oneOf branch wins over an unresolved one");
  CHECK(errors_of("oneOf: [{$ref: 'missing.yaml#/X'}, {type: integer}]", "\"s\"", &unres) == 0 &&
            unres == 1,
        "only the unresolved branch could match: accepted, counted");
  const char *disc =
      "discriminator: {propertyName: type}\n"
      "oneOf:\n"
      "  - {type: object, properties: {type: {enum: [keyword]}, ignore_above: {type: integer}}}\n"
      "  - {type: object, properties: {type: {enum: [text]}, analyzer: {type: string}}}\n"
      "  - {type: object, properties: {type: {type: string}}}\n";
  CHECK(errors_of(disc, "{\"type\": \"keyword\", \"ignore_above\": 256}", NULL) == 0,
        "a discriminator picks the branch (a plain oneOf would match two)");
  CHECK(errors_of(disc, "{\"type\": \"keyword\", \"ignore_above\": \"x\"}", NULL) == 1,
        "and validates against it");
}

int main(void) {
  test_yaml();
  test_keywords();
  return th_check_done();
}
