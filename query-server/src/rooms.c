/* rooms.c: the caller's chat rooms (inbox), the direct-room check and message pages (SPEC §3).
 * Only members read a room's messages (room_members); the inbox holds only the caller's rooms. */
#include "read_store.h"
#include "request.h"
#include "routes.h"
#include "page.h"
#include "read_api.h"
#include "params.h"

#include "hl/mem.h"
#include "hl/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ROOM_NAMES_MAX 1000 /* distinct members named per inbox page */

/* Distinct member ids over the member_ids arrays of docs[0..n) into ids[0..cap). */
static size_t collect_members(qs_docs_t *d, size_t n, const char **ids, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bson_iter_t it, arr;
        if (!bson_iter_init_find(&it, d->docs[i], "member_ids") || !BSON_ITER_HOLDS_ARRAY(&it) ||
            !bson_iter_recurse(&it, &arr))
            continue;
        while (bson_iter_next(&arr) && k < cap) {
            if (!BSON_ITER_HOLDS_UTF8(&arr))
                continue;
            const char *v = bson_iter_utf8(&arr, NULL);
            bool seen = false;
            for (size_t j = 0; j < k && !seen; j++)
                seen = !strcmp(ids[j], v);
            if (!seen)
                ids[k++] = v;
        }
    }
    return k;
}

static void append_members(bson_t *item, const bson_t *doc, const qs_docs_t *names)
{
    bson_t members;
    bson_iter_t it, arr;
    size_t i = 0;
    BSON_APPEND_ARRAY_BEGIN(item, "members", &members);
    if (bson_iter_init_find(&it, doc, "member_ids") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &arr)) {
        while (bson_iter_next(&arr)) {
            if (!BSON_ITER_HOLDS_UTF8(&arr))
                continue;
            const char *id = bson_iter_utf8(&arr, NULL);
            char key[24];
            bson_t m;
            snprintf(key, sizeof key, "%zu", i++);
            BSON_APPEND_DOCUMENT_BEGIN(&members, key, &m);
            BSON_APPEND_UTF8(&m, "id", id);
            qs_append_name(&m, "display_name", names, id);
            bson_append_document_end(&members, &m);
        }
    }
    bson_append_array_end(item, &members);
}

static void append_last_message(bson_t *item, const bson_t *doc)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "last_message") || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
        BSON_APPEND_NULL(item, "last_message");
        return;
    }
    uint32_t len = 0;
    const uint8_t *data = NULL;
    bson_iter_document(&it, &len, &data);
    bson_t lm, out;
    if (!bson_init_static(&lm, data, len)) {
        BSON_APPEND_NULL(item, "last_message");
        return;
    }
    BSON_APPEND_DOCUMENT_BEGIN(item, "last_message", &out);
    BSON_APPEND_UTF8(&out, "message_id", qs_doc_string(&lm, "message_id", ""));
    BSON_APPEND_INT64(&out, "seq", qs_doc_int(&lm, "seq", 0));
    BSON_APPEND_UTF8(&out, "sender_id", qs_doc_string(&lm, "sender_id", ""));
    BSON_APPEND_UTF8(&out, "body", qs_doc_string(&lm, "body", ""));
    qs_append_date(&out, "sent_at", &lm, "sent_at");
    bson_append_document_end(item, &out);
}

