/*
 * Unit tests for gateway/metrics.c: the exposition text (checked line by line against the
 * 0.0.4 text format), merging across workers, histograms, escaping, the cardinality guard,
 * named counters (one label and several), and updates racing with renders.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/metrics.h"

static const char *const families[] = {
    "portcullis_requests_total",
    "portcullis_received_bytes_total",
    "portcullis_sent_bytes_total",
    "portcullis_upstream_latency_seconds",
    "portcullis_time_to_first_token_seconds",
    "portcullis_active_connections",
    "portcullis_active_streams",
    "portcullis_config_generation",
    "portcullis_config_reloads_total",
    "portcullis_config_last_reload_success_timestamp_seconds",
    "portcullis_workers",
    "portcullis_draining",
    "portcullis_build_info",
};

static int
name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Fails unless text is well-formed exposition text: every line ends in LF; each family has at
 * most one TYPE (HELP before it) and its samples follow it without another family in between;
 * sample names belong to the current family (histograms: _bucket, _sum, _count); label values
 * use only the three escapes; values are numbers; no two samples have the same name and labels.
 */
static void
check_exposition(const char *text)
{
    size_t len = strlen(text);
    assert_true(len > 0);
    assert_int_equal(text[len - 1], '\n');
    char *typed[256];
    size_t ntyped = 0;
    char *samples[4096];
    size_t nsamples = 0;
    char family_name[256] = "", family_type[32] = "";

    for (const char *p = text; *p;) {
        const char *eol = strchr(p, '\n');
        assert_non_null(eol);
        if (strncmp(p, "# HELP ", 7) == 0 || strncmp(p, "# TYPE ", 7) == 0) {
            int is_type = p[2] == 'T';
            const char *n = p + 7, *e = n;
            while (e < eol && *e != ' ')
                e++;
            assert_true(e > n && e < eol && (size_t)(e - n) < sizeof(family_name));
            char name[256];
            memcpy(name, n, (size_t)(e - n));
            name[e - n] = '\0';
            for (size_t i = 0; i < ntyped; i++)
                assert_string_not_equal(typed[i], name); /* families not repeated */
            if (is_type) {
                size_t tl = (size_t)(eol - e - 1);
                assert_true(tl > 0 && tl < sizeof(family_type));
                memcpy(family_type, e + 1, tl);
                family_type[tl] = '\0';
                assert_true(strcmp(family_type, "counter") == 0 ||
                            strcmp(family_type, "gauge") == 0 ||
                            strcmp(family_type, "histogram") == 0);
                strcpy(family_name, name);
                assert_true(ntyped < 256);
                typed[ntyped++] = strdup(name);
            }
        } else {
            assert_int_not_equal(*p, '#');
            const char *q = p;
            assert_true(name_char(*q, 1));
            while (name_char(*q, 0))
                q++;
            size_t nl = (size_t)(q - p), fl = strlen(family_name);
            assert_true(fl > 0 && nl >= fl && strncmp(p, family_name, fl) == 0);
            if (nl > fl) {
                assert_string_equal(family_type, "histogram");
                const char *suffix = p + fl;
                size_t sl = nl - fl;
                assert_true((sl == 7 && strncmp(suffix, "_bucket", 7) == 0) ||
                            (sl == 4 && strncmp(suffix, "_sum", 4) == 0) ||
                            (sl == 6 && strncmp(suffix, "_count", 6) == 0));
            }
            if (*q == '{') {
                q++;
                for (;;) {
                    assert_true(name_char(*q, 1) && *q != ':');
                    while (name_char(*q, 0) && *q != ':')
                        q++;
                    assert_int_equal(*q++, '=');
                    assert_int_equal(*q++, '"');
                    while (*q != '"') {
                        assert_true(q < eol);
                        if (*q == '\\') {
                            q++;
                            assert_true(*q == '\\' || *q == '"' || *q == 'n');
                        }
                        q++;
                    }
                    q++;
                    if (*q == '}')
                        break;
                    assert_int_equal(*q++, ',');
                }
                q++;
            }
            assert_int_equal(*q++, ' ');
            char *end;
            if (strncmp(q, "+Inf", 4) == 0)
                end = (char *)q + 4;
            else
                (void)strtod(q, &end);
            assert_true(end > q);
            assert_ptr_equal(end, eol);
            assert_true(nsamples < 4096);
            samples[nsamples++] = strndup(p, (size_t)(q - 1 - p));
        }
        p = eol + 1;
    }
    qsort(samples, nsamples, sizeof(samples[0]), cmp_str);
    for (size_t i = 0; i + 1 < nsamples; i++)
        assert_string_not_equal(samples[i], samples[i + 1]);
    for (size_t i = 0; i < nsamples; i++)
        free(samples[i]);
    for (size_t i = 0; i < ntyped; i++)
        free(typed[i]);
}

/* Renders and checks; the caller frees the text. */
static char *
render(struct gw_metrics *const *ms, size_t n, const struct gw_metrics_globals *g)
{
    struct evbuffer *out = evbuffer_new();
    assert_non_null(out);
    gw_metrics_render(ms, n, g, out);
    size_t len = evbuffer_get_length(out);
    char *text = malloc(len + 1);
    assert_non_null(text);
    evbuffer_remove(out, text, len);
    text[len] = '\0';
    evbuffer_free(out);
    check_exposition(text);
    return text;
}

