/*
 * Unit tests for the audit core: the JSON writer (escaping, invalid UTF-8), the `audit` config
 * section (defaults, per-type keys, errors with positions), and records end to end through the
 * audit thread into a file sink: every record kind, valid JSON with the documented fields, and a
 * hash chain that verifies and continues across a restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "audit/audit.h"
#include "audit/record.h"
#include "audit/verify.h"
#include "config/cfg.h"

#define TAIL                                                                                       \
    "providers:\n"                                                                                 \
    "  - name: p\n"                                                                                \
    "    base_url: http://127.0.0.1:9\n"                                                           \
    "routes:\n"                                                                                    \
    "  - prefix: /\n"                                                                              \
    "    provider: p\n"

static struct gw_config *
load_ok(const char *text)
{
    struct gw_config *cfg = NULL;
    char err[512];
    if (gw_config_load_string("s.yaml", text, strlen(text), &cfg, err, sizeof(err)) != 0)
        fail_msg("unexpected error: %s", err);
    return cfg;
}

static void
expect_error(const char *text, const char *want)
{
    struct gw_config *cfg = NULL;
    char err[512];
    if (gw_config_load_string("s.yaml", text, strlen(text), &cfg, err, sizeof(err)) == 0)
        fail_msg("loaded, expected: %s", want);
    assert_string_equal(err, want);
}

/* ---- JSON writer ---- */

static void
test_jw_escape(void **state)
{
    (void)state;
    struct gw_jw w;
    gw_jw_begin(&w, 0, 0);
    gw_jw_str(&w, "a", "q\"b\\s\n\t\x01");
    gw_jw_strn(&w, "bad", "ok\xff\xc3(\xe2\x82\xac", 8); /* invalid bytes, then a euro sign */
    gw_jw_int(&w, "n", -42);
    gw_jw_obj(&w, "o");
    gw_jw_bool(&w, "t", 1);
    gw_jw_end(&w);
    gw_jw_end(&w);
    assert_false(w.oom);
    char *s = strndup(w.buf, w.len);
    assert_string_equal(
        s, "{\"a\":\"q\\\"b\\\\s\\n\\t\\u0001\",\"bad\":\"ok\\ufffd\\ufffd(\xe2\x82\xac\","
           "\"n\":-42,\"o\":{\"t\":true}}");
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    assert_non_null(j);
    json_decref(j);
    free(s);
    gw_jw_free(&w);
}

/* ---- config ---- */

