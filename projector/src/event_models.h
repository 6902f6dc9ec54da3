/* event_models.h: the domain events' read models: from a decoded Avro event to a plan
 * (plan.h). No I/O.
 *
 * Event read models: friends, friend_requests, friend_requests_by_user, user_counters, inbox,
 * notifications, daily_stats (one document per day and aggregate, guarded by the aggregate
 * version), daily_active_users. Watermark:
 * "ev.<aggregate type>:<aggregate id>" (hl_event_watermark_input) with aggregate_version.
 *
 * Every list a reader asks for is one _id range or _id list (FerretDB reaches only _id through an
 * index): messages "<room>:<seq>", inbox "<user>:<room>", friends "<user>:<friend>",
 * room_members "<room>:<user>", notifications "<user>:<occurred µs>:<event id>",
 * friend_requests_by_user "<user>:in|out:<request>"; integers in keys are PJ_SEQ_DIGITS
 * zero-padded decimal digits. */
#ifndef PJ_EVENT_MODELS_H
#define PJ_EVENT_MODELS_H

#include "plan.h"

#include "hl/error.h"

#include <avro.h>

/* Logical read models fed by domain events, NULL-terminated (`projector rebuild`). */
extern const char *const pj_event_models[];

/* Plan the writes of one decoded domain event (record: the event record; event_type: its Avro
 * record name). Event types no read model consumes only set the watermark. Errors
 * (HL_ERR_AVRO / HL_ERR_INPUT, reason "bad-event"): a field missing or ill-typed. */
bool pj_event_plan(const char *event_type, avro_value_t *record, pj_plan_t *plan, hl_error_t *err);

#endif
