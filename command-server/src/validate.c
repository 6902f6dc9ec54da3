#include "validate.h"

#include "hl/json.h"
#include "hl/util.h"

#include <ctype.h>
#include <string.h>

bool cs_email_plausible(const char *email)
{
    const char *at = strchr(email, '@');
    if (!at || at == email || strchr(at + 1, '@') || at - email > 64)
        return false;
    for (const unsigned char *p = (const unsigned char *)email; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return false;
    const char *domain = at + 1;
    size_t dl = strlen(domain);
    if (dl < 3 || !strchr(domain, '.') || domain[0] == '.' || domain[dl - 1] == '.' ||
        strstr(domain, ".."))
        return false;
    return true;
}

static bool has_outer_space(const char *s)
{
    size_t n = strlen(s);
    return n && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]));
}

bool cs_validate_register(const bson_t *body, cs_register_cmd_t *out, hl_error_t *err)
{
    static const hl_json_field_t fields[] = {
        {"email", HL_JSON_STRING, true, 3, CS_EMAIL_MAX, 0},
        {"password", HL_JSON_STRING, true, CS_PASSWORD_MIN, CS_PASSWORD_MAX, 0},
        {"display_name", HL_JSON_STRING, true, 1, CS_DISPLAY_NAME_MAX, 0},
    };
    if (!hl_json_check(body, fields, sizeof fields / sizeof fields[0], err))
        return false;
    out->email = hl_json_get_string(body, "email", NULL);
    out->password = hl_json_get_string(body, "password", NULL);
    out->display_name = hl_json_get_string(body, "display_name", NULL);
    if (!cs_email_plausible(out->email))
        return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                                   "field \"email\" is not a valid e-mail address");
    if (has_outer_space(out->display_name))
        return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                                   "field \"display_name\" must not start or end with whitespace");
    return true;
}

static bool invalid(hl_error_t *err, const char *field, const char *what)
{
    return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed", "field \"%s\" %s",
                               field, what);
}

bool cs_validate_login(const bson_t *body, cs_login_cmd_t *out, hl_error_t *err)
{
    static const hl_json_field_t fields[] = {
        {"email", HL_JSON_STRING, true, 1, CS_EMAIL_MAX, 0},
        {"password", HL_JSON_STRING, true, 1, CS_PASSWORD_MAX, 0},
    };
    if (!hl_json_check(body, fields, sizeof fields / sizeof fields[0], err))
        return false;
    out->email = hl_json_get_string(body, "email", NULL);
    out->password = hl_json_get_string(body, "password", NULL);
    return true;
}

bool cs_validate_profile(const bson_t *body, cs_profile_cmd_t *out, hl_error_t *err)
{
    static const hl_json_field_t fields[] = {
        {"display_name", HL_JSON_STRING, false, 1, CS_DISPLAY_NAME_MAX, 0},
        {"bio", HL_JSON_STRING, false, 0, CS_BIO_MAX, 0},
        {"avatar_url", HL_JSON_STRING, false, 0, CS_AVATAR_URL_MAX, 0},
    };
    if (!hl_json_check(body, fields, sizeof fields / sizeof fields[0], err))
        return false;
    out->display_name = hl_json_get_string(body, "display_name", NULL);
    out->bio = hl_json_get_string(body, "bio", NULL);
    out->avatar_url = hl_json_get_string(body, "avatar_url", NULL);
    if (!out->display_name && !out->bio && !out->avatar_url)
        return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                                   "name at least one of display_name, bio, avatar_url");
    if (out->display_name && has_outer_space(out->display_name))
        return invalid(err, "display_name", "must not start or end with whitespace");
    if (out->avatar_url && out->avatar_url[0] && strncmp(out->avatar_url, "https://", 8) &&
        strncmp(out->avatar_url, "http://", 7))
        return invalid(err, "avatar_url", "must be an http or https URL");
    if (out->avatar_url)
        for (const unsigned char *p = (const unsigned char *)out->avatar_url; *p; p++)
            if (*p <= 0x20 || *p == 0x7f)
                return invalid(err, "avatar_url", "must not contain spaces or control bytes");
    return true;
}

bool cs_validate_presence(const bson_t *body, const char **status, hl_error_t *err)
{
    static const hl_json_field_t fields[] = {{"status", HL_JSON_STRING, true, 1, 16, 0}};
    if (!hl_json_check(body, fields, 1, err))
        return false;
    *status = hl_json_get_string(body, "status", NULL);
    if (strcmp(*status, "online") && strcmp(*status, "away") && strcmp(*status, "offline"))
        return invalid(err, "status", "must be one of online, away, offline");
    return true;
}

