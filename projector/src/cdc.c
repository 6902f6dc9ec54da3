#include "cdc.h"

#include "hl/util.h"

#include <stdio.h>
#include <string.h>

static bool bad(hl_error_t *err, const char *what)
{
    return hl_error_set_reason(err, HL_ERR_INPUT, 0, "bad-envelope", "Debezium envelope: %s", what);
}

static bool get_int(const bson_t *doc, const char *dotted, int64_t *out)
{
    bson_iter_t it, f;
    if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, dotted, &f))
        return false;
    if (BSON_ITER_HOLDS_INT32(&f) || BSON_ITER_HOLDS_INT64(&f)) {
        *out = bson_iter_as_int64(&f);
        return true;
    }
    return false;
}

bool pj_cdc_parse(const char *json, size_t len, pj_cdc_change_t *out, hl_error_t *err)
{
    memset(out, 0, sizeof *out);
    bson_t doc;
    bson_error_t berr;
    if (!json || !len || !bson_init_from_json(&doc, json, (ssize_t)len, &berr))
        return bad(err, "value is not a JSON object");
    bool ok = false;
    bson_iter_t it;
    const char *op = NULL;
    if (bson_iter_init_find(&it, &doc, "op") && BSON_ITER_HOLDS_UTF8(&it))
        op = bson_iter_utf8(&it, NULL);
    if (!op || strlen(op) != 1 || !strchr("cudr", op[0])) {
        bad(err, "missing or unknown \"op\"");
        goto done;
    }
    char opc = op[0];
    if (!get_int(&doc, "source.lsn", &out->lsn) || !get_int(&doc, "source.ts_ms", &out->ts_ms)) {
        bad(err, "missing source.lsn or source.ts_ms");
        goto done;
    }
    bson_iter_t t;
    if (bson_iter_init(&it, &doc) && bson_iter_find_descendant(&it, "source.table", &t) &&
        BSON_ITER_HOLDS_UTF8(&t))
        snprintf(out->table, sizeof out->table, "%s", bson_iter_utf8(&t, NULL));
    const char *image = opc == 'd' ? "before" : "after";
    uint32_t dlen = 0;
    const uint8_t *data = NULL;
    if (!bson_iter_init_find(&it, &doc, image) || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
        bad(err, opc == 'd' ? "delete without \"before\" image" : "missing \"after\" image");
        goto done;
    }
    bson_iter_document(&it, &dlen, &data);
    bson_t view; /* points into doc, which is destroyed below: copy it */
    if (!bson_init_static(&view, data, dlen)) {
        bad(err, "row image is corrupt");
        goto done;
    }
    bson_copy_to(&view, &out->row);
    out->op = opc;
    if (opc == 'u' && bson_iter_init_find(&it, &doc, "before") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        bson_iter_document(&it, &dlen, &data);
        bson_t before;
        if (!bson_init_static(&before, data, dlen)) {
            bson_destroy(&out->row);
            out->op = 0;
            bad(err, "before image is corrupt");
            goto done;
        }
        bson_copy_to(&before, &out->before);
        out->has_before = true;
    }
    ok = true;
done:
    bson_destroy(&doc);
    return ok;
}

void pj_cdc_change_destroy(pj_cdc_change_t *c)
{
    if (c && c->op)
        bson_destroy(&c->row);
    if (c && c->has_before)
        bson_destroy(&c->before);
    if (c) {
        c->op = 0;
        c->has_before = false;
    }
}

bool pj_cdc_timestamp_us(const bson_t *row, const char *column, int64_t *us)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, row, column))
        return false;
    if (BSON_ITER_HOLDS_UTF8(&it))
        return hl_parse_rfc3339_us(bson_iter_utf8(&it, NULL), us);
    if (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)) {
        *us = bson_iter_as_int64(&it);
        return true;
    }
    return false;
}

void pj_fold_case(const char *in, char *out, size_t cap)
{
    hl_fold_ascii(in, out, cap);
}

static const char *row_string(const bson_t *row, const char *col)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, row, col) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

