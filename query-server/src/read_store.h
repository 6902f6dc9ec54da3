/* read_store.h: finds on the read models by logical name (resolved through aliases.h) and the
 * accessors and renderers of their documents' fields (docs/read-models.md). */
#ifndef QS_READ_STORE_H
#define QS_READ_STORE_H

#include "request.h"

#include "hl/error.h"

#include <bson/bson.h>
#include <mongoc/mongoc.h>

/* Documents copied out of a cursor. */
typedef struct {
    bson_t **docs;
    size_t n;
} qs_docs_t;

/* Run find(filter, opts) on a logical read model and copy every document into out (caller
 * frees with qs_docs_free, also on error). Error: HL_ERR_MONGO. */
bool qs_find(qs_ctx_t *ctx, const char *logical, const bson_t *filter, const bson_t *opts,
             qs_docs_t *out, hl_error_t *err);

/* Up to this many ids, qs_find_ids looks each one up by _id equality; more ids take one $in.
 * Both reach FerretDB's _id index (an $in of strings through patch 4 of deploy/local/mongo.sh);
 * one $in of 21 ids took 7.7 ms against 85 ms for 21 lookups (loaded 2-core VM), 2 ids 5.8 vs
 * 7.6 ms. */
#define QS_FIND_IDS_EQ_MAX 1

/* Find the documents whose _id is one of ids[0..n) (distinct; n may be 0), with an optional
 * projection (NULL: whole documents): one _id lookup up to QS_FIND_IDS_EQ_MAX, else one $in.
 * Missing ids are skipped. out is freed by the caller with qs_docs_free, also on error. */
bool qs_find_ids(qs_ctx_t *ctx, const char *logical, const char *const *ids, size_t n,
                 const bson_t *projection, qs_docs_t *out, hl_error_t *err);

/* Find one document by _id into *out (bson_init'ed and filled; caller destroys when found).
 * Returns 1 found, 0 absent, -1 error. */
int qs_find_one(qs_ctx_t *ctx, const char *logical, const char *id, bson_t *out, hl_error_t *err);

void qs_docs_free(qs_docs_t *d);

/* Display names of the distinct users ids[0..n) as documents {_id, display_name} in *names
 * (caller frees with qs_docs_free, also on error); unknown users are absent. A name read from
 * user_profiles is reused for cfg.name_cache_ms, except by requests with a consistency token,
 * which read every name. */
bool qs_display_names(qs_ctx_t *ctx, const char *const *ids, size_t n, qs_docs_t *names,
                      hl_error_t *err);

/* The document of d whose _id is id, or NULL. */
const bson_t *qs_docs_by_id(const qs_docs_t *d, const char *id);

/* Field accessors with defaults (missing or wrong type gives def). */
const char *qs_doc_string(const bson_t *doc, const char *key, const char *def);
int64_t qs_doc_int(const bson_t *doc, const char *key, int64_t def);
bool qs_doc_bool(const bson_t *doc, const char *key, bool def);
/* Date field in ms since the epoch; false when missing or not a date. */
bool qs_doc_date_ms(const bson_t *doc, const char *key, int64_t *ms);

/* Append key: RFC 3339 text of the date field `field` of doc, or null. */
void qs_append_date(bson_t *out, const char *key, const bson_t *doc, const char *field);
/* The profile's uploaded avatar as "avatar": {url_512, url_128, version} (gateway paths under
 * /media/, issue 18), or "avatar": null when it has none. */
void qs_append_avatar(bson_t *out, const bson_t *doc);
/* Append key: the string field `field` of doc, or null when missing. */
void qs_append_string_or_null(bson_t *out, const char *key, const bson_t *doc, const char *field);

#endif
