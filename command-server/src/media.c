/* media.c: the avatar commands and the orphan sweep (media.h). */
#include "media.h"
#include "cmd.h"
#include "image.h"
#include "rules.h"

#include "hl/log.h"
#include "hl/mem.h"
#include "hl/metrics.h"

#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AVATAR_SIZES   2
#define AVATAR_KEY_MAX 96
/* names are content hashes: a name's bytes never change */
#define MEDIA_CACHE_CONTROL "public, max-age=31536000, immutable"

static const int avatar_sizes[AVATAR_SIZES] = {512, 128};

bool cs_media_start(cs_media_t *m, const char *argv0, int decoders, const hl_s3_config_t *s3,
                    hl_error_t *err)
{
    memset(m, 0, sizeof *m);
    if (!(m->s3 = hl_s3_new(s3, err)))
        return false;
    if (!cs_image_init(argv0, 1, err)) {
        hl_s3_destroy(m->s3);
        m->s3 = NULL;
        return false;
    }
    if (!(m->decoders =
              cs_image_pool_new(decoders > 0 ? decoders : 1, CS_IMAGE_POOL_STACK_BYTES, 0, err))) {
        cs_image_shutdown();
        hl_s3_destroy(m->s3);
        m->s3 = NULL;
        return false;
    }
    return true;
}

void cs_media_stop(cs_media_t *m)
{
    if (!m->s3)
        return;
    cs_image_pool_destroy(m->decoders);
    m->decoders = NULL;
    hl_s3_destroy(m->s3);
    m->s3 = NULL;
    cs_image_shutdown();
}

/* ---- PUT /v1/users/me/avatar ---- */

typedef struct {
    cs_image_rendition_t r[AVATAR_SIZES];
    char key[AVATAR_SIZES][AVATAR_KEY_MAX];
} avatar_cmd_t;

static void media_key(const cs_image_rendition_t *r, char *out, size_t cap)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    crypto_hash_sha256(h, r->data, r->len);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    snprintf(out, cap, "avatars/%s.webp", hex);
}

static void media_url(const char *key, char *out, size_t cap)
{
    snprintf(out, cap, "/media/%s", key);
}

static void count_upload(const char *result)
{
    char labels[48];
    snprintf(labels, sizeof labels, "result=\"%s\"", result);
    hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_avatar_uploads_total", labels,
                                "avatar uploads by outcome (ok, refused, failed)"),
                  1);
}

/* Outside the command transaction, on a pooled connection: the caller's current version (for an
 * If-Match refused before anything is written) and, with keys, the media_pending rows that make
 * the sweep collect the objects if the command never commits. */
