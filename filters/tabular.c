/*
 * Requests in tabular data (see tabular.h).
 */
#include "filters/tabular.h"
#include "filters/textline.h"

#include <stdlib.h>
#include <string.h>

/* A table row or rule (s is trimmed): `| a | b |`, `a | b | c`, `+----+----+`, `|---|:--:|`.
 * Not a line with |tag| links in it (Vim help, wiki markup), which has pipes but no cells. */
static int
is_row(const char *s, size_t n)
{
    if (n >= 2 && s[0] == '|' && s[n - 1] == '|')
        return 1;
    if (s[0] != '+' && !memchr(s, '|', n)) /* prose: one memchr */
        return 0;
    size_t cells = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '|' && i > 0 && i + 1 < n && gw_line_blank((unsigned char)s[i - 1]) &&
            gw_line_blank((unsigned char)s[i + 1]))
            cells++;
        other += !(s[i] == '-' || s[i] == '=' || s[i] == '+' || s[i] == ':' || s[i] == '|' ||
                   gw_line_blank((unsigned char)s[i]));
    }
    return cells >= 2 || (other == 0 && n >= 3 && (s[0] == '+' || s[0] == '|'));
}

/* Verbs a request to an assistant starts with (sorted, for bsearch). Words that mostly open
 * captions ("Total", "Source", "Notes") are not here; "List of ..." is told apart by its "of". */
static const char *const verbs[] = {
    "abbreviate",  "act",        "add",        "adopt",      "advertise",  "advise",
    "alert",       "anagram",    "analyse",    "analyze",    "answer",     "apologise",
    "apologize",   "append",     "apply",      "argue",      "arrange",    "ask",
    "assess",      "assume",     "attach",     "augment",    "avoid",      "become",
    "begin",       "bold",       "brainstorm", "break",      "build",      "calculate",
    "capitalise",  "capitalize", "categorise", "categorize", "change",     "check",
    "choose",      "cite",       "claim",      "classify",   "click",      "close",
    "combine",     "compare",    "compile",    "complete",   "compose",    "compute",
    "condense",    "construct",  "contact",    "continue",   "convert",    "convince",
    "copy",        "correct",    "count",      "craft",      "create",     "critique",
    "debate",      "debug",      "decipher",   "declare",    "decode",     "decrypt",
    "define",      "delete",     "deny",       "describe",   "design",     "detail",
    "determine",   "develop",    "devise",     "direct",     "discuss",    "display",
    "divide",      "do",         "download",   "draft",      "draw",       "edit",
    "elaborate",   "embed",      "emphasise",  "emphasize",  "encode",     "encourage",
    "encrypt",     "enhance",    "enumerate",  "estimate",   "evaluate",   "examine",
    "expand",      "explain",    "explore",    "express",    "extract",    "fetch",
    "fill",        "find",       "finish",     "fix",        "flip",       "follow",
    "forget",      "format",     "formulate",  "forward",    "generate",   "give",
    "go",          "group",      "guess",      "help",       "highlight",  "identify",
    "ignore",      "illustrate", "imagine",    "implement",  "improve",    "include",
    "incorporate", "infer",      "inform",     "inject",     "insert",     "insist",
    "install",     "integrate",  "interpret",  "introduce",  "invent",     "investigate",
    "invite",      "jumble",     "justify",    "keep",       "lengthen",   "let",
    "list",        "locate",     "lowercase",  "make",       "mention",    "merge",
    "misspell",    "mix",        "modify",     "multiply",   "name",       "narrate",
    "notify",      "offer",      "omit",       "organise",   "organize",   "outline",
    "output",      "paraphrase", "paste",      "perform",    "persuade",   "pick",
    "plan",        "play",       "predict",    "prepare",    "prepend",    "present",
    "pretend",     "print",      "produce",    "promote",    "propose",    "provide",
    "quote",       "rank",       "rate",       "read",       "rearrange",  "recall",
    "recommend",   "redirect",   "reformat",   "refuse",     "remember",   "remind",
    "remove",      "render",     "repeat",     "rephrase",   "replace",    "reply",
    "report",      "research",   "respond",    "restate",    "retrieve",   "return",
    "reveal",      "reverse",    "review",     "revise",     "rewrite",    "rhyme",
    "rotate",      "run",        "say",        "scramble",   "search",     "select",
    "send",        "share",      "shift",      "shorten",    "show",       "shuffle",
    "simplify",    "solve",      "sort",       "specify",    "spell",      "start",
    "state",       "stop",       "stress",     "subscribe",  "substitute", "subtract",
    "suggest",     "sum",        "summarise",  "summarize",  "supply",     "swap",
    "teach",       "tease",      "tell",       "think",      "transform",  "translate",
    "treat",       "try",        "underline",  "update",     "upload",     "uppercase",
    "urge",        "use",        "verify",     "visualise",  "visualize",  "walk",
    "warn",        "write",
};

/* Two-word openings of a request that do not start with a verb ("you are" / "you will" are not:
 * "You are viewing rows 1-20." is a page's own text). */
