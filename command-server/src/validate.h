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
#include <stddef.h>
#include <stdint.h>

#define CS_EMAIL_MAX        254
#define CS_PASSWORD_MIN     8
#define CS_PASSWORD_MAX     128
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

#define CS_BIO_MAX               500
#define CS_AVATAR_URL_MAX        2048
#define CS_ROOM_TITLE_MAX        100
#define CS_MESSAGE_MAX           4000
#define CS_CLIENT_MESSAGE_ID_MAX 64
#define CS_NOTIFICATION_IDS_MAX  100
#define CS_NOTIFICATION_ID_MAX   200

/* POST /v1/sessions body: {email, password}, both required strings (email 1..254, password
 * 1..128 characters). Pointers into body. */
typedef struct {
    const char *email;
    const char *password;
} cs_login_cmd_t;
bool cs_validate_login(const bson_t *body, cs_login_cmd_t *out, hl_error_t *err);

/* PATCH /v1/users/me body: {display_name?, bio?, avatar_url?}, at least one; display_name
 * 1..64 without outer whitespace, bio 0..500, avatar_url 0..2048 characters and, when not
 * empty, an http(s) URL. Absent fields are NULL. */
typedef struct {
    const char *display_name;
    const char *bio;
    const char *avatar_url;
} cs_profile_cmd_t;
bool cs_validate_profile(const bson_t *body, cs_profile_cmd_t *out, hl_error_t *err);

/* PUT /v1/users/me/presence body: {status}, one of online, away, offline. */
bool cs_validate_presence(const bson_t *body, const char **status, hl_error_t *err);

/* A body with exactly one required canonical UUID string field named field (POST
 * /v1/friend-requests {to_user_id}, POST /v1/blocks {user_id}). *id points into body. */
bool cs_validate_user_ref(const bson_t *body, const char *field, const char **id, hl_error_t *err);

/* POST /v1/chat-rooms body: {member_ids: [uuid, ...] (1..49), title? (1..100 characters)}.
 * ids: caller's array of at least 49 pointers into body; *n gets the count. */
typedef struct {
    const char *ids[64];
    size_t n;
    const char *title; /* NULL when absent */
} cs_room_cmd_t;
bool cs_validate_room(const bson_t *body, cs_room_cmd_t *out, hl_error_t *err);

/* POST /v1/chat-rooms/{id}/messages body: {body (1..4000 characters, not only whitespace),
 * client_message_id (1..64 characters)}. */
typedef struct {
    const char *body;
    const char *client_message_id;
} cs_message_cmd_t;
bool cs_validate_message(const bson_t *body, cs_message_cmd_t *out, hl_error_t *err);

/* POST /v1/chat-rooms/{id}/read body: {up_to_seq: integer 0..2^53}. */
bool cs_validate_mark_read(const bson_t *body, int64_t *up_to_seq, hl_error_t *err);

/* POST /v1/notifications/read body: exactly one of {notification_ids: [string 1..200
 * characters] (1..100 items)} or {all: true}. ids: caller's array of
 * CS_NOTIFICATION_IDS_MAX pointers into body. */
typedef struct {
    const char *ids[CS_NOTIFICATION_IDS_MAX];
    size_t n;
    bool all;
} cs_notifications_cmd_t;
bool cs_validate_notifications(const bson_t *body, cs_notifications_cmd_t *out, hl_error_t *err);

#endif
