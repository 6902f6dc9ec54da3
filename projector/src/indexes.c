/* indexes.c: the read models' secondary indexes (indexes.h). */
#include "indexes.h"

#include "plan_exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool create_index(pj_ctx_t *ctx, const char *collection, const char *name,
                         const bson_t *keys, bool unique, hl_error_t *err)
{
    bson_t cmd = BSON_INITIALIZER, arr, idx;
    BSON_APPEND_UTF8(&cmd, "createIndexes", collection);
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &idx);
    BSON_APPEND_DOCUMENT(&idx, "key", keys);
    BSON_APPEND_UTF8(&idx, "name", name);
    if (unique)
        BSON_APPEND_BOOL(&idx, "unique", true);
    bson_append_document_end(&arr, &idx);
    bson_append_array_end(&cmd, &arr);
    bson_error_t berr;
    bool ok = mongoc_database_write_command_with_opts(ctx->db, &cmd, NULL, NULL, &berr);
    bson_destroy(&cmd);
    if (!ok)
        hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "createIndexes %s.%s: %s", collection, name,
                     berr.message);
    return ok;
}

/* Secondary index keys per logical model: "field:dir,field:dir" (dir 1 or -1). Every list the
 * query server reads is an _id range or _id list (the only index FerretDB 1.24 reaches, with
 * patch 4 of deploy/local/mongo.sh), so these serve analysts on MongoDB only; FerretDB keeps
 * them up to date on every write and never reads them: only the ones analysts need. */
static const struct {
    const char *model;
    const char *keys;
} model_indexes[] = {
    {"user_profiles", "display_name_lower:1"},
    {"user_names", "user_id:1"},
    {"sessions", "user_id:1"},
    {"chat_rooms", "direct_key:1"},
    {"room_members", "user_id:1"},
    {"daily_active_users", "day:1"},
};

bool pj_ensure_model_indexes(pj_ctx_t *ctx, const char *model, const char *collection,
                             hl_error_t *err)
{
    for (size_t i = 0; i < sizeof model_indexes / sizeof model_indexes[0]; i++) {
        if (strcmp(model_indexes[i].model, model) != 0)
            continue;
        bson_t k = BSON_INITIALIZER;
        char name[128] = "", spec[128];
        snprintf(spec, sizeof spec, "%s", model_indexes[i].keys);
        size_t nlen = 0;
        for (char *p = spec, *next; p && *p; p = next) {
            next = strchr(p, ',');
            if (next)
                *next++ = '\0';
            char *colon = strchr(p, ':');
            if (!colon)
                continue;
            *colon = '\0';
            int dir = colon[1] == '-' ? -1 : 1;
            BSON_APPEND_INT32(&k, p, dir);
            int w = snprintf(name + nlen, sizeof name - nlen, "%s%s_%d", nlen ? "_" : "", p, dir);
            if (w > 0 && (size_t)w < sizeof name - nlen)
                nlen += (size_t)w;
        }
        bool ok = create_index(ctx, collection, name, &k, false, err);
        bson_destroy(&k);
        if (!ok)
            return false;
    }
    return true;
}

bool pj_ensure_indexes(pj_ctx_t *ctx, hl_error_t *err)
{
    if (!pj_aliases_refresh(ctx, 0, err))
        return false;
    for (size_t i = 0; i < sizeof model_indexes / sizeof model_indexes[0]; i++)
        if (!pj_ensure_model_indexes(ctx, model_indexes[i].model,
                                     pj_physical(ctx, model_indexes[i].model), err))
            return false;
    return true;
}
