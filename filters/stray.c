/*
 * A task dropped into a message (see stray.h).
 */
#include "filters/stray.h"
#include "filters/textline.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LINE 400 /* a task line is 30 words at most */
#define MAX_WORDS 32
#define WORD_LEN 24
#define CLOSE_LINES 6 /* lines before the last one searched for a sign-off */

static int
alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
alnum(unsigned char c)
{
    return alpha(c) || (c >= '0' && c <= '9') || c >= 0x80;
}

static int
cmp_word(const void *k, const void *e)
{
    return strcmp(k, *(const char *const *)e);
}

#define IN(w, list)                                                                                \
    (bsearch((w), (list), sizeof(list) / sizeof((list)[0]), sizeof((list)[0]), cmp_word) != NULL)

/* Verbs of asking an assistant for content or knowledge (sorted). Not the verbs of changelogs
 * and manuals ("fix", "use", "add", "remove", "run"): those open ordinary lines of documents. */
static const char *const verbs[] = {
    "analyse",  "analyze",   "argue",     "brainstorm", "break",    "calculate",  "classify",
    "compare",  "compose",   "convert",   "craft",      "create",   "critique",   "define",
    "describe", "design",    "detail",    "develop",    "discuss",  "draft",      "elaborate",
    "evaluate", "explain",   "generate",  "give",       "identify", "illustrate", "imagine",
    "invent",   "list",      "name",      "narrate",    "outline",  "paraphrase", "predict",
    "propose",  "provide",   "recommend", "rephrase",   "rewrite",  "show",       "solve",
    "suggest",  "summarise", "summarize", "teach",      "tell",     "translate",  "write",
};

/* Verbs people ask each other with "can you": "Can you recommend an electrician in the area?",
 * "Could you suggest a time for a call?" (sorted). Not "show": "can you show me" is how people
 * ask an assistant for code or an example. */
static const char *const person_verbs[] = {
    "give", "name", "propose", "provide", "recommend", "suggest", "tell",
};

static const char *const qwords[] = {
    "how", "what", "when", "where", "which", "who", "whom", "whose", "why",
};

/* "<aux> you ...?" asks an assistant */
static const char *const aux[] = {
    "are", "can", "could", "did", "do", "does", "is", "will", "would",
};

/* Nouns that, after "the", point at the message's own situation: its text, its people, its
 * events ("summarize the thread", "who is presenting at the town hall"). A dropped task names
 * things of the world instead ("the lifecycle of a butterfly", "the plot of 'The Great Gatsby'").
 * Sorted. */
static const char *const situational[] = {
    "agenda",       "appointment", "attachment", "booking",      "budget",   "call",
    "case",         "chat",        "client",     "clients",      "company",  "contract",
    "conversation", "customer",    "customers",  "deadline",     "delivery", "document",
    "draft",        "email",       "event",      "file",         "holidays", "invoice",
    "letter",       "mail",        "meeting",    "message",      "note",     "office",
    "order",        "package",     "parcel",     "party",        "plans",    "presentation",
    "project",      "proposal",    "renewal",    "reply",        "report",   "request",
    "schedule",     "sender",      "shipment",   "subscription", "team",     "text",
    "thread",       "ticket",      "trip",       "workshop",
};

/* Days and months: the message's own calendar (sorted). */
static const char *const calendar[] = {
    "april",  "august",   "december", "february",  "friday",  "january",  "july",
    "june",   "march",    "monday",   "november",  "october", "saturday", "september",
    "sunday", "thursday", "tuesday",  "wednesday", "weekend",
};

/* Words that tie a line to its message and its people (sorted); a dropped task names its whole
 * topic itself. "me" is not here: "tell me", "show me" are how people ask an assistant. */
static const char *const deictic[] = {
    "above",    "asap",   "attached", "below",     "enclosed",   "given", "he",     "her",
    "here",     "herein", "hers",     "him",       "his",        "i",     "i'd",    "i'll",
    "i'm",      "i've",   "mine",     "must",      "my",         "ought", "our",    "ours",
    "provided", "shall",  "she",      "should",    "their",      "them",  "these",  "they",
    "this",     "those",  "today",    "tomorrow",  "tonight",    "us",    "we",     "we'd",
    "we'll",    "we're",  "we've",    "yesterday", "you",        "you'd", "you'll", "you're",
    "you've",   "your",   "yours",    "yourself",  "yourselves",
};

/* Words of four letters or more that say nothing of a topic (sorted): function words, numbers
 * and the words every task has. */
