/* stream_loop.c: the stream listener's event loop (libwebsockets 4.1): one thread, every
 * connection (SSE over HTTP/1.1 and RFC 6455 WebSocket on /v1/ws), their subscriptions, the
 * channel table and the bounded send queues. Nothing here blocks: MongoDB reads go to the
 * worker pool (stream_work.c), and the feed thread hands events in (stream_feed.c).
 *
 * Ordering and resume (stream_ids.h): a subscription starts in "gap" mode: it is attached to
 * its channel at once, so live events that arrive meanwhile are buffered, while a worker checks
 * the session and membership and reads the gap after Last-Event-ID (or the current position)
 * from the read models. When the result comes, the gap is sent, then the buffered events after
 * the last position sent, then the subscription is live. A room's messages are sent strictly in
 * seq order: a message past a hole (its predecessor is on another partition of the feed, or was
 * projected before this listener started) puts the subscription back in gap mode and re-reads
 * the hole from the read model (every 100 ms for 3 s, then every second, for at most
 * --hole-wait-ms, default 30 s: a hole lasts as long as the projector of its partition is
 * away, a kill -9 until the consumer group moves the partition, 10 s and more; after that the
 * hole is skipped and counted in hl_stream_holes_skipped_total). Each event's payload is shared by
 * reference (st_event_t); only the few bytes of its id are per connection. */
#include "stream_app.h"
#include "stream_loop.h"
#include "stream_work.h"
#include "stream_inbox.h"
#include "stream_presence.h"
#include "stream_revoked.h"

#include "hl/assert.h"
#include "hl/log.h"
#include "hl/metrics.h"
#include "hl/session.h"
#include "hl/signals.h"
#include "hl/trace.h"
#include "hl/util.h"
#include "hl/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHANNEL_BUCKETS    16384
#define CONN_BUCKETS       4096
#define WRITE_CHUNK        32768 /* bytes of SSE events written per writable callback at most */
#define HOLE_RETRY_MS      100   /* hole re-reads: this often for the first HOLE_FAST_TRIES */
#define HOLE_FAST_TRIES    30
#define HOLE_RETRY_SLOW_MS 1000 /* then this often, until --hole-wait-ms */

typedef struct qitem {
    struct qitem *next;
    st_event_t *ev; /* shared payload, or NULL for raw bytes */
    char id[ST_ID_MAX];
    const char *label; /* WebSocket channel label (borrowed from the subscription's copy) */
    char label_copy[64];
    char *raw; /* heartbeat, retry, error frames */
    size_t rawlen;
    bool ping;
} qitem_t;

struct channel;
struct st_conn;

typedef struct st_sub {
    struct st_sub *cnext;         /* in the connection */
    struct st_sub *hprev, *hnext; /* in the channel */
    struct channel *ch;
    struct st_conn *conn;
    uint64_t id;
    st_route_t route;
    char route_id[37];
    char label[64];      /* WebSocket channel as the client named it */
    char id_channel[96]; /* channel whose tag the ids carry */
    st_pos_t pos;        /* last position sent */
    bool live;
    bool reading; /* a worker read is under way */
    bool has_last;
    st_pos_t from;
    st_event_t **buf; /* events buffered while not live */
    size_t nbuf, capbuf;
    struct st_sub *parent; /* presence: a friend's subscription → the stream's own */
    int64_t counter;       /* presence stream: events sent */
    char presence[16];     /* presence: a friend's effective presence last sent */
    int hole_tries;
    int64_t hole_since_ms; /* when the open hole was first re-read; 0 = none */
    int64_t retry_at_ms;   /* hole re-read due; 0 = none */
    st_job_t *gap;         /* a gap read being sent, paced by the send queue */
    size_t gap_next;
    bool gap_resumed;
    bool done; /* job: its last event is sent; nothing more on this subscription */
} st_sub_t;

typedef struct channel {
    struct channel *next;
    st_sub_t *subs;
    size_t nsubs;
    char name[];
} channel_t;

typedef struct st_conn {
    struct st_conn *prev, *next; /* every connection */
    struct st_conn *hnext;       /* id table */
    struct lws *wsi;
    uint64_t id;
    bool ws;
    hl_session_t session;
    st_sub_t *subs;
    st_sub_t *session_sub; /* on "session:<id>": ends the connection at log-out */
    qitem_t *qh, *qt;
    size_t qbytes;
    /* SSE */
    int status; /* response status to send (0: none pending) */
    char *body;
    size_t bodylen;
    bool unauthorized;
    bool streaming; /* 200 text/event-stream sent or queued */
    bool headers_sent;
    char path[160];
    int64_t last_write_ms;
    bool closing;
    int close_code; /* WebSocket close status */
    /* WebSocket receive */
    char *rx;
    size_t rxlen;
    bool rx_too_big;
    bool counted;     /* an open stream connection of its user (stream_presence.c) */
    bool drain_close; /* SSE: close once the queue is written (a job stream that ended) */
} st_conn_t;

static st_app_t *g_app;
static channel_t *g_channels[CHANNEL_BUCKETS];
static st_conn_t *g_conn_table[CONN_BUCKETS];
static st_conn_t *g_conns;
static uint64_t g_next_id = 1;
static unsigned char g_scratch[LWS_PRE + WRITE_CHUNK + 8192];
static lws_sorted_usec_list_t g_sweep;
static int64_t g_last_beat_ms;

/* ---- metrics ---- */

static void count(const char *name, const char *labels, const char *help, int64_t v)
{
    hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, name, labels, help), v);
}

static void gauge(const char *name, const char *labels, const char *help, int64_t v)
{
    hl_metric_add(hl_metric_get(HL_METRIC_GAUGE, name, labels, help), v);
}

/* ---- channels (the table is read by the feed thread under interest_lock) ---- */

static channel_t *channel_find(const char *name)
{
    for (channel_t *c = g_channels[hl_fnv1a32(name) % CHANNEL_BUCKETS]; c; c = c->next)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}

bool st_interested(st_app_t *app, const char *channel)
{
    pthread_mutex_lock(&app->interest_lock);
    bool yes = channel_find(channel) != NULL;
    pthread_mutex_unlock(&app->interest_lock);
    return yes;
}

void st_interest_add(st_app_t *app, const char *channel, int delta)
{
    (void)app;
    (void)channel;
    (void)delta; /* the channel table itself is the interest set (see channel_attach) */
}

