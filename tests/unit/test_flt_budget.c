/* Unit tests for budgets: the config (teams[].budgets, rate_limits, the budgets section), the
 * built-in filter's place in every chain, and the counters' windows (calendar and rolling,
 * roll-over) against the memory store with a test clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/cfg.h"
#include "filters/filter.h"
#include "filters/flt_budget.h"
#include "store/budget.h"

#define TAIL                                                                                       \
    "providers:\n"                                                                                 \
    "  - name: p\n"                                                                                \
    "    base_url: http://127.0.0.1:9\n"                                                           \
    "routes:\n"                                                                                    \
    "  - prefix: /a\n"                                                                             \
    "    provider: p\n"                                                                            \
    "    filters: []\n"                                                                            \
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

#define KEY_SHA "  - id: k1\n    team: t\n    sha256: " SHA64 "\n"
#define SHA64 "0000000000000000000000000000000000000000000000000000000000000001"

static void
test_config(void **state)
{
    (void)state;
    struct gw_config *cfg =
        load_ok("teams:\n"
                "  - name: t\n"
                "    budgets:\n"
                "      - window: day\n"
                "        tokens: 1000\n"
                "        cost: 2.5\n"
                "      - {window: hour, rolling: true, output_tokens: 7}\n"
                "    rate_limits: {requests_per_minute: 60}\n"
                "keys:\n" KEY_SHA "    budgets: [{window: month, requests: 9}]\n"
                "prices:\n"
                "  - {models: [m*], input: 1, output: 4, cached_input: 0.5}\n"
                "budgets:\n"
                "  journal: off\n"
                "  thresholds: [50, 90]\n"
                "  default_output_tokens: 77\n" TAIL);
    assert_true(cfg->has_budgets);
    const struct gw_budget_policy *p = &cfg->teams[0].budget;
    assert_int_equal(p->n, 4);
    assert_int_equal(p->v[0].metric, GW_BM_TOKENS);
    assert_int_equal(p->v[0].window, GW_WIN_DAY);
    assert_int_equal(p->v[0].limit, 1000);
    assert_int_equal(p->v[1].metric, GW_BM_COST);
    assert_int_equal(p->v[1].limit, 2500000); /* micro-USD */
    assert_int_equal(p->v[2].metric, GW_BM_OUTPUT);
    assert_true(p->v[2].rolling);
    assert_int_equal(p->v[3].metric, GW_BM_REQUESTS);
    assert_int_equal(p->v[3].window, GW_WIN_MINUTE);
    assert_true(p->v[3].rolling);
    assert_int_equal(cfg->keys[0].budget.n, 1);
    assert_int_equal(cfg->keys[0].budget.v[0].limit, 9);
    assert_null(cfg->budgets.journal);
    assert_int_equal(cfg->budgets.nthresholds, 2);
    assert_int_equal(cfg->budgets.default_output_tokens, 77);
    assert_true(cfg->prices[0].cached_input == 0.5);
    /* every route's chain starts with the budget filter, an empty `filters` list included */
    for (size_t i = 0; i < cfg->nroutes; i++) {
        assert_true(cfg->routes[i].chain.n >= 1);
        assert_ptr_equal(cfg->routes[i].chain.v[0]->ops, &gw_budget_filter_ops);
        assert_true(cfg->routes[i].chain.req_body);
    }
    /* check and scan do not open the store */
    assert_null(gw_budget_conf_store(cfg->budget_filter.conf));
    gw_config_unref(cfg);

    /* no limits: no filter, whatever the budgets section says */
    cfg = load_ok("teams: [{name: t}]\nbudgets: {store: redis}\n" TAIL);
    assert_false(cfg->has_budgets);
    assert_int_equal(cfg->routes[0].chain.n, 0);
    gw_config_unref(cfg);
}

