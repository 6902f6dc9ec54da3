/* cdc_models.c: the CDC read models' mappings, table-driven (cdc_models.h). */
#include "cdc_models.h"
#include "model_parts.h"

#include "hl/consistency.h"
#include "hl/events.h"
#include "hl/util.h"

#include <stdio.h>
#include <string.h>

const char *const pj_cdc_models[] = {"user_profiles", "user_names", "sessions", "chat_rooms",
                                     "room_members",  "messages",   "jobs",     NULL};

/* C_JSON(_OPT): a json/jsonb column (Debezium io.debezium.data.Json: the JSON text), stored as
 * the document or array it holds. */
typedef enum { C_STR, C_STR_OPT, C_TS, C_TS_OPT, C_LONG, C_JSON, C_JSON_OPT } col_type_t;
typedef struct {
    const char *name;
    col_type_t type;
} col_t;

typedef struct {
    const char *table;
    const char *model;
    /* the primary-key columns (all a delete's before image carries): _id = key[0] or
     * "key[0]:key[1]"; a key column declared C_LONG in cols is an integer (zero-padded to
     * PJ_SEQ_DIGITS, so _id order is numeric order), any other is a uuid string */
    const char *key[2];
    const char *version_col; /* aggregate version guard */
    const char *wm_col;      /* watermark key: the aggregate id column */
    col_t cols[12];
} table_spec_t;

static const table_spec_t specs[] = {
    {"sessions",
     "sessions",
     {"session_id", NULL},
     "version",
     "session_id",
     {{"user_id", C_STR},
      {"created_at", C_TS},
      {"expires_at", C_TS},
      {"revoked_at", C_TS_OPT},
      {"version", C_LONG}}},
    {"chat_rooms",
     "chat_rooms",
     {"room_id", NULL},
     "version",
     "room_id",
     {{"kind", C_STR},
      {"title", C_STR_OPT},
      {"created_by", C_STR},
      {"direct_key", C_STR_OPT},
      {"last_seq", C_LONG},
      {"created_at", C_TS},
      {"updated_at", C_TS},
      {"version", C_LONG}}},
    {"room_members",
     "room_members",
     {"room_id", "user_id"},
     "room_version",
     "room_id",
     {{"room_id", C_STR},
      {"user_id", C_STR},
      {"joined_at", C_TS},
      {"last_read_seq", C_LONG},
      {"room_version", C_LONG}}},
    {"messages",
     "messages",
     {"room_id", "seq"},
     "room_version",
     "room_id",
     {{"message_id", C_STR},
      {"room_id", C_STR},
      {"seq", C_LONG},
      {"sender_id", C_STR},
      {"body", C_STR},
      {"client_message_id", C_STR},
      {"created_at", C_TS},
      {"room_version", C_LONG}}},
    {"jobs",
     "jobs",
     {"job_id", NULL},
     "version",
     "job_id",
     {{"owner_id", C_STR},
      {"kind", C_STR},
      {"status", C_STR},
      {"booking_id", C_STR},
      {"steps", C_JSON},
      {"result", C_JSON_OPT},
      {"error", C_JSON_OPT},
      {"created_at", C_TS},
      {"updated_at", C_TS},
      {"version", C_LONG}}},
};
#define NSPECS (sizeof specs / sizeof specs[0])

const char *pj_cdc_model_of(const char *table)
{
    if (!strcmp(table, "users"))
        return "user_profiles";
    for (size_t i = 0; i < NSPECS; i++)
        if (!strcmp(specs[i].table, table))
            return specs[i].model;
    return NULL;
}

bool pj_cdc_feeds(const char *table, const char *model)
{
    if (!strcmp(table, "users") && !strcmp(model, "user_names"))
        return true;
    const char *m = pj_cdc_model_of(table);
    return m && !strcmp(m, model);
}

static bool bad_row(hl_error_t *err, const char *table, const char *col)
{
    return hl_error_set_reason(err, HL_ERR_INPUT, 0, "bad-row",
                               "%s row: column %s missing or ill-typed", table, col);
}

static const char *row_str(const bson_t *row, const char *col)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, row, col) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

static bool row_null(const bson_t *row, const char *col)
{
    bson_iter_t it;
    return !bson_iter_init_find(&it, row, col) || BSON_ITER_HOLDS_NULL(&it);
}

static bool row_long(const bson_t *row, const char *col, int64_t *out)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, row, col) &&
        (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it))) {
        *out = bson_iter_as_int64(&it);
        return true;
    }
    return false;
}

/* Whether column col of spec s is declared an integer (C_LONG). */
static bool spec_col_is_long(const table_spec_t *s, const char *col)
{
    for (const col_t *c = s->cols; c->name; c++)
        if (!strcmp(c->name, col))
            return c->type == C_LONG;
    return false;
}

