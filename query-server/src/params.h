/* params.h: the query server's pure request logic (no I/O): list limits, opaque page cursors,
 * direct-room keys, prefix patterns and the MongoDB filters built from them. Unit-tested in
 * tests/unit/test_qs_params.c. */
#ifndef QS_PARAMS_H
#define QS_PARAMS_H

#include "hl/error.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QS_LIMIT_DEFAULT   20
#define QS_LIMIT_MAX       100
#define QS_CURSOR_ID_MAX   128 /* a document _id ("<uuid>:<uuid>" is 73) */
#define QS_CURSOR_KEY_MAX  272 /* a string sort key (a lower-cased display name, <= 64 chars) */
#define QS_CURSOR_TEXT_MAX 640
#define QS_QUERY_MAX       64 /* longest GET /v1/users?q= prefix, in bytes */

/* Cursor kinds: one letter per list so a cursor of one route is refused by another. */
enum {
    QS_CURSOR_USERS = 'u',
    QS_CURSOR_FRIENDS = 'f',
    QS_CURSOR_REQUESTS = 'r',
    QS_CURSOR_ROOMS = 'c',
    QS_CURSOR_MESSAGES = 'm',
    QS_CURSOR_NOTIFICATIONS = 'n',
};

/* The position after the last item of a page: (num, id) for lists sorted by a time or sequence
 * and then _id, (key, id) for the name search (the last user_names _id scanned: its
 * display_name_lower and user id). Unused parts are 0 / "". */
typedef struct {
    int64_t num;                 /* a time in ms since the epoch, or a message seq */
    char id[QS_CURSOR_ID_MAX];   /* _id of the last item (tie-breaker); no '|' */
    char key[QS_CURSOR_KEY_MAX]; /* string sort key of the last item */
} qs_cursor_t;

/* Parse a `limit` query parameter. text NULL (absent) gives QS_LIMIT_DEFAULT. Accepts a decimal
 * integer 1..QS_LIMIT_MAX only. Error: HL_ERR_INPUT 400 "invalid-parameter". */
bool qs_parse_limit(const char *text, int *out, hl_error_t *err);

/* Parse the decimal int64 query parameter name (e.g. "before_seq") from text; values below min
 * are refused. Error: HL_ERR_INPUT 400 "invalid-parameter". */
bool qs_parse_int64(const char *name, const char *text, int64_t min, int64_t *out, hl_error_t *err);

/* Parse a boolean parameter: "true"/"1" or "false"/"0". Error: 400 "invalid-parameter". */
bool qs_parse_bool(const char *name, const char *text, bool *out, hl_error_t *err);

/* Encode c as an opaque cursor of the given kind (QS_CURSOR_*) into out[cap] (base64url, no
 * padding, at most QS_CURSOR_TEXT_MAX bytes with the NUL). False when c->id holds '|' or out is
 * too small. */
bool qs_cursor_encode(char kind, const qs_cursor_t *c, char *out, size_t cap);

/* Decode a cursor text given back by a client; it must be of kind. Error: HL_ERR_INPUT 400
 * "invalid-cursor" for anything but a cursor this server produced for that list. */
bool qs_cursor_decode(const char *text, char kind, qs_cursor_t *out, hl_error_t *err);

/* Fill err with the 400 "invalid-cursor" problem (a cursor that is not one this server gave
 * out for this list, or for this caller) and return false. */
bool qs_invalid_cursor(hl_error_t *err);

/* Normalise a display-name search prefix: trims nothing, lower-cases ASCII (hl_fold_ascii, as
 * the projector's display_name_lower) into out[cap]. Error: 400 "invalid-parameter" when empty,
 * longer than QS_QUERY_MAX bytes, holding control characters, or not UTF-8. */
bool qs_search_prefix(const char *q, char *out, size_t cap, hl_error_t *err);

/* The smallest UTF-8 string above every string that starts with prefix (valid UTF-8, 1 or more
 * bytes): prefix with its last character replaced by the next code point (a trailing U+10FFFF
 * dropped first; surrogates skipped), into out[cap]. So for valid UTF-8 s: s starts with prefix
 * iff prefix <= s < bound, in byte order. False when no such bound exists (prefix is only
 * U+10FFFF characters), prefix is not UTF-8, or out is too small. */
bool qs_prefix_upper_bound(const char *prefix, char *out, size_t cap);

/* Append to filter the user_names range of a search page: _id: {$gte: prefix | $gt: after,
 * $lt: qs_prefix_upper_bound(prefix)} (no $lt when there is no bound). after (NULL on the first
 * page) is the last user_names _id of the previous page; it replaces $gte when it is not below
 * prefix. One _id range: FerretDB reads it through its index (patch 4 of deploy/local/mongo.sh).
 * prefix (normalised, qs_search_prefix) and after are borrowed. */
void qs_users_search_range(bson_t *filter, const char *prefix, const char *after);

/* Split a user_names _id "<display_name_lower>\x1f<user id>" (hl_user_name_key) into a search
 * cursor: c->key = the name, c->id = the user id, c->num = 0. False when key is not shaped so
 * (or the name does not fit QS_CURSOR_KEY_MAX). */
bool qs_user_name_cursor(const char *key, qs_cursor_t *c);

/* The user_names _id a search cursor stands for (the inverse of qs_user_name_cursor) into
 * out[cap] (HL_USER_NAME_KEY_MAX). False when c->id is no UUID or out is too small. */
bool qs_user_name_after(const qs_cursor_t *c, char *out, size_t cap);

/* Whether a user_names key of the name key_name (its display_name_lower) is live for a search
 * of prefix: it is the user's current name (profile_name, user_profiles.display_name_lower;
 * NULL when the profile is missing) and starts with prefix. A key that fails is stale (a rename
 * whose old key was not removed) or only shares the prefix through its separator and id. */
bool qs_user_name_live(const char *key_name, const char *profile_name, const char *prefix);

/* Append to filter the condition "strictly after the cursor" for a list sorted by
 * {field: -1, _id: -1} where field holds dates (c->num is ms since the epoch):
 * $or: [{field: {$lt: t}}, {field: t, _id: {$lt: id}}]. filter must have no "$or" yet. */
void qs_filter_after_date_desc(bson_t *filter, const char *field, const qs_cursor_t *c);

/* Append to filter _id: {$gte: "<prefix>:", $lt: "<prefix>;" [, $lt: hi]}: every _id that
 * starts with "<prefix>:" (';' follows ':'), one _id range, which FerretDB reads through its
 * index (patch 4 of deploy/local/mongo.sh; docs/read-models.md). hi, when not NULL, is a tighter
 * exclusive upper bound (it must start with "<prefix>:"). prefix and hi are borrowed. */
void qs_filter_id_prefix(bson_t *filter, const char *prefix, const char *hi);

#endif
