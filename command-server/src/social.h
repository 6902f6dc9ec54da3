/* social.h: social context commands (social.c, SPEC §2) and the facts about a pair of users that
 * the social and direct-room invariants (rules.h) are checked on.
 *
 * Every invariant on a pair of users is checked under a transaction-scoped advisory lock on that
 * pair (cs_lock_pair), so two concurrent commands on one pair see each other's effects; chat.c
 * takes the same lock for direct rooms. Route handlers for hl/http.h; each runs the cmd.h
 * pipeline, and schemas/openapi/command-api.yaml describes their requests and answers. */
#ifndef CS_SOCIAL_H
#define CS_SOCIAL_H

#include "cmd.h"
#include "rules.h"

#include "hl/error.h"
#include "hl/http.h"

#include <stdbool.h>

/* Queue a transaction-scoped advisory lock on the unordered pair of user ids (a, b) on cmd's
 * transaction, so social invariants (friendship, requests, blocks, direct rooms) are checked and
 * changed atomically; it is taken at the next flush. Errors: HL_ERR_INPUT 422 validation-failed
 * when a or b is not a UUID; those of cs_sql_queue. */
bool cs_lock_pair(cs_cmd_t *cmd, const char *a, const char *b, hl_error_t *err);

/* Facts about (the caller, target user id) for rules.h, read in one statement (a round trip,
 * with whatever was queued before); take cs_lock_pair first so they stay true until commit.
 * facts: the caller's, filled on success. Errors: those of cs_sql. */
bool cs_load_pair_facts(cs_cmd_t *cmd, const char *target, cs_pair_facts_t *facts, hl_error_t *err);

void cs_handle_friend_request(hl_http_request_t *req); /* POST /v1/friend-requests */
void cs_handle_accept_request(hl_http_request_t *req); /* POST /v1/friend-requests/{id}/accept */
void cs_handle_reject_request(hl_http_request_t *req); /* POST /v1/friend-requests/{id}/reject */
void cs_handle_delete_friend(hl_http_request_t *req);  /* DELETE /v1/friends/{user_id} */
void cs_handle_block(hl_http_request_t *req);          /* POST /v1/blocks */
void cs_handle_unblock(hl_http_request_t *req);        /* DELETE /v1/blocks/{user_id} */

#endif
