/* stream_app.h: the stream listener's process state and the messages its threads exchange
 * (SPEC §8). Threads:
 *   - the event loop (stream_loop.c, libwebsockets): owns every connection, subscription,
 *     channel and send queue; never does I/O other than its sockets;
 *   - the feed thread (stream_feed.c): consumes every partition of the change feed (no consumer
 *     group), renders each change once into a refcounted st_event_t (the query API's own
 *     renderers, read_api.h) and hands it to the loop;
 *   - the worker pool (stream_work.c): the MongoDB reads of a subscription (session and
 *     membership checks, the gap after a Last-Event-ID, presence snapshots), results handed to
 *     the loop.
 * Hand-over: st_post() appends to the loop's inbox under a mutex and calls lws_cancel_service();
 * the loop drains it in LWS_CALLBACK_EVENT_WAIT_CANCELLED.
 * This header holds the state and the types the threads exchange; each thread's functions are
 * in its own header: stream_loop.h, stream_feed.h, stream_work.h, stream_presence.h, and the
 * hand-over stream_inbox.h. */
#ifndef QS_STREAM_APP_H
#define QS_STREAM_APP_H

#include "read_store.h"
#include "stream_ids.h"
#include "stream_proto.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    char *listen;
    char *kafka_brokers;
    char *feed_topic;
    char *schema_registry_url;
    char *mongo_uri;
    char *mongo_db;
    char *token_secret;
    char *token_secret_previous;
    long long token_previous_until_s;
    long long workers;
    long long send_buffer_bytes;
    long long heartbeat_ms;
    long long retry_ms;
    long long hole_wait_ms; /* a message hole is re-read this long before it is skipped */
    long long max_connections;
    char *connections_topic; /* presence facts (stream_presence.c); empty = none */
    char *schemas_dir;
    long long presence_beat_ms;
    long long registry_wait_s; /* start-up retries of the presence schema's registration */
    char *web_root;
    char *log_level;
    bool log_json;
} st_config_t;

/* One change to fan out, rendered once and shared by every subscriber (refcount changed on the
 * loop thread only; the feed thread creates it with refs 1 and gives it to the loop). */
typedef struct st_event {
    int refs;
    char channel[96]; /* feed channel: room:<id>, notifications:<user>, presence:<user>, ... */
    char kind[16];    /* SSE event name; internal kinds: revoked, member-removed */
    st_pos_t pos;     /* message a=seq; read b=room version; notification a=b=µs, extra=event */
    int64_t version;  /* room version of a message or read (orders a gap read) */
    char subject[40]; /* read/member-removed: the member; revoked: the session */
    int64_t projected_us; /* feed record time (lag) */
    char traceparent[56]; /* the feed record's W3C traceparent header, "" when none */
    int64_t received_ns;  /* when the feed thread took the record (Unix ns; stream.push span) */
    size_t len;
    char data[]; /* one-line JSON */
} st_event_t;

/* A subscription request's gap/initial read, done by a worker. */
typedef struct st_job {
    struct st_job *next;
    uint64_t conn_id; /* the connection (looked up again on the loop; it may be gone) */
    uint64_t sub_id;
    st_route_t route;
    char route_id[37]; /* room or job id */
    hl_session_t session;
    bool has_last;
    st_pos_t from; /* the position to read after (has_last) */
    bool gap_only; /* a hole-filling read of a live subscription: no checks */
    bool recheck;  /* a live room subscription's membership again, uncached (after a block) */
    /* result */
    hl_error_t err;
    bool failed;
    bool ended;   /* job: the job has finished (its stream ends after its last event) */
    st_pos_t pos; /* the position after the events (or the current one) */
    st_event_t **events;
    size_t nevents;
    char (*friends)[37]; /* presence: friend ids; friend_versions[i] their user versions */
    int64_t *friend_versions;
    char (*friend_presence)[16]; /* their effective presence in the snapshot */
    size_t nfriends;
} st_job_t;

/* What the loop's inbox carries. */
typedef enum { ST_MSG_EVENT, ST_MSG_JOB } st_msg_kind_t;

typedef struct st_msg {
    struct st_msg *next;
    st_msg_kind_t kind;
    st_event_t *event;
    st_job_t *job;
} st_msg_t;

typedef struct st_app {
    st_config_t cfg;
    qs_app_t qs; /* the query server's store access (pool, keys, aliases, caches) */
    struct lws_context *lws;
    /* inbox of the loop */
    pthread_mutex_t inbox_lock;
    st_msg_t *inbox_head, *inbox_tail;
    /* worker pool */
    pthread_mutex_t jobs_lock;
    pthread_cond_t jobs_cond;
    st_job_t *jobs_head, *jobs_tail;
    pthread_t *workers;
    size_t nworkers;
    /* channels some subscriber listens to (the feed thread renders only those): guarded */
    pthread_mutex_t interest_lock;
    struct st_interest *interest;
    pthread_t feed_thread;
    atomic_bool feed_ready;  /* every partition of the feed assigned */
    atomic_bool mongo_ready; /* last store round trip succeeded */
    atomic_bool stopping;
} st_app_t;

#endif
