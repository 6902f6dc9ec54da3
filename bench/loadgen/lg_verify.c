/* lg_verify.c: every read model against PostgreSQL's truth (see lg_verify.h).
 *
 * Per collection: one function builds the expected documents from SQL (keyed by content
 * fields), then check_collection() streams the physical collection (resolved through
 * read_model_aliases), matches each document on its content key and compares field by field.
 * Expected documents hold exactly the fields the data dictionary (docs/read-models.md) derives
 * from PostgreSQL; projector bookkeeping (`source`, `applied`, guards) is not compared. */
#include "lg_verify.h"

#include "lg_bson_cmp.h"
#include "lg_metrics_scrape.h"
#include "lg_strmap.h"

#include "hl/events.h"
#include "hl/util.h"

#include <bson/bson.h>
#include <libpq-fe.h>
#include <mongoc/mongoc.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void free_bson(void *p)
{
    bson_destroy(p);
}

/* ---- context ---- */

typedef struct {
    const lg_verify_opts_t *o;
    PGconn *pg;
    mongoc_client_t *client;
    mongoc_database_t *db;
    hl_event_catalog_t *catalog;
    lg_strmap_t scope_ids; /* loadgen scope: user, room and other aggregate ids in scope */
    bson_string_t *out;    /* mismatch lines of this pass */
    long mismatches;
    lg_verify_result_t *res;
    int model; /* index into res->model */
    char *err;
    size_t errcap;
    bool failed;
} vctx_t;

static bool fail(vctx_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool model_present(vctx_t *v, const char *logical);
static bool vctx_open(vctx_t *v);
static void vctx_close(vctx_t *v);
static bool fail(vctx_t *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->err, v->errcap, fmt, ap);
    va_end(ap);
    v->failed = true;
    return false;
}

/* Run sql on the context's connection: the result (PQclear is the caller's), or NULL after
 * fail() on an error. */
static PGresult *pg_query(vctx_t *v, const char *sql)
{
    PGresult *r = PQexec(v->pg, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        fail(v, "PostgreSQL: %s (query: %.200s)", PQerrorMessage(v->pg), sql);
        PQclear(r);
        return NULL;
    }
    return r;
}

static bool in_scope(vctx_t *v, const char *id)
{
    return v->o->scope == LG_SCOPE_ALL || (id && lg_strmap_find(&v->scope_ids, id));
}

static int64_t i64(PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static const char *str_or_null(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static void put_str(bson_t *b, const char *k, const char *s)
{
    if (s)
        BSON_APPEND_UTF8(b, k, s);
    else
        BSON_APPEND_NULL(b, k);
}

static void put_date(bson_t *b, const char *k, PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        BSON_APPEND_NULL(b, k);
    else
        BSON_APPEND_DATE_TIME(b, k, i64(r, row, col));
}

#define MS(col)  "floor(extract(epoch from " col ") * 1000)::bigint"
#define US(col)  "(extract(epoch from " col ") * 1000000)::bigint"
#define DAY(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD')"

/* ---- mismatch reporting ---- */

static void mismatch(vctx_t *v, const char *key, const char *field, const bson_iter_t *want,
                     const bson_iter_t *got)
{
    char a[400], b[400];
    lg_bson_value_text(want, a, sizeof a);
    lg_bson_value_text(got, b, sizeof b);
    bson_string_append_printf(v->out, "MISMATCH %s %s %s: expected %s, actual %s\n",
                              v->res->model[v->model], key, field, a, b);
    v->mismatches++;
    v->res->model_mismatches[v->model]++;
}

static void mismatch_text(vctx_t *v, const char *key, const char *field, const char *want,
                          const char *got)
{
    bson_string_append_printf(v->out, "MISMATCH %s %s %s: expected %s, actual %s\n",
                              v->res->model[v->model], key, field, want, got);
    v->mismatches++;
    v->res->model_mismatches[v->model]++;
}

/* lg_bson_compare_fields' report: one mismatch line per differing field of the document key. */
typedef struct {
    vctx_t *v;
    const char *key;
} field_diff_t;

static void on_field_diff(void *ud, const char *field, const bson_iter_t *want,
                          const bson_iter_t *got)
{
    field_diff_t *d = ud;
    mismatch(d->v, d->key, field, want, got);
}

/* Compare every field of want with doc (lg_bson_compare_fields): one mismatch per difference. */
static void compare_fields(vctx_t *v, const char *key, const bson_t *want, const bson_t *doc,
                           bool zero_if_absent)
{
    field_diff_t d = {v, key};
    lg_bson_compare_fields(want, doc, zero_if_absent, on_field_diff, &d);
}

/* ---- the collection walk ---- */

/* key_fn: the content key of doc into out; false = not a document of this model (auxiliary
 * documents another change may keep in the same collection). scope_id: the id deciding the
 * loadgen scope (NULL = in scope). */
typedef bool (*key_fn)(const bson_t *doc, char *out, size_t cap, const char **scope_id);
/* extra per-document check (e.g. notifications' read state), may be NULL */
typedef void (*extra_fn)(vctx_t *v, const char *key, const bson_t *want, const bson_t *doc);

static const char *doc_str(const bson_t *doc, const char *field)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, field) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

static mongoc_collection_t *physical(vctx_t *v, const char *logical)
{
    mongoc_collection_t *aliases = mongoc_database_get_collection(v->db, "read_model_aliases");
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", logical);
    mongoc_cursor_t *c = mongoc_collection_find_with_opts(aliases, &filter, NULL, NULL);
    const bson_t *doc = NULL;
    char name[128];
    snprintf(name, sizeof name, "%s", logical);
    if (mongoc_cursor_next(c, &doc)) {
        const char *phys = doc_str(doc, "collection");
        if (phys)
            snprintf(name, sizeof name, "%s", phys);
    }
    mongoc_cursor_destroy(c);
    bson_destroy(&filter);
    mongoc_collection_destroy(aliases);
    return mongoc_database_get_collection(v->db, name);
}

static bool check_collection(vctx_t *v, const char *logical, lg_strmap_t *want, key_fn keyf,
                             extra_fn extra, bool zero_if_absent)
{
    mongoc_collection_t *coll = physical(v, logical);
    bson_t filter = BSON_INITIALIZER;
    mongoc_cursor_t *c = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
    const bson_t *doc = NULL;
    long docs = 0;
    while (mongoc_cursor_next(c, &doc)) {
        char key[HL_USER_NAME_KEY_MAX + 64]; /* the longest: user_names "<user id>:<name>" */
        const char *sid = NULL;
        if (!keyf(doc, key, sizeof key, &sid))
            continue;
        if (sid && !in_scope(v, sid))
            continue;
        docs++;
        lg_strmap_slot_t *s = lg_strmap_find(want, key);
        if (!s) {
            mismatch_text(v, key, "document", "(absent)", "unexpected document");
            continue;
        }
        if (s->seen) {
            mismatch_text(v, key, "document", "one document", "duplicate document");
            continue;
        }
        s->seen = true;
        compare_fields(v, key, s->val, doc, zero_if_absent);
        if (extra)
            extra(v, key, s->val, doc);
    }
    bson_error_t e;
    bool ok = true;
    if (mongoc_cursor_error(c, &e))
        ok = fail(v, "MongoDB: reading %s: %s", logical, e.message);
    mongoc_cursor_destroy(c);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    for (size_t i = 0; ok && i < want->cap; i++)
        if (want->slots[i].key && !want->slots[i].seen)
            mismatch_text(v, want->slots[i].key, "document", "present", "missing document");
    v->res->model_documents[v->model] = docs;
    return ok;
}

/* ---- per-collection key functions ---- */

static bool key_id_or(const bson_t *doc, const char *field, char *out, size_t cap)
{
    const char *k = doc_str(doc, field);
    if (!k)
        k = doc_str(doc, "_id");
    if (!k)
        return false;
    snprintf(out, cap, "%s", k);
    return true;
}

static bool key_user_profile(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    if (!key_id_or(doc, "user_id", out, cap) || !hl_uuid_valid(out))
        return false;
    *sid = doc_str(doc, "user_id") ? doc_str(doc, "user_id") : doc_str(doc, "_id");
    return true;
}

/* user_names: "<user id>:<display_name_lower>" read from the _id "<display_name_lower>\x1f<user
 * id>" (the key is the document: a stored _id that is not shaped so is keyed by itself, so it
 * is reported as unexpected) */
static bool key_user_name(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    const char *id = doc_str(doc, "_id");
    size_t n = id ? strlen(id) : 0;
    if (!id)
        return false;
    *sid = doc_str(doc, "user_id");
    if (n > HL_UUID_STR_LEN && id[n - HL_UUID_STR_LEN - 1] == HL_USER_NAME_SEP &&
        hl_uuid_valid(id + n - HL_UUID_STR_LEN)) {
        snprintf(out, cap, "%s:%.*s", id + n - HL_UUID_STR_LEN, (int)(n - HL_UUID_STR_LEN - 1), id);
        if (!*sid)
            *sid = id + n - HL_UUID_STR_LEN;
    } else {
        snprintf(out, cap, "malformed _id %s", id);
    }
    return true;
}

static bool key_session(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    if (!key_id_or(doc, "session_id", out, cap))
        return false;
    *sid = doc_str(doc, "user_id");
    return true;
}

static bool key_room(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    if (!key_id_or(doc, "room_id", out, cap) || !hl_uuid_valid(out))
        return false;
    *sid = out;
    return true;
}

static bool key_pair(const bson_t *doc, const char *a, const char *b, char *out, size_t cap)
{
    const char *x = doc_str(doc, a), *y = doc_str(doc, b);
    if (!x || !y)
        return false;
    snprintf(out, cap, "%s:%s", x, y);
    return true;
}

static bool key_member(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    *sid = doc_str(doc, "room_id");
    return key_pair(doc, "room_id", "user_id", out, cap);
}

static bool key_message(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    if (!doc_str(doc, "room_id") || !key_id_or(doc, "message_id", out, cap))
        return false;
    *sid = doc_str(doc, "room_id");
    return true;
}

static bool key_friend(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    *sid = doc_str(doc, "user_id");
    return key_pair(doc, "user_id", "friend_id", out, cap);
}

static bool key_request(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    if (!doc_str(doc, "from_user_id") || !doc_str(doc, "to_user_id") ||
        !key_id_or(doc, "request_id", out, cap))
        return false;
    *sid = doc_str(doc, "from_user_id");
    return true;
}

/* Key of a per-user document recognised by one of its own fields (marker): the user id. */
static bool key_user_doc(const bson_t *doc, const char *marker, char *out, size_t cap,
                         const char **sid)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, marker) || !key_id_or(doc, "user_id", out, cap))
        return false;
    *sid = out;
    return true;
}

