/* counselling_rules.c: see counselling_rules.h. */
#include "counselling_rules.h"

#include "hl/json.h"
#include "hl/util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *const cs_specialties[] = {
    "anxiety",   "depression", "relationships", "stress",      "grief", "trauma",
    "addiction", "family",     "career",        "self-esteem", NULL};

static bool invalid(hl_error_t *err, const char *field, const char *what)
{
    return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed", "field \"%s\" %s",
                               field, what);
}

static bool refuse(hl_error_t *err, int status, const char *slug, const char *detail)
{
    return hl_error_set_reason(err, HL_ERR_DOMAIN, status, slug, "%s", detail);
}

bool cs_specialty_valid(const char *s)
{
    for (const char *const *p = cs_specialties; *p; p++)
        if (!strcmp(*p, s))
            return true;
    return false;
}

bool cs_language_tag_valid(const char *tag)
{
    size_t total = strlen(tag);
    if (total < 2 || total > 35)
        return false;
    const char *p = tag;
    bool first = true;
    while (*p) {
        size_t n = 0;
        bool alpha = true;
        while (p[n] && p[n] != '-') {
            unsigned char c = (unsigned char)p[n];
            if (!isalnum(c) || c > 0x7f)
                return false;
            if (!isalpha(c))
                alpha = false;
            n++;
        }
        if (first) {
            if (!alpha || !((n >= 2 && n <= 3) || (n >= 5 && n <= 8)))
                return false;
            first = false;
        } else if (n < 1 || n > 8) {
            return false;
        }
        p += n;
        if (*p == '-') {
            p++;
            if (!*p)
                return false;
        }
    }
    return true;
}

bool cs_currency_valid(const char *code)
{
    return strlen(code) == 3 && isupper((unsigned char)code[0]) &&
           isupper((unsigned char)code[1]) && isupper((unsigned char)code[2]);
}

static bool has_outer_space(const char *s)
{
    size_t n = strlen(s);
    return n && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]));
}

/* Copy the string array field into out[cap] (pointers into body), *n the count. The field was
 * type-checked by hl_json_check. */
static void string_array(const bson_t *body, const char *field, const char **out, size_t cap,
                         size_t *n)
{
    bson_iter_t it, arr;
    *n = 0;
    if (!bson_iter_init_find(&it, body, field) || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        return;
    while (bson_iter_next(&arr) && *n < cap)
        out[(*n)++] = bson_iter_utf8(&arr, NULL);
}

static bool has_field(const bson_t *body, const char *field)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, body, field);
}

static int64_t int_field(const bson_t *body, const char *field)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, body, field) ? bson_iter_as_int64(&it) : 0;
}

bool cs_validate_counsellor(const bson_t *body, bool partial, cs_counsellor_cmd_t *out,
                            hl_error_t *err)
{
    const hl_json_field_t fields[] = {
        {"headline", HL_JSON_STRING, !partial, 1, CS_HEADLINE_MAX, 0},
        {"bio", HL_JSON_STRING, false, 0, CS_COUNSELLOR_BIO_MAX, 0},
        {"specialties", HL_JSON_STRING_ARRAY, !partial, 1, CS_LIST_MAX, 32},
        {"languages", HL_JSON_STRING_ARRAY, !partial, 1, CS_LIST_MAX, 35},
        {"price_minor", HL_JSON_INT, !partial, 1, CS_PRICE_MAX, 0},
        {"currency", HL_JSON_STRING, !partial, 3, 3, 0},
        {"session_minutes", HL_JSON_INT, !partial, 30, 80, 0},
    };
    memset(out, 0, sizeof *out);
    if (!hl_json_check(body, fields, sizeof fields / sizeof fields[0], err))
        return false;
    if (partial && bson_count_keys(body) == 0)
        return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                                   "give at least one field to change");
    out->headline = hl_json_get_string(body, "headline", NULL);
    out->bio = hl_json_get_string(body, "bio", NULL);
    out->currency = hl_json_get_string(body, "currency", NULL);
    out->price_minor = int_field(body, "price_minor");
    out->session_minutes = (int)int_field(body, "session_minutes");
    if (out->headline && has_outer_space(out->headline))
        return invalid(err, "headline", "must not start or end with whitespace");
    if ((out->has_specialties = has_field(body, "specialties"))) {
        string_array(body, "specialties", out->specialties, CS_LIST_MAX, &out->nspecialties);
        for (size_t i = 0; i < out->nspecialties; i++) {
            if (!cs_specialty_valid(out->specialties[i]))
                return invalid(err, "specialties",
                               "must hold only anxiety, depression, relationships, stress, "
                               "grief, trauma, addiction, family, career, self-esteem");
            for (size_t j = 0; j < i; j++)
                if (!strcmp(out->specialties[i], out->specialties[j]))
                    return invalid(err, "specialties", "must not repeat an item");
        }
    }
    if ((out->has_languages = has_field(body, "languages"))) {
        string_array(body, "languages", out->languages, CS_LIST_MAX, &out->nlanguages);
        for (size_t i = 0; i < out->nlanguages; i++) {
            if (!cs_language_tag_valid(out->languages[i]))
                return invalid(err, "languages", "must hold BCP 47 language tags (en, de-CH)");
            for (size_t j = 0; j < i; j++)
                if (!strcasecmp(out->languages[i], out->languages[j]))
                    return invalid(err, "languages", "must not repeat a tag");
        }
    }
    if (out->currency && !cs_currency_valid(out->currency))
        return invalid(err, "currency", "must be an ISO 4217 code such as EUR");
    if (has_field(body, "session_minutes") && out->session_minutes != 30 &&
        out->session_minutes != 50 && out->session_minutes != 80)
        return invalid(err, "session_minutes", "must be 30, 50 or 80");
    return true;
}

