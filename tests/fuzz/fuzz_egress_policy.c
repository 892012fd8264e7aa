/*
 * Egress policy fuzzer. The input is a control byte, then up to three entries and an optional
 * scheme each ended by '\n', then the URL (the rest, newlines and all). Bits 0-1 of the control
 * byte: how many entries; bit 2: one scheme line follows the entries.
 *
 * The policies: empty, the first accepted entry alone, every entry, and every entry with the
 * scheme list. The URL is judged by each, with and without GW_EGRESS_BARE, and the verdicts must
 * be valid, repeatable and consistent with each other:
 *   - whether the URL parses does not depend on the policy;
 *   - the empty policy never answers NOT_ALLOWED, and a policy whose entries all failed answers
 *     as the empty one;
 *   - with the default scheme list, entries only turn the empty policy's SCHEME and INTERNAL
 *     into OK, and its OK into NOT_ALLOWED;
 *   - adding entries never takes an OK away (once the policy has one);
 *   - an entry added again is accepted and changes nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/egress_policy.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_egress_policy: %s failed at line %d\n", #cond, __LINE__);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static enum gw_egress_why
judge(const struct gw_egress_policy *p, const char *url, size_t n, unsigned flags)
{
    enum gw_egress_why w = gw_egress_check(p, url, n, flags);
    CHECK(w >= GW_EGRESS_OK && w <= GW_EGRESS_NOT_ALLOWED);
    CHECK(strcmp(gw_egress_why_name(w), "unknown") != 0);
    CHECK(gw_egress_check(p, url, n, flags) == w);
    return w;
}

/* Takes the next line of *d (*n bytes) into *line, *len: 0, or -1 when there is no '\n'. */
static int
next_line(const char **d, size_t *n, const char **line, size_t *len)
{
    const char *nl = memchr(*d, '\n', *n);
    if (nl == NULL)
        return -1;
    *line = *d;
    *len = (size_t)(nl - *d);
    *n -= *len + 1;
    *d = nl + 1;
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned ctl = data[0];
    const char *d = (const char *)data + 1;
    size_t n = size - 1;

    struct gw_egress_policy *empty = gw_egress_policy_new();
    struct gw_egress_policy *first = gw_egress_policy_new();
    struct gw_egress_policy *all = gw_egress_policy_new();
    struct gw_egress_policy *schemes = gw_egress_policy_new();
    CHECK(empty && first && all && schemes);
    char err[64];
    size_t added = 0;
    for (unsigned i = 0; i < (ctl & 3u); i++) {
        const char *e;
        size_t len;
        if (next_line(&d, &n, &e, &len) < 0)
            break;
        err[0] = '\0';
        int rc = gw_egress_policy_allow(all, e, len, err, sizeof(err));
        CHECK(rc == 0 || rc == -1);
        CHECK(rc == 0 || (err[0] != '\0' && strlen(err) < sizeof(err)));
        if (rc < 0)
            continue;
        size_t count = gw_egress_policy_count(all);
        CHECK(count >= 1 && count <= added + 1);
        CHECK(gw_egress_policy_allow(all, e, len, err, sizeof(err)) == 0);
        CHECK(gw_egress_policy_count(all) == count);
        CHECK(gw_egress_policy_allow(schemes, e, len, err, sizeof(err)) == 0);
        if (added++ == 0)
            CHECK(gw_egress_policy_allow(first, e, len, err, sizeof(err)) == 0);
    }
    if (ctl & 4u) {
        const char *s;
        size_t len;
        if (next_line(&d, &n, &s, &len) == 0 &&
            gw_egress_policy_scheme(schemes, s, len, err, sizeof(err)) < 0)
            CHECK(err[0] != '\0');
    }

    for (unsigned flags = 0; flags <= GW_EGRESS_BARE; flags += GW_EGRESS_BARE) {
        enum gw_egress_why w0 = judge(empty, d, n, flags);
        enum gw_egress_why w1 = judge(first, d, n, flags);
        enum gw_egress_why wa = judge(all, d, n, flags);
        enum gw_egress_why ws = judge(schemes, d, n, flags);
        CHECK(w0 != GW_EGRESS_NOT_ALLOWED);
        CHECK((w0 == GW_EGRESS_UNPARSED) == (wa == GW_EGRESS_UNPARSED));
        CHECK((w0 == GW_EGRESS_UNPARSED) == (ws == GW_EGRESS_UNPARSED));
        if (gw_egress_policy_count(all) == 0)
            CHECK(wa == w0 && w1 == w0);
        if (w0 == GW_EGRESS_SCHEME)
            CHECK(wa == GW_EGRESS_SCHEME || wa == GW_EGRESS_OK);
        if (w0 == GW_EGRESS_INTERNAL)
            CHECK(wa == GW_EGRESS_INTERNAL || wa == GW_EGRESS_OK);
        if (w0 == GW_EGRESS_OK)
            CHECK(wa == GW_EGRESS_OK || wa == GW_EGRESS_NOT_ALLOWED);
        if (gw_egress_policy_count(first) > 0 && w1 == GW_EGRESS_OK)
            CHECK(wa == GW_EGRESS_OK);
    }
    gw_egress_policy_free(empty);
    gw_egress_policy_free(first);
    gw_egress_policy_free(all);
    gw_egress_policy_free(schemes);
    return 0;
}