/* user_counters contributions {_id: "<user>:<aggregate>", user_id, friend_id, delta}. */
static bool key_counter(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "delta") || !(*sid = doc_str(doc, "user_id")))
        return false;
    return key_id_or(doc, "_id", out, cap);
}

static bool key_inbox(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    *sid = doc_str(doc, "user_id");
    return key_pair(doc, "user_id", "room_id", out, cap);
}

static bool key_notification(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    const char *kind = doc_str(doc, "kind"), *user = doc_str(doc, "user_id");
    if (!kind || !user)
        return false;
    const char *ref = !strcmp(kind, "new_message")         ? doc_str(doc, "message_id")
                      : !strcmp(kind, "booking_confirmed") ? doc_str(doc, "booking_id")
                                                           : doc_str(doc, "request_id");
    snprintf(out, cap, "%s:%s:%s", kind, ref ? ref : "?", user);
    *sid = user;
    return true;
}

static bool key_dau(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    *sid = doc_str(doc, "user_id");
    return key_pair(doc, "day", "user_id", out, cap);
}

/* daily_stats: "<day>:<aggregate type>:<aggregate id>" (a document of the earlier per-day
 * shape, _id the bare day, is keyed by its _id too and reported as unexpected) */
static bool key_daily(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    *sid = NULL;
    const char *id = doc_str(doc, "_id");
    if (!id)
        return false;
    snprintf(out, cap, "%s", id);
    return true;
}

static bool key_watermark(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    static const char *const prefixes[] = {
        "ev:",           "cdc.users:", "cdc.sessions:", "cdc.chat_rooms:", "cdc.room_members:",
        "cdc.messages:", NULL};
    const char *id = doc_str(doc, "_id");
    if (!id)
        return false;
    if (!strncmp(id, "ev.", 3) && strchr(id, ':')) { /* ev.<aggregate type>:<aggregate id> */
        snprintf(out, cap, "%s", id);
        *sid = strchr(id, ':') + 1;
        return true;
    }
    for (int i = 0; prefixes[i]; i++) {
        size_t n = strlen(prefixes[i]);
        if (!strncmp(id, prefixes[i], n)) {
            snprintf(out, cap, "%s", id);
            *sid = id + n;
            return true;
        }
    }
    return false;
}

/* ---- expected documents, one function per read model ---- */

#define SCOPE_USERS "(SELECT user_id FROM lg_scope_users)"
#define SCOPE_ROOMS "(SELECT room_id FROM lg_scope_rooms)"

static bool model_user_profiles(vctx_t *v)
{
    PGresult *r = pg_query(
        v, "SELECT user_id, display_name, bio, avatar_url, presence, version, " MS(
               "created_at") ", " MS("updated_at") " FROM users WHERE user_id IN " SCOPE_USERS);
    if (!r)
        return false;
    lg_strmap_t want = {0};
    for (int i = 0; i < PQntuples(r); i++) {
        bson_t *d = bson_new();
        char lower[512];
        hl_fold_ascii(PQgetvalue(r, i, 1), lower, sizeof lower);
        BSON_APPEND_UTF8(d, "display_name", PQgetvalue(r, i, 1));
        BSON_APPEND_UTF8(d, "display_name_lower", lower);
        BSON_APPEND_UTF8(d, "bio", PQgetvalue(r, i, 2));
        BSON_APPEND_UTF8(d, "avatar_url", PQgetvalue(r, i, 3));
        BSON_APPEND_UTF8(d, "presence", PQgetvalue(r, i, 4));
        BSON_APPEND_INT64(d, "version", i64(r, i, 5));
        put_date(d, "created_at", r, i, 6);
        put_date(d, "updated_at", r, i, 7);
        lg_strmap_put(&want, PQgetvalue(r, i, 0), d);
    }
    PQclear(r);
    bool ok = check_collection(v, "user_profiles", &want, key_user_profile, NULL, false);
    lg_strmap_free(&want, free_bson);
    return ok;
}

/* user_names: exactly one key per user, its current name's (hl_user_name_key), with the user's
 * version. A key of an earlier name is an unexpected document: the projector deletes it from
 * the update's before image (users has REPLICA IDENTITY FULL, command-server/sql/006); only
 * updates from before that migration leave such keys, which the query server skips. */
static bool model_user_names(vctx_t *v)
{
    PGresult *r = pg_query(
        v, "SELECT user_id, display_name, version FROM users WHERE user_id IN " SCOPE_USERS);
    if (!r)
        return false;
    lg_strmap_t want = {0};
    for (int i = 0; i < PQntuples(r); i++) {
        bson_t *d = bson_new();
        char lower[HL_USER_NAME_KEY_MAX], key[HL_USER_NAME_KEY_MAX + 64];
        hl_fold_ascii(PQgetvalue(r, i, 1), lower, sizeof lower);
        BSON_APPEND_UTF8(d, "user_id", PQgetvalue(r, i, 0));
        BSON_APPEND_UTF8(d, "display_name_lower", lower);
        BSON_APPEND_INT64(d, "version", i64(r, i, 2));
        snprintf(key, sizeof key, "%s:%s", PQgetvalue(r, i, 0), lower);
        lg_strmap_put(&want, key, d);
    }
    PQclear(r);
    bool ok = check_collection(v, "user_names", &want, key_user_name, NULL, false);
    lg_strmap_free(&want, free_bson);
    return ok;
}

/* How one SQL result column becomes one field of an expected document. */
typedef enum { COL_STR, COL_STR_OR_NULL, COL_I64, COL_DATE } col_kind_t;

typedef struct {
    const char *field; /* field of the read-model document */
    int col;           /* result column */
    col_kind_t kind;
} col_t;

/* Expected documents of a read model that copies one row into one document, field by field.
 * sql: the rows in scope; the key is column 0, or columns 0 and 1 joined by ':' when key_cols is
 * 2 (the same key keyf derives from a stored document). cols/ncols: the fields compared. Then
 * check_collection() compares the stored collection (logical name) with them. Returns false on
 * a query error or any mismatch (each printed). */
