/*
 * The OpenSearch API specification, read at run time from
 * ../shared/reference/opensearch-api/spec (OpenAPI 3.1 in YAML): finding
 * the operation for a method and path, and validating parameters, request
 * bodies and response bodies against its JSON schemas, the way the
 * project's own test runner validates its stories.
 *
 * $refs are followed across files ('../schemas/_common.yaml#/...'). The
 * reference copy holds only part of the specification's schema files; a
 * $ref into a missing file cannot be checked and counts as "unresolved"
 * (accepted, and reported) rather than as an error.
 */
#ifndef FOS_SPEC_H
#define FOS_SPEC_H

#include <jansson.h>
#include <stddef.h>

/* YAML (1.2 core schema typing) to JSON. Returns NULL with err set. */
json_t *fos_yaml_load(const char *text, size_t len, char *err, size_t errcap);
json_t *fos_yaml_load_file(const char *path, char *err, size_t errcap);

typedef struct fos_spec fos_spec;

/* Opens the specification directory (holding namespaces/ and schemas/).
 * Returns NULL with err set when namespaces/_core.yaml cannot be read. */
fos_spec *fos_spec_open(const char *dir, char *err, size_t errcap);
void fos_spec_close(fos_spec *s);

/* An operation of the specification. Pointers are owned by the spec. */
typedef struct fos_op {
  const char *file; /* the namespace file that defines it */
  const char *path; /* its path template, e.g. "/{index}/_doc/{id}" */
  const char *id;   /* operationId */
  json_t *op;       /* the operation object */
} fos_op;

/* Finds the operation for a method ("GET") and a path that is either a
 * template as written in the spec or a concrete path. Returns 0 or -1. */
int fos_spec_find(fos_spec *s, const char *method, const char *path, fos_op *out);

/* The result of a validation: messages (JSON strings "where: what") are
 * appended to errors; *unresolved counts $refs that could not be followed.
 * Each function returns the number of errors it added. */
int fos_spec_check_params(fos_spec *s, const fos_op *op, json_t *params, json_t *errors,
                          int *unresolved);
int fos_spec_check_request(fos_spec *s, const fos_op *op, const char *content_type, json_t *payload,
                           json_t *errors, int *unresolved);
/* A status the operation does not document is an error; an undocumented
 * body (no schema) is accepted. */
int fos_spec_check_response(fos_spec *s, const fos_op *op, int status, json_t *body, json_t *errors,
                            int *unresolved);

/* Validates an instance against the schema named by a reference relative to
 * the spec directory, e.g. "schemas/_common.mapping.yaml#/components/schemas/TypeMapping". */
int fos_spec_check_schema(fos_spec *s, const char *ref, json_t *instance, json_t *errors,
                          int *unresolved);

/* Validates against an in-memory schema (its $refs resolve relative to
 * `file`, which may be NULL for self-contained schemas). For tests. */
int fos_schema_validate(fos_spec *s, const char *file, json_t *schema, json_t *instance,
                        json_t *errors, int *unresolved);

#endif