/* The key text of column col of a row into out[cap]: a uuid string, or for an integer key
 * column a non-negative integer as PJ_SEQ_DIGITS zero-padded digits. Anything else (another
 * JSON type, an empty or oversized string, a negative number) is not a key: false. */
static bool key_part(const table_spec_t *s, const bson_t *row, const char *col, char *out,
                     size_t cap)
{
    int64_t n = 0;
    if (spec_col_is_long(s, col)) {
        if (!row_long(row, col, &n) || n < 0 || cap <= PJ_SEQ_DIGITS)
            return false;
        pj_seq_key(n, out, cap);
        return true;
    }
    const char *str = row_str(row, col);
    if (!str || !hl_uuid_valid(str) || strlen(str) >= cap)
        return false;
    memcpy(out, str, strlen(str) + 1);
    return true;
}

/* The _id of a row of spec s (key columns, models.h) into out[cap]; false = bad-row in err. */
static bool spec_id(const table_spec_t *s, const bson_t *row, char *out, size_t cap,
                    hl_error_t *err)
{
    char a[64], b[64];
    if (!key_part(s, row, s->key[0], a, sizeof a))
        return bad_row(err, s->table, s->key[0]);
    if (!s->key[1]) {
        snprintf(out, cap, "%s", a);
        return true;
    }
    if (!key_part(s, row, s->key[1], b, sizeof b))
        return bad_row(err, s->table, s->key[1]);
    snprintf(out, cap, "%s:%s", a, b);
    return true;
}

/* Append key: the JSON value text (an object or array) as a BSON document or array. */
static bool append_json(bson_t *doc, const char *key, const char *text)
{
    bson_string_t *wrapped = bson_string_new("{\"v\": ");
    bson_string_append(wrapped, text);
    bson_string_append(wrapped, "}");
    bson_t parsed;
    bson_error_t berr;
    bool ok = bson_init_from_json(&parsed, wrapped->str, -1, &berr);
    bson_string_free(wrapped, true);
    if (!ok)
        return false;
    bson_iter_t it;
    ok = bson_iter_init_find(&it, &parsed, "v") && bson_append_iter(doc, key, -1, &it);
    bson_destroy(&parsed);
    return ok;
}

static bool spec_plan(const table_spec_t *s, const pj_cdc_change_t *c, pj_plan_t *plan,
                      hl_error_t *err)
{
    const bson_t *row = &c->row;
    char id[160];
    if (!spec_id(s, row, id, sizeof id, err))
        return false;
    plan->source_ms = c->ts_ms;
    if (c->op == 'd') {
        /* the before image of a delete carries only the key: address the document by _id */
        pj_op_t *op = pj_plan_add(plan, PJ_OP_DELETE, s->model);
        BSON_APPEND_UTF8(&op->filter, "_id", id);
        return true;
    }
    int64_t version = 0;
    if (!row_long(row, s->version_col, &version))
        return bad_row(err, s->table, s->version_col);
    const char *wm_key = row_str(row, s->wm_col);
    if (!wm_key || !hl_uuid_valid(wm_key))
        return bad_row(err, s->table, s->wm_col);

    pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, s->model);
    BSON_APPEND_UTF8(&op->filter, "_id", id);
    pj_guard_older(&op->filter, s->version_col, version);
    bson_t set, src;
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
    for (const col_t *col = s->cols; col->name; col++) {
        const char *str = NULL;
        int64_t n = 0;
        switch (col->type) {
        case C_STR:
        case C_STR_OPT:
            if ((str = row_str(row, col->name)))
                BSON_APPEND_UTF8(&set, col->name, str);
            else if (col->type == C_STR_OPT && row_null(row, col->name))
                BSON_APPEND_NULL(&set, col->name);
            else
                goto bad;
            break;
        case C_TS:
        case C_TS_OPT:
            if (pj_cdc_timestamp_us(row, col->name, &n))
                BSON_APPEND_DATE_TIME(&set, col->name, n / 1000);
            else if (col->type == C_TS_OPT && row_null(row, col->name))
                BSON_APPEND_NULL(&set, col->name);
            else
                goto bad;
            break;
        case C_LONG:
            if (!row_long(row, col->name, &n))
                goto bad;
            BSON_APPEND_INT64(&set, col->name, n);
            break;
        case C_JSON:
        case C_JSON_OPT:
            if ((str = row_str(row, col->name))) {
                if (!append_json(&set, col->name, str))
                    goto bad;
            } else if (col->type == C_JSON_OPT && row_null(row, col->name)) {
                BSON_APPEND_NULL(&set, col->name);
            } else {
                goto bad;
            }
            break;
        }
        continue;
    bad:
        bson_append_document_end(&op->update, &set);
        return bad_row(err, s->table, col->name);
    }
    BSON_APPEND_DOCUMENT_BEGIN(&set, "source", &src);
    BSON_APPEND_INT64(&src, "lsn", c->lsn);
    BSON_APPEND_INT64(&src, "ts_ms", c->ts_ms);
    bson_append_document_end(&set, &src);
    bson_append_document_end(&op->update, &set);
    char input[48];
    snprintf(input, sizeof input, "cdc.%s", s->table);
    pj_plan_watermark(plan, input, wm_key, version);
    plan->source_ms = c->ts_ms;
    return true;
}

