/* params.c: pure request logic of the query server (see params.h). */
#include "params.h"

#include "hl/util.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool bad_param(hl_error_t *err, const char *name, const char *what)
{
    return hl_error_set_reason(err, HL_ERR_INPUT, 400, "invalid-parameter", "%s must be %s", name,
                               what);
}

/* Strict decimal int64: optional '-', digits only, no overflow. */
static bool parse_i64(const char *text, int64_t *out)
{
    if (!text || !*text || strlen(text) > 20)
        return false;
    const char *p = text[0] == '-' ? text + 1 : text;
    if (!*p)
        return false;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno || !end || *end)
        return false;
    *out = (int64_t)v;
    return true;
}

bool qs_parse_limit(const char *text, int *out, hl_error_t *err)
{
    int64_t v = QS_LIMIT_DEFAULT;
    if (text && (!parse_i64(text, &v) || v < 1 || v > QS_LIMIT_MAX))
        return bad_param(err, "limit", "an integer from 1 to 100");
    *out = (int)v;
    return true;
}

bool qs_parse_int64(const char *name, const char *text, int64_t min, int64_t *out, hl_error_t *err)
{
    int64_t v = 0;
    if (!parse_i64(text, &v) || v < min) {
        char what[64];
        snprintf(what, sizeof what, "an integer >= %" PRId64, min);
        return bad_param(err, name, what);
    }
    *out = v;
    return true;
}

bool qs_parse_bool(const char *name, const char *text, bool *out, hl_error_t *err)
{
    if (text && (!strcmp(text, "true") || !strcmp(text, "1"))) {
        *out = true;
        return true;
    }
    if (text && (!strcmp(text, "false") || !strcmp(text, "0"))) {
        *out = false;
        return true;
    }
    return bad_param(err, name, "true or false");
}

/* Cursor payload: "<kind>1|<num>|<id>|<key>" (key last: it may hold '|'), then base64url. */
bool qs_cursor_encode(char kind, const qs_cursor_t *c, char *out, size_t cap)
{
    char plain[QS_CURSOR_ID_MAX + QS_CURSOR_KEY_MAX + 48];
    if (strchr(c->id, '|'))
        return false;
    int n = snprintf(plain, sizeof plain, "%c1|%" PRId64 "|%s|%s", kind, c->num, c->id, c->key);
    if (n < 0 || (size_t)n >= sizeof plain)
        return false;
    const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    if (sodium_base64_ENCODED_LEN((size_t)n, variant) > cap)
        return false;
    sodium_bin2base64(out, cap, (const unsigned char *)plain, (size_t)n, variant);
    return true;
}

bool qs_cursor_decode(const char *text, char kind, qs_cursor_t *out, hl_error_t *err)
{
    char plain[QS_CURSOR_TEXT_MAX];
    size_t n = 0;
    memset(out, 0, sizeof *out);
    if (!text || !*text || strlen(text) >= QS_CURSOR_TEXT_MAX ||
        sodium_base642bin((unsigned char *)plain, sizeof plain - 1, text, strlen(text), NULL, &n,
                          NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        goto bad;
    plain[n] = '\0';
    if (memchr(plain, '\0', n) || n < 4 || plain[0] != kind || plain[1] != '1' || plain[2] != '|')
        goto bad;
    char *num = plain + 3;
    char *bar1 = strchr(num, '|');
    if (!bar1)
        goto bad;
    *bar1 = '\0';
    char *id = bar1 + 1;
    char *bar2 = strchr(id, '|');
    if (!bar2)
        goto bad;
    *bar2 = '\0';
    const char *key = bar2 + 1;
    if (!parse_i64(num, &out->num) || strlen(id) >= sizeof out->id ||
        strlen(key) >= sizeof out->key)
        goto bad;
    memcpy(out->id, id, strlen(id) + 1);
    memcpy(out->key, key, strlen(key) + 1);
    return true;
bad:
    memset(out, 0, sizeof *out);
    return qs_invalid_cursor(err);
}

bool qs_invalid_cursor(hl_error_t *err)
{
    return hl_error_set_reason(err, HL_ERR_INPUT, 400, "invalid-cursor",
                               "cursor is not a cursor of this list; pass back next_cursor as "
                               "given");
}

bool qs_search_prefix(const char *q, char *out, size_t cap, hl_error_t *err)
{
    size_t n = q ? strlen(q) : 0;
    if (n == 0 || n > QS_QUERY_MAX || n >= cap)
        return bad_param(err, "q", "a prefix of 1 to 64 bytes");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)q[i] < 0x20 || q[i] == 0x7f)
            return bad_param(err, "q", "text without control characters");
    if (!bson_utf8_validate(q, n, false))
        return bad_param(err, "q", "UTF-8 text");
    hl_fold_ascii(q, out, cap);
    return true;
}

/* Length of the UTF-8 sequence starting with byte b (1 for a stray byte). */
static size_t utf8_len(unsigned char b)
{
    return b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
}

