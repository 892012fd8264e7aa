/*
 * Tree-free text scanner fuzzer, differential against the jansson adapters. Byte 0 picks the API
 * kind and direction (byte % 6: 0 chat request, 1 responses request, 2 Anthropic request, 3-5 the
 * same kinds' responses), the rest is the body.
 *
 * - gw_textscan_body against gw_body_parse: valid exactly when gw_body_parse succeeds (but for
 *   nesting deeper than GW_JSON_MAX_DEPTH, which only jansson accepts, and jansson's raw-NUL quirk,
 *   see reqinfo.h), and then the same (role, msg_index, text) sequence as the segments minus the
 *   tool definitions; an Anthropic tool_use input is compared as JSON (json_equal), and must hold
 *   no whitespace between tokens. Usage as read from jansson's tree. Also on a few prefixes.
 * - gw_textscan_event against gw_stream_parse: the body sent as one SSE event (one data: line per
 *   line of it) to a fresh adapter of the same kind must give the same deltas and usage.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "providers/jsonscan.h"
#include "providers/segments.h"
#include "providers/stream.h"
#include "providers/textscan.h"

struct text {
    enum gw_role role;
    int idx;
    char *t;
    size_t len;
};

struct texts {
    struct text v[4096];
    size_t n;
    int overflow;
};

static void
collect(void *arg, enum gw_role role, int msg_index, const char *text, size_t len)
{
    struct texts *ts = arg;
    if (ts->n == sizeof(ts->v) / sizeof(ts->v[0])) {
        ts->overflow = 1;
        return;
    }
    char *t = malloc(len ? len : 1);
    if (len)
        memcpy(t, text, len);
    ts->v[ts->n++] = (struct text){role, msg_index, t, len};
}

static void
texts_free(struct texts *ts)
{
    for (size_t i = 0; i < ts->n; i++)
        free(ts->v[i].t);
    ts->n = 0;
    ts->overflow = 0;
}

static size_t
tree_depth(json_t *j)
{
    size_t d = 0, i, c;
    const char *k;
    json_t *v;
    if (json_is_object(j)) {
        json_object_foreach(j, k, v)
        {
            c = tree_depth(v);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            c = tree_depth(v);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    return 0;
}

/* jansson accepted it, the scanner may refuse it: too deep, or jansson's raw NUL quirk. */
static int
may_refuse(json_t *root, const char *body, size_t len)
{
    return tree_depth(root) > GW_JSON_MAX_DEPTH || memchr(body, '\0', len) != NULL;
}

/* No whitespace outside strings. */
static int
compact(const char *t, size_t n)
{
    int in = 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (in) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in = 0;
        } else if (c == '"') {
            in = 1;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            return 0;
        }
    }
    return 1;
}

static int64_t
want_count(json_t *usage, const char *key)
{
    json_t *v = json_object_get(usage, key);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : -1;
}

static struct texts got;