static void channel_attach(st_sub_t *s, const char *name)
{
    channel_t *c = channel_find(name);
    if (!c) {
        size_t n = strlen(name);
        c = hl_xcalloc(1, sizeof *c + n + 1);
        memcpy(c->name, name, n + 1);
        uint32_t b = hl_fnv1a32(name) % CHANNEL_BUCKETS;
        pthread_mutex_lock(&g_app->interest_lock);
        c->next = g_channels[b];
        g_channels[b] = c;
        pthread_mutex_unlock(&g_app->interest_lock);
    }
    s->ch = c;
    s->hprev = NULL;
    s->hnext = c->subs;
    if (c->subs)
        c->subs->hprev = s;
    c->subs = s;
    c->nsubs++;
    gauge("hl_stream_subscriptions", NULL, "Open subscriptions (channels per connection)", 1);
}

static void channel_detach(st_sub_t *s)
{
    channel_t *c = s->ch;
    if (!c)
        return;
    if (s->hprev)
        s->hprev->hnext = s->hnext;
    else
        c->subs = s->hnext;
    if (s->hnext)
        s->hnext->hprev = s->hprev;
    s->ch = NULL;
    gauge("hl_stream_subscriptions", NULL, "Open subscriptions (channels per connection)", -1);
    if (--c->nsubs == 0) {
        uint32_t b = hl_fnv1a32(c->name) % CHANNEL_BUCKETS;
        pthread_mutex_lock(&g_app->interest_lock);
        for (channel_t **p = &g_channels[b]; *p; p = &(*p)->next)
            if (*p == c) {
                *p = c->next;
                break;
            }
        pthread_mutex_unlock(&g_app->interest_lock);
        free(c);
    }
}

/* ---- connections ---- */

static st_conn_t *conn_lookup(uint64_t id)
{
    for (st_conn_t *c = g_conn_table[id % CONN_BUCKETS]; c; c = c->hnext)
        if (c->id == id)
            return c;
    return NULL;
}

static st_conn_t *conn_new(struct lws *wsi, bool ws)
{
    st_conn_t *c = hl_xcalloc(1, sizeof *c);
    c->wsi = wsi;
    c->ws = ws;
    c->id = g_next_id++;
    c->last_write_ms = hl_mono_ms();
    c->hnext = g_conn_table[c->id % CONN_BUCKETS];
    g_conn_table[c->id % CONN_BUCKETS] = c;
    c->next = g_conns;
    if (g_conns)
        g_conns->prev = c;
    g_conns = c;
    gauge("hl_stream_connections", ws ? "kind=\"ws\"" : "kind=\"sse\"", "Open stream connections",
          1);
    return c;
}

static void sub_free(st_sub_t *s)
{
    channel_detach(s);
    st_job_free(s->gap);
    for (size_t i = 0; i < s->nbuf; i++)
        st_event_unref(s->buf[i]);
    free(s->buf);
    free(s);
}

static void queue_free(st_conn_t *c)
{
    for (qitem_t *q = c->qh; q;) {
        qitem_t *n = q->next;
        st_event_unref(q->ev);
        free(q->raw);
        free(q);
        q = n;
    }
    c->qh = c->qt = NULL;
    c->qbytes = 0;
}

/* Unlink from the id table and list, free subscriptions and the queue. */
static void conn_free(st_conn_t *c)
{
    for (st_conn_t **p = &g_conn_table[c->id % CONN_BUCKETS]; *p; p = &(*p)->hnext)
        if (*p == c) {
            *p = c->hnext;
            break;
        }
    if (c->prev)
        c->prev->next = c->next;
    else
        g_conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    for (st_sub_t *s = c->subs; s;) {
        st_sub_t *n = s->cnext;
        sub_free(s);
        s = n;
    }
    if (c->session_sub)
        sub_free(c->session_sub);
    if (c->counted)
        st_presence_close(c->session.user_id);
    queue_free(c);
    free(c->body);
    free(c->rx);
    gauge("hl_stream_connections", c->ws ? "kind=\"ws\"" : "kind=\"sse\"",
          "Open stream connections", -1);
    free(c);
}

/* Close c from outside its callbacks: at its next writable callback. */
static void conn_close(st_conn_t *c, int ws_code)
{
    if (c->closing)
        return;
    c->closing = true;
    c->close_code = ws_code;
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
}

static void enqueue(st_conn_t *c, qitem_t *q, size_t bytes)
{
    if (c->qt)
        c->qt->next = q;
    else
        c->qh = q;
    c->qt = q;
    c->qbytes += bytes;
    if (c->wsi && (c->streaming || c->ws))
        lws_callback_on_writable(c->wsi);
    if (c->qbytes > (size_t)g_app->cfg.send_buffer_bytes) {
        /* a slow reader: it loses nothing (it resumes with Last-Event-ID), others never wait */
        count("hl_stream_slow_disconnects_total", NULL,
              "Connections closed because their send buffer was full", 1);
        queue_free(c);
        conn_close(c, 4008);
    }
}

static void queue_raw(st_conn_t *c, const char *text, size_t len, bool ping)
{
    if (c->closing)
        return;
    qitem_t *q = hl_xcalloc(1, sizeof *q);
    if (!q || !(q->raw = hl_xmalloc(len + 1))) {
        free(q);
        return;
    }
    memcpy(q->raw, text, len);
    q->raw[len] = '\0';
    q->rawlen = len;
    q->ping = ping;
    enqueue(c, q, len + 64);
}

/* Queue ev on s's connection with the id of s's stream at its current position. */
static void send_event(st_sub_t *s, st_event_t *ev)
{
    st_conn_t *c = s->conn;
    st_sub_t *owner = s->parent ? s->parent : s;
    if (c->closing)
        return;
    qitem_t *q = hl_xcalloc(1, sizeof *q);
    if (s->parent) {
        st_pos_t p = {.a = ++owner->counter};
        st_id_format(owner->id_channel, &p, q->id);
    } else {
        st_id_format(owner->id_channel, &owner->pos, q->id);
    }
    snprintf(q->label_copy, sizeof q->label_copy, "%s", owner->label);
    q->label = q->label_copy;
    ev->refs++;
    q->ev = ev;
    enqueue(c, q, ev->len + 64);
}

/* ---- delivery ---- */