static void
test_config_errors(void **state)
{
    (void)state;
    expect_error("teams:\n  - name: t\n    budgets:\n      - {tokens: 5}\n" TAIL,
                 "s.yaml:4:9: 'budgets' entry: 'window' is required (minute, hour, day, month)");
    expect_error("teams:\n  - name: t\n    budgets:\n      - {window: week, tokens: 5}\n" TAIL,
                 "s.yaml:4:18: 'window' must be one of minute, hour, day, month");
    expect_error("teams:\n  - name: t\n    budgets:\n      - {window: day}\n" TAIL,
                 "s.yaml:4:9: 'budgets' entry sets no limit: give tokens, input_tokens, "
                 "output_tokens, cost or requests");
    expect_error("teams:\n  - name: t\n    budgets:\n      - {window: day, tokens: -3}\n" TAIL,
                 "s.yaml:4:31: 'tokens' must be a whole number from 1 to 1000000000000000");
    expect_error("teams:\n  - name: t\n    budgets:\n      - {window: day, cost: abc}\n" TAIL,
                 "s.yaml:4:29: 'cost' must be an amount of USD (e.g. 25 or 0.50)");
    expect_error("teams:\n  - name: t\n    budgets:\n      - {window: day, tokenz: 5}\n" TAIL,
                 "s.yaml:4:23: unknown key 'budgets.tokenz' (known: window, rolling, tokens, "
                 "input_tokens, output_tokens, cost, requests)");
    expect_error("teams:\n  - name: t\n    budgets:\n      - {window: day, tokens: 5}\n"
                 "      - {window: day, tokens: 6}\n" TAIL,
                 "s.yaml:5:31: a day 'tokens' budget is already set at line 4");
    expect_error("teams:\n  - name: t\n    rate_limits: {rpm: 5}\n" TAIL,
                 "s.yaml:3:19: unknown key 'rate_limits.rpm' (known: requests_per_minute, "
                 "tokens_per_minute)");
    expect_error("budgets: {store: sqlite}\n" TAIL,
                 "s.yaml:1:18: 'store' must be one of memory, redis");
    expect_error("budgets: {thresholds: [80, 50]}\n" TAIL,
                 "s.yaml:1:28: 'thresholds' must be in ascending order");
    expect_error(
        "budgets:\n  redis: {address: nohost}\n" TAIL,
        "s.yaml:2:20: 'address' must be host:port (e.g. 127.0.0.1:6379): expected host:port, "
        "[v6]:port or :port");
    expect_error("budgets:\n  redis: {address: ':6379'}\n" TAIL,
                 "s.yaml:2:20: 'address' must be host:port (e.g. 127.0.0.1:6379): a host is "
                 "required");
    expect_error("budgets:\n  anomaly: {window: 1h, baseline: 1h}\n" TAIL,
                 "s.yaml:2:12: 'anomaly.baseline' must be at least twice 'anomaly.window'");
}

/* ---- windows ---- */

static uint64_t now_ms;

static uint64_t
test_clock(void)
{
    return now_ms;
}

static void
test_windows(void **state)
{
    (void)state;
    struct gw_budget_counter c;
    uint64_t end;
    struct gw_budget_limit day = {GW_BM_TOKENS, GW_WIN_DAY, 0, 100, 1};
    /* 2026-11-29T22:33:20Z */
    uint64_t t = 1795991600000ull;
    gw_budget_counter_for(&day, 't', "search", t, &c, &end);
    assert_string_equal(c.cur, "b:t:search:tokens:day:20786");
    assert_string_equal(c.prev, "");
    assert_int_equal(end, 20787ull * 86400000);
    assert_int_equal(c.expire_at_ms, end + 3600000);
    assert_int_equal(c.limit, 100);

    struct gw_budget_limit month = {GW_BM_COST, GW_WIN_MONTH, 0, 5, 1};
    gw_budget_counter_for(&month, 'k', "ci", t, &c, &end);
    assert_string_equal(c.cur, "b:k:ci:cost:month:202611");
    assert_int_equal(end, 1796083200000ull); /* 2026-12-01T00:00:00Z */
    /* December rolls into January of the next year */
    gw_budget_counter_for(&month, 'k', "ci", 1796083200000ull + 5, &c, &end);
    assert_string_equal(c.cur, "b:k:ci:cost:month:202612");
    assert_int_equal(end, 1798761600000ull); /* 2027-01-01T00:00:00Z */

    struct gw_budget_limit rpm = {GW_BM_REQUESTS, GW_WIN_MINUTE, 1, 10, 1};
    uint64_t b = t / 60000;
    gw_budget_counter_for(&rpm, 't', "x", b * 60000 + 15000, &c, &end);
    assert_string_equal(c.cur + strlen(c.cur) - 8, "29933193");
    assert_int_equal(c.prev_weight_ppm, 750000); /* 45 of the 60 s of the previous minute */
    assert_int_equal(end, (b + 1) * 60000);
    assert_non_null(strstr(c.cur, "b:t:x:requests:minute~:"));
}

