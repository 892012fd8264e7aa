/*
 * Texts of bodies and stream events without a JSON tree (see textscan.h).
 *
 * Two steps. First the whole body is validated in one pass (providers/jsonscan.h), which also
 * notes where the values of the top-level keys of interest start. Then the adapters of
 * segments.c and stream.c are replayed over the raw bytes: get() is json_object_get (it walks
 * one object's members, skipping their values, and keeps the last value of each key it is asked
 * for), arrays are walked element by element, and a string is unescaped only when it is reported
 * or compared. The adapter order (a message's role before its content, "instructions" before
 * "input"...) falls out of this, whatever the order of the keys in the body. Skipping a value
 * that is already valid only looks for quotes and brackets, 16 bytes at a time inside strings,
 * so the bytes of a text are read a few times, quickly, and nothing is built.
 *
 * Measured with a throwaway benchmark (not committed; gcc 12 -O2, one core of a shared x86-64 VM,
 * best of 7; chat requests of English messages built with jansson): 1 KB ~0.6 us, 4 KB ~2.3 us
 * compact and ~3.4 us pretty-printed, 64 KB ~38 us, i.e. ~20x cheaper than gw_body_parse
 * (json_loadb and the segment list: 12, 50 and 830 us), and 2.5-3x reqinfo's scan of the same
 * bytes.
 */
#include "providers/textscan.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "providers/jsonscan.h"

/* Validity as jansson's (gw_body_parse uses JSON_ALLOW_NUL), but for the depth cap. */
#define FLAGS (GW_JSON_ALLOW_NUL | GW_JSON_JANSSON_NUMBERS)

/* Longest key, type or role value compared (longer ones match nothing we look for). */
#define NAME_MAX_LEN 48

/* Where a string value found by get() ends: text_of need not look for it again. */
struct str_end {
    const unsigned char *p, *e; /* at the opening quote, after the closing one */
    int esc;                    /* it holds a backslash */
};

struct scan {
    const unsigned char *end;
    gw_textscan_fn fn;
    void *arg;
    struct str_end ends[8]; /* the last string values get() matched (a ring) */
    unsigned nends;
    char *heap; /* scratch for texts longer than buf, grown as needed */
    size_t heap_cap;
    char buf[4096]; /* scratch for unescaped texts */
};

/* Scratch for n bytes: buf, or the heap buffer (grown); NULL on no memory. */
static char *
scratch(struct scan *s, size_t n)
{
    if (n <= sizeof(s->buf))
        return s->buf;
    if (n > s->heap_cap) {
        free(s->heap);
        s->heap = malloc(n);
        s->heap_cap = s->heap ? n : 0;
    }
    return s->heap;
}

static void
scan_init(struct scan *s, const char *json, size_t len, gw_textscan_fn fn, void *arg)
{
    s->end = (const unsigned char *)json + len;
    s->fn = fn;
    s->arg = arg;
    memset(s->ends, 0, sizeof(s->ends));
    s->nends = 0;
    s->heap = NULL;
    s->heap_cap = 0;
}

static inline const unsigned char *
ws(const struct scan *s, const unsigned char *p)
{
    return gw_json_ws(p, s->end);
}

/* ---- navigating the validated body ---- */

/* A key or string value looked for: its bytes and length. Lists end with N_END. */
struct name {
    const char *s;
    size_t n;
};
/* clang-format off */
#define N(str) {(str), sizeof(str) - 1}
#define N_END {NULL, 0}
/* clang-format on */

/* Top-level keys of interest; one list for every kind (the values of the others are unused). */
enum {
    T_MESSAGES,
    T_CHOICES,
    T_USAGE,
    T_INSTRUCTIONS,
    T_INPUT,
    T_OUTPUT,
    T_SYSTEM,
    T_CONTENT,
    T_TYPE,
    T_DELTA,
    T_RESPONSE,
    T_MESSAGE,
    T_COUNT
};
static const struct name top_keys[] = {
    N("messages"), N("choices"), N("usage"),   N("instructions"), N("input"),
    N("output"),   N("system"),  N("content"), N("type"),         N("delta"),
    N("response"), N("message"), N_END,
};