static void
test_config(void **state)
{
    (void)state;
    struct gw_config *cfg = load_ok(TAIL);
    assert_int_equal(cfg->audit.nsinks, 0);
    assert_int_equal(cfg->audit.capture, GW_CAPTURE_REDACTED);
    assert_int_equal(cfg->routes[0].capture, GW_CAPTURE_REDACTED);
    assert_int_equal(cfg->routes[0].capture_max, 8192);
    gw_config_unref(cfg);

    setenv("GW_TEST_HEC", "tok-123", 1);
    cfg = load_ok("audit:\n"
                  "  spool_dir: /tmp/sp\n"
                  "  capture: hash\n"
                  "  sinks:\n"
                  "    - {name: f, type: file, path: /tmp/a.jsonl, rotate_bytes: 1m, keep: 2}\n"
                  "    - {name: s, type: syslog, address: '127.0.0.1:514', transport: udp,\n"
                  "       min_severity: high, events: [filter, auth]}\n"
                  "    - {name: h, type: splunk_hec, token_env: GW_TEST_HEC,\n"
                  "       url: 'https://hec.example:8088/services/collector/event'}\n"
                  "    - {name: e, type: elasticsearch, url: 'http://es:9200/_bulk', gzip: false}\n"
                  "providers:\n"
                  "  - name: p\n"
                  "    base_url: http://127.0.0.1:9\n"
                  "routes:\n"
                  "  - prefix: /a\n"
                  "    provider: p\n"
                  "    audit: {capture: none}\n"
                  "  - prefix: /\n"
                  "    provider: p\n");
    const struct gw_audit_cfg *a = &cfg->audit;
    assert_int_equal(a->nsinks, 4);
    assert_string_equal(a->spool_dir, "/tmp/sp");
    assert_int_equal(a->sinks[0].type, GW_SINK_FILE);
    assert_int_equal(a->sinks[0].rotate_bytes, 1 << 20);
    assert_int_equal(a->sinks[0].keep, 2);
    assert_int_equal(a->sinks[0].kinds, GW_AUDIT_K_ALL);
    assert_int_equal(a->sinks[1].transport, GW_SYSLOG_UDP);
    assert_int_equal(a->sinks[1].port, 514);
    assert_int_equal(a->sinks[1].min_severity, 3);
    assert_int_equal(a->sinks[1].kinds, GW_AUDIT_K_FILTER | GW_AUDIT_K_AUTH);
    assert_int_equal(a->sinks[2].type, GW_SINK_SPLUNK_HEC);
    assert_string_equal(a->sinks[2].token, "tok-123");
    assert_true(a->sinks[2].https);
    assert_string_equal(a->sinks[2].host, "hec.example");
    assert_int_equal(a->sinks[2].port, 8088);
    assert_string_equal(a->sinks[2].path_query, "/services/collector/event");
    assert_int_equal(a->sinks[2].flush_ms, 200);
    assert_int_equal(a->sinks[2].gzip, 1);
    assert_string_equal(a->sinks[3].index, "portcullis-audit");
    assert_int_equal(a->sinks[3].gzip, 0);
    for (size_t i = 0; i < cfg->nroutes; i++)
        assert_int_equal(cfg->routes[i].capture, strcmp(cfg->routes[i].prefix, "/a") == 0
                                                     ? GW_CAPTURE_NONE
                                                     : GW_CAPTURE_HASH);
    gw_config_unref(cfg);
    unsetenv("GW_TEST_HEC");
}

static void
test_prices(void **state)
{
    (void)state;
    struct gw_config *cfg =
        load_ok("prices:\n"
                "  - {models: [gpt-4o-mini*], input: 0.15, output: 0.6}\n"
                "  - {models: ['gpt-4o*', 'o3'], input: 2.5, output: 10}\n" TAIL);
    assert_int_equal(cfg->nprices, 2);
    /* first match wins: the mini price, not the gpt-4o* one */
    assert_float_equal(gw_config_cost(cfg, "gpt-4o-mini", 1000000, 1000000), 0.75, 1e-9);
    assert_float_equal(gw_config_cost(cfg, "gpt-4o", 2000, 500), 0.01, 1e-12);
    assert_float_equal(gw_config_cost(cfg, "o3", 0, 100000), 1.0, 1e-12);
    assert_float_equal(gw_config_cost(cfg, "gpt-4o", -1, 1000), 0.01, 1e-12);
    assert_true(gw_config_cost(cfg, "claude-3", 10, 10) < 0);
    assert_true(gw_config_cost(cfg, "gpt-4o", -1, -1) < 0);
    /* prompt-cache reads at cached_input (default: the input price) */
    assert_float_equal(gw_config_cost_cached(cfg, "gpt-4o", 2000, 1000, 500), 0.01, 1e-12);
    gw_config_unref(cfg);
    cfg = load_ok("prices:\n  - {models: [m], input: 2, output: 8, cached_input: 0.5}\n" TAIL);
    assert_float_equal(gw_config_cost_cached(cfg, "m", 1000000, 400000, 0), 1.4, 1e-9);
    assert_float_equal(gw_config_cost_cached(cfg, "m", 10, 50, 0), 5e-6, 1e-12); /* capped */
    assert_float_equal(gw_config_cost_cached(cfg, "m", -1, 5, 1000000), 8, 1e-9);
    assert_true(gw_config_cost(cfg, "", 10, 10) < 0);
    gw_config_unref(cfg);
    expect_error("prices:\n  - {models: [a], input: -1, output: 1}\n" TAIL,
                 "s.yaml:2:26: 'input' must be a number of USD per million tokens (e.g. 2.5)");
    expect_error("prices:\n  - {models: [a], input: 1e9, output: 1}\n" TAIL,
                 "s.yaml:2:26: 'input' must be a number from 0 to 1000000 (USD per million "
                 "tokens)");
    expect_error("prices:\n  - {models: [a], input: 1}\n" TAIL,
                 "s.yaml:2:5: missing required key 'output' in 'prices'");
}

