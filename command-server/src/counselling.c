/* counselling.c: counselling context commands (SPEC §9): become a counsellor, update the
 * profile, verify (operator role), publish and withdraw slots.
 *
 * Aggregate Counsellor = counsellors row (+ its slots rows); counsellors.version bumps on every
 * event of its stream (CounsellorRegistered, CounsellorProfileUpdated, CounsellorVerified,
 * SlotsPublished, SlotWithdrawn). Commands lock the counsellors row FOR UPDATE first. Overlapping
 * slots are refused by PostgreSQL itself (exclusion constraint slots_no_overlap, SQLSTATE
 * 23P01), so two concurrent publications can never overlap either. */
#include "counselling.h"
#include "cmd.h"
#include "rules.h"
#include "counselling_rules.h"

#include "hl/mem.h"
#include "hl/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "{a,b,c}": a PostgreSQL text[] literal of items that need no quoting (specialties and
 * language tags are letters, digits and '-'). Caller frees with bson_string_free(s, true). */
static bson_string_t *pg_array(const char *const *items, size_t n)
{
    bson_string_t *s = bson_string_new("{");
    for (size_t i = 0; i < n; i++)
        bson_string_append_printf(s, "%s%s", i ? "," : "", items[i]);
    bson_string_append(s, "}");
    return s;
}

/* Split a comma list (array_to_string) in place into out[cap]; returns the count. */
static size_t split_commas(char *list, const char **out, size_t cap)
{
    size_t n = 0;
    for (char *s = list; *s && n < cap;) {
        out[n++] = s;
        char *comma = strchr(s, ',');
        if (!comma)
            break;
        *comma = '\0';
        s = comma + 1;
    }
    return n;
}

static void reply_counsellor(cs_cmd_t *cmd, int status, const char *id, int64_t version,
                             bool verified)
{
    cmd->status = status;
    BSON_APPEND_UTF8(&cmd->reply, "counsellor_id", id);
    BSON_APPEND_BOOL(&cmd->reply, "verified", verified);
    BSON_APPEND_INT64(&cmd->reply, "version", version);
    cs_cmd_header(cmd, "Location: /v1/counsellors/%s\r\nETag: \"%lld\"\r\n", id,
                  (long long)version);
    cs_cmd_watermark(cmd, "ev.Counsellor", id, version);
}

/* Fill the profile fields of a CounsellorRegistered / CounsellorProfileUpdated event. */
static bool profile_fields(hl_event_t *ev, const char *display_name, const cs_counsellor_cmd_t *c,
                           hl_error_t *err)
{
    return hl_avro_set_string(&ev->record, "display_name", display_name, err) &&
           hl_avro_set_string(&ev->record, "headline", c->headline, err) &&
           hl_avro_set_string(&ev->record, "bio", c->bio ? c->bio : "", err) &&
           hl_avro_set_string_array(&ev->record, "specialties", c->specialties, c->nspecialties,
                                    err) &&
           hl_avro_set_string_array(&ev->record, "languages", c->languages, c->nlanguages, err) &&
           hl_avro_set_long(&ev->record, "price_minor", c->price_minor, err) &&
           hl_avro_set_string(&ev->record, "currency", c->currency, err) &&
           hl_avro_set_long(&ev->record, "session_minutes", c->session_minutes, err);
}

/* ---- become a counsellor ---- */

static bool register_prepare(cs_cmd_t *cmd, hl_error_t *err)
{
    return cs_validate_counsellor(&cmd->body, false, cmd->state, err);
}