/* Stores p as the value of key [k, k + n) when the key is one of names; 1 when it is. */
static inline int
match_key(const char *k, size_t n, const struct name *names, const unsigned char **v,
          const unsigned char *p)
{
    for (size_t i = 0; names[i].s; i++)
        if (names[i].n == n && memcmp(names[i].s, k, n) == 0) {
            v[i] = p; /* a repeated key: the last value counts, as in jansson */
            return 1;
        }
    return 0;
}

/*
 * Validates the object at p (whitespace around it allowed, nothing else) and notes in v where the
 * values of the top-level keys of names start (NULL for absent keys). 0, or -1 when invalid.
 */
static int
top(struct scan *s, const unsigned char *p, const struct name *names, const unsigned char **v)
{
    const unsigned char *end = s->end;
    for (size_t i = 0; names[i].s; i++)
        v[i] = NULL;
    p = ws(s, p);
    if (p == end || *p != '{')
        return -1;
    p = ws(s, p + 1);
    if (p < end && *p == '}')
        return ws(s, p + 1) == end ? 0 : -1;
    for (;;) {
        if (p == end || *p != '"')
            return -1;
        p++;
        /* as in reqinfo.c: keys without escapes are compared in place */
        char kb[NAME_MAX_LEN];
        const char *k = (const char *)p;
        size_t n;
        const unsigned char *q = gw_json_skip_plain(p, end);
        if (q < end && *q == '"') {
            n = (size_t)(q - p);
            p = q + 1;
        } else {
            p = gw_json_string(p, end, kb, sizeof(kb), &n, 0);
            if (!p)
                return -1;
            k = kb;
            if (n > sizeof(kb))
                n = 0; /* too long to be a key of names ("" is none either) */
        }
        p = ws(s, p);
        if (p == end || *p != ':')
            return -1;
        p = ws(s, p + 1);
        const unsigned char *val = p;
        p = gw_json_skip_value(p, end, 1, FLAGS);
        if (!p)
            return -1;
        match_key(k, n, names, v, val);
        p = ws(s, p);
        if (p == end)
            return -1;
        if (*p == '}')
            return ws(s, p + 1) == end ? 0 : -1;
        if (*p != ',')
            return -1;
        p = ws(s, p + 1);
    }
}

/*
 * json_object_get for several keys at once: v[i] = where the value of names[i] starts in the
 * object at p (NULL when absent, or when p is NULL or not an object). names ends with N_END.
 */
static void
get(struct scan *s, const unsigned char *p, const struct name *names, const unsigned char **v)
{
    const unsigned char *end = s->end;
    for (size_t i = 0; names[i].s; i++)
        v[i] = NULL;
    if (!p || *p != '{')
        return;
    p = ws(s, p + 1);
    while (p < end && *p == '"') {
        int esc = 0;
        const unsigned char *q = gw_json_string_end(p + 1, end, &esc);
        if (q >= end)
            return;
        char kb[NAME_MAX_LEN];
        const char *k = (const char *)p + 1;
        size_t n = (size_t)(q - p) - 2;
        if (esc) {
            gw_json_string(p + 1, end, kb, sizeof(kb), &n, 0);
            k = kb;
            if (n > sizeof(kb))
                n = 0;
        }
        p = ws(s, q);
        p = ws(s, p + 1); /* the colon */
        int hit = match_key(k, n, names, v, p);
        if (p < end && *p == '"') {
            esc = 0;
            q = gw_json_string_end(p + 1, end, &esc);
            if (hit)
                s->ends[s->nends++ % 8] = (struct str_end){p, q, esc};
        } else {
            q = gw_json_next(p, end);
        }
        p = ws(s, q);
        if (p >= end || *p != ',')
            return;
        p = ws(s, p + 1);
    }
}

/* The first element of the array at p; NULL when p is NULL, not an array, or empty. */
static const unsigned char *
first(const struct scan *s, const unsigned char *p)
{
    if (!p || *p != '[')
        return NULL;
    p = ws(s, p + 1);
    return p < s->end && *p != ']' ? p : NULL;
}