static bool model_rows(vctx_t *v, const char *logical, const char *sql, int key_cols,
                       const col_t *cols, size_t ncols, key_fn keyf)
{
    PGresult *r = pg_query(v, sql);
    if (!r)
        return false;
    lg_strmap_t want = {0};
    for (int i = 0; i < PQntuples(r); i++) {
        bson_t *d = bson_new();
        for (size_t c = 0; c < ncols; c++) {
            switch (cols[c].kind) {
            case COL_STR:
                BSON_APPEND_UTF8(d, cols[c].field, PQgetvalue(r, i, cols[c].col));
                break;
            case COL_STR_OR_NULL:
                put_str(d, cols[c].field, str_or_null(r, i, cols[c].col));
                break;
            case COL_I64:
                BSON_APPEND_INT64(d, cols[c].field, i64(r, i, cols[c].col));
                break;
            case COL_DATE:
                put_date(d, cols[c].field, r, i, cols[c].col);
                break;
            }
        }
        char key[256];
        if (key_cols == 2)
            snprintf(key, sizeof key, "%s:%s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
        else
            snprintf(key, sizeof key, "%s", PQgetvalue(r, i, 0));
        lg_strmap_put(&want, key, d);
    }
    PQclear(r);
    bool ok = check_collection(v, logical, &want, keyf, NULL, false);
    lg_strmap_free(&want, free_bson);
    return ok;
}

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

static bool model_sessions(vctx_t *v)
{
    static const col_t cols[] = {{"user_id", 1, COL_STR},
                                 {"created_at", 2, COL_DATE},
                                 {"expires_at", 3, COL_DATE},
                                 {"revoked_at", 4, COL_DATE},
                                 {"version", 5, COL_I64}};
    return model_rows(v, "sessions",
                      "SELECT session_id, user_id, " MS("created_at") ", " MS("expires_at") ", " MS(
                          "revoked_at") ", version FROM sessions WHERE "
                                        "user_id IN " SCOPE_USERS,
                      1, cols, NCOLS(cols), key_session);
}

static bool model_chat_rooms(vctx_t *v)
{
    static const col_t cols[] = {{"kind", 1, COL_STR},        {"title", 2, COL_STR_OR_NULL},
                                 {"created_by", 3, COL_STR},  {"direct_key", 4, COL_STR_OR_NULL},
                                 {"last_seq", 5, COL_I64},    {"created_at", 6, COL_DATE},
                                 {"updated_at", 7, COL_DATE}, {"version", 8, COL_I64}};
    return model_rows(v, "chat_rooms",
                      "SELECT room_id, kind, title, created_by, direct_key, last_seq, " MS(
                          "created_at") ", " MS("updated_at") ", version FROM chat_rooms "
                                                              "WHERE room_id IN " SCOPE_ROOMS,
                      1, cols, NCOLS(cols), key_room);
}

static bool model_room_members(vctx_t *v)
{
    static const col_t cols[] = {{"room_id", 0, COL_STR},
                                 {"user_id", 1, COL_STR},
                                 {"joined_at", 2, COL_DATE},
                                 {"last_read_seq", 3, COL_I64},
                                 {"room_version", 4, COL_I64}};
    return model_rows(v, "room_members",
                      "SELECT room_id, user_id, " MS("joined_at") ", last_read_seq, room_version "
                                                                  "FROM room_members WHERE "
                                                                  "room_id IN " SCOPE_ROOMS,
                      2, cols, NCOLS(cols), key_member);
}

static bool model_messages(vctx_t *v)
{
    static const col_t cols[] = {
        {"room_id", 1, COL_STR},     {"sender_id", 2, COL_STR},         {"seq", 3, COL_I64},
        {"body", 4, COL_STR},        {"client_message_id", 5, COL_STR}, {"created_at", 6, COL_DATE},
        {"room_version", 7, COL_I64}};
    return model_rows(
        v, "messages",
        "SELECT message_id, room_id, sender_id, seq, body, client_message_id, " MS(
            "created_at") ", room_version FROM messages WHERE room_id IN " SCOPE_ROOMS,
        1, cols, NCOLS(cols), key_message);
}

static bool model_friend_requests(vctx_t *v)
{
    static const col_t cols[] = {{"from_user_id", 1, COL_STR}, {"to_user_id", 2, COL_STR},
                                 {"status", 3, COL_STR},       {"created_at", 4, COL_DATE},
                                 {"updated_at", 5, COL_DATE},  {"v", 6, COL_I64}};
    return model_rows(v, "friend_requests",
                      "SELECT request_id, from_user_id, to_user_id, status, " MS(
                          "created_at") ", " MS("updated_at") ", version FROM friend_requests "
                                                              "WHERE from_user_id IN " SCOPE_USERS,
                      1, cols, NCOLS(cols), key_request);
}

/* The newest friendship row of every pair (live, or the last one that ended) with the times
 * of its FriendRequestAccepted and FriendDeleted events: the read model records the events'
 * occurred_at (docs/read-models.md), which the events table keeps exactly (friendships.ended_at
 * is the transaction's now(), a few ms earlier). */
#define LATEST_FRIENDSHIPS                                                                         \
    "SELECT DISTINCT ON (f.user_a, f.user_b) f.user_a, f.user_b, f.friendship_id, COALESCE(" US(   \
        "acc.occurred_at") ", " US("f.since") "), CASE WHEN f.ended_at IS NULL THEN NULL ELSE "    \
                                              "COALESCE(" US("del.occurred_at") ", " US(           \
                                                  "f.ended_at") ") END FROM friendships f"         \
                                                                " LEFT JOIN events acc ON "        \
                                                                "acc.aggregate_type = "            \
                                                                "'FriendRequest' AND "             \
                                                                "acc.aggregate_id ="               \
                                                                " f.request_id AND "               \
                                                                "acc.event_type = "                \
                                                                "'FriendRequestAccepted'"          \
                                                                " LEFT JOIN events del ON "        \
                                                                "del.aggregate_type = "            \
                                                                "'Friendship' AND "                \
                                                                "del.aggregate_id ="               \
                                                                " f.friendship_id AND "            \
                                                                "del.event_type = 'FriendDeleted'" \
                                                                " WHERE f.user_a IN " SCOPE_USERS  \
                                                                " OR f.user_b IN " SCOPE_USERS     \
                                                                " ORDER BY f.user_a, f.user_b, "   \
                                                                "f.since DESC"

/* One direction of a LATEST_FRIENDSHIPS row: user's link to friend. Times in µs since the
 * epoch; ended_us is 0 for a live link. Strings are borrowed from the result. */
typedef struct {
    const char *user, *friend_id, *friendship_id;
    bool ended;
    int64_t since_us, ended_us;
} friend_link_t;

/* Row i of a LATEST_FRIENDSHIPS result seen from user_a (dir 0) or user_b (dir 1). */
static friend_link_t friend_link(PGresult *r, int i, int dir)
{
    friend_link_t l = {.user = PQgetvalue(r, i, dir), .friend_id = PQgetvalue(r, i, 1 - dir)};
    l.friendship_id = PQgetvalue(r, i, 2);
    l.ended = !PQgetisnull(r, i, 4);
    l.since_us = i64(r, i, 3);
    l.ended_us = l.ended ? i64(r, i, 4) : 0;
    return l;
}

static bool model_friends(vctx_t *v)
{
    PGresult *r = pg_query(v, LATEST_FRIENDSHIPS);
    if (!r)
        return false;
    lg_strmap_t want = {0};
    for (int i = 0; i < PQntuples(r); i++) {
        for (int dir = 0; dir < 2; dir++) {
            friend_link_t l = friend_link(r, i, dir);
            bson_t *d = bson_new();
            char key[100];
            BSON_APPEND_UTF8(d, "user_id", l.user);
            BSON_APPEND_UTF8(d, "friend_id", l.friend_id);
            BSON_APPEND_BOOL(d, "ended", l.ended);
            BSON_APPEND_INT64(d, "at", l.ended ? l.ended_us : l.since_us);
            if (l.ended) {
                /* since/friendship_id of an ended link depend on arrival order (accept and
                 * delete are different aggregates): not compared */
                BSON_APPEND_DATE_TIME(d, "ended_at", l.ended_us / 1000);
            } else {
                BSON_APPEND_DATE_TIME(d, "since", l.since_us / 1000);
                BSON_APPEND_UTF8(d, "friendship_id", l.friendship_id);
                BSON_APPEND_NULL(d, "ended_at");
            }
            snprintf(key, sizeof key, "%s:%s", l.user, l.friend_id);
            lg_strmap_put(&want, key, d);
        }
    }
    PQclear(r);
    bool ok = check_collection(v, "friends", &want, key_friend, NULL, false);
    lg_strmap_free(&want, free_bson);
    return ok;
}

/* user_counters: per user, +1 for each accepted friendship (keyed by its request) and -1 for
 * each ended one (keyed by the friendship): friend_count is their sum (docs/read-models.md). */
static bool model_user_counters(vctx_t *v)
{
    PGresult *r =
        pg_query(v, "SELECT user_a, user_b, request_id, friendship_id, ended_at IS NOT NULL"
                    " FROM friendships WHERE user_a IN " SCOPE_USERS " OR user_b IN " SCOPE_USERS);
    if (!r)
        return false;
    lg_strmap_t want = {0};
    for (int i = 0; i < PQntuples(r); i++)
        for (int dir = 0; dir < 2; dir++)
            for (int ended = 0; ended < 2; ended++) {
                if (ended && strcmp(PQgetvalue(r, i, 4), "t") != 0)
                    continue;
                const char *user = PQgetvalue(r, i, dir), *agg = PQgetvalue(r, i, ended ? 3 : 2);
                char key[100];
                snprintf(key, sizeof key, "%s:%s", user, agg);
                bson_t *d = bson_new();
                BSON_APPEND_UTF8(d, "user_id", user);
                BSON_APPEND_UTF8(d, "friend_id", PQgetvalue(r, i, 1 - dir));
                BSON_APPEND_INT64(d, "delta", ended ? -1 : 1);
                lg_strmap_put(&want, key, d);
            }
    PQclear(r);
    bool ok = check_collection(v, "user_counters", &want, key_counter, NULL, false);
    lg_strmap_free(&want, free_bson);
    return ok;
}

static bool model_inbox(vctx_t *v)
{
    PGresult *r = pg_query(
        v, "WITH mem AS (SELECT room_id, array_to_string(array_agg(user_id::text), ',') AS ids"
           "   FROM room_members WHERE room_id IN " SCOPE_ROOMS " GROUP BY room_id),"
           " own AS (SELECT room_id, sender_id, max(seq) AS s FROM messages WHERE room_id "
           "IN " SCOPE_ROOMS " GROUP BY room_id, sender_id)"
           " SELECT rm.user_id, rm.room_id, c.kind, c.title, mem.ids, c.last_seq,"
           " GREATEST(rm.last_read_seq, COALESCE(own.s, 0)), m.message_id, m.sender_id, "
           "m.body, " MS("m.created_at") ", " MS(
               "GREATEST(c.created_at, COALESCE(m.created_at, "
               "c.created_at))") " FROM room_members rm JOIN chat_rooms c ON c.room_id = rm.room_id"
                                 " JOIN mem ON mem.room_id = rm.room_id"
                                 " LEFT JOIN messages m ON m.room_id = c.room_id AND m.seq = "
                                 "c.last_seq"
                                 " LEFT JOIN own ON own.room_id = rm.room_id AND own.sender_id = "
                                 "rm.user_id"
                                 " WHERE rm.room_id IN " SCOPE_ROOMS);
    if (!r)
        return false;
    lg_strmap_t want = {0};
    for (int i = 0; i < PQntuples(r); i++) {
        bson_t *d = bson_new(), arr, lm;
        char key[100];
        BSON_APPEND_UTF8(d, "user_id", PQgetvalue(r, i, 0));
        BSON_APPEND_UTF8(d, "room_id", PQgetvalue(r, i, 1));
        BSON_APPEND_UTF8(d, "kind", PQgetvalue(r, i, 2));
        put_str(d, "title", str_or_null(r, i, 3));
        BSON_APPEND_ARRAY_BEGIN(d, "member_ids", &arr);
        const char *ids = PQgetvalue(r, i, 4);
        int n = 0;
        while (*ids) {
            size_t len = strcspn(ids, ",");
            char idx[16];
            snprintf(idx, sizeof idx, "%d", n++);
            bson_append_utf8(&arr, idx, -1, ids, (int)len);
            ids += len + (ids[len] == ',');
        }
        bson_append_array_end(d, &arr);
        int64_t last_seq = i64(r, i, 5);
        if (last_seq > 0 && !PQgetisnull(r, i, 7)) {
            BSON_APPEND_DOCUMENT_BEGIN(d, "last_message", &lm);
            BSON_APPEND_UTF8(&lm, "message_id", PQgetvalue(r, i, 7));
            BSON_APPEND_INT64(&lm, "seq", last_seq);
            BSON_APPEND_UTF8(&lm, "sender_id", PQgetvalue(r, i, 8));
            BSON_APPEND_UTF8(&lm, "body", PQgetvalue(r, i, 9));
            put_date(&lm, "sent_at", r, i, 10);
            bson_append_document_end(d, &lm);
        } else {
            BSON_APPEND_NULL(d, "last_message");
        }
        BSON_APPEND_INT64(d, "last_seq", last_seq);
        BSON_APPEND_INT64(d, "last_read_seq", i64(r, i, 6));
        put_date(d, "last_activity_at", r, i, 11);
        snprintf(key, sizeof key, "%s:%s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
        lg_strmap_put(&want, key, d);
    }
    PQclear(r);
    bool ok = check_collection(v, "inbox", &want, key_inbox, NULL, false);
    lg_strmap_free(&want, free_bson);
    return ok;
}

/* ---- decoded domain events (facts only the events table keeps) ---- */

typedef struct {
    int64_t ms;
    bool all;
    char **ids;
    size_t nids;
} nread_t;

typedef struct {
    nread_t *reads;
    size_t n, cap;
} nreads_t;

static void free_nreads(void *p)
{
    nreads_t *l = p;
    for (size_t i = 0; i < l->n; i++) {
        for (size_t k = 0; k < l->reads[i].nids; k++)
            free(l->reads[i].ids[k]);
        free(l->reads[i].ids);
    }
    free(l->reads);
    free(l);
}

/* Decode the events of the given types in scope; for each call fn(v, type, record, aggregate id,
 * occurred µs, ud). */
typedef void (*event_fn)(vctx_t *v, const char *type, avro_value_t *rec, const char *agg,
                         int64_t us, void *ud);

static bool each_event(vctx_t *v, const char *types_sql, const char *scope_sql, event_fn fn,
                       void *ud)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT event_type, topic, payload, " US(
                 "occurred_at") ", aggregate_id FROM events "
                                "WHERE event_type IN (%s) AND aggregate_id IN %s ORDER BY position",
             types_sql, scope_sql);
    PGresult *r = pg_query(v, sql);
    if (!r)
        return false;
    bool ok = true;
    for (int i = 0; ok && i < PQntuples(r); i++) {
        hl_topic_schema_t *t = hl_event_catalog_topic(v->catalog, PQgetvalue(r, i, 1));
        if (!t) {
            ok = fail(v, "events row of unknown topic %s", PQgetvalue(r, i, 1));
            break;
        }
        size_t len = 0;
        unsigned char *body = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 2), &len);
        avro_value_t val, rec;
        const char *type = NULL;
        hl_error_t e = {0};
        if (!body || !hl_event_decode(t->iface, body, len, &val, &rec, &type, &e)) {
            ok = fail(v, "cannot decode a %s payload of the events table: %s", PQgetvalue(r, i, 0),
                      e.message);
        } else {
            fn(v, type, &rec, PQgetvalue(r, i, 4), i64(r, i, 3), ud);
            avro_value_decref(&val);
        }
        PQfreemem(body);
    }
    PQclear(r);
    return ok;
}