static void
test_config_errors(void **state)
{
    (void)state;
    expect_error("audit:\n  sinks:\n    - {name: f, type: file}\n" TAIL,
                 "s.yaml:3:7: a file sink needs 'path'");
    expect_error("audit:\n  sinks:\n    - {name: f, type: file, path: a, address: 'h:1'}\n" TAIL,
                 "s.yaml:3:38: 'address' does not apply to a file sink");
    expect_error("audit:\n  sinks:\n    - {name: s, type: syslog}\n" TAIL,
                 "s.yaml:3:7: a syslog sink needs 'address' (\"host:port\")");
    expect_error("audit:\n  sinks:\n    - {name: h, type: webhook, url: 'ftp://x'}\n" TAIL,
                 "s.yaml:3:37: 'url' must start with http:// or https://");
    expect_error("audit:\n  sinks:\n    - {name: h, type: splunk_hec, url: 'http://x/',"
                 " token_env: GW_TEST_UNSET_ENV}\n" TAIL,
                 "s.yaml:3:64: 'token_env': environment variable 'GW_TEST_UNSET_ENV' is not set");
    expect_error("audit:\n  sinks:\n    - {name: f, type: file, path: a}\n"
                 "    - {name: f, type: file, path: b}\n" TAIL,
                 "s.yaml:4:14: duplicate sink name 'f' (first at line 3)");
    expect_error("audit:\n  sinks:\n    - {name: f, type: kafka}\n" TAIL,
                 "s.yaml:3:23: 'type' must be one of file, splunk_hec, elasticsearch, webhook, "
                 "syslog");
    expect_error("audit:\n  capture: everything\n" TAIL,
                 "s.yaml:2:12: 'capture' must be one of none, hash, redacted, full");
    expect_error("audit:\n  sinks:\n    - {name: f, type: file, path: a, events: [nope]}\n" TAIL,
                 "s.yaml:3:47: 'events' must be one of request, filter, auth, policy, config, "
                 "lifecycle");
}

/* ---- records end to end (audit thread + file sink + chain) ---- */

static char dir[256];

static struct gw_config *
file_config(void)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "audit:\n"
             "  spool_dir: %s/spool\n"
             "  capture: full\n"
             "  sinks:\n"
             "    - {name: all, type: file, path: %s/all.jsonl}\n"
             "    - {name: alerts, type: file, path: %s/alerts.jsonl, min_severity: high}\n" TAIL,
             dir, dir, dir);
    return load_ok(text);
}

static json_t **
read_records(const char *name, size_t *n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    json_t **v = calloc(1024, sizeof(*v));
    char *line = NULL;
    size_t cap = 0;
    *n = 0;
    while (getline(&line, &cap, f) > 0 && *n < 1024) {
        json_error_t je;
        v[*n] = json_loads(line, 0, &je);
        if (!v[*n])
            fail_msg("%s: not JSON: %s (%s)", name, line, je.text);
        (*n)++;
    }
    free(line);
    fclose(f);
    return v;
}

static const char *
str_at(json_t *j, const char *p1, const char *p2, const char *p3)
{
    json_t *x = json_object_get(j, p1);
    if (p2)
        x = json_object_get(x, p2);
    if (p3)
        x = json_object_get(x, p3);
    return json_string_value(x);
}

