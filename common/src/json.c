#include "hl/json.h"

#include <string.h>

size_t hl_utf8_length(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            n++;
    return n;
}

bool hl_json_parse_object(const char *body, size_t len, bson_t *out, hl_error_t *err)
{
    if (!body || len == 0)
        return hl_error_set_reason(err, HL_ERR_INPUT, 400, "malformed-json",
                                   "the request body is empty; a JSON object is expected");
    if (!bson_utf8_validate(body, len, false))
        return hl_error_set_reason(err, HL_ERR_INPUT, 400, "invalid-utf8",
                                   "the request body is not valid UTF-8");
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i == len || body[i] != '{')
        return hl_error_set_reason(err, HL_ERR_INPUT, 400, "malformed-json",
                                   "the request body must be a JSON object");
    bson_error_t berr;
    bson_t tmp = BSON_INITIALIZER;
    bson_json_reader_t *reader = bson_json_data_reader_new(false, len);
    bson_json_data_reader_ingest(reader, (const uint8_t *)body, len);
    int rc = bson_json_reader_read(reader, &tmp, &berr);
    if (rc != 1) {
        bson_json_reader_destroy(reader);
        bson_destroy(&tmp);
        return hl_error_set_reason(err, HL_ERR_INPUT, 400, "malformed-json",
                                   "the request body is not valid JSON: %s",
                                   rc < 0 ? berr.message : "no document");
    }
    bson_t extra = BSON_INITIALIZER;
    rc = bson_json_reader_read(reader, &extra, &berr);
    bson_destroy(&extra);
    bson_json_reader_destroy(reader);
    if (rc != 0) {
        bson_destroy(&tmp);
        return hl_error_set_reason(err, HL_ERR_INPUT, 400, "malformed-json",
                                   "the request body holds more than one JSON value");
    }
    bson_steal(out, &tmp);
    return true;
}

const char *hl_json_get_string(const bson_t *doc, const char *key, uint32_t *len)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it))
        return NULL;
    return bson_iter_utf8(&it, len);
}

static bool check_string(const char *field, const char *s, uint32_t blen, long long min,
                         long long max, hl_error_t *err)
{
    if (memchr(s, '\0', blen))
        return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                                   "field \"%s\" must not contain NUL characters", field);
    long long cps = (long long)hl_utf8_length(s, blen);
    if (cps < min || cps > max)
        return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                                   "field \"%s\" must be %lld to %lld characters long, got %lld",
                                   field, min, max, cps);
    return true;
}

static const char *kind_name(hl_json_kind_t k)
{
    switch (k) {
    case HL_JSON_STRING:
        return "a string";
    case HL_JSON_INT:
        return "an integer";
    case HL_JSON_BOOL:
        return "a boolean";
    case HL_JSON_STRING_ARRAY:
        return "an array of strings";
    }
    return "?";
}

static bool check_field(const hl_json_field_t *f, bson_iter_t *it, hl_error_t *err)
{
    switch (f->kind) {
    case HL_JSON_STRING: {
        if (!BSON_ITER_HOLDS_UTF8(it))
            break;
        uint32_t blen = 0;
        const char *s = bson_iter_utf8(it, &blen);
        return check_string(f->name, s, blen, f->min_len, f->max_len, err);
    }
    case HL_JSON_INT: {
        if (!BSON_ITER_HOLDS_INT32(it) && !BSON_ITER_HOLDS_INT64(it))
            break;
        long long v = bson_iter_as_int64(it);
        if (v < f->min_len || v > f->max_len)
            return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                                       "field \"%s\" must be between %lld and %lld", f->name,
                                       f->min_len, f->max_len);
        return true;
    }
    case HL_JSON_BOOL:
        if (!BSON_ITER_HOLDS_BOOL(it))
            break;
        return true;
    case HL_JSON_STRING_ARRAY: {
        if (!BSON_ITER_HOLDS_ARRAY(it))
            break;
        bson_iter_t child;
        if (!bson_iter_recurse(it, &child))
            break;
        long long count = 0;
        while (bson_iter_next(&child)) {
            if (!BSON_ITER_HOLDS_UTF8(&child))
                return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                                           "field \"%s\" must hold only strings", f->name);
            uint32_t blen = 0;
            const char *s = bson_iter_utf8(&child, &blen);
            if (!check_string(f->name, s, blen, 1, f->item_max_len, err))
                return false;
            count++;
        }
        if (count < f->min_len || count > f->max_len)
            return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                                       "field \"%s\" must have %lld to %lld items, got %lld",
                                       f->name, f->min_len, f->max_len, count);
        return true;
    }
    }
    return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                               "field \"%s\" must be %s", f->name, kind_name(f->kind));
}

bool hl_json_check(const bson_t *doc, const hl_json_field_t *fields, size_t n, hl_error_t *err)
{
    bool seen[64] = {false};
    if (n > 64)
        return hl_error_set(err, HL_ERR_SYSTEM, 0, "too many fields in a JSON field table");
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return hl_error_set_reason(err, HL_ERR_INPUT, 400, "malformed-json", "corrupt document");
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        size_t i = 0;
        while (i < n && strcmp(fields[i].name, key) != 0)
            i++;
        if (i == n)
            return hl_error_set_reason(err, HL_ERR_INPUT, 422, "unknown-field",
                                       "unknown field \"%.64s\"", key);
        if (seen[i])
            return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                                       "field \"%s\" appears more than once", key);
        seen[i] = true;
        if (!check_field(&fields[i], &it, err))
            return false;
    }
    for (size_t i = 0; i < n; i++)
        if (fields[i].required && !seen[i])
            return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                                       "field \"%s\" is required", fields[i].name);
    return true;
}