void qs_handle_chat_rooms(hl_http_request_t *req)
{
    hl_error_t err = {0};
    qs_ctx_t ctx = {.app = req->app};
    qs_docs_t d = {0}, names = {0};
    qs_page_params_t p;
    const char **ids = NULL;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, items = BSON_INITIALIZER;
    bson_t *sort = BCON_NEW("last_activity_at", BCON_INT32(-1), "_id", BCON_INT32(-1));
    if (!qs_read_page_params(req, QS_CURSOR_ROOMS, &p, &err) ||
        !qs_begin(req, QS_AUTH_REQUIRED, &ctx, &err))
        goto fail;
    qs_filter_id_prefix(&filter, ctx.session.user_id, NULL); /* "<me>:<room>" */
    BSON_APPEND_UTF8(&filter, "user_id", ctx.session.user_id);
    if (p.has_cursor)
        qs_filter_after_date_desc(&filter, "last_activity_at", &p.cursor);
    qs_page_opts(&opts, sort, p.limit);
    if (!qs_find(&ctx, "inbox", &filter, &opts, &d, &err))
        goto fail;
    size_t n = d.n > (size_t)p.limit ? (size_t)p.limit : d.n;
    ids = hl_xcalloc(ROOM_NAMES_MAX, sizeof *ids);
    size_t k = collect_members(&d, n, ids, ROOM_NAMES_MAX);
    if (!qs_display_names(&ctx, ids, k, &names, &err))
        goto fail;
    qs_end(&ctx);
    for (size_t i = 0; i < n; i++) {
        const bson_t *doc = d.docs[i];
        char key[24];
        bson_t item;
        snprintf(key, sizeof key, "%zu", i);
        int64_t last_seq = qs_doc_int(doc, "last_seq", 0);
        int64_t read_seq = qs_doc_int(doc, "last_read_seq", 0);
        BSON_APPEND_DOCUMENT_BEGIN(&items, key, &item);
        BSON_APPEND_UTF8(&item, "room_id", qs_doc_string(doc, "room_id", ""));
        BSON_APPEND_UTF8(&item, "kind", qs_doc_string(doc, "kind", "group"));
        qs_append_string_or_null(&item, "title", doc, "title");
        append_members(&item, doc, &names);
        append_last_message(&item, doc);
        BSON_APPEND_INT64(&item, "unread_count", last_seq > read_seq ? last_seq - read_seq : 0);
        BSON_APPEND_INT64(&item, "last_seq", last_seq);
        BSON_APPEND_INT64(&item, "last_read_seq", read_seq);
        qs_append_date(&item, "last_activity_at", doc, "last_activity_at");
        bson_append_document_end(&items, &item);
    }
    char next[QS_CURSOR_TEXT_MAX];
    bool more = d.n > (size_t)p.limit && qs_date_cursor(QS_CURSOR_ROOMS, d.docs[n - 1],
                                                        "last_activity_at", next, sizeof next);
    qs_reply_page(req, &items, more ? next : NULL);
    goto done;
fail:
    qs_end(&ctx);
    qs_reply_error(req, &err);
done:
    free(ids);
    qs_docs_free(&names);
    qs_docs_free(&d);
    bson_destroy(sort);
    bson_destroy(&items);
    bson_destroy(&opts);
    bson_destroy(&filter);
}

void qs_handle_chat_room_check(hl_http_request_t *req)
{
    hl_error_t err = {0};
    qs_ctx_t ctx = {.app = req->app};
    qs_docs_t d = {0};
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    if (!hl_uuid_valid(req->params[0])) {
        hl_error_set_reason(&err, HL_ERR_INPUT, 400, "invalid-parameter", "user_id must be a UUID");
        goto fail;
    }
    if (!qs_begin(req, QS_AUTH_REQUIRED, &ctx, &err))
        goto fail;
    /* the caller's inbox (_id range "<me>:<room>") holds their direct room with the other user;
     * chat_rooms.direct_key would be a scan of every room on FerretDB */
    char other[HL_UUID_STR_LEN + 1];
    hl_fold_ascii(req->params[0], other, sizeof other);
    qs_filter_id_prefix(&filter, ctx.session.user_id, NULL);
    BSON_APPEND_UTF8(&filter, "kind", "direct");
    BSON_APPEND_UTF8(&filter, "member_ids", other);
    BSON_APPEND_INT64(&opts, "limit", 1);
    /* no direct room with oneself: every direct room of the caller lists the caller */
    if (strcmp(other, ctx.session.user_id) != 0 &&
        !qs_find(&ctx, "inbox", &filter, &opts, &d, &err))
        goto fail;
    qs_end(&ctx);
    bson_t out = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&out, "exists", d.n > 0);
    if (d.n > 0)
        BSON_APPEND_UTF8(&out, "room_id", qs_doc_string(d.docs[0], "room_id", ""));
    else
        BSON_APPEND_NULL(&out, "room_id");
    hl_http_reply_json(req, 200, &out, NULL);
    bson_destroy(&out);
    goto done;
fail:
    qs_end(&ctx);
    qs_reply_error(req, &err);