/* The value text of the sample whose name and labels are exactly sample, or NULL. */
static const char *
find_sample(const char *text, const char *sample)
{
    size_t sl = strlen(sample);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, sample, sl) == 0 && p[sl] == ' ')
            return p + sl + 1;
    return NULL;
}

static uint64_t
value(const char *text, const char *sample)
{
    const char *v = find_sample(text, sample);
    if (!v)
        fail_msg("no sample %s in:\n%s", sample, text);
    return v ? strtoull(v, NULL, 10) : 0;
}

/* Lines starting with prefix, and the sum of their values (after the line's last space). */
static size_t
count_lines(const char *text, const char *prefix, uint64_t *sum)
{
    size_t n = 0, pl = strlen(prefix);
    if (sum)
        *sum = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, prefix, pl) != 0)
            continue;
        n++;
        const char *v = strchr(p, '\n');
        while (v > p && v[-1] != ' ')
            v--;
        if (sum)
            *sum += strtoull(v, NULL, 10);
    }
    return n;
}

/* The value of sample as text, in buf. */
static const char *
value_text(const char *text, const char *sample, char *buf, size_t size)
{
    const char *v = find_sample(text, sample);
    assert_non_null(v);
    size_t len = strcspn(v, "\n");
    assert_true(len < size);
    memcpy(buf, v, len);
    buf[len] = '\0';
    return buf;
}

static void
test_empty(void **state)
{
    (void)state;
    char *text = render(NULL, 0, NULL);
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        char help[128], type[128];
        snprintf(help, sizeof(help), "# HELP %s ", families[i]);
        snprintf(type, sizeof(type), "# TYPE %s ", families[i]);
        assert_non_null(strstr(text, help));
        assert_non_null(strstr(text, type));
    }
    assert_non_null(strstr(text, "# TYPE portcullis_requests_total counter\n"));
    assert_non_null(strstr(text, "# TYPE portcullis_upstream_latency_seconds histogram\n"));
    assert_non_null(strstr(text, "# TYPE portcullis_active_streams gauge\n"));
    assert_int_equal(count_lines(text, "portcullis_requests_total", NULL), 0);
    assert_int_equal(count_lines(text, "portcullis_upstream_latency_seconds_", NULL), 0);
    char buf[64];
    assert_string_equal(value_text(text, "portcullis_active_connections", buf, sizeof(buf)), "0");
    assert_int_equal(value(text, "portcullis_active_connections"), 0);
    assert_int_equal(value(text, "portcullis_active_streams"), 0);
    assert_int_equal(value(text, "portcullis_config_generation"), 0);
    assert_int_equal(value(text, "portcullis_config_reloads_total{result=\"success\"}"), 0);
    assert_int_equal(value(text, "portcullis_config_reloads_total{result=\"failure\"}"), 0);
    assert_int_equal(value(text, "portcullis_workers{state=\"configured\"}"), 0);
    assert_int_equal(value(text, "portcullis_workers{state=\"running\"}"), 0);
    assert_int_equal(value(text, "portcullis_draining"), 0);
    assert_int_equal(value(text, "portcullis_build_info{version=\"\"}"), 1);
    free(text);

    /* One worker that saw nothing, and real globals. */
    struct gw_metrics *m = gw_metrics_new();
    assert_non_null(m);
    struct gw_metrics_globals g = {
        .config_generation = 3,
        .reloads_ok = 2,
        .reloads_failed = 1,
        .last_reload_ok_time = 1700000000.25,
        .workers = 4,
        .workers_running = 3,
        .draining = 1,
        .version = "0.1.0",
    };
    text = render(&m, 1, &g);
    assert_int_equal(count_lines(text, "portcullis_requests_total", NULL), 0);
    assert_int_equal(value(text, "portcullis_config_generation"), 3);
    assert_int_equal(value(text, "portcullis_config_reloads_total{result=\"success\"}"), 2);
    assert_int_equal(value(text, "portcullis_config_reloads_total{result=\"failure\"}"), 1);
    assert_string_equal(value_text(text, "portcullis_config_last_reload_success_timestamp_seconds",
                                   buf, sizeof(buf)),
                        "1700000000.250");
    assert_int_equal(value(text, "portcullis_workers{state=\"configured\"}"), 4);
    assert_int_equal(value(text, "portcullis_workers{state=\"running\"}"), 3);
    assert_int_equal(value(text, "portcullis_draining"), 1);
    assert_int_equal(value(text, "portcullis_build_info{version=\"0.1.0\"}"), 1);
    free(text);
    gw_metrics_free(m);
}

#define SERIES(route, prov, model, status)                                                         \
    "portcullis_requests_total{route=\"" route "\",provider=\"" prov "\",model=\"" model           \
    "\",status=\"" status "\"}"

