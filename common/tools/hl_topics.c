/* hl-topics: create and check the Kafka topics declared in deploy/topics.conf (topics.h).
 *
 *   hl-topics [--brokers=H:P] [--file=deploy/topics.conf] [--timeout-ms=N] ensure
 *       create every missing topic with its partitions, retention.ms and cleanup.policy, and
 *       set retention.ms and cleanup.policy of existing ones; an existing topic with another
 *       partition count is an error (exit 1): partitions are never changed here.
 *   hl-topics ... check
 *       exit 0 when every declared topic exists with its partitions and configs, else print
 *       each difference and exit 1. Changes nothing.
 *
 * Environment: HL_KAFKA_BROKERS, HL_TOPICS_FILE (flags win). Uses librdkafka's Admin API
 * (CreateTopics, DescribeConfigs, AlterConfigs) with the broker's default replication factor.
 * Waits up to --timeout-ms (default 60000) for the broker to answer: it may just be starting. */
#include "topics.h"

#include "hl/config.h"
#include "hl/kafka.h"
#include "hl/log.h"
#include "hl/mem.h"
#include "hl/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *brokers;
    const char *file;
    long long timeout_ms;
} opts_t;

static bool read_file(const char *path, hl_topic_list_t *list, hl_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return hl_error_set(err, HL_ERR_SYSTEM, 0, "cannot open %s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    bool big = !feof(f);
    fclose(f);
    if (big)
        return hl_error_set(err, HL_ERR_INPUT, 0, "%s is larger than %zu bytes", path, sizeof buf);
    return hl_topics_parse(buf, n, list, err);
}

/* The event of type want from queue q (waiting up to timeout_ms), or NULL. Caller destroys. */
static rd_kafka_event_t *wait_event(rd_kafka_queue_t *q, rd_kafka_event_type_t want, int timeout_ms)
{
    int64_t deadline = hl_mono_ms() + timeout_ms;
    while (hl_mono_ms() < deadline) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
        if (!ev)
            continue;
        if (rd_kafka_event_type(ev) == want)
            return ev;
        rd_kafka_event_destroy(ev);
    }
    return NULL;
}

/* Partition counts of the broker's topics: *md (caller rd_kafka_metadata_destroy). */
static bool metadata(rd_kafka_t *rk, long long timeout_ms, const struct rd_kafka_metadata **md,
                     hl_error_t *err)
{
    int64_t deadline = hl_mono_ms() + timeout_ms;
    rd_kafka_resp_err_t kerr;
    do {
        kerr = rd_kafka_metadata(rk, 1, NULL, md, 5000);
        if (!kerr)
            return true;
    } while (hl_mono_ms() < deadline);
    return hl_error_set(err, HL_ERR_KAFKA, kerr, "metadata: %s", rd_kafka_err2str(kerr));
}

static int partitions_of(const struct rd_kafka_metadata *md, const char *topic)
{
    for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, topic) && !md->topics[i].err)
            return md->topics[i].partition_cnt;
    return 0;
}

static bool create_missing(rd_kafka_t *rk, rd_kafka_queue_t *q, const hl_topic_list_t *list,
                           const struct rd_kafka_metadata *md, int *created, hl_error_t *err)
{
    rd_kafka_NewTopic_t *nt[HL_TOPICS_MAX];
    size_t n = 0;
    char errstr[256], retention[24];
    for (size_t i = 0; i < list->n; i++) {
        const hl_topic_decl_t *t = &list->topics[i];
        if (partitions_of(md, t->name))
            continue;
        nt[n] = rd_kafka_NewTopic_new(t->name, t->partitions, -1, errstr, sizeof errstr);
        if (!nt[n]) {
            rd_kafka_NewTopic_destroy_array(nt, n);
            return hl_error_set(err, HL_ERR_KAFKA, 0, "topic %s: %s", t->name, errstr);
        }
        snprintf(retention, sizeof retention, "%lld", (long long)t->retention_ms);
        rd_kafka_NewTopic_set_config(nt[n], "retention.ms", retention);
        rd_kafka_NewTopic_set_config(nt[n], "cleanup.policy", t->cleanup_policy);
        n++;
    }
    *created = 0;
    if (!n)
        return true;
    rd_kafka_CreateTopics(rk, nt, n, NULL, q);
    rd_kafka_NewTopic_destroy_array(nt, n);
    rd_kafka_event_t *ev = wait_event(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, 30000);
    if (!ev)
        return hl_error_set(err, HL_ERR_KAFKA, 0, "CreateTopics: no answer in 30 s");
    bool ok = true;
    if (rd_kafka_event_error(ev)) {
        ok = hl_error_set(err, HL_ERR_KAFKA, rd_kafka_event_error(ev), "CreateTopics: %s",
                          rd_kafka_event_error_string(ev));
    } else {
        size_t cnt = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                ok = hl_error_set(err, HL_ERR_KAFKA, e, "create %s: %s",
                                  rd_kafka_topic_result_name(res[i]),
                                  rd_kafka_topic_result_error_string(res[i]));
                break;
            }
            if (!e) {
                (*created)++;
                printf("created %s\n", rd_kafka_topic_result_name(res[i]));
            }
        }
    }
    rd_kafka_event_destroy(ev);
    return ok;
}

