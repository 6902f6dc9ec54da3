/* aliases.c: the read_model_aliases table (hl/aliases.h). */
#include "hl/aliases.h"

#include "hl/log.h"
#include "hl/util.h"

#include <string.h>

static const char *const infrastructure[] = {"watermarks", HL_ALIAS_COLLECTION, NULL};

bool hl_alias_is_infrastructure(const char *name)
{
    for (const char *const *p = infrastructure; *p; p++)
        if (!strcmp(*p, name))
            return true;
    return false;
}

/* The UTF-8 string at key in doc, or NULL when absent or of another type. */
static const char *doc_utf8(const bson_t *doc, const char *key, uint32_t *len)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it))
        return NULL;
    return bson_iter_utf8(&it, len);
}

bool hl_alias_table_load(mongoc_database_t *db, hl_alias_table_t *into, hl_error_t *err)
{
    mongoc_collection_t *coll = mongoc_database_get_collection(db, HL_ALIAS_COLLECTION);
    bson_t filter = BSON_INITIALIZER;
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
    hl_alias_table_t *t = bson_malloc0(sizeof *t);
    const bson_t *doc;
    size_t dropped = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        uint32_t nl = 0, np = 0;
        const char *logical = doc_utf8(doc, "_id", &nl);
        const char *physical = doc_utf8(doc, "collection", &np);
        if (!logical || !physical || np == 0 || nl >= HL_ALIAS_NAME_MAX ||
            np >= HL_ALIAS_NAME_MAX || hl_alias_is_infrastructure(logical))
            continue;
        if (t->n == HL_ALIAS_MAX) {
            dropped++;
            continue;
        }
        memcpy(t->items[t->n].logical, logical, nl + 1);
        memcpy(t->items[t->n].physical, physical, np + 1);
        t->n++;
    }
    bson_error_t berr;
    bool ok = !mongoc_cursor_error(cur, &berr);
    if (ok) {
        if (dropped)
            HL_WARN("%s holds more than %d aliases: %zu ignored", HL_ALIAS_COLLECTION, HL_ALIAS_MAX,
                    dropped);
        memcpy(into, t, sizeof *t);
    } else {
        hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "%s: %s", HL_ALIAS_COLLECTION,
                     berr.message);
    }
    bson_free(t);
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    return ok;
}

const char *hl_alias_lookup(const hl_alias_table_t *t, const char *logical)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->items[i].logical, logical))
            return t->items[i].physical;
    return logical;
}

bool hl_alias_switch(mongoc_database_t *db, const char *logical, const char *physical,
                     const char *previous, hl_error_t *err)
{
    if (hl_alias_is_infrastructure(logical))
        return hl_error_set(err, HL_ERR_INPUT, 400, "%s is never aliased", logical);
    if (strlen(logical) >= HL_ALIAS_NAME_MAX || strlen(physical) >= HL_ALIAS_NAME_MAX || !*physical)
        return hl_error_set(err, HL_ERR_INPUT, 400, "alias %s: collection name too long or empty",
                            logical);
    mongoc_collection_t *coll = mongoc_database_get_collection(db, HL_ALIAS_COLLECTION);
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set, opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", logical);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_UTF8(&set, "collection", physical);
    BSON_APPEND_UTF8(&set, "previous", previous ? previous : logical);
    BSON_APPEND_DATE_TIME(&set, "rebuilt_at", hl_now_us() / 1000);
    bson_append_document_end(&update, &set);
    BSON_APPEND_BOOL(&opts, "upsert", true);
    bson_error_t berr;
    bool ok = mongoc_collection_update_one(coll, &filter, &update, &opts, NULL, &berr);
    if (!ok)
        hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "alias %s: %s", logical, berr.message);
    bson_destroy(&filter);
    bson_destroy(&update);
    bson_destroy(&opts);
    mongoc_collection_destroy(coll);
    return ok;
}
