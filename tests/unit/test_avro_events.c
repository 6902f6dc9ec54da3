/* Unit tests for hl/events.h: the event catalog, Avro encoding against golden bytes written by an
 * independent implementation (fastavro, tests/golden/make_golden.py), decoding, and Confluent
 * framing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hl/events.h"

#include "event_catalog_fixture.h"

#include <bson/bson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HL_TEST_GOLDEN_DIR
#error "HL_TEST_GOLDEN_DIR must name tests/golden"
#endif

#define SCHEMA_ID 42

/* Field values; keep in sync with tests/golden/make_golden.py. */
#define UR_EVENT_ID       "01890a5d-ac96-774b-bcce-b302099a8057"
#define UR_AGGREGATE_ID   "01890a5d-ac96-774b-bcce-b302099a8058"
#define UR_CORRELATION_ID "01890a5d-ac96-774b-bcce-b302099a8059"
#define UR_OCCURRED_AT    1700000000123456LL
#define UR_DISPLAY_NAME   "Ada Lovelace \xe2\x9c\x93"

#define CR_EVENT_ID     "01890a5d-ac96-774b-bcce-b302099a8060"
#define CR_AGGREGATE_ID "01890a5d-ac96-774b-bcce-b302099a8061"
#define CR_CAUSATION_ID "01890a5d-ac96-774b-bcce-b302099a8062"
#define CR_OCCURRED_AT  1700000000654321LL
#define CR_TITLE        "Analytical Engine \xc3\xa9quipe"
#define CR_CREATOR      "01890a5d-ac96-774b-bcce-b302099a8058"
static const char *const cr_members[] = {
    "01890a5d-ac96-774b-bcce-b302099a8058",
    "01890a5d-ac96-774b-bcce-b302099a8063",
    "01890a5d-ac96-774b-bcce-b302099a8064",
};

#define PU_EVENT_ID       "01890a5d-ac96-774b-bcce-b302099a8065"
#define PU_AGGREGATE_ID   "01890a5d-ac96-774b-bcce-b302099a8058"
#define PU_CAUSATION_ID   "01890a5d-ac96-774b-bcce-b302099a8066"
#define PU_CORRELATION_ID "01890a5d-ac96-774b-bcce-b302099a8067"
#define PU_AVATAR         "https://example.com/a.png"

/* A buffer read from a golden file. */
typedef struct {
    uint8_t *data;
    size_t len;
} bytes_t;

