/*
 * Unit tests for providers/reqinfo.c: top-level request fields found by the one-pass scanner, the
 * syntax it refuses, and a differential check against jansson on handwritten bodies and every
 * prefix of each.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "providers/reqinfo.h"

/* Scans a copy of exactly len bytes, so that ASan catches any read past the end. */
static struct gw_reqinfo
scanb(const char *body, size_t len)
{
    struct gw_reqinfo ri;
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, body, len);
    memset(&ri, 0x5a, sizeof(ri)); /* the scanner must set everything */
    gw_reqinfo_scan(copy, len, &ri);
    free(copy);
    return ri;
}

static struct gw_reqinfo
scan(const char *body)
{
    return scanb(body, strlen(body));
}

static void
assert_unknown(const struct gw_reqinfo *ri)
{
    assert_int_equal(ri->valid, 0);
    assert_int_equal(ri->has_model, 0);
    assert_int_equal(ri->has_user, 0);
    assert_int_equal(ri->has_metadata_user_id, 0);
    assert_int_equal(ri->has_stream, 0);
    assert_int_equal(ri->stream, 0);
    assert_string_equal(ri->model, "");
    assert_string_equal(ri->user, "");
    assert_string_equal(ri->metadata_user_id, "");
}

static void
assert_invalid(const char *body)
{
    struct gw_reqinfo ri = scan(body);
    assert_unknown(&ri);
}

static void
test_openai_chat(void **state)
{
    (void)state;
    struct gw_reqinfo ri = scan("{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\","
                                "\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
                                "\"Hi \\\"there\\\"\\n\"}],\"temperature\":0.7,\"max_tokens\":"
                                "256,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                                "\"user\":\"user-1234\"}");
    assert_int_equal(ri.valid, 1);
    assert_int_equal(ri.has_model, 1);
    assert_string_equal(ri.model, "gpt-4o-mini");
    assert_int_equal(ri.has_user, 1);
    assert_string_equal(ri.user, "user-1234");
    assert_int_equal(ri.has_stream, 1);
    assert_int_equal(ri.stream, 1);
    assert_int_equal(ri.has_metadata_user_id, 0);
    assert_string_equal(ri.metadata_user_id, "");
}

static void
test_anthropic_messages(void **state)
{
    (void)state;
    /* "model", "user" and "metadata" nested in messages, tools and content must not count, nor
     * "user_id" anywhere but directly in top-level metadata. */
    struct gw_reqinfo ri = scan(
        "{\"messages\":[{\"role\":\"user\",\"model\":\"nested-model\",\"user\":\"nested\","
        "\"content\":[{\"type\":\"text\",\"text\":\"hello\",\"metadata\":{\"user_id\":\"no\"}}]}],"
        "\"tools\":[{\"name\":\"t\",\"input_schema\":{\"type\":\"object\",\"properties\":"
        "{\"model\":{\"type\":\"string\"}}}}],\"user_id\":\"top-level-no\","
        "\"metadata\":{\"other\":{\"user_id\":\"deeper-no\"},\"user_id\":\"sess-42\",\"x\":[1]},"
        "\"max_tokens\":1024,\"model\":\"claude-sonnet-4-5\"}");
    assert_int_equal(ri.valid, 1);
    assert_int_equal(ri.has_model, 1);
    assert_string_equal(ri.model, "claude-sonnet-4-5");
    assert_int_equal(ri.has_metadata_user_id, 1);
    assert_string_equal(ri.metadata_user_id, "sess-42");
    assert_int_equal(ri.has_user, 0);
    assert_int_equal(ri.has_stream, 0);
    assert_int_equal(ri.stream, 0);

    /* deeper "user_id" alone does not count */
    ri = scan("{\"metadata\":{\"a\":{\"user_id\":\"x\"}},\"b\":{\"user_id\":\"y\"}}");
    assert_int_equal(ri.valid, 1);
    assert_int_equal(ri.has_metadata_user_id, 0);
}