done:
    qs_docs_free(&d);
    bson_destroy(&opts);
    bson_destroy(&filter);
}

/* Whether room is a direct room (*direct set true, when not NULL) whose other member blocks the
 * caller (the `blocks` read model, events UserBlocked/UserUnblocked): 1 yes, 0 no, -1 store
 * error. */
static int blocked_from_direct(qs_ctx_t *ctx, const char *room, bool *direct, hl_error_t *err)
{
    bson_t doc;
    int found = qs_find_one(ctx, "chat_rooms", room, &doc, err);
    if (found <= 0)
        return found;
    const char *key = qs_doc_string(&doc, "direct_key", NULL), *me = ctx->session.user_id;
    char other[HL_UUID_STR_LEN + 1] = "";
    size_t n = strlen(me);
    if (key && strlen(key) == 2 * n + 1 && key[n] == ':') {
        if (!strncasecmp(key, me, n))
            snprintf(other, sizeof other, "%s", key + n + 1);
        else if (!strcasecmp(key + n + 1, me))
            snprintf(other, sizeof other, "%.*s", (int)n, key);
    }
    bson_destroy(&doc);
    if (!other[0])
        return 0;
    if (direct)
        *direct = true;
    char id[2 * HL_UUID_STR_LEN + 2], lme[HL_UUID_STR_LEN + 1];
    hl_fold_ascii(me, lme, sizeof lme);
    snprintf(id, sizeof id, "%s:%s", other, lme);
    found = qs_find_one(ctx, "blocks", id, &doc, err);
    if (found <= 0)
        return found;
    bson_iter_t it;
    int active = bson_iter_init_find(&it, &doc, "active") && BSON_ITER_HOLDS_BOOL(&it) &&
                 bson_iter_bool(&it);
    bson_destroy(&doc);
    return active;
}

void qs_forget_member(qs_ctx_t *ctx, const char *room)
{
    char id[2 * HL_UUID_STR_LEN + 2];
    snprintf(id, sizeof id, "%s:%s", room, ctx->session.user_id);
    qs_cache_put(ctx->app->members, id, 0, hl_mono_ms() + 1);
}

int qs_check_member(qs_ctx_t *ctx, const char *room, hl_error_t *err)
{
    char id[2 * HL_UUID_STR_LEN + 2];
    int64_t member = 0, now = hl_mono_ms();
    snprintf(id, sizeof id, "%s:%s", room, ctx->session.user_id);
    /* cached: 1 a member of a room with more members, 2 of a direct room (a block may end
     * that at any time: checked on every read, one _id lookup each in chat_rooms and blocks) */
    if (qs_cache_get(ctx->app->members, id, now, &member) && member == 1)
        return 1;
    int blocked = 0;
    if (member == 2) {
        if ((blocked = blocked_from_direct(ctx, room, NULL, err)) < 0)
            return -1;
        if (!blocked)
            return 1;
        hl_error_set_reason(err, HL_ERR_INPUT, 403, "blocked",
                            "the other member of this direct room blocks you");
        return 0;
    }
    bson_t doc;
    int found = qs_find_one(ctx, "room_members", id, &doc, err);
    if (found < 0)
        return -1;
    if (found > 0) {
        bson_destroy(&doc);
        bool direct = false;
        blocked = blocked_from_direct(ctx, room, &direct, err);
        if (blocked < 0)
            return -1;
        if (blocked) {
            hl_error_set_reason(err, HL_ERR_INPUT, 403, "blocked",
                                "the other member of this direct room blocks you");
            return 0;
        }
        if (ctx->app->cfg.member_cache_ms > 0)
            qs_cache_put(ctx->app->members, id, direct ? 2 : 1,
                         now + ctx->app->cfg.member_cache_ms);
        return 1;
    }
    found = qs_find_one(ctx, "chat_rooms", room, &doc, err);
    if (found < 0)
        return -1;
    if (found > 0) {
        bson_destroy(&doc);
        hl_error_set_reason(err, HL_ERR_INPUT, 403, "not-a-member",
                            "only members of a chat room read its messages");
        return 0;
    }
    hl_error_set_reason(err, HL_ERR_INPUT, 404, "not-found", "no chat room with this id");
    return 0;
}

