/* Unit tests for config/parse.c: YAML/JSON → gw_cnode tree with positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/parse.h"

static struct gw_cnode *
parse_ok(const char *text)
{
    struct gw_cnode *root = NULL;
    char err[512];

    if (gw_cnode_parse("t.yaml", text, strlen(text), &root, err, sizeof(err)) != 0)
        fail_msg("unexpected error: %s", err);
    assert_non_null(root);
    return root;
}

static void
expect_error(const char *text, size_t len, const char *want)
{
    struct gw_cnode *root = (struct gw_cnode *)1;
    char err[512];

    assert_int_equal(gw_cnode_parse("t.yaml", text, len, &root, err, sizeof(err)), -1);
    assert_null(root);
    assert_string_equal(err, want);
}

#define EXPECT_ERROR(text, want) expect_error(text, sizeof(text) - 1, want)

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void
assert_pos(const struct gw_cnode *n, int line, int col)
{
    assert_non_null(n);
    assert_int_equal(n->line, line);
    assert_int_equal(n->col, col);
}

static void
test_block_positions(void **state)
{
    struct gw_cnode *root;
    const struct gw_cnode *seq, *item;

    (void)state;
    root = parse_ok("# comment\n"
                    "workers: auto\n"
                    "listen:\n"
                    "  - 127.0.0.1:8080\n"
                    "providers:\n"
                    "  - name: openai\n"
                    "    base_url: https://api.openai.com\n");
    assert_int_equal(root->type, GW_CNODE_MAP);
    assert_int_equal(root->npairs, 3);
    assert_pos(root->pairs[0].key, 2, 1);
    assert_string_equal(root->pairs[0].key->scalar, "workers");
    assert_pos(root->pairs[0].value, 2, 10);
    assert_string_equal(root->pairs[0].value->scalar, "auto");
    assert_int_equal(root->pairs[0].value->len, 4);

    seq = gw_cnode_get(root, "listen");
    assert_int_equal(seq->type, GW_CNODE_SEQ);
    assert_int_equal(seq->nitems, 1);
    assert_pos(seq->items[0], 4, 5);
    assert_string_equal(seq->items[0]->scalar, "127.0.0.1:8080");

    seq = gw_cnode_get(root, "providers");
    item = seq->items[0];
    assert_int_equal(item->type, GW_CNODE_MAP);
    assert_pos(item, 6, 5);
    assert_pos(item->pairs[1].key, 7, 5);
    assert_pos(gw_cnode_get(item, "base_url"), 7, 15);
    assert_null(gw_cnode_get(item, "nope"));
    assert_null(gw_cnode_get(seq, "name"));
    assert_null(gw_cnode_get(NULL, "name"));
    gw_cnode_free(root);
}

static void
test_json(void **state)
{
    const char *text = "{\"workers\": 2, \"listen\": [\"127.0.0.1:0\"]}";
    struct gw_cnode *root;
    const struct gw_cnode *v;

    (void)state;
    root = parse_ok(text);
    assert_int_equal(root->type, GW_CNODE_MAP);
    assert_pos(root, 1, 1);
    assert_int_equal(root->npairs, 2);
    v = gw_cnode_get(root, "workers");
    assert_pos(v, 1, 13);
    assert_string_equal(v->scalar, "2");
    assert_false(v->quoted);
    assert_true(root->pairs[0].key->quoted);
    v = gw_cnode_get(root, "listen");
    assert_int_equal(v->type, GW_CNODE_SEQ);
    assert_pos(v, 1, 26);
    assert_int_equal(v->nitems, 1);
    assert_true(v->items[0]->quoted);
    assert_string_equal(v->items[0]->scalar, "127.0.0.1:0");
    gw_cnode_free(root);

    /* compact JSON (no space after ':') and tabs between tokens */
    root = parse_ok("{\"a\":1,\"b\":[true,null,\"x\"],\"c\":{}}");
    assert_string_equal(gw_cnode_get(root, "a")->scalar, "1");
    assert_int_equal(gw_cnode_get(root, "b")->nitems, 3);
    assert_int_equal(gw_cnode_get(root, "c")->type, GW_CNODE_MAP);
    assert_int_equal(gw_cnode_get(root, "c")->npairs, 0);
    gw_cnode_free(root);
    root = parse_ok("{\n\t\"a\": 1,\n\t\"b\": [\n\t\t2\n\t]\n}\n");
    assert_pos(gw_cnode_get(root, "a"), 2, 7);
    assert_pos(gw_cnode_get(root, "b")->items[0], 4, 3);
    gw_cnode_free(root);
}

