/*
 * Segment edit and write-back fuzzer (providers/segments.c, filters/segment.c). The input is
 * taken as a request and as a response body of each API kind in turn. For every segment a
 * pseudo-random span on UTF-8 boundaries (derived from the input) is replaced by a fixed string
 * full of what JSON must escape; the body is serialised, and the output must parse with jansson
 * and list the same segments, whose texts read back exactly as the edits left them (for an
 * Anthropic tool_use input: the same JSON value). gw_body_serialize may refuse (-1) only when an
 * edit touched what cannot be written back (a tool definition outside its description, a
 * tool_use input that no longer parses); the body is then edited again without those, and must
 * succeed. Each segment is also edited as a streamed chunk with a random held tail.
 * Any violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "providers/segments.h"

static const char REP[] = "\"q\\\"\\\\ \xF0\x9F\x98\x80 \n\t\x01\x7f </x> \xC3\xA9\\u0000";
#define REPLEN (sizeof(REP) - 1)

static uint64_t
next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int
cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* A random span [*off, *off + *len) inside [lo, hi) of t, moved onto character boundaries. */
static void
pick_span(const char *t, size_t n, size_t lo, size_t hi, uint64_t *rng, size_t *off, size_t *len)
{
    size_t o = lo + next(rng) % (hi - lo + 1);
    while (o > lo && o < n && cont((unsigned char)t[o]))
        o--;
    size_t e = o + next(rng) % (hi - o + 1);
    while (e > o && e < n && cont((unsigned char)t[e]))
        e--;
    *off = o;
    *len = e - o;
}

/* Replaces the span and checks the text became before[0:off] + REP + before[off+len:]. */
static void
edit(struct gw_segment *s, size_t off, size_t len)
{
    size_t n = s->len;
    char *before = malloc(n + 1);
    memcpy(before, s->text, n + 1);
    if (gw_segment_replace(s, off, len, REP, REPLEN) != 0)
        abort();
    if (s->len != n - len + REPLEN || s->text[s->len] != '\0' || !s->edited ||
        memcmp(s->text, before, off) != 0 || memcmp(s->text + off, REP, REPLEN) != 0 ||
        memcmp(s->text + off + REPLEN, before + off + len, n - off - len) != 0)
        abort();
    free(before);
}

/* The same edit on a chunk copy of the text, with a random held tail. */
static void
chunk_edit(const struct gw_segment *s, uint64_t *rng)
{
    struct gw_chunk c = {.role = GW_ROLE_ASSISTANT};
    c.len = s->len;
    c.text = malloc(c.len + 1);
    memcpy(c.text, s->text, c.len + 1);
    c.hold = next(rng) % (c.len + 1);
    size_t off, len, limit = c.len - c.hold;
    pick_span(c.text, c.len, 0, limit, rng, &off, &len);
    /* an end moved down onto a boundary is still inside the released part */
    if (gw_chunk_replace(&c, off, len, REP, REPLEN) != 0 || c.len != s->len - len + REPLEN ||
        c.text[c.len] != '\0' ||
        memcmp(c.text + c.len - c.hold, s->text + s->len - c.hold, c.hold) != 0)
        abort();
    /* a span reaching into the held tail is refused */
    if (c.hold && gw_chunk_replace(&c, c.len - c.hold, 1, "", 0) != -1)
        abort();
    free(c.text);
}

/* 1 when the segment's write-back can refuse an arbitrary edit. */
static int
strict(const struct gw_body *b, const struct gw_segment *s)
{
    return s->role == GW_ROLE_TOOL_DEFINITION ||
           (b->kind == GW_KIND_ANTHROPIC_MESSAGES && s->role == GW_ROLE_TOOL_CALL_ARGS);
}

