/* plan_exec.c: runs plans (plan.h) against MongoDB and resolves read-model aliases (plan_exec.h).
 */
#include "plan_exec.h"
#include "write_guard.h"

#include "hl/log.h"
#include "hl/mem.h"
#include "hl/metrics.h"
#include "hl/util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool pj_aliases_refresh(pj_ctx_t *ctx, int64_t max_age_ms, hl_error_t *err)
{
    int64_t now = hl_mono_ms();
    if (max_age_ms > 0 && ctx->aliases_at_ms && now - ctx->aliases_at_ms < max_age_ms)
        return true;
    if (!hl_alias_table_load(ctx->db, &ctx->aliases, err))
        return false;
    ctx->aliases_at_ms = now;
    return true;
}

const char *pj_physical(const pj_ctx_t *ctx, const char *model)
{
    if (ctx->rebuild_model && !strcmp(ctx->rebuild_model, model))
        return ctx->rebuild_collection;
    return hl_alias_lookup(&ctx->aliases, model);
}

/* Count one command sent to the store on collection (the round trips of bench/cpu_bench.py):
 * hl_projector_store_commands_total{collection, kind} += 1 and
 * hl_projector_store_statements_total{collection} += statements (the single-document writes it
 * carried; 0 for a find). Thread-safe (writer threads). */
static void count_command(const char *collection, const char *kind, size_t statements)
{
    char labels[160];
    snprintf(labels, sizeof labels, "collection=\"%s\",kind=\"%s\"", collection, kind);
    hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_projector_store_commands_total", labels,
                                "Commands (round trips) the projector sent to the read store, by"
                                " collection and kind (bulk, single, find)"),
                  1);
    if (!statements)
        return;
    snprintf(labels, sizeof labels, "collection=\"%s\"", collection);
    hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_projector_store_statements_total", labels,
                                "Single-document write statements the projector sent to the read"
                                " store, by collection"),
                  (int64_t)statements);
}

/* Run one operation on its own (the slow path; a guarded upsert's E11000 means skipped). */
static bool run_op(mongoc_database_t *db, const pj_op_t *op, const char *target, hl_error_t *err)
{
    bool one = false, ok = true;
    bson_error_t berr;
    mongoc_collection_t *coll = NULL;
    count_command(target, "single", 1);
    switch (op->kind) {
    case PJ_OP_UPSERT:
        return pj_upsert_guarded(db, target, &op->filter, &op->update, &one, err);
    case PJ_OP_UPDATE:
        coll = mongoc_database_get_collection(db, target);
        ok = mongoc_collection_update_one(coll, &op->filter, &op->update, NULL, NULL, &berr);
        break;
    case PJ_OP_UPDATE_MANY:
        coll = mongoc_database_get_collection(db, target);
        ok = mongoc_collection_update_many(coll, &op->filter, &op->update, NULL, NULL, &berr);
        break;
    case PJ_OP_DELETE:
        coll = mongoc_database_get_collection(db, target);
        ok = mongoc_collection_delete_one(coll, &op->filter, NULL, NULL, &berr);
        break;
    case PJ_OP_DELETE_MANY:
        coll = mongoc_database_get_collection(db, target);
        ok = mongoc_collection_delete_many(coll, &op->filter, NULL, NULL, &berr);
        break;
    }
    mongoc_collection_destroy(coll);
    if (!ok)
        return hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "%s: %s", target, berr.message);
    return true;
}

/* Whether op runs in this ctx (a rebuild runs only the rebuilt model's operations). */
static bool op_runs(const pj_ctx_t *ctx, const pj_op_t *op)
{
    return !ctx->rebuild_model || !strcmp(ctx->rebuild_model, op->model);
}

/* op is one of the writes to target in this round (after: the second round's). */
static bool op_in_round(const pj_ctx_t *ctx, const pj_op_t *op, const char *target, bool after)
{
    return op_runs(ctx, op) && op->after == after && !strcmp(pj_physical(ctx, op->model), target);
}

/* A filter with more than {_id}: a guarded upsert. */
static bool has_guard(const bson_t *filter)
{
    bson_iter_t it;
    if (!bson_iter_init(&it, filter))
        return false;
    while (bson_iter_next(&it))
        if (strcmp(bson_iter_key(&it), "_id") != 0)
            return true;
    return false;
}

/* Whether update writes a null value with an operator other than $setOnInsert. FerretDB 1.24
 * keeps a null that $set writes into the document an upsert inserts but leaves out a null of
 * $setOnInsert, in the single upsert statement and in split_guarded's step 1 alike (and sorts
 * the inserted fields either way), so only for such an update do the single statement and the
 * two steps of split_guarded insert different documents: split_guarded moves the $set null
 * into step 1's $setOnInsert (tests/e2e/test_projector_store_shape.py pins both). A message's
 * inbox upsert ($setOnInsert kind: null) is therefore one statement. */