static const char *const stop[] = {
    "about",     "after",    "also",    "analyse",    "analyze",     "basic",     "been",
    "before",    "being",    "between", "brief",      "could",       "create",    "describe",
    "detail",    "details",  "develop", "difference", "differences", "different", "does",
    "draft",     "during",   "each",    "eight",      "eleven",      "every",     "example",
    "examples",  "explain",  "fifth",   "fifty",      "first",       "five",      "following",
    "forty",     "four",     "fourth",  "from",       "give",        "have",      "hundred",
    "important", "into",     "just",    "list",       "main",        "make",      "million",
    "more",      "most",     "much",    "nine",       "only",        "other",     "over",
    "provide",   "same",     "second",  "sentence",   "sentences",   "seven",     "short",
    "should",    "show",     "simple",  "some",       "step",        "steps",     "such",
    "tell",      "than",     "that",    "their",      "them",        "then",      "there",
    "these",     "they",     "thing",   "things",     "third",       "thirty",    "this",
    "those",     "thousand", "three",   "through",    "twelve",      "twenty",    "under",
    "upon",      "using",    "very",    "ways",       "were",        "what",      "when",
    "where",     "which",    "while",   "whom",       "whose",       "will",      "with",
    "within",    "without",  "word",    "words",      "would",       "write",     "your",
};

/* Sign-offs and the footers of mailings (sorted); "thank you", "sent from", "rights reserved",
 * "privacy policy" and "contact us" are read as pairs. */
static const char *const closings[] = {
    "best", "cheers", "regards", "sincerely", "team", "thanks", "unsubscribe", "yours",
};
static const char *const closing_pairs[][2] = {
    {"thank", "you"},      {"sent", "from"},  {"rights", "reserved"},
    {"privacy", "policy"}, {"contact", "us"}, {"contact", "support"},
};

static const char *const headers[] = {
    "cc", "date", "email_from", "from", "received date", "sender", "subject", "to",
};

/* The lowercase word of ASCII letters at s[*i] (apostrophes kept inside it when keep_apos, a
 * curly one read as '\''), *i moved past it; 0 when the word is longer than WORD_LEN - 1. */
static size_t
take_word(const char *s, size_t n, size_t *i, char out[WORD_LEN], int keep_apos)
{
    size_t m = 0, j = *i;
    int over = 0;
    while (j < n) {
        unsigned char c = (unsigned char)s[j];
        size_t w = 1;
        if (alpha(c)) {
            c |= 0x20;
        } else if (keep_apos && m &&
                   (c == '\'' || (c == 0xE2 && j + 2 < n && (unsigned char)s[j + 1] == 0x80 &&
                                  (unsigned char)s[j + 2] == 0x99)) &&
                   j + (c == '\'' ? 1 : 3) < n &&
                   alpha((unsigned char)s[j + (c == '\'' ? 1 : 3)])) {
            w = c == '\'' ? 1 : 3;
            c = '\'';
        } else {
            break;
        }
        if (m < WORD_LEN - 1)
            out[m++] = (char)c;
        else
            over = 1;
        j += w;
    }
    *i = j;
    out[m] = 0;
    return over ? 0 : m;
}

/* A quote that opens at s[i] (not an apostrophe inside a word) and closes on the line within 80
 * bytes: the index just past its closing mark, else 0. */
static size_t
quote_end(const char *s, size_t n, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    const char *close;
    size_t open_len = 1;
    if (c == '\'' || c == '"') {
        close = c == '\'' ? "'" : "\"";
    } else if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
               ((unsigned char)s[i + 2] == 0x9C || (unsigned char)s[i + 2] == 0x98)) {
        close = (unsigned char)s[i + 2] == 0x9C ? "\xe2\x80\x9d" : "\xe2\x80\x99";
        open_len = 3;
    } else {
        return 0;
    }
    if (i > 0 && alnum((unsigned char)s[i - 1]))
        return 0;
    size_t cl = strlen(close);
    for (size_t j = i + open_len; j + cl <= n && j < i + 80; j++)
        if (!memcmp(s + j, close, cl) && j > i + open_len &&
            (j + cl == n || !alnum((unsigned char)s[j + cl])))
            return j + cl;
    return 0;
}

