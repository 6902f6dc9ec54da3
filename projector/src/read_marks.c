/* read_marks.c: the read-all marks of notification inboxes for the planner (models.h
 * pj_read_marks_t), kept in memory per user: the whole read model notification_reads ({_id:
 * user id, read_all: [date...]}) is loaded once, at the first use, and this process's own plans
 * (which also write it) keep the map up to date. One projector daemon consumes the event topics
 * (docs/read-models.md), so nothing else adds marks meanwhile; a rebuild or replay process
 * learns the marks of later inputs when it plans them.
 *
 * Only the consumer thread plans, so nothing here locks. Entries are never evicted (one per user
 * with a read-all, ~100 bytes). A mark known before its NotificationsRead is applied (loaded from
 * the store by a rebuild or a second replay) is harmless: the final state of a notification is a
 * function of all its read events. */
#include "projector.h"

#include "models.h"

#include "hl/log.h"
#include "hl/mem.h"

#include <stdlib.h>
#include <string.h>

typedef struct mark_entry {
    char user[40];
    int64_t *times; /* sorted ascending, ms */
    size_t n, cap;
    struct mark_entry *next;
} mark_entry_t;

#define MARK_BUCKETS 4096

typedef struct {
    pj_ctx_t *ctx;
    bool loaded;
    mark_entry_t *buckets[MARK_BUCKETS];
} marks_t;

static marks_t marks_state;

static size_t bucket_of(const char *user)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)user; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h % MARK_BUCKETS);
}

/* The entry of user; created (empty) when create is set, else NULL when absent. */
static mark_entry_t *entry_get(marks_t *m, const char *user, bool create)
{
    size_t b = bucket_of(user);
    for (mark_entry_t *e = m->buckets[b]; e; e = e->next)
        if (!strcmp(e->user, user))
            return e;
    if (!create)
        return NULL;
    mark_entry_t *e = hl_xcalloc(1, sizeof *e);
    snprintf(e->user, sizeof e->user, "%s", user);
    e->next = m->buckets[b];
    m->buckets[b] = e;
    return e;
}

static void entry_add(mark_entry_t *e, int64_t t)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->times[i] == t)
            return;
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 4;
        int64_t *times = hl_xrealloc(e->times, cap * sizeof *times);
        e->times = times;
        e->cap = cap;
    }
    size_t i = e->n++;
    while (i > 0 && e->times[i - 1] > t) {
        e->times[i] = e->times[i - 1];
        i--;
    }
    e->times[i] = t;
}

/* Load every document of notification_reads into the map, once (its documents are the users
 * with a read-all: few, small). Afterwards this process's own plans keep the map complete: a
 * user absent from it has no marks. False (logged, retried at the next call) on a store error. */
static bool marks_load(marks_t *m)
{
    if (m->loaded)
        return true;
    mongoc_collection_t *coll =
        mongoc_database_get_collection(m->ctx->db, pj_physical(m->ctx, "notification_reads"));
    bson_t filter = BSON_INITIALIZER;
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
    const bson_t *doc;
    bson_error_t berr;
    size_t users = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it, arr;
        if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it))
            continue;
        mark_entry_t *e = entry_get(m, bson_iter_utf8(&it, NULL), true);
        users++;
        if (bson_iter_init_find(&it, doc, "read_all") && BSON_ITER_HOLDS_ARRAY(&it) &&
            bson_iter_recurse(&it, &arr))
            while (bson_iter_next(&arr))
                if (BSON_ITER_HOLDS_DATE_TIME(&arr))
                    entry_add(e, bson_iter_date_time(&arr));
    }
    bool ok = !mongoc_cursor_error(cur, &berr);
    if (!ok)
        HL_WARN("loading notification read marks: %s (notifications are planned unread until "
                "it works)",
                berr.message);
    else
        HL_INFO("notification read marks of %zu users loaded", users);
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    m->loaded = ok;
    return ok;
}

static int64_t marks_covering(void *opaque, const char *user, int64_t created_ms)
{
    marks_t *m = opaque;
    mark_entry_t *e = marks_load(m) ? entry_get(m, user, false) : NULL;
    for (size_t i = 0; e && i < e->n; i++)
        if (e->times[i] >= created_ms)
            return e->times[i];
    return -1;
}

static void marks_add(void *opaque, const char *user, int64_t read_ms)
{
    marks_t *m = opaque;
    marks_load(m); /* a mark added before the load is kept: the load only adds */
    entry_add(entry_get(m, user, true), read_ms);
}

void pj_read_marks_install(pj_ctx_t *ctx)
{
    static pj_read_marks_t iface = {marks_covering, marks_add, &marks_state};
    marks_state.ctx = ctx;
    pj_models_set_read_marks(&iface);
}
