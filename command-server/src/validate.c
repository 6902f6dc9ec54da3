#include "validate.h"

#include "hl/json.h"

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
