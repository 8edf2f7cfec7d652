/*
 * The OpenSearch mirror: documents built from the index, and the sender
 * that drains the outbox through _bulk. Local indexing never waits for it:
 * the sender runs in its own thread and only reads the index, then deletes
 * the outbox entries OpenSearch acknowledged.
 *
 * Layout in OpenSearch: one index per index generation, "convsearch-<gen>",
 * behind the alias "convsearch"; documents "conversation-<id>" (with nested
 * turns) and "patient-<id>"; each write carries version_type=external with
 * the outbox sequence as version, so replays and reordering are harmless.
 */
#ifndef CS_MIRROR_H
#define CS_MIRROR_H

#include "os_client.h"
#include "reader.h"
#include "store.h"

#define CS_MIRROR_ALIAS "convsearch"

typedef struct cs_mirror cs_mirror;

/* Makes sure the alias exists (creating "convsearch-<gen>" with the
 * template's settings and mappings if not), then starts the sender thread.
 * Errors reaching OpenSearch are not fatal: the sender keeps retrying. */
int cs_mirror_start(cs_store *s, const char *url, cs_mirror **out);
/* META key present when everything indexed must be queued again: the
 * alias had been in use and was found gone (its index deleted on the
 * node), so the sender made a new index behind it, which holds none of it.
 * Whoever queues everything deletes it in the same transaction. */
#define CS_MIRROR_REQUEUE_KEY "mirror_requeue"
/* 1 (once) after the sender set CS_MIRROR_REQUEUE_KEY: worth looking. */
int cs_mirror_requeue_hint(cs_mirror *m);
/* Wakes the sender after a commit that added outbox entries. */
void cs_mirror_wake(cs_mirror *m);
/* Stops the sender (finishing the request in flight) and frees it. */
void cs_mirror_stop(cs_mirror *m);

/* Appends the _bulk action and source lines that put document `kind`/`id`
 * as it is in the index (version = seq); nothing when the document is gone. */
int cs_mirror_doc_lines(cs_reader *r, int kind, uint64_t id, uint64_t version, const char *index,
                        cs_buf *out, int *written);

/* Creates index `name` from the template (settings, mappings); with_alias:
 * as the alias's write index (an index of that name that exists already is
 * put behind the alias). Returns 0 (also when it exists already), 1 when
 * with_alias and another index already is the alias's write index, or an
 * error. */
int cs_mirror_create_index(cs_os *c, const char *name, int with_alias);

#endif
