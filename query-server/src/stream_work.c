/* stream_work.c: the listener's worker pool: every MongoDB read a subscription needs (the query
 * server's session and membership checks, the gap after a Last-Event-ID, the current position,
 * presence snapshots), off the event loop. Results go back to the loop as ST_MSG_JOB. */
#include "page.h"
#include "read_api.h"
#include "stream_app.h"
#include "stream_work.h"
#include "stream_inbox.h"

#include "hl/log.h"
#include "hl/metrics.h"
#include "hl/util.h"
#include "hl/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Documents read per round trip of a gap read; a gap of any size is read in such pages. */
#define GAP_PAGE 500

st_event_t *st_event_new(const char *channel, const char *kind, const char *data, size_t len)
{
    st_event_t *ev = hl_xcalloc(1, sizeof *ev + len + 1);
    ev->refs = 1;
    snprintf(ev->channel, sizeof ev->channel, "%s", channel);
    snprintf(ev->kind, sizeof ev->kind, "%s", kind);
    memcpy(ev->data, data, len);
    ev->len = len;
    return ev;
}

void st_event_unref(st_event_t *ev)
{
    if (ev && --ev->refs == 0)
        free(ev);
}

void st_job_free(st_job_t *job)
{
    if (!job)
        return;
    for (size_t i = 0; i < job->nevents; i++)
        st_event_unref(job->events[i]);
    free(job->events);
    free(job->friends);
    free(job->friend_versions);
    free(job->friend_presence);
    free(job);
}

static bool push_event(st_job_t *job, st_event_t *ev, size_t *cap, hl_error_t *err)
{
    if (!ev)
        return hl_error_set(err, HL_ERR_SYSTEM, 0, "out of memory");
    if (job->nevents == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        st_event_t **grown = hl_xrealloc(job->events, ncap * sizeof *grown);
        if (!grown) {
            st_event_unref(ev);
            return hl_error_set(err, HL_ERR_SYSTEM, 0, "out of memory");
        }
        job->events = grown;
        *cap = ncap;
    }
    job->events[job->nevents++] = ev;
    return true;
}

/* An event of channel with the relaxed JSON of item as its data. */
static st_event_t *event_of(const char *channel, const char *kind, const bson_t *item)
{
    size_t len = 0;
    char *json = bson_as_relaxed_extended_json(item, &len);
    st_event_t *ev = json ? st_event_new(channel, kind, json, len) : NULL;
    bson_free(json);
    return ev;
}

static int by_version(const void *a, const void *b)
{
    const st_event_t *x = *(st_event_t *const *)a, *y = *(st_event_t *const *)b;
    return x->version < y->version ? -1 : x->version > y->version;
}

/* Room "room:<room>": the messages after seq from.a (gapless: stops before the first seq not
 * projected yet) and the read markers with room version > from.b, in room-version order. With
 * no Last-Event-ID: the current position (newest seq, newest read-marker version) and no
 * events. */
