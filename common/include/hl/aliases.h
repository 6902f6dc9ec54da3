/* hl/aliases.h: logical read-model names → physical MongoDB collections.
 *
 * A projector rebuild (`projector rebuild <model>`, docs/read-models.md) fills a shadow
 * collection `<model>__rb<ms>` and then switches the model's alias document in the
 * `read_model_aliases` collection, `{_id: <logical>, collection: <physical>, previous,
 * rebuilt_at}`, in one update. Every server resolves read-model names through one of these
 * tables; the servers differ only in how often they reload it (the query server's cache: at most
 * HL_QUERY_ALIAS_TTL_MS old; the projector: before each batch, at most 1 s old).
 *
 * One policy for all: a name without an alias document is its own collection, and the
 * infrastructure collections (hl_alias_is_infrastructure: `watermarks`, `read_model_aliases`)
 * are never aliased, whatever the collection holds, since a rebuild never replaces them. */
#ifndef HL_ALIASES_H
#define HL_ALIASES_H

#include "hl/error.h"

#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <stddef.h>

#define HL_ALIAS_COLLECTION "read_model_aliases"
#define HL_ALIAS_MAX        64  /* alias documents kept; further ones are ignored with a warning */
#define HL_ALIAS_NAME_MAX   128 /* bytes of a collection name, NUL included (MongoDB allows 120+) */

typedef struct {
    struct {
        char logical[HL_ALIAS_NAME_MAX];
        char physical[HL_ALIAS_NAME_MAX];
    } items[HL_ALIAS_MAX];
    size_t n;
} hl_alias_table_t; /* about 16 KiB: embed it or allocate it, do not put it on a small stack */

/* True for the collections that are never aliased (`watermarks`, `read_model_aliases`). */
bool hl_alias_is_infrastructure(const char *name);

/* Read every alias document of db into *into (one find on HL_ALIAS_COLLECTION). Documents
 * without a string `_id` and a non-empty string `collection`, names of HL_ALIAS_NAME_MAX bytes
 * or more, and aliases of infrastructure collections are skipped. On failure (HL_ERR_MONGO) *into
 * is left as it was, so a caller can keep serving its previous table. db is borrowed. */
bool hl_alias_table_load(mongoc_database_t *db, hl_alias_table_t *into, hl_error_t *err);

/* The physical collection of logical: its alias, else logical itself. Borrowed pointer, into t
 * or logical; never NULL for a non-NULL logical. */
const char *hl_alias_lookup(const hl_alias_table_t *t, const char *logical);

/* Point logical at physical (upsert of its alias document, recording previous and the time):
 * the switch a rebuild makes once the shadow collection is caught up. Refuses infrastructure
 * names (HL_ERR_INPUT). db is borrowed. */
bool hl_alias_switch(mongoc_database_t *db, const char *logical, const char *physical,
                     const char *previous, hl_error_t *err);

#endif