static bool register_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    cs_counsellor_cmd_t *c = cmd->state;
    const char *me = cmd->session.user_id;
    char now[24], price[24], minutes[8];
    snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
    snprintf(price, sizeof price, "%lld", (long long)c->price_minor);
    snprintf(minutes, sizeof minutes, "%d", c->session_minutes);
    bson_string_t *spec = pg_array(c->specialties, c->nspecialties);
    bson_string_t *lang = pg_array(c->languages, c->nlanguages);
    const char *p[9] = {me,          c->headline, c->bio ? c->bio : "",
                        spec->str,   lang->str,   price,
                        c->currency, minutes,     now};
    PGresult *r = NULL;
    bool ok = cs_sql(cmd,
                     "WITH ins AS (INSERT INTO counsellors (counsellor_id, headline, bio,"
                     " specialties, languages, price_minor, currency, session_minutes, verified,"
                     " version, created_at, updated_at) VALUES ($1, $2, $3, $4::text[],"
                     " $5::text[], $6::bigint, $7, $8::int, false, 1, " CS_TS(9) ", " CS_TS(
                         9) ") ON CONFLICT (counsellor_id) DO NOTHING RETURNING 1)"
                            " SELECT (SELECT count(*) FROM ins),"
                            " (SELECT display_name FROM users WHERE user_id = $1)",
                     9, p, &r, err);
    bson_string_free(spec, true);
    bson_string_free(lang, true);
    if (!ok)
        return false;
    bool inserted = strcmp(PQgetvalue(r, 0, 0), "1") == 0;
    char name[256];
    snprintf(name, sizeof name, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    if (!inserted)
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 409, "already-counsellor",
                                   "you are a counsellor already");
    hl_event_t ev = {0};
    ok = hl_event_init(&ev, cmd->app->catalog, "CounsellorRegistered", err) &&
         profile_fields(&ev, name, c, err) && cs_cmd_emit(cmd, &ev, "Counsellor", me, 1, err);
    hl_event_destroy(&ev);
    if (!ok)
        return false;
    reply_counsellor(cmd, 201, me, 1, false);
    return true;
}

void cs_handle_register_counsellor(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {
        .auth = true, .has_body = true, .prepare = register_prepare, .exec = register_exec};
    cs_counsellor_cmd_t c;
    cs_cmd_run(req, &spec, &c);
}

/* ---- update the profile ---- */

static bool update_prepare(cs_cmd_t *cmd, hl_error_t *err)
{
    return cs_validate_counsellor(&cmd->body, true, cmd->state, err);
}

/* The locked counsellor row: 404 "not-a-counsellor" when the caller is none. */
typedef struct {
    int64_t version;
    bool verified;
    char headline[512], currency[4], name[256];
    char *bio, *specialties, *languages; /* malloc'd */
    int64_t price_minor;
    int minutes;
} counsellor_row_t;

static void counsellor_row_free(counsellor_row_t *c)
{
    free(c->bio);
    free(c->specialties);
    free(c->languages);
}

static bool lock_counsellor(cs_cmd_t *cmd, const char *id, counsellor_row_t *c, hl_error_t *err)
{
    memset(c, 0, sizeof *c);
    const char *p[1] = {id};
    PGresult *r = NULL;
    if (!cs_sql(cmd,
                "SELECT c.version, c.verified, c.headline, c.bio,"
                " array_to_string(c.specialties, ','), array_to_string(c.languages, ','),"
                " c.price_minor, c.currency, c.session_minutes, u.display_name"
                " FROM counsellors c JOIN users u ON u.user_id = c.counsellor_id"
                " WHERE c.counsellor_id = $1 FOR UPDATE OF c",
                1, p, &r, err))
        return false;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return hl_error_set_reason(err, HL_ERR_DOMAIN, 404, "not-a-counsellor",
                                   "no counsellor profile");
    }
    c->version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    c->verified = PQgetvalue(r, 0, 1)[0] == 't';
    snprintf(c->headline, sizeof c->headline, "%s", PQgetvalue(r, 0, 2));
    c->bio = hl_xstrdup(PQgetvalue(r, 0, 3));
    c->specialties = hl_xstrdup(PQgetvalue(r, 0, 4));
    c->languages = hl_xstrdup(PQgetvalue(r, 0, 5));
    c->price_minor = strtoll(PQgetvalue(r, 0, 6), NULL, 10);
    snprintf(c->currency, sizeof c->currency, "%s", PQgetvalue(r, 0, 7));
    c->minutes = (int)strtol(PQgetvalue(r, 0, 8), NULL, 10);
    snprintf(c->name, sizeof c->name, "%s", PQgetvalue(r, 0, 9));
    PQclear(r);
    if (!c->bio || !c->specialties || !c->languages) {
        counsellor_row_free(c);
        return hl_error_set(err, HL_ERR_SYSTEM, 0, "out of memory");
    }
    return true;
}