/* Whether the line's first word, after "please" and the like, may open a task. */
static int
task_opening(const char *s, size_t n)
{
    char w[WORD_LEN];
    for (size_t i = 0, k = 0; i < n && k < 6;) {
        if (!alpha((unsigned char)s[i])) {
            if (s[i] != ' ' && s[i] != ',')
                return 0;
            i++;
            continue;
        }
        take_word(s, n, &i, w, 0);
        if (strcmp(w, "please") && strcmp(w, "kindly") && strcmp(w, "now") && strcmp(w, "also") &&
            strcmp(w, "then"))
            return IN(w, verbs) || IN(w, qwords) || IN(w, aux);
        k++;
    }
    return 0;
}

struct task {
    char w[MAX_WORDS][WORD_LEN]; /* the words outside quotes (apostrophes kept) */
    size_t n;
};

/* What a task line asks: an order ("Describe ...") or a question in the form people ask an
 * assistant ("Can you explain ...?", "How do you say ...?"); or a question of any other form
 * ("Who wrote ...?", "Can you recommend ...?"), the forms a message also asks its own readers in.
 */
enum { TASK_FOR_ASSISTANT = 1, TASK_QUESTION };

/* Whether the line s[0, n) (trimmed, non-empty) reads as a task for an assistant (stray.h): 0,
 * else its kind. */
static int
is_task(const char *s, size_t n)
{
    if (n > MAX_LINE || !(s[0] >= 'A' && s[0] <= 'Z'))
        return 0;
    if (!task_opening(s, n))
        return 0; /* most lines of a message: read one word, not the line */
    size_t e = n; /* the end before closing quotes */
    while (e > 0 &&
           (s[e - 1] == '\'' || s[e - 1] == '"' || gw_line_blank((unsigned char)s[e - 1]) ||
            (e >= 3 && (unsigned char)s[e - 3] == 0xE2 && (unsigned char)s[e - 2] == 0x80 &&
             ((unsigned char)s[e - 1] == 0x9D || (unsigned char)s[e - 1] == 0x99))))
        e -= (unsigned char)s[e - 1] >= 0x80 ? 3 : 1;
    if (e == 0)
        return 0;
    int quoted_end = e < n && !gw_line_blank((unsigned char)s[e]); /* ... French: 'How are you?' */
    char last = s[e - 1];
    if (last != '.' && last != '?' && last != '!')
        return 0;
    struct task tk;
    size_t quoted = 0;
    tk.n = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t q = quote_end(s, n, i);
        if (q) {
            for (size_t j = i + 1; j < q; j++) /* quoted words count for the length */
                quoted += alpha((unsigned char)s[j]) && !alpha((unsigned char)s[j - 1]);
            i = q;
            continue;
        }
        if (c == '"' || (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
                         (unsigned char)s[i + 2] == 0x9C))
            return 0; /* an unclosed quote: a line cut inside one */
        if (alpha(c)) {
            char w[WORD_LEN];
            size_t m = take_word(s, n, &i, w, 1);
            if (!m || tk.n == MAX_WORDS)
                return 0;
            /* "what's" is "what", "Juliet's" is "juliet" */
            if (m > 2 && w[m - 2] == '\'' && w[m - 1] == 's')
                w[m - 2] = 0;
            memcpy(tk.w[tk.n++], w, WORD_LEN);
            continue;
        }
        if (c >= 0x80) {
            if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
                ((unsigned char)s[i + 2] == 0x99 || (unsigned char)s[i + 2] == 0x94 ||
                 (unsigned char)s[i + 2] == 0x93)) {
                i += 3; /* ’ – — */
                continue;
            }
            return 0; /* English only */
        }
        if (strchr("`/_[]<>=#|*{}\\@~^$%&+", c))
            return 0; /* code, paths, addresses, markup */
        if (c == ':') {
            size_t j = i + 1;
            while (j < n && gw_line_blank((unsigned char)s[j]))
                j++;
            if (j >= n || !quote_end(s, n, j))
                return 0; /* "Note:", "Q:", "Subject:"; but "to French: 'Hello'" */
        }
        if ((c == '.' || c == '?' || c == '!') && i + 2 < e &&
            gw_line_blank((unsigned char)s[i + 1]) && s[i + 2] >= 'A' && s[i + 2] <= 'Z')
            return 0; /* two sentences */
        i++;
    }
    size_t k = 0;
    while (k < tk.n &&
           (!strcmp(tk.w[k], "please") || !strcmp(tk.w[k], "kindly") || !strcmp(tk.w[k], "now") ||
            !strcmp(tk.w[k], "also") || !strcmp(tk.w[k], "then")))
        k++;
    if (tk.n - k < 3 || tk.n - k + quoted < 5 || tk.n - k + quoted > 30)
        return 0;
    const char(*w)[WORD_LEN] = tk.w + k;
    size_t nw = tk.n - k;
    size_t you_ok = (size_t)-1; /* the one "you" that belongs to the form of the request */
    int ask = 0;                /* the question's form is one for an assistant */
    if (last == '?' && !(quoted_end && IN(w[0], verbs))) {
        if (IN(w[0], aux) && !strcmp(w[1], "you")) {
            /* "can you tell me / show me / explain ...": a task; "could you check the figures",
             * "can you come on Friday": a request to a person */
            size_t v = 2 + (nw > 3 && !strcmp(w[2], "please"));
            if (v >= nw || !IN(w[v], verbs))
                return 0;
            you_ok = 1;
            ask = !IN(w[v], person_verbs);
        } else if (!IN(w[0], qwords))
            return 0;
        if (nw > 3 && !strcmp(w[0], "how") && (!strcmp(w[1], "do") || !strcmp(w[1], "would")) &&
            !strcmp(w[2], "you") &&
            (!strcmp(w[3], "say") || !strcmp(w[3], "spell") || !strcmp(w[3], "pronounce") ||
             !strcmp(w[3], "write") || !strcmp(w[3], "translate")))
            you_ok = 2, ask = 1;
    } else if (!IN(w[0], verbs)) {
        return 0;
    }
    int kind =
        last != '?' || (quoted_end && IN(w[0], verbs)) || ask ? TASK_FOR_ASSISTANT : TASK_QUESTION;
    for (size_t j = 0; j < nw; j++) {
        if (j == you_ok)
            continue;
        if (IN(w[j], deictic) || IN(w[j], calendar))
            return 0;
        if (j + 1 < nw && !strcmp(w[j], "the") && IN(w[j + 1], situational))
            return 0;
        if (!strcmp(w[j], "following") && !memchr(s, ':', n))
            return 0; /* "the following text" points at something else */
    }
    return kind;
}