static bool pending_and_version(cs_cmd_t *cmd, avatar_cmd_t *c, hl_error_t *err)
{
    PGconn *conn =
        hl_pg_pool_acquire(cmd->app->pool, (long)cmd->app->cfg.pg_acquire_timeout_ms, err);
    if (!conn)
        return false;
    const char *p[1] = {cmd->session.user_id};
    PGresult *r = PQexecParams(conn, "SELECT version FROM users WHERE user_id = $1", 1, NULL, p,
                               NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK || hl_pg_error(r, conn, err);
    if (ok && PQntuples(r) != 1)
        ok = hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token", "no such user");
    if (ok)
        ok = cs_rule_version(strtoll(PQgetvalue(r, 0, 0), NULL, 10), cmd->has_if_match,
                             cmd->if_match, err);
    PQclear(r);
    if (ok && c) {
        const char *k[2] = {c->key[0], c->key[1]};
        r = PQexecParams(conn,
                         "INSERT INTO media_pending (object_key) VALUES ($1), ($2)"
                         " ON CONFLICT (object_key) DO UPDATE SET created_at = now()",
                         2, NULL, k, NULL, NULL, 0);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK || hl_pg_error(r, conn, err);
        PQclear(r);
    }
    hl_pg_pool_release(cmd->app->pool, conn);
    return ok;
}

/* spec->read: the cheap checks, then the body into cmd->raw (the Idempotency-Key request hash
 * covers it, cmd.h). Nothing is decoded here. */
static bool avatar_read(cs_cmd_t *cmd, hl_error_t *err)
{
    cs_app_t *app = cmd->app;
    cs_image_format_t declared = cs_image_format_of_mime(hl_http_header(cmd->req, "Content-Type"));
    if (declared == CS_IMAGE_UNKNOWN)
        return hl_error_set_reason(err, HL_ERR_INPUT, 415, "unsupported-media-type",
                                   "Content-Type must be image/jpeg, image/png or image/webp");
    char *raw = NULL;
    size_t len = 0;
    if (!hl_http_read_body(cmd->req, (size_t)app->cfg.media_max_bytes, false, &raw, &len, err))
        return false;
    cs_image_format_t actual = cs_image_sniff((const unsigned char *)raw, len);
    if (actual != CS_IMAGE_UNKNOWN && actual != declared) {
        free(raw);
        return hl_error_set_reason(err, HL_ERR_INPUT, 415, "unsupported-media-type",
                                   "the body is %s, not the %s its Content-Type says",
                                   cs_image_mime(actual), cs_image_mime(declared));
    }
    cmd->raw = raw; /* the pipeline frees it */
    cmd->raw_len = len;
    return true;
}

/* spec->prepare: decode and re-encode (on an image-worker thread), then the object store. */
static bool avatar_prepare(cs_cmd_t *cmd, hl_error_t *err)
{
    avatar_cmd_t *c = cmd->state;
    cs_app_t *app = cmd->app;
    /* Refuse a stale If-Match before decoding anything (after the Idempotency-Key pre-check, so
     * a retry of an upload that moved the version on replays instead). */
    if (cmd->has_if_match && !pending_and_version(cmd, NULL, err))
        return false;
    /* Decoded on an image-worker thread with a large stack (image_pool.h), never here. */
    cs_image_format_t f;
    if (!cs_image_pool_process(app->media.decoders, (const unsigned char *)cmd->raw, cmd->raw_len,
                               app->cfg.media_max_pixels, avatar_sizes, AVATAR_SIZES,
                               (long)app->cfg.media_decode_timeout_ms, &f, c->r, err))
        return false;
    for (int i = 0; i < AVATAR_SIZES; i++)
        media_key(&c->r[i], c->key[i], sizeof c->key[i]);
    /* Record the keys first (committed), then write the objects: whatever happens next, the
     * sweep finds every object no profile references. */
    if (!pending_and_version(cmd, c, err))
        return false;
    for (int i = 0; i < AVATAR_SIZES; i++)
        if (!hl_s3_put(app->media.s3, c->key[i], c->r[i].data, c->r[i].len, "image/webp",
                       MEDIA_CACHE_CONTROL, err)) {
            HL_ERROR("avatar upload: %s", err->message);
            return hl_error_set_reason(err, HL_ERR_INPUT, 503, "object-store-unavailable",
                                       "the object store is unavailable; retry later");
        }
    if (!strcmp(app->cfg.media_crash_at, "after-store")) {
        HL_WARN("TEST HOOK media-crash-at=after-store: SIGKILL after the store write");
        raise(SIGKILL);
    }
    return true;
}

/* Lock the caller's users row, check If-Match; the current avatar keys into old[2]. */
static bool lock_avatar(cs_cmd_t *cmd, int64_t *version, char old[2][AVATAR_KEY_MAX],
                        hl_error_t *err)
{
    const char *p[1] = {cmd->session.user_id};
    PGresult *r = NULL;
    if (!cs_sql(cmd,
                "SELECT version, avatar_512, avatar_128 FROM users WHERE user_id = $1 FOR UPDATE",
                1, p, &r, err))
        return false;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return hl_error_set_reason(err, HL_ERR_INPUT, 401, "invalid-token", "no such user");
    }
    *version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    snprintf(old[0], AVATAR_KEY_MAX, "%s", PQgetvalue(r, 0, 1));
    snprintf(old[1], AVATAR_KEY_MAX, "%s", PQgetvalue(r, 0, 2));
    PQclear(r);
    return cs_rule_version(*version, cmd->has_if_match, cmd->if_match, err);
}