static void
check_body(enum gw_api_kind kind, enum gw_direction dir, const char *data, size_t len)
{
    /* an exact-size copy, so that ASan sees any read past the end */
    char *body = malloc(len ? len : 1);
    memcpy(body, data, len);
    struct gw_body b;
    struct gw_textscan_usage u = {42, 42};
    int prc = gw_body_parse(&b, kind, dir, body, len, NULL, 0);
    int trc = gw_textscan_body(body, len, kind, dir, collect, &got, &u);
    if (got.overflow)
        goto done;
    if (prc != 0) {
        if (trc != -1)
            abort();
        goto done;
    }
    if (trc != 0) {
        if (!may_refuse(b.root, body, len))
            abort();
        goto done;
    }
    size_t j = 0;
    for (size_t i = 0; i < b.segs.n; i++) {
        const struct gw_segment *s = &b.segs.v[i];
        if (s->role == GW_ROLE_TOOL_DEFINITION)
            continue;
        if (j == got.n)
            abort();
        const struct text *t = &got.v[j++];
        if (t->role != s->role || t->idx != s->msg_index)
            abort();
        if (s->role == GW_ROLE_TOOL_CALL_ARGS && json_is_object(s->node)) {
            /* Anthropic tool_use input: the same JSON value, compact */
            json_t *mine = json_loadb(t->t, t->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
            int same = mine && json_equal(mine, json_object_get(s->node, "input"));
            json_decref(mine);
            if (!same || !compact(t->t, t->len))
                abort();
        } else if (t->len != s->len || memcmp(t->t, s->text, s->len) != 0) {
            abort();
        }
    }
    if (j != got.n)
        abort();
    json_t *usage = json_object_get(b.root, "usage");
    int64_t win = -1, wout = -1;
    if (kind == GW_KIND_OPENAI_CHAT) {
        win = want_count(usage, "prompt_tokens");
        wout = want_count(usage, "completion_tokens");
    } else if (kind != GW_KIND_OTHER) {
        win = want_count(usage, "input_tokens");
        wout = want_count(usage, "output_tokens");
    }
    if (u.in != win || u.out != wout)
        abort();
done:
    if (trc != 0 && (u.in != -1 || u.out != -1))
        abort();
    texts_free(&got);
    gw_body_free(&b);
    free(body);
}

static void
check_event(enum gw_api_kind kind, const char *body, size_t len)
{
    /* one data: line per line of the body; the SSE parser joins them with LF */
    char *block = malloc(len * 7 + 16), *w = block;
    size_t i = 0;
    do {
        memcpy(w, "data: ", 6);
        w += 6;
        while (i < len && body[i] != '\r' && body[i] != '\n')
            *w++ = body[i++];
        if (i < len)
            i += body[i] == '\r' && i + 1 < len && body[i + 1] == '\n' ? 2 : 1;
        *w++ = '\n';
    } while (i < len);
    *w++ = '\n';
    size_t blen = (size_t)(w - block);

    struct gw_sse_fields fl;
    if (gw_sse_fields_parse(block, blen, &fl) < 0)
        abort();
    struct gw_textscan_usage u = {-1, -1};
    char *data = malloc(fl.data_len ? fl.data_len : 1); /* exact size, for ASan */
    memcpy(data, fl.data, fl.data_len);
    int trc = gw_textscan_event(data, fl.data_len, kind, collect, &got, &u);
    free(data);

    struct gw_stream_adapter *a = gw_stream_adapter_new(kind);
    struct gw_sevent ev;
    int src = gw_stream_parse(a, block, blen, &ev);
    if (src == 0 && !got.overflow) {
        if (trc != 0) {
            if (ev.root && !may_refuse(ev.root, fl.data, fl.data_len))
                abort();
        } else {
            size_t n = ev.root ? ev.ndeltas : 0;
            if (n != got.n)
                abort();
            for (size_t k = 0; k < n; k++) {
                const struct gw_delta *d = &ev.deltas[k];
                const struct text *t = &got.v[k];
                if (t->role != d->role || t->idx != d->choice || t->len != d->len ||
                    memcmp(t->t, d->text, d->len) != 0)
                    abort();
            }
            int64_t in, out;
            gw_stream_usage(a, &in, &out);
            if (u.in != in || u.out != out)
                abort();
        }
    }
    gw_sevent_free(&ev);
    gw_stream_adapter_free(a);
    gw_sse_fields_free(&fl);
    texts_free(&got);
    free(block);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int sel = data[0] % 6;
    enum gw_api_kind kind = (enum gw_api_kind)(GW_KIND_OPENAI_CHAT + sel % 3);
    enum gw_direction dir = sel < 3 ? GW_DIR_REQUEST : GW_DIR_RESPONSE;
    size_t len = size - 1;
    const char *body = (const char *)data + 1;
    check_body(kind, dir, body, len);
    check_event(kind, body, len);
    /* a few prefixes (truncated bodies), chosen by a hash of the input so runs are repeatable */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    for (int k = 0; k < 2 && len > 0; k++) {
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        check_body(kind, dir, body, (size_t)(h >> 33) % len);
    }
    return 0;
}
