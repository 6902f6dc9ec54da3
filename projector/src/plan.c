#include "plan.h"

#include "hl/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pj_plan_init(pj_plan_t *plan)
{
    memset(plan, 0, sizeof *plan);
}

void pj_plan_destroy(pj_plan_t *plan)
{
    if (!plan)
        return;
    for (size_t i = 0; i < plan->n; i++) {
        bson_destroy(&plan->ops[i]->filter);
        bson_destroy(&plan->ops[i]->update);
        bson_free(plan->ops[i]);
    }
    free(plan->ops);
    free(plan->unread);
    memset(plan, 0, sizeof *plan);
}

pj_op_t *pj_plan_add(pj_plan_t *plan, pj_op_kind_t kind, const char *model)
{
    if (plan->n == plan->cap) {
        size_t cap = plan->cap ? plan->cap * 2 : 8;
        pj_op_t **ops = hl_xrealloc(plan->ops, cap * sizeof *ops);
        plan->ops = ops;
        plan->cap = cap;
    }
    /* bson_t is declared 128-byte aligned: malloc's 16 bytes are not enough (UBSan, fuzzing);
     * bson_aligned_alloc0 aborts on out-of-memory like the rest of libbson */
    pj_op_t *op = bson_aligned_alloc0(BSON_ALIGNOF(pj_op_t), sizeof *op);
    plan->ops[plan->n++] = op;
    op->kind = kind;
    snprintf(op->model, sizeof op->model, "%s", model);
    bson_init(&op->filter);
    bson_init(&op->update);
    return op;
}

void pj_plan_unread(pj_plan_t *plan, const char *id, const char *user, int64_t created_ms)
{
    if (plan->nunread == plan->unread_cap) {
        size_t cap = plan->unread_cap ? plan->unread_cap * 2 : 4;
        plan->unread = hl_xrealloc(plan->unread, cap * sizeof *plan->unread);
        plan->unread_cap = cap;
    }
    pj_unread_t *u = &plan->unread[plan->nunread++];
    snprintf(u->id, sizeof u->id, "%s", id);
    snprintf(u->user, sizeof u->user, "%s", user);
    u->created_ms = created_ms;
}

void pj_plan_watermark(pj_plan_t *plan, const char *input, const char *key, int64_t version)
{
    snprintf(plan->wm_input, sizeof plan->wm_input, "%s", input);
    snprintf(plan->wm_key, sizeof plan->wm_key, "%s", key);
    plan->wm_version = version;
}

void pj_guard_older(bson_t *filter, const char *field, int64_t position)
{
    bson_t or, a, b, cond;
    BSON_APPEND_ARRAY_BEGIN(filter, "$or", & or);
    BSON_APPEND_DOCUMENT_BEGIN(& or, "0", &a);
    BSON_APPEND_DOCUMENT_BEGIN(&a, field, &cond);
    BSON_APPEND_BOOL(&cond, "$exists", false);
    bson_append_document_end(&a, &cond);
    bson_append_document_end(& or, &a);
    BSON_APPEND_DOCUMENT_BEGIN(& or, "1", &b);
    BSON_APPEND_DOCUMENT_BEGIN(&b, field, &cond);
    BSON_APPEND_INT64(&cond, "$lt", position);
    bson_append_document_end(&b, &cond);
    bson_append_document_end(& or, &b);
    bson_append_array_end(filter, & or);
}
