/* model_parts.h: pieces several read models' plans share: the zero-padded integers inside
 * _ids (every list a reader asks for is one _id range or _id list: FerretDB reaches only _id
 * through an index), the end of a notification upsert, and message previews. No I/O. */
#ifndef PJ_MODEL_PARTS_H
#define PJ_MODEL_PARTS_H

#include "plan.h"

#include <bson/bson.h>
#include <stddef.h>
#include <stdint.h>

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
