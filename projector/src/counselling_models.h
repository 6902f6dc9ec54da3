/* counselling_models.h: the read models of the counselling and payment events (SPEC §9), as
 * plans (plan.h). No I/O. docs/read-models.md describes each collection.
 *
 *   counsellors        _id counsellor id: the profile (Counsellor events, guard `v` = the
 *                      Counsellor's aggregate version), the rating (ReviewSubmitted: $inc
 *                      rating_sum / rating_count once per booking, guarded by reviews.<booking>
 *                      being absent)
 *   slots              _id "<counsellor>:<starts_at µs, 19 digits>:<slot id>" (one _id range per
 *                      counsellor and time window): status open|held|booked|withdrawn, guard `v`
 *                      = the slot's version carried by SlotsPublished, SlotWithdrawn and every
 *                      Booking* event
 *   bookings           _id booking id; bookings_by_user _id "<user>:client|counsellor:<booking>"
 *                      (the same document for each party): guard `v` = the Booking's version;
 *                      payment_status guarded apart by payment_v (the Payment's version)
 *   daily_bookings     _id "<day>:Booking|Payment:<aggregate id>": requested, confirmed, failed,
 *                      failed_by_reason.<slug>, cancelled, completed (Booking documents);
 *                      currency, revenue_minor (captured less refunded), refunded_minor (Payment
 *                      documents); each event counted once by the guard v = aggregate version,
 *                      as daily_stats; analysts sum a day's documents; no client free text
 *   notifications      BookingConfirmed: kind booking_confirmed for both parties
 *
 * The watermark of every event ("ev.<aggregate type>:<id>") is set by pj_event_plan. */
#ifndef PJ_COUNSELLING_MODELS_H
#define PJ_COUNSELLING_MODELS_H

#include "plan.h"

#include "hl/error.h"

#include <avro.h>
#include <stdbool.h>
#include <stdint.h>

/* The envelope of one event. Strings borrow from the record. */
typedef struct {
    const char *type;
    const char *event_id;
    const char *aggregate_id;
    int64_t version;
    int64_t occurred_us;
    const char *day; /* "YYYY-MM-DD" of occurred_us */
} pj_event_head_t;

/* Plan the counselling / payment event h->type into plan. *handled is false (and nothing is
 * planned) for any other type. Errors (HL_ERR_INPUT "bad-event"): a field missing or
 * ill-typed. */
bool pj_counselling_plan(const pj_event_head_t *h, avro_value_t *rec, pj_plan_t *plan,
                         bool *handled, hl_error_t *err);

#endif