/* Roll-over against the memory store: a fixed window starts again from zero, a rolling one lets
 * the previous bucket's use fade. */
static void
test_rollover(void **state)
{
    (void)state;
    char err[256];
    struct gw_budget_store *s = gw_budget_mem_new(NULL, 0, 0, err, sizeof(err));
    assert_non_null(s);
    gw_budget_clock = test_clock;
    struct gw_budget_counter c;
    struct gw_budget_result r;
    struct gw_budget_limit hour = {GW_BM_TOKENS, GW_WIN_HOUR, 0, 100, 1};
    now_ms = 1795990000000ull / 3600000 * 3600000 + 10;
    gw_budget_counter_for(&hour, 't', "t", now_ms, &c, NULL);
    c.amount = 100;
    assert_int_equal(gw_budget_run(s, NULL, GW_BUDGET_RESERVE, &c, 1, &r, NULL, NULL, NULL),
                     GW_BUDGET_DONE);
    assert_int_equal(r.status, GW_BUDGET_OK);
    c.amount = 1;
    gw_budget_run(s, NULL, GW_BUDGET_RESERVE, &c, 1, &r, NULL, NULL, NULL);
    assert_int_equal(r.status, GW_BUDGET_DENIED);
    now_ms += 3600000; /* the next hour */
    gw_budget_counter_for(&hour, 't', "t", now_ms, &c, NULL);
    c.amount = 100;
    gw_budget_run(s, NULL, GW_BUDGET_RESERVE, &c, 1, &r, NULL, NULL, NULL);
    assert_int_equal(r.status, GW_BUDGET_OK);

    struct gw_budget_limit roll = {GW_BM_REQUESTS, GW_WIN_MINUTE, 1, 10, 1};
    now_ms = 1795990000000ull / 60000 * 60000; /* the start of a minute */
    for (int i = 0; i < 10; i++) {
        gw_budget_counter_for(&roll, 'k', "k", now_ms, &c, NULL);
        c.amount = 1;
        gw_budget_run(s, NULL, GW_BUDGET_RESERVE, &c, 1, &r, NULL, NULL, NULL);
        assert_int_equal(r.status, GW_BUDGET_OK);
    }
    c.amount = 1;
    gw_budget_run(s, NULL, GW_BUDGET_RESERVE, &c, 1, &r, NULL, NULL, NULL);
    assert_int_equal(r.status, GW_BUDGET_DENIED);
    /* 30 s into the next minute, half of the previous one is still inside the window: 5 */
    now_ms += 90000;
    gw_budget_counter_for(&roll, 'k', "k", now_ms, &c, NULL);
    c.amount = 5;
    gw_budget_run(s, NULL, GW_BUDGET_RESERVE, &c, 1, &r, NULL, NULL, NULL);
    assert_int_equal(r.status, GW_BUDGET_OK);
    assert_int_equal(r.value[0], 10);
    c.amount = 1;
    gw_budget_run(s, NULL, GW_BUDGET_RESERVE, &c, 1, &r, NULL, NULL, NULL);
    assert_int_equal(r.status, GW_BUDGET_DENIED);
    /* a minute later the old bucket is out of the window, the new one half in */
    now_ms += 60000;
    gw_budget_counter_for(&roll, 'k', "k", now_ms, &c, NULL);
    c.amount = 0;
    gw_budget_run(s, NULL, GW_BUDGET_READ, &c, 1, &r, NULL, NULL, NULL);
    assert_int_equal(r.value[0], 3); /* 5 * 0.5, rounded up */
    gw_budget_free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_rollover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