static void
test_merge(void **state)
{
    (void)state;
    struct gw_metrics *ms[2] = {gw_metrics_new(), gw_metrics_new()};
    assert_non_null(ms[0]);
    assert_non_null(ms[1]);
    gw_metrics_request(ms[0], "/openai", "openai", "gpt-4o", 200, 100, 1000, 5000, 2000);
    gw_metrics_request(ms[0], "/openai", "openai", "gpt-4o", 200, 10, 20, -1, -1);
    gw_metrics_request(ms[1], "/openai", "openai", "gpt-4o", 200, 1, 2, -1, -1);
    gw_metrics_request(ms[1], "/openai", "openai", "gpt-4o", 502, 7, 8, -1, -1);
    gw_metrics_request(ms[1], "", "", "", 404, 3, 4, -1, -1);
    gw_metrics_request(ms[0], NULL, NULL, NULL, 404, 5, 6, -1, -1);
    gw_metrics_conn(ms[0], 1);
    gw_metrics_conn(ms[0], 1);
    gw_metrics_conn(ms[1], 1);
    gw_metrics_conn(ms[0], -1);
    gw_metrics_stream(ms[1], 1);

    char *text = render(ms, 2, NULL);
    assert_int_equal(count_lines(text, "portcullis_requests_total{", NULL), 3);
    assert_int_equal(value(text, SERIES("/openai", "openai", "gpt-4o", "200")), 3);
    assert_int_equal(value(text, SERIES("/openai", "openai", "gpt-4o", "502")), 1);
    assert_int_equal(value(text, SERIES("", "", "", "404")), 2);
    assert_int_equal(value(text, "portcullis_received_bytes_total{route=\"/openai\"}"), 118);
    assert_int_equal(value(text, "portcullis_sent_bytes_total{route=\"/openai\"}"), 1030);
    assert_int_equal(value(text, "portcullis_received_bytes_total{route=\"\"}"), 8);
    assert_int_equal(value(text, "portcullis_sent_bytes_total{route=\"\"}"), 10);
    assert_int_equal(count_lines(text, "portcullis_received_bytes_total{", NULL), 2);
    assert_int_equal(value(text, "portcullis_active_connections"), 2);
    assert_int_equal(value(text, "portcullis_active_streams"), 1);
    /* Sorted: the unrouted series ("" < "/openai") first, then by status. */
    const char *a = strstr(text, SERIES("", "", "", "404"));
    const char *b = strstr(text, SERIES("/openai", "openai", "gpt-4o", "200"));
    const char *c = strstr(text, SERIES("/openai", "openai", "gpt-4o", "502"));
    assert_true(a && b && c && a < b && b < c);

    /* The same numbers in the other order of workers give the same text. */
    struct gw_metrics *rev[2] = {ms[1], ms[0]};
    char *text2 = render(rev, 2, NULL);
    assert_string_equal(text, text2);
    free(text2);
    free(text);
    gw_metrics_free(ms[0]);
    gw_metrics_free(ms[1]);
}

#define UP "portcullis_upstream_latency_seconds"
#define TT "portcullis_time_to_first_token_seconds"

static void
test_histogram(void **state)
{
    (void)state;
    struct gw_metrics *ms[2] = {gw_metrics_new(), gw_metrics_new()};
    assert_non_null(ms[0]);
    assert_non_null(ms[1]);
    gw_metrics_request(ms[0], "/a", "p", "m", 200, 0, 0, 3000, 1000);
    gw_metrics_request(ms[0], "/a", "p", "m", 200, 0, 0, 5000, -1); /* on the bound: le="0.005" */
    gw_metrics_request(ms[1], "/a", "p", "m", 200, 0, 0, 7000, 300000);
    gw_metrics_request(ms[1], "/a", "p", "m", 200, 0, 0, 200000, -1);
    gw_metrics_request(ms[1], "/a", "p", "m", 200, 0, 0, 200000000, -1); /* past 120 s */
    gw_metrics_request(ms[1], "/a", "p", "m", 200, 0, 0, -1, -1);        /* not observed */
    gw_metrics_request(ms[0], "/b", "q", "m", 200, 0, 0, 0, 0);

    char *text = render(ms, 2, NULL);
    static const char *const le[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
                                     "2.5",   "5",    "10",    "30",   "60",  "120",  "+Inf"};
    static const uint64_t want[] = {2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5};
    uint64_t prev = 0;
    for (size_t i = 0; i < 15; i++) {
        char s[128];
        snprintf(s, sizeof(s), UP "_bucket{provider=\"p\",le=\"%s\"}", le[i]);
        uint64_t v = value(text, s);
        assert_int_equal(v, want[i]);
        assert_true(v >= prev);
        prev = v;
    }
    assert_int_equal(count_lines(text, UP "_bucket{provider=\"p\"", NULL), 15);
    assert_int_equal(value(text, UP "_count{provider=\"p\"}"),
                     value(text, UP "_bucket{provider=\"p\",le=\"+Inf\"}"));
    assert_int_equal(value(text, UP "_count{provider=\"p\"}"), 5);
    assert_non_null(strstr(text, UP "_sum{provider=\"p\"} 200.215000\n"));
    /* Buckets in increasing le order, then _sum and _count. */
    const char *first = strstr(text, UP "_bucket{provider=\"p\",le=\"0.005\"}");
    const char *inf = strstr(text, UP "_bucket{provider=\"p\",le=\"+Inf\"}");
    const char *sum = strstr(text, UP "_sum{provider=\"p\"}");
    const char *cnt = strstr(text, UP "_count{provider=\"p\"}");
    assert_true(first < inf && inf < sum && sum < cnt);

    /* Time to first token: 1 ms and 300 ms. */
    assert_int_equal(value(text, TT "_bucket{provider=\"p\",le=\"0.005\"}"), 1);
    assert_int_equal(value(text, TT "_bucket{provider=\"p\",le=\"0.25\"}"), 1);
    assert_int_equal(value(text, TT "_bucket{provider=\"p\",le=\"0.5\"}"), 2);
    assert_int_equal(value(text, TT "_count{provider=\"p\"}"), 2);
    assert_non_null(strstr(text, TT "_sum{provider=\"p\"} 0.301000\n"));

    /* Zero durations land in the first bucket. */
    assert_int_equal(value(text, UP "_bucket{provider=\"q\",le=\"0.005\"}"), 1);
    assert_non_null(strstr(text, UP "_sum{provider=\"q\"} 0.000000\n"));
    free(text);
    gw_metrics_free(ms[0]);
    gw_metrics_free(ms[1]);
}