static void on_notifications_read(vctx_t *v, const char *type, avro_value_t *rec, const char *agg,
                                  int64_t us, void *ud)
{
    (void)v;
    (void)type;
    lg_strmap_t *reads = ud;
    lg_strmap_slot_t *s = lg_strmap_find(reads, agg);
    if (!s) {
        nreads_t *l = calloc(1, sizeof *l);
        if (!l)
            abort();
        s = lg_strmap_put(reads, agg, l);
    }
    nreads_t *l = s->val;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->reads = realloc(l->reads, l->cap * sizeof *l->reads);
        if (!l->reads)
            abort();
    }
    nread_t *nr = &l->reads[l->n++];
    memset(nr, 0, sizeof *nr);
    nr->ms = us / 1000;
    hl_error_t e = {0};
    hl_avro_get_bool(rec, "all", &nr->all, &e);
    avro_value_t arr, item;
    size_t n = 0;
    if (avro_value_get_by_name(rec, "notification_ids", &arr, NULL) == 0 &&
        avro_value_get_size(&arr, &n) == 0 && n > 0) {
        nr->ids = calloc(n, sizeof *nr->ids);
        for (size_t k = 0; nr->ids && k < n; k++) {
            const char *str = NULL;
            size_t sl = 0;
            if (avro_value_get_by_index(&arr, k, &item, NULL) == 0 &&
                avro_value_get_string(&item, &str, &sl) == 0)
                nr->ids[nr->nids++] = strdup(str);
        }
    }
}

static lg_strmap_t *g_reads; /* notifications check: user → nreads_t (this pass) */

/* read/read_at of a notification: the first NotificationsRead of its user that covered it
 * (all: created at or before; by id: its _id listed). */
static void extra_notification(vctx_t *v, const char *key, const bson_t *want, const bson_t *doc)
{
    bson_iter_t it;
    int64_t created = 0, read_at = -1;
    const char *user = doc_str(want, "user_id"), *id = doc_str(doc, "_id");
    if (bson_iter_init_find(&it, want, "created_at") && BSON_ITER_HOLDS_DATE_TIME(&it))
        created = bson_iter_date_time(&it);
    lg_strmap_slot_t *s = user ? lg_strmap_find(g_reads, user) : NULL;
    if (s) {
        nreads_t *l = s->val;
        for (size_t i = 0; i < l->n && read_at < 0; i++) {
            bool covers = l->reads[i].all && created <= l->reads[i].ms;
            for (size_t k = 0; !covers && id && k < l->reads[i].nids; k++)
                covers = !strcmp(l->reads[i].ids[k], id);
            if (covers)
                read_at = l->reads[i].ms;
        }
    }
    bson_t exp = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&exp, "read", read_at >= 0);
    if (read_at >= 0)
        BSON_APPEND_DATE_TIME(&exp, "read_at", read_at);
    else
        BSON_APPEND_NULL(&exp, "read_at");
    compare_fields(v, key, &exp, doc, false);
    bson_destroy(&exp);
}

/* ---- counselling and payments (SPEC §9, docs/read-models.md) ---- */

#define SCOPE_BOOKINGS "(SELECT booking_id FROM bookings WHERE client_id IN " SCOPE_USERS ")"

/* "a,b,c" (array_to_string of a text[] without empty elements) as a BSON array field. */
static void put_list(bson_t *d, const char *field, const char *csv)
{
    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(d, field, &arr);
    int i = 0;
    while (*csv) {
        size_t n = strcspn(csv, ",");
        char idx[16], item[128];
        snprintf(idx, sizeof idx, "%d", i++);
        snprintf(item, sizeof item, "%.*s", (int)n, csv);
        BSON_APPEND_UTF8(&arr, idx, item);
        csv += n + (csv[n] == ',');
    }
    bson_append_array_end(d, &arr);
}

static bool key_counsellor(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    if (!key_id_or(doc, "counsellor_id", out, cap))
        return false;
    *sid = out;
    return true;
}

/* counsellors: the profile, verification and rating (ratings of reviews, each booking once) */
static bool model_counsellors(vctx_t *v)
{
    PGresult *r = pg_query(
        v,
        "SELECT c.counsellor_id, c.headline, c.bio, array_to_string(c.specialties, ','),"
        " array_to_string(c.languages, ','), lower(array_to_string(c.languages, ',')),"
        " c.price_minor, c.currency, c.session_minutes, c.verified, " MS(
            "c.verified_at") ", c.version, COALESCE(sum(rv.rating), 0), "
                             "count(rv.rating), " MS("c.created_at") " FROM counsellors c "
                                                                     "LEFT JOIN reviews rv "
                                                                     "ON rv.counsellor_id ="
                                                                     " c.counsellor_id "
                                                                     "WHERE c.counsellor_id "
                                                                     "IN " SCOPE_USERS " GROUP BY "
                                                                     "c.counsellor_id");
    if (!r)
        return false;
    lg_strmap_t want = {0};
    for (int i = 0; i < PQntuples(r); i++) {
        bson_t *d = bson_new();
        BSON_APPEND_UTF8(d, "headline", PQgetvalue(r, i, 1));
        BSON_APPEND_UTF8(d, "bio", PQgetvalue(r, i, 2));
        put_list(d, "specialties", PQgetvalue(r, i, 3));
        put_list(d, "languages", PQgetvalue(r, i, 4));
        put_list(d, "languages_lower", PQgetvalue(r, i, 5));
        BSON_APPEND_INT64(d, "price_minor", i64(r, i, 6));
        BSON_APPEND_UTF8(d, "currency", PQgetvalue(r, i, 7));
        BSON_APPEND_INT64(d, "session_minutes", i64(r, i, 8));
        BSON_APPEND_BOOL(d, "verified", PQgetvalue(r, i, 9)[0] == 't');
        put_date(d, "verified_at", r, i, 10);
        BSON_APPEND_INT64(d, "v", i64(r, i, 11));
        BSON_APPEND_INT64(d, "rating_sum", i64(r, i, 12));
        BSON_APPEND_INT64(d, "rating_count", i64(r, i, 13));
        put_date(d, "created_at", r, i, 14);
        lg_strmap_put(&want, PQgetvalue(r, i, 0), d);
    }
    PQclear(r);
    bool ok = check_collection(v, "counsellors", &want, key_counsellor, NULL, false);
    lg_strmap_free(&want, free_bson);
    return ok;
}

static bool key_cs_slot(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    const char *slot = doc_str(doc, "slot_id");
    if (!slot)
        return false;
    snprintf(out, cap, "%s", slot);
    *sid = doc_str(doc, "counsellor_id");
    return true;
}

static bool model_slots(vctx_t *v)
{
    static const col_t cols[] = {{"counsellor_id", 1, COL_STR},
                                 {"starts_at", 2, COL_DATE},
                                 {"minutes", 3, COL_I64},
                                 {"status", 4, COL_STR},
                                 {"v", 5, COL_I64}};
    return model_rows(
        v, "slots",
        "SELECT slot_id, counsellor_id, " MS("starts_at") ", minutes, status, version"
                                                          " FROM slots WHERE "
                                                          "counsellor_id IN " SCOPE_USERS,
        1, cols, NCOLS(cols), key_cs_slot);
}

/* One booking row with its payment, review and cancellation terms; columns as used below. */
#define BOOKINGS_SQL                                                                               \
    "SELECT b.booking_id, b.client_id, b.counsellor_id, b.slot_id, " MS(                           \
        "b.starts_at") ", b.minutes, b.price_minor, b.currency, b.status, b.room_id,"              \
                       " b.failure_reason, b.cancelled_by, b.version, NULLIF(p.status, "           \
                       "'pending'),"                                                               \
                       " (SELECT max(aggregate_version) FROM events e WHERE e.aggregate_id ="      \
                       " p.payment_id), rv.rating, (SELECT CASE WHEN s.refund THEN 'full' ELSE"    \
                       " 'none' END FROM sagas s WHERE s.booking_id = b.booking_id AND s.kind ="   \
                       " 'cancellation' ORDER BY s.created_at DESC LIMIT 1), " MS(                 \
                           "b.created_at") " FROM bookings b LEFT JOIN payments p USING"           \
                                           " (booking_id) LEFT JOIN reviews rv USING (booking_id)" \
                                           " WHERE b.booking_id IN " SCOPE_BOOKINGS

