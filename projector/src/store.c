/* store.c: runs plans (plan.h) against MongoDB and resolves read-model aliases. */
#include "projector.h"

#include "hl/log.h"
#include "hl/util.h"

#include <stdio.h>
#include <string.h>

bool pj_aliases_refresh(pj_ctx_t *ctx, int64_t max_age_ms, hl_error_t *err)
{
    int64_t now = hl_mono_ms();
    if (max_age_ms > 0 && ctx->aliases_at_ms && now - ctx->aliases_at_ms < max_age_ms)
        return true;
    mongoc_collection_t *coll = mongoc_database_get_collection(ctx->db, "read_model_aliases");
    bson_t filter = BSON_INITIALIZER;
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
    const bson_t *doc;
    int n = 0;
    while (mongoc_cursor_next(cur, &doc) &&
           n < (int)(sizeof ctx->aliases / sizeof ctx->aliases[0])) {
        bson_iter_t id, c;
        if (!bson_iter_init_find(&id, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&id) ||
            !bson_iter_init_find(&c, doc, "collection") || !BSON_ITER_HOLDS_UTF8(&c))
            continue;
        snprintf(ctx->aliases[n].logical, sizeof ctx->aliases[n].logical, "%s",
                 bson_iter_utf8(&id, NULL));
        snprintf(ctx->aliases[n].physical, sizeof ctx->aliases[n].physical, "%s",
                 bson_iter_utf8(&c, NULL));
        n++;
    }
    bson_error_t berr;
    bool ok = !mongoc_cursor_error(cur, &berr);
    if (ok) {
        ctx->naliases = n;
        ctx->aliases_at_ms = now;
    } else {
        hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "read_model_aliases: %s", berr.message);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    return ok;
}

const char *pj_physical(pj_ctx_t *ctx, const char *model)
{
    if (ctx->rebuild_model && !strcmp(ctx->rebuild_model, model))
        return ctx->rebuild_collection;
    for (int i = 0; i < ctx->naliases; i++)
        if (!strcmp(ctx->aliases[i].logical, model))
            return ctx->aliases[i].physical;
    return model;
}

bool pj_plan_execute(pj_ctx_t *ctx, const pj_plan_t *plan, bool *applied, hl_error_t *err)
{
    *applied = false;
    for (size_t i = 0; i < plan->n; i++) {
        const pj_op_t *op = plan->ops[i];
        const char *target = pj_physical(ctx, op->model);
        if (!ctx->rebuild_model ? false : strcmp(ctx->rebuild_model, op->model) != 0)
            continue; /* rebuilding another model */
        bool one = false, ok = true;
        bson_error_t berr;
        mongoc_collection_t *coll = NULL;
        switch (op->kind) {
        case PJ_OP_UPSERT:
            if (!pj_upsert_guarded(ctx, target, &op->filter, &op->update, &one, err))
                return false;
            break;
        case PJ_OP_UPDATE:
            coll = mongoc_database_get_collection(ctx->db, target);
            ok = mongoc_collection_update_one(coll, &op->filter, &op->update, NULL, NULL, &berr);
            one = ok;
            break;
        case PJ_OP_UPDATE_MANY:
            coll = mongoc_database_get_collection(ctx->db, target);
            ok = mongoc_collection_update_many(coll, &op->filter, &op->update, NULL, NULL, &berr);
            one = ok;
            break;
        case PJ_OP_DELETE:
            coll = mongoc_database_get_collection(ctx->db, target);
            ok = mongoc_collection_delete_one(coll, &op->filter, NULL, NULL, &berr);
            one = ok;
            break;
        }
        if (coll)
            mongoc_collection_destroy(coll);
        if (!ok)
            return hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "%s: %s", target, berr.message);
        *applied = *applied || one;
    }
    if (!ctx->rebuild_model && plan->wm_input[0] &&
        !pj_watermark_advance(ctx, plan->wm_input, plan->wm_key, plan->wm_version, err))
        return false;
    return true;
}
