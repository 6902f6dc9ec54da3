/* models.h: every read model's mapping from its input to a plan (plan.h). No I/O.
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
 * Event read models: friends, friend_requests, friend_requests_by_user, user_counters, inbox,
 * notifications, daily_stats (one document per day and aggregate, guarded by the aggregate
 * version), daily_active_users. Watermark:
 * "ev.<aggregate type>:<aggregate id>" (hl_event_watermark_input) with aggregate_version.
 *
 * Every list a reader asks for is one _id range or _id list (FerretDB reaches only _id through an
 * index): messages "<room>:<seq>", inbox "<user>:<room>", friends "<user>:<friend>",
 * room_members "<room>:<user>", notifications "<user>:<occurred µs>:<event id>",
 * friend_requests_by_user "<user>:in|out:<request>"; integers in keys are PJ_SEQ_DIGITS
 * zero-padded decimal digits. */
#ifndef PJ_MODELS_H
#define PJ_MODELS_H

#include "cdc.h"
#include "plan.h"

#include "hl/error.h"

#include <avro.h>

/* Logical read models, NULL-terminated: every name `projector rebuild` accepts. */
extern const char *const pj_cdc_models[];
extern const char *const pj_event_models[];

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

/* Plan the writes of one decoded domain event (record: the event record; event_type: its Avro
 * record name). Event types no read model consumes only set the watermark. Errors
 * (HL_ERR_AVRO / HL_ERR_INPUT, reason "bad-event"): a field missing or ill-typed. */
bool pj_event_plan(const char *event_type, avro_value_t *record, pj_plan_t *plan, hl_error_t *err);

/* End a notification upsert op on "notifications" whose "$set" document set (begun by the
 * caller on op->update, holding the content) is still open: closes it and adds the read state,
 * the same for every kind of notification (docs/read-models.md, notifications):
 * $setOnInsert {read: false, read_at: null}, and the notification (id, recipient, created_ms in
 * ms since the epoch) recorded in the plan (pj_plan_unread) so that the executor applies the
 * recipient's read-all marks from the store once the insert is acknowledged. Ops are added to
 * plan (owned by it). */
void pj_notification_end(pj_plan_t *plan, pj_op_t *op, bson_t *set, const char *id,
                         const char *recipient, int64_t created_ms);

/* Digits of an integer inside an _id: 19, every non-negative int64, so that the byte order of
 * the keys is the numeric order. */
#define PJ_SEQ_DIGITS 19

/* n (>= 0; a message seq, a time in µs) as PJ_SEQ_DIGITS zero-padded decimal digits into
 * out[cap] (cap >= PJ_SEQ_DIGITS + 1, else truncated). */
void pj_seq_key(int64_t n, char *out, size_t cap);

/* Preview of a message body for notifications: at most max_bytes bytes of body, cut at a UTF-8
 * character boundary, into out[cap]. */
void pj_preview(const char *body, size_t max_bytes, char *out, size_t cap);

#endif