static int
verify(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    struct gw_verify_state st;
    char msg[512];
    gw_audit_verify_init(&st, NULL, 0);
    int rc = gw_audit_verify_stream(f, name, &st, msg, sizeof(msg));
    fclose(f);
    if (rc != 0)
        print_message("%s\n", msg);
    return rc;
}

static void
test_records(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/pc-audit-unit-XXXXXX");
    assert_non_null(mkdtemp(dir));
    struct gw_config *cfg = file_config();
    char err[512];
    assert_int_equal(gw_audit_start(cfg, err, sizeof(err)), 0);
    assert_true(gw_audit_wants(GW_AUDIT_K_FILTER, 3));

    struct gw_audit_who who = {.request_id = "rid-1",
                               .session = "sess-9",
                               .team = "platform",
                               .key_id = "k1",
                               .user = "alice",
                               .client_ip = "10.0.0.7",
                               .provider = "openai",
                               .model = "gpt-4o",
                               .route = "/v1/",
                               .method = "POST",
                               .path = "/v1/chat/completions"};
    gw_audit_lifecycle("start", "0.1.0");
    gw_audit_config("config_load", cfg, "s.yaml", 1, NULL);
    struct gw_event ev = {.filter = "secrets",
                          .rule_id = "aws_key",
                          .category = "secret",
                          .action = "block",
                          .severity = 4,
                          .score = 0.9,
                          .role = GW_ROLE_USER,
                          .msg_index = 2,
                          .offset = 10,
                          .length = 20};
    gw_audit_filter(&who, &ev, GW_DIR_REQUEST);
    gw_audit_auth_failure(&who, "unknown_key", 401);
    gw_audit_policy(&who, "model_not_allowed", "Model 'x' is not approved", 403);
    struct gw_audit_req r = {.status = 200,
                             .upstream_status = 200,
                             .duration_ms = 12.5,
                             .ttfb_ms = 3,
                             .tokens_in = 11,
                             .tokens_out = 7,
                             .cost = -1,
                             .bytes_in = 100,
                             .bytes_out = 200,
                             .capture = GW_CAPTURE_FULL,
                             .prompt = {.text = "user: hi", .len = 8, .total = 8},
                             .response = {.text = "assistant: hello", .len = 16, .total = 99}};
    gw_audit_request(&who, &r);
    gw_audit_stop(2000);

    size_t n = 0;
    json_t **v = read_records("all.jsonl", &n);
    assert_int_equal(n, 6);
    const char *actions[] = {"start",        "config_load",       "block",
                             "auth_failure", "model_not_allowed", "request"};
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(str_at(v[i], "event", "action", NULL), actions[i]);
        assert_string_equal(str_at(v[i], "source_type", NULL, NULL), "llm_application");
        assert_non_null(str_at(v[i], "@timestamp", NULL, NULL));
        assert_int_equal(json_integer_value(json_object_get(v[i], "seq")), (json_int_t)i + 1);
    }
    assert_string_equal(str_at(v[1], "portcullis", "config", "sha256"), cfg->sha256);
    /* the filter record: who, which model, which rule, what action, where */
    assert_string_equal(str_at(v[2], "rule", "id", NULL), "aws_key");
    assert_string_equal(str_at(v[2], "rule", "category", NULL), "secret");
    assert_string_equal(str_at(v[2], "event", "kind", NULL), "alert");
    assert_string_equal(str_at(v[2], "user", "name", NULL), "alice");
    assert_string_equal(str_at(v[2], "portcullis", "team", NULL), "platform");
    assert_string_equal(str_at(v[2], "portcullis", "key_id", NULL), "k1");
    assert_string_equal(str_at(v[2], "portcullis", "session_id", NULL), "sess-9");
    assert_string_equal(str_at(v[2], "gen_ai", "request", "model"), "gpt-4o");
    assert_string_equal(str_at(v[2], "http", "request", "id"), "rid-1");
    assert_string_equal(str_at(v[2], "client", "ip", NULL), "10.0.0.7");
    json_t *seg = json_object_get(json_object_get(v[2], "portcullis"), "segment");
    assert_string_equal(json_string_value(json_object_get(seg, "role")), "user");
    assert_int_equal(json_integer_value(json_object_get(seg, "offset")), 10);
    assert_int_equal(json_integer_value(json_object_get(seg, "length")), 20);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(v[2], "event"), "severity")), 4);
    /* the request record: usage, capture */
    json_t *usage = json_object_get(json_object_get(v[5], "gen_ai"), "usage");
    assert_int_equal(json_integer_value(json_object_get(usage, "input_tokens")), 11);
    assert_int_equal(json_integer_value(json_object_get(usage, "output_tokens")), 7);
    json_t *cap = json_object_get(json_object_get(v[5], "portcullis"), "capture");
    assert_string_equal(json_string_value(json_object_get(cap, "prompt")), "user: hi");
    assert_true(json_is_true(json_object_get(cap, "response_truncated")));
    assert_int_equal(json_integer_value(json_object_get(cap, "response_bytes")), 99);
    for (size_t i = 0; i < n; i++)
        json_decref(v[i]);
    free(v);

    /* the alerts sink took only severity >= high, in a chain of its own */
    v = read_records("alerts.jsonl", &n);
    assert_int_equal(n, 1);
    assert_string_equal(str_at(v[0], "rule", "id", NULL), "aws_key");
    assert_int_equal(json_integer_value(json_object_get(v[0], "seq")), 1);
    json_decref(v[0]);
    free(v);
    assert_int_equal(verify("all.jsonl"), 0);
    assert_int_equal(verify("alerts.jsonl"), 0);

    /* a restart continues each chain */
    assert_int_equal(gw_audit_start(cfg, err, sizeof(err)), 0);
    gw_audit_lifecycle("start", "again");
    gw_audit_stop(2000);
    v = read_records("all.jsonl", &n);
    assert_int_equal(n, 7);
    assert_int_equal(json_integer_value(json_object_get(v[6], "seq")), 7);
    for (size_t i = 0; i < n; i++)
        json_decref(v[i]);
    free(v);
    assert_int_equal(verify("all.jsonl"), 0);

    gw_config_unref(cfg);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Workers never wait: past queue_bytes records go to the overflow file, and come back in order. */