static bson_t *booking_doc(PGresult *r, int i)
{
    bson_t *d = bson_new();
    BSON_APPEND_UTF8(d, "booking_id", PQgetvalue(r, i, 0));
    BSON_APPEND_UTF8(d, "client_id", PQgetvalue(r, i, 1));
    BSON_APPEND_UTF8(d, "counsellor_id", PQgetvalue(r, i, 2));
    BSON_APPEND_UTF8(d, "slot_id", PQgetvalue(r, i, 3));
    put_date(d, "starts_at", r, i, 4);
    BSON_APPEND_INT64(d, "minutes", i64(r, i, 5));
    BSON_APPEND_INT64(d, "price_minor", i64(r, i, 6));
    BSON_APPEND_UTF8(d, "currency", PQgetvalue(r, i, 7));
    BSON_APPEND_UTF8(d, "status", PQgetvalue(r, i, 8));
    put_str(d, "room_id", str_or_null(r, i, 9));
    put_str(d, "failure_reason", str_or_null(r, i, 10));
    put_str(d, "cancelled_by", str_or_null(r, i, 11));
    BSON_APPEND_INT64(d, "v", i64(r, i, 12));
    put_str(d, "payment_status", str_or_null(r, i, 13));
    if (!PQgetisnull(r, i, 14))
        BSON_APPEND_INT64(d, "payment_v", i64(r, i, 14));
    if (!PQgetisnull(r, i, 15)) {
        BSON_APPEND_INT64(d, "rating", i64(r, i, 15));
        BSON_APPEND_BOOL(d, "reviewed", true);
    }
    if (!strcmp(PQgetvalue(r, i, 8), "cancelled"))
        put_str(d, "refund", str_or_null(r, i, 16));
    put_date(d, "created_at", r, i, 17);
    return d;
}

static bool key_booking(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    const char *id = doc_str(doc, "booking_id");
    if (!id)
        return false;
    snprintf(out, cap, "%s", id);
    *sid = doc_str(doc, "client_id");
    return true;
}

static bool key_booking_by_user(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    const char *user = doc_str(doc, "user_id"), *role = doc_str(doc, "role"),
               *id = doc_str(doc, "booking_id");
    if (!user || !role || !id)
        return false;
    snprintf(out, cap, "%s:%s:%s", user, role, id);
    *sid = doc_str(doc, "client_id");
    return true;
}

/* bookings (one per booking; by_user false) or bookings_by_user (one per party and role) */
static bool check_bookings(vctx_t *v, bool by_user)
{
    if (by_user && !model_present(v, "bookings_by_user"))
        return true;
    PGresult *r = pg_query(v, BOOKINGS_SQL);
    if (!r)
        return false;
    lg_strmap_t want = {0};
    for (int i = 0; i < PQntuples(r); i++) {
        if (!by_user) {
            lg_strmap_put(&want, PQgetvalue(r, i, 0), booking_doc(r, i));
            continue;
        }
        for (int k = 0; k < 2; k++) {
            bson_t *d = booking_doc(r, i);
            const char *user = PQgetvalue(r, i, k == 0 ? 1 : 2);
            const char *role = k == 0 ? "client" : "counsellor";
            char key[160];
            BSON_APPEND_UTF8(d, "user_id", user);
            BSON_APPEND_UTF8(d, "role", role);
            snprintf(key, sizeof key, "%s:%s:%s", user, role, PQgetvalue(r, i, 0));
            lg_strmap_put(&want, key, d);
        }
    }
    PQclear(r);
    bool ok = by_user
                  ? check_collection(v, "bookings_by_user", &want, key_booking_by_user, NULL, false)
                  : check_collection(v, "bookings", &want, key_booking, NULL, false);
    lg_strmap_free(&want, free_bson);
    return ok;
}

static bool model_bookings(vctx_t *v)
{
    return check_bookings(v, false);
}

static bool model_bookings_by_user(vctx_t *v)
{
    return check_bookings(v, true);
}

static bool key_job(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    if (!key_id_or(doc, "job_id", out, cap) || !hl_uuid_valid(out))
        return false;
    *sid = doc_str(doc, "owner_id");
    return true;
}

static bool model_jobs(vctx_t *v)
{
    static const col_t cols[] = {{"owner_id", 1, COL_STR},   {"kind", 2, COL_STR},
                                 {"status", 3, COL_STR},     {"booking_id", 4, COL_STR},
                                 {"version", 5, COL_I64},    {"created_at", 6, COL_DATE},
                                 {"updated_at", 7, COL_DATE}};
    return model_rows(
        v, "jobs",
        "SELECT job_id, owner_id, kind, status, booking_id, version, " MS("created_at") ", " MS(
            "updated_at") " FROM jobs WHERE owner_id IN " SCOPE_USERS,
        1, cols, NCOLS(cols), key_job);
}

/* daily_bookings "<day>:Booking|Payment:<id>": a booking's events of that day counted by type
 * (failed also by reason), a payment's captured less refunded minor units; v the newest
 * counted version. Scoped by the aggregate id (bookings of the scope's clients, their
 * payments). */
static bool key_daily_booking(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    const char *id = doc_str(doc, "_id");
    if (!id || !strchr(id, ':'))
        return false;
    snprintf(out, cap, "%s", id);
    const char *agg = strrchr(id, ':');
    *sid = agg + 1;
    return true;
}

static bool model_daily_bookings(vctx_t *v)
{
    PGresult *r = pg_query(
        v,
        "SELECT " DAY("e.occurred_at") " || ':Booking:' || e.aggregate_id, " DAY(
            "e.occurred_at") ", max(e.aggregate_version),"
                             " count(*) FILTER (WHERE e.event_type = 'BookingRequested'),"
                             " count(*) FILTER (WHERE e.event_type = 'BookingConfirmed'),"
                             " count(*) FILTER (WHERE e.event_type = 'BookingFailed'),"
                             " count(*) FILTER (WHERE e.event_type = 'BookingCancelled'),"
                             " count(*) FILTER (WHERE e.event_type = 'BookingCompleted'),"
                             " max(b.failure_reason) FILTER (WHERE e.event_type = 'BookingFailed'),"
                             " NULL, 0, 0"
                             " FROM events e JOIN bookings b ON b.booking_id = e.aggregate_id"
                             " WHERE e.event_type IN ('BookingRequested', 'BookingConfirmed',"
                             " 'BookingFailed', 'BookingCancelled', 'BookingCompleted') AND"
                             " e.aggregate_id IN " SCOPE_BOOKINGS " GROUP BY 1, 2"
                             " UNION ALL SELECT " DAY(
                                 "e.occurred_at") " || ':Payment:' ||"
                                                  " e.aggregate_id, " DAY(
                                                      "e.occurred_at") ", "
                                                                       "max(e.aggregate_version), "
                                                                       "0, 0, 0, 0, 0,"
                                                                       " NULL, max(p.currency), "
                                                                       "sum(CASE WHEN"
                                                                       " e.event_type = "
                                                                       "'PaymentCaptured' THEN"
                                                                       " p.amount_minor ELSE "
                                                                       "-p.amount_minor END),"
                                                                       " sum(CASE WHEN "
                                                                       "e.event_type ="
                                                                       " 'PaymentRefunded' THEN "
                                                                       "p.amount_minor ELSE 0"
                                                                       " END) FROM events e JOIN "
                                                                       "payments p ON"
                                                                       " p.payment_id = "
                                                                       "e.aggregate_id WHERE"
                                                                       " e.event_type IN "
                                                                       "('PaymentCaptured',"
                                                                       " 'PaymentRefunded') AND "
                                                                       "p.booking_id "
                                                                       "IN " SCOPE_BOOKINGS
                                                                       " GROUP BY 1, 2");
    if (!r)
        return false;
    static const char *const counters[] = {"requested", "confirmed", "failed", "cancelled",
                                           "completed"};
    lg_strmap_t want = {0};
    for (int i = 0; i < PQntuples(r); i++) {
        bson_t *d = bson_new();
        BSON_APPEND_UTF8(d, "day", PQgetvalue(r, i, 1));
        BSON_APPEND_INT64(d, "v", i64(r, i, 2));
        for (int c = 0; c < 5; c++)
            BSON_APPEND_INT64(d, counters[c], i64(r, i, 3 + c));
        if (!PQgetisnull(r, i, 8)) {
            bson_t sub;
            BSON_APPEND_DOCUMENT_BEGIN(d, "failed_by_reason", &sub);
            BSON_APPEND_INT64(&sub, PQgetvalue(r, i, 8), i64(r, i, 5));
            bson_append_document_end(d, &sub);
        }
        if (!PQgetisnull(r, i, 9)) {
            BSON_APPEND_UTF8(d, "currency", PQgetvalue(r, i, 9));
            BSON_APPEND_INT64(d, "revenue_minor", i64(r, i, 10));
            BSON_APPEND_INT64(d, "refunded_minor", i64(r, i, 11));
        }
        lg_strmap_put(&want, PQgetvalue(r, i, 0), d);
    }
    PQclear(r);
    bool ok = check_collection(v, "daily_bookings", &want, key_daily_booking, NULL, true);
    lg_strmap_free(&want, free_bson);
    return ok;
}

/* booking_confirmed notifications (docs/read-models.md, notifications): one per party of a
 * BookingConfirmed, added to the notifications check's expected documents. */
static bool booking_notifications(vctx_t *v, lg_strmap_t *want)
{
    PGresult *r = pg_query(
        v, "SELECT b.booking_id, u.party, CASE WHEN u.party = b.client_id THEN b.counsellor_id"
           " ELSE b.client_id END, b.room_id, " MS("b.starts_at") ", " MS(
               "e.occurred_at") " FROM events e JOIN bookings b ON b.booking_id = e.aggregate_id"
                                " CROSS JOIN LATERAL (VALUES (b.client_id), (b.counsellor_id)) u"
                                " (party) WHERE e.event_type = 'BookingConfirmed' AND u.party "
                                "IN " SCOPE_USERS " AND b.booking_id IN (SELECT booking_id FROM "
                                "bookings WHERE client_id IN " SCOPE_USERS
                                " OR counsellor_id IN " SCOPE_USERS ")");
    if (!r)
        return false;
    for (int i = 0; i < PQntuples(r); i++) {
        bson_t *d = bson_new();
        char key[160];
        BSON_APPEND_UTF8(d, "user_id", PQgetvalue(r, i, 1));
        BSON_APPEND_UTF8(d, "kind", "booking_confirmed");
        BSON_APPEND_UTF8(d, "actor_id", PQgetvalue(r, i, 2));
        BSON_APPEND_UTF8(d, "booking_id", PQgetvalue(r, i, 0));
        put_str(d, "room_id", str_or_null(r, i, 3));
        put_date(d, "starts_at", r, i, 4);
        put_date(d, "created_at", r, i, 5);
        snprintf(key, sizeof key, "booking_confirmed:%s:%s", PQgetvalue(r, i, 0),
                 PQgetvalue(r, i, 1));
        lg_strmap_put(want, key, d);
    }
    PQclear(r);
    return true;
}