static void buffer_event(st_sub_t *s, st_event_t *ev)
{
    if (s->nbuf == s->capbuf) {
        size_t n = s->capbuf ? s->capbuf * 2 : 16;
        st_event_t **g = hl_xrealloc(s->buf, n * sizeof *g);
        s->buf = g;
        s->capbuf = n;
    }
    ev->refs++;
    s->buf[s->nbuf++] = ev;
}

static void start_read(st_sub_t *s, bool gap_only);

/* A job stream after the job's last event: SSE closes once that event is written; a WebSocket
 * channel stays subscribed but silent (the client unsubscribes). */
static void end_job_stream(st_sub_t *s)
{
    s->done = true;
    if (!s->conn->ws) {
        s->conn->drain_close = true;
        if (s->conn->wsi)
            lws_callback_on_writable(s->conn->wsi);
    }
}

static void end_sub(st_sub_t *s, const char *reason, int status, const char *detail);

/* Offer ev to s: send it when it is the next of s's stream, drop it when already sent, hold it
 * when s is not live (or a message hole opens). */
static void deliver(st_sub_t *s, st_event_t *ev)
{
    if (s->done)
        return;
    if (!s->live) {
        buffer_event(s, ev);
        return;
    }
    if (!strcmp(ev->kind, "message")) {
        if (ev->pos.a <= s->pos.a)
            return;
        if (ev->pos.a > s->pos.a + 1) {
            s->live = false;
            buffer_event(s, ev);
            if (!s->retry_at_ms)
                s->retry_at_ms = hl_mono_ms(); /* read the hole at the next sweep */
            return;
        }
        s->pos.a = ev->pos.a;
        send_event(s, ev);
    } else if (!strcmp(ev->kind, "read")) {
        if (ev->pos.b <= s->pos.b)
            return;
        s->pos.b = ev->pos.b;
        send_event(s, ev);
    } else if (!strcmp(ev->kind, "notification")) {
        if (!st_pos_after(&ev->pos, &s->pos))
            return;
        s->pos = ev->pos;
        send_event(s, ev);
    } else if (!strcmp(ev->kind, "presence")) {
        /* rendered from the read models when it arrived (stream_feed.c): send a change of the
         * effective value only (either of its two inputs may change without changing it) */
        if (!ev->subject[0] || !strcmp(ev->subject, s->presence))
            return;
        snprintf(s->presence, sizeof s->presence, "%.15s", ev->subject);
        send_event(s, ev);
    } else if (!strcmp(ev->kind, "job")) {
        if (ev->pos.a <= s->pos.a)
            return;
        s->pos.a = ev->pos.a;
        send_event(s, ev);
        if (!strcmp(ev->subject, "ended")) /* the job's last state: its stream ends */
            end_job_stream(s);
    } else if (!strcmp(ev->kind, "member-removed")) {
        if (!strcmp(ev->subject, s->conn->session.user_id))
            end_sub(s, "not-a-member", 403, "no longer a member of this chat room");
    }
}

static int by_version(const void *a, const void *b)
{
    const st_event_t *x = *(st_event_t *const *)a, *y = *(st_event_t *const *)b;
    return x->version < y->version ? -1 : x->version > y->version;
}

/* Make s live and replay what it buffered (in room-version order for rooms). */
static void go_live(st_sub_t *s)
{
    st_event_t **buf = s->buf;
    size_t n = s->nbuf;
    s->buf = NULL;
    s->nbuf = s->capbuf = 0;
    s->live = true;
    if (s->route == ST_ROUTE_ROOM && n > 1)
        qsort(buf, n, sizeof *buf, by_version);
    for (size_t i = 0; i < n; i++) {
        deliver(s, buf[i]);
        st_event_unref(buf[i]);
    }
    free(buf);
    if (s->live) {
        s->hole_tries = 0;
        s->hole_since_ms = 0;
        s->retry_at_ms = 0;
    }
}

static void fan_out(st_event_t *ev)
{
    if (!strcmp(ev->kind, "revoked")) {
        char name[96];
        snprintf(name, sizeof name, "session:%s", ev->subject);
        channel_t *c = channel_find(name);
        for (st_sub_t *s = c ? c->subs : NULL; s; s = s->hnext) {
            st_conn_t *conn = s->conn;
            if (conn->ws) {
                hl_error_t e = {0};
                char buf[512], frame[640];
                hl_error_set_reason(&e, HL_ERR_INPUT, 401, "revoked-token",
                                    "the session of this bearer token has ended; log in again");
                st_problem_json(&e, "/v1/ws", buf, sizeof buf);
                int n = snprintf(frame, sizeof frame, "{\"channel\":null,\"error\":%s}", buf);
                queue_raw(conn, frame, (size_t)n, false);
                conn->close_code = 4401;
                conn->closing = true;
                lws_callback_on_writable(conn->wsi);
            } else {
                conn_close(conn, 0);
            }
        }
        return;
    }
    if (!strcmp(ev->kind, "blocked") && !strncmp(ev->channel, "blocked:", 8)) {
        /* the blocked user's room streams: check each again (the direct room with the blocker
         * is refused now); blocks are rare, so a walk over the connections is fine */
        const char *user = ev->channel + 8;
        for (st_conn_t *conn = g_conns; conn; conn = conn->next) {
            if (conn->closing || strcasecmp(conn->session.user_id, user))
                continue;
            for (st_sub_t *s = conn->subs; s; s = s->cnext) {
                if (s->route != ST_ROUTE_ROOM || s->parent)
                    continue;
                st_job_t *job = calloc(1, sizeof *job);
                if (!job)
                    continue;
                job->conn_id = conn->id;
                job->sub_id = s->id;
                job->route = s->route;
                job->recheck = true;
                snprintf(job->route_id, sizeof job->route_id, "%s", s->route_id);
                job->session = conn->session;
                st_job_submit(g_app, job);
            }
        }
        return;
    }
    channel_t *c = channel_find(ev->channel);
    int64_t now = hl_now_us();
    int64_t subscribers = 0;
    for (st_sub_t *s = c ? c->subs : NULL, *next; s; s = next) {
        next = s->hnext; /* deliver may end s */
        deliver(s, ev);
        subscribers++;
    }
    hl_trace_ctx_t parent;
    if (subscribers && hl_trace_parse(ev->traceparent, &parent)) {
        /* stream.push: from the feed record's arrival to its place in every subscriber's queue */
        hl_span_t span;
        hl_span_start(&span, "stream.push", HL_SPAN_CONSUMER, &parent, ev->received_ns);
        hl_span_attr_str(&span, "hl.channel", ev->channel);
        hl_span_attr_str(&span, "hl.kind", ev->kind);
        hl_span_attr_int(&span, "hl.subscribers", subscribers);
        hl_span_end(&span, 0);
    }
    if (c && ev->projected_us > 0)
        hl_metric_observe_us(hl_metric_get(HL_METRIC_HISTOGRAM, "hl_stream_feed_lag_seconds", NULL,
                                           "Change-feed record written to fanned out to sockets"),
                             now - ev->projected_us);
}

