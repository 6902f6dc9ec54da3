/* feed.h: the change feed (SPEC §8): after a batch's MongoDB writes are acknowledged, one
 * StreamChange record (schemas/StreamChange.avsc) per read-model change a real-time stream
 * shows, produced to topic stream.changes (Confluent framing, schema registered under
 * stream.changes-value), keyed by its audience. The projector stores the batch's offsets only
 * after the broker acknowledged every record, so a crash in between re-projects the batch and
 * re-publishes its changes (at least once; listeners deduplicate by position).
 *
 * Which changes (pj_feed_changes, pure), model and operation → channel, kind, position:
 *   messages upsert → room:<room_id> message, seq (version: room_version)
 *   room_members upsert with room_version > 1 (not the row written at room creation)
 *       → room:<room_id> read, room_version
 *   notifications upsert with kind (the creation; read-state updates are not streamed)
 *       → notifications:<user_id> notification, created µs (from _id)
 *   user_profiles upsert with presence → presence:<user_id> presence, version
 *   presence upsert with connected (presence.h) → presence:<user_id> presence, pos µs
 *   sessions upsert with revoked_at → session:<session_id> revoked (the listener ends its
 *       streams)
 *   room_members delete → room:<room_id> member-removed (the member's streams end)
 *   blocks upsert with active → blocked:<blocked_id> blocked (the blocked user's streams of
 *       the direct room end)
 *   jobs upsert → job:<job_id> job, version
 * A new channel kind adds a line to the table in feed.c. */
#ifndef PJ_FEED_H
#define PJ_FEED_H

#include "plan.h"

#include "hl/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One change, borrowed from the plan it was derived from (valid while the plan lives), except
 * document, which is malloc'd relaxed extended JSON (pj_feed_changes_free). */
typedef struct {
    char channel[96];
    const char *kind;
    char key[64]; /* Kafka key: the audience (room, user or job id) */
    int64_t position;
    int64_t version;
    const char *doc_id;
    char *document;
} pj_feed_change_t;

/* Derive the stream changes of plan (executed or not; no I/O) into out[0..cap); returns how many
 * were written (a plan yields at most one per operation). */
size_t pj_feed_changes(const pj_plan_t *plan, pj_feed_change_t *out, size_t cap);

/* Free the documents of changes[0..n). */
void pj_feed_changes_free(pj_feed_change_t *changes, size_t n);

typedef struct pj_feed pj_feed_t;

/* Connect the feed: load the StreamChange schema of topic (topics.json in schemas_dir), register
 * it under "<topic>-value" with BACKWARD compatibility at registry_url, and create an idempotent
 * producer (acks=all) on brokers. Errors: HL_ERR_CONFIG, HL_ERR_HTTP (registry), HL_ERR_KAFKA. */
pj_feed_t *pj_feed_new(const char *brokers, const char *registry_url, const char *schemas_dir,
                       const char *topic, hl_error_t *err);

/* Produce the changes of plans[0..n) (in plan order; one partition per key keeps each audience's
 * order) and wait until the broker acknowledged all of them, up to timeout_ms. Errors:
 * HL_ERR_KAFKA (nothing is known about which records landed: publish the batch again). */
bool pj_feed_publish(pj_feed_t *feed, const pj_plan_t *const *plans, size_t n, int timeout_ms,
                     hl_error_t *err);

/* Records the broker acknowledged since start (metrics). */
int64_t pj_feed_published(const pj_feed_t *feed);

/* Flush and destroy (NULL allowed). */
void pj_feed_destroy(pj_feed_t *feed);

#endif