static void
test_json_fixture(void **state)
{
    struct gw_cnode *root = NULL;
    char err[512], *text;
    size_t len;

    (void)state;
    text = slurp("tests/fixtures/config/full.json", &len);
    assert_int_equal(gw_cnode_parse("full.json", text, len, &root, err, sizeof(err)), 0);
    assert_non_null(root);
    assert_int_equal(gw_cnode_get(root, "providers")->nitems, 2);
    gw_cnode_free(root);
    free(text);
}

static void
test_quoting(void **state)
{
    struct gw_cnode *root;

    (void)state;
    root = parse_ok("a: 8080\n"
                    "b: \"8080\"\n"
                    "c: '8080'\n"
                    "d: |\n  text\n"
                    "e: >\n  folded\n"
                    "f: !!str 8080\n"
                    "g:\n"
                    "h: ~\n"
                    "i: \"\"\n"
                    "j: \"a\\0b\"\n");
    assert_false(gw_cnode_get(root, "a")->quoted);
    assert_true(gw_cnode_get(root, "b")->quoted);
    assert_string_equal(gw_cnode_get(root, "b")->scalar, "8080");
    assert_true(gw_cnode_get(root, "c")->quoted);
    assert_true(gw_cnode_get(root, "d")->quoted);
    assert_string_equal(gw_cnode_get(root, "d")->scalar, "text\n");
    assert_true(gw_cnode_get(root, "e")->quoted);
    assert_true(gw_cnode_get(root, "f")->quoted);
    assert_string_equal(gw_cnode_get(root, "f")->scalar, "8080");
    assert_true(gw_cnode_is_null(gw_cnode_get(root, "g")));
    assert_true(gw_cnode_is_null(gw_cnode_get(root, "h")));
    assert_false(gw_cnode_is_null(gw_cnode_get(root, "i")));
    assert_false(gw_cnode_is_null(gw_cnode_get(root, "a")));
    assert_false(gw_cnode_is_null(root));
    assert_int_equal(gw_cnode_get(root, "j")->len, 3);
    assert_int_equal(strlen(gw_cnode_get(root, "j")->scalar), 1);
    gw_cnode_free(root);
}

static void
test_empty(void **state)
{
    struct gw_cnode *root = (struct gw_cnode *)1;
    char err[64];

    (void)state;
    assert_int_equal(gw_cnode_parse("t", "", 0, &root, err, sizeof(err)), 0);
    assert_null(root);
    root = (struct gw_cnode *)1;
    assert_int_equal(gw_cnode_parse("t", "# only\n\n", 8, &root, err, sizeof(err)), 0);
    assert_null(root);
    root = parse_ok("just a scalar");
    assert_int_equal(root->type, GW_CNODE_SCALAR);
    gw_cnode_free(root);
    gw_cnode_free(NULL);
}

static void
test_duplicate_keys(void **state)
{
    (void)state;
    EXPECT_ERROR("a: 1\nb: 2\na: 3\n", "t.yaml:3:1: duplicate key 'a'");
    EXPECT_ERROR("x:\n  y: 1\n  y: 2\n", "t.yaml:3:3: duplicate key 'y'");
    EXPECT_ERROR("{\"a\": 1, \"a\": 2}", "t.yaml:1:10: duplicate key 'a'");
    /* the same key in different maps is fine */
    gw_cnode_free(parse_ok("a: {x: 1}\nb: {x: 2}\n"));
}

static void
test_rejected_features(void **state)
{
    (void)state;
    EXPECT_ERROR("a: &x 1\nb: *x\n", "t.yaml:1:4: anchors and aliases are not supported");
    EXPECT_ERROR("a: &m {b: 1}\n", "t.yaml:1:4: anchors and aliases are not supported");
    EXPECT_ERROR("a: 1\nb: *x\n", "t.yaml:2:4: anchors and aliases are not supported");
    EXPECT_ERROR("--- 1\n--- 2\n", "t.yaml:2:1: only one YAML document is allowed");
    EXPECT_ERROR("a: !!int 1\n", "t.yaml:1:4: tag 'tag:yaml.org,2002:int' is not supported");
    EXPECT_ERROR("a: !!map {}\n", "t.yaml:1:4: tag 'tag:yaml.org,2002:map' is not supported");
    EXPECT_ERROR("a: !!seq []\n", "t.yaml:1:4: tag 'tag:yaml.org,2002:seq' is not supported");
    EXPECT_ERROR("? [a]\n: 1\n", "t.yaml:1:3: mapping keys must be scalars, not a sequence");
    EXPECT_ERROR("{? {a: 1} : 1}", "t.yaml:1:4: mapping keys must be scalars, not a mapping");
}