static void
test_key_escapes(void **state)
{
    (void)state;
    struct gw_reqinfo ri =
        scan("{\"mo\\u0064el\":\"m\",\"\\u0075\\u0073\\u0065\\u0072\":\"u\","
             "\"str\\u0065am\":true,\"m\\u0065tadata\":{\"user\\u005fid\":\"s\"}}");
    assert_int_equal(ri.valid, 1);
    assert_int_equal(ri.has_model, 1);
    assert_string_equal(ri.model, "m");
    assert_int_equal(ri.has_user, 1);
    assert_string_equal(ri.user, "u");
    assert_int_equal(ri.stream, 1);
    assert_int_equal(ri.has_metadata_user_id, 1);
    assert_string_equal(ri.metadata_user_id, "s");

    /* near misses and a long escaped key are just other keys */
    ri = scan("{\"model \":\"a\",\"Model\":\"b\",\"mode\":\"c\",\"model\\u0000\":\"d\"}");
    assert_unknown(&ri); /* \u0000 is refused everywhere, keys included */
    ri = scan("{\"model \":\"a\",\"Model\":\"b\",\"mode\":\"c\",\"modelmodelmodelmodel\":\"d\"}");
    assert_int_equal(ri.valid, 1);
    assert_int_equal(ri.has_model, 0);
}

static void
test_value_escapes(void **state)
{
    (void)state;
    struct gw_reqinfo ri = scan("{\"model\":\"caf\\u00e9 \\ud83d\\ude00 \\u20AC\","
                                "\"user\":\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t.\"}");
    assert_int_equal(ri.valid, 1);
    assert_int_equal(ri.has_model, 1);
    assert_string_equal(ri.model, "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac");
    assert_int_equal(ri.has_user, 1);
    assert_string_equal(ri.user, "q\" b\\ s/ \b\f\n\r\t.");

    /* raw UTF-8 is kept as is */
    ri = scan("{\"model\":\"caf\xc3\xa9 \xf0\x9f\x98\x80 \xe4\xb8\xad\xef\xbf\xbf\"}");
    assert_int_equal(ri.valid, 1);
    assert_string_equal(ri.model, "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe4\xb8\xad\xef\xbf\xbf");

    /* DEL and the largest code points are fine */
    ri = scan("{\"model\":\"\x7f\\udbff\\udfff\xf4\x8f\xbf\xbf\"}");
    assert_int_equal(ri.valid, 1);
    assert_string_equal(ri.model, "\x7f\xf4\x8f\xbf\xbf\xf4\x8f\xbf\xbf");
}

static void
test_invalid_truncated(void **state)
{
    (void)state;
    const char *body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
                       "\"a\\u00e9\"}],\"stream\":false}";
    size_t n = strlen(body);
    for (size_t i = 0; i < n; i++) {
        struct gw_reqinfo ri = scanb(body, i);
        assert_unknown(&ri);
    }
    struct gw_reqinfo ri = scanb(body, n);
    assert_int_equal(ri.valid, 1);
    assert_string_equal(ri.model, "gpt-4o");
    assert_int_equal(ri.has_stream, 1);
    assert_int_equal(ri.stream, 0);
}

static void
test_invalid_trailing(void **state)
{
    (void)state;
    assert_invalid("{\"model\":\"m\"}x");
    assert_invalid("{\"model\":\"m\"}}");
    assert_invalid("{\"model\":\"m\"},");
    assert_invalid("{\"model\":\"m\"}{}");
    assert_invalid("{\"model\":\"m\"} \"\"");
    assert_invalid("{\"model\":\"m\"}\f");
    struct gw_reqinfo ri = scanb("{\"model\":\"m\"}\0", 14);
    assert_unknown(&ri);
    ri = scan(" \r\n\t{\"model\":\"m\"} \r\n\t");
    assert_int_equal(ri.valid, 1);
    assert_string_equal(ri.model, "m");
}