/* The element after the one at p, or NULL. */
static const unsigned char *
next(const struct scan *s, const unsigned char *p)
{
    p = ws(s, gw_json_next(p, s->end));
    if (p >= s->end || *p != ',')
        return NULL;
    p = ws(s, p + 1);
    return p < s->end ? p : NULL;
}

/* The unescaped string at v (at its quote): in place when it has no escape, else in scratch
 * (never longer than the raw string). 0, or -1 on no memory. */
static int
text_of(struct scan *s, const unsigned char *v, const char **t, size_t *n)
{
    int esc = 0;
    const unsigned char *e = NULL;
    for (size_t i = 0; i < 8; i++)
        if (s->ends[i].p == v) {
            e = s->ends[i].e;
            esc = s->ends[i].esc;
            break;
        }
    if (!e)
        e = gw_json_string_end(v + 1, s->end, &esc);
    size_t raw = (size_t)(e - v) - 2;
    if (!esc) {
        *t = (const char *)v + 1;
        *n = raw;
        return 0;
    }
    char *dst = scratch(s, raw);
    if (!dst)
        return -1;
    gw_json_string(v + 1, s->end, dst, raw, n, GW_JSON_ALLOW_NUL);
    *t = dst;
    return 0;
}

/* The string at v, unescaped into buf (NAME_MAX_LEN bytes) as far as it fits: its full length,
 * or SIZE_MAX when v is NULL or not a string. */
static size_t
small(const struct scan *s, const unsigned char *v, char *buf)
{
    size_t n;
    if (!v || *v != '"' || !gw_json_string(v + 1, s->end, buf, NAME_MAX_LEN, &n, GW_JSON_ALLOW_NUL))
        return SIZE_MAX;
    return n;
}

/* The index in names of the n bytes at buf; -1 when none (or n is over NAME_MAX_LEN). */
static int
name_index(const struct name *names, const char *buf, size_t n)
{
    if (n > NAME_MAX_LEN)
        return -1;
    for (int i = 0; names[i].s; i++)
        if (names[i].n == n && memcmp(names[i].s, buf, n) == 0)
            return i;
    return -1;
}

/* The index in names of the string at v, compared whole (segments.c str_is); -1 when none. */
static int
str_pick(const struct scan *s, const unsigned char *v, const struct name *names)
{
    char buf[NAME_MAX_LEN];
    return name_index(names, buf, small(s, v, buf));
}

/* Like str_pick, comparing the C string (up to a first NUL) as strcmp on json_string_value
 * does (segments.c role_for, stream.c event types). */
static int
cstr_pick(const struct scan *s, const unsigned char *v, const struct name *names)
{
    char buf[NAME_MAX_LEN];
    size_t n = small(s, v, buf);
    if (n == SIZE_MAX)
        return -1;
    const char *nul = memchr(buf, '\0', n < NAME_MAX_LEN ? n : NAME_MAX_LEN);
    if (nul)
        n = (size_t)(nul - buf);
    return name_index(names, buf, n);
}

/* 1 and *x when v is an integer (a number without fraction or exponent; validated, so within
 * int64), else 0. */
static int
int_of(const struct scan *s, const unsigned char *v, int64_t *x)
{
    if (!v || (*v != '-' && (*v < '0' || *v > '9')))
        return 0;
    const unsigned char *e = gw_json_next(v, s->end), *p = v + (*v == '-');
    uint64_t m = 0;
    if (e - p > 19)
        return 0;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        m = m * 10 + (uint64_t)(*p - '0');
    }
    if (*v == '-') {
        if (m > (uint64_t)INT64_MAX + 1)
            return 0;
        *x = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
    } else {
        if (m > (uint64_t)INT64_MAX)
            return 0;
        *x = (int64_t)m;
    }
    return 1;
}

/* A non-negative integer at v into *to (stream.c read_count); anything else leaves it. */
static void
count(const struct scan *s, const unsigned char *v, int64_t *to)
{
    int64_t x;
    if (int_of(s, v, &x) && x >= 0)
        *to = x;
}

/* ---- reporting ---- */

