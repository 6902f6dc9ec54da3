/* saga_sm.h: the booking saga's state machine (SPEC §9), pure: no I/O, no clock.
 *
 * The process manager (saga.c) keeps each saga's state in PostgreSQL (table sagas). For a saga
 * it asks cs_saga_action what the current state does (a payment provider call, or a database
 * step), performs it (provider calls outside any transaction, with the idempotency key
 * "<saga id>:<action name>"), and asks cs_saga_next what follows from the outcome; it then
 * commits the new state together with the effect's rows and domain events in one transaction.
 * A saga killed at any point resumes from its stored state: the repeated provider call carries
 * the same idempotency key, so the provider answers it once.
 *
 *   booking:       create_intent -> confirm_intent -> confirm_booking -> (confirmed)
 *                  any provider failure before confirm_booking: void -> fail_booking -> (failed)
 *   cancellation:  settle (void | refund | capture) -> cancel_booking -> (cancelled)
 *   completion:    capture -> complete_booking -> (completed)
 *
 * Retries: a transient outcome (5xx, time-out, connection error) retries the same step after
 * CS_SAGA_BACKOFF_BASE_MS * 2^attempts (at most CS_SAGA_BACKOFF_MAX_MS). The steps before the
 * authorization give up at the saga's deadline and compensate; compensation and settlement
 * steps (void, refund, capture) never give up: money is never left half-moved. */
#ifndef CS_SAGA_SM_H
#define CS_SAGA_SM_H

#include <stdbool.h>
#include <stdint.h>

#define CS_SAGA_BACKOFF_BASE_MS 200
#define CS_SAGA_BACKOFF_MAX_MS  5000

typedef enum { CS_SAGA_BOOKING, CS_SAGA_CANCELLATION, CS_SAGA_COMPLETION } cs_saga_kind_t;

/* What a state does. */
typedef enum {
    CS_ACT_NONE,          /* terminal state */
    CS_ACT_SKIP,          /* nothing to call (void without an intent): proceed as CS_OUT_OK */
    CS_ACT_CREATE_INTENT, /* provider: create the PaymentIntent (manual capture) */
    CS_ACT_CONFIRM,       /* provider: confirm it with the payment method (authorize) */
    CS_ACT_VOID,          /* provider: cancel the PaymentIntent (void the authorization) */
    CS_ACT_CAPTURE,       /* provider: capture the authorized amount */
    CS_ACT_REFUND,        /* provider: refund a captured payment in full */
    CS_ACT_DB,            /* a database step only (confirm/fail/cancel/complete the booking) */
} cs_saga_action_t;

/* The outcome of an action. */
typedef enum {
    CS_OUT_OK,        /* done (a database step is always OK) */
    CS_OUT_DECLINED,  /* the provider declined the payment method */
    CS_OUT_TRANSIENT, /* 5xx, time-out, connection failure: the same call may succeed later */
    CS_OUT_PERMANENT, /* any other refusal: repeating the call cannot help */
} cs_saga_outcome_t;

/* What the database write of a transition does besides storing the new state. */
typedef enum {
    CS_EFF_NONE,              /* bookkeeping only (a retry) */
    CS_EFF_INTENT_CREATED,    /* payments.provider_ref = the new intent */
    CS_EFF_AUTHORIZED,        /* payment authorized + PaymentAuthorized */
    CS_EFF_DECLINED,          /* payment declined + PaymentDeclined */
    CS_EFF_VOIDED,            /* payment voided + PaymentVoided (when it was authorized) */
    CS_EFF_CAPTURED,          /* payment captured + PaymentCaptured */
    CS_EFF_REFUNDED,          /* payment refunded + PaymentRefunded */
    CS_EFF_BOOKING_CONFIRMED, /* booking confirmed, slot booked, room opened + events */
    CS_EFF_BOOKING_FAILED,    /* booking failed, slot open again + BookingFailed */
    CS_EFF_BOOKING_CANCELLED, /* booking cancelled (slot reopened or not) + BookingCancelled */
    CS_EFF_BOOKING_COMPLETED, /* booking completed + BookingCompleted */
} cs_saga_effect_t;

/* A saga's stored state, as the transition functions need it. Strings are borrowed. */
typedef struct {
    cs_saga_kind_t kind;
    const char *state;
    bool has_intent;            /* a PaymentIntent exists (payments.provider_ref set) */
    const char *payment_status; /* pending, authorized, declined, captured, voided, refunded */
    bool refund;                /* cancellation: void/refund in full (else charge) */
    int attempts;               /* failed attempts of the current step */
    int64_t deadline_ms;        /* give-up time of the steps before the authorization */
    const char *reason;         /* failure reason chosen when compensation began, or NULL */
} cs_saga_ctx_t;

/* The result of cs_saga_next. Strings are static. */
typedef struct {
    const char *state; /* the next state (the same one on a retry) */
    bool done;         /* the saga ended */
    int64_t run_at_ms; /* when the next step is due */
    int attempts;      /* attempts counter after the transition */
    cs_saga_effect_t effect;
    const char *step;        /* job step name recorded, e.g. "payment-authorized" */
    const char *step_status; /* succeeded | failed | retrying */
    const char *job_status;  /* running | succeeded | failed */
    const char *reason;      /* failure reason slug (NULL when none) */
} cs_saga_step_t;

/* Kind names as stored ("booking", "cancellation", "completion") and back (false if unknown). */
const char *cs_saga_kind_name(cs_saga_kind_t kind);
bool cs_saga_kind_parse(const char *name, cs_saga_kind_t *out);

/* The first state of a saga of kind. */
const char *cs_saga_initial_state(cs_saga_kind_t kind);

/* What ctx's state does; CS_ACT_NONE for a terminal or unknown state. */
cs_saga_action_t cs_saga_action(const cs_saga_ctx_t *ctx);

/* Name of an action as used in idempotency keys and logs ("create_intent", "confirm", ...). */
const char *cs_saga_action_name(cs_saga_action_t action);

/* The transition from ctx after outcome of its action at now_ms (ms since the epoch). Returns
 * false for a state without action (nothing to do). */
bool cs_saga_next(const cs_saga_ctx_t *ctx, cs_saga_outcome_t outcome, int64_t now_ms,
                  cs_saga_step_t *out);

/* Backoff before retry number attempts + 1, ms. */
int64_t cs_saga_backoff_ms(int attempts);

#endif
