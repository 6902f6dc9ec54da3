/* read_store.c: finds on the read models and their documents' accessors (read_store.h). */
#include "read_store.h"

#include "aliases.h"

#include "hl/log.h"
#include "hl/mem.h"
#include "hl/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void qs_docs_free(qs_docs_t *d)
{
    for (size_t i = 0; i < d->n; i++)
        bson_destroy(d->docs[i]);
    free(d->docs);
    d->docs = NULL;
    d->n = 0;
}

bool qs_find(qs_ctx_t *ctx, const char *logical, const bson_t *filter, const bson_t *opts,
             qs_docs_t *out, hl_error_t *err)
{
    out->docs = NULL;
    out->n = 0;
    size_t cap = 0;
    bool ok = true;
    mongoc_collection_t *coll = qs_collection(ctx->app, ctx->client, logical);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t *doc;
    while (mongoc_cursor_next(cur, &doc)) {
        if (out->n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            out->docs = hl_xrealloc(out->docs, ncap * sizeof *out->docs);
            cap = ncap;
        }
        out->docs[out->n++] = bson_copy(doc);
    }
    bson_error_t berr;
    if (mongoc_cursor_error(cur, &berr))
        ok = hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "%s: %s", logical, berr.message);
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(coll);
    return ok;
}

bool qs_find_ids(qs_ctx_t *ctx, const char *logical, const char *const *ids, size_t n,
                 const bson_t *projection, qs_docs_t *out, hl_error_t *err)
{
    out->docs = NULL;
    out->n = 0;
    if (n == 0)
        return true;
    bson_t filter = BSON_INITIALIZER, cond, in, opts = BSON_INITIALIZER;
    bool ok = true;
    if (projection)
        BSON_APPEND_DOCUMENT(&opts, "projection", projection);
    if (n <= QS_FIND_IDS_EQ_MAX) {
        /* a single id: an _id equality lookup (limit 1) */
        size_t cap = n;
        out->docs = hl_xcalloc(cap, sizeof *out->docs);
        BSON_APPEND_INT64(&opts, "limit", 1);
        for (size_t i = 0; i < n && ok; i++) {
            qs_docs_t one;
            bson_reinit(&filter);
            BSON_APPEND_UTF8(&filter, "_id", ids[i]);
            ok = qs_find(ctx, logical, &filter, &opts, &one, err);
            if (ok && one.n > 0) {
                out->docs[out->n++] = one.docs[0];
                one.docs[0] = NULL;
                one.n = 0;
            }
            qs_docs_free(&one);
        }
        goto done;
    }
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &cond);
    BSON_APPEND_ARRAY_BEGIN(&cond, "$in", &in);
    for (size_t i = 0; i < n; i++) {
        char k[24];
        snprintf(k, sizeof k, "%zu", i);
        BSON_APPEND_UTF8(&in, k, ids[i]);
    }
    bson_append_array_end(&cond, &in);
    bson_append_document_end(&filter, &cond);
    ok = qs_find(ctx, logical, &filter, &opts, out, err);
done:
    bson_destroy(&opts);
    bson_destroy(&filter);
    return ok;
}

int qs_find_one(qs_ctx_t *ctx, const char *logical, const char *id, bson_t *out, hl_error_t *err)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    BSON_APPEND_INT64(&opts, "limit", 1);
    qs_docs_t d;
    int rc = -1;
    if (qs_find(ctx, logical, &filter, &opts, &d, err)) {
        rc = d.n > 0;
        if (rc)
            bson_copy_to(d.docs[0], out);
    }
    qs_docs_free(&d);
    bson_destroy(&opts);
    bson_destroy(&filter);
    return rc;
}

const bson_t *qs_docs_by_id(const qs_docs_t *d, const char *id)
{
    for (size_t i = 0; i < d->n; i++) {
        const char *did = qs_doc_string(d->docs[i], "_id", NULL);
        if (did && !strcmp(did, id))
            return d->docs[i];
    }
    return NULL;
}

