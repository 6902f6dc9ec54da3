/* aliases.h: read-model names to collections for the query server and the stream listener: the
 * shared table of hl/aliases.h behind a per-process cache (qs_alias_cache_t in app.h). A
 * rebuild's switch reaches reads within cfg.alias_ttl_ms; the projector keeps the old collection
 * at least that long before dropping it. */
#ifndef QS_ALIASES_H
#define QS_ALIASES_H

#include "app.h"

#include <mongoc/mongoc.h>

/* Collection handle of the read model with the given logical name (caller destroys), resolved
 * through `read_model_aliases` (absent alias: the logical name itself). The one place where
 * aliases are applied; see aliases.c. */
mongoc_collection_t *qs_collection(qs_app_t *app, mongoc_client_t *client, const char *logical);

/* Physical collection name of a logical read model into out[cap] (see qs_collection). */
void qs_alias_resolve(qs_app_t *app, mongoc_client_t *client, const char *logical, char *out,
                      size_t cap);

#endif