static bool writes_null(const bson_t *update)
{
    bson_iter_t it, sub;
    if (!bson_iter_init(&it, update))
        return false;
    while (bson_iter_next(&it))
        if (BSON_ITER_HOLDS_DOCUMENT(&it) && strcmp(bson_iter_key(&it), "$setOnInsert") != 0 &&
            bson_iter_recurse(&it, &sub))
            while (bson_iter_next(&sub))
                if (BSON_ITER_HOLDS_NULL(&sub))
                    return true;
    return false;
}

/* A guarded upsert op as the two statements that never answer E11000 on an existing document
 * (FerretDB stops an ordered bulk at the first write error and misreports its index):
 *   1. ensure: update_one(*filter = {_id}, *ensure = {$setOnInsert: every field the update
 *      writes}, upsert) — a missing document is inserted as the upsert would have inserted it
 *      (on FerretDB without the fields it would set to null: writes_null);
 *   2. update_one(op->filter, *update = the update without $setOnInsert), no upsert — the guard
 *      decides; *update is empty when the op had nothing but $setOnInsert.
 * On a document that step 1 just inserted, step 2's guard does not match: every guard compares
 * a position that the operation's own update writes (plan.h). The three outputs are
 * initialised here; the caller destroys them. */
static void split_guarded(const pj_op_t *op, bson_t *filter, bson_t *ensure, bson_t *update)
{
    bson_iter_t it, sub;
    bson_t soi;
    bson_init(filter);
    bson_init(ensure);
    bson_init(update);
    if (bson_iter_init_find(&it, &op->filter, "_id"))
        bson_append_iter(filter, "_id", -1, &it);
    BSON_APPEND_DOCUMENT_BEGIN(ensure, "$setOnInsert", &soi);
    if (bson_iter_init(&it, &op->update)) {
        while (bson_iter_next(&it)) {
            const char *opname = bson_iter_key(&it);
            if (BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &sub) &&
                (!strcmp(opname, "$set") || !strcmp(opname, "$setOnInsert") ||
                 !strcmp(opname, "$max") || !strcmp(opname, "$min") || !strcmp(opname, "$inc")))
                while (bson_iter_next(&sub))
                    bson_append_iter(&soi, bson_iter_key(&sub), -1, &sub);
            if (strcmp(opname, "$setOnInsert") != 0)
                bson_append_iter(update, opname, -1, &it);
        }
    }
    bson_append_document_end(ensure, &soi);
}

/* Add op to bulk as one statement: an upsert as update_one(filter, update, {upsert: true}) with
 * its guard in the filter, every other kind as its single write. */
static bool bulk_add_one(mongoc_bulk_operation_t *bulk, const pj_op_t *op, bson_error_t *berr)
{
    bson_t upsert_opts = BSON_INITIALIZER;
    bool ok = false;
    switch (op->kind) {
    case PJ_OP_UPSERT:
        BSON_APPEND_BOOL(&upsert_opts, "upsert", true);
        ok = mongoc_bulk_operation_update_one_with_opts(bulk, &op->filter, &op->update,
                                                        &upsert_opts, berr);
        break;
    case PJ_OP_UPDATE:
        ok = mongoc_bulk_operation_update_one_with_opts(bulk, &op->filter, &op->update, NULL, berr);
        break;
    case PJ_OP_UPDATE_MANY:
        ok =
            mongoc_bulk_operation_update_many_with_opts(bulk, &op->filter, &op->update, NULL, berr);
        break;
    case PJ_OP_DELETE:
        ok = mongoc_bulk_operation_remove_one_with_opts(bulk, &op->filter, NULL, berr);
        break;
    case PJ_OP_DELETE_MANY:
        ok = mongoc_bulk_operation_remove_many_with_opts(bulk, &op->filter, NULL, berr);
        break;
    }
    bson_destroy(&upsert_opts);
    return ok;
}

/* Add step 1 of split_guarded (the ensure upsert) to bulk. */
static bool bulk_add_ensure(mongoc_bulk_operation_t *bulk, const bson_t *filter,
                            const bson_t *ensure, bson_error_t *berr)
{
    bson_t upsert_opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&upsert_opts, "upsert", true);
    bool ok = mongoc_bulk_operation_update_one_with_opts(bulk, filter, ensure, &upsert_opts, berr);
    bson_destroy(&upsert_opts);
    return ok;
}

