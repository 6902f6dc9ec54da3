/* notification.c: notification context command (SPEC §2): mark notifications read.
 * Aggregate NotificationInbox (id = the user id; notification_inboxes row, created on first
 * use). The notifications themselves are a read model built from domain events. */
#include "notification.h"
#include "cmd.h"
#include "rules.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool notif_prepare(cs_cmd_t *cmd, hl_error_t *err)
{
    return cs_validate_notifications(&cmd->body, cmd->state, err);
}

static bool notif_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    cs_notifications_cmd_t *c = cmd->state;
    const char *me = cmd->session.user_id;
    const char *p[1] = {me};
    bool found = false;
    int64_t version = 0;
    /* Create the inbox at version 0 when missing, then lock it. */
    if (!cs_sql(cmd,
                "INSERT INTO notification_inboxes (user_id, version) VALUES ($1, 0)"
                " ON CONFLICT (user_id) DO NOTHING",
                1, p, NULL, err) ||
        !cs_sql_int(cmd, "SELECT version FROM notification_inboxes WHERE user_id = $1 FOR UPDATE",
                    1, p, &found, &version, err) ||
        !cs_rule_version(version, cmd->has_if_match, cmd->if_match, err))
        return false;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
    const char *up[3] = {me, c->all ? "t" : "f", now};
    if (!cs_sql_int(cmd,
                    "UPDATE notification_inboxes SET version = version + 1, read_all_at ="
                    " CASE WHEN $2::boolean THEN " CS_TS(3) " ELSE read_all_at END"
                                                            " WHERE user_id = $1 RETURNING version",
                    3, up, &found, &version, err))
        return false;
    hl_event_t ev = {0};
    bool ok = hl_event_init(&ev, cmd->app->catalog, "NotificationsRead", err) &&
              hl_avro_set_string_array(&ev.record, "notification_ids", c->ids, c->n, err) &&
              hl_avro_set_bool(&ev.record, "all", c->all, err) &&
              cs_cmd_emit(cmd, &ev, "NotificationInbox", me, version, err);
    hl_event_destroy(&ev);
    if (!ok)
        return false;
    cmd->status = 200;
    BSON_APPEND_UTF8(&cmd->reply, "user_id", me);
    BSON_APPEND_INT64(&cmd->reply, "version", version);
    cs_cmd_header(cmd, "ETag: \"%lld\"\r\n", (long long)version);
    cs_cmd_watermark(cmd, "ev.NotificationInbox", me, version);
    return true;
}

void cs_handle_notifications_read(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {
        .auth = true, .has_body = true, .prepare = notif_prepare, .exec = notif_exec};
    cs_notifications_cmd_t c;
    memset(&c, 0, sizeof c);
    cs_cmd_run(req, &spec, &c);
}
