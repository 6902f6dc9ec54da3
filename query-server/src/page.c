/* page.c: list paging and display-name helpers shared by the list routes (see page.h). */
#include "page.h"

#include <stdio.h>
#include <string.h>

bool qs_read_page_params(hl_http_request_t *req, char kind, qs_page_params_t *p, hl_error_t *err)
{
    char limit[16], cursor[QS_CURSOR_TEXT_MAX];
    int lr = qs_param(req, "limit", limit, sizeof limit, err);
    if (lr < 0 || !qs_parse_limit(lr ? limit : NULL, &p->limit, err))
        return false;
    int cr = qs_param(req, "cursor", cursor, sizeof cursor, err);
    if (cr < 0)
        return hl_error_set_reason(err, HL_ERR_INPUT, 400, "invalid-cursor",
                                   "cursor is not a cursor of this list");
    p->has_cursor = cr > 0;
    return !p->has_cursor || qs_cursor_decode(cursor, kind, &p->cursor, err);
}

/* opts for a page: sort (borrowed) and limit + 1 (one more tells whether a next page exists). */
void qs_page_opts(bson_t *opts, const bson_t *sort, int limit)
{
    BSON_APPEND_DOCUMENT(opts, "sort", sort);
    BSON_APPEND_INT64(opts, "limit", limit + 1);
}

/* Cursor text after doc (the last item of a full page) for a list sorted by a date field. */
bool qs_date_cursor(char kind, const bson_t *doc, const char *field, char *out, size_t cap)
{
    qs_cursor_t c;
    memset(&c, 0, sizeof c);
    const char *id = qs_doc_string(doc, "_id", "");
    if (!qs_doc_date_ms(doc, field, &c.num) || strlen(id) >= sizeof c.id)
        return false;
    memcpy(c.id, id, strlen(id) + 1);
    return qs_cursor_encode(kind, &c, out, cap);
}

/* Distinct values of the string field `field` over docs[0..n) into ids (borrowed pointers into
 * the documents), at most cap. */
size_t qs_collect_ids(qs_docs_t *d, size_t n, const char *field, const char **ids, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < cap; i++) {
        const char *v = qs_doc_string(d->docs[i], field, NULL);
        if (!v)
            continue;
        bool seen = false;
        for (size_t j = 0; j < k && !seen; j++)
            seen = !strcmp(ids[j], v);
        if (!seen)
            ids[k++] = v;
    }
    return k;
}

/* Display names of the users named by `field` in docs[0..n): one $in on user_profiles. */
bool qs_load_names(qs_ctx_t *ctx, qs_docs_t *d, size_t n, const char *field, qs_docs_t *names,
                   hl_error_t *err)
{
    const char *ids[QS_LIMIT_MAX];
    size_t k = qs_collect_ids(d, n, field, ids, QS_LIMIT_MAX);
    return qs_display_names(ctx, ids, k, names, err);
}

const char *qs_name_of(const qs_docs_t *names, const char *id)
{
    return id ? qs_doc_string(qs_docs_by_id(names, id), "display_name", NULL) : NULL;
}

void qs_append_name(bson_t *out, const char *key, const qs_docs_t *names, const char *id)
{
    const char *n = qs_name_of(names, id);
    if (n)
        BSON_APPEND_UTF8(out, key, n);
    else
        BSON_APPEND_NULL(out, key);
}
