#include "hl/kafka.h"

#include "hl/log.h"
#include "hl/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    hl_log_level_t l = level <= 3   ? HL_LOG_ERROR
                       : level <= 4 ? HL_LOG_WARN
                       : level <= 6 ? HL_LOG_INFO
                                    : HL_LOG_DEBUG;
    hl_log(l, "rdkafka[%s] %s: %s", rk ? rd_kafka_name(rk) : "-", fac, buf);
}

bool hl_kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value, hl_error_t *err)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        return hl_error_set(err, HL_ERR_KAFKA, 0, "kafka config %s: %s", key, errstr);
    return true;
}

rd_kafka_conf_t *hl_kafka_conf_new(const char *brokers, const char *client_id, hl_error_t *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!hl_kafka_set(conf, "bootstrap.servers", brokers, err) ||
        !hl_kafka_set(conf, "client.id", client_id, err)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    return conf;
}

bool hl_kafka_set_overrides(rd_kafka_conf_t *conf, const char *overrides, hl_error_t *err)
{
    if (!overrides || !*overrides)
        return true;
    char *buf = hl_xstrdup(overrides);
    bool ok = true;
    /* A segment "k=v" starts a property; a segment without '=' continues the value before it,
     * comma included, so list-valued properties (debug=cgrp,fetch) survive the split. */
    const char *key = NULL;
    const char *value = NULL;
    for (char *seg = buf; ok && seg;) {
        char *comma = strchr(seg, ',');
        char *eq = memchr(seg, '=', comma ? (size_t)(comma - seg) : strlen(seg));
        if (eq) {
            if (seg != buf)
                seg[-1] = '\0'; /* ends the value before this property */
            if (key)
                ok = hl_kafka_set(conf, key, value, err);
            *eq = '\0';
            key = seg;
            value = eq + 1;
            if (ok && !*key)
                ok = hl_error_set(err, HL_ERR_CONFIG, 0, "kafka override \"=%.*s\" lacks a key",
                                  comma ? (int)(comma - value) : (int)strlen(value), value);
        } else if (!key) {
            ok = hl_error_set(err, HL_ERR_CONFIG, 0, "kafka override \"%.*s\" lacks '='",
                              comma ? (int)(comma - seg) : (int)strlen(seg), seg);
        }
        seg = comma ? comma + 1 : NULL;
    }
    if (ok && key)
        ok = hl_kafka_set(conf, key, value, err);
    free(buf);
    return ok;
}

bool hl_kafka_header(const rd_kafka_message_t *msg, const char *name, char *out, size_t cap)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t size = 0;
    if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR || !val)
        return false;
    if (size >= cap)
        size = cap - 1;
    memcpy(out, val, size);
    out[size] = '\0';
    return true;
}
