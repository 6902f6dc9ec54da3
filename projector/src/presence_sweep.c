/* presence_sweep.c: the I/O half of presence.h: the users due for evaluation and the sweep
 * that evaluates them against the stored facts (consumer thread, between poll batches). */
#include "feed.h"
#include "presence.h"
#include "projector.h"
#include "plan_exec.h"

#include "hl/log.h"
#include "hl/mem.h"
#include "hl/metrics.h"
#include "hl/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUE_BUCKETS 4096
#define SWEEP_MAX   256 /* users evaluated per call */
#define CONNS_MAX   64  /* connection records read per user (listener instances) */

typedef struct due {
    struct due *next;
    char user[40];
    int64_t due_ms;
} due_t;

struct pj_presence {
    int64_t grace_ms;
    due_t *buckets[DUE_BUCKETS];
    size_t n;
};

pj_presence_t *pj_presence_new(int64_t grace_ms)
{
    pj_presence_t *p = hl_xcalloc(1, sizeof *p);
    p->grace_ms = grace_ms;
    return p;
}

void pj_presence_destroy(pj_presence_t *p)
{
    if (!p)
        return;
    for (size_t b = 0; b < DUE_BUCKETS; b++)
        for (due_t *d = p->buckets[b]; d;) {
            due_t *next = d->next;
            free(d);
            d = next;
        }
    free(p);
}

/* Set user's due time (PJ_PRESENCE_NEVER removes it). */
static void set_due(pj_presence_t *p, const char *user, int64_t due_ms)
{
    due_t **pp = &p->buckets[hl_fnv1a32(user) % DUE_BUCKETS];
    for (; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->user, user))
            break;
    if (*pp && due_ms == PJ_PRESENCE_NEVER) {
        due_t *d = *pp;
        *pp = d->next;
        free(d);
        p->n--;
    } else if (*pp) {
        (*pp)->due_ms = due_ms;
    } else if (due_ms != PJ_PRESENCE_NEVER && strlen(user) < sizeof(*pp)->user) {
        due_t *d = hl_xcalloc(1, sizeof *d);
        snprintf(d->user, sizeof d->user, "%s", user);
        d->due_ms = due_ms;
        d->next = p->buckets[hl_fnv1a32(user) % DUE_BUCKETS];
        p->buckets[hl_fnv1a32(user) % DUE_BUCKETS] = d;
        p->n++;
    }
}

void pj_presence_note_plan(pj_presence_t *p, const pj_plan_t *plan)
{
    for (size_t i = 0; p && i < plan->n; i++) {
        const pj_op_t *op = plan->ops[i];
        bson_iter_t it;
        if (op->kind == PJ_OP_UPSERT && !strcmp(op->model, "presence") &&
            bson_iter_init_find(&it, &op->filter, "_id") && BSON_ITER_HOLDS_UTF8(&it))
            set_due(p, bson_iter_utf8(&it, NULL), 0);
    }
}

static int64_t doc_int(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, doc, key) &&
                   (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it) ||
                    BSON_ITER_HOLDS_DATE_TIME(&it))
               ? (BSON_ITER_HOLDS_DATE_TIME(&it) ? bson_iter_date_time(&it)
                                                 : bson_iter_as_int64(&it))
               : 0;
}

static const char *doc_str(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it)
               ? bson_iter_utf8(&it, NULL)
               : NULL;
}

static mongoc_collection_t *coll_of(pj_ctx_t *ctx, const char *model)
{
    const char *name = pj_physical(ctx, model);
    return mongoc_database_get_collection(ctx->db, name ? name : model);
}

bool pj_presence_load(pj_ctx_t *ctx, pj_presence_t *p, hl_error_t *err)
{
    mongoc_collection_t *coll = coll_of(ctx, "presence");
    bson_t *filter = BCON_NEW("due_at", "{", "$lt", BCON_INT64(PJ_PRESENCE_NEVER), "}");
    bson_t *opts = BCON_NEW("projection", "{", "due_at", BCON_INT32(1), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t *doc;
    while (mongoc_cursor_next(cur, &doc)) {
        const char *id = doc_str(doc, "_id");
        if (id)
            set_due(p, id, doc_int(doc, "due_at"));
    }
    bson_error_t berr;
    bool ok = !mongoc_cursor_error(cur, &berr);
    if (!ok)
        hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "presence: %s", berr.message);
    else
        HL_INFO("presence: %zu users due for evaluation", p->n);
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    return ok;
}

/* The heartbeat times of every listener instance (few documents). */
typedef struct {
    char id[48];
    int64_t beat_ms;
} beat_t;

static bool load_beats(pj_ctx_t *ctx, beat_t **out, size_t *n, hl_error_t *err)
{
    mongoc_collection_t *coll = coll_of(ctx, "presence_listeners");
    bson_t filter = BSON_INITIALIZER;
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
    const bson_t *doc;
    size_t cap = 0;
    *n = 0;
    *out = NULL;
    while (mongoc_cursor_next(cur, &doc)) {
        const char *id = doc_str(doc, "_id");
        if (!id)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = hl_xrealloc(*out, cap * sizeof **out);
        }
        snprintf((*out)[*n].id, sizeof(*out)[*n].id, "%s", id);
        (*out)[(*n)++].beat_ms = doc_int(doc, "beat_at");
    }
    bson_error_t berr;
    bool ok = !mongoc_cursor_error(cur, &berr);
    if (!ok)
        hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "presence_listeners: %s", berr.message);
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    return ok;
}

static int64_t beat_of(const beat_t *beats, size_t n, const char *listener)
{
    for (size_t i = 0; listener && i < n; i++)
        if (!strcmp(beats[i].id, listener))
            return beats[i].beat_ms;
    return 0;
}