static void
test_escaping(void **state)
{
    (void)state;
    struct gw_metrics *m = gw_metrics_new();
    assert_non_null(m);
    gw_metrics_request(m, "/v1/\"q\"\\x\ny", "p\"1", "gpt\n\"4\"\\", 200, 1, 1, 1, -1);
    char long_model[200];
    memset(long_model, 'a', sizeof(long_model) - 1);
    long_model[sizeof(long_model) - 1] = '\0';
    gw_metrics_request(m, "/r", "p", long_model, 200, 1, 1, -1, -1);
    gw_metrics_request(m, "/r", "p",
                       "a\x01"
                       "b\xff"
                       "c\xc3\xa9",
                       200, 1, 1, -1, -1);
    gw_metrics_count(m, "portcullis_test_total", "why", "x\"y\\z", 1);
    struct gw_metrics_globals g = {.version = "1.0-\"rc\"\\\n"};

    char *text = render(&m, 1, &g);
    /* Route and provider come from the config and keep every byte; the model is cleaned. */
    assert_int_equal(
        value(text, SERIES("/v1/\\\"q\\\"\\\\x\\ny", "p\\\"1", "gpt?\\\"4\\\"\\\\", "200")), 1);
    assert_int_equal(
        value(text, "portcullis_received_bytes_total{route=\"/v1/\\\"q\\\"\\\\x\\ny\"}"), 1);
    assert_int_equal(value(text, UP "_count{provider=\"p\\\"1\"}"), 1);
    assert_int_equal(value(text, "portcullis_build_info{version=\"1.0-\\\"rc\\\"\\\\\\n\"}"), 1);
    assert_int_equal(value(text, "portcullis_test_total{why=\"x\\\"y\\\\z\"}"), 1);
    /* 64 bytes of the long model, and '?' for every byte outside printable ASCII. */
    char want[256];
    snprintf(want, sizeof(want), SERIES("/r", "p", "%.64s", "200"), long_model);
    assert_int_equal(value(text, want), 1);
    assert_int_equal(value(text, SERIES("/r", "p", "a?b?c??", "200")), 1);
    free(text);
    gw_metrics_free(m);
}

static void
test_cardinality(void **state)
{
    (void)state;
    struct gw_metrics *m = gw_metrics_new();
    assert_non_null(m);
    char model[32], route[32];
    for (int i = 0; i < 300; i++) {
        snprintf(model, sizeof(model), "model-%03d", i);
        gw_metrics_request(m, "/openai", "openai", model, 200, 2, 3, -1, -1);
    }
    /* Known series still count after the cap. */
    gw_metrics_request(m, "/openai", "openai", "model-000", 200, 2, 3, -1, -1);
    char *text = render(&m, 1, NULL);
    uint64_t sum;
    size_t lines = count_lines(text, "portcullis_requests_total{", &sum);
    assert_true(lines <= GW_METRICS_MAX_SERIES);
    assert_int_equal(sum, 301);
    assert_int_equal(value(text, SERIES("/openai", "openai", "model-000", "200")), 2);
    uint64_t folded = value(text, SERIES("/openai", "openai", "other", "200"));
    assert_int_equal(folded, 301 - 2 - (lines - 2));
    assert_true(folded >= 300 - GW_METRICS_MAX_SERIES);
    assert_int_equal(value(text, "portcullis_received_bytes_total{route=\"/openai\"}"), 602);
    assert_int_equal(value(text, "portcullis_sent_bytes_total{route=\"/openai\"}"), 903);
    free(text);

    /* New routes: 7 get their own model="other" series (up to 248 series), then the route
     * folds too. */
    for (int i = 0; i < 20; i++) {
        snprintf(model, sizeof(model), "x%d", i);
        snprintf(route, sizeof(route), "/extra%d", i);
        gw_metrics_request(m, route, "openai", model, 200, 1, 1, -1, -1);
    }
    text = render(&m, 1, NULL);
    lines = count_lines(text, "portcullis_requests_total{", &sum);
    assert_int_equal(lines, GW_METRICS_MAX_SERIES - GW_METRICS_FOLD_RESERVE / 2 + 1);
    assert_int_equal(sum, 321);
    assert_int_equal(value(text, SERIES("/extra6", "openai", "other", "200")), 1);
    assert_null(find_sample(text, SERIES("/extra7", "openai", "other", "200")));
    assert_int_equal(value(text, SERIES("other", "openai", "other", "200")), 13);
    assert_int_equal(value(text, "portcullis_received_bytes_total{route=\"other\"}"), 13);
    free(text);

    /* Distinct routes, models and statuses: the series fold further, nothing is lost. */
    for (int i = 0; i < 2000; i++) {
        snprintf(model, sizeof(model), "m%d", i);
        snprintf(route, sizeof(route), "/r%d", i);
        gw_metrics_request(m, route, i % 2 ? "a" : "b", model, 100 + i % 500, 1, 1, -1, -1);
    }
    gw_metrics_request(m, "/x", "x", "x", 1000, 1, 1, -1, -1);
    gw_metrics_request(m, "/x", "x", "x", -5, 1, 1, -1, -1);
    text = render(&m, 1, NULL);
    lines = count_lines(text, "portcullis_requests_total{", &sum);
    assert_true(lines <= GW_METRICS_MAX_SERIES);
    assert_int_equal(sum, 2323);
    assert_int_equal(lines, GW_METRICS_MAX_SERIES);
    assert_true(value(text, SERIES("other", "other", "other", "other")) >= 2);
    count_lines(text, "portcullis_received_bytes_total{", &sum);
    assert_int_equal(sum, 602 + 20 + 2002);
    count_lines(text, "portcullis_sent_bytes_total{", &sum);
    assert_int_equal(sum, 903 + 20 + 2002);
    free(text);
    gw_metrics_free(m);
}

