/* handlers.c: the query API routes (SPEC §3), reading MongoDB read models only. */
#include "aliases.h"
#include "read_store.h"
#include "request.h"
#include "routes.h"
#include "read_api.h"

#include "hl/log.h"
#include "hl/mem.h"
#include "hl/metrics.h"
#include "hl/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void qs_handle_user(hl_http_request_t *req)
{
    hl_error_t err = {0};
    qs_ctx_t ctx;
    char id[HL_UUID_STR_LEN + 1];
    bson_t profile;
    int found = 0, cfound = 0;
    if (!hl_uuid_valid(req->params[0])) {
        hl_http_reply_problem(req, 404, "not-found", NULL, "no user with this id", NULL);
        return;
    }
    hl_fold_ascii(req->params[0], id, sizeof id);
    if (!qs_begin(req, QS_AUTH_OPTIONAL, &ctx, &err))
        goto fail;
    found = qs_find_one(&ctx, "user_profiles", id, &profile, &err);
    if (found < 0)
        goto fail;
    if (found == 0) {
        qs_end(&ctx);
        hl_http_reply_problem(req, 404, "not-found", NULL, "no user with this id", NULL);
        return;
    }
    /* friend_count: the sum of the user's user_counters contributions (one per friendship
     * aggregate, +1 accepted / -1 deleted; docs/read-models.md), the _id range "<id>:" */
    qs_docs_t counters = {0};
    {
        char lo[64], hi[64];
        snprintf(lo, sizeof lo, "%s:", id);
        snprintf(hi, sizeof hi, "%s;", id);
        bson_t filter = BSON_INITIALIZER, range, opts = BSON_INITIALIZER, proj;
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &range);
        BSON_APPEND_UTF8(&range, "$gte", lo);
        BSON_APPEND_UTF8(&range, "$lt", hi);
        bson_append_document_end(&filter, &range);
        BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
        BSON_APPEND_INT32(&proj, "delta", 1);
        bson_append_document_end(&opts, &proj);
        cfound = qs_find(&ctx, "user_counters", &filter, &opts, &counters, &err) ? 1 : -1;
        bson_destroy(&filter);
        bson_destroy(&opts);
    }
    bson_t conn;
    int pfound = cfound < 0 ? 0 : qs_find_one(&ctx, "presence", id, &conn, &err);
    qs_end(&ctx);
    if (cfound < 0 || pfound < 0) {
        qs_docs_free(&counters);
        bson_destroy(&profile);
        goto fail;
    }
    int64_t friend_count = 0;
    for (size_t i = 0; i < counters.n; i++)
        friend_count += qs_doc_int(counters.docs[i], "delta", 0);
    qs_docs_free(&counters);
    if (friend_count < 0) /* a deletion applied before its acceptance (another partition) */
        friend_count = 0;
    bson_t out = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&out, "id", id);
    BSON_APPEND_UTF8(&out, "display_name", qs_doc_string(&profile, "display_name", ""));
    BSON_APPEND_UTF8(&out, "bio", qs_doc_string(&profile, "bio", ""));
    BSON_APPEND_UTF8(&out, "avatar_url", qs_doc_string(&profile, "avatar_url", ""));
    qs_append_avatar(&out, &profile);
    bson_t eff = BSON_INITIALIZER; /* the effective presence (SPEC §8); its since is not shown */
    BSON_APPEND_UTF8(&out, "presence",
                     qs_presence_effective(&profile, pfound ? &conn : NULL, &eff));
    bson_destroy(&eff);
    BSON_APPEND_INT64(&out, "friend_count", friend_count);
    qs_append_date(&out, "created_at", &profile, "created_at");
    BSON_APPEND_INT64(&out, "version", qs_doc_int(&profile, "version", 0));
    hl_http_reply_json(req, 200, &out, NULL);
    bson_destroy(&out);
    bson_destroy(&profile);
    if (pfound)
        bson_destroy(&conn);
    return;
fail:
    qs_end(&ctx);
    qs_reply_error(req, &err);
}

#define STATS_MAX_DAYS 366

/* Active users per day: the number of daily_active_users documents ({_id: "<day>:<user>",
 * day: "YYYY-MM-DD"}) of each day in [from, to], grouped in the store. Adds counts[i][3] for the
 * day from_days + i. A scan of the range on FerretDB 1.24 (no pushdown), acceptable for this
 * analytics route; the projector cannot keep an exact counter without a second, unguarded
 * write. */
