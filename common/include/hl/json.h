/* hl/json.h: strict parsing and validation of JSON request bodies, on top of libbson.
 *
 * A body is parsed into a bson_t (libbson's JSON parser, RFC 8259) and checked against a field
 * table: unknown fields, duplicates, wrong types, lengths in Unicode code points, embedded NULs.
 * Failures fill hl_error_t with domain HL_ERR_INPUT, code = HTTP status (400 for bodies that are
 * not one UTF-8 JSON object, 422 for a well-formed object with bad fields) and a reason slug that
 * becomes the problem+json type. */
#ifndef HL_JSON_H
#define HL_JSON_H

#include "hl/error.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    HL_JSON_STRING, /* UTF-8 string, length bounds in code points */
    HL_JSON_INT,    /* integer (int32 or int64 in BSON); bounds in min_len/max_len */
    HL_JSON_BOOL,
    HL_JSON_STRING_ARRAY, /* array of strings; bounds on element count; each element's length
                           * bounded by item_max_len code points */
} hl_json_kind_t;

typedef struct {
    const char *name;
    hl_json_kind_t kind;
    bool required;
    long long min_len;      /* STRING: min code points; INT: min value; ARRAY: min items */
    long long max_len;      /* STRING: max code points; INT: max value; ARRAY: max items */
    long long item_max_len; /* STRING_ARRAY: max code points per item */
} hl_json_field_t;

/* Parse body[0..len) as exactly one JSON object into *out (initialised here; caller destroys it
 * with bson_destroy on success, untouched on failure). Errors: 400 "malformed-json" for empty or
 * unparsable bodies or a non-object top level, 400 "invalid-utf8" for bytes that are not UTF-8. */
bool hl_json_parse_object(const char *body, size_t len, bson_t *out, hl_error_t *err);

/* Check doc against fields[0..n): every key known and present once, required keys present,
 * types and bounds respected, strings free of NUL. Error: 422 "validation-failed" naming the
 * field. */
bool hl_json_check(const bson_t *doc, const hl_json_field_t *fields, size_t n, hl_error_t *err);

/* The UTF-8 string at key, or NULL when absent or not a string. *len (may be NULL) gets its
 * length in bytes. The pointer is owned by doc. */
const char *hl_json_get_string(const bson_t *doc, const char *key, uint32_t *len);

/* Number of Unicode code points in a valid UTF-8 string of len bytes. */
size_t hl_utf8_length(const char *s, size_t len);

#endif
