/* social.c: user search, friends, friend requests and notifications (SPEC §3). Each list is one
 * limited find on an _id range (user_names "<name>\x1f<user>" for the search prefix, friends
 * "<me>:<friend>", friend_requests_by_user "<me>:in|out:<request>", notifications
 * "<me>:<µs>:<event>"; docs/read-models.md) plus at most one $in on user_profiles for display
 * names or profiles (the search repeats the pair when it drops stale keys, QS_SEARCH_ROUNDS;
 * notifications read on past stubs and read ones, NOTIFICATION_READS). */
#include "read_store.h"
#include "request.h"
#include "routes.h"
#include "page.h"
#include "params.h"
#include "read_api.h"

#include "hl/mem.h"
#include "hl/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pages of user_names read per search request at most: when keys are dropped (stale or
 * renamed), the next page of keys is read until `limit` live ones are found, the range ends,
 * or this many pages were read (then the answer is short and next_cursor goes on from the last
 * key read). */
#define QS_SEARCH_ROUNDS 4

/* Append the search item of profile doc to items under index i. */
static void append_user_item(bson_t *items, size_t i, const bson_t *doc)
{
    char key[24];
    bson_t item;
    snprintf(key, sizeof key, "%zu", i);
    BSON_APPEND_DOCUMENT_BEGIN(items, key, &item);
    BSON_APPEND_UTF8(&item, "id", qs_doc_string(doc, "_id", ""));
    BSON_APPEND_UTF8(&item, "display_name", qs_doc_string(doc, "display_name", ""));
    BSON_APPEND_UTF8(&item, "bio", qs_doc_string(doc, "bio", ""));
    BSON_APPEND_UTF8(&item, "avatar_url", qs_doc_string(doc, "avatar_url", ""));
    qs_append_avatar(&item, doc);
    BSON_APPEND_UTF8(&item, "presence", qs_doc_string(doc, "presence", "offline"));
    qs_append_date(&item, "created_at", doc, "created_at");
    BSON_APPEND_INT64(&item, "version", qs_doc_int(doc, "version", 0));
    bson_append_document_end(items, &item);
}

/* GET /v1/users?q=: pages of the user_names _id range of the prefix (sorted by _id: name, then
 * user id), each followed by one $in on user_profiles for the items' fields; a key whose
 * profile's current display_name_lower differs (stale) or is missing is dropped
 * (docs/read-models.md, user_names). */
