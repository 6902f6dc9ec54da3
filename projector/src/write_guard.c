/* write_guard.c: guarded upserts and watermarks (write_guard.h). */
#include "write_guard.h"

#include "hl/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool pj_upsert_guarded(mongoc_database_t *db, const char *collection, const bson_t *filter,
                       const bson_t *update, bool *applied, hl_error_t *err)
{
    mongoc_collection_t *coll = mongoc_database_get_collection(db, collection);
    bson_t opts = BSON_INITIALIZER, reply;
    BSON_APPEND_BOOL(&opts, "upsert", true);
    bson_error_t berr;
    bool ok = mongoc_collection_update_one(coll, filter, update, &opts, &reply, &berr);
    if (!ok && berr.code == 11000) {
        /* Either the guard did not match an existing document, or another projector inserted
         * the same _id between this upsert's read and its insert (FerretDB 1.x applies an
         * upsert as a read, then an insert; MongoDB retries such an upsert itself). Once more:
         * the document now exists, so the update applies, or its guard answers E11000 again. */
        bson_destroy(&reply);
        ok = mongoc_collection_update_one(coll, filter, update, &opts, &reply, &berr);
    }
    *applied = false;
    if (ok) {
        bson_iter_t it;
        int64_t matched = 0, upserted = 0;
        if (bson_iter_init_find(&it, &reply, "matchedCount"))
            matched = bson_iter_as_int64(&it);
        if (bson_iter_init_find(&it, &reply, "upsertedCount"))
            upserted = bson_iter_as_int64(&it);
        *applied = matched > 0 || upserted > 0;
    } else if (berr.code == 11000) {
        ok = true; /* the guard did not match: the stored state is as new or newer */
    } else {
        hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "update %s: %s", collection, berr.message);
    }
    bson_destroy(&reply);
    bson_destroy(&opts);
    mongoc_collection_destroy(coll);
    return ok;
}

bool pj_watermark_advance(pj_ctx_t *ctx, const char *input, const char *key, int64_t version,
                          hl_error_t *err)
{
    char id[160];
    snprintf(id, sizeof id, "%s:%s", input, key);
    mongoc_collection_t *coll = mongoc_database_get_collection(ctx->db, "watermarks");
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, max, opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$max", &max);
    BSON_APPEND_INT64(&max, "v", version);
    bson_append_document_end(&update, &max);
    BSON_APPEND_BOOL(&opts, "upsert", true);
    bson_error_t berr;
    bool ok = mongoc_collection_update_one(coll, &filter, &update, &opts, NULL, &berr);
    if (!ok && berr.code == 11000) /* a concurrent upsert of the same id won: retry as update */
        ok = mongoc_collection_update_one(coll, &filter, &update, NULL, NULL, &berr);
    if (!ok)
        hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "watermark %s: %s", id, berr.message);
    bson_destroy(&filter);
    bson_destroy(&update);
    bson_destroy(&opts);
    mongoc_collection_destroy(coll);
    return ok;
}
