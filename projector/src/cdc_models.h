/* cdc_models.h: the CDC read models' mappings from a Debezium change (cdc.h) to a plan
 * (plan.h). No I/O.
 *
 * CDC read models (docs/read-models.md):
 *   users → user_profiles and user_names, sessions → sessions, chat_rooms → chat_rooms,
 *   room_members → room_members, messages → messages
 * Each document is guarded by the row's aggregate version (users/sessions/chat_rooms.version,
 * room_members/messages.room_version): the upsert filter only matches an older document, so a
 * repeated or older change is skipped (E11000 on the upsert). A delete ('d') trusts only the key
 * columns and removes the document (the key's partition is ordered, so nothing older follows).
 * Watermark: "cdc.<table>:<aggregate id>" with that version.
 *
 * user_names (the display-name search index, one document per current name and user, _id
 * hl_user_name_key "<display_name_lower>\x1f<user_id>"): a users change upserts the key of the
 * after image's name guarded by users.version ({user_id, display_name_lower, version, source});
 * an update whose before image (REPLICA IDENTITY FULL) names another name deletes that name's
 * key where its version is older than the change's; a delete removes every key of the user
 * (delete_many by user_id: all a default-identity delete carries). A key an update without
 * before image leaves behind is stale: readers compare it with user_profiles.
 *
 * Keys: see model_parts.h. */
#ifndef PJ_CDC_MODELS_H
#define PJ_CDC_MODELS_H

#include "cdc.h"
#include "plan.h"

#include "hl/error.h"

/* Logical read models, NULL-terminated: every name `projector rebuild` accepts (with
 * pj_event_models). */
extern const char *const pj_cdc_models[];

/* The (first) read model fed by CDC table (e.g. "sessions"), or NULL when the table is not
 * captured. users feeds user_profiles and user_names: use pj_cdc_feeds to ask about a model. */
const char *pj_cdc_model_of(const char *table);

/* Whether CDC table (the part after "cdc.public.") feeds the logical read model model. */
bool pj_cdc_feeds(const char *table, const char *model);

/* Plan the writes of change c of table (the part after "cdc.public."). Errors (HL_ERR_INPUT,
 * reason "bad-row"): a required column missing or ill-typed, a key column that is not a uuid
 * string (messages.seq: a non-negative integer); "unknown-table". plan must be
 * initialised; on failure it may hold partial operations (destroy it). */
bool pj_cdc_plan(const char *table, const pj_cdc_change_t *c, pj_plan_t *plan, hl_error_t *err);

#endif
