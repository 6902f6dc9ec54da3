/* Unit tests for cs_event_partition_key (command-server/src/event_store.h): the Kafka key of
 * each event. Every event that changes one counsellor's read-model documents (Counsellor, Slot,
 * Booking, ReviewSubmitted and Payment events) is keyed by that counsellor, so one partition
 * number of counselling.events and payment.events carries them all; every friend.events event
 * by its pair of users (a pair's `friends` documents are changed by requests and friendships);
 * every other event by its aggregate id (SPEC §1). Issue 16: one writer per document. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "event_store.h"

#include "event_catalog_fixture.h"

#include <stdio.h>
#include <string.h>

#define COUNSELLOR "0190f3a2-0000-7000-8000-00000000c0c0"
#define AGGREGATE  "0190f3a2-0000-7000-8000-0000000a99a9"
#define USER_LOW   "0190f3a2-0000-7000-8000-000000000001"
#define USER_HIGH  "0190f3a2-0000-7000-8000-000000000002"

static char buf[128];

/* The key of an event of type with counsellor_id set to counsellor (NULL: left at its zero
 * value, the empty string) and the aggregate id AGGREGATE. */
static const char *key_of(const char *type, const char *counsellor, hl_event_t *ev)
{
    hl_error_t err;
    hl_error_clear(&err);
    if (!hl_event_init(ev, cat, type, &err))
        fail_msg("%s: %s", type, err.message);
    if (counsellor && !hl_avro_set_string(&ev->record, "counsellor_id", counsellor, &err))
        fail_msg("%s: counsellor_id: %s", type, err.message);
    return cs_event_partition_key(ev, AGGREGATE, buf, sizeof buf);
}

/* The key of friend.events event type with its two user fields set to a and b. */
static const char *pair_key_of(const char *type, const char *fa, const char *a, const char *fb,
                               const char *b, hl_event_t *ev)
{
    hl_error_t err;
    hl_error_clear(&err);
    if (!hl_event_init(ev, cat, type, &err) || !hl_avro_set_string(&ev->record, fa, a, &err) ||
        !hl_avro_set_string(&ev->record, fb, b, &err))
        fail_msg("%s: %s", type, err.message);
    return cs_event_partition_key(ev, AGGREGATE, buf, sizeof buf);
}

static void test_friend_events_keyed_by_their_pair_in_either_order(void **state)
{
    (void)state;
    const struct {
        const char *type, *fa, *fb;
    } types[] = {
        {"FriendRequestSent", "from_user_id", "to_user_id"},
        {"FriendRequestAccepted", "from_user_id", "to_user_id"},
        {"FriendRequestRejected", "from_user_id", "to_user_id"},
        {"FriendDeleted", "user_id", "friend_user_id"},
        {"UserBlocked", "blocker_id", "blocked_id"},
        {"UserUnblocked", "blocker_id", "blocked_id"},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        for (int swap = 0; swap < 2; swap++) {
            hl_event_t ev = {0};
            const char *key = pair_key_of(types[i].type, types[i].fa, swap ? USER_HIGH : USER_LOW,
                                          types[i].fb, swap ? USER_LOW : USER_HIGH, &ev);
            if (strcmp(key, USER_LOW ":" USER_HIGH) != 0)
                fail_msg("%s (swap %d) keyed by %s", types[i].type, swap, key);
            hl_event_destroy(&ev);
        }
    }
}

static void test_a_pair_key_that_does_not_fit_falls_back(void **state)
{
    (void)state;
    hl_event_t ev = {0};
    hl_error_t err;
    hl_error_clear(&err);
    assert_true(hl_event_init(&ev, cat, "FriendDeleted", &err));
    assert_true(hl_avro_set_string(&ev.record, "user_id", USER_LOW, &err));
    assert_true(hl_avro_set_string(&ev.record, "friend_user_id", USER_HIGH, &err));
    char small[16];
    assert_string_equal(cs_event_partition_key(&ev, AGGREGATE, small, sizeof small), AGGREGATE);
    hl_event_destroy(&ev);
}

static void test_counselling_and_payment_events_keyed_by_counsellor(void **state)
{
    (void)state;
    const char *types[] = {"BookingRequested",  "BookingConfirmed", "BookingFailed",
                           "BookingCancelled",  "BookingCompleted", "ReviewSubmitted",
                           "PaymentAuthorized", "PaymentDeclined",  "PaymentCaptured",
                           "PaymentVoided",     "PaymentRefunded"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        hl_event_t ev = {0};
        const char *key = key_of(types[i], COUNSELLOR, &ev);
        if (strcmp(key, COUNSELLOR) != 0)
            fail_msg("%s keyed by %s, not by its counsellor", types[i], key);
        hl_event_destroy(&ev);
    }
}

static void test_counsellor_events_keyed_by_their_aggregate(void **state)
{
    (void)state;
    /* the Counsellor aggregate's id is the counsellor's: no counsellor_id field */
    const char *types[] = {"CounsellorRegistered", "CounsellorProfileUpdated", "CounsellorVerified",
                           "SlotsPublished", "SlotWithdrawn"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        hl_event_t ev = {0};
        assert_string_equal(key_of(types[i], NULL, &ev), AGGREGATE);
        hl_event_destroy(&ev);
    }
}

static void test_other_topics_keyed_by_aggregate(void **state)
{
    (void)state;
    const char *types[] = {"UserRegistered", "FriendRequestSent", "ChatRoomCreated", "MessageSent",
                           "NotificationsRead"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        hl_event_t ev = {0};
        assert_string_equal(key_of(types[i], NULL, &ev), AGGREGATE);
        hl_event_destroy(&ev);
    }
}

static void test_empty_counsellor_falls_back_to_aggregate(void **state)
{
    (void)state;
    hl_event_t ev = {0};
    assert_string_equal(key_of("BookingRequested", NULL, &ev), AGGREGATE);
    hl_event_destroy(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counselling_and_payment_events_keyed_by_counsellor),
        cmocka_unit_test(test_counsellor_events_keyed_by_their_aggregate),
        cmocka_unit_test(test_other_topics_keyed_by_aggregate),
        cmocka_unit_test(test_empty_counsellor_falls_back_to_aggregate),
        cmocka_unit_test(test_friend_events_keyed_by_their_pair_in_either_order),
        cmocka_unit_test(test_a_pair_key_that_does_not_fit_falls_back),
    };
    return cmocka_run_group_tests(tests, catalog_setup, catalog_teardown);
}