const char *qs_doc_string(const bson_t *doc, const char *key, const char *def)
{
    bson_iter_t it;
    if (doc && bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return def;
}

int64_t qs_doc_int(const bson_t *doc, const char *key, int64_t def)
{
    bson_iter_t it;
    if (doc && bson_iter_init_find(&it, doc, key) &&
        (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_DOUBLE(&it)))
        return bson_iter_as_int64(&it);
    return def;
}

bool qs_doc_bool(const bson_t *doc, const char *key, bool def)
{
    bson_iter_t it;
    if (doc && bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_BOOL(&it))
        return bson_iter_bool(&it);
    return def;
}

bool qs_doc_date_ms(const bson_t *doc, const char *key, int64_t *ms)
{
    bson_iter_t it;
    if (doc && bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_DATE_TIME(&it)) {
        *ms = bson_iter_date_time(&it);
        return true;
    }
    return false;
}

void qs_append_date(bson_t *out, const char *key, const bson_t *doc, const char *field)
{
    int64_t ms = 0;
    if (qs_doc_date_ms(doc, field, &ms)) {
        char text[40];
        hl_format_rfc3339_us(ms * 1000, text, sizeof text);
        BSON_APPEND_UTF8(out, key, text);
    } else {
        BSON_APPEND_NULL(out, key);
    }
}

void qs_append_avatar(bson_t *out, const bson_t *doc)
{
    bson_iter_t it, sub;
    if (bson_iter_init_find(&it, doc, "avatar") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
        bson_iter_recurse(&it, &sub)) {
        uint32_t len = 0;
        const uint8_t *data = NULL;
        bson_iter_document(&it, &len, &data);
        bson_t in, a;
        if (bson_init_static(&in, data, len)) {
            BSON_APPEND_DOCUMENT_BEGIN(out, "avatar", &a);
            BSON_APPEND_UTF8(&a, "url_512", qs_doc_string(&in, "url_512", ""));
            BSON_APPEND_UTF8(&a, "url_128", qs_doc_string(&in, "url_128", ""));
            BSON_APPEND_INT64(&a, "version", qs_doc_int(&in, "version", 0));
            bson_append_document_end(out, &a);
            return;
        }
    }
    BSON_APPEND_NULL(out, "avatar");
}

void qs_append_string_or_null(bson_t *out, const char *key, const bson_t *doc, const char *field)
{
    const char *s = qs_doc_string(doc, field, NULL);
    if (s)
        BSON_APPEND_UTF8(out, key, s);
    else
        BSON_APPEND_NULL(out, key);
}

bool qs_display_names(qs_ctx_t *ctx, const char *const *ids, size_t n, qs_docs_t *names,
                      hl_error_t *err)
{
    qs_app_t *app = ctx->app;
    int64_t now = hl_mono_ms();
    const char **miss = NULL;
    size_t nmiss = 0;
    qs_docs_t found = {0};
    bool ok = true;
    names->docs = n ? hl_xcalloc(n, sizeof *names->docs) : NULL;
    names->n = 0;
    miss = n ? hl_xcalloc(n, sizeof *miss) : NULL;
    for (size_t i = 0; i < n; i++) {
        bson_t cached;
        if (!ctx->consistent && app->cfg.name_cache_ms > 0 &&
            qs_doc_cache_get(app->names, ids[i], &cached)) {
            if (qs_doc_int(&cached, "exp", 0) > now) {
                names->docs[names->n++] = bson_copy(&cached);
                bson_destroy(&cached);
                continue;
            }
            bson_destroy(&cached);
        }
        miss[nmiss++] = ids[i];
    }
    bson_t proj = BSON_INITIALIZER;
    BSON_APPEND_INT32(&proj, "display_name", 1);
    ok = qs_find_ids(ctx, "user_profiles", miss, nmiss, &proj, &found, err);
    bson_destroy(&proj);
    for (size_t i = 0; ok && i < found.n; i++) {
        const char *id = qs_doc_string(found.docs[i], "_id", NULL);
        const char *name = qs_doc_string(found.docs[i], "display_name", NULL);
        if (!id || !name || names->n >= n)
            continue;
        bson_t *doc = BCON_NEW("_id", BCON_UTF8(id), "display_name", BCON_UTF8(name), "exp",
                               BCON_INT64(now + app->cfg.name_cache_ms));
        if (app->cfg.name_cache_ms > 0)
            qs_doc_cache_put(app->names, id, doc);
        names->docs[names->n++] = doc;
    }
    qs_docs_free(&found);
    free(miss);
    return ok;
}
