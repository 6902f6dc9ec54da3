/* hl/events.h: the domain event catalog, Avro encoding and Confluent wire framing.
 *
 * schemas/topics.json maps each topic to an ordered list of event types; each type has its own
 * schemas/<Type>.avsc (Avro 1.11 record). The value schema of a topic, registered under the
 * subject "<topic>-value", is the Avro union of those records in that order, so one topic carries
 * several event types and adding a type at the end stays BACKWARD compatible.
 *
 * Wire format (Confluent): byte 0 = magic 0, bytes 1..4 = schema id (big-endian int32), then the
 * Avro binary encoding (Avro spec 1.11 "Binary Encoding") of the union: the branch index as a
 * zig-zag varint, then the record. The `events` table stores the Avro bytes without the 5-byte
 * header together with the schema id. */
#ifndef HL_EVENTS_H
#define HL_EVENTS_H

#include "hl/error.h"

#include <avro.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hl_event_catalog hl_event_catalog_t;

/* Largest single allocation avro-c may make, bytes. avro-c 1.11 allocates a string's or
 * array's declared length before reading it, so a few corrupt bytes claiming 7 GB made the
 * projector ask for 7 GB (found by tests/fuzz/fuzz_event_plan). An event is one Kafka record
 * (message.max.bytes, 1 MiB by default), so nothing legitimate comes near this. */
#define HL_AVRO_MAX_ALLOC (64u << 20)

/* Route avro-c's allocations through a realloc that refuses any single block over
 * HL_AVRO_MAX_ALLOC (the decode then fails cleanly: HL_ERR_AVRO). Process-wide; call once at
 * start before threads use Avro (hl_event_catalog_load and the projector's main do). */
void hl_avro_bound_allocations(void);

/* One topic's value schema. Owned by the catalog. */
typedef struct {
    const char *topic;       /* "user.events" */
    const char *subject;     /* "user.events-value" */
    const char *schema_json; /* canonical union schema text, as registered */
    avro_schema_t schema;    /* the union */
    avro_value_iface_t *iface;
    int schema_id; /* filled by hl_event_catalog_set_schema_id; 0 = unknown */
    size_t nevents;
    const char **event_types; /* ["UserRegistered", ...] in union order */
} hl_topic_schema_t;

/* Load schemas_dir/topics.json and every .avsc it names. Errors: HL_ERR_CONFIG naming the file
 * that is missing or invalid. Caller owns the result (hl_event_catalog_destroy). */
hl_event_catalog_t *hl_event_catalog_load(const char *schemas_dir, hl_error_t *err);

void hl_event_catalog_destroy(hl_event_catalog_t *cat);

/* Number of topics, and the i-th (0-based). */
size_t hl_event_catalog_topic_count(const hl_event_catalog_t *cat);
hl_topic_schema_t *hl_event_catalog_topic_at(hl_event_catalog_t *cat, size_t i);

/* The topic that carries event_type, and the union branch index in *branch; NULL if unknown. */
hl_topic_schema_t *hl_event_catalog_find(hl_event_catalog_t *cat, const char *event_type,
                                         int *branch);

/* The topic named topic, or NULL. */
hl_topic_schema_t *hl_event_catalog_topic(hl_event_catalog_t *cat, const char *topic);

/* An event being built: the union value plus its selected record branch. */
typedef struct {
    hl_topic_schema_t *topic;
    const char *event_type;
    avro_value_t value;  /* the union (owned) */
    avro_value_t record; /* the branch record (view into value) */
} hl_event_t;

/* Start an event of event_type with every field at its zero value. Errors: HL_ERR_AVRO when the
 * type is unknown. Release with hl_event_destroy. */
bool hl_event_init(hl_event_t *ev, hl_event_catalog_t *cat, const char *event_type,
                   hl_error_t *err);
void hl_event_destroy(hl_event_t *ev);

/* Field setters on a record value (ev->record or a nested record). Strings are copied. For a
 * ["null", T] field, *_opt with NULL sets null and non-NULL selects the T branch. Arrays of
 * strings are replaced as a whole. All return false with HL_ERR_AVRO naming the field on a
 * schema mismatch. */
bool hl_avro_set_string(avro_value_t *rec, const char *field, const char *s, hl_error_t *err);
bool hl_avro_set_string_opt(avro_value_t *rec, const char *field, const char *s, hl_error_t *err);
bool hl_avro_set_long(avro_value_t *rec, const char *field, int64_t v, hl_error_t *err);
bool hl_avro_set_bool(avro_value_t *rec, const char *field, bool v, hl_error_t *err);
bool hl_avro_set_string_array(avro_value_t *rec, const char *field, const char *const *items,
                              size_t n, hl_error_t *err);
/* An array of long (e.g. timestamp-micros) field, replaced as a whole. hl_avro_set_long also sets
 * an "int" field when v fits in 32 bits. */
bool hl_avro_set_long_array(avro_value_t *rec, const char *field, const int64_t *items, size_t n,
                            hl_error_t *err);

/* Field getters. Strings point into the value (valid while it lives); a null optional yields
 * NULL with true. Errors: HL_ERR_AVRO when the field is missing or of another type. */
bool hl_avro_get_string(avro_value_t *rec, const char *field, const char **s, hl_error_t *err);
bool hl_avro_get_string_opt(avro_value_t *rec, const char *field, const char **s, hl_error_t *err);
bool hl_avro_get_long(avro_value_t *rec, const char *field, int64_t *v, hl_error_t *err);
bool hl_avro_get_bool(avro_value_t *rec, const char *field, bool *v, hl_error_t *err);

/* Serialize ev->value as Avro binary into a malloc'd buffer (caller frees *out), *len bytes. */
bool hl_event_serialize(hl_event_t *ev, uint8_t **out, size_t *len, hl_error_t *err);

/* Build a Confluent frame: 0x00, schema_id big-endian, body. Caller frees *out. */
bool hl_confluent_frame(int schema_id, const uint8_t *body, size_t len, uint8_t **out,
                        size_t *out_len, hl_error_t *err);

/* Split a Confluent frame. *body points into buf. Errors: HL_ERR_AVRO "not a Confluent frame"
 * when shorter than 5 bytes or the magic byte is not 0. */
bool hl_confluent_unframe(const uint8_t *buf, size_t len, int *schema_id, const uint8_t **body,
                          size_t *body_len, hl_error_t *err);

/* Decode Avro binary body written with writer_schema (a union of event records) into a fresh
 * value of writer_iface (*out, caller calls avro_value_decref), selecting the record branch into
 * *record and its name into *event_type (points into the schema). Trailing bytes or truncation
 * are errors (HL_ERR_AVRO). */
bool hl_event_decode(avro_value_iface_t *writer_iface, const uint8_t *body, size_t len,
                     avro_value_t *out, avro_value_t *record, const char **event_type,
                     hl_error_t *err);

#endif