/* Add an upsert to an ordered bulk: a guarded one as the two statements of split_guarded (with
 * exists, meaning an earlier operation of the same ordered run already upserted this _id and
 * nothing since deleted it, step 1 would change nothing and is left out), any other as one. */
static bool bulk_add_upsert(mongoc_bulk_operation_t *bulk, const pj_op_t *op, bool exists,
                            bson_error_t *berr)
{
    if (!has_guard(&op->filter))
        return bulk_add_one(bulk, op, berr);
    bson_t filter, ensure, update;
    split_guarded(op, &filter, &ensure, &update);
    bool ok = exists || bulk_add_ensure(bulk, &filter, &ensure, berr);
    if (ok && !bson_empty(&update))
        ok = mongoc_bulk_operation_update_one_with_opts(bulk, &op->filter, &update, NULL, berr);
    bson_destroy(&filter);
    bson_destroy(&ensure);
    bson_destroy(&update);
    return ok;
}

/* The string _ids an ordered run of one collection has upserted so far (they exist from that
 * statement on, until an operation of the run deletes them): an open-addressing set of borrowed
 * pointers into the operations' filters, grown at half full. */
typedef struct {
    const char **slots;
    size_t cap, n;
} id_set_t;

/* The string _id of an operation's filter, or NULL (no _id, or not a string). Borrowed. */
static const char *filter_id(const bson_t *filter)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, filter, "_id") || !BSON_ITER_HOLDS_UTF8(&it))
        return NULL;
    return bson_iter_utf8(&it, NULL);
}

static size_t id_slot(const id_set_t *set, const char *id)
{
    size_t i = hl_fnv1a32(id) & (set->cap - 1);
    while (set->slots[i] && strcmp(set->slots[i], id) != 0)
        i = (i + 1) & (set->cap - 1);
    return i;
}

static bool id_set_has(const id_set_t *set, const char *id)
{
    return id && set->n && set->slots[id_slot(set, id)];
}

static void id_set_add(id_set_t *set, const char *id)
{
    if (!id)
        return;
    if (2 * (set->n + 1) > set->cap) {
        id_set_t grown = {hl_xcalloc(set->cap ? 2 * set->cap : 64, sizeof *grown.slots),
                          set->cap ? 2 * set->cap : 64, 0};
        for (size_t i = 0; i < set->cap; i++)
            if (set->slots[i]) {
                grown.slots[id_slot(&grown, set->slots[i])] = set->slots[i];
                grown.n++;
            }
        free(set->slots);
        *set = grown;
    }
    size_t i = id_slot(set, id);
    if (!set->slots[i]) {
        set->slots[i] = id;
        set->n++;
    }
}

/* Forget every id (an operation may have deleted any document: rebuilt without tombstones). */
static void id_set_clear(id_set_t *set)
{
    if (set->cap)
        memset(set->slots, 0, set->cap * sizeof *set->slots);
    set->n = 0;
}

/* Forget id after a delete of it: linear probing cannot empty one slot, so rebuild the rest. */
static void id_set_remove(id_set_t *set, const char *id)
{
    if (!id_set_has(set, id))
        return;
    const char **old = set->slots;
    size_t cap = set->cap;
    set->slots = hl_xcalloc(cap, sizeof *set->slots);
    set->n = 0;
    for (size_t i = 0; i < cap; i++)
        if (old[i] && strcmp(old[i], id) != 0)
            id_set_add(set, old[i]);
    free(old);
}

/* An update of nothing but $setOnInsert: a no-op on a document that exists. */
static bool insert_only(const bson_t *update)
{
    bson_iter_t it;
    bool any = false;
    if (!bson_iter_init(&it, update))
        return false;
    while (bson_iter_next(&it)) {
        if (strcmp(bson_iter_key(&it), "$setOnInsert") != 0)
            return false;
        any = true;
    }
    return any;
}

/* Statements per bulk write command at most: FerretDB 1.24 holds one pooled SQLite connection
 * per statement until an update command ends and froze at 100 (deploy/local/mongo.sh patches
 * that; a server without the patch must not freeze either). */
#define BULK_STATEMENTS 64

/* Add op to an ordered bulk; *statements counts what the bulk holds; existing tracks the _ids
 * the run's earlier operations left in place (a guarded upsert of one needs no insert step). */
