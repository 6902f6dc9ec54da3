/* counselling.h: counsellor commands (counselling.c, SPEC §9): register and update a counsellor
 * profile, verify a counsellor (operators), publish and withdraw slots. Route handlers for
 * hl/http.h; each runs the cmd.h pipeline, and schemas/openapi/command-api.yaml describes their
 * requests and answers. */
#ifndef CS_COUNSELLING_H
#define CS_COUNSELLING_H

#include "hl/http.h"

void cs_handle_register_counsellor(hl_http_request_t *req); /* POST /v1/counsellors */
void cs_handle_update_counsellor(hl_http_request_t *req);   /* PATCH /v1/counsellors/me */
void cs_handle_verify_counsellor(hl_http_request_t *req);   /* POST /v1/counsellors/{id}/verify */
void cs_handle_publish_slots(hl_http_request_t *req);       /* POST /v1/counsellors/me/slots */
/* DELETE /v1/counsellors/me/slots/{slot_id} */
void cs_handle_withdraw_slot(hl_http_request_t *req);

#endif