void qs_render_message(const bson_t *doc, const char *room, bson_t *item)
{
    bson_init(item);
    BSON_APPEND_UTF8(item, "message_id", qs_doc_string(doc, "message_id", ""));
    BSON_APPEND_UTF8(item, "room_id", room);
    BSON_APPEND_INT64(item, "seq", qs_doc_int(doc, "seq", 0));
    BSON_APPEND_UTF8(item, "sender_id", qs_doc_string(doc, "sender_id", ""));
    BSON_APPEND_UTF8(item, "body", qs_doc_string(doc, "body", ""));
    qs_append_string_or_null(item, "client_message_id", doc, "client_message_id");
    qs_append_date(item, "sent_at", doc, "created_at");
}

/* last_seq of room from chat_rooms (an _id lookup): 1 found, 0 not projected yet, -1 error. */
static int room_last_seq(qs_ctx_t *ctx, const char *room, int64_t *last_seq, hl_error_t *err)
{
    bson_t doc;
    int found = qs_find_one(ctx, "chat_rooms", room, &doc, err);
    if (found > 0) {
        *last_seq = qs_doc_int(&doc, "last_seq", -1);
        bson_destroy(&doc);
        if (*last_seq < 0)
            found = 0;
    }
    return found;
}

/* The page seq in [lo, hi] of room, newest first, into page[hi - seq] (present[] set for each
 * found). Seqs are dense per room (1, 2, ... last_seq) and messages never change, so rendered
 * messages are kept in app->messages by "<room>:<seq>"; only the seqs not kept are read, with
 * one range query. A seq not projected yet stays absent. */
static bool load_page(qs_ctx_t *ctx, const char *room, int64_t lo, int64_t hi, bson_t *page,
                      bool *present, hl_error_t *err)
{
    int64_t miss_lo = INT64_MAX, miss_hi = INT64_MIN;
    char key[QS_CACHE_KEY_MAX];
    for (int64_t seq = hi; seq >= lo; seq--) {
        snprintf(key, sizeof key, "%s:%lld", room, (long long)seq);
        present[hi - seq] = qs_doc_cache_get(ctx->app->messages, key, &page[hi - seq]);
        if (!present[hi - seq]) {
            miss_lo = seq < miss_lo ? seq : miss_lo;
            miss_hi = seq > miss_hi ? seq : miss_hi;
        }
    }
    if (miss_lo == INT64_MAX)
        return true;
    /* _id "<room>:<seq, 19 digits>": the missing seqs are one _id range */
    char id_lo[QS_CACHE_KEY_MAX], id_hi[QS_CACHE_KEY_MAX];
    snprintf(id_lo, sizeof id_lo, "%s:%019lld", room, (long long)miss_lo);
    snprintf(id_hi, sizeof id_hi, "%s:%019lld", room, (long long)miss_hi);
    bson_t *filter = BCON_NEW("_id", "{", "$gte", BCON_UTF8(id_lo), "$lte", BCON_UTF8(id_hi), "}");
    qs_docs_t d;
    bool ok = qs_find(ctx, "messages", filter, NULL, &d, err);
    for (size_t i = 0; ok && i < d.n; i++) {
        int64_t seq = qs_doc_int(d.docs[i], "seq", 0);
        if (seq < lo || seq > hi || present[hi - seq])
            continue;
        qs_render_message(d.docs[i], room, &page[hi - seq]);
        present[hi - seq] = true;
        snprintf(key, sizeof key, "%s:%lld", room, (long long)seq);
        qs_doc_cache_put(ctx->app->messages, key, &page[hi - seq]);
    }
    qs_docs_free(&d);
    bson_destroy(filter);
    return ok;
}

/* Fallback while chat_rooms does not show the room yet: newest first by one sorted query. */
static bool scan_page(qs_ctx_t *ctx, const char *room, int64_t before, int limit, qs_docs_t *d,
                      hl_error_t *err)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    bson_t *sort = BCON_NEW("_id", BCON_INT32(-1));
    char hi[QS_CACHE_KEY_MAX];
    if (before != INT64_MAX)
        snprintf(hi, sizeof hi, "%s:%019lld", room, (long long)before);
    /* the room's _id range "<room>:<seq>", below "<room>:<before>" */
    qs_filter_id_prefix(&filter, room, before != INT64_MAX ? hi : NULL);
    qs_page_opts(&opts, sort, limit);
    bool ok = qs_find(ctx, "messages", &filter, &opts, d, err);
    bson_destroy(sort);
    bson_destroy(&opts);
    bson_destroy(&filter);
    return ok;
}

