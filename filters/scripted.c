/*
 * Scripted answers in a sample dialogue (see scripted.h).
 */
#include "filters/scripted.h"
#include "filters/fnv.h"
#include "filters/textline.h"

#include <stdint.h>
#include <string.h>

#define MAX_TURNS 64
#define MAX_LABELS 8
#define LABEL_MAX 24
#define TURN_READ 400 /* bytes of a turn searched for a shared run */
#define RUN_SLOTS 4096
#define ROLL_BASE 0x100000001B3ull /* the runs' rolling hash */

struct turn {
    unsigned label; /* index into the labels */
    size_t b, e;    /* the turn's text after its label (trimmed) */
};

/* Labels that are not speakers: diagnostics, e-mail headers, log fields (lowercase ASCII). */
static const char *const not_speakers[] = {
    "bcc",  "caused by", "cc",   "critical", "date", "debug",   "error", "fatal",
    "from", "help",      "hint", "info",     "note", "notice",  "re",    "reply-to",
    "sent", "subject",   "to",   "trace",    "warn", "warning",
};

/* ASCII bytes a speaker's label has none of, a bit per byte: digits and
 * / \ . [ ] ( ) { } < > = # | @ ` " $ % & + ~ ^ ; , - (paths, markup, code). */
static const uint32_t not_label[4] = {0x00000000u, 0x7bfffb7cu, 0x78000001u, 0x78000001u};

static int
letter(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

/* The length of a colon at s[i] (':' or U+FF1A), else 0. */
static size_t
colon_at(const char *s, size_t n, size_t i)
{
    if (s[i] == ':')
        return 1;
    if (i + 2 < n && (unsigned char)s[i] == 0xEF && (unsigned char)s[i + 1] == 0xBC &&
        (unsigned char)s[i + 2] == 0x9A)
        return 3;
    return 0;
}

/* Whether the line s[0, n) (trimmed) is a turn: its label's hash in *key and the text after the
 * label's colon in [*cb, *ce) (offsets into s, trimmed; empty for an open turn). */
static int
turn_line(const char *s, size_t n, uint64_t *key, size_t *cb, size_t *ce)
{
    size_t i = 0;
    /* a list mark, markdown emphasis */
    if (n >= 2 && (s[0] == '-' || s[0] == '*' || s[0] == '>') && s[1] == ' ')
        i = 2;
    else if (n >= 4 && (unsigned char)s[0] == 0xE2 && (unsigned char)s[1] == 0x80 &&
             (unsigned char)s[2] == 0xA2 && s[3] == ' ')
        i = 4; /* • */
    while (i < n && (s[i] == '*' || s[i] == '_'))
        i++;
    size_t lb = i, spaces = 0, letters = 0;
    char low[LABEL_MAX + 1];
    for (; i < n; i++) {
        size_t c = colon_at(s, n, i);
        if (c) {
            size_t le = i;
            /* French typography puts a space, often a no-break one, before the colon */
            if (le > lb + 1 && s[le - 1] == ' ')
                le--;
            else if (le > lb + 2 && (unsigned char)s[le - 2] == 0xC2 &&
                     (unsigned char)s[le - 1] == 0xA0)
                le -= 2;
            else if (le > lb + 3 && (unsigned char)s[le - 3] == 0xE2 &&
                     (unsigned char)s[le - 2] == 0x80 && (unsigned char)s[le - 1] == 0xAF)
                le -= 3;
            while (le > lb && (s[le - 1] == '*' || s[le - 1] == '_'))
                le--;
            if (le == lb || s[le - 1] == ' ' || !letters)
                return 0;
            size_t j = i + c;
            if (c == 1 && j < n && !gw_line_blank((unsigned char)s[j]) && s[j] != '*')
                return 0; /* "http:", "12:30", "key:value" */
            while (j < n && (s[j] == '*' || s[j] == '_' || gw_line_blank((unsigned char)s[j])))
                j++;
            size_t m = le - lb;
            for (size_t k = 0; k < m; k++) {
                unsigned char ch = (unsigned char)s[lb + k];
                low[k] = (char)(ch >= 'A' && ch <= 'Z' ? ch | 0x20 : ch);
            }
            low[m] = 0;
            for (size_t k = 0; k < sizeof(not_speakers) / sizeof(not_speakers[0]); k++)
                if (low[0] == not_speakers[k][0] && !strcmp(low, not_speakers[k]))
                    return 0;
            *key = gw_fnv1a(GW_FNV_OFFSET, low, m);
            *cb = j;
            *ce = n;
            return 1;
        }
        unsigned char ch = (unsigned char)s[i];
        if (i - lb >= LABEL_MAX || (ch < 0x80 && not_label[ch >> 5] >> (ch & 31) & 1))
            return 0;
        if (ch == ' ' && ++spaces > 3)
            return 0;
        letters += letter(ch);
    }
    return 0;
}

static int
ends_with_question(const char *s, size_t n)
{
    if (n && s[n - 1] == '?')
        return 1;
    /* U+FF1F (？), U+061F (؟) */
    return (n >= 3 && (unsigned char)s[n - 3] == 0xEF && (unsigned char)s[n - 2] == 0xBC &&
            (unsigned char)s[n - 1] == 0x9F) ||
           (n >= 2 && (unsigned char)s[n - 2] == 0xD8 && (unsigned char)s[n - 1] == 0x9F);
}

static int
ends_with_colon(const char *s, size_t n)
{
    return n && (s[n - 1] == ':' || (n >= 3 && colon_at(s, n, n - 3) == 3));
}

/* A run carries where the script sends its reader when it holds, whole, a domain name (three
 * letters, digits or hyphens, a dot, two letters) or a number of GW_SCRIPT_DIGITS digits or more
 * (a phone number, an account; spaces and hyphens inside it allowed). The scan reads a turn once,
 * left to right, and keeps the latest start of such a span that ends at or before the byte it has
 * reached. */
struct payload_scan {
    size_t pos;                     /* the next byte to read */
    size_t digit[GW_SCRIPT_DIGITS]; /* where the last digits of the current number are */
    size_t ndigits;
    size_t start; /* the latest start of a span read whole, plus one (0: none yet) */
};

static int
name_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '-';
}

