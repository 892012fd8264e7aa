/*
 * Fast JSON loader fuzzer, differential against jansson. Byte 0 picks the flags (bit 0:
 * JSON_ALLOW_NUL, bit 1: JSON_DECODE_ANY), the rest is the text.
 *
 * - gw_json_loadb returns a tree exactly when json_loadb does, and then the same one: the compact
 *   dumps (keys in their order, reals at 17 digits, -0.0 apart from 0.0) are equal byte for byte.
 * - The fast path alone (gw_json_load_fast) is never wrong and rarely gives up: a tree from it is
 *   jansson's tree; INVALID only when jansson fails too (or for jansson's one quirk, a raw NUL
 *   byte right after a number or literal, which it drops); UNSUPPORTED only for nesting deeper
 *   than GW_JSON_MAX_DEPTH or a number of 64 characters or more.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "providers/jsonload.h"
#include "providers/jsonscan.h"

static char *
dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
}

/* A number token of 64 characters or more outside strings, or nesting beyond the fast path's cap
 * (counted on the raw text: brackets inside strings are skipped). */
static int
beyond_fast(const char *t, size_t n)
{
    unsigned depth = 0, maxd = 0;
    size_t run = 0, maxrun = 0;
    int in = 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (in) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in = 0;
            continue;
        }
        if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
            if (++run > maxrun)
                maxrun = run;
            continue;
        }
        run = 0;
        if (c == '"')
            in = 1;
        else if (c == '{' || c == '[')
            maxd = ++depth > maxd ? depth : maxd;
        else if ((c == '}' || c == ']') && depth)
            depth--;
    }
    return maxd > GW_JSON_MAX_DEPTH || maxrun >= 64;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t flags = (data[0] & 1 ? JSON_ALLOW_NUL : 0) | (data[0] & 2 ? JSON_DECODE_ANY : 0);
    size_t len = size - 1;
    /* an exact-size copy, so that ASan sees any read past the end */
    char *t = malloc(len ? len : 1);
    memcpy(t, data + 1, len);

    json_error_t e;
    json_t *want = json_loadb(t, len, flags, &e);
    json_t *got = gw_json_loadb(t, len, flags, NULL);
    enum gw_json_fast why;
    json_t *fast = gw_json_load_fast(t, len, flags, &why);

    if (!want != !got)
        abort();
    if (want) {
        char *a = dump(want), *b = dump(got);
        if (!a || !b || strcmp(a, b) != 0)
            abort();
        if (fast) {
            char *c = dump(fast);
            if (!c || strcmp(a, c) != 0)
                abort();
            free(c);
        } else if (why == GW_JSON_FAST_INVALID) {
            if (!memchr(t, '\0', len))
                abort();
        } else if (why == GW_JSON_FAST_UNSUPPORTED) {
            if (!beyond_fast(t, len))
                abort();
        }
        free(a);
        free(b);
    } else if (fast) {
        abort(); /* the fast path built a tree from what jansson refuses */
    }
    json_decref(want);
    json_decref(got);
    json_decref(fast);
    free(t);
    return 0;
}
