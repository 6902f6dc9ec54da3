/* identity.h: identity context commands (identity.c, SPEC §2): register, log in, log out, update
 * the profile, set presence. Route handlers for hl/http.h; each runs the cmd.h pipeline, and
 * schemas/openapi/command-api.yaml describes their requests and answers. */
#ifndef CS_IDENTITY_H
#define CS_IDENTITY_H

#include "hl/http.h"

void cs_handle_register(hl_http_request_t *req);       /* POST /v1/users */
void cs_handle_login(hl_http_request_t *req);          /* POST /v1/sessions */
void cs_handle_logout(hl_http_request_t *req);         /* DELETE /v1/sessions/current */
void cs_handle_update_profile(hl_http_request_t *req); /* PATCH /v1/users/me */
void cs_handle_set_presence(hl_http_request_t *req);   /* PUT /v1/users/me/presence */

#endif