static void
test_invalid_not_object(void **state)
{
    (void)state;
    assert_invalid("");
    assert_invalid("   \n");
    assert_invalid("[{\"model\":\"m\"}]");
    assert_invalid("\"model\"");
    assert_invalid("42");
    assert_invalid("true");
    assert_invalid("null");
    assert_invalid("\xef\xbb\xbf{}"); /* no BOM, as jansson */
    struct gw_reqinfo ri = scan("{}");
    assert_int_equal(ri.valid, 1);
    assert_int_equal(ri.has_model, 0);
    /* a NULL body is just an empty one */
    gw_reqinfo_scan(NULL, 0, &ri);
    assert_unknown(&ri);
}

static void
test_invalid_syntax(void **state)
{
    (void)state;
    assert_invalid("{\"model\" \"m\"}");
    assert_invalid("{\"model\":}");
    assert_invalid("{\"model\":\"m\",}");
    assert_invalid("{,\"model\":\"m\"}");
    assert_invalid("{\"a\":[1,]}");
    assert_invalid("{\"a\":[,1]}");
    assert_invalid("{\"a\":[1 2]}");
    assert_invalid("{\"a\":[}");
    assert_invalid("{\"a\":{]}");
    assert_invalid("{\"a\":[1}]");
    assert_invalid("{model:\"m\"}");
    assert_invalid("{'model':'m'}");
    assert_invalid("{\"a\":tru}");
    assert_invalid("{\"a\":truee}");
    assert_invalid("{\"a\":True}");
    assert_invalid("{\"a\":nul}");
    assert_invalid("{\"a\":fals}");
    assert_invalid("{\"a\":undefined}");
    assert_invalid("{\"a\":\"x\"\"y\"}");
    assert_invalid("{\"a\":\"\\x41\"}");
    assert_invalid("{\"a\":\"\\u12g4\"}");
    assert_invalid("{\"a\":\"\\u12\"}");
    assert_invalid("{\"a\":\"\\U0041\"}");
    assert_invalid("{\"a\":\"\\'\"}");
    assert_invalid("{1:2}");
}

static void
test_invalid_control_char(void **state)
{
    (void)state;
    assert_invalid("{\"model\":\"a\nb\"}");
    assert_invalid("{\"model\":\"a\tb\"}");
    assert_invalid("{\"x\":\"a\x1f\"}");
    assert_invalid("{\"x\":[\"long enough for the fast path \x01 to see it\"]}");
    assert_invalid("{\"a\x02\":1}");
    struct gw_reqinfo ri = scanb("{\"x\":\"a\0b\"}", 11);
    assert_unknown(&ri);
    /* \u0000 is refused in skipped values too (see reqinfo.h) */
    assert_invalid("{\"x\":\"a\\u0000b\"}");
    /* escaped control characters are fine */
    ri = scan("{\"model\":\"\\u0001\\u001f\"}");
    assert_int_equal(ri.valid, 1);
    assert_string_equal(ri.model, "\x01\x1f");
}

static void
test_invalid_surrogates(void **state)
{
    (void)state;
    assert_invalid("{\"model\":\"\\ud83d\"}");
    assert_invalid("{\"model\":\"\\ude00\"}");
    assert_invalid("{\"model\":\"\\ude00\\ud83d\"}");
    assert_invalid("{\"model\":\"\\ud83d\\ud83d\"}");
    assert_invalid("{\"model\":\"\\ud83dx\"}");
    assert_invalid("{\"model\":\"\\ud83d\\n\"}");
    assert_invalid("{\"model\":\"\\ud83d\\u0041\"}");
    assert_invalid("{\"x\":[\"\\udfff\"]}"); /* in a skipped value too */
}