static void
test_named(void **state)
{
    (void)state;
    struct gw_metrics *ms[2] = {gw_metrics_new(), gw_metrics_new()};
    assert_non_null(ms[0]);
    assert_non_null(ms[1]);
    gw_metrics_count(ms[0], "portcullis_auth_failures_total", "reason", "unknown_key", 1);
    gw_metrics_count(ms[1], "portcullis_auth_failures_total", "reason", "unknown_key", 2);
    gw_metrics_count(ms[1], "portcullis_auth_failures_total", "reason", "expired", 5);
    gw_metrics_count(ms[0], "portcullis_blocks_total", NULL, NULL, 4);
    gw_metrics_count(ms[1], "portcullis_blocks_total", "", "ignored", 6);
    gw_metrics_count(ms[0], "portcullis_blocks", NULL, NULL, 1);
    char *text = render(ms, 2, NULL);
    assert_int_equal(value(text, "portcullis_auth_failures_total{reason=\"unknown_key\"}"), 3);
    assert_int_equal(value(text, "portcullis_auth_failures_total{reason=\"expired\"}"), 5);
    assert_int_equal(value(text, "portcullis_blocks_total"), 10);
    assert_int_equal(value(text, "portcullis_blocks"), 1);
    assert_non_null(strstr(text, "# TYPE portcullis_auth_failures_total counter\n"));
    assert_non_null(strstr(text, "# TYPE portcullis_blocks_total counter\n"));
    assert_int_equal(count_lines(text, "portcullis_auth_failures_total{", NULL), 2);
    free(text);

    /* Values past the cap are counted under "other"; totals are kept. */
    char v[32];
    for (int i = 0; i < 400; i++) {
        snprintf(v, sizeof(v), "v%d", i);
        gw_metrics_count(ms[0], "portcullis_many_total", "k", v, 1);
    }
    text = render(ms, 2, NULL);
    uint64_t sum;
    size_t lines = count_lines(text, "portcullis_many_total{", &sum);
    assert_true(lines < GW_METRICS_MAX_NAMED);
    assert_int_equal(sum, 400);
    assert_true(value(text, "portcullis_many_total{k=\"other\"}") >= 400 - GW_METRICS_MAX_NAMED);
    assert_int_equal(value(text, "portcullis_metrics_dropped_total"), 0);
    free(text);
    gw_metrics_free(ms[0]);
    gw_metrics_free(ms[1]);
}

#define ROUNDS 100000

static atomic_int finished;

/* Each thread is a worker with its own set; both also update one shared set, which the lock
 * makes safe as well (and which loses updates if it is missing). */
struct worker {
    struct gw_metrics *own, *shared;
};

static void *
hammer(void *arg)
{
    struct worker *w = arg;
    char model[16];
    for (int i = 0; i < ROUNDS; i++) {
        gw_metrics_conn(w->own, 1);
        gw_metrics_stream(w->own, 1);
        snprintf(model, sizeof(model), "m%d", i % 8);
        gw_metrics_request(w->own, "/r", "p", model, i % 2 ? 200 : 500, 3, 5, 1000 + i % 7, i % 3);
        snprintf(model, sizeof(model), "s%d", i % 64);
        gw_metrics_request(w->shared, "/s", "p", model, 200, 1, 1, -1, -1);
        gw_metrics_count(w->shared, "portcullis_hits_total", "k", i % 2 ? "odd" : "even", 1);
        gw_metrics_stream(w->own, -1);
        gw_metrics_conn(w->own, -1);
    }
    atomic_fetch_add(&finished, 1);
    return NULL;
}