static void
test_syntax_errors(void **state)
{
    char *text;
    size_t len;

    (void)state;
    text = slurp("tests/fixtures/config/tabs.yaml", &len);
    expect_error(text, len,
                 "t.yaml:3:1: found character that cannot start any token while scanning for the "
                 "next token (tabs cannot be used for indentation)");
    free(text);
    EXPECT_ERROR("a: 1\nb: [1, 2\n",
                 "t.yaml:3:1: did not find expected ',' or ']' while parsing a flow sequence");
    EXPECT_ERROR("a: b: c\n", "t.yaml:1:5: mapping values are not allowed in this context");
    EXPECT_ERROR("a: 1\n  b: 2\n", "t.yaml:2:4: mapping values are not allowed in this context");
    EXPECT_ERROR("a: \"unterminated\n",
                 "t.yaml:2:1: found unexpected end of stream while scanning a quoted scalar");
    EXPECT_ERROR("{\"a\": 1,, }", "t.yaml:1:9: did not find expected node content while parsing "
                                  "a flow node");
    EXPECT_ERROR("ok: 1\nk: \xff\n", "t.yaml:2:4: invalid leading UTF-8 octet (byte 0xff)");
    EXPECT_ERROR("a: 1\n\x01\n", "t.yaml:2:1: control characters are not allowed (byte 0x01)");
}

static void
test_depth_limit(void **state)
{
    char deep[GW_CNODE_MAX_DEPTH * 2 + 4], want[128];
    struct gw_cnode *root;
    int i;

    (void)state;
    for (i = 0; i < GW_CNODE_MAX_DEPTH; i++) {
        deep[i] = '[';
        deep[GW_CNODE_MAX_DEPTH + i] = ']';
    }
    deep[2 * GW_CNODE_MAX_DEPTH] = '\0';
    root = parse_ok(deep);
    gw_cnode_free(root);

    memmove(deep + 1, deep, 2 * GW_CNODE_MAX_DEPTH + 1);
    deep[0] = '[';
    strcat(deep, "]");
    snprintf(want, sizeof(want), "t.yaml:1:%d: nesting deeper than %d levels",
             GW_CNODE_MAX_DEPTH + 1, GW_CNODE_MAX_DEPTH);
    expect_error(deep, strlen(deep), want);
}

static void
test_error_frees_partial_tree(void **state)
{
    (void)state;
    /* errors deep inside open collections, after siblings were attached (checked by ASan) */
    EXPECT_ERROR("a:\n  b:\n    - x: 1\n      y: [1, {z: 2, z: 3}]\n",
                 "t.yaml:4:21: duplicate key 'z'");
    EXPECT_ERROR("a:\n  b:\n    - x: 1\n      y: [1, {z: 2}, *q]\n",
                 "t.yaml:4:22: anchors and aliases are not supported");
    EXPECT_ERROR("a: 1\nb:\n  c: [1, 2\n", "t.yaml:4:1: did not find expected ',' or ']' while "
                                           "parsing a flow sequence");
}

static void
test_to_json(void **state)
{
    struct gw_cnode *root;
    json_t *j;
    char *dump;

    (void)state;
    root = parse_ok("s: text\nq: \"12\"\ni: -42\nr: 1.5\nt: true\nf: False\nn: ~\ne:\n"
                    "l: [1, two, {k: v}]\nbig: 99999999999999999999\nno: no\n");
    j = gw_cnode_to_json(root);
    assert_non_null(j);
    dump = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(dump, "{\"s\":\"text\",\"q\":\"12\",\"i\":-42,\"r\":1.5,\"t\":true,"
                              "\"f\":false,\"n\":null,\"e\":null,\"l\":[1,\"two\",{\"k\":\"v\"}],"
                              "\"big\":1e20,\"no\":\"no\"}");
    free(dump);
    json_decref(j);
    gw_cnode_free(root);

    root = parse_ok("a: [\"x\\0y\"]\n");
    assert_null(gw_cnode_to_json(root));
    gw_cnode_free(root);
    assert_null(gw_cnode_to_json(NULL));
}

static void
test_type_names(void **state)
{
    (void)state;
    assert_string_equal(gw_cnode_type_name(GW_CNODE_MAP), "mapping");
    assert_string_equal(gw_cnode_type_name(GW_CNODE_SEQ), "sequence");
    assert_string_equal(gw_cnode_type_name(GW_CNODE_SCALAR), "scalar");
}

static void
test_small_error_buffer(void **state)
{
    struct gw_cnode *root;
    char err[8];

    (void)state;
    assert_int_equal(gw_cnode_parse("t.yaml", "a: 1\na: 2\n", 10, &root, err, sizeof(err)), -1);
    assert_string_equal(err, "t.yaml:");
    assert_int_equal(gw_cnode_parse("t.yaml", "a: 1\na: 2\n", 10, &root, NULL, 0), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_positions),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_fixture),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_rejected_features),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_error_frees_partial_tree),
        cmocka_unit_test(test_to_json),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_small_error_buffer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