static bool bulk_add(mongoc_bulk_operation_t *bulk, const pj_op_t *op, size_t *statements,
                     id_set_t *existing, bson_error_t *berr)
{
    const char *id = filter_id(&op->filter);
    if (op->kind == PJ_OP_UPSERT) {
        bool exists = id_set_has(existing, id), guarded = has_guard(&op->filter);
        if (exists && insert_only(&op->update))
            return true; /* e.g. daily_active_users of a user already active in this run */
        *statements += guarded && !exists ? 2 : 1;
        id_set_add(existing, id);
        return bulk_add_upsert(bulk, op, exists, berr);
    }
    if (op->kind == PJ_OP_DELETE && id)
        id_set_remove(existing, id);
    else if (op->kind == PJ_OP_DELETE || op->kind == PJ_OP_DELETE_MANY)
        id_set_clear(existing);
    *statements += 1;
    return bulk_add_one(bulk, op, berr);
}

/* Execute and destroy *bulk (when it holds statements), leaving a fresh one in its place. */
static bool bulk_flush(mongoc_collection_t *coll, const bson_t *opts,
                       mongoc_bulk_operation_t **bulk, size_t *statements, bson_error_t *berr)
{
    bool ok = true;
    if (*statements) {
        count_command(mongoc_collection_get_name(coll), "bulk", *statements);
        bson_t reply;
        ok = mongoc_bulk_operation_execute(*bulk, &reply, berr) != 0;
        bson_destroy(&reply);
    }
    mongoc_bulk_operation_destroy(*bulk);
    *bulk = mongoc_collection_create_bulk_operation_with_opts(coll, opts);
    *statements = 0;
    return ok;
}

/* The state of the fast path's current unordered bulk: the _ids it holds and the guarded
 * upserts split in two (split_guarded) whose step 1 it holds: their step 2 goes first into the
 * next bulk (a second statement on the same _id). */
typedef struct {
    mongoc_collection_t *coll;
    bson_t opts;
    mongoc_bulk_operation_t *bulk;
    size_t statements;
    id_set_t in_bulk;
    struct fast_pending {
        const pj_op_t *op;
        bson_t *update; /* split_guarded's step 2, owned */
    } * pending;
    size_t npending, pending_cap;
    bson_error_t berr;
} fast_bulk_t;

/* Send the bulk, start the next one with the pending step 2s (each destroyed here, also when
 * the send failed and they are not added). */
static bool fast_flush(fast_bulk_t *fb)
{
    bool ok = bulk_flush(fb->coll, &fb->opts, &fb->bulk, &fb->statements, &fb->berr);
    id_set_clear(&fb->in_bulk);
    for (size_t k = 0; k < fb->npending; k++) {
        const struct fast_pending *p = &fb->pending[k];
        if (ok) {
            ok = mongoc_bulk_operation_update_one_with_opts(fb->bulk, &p->op->filter, p->update,
                                                            NULL, &fb->berr);
            fb->statements++;
            id_set_add(&fb->in_bulk, filter_id(&p->op->filter));
        }
        bson_destroy(p->update);
    }
    fb->npending = 0;
    return ok;
}

/* The fast path of run_collection: the same operations in plan order as unordered bulk writes
 * in which no _id occurs twice (a repeated _id, an operation without a string _id or a
 * multi-document one starts the next bulk; a multi-document one runs alone), each operation one
 * statement, a guarded upsert included: update_one(filter, update, upsert), except a guarded
 * upsert whose update writes a null (writes_null): that one is split as on the ordered path
 * (split_guarded), step 1 in this bulk and step 2 in the next, so that the document it inserts
 * is the ordered path's, byte for byte. On distinct documents the statements of a bulk
 * commute, and each document sees its operations in plan order, bulk after bulk. A guarded
 * upsert whose guard does not match an existing document fails its statement with E11000 (the
 * upsert's insert meets the stored _id): any write error ends the fast path with false and
 * nothing more is sent, and the caller runs every operation again on the ordered path. That is
 * exact because each document has seen a prefix of its own operations (bulks run one after the
 * other; the failed one held at most one statement per document; a step 1 alone is a no-op on
 * a document that exists and inserts what the ordered path's step 1 inserts) and every
 * operation is idempotent (plan.h). */