bool qs_prefix_upper_bound(const char *prefix, char *out, size_t cap)
{
    size_t n = prefix ? strlen(prefix) : 0;
    if (!n || n >= cap || !bson_utf8_validate(prefix, n, false))
        return false;
    memcpy(out, prefix, n + 1);
    while (n > 0) {
        /* the last character: its first byte is the last byte that is no continuation byte */
        size_t start = n - 1;
        while (start > 0 && ((unsigned char)out[start] & 0xc0) == 0x80)
            start--;
        const unsigned char *c = (const unsigned char *)out + start;
        size_t len = utf8_len(c[0]);
        uint32_t cp = len == 1   ? c[0]
                      : len == 2 ? (uint32_t)(c[0] & 0x1f) << 6 | (c[1] & 0x3f)
                      : len == 3 ? (uint32_t)(c[0] & 0x0f) << 12 | (uint32_t)(c[1] & 0x3f) << 6 |
                                       (c[2] & 0x3f)
                                 : (uint32_t)(c[0] & 0x07) << 18 | (uint32_t)(c[1] & 0x3f) << 12 |
                                       (uint32_t)(c[2] & 0x3f) << 6 | (c[3] & 0x3f);
        n = start;
        if (cp >= 0x10ffff)
            continue; /* no character follows U+10FFFF: bump the one before it */
        cp = cp + 1 == 0xd800 ? 0xe000 : cp + 1; /* surrogates are no characters */
        unsigned char enc[4];
        size_t el = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (el == 1) {
            enc[0] = (unsigned char)cp;
        } else if (el == 2) {
            enc[0] = (unsigned char)(0xc0 | cp >> 6);
            enc[1] = (unsigned char)(0x80 | (cp & 0x3f));
        } else if (el == 3) {
            enc[0] = (unsigned char)(0xe0 | cp >> 12);
            enc[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
            enc[2] = (unsigned char)(0x80 | (cp & 0x3f));
        } else {
            enc[0] = (unsigned char)(0xf0 | cp >> 18);
            enc[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
            enc[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
            enc[3] = (unsigned char)(0x80 | (cp & 0x3f));
        }
        if (n + el >= cap)
            return false;
        memcpy(out + n, enc, el);
        out[n + el] = '\0';
        return true;
    }
    return false;
}

void qs_users_search_range(bson_t *filter, const char *prefix, const char *after)
{
    char hi[QS_QUERY_MAX + 8];
    bson_t cond;
    BSON_APPEND_DOCUMENT_BEGIN(filter, "_id", &cond);
    if (after && strcmp(after, prefix) >= 0)
        BSON_APPEND_UTF8(&cond, "$gt", after);
    else
        BSON_APPEND_UTF8(&cond, "$gte", prefix);
    if (qs_prefix_upper_bound(prefix, hi, sizeof hi))
        BSON_APPEND_UTF8(&cond, "$lt", hi);
    bson_append_document_end(filter, &cond);
}

bool qs_user_name_cursor(const char *key, qs_cursor_t *c)
{
    size_t n = key ? strlen(key) : 0;
    memset(c, 0, sizeof *c);
    if (n < HL_UUID_STR_LEN + 1 || key[n - HL_UUID_STR_LEN - 1] != HL_USER_NAME_SEP ||
        n - HL_UUID_STR_LEN - 1 >= sizeof c->key || !hl_uuid_valid(key + n - HL_UUID_STR_LEN))
        return false;
    memcpy(c->key, key, n - HL_UUID_STR_LEN - 1);
    memcpy(c->id, key + n - HL_UUID_STR_LEN, HL_UUID_STR_LEN + 1);
    return true;
}

bool qs_user_name_after(const qs_cursor_t *c, char *out, size_t cap)
{
    return hl_uuid_valid(c->id) && hl_user_name_key(c->key, c->id, out, cap);
}

bool qs_user_name_live(const char *key_name, const char *profile_name, const char *prefix)
{
    return key_name && profile_name && prefix && !strcmp(key_name, profile_name) &&
           !strncmp(profile_name, prefix, strlen(prefix));
}

void qs_filter_after_date_desc(bson_t *filter, const char *field, const qs_cursor_t *c)
{
    bson_t or, a, b, lt, idlt;
    BSON_APPEND_ARRAY_BEGIN(filter, "$or", & or);
    BSON_APPEND_DOCUMENT_BEGIN(& or, "0", &a);
    BSON_APPEND_DOCUMENT_BEGIN(&a, field, &lt);
    BSON_APPEND_DATE_TIME(&lt, "$lt", c->num);
    bson_append_document_end(&a, &lt);
    bson_append_document_end(& or, &a);
    BSON_APPEND_DOCUMENT_BEGIN(& or, "1", &b);
    BSON_APPEND_DATE_TIME(&b, field, c->num);
    BSON_APPEND_DOCUMENT_BEGIN(&b, "_id", &idlt);
    BSON_APPEND_UTF8(&idlt, "$lt", c->id);
    bson_append_document_end(&b, &idlt);
    bson_append_document_end(& or, &b);
    bson_append_array_end(filter, & or);
}

void qs_filter_id_prefix(bson_t *filter, const char *prefix, const char *hi)
{
    size_t n = strlen(prefix);
    char *lo = bson_malloc(n + 2), *end = bson_malloc(n + 2);
    memcpy(lo, prefix, n);
    memcpy(end, prefix, n);
    lo[n] = ':';
    end[n] = ';';
    lo[n + 1] = end[n + 1] = '\0';
    bson_t cond;
    BSON_APPEND_DOCUMENT_BEGIN(filter, "_id", &cond);
    BSON_APPEND_UTF8(&cond, "$gte", lo);
    BSON_APPEND_UTF8(&cond, "$lt", hi && strcmp(hi, end) < 0 ? hi : end);
    bson_append_document_end(filter, &cond);
    bson_free(lo);
    bson_free(end);
}