static bool update_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    cs_counsellor_cmd_t *c = cmd->state;
    const char *me = cmd->session.user_id;
    counsellor_row_t row;
    if (!lock_counsellor(cmd, me, &row, err))
        return false;
    bool ok = cs_rule_version(row.version, cmd->has_if_match, cmd->if_match, err);
    /* the new state: given fields over the stored ones */
    cs_counsellor_cmd_t n = *c;
    if (!n.headline)
        n.headline = row.headline;
    if (!n.bio)
        n.bio = row.bio;
    if (!n.has_specialties)
        n.nspecialties = split_commas(row.specialties, n.specialties, CS_LIST_MAX);
    if (!n.has_languages)
        n.nlanguages = split_commas(row.languages, n.languages, CS_LIST_MAX);
    if (!n.price_minor)
        n.price_minor = row.price_minor;
    if (!n.currency)
        n.currency = row.currency;
    if (!n.session_minutes)
        n.session_minutes = row.minutes;
    int64_t version = row.version + 1;
    char now[24], price[24], minutes[8], vtext[24];
    snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
    snprintf(price, sizeof price, "%lld", (long long)n.price_minor);
    snprintf(minutes, sizeof minutes, "%d", n.session_minutes);
    snprintf(vtext, sizeof vtext, "%lld", (long long)version);
    bson_string_t *spec = pg_array(n.specialties, n.nspecialties);
    bson_string_t *lang = pg_array(n.languages, n.nlanguages);
    const char *p[10] = {me,    n.headline, n.bio,   spec->str, lang->str,
                         price, n.currency, minutes, vtext,     now};
    ok = ok && cs_sql_queue(cmd,
                            "UPDATE counsellors SET headline = $2, bio = $3, specialties ="
                            " $4::text[], languages = $5::text[], price_minor = $6::bigint,"
                            " currency = $7, session_minutes = $8::int, version = $9::bigint,"
                            " updated_at = " CS_TS(10) " WHERE counsellor_id = $1",
                            10, p, NULL, NULL, NULL, err);
    bson_string_free(spec, true);
    bson_string_free(lang, true);
    hl_event_t ev = {0};
    ok = ok && hl_event_init(&ev, cmd->app->catalog, "CounsellorProfileUpdated", err) &&
         profile_fields(&ev, row.name, &n, err) &&
         cs_cmd_emit(cmd, &ev, "Counsellor", me, version, err);
    hl_event_destroy(&ev);
    bool verified = row.verified;
    counsellor_row_free(&row);
    if (!ok)
        return false;
    reply_counsellor(cmd, 200, me, version, verified);
    return true;
}

void cs_handle_update_counsellor(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {
        .auth = true, .has_body = true, .prepare = update_prepare, .exec = update_exec};
    cs_counsellor_cmd_t c;
    cs_cmd_run(req, &spec, &c);
}

/* ---- verify (operator only) ---- */

static bool verify_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    const char *id = cmd->req->params[0];
    const char *me = cmd->session.user_id;
    bool found = false;
    int64_t is_operator = 0;
    const char *p[1] = {me};
    if (!cs_sql_int(cmd, "SELECT count(*) FROM user_roles WHERE user_id = $1 AND role = 'operator'",
                    1, p, &found, &is_operator, err))
        return false;
    if (!cs_rule_verify(is_operator > 0, true, err))
        return false;
    if (!hl_uuid_valid(id))
        return cs_rule_verify(true, false, err);
    counsellor_row_t row;
    if (!lock_counsellor(cmd, id, &row, err)) {
        if (err->code == 404)
            return cs_rule_verify(true, false, err);
        return false;
    }
    int64_t version = row.version;
    bool already = row.verified;
    counsellor_row_free(&row);
    if (!cs_rule_version(version, cmd->has_if_match, cmd->if_match, err))
        return false;
    if (!already) {
        version++;
        char now[24], vtext[24];
        snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
        snprintf(vtext, sizeof vtext, "%lld", (long long)version);
        const char *up[3] = {id, vtext, now};
        hl_event_t ev = {0};
        bool ok = cs_sql_queue(
                      cmd,
                      "UPDATE counsellors SET verified = true, verified_at = " CS_TS(
                          3) ", version = $2::bigint, updated_at = " CS_TS(3) " WHERE"
                                                                              " counsellor_id = $1",
                      3, up, NULL, NULL, NULL, err) &&
                  hl_event_init(&ev, cmd->app->catalog, "CounsellorVerified", err) &&
                  hl_avro_set_string(&ev.record, "verified_by", me, err) &&
                  cs_cmd_emit(cmd, &ev, "Counsellor", id, version, err);
        hl_event_destroy(&ev);
        if (!ok)
            return false;
    }
    /* the id as stored (lower case) */
    char lower[HL_UUID_STR_LEN + 1];
    hl_fold_ascii(id, lower, sizeof lower);
    reply_counsellor(cmd, 200, lower, version, true);
    return true;
}