static bool count_active_users(qs_app_t *app, mongoc_client_t *client, const char *from,
                               const char *to, int64_t from_days, int ndays, int64_t (*counts)[4],
                               hl_error_t *err)
{
    mongoc_collection_t *coll = qs_collection(app, client, "daily_active_users");
    bson_t *pipeline =
        BCON_NEW("pipeline", "[", "{", "$match", "{", "day", "{", "$gte", BCON_UTF8(from), "$lte",
                 BCON_UTF8(to), "}", "}", "}", "{", "$group", "{", "_id", BCON_UTF8("$day"), "n",
                 "{", "$sum", BCON_INT32(1), "}", "}", "}", "]");
    mongoc_cursor_t *cur =
        mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
    const bson_t *doc;
    while (mongoc_cursor_next(cur, &doc)) {
        int64_t d = 0;
        if (hl_parse_day(qs_doc_string(doc, "_id", ""), &d) && d >= from_days &&
            d - from_days < ndays)
            counts[d - from_days][3] = qs_doc_int(doc, "n", 0);
    }
    bson_error_t berr;
    bool ok = !mongoc_cursor_error(cur, &berr);
    if (!ok)
        hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "daily_active_users: %s", berr.message);
    mongoc_cursor_destroy(cur);
    bson_destroy(pipeline);
    mongoc_collection_destroy(coll);
    return ok;
}

void qs_handle_daily_stats(hl_http_request_t *req)
{
    qs_app_t *app = req->app;
    hl_error_t err = {0};
    char from[16] = "", to[16] = "";
    int64_t from_days = 0, to_days = 0;
    int fr = qs_param(req, "from", from, sizeof from, &err);
    int tr = qs_param(req, "to", to, sizeof to, &err);
    if (tr == 0) {
        hl_format_day(hl_now_us(), to, sizeof to);
    }
    if (tr < 0 || !hl_parse_day(to, &to_days)) {
        hl_http_reply_problem(req, 400, "invalid-parameter", NULL, "to must be a date YYYY-MM-DD",
                              NULL);
        return;
    }
    if (fr == 0) {
        from_days = to_days - 29;
        hl_format_day(from_days * 86400000000LL, from, sizeof from);
    } else if (fr < 0 || !hl_parse_day(from, &from_days)) {
        hl_http_reply_problem(req, 400, "invalid-parameter", NULL, "from must be a date YYYY-MM-DD",
                              NULL);
        return;
    }
    if (from_days > to_days || to_days - from_days >= STATS_MAX_DAYS) {
        hl_http_reply_problem(req, 400, "invalid-parameter", NULL,
                              "from must not be after to, and the range at most 366 days", NULL);
        return;
    }
    int ndays = (int)(to_days - from_days + 1);
    int64_t(*counts)[4] = hl_xcalloc((size_t)ndays, sizeof *counts);
    qs_ctx_t ctx;
    mongoc_client_t *client = NULL;
    mongoc_collection_t *coll = NULL;
    mongoc_cursor_t *cur = NULL;
    memset(&ctx, 0, sizeof ctx);
    ctx.app = app;
    if (!qs_begin(req, QS_AUTH_OPTIONAL, &ctx, &err))
        goto fail;
    client = ctx.client;
    coll = qs_collection(app, client, "daily_stats");
    /* one document per day and aggregate, _id "<day>:<aggregate type>:<aggregate id>"
     * (docs/read-models.md): the days [from, to] are the _id range [from, "<to>;") (';' follows
     * ':'), summed here. A document of the earlier shape (_id the bare day, counters guarded by
     * topic offsets) is not counted: `projector rebuild daily_stats` recounts those days. */
    char hi[24];
    snprintf(hi, sizeof hi, "%s;", to);
    bson_t *filter = BCON_NEW("_id", "{", "$gte", BCON_UTF8(from), "$lt", BCON_UTF8(hi), "}");
    /* only the counters, not the guards */
    bson_t *opts = BCON_NEW("projection", "{", "users_registered", BCON_INT32(1), "messages_sent",
                            BCON_INT32(1), "friendships_formed", BCON_INT32(1), "}");
    cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    bson_destroy(opts);
    bson_destroy(filter);
    /* daily_stats carries the three event counters; active users come from daily_active_users */
    static const char *const fields[] = {"users_registered", "messages_sent", "friendships_formed",
                                         "active_users"};
    const bson_t *doc;
    while (mongoc_cursor_next(cur, &doc)) {
        const char *id = qs_doc_string(doc, "_id", "");
        char day[16];
        int64_t d = 0;
        if (strlen(id) <= 10 || id[10] != ':')
            continue;
        memcpy(day, id, 10);
        day[10] = '\0';
        if (!hl_parse_day(day, &d) || d < from_days || d > to_days)
            continue;
        for (int f = 0; f < 3; f++)
            counts[d - from_days][f] += qs_doc_int(doc, fields[f], 0);
    }
    bson_error_t berr;
    if (mongoc_cursor_error(cur, &berr)) {
        hl_error_set(&err, HL_ERR_MONGO, (int)berr.code, "daily_stats: %s", berr.message);
        goto fail;
    }
    if (!count_active_users(app, client, from, to, from_days, ndays, counts, &err))
        goto fail;
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(coll);
    qs_end(&ctx);

    bson_t out = BSON_INITIALIZER, items;
    BSON_APPEND_ARRAY_BEGIN(&out, "items", &items);
    for (int i = 0; i < ndays; i++) {
        char key[16], day[16];
        bson_t item;
        snprintf(key, sizeof key, "%d", i);
        hl_format_day((from_days + i) * 86400000000LL, day, sizeof day);
        BSON_APPEND_DOCUMENT_BEGIN(&items, key, &item);
        BSON_APPEND_UTF8(&item, "day", day);
        for (int f = 0; f < 4; f++)
            BSON_APPEND_INT64(&item, fields[f], counts[i][f]);
        bson_append_document_end(&items, &item);
    }
    bson_append_array_end(&out, &items);
    BSON_APPEND_NULL(&out, "next_cursor");
    hl_http_reply_json(req, 200, &out, NULL);
    bson_destroy(&out);
    free(counts);
    return;
fail:
    if (cur)
        mongoc_cursor_destroy(cur);
    if (coll)
        mongoc_collection_destroy(coll);
    qs_end(&ctx);
    free(counts);
    qs_reply_error(req, &err);
}

