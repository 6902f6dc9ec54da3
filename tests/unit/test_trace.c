/* Unit tests for hl/trace.h: W3C traceparent parsing and formatting, parent/child context,
 * the current span, TraceIdRatioBased sampling, and the exporter's drop-and-count when the queue
 * is full or the OTLP receiver is away (a closed loopback port: the real refusal, no mock). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hl/log.h"
#include "hl/trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_parse_format(void **state)
{
    (void)state;
    hl_trace_ctx_t c;
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    assert_true(hl_trace_parse(tp, &c));
    assert_string_equal(c.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(c.span_id, "00f067aa0ba902b7");
    assert_true(c.sampled);
    char out[HL_TRACE_PARENT_LEN + 1];
    hl_trace_format(&c, out);
    assert_string_equal(out, tp);
    assert_true(hl_trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &c));
    assert_false(c.sampled);
    hl_trace_format(&c, out);
    assert_string_equal(out + 53, "00");
    const char *bad[] = {
        NULL,
        "",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* version */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  /* zero span id */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  /* upper case */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",   /* short */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", /* long */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(hl_trace_parse(bad[i], &c));
}

static void test_parent_child_current(void **state)
{
    (void)state;
    hl_trace_ctx_t parent;
    assert_true(hl_trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &parent));
    hl_span_t a, b, root;
    hl_span_start(&a, "GET /x", HL_SPAN_SERVER, &parent, 0);
    assert_string_equal(a.ctx.trace_id, parent.trace_id);
    assert_string_equal(a.parent_span_id, parent.span_id);
    assert_string_not_equal(a.ctx.span_id, parent.span_id);
    assert_true(a.ctx.sampled);
    assert_null(hl_trace_current());
    hl_span_make_current(&a);
    assert_ptr_equal(hl_trace_current(), &a.ctx);
    hl_span_start_child(&b, "pg.transaction", HL_SPAN_CLIENT);
    assert_string_equal(b.ctx.trace_id, parent.trace_id);
    assert_string_equal(b.parent_span_id, a.ctx.span_id);
    hl_span_end(&b, 0);
    assert_true(b.end_ns >= b.start_ns);
    hl_span_end(&a, 0);
    assert_null(hl_trace_current());
    /* no current span: a new trace (root) */
    hl_span_start_child(&root, "job", HL_SPAN_INTERNAL);
    assert_string_equal(root.parent_span_id, "");
    assert_string_not_equal(root.ctx.trace_id, parent.trace_id);
    hl_span_end(&root, 0);
}

/* After hl_trace_init with HL_TRACE_SAMPLE=0.25: about a quarter of roots are sampled, and the
 * decision is a function of the trace id (another server decides the same). */
static void test_sampling_and_drops(void **state)
{
    (void)state;
    setenv("HL_TRACE_SAMPLE", "0.25", 1);
    setenv("HL_TRACE_QUEUE", "16", 1);
    setenv("HL_OTLP_ENDPOINT", "http://127.0.0.1:1", 1); /* nothing listens on port 1 */
    hl_error_t err = {0};
    assert_true(hl_trace_init("test-trace", &err));
    int sampled = 0, n = 4000;
    for (int i = 0; i < n; i++) {
        hl_span_t s;
        hl_span_start(&s, "root", HL_SPAN_INTERNAL, NULL, 0);
        sampled += s.ctx.sampled;
        /* a child of an unsampled root is not recorded either (ParentBased) */
        hl_span_t c;
        hl_span_start(&c, "child", HL_SPAN_INTERNAL, &s.ctx, 0);
        assert_int_equal(c.ctx.sampled, s.ctx.sampled);
        assert_int_equal(c.recording, s.ctx.sampled);
        s.recording = c.recording = false; /* not exported: only the ratio is under test */
        hl_span_end(&c, 0);
        hl_span_end(&s, 0);
    }
    assert_in_range(sampled, n / 4 - 200, n / 4 + 200);

    /* 100 sampled spans at once into a 16-span queue: the rest are dropped and counted, never
     * waited for; what was queued fails to export (refused) and is counted too. */
    hl_trace_ctx_t parent;
    assert_true(hl_trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &parent));
    for (int i = 0; i < 100; i++) {
        hl_span_t s;
        hl_span_start(&s, "burst", HL_SPAN_INTERNAL, &parent, 0);
        hl_span_attr_str(&s, "k", "v\"with quotes\"");
        hl_span_attr_int(&s, "n", i);
        assert_true(s.recording);
        hl_span_end(&s, 0);
    }
    hl_trace_stats_t st;
    hl_trace_stats(&st);
    assert_int_equal(st.queued + st.dropped_queue_full, 100);
    assert_true(st.dropped_queue_full > 0);
    hl_trace_shutdown(5000);
    hl_trace_stats(&st);
    assert_int_equal(st.exported, 0);
    assert_int_equal(st.dropped_export_failed, st.queued);
}

/* A log line (JSON mode) written while a span is current carries the request and trace ids. */
static void test_log_lines_carry_ids(void **state)
{
    (void)state;
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(2);
    assert_true(dup2(fileno(tmp), 2) >= 0);
    hl_log_init("test-trace", HL_LOG_INFO, true);
    hl_log_set_request_id("req-42");
    hl_trace_ctx_t parent;
    assert_true(hl_trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &parent));
    hl_span_t s;
    hl_span_start(&s, "GET /x", HL_SPAN_SERVER, &parent, 0);
    hl_span_make_current(&s);
    HL_INFO("inside \"quoted\"");
    hl_span_end(&s, 0);
    HL_INFO("after the span");
    hl_log_set_request_id(NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[2048] = "";
    rewind(tmp);
    size_t n = fread(buf, 1, sizeof buf - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
    char *second = strchr(buf, '\n');
    assert_non_null(second);
    *second++ = '\0';
    assert_non_null(strstr(buf, "\"msg\":\"inside \\\"quoted\\\"\""));
    assert_non_null(strstr(buf, "\"request_id\":\"req-42\""));
    assert_non_null(strstr(buf, "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}"));
    /* the span ended: the request's next line has no trace id */
    assert_non_null(strstr(second, "\"request_id\":\"req-42\""));
    assert_null(strstr(second, "trace_id"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_format),
        cmocka_unit_test(test_parent_child_current),
        cmocka_unit_test(test_log_lines_carry_ids),
        cmocka_unit_test(test_sampling_and_drops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