static void
test_invalid_utf8(void **state)
{
    (void)state;
    assert_invalid("{\"model\":\"\xff\"}");
    assert_invalid("{\"model\":\"\x80\"}");             /* lone continuation */
    assert_invalid("{\"model\":\"\xc0\x80\"}");         /* overlong NUL */
    assert_invalid("{\"model\":\"\xc1\xbf\"}");         /* overlong */
    assert_invalid("{\"model\":\"\xe0\x9f\xbf\"}");     /* overlong 3-byte */
    assert_invalid("{\"model\":\"\xed\xa0\x80\"}");     /* encoded surrogate */
    assert_invalid("{\"model\":\"\xf0\x8f\xbf\xbf\"}"); /* overlong 4-byte */
    assert_invalid("{\"model\":\"\xf4\x90\x80\x80\"}"); /* above U+10FFFF */
    assert_invalid("{\"model\":\"\xf5\x80\x80\x80\"}");
    assert_invalid("{\"model\":\"\xc3\"}"); /* truncated by the quote */
    assert_invalid("{\"model\":\"\xe4\xb8\"}");
    assert_invalid("{\"x\":[\"a fast-path run, then \xfe in a skipped value\"]}");
    assert_invalid("{\"x\":1}\xc3\xa9");
    struct gw_reqinfo ri = scanb("{\"model\":\"\xf0\x9f\x98", 13); /* truncated by the end */
    assert_unknown(&ri);
}

/* Nesting: n levels of arrays under the top-level object (which is level 1). */
static struct gw_reqinfo
nested(size_t levels)
{
    size_t n = levels - 1;
    size_t len = strlen("{\"model\":\"m\",\"x\":") + 2 * n + 1;
    char *b = malloc(len + 1);
    assert_non_null(b);
    strcpy(b, "{\"model\":\"m\",\"x\":");
    size_t o = strlen(b);
    memset(b + o, '[', n);
    memset(b + o + n, ']', n);
    b[o + 2 * n] = '}';
    struct gw_reqinfo ri = scanb(b, len);
    free(b);
    return ri;
}

static void
test_depth(void **state)
{
    (void)state;
    struct gw_reqinfo ri = nested(GW_REQINFO_MAX_DEPTH);
    assert_int_equal(ri.valid, 1);
    assert_string_equal(ri.model, "m");
    ri = nested(GW_REQINFO_MAX_DEPTH + 1);
    assert_unknown(&ri);
    ri = nested(1000);
    assert_unknown(&ri);
    /* depth 1000 of objects, unclosed and closed: both refused, neither crashes */
    size_t n = 1000;
    char *b = malloc(6 * n + 2);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        memcpy(b + 5 * i, "{\"a\":", 5);
    b[5 * n] = '1';
    memset(b + 5 * n + 1, '}', n);
    ri = scanb(b, 5 * n + 1 + n);
    assert_unknown(&ri);
    ri = scanb(b, 5 * n);
    assert_unknown(&ri);
    free(b);
}

static void
test_long_value(void **state)
{
    (void)state;
    char model[301], body[512];
    memset(model, 'm', 300);
    model[300] = '\0';
    snprintf(body, sizeof(body), "{\"model\":\"%s\",\"user\":\"u\",\"stream\":true}", model);
    struct gw_reqinfo ri = scan(body);
    assert_int_equal(ri.valid, 1);
    assert_int_equal(ri.has_model, 0);
    assert_string_equal(ri.model, "");
    assert_int_equal(ri.has_user, 1);
    assert_string_equal(ri.user, "u");
    assert_int_equal(ri.stream, 1);

    /* exactly 255 bytes fits, 256 does not */
    model[255] = '\0';
    snprintf(body, sizeof(body), "{\"model\":\"%s\"}", model);
    ri = scan(body);
    assert_int_equal(ri.has_model, 1);
    assert_int_equal(strlen(ri.model), 255);
    model[255] = 'm';
    model[256] = '\0';
    snprintf(body, sizeof(body), "{\"model\":\"%s\"}", model);
    ri = scan(body);
    assert_int_equal(ri.valid, 1);
    assert_int_equal(ri.has_model, 0);

    /* the limit is on the unescaped bytes: 100 x \u00e9 is 600 escaped but 200 unescaped */
    char esc[1024] = "{\"user\":\"";
    for (int i = 0; i < 100; i++)
        strcat(esc, "\\u00e9");
    strcat(esc, "\"}");
    ri = scan(esc);
    assert_int_equal(ri.has_user, 1);
    assert_int_equal(strlen(ri.user), 200);
    /* ... and 128 x \u20ac is 384 bytes: too long, and an invalid one later still counts */
    strcpy(esc, "{\"metadata\":{\"user_id\":\"");
    for (int i = 0; i < 128; i++)
        strcat(esc, "\\u20ac");
    strcat(esc, "\"}}");
    ri = scan(esc);
    assert_int_equal(ri.valid, 1);
    assert_int_equal(ri.has_metadata_user_id, 0);
    strcpy(esc + strlen(esc) - 3, "\\ud800\"}}");
    ri = scan(esc);
    assert_unknown(&ri);

    /* a long key is skipped, not matched */
    memset(model, 'k', 300);
    model[300] = '\0';
    snprintf(body, sizeof(body), "{\"%s\":\"v\",\"model\":\"m\"}", model);
    ri = scan(body);
    assert_int_equal(ri.valid, 1);
    assert_string_equal(ri.model, "m");
}

