/*
 * Request field scanner fuzzer, differential against jansson (flags 0): for the input and a few
 * prefixes of it, the scanner must call the body valid exactly when jansson parses it to an
 * object no deeper than GW_REQINFO_MAX_DEPTH, and then find the same model, user,
 * metadata.user_id and stream. Numbers jansson refuses only for their magnitude are replaced by
 * 0 on jansson's side first, since the scanner does not judge magnitudes (see reqinfo.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "providers/reqinfo.h"

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
    while (lo > 0 && b[lo - 1] != '\0' && strchr("0123456789.eE+-", b[lo - 1]))
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

/* What the scanner must report for body according to jansson; -1 when jansson cannot tell. */
static int
expected(const char *body, size_t len, struct gw_reqinfo *want)
{
    char *b = malloc(len ? len : 1);
    json_t *j = NULL;
    memcpy(b, body, len);
    json_error_t e;
    j = json_loadb(b, len, 0, &e);
    if (!j && json_error_code(&e) == json_error_numeric_overflow) {
        /* jansson refuses numbers beyond int64 / double, which the scanner accepts as syntax.
         * Rewriting them so that jansson judges the rest proved unsound (a neutralised number
         * can join the tokens around it: "-1-5E+94567894"), so such bodies are not compared. */
        (void)neutralize_number;
        free(b);
        return -1;
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
check(const uint8_t *data, size_t len)
{
    /* an exact-size copy, so that ASan sees any read past the end */
    char *body = malloc(len ? len : 1);
    memcpy(body, data, len);
    struct gw_reqinfo got, want;
    gw_reqinfo_scan(body, len, &got);
    if (expected(body, len, &want) == 0) {
        if (got.valid != want.valid || got.has_model != want.has_model ||
            strcmp(got.model, want.model) != 0 || got.has_user != want.has_user ||
            strcmp(got.user, want.user) != 0 ||
            got.has_metadata_user_id != want.has_metadata_user_id ||
            strcmp(got.metadata_user_id, want.metadata_user_id) != 0 ||
            got.has_stream != want.has_stream || got.stream != want.stream)
            abort();
    }
    /* invalid always means "unknown" */
    if (!got.valid &&
        (got.has_model || got.has_user || got.has_metadata_user_id || got.has_stream ||
         got.stream || got.model[0] || got.user[0] || got.metadata_user_id[0]))
        abort();
    free(body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    /* a few prefixes (truncated bodies), chosen by a hash of the input so runs are repeatable */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    for (int k = 0; k < 3 && size > 0; k++) {
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        check(data, (size_t)(h >> 33) % size);
    }
    return 0;
}