static bool room_read(qs_ctx_t *ctx, st_job_t *job, hl_error_t *err)
{
    const char *room = job->route_id;
    char channel[96], lo[128], hi[128];
    size_t cap = 0;
    snprintf(channel, sizeof channel, "room:%s", room);
    snprintf(hi, sizeof hi, "%s;", room);
    job->pos = job->from;
    if (!job->has_last) {
        qs_docs_t d = {0};
        snprintf(lo, sizeof lo, "%s:", room);
        bson_t *filter = BCON_NEW("_id", "{", "$gt", BCON_UTF8(lo), "$lt", BCON_UTF8(hi), "}");
        bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(-1), "}", "limit", BCON_INT64(1));
        bool ok = qs_find(ctx, "messages", filter, opts, &d, err);
        if (ok && d.n)
            job->pos.a = qs_doc_int(d.docs[0], "seq", 0);
        qs_docs_free(&d);
        bson_destroy(opts);
        if (ok)
            ok = qs_find(ctx, "room_members", filter, NULL, &d, err);
        for (size_t i = 0; ok && i < d.n; i++) {
            int64_t rv = qs_doc_int(d.docs[i], "room_version", 0);
            if (qs_doc_int(d.docs[i], "last_read_seq", 0) > 0 && rv > job->pos.b)
                job->pos.b = rv;
        }
        qs_docs_free(&d);
        bson_destroy(filter);
        return ok;
    }
    /* messages after from.a, page by page */
    for (int64_t next = job->from.a + 1;;) {
        qs_docs_t d = {0};
        snprintf(lo, sizeof lo, "%s:%019lld", room, (long long)next);
        bson_t *filter = BCON_NEW("_id", "{", "$gte", BCON_UTF8(lo), "$lt", BCON_UTF8(hi), "}");
        bson_t *opts =
            BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}", "limit", BCON_INT64(GAP_PAGE));
        bool ok = qs_find(ctx, "messages", filter, opts, &d, err);
        bson_destroy(opts);
        bson_destroy(filter);
        size_t taken = 0;
        for (size_t i = 0; ok && i < d.n; i++) {
            int64_t seq = qs_doc_int(d.docs[i], "seq", 0);
            if (seq != next)
                break; /* a seq not projected yet: the live feed brings it */
            bson_t item;
            qs_render_message(d.docs[i], room, &item);
            st_event_t *ev = event_of(channel, "message", &item);
            bson_destroy(&item);
            if (ev) {
                ev->pos.a = seq;
                ev->version = qs_doc_int(d.docs[i], "room_version", 0);
            }
            ok = push_event(job, ev, &cap, err);
            job->pos.a = seq;
            next = seq + 1;
            taken++;
        }
        bool more = ok && d.n == GAP_PAGE && taken == d.n;
        qs_docs_free(&d);
        if (!ok)
            return false;
        if (!more)
            break;
    }
    /* read markers newer than from.b: the room's members range (a room has few members) */
    qs_docs_t d = {0};
    snprintf(lo, sizeof lo, "%s:", room);
    bson_t *filter = BCON_NEW("_id", "{", "$gt", BCON_UTF8(lo), "$lt", BCON_UTF8(hi), "}",
                              "room_version", "{", "$gt", BCON_INT64(job->from.b), "}");
    bool ok = qs_find(ctx, "room_members", filter, NULL, &d, err);
    bson_destroy(filter);
    for (size_t i = 0; ok && i < d.n; i++) {
        int64_t rv = qs_doc_int(d.docs[i], "room_version", 0);
        int64_t up_to = qs_doc_int(d.docs[i], "last_read_seq", 0);
        if (rv <= job->from.b || up_to <= 0)
            continue;
        bson_t item = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&item, "user_id", qs_doc_string(d.docs[i], "user_id", ""));
        BSON_APPEND_INT64(&item, "up_to_seq", up_to);
        st_event_t *ev = event_of(channel, "read", &item);
        bson_destroy(&item);
        if (ev) {
            ev->pos.b = rv;
            ev->version = rv;
            snprintf(ev->subject, sizeof ev->subject, "%s",
                     qs_doc_string(d.docs[i], "user_id", ""));
        }
        ok = push_event(job, ev, &cap, err);
        if (rv > job->pos.b)
            job->pos.b = rv;
    }
    qs_docs_free(&d);
    if (ok && job->nevents > 1)
        qsort(job->events, job->nevents, sizeof *job->events, by_version);
    return ok;
}

/* The position of notification _id "<user>:<µs, 19 digits>:<event id>" into *pos. */
static bool notification_pos(const char *id, st_pos_t *pos)
{
    const char *c = strchr(id, ':');
    if (!c || strlen(c) < 21 || c[20] != ':')
        return false;
    int64_t us = 0;
    for (int i = 1; i <= 19; i++) {
        if (c[i] < '0' || c[i] > '9')
            return false;
        us = us * 10 + (c[i] - '0');
    }
    memset(pos, 0, sizeof *pos);
    pos->a = pos->b = us;
    snprintf(pos->extra, sizeof pos->extra, "%s", c + 21);
    return true;
}