static void
test_duplicates_last_wins(void **state)
{
    (void)state;
    struct gw_reqinfo ri =
        scan("{\"model\":\"a\",\"model\":\"b\",\"stream\":true,\"stream\":false}");
    assert_int_equal(ri.valid, 1);
    assert_string_equal(ri.model, "b");
    assert_int_equal(ri.has_stream, 1);
    assert_int_equal(ri.stream, 0);

    /* a later non-string or too-long value removes an earlier string */
    ri = scan("{\"model\":\"a\",\"model\":null,\"user\":\"u\",\"user\":[\"v\"]}");
    assert_int_equal(ri.valid, 1);
    assert_int_equal(ri.has_model, 0);
    assert_string_equal(ri.model, "");
    assert_int_equal(ri.has_user, 0);

    /* and an earlier non-string is replaced by a later string */
    ri = scan("{\"model\":{\"model\":\"inner\"},\"model\":\"outer\"}");
    assert_string_equal(ri.model, "outer");

    /* a later metadata without user_id, or not an object, removes the earlier user_id */
    ri = scan("{\"metadata\":{\"user_id\":\"s\"},\"metadata\":{}}");
    assert_int_equal(ri.valid, 1);
    assert_int_equal(ri.has_metadata_user_id, 0);
    ri = scan("{\"metadata\":{\"user_id\":\"s\"},\"metadata\":\"x\"}");
    assert_int_equal(ri.has_metadata_user_id, 0);
    ri = scan("{\"metadata\":{\"user_id\":\"s\"},\"metadata\":[{\"user_id\":\"t\"}]}");
    assert_int_equal(ri.has_metadata_user_id, 0);
    ri = scan("{\"metadata\":{\"user_id\":\"s\",\"user_id\":\"t\"}}");
    assert_string_equal(ri.metadata_user_id, "t");
    ri = scan("{\"metadata\":{\"user_id\":\"s\",\"user_id\":1}}");
    assert_int_equal(ri.has_metadata_user_id, 0);
    ri = scan("{\"metadata\":{\"user_id\":{\"user_id\":\"x\"},\"k\":\"y\"}}");
    assert_int_equal(ri.valid, 1);
    assert_int_equal(ri.has_metadata_user_id, 0);
    ri = scan("{\"metadata\":{\"a\":{},\"user_id\":\"after-nested\"}}");
    assert_string_equal(ri.metadata_user_id, "after-nested");
}