static int
same_json(const char *a, size_t alen, const char *b, size_t blen)
{
    json_t *x = json_loadb(a, alen, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    json_t *y = json_loadb(b, blen, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    int eq = x && y && json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return eq;
}

/* The serialised body parses and lists the segments of b with their current texts. */
static void
verify(const struct gw_body *b, const char *out, size_t outlen)
{
    if (outlen != strlen(out))
        abort();
    json_t *j = json_loadb(out, outlen, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(j))
        abort();
    json_decref(j);
    struct gw_body r;
    if (gw_body_parse(&r, b->kind, b->segs.dir, out, outlen, NULL, 0) != 0 || r.segs.n != b->segs.n)
        abort();
    for (size_t i = 0; i < r.segs.n; i++) {
        const struct gw_segment *x = &b->segs.v[i], *y = &r.segs.v[i];
        if (x->role != y->role || x->msg_index != y->msg_index)
            abort();
        if (b->kind == GW_KIND_ANTHROPIC_MESSAGES && x->role == GW_ROLE_TOOL_CALL_ARGS) {
            if (!same_json(x->text, x->len, y->text, y->len))
                abort();
        } else if (x->len != y->len || memcmp(x->text, y->text, x->len) != 0) {
            abort();
        }
    }
    gw_body_free(&r);
}

/* Edits the body's segments (safe_only: not the strict ones); 1 when the refusal is allowed. */
static int
edit_all(struct gw_body *b, uint64_t *rng, int safe_only, int *edited)
{
    int may_fail = 0;
    for (size_t i = 0; i < b->segs.n; i++) {
        struct gw_segment *s = &b->segs.v[i];
        uint64_t r = next(rng);
        if (r % 8 == 0)
            continue; /* leave some unedited */
        int st = strict(b, s);
        if (safe_only && st)
            continue;
        if (!safe_only)
            chunk_edit(s, rng);
        size_t lo = 0, wlen = s->len, off, len;
        if (st && (r >> 8) % 2 == 0) {
            if (gw_segment_writable(s, &lo, &wlen) != 0)
                abort();
            if (s->role == GW_ROLE_TOOL_CALL_ARGS) {
                /* keep it JSON: replace the whole input with REP as a JSON string */
                json_t *v = json_stringn(REP, REPLEN);
                char *js = json_dumps(v, JSON_ENCODE_ANY);
                if (gw_segment_replace(s, 0, s->len, js, strlen(js)) != 0)
                    abort();
                free(js);
                json_decref(v);
                *edited = 1;
                continue;
            }
        } else if (st) {
            may_fail = 1;
        }
        pick_span(s->text, s->len, lo, lo + wlen, rng, &off, &len);
        /* a span that starts inside a character is refused and changes nothing */
        if (off + 1 < s->len && cont((unsigned char)s->text[off + 1]) &&
            gw_segment_replace(s, off + 1, 0, "", 0) != -1)
            abort();
        edit(s, off, len);
        *edited = 1;
    }
    return may_fail;
}

static void
run(const uint8_t *data, size_t size, enum gw_api_kind k, enum gw_direction dir, uint64_t seed)
{
    struct gw_body b;
    if (gw_body_parse(&b, k, dir, (const char *)data, size, NULL, 0) != 0) {
        gw_body_free(&b);
        return;
    }
    for (int safe_only = 0; safe_only < 2; safe_only++) {
        if (safe_only) {
            gw_body_free(&b);
            if (gw_body_parse(&b, k, dir, (const char *)data, size, NULL, 0) != 0)
                abort();
        }
        uint64_t rng = seed ^ (uint64_t)safe_only;
        int edited = 0;
        int may_fail = edit_all(&b, &rng, safe_only, &edited);
        char *out = NULL;
        size_t outlen = 0;
        int rc = gw_body_serialize(&b, &out, &outlen);
        if (rc == 1) {
            if (!edited || !out)
                abort();
            verify(&b, out, outlen);
            free(out);
            break;
        }
        if (out || (rc == 0 && edited) || (rc == -1 && !may_fail) || rc < -1 || rc > 1)
            abort();
        if (rc == 0)
            break;
    }
    gw_body_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    const enum gw_api_kind kinds[] = {GW_KIND_OPENAI_CHAT, GW_KIND_OPENAI_RESPONSES,
                                      GW_KIND_ANTHROPIC_MESSAGES};
    for (int k = 0; k < 3; k++)
        for (int d = 0; d < 2; d++)
            run(data, size, kinds[k], (enum gw_direction)d, h + (uint64_t)(k * 2 + d));
    return 0;
}