void qs_handle_users_search(hl_http_request_t *req)
{
    hl_error_t err = {0};
    qs_ctx_t ctx = {.app = req->app};
    qs_docs_t d = {0}, profiles = {0};
    qs_page_params_t p;
    char q[QS_QUERY_MAX * 3 + 1], prefix[QS_QUERY_MAX + 1];
    char after[HL_USER_NAME_KEY_MAX] = "", last_kept[HL_USER_NAME_KEY_MAX] = "";
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, items = BSON_INITIALIZER;
    bson_t *sort = BCON_NEW("_id", BCON_INT32(1));
    int qr = qs_param(req, "q", q, sizeof q, &err);
    if (qr < 0 || !qs_search_prefix(qr ? q : NULL, prefix, sizeof prefix, &err) ||
        !qs_read_page_params(req, QS_CURSOR_USERS, &p, &err))
        goto fail;
    if (p.has_cursor && !qs_user_name_after(&p.cursor, after, sizeof after)) {
        qs_invalid_cursor(&err);
        goto fail;
    }
    if (!qs_begin(req, QS_AUTH_REQUIRED, &ctx, &err))
        goto fail;
    /* limit + 1 keys a page: one more than fits tells whether a next page exists */
    qs_page_opts(&opts, sort, p.limit);
    size_t kept = 0;
    bool more = false, exhausted = false;
    for (int round = 0; round < QS_SEARCH_ROUNDS && !more && !exhausted; round++) {
        bson_reinit(&filter);
        qs_users_search_range(&filter, prefix, after[0] ? after : NULL);
        qs_docs_free(&d);
        qs_docs_free(&profiles);
        if (!qs_find(&ctx, "user_names", &filter, &opts, &d, &err))
            goto fail;
        exhausted = d.n <= (size_t)p.limit;
        const char *ids[QS_LIMIT_MAX + 1];
        size_t nids = qs_collect_ids(&d, d.n, "user_id", ids, sizeof ids / sizeof ids[0]);
        if (!qs_find_ids(&ctx, "user_profiles", ids, nids, NULL, &profiles, &err))
            goto fail;
        for (size_t i = 0; i < d.n; i++) {
            const char *key = qs_doc_string(d.docs[i], "_id", "");
            const bson_t *prof = qs_docs_by_id(&profiles, qs_doc_string(d.docs[i], "user_id", ""));
            if (qs_user_name_live(qs_doc_string(d.docs[i], "display_name_lower", NULL),
                                  prof ? qs_doc_string(prof, "display_name_lower", NULL) : NULL,
                                  prefix)) {
                if (kept == (size_t)p.limit) {
                    more = true; /* a live key after a full page: the next page starts here */
                    break;
                }
                append_user_item(&items, kept++, prof);
                snprintf(last_kept, sizeof last_kept, "%s", key);
            }
            snprintf(after, sizeof after, "%s", key);
        }
    }
    qs_end(&ctx);
    /* next page: after the last item when a live key follows it; after the last key read when
     * the rounds ran out before the range did (keys beyond it may still be live) */
    const char *resume = more ? last_kept : !exhausted ? after : NULL;
    char next[QS_CURSOR_TEXT_MAX];
    qs_cursor_t c;
    bool has_next = resume && qs_user_name_cursor(resume, &c) &&
                    qs_cursor_encode(QS_CURSOR_USERS, &c, next, sizeof next);
    qs_reply_page(req, &items, has_next ? next : NULL);
    goto done;
fail:
    qs_end(&ctx);
    qs_reply_error(req, &err);
done:
    qs_docs_free(&profiles);
    qs_docs_free(&d);
    bson_destroy(sort);
    bson_destroy(&items);
    bson_destroy(&opts);
    bson_destroy(&filter);
}

void qs_handle_friends(hl_http_request_t *req)
{
    hl_error_t err = {0};
    qs_ctx_t ctx = {.app = req->app};
    qs_docs_t d = {0}, names = {0};
    qs_page_params_t p;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, items = BSON_INITIALIZER;
    bson_t *sort = BCON_NEW("since", BCON_INT32(-1), "_id", BCON_INT32(-1));
    if (!qs_read_page_params(req, QS_CURSOR_FRIENDS, &p, &err) ||
        !qs_begin(req, QS_AUTH_REQUIRED, &ctx, &err))
        goto fail;
    qs_filter_id_prefix(&filter, ctx.session.user_id, NULL);
    BSON_APPEND_UTF8(&filter, "user_id", ctx.session.user_id);
    BSON_APPEND_BOOL(&filter, "ended", false);
    if (p.has_cursor)
        qs_filter_after_date_desc(&filter, "since", &p.cursor);
    qs_page_opts(&opts, sort, p.limit);
    size_t n = 0;
    if (!qs_find(&ctx, "friends", &filter, &opts, &d, &err))
        goto fail;
    n = d.n > (size_t)p.limit ? (size_t)p.limit : d.n;
    if (!qs_load_names(&ctx, &d, n, "friend_id", &names, &err))
        goto fail;
    qs_end(&ctx);
    for (size_t i = 0; i < n; i++) {
        const bson_t *doc = d.docs[i];
        const char *fid = qs_doc_string(doc, "friend_id", "");
        char key[24];
        bson_t item;
        snprintf(key, sizeof key, "%zu", i);
        BSON_APPEND_DOCUMENT_BEGIN(&items, key, &item);
        BSON_APPEND_UTF8(&item, "id", fid);
        qs_append_name(&item, "display_name", &names, fid);
        qs_append_date(&item, "since", doc, "since");
        bson_append_document_end(&items, &item);
    }
    char next[QS_CURSOR_TEXT_MAX];
    bool more = d.n > (size_t)p.limit &&
                qs_date_cursor(QS_CURSOR_FRIENDS, d.docs[n - 1], "since", next, sizeof next);
    qs_reply_page(req, &items, more ? next : NULL);
    goto done;
fail:
    qs_end(&ctx);
    qs_reply_error(req, &err);
done:
    qs_docs_free(&names);
    qs_docs_free(&d);
    bson_destroy(sort);
    bson_destroy(&items);
    bson_destroy(&opts);
    bson_destroy(&filter);
}