static void
test_non_string_fields(void **state)
{
    (void)state;
    struct gw_reqinfo ri = scan("{\"model\":5,\"user\":null,\"metadata\":{\"user_id\":true},"
                                "\"stream\":\"true\"}");
    assert_int_equal(ri.valid, 1);
    assert_int_equal(ri.has_model, 0);
    assert_int_equal(ri.has_user, 0);
    assert_int_equal(ri.has_metadata_user_id, 0);
    assert_int_equal(ri.has_stream, 1);
    assert_int_equal(ri.stream, 0);
    const char *streams[] = {"1", "null", "{}", "[true]", "\"yes\"", "false"};
    for (size_t i = 0; i < sizeof(streams) / sizeof(*streams); i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"stream\":%s}", streams[i]);
        ri = scan(body);
        assert_int_equal(ri.valid, 1);
        assert_int_equal(ri.has_stream, 1);
        assert_int_equal(ri.stream, 0);
    }
    ri = scan("{\"model\":\"\"}");
    assert_int_equal(ri.has_model, 1);
    assert_string_equal(ri.model, "");
}

static void
test_numbers(void **state)
{
    (void)state;
    struct gw_reqinfo ri = scan("{\"a\":-1,\"b\":0,\"c\":-0,\"d\":1.5e10,\"e\":-2.25E-3,\"f\":1e+2,"
                                "\"g\":[0.0,-0.5e0,123456789012345678901234567890,1e400],"
                                "\"h\":9,\"model\":\"m\"}");
    assert_int_equal(ri.valid, 1);
    assert_string_equal(ri.model, "m");
    ri = scan("{\"model\":\"m\",\"n\":-12}");
    assert_string_equal(ri.model, "m");
    const char *bad[] = {"01",   "-01", "1.",  ".5",    "-",        "+1",  "1e",  "1e+", "1.e5",
                         "0x10", "1-2", "--1", "1.5.5", "Infinity", "NaN", "-.5", "1 2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"model\":\"m\",\"a\":%s}", bad[i]);
        assert_invalid(body);
        snprintf(body, sizeof(body), "{\"a\":[%s],\"model\":\"m\"}", bad[i]);
        assert_invalid(body);
    }
}

static void
test_whitespace(void **state)
{
    (void)state;
    struct gw_reqinfo ri = scan("\r\n\t {\r\n\t \"model\"\r\n\t :\r\n\t \"m\"\r\n\t ,\r\n\t "
                                "\"a\" : [ 1 , { } , [ ] , { \"b\" : null } ] ,\n  \"metadata\""
                                " : {\n    \"user_id\" : \"s\"\n  } , \"stream\" :\ttrue\n}\n");
    assert_int_equal(ri.valid, 1);
    assert_string_equal(ri.model, "m");
    assert_string_equal(ri.metadata_user_id, "s");
    assert_int_equal(ri.stream, 1);
    /* only the four RFC 8259 whitespace bytes */
    assert_invalid("{\f\"model\":\"m\"}");
    assert_invalid("{\"model\":\v\"m\"}");
    assert_invalid("{\"model\":\xc2\xa0\"m\"}");
    ri = scanb("{\"model\":\"m\"\0}", 14);
    assert_unknown(&ri);
    /* jansson accepts these two (see expected() below); NUL is not whitespace */
    ri = scanb("{\"model\":\"m\",\"a\":1\0}", 20);
    assert_unknown(&ri);
    ri = scanb("{\"model\":\"m\",\"a\":true\0}", 23);
    assert_unknown(&ri);
}

/* ---- differential against jansson ---- */

static size_t
tree_depth(json_t *j)
{
    size_t d = 0;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            size_t c = tree_depth(v);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            size_t c = tree_depth(v);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    return 0;
}

static void
want_string(json_t *v, char *buf, int *has)
{
    *has = json_is_string(v) && json_string_length(v) <= GW_REQINFO_FIELD_MAX;
    if (*has)
        memcpy(buf, json_string_value(v), json_string_length(v) + 1);
    else
        buf[0] = '\0';
}

/* Replaces the number jansson found too large (it ends at end, and is at least 2 bytes long:
 * one digit cannot overflow) by " 0" and spaces. */
