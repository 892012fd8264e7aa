/*
 * Secret-name fuzzer (filters/subject.h): the input's first byte splits it into a system text and
 * a message; every offset of the system text declares, its persons are taken (gw_subject_persons),
 * and the message is rewritten. Words kept are lower-case ASCII or Devanagari letters (a person's
 * may hold other letters) of 1..GW_SUBJECT_WORD_MAX bytes;
 * replacements lie inside the message, in order and apart; the rewrite is the message with each
 * replaced by GW_SUBJECT_WORD, GW_SUBJECT_PERSON_WORD, GW_SUBJECT_HI_WORD or GW_SUBJECT_PERSON_HI;
 * offsets move back into the message, in order.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/subject.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_subject: %s failed at line %d\n", #cond, __LINE__);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* n bytes of Devanagari letters (U+0900..U+097F: E0 A4 xx, E0 A5 xx) and no danda */
static int
devanagari(const char *w, size_t n)
{
    if (n % 3)
        return 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned char a = (unsigned char)w[i], b = (unsigned char)w[i + 1],
                      c = (unsigned char)w[i + 2];
        if (a != 0xE0 || (b != 0xA4 && b != 0xA5) || c < 0x80 || c > 0xBF ||
            (b == 0xA5 && (c == 0xA4 || c == 0xA5)))
            return 0;
    }
    return 1;
}

/* The replacement of wl bytes: one of the four words, or NULL. */
static const char *
replacement(size_t wl)
{
    if (wl == strlen(GW_SUBJECT_WORD))
        return GW_SUBJECT_WORD;
    if (wl == strlen(GW_SUBJECT_PERSON_WORD))
        return GW_SUBJECT_PERSON_WORD;
    if (wl == strlen(GW_SUBJECT_HI_WORD))
        return GW_SUBJECT_HI_WORD;
    if (wl == strlen(GW_SUBJECT_PERSON_HI))
        return GW_SUBJECT_PERSON_HI;
    return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t split = 1 + (size - 1) * data[0] / 256;
    const char *sys = (const char *)data + 1, *msg = (const char *)data + split;
    size_t slen = split - 1, mlen = size - split;
    struct gw_subject s;
    memset(&s, 0, sizeof(s));
    for (size_t at = 0; at < slen && at < 512; at++)
        gw_subject_add(&s, sys, slen, at);
    gw_subject_persons(&s, sys, slen);
    CHECK(s.n <= GW_SUBJECT_MAX);
    for (size_t k = 0; k < s.n; k++) {
        CHECK(s.len[k] >= 1 && s.len[k] <= GW_SUBJECT_WORD_MAX && strlen(s.w[k]) == s.len[k]);
        /* a secret's words are ASCII or Devanagari letters; a person's may have any letters
         * ("josé") */
        if (devanagari(s.w[k], s.len[k]))
            continue;
        for (size_t i = 0; i < s.len[k]; i++)
            CHECK((s.w[k][i] >= 'a' && s.w[k][i] <= 'z') || s.w[k][i] == '-' ||
                  ((s.flags[k] & GW_SUBJECT_PERSON) && (unsigned char)s.w[k][i] >= 0x80));
    }
    size_t cap = GW_SUBJECT_CAP(mlen);
    char *out = malloc(cap ? cap : 1);
    if (!out)
        return 0;
    struct gw_subject_edit ed[GW_SUBJECT_MAX_EDITS];
    size_t ned, n = gw_subject_rewrite(&s, msg, mlen, out, cap, ed, &ned);
    if (n) {
        size_t at = 0, want = mlen;
        CHECK(ned >= 1 && ned <= GW_SUBJECT_MAX_EDITS);
        for (size_t k = 0; k < ned; k++) {
            CHECK(ed[k].from < ed[k].to && ed[k].to <= mlen);
            CHECK(k == 0 || ed[k].from > ed[k - 1].to);
            size_t wl = ed[k].n;
            const char *word = replacement(wl);
            CHECK(word != NULL);
            CHECK(ed[k].at >= at && ed[k].at + wl <= n);
            CHECK(memcmp(out + ed[k].at, word, wl) == 0);
            /* what comes before it is the message's, unchanged */
            size_t from = k ? ed[k - 1].to : 0;
            CHECK(ed[k].at - at == ed[k].from - from);
            CHECK(memcmp(out + at, msg + from, ed[k].from - from) == 0);
            at = ed[k].at + wl;
            want = want - (ed[k].to - ed[k].from) + wl;
        }
        CHECK(n == want);
        CHECK(memcmp(out + at, msg + ed[ned - 1].to, mlen - ed[ned - 1].to) == 0);
        size_t prev = 0;
        for (size_t off = 0; off <= n; off++) {
            size_t a = gw_subject_orig(ed, ned, off, 0), b = gw_subject_orig(ed, ned, off, 1);
            CHECK(a <= b && b <= mlen && a >= prev);
            prev = a;
        }
        CHECK(gw_subject_orig(ed, ned, n, 1) == mlen);
    }
    /* a buffer one byte short of the rewrite gives nothing */
    if (n) {
        size_t ned2;
        CHECK(gw_subject_rewrite(&s, msg, mlen, out, n - 1, ed, &ned2) == 0);
    }
    free(out);
    return 0;
}
