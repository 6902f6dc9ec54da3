/* lg_bson_cmp.c: BSON value comparison and text (see lg_bson_cmp.h). */
#include "lg_bson_cmp.h"

#include "hl/util.h"

#include <stdio.h>
#include <string.h>

bool lg_bson_is_number(bson_type_t t)
{
    return t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64 || t == BSON_TYPE_DOUBLE;
}

bool lg_bson_docs_equal(const bson_t *x, const bson_t *y, bool as_set)
{
    bson_iter_t it, jt;
    uint32_t nx = bson_count_keys(x), ny = bson_count_keys(y);
    if (nx != ny)
        return false;
    if (as_set) {
        if (!bson_iter_init(&it, x))
            return false;
        while (bson_iter_next(&it)) {
            bool found = false;
            if (!bson_iter_init(&jt, y))
                return false;
            while (!found && bson_iter_next(&jt))
                found = lg_bson_values_equal(&it, &jt);
            if (!found)
                return false;
        }
        return true;
    }
    if (!bson_iter_init(&it, x))
        return false;
    while (bson_iter_next(&it)) {
        if (!bson_iter_init_find(&jt, y, bson_iter_key(&it)) || !lg_bson_values_equal(&it, &jt))
            return false;
    }
    return true;
}

bool lg_bson_values_equal(const bson_iter_t *a, const bson_iter_t *b)
{
    bson_type_t ta = bson_iter_type(a), tb = bson_iter_type(b);
    if (lg_bson_is_number(ta) && lg_bson_is_number(tb)) {
        if (ta == BSON_TYPE_DOUBLE || tb == BSON_TYPE_DOUBLE)
            return bson_iter_as_double(a) == bson_iter_as_double(b);
        return bson_iter_as_int64(a) == bson_iter_as_int64(b);
    }
    if (ta != tb)
        return false;
    switch (ta) {
    case BSON_TYPE_UTF8: {
        uint32_t la = 0, lb = 0;
        const char *sa = bson_iter_utf8(a, &la), *sb = bson_iter_utf8(b, &lb);
        return la == lb && !memcmp(sa, sb, la);
    }
    case BSON_TYPE_BOOL:
        return bson_iter_bool(a) == bson_iter_bool(b);
    case BSON_TYPE_NULL:
        return true;
    case BSON_TYPE_DATE_TIME:
        return bson_iter_date_time(a) == bson_iter_date_time(b);
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY: {
        uint32_t la = 0, lb = 0;
        const uint8_t *da = NULL, *db = NULL;
        bson_t x, y;
        if (ta == BSON_TYPE_DOCUMENT) {
            bson_iter_document(a, &la, &da);
            bson_iter_document(b, &lb, &db);
        } else {
            bson_iter_array(a, &la, &da);
            bson_iter_array(b, &lb, &db);
        }
        if (!bson_init_static(&x, da, la) || !bson_init_static(&y, db, lb))
            return false;
        return lg_bson_docs_equal(&x, &y, ta == BSON_TYPE_ARRAY);
    }
    default:
        return false;
    }
}

void lg_bson_compare_fields(const bson_t *want, const bson_t *doc, bool zero_if_absent,
                            lg_bson_diff_fn on_diff, void *ud)
{
    bson_iter_t it, jt;
    if (!bson_iter_init(&it, want))
        return;
    while (bson_iter_next(&it)) {
        const char *field = bson_iter_key(&it);
        bool found = bson_iter_init_find(&jt, doc, field);
        if (!found) {
            if (BSON_ITER_HOLDS_NULL(&it))
                continue;
            if (zero_if_absent && lg_bson_is_number(bson_iter_type(&it)) &&
                bson_iter_as_int64(&it) == 0)
                continue;
            on_diff(ud, field, &it, NULL);
            continue;
        }
        if (!lg_bson_values_equal(&it, &jt))
            on_diff(ud, field, &it, &jt);
    }
}

void lg_bson_value_text(const bson_iter_t *it, char *out, size_t cap)
{
    if (!it) {
        snprintf(out, cap, "(absent)");
        return;
    }
    switch (bson_iter_type(it)) {
    case BSON_TYPE_UTF8: {
        uint32_t len = 0;
        const char *s = bson_iter_utf8(it, &len);
        snprintf(out, cap, "\"%.*s%s\"", len > 120 ? 120 : (int)len, s, len > 120 ? "…" : "");
        for (char *p = out; *p; p++)
            if (*p == '\n' || *p == '\t')
                *p = ' ';
        break;
    }
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64:
        snprintf(out, cap, "%lld", (long long)bson_iter_as_int64(it));
        break;
    case BSON_TYPE_DOUBLE:
        snprintf(out, cap, "%g", bson_iter_double(it));
        break;
    case BSON_TYPE_BOOL:
        snprintf(out, cap, "%s", bson_iter_bool(it) ? "true" : "false");
        break;
    case BSON_TYPE_NULL:
        snprintf(out, cap, "null");
        break;
    case BSON_TYPE_DATE_TIME: {
        char t[40];
        hl_format_rfc3339_us(bson_iter_date_time(it) * 1000, t, sizeof t);
        snprintf(out, cap, "%s", t);
        break;
    }
    default: {
        bson_t sub;
        uint32_t len = 0;
        const uint8_t *data = NULL;
        if (BSON_ITER_HOLDS_DOCUMENT(it) || BSON_ITER_HOLDS_ARRAY(it)) {
            if (BSON_ITER_HOLDS_DOCUMENT(it))
                bson_iter_document(it, &len, &data);
            else
                bson_iter_array(it, &len, &data);
            if (bson_init_static(&sub, data, len)) {
                char *j = bson_as_relaxed_extended_json(&sub, NULL);
                snprintf(out, cap, "%.200s", j ? j : "?");
                bson_free(j);
                return;
            }
        }
        snprintf(out, cap, "(bson type %d)", (int)bson_iter_type(it));
    }
    }
}
