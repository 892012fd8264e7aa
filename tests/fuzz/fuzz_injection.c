/*
 * Injection pack fuzzer. First byte even: the rest is a text scanned with the shipped pack
 * (config/rules/injection.yaml, from the source directory scripts/fuzz.sh runs in) on both sides;
 * every hit must lie inside the text, the score must be finite and the categories consistent.
 * Also on the system side, and the value declared after each system hit (and after every 7th
 * byte) must lie inside the text and have a length within bounds. The lines the tabular,
 * stray-task and scripted-answers detectors find must be non-empty, trimmed spans of the text.
 * Needles cut from the text (filters/needles.h) are searched for in it: an exact one must be found,
 * at or before the place it was cut from, and every match must lie inside the text; cut as a
 * declared secret, its forms' matches too, and its acrostic is found at the same byte however the
 * text is split. First byte odd: the rest is a rule pack; loading must fail with a message or
 * succeed, and a pack that loads is scanned over its own text. The same bytes read as one pattern
 * must split into pieces that lie in order inside it (filters/rxsplit.h).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/injection_pack.h"
#include "filters/needles.h"
#include "filters/rxsplit.h"
#include "filters/scripted.h"
#include "filters/stray.h"
#include "filters/tabular.h"

static struct gw_inj_pack *shipped;

static void
check_value(const char *t, size_t n, size_t from)
{
    size_t vs = 0, ve = 0;
    if (!gw_inj_declared_value(t, n, from, &vs, &ve))
        return;
    if (vs >= ve || ve > n || ve - vs > GW_INJ_VALUE_MAX || ve - vs < GW_INJ_VALUE_MIN)
        abort();
    /* a value may begin before from only when from is inside it (a token, a quote just read) */
    if (vs < from && (from - vs > GW_INJ_VALUE_MAX || memchr(t + vs, ' ', from - vs) ||
                      memchr(t + vs, '\n', from - vs)))
        abort();
}

/* Whether [a, b) is a non-empty span of the n bytes of t within one line, trimmed (what the
 * line detectors report). */
static int
line_span(const char *t, size_t n, size_t a, size_t b)
{
    return a < b && b <= n && t[a] != ' ' && t[a] != '\n' && t[b - 1] != ' ' && t[b - 1] != '\n' &&
           !memchr(t + a, '\n', b - a);
}

static void
check(const struct gw_inj_pack *p, const char *t, size_t n)
{
    for (size_t f = 0; f <= n; f += 7)
        check_value(t, n, f);
    if (n >= 4) {
        struct gw_needles set = {0};
        size_t cut = (unsigned char)t[0] % (n - 3), len = 1 + (unsigned char)t[1] % 24;
        if (cut + len > n)
            len = n - cut;
        gw_needles_add(&set, t + n / 2, n - n / 2 > 8 ? 8 : n - n / 2, GW_NEEDLE_SPELLED);
        gw_needles_add(&set, t + n / 3, n - n / 3 > 5 ? 5 : n - n / 3, GW_NEEDLE_WORD);
        int exact = gw_needles_add(&set, t + cut, len, GW_NEEDLE_EXACT);
        size_t which = 0, span = 0;
        long at = gw_needles_find(&set, t, n, &which, &span);
        if ((at >= 0 && (which >= set.n || span == 0 || (size_t)at + span > n)) ||
            (exact && (at < 0 || (size_t)at > cut)))
            abort();
        /* the same piece as a declared secret: its forms' matches lie inside the text, and its
         * acrostic is found at the same byte whether the text comes whole or in two pieces */
        struct gw_needles sec = {0};
        gw_needles_add_secret(&sec, t + cut, len);
        at = gw_needles_find(&sec, t, n, &which, &span);
        if (at >= 0 && (which >= sec.n || span == 0 || (size_t)at + span > n || span > sec.longest))
            abort();
        struct gw_initials whole = {0}, parts = {0};
        size_t w1 = 0, w2 = 0, split = (unsigned char)t[2] % (n + 1);
        long x = gw_needles_initials(&sec, &whole, t, n, &w1);
        long y = gw_needles_initials(&sec, &parts, t, split, &w2);
        if (y < 0) {
            y = gw_needles_initials(&sec, &parts, t + split, n - split, &w2);
            y = y < 0 ? y : y + (long)split;
        }
        if (x != y || (x >= 0 && (w1 != w2 || w1 >= sec.nacro || (size_t)x >= n)))
            abort();
    }
    size_t a = 0, b = 0;
    if (gw_tabular_request(t, n, &a, &b) && !line_span(t, n, a, b))
        abort();
    int stray = gw_stray_task(t, n, &a, &b);
    if ((stray != 0 && stray != 1 && stray != GW_STRAY_BODY) || (stray && !line_span(t, n, a, b)))
        abort();
    int script = gw_scripted_answers(t, n, &a, &b);
    if ((script != 0 && script != GW_SCRIPT_OPEN && script != GW_SCRIPT_REPEATED) ||
        (script && !line_span(t, n, a, b)))
        abort();
    for (unsigned side = GW_INJ_DIRECT; side <= GW_INJ_SYSTEM; side <<= 1) {
        struct gw_inj_result r;
        if (gw_inj_scan(p, t, n, side, NULL, &r) < 0)
            continue;
        if (!isfinite(r.score) || r.score < 0 || (r.nhits == 0) != (r.score == 0 && r.ncats == 0))
            abort();
        for (size_t i = 0; i < r.nhits; i++) {
            const struct gw_inj_hit *h = &r.hits[i];
            if (h->rule >= p->nrules || h->from > h->to || h->to > n)
                abort();
            if (!(p->rules[h->rule].where & side))
                abort();
            if (side == GW_INJ_SYSTEM)
                check_value(t, n, h->to);
        }
    }
}

/* The text read as a pattern (filters/rxsplit.h): pieces are non-empty, inside it, in order and
 * apart, gaps ordered, a branch's pieces follow its first. */
static void
check_split(const char *t, size_t n)
{
    struct gw_rx_piece pc[32];
    size_t k = gw_rx_split(t, n, pc, 32), end = 0;
    if (k == 1 || k > 32)
        abort();
    for (size_t i = 0; i < k; i++) {
        if (pc[i].len == 0 || pc[i].off < end || pc[i].off + pc[i].len > n ||
            pc[i].gap_min > pc[i].gap_max || (i == 0 && !pc[i].first) ||
            (pc[i].first && pc[i].gap_max != 0))
            abort();
        end = pc[i].off + pc[i].len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!shipped) {
        char err[600];
        shipped = gw_inj_pack_load("config/rules/injection.yaml", err, sizeof(err));
        setenv("PORTCULLIS_CACHE_DIR", "off", 1); /* no cache file per fuzzed pack */
        if (!shipped) {
            fprintf(stderr, "fuzz_injection: %s (run from the source directory)\n", err);
            abort();
        }
    }
    const char *t = (const char *)data + 1;
    size_t n = size - 1;
    if ((data[0] & 1) == 0) {
        check(shipped, t, n);
        return 0;
    }
    if (n > 4096)
        return 0; /* compiling is slow; big packs add nothing */
    check_split(t, n);
    char err[600] = "";
    struct gw_inj_pack *p = gw_inj_pack_parse("fuzz.yaml", t, n, err, sizeof(err));
    if (!p) {
        if (!err[0])
            abort();
        return 0;
    }
    check(p, t, n);
    gw_inj_pack_free(p);
    return 0;
}