static int hexdigit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Read tests/golden/<name>: hex digits, whitespace ignored. */
static bytes_t read_golden(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", HL_TEST_GOLDEN_DIR, name);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    bytes_t b = {malloc(4096), 0};
    assert_non_null(b.data);
    int c, hi = -1;
    while ((c = fgetc(f)) != EOF) {
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        int v = hexdigit(c);
        if (v < 0)
            fail_msg("%s: not a hex digit: 0x%02x", path, c);
        if (hi < 0) {
            hi = v;
        } else {
            assert_true(b.len < 4096);
            b.data[b.len++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    fclose(f);
    if (hi >= 0)
        fail_msg("%s: odd number of hex digits", path);
    assert_true(b.len > 5);
    return b;
}

/* Compare bytes, printing the first difference as a hex dump for a useful failure. */
static void assert_bytes_equal(const uint8_t *got, size_t got_len, const uint8_t *want,
                               size_t want_len, const char *what)
{
    size_t n = got_len < want_len ? got_len : want_len;
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("%s: byte %zu is 0x%02x, golden has 0x%02x (lengths %zu vs %zu)", what, i,
                     got[i], want[i], got_len, want_len);
    if (got_len != want_len)
        fail_msg("%s: %zu bytes, golden has %zu", what, got_len, want_len);
}

static void ok(bool cond, const hl_error_t *err, const char *what)
{
    if (!cond)
        fail_msg("%s failed: %s", what, err->message);
}

static void build_user_registered(hl_event_t *ev)
{
    hl_error_t err;
    ok(hl_event_init(ev, cat, "UserRegistered", &err), &err, "init");
    assert_string_equal(ev->event_type, "UserRegistered");
    assert_string_equal(ev->topic->topic, "user.events");
    avro_value_t *r = &ev->record;
    ok(hl_avro_set_string(r, "event_id", UR_EVENT_ID, &err), &err, "event_id");
    ok(hl_avro_set_string(r, "aggregate_id", UR_AGGREGATE_ID, &err), &err, "aggregate_id");
    ok(hl_avro_set_long(r, "aggregate_version", 1, &err), &err, "aggregate_version");
    ok(hl_avro_set_long(r, "occurred_at", UR_OCCURRED_AT, &err), &err, "occurred_at");
    ok(hl_avro_set_string_opt(r, "causation_id", NULL, &err), &err, "causation_id");
    ok(hl_avro_set_string_opt(r, "correlation_id", UR_CORRELATION_ID, &err), &err,
       "correlation_id");
    ok(hl_avro_set_string(r, "display_name", UR_DISPLAY_NAME, &err), &err, "display_name");
}

static void build_chat_room_created(hl_event_t *ev)
{
    hl_error_t err;
    ok(hl_event_init(ev, cat, "ChatRoomCreated", &err), &err, "init");
    avro_value_t *r = &ev->record;
    ok(hl_avro_set_string(r, "event_id", CR_EVENT_ID, &err), &err, "event_id");
    ok(hl_avro_set_string(r, "aggregate_id", CR_AGGREGATE_ID, &err), &err, "aggregate_id");
    ok(hl_avro_set_long(r, "aggregate_version", 1, &err), &err, "aggregate_version");
    ok(hl_avro_set_long(r, "occurred_at", CR_OCCURRED_AT, &err), &err, "occurred_at");
    ok(hl_avro_set_string_opt(r, "causation_id", CR_CAUSATION_ID, &err), &err, "causation_id");
    ok(hl_avro_set_string_opt(r, "correlation_id", NULL, &err), &err, "correlation_id");
    ok(hl_avro_set_string(r, "kind", "group", &err), &err, "kind");
    ok(hl_avro_set_string_opt(r, "title", CR_TITLE, &err), &err, "title");
    /* Set a different array first: set_string_array replaces, it does not append. */
    const char *const junk[] = {"x", "y"};
    ok(hl_avro_set_string_array(r, "member_ids", junk, 2, &err), &err, "member_ids junk");
    ok(hl_avro_set_string_array(r, "member_ids", cr_members, 3, &err), &err, "member_ids");
    ok(hl_avro_set_string(r, "created_by", CR_CREATOR, &err), &err, "created_by");
}

static void build_user_profile_updated(hl_event_t *ev)
{
    hl_error_t err;
    ok(hl_event_init(ev, cat, "UserProfileUpdated", &err), &err, "init");
    avro_value_t *r = &ev->record;
    ok(hl_avro_set_string(r, "event_id", PU_EVENT_ID, &err), &err, "event_id");
    ok(hl_avro_set_string(r, "aggregate_id", PU_AGGREGATE_ID, &err), &err, "aggregate_id");
    ok(hl_avro_set_long(r, "aggregate_version", 300, &err), &err, "aggregate_version");
    ok(hl_avro_set_long(r, "occurred_at", -1, &err), &err, "occurred_at");
    ok(hl_avro_set_string_opt(r, "causation_id", PU_CAUSATION_ID, &err), &err, "causation_id");
    ok(hl_avro_set_string_opt(r, "correlation_id", PU_CORRELATION_ID, &err), &err,
       "correlation_id");
    /* Set then clear: the null branch must win. */
    ok(hl_avro_set_string_opt(r, "display_name", "temp", &err), &err, "display_name");
    ok(hl_avro_set_string_opt(r, "display_name", NULL, &err), &err, "display_name null");
    ok(hl_avro_set_string_opt(r, "bio", "", &err), &err, "bio");
    ok(hl_avro_set_string_opt(r, "avatar_url", PU_AVATAR, &err), &err, "avatar_url");
}

/* Serialize ev, frame it with SCHEMA_ID and compare with the golden file. */
static void check_golden(hl_event_t *ev, const char *golden_name)
{
    hl_error_t err;
    uint8_t *body = NULL, *frame = NULL;
    size_t body_len = 0, frame_len = 0;
    ok(hl_event_serialize(ev, &body, &body_len, &err), &err, "serialize");
    ok(hl_confluent_frame(SCHEMA_ID, body, body_len, &frame, &frame_len, &err), &err, "frame");
    bytes_t golden = read_golden(golden_name);
    assert_bytes_equal(frame, frame_len, golden.data, golden.len, golden_name);
    /* The unframed body is what the events table stores. */
    assert_bytes_equal(body, body_len, golden.data + 5, golden.len - 5, golden_name);
    free(golden.data);
    free(frame);
    free(body);
}

static void test_golden_user_registered(void **state)
{
    (void)state;
    hl_event_t ev;
    build_user_registered(&ev);
    check_golden(&ev, "UserRegistered.avro.hex");
    hl_event_destroy(&ev);
    hl_event_destroy(&ev); /* idempotent */
}

static void test_golden_chat_room_created(void **state)
{
    (void)state;
    hl_event_t ev;
    build_chat_room_created(&ev);
    check_golden(&ev, "ChatRoomCreated.avro.hex");
    hl_event_destroy(&ev);
}

static void test_golden_user_profile_updated(void **state)
{
    (void)state;
    hl_event_t ev;
    build_user_profile_updated(&ev);
    check_golden(&ev, "UserProfileUpdated.avro.hex");
    hl_event_destroy(&ev);
}

/* Unframe a golden file and decode it with the topic's writer schema. */
static void decode_golden(const char *golden_name, const char *topic, avro_value_t *value,
                          avro_value_t *record, const char **type, bytes_t *keep)
{
    hl_error_t err;
    *keep = read_golden(golden_name);
    int schema_id = 0;
    const uint8_t *body = NULL;
    size_t body_len = 0;
    ok(hl_confluent_unframe(keep->data, keep->len, &schema_id, &body, &body_len, &err), &err,
       "unframe");
    assert_int_equal(schema_id, SCHEMA_ID);
    assert_ptr_equal(body, keep->data + 5);
    assert_int_equal(body_len, keep->len - 5);
    hl_topic_schema_t *t = hl_event_catalog_topic(cat, topic);
    assert_non_null(t);
    hl_error_clear(&err);
    ok(hl_event_decode(t->iface, body, body_len, value, record, type, &err), &err, "decode");
}

static void assert_field_string(avro_value_t *r, const char *field, const char *want)
{
    hl_error_t err;
    const char *s = NULL;
    ok(hl_avro_get_string(r, field, &s, &err), &err, field);
    assert_string_equal(s, want);
}

static void assert_field_opt(avro_value_t *r, const char *field, const char *want)
{
    hl_error_t err;
    const char *s = "sentinel";
    ok(hl_avro_get_string_opt(r, field, &s, &err), &err, field);
    if (want)
        assert_string_equal(s, want);
    else
        assert_null(s);
}

static void assert_field_long(avro_value_t *r, const char *field, int64_t want)
{
    hl_error_t err;
    int64_t v = 0;
    ok(hl_avro_get_long(r, field, &v, &err), &err, field);
    assert_true(v == want);
}

static void test_decode_user_registered(void **state)
{
    (void)state;
    avro_value_t value, record;
    const char *type = NULL;
    bytes_t golden;
    decode_golden("UserRegistered.avro.hex", "user.events", &value, &record, &type, &golden);
    assert_string_equal(type, "UserRegistered");
    assert_field_string(&record, "event_id", UR_EVENT_ID);
    assert_field_string(&record, "aggregate_id", UR_AGGREGATE_ID);
    assert_field_long(&record, "aggregate_version", 1);
    assert_field_long(&record, "occurred_at", UR_OCCURRED_AT);
    assert_field_opt(&record, "causation_id", NULL);
    assert_field_opt(&record, "correlation_id", UR_CORRELATION_ID);
    assert_field_string(&record, "display_name", UR_DISPLAY_NAME);

    /* Getter errors: a missing field and a type mismatch. */
    hl_error_t err;
    const char *s;
    int64_t v;
    bool b;
    hl_error_clear(&err);
    assert_false(hl_avro_get_string(&record, "no_such_field", &s, &err));
    assert_int_equal(err.domain, HL_ERR_AVRO);
    assert_non_null(strstr(err.message, "no_such_field"));
    assert_false(hl_avro_get_long(&record, "display_name", &v, &err));
    assert_int_equal(err.domain, HL_ERR_AVRO);
    assert_false(hl_avro_get_string(&record, "aggregate_version", &s, &err));
    assert_false(hl_avro_get_bool(&record, "display_name", &b, &err));
    assert_false(hl_avro_get_string_opt(&record, "aggregate_version", &s, &err));
    /* A required string read as optional is accepted (the writer made it required). */
    ok(hl_avro_get_string_opt(&record, "display_name", &s, &err), &err, "opt of required");
    assert_string_equal(s, UR_DISPLAY_NAME);

    avro_value_decref(&value);
    free(golden.data);
}

static void test_decode_chat_room_created(void **state)
{
    (void)state;
    avro_value_t value, record;
    const char *type = NULL;
    bytes_t golden;
    decode_golden("ChatRoomCreated.avro.hex", "chat.events", &value, &record, &type, &golden);
    assert_string_equal(type, "ChatRoomCreated");
    assert_field_string(&record, "event_id", CR_EVENT_ID);
    assert_field_long(&record, "occurred_at", CR_OCCURRED_AT);
    assert_field_opt(&record, "causation_id", CR_CAUSATION_ID);
    assert_field_opt(&record, "correlation_id", NULL);
    assert_field_string(&record, "kind", "group");
    assert_field_opt(&record, "title", CR_TITLE);
    assert_field_string(&record, "created_by", CR_CREATOR);
    avro_value_t members;
    assert_int_equal(avro_value_get_by_name(&record, "member_ids", &members, NULL), 0);
    size_t n = 0;
    assert_int_equal(avro_value_get_size(&members, &n), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        avro_value_t item;
        const char *s = NULL;
        size_t sz = 0;
        assert_int_equal(avro_value_get_by_index(&members, i, &item, NULL), 0);
        assert_int_equal(avro_value_get_string(&item, &s, &sz), 0);
        assert_string_equal(s, cr_members[i]);
    }
    avro_value_decref(&value);
    free(golden.data);
}

static void test_decode_user_profile_updated(void **state)
{
    (void)state;
    avro_value_t value, record;
    const char *type = NULL;
    bytes_t golden;
    decode_golden("UserProfileUpdated.avro.hex", "user.events", &value, &record, &type, &golden);
    assert_string_equal(type, "UserProfileUpdated"); /* union branch 1 */
    assert_field_long(&record, "aggregate_version", 300);
    assert_field_long(&record, "occurred_at", -1);
    assert_field_opt(&record, "display_name", NULL);
    assert_field_opt(&record, "bio", "");
    assert_field_opt(&record, "avatar_url", PU_AVATAR);
    avro_value_decref(&value);
    free(golden.data);
}

/* Our own encoder's output decodes to the same values (event built, serialized, decoded). */
static void test_roundtrip_own_encoding(void **state)
{
    (void)state;
    hl_event_t ev;
    hl_error_t err;
    build_chat_room_created(&ev);
    uint8_t *body = NULL;
    size_t len = 0;
    ok(hl_event_serialize(&ev, &body, &len, &err), &err, "serialize");
    avro_value_t value, record;
    const char *type = NULL;
    ok(hl_event_decode(ev.topic->iface, body, len, &value, &record, &type, &err), &err, "decode");
    assert_string_equal(type, "ChatRoomCreated");
    assert_true(avro_value_equal(&value, &ev.value));
    assert_field_opt(&record, "title", CR_TITLE);
    avro_value_decref(&value);
    free(body);
    hl_event_destroy(&ev);
}

static void assert_undecodable_on(const char *topic, const uint8_t *body, size_t len,
                                  const char *what)
{
    hl_topic_schema_t *t = hl_event_catalog_topic(cat, topic);
    assert_non_null(t);
    avro_value_t value, record;
    const char *type = NULL;
    hl_error_t err;
    hl_error_clear(&err);
    if (hl_event_decode(t->iface, body, len, &value, &record, &type, &err)) {
        avro_value_decref(&value);
        fail_msg("%s (%zu bytes) decoded as %s", what, len, type);
    }
    assert_int_equal(err.domain, HL_ERR_AVRO);
    assert_string_equal(err.reason, "undecodable");
}

static void assert_undecodable(const uint8_t *body, size_t len, const char *what)
{
    assert_undecodable_on("user.events", body, len, what);
}

static void test_decode_truncated(void **state)
{
    (void)state;
    bytes_t golden = read_golden("UserRegistered.avro.hex");
    const uint8_t *body = golden.data + 5;
    size_t len = golden.len - 5;
    /* Every proper prefix, the empty body included, is an error. */
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact-size copy so ASan sees over-reads */
        memcpy(copy, body, n);
        assert_undecodable(copy, n, "truncated body");
        free(copy);
    }
    free(golden.data);
}

static void test_decode_trailing_garbage(void **state)
{
    (void)state;
    bytes_t golden = read_golden("UserRegistered.avro.hex");
    const uint8_t *body = golden.data + 5;
    size_t len = golden.len - 5;
    uint8_t *longer = malloc(len + 8);
    memcpy(longer, body, len);
    memset(longer + len, 0, 8);
    assert_undecodable(longer, len + 1, "body + 1 zero byte");
    assert_undecodable(longer, len + 8, "body + 8 zero bytes");
    longer[len] = 0x02;
    assert_undecodable(longer, len + 1, "body + 1 byte");
    /* Two events back to back are not one event. */
    uint8_t *twice = malloc(2 * len);
    memcpy(twice, body, len);
    memcpy(twice + len, body, len);
    assert_undecodable(twice, 2 * len, "two bodies");
    free(twice);
    free(longer);
    free(golden.data);
}

static void test_decode_garbage(void **state)
{
    (void)state;
    /* Union branch 3 and -1 (zig-zag 0x06, 0x01) do not exist in user.events (3 branches). */
    const uint8_t branch3[] = {0x06, 0x00};
    assert_undecodable(branch3, sizeof branch3, "branch 3");
    const uint8_t branch_neg[] = {0x01, 0x00};
    assert_undecodable(branch_neg, sizeof branch_neg, "branch -1");
    /* A string length far past the end of the buffer (1 MiB). */
    const uint8_t long_string[] = {0x00, 0x80, 0x80, 0x80, 0x01, 'a', 'b'};
    assert_undecodable(long_string, sizeof long_string, "oversized string length");
    /* A negative string length. */
    const uint8_t neg_string[] = {0x00, 0x03, 'a'};
    assert_undecodable(neg_string, sizeof neg_string, "negative string length");
    /* A varint that never ends. */
    const uint8_t endless[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_undecodable(endless, sizeof endless, "endless varint");
}

/* Decode body with chat.events and check the three member ids survived. */
static void assert_chat_members(const uint8_t *body, size_t len, const char *what)
{
    hl_topic_schema_t *t = hl_event_catalog_topic(cat, "chat.events");
    avro_value_t value, record, members;
    const char *type = NULL;
    hl_error_t err;
    hl_error_clear(&err);
    if (!hl_event_decode(t->iface, body, len, &value, &record, &type, &err))
        fail_msg("%s: %s", what, err.message);
    assert_string_equal(type, "ChatRoomCreated");
    assert_int_equal(avro_value_get_by_name(&record, "member_ids", &members, NULL), 0);
    size_t n = 0;
    assert_int_equal(avro_value_get_size(&members, &n), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        avro_value_t item;
        const char *s = NULL;
        size_t sz = 0;
        assert_int_equal(avro_value_get_by_index(&members, i, &item, NULL), 0);
        assert_int_equal(avro_value_get_string(&item, &s, &sz), 0);
        assert_string_equal(s, cr_members[i]);
    }
    assert_field_string(&record, "created_by", CR_CREATOR);
    avro_value_decref(&value);
}

/* Valid Avro that is not the canonical encoding must decode too (Avro 1.11 "Arrays": items may
 * come in several blocks, and a negative block count is followed by the block's byte size;
 * other writers, e.g. Java's BlockingBinaryEncoder, produce these). Guards against a trailing-
 * bytes check that compares the input length with the canonical size. */
/* Append n bytes at *at in dst. */
static void put(uint8_t *dst, size_t *at, const void *src, size_t n)
{
    memcpy(dst + *at, src, n);
    *at += n;
}

static void test_decode_non_canonical(void **state)
{
    (void)state;
    bytes_t golden = read_golden("ChatRoomCreated.avro.hex");
    const uint8_t *body = golden.data + 5;
    size_t len = golden.len - 5;
    /* member_ids in the canonical form: count 3 (zig-zag 0x06), 3 strings of 1 + 36 bytes, 0. */
    const size_t item = 1 + 36;
    size_t at = 0;
    while (at + 2 + 36 <= len &&
           !(body[at] == 0x06 && body[at + 1] == 0x48 && !memcmp(body + at + 2, cr_members[0], 36)))
        at++;
    assert_true(at + 1 + 3 * item < len);
    const uint8_t *items = body + at + 1, *rest = items + 3 * item;
    assert_int_equal(rest[0], 0x00);
    size_t rest_len = len - (size_t)(rest - body);
    uint8_t *b = malloc(len + 16);
    assert_non_null(b);

    /* Two blocks: count 1 (0x02), one item, count 2 (0x04), two items, then the end 0. */
    size_t n = 0;
    put(b, &n, body, at);
    put(b, &n, "\x02", 1);
    put(b, &n, items, item);
    put(b, &n, "\x04", 1);
    put(b, &n, items + item, 2 * item);
    put(b, &n, rest, rest_len);
    assert_int_equal(n, len + 1);
    assert_chat_members(b, n, "two blocks");

    /* One block with a negative count: -3 (0x05), byte size 111 (zig-zag 222: 0xde 0x01). */
    n = 0;
    put(b, &n, body, at);
    put(b, &n, "\x05\xde\x01", 3);
    put(b, &n, items, 3 * item);
    put(b, &n, rest, rest_len);
    assert_int_equal(n, len + 2);
    assert_chat_members(b, n, "negative block count");
    /* ...and still no tolerance for trailing bytes. */
    b[n] = 0x00;
    assert_undecodable_on("chat.events", b, n + 1, "negative block count + 1 byte");

    free(b);
    free(golden.data);
}

static void test_confluent_frame(void **state)
{
    (void)state;
    hl_error_t err;
    const uint8_t body[] = {0xde, 0xad, 0xbe, 0xef};
    uint8_t *frame = NULL;
    size_t frame_len = 0;
    ok(hl_confluent_frame(0x01020304, body, sizeof body, &frame, &frame_len, &err), &err, "frame");
    const uint8_t want[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0xde, 0xad, 0xbe, 0xef};
    assert_bytes_equal(frame, frame_len, want, sizeof want, "frame");
    int id = 0;
    const uint8_t *b = NULL;
    size_t bl = 0;
    ok(hl_confluent_unframe(frame, frame_len, &id, &b, &bl, &err), &err, "unframe");
    assert_int_equal(id, 0x01020304);
    assert_ptr_equal(b, frame + 5);
    assert_int_equal(bl, 4);
    free(frame);

    /* An empty body still makes a 5-byte frame, which unframes to an empty body. */
    ok(hl_confluent_frame(7, NULL, 0, &frame, &frame_len, &err), &err, "empty frame");
    assert_int_equal(frame_len, 5);
    ok(hl_confluent_unframe(frame, frame_len, &id, &b, &bl, &err), &err, "unframe empty");
    assert_int_equal(id, 7);
    assert_int_equal(bl, 0);
    free(frame);
}

static void assert_bad_frame(const uint8_t *buf, size_t len)
{
    hl_error_t err;
    int id = -5;
    const uint8_t *b = NULL;
    size_t bl = 99;
    hl_error_clear(&err);
    assert_false(hl_confluent_unframe(buf, len, &id, &b, &bl, &err));
    assert_int_equal(err.domain, HL_ERR_AVRO);
    assert_non_null(strstr(err.message, "not a Confluent frame"));
    assert_int_equal(id, -5); /* outputs untouched */
    assert_null(b);
}

static void test_confluent_unframe_errors(void **state)
{
    (void)state;
    const uint8_t good[] = {0x00, 0x00, 0x00, 0x00, 0x2a, 0x00};
    for (size_t n = 0; n < 5; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, good, n);
        assert_bad_frame(copy, n);
        free(copy);
    }
    assert_bad_frame(NULL, 0);
    assert_bad_frame(NULL, 10);
    const uint8_t magic1[] = {0x01, 0x00, 0x00, 0x00, 0x2a, 0x00};
    assert_bad_frame(magic1, sizeof magic1);
    const uint8_t magicff[] = {0xff, 0x00, 0x00, 0x00, 0x2a};
    assert_bad_frame(magicff, sizeof magicff);
}

/* Every event type listed in topics.json is found on its topic at its position. */
static void test_catalog_find_all(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/topics.json", HL_TEST_SCHEMAS_DIR);
    bson_error_t berr;
    bson_json_reader_t *reader = bson_json_reader_new_from_file(path, &berr);
    assert_non_null(reader);
    bson_t doc = BSON_INITIALIZER;
    assert_int_equal(bson_json_reader_read(reader, &doc, &berr), 1);
    bson_json_reader_destroy(reader);

    bson_iter_t it, topics;
    assert_true(bson_iter_init_find(&it, &doc, "topics"));
    assert_true(bson_iter_recurse(&it, &topics));
    size_t ntopics = 0, ntypes = 0;
    while (bson_iter_next(&topics)) {
        const char *topic = bson_iter_key(&topics);
        hl_topic_schema_t *t = hl_event_catalog_topic(cat, topic);
        if (!t)
            fail_msg("topic %s not in the catalog", topic);
        assert_ptr_equal(hl_event_catalog_topic_at(cat, ntopics), t); /* file order */
        char subject[256];
        snprintf(subject, sizeof subject, "%s-value", topic);
        assert_string_equal(t->subject, subject);
        assert_int_equal(t->schema_id, 0);
        assert_non_null(t->schema_json);
        assert_int_equal(avro_typeof(t->schema), AVRO_UNION);
        bson_iter_t types;
        assert_true(bson_iter_recurse(&topics, &types));
        int j = 0;
        while (bson_iter_next(&types)) {
            const char *type = bson_iter_utf8(&types, NULL);
            int branch = -1;
            hl_topic_schema_t *found = hl_event_catalog_find(cat, type, &branch);
            if (found != t)
                fail_msg("%s: found on %s, expected %s", type, found ? found->topic : "(none)",
                         topic);
            assert_int_equal(branch, j);
            assert_string_equal(t->event_types[j], type);
            assert_non_null(strstr(t->schema_json, type));
            /* The union branch j is the record of that name. */
            avro_schema_t rec = avro_schema_union_branch(t->schema, j);
            assert_string_equal(avro_schema_name(rec), type);
            /* And an event of that type can be started. */
            hl_event_t ev;
            hl_error_t err;
            ok(hl_event_init(&ev, cat, type, &err), &err, type);
            assert_ptr_equal(ev.topic, t);
            assert_string_equal(ev.event_type, type);
            hl_event_destroy(&ev);
            j++;
            ntypes++;
        }
        assert_int_equal(t->nevents, (size_t)j);
        assert_int_equal(avro_schema_union_size(t->schema), (size_t)j);
        ntopics++;
    }
    bson_destroy(&doc);
    assert_int_equal(hl_event_catalog_topic_count(cat), ntopics);
    assert_null(hl_event_catalog_topic_at(cat, ntopics));
    assert_true(ntypes >= 13);

    assert_null(hl_event_catalog_find(cat, "NoSuchEvent", NULL));
    assert_null(hl_event_catalog_find(cat, "userregistered", NULL));
    assert_null(hl_event_catalog_topic(cat, "nope.events"));
}

static void test_init_and_setter_errors(void **state)
{
    (void)state;
    hl_event_t ev;
    hl_error_t err;
    hl_error_clear(&err);
    assert_false(hl_event_init(&ev, cat, "NoSuchEvent", &err));
    assert_int_equal(err.domain, HL_ERR_AVRO);
    assert_non_null(strstr(err.message, "NoSuchEvent"));
    hl_event_destroy(&ev); /* safe after a failed init */

    ok(hl_event_init(&ev, cat, "ChatRoomCreated", &err), &err, "init");
    avro_value_t *r = &ev.record;
    assert_false(hl_avro_set_string(r, "no_such_field", "x", &err));
    assert_int_equal(err.domain, HL_ERR_AVRO);
    assert_non_null(strstr(err.message, "no_such_field"));
    assert_false(hl_avro_set_long(r, "kind", 1, &err));                  /* string field */
    assert_false(hl_avro_set_string(r, "aggregate_version", "1", &err)); /* long field */
    assert_false(hl_avro_set_string(r, "title", "t", &err));             /* union field */
    assert_false(hl_avro_set_string_opt(r, "kind", "x", &err));          /* not a union */
    assert_false(hl_avro_set_bool(r, "kind", true, &err));
    assert_false(hl_avro_set_string_array(r, "kind", NULL, 0, &err));
    hl_event_destroy(&ev);
}

static void test_catalog_load_errors(void **state)
{
    (void)state;
    hl_error_t err;
    hl_error_clear(&err);
    assert_null(hl_event_catalog_load("/nonexistent/schemas", &err));
    assert_int_equal(err.domain, HL_ERR_CONFIG);
    assert_non_null(strstr(err.message, "topics.json"));
}

/* Usage: test_avro_events [malformed]. Without an argument, every test but the malformed-input
 * group runs; with "malformed", only that group. The group is a separate CTest test because
 * avro-c 1.11.1 leaks a string's buffer when its read fails (AVRO-4246) and allocates a string's
 * declared length before checking it against the input, so under ASan it runs with
 * allocator_may_return_null=1 and leak detection off (see tests/CMakeLists.txt). */
int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_user_registered),
        cmocka_unit_test(test_golden_chat_room_created),
        cmocka_unit_test(test_golden_user_profile_updated),
        cmocka_unit_test(test_decode_user_registered),
        cmocka_unit_test(test_decode_chat_room_created),
        cmocka_unit_test(test_decode_user_profile_updated),
        cmocka_unit_test(test_roundtrip_own_encoding),
        cmocka_unit_test(test_decode_trailing_garbage),
        cmocka_unit_test(test_decode_non_canonical),
        cmocka_unit_test(test_confluent_frame),
        cmocka_unit_test(test_confluent_unframe_errors),
        cmocka_unit_test(test_catalog_find_all),
        cmocka_unit_test(test_init_and_setter_errors),
        cmocka_unit_test(test_catalog_load_errors),
    };
    const struct CMUnitTest malformed[] = {
        cmocka_unit_test(test_decode_truncated),
        cmocka_unit_test(test_decode_garbage),
    };
    if (argc > 1 && !strcmp(argv[1], "malformed"))
        return cmocka_run_group_tests_name("malformed", malformed, catalog_setup, catalog_teardown);
    if (argc > 1) {
        fprintf(stderr, "usage: %s [malformed]\n", argv[0]);
        return 2;
    }
    return cmocka_run_group_tests(tests, catalog_setup, catalog_teardown);
}