/* Content words: 4+ letters and not in stop[]. Two are the same word when they differ in at most
 * their last three letters after a common start of four or more ("cause", "caused", "renews",
 * "renewal"). */
static int
content(const char *w, size_t m)
{
    return m >= 4 && !IN(w, stop);
}

static int
same_word(const char *a, size_t la, const char *b, size_t lb)
{
    size_t p = 0, longer = la > lb ? la : lb;
    while (p < la && p < lb && a[p] == b[p])
        p++;
    return p >= 4 && p + 3 >= longer;
}

static int
line_starts_with(const char *s, size_t n, const char *const *words, size_t nwords, int colon)
{
    for (size_t k = 0; k < nwords; k++) {
        size_t l = strlen(words[k]);
        if (n < l || strncasecmp(s, words[k], l) != 0)
            continue;
        size_t j = l;
        if (colon) {
            while (j < n && gw_line_blank((unsigned char)s[j]))
                j++;
            if (j < n && s[j] == ':')
                return 1;
        } else if (j == n || !alpha((unsigned char)s[j])) {
            return 1;
        }
    }
    return 0;
}

static int
closing(const char *s, size_t n)
{
    char prev[WORD_LEN] = "", w[WORD_LEN];
    for (size_t i = 0; i < n;) {
        if ((unsigned char)s[i] == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0xA9)
            return 1; /* © */
        if (!alpha((unsigned char)s[i])) {
            i++;
            continue;
        }
        if (!take_word(s, n, &i, w, 0))
            continue;
        if (IN(w, closings))
            return 1;
        for (size_t k = 0; k < sizeof(closing_pairs) / sizeof(closing_pairs[0]); k++)
            if (!strcmp(prev, closing_pairs[k][0]) && !strcmp(w, closing_pairs[k][1]))
                return 1;
        memcpy(prev, w, WORD_LEN);
    }
    return 0;
}

/* Whether the text outside [b, e) has GW_STRAY_MIN_CONTEXT content words and none of the content
 * words of t[b, e). */
