/* read_marks.c: the read-all marks of notification inboxes for the planner (models.h
 * pj_read_marks_t), kept in memory per user and loaded on first use from the read model
 * notification_reads ({_id: user id, read_all: [date...]}, written by the same plans).
 *
 * Only the consumer thread plans, so nothing here locks. Entries are never evicted: a mark
 * planned in this process but not yet written must not be forgotten before the plan that
 * writes it ran (one entry per user seen with a notification: ~100 bytes). A mark known here
 * before its NotificationsRead is applied (loaded from the store by a rebuild or a second
 * replay) is harmless: the final state of a notification is a function of all read events. */
#include "projector.h"

#include "models.h"

#include "hl/log.h"

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

static void entry_add(mark_entry_t *e, int64_t t)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->times[i] == t)
            return;
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 4;
        int64_t *times = realloc(e->times, cap * sizeof *times);
        if (!times)
            abort();
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

/* The entry of user, loaded from notification_reads when first asked for. A store error leaves
 * the entry unloaded (no marks known) and is logged; the notification is then planned unread,
 * as before read marks existed. */
static mark_entry_t *entry_get(marks_t *m, const char *user)
{
    size_t b = bucket_of(user);
    for (mark_entry_t *e = m->buckets[b]; e; e = e->next)
        if (!strcmp(e->user, user))
            return e;
    mark_entry_t *e = calloc(1, sizeof *e);
    if (!e)
        abort();
    snprintf(e->user, sizeof e->user, "%s", user);
    mongoc_collection_t *coll =
        mongoc_database_get_collection(m->ctx->db, pj_physical(m->ctx, "notification_reads"));
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(user));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
    const bson_t *doc;
    bson_error_t berr;
    bool ok = true;
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it, arr;
        if (bson_iter_init_find(&it, doc, "read_all") && BSON_ITER_HOLDS_ARRAY(&it) &&
            bson_iter_recurse(&it, &arr))
            while (bson_iter_next(&arr))
                if (BSON_ITER_HOLDS_DATE_TIME(&arr))
                    entry_add(e, bson_iter_date_time(&arr));
    }
    if (mongoc_cursor_error(cur, &berr)) {
        HL_WARN("read marks of %s: %s (planning its notifications unread)", user, berr.message);
        ok = false;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    if (!ok) {
        free(e->times);
        free(e);
        return NULL;
    }
    e->next = m->buckets[b];
    m->buckets[b] = e;
    return e;
}

static int64_t marks_covering(void *opaque, const char *user, int64_t created_ms)
{
    mark_entry_t *e = entry_get(opaque, user);
    for (size_t i = 0; e && i < e->n; i++)
        if (e->times[i] >= created_ms)
            return e->times[i];
    return -1;
}

static void marks_add(void *opaque, const char *user, int64_t read_ms)
{
    mark_entry_t *e = entry_get(opaque, user);
    if (e)
        entry_add(e, read_ms);
}

void pj_read_marks_install(pj_ctx_t *ctx)
{
    static pj_read_marks_t iface = {marks_covering, marks_add, &marks_state};
    marks_state.ctx = ctx;
    pj_models_set_read_marks(&iface);
}