static int
neutralize_number(char *b, size_t end)
{
    size_t lo = end;
    while (lo > 0 && strchr("0123456789.eE+-", b[lo - 1]) && b[lo - 1] != '\0')
        lo--;
    for (size_t s = lo; s < end; s++) {
        json_error_t e;
        json_t *j = json_loadb(b + s, end - s, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &e);
        if (j || json_error_code(&e) == json_error_numeric_overflow) {
            json_decref(j);
            if (end - s < 2)
                return -1;
            /* the space keeps the 0 from joining a token just before ("1-99..." is two) */
            memset(b + s, ' ', end - s);
            b[s + 1] = '0';
            return 0;
        }
    }
    return -1;
}

/*
 * What the scanner must report for body, according to jansson with flags 0. Number magnitudes
 * (refused by jansson only) are taken out of the picture by replacing each number jansson finds
 * too large; returns -1 when that does not work.
 */
static int
expected(const char *body, size_t len, struct gw_reqinfo *want)
{
    char *b = malloc(len ? len : 1);
    json_t *j = NULL;
    memcpy(b, body, len);
    for (int tries = 0;; tries++) {
        json_error_t e;
        j = json_loadb(b, len, 0, &e);
        if (j || json_error_code(&e) != json_error_numeric_overflow)
            break;
        if (tries == 64 || e.position < 0 || (size_t)e.position > len ||
            neutralize_number(b, (size_t)e.position) < 0) {
            free(b);
            return -1;
        }
    }
    free(b);
    memset(want, 0, sizeof(*want));
    /* jansson skips one raw NUL byte right after a number or literal ({"a":1\0} parses): its
     * lexer takes a NUL in its one-character pushback buffer for "empty". A raw NUL is never
     * valid JSON, and the scanner refuses it. */
    want->valid =
        j && json_is_object(j) && tree_depth(j) <= GW_REQINFO_MAX_DEPTH && !memchr(body, '\0', len);
    if (want->valid) {
        want_string(json_object_get(j, "model"), want->model, &want->has_model);
        want_string(json_object_get(j, "user"), want->user, &want->has_user);
        json_t *m = json_object_get(j, "metadata");
        want_string(json_is_object(m) ? json_object_get(m, "user_id") : NULL,
                    want->metadata_user_id, &want->has_metadata_user_id);
        json_t *s = json_object_get(j, "stream");
        want->has_stream = s != NULL;
        want->stream = json_is_true(s);
    }
    json_decref(j);
    return 0;
}

static void
differential(const char *body, size_t len)
{
    struct gw_reqinfo want, got = scanb(body, len);
    if (expected(body, len, &want) < 0)
        fail_msg("jansson cannot judge %.*s", (int)len, body);
    if (got.valid != want.valid)
        fail_msg("valid %d, jansson %d: %.*s", got.valid, want.valid, (int)len, body);
    assert_int_equal(got.has_model, want.has_model);
    assert_string_equal(got.model, want.model);
    assert_int_equal(got.has_user, want.has_user);
    assert_string_equal(got.user, want.user);
    assert_int_equal(got.has_metadata_user_id, want.has_metadata_user_id);
    assert_string_equal(got.metadata_user_id, want.metadata_user_id);
    assert_int_equal(got.has_stream, want.has_stream);
    assert_int_equal(got.stream, want.stream);
}

