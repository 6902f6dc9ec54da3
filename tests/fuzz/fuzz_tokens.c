/* libFuzzer target: bearer and consistency tokens (common/src/token.c, session.c,
 * consistency.c). Byte 0 selects: the input as an Authorization header or a consistency token
 * (what any client can send: nearly always a bad MAC), or the input as the payload of a token
 * signed with the test key, so the payload decoders behind the MAC are reached too. */
#include "fuzz_util.h"

#include "hl/consistency.h"
#include "hl/session.h"
#include "hl/token.h"

#include <stdio.h>

static hl_token_key_t session_key, consistency_key;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        hl_error_t e = {0};
        if (!hl_token_key_derive(&session_key, "fuzz secret", "session", &e) ||
            !hl_token_key_derive(&consistency_key, "fuzz secret", "consistency", &e))
            abort();
        ready = 1;
    }
    if (size < 1)
        return 0;
    hl_error_t err = {0};
    uint8_t which = data[0] % 4;
    char *text = fuzz_cstr(data + 1, size - 1);
    hl_session_t s;
    hl_watermark_t w[HL_CONSISTENCY_MAX_WATERMARKS];
    size_t n = 0;
    char *token = NULL;
    switch (which) {
    case 0:
        hl_session_verify_header(&session_key, text, 1700000000000LL, &s, &err);
        break;
    case 1:
        hl_consistency_token_parse(&consistency_key, text, w, &n, &err);
        break;
    case 2: {
        /* a validly signed session token with the fuzzer's payload */
        token = hl_token_sign(&session_key, data + 1, size - 1);
        if (!token)
            break;
        size_t hlen = strlen(token) + 8;
        char *header = malloc(hlen);
        if (!header)
            abort();
        snprintf(header, hlen, "Bearer %s", token);
        if (hl_session_verify_header(&session_key, header, 1700000000000LL, &s, &err))
            FUZZ_CHECK(strlen(s.session_id) == HL_UUID_STR_LEN);
        free(header);
        break;
    }
    default:
        token = hl_token_sign(&consistency_key, data + 1, size - 1);
        if (token && hl_consistency_token_parse(&consistency_key, token, w, &n, &err))
            FUZZ_CHECK(n <= HL_CONSISTENCY_MAX_WATERMARKS);
        break;
    }
    free(token);
    free(text);
    return 0;
}
