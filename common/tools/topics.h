/* topics.h: the declared Kafka topics (deploy/topics.conf) as data. No I/O but reading text.
 *
 * One topic a line: "<name> <partitions> <retention.ms> <cleanup.policy> [# comment]"; blank
 * lines and lines starting with '#' are ignored. Names follow Kafka's rule (1-249 of
 * [A-Za-z0-9._-], not "." or ".."); partitions 1-10000; retention.ms -1 or 0-2^63; cleanup.policy
 * delete, compact or compact,delete. */
#ifndef HL_TOPICS_H
#define HL_TOPICS_H

#include "hl/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HL_TOPICS_MAX 256

typedef struct {
    char name[250];
    int partitions;
    int64_t retention_ms;
    char cleanup_policy[16];
} hl_topic_decl_t;

typedef struct {
    hl_topic_decl_t topics[HL_TOPICS_MAX];
    size_t n;
} hl_topic_list_t;

/* Parse text[len] (not NUL-terminated) into out. Errors (HL_ERR_INPUT, message naming the line):
 * a malformed line, a value out of bounds, a name declared twice, more than HL_TOPICS_MAX. */
bool hl_topics_parse(const char *text, size_t len, hl_topic_list_t *out, hl_error_t *err);

/* The declaration of name in list, or NULL. */
const hl_topic_decl_t *hl_topics_find(const hl_topic_list_t *list, const char *name);

#endif
