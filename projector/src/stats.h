/* stats.h: pure update builders for the read models fed by domain events. No I/O.
 *
 * Counters are made idempotent with a per-source position guard inside the document itself:
 * each source (a Kafka topic partition, or the `events` table during a rebuild) is a key under
 * `applied`, holding the highest position already counted. One MongoDB update both increments
 * and advances the guard, so a crash between "write" and "commit offset" cannot double-count:
 * the replayed input finds applied.<source> >= its position, the filter does not match, and the
 * upsert's insert fails with a duplicate _id (E11000), which the projector reads as "already
 * applied". */
#ifndef PJ_STATS_H
#define PJ_STATS_H

#include <bson/bson.h>
#include <stdint.h>

/* Source key for a topic partition: "user_events-0" ('.' is not allowed in field names). */
void pj_source_key(const char *topic, int32_t partition, char *out, size_t cap);

/* daily_stats: count one occurrence of counter ("users_registered", "messages_sent",
 * "friendships_formed") on the UTC day of occurred_us, guarded by (source, position).
 *   filter {_id: "YYYY-MM-DD", $or: [{applied.<source>: {$exists: false}},
 *                                    {applied.<source>: {$lt: position}}]}
 *   update {$inc: {<counter>: 1}, $set: {applied.<source>: position, day: date}}
 * filter and update are initialised here. */
void pj_daily_stats_update(const char *counter, int64_t occurred_us, const char *source,
                           int64_t position, bson_t *filter, bson_t *update);

#endif