void qs_handle_friend_requests(hl_http_request_t *req)
{
    hl_error_t err = {0};
    qs_ctx_t ctx = {.app = req->app};
    qs_docs_t d = {0}, names = {0};
    qs_page_params_t p;
    char direction[16];
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, items = BSON_INITIALIZER;
    bson_t *sort = BCON_NEW("created_at", BCON_INT32(-1), "_id", BCON_INT32(-1));
    int dr = qs_param(req, "direction", direction, sizeof direction, &err);
    if (dr < 0)
        goto fail;
    bool incoming = dr == 0 || !strcmp(direction, "incoming");
    if (!incoming && strcmp(direction, "outgoing") != 0) {
        hl_error_set_reason(&err, HL_ERR_INPUT, 400, "invalid-parameter",
                            "direction must be incoming or outgoing");
        goto fail;
    }
    if (!qs_read_page_params(req, QS_CURSOR_REQUESTS, &p, &err) ||
        !qs_begin(req, QS_AUTH_REQUIRED, &ctx, &err))
        goto fail;
    const char *mine = incoming ? "to_user_id" : "from_user_id";
    const char *theirs = incoming ? "from_user_id" : "to_user_id";
    char prefix[HL_UUID_STR_LEN + 8];
    snprintf(prefix, sizeof prefix, "%s:%s", ctx.session.user_id, incoming ? "in" : "out");
    qs_filter_id_prefix(&filter, prefix, NULL);
    BSON_APPEND_UTF8(&filter, mine, ctx.session.user_id);
    BSON_APPEND_UTF8(&filter, "status", "pending");
    if (p.has_cursor)
        qs_filter_after_date_desc(&filter, "created_at", &p.cursor);
    qs_page_opts(&opts, sort, p.limit);
    size_t n = 0;
    if (!qs_find(&ctx, "friend_requests_by_user", &filter, &opts, &d, &err))
        goto fail;
    n = d.n > (size_t)p.limit ? (size_t)p.limit : d.n;
    if (!qs_load_names(&ctx, &d, n, theirs, &names, &err))
        goto fail;
    qs_end(&ctx);
    for (size_t i = 0; i < n; i++) {
        const bson_t *doc = d.docs[i];
        const char *other = qs_doc_string(doc, theirs, "");
        char key[24];
        bson_t item, user;
        snprintf(key, sizeof key, "%zu", i);
        BSON_APPEND_DOCUMENT_BEGIN(&items, key, &item);
        BSON_APPEND_UTF8(&item, "request_id", qs_doc_string(doc, "request_id", ""));
        BSON_APPEND_UTF8(&item, "from_user_id", qs_doc_string(doc, "from_user_id", ""));
        BSON_APPEND_UTF8(&item, "to_user_id", qs_doc_string(doc, "to_user_id", ""));
        BSON_APPEND_DOCUMENT_BEGIN(&item, "user", &user);
        BSON_APPEND_UTF8(&user, "id", other);
        qs_append_name(&user, "display_name", &names, other);
        bson_append_document_end(&item, &user);
        BSON_APPEND_UTF8(&item, "status", "pending");
        qs_append_date(&item, "created_at", doc, "created_at");
        bson_append_document_end(&items, &item);
    }
    char next[QS_CURSOR_TEXT_MAX];
    bool more = d.n > (size_t)p.limit &&
                qs_date_cursor(QS_CURSOR_REQUESTS, d.docs[n - 1], "created_at", next, sizeof next);
    qs_reply_page(req, &items, more ? next : NULL);
    goto done;
fail:
    qs_end(&ctx);
    qs_reply_error(req, &err);
done:
    qs_docs_free(&names);
    qs_docs_free(&d);
    bson_destroy(sort);
    bson_destroy(&items);
    bson_destroy(&opts);
    bson_destroy(&filter);
}

