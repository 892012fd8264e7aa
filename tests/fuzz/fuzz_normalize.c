/*
 * Normaliser fuzzer: the first byte picks the steps, the rest is the text. Checks the map
 * (non-decreasing, inside the input, map[len] == input length), the spans, UTF-8 validity of the
 * output for valid input, and idempotence without SPLIT and LEET for valid input (SCRAMBLE is
 * idempotent: the words it writes are the vocabulary's).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/normalize.h"
#include "tests/fuzz/utf8.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* eight steps from the byte; SCRAMBLE, the ninth, goes with CASE (it reads lowercase words) */
    unsigned flags = data[0] | (data[0] & GW_NORM_CASE ? GW_NORM_SCRAMBLE : 0);
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    struct gw_norm out;
    if (gw_normalize(in, n, flags, &out) != 0)
        abort();
    if (out.len > n || out.text[out.len] != '\0' || out.map[out.len] != n)
        abort();
    for (size_t i = 0; i < out.len; i++) {
        if (out.map[i] >= n || out.end[i] <= out.map[i] || out.end[i] > n)
            abort();
        if (i && out.map[i] < out.map[i - 1])
            abort();
    }
    /* A handful of spans, picked from the data. */
    for (size_t i = 0; i < out.len && i < 64; i++) {
        size_t a = (i * 7 + data[0]) % out.len, b = a + 1 + (i * 13) % (out.len - a), oa, ob;
        gw_norm_span(&out, a, b, &oa, &ob);
        if (oa >= ob || ob > n || oa != out.map[a])
            abort();
    }
    int valid = valid_utf8((const unsigned char *)in, n);
    if (valid && !valid_utf8((const unsigned char *)out.text, out.len))
        abort();
    if (valid && !(flags & (GW_NORM_SPLIT | GW_NORM_LEET))) {
        struct gw_norm again;
        if (gw_normalize(out.text, out.len, flags, &again) != 0)
            abort();
        if (again.len != out.len || memcmp(again.text, out.text, out.len) != 0)
            abort();
        gw_norm_free(&again);
    }
    gw_norm_free(&out);
    return 0;
}
