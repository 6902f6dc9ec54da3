/* consistency.c: waiting for a consistency token's write to reach the read models.
 *
 * A token (signed by the command server, see hl/token.h) carries
 * {"a": aggregate type, "id": aggregate id, "v": version, "p": event position, "t": ms}.
 * The write is visible once the read model that mirrors the aggregate holds version >= v. */
#include "app.h"

#include "hl/log.h"
#include "hl/util.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char type[32];
    char id[HL_UUID_STR_LEN + 1];
    int64_t version;
} qs_token_t;

static bool parse_token(qs_app_t *app, const char *text, qs_token_t *out, hl_error_t *err)
{
    char *payload = NULL;
    size_t len = 0;
    if (!hl_token_verify(&app->consistency_key, text, &payload, &len, err))
        return hl_error_set_reason(err, HL_ERR_INPUT, 400, "invalid-consistency-token",
                                   "X-Consistency-Token does not verify");
    bson_t doc;
    bson_error_t berr;
    bool ok = bson_init_from_json(&doc, payload, (ssize_t)len, &berr);
    free(payload);
    if (!ok)
        return hl_error_set_reason(err, HL_ERR_INPUT, 400, "invalid-consistency-token",
                                   "X-Consistency-Token payload is not JSON");
    bson_iter_t it;
    const char *a = NULL, *id = NULL;
    if (bson_iter_init_find(&it, &doc, "a") && BSON_ITER_HOLDS_UTF8(&it))
        a = bson_iter_utf8(&it, NULL);
    if (bson_iter_init_find(&it, &doc, "id") && BSON_ITER_HOLDS_UTF8(&it))
        id = bson_iter_utf8(&it, NULL);
    ok = a && id && hl_uuid_valid(id) && bson_iter_init_find(&it, &doc, "v") &&
         (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it));
    if (ok) {
        out->version = bson_iter_as_int64(&it);
        snprintf(out->type, sizeof out->type, "%s", a);
        snprintf(out->id, sizeof out->id, "%s", id);
    }
    bson_destroy(&doc);
    if (!ok)
        return hl_error_set_reason(err, HL_ERR_INPUT, 400, "invalid-consistency-token",
                                   "X-Consistency-Token payload lacks fields");
    return true;
}

/* The read model mirroring each aggregate type, and whether it has caught up. */
static bool caught_up(qs_app_t *app, mongoc_client_t *client, const qs_token_t *t, bool *known,
                      hl_error_t *err)
{
    const char *collection = NULL;
    if (!strcmp(t->type, "User"))
        collection = "user_profiles";
    *known = collection != NULL;
    if (!collection)
        return true;
    mongoc_collection_t *coll = qs_collection(app, client, collection);
    bson_t filter = BSON_INITIALIZER, cond;
    BSON_APPEND_UTF8(&filter, "_id", t->id);
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "version", &cond);
    BSON_APPEND_INT64(&cond, "$gte", t->version);
    bson_append_document_end(&filter, &cond);
    bson_error_t berr;
    int64_t n = mongoc_collection_count_documents(coll, &filter, NULL, NULL, NULL, &berr);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    if (n < 0)
        return hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "%s", berr.message);
    return n > 0;
}

bool qs_await_consistency(qs_app_t *app, hl_http_request_t *req, mongoc_client_t *client,
                          hl_error_t *err)
{
    const char *text = hl_http_header(req, "X-Consistency-Token");
    if (!text)
        return true;
    qs_token_t tok;
    if (!parse_token(app, text, &tok, err))
        return false;
    long long wait_ms = app->cfg.consistency_default_wait_ms;
    const char *w = hl_http_header(req, "X-Consistency-Wait-Ms");
    if (w) {
        char *end = NULL;
        wait_ms = strtoll(w, &end, 10);
        if (!*w || *end || wait_ms < 0 || wait_ms > app->cfg.consistency_max_wait_ms)
            return hl_error_set_reason(err, HL_ERR_INPUT, 400, "invalid-consistency-wait",
                                       "X-Consistency-Wait-Ms must be 0..%lld",
                                       app->cfg.consistency_max_wait_ms);
    }
    int64_t deadline = hl_mono_ms() + wait_ms;
    long step = 2;
    for (;;) {
        bool known = false;
        hl_error_clear(err);
        bool done = caught_up(app, client, &tok, &known, err);
        if (err->domain != HL_ERR_NONE)
            return false;
        if (done || !known)
            return true;
        if (hl_mono_ms() >= deadline)
            return hl_error_set(err, HL_ERR_TIMEOUT, 0,
                                "the read models have not yet applied the write behind the "
                                "consistency token (waited %lld ms)", wait_ms);
        struct timespec ts = {0, step * 1000000L};
        nanosleep(&ts, NULL);
        step = step < 50 ? step * 2 : 50;
    }
}
