/* saga_sm.c: see saga_sm.h. */
#include "saga_sm.h"

#include <string.h>

const char *cs_saga_kind_name(cs_saga_kind_t kind)
{
    switch (kind) {
    case CS_SAGA_BOOKING:
        return "booking";
    case CS_SAGA_CANCELLATION:
        return "cancellation";
    case CS_SAGA_COMPLETION:
        return "completion";
    }
    return "booking";
}

bool cs_saga_kind_parse(const char *name, cs_saga_kind_t *out)
{
    static const cs_saga_kind_t kinds[] = {CS_SAGA_BOOKING, CS_SAGA_CANCELLATION,
                                           CS_SAGA_COMPLETION};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (name && !strcmp(name, cs_saga_kind_name(kinds[i]))) {
            *out = kinds[i];
            return true;
        }
    return false;
}

const char *cs_saga_initial_state(cs_saga_kind_t kind)
{
    switch (kind) {
    case CS_SAGA_BOOKING:
        return "create_intent";
    case CS_SAGA_CANCELLATION:
        return "settle";
    case CS_SAGA_COMPLETION:
        return "capture";
    }
    return "create_intent";
}

static bool is(const cs_saga_ctx_t *ctx, const char *state)
{
    return ctx->state && !strcmp(ctx->state, state);
}

cs_saga_action_t cs_saga_action(const cs_saga_ctx_t *ctx)
{
    switch (ctx->kind) {
    case CS_SAGA_BOOKING:
        if (is(ctx, "create_intent"))
            return CS_ACT_CREATE_INTENT;
        if (is(ctx, "confirm_intent"))
            return CS_ACT_CONFIRM;
        if (is(ctx, "void"))
            return ctx->has_intent ? CS_ACT_VOID : CS_ACT_SKIP;
        if (is(ctx, "confirm_booking") || is(ctx, "fail_booking"))
            return CS_ACT_DB;
        return CS_ACT_NONE;
    case CS_SAGA_CANCELLATION:
        if (is(ctx, "settle")) {
            if (!ctx->has_intent)
                return CS_ACT_SKIP;
            if (!ctx->refund)
                return CS_ACT_CAPTURE;
            return ctx->payment_status && !strcmp(ctx->payment_status, "captured") ? CS_ACT_REFUND
                                                                                   : CS_ACT_VOID;
        }
        if (is(ctx, "cancel_booking"))
            return CS_ACT_DB;
        return CS_ACT_NONE;
    case CS_SAGA_COMPLETION:
        if (is(ctx, "capture"))
            return ctx->has_intent ? CS_ACT_CAPTURE : CS_ACT_SKIP;
        if (is(ctx, "complete_booking"))
            return CS_ACT_DB;
        return CS_ACT_NONE;
    }
    return CS_ACT_NONE;
}

const char *cs_saga_action_name(cs_saga_action_t action)
{
    switch (action) {
    case CS_ACT_NONE:
        return "none";
    case CS_ACT_SKIP:
        return "skip";
    case CS_ACT_CREATE_INTENT:
        return "create_intent";
    case CS_ACT_CONFIRM:
        return "confirm";
    case CS_ACT_VOID:
        return "void";
    case CS_ACT_CAPTURE:
        return "capture";
    case CS_ACT_REFUND:
        return "refund";
    case CS_ACT_DB:
        return "db";
    }
    return "none";
}