void qs_handle_messages(hl_http_request_t *req)
{
    hl_error_t err = {0};
    qs_ctx_t ctx = {.app = req->app};
    qs_docs_t d = {0};
    qs_page_params_t p;
    char room[HL_UUID_STR_LEN + 1], before_text[24], next[QS_CURSOR_TEXT_MAX];
    int64_t before = INT64_MAX, last_seq = 0, next_before = 0;
    bson_t items = BSON_INITIALIZER;
    bson_t page[QS_LIMIT_MAX];
    bool present[QS_LIMIT_MAX] = {false};
    int64_t lo = 1, hi = 0;
    size_t nitems = 0;
    if (!hl_uuid_valid(req->params[0])) {
        hl_error_set_reason(&err, HL_ERR_INPUT, 404, "not-found", "no chat room with this id");
        goto fail;
    }
    hl_fold_ascii(req->params[0], room, sizeof room);
    int br = qs_param(req, "before_seq", before_text, sizeof before_text, &err);
    if (br < 0 || (br > 0 && !qs_parse_int64("before_seq", before_text, 1, &before, &err)) ||
        !qs_read_page_params(req, QS_CURSOR_MESSAGES, &p, &err))
        goto fail;
    if (p.has_cursor) {
        if (strcmp(p.cursor.id, room) != 0) {
            hl_error_set_reason(&err, HL_ERR_INPUT, 400, "invalid-cursor",
                                "cursor belongs to another chat room");
            goto fail;
        }
        if (p.cursor.num < before)
            before = p.cursor.num;
    }
    if (!qs_begin(req, QS_AUTH_REQUIRED, &ctx, &err) || qs_check_member(&ctx, room, &err) <= 0)
        goto fail;
    int known = room_last_seq(&ctx, room, &last_seq, &err);
    if (known < 0)
        goto fail;
    if (known > 0) {
        hi = (before <= last_seq ? before : last_seq + 1) - 1;
        lo = hi - p.limit + 1 > 1 ? hi - p.limit + 1 : 1;
        if (hi >= 1 && !load_page(&ctx, room, lo, hi, page, present, &err))
            goto fail;
        qs_end(&ctx);
        for (int64_t seq = hi; seq >= lo && hi >= 1; seq--) {
            if (!present[hi - seq])
                continue;
            char key[24];
            snprintf(key, sizeof key, "%zu", nitems++);
            BSON_APPEND_DOCUMENT(&items, key, &page[hi - seq]);
        }
        next_before = hi >= 1 && lo > 1 ? lo : 0;
    } else {
        if (!scan_page(&ctx, room, before, p.limit, &d, &err))
            goto fail;
        qs_end(&ctx);
        size_t n = d.n > (size_t)p.limit ? (size_t)p.limit : d.n;
        for (size_t i = 0; i < n; i++) {
            char key[24];
            bson_t item;
            qs_render_message(d.docs[i], room, &item);
            snprintf(key, sizeof key, "%zu", i);
            BSON_APPEND_DOCUMENT(&items, key, &item);
            bson_destroy(&item);
        }
        if (d.n > (size_t)p.limit)
            next_before = qs_doc_int(d.docs[n - 1], "seq", 0);
    }
    bool more = false;
    if (next_before > 0) {
        qs_cursor_t c;
        memset(&c, 0, sizeof c);
        c.num = next_before;
        memcpy(c.id, room, sizeof room);
        more = qs_cursor_encode(QS_CURSOR_MESSAGES, &c, next, sizeof next);
    }
    qs_reply_page(req, &items, more ? next : NULL);
    goto done;
fail:
    qs_end(&ctx);
    qs_reply_error(req, &err);
done:
    for (int64_t seq = hi; seq >= lo && hi >= 1; seq--)
        if (present[hi - seq])
            bson_destroy(&page[hi - seq]);
    qs_docs_free(&d);
    bson_destroy(&items);
}
