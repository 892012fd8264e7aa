/*
 * URL finder fuzzer: arbitrary bytes through gw_urlfind_next (spans inside the text, non-empty,
 * in order, *pos moving past each), gw_urlfind_whole with and without the hint (the span inside
 * the text, and a value taken without the hint taken with it), gw_urlfind_text and
 * gw_urlfind_json with a visitor that asks for every other URL to be replaced: URLs handed over
 * are non-empty, the counts agree with gw_urlfind_next's for free text, output is written only
 * when something was replaced and then holds the marker, and JSON that jansson reads stays JSON
 * that jansson reads.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "filters/urlfind.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_urlfind: %s failed at line %d\n", #cond, __LINE__);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MARKER "[U]"

struct every_other {
    const char *text; /* free text: URLs must lie inside it */
    size_t n;
    long seen, asked;
};

static int
every_other(void *ctx, const char *url, size_t len, unsigned flags, size_t offset)
{
    struct every_other *e = ctx;
    CHECK(len > 0 && url != NULL);
    CHECK((flags & ~GW_URLFIND_BARE) == 0);
    if (e->text) {
        CHECK(url >= e->text && url + len <= e->text + e->n);
        CHECK(offset == (size_t)(url - e->text));
    }
    if (e->seen++ % 2 == 0)
        return 0;
    e->asked++;
    return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *t = (const char *)data;
    size_t pos = 0, off, len, last = 0;
    unsigned flags;
    long found = 0;
    while (gw_urlfind_next(t, size, &pos, &off, &len, &flags)) {
        CHECK(len > 0 && off >= last && off + len <= size && pos == off + len);
        CHECK((flags & ~GW_URLFIND_BARE) == 0);
        last = pos;
        found++;
    }
    CHECK(pos == size);

    size_t o0, l0, o1, l1;
    int w0 = gw_urlfind_whole(t, size, 0, &o0, &l0);
    int w1 = gw_urlfind_whole(t, size, 1, &o1, &l1);
    CHECK(w0 == 0 || w0 == 1);
    CHECK(w1 == 0 || w1 == 1);
    if (w0)
        CHECK(w1 && o0 == o1 && l0 == l1);
    if (w1)
        CHECK(l1 > 0 && o1 + l1 <= size);
    int h = gw_urlfind_key_hint(t, size);
    CHECK(h == 0 || h == 1);

    struct every_other e = {t, size, 0, 0};
    char *out = NULL;
    size_t outlen = 0;
    long r = gw_urlfind_text(t, size, every_other, &e, MARKER, &out, &outlen);
    CHECK(r == found && e.seen == found);
    CHECK((out != NULL) == (e.asked > 0));
    if (out) {
        CHECK(outlen == strlen(out) || memchr(t, '\0', size));
        CHECK(memmem(out, outlen, MARKER, strlen(MARKER)) != NULL);
        free(out);
    }

    struct every_other ej = {NULL, 0, 0, 0};
    out = NULL;
    outlen = 0;
    r = gw_urlfind_json(t, size, every_other, &ej, MARKER, &out, &outlen);
    CHECK(r == -2 || r == ej.seen);
    if (r == -2)
        CHECK(out == NULL && ej.asked > 0);
    CHECK((out != NULL) == (r >= 0 && ej.asked > 0));
    if (out) {
        CHECK(memmem(out, outlen, MARKER, strlen(MARKER)) != NULL);
        json_t *in = json_loadb(t, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (in) {
            json_t *back = json_loadb(out, outlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
            CHECK(back != NULL);
            json_decref(back);
            json_decref(in);
        }
        free(out);
    }
    /* without out: the same visits, nothing written, never -2 */
    struct every_other ek = {NULL, 0, 0, 0};
    long r2 = gw_urlfind_json(t, size, every_other, &ek, MARKER, NULL, NULL);
    CHECK(r2 == ek.seen && r2 >= 0);
    if (r >= 0)
        CHECK(r2 == r);
    return 0;
}