int64_t cs_saga_backoff_ms(int attempts)
{
    int64_t ms = CS_SAGA_BACKOFF_BASE_MS;
    for (int i = 0; i < attempts && ms < CS_SAGA_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < CS_SAGA_BACKOFF_MAX_MS ? ms : CS_SAGA_BACKOFF_MAX_MS;
}

static void go(cs_saga_step_t *out, const char *state, int64_t now_ms, cs_saga_effect_t effect,
               const char *step, const char *step_status)
{
    out->state = state;
    out->done = false;
    out->run_at_ms = now_ms;
    out->attempts = 0;
    out->effect = effect;
    out->step = step;
    out->step_status = step_status;
    out->job_status = "running";
}

static void finish(cs_saga_step_t *out, const char *state, int64_t now_ms, cs_saga_effect_t effect,
                   const char *step, bool succeeded)
{
    go(out, state, now_ms, effect, step, succeeded ? "succeeded" : "failed");
    out->done = true;
    out->job_status = succeeded ? "succeeded" : "failed";
}

/* A transient failure of step: retry later, or (when give_up_at >= 0 and the retry would land
 * past it) return false so the caller compensates. */
static bool retry(const cs_saga_ctx_t *ctx, int64_t now_ms, int64_t give_up_at, const char *step,
                  cs_saga_step_t *out)
{
    int64_t at = now_ms + cs_saga_backoff_ms(ctx->attempts);
    if (give_up_at >= 0 && at >= give_up_at)
        return false;
    go(out, ctx->state, at, CS_EFF_NONE, step, "retrying");
    out->attempts = ctx->attempts + 1;
    out->reason = ctx->reason;
    return true;
}

/* Begin compensation of a booking saga with reason. */
static void compensate(cs_saga_step_t *out, int64_t now_ms, cs_saga_effect_t effect,
                       const char *step, const char *reason)
{
    go(out, "void", now_ms, effect, step, "failed");
    out->reason = reason;
}

bool cs_saga_next(const cs_saga_ctx_t *ctx, cs_saga_outcome_t outcome, int64_t now_ms,
                  cs_saga_step_t *out)
{
    memset(out, 0, sizeof *out);
    cs_saga_action_t action = cs_saga_action(ctx);
    if (action == CS_ACT_NONE)
        return false;
    out->reason = ctx->reason;
    switch (ctx->kind) {
    case CS_SAGA_BOOKING:
        if (is(ctx, "create_intent") || is(ctx, "confirm_intent")) {
            bool create = is(ctx, "create_intent");
            const char *step = create ? "payment-intent-created" : "payment-authorized";
            switch (outcome) {
            case CS_OUT_OK:
                if (create)
                    go(out, "confirm_intent", now_ms, CS_EFF_INTENT_CREATED, step, "succeeded");
                else
                    go(out, "confirm_booking", now_ms, CS_EFF_AUTHORIZED, step, "succeeded");
                return true;
            case CS_OUT_DECLINED:
                compensate(out, now_ms, CS_EFF_DECLINED, "payment-declined", "payment-declined");
                return true;
            case CS_OUT_TRANSIENT:
                if (retry(ctx, now_ms, ctx->deadline_ms, step, out))
                    return true;
                compensate(out, now_ms, CS_EFF_NONE, step, "payment-provider-unavailable");
                return true;
            case CS_OUT_PERMANENT:
                compensate(out, now_ms, CS_EFF_NONE, step, "payment-error");
                return true;
            }
            return false;
        }
        if (is(ctx, "confirm_booking")) {
            finish(out, "confirmed", now_ms, CS_EFF_BOOKING_CONFIRMED, "booking-confirmed", true);
            return true;
        }
        if (is(ctx, "void")) {
            if (outcome == CS_OUT_TRANSIENT && retry(ctx, now_ms, -1, "payment-voided", out))
                return true;
            /* OK, or PERMANENT (nothing left to void: the intent was never authorized) */
            go(out, "fail_booking", now_ms, outcome == CS_OUT_OK ? CS_EFF_VOIDED : CS_EFF_NONE,
               "payment-voided", outcome == CS_OUT_OK ? "succeeded" : "failed");
            out->reason = ctx->reason ? ctx->reason : "payment-error";
            return true;
        }
        if (is(ctx, "fail_booking")) {
            finish(out, "failed", now_ms, CS_EFF_BOOKING_FAILED, "booking-failed", false);
            out->reason = ctx->reason ? ctx->reason : "payment-error";
            return true;
        }
        return false;
    case CS_SAGA_CANCELLATION:
        if (is(ctx, "settle")) {
            const char *step = action == CS_ACT_CAPTURE  ? "payment-captured"
                               : action == CS_ACT_REFUND ? "payment-refunded"
                                                         : "payment-voided";
            if (outcome == CS_OUT_TRANSIENT && retry(ctx, now_ms, -1, step, out))
                return true;
            cs_saga_effect_t effect = CS_EFF_NONE;
            if (outcome == CS_OUT_OK && action != CS_ACT_SKIP)
                effect = action == CS_ACT_CAPTURE  ? CS_EFF_CAPTURED
                         : action == CS_ACT_REFUND ? CS_EFF_REFUNDED
                                                   : CS_EFF_VOIDED;
            go(out, "cancel_booking", now_ms, effect, step,
               outcome == CS_OUT_OK ? "succeeded" : "failed");
            return true;
        }
        if (is(ctx, "cancel_booking")) {
            finish(out, "cancelled", now_ms, CS_EFF_BOOKING_CANCELLED, "booking-cancelled", true);
            return true;
        }
        return false;
    case CS_SAGA_COMPLETION:
        if (is(ctx, "capture")) {
            if (outcome == CS_OUT_TRANSIENT && retry(ctx, now_ms, -1, "payment-captured", out))
                return true;
            if (outcome == CS_OUT_OK) {
                go(out, "complete_booking", now_ms,
                   action == CS_ACT_SKIP ? CS_EFF_NONE : CS_EFF_CAPTURED, "payment-captured",
                   "succeeded");
                return true;
            }
            /* the provider refused the capture: the booking stays confirmed */
            finish(out, "capture_failed", now_ms, CS_EFF_NONE, "payment-captured", false);
            out->reason = "payment-error";
            return true;
        }
        if (is(ctx, "complete_booking")) {
            finish(out, "completed", now_ms, CS_EFF_BOOKING_COMPLETED, "booking-completed", true);
            return true;
        }
        return false;
    }
    return false;
}
