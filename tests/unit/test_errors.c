/* Unit tests for providers/errors.c: provider-format error bodies and events. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "providers/provider.h"

static json_t *
parse(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    assert_non_null(j);
    return j;
}

static void
test_openai_body(void **state)
{
    (void)state;
    char buf[512];
    size_t n = gw_error_body(GW_API_OPENAI, 413, "too \"big\"\n\x01", buf, sizeof(buf));
    assert_int_equal(n, strlen(buf));
    json_t *j = parse(buf);
    json_t *err = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(err, "message")), "too \"big\"\n\x01");
    assert_string_equal(json_string_value(json_object_get(err, "type")), "invalid_request_error");
    assert_string_equal(json_string_value(json_object_get(err, "code")), "request_too_large");
    assert_true(json_is_null(json_object_get(err, "param")));
    json_decref(j);
}

static void
test_anthropic_body(void **state)
{
    (void)state;
    char buf[512];
    gw_error_body(GW_API_ANTHROPIC, 504, "upstream timed out", buf, sizeof(buf));
    json_t *j = parse(buf);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "error");
    json_t *err = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(err, "type")), "timeout_error");
    assert_string_equal(json_string_value(json_object_get(err, "message")), "upstream timed out");
    json_decref(j);
}

static void
test_events(void **state)
{
    (void)state;
    char buf[512];
    size_t n = gw_error_event(GW_API_OPENAI, 502, "cut", buf, sizeof(buf));
    assert_int_equal(n, strlen(buf));
    assert_memory_equal(buf, "data: {", 7);
    assert_memory_equal(buf + n - 2, "\n\n", 2);
    n = gw_error_event(GW_API_ANTHROPIC, 502, "cut", buf, sizeof(buf));
    assert_memory_equal(buf, "event: error\ndata: {\"type\":\"error\"", 34);
    buf[n - 2] = 0;
    json_t *j = parse(buf + 19);
    json_decref(j);
}

static void
test_truncation_stays_valid_c_string(void **state)
{
    (void)state;
    char small[40];
    size_t n =
        gw_error_body(GW_API_OPENAI, 500, "a long message that will not fit", small, sizeof(small));
    assert_true(n < sizeof(small));
    assert_int_equal(strlen(small), n);
}

static void
test_api_for_path(void **state)
{
    (void)state;
    assert_int_equal(gw_api_for_path("/v1/messages", 12), GW_API_ANTHROPIC);
    assert_int_equal(gw_api_for_path("/v1/messages?beta=1", 19), GW_API_ANTHROPIC);
    assert_int_equal(gw_api_for_path("/v1/messagesX", 13), GW_API_OPENAI);
    assert_int_equal(gw_api_for_path("/v1/chat/completions", 20), GW_API_OPENAI);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_body),  cmocka_unit_test(test_anthropic_body),
        cmocka_unit_test(test_events),       cmocka_unit_test(test_truncation_stays_valid_c_string),
        cmocka_unit_test(test_api_for_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