/* ---- subscriptions ---- */

static st_sub_t *sub_new(st_conn_t *c, st_route_t route, const char *route_id, const char *label)
{
    st_sub_t *s = hl_xcalloc(1, sizeof *s);
    s->conn = c;
    s->id = g_next_id++;
    s->route = route;
    snprintf(s->route_id, sizeof s->route_id, "%s", route_id);
    snprintf(s->label, sizeof s->label, "%s", label);
    const char *me = c->session.user_id;
    switch (route) {
    case ST_ROUTE_ROOM:
        snprintf(s->id_channel, sizeof s->id_channel, "room:%s", route_id);
        break;
    case ST_ROUTE_JOB:
        snprintf(s->id_channel, sizeof s->id_channel, "job:%s", route_id);
        break;
    case ST_ROUTE_NOTIFICATIONS:
        snprintf(s->id_channel, sizeof s->id_channel, "notifications:%s", me);
        break;
    default:
        snprintf(s->id_channel, sizeof s->id_channel, "presence:%s", me);
        break;
    }
    return s;
}

static void start_read(st_sub_t *s, bool gap_only)
{
    st_job_t *job = hl_xcalloc(1, sizeof *job);
    job->conn_id = s->conn->id;
    job->sub_id = s->id;
    job->route = s->route;
    snprintf(job->route_id, sizeof job->route_id, "%s", s->route_id);
    job->session = s->conn->session;
    job->gap_only = gap_only;
    job->has_last = gap_only || s->has_last;
    job->from = gap_only ? s->pos : s->from;
    s->reading = true;
    st_job_submit(g_app, job);
}

/* Open a subscription: attach it (buffering) and read its start from the read models. */
static st_sub_t *subscribe(st_conn_t *c, st_route_t route, const char *route_id, const char *label,
                           const st_pos_t *from)
{
    st_sub_t *s = sub_new(c, route, route_id, label);
    if (!s)
        return NULL;
    if (from) {
        s->has_last = true;
        s->from = *from;
    }
    s->cnext = c->subs;
    c->subs = s;
    if (route != ST_ROUTE_PRESENCE)
        channel_attach(s, s->id_channel); /* presence attaches per friend once they are known */
    start_read(s, false);
    return s;
}

static void unlink_sub(st_sub_t *s)
{
    st_conn_t *c = s->conn;
    for (st_sub_t **p = &c->subs; *p; p = &(*p)->cnext)
        if (*p == s) {
            *p = s->cnext;
            break;
        }
    /* a presence stream's friend subscriptions go with it */
    for (st_sub_t **p = &c->subs; *p;) {
        if ((*p)->parent == s) {
            st_sub_t *f = *p;
            *p = f->cnext;
            sub_free(f);
        } else {
            p = &(*p)->cnext;
        }
    }
    sub_free(s);
}

static void ws_error(st_conn_t *c, const char *label, const hl_error_t *err)
{
    char problem[700], frame[900];
    st_problem_json(err, "/v1/ws", problem, sizeof problem);
    int n = label
                ? snprintf(frame, sizeof frame, "{\"channel\":\"%s\",\"error\":%s}", label, problem)
                : snprintf(frame, sizeof frame, "{\"channel\":null,\"error\":%s}", problem);
    /* a label is at most 63 bytes and the problem is cut to its buffer: the frame always fits,
     * and dropping it silently would leave the client without its refusal */
    HL_ASSERT(n > 0 && (size_t)n < sizeof frame);
    queue_raw(c, frame, (size_t)n, false);
}

/* End s (membership lost, refused): SSE closes, WebSocket gets an error and the channel ends. */
static void end_sub(st_sub_t *s, const char *reason, int status, const char *detail)
{
    st_conn_t *c = s->conn;
    hl_error_t e = {0};
    hl_error_set_reason(&e, HL_ERR_INPUT, status, reason, "%s", detail);
    if (c->ws) {
        ws_error(c, s->label, &e);
        unlink_sub(s);
    } else {
        conn_close(c, 0);
    }
}

/* SSE: answer a problem document and end the request. */
static void sse_problem(st_conn_t *c, const hl_error_t *err)
{
    char body[1024];
    c->status = st_problem_json(err, c->path, body, sizeof body);
    c->unauthorized = c->status == 401;
    free(c->body);
    c->body = hl_xstrdup(body);
    c->bodylen = c->body ? strlen(c->body) : 0;
    lws_callback_on_writable(c->wsi);
}

static void gap_refill(st_sub_t *s);

/* A worker's result for a subscription. Returns true when the job now belongs to the
 * subscription (a gap being sent). */