/* A string value as a text (segments.c add_string; with nonempty, stream.c add_delta); anything
 * else is skipped. 0, or -1 on no memory. */
static int
put(struct scan *s, enum gw_role role, const unsigned char *v, int idx, int nonempty)
{
    const char *t;
    size_t n;
    if (!v || *v != '"')
        return 0;
    if (text_of(s, v, &t, &n) < 0)
        return -1;
    if (n || !nonempty)
        s->fn(s->arg, role, idx, t, n);
    return 0;
}

/* Any value as its JSON text with the whitespace between tokens removed (an Anthropic tool_use
 * input); in place when there is none. Nothing when v is NULL. */
static int
put_json(struct scan *s, enum gw_role role, const unsigned char *v, int idx)
{
    if (!v)
        return 0;
    const unsigned char *e = gw_json_next(v, s->end), *p = v;
    char *out = NULL;
    size_t n = 0;
    while (p < e) {
        if (*p == '"') {
            int esc;
            const unsigned char *q = gw_json_string_end(p + 1, e, &esc);
            if (out)
                memcpy(out + n, p, (size_t)(q - p));
            n += (size_t)(q - p);
            p = q;
        } else if (gw_json_is_ws(*p)) {
            if (!out) {
                if (!(out = scratch(s, (size_t)(e - v))))
                    return -1;
                memcpy(out, v, n);
            }
            p++;
        } else {
            if (out)
                out[n] = (char)*p;
            n++;
            p++;
        }
    }
    s->fn(s->arg, role, idx, out ? out : (const char *)v, n);
    return 0;
}

/* ---- the adapters of segments.c, over the raw body ---- */

struct role_map {
    struct name names[7];
    enum gw_role roles[6];
};

static const struct role_map chat_roles = {
    {N("system"), N("developer"), N("user"), N("assistant"), N("tool"), N("function"), N_END},
    {GW_ROLE_SYSTEM, GW_ROLE_DEVELOPER, GW_ROLE_USER, GW_ROLE_ASSISTANT, GW_ROLE_TOOL_RESULT,
     GW_ROLE_TOOL_RESULT},
};
static const struct role_map responses_roles = {
    {N("system"), N("developer"), N("user"), N("assistant"), N_END},
    {GW_ROLE_SYSTEM, GW_ROLE_DEVELOPER, GW_ROLE_USER, GW_ROLE_ASSISTANT},
};
static const struct role_map anthropic_roles = {
    {N("user"), N("assistant"), N_END},
    {GW_ROLE_USER, GW_ROLE_ASSISTANT},
};

static int
role_for(const struct scan *s, const struct role_map *m, const unsigned char *v)
{
    int i = cstr_pick(s, v, m->names);
    return i < 0 ? -1 : (int)m->roles[i];
}

static const struct name chat_part_types[] = {N("text"), N_END};
static const struct name responses_part_types[] = {N("input_text"), N("output_text"), N("text"),
                                                   N_END};
static const struct name responses_output_types[] = {N("output_text"), N_END};
static const struct name responses_tool_output_types[] = {N("input_text"), N_END};

static const struct name k_part[] = {N("type"), N("text"), N_END};
static const struct name k_function[] = {N("function"), N_END};
static const struct name k_arguments[] = {N("arguments"), N_END};
enum { M_ROLE, M_CONTENT, M_TOOL_CALLS, M_FUNCTION_CALL, M_COUNT };
static const struct name k_message[] = {N("role"), N("content"), N("tool_calls"),
                                        N("function_call"), N_END};

/* content: a string, or an array of parts of which those whose "type" is in types carry text. */
static int
add_content(struct scan *s, enum gw_role role, const unsigned char *content, int idx,
            const struct name *types)
{
    const unsigned char *v[2];
    if (content && *content == '"')
        return put(s, role, content, idx, 0);
    for (const unsigned char *part = first(s, content); part; part = next(s, part)) {
        get(s, part, k_part, v);
        if (str_pick(s, v[0], types) >= 0 && put(s, role, v[1], idx, 0) < 0)
            return -1;
    }
    return 0;
}

