/* libFuzzer target: the counselling command validators (command-server/src/counselling_rules.c).
 * Byte 0 selects the command (POST /v1/counsellors, PATCH /v1/counsellors/me, POST
 * /v1/counsellors/me/slots, POST /v1/bookings, POST /v1/bookings/{id}/review, or the
 * specialty / language tag / currency checks on the raw text), the rest is the HTTP body:
 * hl_json_parse_object, then the validator. Every accepted command must satisfy the bounds the
 * header documents (the invariants are checked here, so a validator that lets a bad value through
 * is a crash, not only one that overruns memory). */
#include "fuzz_util.h"

#include "counselling_rules.h"
#include "hl/json.h"

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void check_counsellor(const cs_counsellor_cmd_t *c, bool partial)
{
    if (!partial) {
        FUZZ_CHECK(c->headline && c->currency && c->has_specialties && c->has_languages);
        FUZZ_CHECK(c->price_minor > 0 && c->session_minutes > 0);
    }
    if (c->headline)
        FUZZ_CHECK(utf8_len(c->headline) >= 1 && utf8_len(c->headline) <= 120);
    if (c->bio)
        FUZZ_CHECK(utf8_len(c->bio) <= 2000);
    FUZZ_CHECK(c->nspecialties <= CS_LIST_MAX && c->nlanguages <= CS_LIST_MAX);
    for (size_t i = 0; i < c->nspecialties; i++)
        FUZZ_CHECK(cs_specialty_valid(c->specialties[i]));
    for (size_t i = 0; i < c->nlanguages; i++)
        FUZZ_CHECK(cs_language_tag_valid(c->languages[i]));
    if (c->has_specialties)
        FUZZ_CHECK(c->nspecialties >= 1);
    if (c->has_languages)
        FUZZ_CHECK(c->nlanguages >= 1);
    if (c->price_minor)
        FUZZ_CHECK(c->price_minor >= 1 && c->price_minor <= CS_PRICE_MAX);
    if (c->currency)
        FUZZ_CHECK(cs_currency_valid(c->currency));
    if (c->session_minutes)
        FUZZ_CHECK(c->session_minutes == 30 || c->session_minutes == 50 ||
                   c->session_minutes == 80);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t which = data[0] % 6;
    hl_error_t err = {0};
    if (which == 5) {
        /* the text checks, on any bytes */
        char *text = fuzz_cstr(data + 1, size - 1);
        bool lang = cs_language_tag_valid(text);
        if (lang)
            FUZZ_CHECK(strlen(text) <= 35 && strlen(text) >= 2);
        if (cs_currency_valid(text))
            FUZZ_CHECK(strlen(text) == 3);
        (void)cs_specialty_valid(text);
        free(text);
        return 0;
    }
    bson_t body;
    if (!hl_json_parse_object((const char *)data + 1, size - 1, &body, &err))
        return 0;
    switch (which) {
    case 0:
    case 1: {
        cs_counsellor_cmd_t c;
        if (cs_validate_counsellor(&body, which == 1, &c, &err))
            check_counsellor(&c, which == 1);
        else
            FUZZ_CHECK(err.domain == HL_ERR_INPUT && err.code >= 400 && err.code < 500);
        break;
    }
    case 2: {
        static int64_t starts[CS_SLOTS_MAX];
        size_t n = 0;
        const int64_t now_us = 1700000000000000LL;
        if (cs_validate_slots(&body, now_us, starts, &n, &err)) {
            FUZZ_CHECK(n >= 1 && n <= CS_SLOTS_MAX);
            for (size_t i = 0; i < n; i++)
                FUZZ_CHECK(starts[i] > now_us && starts[i] <= now_us + CS_SLOT_AHEAD_US &&
                           starts[i] % 60000000LL == 0);
        } else {
            FUZZ_CHECK(err.domain == HL_ERR_INPUT);
        }
        break;
    }
    case 3: {
        cs_booking_cmd_t c;
        if (cs_validate_booking(&body, &c, &err)) {
            FUZZ_CHECK(c.slot_id && strlen(c.slot_id) == 36);
            FUZZ_CHECK(c.payment_method && strlen(c.payment_method) >= 1 &&
                       strlen(c.payment_method) <= CS_PAYMENT_METHOD_MAX);
        }
        break;
    }
    case 4: {
        cs_review_cmd_t c;
        if (cs_validate_review(&body, &c, &err)) {
            FUZZ_CHECK(c.rating >= 1 && c.rating <= 5);
            if (c.comment)
                FUZZ_CHECK(utf8_len(c.comment) <= CS_REVIEW_COMMENT_MAX);
        }
        break;
    }
    }
    bson_destroy(&body);
    return 0;
}