/* The events of notifications documents d (stubs skipped), names loaded once for the page. */
bool st_render_notifications(qs_ctx_t *ctx, const char *channel, qs_docs_t *d, st_job_t *job,
                             size_t *cap, hl_error_t *err)
{
    qs_docs_t names = {0};
    if (!qs_load_names(ctx, d, d->n, "actor_id", &names, err))
        return false;
    bool ok = true;
    for (size_t i = 0; ok && i < d->n; i++) {
        bson_iter_t it;
        st_pos_t pos;
        if (!bson_iter_init_find(&it, d->docs[i], "kind") ||
            !notification_pos(qs_doc_string(d->docs[i], "_id", ""), &pos))
            continue;
        bson_t item = BSON_INITIALIZER;
        qs_render_notification(d->docs[i], &names, &item);
        st_event_t *ev = event_of(channel, "notification", &item);
        bson_destroy(&item);
        if (ev)
            ev->pos = pos;
        ok = push_event(job, ev, cap, err);
    }
    qs_docs_free(&names);
    return ok;
}

/* Notifications of the caller after from (the _id range above "<me>:<µs>:<event>"), or with no
 * Last-Event-ID the position of the newest. */
static bool notifications_read(qs_ctx_t *ctx, st_job_t *job, hl_error_t *err)
{
    const char *me = job->session.user_id;
    char channel[96], lo[160], hi[64];
    size_t cap = 0;
    snprintf(channel, sizeof channel, "notifications:%s", me);
    snprintf(hi, sizeof hi, "%s;", me);
    job->pos = job->from;
    if (job->has_last)
        snprintf(lo, sizeof lo, "%s:%019lld:%s", me, (long long)job->from.a, job->from.extra);
    else
        snprintf(lo, sizeof lo, "%s:", me);
    for (;;) {
        qs_docs_t d = {0};
        bson_t *filter = BCON_NEW("_id", "{", "$gt", BCON_UTF8(lo), "$lt", BCON_UTF8(hi), "}");
        bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(job->has_last ? 1 : -1), "}",
                                "limit", BCON_INT64(job->has_last ? GAP_PAGE : 1));
        bool ok = qs_find(ctx, "notifications", filter, opts, &d, err);
        bson_destroy(opts);
        bson_destroy(filter);
        if (ok && !job->has_last) {
            if (d.n)
                notification_pos(qs_doc_string(d.docs[0], "_id", ""), &job->pos);
            qs_docs_free(&d);
            return true;
        }
        if (ok)
            ok = st_render_notifications(ctx, channel, &d, job, &cap, err);
        if (ok && d.n)
            snprintf(lo, sizeof lo, "%s", qs_doc_string(d.docs[d.n - 1], "_id", ""));
        bool more = ok && d.n == GAP_PAGE;
        qs_docs_free(&d);
        if (!ok)
            return false;
        if (!more)
            break;
    }
    if (job->nevents)
        job->pos = job->events[job->nevents - 1]->pos;
    return true;
}

/* Presence snapshot: the caller's friends with their presence now ({items: [{user_id,
 * presence, since}]}), and the friend ids and versions for the live subscription. */