void qs_render_notification(const bson_t *doc, const qs_docs_t *names, bson_t *item)
{
    const char *actor = qs_doc_string(doc, "actor_id", NULL);
    bson_t who;
    bson_iter_t it;
    BSON_APPEND_UTF8(item, "id", qs_doc_string(doc, "_id", ""));
    BSON_APPEND_UTF8(item, "kind", qs_doc_string(doc, "kind", ""));
    BSON_APPEND_DOCUMENT_BEGIN(item, "actor", &who);
    if (actor)
        BSON_APPEND_UTF8(&who, "id", actor);
    else
        BSON_APPEND_NULL(&who, "id");
    qs_append_name(&who, "display_name", names, actor);
    bson_append_document_end(item, &who);
    qs_append_string_or_null(item, "request_id", doc, "request_id");
    qs_append_string_or_null(item, "room_id", doc, "room_id");
    qs_append_string_or_null(item, "message_id", doc, "message_id");
    if (bson_iter_init_find(&it, doc, "seq") &&
        (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        BSON_APPEND_INT64(item, "seq", bson_iter_as_int64(&it));
    else
        BSON_APPEND_NULL(item, "seq");
    qs_append_string_or_null(item, "preview", doc, "preview");
    qs_append_date(item, "created_at", doc, "created_at");
    BSON_APPEND_BOOL(item, "read", qs_doc_bool(doc, "read", false));
    qs_append_date(item, "read_at", doc, "read_at");
}

/* Reads of notifications per request at most; each reads up to (limit + 1) x 4 documents when
 * only unread ones are wanted, limit + 1 otherwise. */
#define NOTIFICATION_READS 4

/* Whether a notifications document of user `me` is listed: not a stub of a read by id whose
 * notification is not applied yet (no kind), and unread when only unread ones are wanted. */
static bool notification_listed(const bson_t *doc, const char *me, bool unread_only)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "kind") || strcmp(qs_doc_string(doc, "user_id", ""), me))
        return false;
    return !unread_only || (bson_iter_init_find(&it, doc, "read") && BSON_ITER_HOLDS_BOOL(&it) &&
                            !bson_iter_bool(&it));
}

/* Newest first is _id descending ("<me>:<created µs, 19 digits>:<event>": created_at, then the
 * event id, the order of SPEC §3), so every read is one _id range sorted by _id with a limit,
 * which FerretDB answers from its index (deploy/local/mongo.sh, patch 7). Stubs and, with
 * unread=true, read notifications are skipped here; when they leave the page short the next
 * read starts below the last _id seen, NOTIFICATION_READS times at most, after which a short
 * page comes with a cursor that goes on from there. The cursor is the last _id (its created_at
 * is kept for clients that look at it). */
