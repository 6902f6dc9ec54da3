/* plan_exec.h: running plans (plan.h) against MongoDB: ordered bulk writes per physical
 * collection, then the watermarks; and the logical → physical collection names they write
 * (read-model aliases, hl/aliases.h, or a rebuild's shadow collection). */
#ifndef PJ_PLAN_EXEC_H
#define PJ_PLAN_EXEC_H

#include "plan.h"
#include "projector.h"

#include "hl/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Run plans (plan_exec.c), a poll batch of inputs in input order: per physical collection, every
 * operation of the plans on it in plan order (operations never read another collection, so only
 * the per-collection order matters), as unordered bulk writes in which no _id occurs twice, one
 * statement per operation; when one of those meets a write error (a guard that did not match),
 * the collection's operations again as ordered bulk writes; then the watermarks, each key once
 * at its highest version of the batch (not in rebuild mode). With ctx->write_pool, up to
 * cfg.writers collections are written at the same time, each by one thread on its own pooled
 * client; otherwise one after the other on ctx->db. A failed bulk is re-run one operation at a
 * time (all idempotent). Then, once those are acknowledged, the operations marked `after`
 * (plan.h), and the read state of the notifications the plans created (pj_unread_t: the
 * recipients' read-all marks read from notification_reads). Returns only after MongoDB
 * acknowledged every write of every collection. Errors: HL_ERR_MONGO (retry the whole batch). */
bool pj_plans_execute(pj_ctx_t *ctx, const pj_plan_t *const *plans, size_t nplans, hl_error_t *err);

/* pj_plans_execute for one plan. *applied is true when any operation ran (in rebuild mode,
 * one on the rebuilt model). */
bool pj_plan_execute(pj_ctx_t *ctx, const pj_plan_t *plan, bool *applied, hl_error_t *err);

/* The physical collection of logical read model: the rebuild's shadow collection for the model
 * being rebuilt, else its alias (hl_alias_lookup), else the name itself. Borrowed pointer, into
 * ctx or model. */
const char *pj_physical(const pj_ctx_t *ctx, const char *model);

/* Reload read_model_aliases (hl_alias_table_load) when older than max_age_ms (0 = always). On
 * failure (HL_ERR_MONGO) the previous table stays in use. */
bool pj_aliases_refresh(pj_ctx_t *ctx, int64_t max_age_ms, hl_error_t *err);

#endif
