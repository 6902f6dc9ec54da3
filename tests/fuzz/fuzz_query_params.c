/* libFuzzer target: the query server's parameter decoders (query-server/src/params.c): limit,
 * integers, booleans, the opaque cursors of every list (and encode → decode round trips), the
 * user-search prefix and its _id range, days. Byte 0 selects the decoder, the rest is the
 * parameter's text as civetweb hands it over (NUL-terminated); selector 6 base64url-encodes the
 * bytes first, so that the cursor's inner format is reached directly. */
#include "fuzz_util.h"

#include "hl/util.h"
#include "params.h"

#include <sodium.h>

static const char kinds[] = {QS_CURSOR_USERS, QS_CURSOR_FRIENDS,  QS_CURSOR_REQUESTS,
                             QS_CURSOR_ROOMS, QS_CURSOR_MESSAGES, QS_CURSOR_NOTIFICATIONS};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t which = data[0];
    char *text = fuzz_cstr(data + 1, size - 1);
    hl_error_t err = {0};
    char encoded[QS_CURSOR_TEXT_MAX * 2];
    if (which % 7 == 6 && size - 1 < QS_CURSOR_TEXT_MAX) {
        sodium_bin2base64(encoded, sizeof encoded, data + 1, size - 1,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        free(text);
        text = fuzz_cstr((const uint8_t *)encoded, strlen(encoded));
        which = 2 + 7 * (size > 1 ? data[1] % 6 : 0); /* the kind its first byte names */
        for (size_t k = 0; k < sizeof kinds; k++)
            if (size > 1 && data[1] == (uint8_t)kinds[k])
                which = (uint8_t)(2 + 7 * k);
    }
    switch (which % 7) {
    case 0: {
        int limit = 0;
        if (qs_parse_limit(text, &limit, &err))
            FUZZ_CHECK(limit >= 1 && limit <= 100);
        break;
    }
    case 1: {
        int64_t v = 0;
        if (qs_parse_int64("before_seq", text, 1, &v, &err))
            FUZZ_CHECK(v >= 1);
        bool b = false;
        qs_parse_bool("unread", text, &b, &err);
        break;
    }
    case 2: {
        /* a cursor given back by a client: decode; what decodes re-encodes to a cursor that
         * decodes to the same position */
        char kind = kinds[(which / 7) % sizeof kinds];
        qs_cursor_t c, again;
        if (qs_cursor_decode(text, kind, &c, &err)) {
            char out[QS_CURSOR_TEXT_MAX + 1];
            if (qs_cursor_encode(kind, &c, out, sizeof out)) {
                hl_error_t e2 = {0};
                FUZZ_CHECK(qs_cursor_decode(out, kind, &again, &e2));
                FUZZ_CHECK(again.num == c.num && !strcmp(again.id, c.id) &&
                           !strcmp(again.key, c.key));
            }
        }
        break;
    }
    case 3: {
        /* GET /v1/users?q=: the prefix, its upper bound and the _id range filter */
        char prefix[QS_QUERY_MAX * 2 + 8], hi[QS_QUERY_MAX * 2 + 16];
        if (qs_search_prefix(text, prefix, sizeof prefix, &err)) {
            if (qs_prefix_upper_bound(prefix, hi, sizeof hi))
                FUZZ_CHECK(strcmp(prefix, hi) < 0);
            bson_t filter = BSON_INITIALIZER;
            qs_users_search_range(&filter, prefix, NULL);
            bson_destroy(&filter);
        }
        break;
    }
    case 4: {
        /* a user_names key read back from the store, as the search's cursor */
        qs_cursor_t c;
        if (qs_user_name_cursor(text, &c)) {
            char after[QS_CURSOR_TEXT_MAX];
            qs_user_name_after(&c, after, sizeof after);
        }
        qs_user_name_live(text, text, text);
        break;
    }
    case 5: {
        int64_t days = 0;
        if (hl_parse_day(text, &days)) {
            char back[16];
            hl_format_day(days * 86400000000LL, back, sizeof back);
        }
        break;
    }
    default:
        break;
    }
    free(text);
    return 0;
}