bool pj_user_profile_from_cdc(const pj_cdc_change_t *c, bson_t *filter, bson_t *update,
                              bool *is_delete, hl_error_t *err)
{
    const bson_t *row = &c->row;
    const char *id = row_string(row, "user_id");
    int64_t version = 0, created = 0, updated = 0;
    bool has_version = get_int(row, "version", &version);
    *is_delete = c->op == 'd';
    /* a delete's before image carries only the key (other columns are placeholders) */
    if (!id || !hl_uuid_valid(id) || (!*is_delete && !has_version))
        return hl_error_set_reason(err, HL_ERR_INPUT, 0, "bad-row",
                                   "users row lacks user_id or version");
    bson_init(filter);
    bson_init(update);
    BSON_APPEND_UTF8(filter, "_id", id);
    if (*is_delete)
        return true;
    const char *name = row_string(row, "display_name");
    const char *bio = row_string(row, "bio");
    const char *avatar = row_string(row, "avatar_url");
    const char *presence = row_string(row, "presence");
    if (!name || !bio || !avatar || !presence ||
        !pj_cdc_timestamp_us(row, "created_at", &created) ||
        !pj_cdc_timestamp_us(row, "updated_at", &updated)) {
        bson_destroy(filter);
        bson_destroy(update);
        return hl_error_set_reason(err, HL_ERR_INPUT, 0, "bad-row",
                                   "users row %s lacks a profile column", id);
    }
    bson_t cond, set, src;
    BSON_APPEND_DOCUMENT_BEGIN(filter, "version", &cond);
    BSON_APPEND_INT64(&cond, "$lt", version);
    bson_append_document_end(filter, &cond);
    char lower[512];
    pj_fold_case(name, lower, sizeof lower);
    BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set);
    BSON_APPEND_UTF8(&set, "display_name", name);
    BSON_APPEND_UTF8(&set, "display_name_lower", lower);
    BSON_APPEND_UTF8(&set, "bio", bio);
    BSON_APPEND_UTF8(&set, "avatar_url", avatar);
    BSON_APPEND_UTF8(&set, "presence", presence);
    /* whether the user ever set it (migration 008; absent in rows captured before: false) */
    bson_iter_t ps;
    BSON_APPEND_BOOL(&set, "presence_set",
                     bson_iter_init_find(&ps, row, "presence_set") && BSON_ITER_HOLDS_BOOL(&ps) &&
                         bson_iter_bool(&ps));
    /* The uploaded avatar (command-server/sql/009_avatars.sql): object keys served by the
     * gateway under /media/; null when none. Rows from before the columns existed leave the
     * field alone. */
    const char *a512 = row_string(row, "avatar_512");
    const char *a128 = row_string(row, "avatar_128");
    int64_t aversion = 0;
    if (a512 && a128 && a512[0] && a128[0] && get_int(row, "avatar_version", &aversion)) {
        bson_t av;
        char url[600];
        BSON_APPEND_DOCUMENT_BEGIN(&set, "avatar", &av);
        snprintf(url, sizeof url, "/media/%s", a512);
        BSON_APPEND_UTF8(&av, "url_512", url);
        snprintf(url, sizeof url, "/media/%s", a128);
        BSON_APPEND_UTF8(&av, "url_128", url);
        BSON_APPEND_INT64(&av, "version", aversion);
        bson_append_document_end(&set, &av);
    } else if (a512 && a128) {
        BSON_APPEND_NULL(&set, "avatar");
    }
    BSON_APPEND_DATE_TIME(&set, "created_at", created / 1000);
    BSON_APPEND_DATE_TIME(&set, "updated_at", updated / 1000);
    BSON_APPEND_INT64(&set, "version", version);
    BSON_APPEND_DOCUMENT_BEGIN(&set, "source", &src);
    BSON_APPEND_INT64(&src, "lsn", c->lsn);
    BSON_APPEND_INT64(&src, "ts_ms", c->ts_ms);
    bson_append_document_end(&set, &src);
    bson_append_document_end(update, &set);
    return true;
}