/* tool_calls[].function.arguments, then legacy function_call.arguments, of one message. */
static int
add_tool_calls(struct scan *s, const unsigned char **msg, int idx)
{
    const unsigned char *fn, *args;
    for (const unsigned char *tc = first(s, msg[M_TOOL_CALLS]); tc; tc = next(s, tc)) {
        get(s, tc, k_function, &fn);
        get(s, fn, k_arguments, &args);
        if (put(s, GW_ROLE_TOOL_CALL_ARGS, args, idx, 0) < 0)
            return -1;
    }
    get(s, msg[M_FUNCTION_CALL], k_arguments, &args);
    return put(s, GW_ROLE_TOOL_CALL_ARGS, args, idx, 0);
}

static int
chat_request(struct scan *s, const unsigned char **top_v)
{
    const unsigned char *v[M_COUNT];
    int i = 0;
    for (const unsigned char *m = first(s, top_v[T_MESSAGES]); m; m = next(s, m), i++) {
        get(s, m, k_message, v);
        int role = role_for(s, &chat_roles, v[M_ROLE]);
        if (role < 0)
            continue;
        if (add_content(s, (enum gw_role)role, v[M_CONTENT], i, chat_part_types) < 0)
            return -1;
        if (role == GW_ROLE_ASSISTANT && add_tool_calls(s, v, i) < 0)
            return -1;
    }
    return 0;
}

static int
chat_response(struct scan *s, const unsigned char **top_v)
{
    static const struct name k_choice[] = {N("index"), N("message"), N_END};
    const unsigned char *c_v[2], *v[M_COUNT];
    int i = 0;
    for (const unsigned char *c = first(s, top_v[T_CHOICES]); c; c = next(s, c), i++) {
        get(s, c, k_choice, c_v);
        int64_t x;
        int idx = i;
        if (int_of(s, c_v[0], &x) && x >= 0 && x <= 1000000)
            idx = (int)x;
        get(s, c_v[1], k_message, v);
        if (add_content(s, GW_ROLE_ASSISTANT, v[M_CONTENT], idx, chat_part_types) < 0 ||
            add_tool_calls(s, v, idx) < 0)
            return -1;
    }
    return 0;
}

enum { I_TYPE, I_ROLE, I_CONTENT, I_ARGUMENTS, I_OUTPUT, I_COUNT };
static const struct name k_item[] = {N("type"),      N("role"),   N("content"),
                                     N("arguments"), N("output"), N_END};