void cs_handle_verify_counsellor(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {.auth = true, .exec = verify_exec};
    cs_cmd_run(req, &spec, NULL);
}

/* ---- publish slots ---- */

typedef struct {
    int64_t starts[CS_SLOTS_MAX];
    size_t n;
} slots_cmd_t;

static bool slots_prepare(cs_cmd_t *cmd, hl_error_t *err)
{
    slots_cmd_t *s = cmd->state;
    return cs_validate_slots(&cmd->body, cmd->now_us, s->starts, &s->n, err);
}

static bool slots_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    slots_cmd_t *s = cmd->state;
    const char *me = cmd->session.user_id;
    counsellor_row_t row;
    if (!lock_counsellor(cmd, me, &row, err))
        return false;
    int64_t version = row.version + 1;
    int minutes = row.minutes;
    counsellor_row_free(&row);
    char ids[CS_SLOTS_MAX][HL_UUID_STR_LEN + 1];
    const char *id_ptrs[CS_SLOTS_MAX];
    bson_string_t *id_arr = bson_string_new("{"), *start_arr = bson_string_new("{");
    for (size_t i = 0; i < s->n; i++) {
        hl_uuid_v7(ids[i]);
        id_ptrs[i] = ids[i];
        bson_string_append_printf(id_arr, "%s%s", i ? "," : "", ids[i]);
        bson_string_append_printf(start_arr, "%s%lld", i ? "," : "", (long long)s->starts[i]);
    }
    bson_string_append(id_arr, "}");
    bson_string_append(start_arr, "}");
    char now[24], mtext[8], vtext[24];
    snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
    snprintf(mtext, sizeof mtext, "%d", minutes);
    snprintf(vtext, sizeof vtext, "%lld", (long long)version);
    const char *p[6] = {me, id_arr->str, start_arr->str, mtext, now, vtext};
    bool ok =
        cs_sql(cmd,
               "WITH c AS (UPDATE counsellors SET version = $6::bigint, updated_at = " CS_TS(
                   5) " WHERE counsellor_id = $1)"
                      " INSERT INTO slots (slot_id, counsellor_id, starts_at, ends_at,"
                      " minutes, status, version, created_at, updated_at)"
                      " SELECT t.id, $1, 'epoch'::timestamptz + t.us * interval '1"
                      " microsecond', 'epoch'::timestamptz + t.us * interval '1 microsecond'"
                      " + $4::int * interval '1 minute', $4::int, 'open', 1, " CS_TS(5) ", " CS_TS(
                          5) " FROM unnest($2::uuid[], $3::bigint[]) AS t(id, us)",
               6, p, NULL, err);
    bson_string_free(id_arr, true);
    bson_string_free(start_arr, true);
    if (!ok) {
        if (hl_error_is_sqlstate(err, "23P01"))
            return hl_error_set_reason(err, HL_ERR_DOMAIN, 409, "slot-overlap",
                                       "a slot overlaps another slot of yours");
        return false;
    }
    hl_event_t ev = {0};
    ok = hl_event_init(&ev, cmd->app->catalog, "SlotsPublished", err) &&
         hl_avro_set_string_array(&ev.record, "slot_ids", id_ptrs, s->n, err) &&
         hl_avro_set_long_array(&ev.record, "starts_at", s->starts, s->n, err) &&
         hl_avro_set_long(&ev.record, "minutes", minutes, err) &&
         cs_cmd_emit(cmd, &ev, "Counsellor", me, version, err);
    hl_event_destroy(&ev);
    if (!ok)
        return false;
    cmd->status = 201;
    BSON_APPEND_UTF8(&cmd->reply, "counsellor_id", me);
    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(&cmd->reply, "slot_ids", &arr);
    for (size_t i = 0; i < s->n; i++) {
        char key[24];
        snprintf(key, sizeof key, "%zu", i);
        BSON_APPEND_UTF8(&arr, key, ids[i]);
    }
    bson_append_array_end(&cmd->reply, &arr);
    BSON_APPEND_INT32(&cmd->reply, "minutes", minutes);
    BSON_APPEND_INT64(&cmd->reply, "version", version);
    cs_cmd_watermark(cmd, "ev.Counsellor", me, version);
    return true;
}