/* Queue the keys an avatar change lets go of for the sweep (it keeps any still referenced). */
static bool release_keys(cs_cmd_t *cmd, char old[2][AVATAR_KEY_MAX], hl_error_t *err)
{
    if (!old[0][0] && !old[1][0])
        return true;
    const char *p[2] = {old[0][0] ? old[0] : old[1], old[1][0] ? old[1] : old[0]};
    return cs_sql_queue(cmd,
                        "INSERT INTO media_pending (object_key) VALUES ($1), ($2)"
                        " ON CONFLICT (object_key) DO UPDATE SET created_at = now()",
                        2, p, NULL, NULL, NULL, err);
}

static bool emit_avatar(cs_cmd_t *cmd, const char *url512, const char *url128, int64_t version,
                        hl_error_t *err)
{
    hl_event_t ev = {0};
    bool ok = hl_event_init(&ev, cmd->app->catalog, "UserAvatarChanged", err) &&
              hl_avro_set_string_opt(&ev.record, "url_512", url512, err) &&
              hl_avro_set_string_opt(&ev.record, "url_128", url128, err) &&
              cs_cmd_emit(cmd, &ev, "User", cmd->session.user_id, version, err);
    hl_event_destroy(&ev);
    return ok;
}

static bool avatar_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    avatar_cmd_t *c = cmd->state;
    int64_t version = 0;
    char old[2][AVATAR_KEY_MAX];
    if (!lock_avatar(cmd, &version, old, err))
        return false;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
    const char *p[4] = {cmd->session.user_id, c->key[0], c->key[1], now};
    bool found = false;
    if (!cs_sql_queue(cmd, "DELETE FROM media_pending WHERE object_key IN ($1, $2)", 2,
                      (const char *const *)&p[1], NULL, NULL, NULL, err) ||
        !cs_sql_int(cmd,
                    "UPDATE users SET avatar_512 = $2, avatar_128 = $3, avatar_version = version + "
                    "1, version = version + 1, updated_at = " CS_TS(
                        4) " WHERE user_id = $1 RETURNING version",
                    4, p, &found, &version, err))
        return false;
    for (int i = 0; i < 2; i++)
        if (!strcmp(old[i], c->key[0]) || !strcmp(old[i], c->key[1]))
            old[i][0] = '\0'; /* the same image again: still referenced */
    char u512[128], u128[128];
    media_url(c->key[0], u512, sizeof u512);
    media_url(c->key[1], u128, sizeof u128);
    if (!release_keys(cmd, old, err) || !emit_avatar(cmd, u512, u128, version, err))
        return false;
    cmd->status = 200;
    BSON_APPEND_UTF8(&cmd->reply, "user_id", cmd->session.user_id);
    BSON_APPEND_INT64(&cmd->reply, "version", version);
    bson_t a;
    BSON_APPEND_DOCUMENT_BEGIN(&cmd->reply, "avatar", &a);
    BSON_APPEND_UTF8(&a, "url_512", u512);
    BSON_APPEND_UTF8(&a, "url_128", u128);
    BSON_APPEND_INT64(&a, "version", version);
    bson_append_document_end(&cmd->reply, &a);
    cs_cmd_header(cmd, "ETag: \"%lld\"\r\n", (long long)version);
    cs_cmd_watermark(cmd, "ev.User", cmd->session.user_id, version);
    cs_cmd_watermark(cmd, "cdc.users", cmd->session.user_id, version);
    return true;
}

void cs_handle_put_avatar(hl_http_request_t *req)
{
    /* session_first: a dead session is refused before the image is read, decoded or stored. */
    static const cs_cmd_spec_t spec = {.auth = true,
                                       .session_first = true,
                                       .has_body = false, /* the image: read by avatar_read */
                                       .read = avatar_read,
                                       .prepare = avatar_prepare,
                                       .exec = avatar_exec};
    avatar_cmd_t c;
    memset(&c, 0, sizeof c);
    cs_cmd_run(req, &spec, &c);
    count_upload(req->status == 200 ? "ok" : req->status < 500 ? "refused" : "failed");
    cs_image_renditions_free(c.r, AVATAR_SIZES);
}

/* ---- DELETE /v1/users/me/avatar ---- */