/* Compare (and with fix, set) retention.ms and cleanup.policy of every declared topic that
 * exists. *diffs counts the topics that differed. */
static bool check_configs(rd_kafka_t *rk, rd_kafka_queue_t *q, const hl_topic_list_t *list,
                          bool fix, int *diffs, hl_error_t *err)
{
    rd_kafka_ConfigResource_t *res[HL_TOPICS_MAX];
    for (size_t i = 0; i < list->n; i++)
        res[i] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, list->topics[i].name);
    rd_kafka_DescribeConfigs(rk, res, list->n, NULL, q);
    rd_kafka_ConfigResource_destroy_array(res, list->n);
    rd_kafka_event_t *ev = wait_event(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, 30000);
    if (!ev)
        return hl_error_set(err, HL_ERR_KAFKA, 0, "DescribeConfigs: no answer in 30 s");
    if (rd_kafka_event_error(ev)) {
        hl_error_set(err, HL_ERR_KAFKA, rd_kafka_event_error(ev), "DescribeConfigs: %s",
                     rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return false;
    }
    size_t cnt = 0;
    const rd_kafka_ConfigResource_t **got =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &cnt);
    rd_kafka_ConfigResource_t *alter[HL_TOPICS_MAX];
    size_t nalter = 0;
    *diffs = 0;
    for (size_t i = 0; i < cnt; i++) {
        const hl_topic_decl_t *t = hl_topics_find(list, rd_kafka_ConfigResource_name(got[i]));
        if (!t || rd_kafka_ConfigResource_error(got[i]))
            continue; /* missing topics are reported by the partition check */
        size_t ne = 0;
        const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(got[i], &ne);
        char want_ret[24];
        snprintf(want_ret, sizeof want_ret, "%lld", (long long)t->retention_ms);
        bool same = true;
        for (size_t e = 0; e < ne; e++) {
            const char *k = rd_kafka_ConfigEntry_name(entries[e]);
            const char *v = rd_kafka_ConfigEntry_value(entries[e]);
            const char *want = !strcmp(k, "retention.ms")     ? want_ret
                               : !strcmp(k, "cleanup.policy") ? t->cleanup_policy
                                                              : NULL;
            if (want && (!v || strcmp(v, want) != 0)) {
                same = false;
                printf("%s: %s is %s, declared %s\n", t->name, k, v ? v : "(unset)", want);
            }
        }
        if (same)
            continue;
        (*diffs)++;
        if (fix) {
            alter[nalter] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, t->name);
            rd_kafka_ConfigResource_set_config(alter[nalter], "retention.ms", want_ret);
            rd_kafka_ConfigResource_set_config(alter[nalter], "cleanup.policy", t->cleanup_policy);
            nalter++;
        }
    }
    rd_kafka_event_destroy(ev);
    if (!nalter)
        return true;
    rd_kafka_AlterConfigs(rk, alter, nalter, NULL, q);
    rd_kafka_ConfigResource_destroy_array(alter, nalter);
    ev = wait_event(q, RD_KAFKA_EVENT_ALTERCONFIGS_RESULT, 30000);
    if (!ev)
        return hl_error_set(err, HL_ERR_KAFKA, 0, "AlterConfigs: no answer in 30 s");
    bool ok = true;
    if (rd_kafka_event_error(ev)) {
        ok = hl_error_set(err, HL_ERR_KAFKA, rd_kafka_event_error(ev), "AlterConfigs: %s",
                          rd_kafka_event_error_string(ev));
    } else {
        size_t n = 0;
        const rd_kafka_ConfigResource_t **done =
            rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
        for (size_t i = 0; i < n && ok; i++) {
            if (rd_kafka_ConfigResource_error(done[i]))
                ok = hl_error_set(err, HL_ERR_KAFKA, rd_kafka_ConfigResource_error(done[i]),
                                  "alter %s: %s", rd_kafka_ConfigResource_name(done[i]),
                                  rd_kafka_ConfigResource_error_string(done[i]));
            else
                printf("configured %s\n", rd_kafka_ConfigResource_name(done[i]));
        }
    }
    rd_kafka_event_destroy(ev);
    return ok;
}