bool cs_validate_slots(const bson_t *body, int64_t now_us, int64_t *starts_us, size_t *n,
                       hl_error_t *err)
{
    bson_iter_t it, arr, item, f;
    *n = 0;
    if (!bson_iter_init(&it, body))
        return invalid(err, "slots", "is required");
    bool seen = false;
    while (bson_iter_next(&it)) {
        if (strcmp(bson_iter_key(&it), "slots") != 0)
            return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                                       "unknown field \"%s\"", bson_iter_key(&it));
        seen = true;
    }
    if (!seen || !bson_iter_init_find(&it, body, "slots") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        return invalid(err, "slots", "must be an array of {starts_at}");
    while (bson_iter_next(&arr)) {
        if (*n >= CS_SLOTS_MAX)
            return invalid(err, "slots", "must hold at most 100 slots");
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &item))
            return invalid(err, "slots", "items must be objects {starts_at}");
        const char *text = NULL;
        while (bson_iter_next(&item)) {
            if (strcmp(bson_iter_key(&item), "starts_at") != 0 || !BSON_ITER_HOLDS_UTF8(&item) ||
                text)
                return invalid(err, "slots", "items must be objects {starts_at: RFC 3339 time}");
            text = bson_iter_utf8(&item, NULL);
        }
        (void)f;
        int64_t us = 0;
        if (!text || !hl_parse_rfc3339_us(text, &us))
            return invalid(err, "slots[].starts_at", "must be an RFC 3339 time");
        if (us % 60000000LL != 0)
            return invalid(err, "slots[].starts_at", "must be on a whole minute");
        if (us <= now_us)
            return invalid(err, "slots[].starts_at", "must be in the future");
        if (us > now_us + CS_SLOT_AHEAD_US)
            return invalid(err, "slots[].starts_at", "must be at most 90 days ahead");
        starts_us[(*n)++] = us;
    }
    if (*n == 0)
        return invalid(err, "slots", "must hold at least one slot");
    return true;
}