static void
test_overflow(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/pc-audit-unit-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char text[2048];
    snprintf(text, sizeof(text),
             "audit:\n"
             "  spool_dir: %s/spool\n"
             "  queue_bytes: 64k\n"
             "  sinks:\n"
             "    - {name: all, type: file, path: %s/all.jsonl}\n" TAIL,
             dir, dir);
    struct gw_config *cfg = load_ok(text);
    char err[512];
    assert_int_equal(gw_audit_start(cfg, err, sizeof(err)), 0);
    uint64_t before = gw_audit_overflowed();
    gw_audit_test_hold(1);
    char detail[600];
    for (int i = 0; i < 300; i++) {
        snprintf(detail, sizeof(detail), "%d %0500d", i, 0);
        gw_audit_lifecycle("start", detail);
    }
    assert_true(gw_audit_overflowed() - before > 100);
    gw_audit_test_hold(0);
    gw_audit_stop(2000);
    size_t n = 0;
    json_t **v = read_records("all.jsonl", &n);
    assert_int_equal(n, 300);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(atoi(str_at(v[i], "event", "reason", NULL)), (int)i);
        json_decref(v[i]);
    }
    free(v);
    char path[512];
    snprintf(path, sizeof(path), "%s/all.jsonl", dir);
    FILE *f = fopen(path, "r");
    struct gw_verify_state st;
    char msg[512];
    gw_audit_verify_init(&st, NULL, 0);
    assert_int_equal(gw_audit_verify_stream(f, "all.jsonl", &st, msg, sizeof(msg)), 0);
    fclose(f);
    assert_int_equal(st.records, 300);
    gw_config_unref(cfg);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jw_escape), cmocka_unit_test(test_config),
        cmocka_unit_test(test_prices),    cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_records),   cmocka_unit_test(test_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