static void
test_threads(void **state)
{
    (void)state;
    struct gw_metrics *ms[3] = {gw_metrics_new(), gw_metrics_new(), gw_metrics_new()};
    for (int i = 0; i < 3; i++)
        assert_non_null(ms[i]);
    struct worker w[2] = {{ms[0], ms[2]}, {ms[1], ms[2]}};
    pthread_t t[2];
    atomic_store(&finished, 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
    /* Render until both are done: every text is well-formed and totals never go down. */
    uint64_t last = 0;
    int renders = 0;
    do {
        char *text = render(ms, 3, NULL);
        uint64_t sum;
        count_lines(text, "portcullis_requests_total{", &sum);
        assert_true(sum >= last && sum <= 4 * ROUNDS);
        last = sum;
        free(text);
        renders++;
    } while (atomic_load(&finished) < 2);
    assert_true(renders > 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);

    char *text = render(ms, 3, NULL);
    uint64_t sum;
    assert_int_equal(count_lines(text, "portcullis_requests_total{route=\"/r\"", &sum), 8);
    assert_int_equal(sum, 2 * ROUNDS);
    assert_int_equal(count_lines(text, "portcullis_requests_total{route=\"/s\"", &sum), 64);
    assert_int_equal(sum, 2 * ROUNDS);
    assert_int_equal(value(text, SERIES("/r", "p", "m1", "200")), 2 * ROUNDS / 8);
    assert_int_equal(value(text, SERIES("/s", "p", "s63", "200")), 2 * (ROUNDS / 64));
    assert_int_equal(value(text, "portcullis_received_bytes_total{route=\"/r\"}"), 6 * ROUNDS);
    assert_int_equal(value(text, "portcullis_sent_bytes_total{route=\"/r\"}"), 10 * ROUNDS);
    assert_int_equal(value(text, "portcullis_received_bytes_total{route=\"/s\"}"), 2 * ROUNDS);
    assert_int_equal(value(text, UP "_count{provider=\"p\"}"), 2 * ROUNDS);
    assert_int_equal(value(text, UP "_bucket{provider=\"p\",le=\"0.005\"}"), 2 * ROUNDS);
    assert_int_equal(value(text, TT "_count{provider=\"p\"}"), 2 * ROUNDS);
    /* sum of 1000 + i % 7 us over i < ROUNDS, twice */
    uint64_t us = 0;
    for (int i = 0; i < ROUNDS; i++)
        us += 1000 + i % 7;
    us *= 2;
    char want[128];
    snprintf(want, sizeof(want), UP "_sum{provider=\"p\"} %llu.%06llu\n",
             (unsigned long long)(us / 1000000), (unsigned long long)(us % 1000000));
    assert_non_null(strstr(text, want));
    assert_int_equal(value(text, "portcullis_hits_total{k=\"odd\"}"), ROUNDS);
    assert_int_equal(value(text, "portcullis_hits_total{k=\"even\"}"), ROUNDS);
    assert_int_equal(value(text, "portcullis_active_connections"), 0);
    assert_int_equal(value(text, "portcullis_active_streams"), 0);
    assert_int_equal(value(text, "portcullis_metrics_dropped_total"), 0);
    free(text);
    for (int i = 0; i < 3; i++)
        gw_metrics_free(ms[i]);
}

/* The text after the built-in families: the named counters. */
static const char *
named_part(const char *text)
{
    const char *p = strstr(text, "\nportcullis_metrics_dropped_total ");
    assert_non_null(p);
    p = strchr(p + 1, '\n');
    assert_non_null(p);
    return p + 1;
}

/* gw_metrics_count renders exactly what it did before gw_metrics_count_labels existed. */
static void
test_count_unchanged(void **state)
{
    (void)state;
    struct gw_metrics *ms[2] = {gw_metrics_new(), gw_metrics_new()};
    assert_non_null(ms[0]);
    assert_non_null(ms[1]);
    gw_metrics_count(ms[0], "portcullis_b_total", "reason", "x", 1);
    gw_metrics_count(ms[1], "portcullis_b_total", NULL, "ignored", 2);
    gw_metrics_count(ms[1], "portcullis_b_total", "reason", "a\"\\\n\x01", 3);
    gw_metrics_count(ms[0], "portcullis_b_total", "kind", "", 4);
    gw_metrics_count(ms[0], "portcullis_b_total", "kind", NULL, 5);
    gw_metrics_count(ms[0], "portcullis_b", "", NULL, 6);
    gw_metrics_count(ms[1], "portcullis_b_total_x", "r", "y", 7);
    gw_metrics_count(ms[1], "a_first", "r", "y", 8);
    gw_metrics_count(ms[1], "portcullis_b_total", "reason", "x", 9);
    char *text = render(ms, 2, NULL);
    assert_string_equal(named_part(text), "# TYPE a_first counter\n"
                                          "a_first{r=\"y\"} 8\n"
                                          "# TYPE portcullis_b counter\n"
                                          "portcullis_b 6\n"
                                          "# TYPE portcullis_b_total counter\n"
                                          "portcullis_b_total 2\n"
                                          "portcullis_b_total{kind=\"\"} 9\n"
                                          "portcullis_b_total{reason=\"a\\\"\\\\??\"} 3\n"
                                          "portcullis_b_total{reason=\"x\"} 10\n"
                                          "# TYPE portcullis_b_total_x counter\n"
                                          "portcullis_b_total_x{r=\"y\"} 7\n");
    free(text);
    gw_metrics_free(ms[0]);
    gw_metrics_free(ms[1]);
}

static void
test_labels(void **state)
{
    (void)state;
    struct gw_metrics *m = gw_metrics_new();
    assert_non_null(m);
    const char *const two[] = {"provider", "openai", "reason", "quota"};
    gw_metrics_count_labels(m, "portcullis_two_total", two, 2, 3);
    /* The same set in another order is the same series. */
    const char *const two_rev[] = {"reason", "quota", "provider", "openai"};
    gw_metrics_count_labels(m, "portcullis_two_total", two_rev, 2, 4);
    const char *const three[] = {"c", "3", "a", "1", "b", "2"};
    gw_metrics_count_labels(m, "portcullis_three_total", three, 3, 5);
    const char *const null_value[] = {"a", NULL, "b", "x"};
    gw_metrics_count_labels(m, "portcullis_three_total", null_value, 2, 1);
    gw_metrics_count_labels(m, "portcullis_none_total", NULL, 0, 2);

    /* Values are cleaned and cut like a one-label value, and escaped. */
    char long_value[100];
    memset(long_value, 'v', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    const char *const esc[] = {"q", "x\"y\\z", "n", "l\ni\xff", "long", long_value};
    gw_metrics_count_labels(m, "portcullis_esc_total", esc, 3, 1);

    char *text = render(&m, 1, NULL);
    assert_int_equal(value(text, "portcullis_two_total{provider=\"openai\",reason=\"quota\"}"), 7);
    assert_int_equal(count_lines(text, "portcullis_two_total", NULL), 1);
    assert_int_equal(value(text, "portcullis_three_total{a=\"1\",b=\"2\",c=\"3\"}"), 5);
    assert_int_equal(value(text, "portcullis_three_total{a=\"\",b=\"x\"}"), 1);
    assert_int_equal(value(text, "portcullis_none_total"), 2);
    char want[256];
    snprintf(want, sizeof(want),
             "portcullis_esc_total{long=\"%.64s\",n=\"l?i?\",q=\"x\\\"y\\\\z\"}", long_value);
    assert_int_equal(value(text, want), 1);
    assert_int_equal(count_lines(text, "# TYPE portcullis_three_total counter\n", NULL), 1);
    free(text);
    gw_metrics_free(m);
}

static void
test_labels_merge(void **state)
{
    (void)state;
    struct gw_metrics *ms[2] = {gw_metrics_new(), gw_metrics_new()};
    assert_non_null(ms[0]);
    assert_non_null(ms[1]);
    const char *const a[] = {"route", "/openai", "reason", "quota", "tier", "free"};
    const char *const a_shuffled[] = {"tier", "free", "route", "/openai", "reason", "quota"};
    const char *const b[] = {"route", "/openai", "reason", "auth"};
    gw_metrics_count_labels(ms[0], "portcullis_rejects_total", a, 3, 1);
    gw_metrics_count_labels(ms[1], "portcullis_rejects_total", a_shuffled, 3, 2);
    gw_metrics_count_labels(ms[1], "portcullis_rejects_total", b, 2, 4);
    gw_metrics_count_labels(ms[0], "portcullis_rejects_total", b, 2, 8);
    gw_metrics_count_labels(ms[0], "portcullis_rejects_total", b, 1, 16);
    char *text = render(ms, 2, NULL);
    assert_int_equal(
        value(text, "portcullis_rejects_total{reason=\"quota\",route=\"/openai\",tier=\"free\"}"),
        3);
    assert_int_equal(value(text, "portcullis_rejects_total{reason=\"auth\",route=\"/openai\"}"),
                     12);
    assert_int_equal(value(text, "portcullis_rejects_total{route=\"/openai\"}"), 16);
    assert_int_equal(count_lines(text, "portcullis_rejects_total{", NULL), 3);

    struct gw_metrics *rev[2] = {ms[1], ms[0]};
    char *text2 = render(rev, 2, NULL);
    assert_string_equal(text, text2);
    free(text2);
    free(text);
    gw_metrics_free(ms[0]);
    gw_metrics_free(ms[1]);
}

/* A family whose series have different label names is one family: one TYPE, samples together,
 * even when another family's name sorts between its label sets. */
static void
test_labels_family(void **state)
{
    (void)state;
    struct gw_metrics *ms[2] = {gw_metrics_new(), gw_metrics_new()};
    assert_non_null(ms[0]);
    assert_non_null(ms[1]);
    const char *const one[] = {"reason", "quota"};
    const char *const two[] = {"provider", "openai", "reason", "quota"};
    const char *const two_b[] = {"reason", "auth", "zone", "eu"};
    gw_metrics_count_labels(ms[0], "portcullis_mix_total", two, 2, 1);
    gw_metrics_count(ms[1], "portcullis_mix_total", "reason", "quota", 2);
    gw_metrics_count_labels(ms[1], "portcullis_mix_total", one, 1, 3);
    gw_metrics_count_labels(ms[1], "portcullis_mix_total", two_b, 2, 4);
    gw_metrics_count(ms[0], "portcullis_mix_total", NULL, NULL, 5);
    gw_metrics_count(ms[0], "portcullis_mix_total_x", "a", "b", 6);
    gw_metrics_count(ms[1], "portcullis_mix", "a", "b", 7);
    gw_metrics_count_labels(ms[0], "portcullis_mix_total", two_b, 1, 8); /* reason="auth" */
    char *text = render(ms, 2, NULL);
    assert_string_equal(named_part(text),
                        "# TYPE portcullis_mix counter\n"
                        "portcullis_mix{a=\"b\"} 7\n"
                        "# TYPE portcullis_mix_total counter\n"
                        "portcullis_mix_total 5\n"
                        "portcullis_mix_total{provider=\"openai\",reason=\"quota\"} 1\n"
                        "portcullis_mix_total{reason=\"auth\"} 8\n"
                        "portcullis_mix_total{reason=\"auth\",zone=\"eu\"} 4\n"
                        "portcullis_mix_total{reason=\"quota\"} 5\n"
                        "# TYPE portcullis_mix_total_x counter\n"
                        "portcullis_mix_total_x{a=\"b\"} 6\n");
    assert_int_equal(count_lines(text, "# TYPE portcullis_mix_total ", NULL), 1);
    free(text);
    gw_metrics_free(ms[0]);
    gw_metrics_free(ms[1]);
}

static void
test_labels_fold(void **state)
{
    (void)state;
    struct gw_metrics *m = gw_metrics_new();
    assert_non_null(m);
    const int soft = GW_METRICS_MAX_NAMED - GW_METRICS_FOLD_RESERVE;
    char v[32];
    const char *two[] = {"b", "x", "a", NULL};
    two[3] = v;
    for (int i = 0; i < soft + 60; i++) {
        snprintf(v, sizeof(v), "v%d", i);
        gw_metrics_count_labels(m, "portcullis_fill_total", two, 2, 1);
    }
    /* Existing series keep counting past the limit. */
    snprintf(v, sizeof(v), "v0");
    gw_metrics_count_labels(m, "portcullis_fill_total", two, 2, 1);
    const char *const three[] = {"k", "1", "l", "2", "m", "3"};
    gw_metrics_count_labels(m, "portcullis_three_total", three, 3, 2);
    const char *const three_other[] = {"k", "4", "l", "5", "m", "6"};
    gw_metrics_count_labels(m, "portcullis_three_total", three_other, 3, 3);
    gw_metrics_count(m, "portcullis_one_total", "k", "v", 4);
    gw_metrics_count_labels(m, "portcullis_unlabelled_total", NULL, 0, 5); /* dropped */

    char *text = render(&m, 1, NULL);
    uint64_t sum;
    assert_int_equal(count_lines(text, "portcullis_fill_total{", &sum), soft + 1);
    assert_int_equal(sum, soft + 61);
    assert_int_equal(value(text, "portcullis_fill_total{a=\"v0\",b=\"x\"}"), 2);
    /* Every value folds, not only the one that changes. */
    assert_null(find_sample(text, "portcullis_fill_total{a=\"other\",b=\"x\"}"));
    assert_int_equal(value(text, "portcullis_fill_total{a=\"other\",b=\"other\"}"), 60);
    assert_int_equal(value(text, "portcullis_three_total{k=\"other\",l=\"other\",m=\"other\"}"), 5);
    assert_int_equal(count_lines(text, "portcullis_three_total", NULL), 1);
    assert_int_equal(value(text, "portcullis_one_total{k=\"other\"}"), 4);
    assert_null(find_sample(text, "portcullis_unlabelled_total"));
    assert_int_equal(value(text, "portcullis_metrics_dropped_total"), 1);
    free(text);

    /* Every name and set of label names takes one of the reserved places until none is left. */
    const int used = soft + 3;
    char name[64];
    const char *const one[] = {"k", "v"};
    for (int i = 0; i < GW_METRICS_MAX_NAMED - used + 5; i++) {
        snprintf(name, sizeof(name), "portcullis_f%d_total", i);
        gw_metrics_count_labels(m, name, one, 1, 1);
    }
    text = render(&m, 1, NULL);
    assert_int_equal(count_lines(text, "portcullis_f", NULL) -
                         count_lines(text, "portcullis_fill_total", NULL),
                     GW_METRICS_MAX_NAMED - used);
    snprintf(name, sizeof(name), "portcullis_f%d_total{k=\"other\"}",
             GW_METRICS_MAX_NAMED - used - 1);
    assert_int_equal(value(text, name), 1);
    snprintf(name, sizeof(name), "portcullis_f%d_total", GW_METRICS_MAX_NAMED - used);
    assert_int_equal(count_lines(text, name, NULL), 0);
    assert_int_equal(value(text, "portcullis_metrics_dropped_total"), 1 + 5);
    /* The folded series, once there, still count. */
    snprintf(v, sizeof(v), "new");
    gw_metrics_count_labels(m, "portcullis_fill_total", two, 2, 1);
    free(text);
    text = render(&m, 1, NULL);
    assert_int_equal(value(text, "portcullis_fill_total{a=\"other\",b=\"other\"}"), 61);
    free(text);
    gw_metrics_free(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),         cmocka_unit_test(test_merge),
        cmocka_unit_test(test_histogram),     cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_cardinality),   cmocka_unit_test(test_named),
        cmocka_unit_test(test_threads),       cmocka_unit_test(test_count_unchanged),
        cmocka_unit_test(test_labels),        cmocka_unit_test(test_labels_merge),
        cmocka_unit_test(test_labels_family), cmocka_unit_test(test_labels_fold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
