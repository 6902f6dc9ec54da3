/* aliases.c: logical read-model names → physical collections (`read_model_aliases`).
 *
 * A projector rebuild fills a shadow collection and then switches the alias document of the
 * logical name to it in one update. Readers resolve every collection here, through a cache that
 * is at most cfg.alias_ttl_ms old: after a switch, reads move to the new collection within that
 * time (the projector must keep the old collection at least that long before dropping it). An
 * absent alias, or a failed reload before any success, means the logical name itself. */
#include "app.h"

#include "hl/log.h"
#include "hl/util.h"

#include <string.h>

#define ALIASES_COLLECTION "read_model_aliases"

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Load every alias document into a local table (no lock held during the round trip). */
static bool load_aliases(qs_app_t *app, mongoc_client_t *client, qs_alias_cache_t *into)
{
    mongoc_collection_t *coll =
        mongoc_client_get_collection(client, app->cfg.mongo_db, ALIASES_COLLECTION);
    bson_t filter = BSON_INITIALIZER;
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
    const bson_t *doc;
    into->n = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        const char *logical = qs_doc_string(doc, "_id", NULL);
        const char *physical = qs_doc_string(doc, "collection", NULL);
        if (!logical || !physical || !*physical || into->n >= QS_ALIAS_MAX)
            continue;
        copy_str(into->items[into->n].logical, sizeof into->items[0].logical, logical);
        copy_str(into->items[into->n].physical, sizeof into->items[0].physical, physical);
        into->n++;
    }
    bson_error_t berr;
    bool ok = !mongoc_cursor_error(cur, &berr);
    if (!ok)
        HL_WARN("reading %s failed (keeping the previous aliases): %s", ALIASES_COLLECTION,
                berr.message);
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    return ok;
}

void qs_alias_resolve(qs_app_t *app, mongoc_client_t *client, const char *logical, char *out,
                      size_t cap)
{
    qs_alias_cache_t *c = &app->aliases;
    int64_t now = hl_mono_ms();
    pthread_mutex_lock(&c->lock);
    bool stale = c->loaded_ms == 0 || now - c->loaded_ms >= app->cfg.alias_ttl_ms;
    if (stale && !c->loading) {
        c->loading = true;
        pthread_mutex_unlock(&c->lock);
        qs_alias_cache_t fresh;
        bool ok = load_aliases(app, client, &fresh);
        pthread_mutex_lock(&c->lock);
        if (ok) {
            memcpy(c->items, fresh.items, sizeof fresh.items[0] * fresh.n);
            c->n = fresh.n;
        }
        c->loaded_ms = hl_mono_ms();
        c->loading = false;
    }
    copy_str(out, cap, logical);
    for (size_t i = 0; i < c->n; i++) {
        if (!strcmp(c->items[i].logical, logical)) {
            copy_str(out, cap, c->items[i].physical);
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

mongoc_collection_t *qs_collection(qs_app_t *app, mongoc_client_t *client, const char *logical)
{
    char physical[128];
    qs_alias_resolve(app, client, logical, physical, sizeof physical);
    return mongoc_client_get_collection(client, app->cfg.mongo_db, physical);
}