static int
responses_request(struct scan *s, const unsigned char **top_v)
{
    static const struct name types[] = {N("message"), N("function_call"), N("function_call_output"),
                                        N_END};
    const unsigned char *v[I_COUNT], *input = top_v[T_INPUT];
    if (put(s, GW_ROLE_SYSTEM, top_v[T_INSTRUCTIONS], -1, 0) < 0)
        return -1;
    if (input && *input == '"')
        return put(s, GW_ROLE_USER, input, 0, 0);
    int i = 0;
    for (const unsigned char *it = first(s, input); it; it = next(s, it), i++) {
        get(s, it, k_item, v);
        int ty = v[I_TYPE] ? str_pick(s, v[I_TYPE], types) : 0; /* no type: a message */
        int rc = 0;
        if (ty == 0) {
            int role = role_for(s, &responses_roles, v[I_ROLE]);
            if (role >= 0)
                rc = add_content(s, (enum gw_role)role, v[I_CONTENT], i, responses_part_types);
        } else if (ty == 1) {
            rc = put(s, GW_ROLE_TOOL_CALL_ARGS, v[I_ARGUMENTS], i, 0);
        } else if (ty == 2) {
            rc = add_content(s, GW_ROLE_TOOL_RESULT, v[I_OUTPUT], i, responses_tool_output_types);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int
responses_response(struct scan *s, const unsigned char **top_v)
{
    static const struct name types[] = {N("message"), N("function_call"), N_END};
    const unsigned char *v[I_COUNT];
    int i = 0;
    for (const unsigned char *it = first(s, top_v[T_OUTPUT]); it; it = next(s, it), i++) {
        get(s, it, k_item, v);
        int ty = str_pick(s, v[I_TYPE], types), rc = 0;
        if (ty == 0) {
            /* output_text parts only, never a bare string */
            if (v[I_CONTENT] && *v[I_CONTENT] == '[')
                rc = add_content(s, GW_ROLE_ASSISTANT, v[I_CONTENT], i, responses_output_types);
        } else if (ty == 1) {
            rc = put(s, GW_ROLE_TOOL_CALL_ARGS, v[I_ARGUMENTS], i, 0);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Anthropic block types, and the keys of a block. */
enum { B_TEXT, B_TOOL_USE, B_TOOL_RESULT, B_DOCUMENT, B_SEARCH_RESULT };
static const struct name block_types[] = {N("text"),     N("tool_use"),      N("tool_result"),
                                          N("document"), N("search_result"), N_END};
enum { K_TYPE, K_TEXT, K_INPUT, K_CONTENT, K_SOURCE, K_COUNT };
static const struct name k_block[] = {N("type"),    N("text"),   N("input"),
                                      N("content"), N("source"), N_END};

/* segments.c anthropic_retrieved: a document's text or content source, a search_result's text
 * blocks, as tool_result. */
static int
anthropic_retrieved(struct scan *s, int ty, const unsigned char **blk, int idx)
{
    static const struct name k_source[] = {N("type"), N("data"), N("content"), N_END};
    static const struct name source_types[] = {N("text"), N("content"), N_END};
    const unsigned char *v[3];
    if (ty == B_SEARCH_RESULT)
        return add_content(s, GW_ROLE_TOOL_RESULT, blk[K_CONTENT], idx, chat_part_types);
    get(s, blk[K_SOURCE], k_source, v);
    switch (str_pick(s, v[0], source_types)) {
    case 0:
        return put(s, GW_ROLE_TOOL_RESULT, v[1], idx, 0);
    case 1:
        return add_content(s, GW_ROLE_TOOL_RESULT, v[2], idx, chat_part_types);
    default:
        return 0;
    }
}

/* A tool_result's content: a string, or text blocks and retrieved content, as tool_result. */
static int
anthropic_tool_result(struct scan *s, const unsigned char *content, int idx)
{
    const unsigned char *v[K_COUNT];
    if (content && *content == '"')
        return put(s, GW_ROLE_TOOL_RESULT, content, idx, 0);
    for (const unsigned char *b = first(s, content); b; b = next(s, b)) {
        get(s, b, k_block, v);
        int ty = str_pick(s, v[K_TYPE], block_types), rc = 0;
        if (ty == B_TEXT)
            rc = put(s, GW_ROLE_TOOL_RESULT, v[K_TEXT], idx, 0);
        else if (ty == B_DOCUMENT || ty == B_SEARCH_RESULT)
            rc = anthropic_retrieved(s, ty, v, idx);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* The content blocks (or string) of one message; in a response (resp) text and tool_use only. */
static int
anthropic_blocks(struct scan *s, enum gw_role role, const unsigned char *content, int idx, int resp)
{
    const unsigned char *v[K_COUNT];
    if (!resp && content && *content == '"')
        return put(s, role, content, idx, 0);
    for (const unsigned char *b = first(s, content); b; b = next(s, b)) {
        get(s, b, k_block, v);
        int ty = str_pick(s, v[K_TYPE], block_types), rc = 0;
        if (ty == B_TEXT)
            rc = put(s, role, v[K_TEXT], idx, 0);
        else if (ty == B_TOOL_USE)
            rc = put_json(s, GW_ROLE_TOOL_CALL_ARGS, v[K_INPUT], idx);
        else if (resp)
            rc = 0;
        else if (ty == B_TOOL_RESULT)
            rc = anthropic_tool_result(s, v[K_CONTENT], idx);
        else if (ty == B_DOCUMENT || ty == B_SEARCH_RESULT)
            rc = anthropic_retrieved(s, ty, v, idx);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int
anthropic_request(struct scan *s, const unsigned char **top_v)
{
    static const struct name k_msg[] = {N("role"), N("content"), N_END};
    const unsigned char *v[2];
    if (add_content(s, GW_ROLE_SYSTEM, top_v[T_SYSTEM], -1, chat_part_types) < 0)
        return -1;
    int i = 0;
    for (const unsigned char *m = first(s, top_v[T_MESSAGES]); m; m = next(s, m), i++) {
        get(s, m, k_msg, v);
        int role = role_for(s, &anthropic_roles, v[0]);
        if (role >= 0 && anthropic_blocks(s, (enum gw_role)role, v[1], i, 0) < 0)
            return -1;
    }
    return 0;
}

static void
body_usage(struct scan *s, enum gw_api_kind kind, const unsigned char *u,
           struct gw_textscan_usage *usage)
{
    static const struct name k_chat[] = {N("prompt_tokens"), N("completion_tokens"), N_END};
    static const struct name k_other[] = {N("input_tokens"), N("output_tokens"), N_END};
    const unsigned char *v[2];
    if (kind == GW_KIND_OTHER)
        return;
    get(s, u, kind == GW_KIND_OPENAI_CHAT ? k_chat : k_other, v);
    count(s, v[0], &usage->in);
    count(s, v[1], &usage->out);
}

int
gw_textscan_body(const char *json, size_t len, enum gw_api_kind kind, enum gw_direction dir,
                 gw_textscan_fn fn, void *arg, struct gw_textscan_usage *usage)
{
    struct scan s;
    const unsigned char *v[T_COUNT];
    int rc = 0, req = dir == GW_DIR_REQUEST;

    if (usage)
        usage->in = usage->out = -1;
    if (!json)
        return -1;
    scan_init(&s, json, len, fn, arg);
    if (top(&s, (const unsigned char *)json, top_keys, v) < 0)
        return -1;
    if (usage)
        body_usage(&s, kind, v[T_USAGE], usage);
    switch (kind) {
    case GW_KIND_OPENAI_CHAT:
        rc = req ? chat_request(&s, v) : chat_response(&s, v);
        break;
    case GW_KIND_OPENAI_RESPONSES:
        rc = req ? responses_request(&s, v) : responses_response(&s, v);
        break;
    case GW_KIND_ANTHROPIC_MESSAGES:
        /* text blocks are the answer; a response carries no tool_result */
        rc = req ? anthropic_request(&s, v)
                 : anthropic_blocks(&s, GW_ROLE_ASSISTANT, v[T_CONTENT], 0, 1);
        break;
    case GW_KIND_OTHER:
        break;
    }
    free(s.heap);
    return rc;
}

/* ---- the parsers of stream.c, over one event's data ---- */

/* stream.c index_of: a non-negative integer up to INT_MAX, dflt when absent or not an integer,
 * -1 when out of range. */
static int
index_of(const struct scan *s, const unsigned char *v, int dflt)
{
    int64_t x;
    if (!int_of(s, v, &x))
        return dflt;
    return x < 0 || x > INT_MAX ? -1 : (int)x;
}

static int
chat_event(struct scan *s, const unsigned char **top_v, struct gw_textscan_usage *usage)
{
    static const struct name k_usage[] = {N("prompt_tokens"), N("completion_tokens"), N_END};
    static const struct name k_choice[] = {N("index"), N("delta"), N_END};
    static const struct name k_delta[] = {N("content"), N("tool_calls"), N_END};
    const unsigned char *v[2], *d[2], *fn, *args;
    if (usage && top_v[T_USAGE] && *top_v[T_USAGE] == '{') {
        get(s, top_v[T_USAGE], k_usage, v);
        count(s, v[0], &usage->in);
        count(s, v[1], &usage->out);
    }
    int i = 0;
    for (const unsigned char *ch = first(s, top_v[T_CHOICES]); ch; ch = next(s, ch), i++) {
        if (*ch != '{')
            continue;
        get(s, ch, k_choice, v);
        int c = index_of(s, v[0], i);
        if (!v[1] || *v[1] != '{')
            continue;
        get(s, v[1], k_delta, d);
        if (put(s, GW_ROLE_ASSISTANT, d[0], c, 1) < 0)
            return -1;
        for (const unsigned char *tc = first(s, d[1]); tc; tc = next(s, tc)) {
            get(s, tc, k_function, &fn);
            if (!fn || *fn != '{')
                continue;
            get(s, fn, k_arguments, &args);
            if (put(s, GW_ROLE_TOOL_CALL_ARGS, args, c, 1) < 0)
                return -1;
        }
    }
    return 0;
}

static int
responses_event(struct scan *s, const unsigned char **top_v, struct gw_textscan_usage *usage)
{
    static const struct name types[] = {
        N("response.output_text.delta"), N("response.function_call_arguments.delta"),
        N("response.completed"),         N("response.failed"),
        N("response.incomplete"),        N_END};
    static const struct name k_response[] = {N("usage"), N_END};
    static const struct name k_usage[] = {N("input_tokens"), N("output_tokens"), N_END};
    const unsigned char *u, *v[2];
    int ty = cstr_pick(s, top_v[T_TYPE], types);
    if (ty == 0)
        return put(s, GW_ROLE_ASSISTANT, top_v[T_DELTA], 0, 1);
    if (ty == 1)
        return put(s, GW_ROLE_TOOL_CALL_ARGS, top_v[T_DELTA], 0, 1);
    if (ty > 1 && usage) {
        get(s, top_v[T_RESPONSE], k_response, &u);
        if (u && *u == '{') {
            get(s, u, k_usage, v);
            count(s, v[0], &usage->in);
            count(s, v[1], &usage->out);
        }
    }
    return 0;
}

static int
anthropic_event(struct scan *s, const unsigned char **top_v, struct gw_textscan_usage *usage)
{
    static const struct name types[] = {N("content_block_delta"), N("message_start"),
                                        N("message_delta"), N_END};
    static const struct name delta_types[] = {N("text_delta"), N("input_json_delta"), N_END};
    static const struct name k_delta[] = {N("type"), N("text"), N("partial_json"), N_END};
    static const struct name k_usage[] = {N("input_tokens"), N("output_tokens"), N_END};
    static const struct name k_start[] = {N("usage"), N_END};
    const unsigned char *v[3], *u;
    switch (cstr_pick(s, top_v[T_TYPE], types)) {
    case 0:
        get(s, top_v[T_DELTA], k_delta, v);
        switch (cstr_pick(s, v[0], delta_types)) {
        case 0:
            return put(s, GW_ROLE_ASSISTANT, v[1], 0, 1);
        case 1:
            return put(s, GW_ROLE_TOOL_CALL_ARGS, v[2], 0, 1);
        default:
            return 0;
        }
    case 1:
        if (usage) {
            get(s, top_v[T_MESSAGE], k_start, &u);
            get(s, u, k_usage, v);
            count(s, v[0], &usage->in);
        }
        return 0;
    case 2:
        if (usage) {
            get(s, top_v[T_USAGE], k_usage, v);
            count(s, v[0], &usage->in);
            count(s, v[1], &usage->out);
        }
        return 0;
    default:
        return 0;
    }
}

int
gw_textscan_event(const char *json, size_t len, enum gw_api_kind kind, gw_textscan_fn fn, void *arg,
                  struct gw_textscan_usage *usage)
{
    struct scan s;
    const unsigned char *v[T_COUNT], *p;
    int rc = 0;

    if (!json)
        return -1;
    scan_init(&s, json, len, fn, arg);
    p = ws(&s, (const unsigned char *)json);
    if (p < s.end && *p != '{') {
        /* valid JSON but no object: stream.c forwards it as it came, no delta */
        p = gw_json_skip_value(p, s.end, 0, FLAGS);
        return p && ws(&s, p) == s.end ? 0 : -1;
    }
    if (top(&s, p, top_keys, v) < 0)
        return -1;
    switch (kind) {
    case GW_KIND_OPENAI_CHAT:
        rc = chat_event(&s, v, usage);
        break;
    case GW_KIND_OPENAI_RESPONSES:
        rc = responses_event(&s, v, usage);
        break;
    case GW_KIND_ANTHROPIC_MESSAGES:
        rc = anthropic_event(&s, v, usage);
        break;
    case GW_KIND_OTHER:
        break;
    }
    free(s.heap);
    return rc;
}