static bool job_done(st_job_t *job)
{
    st_conn_t *c = conn_lookup(job->conn_id);
    st_sub_t *s = NULL;
    for (st_sub_t *x = c ? c->subs : NULL; x; x = x->cnext)
        if (x->id == job->sub_id)
            s = x;
    if (!s || c->closing)
        return false;
    if (job->recheck) { /* after a block: the reader may no longer read the room */
        if (job->failed && job->err.domain == HL_ERR_INPUT)
            end_sub(s, job->err.reason, job->err.code, job->err.message);
        return false;
    }
    s->reading = false;
    if (job->failed) {
        if (job->gap_only) { /* the store failed a hole read: try again at the next sweep */
            s->retry_at_ms = hl_mono_ms() + HOLE_RETRY_MS;
            return false;
        }
        if (c->ws) {
            ws_error(c, s->label, &job->err);
            unlink_sub(s);
        } else {
            sse_problem(c, &job->err);
        }
        return false;
    }
    if (!job->gap_only && !c->ws) {
        /* the stream starts: 200 text/event-stream, then retry: */
        c->streaming = true;
        if (!c->counted) {
            c->counted = true;
            st_presence_open(c->session.user_id);
        }
        char retry[48];
        int n = snprintf(retry, sizeof retry, "retry: %lld\n\n", g_app->cfg.retry_ms);
        queue_raw(c, retry, (size_t)n, false);
    }
    if (job->route == ST_ROUTE_PRESENCE && !job->gap_only) {
        for (size_t i = 0; i < job->nevents; i++)
            send_event(s, job->events[i]); /* the snapshot: id counter a = 0 */
        s->live = true;
        for (size_t i = 0; i < job->nfriends; i++) {
            st_sub_t *f = sub_new(c, ST_ROUTE_PRESENCE, "", s->label);
            if (!f)
                break;
            char name[96];
            snprintf(name, sizeof name, "presence:%s", job->friends[i]);
            f->parent = s;
            f->pos.a = job->friend_versions[i];
            snprintf(f->presence, sizeof f->presence, "%.15s", job->friend_presence[i]);
            f->live = true;
            f->cnext = c->subs;
            c->subs = f;
            channel_attach(f, name);
        }
        return false;
    }
    if (job->route == ST_ROUTE_JOB && job->ended && !job->nevents) {
        /* resumed at the job's last state: nothing will follow. SSE: 204, which tells an
         * EventSource to stop reconnecting (WHATWG HTML, server-sent events) */
        s->done = true;
        if (!c->ws) {
            queue_free(c);
            c->streaming = false;
            c->status = 204;
            free(c->body);
            c->body = NULL;
            c->bodylen = 0;
            lws_callback_on_writable(c->wsi);
        }
        return false;
    }
    /* a job stream always starts with the job's current state (its from is 0 without a
     * Last-Event-ID) */
    bool resumed = job->has_last || job->route == ST_ROUTE_JOB;
    s->pos = resumed ? job->from : job->pos;
    s->gap = job; /* sent by gap_refill as the queue drains; the caller must not free it */
    s->gap_next = 0;
    s->gap_resumed = resumed;
    gap_refill(s);
    return true;
}

/* Send the rest of s's gap read while its connection's queue is under half full; when it is
 * all sent, replay what was buffered meanwhile and go live (or re-read a hole). */
static void gap_refill(st_sub_t *s)
{
    st_job_t *job = s->gap;
    st_conn_t *c = s->conn;
    if (!job)
        return;
    s->live = true;
    while (s->gap_next < job->nevents && s->live &&
           c->qbytes < (size_t)g_app->cfg.send_buffer_bytes / 2)
        deliver(s, job->events[s->gap_next++]);
    if (s->live && s->gap_next < job->nevents) {
        s->live = false; /* more to send once the queue drains */
        return;
    }
    if (!s->live) { /* the gap itself has a hole: keep what is left buffered */
        for (size_t i = s->gap_next; i < job->nevents; i++)
            if (!strcmp(job->events[i]->kind, "message") && job->events[i]->pos.a > s->pos.a)
                buffer_event(s, job->events[i]);
    }
    if (s->gap_resumed && s->route == ST_ROUTE_ROOM && job->pos.b > s->pos.b)
        s->pos.b = job->pos.b;
    s->gap = NULL;
    st_job_free(job);
    bool was_live = s->live;
    s->live = false;
    if (was_live)
        go_live(s);
    if (!s->live && !s->retry_at_ms)
        s->retry_at_ms = hl_mono_ms() + HOLE_RETRY_MS;
}

static void drain_inbox(void)
{
    st_msg_t *m = st_inbox_take(g_app);
    while (m) {
        st_msg_t *next = m->next;
        if (m->kind == ST_MSG_EVENT) {
            fan_out(m->event);
            st_event_unref(m->event);
        } else {
            if (!job_done(m->job))
                st_job_free(m->job);
        }
        free(m);
        m = next;
    }
}

/* ---- timers: holes every 100 ms; heartbeats and expiry every second ---- */

static void sweep(lws_sorted_usec_list_t *sul)
{
    int64_t now = hl_mono_ms(), wall = hl_now_us() / 1000;
    bool beat = now - g_last_beat_ms >= 1000;
    if (beat)
        g_last_beat_ms = now;
    for (st_conn_t *c = g_conns; c; c = c->next) {
        for (st_sub_t *s = c->subs; s; s = s->cnext) {
            if (!s->retry_at_ms || s->reading || now < s->retry_at_ms)
                continue;
            if (!s->hole_since_ms)
                s->hole_since_ms = now;
            if (++s->hole_tries > 1 && now - s->hole_since_ms >= g_app->cfg.hole_wait_ms) {
                /* the hole never filled: skip it (counted), go on with what is buffered */
                HL_WARN("stream: message hole skipped after %lld ms of re-reads",
                        (long long)(now - s->hole_since_ms));
                count("hl_stream_holes_skipped_total", NULL,
                      "Message holes given up after --hole-wait-ms of re-reads", 1);
                int64_t lowest = INT64_MAX;
                for (size_t i = 0; i < s->nbuf; i++)
                    if (!strcmp(s->buf[i]->kind, "message") && s->buf[i]->pos.a < lowest)
                        lowest = s->buf[i]->pos.a;
                if (lowest != INT64_MAX)
                    s->pos.a = lowest - 1;
                s->retry_at_ms = 0;
                go_live(s);
                continue;
            }
            s->retry_at_ms =
                now + (s->hole_tries <= HOLE_FAST_TRIES ? HOLE_RETRY_MS : HOLE_RETRY_SLOW_MS);
            start_read(s, true);
        }
        if (!beat || c->closing)
            continue;
        if (c->session.expires_at_ms && wall >= c->session.expires_at_ms) {
            if (c->ws) {
                hl_error_t e = {0};
                hl_error_set_reason(&e, HL_ERR_INPUT, 401, "expired-token",
                                    "the bearer token has expired; log in again");
                ws_error(c, NULL, &e);
                c->closing = true;
                c->close_code = 4401;
                lws_callback_on_writable(c->wsi);
            } else {
                conn_close(c, 0);
            }
            continue;
        }
        if ((c->streaming || c->ws) && now - c->last_write_ms >= g_app->cfg.heartbeat_ms) {
            queue_raw(c, ":\n\n", 3, c->ws);
            c->last_write_ms = now;
        }
    }
    lws_sul_schedule(g_app->lws, 0, sul, sweep, HOLE_RETRY_MS * LWS_US_PER_MS);
}