static const char *const bodies[] = {
    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello!\"}]}",
    "{\"model\":\"gpt-4o\",\"stream\":true,\"user\":\"u1\",\"messages\":[{\"role\":\"user\","
    "\"content\":[{\"type\":\"text\",\"text\":\"What is in this image?\"},{\"type\":\"image_url\","
    "\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgo=\"}}]}]}",
    "{\"model\":\"o3\",\"input\":\"Tell me a story\",\"reasoning\":{\"effort\":\"low\"},"
    "\"stream\":false}",
    "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,\"metadata\":{\"user_id\":\"abc\"},"
    "\"system\":[{\"type\":\"text\",\"text\":\"sys\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}",
    "{\"messages\":[{\"model\":\"inner\",\"metadata\":{\"user_id\":\"no\"}}],\"model\":\"outer\"}",
    "{\"mo\\u0064el\":\"\\u00e9\\ud83d\\ude00\",\"us\\u0065r\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
    "{\"model\":\"a\",\"model\":\"b\",\"model\":3}",
    "{\"metadata\":{\"user_id\":\"s\"},\"metadata\":{\"x\":1}}",
    "{\"metadata\":{\"user_id\":\"s\",\"nested\":{\"user_id\":\"t\"}}}",
    "{\"metadata\":[],\"user\":{},\"model\":[],\"stream\":{}}",
    "{\"stream\":null}",
    "{\"stream\":\"true\",\"model\":true}",
    "{\"a\":-1.5e-3,\"b\":[0,-0,1E+9,2e-2,0.25],\"c\":1e400,\"d\":123456789012345678901234}",
    "{\"a\":1.5e-9-123456789012345678901234}",
    " \r\n\t{ \"model\" : \"m\" , \"user\" :\"u\"\n}\r\n ",
    "{}",
    "[]",
    "\"str\"",
    "{\"model\":\"m\"}x",
    "{\"model\":\"m\",}",
    "{\"model\":\"a\\u0000b\"}",
    "{\"model\":\"\\ud83d\"}",
    "{\"model\":\"\\udc00\\ud800\"}",
    "{\"model\":\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"}",
    "{\"model\":\"\xed\xa0\x80\"}",
    "{\"model\":\"\xc0\xaf\"}",
    "{\"model\":\"\xe0\x80\xaf\"}",
    "{\"model\":\"\xf0\x80\x80\xaf\"}",
    "{\"model\":\"\xf4\x90\x80\x80\"}",
    "{\"model\":\"tab\there\"}",
    "{\"x\":[[[[[[[[[[{\"model\":\"deep\"}]]]]]]]]]],\"model\":\"top\"}",
    "{\"x\":[true,false,null,\"s\",{\"k\":[]}],\"user\":\"\"}",
    "{\"x\":tru}",
    "{\"x\":01}",
    "{\"x\":\"\x7f\"}",
    "{\"metadata\":{\"user_id\":\"\\u0075\"},\"metadata\":{\"user\\u005fid\":\"v\"}}",
};

static void
test_differential_jansson(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
        size_t n = strlen(bodies[i]);
        for (size_t k = 0; k <= n; k++)
            differential(bodies[i], k);
        /* and with each single byte removed */
        char *b = malloc(n);
        for (size_t k = 0; k < n; k++) {
            memcpy(b, bodies[i], k);
            memcpy(b + k, bodies[i] + k + 1, n - k - 1);
            differential(b, n - 1);
        }
        free(b);
    }
    /* at the depth limit and one past it */
    for (size_t levels = GW_REQINFO_MAX_DEPTH - 1; levels <= GW_REQINFO_MAX_DEPTH + 2; levels++) {
        size_t n = levels - 1, o = 5;
        char *b = malloc(o + 2 * n + 1);
        memcpy(b, "{\"x\":", o);
        memset(b + o, '[', n);
        memset(b + o + n, ']', n);
        b[o + 2 * n] = '}';
        differential(b, o + 2 * n + 1);
        free(b);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_chat),          cmocka_unit_test(test_anthropic_messages),
        cmocka_unit_test(test_key_escapes),          cmocka_unit_test(test_value_escapes),
        cmocka_unit_test(test_invalid_truncated),    cmocka_unit_test(test_invalid_trailing),
        cmocka_unit_test(test_invalid_not_object),   cmocka_unit_test(test_invalid_syntax),
        cmocka_unit_test(test_invalid_control_char), cmocka_unit_test(test_invalid_surrogates),
        cmocka_unit_test(test_invalid_utf8),         cmocka_unit_test(test_depth),
        cmocka_unit_test(test_long_value),           cmocka_unit_test(test_duplicates_last_wins),
        cmocka_unit_test(test_non_string_fields),    cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_whitespace),           cmocka_unit_test(test_differential_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
