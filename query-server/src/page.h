/* page.h: helpers shared by the list routes: page parameters (limit, cursor), find options,
 * next-cursor construction and display names of the users a page mentions (one $in). */
#ifndef QS_PAGE_H
#define QS_PAGE_H

#include "read_store.h"
#include "params.h"

/* A list request's paging: limit (1..100, default 20) and the decoded cursor, if any. */
typedef struct {
    int limit;
    bool has_cursor;
    qs_cursor_t cursor;
} qs_page_params_t;

/* Read `limit` and `cursor` (which must be of kind, QS_CURSOR_*). Errors: 400
 * "invalid-parameter" / "invalid-cursor". */
bool qs_read_page_params(hl_http_request_t *req, char kind, qs_page_params_t *p, hl_error_t *err);

/* Append sort (borrowed, copied) and limit + 1 to find opts: the extra document tells whether
 * a next page exists. */
void qs_page_opts(bson_t *opts, const bson_t *sort, int limit);

/* Cursor text (into out[cap]) after doc, the last item of a full page of a list sorted by the
 * date field `field` and then _id, both descending. False when doc lacks them. */
bool qs_date_cursor(char kind, const bson_t *doc, const char *field, char *out, size_t cap);

/* Distinct values of the string field `field` over d->docs[0..n) into ids[0..cap) (pointers
 * borrowed from the documents). Returns how many. */
size_t qs_collect_ids(qs_docs_t *d, size_t n, const char *field, const char **ids, size_t cap);

/* Display names (user_profiles, projection {display_name}) of the users that `field` names in
 * d->docs[0..n), in one $in round trip, into *names (caller frees with qs_docs_free). */
bool qs_load_names(qs_ctx_t *ctx, qs_docs_t *d, size_t n, const char *field, qs_docs_t *names,
                   hl_error_t *err);

/* Display name of user id in names, or NULL (unknown user or id NULL). */
const char *qs_name_of(const qs_docs_t *names, const char *id);

/* Append key: display name of id from names, or null. */
void qs_append_name(bson_t *out, const char *key, const qs_docs_t *names, const char *id);

#endif