/* user_names from a users change (models.h): upsert the current name's key, delete the key of
 * the before image's name when it differs, or every key of a deleted user. */
static bool plan_user_names(const pj_cdc_change_t *c, pj_plan_t *plan, hl_error_t *err)
{
    const bson_t *row = &c->row;
    const char *id = row_str(row, "user_id");
    if (!id || !hl_uuid_valid(id))
        return bad_row(err, "users", "user_id");
    if (c->op == 'd') {
        pj_op_t *op = pj_plan_add(plan, PJ_OP_DELETE_MANY, "user_names");
        BSON_APPEND_UTF8(&op->filter, "user_id", id);
        return true;
    }
    const char *name = row_str(row, "display_name");
    int64_t version = 0;
    char key[HL_USER_NAME_KEY_MAX], lower[HL_USER_NAME_KEY_MAX];
    if (!name || !hl_user_name_key(name, id, key, sizeof key))
        return bad_row(err, "users", "display_name");
    if (!row_long(row, "version", &version))
        return bad_row(err, "users", "version");
    hl_fold_ascii(name, lower, sizeof lower);
    pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "user_names");
    BSON_APPEND_UTF8(&op->filter, "_id", key);
    pj_guard_older(&op->filter, "version", version);
    bson_t set, src;
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
    BSON_APPEND_UTF8(&set, "user_id", id);
    BSON_APPEND_UTF8(&set, "display_name_lower", lower);
    BSON_APPEND_INT64(&set, "version", version);
    BSON_APPEND_DOCUMENT_BEGIN(&set, "source", &src);
    BSON_APPEND_INT64(&src, "lsn", c->lsn);
    BSON_APPEND_INT64(&src, "ts_ms", c->ts_ms);
    bson_append_document_end(&set, &src);
    bson_append_document_end(&op->update, &set);
    /* a rename seen with its before image (REPLICA IDENTITY FULL): the old key goes, unless a
     * newer change wrote it again (the same name given back later) */
    const char *old = c->has_before ? row_str(&c->before, "display_name") : NULL;
    char old_key[HL_USER_NAME_KEY_MAX];
    if (old && hl_user_name_key(old, id, old_key, sizeof old_key) && strcmp(old_key, key) != 0) {
        bson_t cond;
        op = pj_plan_add(plan, PJ_OP_DELETE, "user_names");
        BSON_APPEND_UTF8(&op->filter, "_id", old_key);
        BSON_APPEND_DOCUMENT_BEGIN(&op->filter, "version", &cond);
        BSON_APPEND_INT64(&cond, "$lt", version);
        bson_append_document_end(&op->filter, &cond);
    }
    return true;
}

bool pj_cdc_plan(const char *table, const pj_cdc_change_t *c, pj_plan_t *plan, hl_error_t *err)
{
    plan->source_ms = c->ts_ms;
    if (!strcmp(table, "users")) {
        bson_t filter, update;
        bool is_delete = false;
        if (!pj_user_profile_from_cdc(c, &filter, &update, &is_delete, err))
            return false;
        pj_op_t *op = pj_plan_add(plan, is_delete ? PJ_OP_DELETE : PJ_OP_UPSERT, "user_profiles");
        bson_copy_to_excluding_noinit(&filter, &op->filter, "", NULL);
        bson_copy_to_excluding_noinit(&update, &op->update, "", NULL);
        bson_destroy(&filter);
        bson_destroy(&update);
        if (!plan_user_names(c, plan, err))
            return false;
        int64_t version = 0;
        bson_iter_t it;
        if (!is_delete && bson_iter_init_find(&it, &c->row, "version"))
            version = bson_iter_as_int64(&it);
        const char *id = row_str(&c->row, "user_id");
        if (!is_delete && id)
            pj_plan_watermark(plan, "cdc.users", id, version);
        return true;
    }
    for (size_t i = 0; i < NSPECS; i++)
        if (!strcmp(specs[i].table, table))
            return spec_plan(&specs[i], c, plan, err);
    return hl_error_set_reason(err, HL_ERR_INPUT, 0, "unknown-table",
                               "no read model for CDC table %s", table);
}