static const char *const openers[][2] = {
    {"i", "want"},   {"i", "need"},       {"i'd", "like"},  {"i", "would"},
    {"you", "must"}, {"you", "should"},   {"make", "sure"}, {"be", "sure"},
    {"do", "not"},   {"don't", "forget"}, {"never", ""},    {"always", ""},
};

static int
cmp_word(const void *k, const void *e)
{
    return strcmp(k, *(const char *const *)e);
}

struct words {
    char w[3][16]; /* the first three words after the list marker and "please": lowercase, ASCII
                      letters and apostrophes only ('' when longer or not a word) */
    int colon;     /* the first word ends with ':' ("Note:", "Source:") */
    size_t n;      /* words on the line, all of them */
};

/* Skips a list marker ("-", "*", "1.", "2)", "a)") at s[*i]. */
static void
skip_marker(const char *s, size_t n, size_t *i)
{
    size_t j = *i;
    while (j < n && j - *i < 3 && ((s[j] >= '0' && s[j] <= '9') || (s[j] >= 'a' && s[j] <= 'z')))
        j++;
    if (j > *i && j < n && (s[j] == '.' || s[j] == ')') && j + 1 < n &&
        gw_line_blank((unsigned char)s[j + 1]))
        *i = j + 1;
    else if ((s[*i] == '-' || s[*i] == '*') && *i + 1 < n &&
             gw_line_blank((unsigned char)s[*i + 1]))
        *i += 1;
}

static void
read_words(const char *s, size_t n, struct words *w)
{
    memset(w, 0, sizeof(*w));
    size_t i = 0, k = 0;
    skip_marker(s, n, &i);
    while (i < n) {
        while (i < n && gw_line_blank((unsigned char)s[i]))
            i++;
        if (i == n)
            break;
        size_t b = i;
        while (i < n && !gw_line_blank((unsigned char)s[i]))
            i++;
        w->n++;
        if (k >= 3)
            continue;
        char tmp[16];
        size_t m = 0, e = i;
        while (e > b && (s[e - 1] == ',' || s[e - 1] == '.' || s[e - 1] == '!' || s[e - 1] == ';' ||
                         s[e - 1] == ':'))
            e--;
        if (k == 0 && e < i && s[i - 1] == ':')
            w->colon = 1;
        for (size_t j = b; j < e && m < sizeof(tmp) - 1; j++) {
            unsigned char c = (unsigned char)s[j];
            if (c >= 'A' && c <= 'Z')
                c |= 0x20;
            if ((c >= 'a' && c <= 'z') || c == '\'') {
                tmp[m++] = (char)c;
            } else if (c == 0xE2 && j + 2 < e && (unsigned char)s[j + 1] == 0x80 &&
                       (unsigned char)s[j + 2] == 0x99) { /* ’ */
                tmp[m++] = '\'';
                j += 2;
            } else {
                m = 0;
                break;
            }
        }
        if (e - b >= sizeof(tmp))
            m = 0;
        tmp[m] = 0;
        if (k == 0 && (!strcmp(tmp, "please") || !strcmp(tmp, "kindly") || !strcmp(tmp, "now") ||
                       !strcmp(tmp, "also") || !strcmp(tmp, "then") || !strcmp(tmp, "finally"))) {
            w->n--;
            w->colon = 0;
            continue;
        }
        memcpy(w->w[k++], tmp, m + 1);
    }
}

static int
is_request(const char *s, size_t n)
{
    struct words w;
    read_words(s, n, &w);
    if (w.n < 3)
        return 0;
    if (s[n - 1] == '?')
        return 1;
    if (w.colon || !w.w[0][0] || !strcmp(w.w[1], "of"))
        return 0;
    int sentence = s[n - 1] == '.' || s[n - 1] == '!' || w.n >= 6;
    if (!sentence)
        return 0;
    if (bsearch(w.w[0], verbs, sizeof(verbs) / sizeof(verbs[0]), sizeof(verbs[0]), cmp_word))
        return 1;
    for (size_t i = 0; i < sizeof(openers) / sizeof(openers[0]); i++)
        if (!strcmp(w.w[0], openers[i][0]) && (!openers[i][1][0] || !strcmp(w.w[1], openers[i][1])))
            return 1;
    return 0;
}

int
gw_tabular_request(const char *t, size_t len, size_t *from, size_t *to)
{
    if (!t || (!memchr(t, '|', len) && !memchr(t, '+', len)))
        return 0;
    size_t rows = 0, lines = 0, pos = 0, b, e;
    while (gw_next_line(t, len, &pos, &b, &e))
        if (e > b) {
            lines++;
            rows += is_row(t + b, e - b);
        }
    if (rows < GW_TAB_MIN_ROWS || rows * 4 < lines * 3 || rows == lines)
        return 0;
    for (pos = 0; gw_next_line(t, len, &pos, &b, &e);)
        if (e > b && !is_row(t + b, e - b) && is_request(t + b, e - b)) {
            *from = b;
            *to = e;
            return 1;
        }
    return 0;
}
