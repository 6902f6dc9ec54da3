/* counselling_rules.h: validation and invariants of the counselling context (SPEC §9), pure
 * functions without I/O so unit tests need no server.
 *
 * Validation fills hl_error_t with HL_ERR_INPUT 422 "validation-failed" naming the field.
 * Invariants fill HL_ERR_DOMAIN with the HTTP status (403 the caller may not, 404 unknown, 409
 * the state conflicts) and a stable reason slug (problem type urn:hearlers:problem:<slug>). */
#ifndef CS_COUNSELLING_RULES_H
#define CS_COUNSELLING_RULES_H

#include "hl/error.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_HEADLINE_MAX       120
#define CS_COUNSELLOR_BIO_MAX 2000
#define CS_LIST_MAX           10       /* specialties, languages */
#define CS_PRICE_MAX          10000000 /* minor units: 100,000.00 in a two-decimal currency */
#define CS_SLOTS_MAX          100
#define CS_SLOT_AHEAD_US      (90LL * 86400 * 1000000)
#define CS_CANCEL_REFUND_US   (24LL * 3600 * 1000000)
#define CS_PAYMENT_METHOD_MAX 255
#define CS_REVIEW_COMMENT_MAX 2000

/* The fixed list of specialties (issue 12), NULL-terminated. */
extern const char *const cs_specialties[];

/* Whether s is one of cs_specialties. */
bool cs_specialty_valid(const char *s);

/* Whether tag is a well-formed BCP 47 language tag in its common form (RFC 5646 §2.1):
 * language 2-3 or 5-8 letters, then subtags of 1-8 letters or digits separated by '-', at most
 * 35 bytes in all. Does not check the IANA registry. */
bool cs_language_tag_valid(const char *tag);

/* Whether code is an ISO 4217 alphabetic code in form (three upper-case ASCII letters). */
bool cs_currency_valid(const char *code);

/* A counsellor profile after validation: pointers into the body (arrays borrowed). For PATCH,
 * absent fields are NULL / 0 and has_* says which were given. */
typedef struct {
    const char *headline;
    const char *bio;
    const char *specialties[CS_LIST_MAX];
    size_t nspecialties;
    bool has_specialties;
    const char *languages[CS_LIST_MAX];
    size_t nlanguages;
    bool has_languages;
    int64_t price_minor; /* 0 = absent (PATCH) */
    const char *currency;
    int session_minutes; /* 0 = absent (PATCH) */
} cs_counsellor_cmd_t;

/* POST /v1/counsellors body (partial = false: headline, specialties, languages, price_minor,
 * currency, session_minutes required; bio optional) or PATCH /v1/counsellors/me (partial =
 * true: any of them, at least one). headline 1..120 characters without outer whitespace, bio
 * 0..2000, specialties 1..10 distinct from cs_specialties, languages 1..10 distinct (ASCII
 * case-insensitively) BCP 47 tags, price_minor 1..CS_PRICE_MAX, currency ISO 4217,
 * session_minutes 30, 50 or 80. */
bool cs_validate_counsellor(const bson_t *body, bool partial, cs_counsellor_cmd_t *out,
                            hl_error_t *err);

/* POST /v1/counsellors/me/slots body {slots: [{starts_at: RFC 3339}, ...]} (1..100 items,
 * nothing else). Each start is on a whole minute, after now_us and at most 90 days after it.
 * starts_us: caller's array of CS_SLOTS_MAX; *n gets the count. Overlaps are PostgreSQL's to
 * refuse (exclusion constraint). */
bool cs_validate_slots(const bson_t *body, int64_t now_us, int64_t *starts_us, size_t *n,
                       hl_error_t *err);

/* POST /v1/bookings body {slot_id: uuid, payment_method: "pm_..." (1..255 characters of
 * letters, digits and '_')}. Pointers into body. */
typedef struct {
    const char *slot_id;
    const char *payment_method;
} cs_booking_cmd_t;
bool cs_validate_booking(const bson_t *body, cs_booking_cmd_t *out, hl_error_t *err);

/* POST /v1/bookings/{id}/review body {rating: 1..5, comment?: 0..2000 characters}. */
typedef struct {
    int rating;
    const char *comment; /* NULL when absent */
} cs_review_cmd_t;
bool cs_validate_review(const bson_t *body, cs_review_cmd_t *out, hl_error_t *err);

/* Facts about a slot and its counsellor for a booking, read under the slot's row lock. */
typedef struct {
    bool slot_exists;
    const char *status; /* open, held, booked, withdrawn */
    bool own_slot;      /* the client is the slot's counsellor */
    bool counsellor_verified;
    int64_t starts_us;
} cs_slot_facts_t;

/* Hold a slot: 404 "slot-not-found", 409 "own-slot", 409 "counsellor-not-verified", 409
 * "slot-in-past" (starts at or before now), 409 "slot-unavailable" (not open). */
bool cs_rule_book(const cs_slot_facts_t *f, int64_t now_us, hl_error_t *err);

/* Withdraw a slot: 404 "slot-not-found" (absent or another counsellor's), 409 "slot-not-open". */
bool cs_rule_withdraw(bool exists_and_own, const char *status, hl_error_t *err);

/* Facts about a booking and the caller. */
typedef struct {
    bool exists;
    bool caller_is_client;
    bool caller_is_counsellor;
    const char *status; /* requested, confirmed, failed, cancelled, completed */
    int64_t starts_us;
    int minutes;
    bool saga_running; /* a saga of this booking has not ended */
    bool reviewed;
} cs_booking_facts_t;

/* What a cancellation does. */
typedef struct {
    bool refund;      /* void (or refund) in full; false: the client is charged */
    bool reopen_slot; /* the slot is open again */
    bool by_counsellor;
} cs_cancel_terms_t;

/* Cancel: 404 "booking-not-found" (absent), 403 "not-a-party" (the caller is neither the
 * booking's client nor its counsellor), 409 "booking-busy"
 * (a saga runs), 409 "booking-not-confirmed". A client cancelling at least 24 h before the
 * start gets a full refund and the slot reopens; later, no refund; a counsellor cancelling
 * always refunds in full (the slot stays closed). */
bool cs_rule_cancel(const cs_booking_facts_t *f, int64_t now_us, cs_cancel_terms_t *terms,
                    hl_error_t *err);

/* Complete: 404 "booking-not-found" (absent), 403 "not-a-party", 403 "not-the-counsellor", 409
 * "booking-busy", 409 "booking-not-confirmed", 409 "session-not-ended" (before starts + minutes).
 */
bool cs_rule_complete(const cs_booking_facts_t *f, int64_t now_us, hl_error_t *err);

/* Review: 404 "booking-not-found", 403 "not-a-party", 403 "not-the-client", 409
 * "booking-not-completed", 409 "already-reviewed". */
bool cs_rule_review(const cs_booking_facts_t *f, hl_error_t *err);

/* Verify a counsellor: 403 "not-operator" when the caller lacks the operator role, 404
 * "counsellor-not-found". */
bool cs_rule_verify(bool caller_is_operator, bool counsellor_exists, hl_error_t *err);

#endif