static bool model_notifications(vctx_t *v)
{
    lg_strmap_t reads = {0}, want = {0};
    bool ok = each_event(v, "'NotificationsRead'", SCOPE_USERS, on_notifications_read, &reads);
    PGresult *r =
        ok ? pg_query(
                 v,
                 "SELECT 'friend_request', request_id, to_user_id, from_user_id, " MS(
                     "created_at") " FROM friend_requests WHERE to_user_id IN " SCOPE_USERS
                                   " UNION ALL SELECT 'friend_accepted', request_id, from_user_id, "
                                   "to_user_id, " MS(
                                       "updated_at") " FROM friend_requests WHERE status = "
                                                     "'accepted' AND from_user_id IN " SCOPE_USERS)
           : NULL;
    if (!r) {
        lg_strmap_free(&reads, free_nreads);
        return false;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        bson_t *d = bson_new();
        char key[160];
        BSON_APPEND_UTF8(d, "user_id", PQgetvalue(r, i, 2));
        BSON_APPEND_UTF8(d, "kind", PQgetvalue(r, i, 0));
        BSON_APPEND_UTF8(d, "actor_id", PQgetvalue(r, i, 3));
        BSON_APPEND_UTF8(d, "request_id", PQgetvalue(r, i, 1));
        put_date(d, "created_at", r, i, 4);
        snprintf(key, sizeof key, "%s:%s:%s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                 PQgetvalue(r, i, 2));
        lg_strmap_put(&want, key, d);
    }
    PQclear(r);
    r = pg_query(
        v, "SELECT m.message_id, m.room_id, m.seq, m.sender_id, m.body, " MS(
               "m.created_at") ", rm.user_id FROM messages m JOIN room_members rm ON rm.room_id = "
                               "m.room_id AND rm.user_id <> m.sender_id WHERE rm.user_id "
                               "IN " SCOPE_USERS);
    if (!r) {
        lg_strmap_free(&want, free_bson);
        lg_strmap_free(&reads, free_nreads);
        return false;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        bson_t *d = bson_new();
        char key[160], preview[128];
        const char *body = PQgetvalue(r, i, 4);
        size_t n = strlen(body);
        if (n > 100) {
            n = 100;
            while (n > 0 && ((unsigned char)body[n] & 0xC0) == 0x80)
                n--;
        }
        memcpy(preview, body, n);
        preview[n] = '\0';
        BSON_APPEND_UTF8(d, "user_id", PQgetvalue(r, i, 6));
        BSON_APPEND_UTF8(d, "kind", "new_message");
        BSON_APPEND_UTF8(d, "actor_id", PQgetvalue(r, i, 3));
        BSON_APPEND_UTF8(d, "room_id", PQgetvalue(r, i, 1));
        BSON_APPEND_UTF8(d, "message_id", PQgetvalue(r, i, 0));
        BSON_APPEND_INT64(d, "seq", i64(r, i, 2));
        BSON_APPEND_UTF8(d, "preview", preview);
        put_date(d, "created_at", r, i, 5);
        snprintf(key, sizeof key, "new_message:%s:%s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 6));
        lg_strmap_put(&want, key, d);
    }
    PQclear(r);
    if (!booking_notifications(v, &want)) {
        lg_strmap_free(&want, free_bson);
        lg_strmap_free(&reads, free_nreads);
        return false;
    }
    g_reads = &reads;
    ok = check_collection(v, "notifications", &want, key_notification, extra_notification, false);
    g_reads = NULL;
    lg_strmap_free(&want, free_bson);
    lg_strmap_free(&reads, free_nreads);
    return ok;
}

static void on_activity(vctx_t *v, const char *type, avro_value_t *rec, const char *agg, int64_t us,
                        void *ud)
{
    (void)v;
    lg_strmap_t *want = ud;
    const char *user = NULL, *status = NULL;
    hl_error_t e = {0};
    if (!strcmp(type, "MessagesRead")) {
        hl_avro_get_string(rec, "reader_id", &user, &e);
    } else if (!strcmp(type, "UserPresenceChanged")) {
        if (hl_avro_get_string(rec, "status", &status, &e) && !strcmp(status, "online"))
            user = agg;
    }
    if (!user)
        return;
    char day[16], key[80];
    hl_format_day(us, day, sizeof day);
    snprintf(key, sizeof key, "%s:%s", day, user);
    if (!lg_strmap_find(want, key)) {
        bson_t *d = bson_new();
        BSON_APPEND_UTF8(d, "day", day);
        BSON_APPEND_UTF8(d, "user_id", user);
        lg_strmap_put(want, key, d);
    }
}

static bool model_daily_active_users(vctx_t *v)
{
    lg_strmap_t want = {0};
    /* senders of messages, requesters, acceptors (tables); readers and users going online
     * (decoded events) */
    PGresult *r = pg_query(
        v, "SELECT " DAY(
               "created_at") ", sender_id FROM messages WHERE sender_id IN " SCOPE_USERS
                             " UNION SELECT " DAY(
                                 "created_at") ", from_user_id FROM "
                                               "friend_requests WHERE from_user_id IN " SCOPE_USERS
                                               " UNION SELECT " DAY(
                                                   "updated_at") ", to_user_id FROM "
                                                                 "friend_requests WHERE status = "
                                                                 "'accepted' AND to_user_id "
                                                                 "IN " SCOPE_USERS);
    if (!r)
        return false;
    for (int i = 0; i < PQntuples(r); i++) {
        char key[80];
        snprintf(key, sizeof key, "%s:%s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
        if (lg_strmap_find(&want, key))
            continue;
        bson_t *d = bson_new();
        BSON_APPEND_UTF8(d, "day", PQgetvalue(r, i, 0));
        BSON_APPEND_UTF8(d, "user_id", PQgetvalue(r, i, 1));
        lg_strmap_put(&want, key, d);
    }
    PQclear(r);
    bool ok = each_event(v, "'MessagesRead'", SCOPE_ROOMS, on_activity, &want) &&
              each_event(v, "'UserPresenceChanged'", SCOPE_USERS, on_activity, &want);
    if (ok && v->o->scope == LG_SCOPE_LOADGEN) {
        /* a reader outside the scope in a room of the scope: drop (not in scope) */
        for (size_t i = 0; i < want.cap; i++)
            if (want.slots[i].key && !in_scope(v, doc_str(want.slots[i].val, "user_id")))
                want.slots[i].seen = true;
    }
    ok = ok && check_collection(v, "daily_active_users", &want, key_dau, NULL, false);
    lg_strmap_free(&want, free_bson);
    return ok;
}

/* daily_stats: one document per UTC day and aggregate with counted events, its counters and
 * v = the highest aggregate_version counted that day (docs/read-models.md), all from the
 * events table; so each document is compared exactly, and the day sums with it. */
static bool model_daily_stats(vctx_t *v)
{
    if (v->o->scope != LG_SCOPE_ALL)
        return true; /* whole-stack counters: nothing to compare for a subset of users */
    PGresult *r = pg_query(
        v,
        "SELECT " DAY(
            "occurred_at") " || ':' || aggregate_type || ':' || "
                           "aggregate_id, count(*) FILTER (WHERE event_type = 'UserRegistered'), "
                           "count(*) FILTER (WHERE event_type = 'MessageSent'), count(*) FILTER "
                           "(WHERE event_type = 'FriendRequestAccepted'), max(aggregate_version) "
                           "FROM events WHERE event_type IN ('UserRegistered', 'MessageSent', "
                           "'FriendRequestAccepted') GROUP BY 1");
    if (!r)
        return false;
    lg_strmap_t want = {0};
    for (int i = 0; i < PQntuples(r); i++) {
        bson_t *d = bson_new();
        BSON_APPEND_INT64(d, "users_registered", i64(r, i, 1));
        BSON_APPEND_INT64(d, "messages_sent", i64(r, i, 2));
        BSON_APPEND_INT64(d, "friendships_formed", i64(r, i, 3));
        BSON_APPEND_INT64(d, "v", i64(r, i, 4));
        lg_strmap_put(&want, PQgetvalue(r, i, 0), d);
    }
    PQclear(r);
    bool ok = check_collection(v, "daily_stats", &want, key_daily, NULL, true);
    lg_strmap_free(&want, free_bson);
    return ok;
}

static bool make_scope(vctx_t *v);

/* The expected watermarks of the scope (key → {v}); false on a query error. */
static bool typed_event_watermarks(vctx_t *v);

static bool expected_watermarks(vctx_t *v, lg_strmap_t *want)
{
    char sql[2048];
    snprintf(
        sql, sizeof sql, "%s",
        typed_event_watermarks(v)
            ? "SELECT 'ev.' || aggregate_type || ':' || aggregate_id, max(aggregate_version) FROM"
              " events WHERE aggregate_id IN (SELECT id FROM lg_scope_aggregates) GROUP BY"
              " aggregate_type, aggregate_id"
            : "SELECT 'ev:' || aggregate_id, max(aggregate_version) FROM events WHERE aggregate_id"
              " IN (SELECT id FROM lg_scope_aggregates) GROUP BY aggregate_id");
    bson_string_t *all = bson_string_new(sql);
    bson_string_append(
        all,
        " UNION ALL SELECT 'cdc.users:' || user_id, version FROM users WHERE user_id "
        "IN " SCOPE_USERS " UNION ALL SELECT 'cdc.sessions:' || session_id, version FROM sessions "
        "WHERE user_id IN " SCOPE_USERS " UNION ALL SELECT 'cdc.chat_rooms:' || room_id, version"
        " FROM chat_rooms WHERE room_id IN " SCOPE_ROOMS
        " UNION ALL SELECT 'cdc.room_members:' || room_id, max(room_version) FROM room_members "
        "WHERE room_id IN " SCOPE_ROOMS " GROUP BY room_id"
        " UNION ALL SELECT 'cdc.messages:' || room_id, max(room_version) FROM messages "
        "WHERE room_id IN " SCOPE_ROOMS " GROUP BY room_id");
    PGresult *r = pg_query(v, all->str);
    bson_string_free(all, true);
    if (!r)
        return false;
    for (int i = 0; i < PQntuples(r); i++) {
        bson_t *d = bson_new();
        BSON_APPEND_INT64(d, "v", i64(r, i, 1));
        lg_strmap_put(want, PQgetvalue(r, i, 0), d);
    }
    PQclear(r);
    return true;
}

static bool model_watermarks(vctx_t *v)
{
    lg_strmap_t want = {0};
    if (!expected_watermarks(v, &want)) {
        lg_strmap_free(&want, free_bson);
        return false;
    }
    bool ok = check_collection(v, "watermarks", &want, key_watermark, NULL, false);
    lg_strmap_free(&want, free_bson);
    return ok;
}

/* Watermarks of the scope not yet at PostgreSQL's version (-1 on error). */
static long watermarks_behind(vctx_t *v)
{
    lg_strmap_t want = {0};
    if (!expected_watermarks(v, &want)) {
        lg_strmap_free(&want, free_bson);
        return -1;
    }
    mongoc_collection_t *coll = physical(v, "watermarks");
    bson_t filter = BSON_INITIALIZER;
    mongoc_cursor_t *c = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
    const bson_t *doc = NULL;
    while (mongoc_cursor_next(c, &doc)) {
        const char *id = doc_str(doc, "_id");
        lg_strmap_slot_t *s = id ? lg_strmap_find(&want, id) : NULL;
        bson_iter_t it, jt;
        if (s && bson_iter_init_find(&it, doc, "v") && bson_iter_init_find(&jt, s->val, "v") &&
            bson_iter_as_int64(&it) >= bson_iter_as_int64(&jt))
            s->seen = true;
    }
    bson_error_t e;
    long behind = mongoc_cursor_error(c, &e) ? -1 : 0;
    mongoc_cursor_destroy(c);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    for (size_t i = 0; behind >= 0 && i < want.cap; i++)
        if (want.slots[i].key && !want.slots[i].seen)
            behind++;
    lg_strmap_free(&want, free_bson);
    return behind;
}

/* Whether the store keys event watermarks by aggregate type (`ev.<type>:<id>`, newer
 * docs/read-models.md) rather than `ev:<id>`: one _id range lookup. */
static bool typed_event_watermarks(vctx_t *v)
{
    mongoc_collection_t *coll = physical(v, "watermarks");
    bson_t *filter = BCON_NEW("_id", "{", "$gte", BCON_UTF8("ev."), "$lt", BCON_UTF8("ev/"), "}");
    bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
    mongoc_cursor_t *c = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t *doc = NULL;
    bool typed = mongoc_cursor_next(c, &doc);
    mongoc_cursor_destroy(c);
    bson_destroy(filter);
    bson_destroy(opts);
    mongoc_collection_destroy(coll);
    return typed;
}

/* Whether the logical read model has a collection (models added by a later change are
 * compared only where the projector writes them). */
static bool model_present(vctx_t *v, const char *logical)
{
    mongoc_collection_t *coll = physical(v, logical);
    const char *name = mongoc_collection_get_name(coll);
    bson_error_t e;
    bool present = mongoc_database_has_collection(v->db, name, &e);
    mongoc_collection_destroy(coll);
    return present;
}

static bool key_request_by_user(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    const char *u = doc_str(doc, "user_id"), *d = doc_str(doc, "direction"),
               *rq = doc_str(doc, "request_id");
    if (!u || !d || !rq)
        return false;
    snprintf(out, cap, "%s:%s:%s", u, d, rq);
    *sid = u;
    return true;
}

/* friend_requests_by_user: each request once per party (direction incoming/outgoing). */
static bool model_friend_requests_by_user(vctx_t *v)
{
    if (!model_present(v, "friend_requests_by_user"))
        return true;
    PGresult *r = pg_query(
        v, "SELECT request_id, from_user_id, to_user_id, status, " MS("created_at") ", " MS(
               "updated_at") ", version FROM friend_requests "
                             "WHERE from_user_id IN " SCOPE_USERS " OR to_user_id IN " SCOPE_USERS);
    if (!r)
        return false;
    lg_strmap_t want = {0};
    for (int i = 0; i < PQntuples(r); i++) {
        for (int dir = 0; dir < 2; dir++) {
            const char *user = PQgetvalue(r, i, dir ? 1 : 2);
            if (!in_scope(v, user))
                continue;
            bson_t *d = bson_new();
            char key[160];
            BSON_APPEND_UTF8(d, "user_id", user);
            BSON_APPEND_UTF8(d, "direction", dir ? "outgoing" : "incoming");
            BSON_APPEND_UTF8(d, "request_id", PQgetvalue(r, i, 0));
            BSON_APPEND_UTF8(d, "from_user_id", PQgetvalue(r, i, 1));
            BSON_APPEND_UTF8(d, "to_user_id", PQgetvalue(r, i, 2));
            BSON_APPEND_UTF8(d, "status", PQgetvalue(r, i, 3));
            put_date(d, "created_at", r, i, 4);
            put_date(d, "updated_at", r, i, 5);
            BSON_APPEND_INT64(d, "v", i64(r, i, 6));
            snprintf(key, sizeof key, "%s:%s:%s", user, dir ? "outgoing" : "incoming",
                     PQgetvalue(r, i, 0));
            lg_strmap_put(&want, key, d);
        }
    }
    PQclear(r);
    bool ok =
        check_collection(v, "friend_requests_by_user", &want, key_request_by_user, NULL, false);
    lg_strmap_free(&want, free_bson);
    return ok;
}

static bool key_notification_reads(const bson_t *doc, char *out, size_t cap, const char **sid)
{
    return key_user_doc(doc, "read_all", out, cap, sid);
}

static void on_read_all(vctx_t *v, const char *type, avro_value_t *rec, const char *agg, int64_t us,
                        void *ud)
{
    (void)v;
    (void)type;
    lg_strmap_t *want = ud;
    bool all = false;
    hl_error_t e = {0};
    if (!hl_avro_get_bool(rec, "all", &all, &e) || !all)
        return;
    lg_strmap_slot_t *s = lg_strmap_find(want, agg);
    if (!s) {
        bson_t *d = bson_new(), arr;
        BSON_APPEND_ARRAY_BEGIN(d, "read_all", &arr);
        bson_append_array_end(d, &arr);
        s = lg_strmap_put(want, agg, d);
    }
    /* rebuild the array with one more date (documents are small: a user's read-alls) */
    bson_t *old = s->val, *d = bson_new(), arr;
    bson_iter_t it, sub;
    uint32_t n = 0;
    BSON_APPEND_ARRAY_BEGIN(d, "read_all", &arr);
    if (bson_iter_init_find(&it, old, "read_all") && bson_iter_recurse(&it, &sub))
        while (bson_iter_next(&sub)) {
            char idx[16];
            snprintf(idx, sizeof idx, "%u", n++);
            BSON_APPEND_DATE_TIME(&arr, idx, bson_iter_date_time(&sub));
        }
    char idx[16];
    snprintf(idx, sizeof idx, "%u", n);
    BSON_APPEND_DATE_TIME(&arr, idx, us / 1000);
    bson_append_array_end(d, &arr);
    bson_destroy(old);
    s->val = d;
}

/* notification_reads: the times of each user's NotificationsRead {all: true} (a set). */
static bool model_notification_reads(vctx_t *v)
{
    if (!model_present(v, "notification_reads"))
        return true;
    lg_strmap_t want = {0};
    bool ok = each_event(v, "'NotificationsRead'", SCOPE_USERS, on_read_all, &want) &&
              check_collection(v, "notification_reads", &want, key_notification_reads, NULL, false);
    lg_strmap_free(&want, free_bson);
    return ok;
}

/* ---- scope ---- */

static bool make_scope(vctx_t *v)
{
    char run_users[256];
    snprintf(run_users, sizeof run_users,
             "SELECT user_id FROM user_credentials WHERE email LIKE '%%.%s@loadgen.invalid'",
             v->o->run_tag ? v->o->run_tag : "");
    const char *users = v->o->scope == LG_SCOPE_ALL ? "SELECT user_id FROM users"
                        : v->o->scope == LG_SCOPE_RUN
                            ? run_users
                            : "SELECT user_id FROM user_credentials WHERE email LIKE "
                              "'%@loadgen.invalid'";
    char sql[4096];
    snprintf(sql, sizeof sql,
             "DROP TABLE IF EXISTS lg_scope_users, lg_scope_rooms, lg_scope_aggregates;"
             " CREATE TEMP TABLE lg_scope_users AS %s;"
             " CREATE TEMP TABLE lg_scope_rooms AS SELECT room_id FROM chat_rooms WHERE %s;"
             " CREATE TEMP TABLE lg_scope_aggregates AS SELECT user_id AS id FROM lg_scope_users"
             " UNION SELECT room_id FROM lg_scope_rooms"
             " UNION SELECT request_id FROM friend_requests WHERE from_user_id IN " SCOPE_USERS
             " OR to_user_id IN " SCOPE_USERS
             " UNION SELECT friendship_id FROM friendships WHERE user_a IN " SCOPE_USERS
             " OR user_b IN " SCOPE_USERS
             " UNION SELECT block_id FROM blocks WHERE blocker_id IN " SCOPE_USERS
             " UNION SELECT session_id FROM sessions WHERE user_id IN " SCOPE_USERS
             " UNION SELECT booking_id FROM bookings WHERE client_id IN " SCOPE_USERS
             " UNION SELECT p.payment_id FROM payments p JOIN bookings b USING (booking_id)"
             " WHERE b.client_id IN " SCOPE_USERS ";"
             " ANALYZE lg_scope_users; ANALYZE lg_scope_rooms; ANALYZE lg_scope_aggregates",
             users,
             v->o->scope == LG_SCOPE_ALL
                 ? "true"
                 : "room_id IN (SELECT room_id FROM room_members WHERE user_id IN "
                   "(SELECT user_id FROM lg_scope_users))");
    PGresult *r = pg_query(v, sql);
    if (!r)
        return false;
    PQclear(r);
    if (v->o->scope == LG_SCOPE_ALL)
        return true;
    r = pg_query(v, "SELECT id::text FROM lg_scope_aggregates");
    if (!r)
        return false;
    for (int i = 0; i < PQntuples(r); i++)
        lg_strmap_put(&v->scope_ids, PQgetvalue(r, i, 0), NULL);
    PQclear(r);
    return true;
}

/* ---- catch-up ---- */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool wait_run_scope(const lg_verify_opts_t *o, double timeout_s, char *errbuf, size_t errcap)
{
    lg_verify_result_t res;
    memset(&res, 0, sizeof res);
    vctx_t v = {.o = o, .res = &res, .err = errbuf, .errcap = errcap};
    bool ok = false;
    if (!vctx_open(&v))
        goto done;
    double t0 = mono_s();
    int zero_rounds = 0;
    for (;;) {
        lg_strmap_free(&v.scope_ids, NULL);
        long behind = make_scope(&v) ? watermarks_behind(&v) : -1;
        if (v.failed)
            goto done;
        zero_rounds = behind == 0 ? zero_rounds + 1 : 0;
        if (zero_rounds >= 2) {
            ok = true;
            break;
        }
        double el = mono_s() - t0;
        if (el > timeout_s) {
            snprintf(errbuf, errcap,
                     "the run's watermarks did not catch up within %.0f s (%ld behind)", timeout_s,
                     behind);
            break;
        }
        if (o->progress)
            fprintf(stderr, "waiting for the run's watermarks: %ld behind, %.0f s\n", behind, el);
        sleep(1);
    }
done:
    vctx_close(&v);
    return ok;
}

bool lg_wait_caught_up(const lg_verify_opts_t *o, double timeout_s, char *errbuf, size_t errcap)
{
    if (o->scope == LG_SCOPE_RUN)
        return wait_run_scope(o, timeout_s, errbuf, errcap);
    PGconn *pg = PQconnectdb(o->pg_url);
    if (PQstatus(pg) != CONNECTION_OK) {
        snprintf(errbuf, errcap, "PostgreSQL %s: %s", o->pg_url, PQerrorMessage(pg));
        PQfinish(pg);
        return false;
    }
    double t0 = mono_s(), last_print = 0;
    bool ok = false;
    int zero_rounds = 0;
    for (;;) {
        PGresult *r = PQexec(pg, "SELECT count(*) FROM outbox");
        long outbox =
            PQresultStatus(r) == PGRES_TUPLES_OK ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
        PQclear(r);
        long behind = lg_metrics_scrape_long(o->projector_url, "hl_projector_offsets_behind");
        double el = mono_s() - t0;
        if (outbox == 0 && behind <= 0)
            zero_rounds++;
        else
            zero_rounds = 0;
        /* twice in a row, 1 s apart: Debezium publishes CDC a moment after the commit */
        if (zero_rounds >= 2) {
            ok = true;
            break;
        }
        if (el - last_print >= (o->progress ? 1.0 : 15.0)) {
            fprintf(stderr, "%swaiting for the projector: outbox %ld, offsets behind %ld, %.0f s%s",
                    o->progress ? "\r" : "", outbox, behind, el, o->progress ? "   " : "\n");
            last_print = el;
        }
        if (el > timeout_s) {
            snprintf(errbuf, errcap,
                     "the projector did not catch up within %.0f s (outbox %ld, offsets behind "
                     "%ld)",
                     timeout_s, outbox, behind);
            break;
        }
        sleep(1);
    }
    if (o->progress && last_print > 0)
        fputc('\n', stderr);
    PQfinish(pg);
    return ok;
}

/* ---- a pass ---- */

typedef bool (*model_fn)(vctx_t *v);

static const struct {
    const char *name;
    model_fn fn;
} models[] = {
    {"user_profiles", model_user_profiles},
    {"user_names", model_user_names},
    {"sessions", model_sessions},
    {"chat_rooms", model_chat_rooms},
    {"room_members", model_room_members},
    {"messages", model_messages},
    {"friends", model_friends},
    {"friend_requests", model_friend_requests},
    {"user_counters", model_user_counters},
    {"inbox", model_inbox},
    {"notifications", model_notifications},
    {"daily_active_users", model_daily_active_users},
    {"daily_stats", model_daily_stats},
    {"watermarks", model_watermarks},
    {"friend_requests_by_user", model_friend_requests_by_user},
    {"notification_reads", model_notification_reads},
    {"counsellors", model_counsellors},
    {"slots", model_slots},
    {"bookings", model_bookings},
    {"bookings_by_user", model_bookings_by_user},
    {"jobs", model_jobs},
    {"daily_bookings", model_daily_bookings},
};

static bool one_pass(vctx_t *v)
{
    v->mismatches = 0;
    v->res->nmodels = 0;
    if (!make_scope(v))
        return false;
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        v->model = v->res->nmodels++;
        v->res->model[v->model] = models[i].name;
        v->res->model_mismatches[v->model] = 0;
        v->res->model_documents[v->model] = 0;
        double t = mono_s();
        if (!models[i].fn(v))
            return false;
        if (v->o->progress)
            fprintf(stderr, "verify %-20s %8ld documents %6ld mismatches  %.1f s\n", models[i].name,
                    v->res->model_documents[v->model], v->res->model_mismatches[v->model],
                    mono_s() - t);
    }
    lg_strmap_free(&v->scope_ids, NULL);
    return true;
}

/* mongoc's own log: errors only (FerretDB answers endSessions with a harmless warning) */
static void quiet_log(mongoc_log_level_t level, const char *domain, const char *message, void *ud)
{
    (void)ud;
    if (level <= MONGOC_LOG_LEVEL_ERROR)
        fprintf(stderr, "mongoc %s: %s\n", domain, message);
}

/* mongoc_init once per process, mongoc_cleanup at exit: contexts nest (lg_verify_run opens one
 * and lg_wait_caught_up another inside it), and mongoc_cleanup frees the driver's global
 * handshake data, which a client still open then reads on its next server scan (ASan:
 * heap-use-after-free in _mongoc_handshake_build_doc_with_application). */
static void mongoc_once(void)
{
    mongoc_init();
    mongoc_log_set_handler(quiet_log, NULL);
    atexit(mongoc_cleanup);
}

/* Connections and the event catalog of a verification context. */
static bool vctx_open(vctx_t *v)
{
    const lg_verify_opts_t *o = v->o;
    hl_error_t e = {0};
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, mongoc_once);
    v->pg = PQconnectdb(o->pg_url);
    if (PQstatus(v->pg) != CONNECTION_OK)
        return fail(v, "PostgreSQL %s: %s", o->pg_url, PQerrorMessage(v->pg));
    PGresult *set = pg_query(v, "SET client_min_messages = warning");
    if (!set)
        return false;
    PQclear(set);
    bson_error_t be;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(o->mongo_uri, &be);
    if (!uri)
        return fail(v, "bad MongoDB URI %s: %s", o->mongo_uri, be.message);
    v->client = mongoc_client_new_from_uri(uri);
    mongoc_uri_destroy(uri);
    if (!v->client)
        return fail(v, "cannot create a MongoDB client for %s", o->mongo_uri);
    mongoc_client_set_appname(v->client, "hl-loadgen-verify");
    v->db = mongoc_client_get_database(v->client, o->mongo_db);
    v->catalog =
        hl_event_catalog_load(o->schemas_dir ? o->schemas_dir : HL_DEFAULT_SCHEMAS_DIR, &e);
    if (!v->catalog)
        return fail(v, "schemas: %s", e.message);
    return true;
}

static void vctx_close(vctx_t *v)
{
    lg_strmap_free(&v->scope_ids, NULL);
    hl_event_catalog_destroy(v->catalog);
    if (v->db)
        mongoc_database_destroy(v->db);
    if (v->client)
        mongoc_client_destroy(v->client);
    PQfinish(v->pg);
    memset(v, 0, sizeof *v);
}

/* How far the scope is behind: watermarks (run scope) or the projector's offsets. */
static long scope_behind(vctx_t *v)
{
    if (v->o->scope == LG_SCOPE_RUN)
        return watermarks_behind(v);
    return lg_metrics_scrape_long(v->o->projector_url, "hl_projector_offsets_behind");
}

bool lg_verify_run(const lg_verify_opts_t *o, lg_verify_result_t *res, char *errbuf, size_t errcap)
{
    memset(res, 0, sizeof *res);
    vctx_t v = {.o = o, .res = res, .err = errbuf, .errcap = errcap};
    bool ok = false;
    double t0 = mono_s();
    if (!vctx_open(&v))
        goto done;
    char werr[512] = "";
    res->caught_up = lg_wait_caught_up(o, o->timeout_s, werr, sizeof werr);
    if (!res->caught_up)
        fprintf(stderr, "hl-loadgen: %s; comparing anyway\n", werr);
    res->wait_s = mono_s() - t0;
    double deadline = t0 + o->timeout_s, tv = mono_s();
    uint64_t prev = 0;
    for (;;) {
        v.out = bson_string_new("");
        res->passes++;
        if (!one_pass(&v)) {
            bson_string_free(v.out, true);
            v.out = NULL;
            goto done;
        }
        res->mismatches = v.mismatches;
        uint64_t sig = hl_fnv1a64(v.out->str) ^ (uint64_t)v.mismatches;
        long behind = scope_behind(&v);
        if (v.mismatches == 0 || mono_s() > deadline || (sig == prev && behind <= 0))
            break;
        fprintf(stderr, "verify pass %d: %ld mismatches (behind %ld); comparing again\n",
                res->passes, v.mismatches, behind);
        prev = sig;
        bson_string_free(v.out, true);
        v.out = NULL;
        sleep(3);
    }
    res->verify_s = mono_s() - tv;
    fputs(v.out->str, stdout);
    bson_string_free(v.out, true);
    fprintf(stderr, "verification (%s scope):\n",
            o->scope == LG_SCOPE_ALL   ? "all"
            : o->scope == LG_SCOPE_RUN ? "run"
                                       : "loadgen");
    for (int i = 0; i < res->nmodels; i++)
        fprintf(stderr, "  %-20s %9ld documents %7ld mismatches\n", res->model[i],
                res->model_documents[i], res->model_mismatches[i]);
    ok = true;
done:
    vctx_close(&v);
    return ok;
}