static bool run_collection_unordered(const pj_ctx_t *ctx, mongoc_database_t *db,
                                     const pj_plan_t *const *plans, size_t nplans,
                                     const char *target, bool after)
{
    fast_bulk_t fb = {.coll = mongoc_database_get_collection(db, target)};
    bson_init(&fb.opts);
    BSON_APPEND_BOOL(&fb.opts, "ordered", false);
    fb.bulk = mongoc_collection_create_bulk_operation_with_opts(fb.coll, &fb.opts);
    bool ok = true;
    for (size_t i = 0; i < nplans && ok; i++)
        for (size_t j = 0; j < plans[i]->n && ok; j++) {
            const pj_op_t *op = plans[i]->ops[j];
            if (!op_in_round(ctx, op, target, after))
                continue;
            const char *id = filter_id(&op->filter);
            bool multi = op->kind == PJ_OP_UPDATE_MANY || op->kind == PJ_OP_DELETE_MANY;
            /* twice at most: the first flush may bring this _id's pending step 2 */
            while (ok && (multi || !id || id_set_has(&fb.in_bulk, id)) &&
                   (fb.statements || fb.npending))
                ok = fast_flush(&fb);
            if (!ok)
                break;
            if (multi) {
                /* alone, as on the ordered path */
                hl_error_t err = {0};
                ok = run_op(db, op, target, &err);
                continue;
            }
            bool split =
                op->kind == PJ_OP_UPSERT && has_guard(&op->filter) && writes_null(&op->update);
            if (split) {
                bson_t filter, ensure, update;
                split_guarded(op, &filter, &ensure, &update);
                ok = bulk_add_ensure(fb.bulk, &filter, &ensure, &fb.berr);
                if (!bson_empty(&update)) {
                    if (fb.npending == fb.pending_cap) {
                        fb.pending_cap = fb.pending_cap ? 2 * fb.pending_cap : 16;
                        fb.pending = hl_xrealloc(fb.pending, fb.pending_cap * sizeof *fb.pending);
                    }
                    fb.pending[fb.npending++] = (struct fast_pending){op, bson_copy(&update)};
                }
                bson_destroy(&filter);
                bson_destroy(&ensure);
                bson_destroy(&update);
            } else {
                ok = bulk_add_one(fb.bulk, op, &fb.berr);
            }
            fb.statements++;
            if (id)
                id_set_add(&fb.in_bulk, id);
            else if (ok)
                ok = fast_flush(&fb);
            if (ok && fb.statements >= BULK_STATEMENTS)
                ok = fast_flush(&fb);
        }
    while (ok && (fb.statements || fb.npending))
        ok = fast_flush(&fb);
    for (size_t k = 0; k < fb.npending; k++) /* left by a failure before their flush */
        bson_destroy(fb.pending[k].update);
    if (!ok) {
        HL_DEBUG("unordered bulk write on %s: %s; the ordered path runs it again", target,
                 fb.berr.message);
        char labels[128];
        snprintf(labels, sizeof labels, "collection=\"%s\"", target);
        hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_projector_store_reruns_total", labels,
                                    "Batches of a collection whose unordered bulk write met a"
                                    " write error (a guard that did not match: E11000) and"
                                    " were written again on the ordered path"),
                      1);
    }
    free(fb.in_bulk.slots);
    free(fb.pending);
    mongoc_bulk_operation_destroy(fb.bulk);
    mongoc_collection_destroy(fb.coll);
    bson_destroy(&fb.opts);
    return ok;
}

/* Every operation of plans on collection target of db, in plan order: first on the fast path
 * (run_collection_unordered); when that meets a write error, all of them again as ordered bulk
 * writes of at most BULK_STATEMENTS statements; when one of those fails, the same operations
 * again one by one (each is idempotent, so re-running what the bulks applied changes nothing).
 * ctx is only read. */
static bool run_collection(const pj_ctx_t *ctx, mongoc_database_t *db,
                           const pj_plan_t *const *plans, size_t nplans, const char *target,
                           bool after, hl_error_t *err)
{
    if (run_collection_unordered(ctx, db, plans, nplans, target, after))
        return true;
    mongoc_collection_t *coll = mongoc_database_get_collection(db, target);
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "ordered", true);
    mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll, &opts);
    bson_error_t berr = {0};
    bool ok = true;
    size_t statements = 0;
    id_set_t existing = {0};
    for (size_t i = 0; i < nplans && ok; i++)
        for (size_t j = 0; j < plans[i]->n && ok; j++) {
            const pj_op_t *op = plans[i]->ops[j];
            if (!op_in_round(ctx, op, target, after))
                continue;
            if (op->kind == PJ_OP_UPDATE_MANY || op->kind == PJ_OP_DELETE_MANY) {
                if (op->kind == PJ_OP_DELETE_MANY)
                    id_set_clear(&existing);
                /* alone, after what precedes it: inside a bulk, FerretDB 1.24 waits ~30 s on a
                 * multi-document update's SQLite lock */
                ok = bulk_flush(coll, &opts, &bulk, &statements, &berr);
                if (ok && !run_op(db, op, target, err)) {
                    free(existing.slots);
                    mongoc_bulk_operation_destroy(bulk);
                    mongoc_collection_destroy(coll);
                    bson_destroy(&opts);
                    return false;
                }
                continue;
            }
            ok = bulk_add(bulk, op, &statements, &existing, &berr);
            if (ok && statements >= BULK_STATEMENTS)
                ok = bulk_flush(coll, &opts, &bulk, &statements, &berr);
        }
    free(existing.slots);
    if (ok)
        ok = bulk_flush(coll, &opts, &bulk, &statements, &berr);
    mongoc_bulk_operation_destroy(bulk);
    mongoc_collection_destroy(coll);
    bson_destroy(&opts);
    if (ok)
        return true;
    HL_DEBUG("bulk write on %s failed (%s); writing its operations one by one", target,
             berr.message);
    for (size_t i = 0; i < nplans; i++)
        for (size_t j = 0; j < plans[i]->n; j++) {
            const pj_op_t *op = plans[i]->ops[j];
            if (op_in_round(ctx, op, target, after) && !run_op(db, op, target, err))
                return false;
        }
    return true;
}

