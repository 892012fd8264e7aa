/*
 * Pasted-material fuzzer (filters/pasted.h): arbitrary bytes through gw_pasted_spans with room
 * for every span and for one; spans lie inside the text, in order and apart, each at least
 * GW_PASTED_MIN bytes, together at least half the text; with room for one the answer is 0 or 1
 * and, when 1, the first span of the full answer or a span of its own. The same bytes through
 * gw_quoted_mentions: spans inside the text, in order and apart, 1..GW_MENTION_MAX bytes, none
 * across a line break; with room for one, the first of the full answer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/pasted.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_pasted: %s failed at line %d\n", #cond, __LINE__);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *t = (const char *)data;
    struct gw_span sp[GW_PASTED_MAX_SPANS], one[1];
    size_t n = gw_pasted_spans(t, size, sp, GW_PASTED_MAX_SPANS), covered = 0;
    CHECK(n <= GW_PASTED_MAX_SPANS);
    for (size_t k = 0; k < n; k++) {
        CHECK(sp[k].from < sp[k].to && sp[k].to <= size);
        CHECK(sp[k].to - sp[k].from >= GW_PASTED_MIN);
        CHECK(k == 0 || sp[k].from > sp[k - 1].to);
        covered += sp[k].to - sp[k].from;
    }
    CHECK(n == 0 || 2 * covered >= size);
    size_t m = gw_pasted_spans(t, size, one, 1);
    CHECK(m <= 1);
    CHECK(m == 0 || (one[0].from < one[0].to && one[0].to <= size));
    CHECK(m == 0 || n == 0 || (one[0].from == sp[0].from && one[0].to == sp[0].to));

    struct gw_span q[16];
    size_t nq = gw_quoted_mentions(t, size, q, 16);
    CHECK(nq <= 16);
    for (size_t k = 0; k < nq; k++) {
        CHECK(q[k].from < q[k].to && q[k].to <= size);
        CHECK(q[k].to - q[k].from <= GW_MENTION_MAX);
        CHECK(k == 0 || q[k].from > q[k - 1].to);
        CHECK(memchr(t + q[k].from, '\n', q[k].to - q[k].from) == NULL);
    }
    size_t mq = gw_quoted_mentions(t, size, one, 1);
    CHECK(mq == (nq ? 1u : 0u));
    CHECK(mq == 0 || (one[0].from == q[0].from && one[0].to == q[0].to));
    return 0;
}
