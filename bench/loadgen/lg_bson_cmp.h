/* lg_bson_cmp.h: deep comparison of BSON values as the load generator's verifier needs it
 * (an expected document built from PostgreSQL against the one a read model holds), and the
 * one-line text of a value for its mismatch lines.
 *
 * Equality rules: numbers (int32, int64, double) compare by value across types (as doubles when
 * either is a double); strings byte for byte; booleans, nulls and dates (ms) by value;
 * documents as maps (key order ignored, same key count); arrays as sets (same length, every
 * element of the first found in the second, order ignored). Every other type (ObjectId, binary,
 * decimal128 …) is never equal, so an expected document holds none of them. */
#ifndef LG_BSON_CMP_H
#define LG_BSON_CMP_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>

/* True for int32, int64 and double. */
bool lg_bson_is_number(bson_type_t t);

/* The values at a and b (iterators positioned on an element) are equal under the rules above. */
bool lg_bson_values_equal(const bson_iter_t *a, const bson_iter_t *b);

/* x and y are equal: as maps, or with as_set as sets of values (arrays). */
bool lg_bson_docs_equal(const bson_t *x, const bson_t *y, bool as_set);

/* One field that differs: want is the expected value, got the actual one (NULL when doc has no
 * such field). */
typedef void (*lg_bson_diff_fn)(void *ud, const char *field, const bson_iter_t *want,
                                const bson_iter_t *got);

/* Compare every top-level field of want with the same field of doc and call on_diff(ud, ...)
 * for each one that is absent or not equal; fields of doc that want lacks are not looked at.
 * An absent field is no difference when want holds null there, or, with zero_if_absent, a
 * number equal to zero (read models leave zero counters out). */
void lg_bson_compare_fields(const bson_t *want, const bson_t *doc, bool zero_if_absent,
                            lg_bson_diff_fn on_diff, void *ud);

/* The value at it as one line of text into out (cap bytes, always NUL-terminated when cap > 0):
 * strings quoted, cut at 120 bytes with "…", newlines and tabs as blanks; numbers, booleans,
 * null; dates as RFC 3339 UTC with microseconds; documents and arrays as relaxed extended JSON
 * cut at 200 bytes; "(absent)" when it is NULL; "(bson type N)" for any other type. */
void lg_bson_value_text(const bson_iter_t *it, char *out, size_t cap);

#endif