static bool presence_read(qs_ctx_t *ctx, st_job_t *job, hl_error_t *err)
{
    const char *me = job->session.user_id;
    char lo[64], hi[64], channel[96];
    qs_docs_t friends = {0}, profiles = {0}, conns = {0};
    const char **ids = NULL;
    size_t cap = 0;
    bool ok = false;
    snprintf(lo, sizeof lo, "%s:", me);
    snprintf(hi, sizeof hi, "%s;", me);
    snprintf(channel, sizeof channel, "presence:%s", me);
    bson_t *filter = BCON_NEW("_id", "{", "$gt", BCON_UTF8(lo), "$lt", BCON_UTF8(hi), "}",
                              "user_id", BCON_UTF8(me), "ended", BCON_BOOL(false));
    if (!qs_find(ctx, "friends", filter, NULL, &friends, err))
        goto done;
    ids = hl_xcalloc(friends.n + 1, sizeof *ids);
    job->friends = hl_xcalloc(friends.n + 1, sizeof *job->friends);
    job->friend_versions = hl_xcalloc(friends.n + 1, sizeof *job->friend_versions);
    job->friend_presence = hl_xcalloc(friends.n + 1, sizeof *job->friend_presence);
    if (!ids || !job->friends || !job->friend_versions || !job->friend_presence) {
        hl_error_set(err, HL_ERR_SYSTEM, 0, "out of memory");
        goto done;
    }
    size_t n = 0;
    for (size_t i = 0; i < friends.n; i++) {
        const char *f = qs_doc_string(friends.docs[i], "friend_id", NULL);
        if (f && hl_uuid_valid(f))
            ids[n++] = f;
    }
    bson_t *proj =
        BCON_NEW("presence", BCON_INT32(1), "updated_at", BCON_INT32(1), "version", BCON_INT32(1));
    ok = qs_find_ids(ctx, "user_profiles", ids, n, proj, &profiles, err) &&
         qs_find_ids(ctx, "presence", ids, n, NULL, &conns, err);
    bson_destroy(proj);
    if (!ok)
        goto done;
    bson_t snap = BSON_INITIALIZER, items;
    BSON_APPEND_ARRAY_BEGIN(&snap, "items", &items);
    for (size_t i = 0; i < n; i++) {
        const bson_t *p = qs_docs_by_id(&profiles, ids[i]);
        char key[24];
        bson_t item;
        snprintf(key, sizeof key, "%zu", i);
        BSON_APPEND_DOCUMENT_BEGIN(&items, key, &item);
        BSON_APPEND_UTF8(&item, "user_id", ids[i]);
        const char *value = qs_presence_effective(p, qs_docs_by_id(&conns, ids[i]), &item);
        bson_append_document_end(&items, &item);
        snprintf(job->friend_presence[i], sizeof job->friend_presence[i], "%s", value);
        snprintf(job->friends[i], sizeof job->friends[i], "%s", ids[i]);
        job->friend_versions[i] = p ? qs_doc_int(p, "version", 0) : 0;
    }
    job->nfriends = n;
    bson_append_array_end(&snap, &items);
    ok = push_event(job, event_of(channel, "snapshot", &snap), &cap, err);
    bson_destroy(&snap);
done:
    bson_destroy(filter);
    free(ids);
    qs_docs_free(&friends);
    qs_docs_free(&profiles);
    qs_docs_free(&conns);
    return ok;
}

/* Job "job:<id>" (SPEC §9 jobs): its owner only, with the query API's answers (404 unknown,
 * 403 not-owner); the job document as one event when its version is after from.a (always
 * without a Last-Event-ID), and job->ended when it has finished. */
static bool job_read(qs_ctx_t *ctx, st_job_t *job, hl_error_t *err)
{
    char channel[96];
    size_t cap = 0;
    bson_t doc;
    snprintf(channel, sizeof channel, "job:%s", job->route_id);
    int found = qs_find_one(ctx, "jobs", job->route_id, &doc, err);
    if (found < 0)
        return false;
    if (!found)
        return hl_error_set_reason(err, HL_ERR_INPUT, 404, "not-found", "no job with this id");
    bool ok = true;
    if (strcasecmp(qs_doc_string(&doc, "owner_id", ""), job->session.user_id) != 0) {
        ok = hl_error_set_reason(err, HL_ERR_INPUT, 403, "not-owner", "this job is not yours");
    } else {
        int64_t version = qs_doc_int(&doc, "version", 0);
        bson_t item = BSON_INITIALIZER;
        job->ended = qs_render_job(&doc, job->route_id, &item);
        job->pos = job->from;
        if (!job->has_last || version > job->from.a) {
            st_event_t *ev = event_of(channel, "job", &item);
            if (ev) {
                ev->pos.a = version;
                ev->version = version;
                if (job->ended)
                    snprintf(ev->subject, sizeof ev->subject, "ended");
            }
            ok = push_event(job, ev, &cap, err);
            job->pos.a = version;
        }
        bson_destroy(&item);
    }
    bson_destroy(&doc);
    return ok;
}

/* Hand a finished job back to the loop (ST_MSG_JOB; takes job over, freed when out of memory). */
static void post_result(st_app_t *app, st_job_t *job)
{
    st_msg_t *msg = hl_xcalloc(1, sizeof *msg);
    if (!msg) {
        st_job_free(job);
        return;
    }
    msg->kind = ST_MSG_JOB;
    msg->job = job;
    st_post(app, msg);
}

