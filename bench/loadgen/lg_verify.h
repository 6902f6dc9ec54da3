/* lg_verify.h: the load generator's verification pass. Compares every read model of
 * docs/read-models.md (resolved through read_model_aliases) with PostgreSQL's truth: the
 * aggregate tables (users, sessions, chat_rooms, room_members, messages, friend_requests,
 * friendships, notification_inboxes) and the append-only `events` table (domain events, Avro
 * payloads decoded with the schemas/ catalog, for facts no table keeps: who read a room, who
 * went online, which notifications were marked read).
 *
 * Documents are matched on content fields (user_id, room_id, message_id, request_id, kind,
 * day…), never on the format of `_id` (except where `_id` is the documented key and no content
 * field exists: user_profiles, sessions, chat_rooms, watermarks; and user_names, whose `_id`
 * "<display_name_lower>\x1f<user id>" is what the search reads). One comparison function per
 * collection; every difference is printed as one line
 *     MISMATCH <collection> <key> <field>: expected <value>, actual <value>
 * on stdout, with a missing or unexpected document as field "document". */
#ifndef LG_VERIFY_H
#define LG_VERIFY_H

#include <stdbool.h>
#include <stddef.h>

#define LG_VERIFY_MAX_MODELS 24

typedef enum {
    LG_SCOPE_ALL = 0,     /* every row and document of the stack */
    LG_SCOPE_LOADGEN = 1, /* users whose e-mail ends in @loadgen.invalid, their rooms etc. */
    LG_SCOPE_RUN = 2      /* the users of one run: e-mail ends in .<run_tag>@loadgen.invalid */
} lg_scope_t;

typedef struct {
    const char *pg_url;        /* libpq conninfo or URL */
    const char *mongo_uri;     /* mongodb://host:port/ */
    const char *mongo_db;      /* read-model database, "hearlers_read" */
    const char *projector_url; /* http://host:port of the projector's /metrics, or NULL */
    const char *schemas_dir;   /* schemas/ (topics.json + .avsc) for decoding events payloads */
    lg_scope_t scope;
    const char *run_tag; /* LG_SCOPE_RUN: the run's tag ([a-z0-9], 1..32 characters) */
    double timeout_s;    /* bound for waiting until the projector caught up */
    bool progress;       /* print waiting/progress lines on stderr */
} lg_verify_opts_t;

typedef struct {
    long mismatches; /* of the last pass */
    int nmodels;
    const char *model[LG_VERIFY_MAX_MODELS]; /* logical names, static strings */
    long model_mismatches[LG_VERIFY_MAX_MODELS];
    long model_documents[LG_VERIFY_MAX_MODELS]; /* documents compared */
    int passes;
    double wait_s;   /* waiting for the projector */
    double verify_s; /* the comparison passes */
    bool caught_up;  /* false when timeout_s passed before the projector caught up */
} lg_verify_result_t;

/* Wait until PostgreSQL's outbox is empty and the projector reports no offsets behind (when
 * projector_url is set) — with LG_SCOPE_RUN instead until every watermark of the run's
 * aggregates (docs/read-models.md `watermarks`) reached PostgreSQL's version, so a busy stack
 * does not hold it up — at most timeout_s. Returns true when caught up; false on timeout or
 * error (errbuf says which). */
bool lg_wait_caught_up(const lg_verify_opts_t *o, double timeout_s, char *errbuf, size_t errcap);

/* Wait for catch-up, then compare; while mismatches remain and they changed since the previous
 * pass (or the projector is still behind), compare again, until opts->timeout_s. Prints every
 * mismatch of the final pass on stdout and a per-collection summary on stderr. Returns false
 * only when the verification could not run (connection, query or decoding error: errbuf); a
 * run with mismatches returns true with res->mismatches > 0. */
bool lg_verify_run(const lg_verify_opts_t *o, lg_verify_result_t *res, char *errbuf, size_t errcap);

#endif