void qs_handle_readyz(hl_http_request_t *req)
{
    qs_app_t *app = req->app;
    mongoc_client_t *client = qs_client_acquire(app);
    bson_t cmd = BSON_INITIALIZER, reply;
    BSON_APPEND_INT32(&cmd, "ping", 1);
    bson_error_t berr;
    bool ok = mongoc_client_command_simple(client, app->cfg.mongo_db, &cmd, NULL, &reply, &berr);
    bson_destroy(&reply);
    bson_destroy(&cmd);
    qs_client_release(app, client);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "status", ok ? "ready" : "not-ready");
    BSON_APPEND_BOOL(&doc, "mongodb", ok);
    hl_http_reply_json(req, ok ? 200 : 503, &doc, NULL);
    bson_destroy(&doc);
}

const char *qs_presence_effective(const bson_t *profile, const bson_t *conn, bson_t *item)
{
    bson_iter_t it;
    bool chosen = profile && bson_iter_init_find(&it, profile, "presence_set") &&
                  BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
    const char *set = chosen ? qs_doc_string(profile, "presence", "online") : "online";
    const char *value;
    if (!strcmp(set, "away") || !strcmp(set, "offline")) {
        value = !strcmp(set, "away") ? "away" : "offline";
        BSON_APPEND_UTF8(item, "presence", value);
        qs_append_date(item, "since", profile, "updated_at");
        return value;
    }
    const char *c = conn ? qs_doc_string(conn, "connected", "offline") : "offline";
    value = !strcmp(c, "online") ? "online" : "offline";
    BSON_APPEND_UTF8(item, "presence", value);
    if (conn && qs_doc_string(conn, "connected", NULL))
        qs_append_date(item, "since", conn, "since");
    else if (profile)
        qs_append_date(item, "since", profile, "updated_at");
    else
        BSON_APPEND_NULL(item, "since");
    return value;
}