/* ---- HTTP ---- */

/* A header or URL argument: the Authorization header, else access_token=. */
static bool bearer_of(struct lws *wsi, char *out, size_t cap)
{
    if (lws_hdr_copy(wsi, out, (int)cap, WSI_TOKEN_HTTP_AUTHORIZATION) > 0)
        return true;
    char buf[1200];
    const char *v = lws_get_urlarg_by_name(wsi, "access_token=", buf, sizeof buf);
    if (v && *v && strlen(v) + 8 < cap) {
        snprintf(out, cap, "Bearer %s", v);
        return true;
    }
    return false;
}

static bool last_event_id_of(struct lws *wsi, char *out, size_t cap)
{
    int n = lws_hdr_custom_copy(wsi, out, (int)cap, "last-event-id:", 14);
    if (n > 0)
        return true;
    char buf[ST_ID_MAX + 32];
    const char *v = lws_get_urlarg_by_name(wsi, "last_event_id=", buf, sizeof buf);
    if (v) {
        snprintf(out, cap, "%s", v);
        return true;
    }
    return false;
}

/* Write the head of an HTTP answer without a stream: status, Content-Type ctype, Content-Length
 * len, Cache-Control: no-store, WWW-Authenticate: Bearer when unauthorized, Retry-After on a 503
 * (hl/http.h's HL_HTTP_RETRY_AFTER_S). 0, or -1 when libwebsockets refused a header. */
