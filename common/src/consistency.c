#include "hl/consistency.h"

#include "hl/util.h"

#include <bson/bson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hl_watermark_set(hl_watermark_t *w, const char *input, const char *key, int64_t version)
{
    snprintf(w->id, sizeof w->id, "%s:%s", input, key);
    w->version = version;
}

const char *hl_event_aggregate_type(const char *event_type)
{
    static const struct {
        const char *event, *aggregate;
    } map[] = {
        {"UserRegistered", "User"},
        {"UserProfileUpdated", "User"},
        {"UserPresenceChanged", "User"},
        {"UserAvatarChanged", "User"},
        {"FriendRequestSent", "FriendRequest"},
        {"FriendRequestAccepted", "FriendRequest"},
        {"FriendRequestRejected", "FriendRequest"},
        {"FriendDeleted", "Friendship"},
        {"UserBlocked", "Block"},
        {"UserUnblocked", "Block"},
        {"ChatRoomCreated", "ChatRoom"},
        {"MessageSent", "ChatRoom"},
        {"MessagesRead", "ChatRoom"},
        {"NotificationsRead", "NotificationInbox"},
        {"CounsellorRegistered", "Counsellor"},
        {"CounsellorProfileUpdated", "Counsellor"},
        {"CounsellorVerified", "Counsellor"},
        {"SlotsPublished", "Counsellor"},
        {"SlotWithdrawn", "Counsellor"},
        {"BookingRequested", "Booking"},
        {"BookingConfirmed", "Booking"},
        {"BookingFailed", "Booking"},
        {"BookingCancelled", "Booking"},
        {"BookingCompleted", "Booking"},
        {"ReviewSubmitted", "Booking"},
        {"PaymentAuthorized", "Payment"},
        {"PaymentDeclined", "Payment"},
        {"PaymentCaptured", "Payment"},
        {"PaymentVoided", "Payment"},
        {"PaymentRefunded", "Payment"},
    };
    for (size_t i = 0; event_type && i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i].event, event_type))
            return map[i].aggregate;
    return NULL;
}

void hl_event_watermark_input(const char *aggregate_type, char *out, size_t cap)
{
    snprintf(out, cap, "ev.%s", aggregate_type);
}

char *hl_consistency_token_new(const hl_token_key_t *key, const hl_watermark_t *w, size_t n)
{
    if (n == 0 || n > HL_CONSISTENCY_MAX_WATERMARKS)
        return NULL;
    bson_t doc = BSON_INITIALIZER, arr;
    BSON_APPEND_ARRAY_BEGIN(&doc, "w", &arr);
    for (size_t i = 0; i < n; i++) {
        char k[24];
        bson_t pair;
        snprintf(k, sizeof k, "%zu", i);
        BSON_APPEND_ARRAY_BEGIN(&arr, k, &pair);
        BSON_APPEND_UTF8(&pair, "0", w[i].id);
        BSON_APPEND_INT64(&pair, "1", w[i].version);
        bson_append_array_end(&arr, &pair);
    }
    bson_append_array_end(&doc, &arr);
    BSON_APPEND_INT64(&doc, "t", hl_now_us() / 1000);
    size_t len = 0;
    char *json = bson_as_relaxed_extended_json(&doc, &len);
    bson_destroy(&doc);
    if (!json)
        return NULL;
    char *token = hl_token_sign(key, json, len);
    bson_free(json);
    return token;
}

static bool bad(hl_error_t *err, const char *why)
{
    return hl_error_set_reason(err, HL_ERR_INPUT, 400, "invalid-consistency-token",
                               "X-Consistency-Token %s", why);
}

bool hl_consistency_token_parse(const hl_token_key_t *key, const char *token, hl_watermark_t *out,
                                size_t *n, hl_error_t *err)
{
    *n = 0;
    char *payload = NULL;
    size_t len = 0;
    if (!hl_token_verify(key, token, &payload, &len, err))
        return bad(err, "does not verify");
    bson_t doc;
    bson_error_t berr;
    bool ok = bson_init_from_json(&doc, payload, (ssize_t)len, &berr);
    free(payload);
    if (!ok)
        return bad(err, "payload is not JSON");
    bson_iter_t it, arr, pair;
    ok = bson_iter_init_find(&it, &doc, "w") && BSON_ITER_HOLDS_ARRAY(&it) &&
         bson_iter_recurse(&it, &arr);
    while (ok && bson_iter_next(&arr)) {
        if (*n == HL_CONSISTENCY_MAX_WATERMARKS || !BSON_ITER_HOLDS_ARRAY(&arr) ||
            !bson_iter_recurse(&arr, &pair) || !bson_iter_next(&pair) ||
            !BSON_ITER_HOLDS_UTF8(&pair)) {
            ok = false;
            break;
        }
        uint32_t idlen = 0;
        const char *id = bson_iter_utf8(&pair, &idlen);
        if (idlen >= HL_WATERMARK_ID_MAX || !bson_iter_next(&pair) ||
            !(BSON_ITER_HOLDS_INT32(&pair) || BSON_ITER_HOLDS_INT64(&pair))) {
            ok = false;
            break;
        }
        memcpy(out[*n].id, id, idlen + 1);
        out[*n].version = bson_iter_as_int64(&pair);
        (*n)++;
    }
    bson_destroy(&doc);
    if (!ok || *n == 0)
        return bad(err, "payload has no valid watermark list");
    return true;
}