void qs_handle_notifications(hl_http_request_t *req)
{
    hl_error_t err = {0};
    qs_ctx_t ctx = {.app = req->app};
    qs_docs_t d = {0}, names = {0};
    qs_page_params_t p;
    char unread_text[8];
    bool unread = false;
    bson_t items = BSON_INITIALIZER;
    bson_t *sort = BCON_NEW("_id", BCON_INT32(-1));
    char upper[QS_CURSOR_ID_MAX] = "", last[QS_CURSOR_ID_MAX] = "";
    bool exhausted = false;
    int ur = qs_param(req, "unread", unread_text, sizeof unread_text, &err);
    if (ur < 0 || (ur > 0 && !qs_parse_bool("unread", unread_text, &unread, &err)) ||
        !qs_read_page_params(req, QS_CURSOR_NOTIFICATIONS, &p, &err) ||
        !qs_begin(req, QS_AUTH_REQUIRED, &ctx, &err))
        goto fail;
    const char *me = ctx.session.user_id;
    size_t melen = strlen(me);
    if (p.has_cursor) {
        if (strncmp(p.cursor.id, me, melen) != 0 || p.cursor.id[melen] != ':') {
            qs_invalid_cursor(&err);
            goto fail;
        }
        memcpy(upper, p.cursor.id, strlen(p.cursor.id) + 1);
    }
    d.docs = hl_xcalloc((size_t)p.limit + 1, sizeof *d.docs);
    int chunk = unread ? (p.limit + 1) * 4 : p.limit + 1;
    for (int r = 0; r < NOTIFICATION_READS && d.n <= (size_t)p.limit && !exhausted; r++) {
        qs_docs_t got = {0};
        bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
        qs_filter_id_prefix(&filter, me, upper[0] ? upper : NULL);
        qs_page_opts(&opts, sort, chunk - 1);
        bool ok = qs_find(&ctx, "notifications", &filter, &opts, &got, &err);
        bson_destroy(&opts);
        bson_destroy(&filter);
        if (!ok) {
            qs_docs_free(&got);
            goto fail;
        }
        for (size_t i = 0; i < got.n; i++) {
            const char *id = qs_doc_string(got.docs[i], "_id", "");
            if (strlen(id) < sizeof last)
                memcpy(last, id, strlen(id) + 1);
            if (d.n <= (size_t)p.limit && notification_listed(got.docs[i], me, unread)) {
                d.docs[d.n++] = got.docs[i];
                got.docs[i] = NULL; /* moved into d */
            }
        }
        exhausted = got.n < (size_t)chunk;
        memcpy(upper, last, sizeof upper);
        for (size_t i = 0; i < got.n; i++)
            if (got.docs[i])
                bson_destroy(got.docs[i]);
        free(got.docs);
        if (!upper[0])
            break;
    }
    size_t n = d.n > (size_t)p.limit ? (size_t)p.limit : d.n;
    if (!qs_load_names(&ctx, &d, n, "actor_id", &names, &err))
        goto fail;
    qs_end(&ctx);
    for (size_t i = 0; i < n; i++) {
        const bson_t *doc = d.docs[i];
        char key[24];
        bson_t item;
        snprintf(key, sizeof key, "%zu", i);
        BSON_APPEND_DOCUMENT_BEGIN(&items, key, &item);
        qs_render_notification(doc, &names, &item);
        bson_append_document_end(&items, &item);
    }
    char next[QS_CURSOR_TEXT_MAX];
    bool more = false;
    if (d.n > (size_t)p.limit) {
        more =
            qs_date_cursor(QS_CURSOR_NOTIFICATIONS, d.docs[n - 1], "created_at", next, sizeof next);
    } else if (!exhausted && last[0]) {
        /* the reads ran out before the page filled: go on below the last _id seen */
        qs_cursor_t c;
        memset(&c, 0, sizeof c);
        c.num = -1;
        memcpy(c.id, last, sizeof c.id);
        more = qs_cursor_encode(QS_CURSOR_NOTIFICATIONS, &c, next, sizeof next);
    }
    qs_reply_page(req, &items, more ? next : NULL);
    goto done;
fail:
    qs_end(&ctx);
    qs_reply_error(req, &err);
done:
    qs_docs_free(&names);
    qs_docs_free(&d);
    bson_destroy(sort);
    bson_destroy(&items);
}