static void run_job(st_app_t *app, st_job_t *job)
{
    qs_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.app = &app->qs;
    ctx.client = qs_client_acquire(&app->qs);
    ctx.authenticated = true;
    ctx.session = job->session;
    hl_error_t *err = &job->err;
    if (job->recheck) {
        qs_forget_member(&ctx, job->route_id);
        job->failed = qs_check_member(&ctx, job->route_id, err) == 0;
        qs_end(&ctx);
        post_result(app, job);
        return;
    }
    bool ok = job->gap_only || qs_check_session(&ctx, err);
    if (ok && job->route == ST_ROUTE_ROOM && !job->gap_only)
        ok = qs_check_member(&ctx, job->route_id, err) > 0;
    if (ok) {
        switch (job->route) {
        case ST_ROUTE_ROOM:
            ok = room_read(&ctx, job, err);
            break;
        case ST_ROUTE_NOTIFICATIONS:
            ok = notifications_read(&ctx, job, err);
            break;
        case ST_ROUTE_PRESENCE:
            ok = presence_read(&ctx, job, err);
            break;
        case ST_ROUTE_JOB:
            ok = job_read(&ctx, job, err);
            break;
        default:
            ok = hl_error_set_reason(err, HL_ERR_INPUT, 404, "not-found", "no such stream");
            break;
        }
    }
    atomic_store(&app->mongo_ready, ok || err->domain != HL_ERR_MONGO);
    qs_end(&ctx);
    job->failed = !ok;
    if (!ok && err->domain != HL_ERR_INPUT)
        HL_WARN("stream read for %s: %s", job->route_id[0] ? job->route_id : "caller",
                err->message);
    if (job->has_last && ok && !job->gap_only) {
        char labels[48];
        snprintf(labels, sizeof labels, "route=\"%s\"",
                 job->route == ST_ROUTE_ROOM ? "room" : "notifications");
        hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_stream_resume_gap_events_total", labels,
                                    "Events sent from the read models on resume"),
                      (int64_t)job->nevents);
        hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_stream_resumes_total", labels,
                                    "Subscriptions resumed with a Last-Event-ID"),
                      1);
    }
    post_result(app, job);
}

static void *worker_main(void *arg)
{
    st_app_t *app = arg;
    for (;;) {
        pthread_mutex_lock(&app->jobs_lock);
        while (!app->jobs_head && !atomic_load(&app->stopping))
            pthread_cond_wait(&app->jobs_cond, &app->jobs_lock);
        st_job_t *job = app->jobs_head;
        if (job) {
            app->jobs_head = job->next;
            if (!app->jobs_head)
                app->jobs_tail = NULL;
        }
        pthread_mutex_unlock(&app->jobs_lock);
        if (!job)
            return NULL;
        job->next = NULL;
        run_job(app, job);
    }
}

bool st_workers_start(st_app_t *app, hl_error_t *err)
{
    app->nworkers = (size_t)app->cfg.workers;
    app->workers = hl_xcalloc(app->nworkers, sizeof *app->workers);
    for (size_t i = 0; i < app->nworkers; i++)
        if (pthread_create(&app->workers[i], NULL, worker_main, app) != 0) {
            app->nworkers = i;
            return hl_error_set(err, HL_ERR_SYSTEM, 0, "cannot start worker threads");
        }
    return true;
}

void st_job_submit(st_app_t *app, st_job_t *job)
{
    job->next = NULL;
    pthread_mutex_lock(&app->jobs_lock);
    if (app->jobs_tail)
        app->jobs_tail->next = job;
    else
        app->jobs_head = job;
    app->jobs_tail = job;
    pthread_cond_signal(&app->jobs_cond);
    pthread_mutex_unlock(&app->jobs_lock);
}

void st_workers_stop(st_app_t *app)
{
    pthread_mutex_lock(&app->jobs_lock);
    atomic_store(&app->stopping, true);
    pthread_cond_broadcast(&app->jobs_cond);
    pthread_mutex_unlock(&app->jobs_lock);
    for (size_t i = 0; i < app->nworkers; i++)
        pthread_join(app->workers[i], NULL);
    free(app->workers);
    app->workers = NULL;
    for (st_job_t *j = app->jobs_head; j;) {
        st_job_t *next = j->next;
        st_job_free(j);
        j = next;
    }
    app->jobs_head = app->jobs_tail = NULL;
}