/* Evaluate one user: read its records and its current presence document, plan the writes. */
static bool evaluate_user(pj_ctx_t *ctx, pj_presence_t *p, const char *user, const beat_t *beats,
                          size_t nbeats, int64_t now_ms, pj_plan_t *plan, hl_error_t *err)
{
    char lo[64], hi[64];
    snprintf(lo, sizeof lo, "%s:", user);
    snprintf(hi, sizeof hi, "%s;", user);
    mongoc_collection_t *coll = coll_of(ctx, "presence_connections");
    bson_t *filter = BCON_NEW("_id", "{", "$gt", BCON_UTF8(lo), "$lt", BCON_UTF8(hi), "}");
    bson_t *opts = BCON_NEW("limit", BCON_INT64(CONNS_MAX));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    pj_presence_conn_t conns[CONNS_MAX];
    char ids[CONNS_MAX][128];
    int64_t seqs[CONNS_MAX];
    bool expired[CONNS_MAX];
    size_t n = 0;
    const bson_t *doc;
    while (n < CONNS_MAX && mongoc_cursor_next(cur, &doc)) {
        const char *id = doc_str(doc, "_id");
        if (!id)
            continue;
        snprintf(ids[n], sizeof ids[n], "%s", id);
        seqs[n] = doc_int(doc, "seq");
        conns[n].open = doc_int(doc, "open");
        conns[n].at_ms = doc_int(doc, "at");
        conns[n].beat_ms = beat_of(beats, nbeats, doc_str(doc, "listener_id"));
        n++;
    }
    bson_error_t berr;
    bool ok = !mongoc_cursor_error(cur, &berr);
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    if (!ok)
        return hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "presence_connections: %s",
                            berr.message);
    /* the stored state, to see whether it changes */
    bson_t *one = BCON_NEW("_id", BCON_UTF8(user));
    coll = coll_of(ctx, "presence");
    cur = mongoc_collection_find_with_opts(coll, one, NULL, NULL);
    char stored[16] = "";
    if (mongoc_cursor_next(cur, &doc)) {
        const char *c = doc_str(doc, "connected");
        snprintf(stored, sizeof stored, "%s", c ? c : "");
    }
    ok = !mongoc_cursor_error(cur, &berr);
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(coll);
    bson_destroy(one);
    if (!ok)
        return hl_error_set(err, HL_ERR_MONGO, (int)berr.code, "presence: %s", berr.message);

    pj_presence_state_t st;
    pj_presence_evaluate(conns, n, now_ms, p->grace_ms, &st, expired);
    const char *value = st.online ? "online" : "offline";
    bool changed = strcmp(stored, value) != 0;
    pj_op_t *op = pj_plan_add(plan, PJ_OP_UPSERT, "presence");
    bson_t set;
    BSON_APPEND_UTF8(&op->filter, "_id", user);
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$set", &set);
    if (changed) {
        BSON_APPEND_UTF8(&set, "connected", value);
        BSON_APPEND_DATE_TIME(&set, "since", st.since_ms);
        BSON_APPEND_INT64(&set, "pos", hl_now_us());
    }
    BSON_APPEND_INT64(&set, "due_at", st.due_ms);
    BSON_APPEND_DATE_TIME(&set, "evaluated_at", now_ms);
    bson_append_document_end(&op->update, &set);
    for (size_t i = 0; i < n; i++) {
        if (!expired[i])
            continue;
        /* past its grace: nothing more to learn from it (a newer fact re-creates it) */
        op = pj_plan_add(plan, PJ_OP_DELETE, "presence_connections");
        BSON_APPEND_UTF8(&op->filter, "_id", ids[i]);
        BSON_APPEND_INT64(&op->filter, "seq", seqs[i]);
    }
    if (changed)
        hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_presence_transitions_total",
                                    st.online ? "to=\"online\"" : "to=\"offline\"",
                                    "Connection presence changes derived by the projector"),
                      1);
    return true;
}

bool pj_presence_sweep(pj_ctx_t *ctx, pj_presence_t *p, hl_error_t *err)
{
    int64_t now_ms = hl_now_us() / 1000;
    char users[SWEEP_MAX][40];
    size_t n = 0;
    for (size_t b = 0; b < DUE_BUCKETS && n < SWEEP_MAX; b++)
        for (due_t *d = p->buckets[b]; d && n < SWEEP_MAX; d = d->next)
            if (d->due_ms <= now_ms)
                snprintf(users[n++], sizeof users[0], "%s", d->user);
    if (!n)
        return true;
    beat_t *beats = NULL;
    size_t nbeats = 0;
    pj_plan_t plan;
    pj_plan_init(&plan);
    bool ok = load_beats(ctx, &beats, &nbeats, err);
    for (size_t i = 0; ok && i < n; i++)
        ok = evaluate_user(ctx, p, users[i], beats, nbeats, now_ms, &plan, err);
    const pj_plan_t *one = &plan;
    ok = ok && pj_plans_execute(ctx, &one, 1, err) &&
         (!ctx->feed || pj_feed_publish(ctx->feed, &one, 1, 10000, err));
    if (ok) /* the new due times, as written */
        for (size_t i = 0; i < plan.n; i++) {
            const pj_op_t *op = plan.ops[i];
            bson_iter_t it, set;
            if (op->kind != PJ_OP_UPSERT || !bson_iter_init_find(&it, &op->update, "$set") ||
                !bson_iter_recurse(&it, &set) || !bson_iter_find(&set, "due_at"))
                continue;
            int64_t due = bson_iter_as_int64(&set);
            bson_iter_t id;
            if (bson_iter_init_find(&id, &op->filter, "_id"))
                set_due(p, bson_iter_utf8(&id, NULL), due);
        }
    pj_plan_destroy(&plan);
    free(beats);
    return ok;
}