bool cs_validate_booking(const bson_t *body, cs_booking_cmd_t *out, hl_error_t *err)
{
    static const hl_json_field_t fields[] = {
        {"slot_id", HL_JSON_STRING, true, 36, 36, 0},
        {"payment_method", HL_JSON_STRING, true, 1, CS_PAYMENT_METHOD_MAX, 0},
    };
    if (!hl_json_check(body, fields, sizeof fields / sizeof fields[0], err))
        return false;
    out->slot_id = hl_json_get_string(body, "slot_id", NULL);
    out->payment_method = hl_json_get_string(body, "payment_method", NULL);
    if (!hl_uuid_valid(out->slot_id))
        return invalid(err, "slot_id", "must be a UUID");
    for (const char *p = out->payment_method; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return invalid(err, "payment_method",
                           "must be a payment method id such as pm_card_visa");
    return true;
}

bool cs_validate_review(const bson_t *body, cs_review_cmd_t *out, hl_error_t *err)
{
    static const hl_json_field_t fields[] = {
        {"rating", HL_JSON_INT, true, 1, 5, 0},
        {"comment", HL_JSON_STRING, false, 0, CS_REVIEW_COMMENT_MAX, 0},
    };
    if (!hl_json_check(body, fields, sizeof fields / sizeof fields[0], err))
        return false;
    out->rating = (int)int_field(body, "rating");
    out->comment = hl_json_get_string(body, "comment", NULL);
    return true;
}

bool cs_rule_book(const cs_slot_facts_t *f, int64_t now_us, hl_error_t *err)
{
    if (!f->slot_exists)
        return refuse(err, 404, "slot-not-found", "no such slot");
    if (f->own_slot)
        return refuse(err, 409, "own-slot", "a counsellor cannot book their own slot");
    if (!f->counsellor_verified)
        return refuse(err, 409, "counsellor-not-verified", "this counsellor is not verified yet");
    if (f->starts_us <= now_us)
        return refuse(err, 409, "slot-in-past", "this slot has started already");
    if (!f->status || strcmp(f->status, "open") != 0)
        return refuse(err, 409, "slot-unavailable", "this slot is not open");
    return true;
}

bool cs_rule_withdraw(bool exists_and_own, const char *status, hl_error_t *err)
{
    if (!exists_and_own)
        return refuse(err, 404, "slot-not-found", "no such slot of yours");
    if (!status || strcmp(status, "open") != 0)
        return refuse(err, 409, "slot-not-open", "only an open slot can be withdrawn");
    return true;
}

/* 404 for a booking that does not exist; 403 for one that exists but is another pair's (SPEC
 * §2: 403 on a foreign resource; the same answer as GET /v1/bookings/{id}'s "not-a-party"). */
static bool party(const cs_booking_facts_t *f, hl_error_t *err)
{
    if (!f->exists)
        return refuse(err, 404, "booking-not-found", "no such booking");
    if (!f->caller_is_client && !f->caller_is_counsellor)
        return refuse(err, 403, "not-a-party", "only the booking's client and counsellor may");
    return true;
}

bool cs_rule_cancel(const cs_booking_facts_t *f, int64_t now_us, cs_cancel_terms_t *terms,
                    hl_error_t *err)
{
    memset(terms, 0, sizeof *terms);
    if (!party(f, err))
        return false;
    if (f->saga_running)
        return refuse(err, 409, "booking-busy", "another change of this booking is running");
    if (!f->status || strcmp(f->status, "confirmed") != 0)
        return refuse(err, 409, "booking-not-confirmed",
                      "only a confirmed booking can be cancelled");
    if (f->caller_is_counsellor && !f->caller_is_client) {
        terms->by_counsellor = true;
        terms->refund = true;
        terms->reopen_slot = false;
        return true;
    }
    terms->refund = f->starts_us - now_us >= CS_CANCEL_REFUND_US;
    terms->reopen_slot = terms->refund;
    return true;
}

bool cs_rule_complete(const cs_booking_facts_t *f, int64_t now_us, hl_error_t *err)
{
    if (!party(f, err))
        return false;
    if (!f->caller_is_counsellor)
        return refuse(err, 403, "not-the-counsellor", "only the counsellor completes a session");
    if (f->saga_running)
        return refuse(err, 409, "booking-busy", "another change of this booking is running");
    if (!f->status || strcmp(f->status, "confirmed") != 0)
        return refuse(err, 409, "booking-not-confirmed",
                      "only a confirmed booking can be completed");
    if (now_us < f->starts_us + (int64_t)f->minutes * 60000000LL)
        return refuse(err, 409, "session-not-ended", "the session has not ended yet");
    return true;
}

bool cs_rule_review(const cs_booking_facts_t *f, hl_error_t *err)
{
    if (!party(f, err))
        return false;
    if (!f->caller_is_client)
        return refuse(err, 403, "not-the-client", "only the client reviews a booking");
    if (!f->status || strcmp(f->status, "completed") != 0)
        return refuse(err, 409, "booking-not-completed",
                      "only a completed booking can be reviewed");
    if (f->reviewed)
        return refuse(err, 409, "already-reviewed", "this booking was reviewed already");
    return true;
}

bool cs_rule_verify(bool caller_is_operator, bool counsellor_exists, hl_error_t *err)
{
    if (!caller_is_operator)
        return refuse(err, 403, "not-operator", "only an operator verifies counsellors");
    if (!counsellor_exists)
        return refuse(err, 404, "counsellor-not-found", "no such counsellor");
    return true;
}
