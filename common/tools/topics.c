#include "topics.h"

#include "hl/config.h"

#include <stdio.h>
#include <string.h>

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 249 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* The next whitespace-separated field of line[*pos..end) into out[cap]; false when none or too
 * long. */
static bool field(const char *line, size_t end, size_t *pos, char *out, size_t cap)
{
    size_t i = *pos;
    while (i < end && (line[i] == ' ' || line[i] == '\t'))
        i++;
    size_t start = i;
    while (i < end && line[i] != ' ' && line[i] != '\t')
        i++;
    *pos = i;
    if (i == start || i - start >= cap)
        return false;
    memcpy(out, line + start, i - start);
    out[i - start] = '\0';
    return true;
}

bool hl_topics_parse(const char *text, size_t len, hl_topic_list_t *out, hl_error_t *err)
{
    out->n = 0;
    size_t lineno = 0;
    for (size_t at = 0; at < len;) {
        size_t eol = at;
        while (eol < len && text[eol] != '\n')
            eol++;
        lineno++;
        size_t end = eol;
        for (size_t i = at; i < eol; i++)
            if (text[i] == '#') {
                end = i;
                break;
            }
        size_t pos = at;
        char name[260], parts[16], retention[24], policy[16], extra[8];
        if (!field(text, end, &pos, name, sizeof name)) {
            at = eol + 1;
            continue; /* blank or comment line */
        }
        long long np = 0, ret = 0;
        if (!field(text, end, &pos, parts, sizeof parts) ||
            !field(text, end, &pos, retention, sizeof retention) ||
            !field(text, end, &pos, policy, sizeof policy) ||
            field(text, end, &pos, extra, sizeof extra))
            return hl_error_set(err, HL_ERR_INPUT, 0,
                                "line %zu: want <name> <partitions> <retention.ms> "
                                "<cleanup.policy>",
                                lineno);
        if (!name_ok(name, strlen(name)))
            return hl_error_set(err, HL_ERR_INPUT, 0, "line %zu: %.40s is not a topic name", lineno,
                                name);
        if (!hl_parse_ll(parts, &np) || np < 1 || np > 10000)
            return hl_error_set(err, HL_ERR_INPUT, 0, "line %zu: partitions must be 1-10000",
                                lineno);
        if (!hl_parse_ll(retention, &ret) || ret < -1)
            return hl_error_set(err, HL_ERR_INPUT, 0, "line %zu: retention.ms must be -1 or >= 0",
                                lineno);
        if (strcmp(policy, "delete") != 0 && strcmp(policy, "compact") != 0 &&
            strcmp(policy, "compact,delete") != 0)
            return hl_error_set(err, HL_ERR_INPUT, 0,
                                "line %zu: cleanup.policy must be delete, compact or "
                                "compact,delete",
                                lineno);
        if (hl_topics_find(out, name))
            return hl_error_set(err, HL_ERR_INPUT, 0, "line %zu: %s is declared twice", lineno,
                                name);
        if (out->n == HL_TOPICS_MAX)
            return hl_error_set(err, HL_ERR_INPUT, 0, "more than %d topics", HL_TOPICS_MAX);
        hl_topic_decl_t *t = &out->topics[out->n++];
        snprintf(t->name, sizeof t->name, "%s", name);
        t->partitions = (int)np;
        t->retention_ms = ret;
        snprintf(t->cleanup_policy, sizeof t->cleanup_policy, "%s", policy);
        at = eol + 1;
    }
    return true;
}

const hl_topic_decl_t *hl_topics_find(const hl_topic_list_t *list, const char *name)
{
    for (size_t i = 0; i < list->n; i++)
        if (!strcmp(list->topics[i].name, name))
            return &list->topics[i];
    return NULL;
}