static int
unrelated(const char *t, size_t len, size_t b, size_t e)
{
    char mine[MAX_WORDS][WORD_LEN];
    size_t lens[MAX_WORDS], nm = 0, ctx = 0;
    uint32_t heads[MAX_WORDS]; /* the first four letters: one compare rejects most words */
    for (size_t i = b; i < e && nm < MAX_WORDS;) {
        if (!alpha((unsigned char)t[i])) {
            i++;
            continue;
        }
        size_t m = take_word(t, e, &i, mine[nm], 0);
        if (content(mine[nm], m)) {
            memcpy(&heads[nm], mine[nm], 4);
            lens[nm++] = m;
        }
    }
    if (!nm)
        return 0;
    char w[WORD_LEN];
    for (size_t i = 0; i < len;) {
        if (i == b) {
            i = e;
            continue;
        }
        /* words of letters only: not the letters after a digit ("2nd") or a non-ASCII byte */
        if (!alpha((unsigned char)t[i]) || (i > 0 && alnum((unsigned char)t[i - 1]))) {
            i++;
            continue;
        }
        size_t m = take_word(t, i < b ? b : len, &i, w, 0);
        /* function words are told apart only until the context is known to be large enough: a
         * function word that shares a task word's start is rare and only keeps the line out */
        if (m < 4 || (ctx < GW_STRAY_MIN_CONTEXT && !content(w, m)))
            continue;
        ctx++;
        uint32_t head;
        memcpy(&head, w, 4);
        for (size_t k = 0; k < nm; k++)
            if (head == heads[k] && same_word(w, m, mine[k], lens[k]))
                return 0;
    }
    return ctx >= GW_STRAY_MIN_CONTEXT;
}

/* Whether one of the lines before the last kept in the ring, from its (skip)th from the end to
 * its CLOSE_LINES-th and none before line `lowest`, is a sign-off or a footer. */
static int
closed_by(const char *t, size_t ring[][2], size_t nlines, size_t skip, size_t lowest)
{
    for (size_t k = skip; k <= CLOSE_LINES && k < nlines && nlines - 1 - k >= lowest; k++) {
        const size_t *l = ring[(nlines - 1 - k) % (CLOSE_LINES + 1)];
        if (closing(t + l[0], l[1] - l[0]))
            return 1;
    }
    return 0;
}

/* Greetings that open a message's body ("Hi Sam,", "Dear parents,", "Good morning all"). */
static const char *const greetings[] = {
    "dear", "good afternoon", "good evening", "good morning", "greetings", "hello", "hey", "hi",
};

int
gw_stray_task(const char *t, size_t len, size_t *from, size_t *to)
{
    if (!t || len < 40 || !memchr(t, '\n', len))
        return 0;
    /* the non-blank lines: the first three, the last CLOSE_LINES + 1 (a ring), the task lines */
    size_t first[3][2] = {{0, 0}, {0, 0}, {0, 0}}, ring[CLOSE_LINES + 1][2], nlines = 0;
    size_t task_b = 0, task_e = 0, tasks = 0, task_at = 0;
    int kind = 0;
    size_t pos = 0, b, e;
    while (gw_next_line(t, len, &pos, &b, &e)) {
        if (e == b)
            continue;
        if (nlines < 3) {
            first[nlines][0] = b;
            first[nlines][1] = e;
        }
        ring[nlines % (CLOSE_LINES + 1)][0] = b;
        ring[nlines % (CLOSE_LINES + 1)][1] = e;
        int k = is_task(t + b, e - b);
        if (k) {
            kind = k;
            if (++tasks > 1)
                return 0; /* a page of instructions, a quiz, a changelog */
            task_b = b;
            task_e = e;
            task_at = nlines;
        }
        nlines++;
    }
    if (tasks != 1 || nlines < 2)
        return 0;
    int placed = 0;
    if (task_at == 0) {
        const char *s = t + first[1][0];
        size_t n = first[1][1] - first[1][0];
        placed = line_starts_with(s, n, headers, sizeof(headers) / sizeof(headers[0]), 1);
    } else if (task_at == nlines - 1) {
        placed = closed_by(t, ring, nlines, 1, 0);
    } else if (kind != TASK_QUESTION) {
        /* inside a message: a header or a greeting among its first three lines, or a sign-off
         * or a footer among its last ones; an order or a question put to an assistant, since a
         * message's body asks its readers questions of its own ("What topics are missing from
         * the syllabus?") */
        for (size_t k = 0; k < 3 && k < task_at && !placed; k++) {
            const char *s = t + first[k][0];
            size_t n = first[k][1] - first[k][0];
            placed = line_starts_with(s, n, headers, sizeof(headers) / sizeof(headers[0]), 1) ||
                     line_starts_with(s, n, greetings, sizeof(greetings) / sizeof(greetings[0]), 0);
        }
        if (!placed)
            placed = closed_by(t, ring, nlines, 0, task_at + 1);
        placed *= GW_STRAY_BODY;
    }
    if (!placed || !unrelated(t, len, task_b, task_e))
        return 0;
    *from = task_b;
    *to = task_e;
    return placed;
}