bool cs_validate_user_ref(const bson_t *body, const char *field, const char **id, hl_error_t *err)
{
    hl_json_field_t fields[] = {{field, HL_JSON_STRING, true, 36, 36, 0}};
    if (!hl_json_check(body, fields, 1, err))
        return false;
    *id = hl_json_get_string(body, field, NULL);
    if (!hl_uuid_valid(*id))
        return invalid(err, field, "must be a UUID");
    return true;
}

bool cs_validate_room(const bson_t *body, cs_room_cmd_t *out, hl_error_t *err)
{
    static const hl_json_field_t fields[] = {
        {"member_ids", HL_JSON_STRING_ARRAY, true, 1, 49, 36},
        {"title", HL_JSON_STRING, false, 1, CS_ROOM_TITLE_MAX, 0},
    };
    if (!hl_json_check(body, fields, sizeof fields / sizeof fields[0], err))
        return false;
    out->n = 0;
    out->title = hl_json_get_string(body, "title", NULL);
    if (out->title && has_outer_space(out->title))
        return invalid(err, "title", "must not start or end with whitespace");
    bson_iter_t it, child;
    if (!bson_iter_init_find(&it, body, "member_ids") || !bson_iter_recurse(&it, &child))
        return invalid(err, "member_ids", "must be an array of user ids");
    while (bson_iter_next(&child) && out->n < sizeof out->ids / sizeof out->ids[0]) {
        const char *id = bson_iter_utf8(&child, NULL);
        if (!id || !hl_uuid_valid(id))
            return invalid(err, "member_ids", "must hold UUIDs only");
        out->ids[out->n++] = id;
    }
    return true;
}

bool cs_validate_message(const bson_t *body, cs_message_cmd_t *out, hl_error_t *err)
{
    static const hl_json_field_t fields[] = {
        {"body", HL_JSON_STRING, true, 1, CS_MESSAGE_MAX, 0},
        {"client_message_id", HL_JSON_STRING, true, 1, CS_CLIENT_MESSAGE_ID_MAX, 0},
    };
    if (!hl_json_check(body, fields, sizeof fields / sizeof fields[0], err))
        return false;
    out->body = hl_json_get_string(body, "body", NULL);
    out->client_message_id = hl_json_get_string(body, "client_message_id", NULL);
    bool blank = true;
    for (const unsigned char *p = (const unsigned char *)out->body; *p && blank; p++)
        blank = isspace(*p) != 0;
    if (blank)
        return invalid(err, "body", "must not be blank");
    return true;
}

bool cs_validate_mark_read(const bson_t *body, int64_t *up_to_seq, hl_error_t *err)
{
    static const hl_json_field_t fields[] = {
        {"up_to_seq", HL_JSON_INT, true, 0, 9007199254740992LL, 0}};
    if (!hl_json_check(body, fields, 1, err))
        return false;
    bson_iter_t it;
    if (!bson_iter_init_find(&it, body, "up_to_seq"))
        return invalid(err, "up_to_seq", "is required");
    *up_to_seq = bson_iter_as_int64(&it);
    return true;
}

bool cs_validate_notifications(const bson_t *body, cs_notifications_cmd_t *out, hl_error_t *err)
{
    static const hl_json_field_t fields[] = {
        {"notification_ids", HL_JSON_STRING_ARRAY, false, 1, CS_NOTIFICATION_IDS_MAX,
         CS_NOTIFICATION_ID_MAX},
        {"all", HL_JSON_BOOL, false, 0, 0, 0},
    };
    if (!hl_json_check(body, fields, sizeof fields / sizeof fields[0], err))
        return false;
    out->n = 0;
    out->all = false;
    bson_iter_t it, child;
    bool has_all = bson_iter_init_find(&it, body, "all");
    if (has_all)
        out->all = bson_iter_as_bool(&it);
    bool has_ids = bson_iter_init_find(&it, body, "notification_ids");
    if (has_all == has_ids)
        return hl_error_set_reason(err, HL_ERR_INPUT, 422, "validation-failed",
                                   "give exactly one of notification_ids and all");
    if (has_all && !out->all)
        return invalid(err, "all", "must be true when given");
    if (has_ids) {
        if (!bson_iter_recurse(&it, &child))
            return invalid(err, "notification_ids", "must be an array of strings");
        while (bson_iter_next(&child) && out->n < CS_NOTIFICATION_IDS_MAX) {
            uint32_t len = 0;
            const char *id = bson_iter_utf8(&child, &len);
            if (!id || len == 0)
                return invalid(err, "notification_ids", "must hold non-empty strings");
            out->ids[out->n++] = id;
        }
    }
    return true;
}