static bool unavatar_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    int64_t version = 0;
    char old[2][AVATAR_KEY_MAX];
    if (!lock_avatar(cmd, &version, old, err))
        return false;
    if (old[0][0] || old[1][0]) {
        char now[24];
        snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
        const char *p[2] = {cmd->session.user_id, now};
        bool found = false;
        if (!cs_sql_int(cmd,
                        "UPDATE users SET avatar_512 = '', avatar_128 = '', avatar_version = "
                        "version + 1, version = version + 1, updated_at = " CS_TS(
                            2) " WHERE user_id = $1 RETURNING version",
                        2, p, &found, &version, err) ||
            !release_keys(cmd, old, err) || !emit_avatar(cmd, NULL, NULL, version, err))
            return false;
    }
    /* No avatar: nothing changes and no event, like setting the presence a user has. */
    cmd->status = 204;
    cs_cmd_header(cmd, "ETag: \"%lld\"\r\n", (long long)version);
    cs_cmd_watermark(cmd, "ev.User", cmd->session.user_id, version);
    cs_cmd_watermark(cmd, "cdc.users", cmd->session.user_id, version);
    return true;
}

void cs_handle_delete_avatar(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {.auth = true, .exec = unavatar_exec};
    cs_cmd_run(req, &spec, NULL);
}

/* ---- the orphan sweep ---- */

int cs_media_sweep(void *app_ptr, long long interval_s, long long grace_s)
{
    cs_app_t *app = app_ptr;
    int64_t now = hl_mono_ms();
    if (app->media.last_sweep_ms && now - app->media.last_sweep_ms < interval_s * 1000)
        return 0;
    app->media.last_sweep_ms = now;
    hl_error_t err = {0};
    PGconn *conn = hl_pg_pool_acquire(app->pool, 5000, &err);
    if (!conn) {
        HL_WARN("media sweep: %s", err.message);
        return 0;
    }
    char grace[24];
    snprintf(grace, sizeof grace, "%lld", grace_s);
    const char *p[1] = {grace};
    int deleted = 0;
    PGresult *r = NULL;
    if (!hl_pg_exec(conn, "BEGIN", &err))
        goto out;
    /* Referenced again (another user has the same image): nothing to collect. */
    r = PQexecParams(conn,
                     "DELETE FROM media_pending p WHERE created_at < now() - make_interval(secs =>"
                     " $1::double precision) AND EXISTS (SELECT 1 FROM users u WHERE"
                     " u.avatar_512 = p.object_key OR u.avatar_128 = p.object_key)",
                     1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        hl_pg_error(r, conn, &err);
        goto out;
    }
    PQclear(r);
    /* Locked until COMMIT: an upload of the same bytes meanwhile waits on its media_pending
     * upsert, and writes its object only after this deletion. */
    r = PQexecParams(conn,
                     "SELECT object_key FROM media_pending p WHERE created_at < now() -"
                     " make_interval(secs => $1::double precision) AND NOT EXISTS (SELECT 1 FROM"
                     " users u WHERE u.avatar_512 = p.object_key OR u.avatar_128 = p.object_key)"
                     " ORDER BY created_at LIMIT 200 FOR UPDATE SKIP LOCKED",
                     1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        hl_pg_error(r, conn, &err);
        goto out;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const char *key = PQgetvalue(r, i, 0);
        hl_error_t e = {0};
        if (!hl_s3_delete(app->media.s3, key, &e)) {
            HL_WARN("media sweep: %s (kept for the next pass)", e.message);
            continue;
        }
        const char *k[1] = {key};
        PGresult *d = PQexecParams(conn, "DELETE FROM media_pending WHERE object_key = $1", 1, NULL,
                                   k, NULL, NULL, 0);
        if (PQresultStatus(d) == PGRES_COMMAND_OK)
            deleted++;
        PQclear(d);
    }
    if (hl_pg_exec(conn, "COMMIT", &err) && deleted) {
        HL_INFO("media sweep: deleted %d unreferenced object(s)", deleted);
        hl_metric_add(hl_metric_get(HL_METRIC_COUNTER, "hl_media_orphans_deleted_total", NULL,
                                    "objects the media sweep deleted (no profile referenced "
                                    "them)"),
                      deleted);
    }
out:
    PQclear(r);
    if (err.domain != HL_ERR_NONE) {
        HL_WARN("media sweep: %s", err.message);
        hl_error_t ignored;
        hl_pg_exec(conn, "ROLLBACK", &ignored);
    }
    hl_pg_pool_release(app->pool, conn);
    return deleted;
}
