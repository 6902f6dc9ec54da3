/* validate.h: pure validation of command inputs (no I/O), shared by handlers and unit tests.
 *
 * Each function checks a parsed JSON body (libbson document from hl_json_parse_object) against
 * the SPEC §2 contract and fills hl_error_t with HL_ERR_INPUT, the HTTP status (422) and a
 * reason slug on failure. */
#ifndef CS_VALIDATE_H
#define CS_VALIDATE_H

#include "hl/error.h"

#include <bson/bson.h>
#include <stdbool.h>

#define CS_EMAIL_MAX 254
#define CS_PASSWORD_MIN 8
#define CS_PASSWORD_MAX 128
#define CS_DISPLAY_NAME_MAX 64

/* A register command after validation: pointers into the document it came from. */
typedef struct {
    const char *email;
    const char *password;
    const char *display_name;
} cs_register_cmd_t;

/* True when email is a plausible address: one '@', non-empty local part of at most 64 bytes, a
 * domain with a dot and no empty labels, no whitespace or control characters. Not RFC 5321
 * complete: delivery is what proves an address. */
bool cs_email_plausible(const char *email);

/* POST /v1/users body: {email, password, display_name}, all required strings; email 3..254,
 * password 8..128, display_name 1..64 characters with no leading/trailing whitespace. */
bool cs_validate_register(const bson_t *body, cs_register_cmd_t *out, hl_error_t *err);

#endif
