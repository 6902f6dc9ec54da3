/* indexes.h: the read models' secondary indexes (for analysts on MongoDB; docs/read-models.md),
 * created idempotently at start and on a rebuild's shadow collection. */
#ifndef PJ_INDEXES_H
#define PJ_INDEXES_H

#include "projector.h"

#include "hl/error.h"

/* Create the read-model indexes (idempotent) on every model's physical collection. */
bool pj_ensure_indexes(pj_ctx_t *ctx, hl_error_t *err);

/* Create the indexes of logical model on collection (idempotent). */
bool pj_ensure_model_indexes(pj_ctx_t *ctx, const char *model, const char *collection,
                             hl_error_t *err);

#endif
