/* presence.h: the presence read model derived from stream connections (SPEC §8).
 *
 * Input: topic stream.connections (schemas/StreamConnection.avsc), facts the stream listener
 * instances publish: connect/disconnect of a user's stream connection (with that user's open
 * connections on the instance after the change) and a heartbeat per instance every few
 * seconds. Collections (docs/read-models.md):
 *   presence_connections {_id: "<user>:<listener>", user_id, listener_id, open, seq, at (ms)}
 *       one per user and listener instance, the latest fact (guarded by the instance's seq)
 *   presence_listeners   {_id: listener_id, beat_at (ms), seq, connections, users, started_at}
 *       the instance's latest heartbeat (guarded by beat_at)
 *   presence             {_id: user_id, connected: "online"|"offline", since (date), due_at
 *       (ms: when to evaluate again; 0 = at once, INT64_MAX = nothing pending), pos (µs)}
 * A fact for a user sets presence.due_at = 0; the sweeper (presence_sweep.c) evaluates every
 * due user from the stored facts and heartbeats and the clock, never from counters in memory,
 * so a restart, a replay of the topic or a second projector converge on the same answer.
 *
 * The rule (pj_presence_evaluate): a connection record is seen until
 *   open > 0: max(its listener's last heartbeat, the record's time) + grace
 *   open = 0: the record's time (the last close) + grace,
 * and the user is online while any record is seen, offline from the latest "seen until" on:
 * a grace period after the last connection closed or after its instance stopped heart-beating
 * (kill -9). The effective presence the API shows combines this with the user-set status
 * (user_profiles.presence: away/offline win; online or never set follow connections;
 * query-server qs_presence_effective). */
#ifndef PJ_PRESENCE_H
#define PJ_PRESENCE_H

#include "plan.h"

#include "hl/error.h"

#include <avro.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PJ_PRESENCE_NEVER INT64_MAX /* presence.due_at: nothing pending */

/* Plan one StreamConnection record rec (the union's branch): connect/disconnect → the guarded
 * upsert of presence_connections and presence.due_at = 0; heartbeat → the guarded upsert of
 * presence_listeners. Errors: HL_ERR_INPUT "bad-event" (missing field, unknown kind, user_id
 * not a uuid): the record is dead-lettered. */
bool pj_presence_fact_plan(avro_value_t *rec, pj_plan_t *plan, hl_error_t *err);

/* One presence_connections record as the evaluation reads it; beat_ms = its listener's last
 * heartbeat (0 when none is known). Times in ms since the epoch. */
typedef struct {
    int64_t open;
    int64_t at_ms;
    int64_t beat_ms;
} pj_presence_conn_t;

typedef struct {
    bool online;
    int64_t until_ms; /* the latest "seen until" of the records (0 when none) */
    int64_t due_ms;   /* when to evaluate again (until_ms when online, else PJ_PRESENCE_NEVER) */
    int64_t since_ms; /* online: the oldest open record's time; offline: until_ms */
} pj_presence_state_t;

/* Evaluate conns[0..n) at now_ms with grace_ms (pure). expired[i] (when not NULL) tells
 * whether record i is past its "seen until" (the sweeper deletes those). */
void pj_presence_evaluate(const pj_presence_conn_t *conns, size_t n, int64_t now_ms,
                          int64_t grace_ms, pj_presence_state_t *out, bool *expired);

struct pj_ctx;

/* The sweeper: the users due for evaluation, in memory, loaded from presence.due_at at start
 * and kept from the plans the projector executes. Consumer thread only. */
typedef struct pj_presence pj_presence_t;

/* New sweeper with the grace period, ms. */
pj_presence_t *pj_presence_new(int64_t grace_ms);
void pj_presence_destroy(pj_presence_t *p);

/* Note the users a plan made due (its presence upserts with due_at). */
void pj_presence_note_plan(pj_presence_t *p, const pj_plan_t *plan);

/* Load every user with a pending presence.due_at (at start: what a previous process left).
 * Errors: HL_ERR_MONGO. */
bool pj_presence_load(struct pj_ctx *ctx, pj_presence_t *p, hl_error_t *err);

/* Evaluate the users due at now (at most a few hundred per call): read their connection
 * records and their listeners' heartbeats, write presence (and delete expired records), then
 * publish the changed ones to the change feed (kind presence). Errors: HL_ERR_MONGO,
 * HL_ERR_KAFKA (the users stay due: the next call retries). */
bool pj_presence_sweep(struct pj_ctx *ctx, pj_presence_t *p, hl_error_t *err);

#endif