/* The read-all marks (ms, notification_reads.read_all) of one user, from the store. */
typedef struct {
    const char *user;
    int64_t *times;
    size_t n;
} user_marks_t;

/* Marks of users[0..n) (distinct) into marks[0..n), read with _id $in (chunks of 256) from
 * notification_reads. Users without a document get n = 0. */
static bool load_marks(pj_ctx_t *ctx, user_marks_t *marks, size_t n, hl_error_t *err)
{
    mongoc_collection_t *coll =
        mongoc_database_get_collection(ctx->db, pj_physical(ctx, "notification_reads"));
    bool ok = true;
    for (size_t from = 0; from < n && ok; from += 256) {
        size_t to = from + 256 < n ? from + 256 : n;
        bson_t filter = BSON_INITIALIZER, cond, in;
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &cond);
        BSON_APPEND_ARRAY_BEGIN(&cond, "$in", &in);
        for (size_t i = from; i < to; i++) {
            char key[24];
            snprintf(key, sizeof key, "%zu", i - from);
            BSON_APPEND_UTF8(&in, key, marks[i].user);
        }
        bson_append_array_end(&cond, &in);
        bson_append_document_end(&filter, &cond);
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
        count_command(mongoc_collection_get_name(coll), "find", 0);
        const bson_t *doc;
        while (mongoc_cursor_next(cur, &doc)) {
            bson_iter_t it, arr;
            if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it))
                continue;
            const char *id = bson_iter_utf8(&it, NULL);
            user_marks_t *m = NULL;
            for (size_t i = from; i < to && !m; i++)
                if (!strcmp(marks[i].user, id))
                    m = &marks[i];
            if (!m || !bson_iter_init_find(&it, doc, "read_all") || !BSON_ITER_HOLDS_ARRAY(&it) ||
                !bson_iter_recurse(&it, &arr))
                continue;
            while (bson_iter_next(&arr))
                if (BSON_ITER_HOLDS_DATE_TIME(&arr)) {
                    m->times = hl_xrealloc(m->times, (m->n + 1) * sizeof *m->times);
                    m->times[m->n++] = bson_iter_date_time(&arr);
                }
        }
        bson_error_t berr;
        if (mongoc_cursor_error(cur, &berr))
            ok = hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "notification_reads: %s",
                              berr.message);
        mongoc_cursor_destroy(cur);
        bson_destroy(&filter);
    }
    mongoc_collection_destroy(coll);
    return ok;
}

/* The read state of the notifications the plans created unread (plan.h pj_unread_t), after
 * their inserts were acknowledged: each recipient's read-all marks are read from the store
 * (written by whichever projector owns the recipient's notification.events partition, before
 * it updates the notifications that exist), and a notification covered by a mark t (the
 * earliest at or after its creation) gets update {_id, read: false} $set {read: true, read_at:
 * t} and update {_id, read_at > t} $set {read_at: t}. Idempotent; a replay does it again. */
