/*
 * Compact JSON writer fuzzer, differential against jansson's json_dumps. Byte 0 picks the flags
 * (bits 0-4: JSON_REAL_PRECISION, 0 = jansson's default 17; bit 5: JSON_ENCODE_ANY; bit 6: a
 * flag the writer does not handle, JSON_SORT_KEYS, which must go to json_dumps), the rest is:
 *
 * - parsed as JSON (any value, \u0000 allowed): the dump of that tree;
 * - taken as raw bytes into a string value and an object key (json_stringn_nocheck /
 *   json_object_setn_nocheck: not necessarily UTF-8, NULs included), where json_dumps fails on
 *   what is not UTF-8;
 * - and the reals of the text's first few digit runs, in an array.
 *
 * gw_json_dumps must return NULL exactly when json_dumps does and otherwise the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "providers/jsondump.h"

static void
same(const json_t *j, size_t flags)
{
    char *want = json_dumps(j, flags);
    size_t n = 12345;
    char *got = gw_json_dumps(j, flags, &n);
    if (!want != !got)
        abort();
    if (want && (strcmp(want, got) != 0 || n != strlen(want)))
        abort();
    free(want);
    free(got);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(data[0] & 31) |
                   (data[0] & 32 ? JSON_ENCODE_ANY : 0) | (data[0] & 64 ? JSON_SORT_KEYS : 0);
    const char *t = (const char *)data + 1;
    size_t len = size - 1;

    json_t *j = json_loadb(t, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (j) {
        same(j, flags);
        json_decref(j);
    }

    json_t *o = json_object(), *a = json_array();
    json_array_append_new(a, json_stringn_nocheck(t, len));
    json_object_setn_new_nocheck(o, t, len, json_true());
    json_object_set_new_nocheck(o, "a", a);
    same(o, flags);
    same(a, flags);
    json_decref(o);

    /* reals: the digit runs of the text, read as numbers, scaled */
    json_t *r = json_array();
    char num[32];
    size_t k = 0;
    for (size_t i = 0; i <= len && json_array_size(r) < 8; i++) {
        char c = i < len ? t[i] : ' ';
        if (((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == '-') && k < sizeof(num) - 1) {
            num[k++] = c;
            continue;
        }
        if (k) {
            num[k] = '\0';
            double v = strtod(num, NULL);
            json_array_append_new(r, json_real(v));
            json_array_append_new(r, json_real(v * 1e-300));
            json_array_append_new(r, json_real(-v / 3));
            k = 0;
        }
    }
    same(r, flags);
    json_decref(r);
    return 0;
}
