/* plan.h: the writes one input causes, as data. No I/O.
 *
 * A mapping (models.h) turns one input (a Debezium change or a domain event) into a plan: an
 * ordered list of single-document operations on logical read models plus the read-your-writes
 * watermark to advance afterwards. The executor (store.c) resolves each logical model to its
 * physical collection (read_model_aliases, or a rebuild's shadow) and runs the operations in
 * order. Every operation is idempotent on its own, so replaying a plan, or any prefix of it
 * followed by the whole plan, leaves the same state as running it once. */
#ifndef PJ_PLAN_H
#define PJ_PLAN_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    /* update_one(filter, update, {upsert: true}); E11000 = the guard did not match (skipped).
     * filter is {_id} plus an optional guard; a guard must compare a position that update
     * itself writes, so that it never matches a document this very update inserted (the bulk
     * executor inserts missing documents first, then applies the guarded update; store.c). */
    PJ_OP_UPSERT,
    /* update_one(filter, update), no upsert; no match = nothing to do */
    PJ_OP_UPDATE,
    /* update_many(filter, update), no upsert */
    PJ_OP_UPDATE_MANY,
    /* delete_one(filter) */
    PJ_OP_DELETE,
    /* delete_many(filter); run on its own like PJ_OP_UPDATE_MANY (store.c). Rare: a filter
     * other than _id scans the collection on FerretDB */
    PJ_OP_DELETE_MANY,
} pj_op_kind_t;

typedef struct {
    pj_op_kind_t kind;
    char model[32]; /* logical read model, e.g. "inbox" */
    bson_t filter;  /* owned */
    bson_t update;  /* owned */
    /* run in a second round, once every other operation of the batch was acknowledged (a
     * read-all's update of the notifications after its mark: store.c) */
    bool after;
} pj_op_t;

/* A notification a plan creates unread: once the batch's writes are acknowledged, the executor
 * reads the recipient's read-all marks from the store (notification_reads) and marks it read when
 * one covers it (store.c). Reading the marks after the insert, while a read-all writes its mark
 * before updating the notifications, makes the pair exact with the two on different projector
 * processes: either the lookup sees the mark or the read-all's update sees the notification. */
typedef struct {
    char id[192];  /* notifications _id */
    char user[48]; /* recipient */
    int64_t created_ms;
} pj_unread_t;

typedef struct {
    /* owned, n entries; each op is its own allocation because a grown bson_t points into
     * itself and must never be moved */
    pj_op_t **ops;
    size_t n, cap;
    /* watermark "<wm_input>:<wm_key>" to $max to wm_version after the ops; none when wm_input
     * is empty */
    char wm_input[40];
    char wm_key[64];
    int64_t wm_version;
    int64_t source_ms; /* event or commit time, ms since the epoch (lag metrics) */
    /* W3C traceparent of the apply span of this input, "" when untraced: the parent of the
     * change-feed records' spans (feed.c) */
    char traceparent[56];
    pj_unread_t *unread; /* owned, nunread entries (pj_plan_unread) */
    size_t nunread, unread_cap;
} pj_plan_t;

/* Start an empty plan. */
void pj_plan_init(pj_plan_t *plan);

/* Free every operation; the plan can be re-initialised. Accepts a zeroed plan. */
void pj_plan_destroy(pj_plan_t *plan);

/* Append an operation of kind on model and return it with filter and update initialised
 * (empty), for the caller to fill. Aborts on out-of-memory (like bson itself). */
pj_op_t *pj_plan_add(pj_plan_t *plan, pj_op_kind_t kind, const char *model);

/* Record that the plan creates notification id of user created at created_ms (ms since the
 * epoch) unread, for the executor to settle its read state (pj_unread_t). */
void pj_plan_unread(pj_plan_t *plan, const char *id, const char *user, int64_t created_ms);

/* Set the watermark the plan advances. */
void pj_plan_watermark(pj_plan_t *plan, const char *input, const char *key, int64_t version);

/* Append to filter: {<field>: {$exists: false}} OR {<field>: {$lt: position}} as "$or" — the
 * guard "stored position is older or absent". */
void pj_guard_older(bson_t *filter, const char *field, int64_t position);

#endif