static bool settle_unread(pj_ctx_t *ctx, const pj_plan_t *const *plans, size_t nplans,
                          hl_error_t *err)
{
    if (ctx->rebuild_model && strcmp(ctx->rebuild_model, "notifications") != 0)
        return true;
    size_t total = 0;
    for (size_t i = 0; i < nplans; i++)
        total += plans[i]->nunread;
    if (!total)
        return true;
    user_marks_t *marks = hl_xcalloc(total, sizeof *marks);
    size_t nusers = 0;
    for (size_t i = 0; i < nplans; i++)
        for (size_t j = 0; j < plans[i]->nunread; j++) {
            const char *u = plans[i]->unread[j].user;
            size_t k = 0;
            while (k < nusers && strcmp(marks[k].user, u) != 0)
                k++;
            if (k == nusers)
                marks[nusers++].user = u;
        }
    bool ok = load_marks(ctx, marks, nusers, err);
    pj_plan_t fix;
    pj_plan_init(&fix);
    for (size_t i = 0; ok && i < nplans; i++)
        for (size_t j = 0; j < plans[i]->nunread; j++) {
            const pj_unread_t *u = &plans[i]->unread[j];
            int64_t t = -1;
            for (size_t k = 0; k < nusers; k++)
                if (!strcmp(marks[k].user, u->user))
                    for (size_t m = 0; m < marks[k].n; m++)
                        if (marks[k].times[m] >= u->created_ms && (t < 0 || marks[k].times[m] < t))
                            t = marks[k].times[m];
            if (t < 0)
                continue;
            for (int step = 0; step < 2; step++) {
                pj_op_t *op = pj_plan_add(&fix, PJ_OP_UPDATE, "notifications");
                bson_t cond, upd;
                BSON_APPEND_UTF8(&op->filter, "_id", u->id);
                if (step == 0) {
                    BSON_APPEND_BOOL(&op->filter, "read", false);
                } else {
                    BSON_APPEND_DOCUMENT_BEGIN(&op->filter, "read_at", &cond);
                    BSON_APPEND_DATE_TIME(&cond, "$gt", t);
                    bson_append_document_end(&op->filter, &cond);
                }
                BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &upd);
                BSON_APPEND_BOOL(&upd, "read", true);
                BSON_APPEND_DATE_TIME(&upd, "read_at", t);
                bson_append_document_end(&op->update, &upd);
            }
        }
    if (ok && fix.n) {
        const pj_plan_t *one = &fix;
        ok = run_collection(ctx, ctx->db, &one, 1, pj_physical(ctx, "notifications"), false, err);
    }
    pj_plan_destroy(&fix);
    for (size_t k = 0; k < nusers; k++)
        free(marks[k].times);
    free(marks);
    return ok;
}

/* Advance every plan's watermark ($max, so coalescing per key and any order are equivalent). */
static bool advance_watermarks(pj_ctx_t *ctx, const pj_plan_t *const *plans, size_t nplans,
                               hl_error_t *err)
{
    mongoc_collection_t *coll = mongoc_database_get_collection(ctx->db, "watermarks");
    bson_t opts = BSON_INITIALIZER, upsert_opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "ordered", true);
    BSON_APPEND_BOOL(&upsert_opts, "upsert", true);
    mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll, &opts);
    bson_error_t berr = {0};
    bool ok = true;
    size_t statements = 0;
    for (size_t i = 0; i < nplans && ok; i++) {
        const pj_plan_t *p = plans[i];
        if (!p->wm_input[0])
            continue;
        /* the highest version of this key in the batch, written once, at its last plan */
        bool later = false;
        int64_t v = p->wm_version;
        for (size_t k = 0; k < nplans; k++) {
            const pj_plan_t *q = plans[k];
            if (k == i || strcmp(q->wm_input, p->wm_input) || strcmp(q->wm_key, p->wm_key))
                continue;
            if (k > i)
                later = true;
            if (q->wm_version > v)
                v = q->wm_version;
        }
        if (later)
            continue;
        char id[160];
        snprintf(id, sizeof id, "%s:%s", p->wm_input, p->wm_key);
        bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, max;
        BSON_APPEND_UTF8(&filter, "_id", id);
        BSON_APPEND_DOCUMENT_BEGIN(&update, "$max", &max);
        BSON_APPEND_INT64(&max, "v", v);
        bson_append_document_end(&update, &max);
        ok =
            mongoc_bulk_operation_update_one_with_opts(bulk, &filter, &update, &upsert_opts, &berr);
        statements++;
        bson_destroy(&filter);
        bson_destroy(&update);
        if (ok && statements >= BULK_STATEMENTS)
            ok = bulk_flush(coll, &opts, &bulk, &statements, &berr);
    }
    if (ok)
        ok = bulk_flush(coll, &opts, &bulk, &statements, &berr);
    mongoc_bulk_operation_destroy(bulk);
    mongoc_collection_destroy(coll);
    bson_destroy(&opts);
    bson_destroy(&upsert_opts);
    if (ok)
        return true;
    HL_DEBUG("bulk watermark write failed (%s); writing them one by one", berr.message);
    for (size_t i = 0; i < nplans; i++)
        if (plans[i]->wm_input[0] &&
            !pj_watermark_advance(ctx, plans[i]->wm_input, plans[i]->wm_key, plans[i]->wm_version,
                                  err))
            return false;
    return true;
}

/* The collections a pool of writer threads shares out: each thread takes the next target until
 * none is left or one failed. */
typedef struct {
    const pj_ctx_t *ctx;
    const pj_plan_t *const *plans;
    size_t nplans;
    const char *const *targets;
    size_t ntargets;
    atomic_size_t next;
    atomic_bool failed;
    pthread_mutex_t lock; /* guards err */
    hl_error_t err;       /* the first failure */
} writers_t;