static int run(const opts_t *o, bool fix)
{
    hl_error_t err = {0};
    hl_topic_list_t *list = hl_xcalloc(1, sizeof *list);
    rd_kafka_t *rk = NULL;
    rd_kafka_queue_t *q = NULL;
    const struct rd_kafka_metadata *md = NULL;
    int rc = 1, diffs = 0, created = 0;
    if (!list || !read_file(o->file, list, &err))
        goto done;
    rd_kafka_conf_t *conf = hl_kafka_conf_new(o->brokers, "hl-topics", &err);
    char errstr[256];
    if (!conf)
        goto done;
    if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr))) {
        rd_kafka_conf_destroy(conf);
        hl_error_set(&err, HL_ERR_KAFKA, 0, "%s", errstr);
        goto done;
    }
    q = rd_kafka_queue_new(rk);
    if (!metadata(rk, o->timeout_ms, &md, &err))
        goto done;
    if (fix) {
        if (!create_missing(rk, q, list, md, &created, &err))
            goto done;
        if (created) { /* re-read: the partition check below sees the new topics */
            rd_kafka_metadata_destroy(md);
            md = NULL;
            int64_t deadline = hl_mono_ms() + 30000;
            for (;;) {
                if (!metadata(rk, o->timeout_ms, &md, &err))
                    goto done;
                size_t seen = 0;
                for (size_t i = 0; i < list->n; i++)
                    seen += partitions_of(md, list->topics[i].name) > 0;
                if (seen == list->n || hl_mono_ms() > deadline)
                    break;
                rd_kafka_metadata_destroy(md);
                md = NULL;
            }
        }
    }
    for (size_t i = 0; i < list->n; i++) {
        const hl_topic_decl_t *t = &list->topics[i];
        int have = partitions_of(md, t->name);
        if (have != t->partitions) {
            diffs++;
            if (have)
                printf("%s: %d partitions, declared %d (hl-topics never changes partitions: more "
                       "would move keys to other partitions)\n",
                       t->name, have, t->partitions);
            else
                printf("%s: missing\n", t->name);
        }
    }
    int cdiffs = 0;
    if (!check_configs(rk, q, list, fix, &cdiffs, &err))
        goto done;
    /* ensure: only a partition difference is left as an error; check: any difference */
    rc = diffs || (!fix && cdiffs) ? 1 : 0;
    if (!rc)
        printf("%zu topics as declared in %s\n", list->n, o->file);
done:
    if (err.message[0])
        fprintf(stderr, "hl-topics: %s\n", err.message);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (q)
        rd_kafka_queue_destroy(q);
    if (rk)
        rd_kafka_destroy(rk);
    free(list);
    return rc;
}

static const char *flag(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(arg, name, n) && arg[n] == '=' ? arg + n + 1 : NULL;
}

int main(int argc, char **argv)
{
    opts_t o = {.brokers = getenv("HL_KAFKA_BROKERS"),
                .file = getenv("HL_TOPICS_FILE"),
                .timeout_ms = 60000};
    const char *cmd = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if ((v = flag(argv[i], "--brokers")))
            o.brokers = v;
        else if ((v = flag(argv[i], "--file")))
            o.file = v;
        else if ((v = flag(argv[i], "--timeout-ms"))) {
            if (!hl_parse_ll(v, &o.timeout_ms) || o.timeout_ms < 0) {
                fprintf(stderr, "hl-topics: --timeout-ms wants a number of ms\n");
                return 2;
            }
        } else if (!cmd && argv[i][0] != '-')
            cmd = argv[i];
        else {
            cmd = NULL;
            break;
        }
    }
    if (!cmd || (strcmp(cmd, "ensure") != 0 && strcmp(cmd, "check") != 0)) {
        fprintf(stderr, "usage: hl-topics [--brokers=H:P] [--file=topics.conf] [--timeout-ms=N] "
                        "ensure|check\n");
        return 2;
    }
    if (!o.brokers || !o.brokers[0])
        o.brokers = "127.0.0.1:29092";
    if (!o.file || !o.file[0])
        o.file = HL_DEFAULT_TOPICS_FILE;
    hl_log_init("hl-topics", HL_LOG_WARN, false);
    return run(&o, !strcmp(cmd, "ensure"));
}
