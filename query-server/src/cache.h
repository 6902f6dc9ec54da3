/* cache.h: a small, thread-safe, fixed-size cache of string keys → int64 values with an expiry
 * time each (direct-mapped: a new key may evict the one in its slot). The clock is passed in,
 * so the logic is unit-tested without sleeping (tests/unit/test_qs_params.c).
 *
 * Used by the query server for facts that are safe to reuse briefly: a session seen live (for
 * at most --session-cache-ms, never for a request carrying a consistency token) or revoked
 * (final), and room membership (members are never removed in SPEC §2). */
#ifndef QS_CACHE_H
#define QS_CACHE_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QS_CACHE_KEY_MAX 80 /* longer keys are never cached */

typedef struct qs_cache qs_cache_t;

/* A cache of nslots entries (rounded up to a power of two, >= 16). NULL on OOM. */
qs_cache_t *qs_cache_new(size_t nslots);

/* Free; NULL is ignored. */
void qs_cache_destroy(qs_cache_t *c);

/* Look key up at now_ms: true and *value when present and now_ms < its expiry. */
bool qs_cache_get(qs_cache_t *c, const char *key, int64_t now_ms, int64_t *value);

/* Store key → value until expires_at_ms (exclusive). A key longer than QS_CACHE_KEY_MAX - 1
 * bytes is ignored. */
void qs_cache_put(qs_cache_t *c, const char *key, int64_t value, int64_t expires_at_ms);

/* A cache of immutable documents by key (same direct-mapped scheme, no expiry): the query
 * server keeps rendered chat messages by "<room id>:<seq>" (a message never changes once
 * written). At most nslots documents of at most QS_DOC_CACHE_DOC_MAX bytes are kept. */
#define QS_DOC_CACHE_DOC_MAX 17000 /* a 4000-character body in 4-byte UTF-8, and more */

typedef struct qs_doc_cache qs_doc_cache_t;

/* NULL on OOM. */
qs_doc_cache_t *qs_doc_cache_new(size_t nslots);

/* Free every document; NULL is ignored. */
void qs_doc_cache_destroy(qs_doc_cache_t *c);

/* Copy the document of key into *out (bson_copy_to: the caller destroys it) and return true,
 * or return false (out untouched) when absent. */
bool qs_doc_cache_get(qs_doc_cache_t *c, const char *key, bson_t *out);

/* Store a copy of doc under key (evicting what shared its slot). Over-long keys or documents
 * are ignored. */
void qs_doc_cache_put(qs_doc_cache_t *c, const char *key, const bson_t *doc);

#endif
