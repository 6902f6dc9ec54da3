/* cdc.h: Debezium change events (PostgreSQL connector, JsonConverter with schemas.enable=false)
 * and the pure row → read-model mappings built on them. No I/O.
 *
 * Envelope (Debezium PostgreSQL connector 3.x, "Data change events"):
 *   {"before": {...}|null, "after": {...}|null, "source": {"lsn": n, "ts_ms": n, "table": "...",
 *    "snapshot": "true"|"false"|"last"|..., ...}, "op": "c"|"u"|"d"|"r"|"t", "ts_ms": n}
 * "r" is a row read by the initial snapshot. */
#ifndef PJ_CDC_H
#define PJ_CDC_H

#include "hl/error.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    char op;        /* 'c' create, 'u' update, 'd' delete, 'r' snapshot read */
    bson_t row;     /* the after image (before image for 'd'); owned */
    int64_t lsn;    /* source.lsn: position of the change in the WAL */
    int64_t ts_ms;  /* source.ts_ms: commit time in the database, ms since the epoch */
    char table[64]; /* source.table */
    /* the before image of a 'u' when Debezium sent one (a table with REPLICA IDENTITY FULL:
     * `users`, command-server/sql/006_users_replica_identity.sql; with the default identity
     * an update's "before" is null); owned when has_before */
    bool has_before;
    bson_t before;
} pj_cdc_change_t;

/* Parse one Kafka message value (the before image of a 'u' too, when it is an object). Errors
 * (HL_ERR_INPUT, reason "bad-envelope"): not JSON, not an object, missing/ill-typed op, source.lsn,
 * source.ts_ms, or the row image the op needs. On success the caller releases out with
 * pj_cdc_change_destroy. */
bool pj_cdc_parse(const char *json, size_t len, pj_cdc_change_t *out, hl_error_t *err);
void pj_cdc_change_destroy(pj_cdc_change_t *c);

/* user_profiles read model from a `users` row change. Fills *filter and *update (initialised
 * here) for an upsert that only applies when the stored version is older:
 *   filter  {_id: user_id, version: {$lt: row.version}}
 *   update  {$set: {display_name, display_name_lower, bio, avatar_url, presence, presence_set,
 *            avatar ({url_512, url_128, version} or null; only when the row has the avatar_512
 *            and avatar_128 columns), created_at (date), updated_at (date), version,
 *            source: {lsn, ts_ms}}}
 * For 'd', *is_delete is set and filter is {_id} (the before image of a delete carries only
 * the key; the key's partition is ordered, so nothing older follows the delete).
 * Errors (reason "bad-row"): a required column missing or of the wrong type. */
bool pj_user_profile_from_cdc(const pj_cdc_change_t *c, bson_t *filter, bson_t *update,
                              bool *is_delete, hl_error_t *err);

/* A timestamp column as Debezium emits it: an ISO-8601 string (ZonedTimestamp, for timestamptz)
 * or an integer of epoch microseconds (MicroTimestamp). Returns false when neither. */
bool pj_cdc_timestamp_us(const bson_t *row, const char *column, int64_t *us);

/* ASCII case folding of a UTF-8 string into out[cap] (other bytes copied unchanged), for the
 * case-insensitive prefix search on display names; the same folding as hl_fold_ascii (which
 * the user_names keys and the query server use). */
void pj_fold_case(const char *in, char *out, size_t cap);

#endif