static int
ascii_letter(unsigned char c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

/* Reads the bytes up to and including t[upto] (from the turn's start b). */
static void
payload_read(struct payload_scan *ps, const char *t, size_t b, size_t upto)
{
    for (; ps->pos <= upto; ps->pos++) {
        size_t i = ps->pos;
        unsigned char c = (unsigned char)t[i];
        if (c >= '0' && c <= '9') {
            ps->digit[ps->ndigits++ % GW_SCRIPT_DIGITS] = i;
            if (ps->ndigits >= GW_SCRIPT_DIGITS) {
                size_t first = ps->digit[ps->ndigits % GW_SCRIPT_DIGITS];
                if (first + 1 > ps->start)
                    ps->start = first + 1;
            }
        } else if (c != ' ' && c != '-') {
            ps->ndigits = 0;
        }
        /* "abc.de" ending here */
        if (i >= b + 5 && t[i - 2] == '.' && ascii_letter(c) &&
            ascii_letter((unsigned char)t[i - 1]) && name_char((unsigned char)t[i - 3]) &&
            name_char((unsigned char)t[i - 4]) && name_char((unsigned char)t[i - 5]) &&
            i - 5 + 1 > ps->start)
            ps->start = i - 5 + 1;
    }
}

/* How many of the label's turns share one run of GW_SCRIPT_SHARED bytes that carries a payload
 * (the most, over all such runs; 1 when none is shared; the search stops once `enough` do), with
 * in *last the index of the last turn counted for it. Every run of the label's turns that carries
 * a payload is hashed into a table that remembers the last turn that had it and how many did. */
static unsigned
shared_run(const char *t, const struct turn *tu, size_t nt, unsigned label, unsigned enough,
           size_t *last)
{
    static __thread uint64_t slot_h[RUN_SLOTS];
    static __thread uint16_t slot_t[RUN_SLOTS], slot_n[RUN_SLOTS];
    static __thread uint32_t slot_p[RUN_SLOTS];
    static __thread uint32_t slot_gen[RUN_SLOTS];
    static __thread uint32_t gen;
    if (++gen == 0) {
        memset(slot_gen, 0, sizeof(slot_gen));
        gen = 1;
    }
    uint64_t roll_out = 1; /* ROLL_BASE to the power of the run's length: a byte leaving it */
    for (unsigned i = 0; i < GW_SCRIPT_SHARED; i++)
        roll_out *= ROLL_BASE;
    unsigned best = 1;
    for (size_t k = 0; k < nt && best < enough; k++) {
        if (tu[k].label != label)
            continue;
        size_t b = tu[k].b, e = tu[k].e;
        if (e - b > TURN_READ)
            e = b + TURN_READ;
        struct payload_scan ps = {.pos = b};
        uint64_t roll = 0; /* the run's polynomial hash, updated a byte at a time */
        for (size_t j = b; j < e; j++) {
            roll = roll * ROLL_BASE + (unsigned char)t[j];
            if (j < b + GW_SCRIPT_SHARED - 1)
                continue;
            size_t i = j + 1 - GW_SCRIPT_SHARED; /* the run [i, j] */
            if (i > b)
                roll -= (uint64_t)(unsigned char)t[i - 1] * roll_out;
            payload_read(&ps, t, b, j);
            if (ps.start < i + 1)
                continue; /* no span read whole starts in the run */
            uint64_t h = (roll ^ (roll >> 29)) * 0x9E3779B97F4A7C15ull;
            uint32_t s = (uint32_t)(h >> 52) & (RUN_SLOTS - 1);
            for (unsigned probe = 0; probe < 16; probe++, s = (s + 1) & (RUN_SLOTS - 1)) {
                if (slot_gen[s] != gen) {
                    slot_gen[s] = gen;
                    slot_h[s] = h;
                    slot_t[s] = (uint16_t)k;
                    slot_n[s] = 1;
                    slot_p[s] = (uint32_t)i;
                    break;
                }
                if (slot_h[s] == h && !memcmp(t + i, t + slot_p[s], GW_SCRIPT_SHARED)) {
                    if (slot_t[s] != k) {
                        slot_t[s] = (uint16_t)k;
                        if (++slot_n[s] > best) {
                            best = slot_n[s];
                            *last = k;
                        }
                    }
                    break;
                }
            }
        }
    }
    return best;
}

/* Whether another speaker than a, with two turns or more, asks a question. */
static int
asked(const unsigned *filled, const unsigned *questions, unsigned nlabels, unsigned a)
{
    for (unsigned q = 0; q < nlabels; q++)
        if (q != a && filled[q] >= 2 && questions[q] > 0)
            return 1;
    return 0;
}

/* Whether the line [b, e) ends with a word and its colon ("-> Label:") that two or more of the
 * label's earlier turns (the first n) have inside them. */
static int
inner_label_repeated(const char *t, const struct turn *tu, size_t n, unsigned label, size_t b,
                     size_t e)
{
    size_t c = t[e - 1] == ':' ? 1 : 3, we = e - c, wb = we;
    while (wb > b && t[wb - 1] != ' ' && t[wb - 1] != '\t')
        wb--;
    size_t wl = we - wb;
    if (wl == 0 || wl > 24 || wb == b)
        return 0; /* no word, or the line's own label */
    for (size_t i = wb; i < we; i++)
        if (!letter((unsigned char)t[i]))
            return 0; /* "Label:", "Clasificación:"; not "https:", "i=6:" */
    if (wl < 3)
        return 0; /* "on:", "A:" */
    /* a test log's "PASS: gdb.base/x.exp: fork:" cut at its end: no label in capitals */
    int caps = 1;
    for (size_t i = b; i < e && t[i] != ':' && caps; i++)
        caps = !(t[i] >= 'a' && t[i] <= 'z') && (unsigned char)t[i] < 0x80;
    if (caps)
        return 0;
    unsigned seen = 0;
    for (size_t k = 0; k < n && seen < 2; k++) {
        if (tu[k].label != label)
            continue;
        for (size_t i = tu[k].b; i + wl + c <= tu[k].e; i++)
            if (!memcmp(t + i, t + wb, wl + c) && (i == tu[k].b || t[i - 1] == ' ') &&
                (i + wl + c == tu[k].e || t[i + wl + c] == ' ')) {
                seen++;
                break;
            }
    }
    return seen >= 2;
}

int
gw_scripted_answers(const char *t, size_t len, size_t *from, size_t *to)
{
    if (!t || len < 40 || !memchr(t, '\n', len))
        return 0;
    struct turn tu[MAX_TURNS];
    uint64_t keys[MAX_LABELS];
    unsigned filled[MAX_LABELS] = {0}, questions[MAX_LABELS] = {0}, nlabels = 0;
    size_t nt = 0, pos = 0, b, e, last_b = 0, last_e = 0;
    int alternate = 0;
    while (gw_next_line(t, len, &pos, &b, &e)) {
        if (e == b)
            continue;
        last_b = b;
        last_e = e;
        uint64_t key;
        size_t cb, ce;
        if (!turn_line(t + b, e - b, &key, &cb, &ce))
            continue;
        unsigned l = 0;
        while (l < nlabels && keys[l] != key)
            l++;
        if (l == nlabels) {
            if (nlabels == MAX_LABELS)
                continue;
            keys[nlabels++] = key;
        }
        if (nt == MAX_TURNS)
            break;
        if (nt && tu[nt - 1].label != l)
            alternate = 1;
        tu[nt].label = l;
        tu[nt].b = b + cb;
        tu[nt].e = b + ce;
        filled[l] += ce > cb;
        questions[l] += (unsigned)ends_with_question(t + b + cb, ce - cb);
        nt++;
    }
    if (nt < 3)
        return 0;
    /* an open turn: the last line is a turn of a speaker heard twice, ending with a colon, in a
     * dialogue where another speaker asks or after turns with the same label inside them ("Review:
     * ... -> Label: positive"); not the cut end of a list of records ("License:") */
    const struct turn *lt = &tu[nt - 1];
    if (lt->e == last_e && lt->b >= last_b &&
        (lt->e == lt->b || ends_with_colon(t + last_b, last_e - last_b)) &&
        filled[lt->label] - (lt->e > lt->b) >= 2 &&
        (asked(filled, questions, nlabels, lt->label) ||
         inner_label_repeated(t, tu, nt - 1, lt->label, last_b, last_e))) {
        *from = last_b;
        *to = last_e;
        return GW_SCRIPT_OPEN;
    }
    /* the same answer every time: a speaker with two turns or more who answers another who asks,
     * and a link or number in every one of its answers but one at most */
    if (!alternate)
        return 0;
    for (unsigned a = 0; a < nlabels; a++) {
        if (filled[a] < 2 || !asked(filled, questions, nlabels, a))
            continue;
        /* every answer, or all but one, and two at least: a FAQ gives its support address
         * where it helps */
        unsigned need = filled[a] > 3 ? filled[a] - 1 : 2;
        size_t k = 0;
        if (shared_run(t, tu, nt, a, need, &k) >= need) {
            *from = tu[k].b;
            *to = tu[k].e;
            return GW_SCRIPT_REPEATED;
        }
    }
    return 0;
}