static void writers_fail(writers_t *w, const hl_error_t *err)
{
    pthread_mutex_lock(&w->lock);
    if (!atomic_exchange(&w->failed, true))
        w->err = *err;
    pthread_mutex_unlock(&w->lock);
}

/* Write targets on db until none is left or some writer failed. */
static void writers_run(writers_t *w, mongoc_database_t *db)
{
    for (;;) {
        size_t k = atomic_fetch_add(&w->next, 1);
        if (k >= w->ntargets || atomic_load(&w->failed))
            return;
        hl_error_t err = {0};
        int64_t t0 = hl_mono_ms();
        if (!run_collection(w->ctx, db, w->plans, w->nplans, w->targets[k], false, &err)) {
            writers_fail(w, &err);
            return;
        }
        if (hl_mono_ms() - t0 > 1000)
            HL_DEBUG("slow bulk write: %s, %lld ms for %zu inputs", w->targets[k],
                     (long long)(hl_mono_ms() - t0), w->nplans);
    }
}

static void *writer_thread(void *arg)
{
    writers_t *w = arg;
    mongoc_client_t *client = mongoc_client_pool_pop(w->ctx->write_pool);
    mongoc_database_t *db = mongoc_client_get_database(client, w->ctx->cfg.mongo_db);
    writers_run(w, db);
    mongoc_database_destroy(db);
    mongoc_client_pool_push(w->ctx->write_pool, client);
    return NULL;
}

#define MAX_WRITERS 16

bool pj_plans_execute(pj_ctx_t *ctx, const pj_plan_t *const *plans, size_t nplans, hl_error_t *err)
{
    /* Operations only ever address their own collection (no operation reads another), so the
     * per-collection order of the plans' operations is all that decides the result, and
     * different collections can be written at the same time. */
    const char *targets[64];
    size_t ntargets = 0;
    for (size_t i = 0; i < nplans; i++)
        for (size_t j = 0; j < plans[i]->n; j++) {
            const pj_op_t *op = plans[i]->ops[j];
            if (!op_runs(ctx, op))
                continue;
            const char *t = pj_physical(ctx, op->model);
            size_t k = 0;
            while (k < ntargets && strcmp(targets[k], t) != 0)
                k++;
            if (k < ntargets)
                continue;
            if (ntargets == sizeof targets / sizeof targets[0])
                return hl_error_set(err, HL_ERR_SYSTEM, 0, "more than %zu collections in a batch",
                                    ntargets);
            targets[ntargets++] = t;
        }
    writers_t w = {
        .ctx = ctx, .plans = plans, .nplans = nplans, .targets = targets, .ntargets = ntargets};
    atomic_init(&w.next, 0);
    atomic_init(&w.failed, false);
    pthread_mutex_init(&w.lock, NULL);
    size_t nthreads = 0;
    pthread_t threads[MAX_WRITERS];
    if (ctx->write_pool && ntargets > 1) {
        size_t want = (size_t)ctx->cfg.writers;
        if (want > ntargets)
            want = ntargets;
        if (want > MAX_WRITERS)
            want = MAX_WRITERS;
        /* this thread writes too, on ctx->db: want - 1 more */
        while (nthreads + 1 < want && !pthread_create(&threads[nthreads], NULL, writer_thread, &w))
            nthreads++;
    }
    writers_run(&w, ctx->db);
    for (size_t i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&w.lock);
    if (atomic_load(&w.failed)) {
        *err = w.err;
        return false;
    }
    for (size_t k = 0; k < ntargets; k++) {
        bool any = false;
        for (size_t i = 0; i < nplans && !any; i++)
            for (size_t j = 0; j < plans[i]->n && !any; j++)
                any = plans[i]->ops[j]->after && op_runs(ctx, plans[i]->ops[j]) &&
                      !strcmp(pj_physical(ctx, plans[i]->ops[j]->model), targets[k]);
        if (any && !run_collection(ctx, ctx->db, plans, nplans, targets[k], true, err))
            return false;
    }
    if (!settle_unread(ctx, plans, nplans, err))
        return false;
    if (!ctx->rebuild_model && !advance_watermarks(ctx, plans, nplans, err))
        return false;
    return true;
}

bool pj_plan_execute(pj_ctx_t *ctx, const pj_plan_t *plan, bool *applied, hl_error_t *err)
{
    *applied = false;
    for (size_t i = 0; i < plan->n; i++)
        *applied = *applied || op_runs(ctx, plan->ops[i]);
    return pj_plans_execute(ctx, &plan, 1, err);
}
