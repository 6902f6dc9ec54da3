/* write_guard.h: the two writes every projection relies on for exactness under duplicates and
 * replays: the version-guarded upsert and the monotonic read-your-writes watermark. */
#ifndef PJ_WRITE_GUARD_H
#define PJ_WRITE_GUARD_H

#include "projector.h"

#include "hl/error.h"

#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <stdint.h>

/* Guarded upsert on collection of db: update_one(filter, update, {upsert: true}). A duplicate-key
 * error (E11000) is tried once more (another process may have inserted the same _id between this
 * upsert's read and its insert: FerretDB 1.x); a second E11000 means the guard did not match
 * because the stored document is as new or newer: *applied is false and the call succeeds. Other
 * errors fill err (HL_ERR_MONGO) and return false. db is borrowed; use it from one thread at a time
 * (mongoc clients are not thread-safe). */
bool pj_upsert_guarded(mongoc_database_t *db, const char *collection, const bson_t *filter,
                       const bson_t *update, bool *applied, hl_error_t *err);

/* Advance the read-your-writes watermark "<input>:<key>" to at least version ($max upsert in
 * `watermarks`, hl/consistency.h). Call only after the read-model write was acknowledged. */
bool pj_watermark_advance(pj_ctx_t *ctx, const char *input, const char *key, int64_t version,
                          hl_error_t *err);

#endif