static int write_head(struct lws *wsi, int status, const char *ctype, size_t len, bool unauthorized)
{
    unsigned char *start = g_scratch + LWS_PRE, *p = start, *end = g_scratch + sizeof g_scratch - 1;
    if (lws_add_http_common_headers(wsi, (unsigned int)status, ctype, len, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end) ||
        (unauthorized &&
         lws_add_http_header_by_name(wsi, (const unsigned char *)"www-authenticate:",
                                     (const unsigned char *)"Bearer", 6, &p, end)) ||
        (status == 503 &&
         lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
                                     (const unsigned char *)HL_HTTP_RETRY_AFTER_S,
                                     (int)strlen(HL_HTTP_RETRY_AFTER_S), &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    return 0;
}

static int write_simple(struct lws *wsi, int status, const char *ctype, const char *body,
                        size_t len, bool unauthorized)
{
    if (write_head(wsi, status, ctype, len, unauthorized) < 0)
        return -1;
    if (len) {
        memcpy(g_scratch + LWS_PRE, body, len);
        if (lws_write(wsi, g_scratch + LWS_PRE, len, LWS_WRITE_HTTP_FINAL) != (int)len)
            return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static size_t render_readyz(char *out, size_t cap, int *status)
{
    bool feed = atomic_load(&g_app->feed_ready), mongo = atomic_load(&g_app->mongo_ready);
    *status = feed && mongo ? 200 : 503;
    int n = snprintf(out, cap, "{\"status\":\"%s\",\"feed\":%s,\"mongodb\":%s}",
                     feed && mongo ? "ready" : "not-ready", feed ? "true" : "false",
                     mongo ? "true" : "false");
    return n > 0 ? (size_t)n : 0;
}

/* A stream request: cheap checks now (route, token signature and expiry, Last-Event-ID), the
 * store's on a worker; the answer is sent when the worker is done. */
static int http_request(struct lws *wsi, void **pss, const char *path)
{
    char body[1024];
    if (!strcmp(path, "/healthz"))
        return write_simple(wsi, 200, "application/json", "{\"status\":\"ok\"}", 15, false);
    if (!strcmp(path, "/readyz")) {
        int status = 200;
        size_t n = render_readyz(body, sizeof body, &status);
        return write_simple(wsi, status, "application/json", body, n, false);
    }
    if (!strcmp(path, "/metrics")) {
        size_t n = 0;
        char *text = hl_metrics_render(&n);
        int rc = -1;
        if (text && n < WRITE_CHUNK)
            rc = write_simple(wsi, 200, "text/plain; version=0.0.4", text, n, false);
        free(text);
        return rc;
    }
    st_conn_t *c = conn_new(wsi, false);
    if (!c)
        return -1;
    *pss = c;
    snprintf(c->path, sizeof c->path, "%s", path);
    hl_error_t err = {0};
    char id[37], auth[1300], last[ST_ID_MAX + 8];
    st_route_t route = st_route_match(path, id);
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
        hl_error_set_reason(&err, HL_ERR_INPUT, 405, "method-not-allowed",
                            "streams are read with GET");
        goto refuse;
    }
    if (route == ST_ROUTE_NONE || route == ST_ROUTE_WS ||
        ((route == ST_ROUTE_ROOM || route == ST_ROUTE_JOB) && !id[0])) {
        hl_error_set_reason(&err, HL_ERR_INPUT, route == ST_ROUTE_WS ? 400 : 404,
                            route == ST_ROUTE_WS ? "websocket-required" : "not-found", "%s",
                            route == ST_ROUTE_WS ? "GET /v1/ws needs a WebSocket upgrade"
                                                 : "no such stream");
        goto refuse;
    }
    if (!hl_session_verify_header(&g_app->qs.session_key,
                                  bearer_of(wsi, auth, sizeof auth) ? auth : NULL,
                                  hl_now_us() / 1000, &c->session, &err))
        goto refuse;
    if (st_revoked_has(c->session.session_id, hl_now_us() / 1000)) {
        /* known logged out (stream_revoked.h): refused now; the worker's check covers the rest */
        hl_error_set_reason(&err, HL_ERR_INPUT, 401, "revoked-token",
                            "the session of this bearer token has ended; log in again");
        goto refuse;
    }
    hl_ascii_lower(c->session.user_id);
    st_sub_t probe;
    memset(&probe, 0, sizeof probe);
    st_sub_t *tmp = sub_new(c, route, id, "");
    if (!tmp)
        return -1;
    st_pos_t from;
    bool has_last = last_event_id_of(wsi, last, sizeof last) && last[0];
    if (has_last && route != ST_ROUTE_PRESENCE &&
        !st_id_parse(tmp->id_channel, last, &from, &err)) {
        free(tmp);
        goto refuse;
    }
    if (has_last && route == ST_ROUTE_PRESENCE &&
        !st_id_parse(tmp->id_channel, last, &from, &err)) {
        free(tmp);
        goto refuse;
    }
    free(tmp);
    /* a presence stream always starts with a snapshot: its state is whole, nothing to replay */
    subscribe(c, route, id, "", has_last && route != ST_ROUTE_PRESENCE ? &from : NULL);
    char sess[64];
    snprintf(sess, sizeof sess, "session:%s", c->session.session_id);
    if ((c->session_sub = sub_new(c, ST_ROUTE_NONE, "", "")))
        channel_attach(c->session_sub, sess);
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    return 0;
refuse:
    sse_problem(c, &err);
    return 0;
}

static int sse_writable(struct lws *wsi, st_conn_t *c)
{
    if (c->closing || (c->drain_close && c->headers_sent && !c->qh))
        return -1;
    if (c->status) {
        int status = c->status;
        c->status = 0;
        return write_simple(wsi, status, status == 204 ? "text/plain" : "application/problem+json",
                            c->body, c->bodylen, c->unauthorized);
    }
    if (!c->streaming)
        return 0;
    if (!c->headers_sent) {
        unsigned char *start = g_scratch + LWS_PRE, *p = start,
                      *end = g_scratch + sizeof g_scratch - 1;
        if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "text/event-stream",
                                        LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end) ||
            lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                        (const unsigned char *)"no-store", 8, &p, end) ||
            lws_add_http_header_by_name(wsi, (const unsigned char *)"x-accel-buffering:",
                                        (const unsigned char *)"no", 2, &p, end) ||
            lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        c->headers_sent = true;
        lws_callback_on_writable(wsi);
        return 0;
    }
    size_t used = 0;
    unsigned char *out = g_scratch + LWS_PRE;
    int64_t now = hl_now_us();
    while (c->qh && used < WRITE_CHUNK) {
        qitem_t *q = c->qh;
        size_t n;
        if (q->ev) {
            n = st_sse_event((char *)out + used, sizeof g_scratch - LWS_PRE - used, q->id,
                             q->ev->kind, q->ev->data, q->ev->len);
            if (!n && used)
                break; /* next chunk */
            count("hl_stream_events_sent_total", "transport=\"sse\"", "Events written to clients",
                  1);
            (void)now;
        } else {
            n = q->rawlen;
            if (used + n > sizeof g_scratch - LWS_PRE)
                break;
            memcpy(out + used, q->raw, n);
        }
        used += n;
        c->qh = q->next;
        if (!c->qh)
            c->qt = NULL;
        c->qbytes -= (q->ev ? q->ev->len : q->rawlen) + 64;
        st_event_unref(q->ev);
        free(q->raw);
        free(q);
    }
    if (used && lws_write(wsi, out, used, LWS_WRITE_HTTP) != (int)used)
        return -1;
    for (st_sub_t *s = c->subs; s; s = s->cnext)
        if (s->gap)
            gap_refill(s);
    c->last_write_ms = hl_mono_ms();
    if (c->qh || c->drain_close)
        lws_callback_on_writable(wsi); /* drain_close: closes once lws flushed what it holds */
    return 0;
}

/* ---- WebSocket ---- */

static void ws_frame(st_conn_t *c, const char *text, size_t len)
{
    st_ws_op_t op;
    hl_error_t err = {0};
    char id[37];
    if (!st_ws_op_parse(text, len, &op, &err)) {
        ws_error(c, NULL, &err);
        return;
    }
    st_route_t route = st_channel_route(op.channel, id);
    if (route == ST_ROUTE_NONE || route == ST_ROUTE_WS ||
        ((route == ST_ROUTE_ROOM || route == ST_ROUTE_JOB) && !id[0])) {
        hl_error_set_reason(&err, HL_ERR_INPUT, route == ST_ROUTE_NONE ? 400 : 404,
                            route == ST_ROUTE_NONE ? "invalid-channel" : "not-found", "%s",
                            route == ST_ROUTE_NONE
                                ? "channel must be room:<id>, notifications, presence or job:<id>"
                                : "no such channel");
        ws_error(c,
                 op.channel[0] && !strchr(op.channel, '"') && !strchr(op.channel, '\\') ? op.channel
                                                                                        : NULL,
                 &err);
        return;
    }
    for (st_sub_t *s = c->subs; s; s = s->cnext)
        if (!s->parent && !strcmp(s->label, op.channel)) {
            unlink_sub(s); /* unsubscribe, or a subscribe again replaces it */
            break;
        }
    if (op.op == ST_OP_UNSUBSCRIBE)
        return;
    st_sub_t *tmp = sub_new(c, route, id, op.channel);
    if (!tmp)
        return;
    st_pos_t from;
    bool has_last = op.last_event_id[0] != '\0';
    bool ok = !has_last || st_id_parse(tmp->id_channel, op.last_event_id, &from, &err);
    free(tmp);
    if (!ok) {
        ws_error(c, op.channel, &err);
        return;
    }
    subscribe(c, route, id, op.channel, has_last && route != ST_ROUTE_PRESENCE ? &from : NULL);
}

static int ws_writable(struct lws *wsi, st_conn_t *c)
{
    if (c->closing && !c->qh) {
        lws_close_reason(wsi, (enum lws_close_status)(c->close_code ? c->close_code : 1000), NULL,
                         0);
        return -1;
    }
    qitem_t *q = c->qh;
    if (!q)
        return 0;
    unsigned char *out = g_scratch + LWS_PRE;
    size_t n;
    if (q->ev) {
        n = st_ws_event((char *)out, sizeof g_scratch - LWS_PRE, q->label, q->id, q->ev->kind,
                        q->ev->data, q->ev->len);
        count("hl_stream_events_sent_total", "transport=\"ws\"", "Events written to clients", 1);
    } else {
        n = q->ping ? 0 : q->rawlen;
        if (n)
            memcpy(out, q->raw, n);
    }
    int rc = lws_write(wsi, out, n, q->ping ? LWS_WRITE_PING : LWS_WRITE_TEXT);
    c->qh = q->next;
    if (!c->qh)
        c->qt = NULL;
    c->qbytes -= (q->ev ? q->ev->len : q->rawlen) + 64;
    st_event_unref(q->ev);
    free(q->raw);
    free(q);
    if (rc < (int)n)
        return -1;
    for (st_sub_t *s = c->subs; s; s = s->cnext)
        if (s->gap)
            gap_refill(s);
    c->last_write_ms = hl_mono_ms();
    if (c->qh || c->closing)
        lws_callback_on_writable(wsi);
    return 0;
}

/* Before a WebSocket upgrade (LWS_CALLBACK_HTTP_CONFIRM_UPGRADE): a request without a valid
 * token, or whose session was logged out, is answered 401 problem+json here, as an SSE request
 * is. Refusing it later, in the protocol filter, would only hang up, and the gateway would
 * answer the client 503 (retryable) for what is a refusal. The revocation check is the
 * in-memory set the feed thread keeps (stream_revoked.h): no store round trip on the loop.
 * Until that set is loaded the answer is 503 with Retry-After. Returns 0 (upgrade may
 * proceed), 1 (answered), -1 (hang up). */
static int ws_confirm_upgrade(struct lws *wsi)
{
    char uri[160], auth[1300], body[1024];
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/v1/ws"))
        return 0; /* the protocol filter refuses other paths */
    hl_session_t session;
    hl_error_t err = {0};
    int64_t now_ms = hl_now_us() / 1000;
    if (hl_session_verify_header(&g_app->qs.session_key,
                                 bearer_of(wsi, auth, sizeof auth) ? auth : NULL, now_ms, &session,
                                 &err)) {
        if (!st_revoked_loaded())
            hl_error_set_reason(&err, HL_ERR_INPUT, 503, "unavailable",
                                "the stream listener is starting; retry after Retry-After");
        else if (st_revoked_has(session.session_id, now_ms))
            hl_error_set_reason(&err, HL_ERR_INPUT, 401, "revoked-token",
                                "the session of this bearer token has ended; log in again");
        else
            return 0;
    }
    int status = st_problem_json(&err, "/v1/ws", body, sizeof body);
    size_t len = strlen(body);
    if (write_head(wsi, status, "application/problem+json", len, status == 401) < 0)
        return -1;
    memcpy(g_scratch + LWS_PRE, body, len);
    if (lws_write(wsi, g_scratch + LWS_PRE, len, LWS_WRITE_HTTP_FINAL) != (int)len)
        return -1;
    return 1;
}

static int ws_filter(struct lws *wsi, void **pss)
{
    char uri[160], auth[1300];
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/v1/ws"))
        return 1;
    hl_session_t session;
    hl_error_t err = {0};
    if (!hl_session_verify_header(&g_app->qs.session_key,
                                  bearer_of(wsi, auth, sizeof auth) ? auth : NULL,
                                  hl_now_us() / 1000, &session, &err))
        return 1; /* refused before the upgrade: the handshake fails */
    st_conn_t *c = conn_new(wsi, true);
    if (!c)
        return 1;
    c->session = session;
    hl_ascii_lower(c->session.user_id);
    char sess[64];
    snprintf(sess, sizeof sess, "session:%s", c->session.session_id);
    if ((c->session_sub = sub_new(c, ST_ROUTE_NONE, "", "")))
        channel_attach(c->session_sub, sess);
    c->counted = true; /* an accepted WebSocket is a stream connection of its user */
    st_presence_open(c->session.user_id);
    *pss = c;
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    void **pss = user;
    st_conn_t *c = pss ? *pss : NULL;
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        drain_inbox();
        return 0;
    case LWS_CALLBACK_HTTP:
        return http_request(wsi, pss, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return c ? sse_writable(wsi, c) : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_CLOSED:
        if (c) {
            conn_free(c);
            *pss = NULL;
        }
        return 0;
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: {
        /* bound the kernel's send buffer too, so that a slow reader is seen as one (and costs
         * at most this plus the send queue) instead of hiding behind megabytes of autotuning */
        int fd = (int)(intptr_t)in, bytes = 65536;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
        return 0;
    }
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return ws_confirm_upgrade(wsi);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return ws_filter(wsi, pss);
    case LWS_CALLBACK_ESTABLISHED:
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (!c)
            return -1;
        if (!c->rx && !(c->rx = hl_xmalloc(ST_WS_FRAME_MAX + 1)))
            return -1;
        if (c->rxlen + len > ST_WS_FRAME_MAX)
            c->rx_too_big = true;
        else {
            memcpy(c->rx + c->rxlen, in, len);
            c->rxlen += len;
        }
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            if (c->rx_too_big) {
                lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                                 (unsigned char *)"frame too large", 15);
                return -1;
            }
            ws_frame(c, c->rx, c->rxlen);
            c->rxlen = 0;
        }
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c ? ws_writable(wsi, c) : 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static struct lws_protocols protocols[] = {
    {"hearlers-stream", callback, sizeof(void *), ST_WS_FRAME_MAX, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void lws_log(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    hl_log(level == LLL_ERR ? HL_LOG_ERROR : HL_LOG_WARN, "lws: %.*s", (int)n, line);
}

bool st_loop_init(st_app_t *app, hl_error_t *err)
{
    g_app = app;
    char host[64];
    const char *colon = strrchr(app->cfg.listen, ':');
    long port = colon ? strtol(colon + 1, NULL, 10) : 0;
    if (!colon || port <= 0 || port > 65535 || (size_t)(colon - app->cfg.listen) >= sizeof host)
        return hl_error_set(err, HL_ERR_CONFIG, 0, "--listen must be host:port, not %s",
                            app->cfg.listen);
    snprintf(host, sizeof host, "%.*s", (int)(colon - app->cfg.listen), app->cfg.listen);
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = (int)port;
    info.iface = host;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.pt_serv_buf_size = 16384;
    info.timeout_secs = 10;
    info.keepalive_timeout = 5;
    info.fd_limit_per_thread = (unsigned int)app->cfg.max_connections + 64;
    app->lws = lws_create_context(&info);
    if (!app->lws)
        return hl_error_set(err, HL_ERR_SYSTEM, 0, "cannot listen on %s", app->cfg.listen);
    lws_sul_schedule(app->lws, 0, &g_sweep, sweep, HOLE_RETRY_MS * LWS_US_PER_MS);
    return true;
}

void st_loop_run(st_app_t *app)
{
    while (!hl_shutdown_requested())
        if (lws_service(app->lws, 0) < 0)
            break;
}

void st_loop_destroy(st_app_t *app)
{
    if (app->lws)
        lws_context_destroy(app->lws); /* closes every connection (CLOSED callbacks free them) */
    app->lws = NULL;
    if (g_app) /* NULL when start-up stopped before the loop was made (--help, bad flags) */
        drain_inbox();
}
