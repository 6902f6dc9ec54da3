/* aliases.c: logical read-model names → physical collections through a per-process cache of
 * the hl/aliases.h table (aliases.h).
 *
 * The cache is at most cfg.alias_ttl_ms old: one request reloads it (without the lock held
 * during the round trip) while the others keep using the previous copy. A failed reload keeps
 * the previous table; before any success every name is its own collection. */
#include "aliases.h"

#include "hl/log.h"
#include "hl/mem.h"
#include "hl/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        hl_alias_table_t *fresh = hl_xcalloc(1, sizeof *fresh);
        mongoc_database_t *db = mongoc_client_get_database(client, app->cfg.mongo_db);
        hl_error_t err = {0};
        bool ok = hl_alias_table_load(db, fresh, &err);
        mongoc_database_destroy(db);
        if (!ok)
            HL_WARN("keeping the previous read-model aliases: %s", err.message);
        pthread_mutex_lock(&c->lock);
        if (ok)
            memcpy(&c->table, fresh, sizeof *fresh);
        c->loaded_ms = hl_mono_ms();
        c->loading = false;
        free(fresh);
    }
    snprintf(out, cap, "%s", hl_alias_lookup(&c->table, logical));
    pthread_mutex_unlock(&c->lock);
}

mongoc_collection_t *qs_collection(qs_app_t *app, mongoc_client_t *client, const char *logical)
{
    char physical[HL_ALIAS_NAME_MAX];
    qs_alias_resolve(app, client, logical, physical, sizeof physical);
    return mongoc_client_get_collection(client, app->cfg.mongo_db, physical);
}
