/* libFuzzer target: the command server's body decoders (command-server/src/validate.c). Byte 0
 * selects the command (register, login, profile, presence, user ref, room, message, mark-read,
 * notifications), the rest is the HTTP body: hl_json_parse_object, then the validator. Every
 * outcome must be a clean refusal or a command whose strings are NUL-terminated UTF-8. */
#include "fuzz_util.h"

#include "hl/json.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t which = data[0] % 9;
    hl_error_t err = {0};
    bson_t body;
    if (!hl_json_parse_object((const char *)data + 1, size - 1, &body, &err))
        return 0;
    size_t total = 0;
    switch (which) {
    case 0: {
        cs_register_cmd_t c;
        if (cs_validate_register(&body, &c, &err))
            total += strlen(c.email) + strlen(c.password) + strlen(c.display_name);
        break;
    }
    case 1: {
        cs_login_cmd_t c;
        if (cs_validate_login(&body, &c, &err))
            total += strlen(c.email) + strlen(c.password);
        break;
    }
    case 2: {
        cs_profile_cmd_t c;
        if (cs_validate_profile(&body, &c, &err))
            total += (c.display_name ? strlen(c.display_name) : 0) + (c.bio ? strlen(c.bio) : 0) +
                     (c.avatar_url ? strlen(c.avatar_url) : 0);
        break;
    }
    case 3: {
        const char *status = NULL;
        if (cs_validate_presence(&body, &status, &err))
            total += strlen(status);
        break;
    }
    case 4: {
        const char *id = NULL;
        if (cs_validate_user_ref(&body, "to_user_id", &id, &err))
            total += strlen(id);
        break;
    }
    case 5: {
        cs_room_cmd_t c;
        if (cs_validate_room(&body, &c, &err))
            for (size_t i = 0; i < c.n; i++)
                total += strlen(c.ids[i]);
        break;
    }
    case 6: {
        cs_message_cmd_t c;
        if (cs_validate_message(&body, &c, &err))
            total += strlen(c.body) + strlen(c.client_message_id);
        break;
    }
    case 7: {
        int64_t up_to = 0;
        cs_validate_mark_read(&body, &up_to, &err);
        break;
    }
    default: {
        cs_notifications_cmd_t c;
        if (cs_validate_notifications(&body, &c, &err))
            for (size_t i = 0; i < c.n; i++)
                total += strlen(c.ids[i]);
        break;
    }
    }
    (void)total;
    bson_destroy(&body);
    return 0;
}