void cs_handle_publish_slots(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {
        .auth = true, .has_body = true, .prepare = slots_prepare, .exec = slots_exec};
    slots_cmd_t *s = hl_xcalloc(1, sizeof *s);
    cs_cmd_run(req, &spec, s);
    free(s);
}

/* ---- withdraw a slot ---- */

static bool withdraw_exec(cs_cmd_t *cmd, hl_error_t *err)
{
    const char *slot_id = cmd->req->params[0];
    const char *me = cmd->session.user_id;
    counsellor_row_t row;
    if (!lock_counsellor(cmd, me, &row, err))
        return false;
    int64_t version = row.version + 1;
    counsellor_row_free(&row);
    if (!hl_uuid_valid(slot_id))
        return cs_rule_withdraw(false, NULL, err);
    const char *p[2] = {slot_id, me};
    PGresult *r = NULL;
    if (!cs_sql(cmd,
                "SELECT status, version, (extract(epoch FROM starts_at) * 1000000)::bigint"
                " FROM slots WHERE slot_id = $1 AND counsellor_id = $2 FOR UPDATE",
                2, p, &r, err))
        return false;
    bool exists = PQntuples(r) == 1;
    char status[16] = "";
    int64_t slot_version = 0, starts = 0;
    if (exists) {
        snprintf(status, sizeof status, "%s", PQgetvalue(r, 0, 0));
        slot_version = strtoll(PQgetvalue(r, 0, 1), NULL, 10) + 1;
        starts = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    }
    PQclear(r);
    if (!cs_rule_withdraw(exists, status, err))
        return false;
    char now[24], vtext[24], svtext[24];
    snprintf(now, sizeof now, "%lld", (long long)cmd->now_us);
    snprintf(vtext, sizeof vtext, "%lld", (long long)version);
    snprintf(svtext, sizeof svtext, "%lld", (long long)slot_version);
    const char *up[5] = {slot_id, me, vtext, svtext, now};
    hl_event_t ev = {0};
    bool ok =
        cs_sql_queue(cmd,
                     "WITH c AS (UPDATE counsellors SET version = $3::bigint, updated_at = " CS_TS(
                         5) " WHERE counsellor_id = $2) UPDATE slots SET status ="
                            " 'withdrawn', version = $4::bigint, updated_at = " CS_TS(
                                5) " WHERE slot_id = $1",
                     5, up, NULL, NULL, NULL, err) &&
        hl_event_init(&ev, cmd->app->catalog, "SlotWithdrawn", err) &&
        hl_avro_set_string(&ev.record, "slot_id", slot_id, err) &&
        hl_avro_set_long(&ev.record, "slot_version", slot_version, err) &&
        hl_avro_set_long(&ev.record, "starts_at", starts, err) &&
        cs_cmd_emit(cmd, &ev, "Counsellor", me, version, err);
    hl_event_destroy(&ev);
    if (!ok)
        return false;
    cmd->status = 200;
    BSON_APPEND_UTF8(&cmd->reply, "slot_id", slot_id);
    BSON_APPEND_UTF8(&cmd->reply, "status", "withdrawn");
    BSON_APPEND_INT64(&cmd->reply, "version", version);
    cs_cmd_watermark(cmd, "ev.Counsellor", me, version);
    return true;
}

void cs_handle_withdraw_slot(hl_http_request_t *req)
{
    static const cs_cmd_spec_t spec = {.auth = true, .exec = withdraw_exec};
    cs_cmd_run(req, &spec, NULL);
}
