/* model_parts.c: pieces several read models' plans share (model_parts.h). */
#include "model_parts.h"

#include <stdio.h>
#include <string.h>

void pj_seq_key(int64_t n, char *out, size_t cap)
{
    snprintf(out, cap, "%0*lld", PJ_SEQ_DIGITS, (long long)n);
}

void pj_preview(const char *body, size_t max_bytes, char *out, size_t cap)
{
    size_t n = strlen(body);
    if (n > max_bytes)
        n = max_bytes;
    if (n >= cap)
        n = cap - 1;
    /* step back over continuation bytes so a multi-byte character is never cut */
    if (body[n] != '\0')
        while (n > 0 && ((unsigned char)body[n] & 0xC0) == 0x80)
            n--;
    memcpy(out, body, n);
    out[n] = '\0';
}

/* End the notification op begun by notification_begin with its read state: $setOnInsert {read:
 * false, read_at: null}, and the notification recorded in the plan (pj_plan_unread) for the
 * executor. A read of every notification (NotificationsRead {all}) at time t covers those
 * created at or before t; its update only reaches the notifications that exist when it is
 * applied, perhaps by another projector process (another topic and partition). So once the
 * creation is acknowledged the executor reads the recipient's marks from notification_reads and,
 * for the earliest mark t covering the notification, runs update {_id, read: false} $set {read:
 * true, read_at: t} and update {_id, read_at > t} $set {read_at: t} (store.c): read_at is the
 * earliest read covering it in any arrival order, as when the notification was there first. */
void pj_notification_end(pj_plan_t *plan, pj_op_t *op, bson_t *set, const char *id,
                         const char *recipient, int64_t created_ms)
{
    bson_append_document_end(&op->update, set);
    bson_t soi;
    BSON_APPEND_DOCUMENT_BEGIN(&op->update, "$setOnInsert", &soi);
    BSON_APPEND_BOOL(&soi, "read", false);
    BSON_APPEND_NULL(&soi, "read_at");
    bson_append_document_end(&op->update, &soi);
    pj_plan_unread(plan, id, recipient, created_ms);
}
