#include "providers/stream.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "providers/jsondump.h"
#include "providers/jsonload.h"
#include "providers/jsonscan.h"
#include "gateway/strbuf.h"

/* ---------------------------------------------------------------- SSE fields */

static int
field_is(const char *name, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(name, lit, l) == 0;
}

/* Replaces *slot with a NUL-terminated copy of v (vlen bytes; stops at an embedded NUL). */
static int
set_str(char **slot, const char *v, size_t vlen)
{
    char *s = strndup(v, vlen);
    if (!s)
        return -1;
    free(*slot);
    *slot = s;
    return 0;
}

size_t
gw_sse_event_len(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t s = i;
        while (i < n && p[i] != '\r' && p[i] != '\n')
            i++;
        if (i == n)
            return 0; /* the line goes on */
        size_t e = i;
        i += (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') ? 2 : 1;
        if (e == s)
            return i;
    }
    return 0;
}

int
gw_sse_fields_parse(const char *ev, size_t len, struct gw_sse_fields *out)
{
    struct gw_strbuf data = {0};
    size_t i = 0;
    int seen = 0;

    memset(out, 0, sizeof(*out));
    if (len >= 3 && memcmp(ev, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len) {
        size_t s = i;
        while (i < len && ev[i] != '\r' && ev[i] != '\n')
            i++;
        size_t n = i - s;
        const char *line = ev + s;
        if (i < len)
            i += (ev[i] == '\r' && i + 1 < len && ev[i + 1] == '\n') ? 2 : 1;
        if (n == 0) {
            if (seen)
                break;
            continue; /* the LF of a CRLF whose CR ended the previous block */
        }
        seen = 1;
        if (line[0] == ':')
            continue;
        const char *colon = memchr(line, ':', n);
        size_t nlen = colon ? (size_t)(colon - line) : n;
        const char *val = colon ? colon + 1 : line + n;
        size_t vlen = n - (size_t)(val - line);
        if (vlen && val[0] == ' ') {
            val++;
            vlen--;
        }
        if (field_is(line, nlen, "data")) {
            if (gw_strbuf_put(&data, val, vlen) < 0 || gw_strbuf_put(&data, "\n", 1) < 0)
                goto oom;
            out->has_data = 1;
        } else if (field_is(line, nlen, "event")) {
            if (vlen == 0) {
                free(out->event);
                out->event = NULL;
            } else if (set_str(&out->event, val, vlen) < 0) {
                goto oom;
            }
        } else if (field_is(line, nlen, "id")) {
            if (!memchr(val, '\0', vlen) && set_str(&out->id, val, vlen) < 0)
                goto oom;
        } else if (field_is(line, nlen, "retry")) {
            size_t k = 0;
            while (k < vlen && val[k] >= '0' && val[k] <= '9')
                k++;
            if (vlen && k == vlen && set_str(&out->retry, val, vlen) < 0)
                goto oom;
        }
    }
    if (out->has_data) {
        data.len--; /* the last "\n" */
        data.p[data.len] = '\0';
    } else if (gw_strbuf_put(&data, "", 0) < 0) {
        goto oom;
    }
    out->data = data.p;
    out->data_len = data.len;
    return 0;
oom:
    free(data.p);
    gw_sse_fields_free(out);
    return -1;
}

void
gw_sse_fields_free(struct gw_sse_fields *f)
{
    free(f->event);
    free(f->data);
    free(f->id);
    free(f->retry);
    memset(f, 0, sizeof(*f));
}

/* ---------------------------------------------------------------- adapter state */

/* Event types the writer treats specially. */
enum {
    T_NONE = 0,
    T_CHAT_CHUNK,
    T_R_TEXT_DELTA,
    T_R_ARGS_DELTA,
    T_R_TEXT_DONE,
    T_R_PART_DONE,
    T_R_ARGS_DONE,
    T_R_ITEM_DONE,
    T_R_FINAL, /* response.completed / failed / incomplete */
    T_A_DELTA,
};

/* Where a delta's text lives in its event, and the logprobs that spell out the same tokens. */
struct gw_delta_loc {
    json_t *obj;     /* object holding the text ... */
    const char *key; /* ... under this key (a static string) */
    json_t *lp_obj;  /* object holding "logprobs", or NULL */
    json_t *choice;  /* chat: the choice object */
};

struct stream {
    int a, b; /* chat: choice, tool index (-1: text); responses: output_index, content_index
                 (-1: arguments); Anthropic: block index, -1 */
    enum gw_role role;
    int choice;
    int open;
    /* the last delta event of this stream, cloned by gw_stream_write_text */
    json_t *tmpl;
    struct gw_delta_loc tmpl_loc;
    char *tmpl_event;
    struct gw_strbuf rel; /* responses: the text released so far */
};

struct gw_stream_adapter {
    enum gw_api_kind kind;
    struct stream *s;
    size_t n, cap;
    int64_t in, out;
    int64_t cache_read, cache_write; /* prompt cache (0 when not reported) */
    json_int_t seq_next;             /* responses: the next sequence_number to write */
    int seq_init;
};

struct gw_stream_adapter *
gw_stream_adapter_new(enum gw_api_kind k)
{
    struct gw_stream_adapter *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->kind = k;
    a->in = a->out = -1;
    return a;
}

void
gw_stream_adapter_free(struct gw_stream_adapter *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        json_decref(a->s[i].tmpl);
        free(a->s[i].tmpl_event);
        free(a->s[i].rel.p);
    }
    free(a->s);
    free(a);
}

static int
find_stream(const struct gw_stream_adapter *a, int ka, int kb, enum gw_role role)
{
    for (size_t i = a->n; i-- > 0;)
        if (a->s[i].a == ka && a->s[i].b == kb && a->s[i].role == role)
            return (int)i;
    return -1;
}

/* The id of stream (ka, kb, role), created if new; -1 on no memory or too many streams. */
static int
get_stream(struct gw_stream_adapter *a, int ka, int kb, enum gw_role role, int choice)
{
    int id = find_stream(a, ka, kb, role);
    if (id >= 0)
        return id;
    if (a->n >= GW_STREAM_MAX_STREAMS)
        return -1;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        struct stream *s = realloc(a->s, cap * sizeof(*s));
        if (!s)
            return -1;
        a->s = s;
        a->cap = cap;
    }
    struct stream *s = &a->s[a->n];
    memset(s, 0, sizeof(*s));
    s->a = ka;
    s->b = kb;
    s->role = role;
    s->choice = choice;
    return (int)a->n++;
}

/* ---------------------------------------------------------------- parsing */

static int
push_ended(struct gw_sevent *ev, int id)
{
    int *e = realloc(ev->ended, (ev->nended + 1) * sizeof(*e));
    if (!e)
        return -1;
    ev->ended = e;
    ev->ended[ev->nended++] = id;
    return 0;
}

static int
end_stream(struct gw_stream_adapter *a, struct gw_sevent *ev, int id)
{
    if (id < 0 || !a->s[id].open)
        return 0;
    a->s[id].open = 0;
    return push_ended(ev, id);
}

/* Ends every open stream whose first key is ka (all when all is set). */
static int
end_streams(struct gw_stream_adapter *a, struct gw_sevent *ev, int ka, int all)
{
    for (size_t i = 0; i < a->n; i++)
        if ((all || a->s[i].a == ka) && end_stream(a, ev, (int)i) < 0)
            return -1;
    return 0;
}

/*
 * Records obj[key] as a delta of stream (ka, kb, role) when it is a non-empty string, and makes
 * this event the stream's template. Returns 0 (also when there is no text), -1 on failure.
 */
static int
add_delta(struct gw_stream_adapter *a, struct gw_sevent *ev, int ka, int kb, enum gw_role role,
          int choice, const struct gw_delta_loc *loc)
{
    json_t *str = json_object_get(loc->obj, loc->key);
    if (!json_is_string(str) || json_string_length(str) == 0)
        return 0;
    int id = get_stream(a, ka, kb, role, choice);
    if (id < 0)
        return -1;
    struct gw_delta *d = realloc(ev->deltas, (ev->ndeltas + 1) * sizeof(*d));
    if (!d)
        return -1;
    ev->deltas = d;
    struct gw_delta_loc *l = realloc(ev->loc, (ev->ndeltas + 1) * sizeof(*l));
    if (!l)
        return -1;
    ev->loc = l;
    char *name = NULL;
    if (ev->f.event && !(name = strdup(ev->f.event)))
        return -1;

    struct stream *s = &a->s[id];
    s->open = 1;
    json_decref(s->tmpl);
    s->tmpl = json_incref(ev->root);
    s->tmpl_loc = *loc;
    free(s->tmpl_event);
    s->tmpl_event = name;

    ev->loc[ev->ndeltas] = *loc;
    ev->deltas[ev->ndeltas++] = (struct gw_delta){.stream_id = id,
                                                  .choice = choice,
                                                  .role = role,
                                                  .text = json_string_value(str),
                                                  .len = json_string_length(str)};
    return 0;
}

/* An index field: its value when a non-negative int, dflt when absent or not an integer, -1 when
 * out of range. */
static int
index_of(const json_t *obj, const char *key, int dflt)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        return dflt;
    json_int_t x = json_integer_value(v);
    return x < 0 || x > INT_MAX ? -1 : (int)x;
}

static void
read_count(const json_t *obj, const char *key, int64_t *to)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        *to = json_integer_value(v);
}

static const char *
event_type(const struct gw_sevent *ev)
{
    const char *t = json_string_value(json_object_get(ev->root, "type"));
    return t ? t : ev->f.event;
}

static int
parse_chat(struct gw_stream_adapter *a, struct gw_sevent *ev)
{
    json_t *root = ev->root, *choices = json_object_get(root, "choices");
    json_t *usage = json_object_get(root, "usage");

    ev->type = T_CHAT_CHUNK;
    if (json_is_object(usage)) {
        read_count(usage, "prompt_tokens", &a->in);
        read_count(usage, "completion_tokens", &a->out);
        gw_usage_cache_read(a->kind, usage, &a->cache_read, &a->cache_write);
    }
    if (!choices && json_is_object(json_object_get(root, "error"))) {
        ev->kind = GW_SEV_ERROR;
        return end_streams(a, ev, 0, 1);
    }
    if (!json_is_array(choices))
        return 0;
    if (json_array_size(choices) == 0) {
        if (json_is_object(usage))
            ev->kind = GW_SEV_USAGE_ONLY;
        return 0;
    }
    size_t i, j;
    json_t *ch, *tc;
    json_array_foreach(choices, i, ch)
    {
        if (!json_is_object(ch))
            continue;
        int c = index_of(ch, "index", i > INT_MAX ? -1 : (int)i);
        json_t *delta = json_object_get(ch, "delta");
        if (!json_is_object(delta))
            continue;
        struct gw_delta_loc loc = {.obj = delta, .key = "content", .lp_obj = ch, .choice = ch};
        if (add_delta(a, ev, c, -1, GW_ROLE_ASSISTANT, c, &loc) < 0)
            return -1;
        json_t *tcs = json_object_get(delta, "tool_calls");
        json_array_foreach(tcs, j, tc)
        {
            json_t *fn = json_object_get(tc, "function");
            if (!json_is_object(fn))
                continue;
            int t = index_of(tc, "index", j > INT_MAX ? -1 : (int)j);
            loc.obj = fn;
            loc.key = "arguments";
            if (add_delta(a, ev, c, t, GW_ROLE_TOOL_CALL_ARGS, c, &loc) < 0)
                return -1;
        }
    }
    json_array_foreach(choices, i, ch)
    {
        if (!json_is_string(json_object_get(ch, "finish_reason")))
            continue;
        if (end_streams(a, ev, index_of(ch, "index", i > INT_MAX ? -1 : (int)i), 0) < 0)
            return -1;
    }
    if (ev->ndeltas)
        ev->kind = GW_SEV_DELTA;
    return 0;
}

static int
parse_responses(struct gw_stream_adapter *a, struct gw_sevent *ev)
{
    json_t *root = ev->root;
    const char *t = event_type(ev);
    int oi = index_of(root, "output_index", -1), ci = index_of(root, "content_index", -1);

    if (!t)
        return 0;
    if (strcmp(t, "response.output_text.delta") == 0) {
        struct gw_delta_loc loc = {.obj = root, .key = "delta", .lp_obj = root};
        ev->type = T_R_TEXT_DELTA;
        if (add_delta(a, ev, oi, ci, GW_ROLE_ASSISTANT, 0, &loc) < 0)
            return -1;
    } else if (strcmp(t, "response.function_call_arguments.delta") == 0) {
        struct gw_delta_loc loc = {.obj = root, .key = "delta"};
        ev->type = T_R_ARGS_DELTA;
        if (add_delta(a, ev, oi, -1, GW_ROLE_TOOL_CALL_ARGS, 0, &loc) < 0)
            return -1;
    } else if (strcmp(t, "response.output_text.done") == 0 ||
               strcmp(t, "response.content_part.done") == 0) {
        ev->type = strcmp(t, "response.output_text.done") == 0 ? T_R_TEXT_DONE : T_R_PART_DONE;
        return end_stream(a, ev, find_stream(a, oi, ci, GW_ROLE_ASSISTANT));
    } else if (strcmp(t, "response.function_call_arguments.done") == 0) {
        ev->type = T_R_ARGS_DONE;
        return end_stream(a, ev, find_stream(a, oi, -1, GW_ROLE_TOOL_CALL_ARGS));
    } else if (strcmp(t, "response.output_item.done") == 0) {
        ev->type = T_R_ITEM_DONE;
        return end_streams(a, ev, oi, 0);
    } else if (strcmp(t, "response.completed") == 0 || strcmp(t, "response.failed") == 0 ||
               strcmp(t, "response.incomplete") == 0) {
        json_t *usage = json_object_get(json_object_get(root, "response"), "usage");
        ev->type = T_R_FINAL;
        ev->kind = GW_SEV_TERMINAL;
        if (json_is_object(usage)) {
            read_count(usage, "input_tokens", &a->in);
            read_count(usage, "output_tokens", &a->out);
            gw_usage_cache_read(a->kind, usage, &a->cache_read, &a->cache_write);
        }
        return end_streams(a, ev, 0, 1);
    } else if (strcmp(t, "error") == 0) {
        ev->kind = GW_SEV_ERROR;
        return end_streams(a, ev, 0, 1);
    }
    if (ev->ndeltas)
        ev->kind = GW_SEV_DELTA;
    return 0;
}

static int
parse_anthropic(struct gw_stream_adapter *a, struct gw_sevent *ev)
{
    json_t *root = ev->root;
    const char *t = event_type(ev);
    int idx = index_of(root, "index", -1);

    if (!t)
        return 0;
    if (strcmp(t, "content_block_delta") == 0) {
        json_t *d = json_object_get(root, "delta");
        const char *dt = json_string_value(json_object_get(d, "type"));
        struct gw_delta_loc loc = {.obj = d};
        ev->type = T_A_DELTA;
        /* thinking_delta, signature_delta (and citations_delta) stay GW_SEV_OTHER: reasoning is
         * not the answer, and the signature must match the provider's thinking text exactly. */
        if (dt && strcmp(dt, "text_delta") == 0) {
            loc.key = "text";
            if (add_delta(a, ev, idx, -1, GW_ROLE_ASSISTANT, 0, &loc) < 0)
                return -1;
        } else if (dt && strcmp(dt, "input_json_delta") == 0) {
            loc.key = "partial_json";
            if (add_delta(a, ev, idx, -1, GW_ROLE_TOOL_CALL_ARGS, 0, &loc) < 0)
                return -1;
        }
        if (ev->ndeltas)
            ev->kind = GW_SEV_DELTA;
    } else if (strcmp(t, "content_block_stop") == 0) {
        return end_streams(a, ev, idx, 0);
    } else if (strcmp(t, "message_start") == 0) {
        json_t *usage = json_object_get(json_object_get(root, "message"), "usage");
        read_count(usage, "input_tokens", &a->in);
        gw_usage_cache_read(a->kind, usage, &a->cache_read, &a->cache_write);
    } else if (strcmp(t, "message_delta") == 0) {
        json_t *usage = json_object_get(root, "usage");
        read_count(usage, "input_tokens", &a->in);
        read_count(usage, "output_tokens", &a->out);
        gw_usage_cache_read(a->kind, usage, &a->cache_read, &a->cache_write);
    } else if (strcmp(t, "message_stop") == 0) {
        ev->kind = GW_SEV_TERMINAL;
        return end_streams(a, ev, 0, 1);
    } else if (strcmp(t, "error") == 0) {
        ev->kind = GW_SEV_ERROR;
        return end_streams(a, ev, 0, 1);
    }
    return 0;
}

/* data is "[DONE]", give or take surrounding whitespace. */
static int
is_done(const char *d, size_t n)
{
    while (n && (*d == ' ' || *d == '\t' || *d == '\r' || *d == '\n')) {
        d++;
        n--;
    }
    while (n && (d[n - 1] == ' ' || d[n - 1] == '\t' || d[n - 1] == '\r' || d[n - 1] == '\n'))
        n--;
    return n == 6 && memcmp(d, "[DONE]", 6) == 0;
}

int
gw_stream_parse(struct gw_stream_adapter *a, const char *raw, size_t len, struct gw_sevent *ev)
{
    memset(ev, 0, sizeof(*ev));
    if (!(ev->raw = malloc(len ? len : 1)))
        return -1;
    if (len)
        memcpy(ev->raw, raw, len);
    ev->raw_len = len;
    if (gw_sse_fields_parse(raw, len, &ev->f) < 0)
        goto fail;
    if (a->kind == GW_KIND_OTHER || !ev->f.has_data)
        return 0;
    if (a->kind == GW_KIND_OPENAI_CHAT && is_done(ev->f.data, ev->f.data_len)) {
        ev->kind = GW_SEV_TERMINAL;
        if (end_streams(a, ev, 0, 1) < 0)
            goto fail;
        return 0;
    }
    ev->root = gw_json_loadb(ev->f.data, ev->f.data_len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(ev->root)) {
        json_decref(ev->root);
        ev->root = NULL;
        return 0;
    }
    int rc = 0;
    switch (a->kind) {
    case GW_KIND_OPENAI_CHAT:
        rc = parse_chat(a, ev);
        break;
    case GW_KIND_OPENAI_RESPONSES:
        rc = parse_responses(a, ev);
        break;
    case GW_KIND_ANTHROPIC_MESSAGES:
        rc = parse_anthropic(a, ev);
        break;
    case GW_KIND_OTHER:
        break;
    }
    if (rc == 0)
        return 0;
fail:
    gw_sevent_free(ev);
    return -1;
}

void
gw_sevent_free(struct gw_sevent *ev)
{
    free(ev->deltas);
    free(ev->ended);
    free(ev->loc);
    free(ev->raw);
    gw_sse_fields_free(&ev->f);
    json_decref(ev->root);
    memset(ev, 0, sizeof(*ev));
}

void
gw_stream_cache_usage(const struct gw_stream_adapter *a, int64_t *read, int64_t *write)
{
    *read = a->cache_read;
    *write = a->cache_write;
}

int
gw_stream_usage(const struct gw_stream_adapter *a, int64_t *in, int64_t *out)
{
    *in = a->in;
    *out = a->out;
    return a->in >= 0 && a->out >= 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- writing */

/*
 * Temporary edits of the event's JSON: each replaces obj[key] and keeps a reference to the old
 * value (so delta texts pointing into it stay valid); undone in reverse order after writing, so
 * the event and the stream templates are unchanged afterwards.
 */
struct patch {
    json_t *obj;
    const char *key;
    json_t *old; /* NULL: the key was absent */
};

struct patches {
    struct patch *v;
    size_t n, cap;
};

/* Sets obj[key] = val (a new reference, stolen; NULL fails). 0, or -1 on no memory. */
static int
patch_set(struct patches *p, json_t *obj, const char *key, json_t *val)
{
    if (!val)
        return -1;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        struct patch *v = realloc(p->v, cap * sizeof(*v));
        if (!v) {
            json_decref(val);
            return -1;
        }
        p->v = v;
        p->cap = cap;
    }
    json_t *old = json_incref(json_object_get(obj, key));
    if (json_object_set_new(obj, key, val) < 0) {
        json_decref(old);
        return -1;
    }
    p->v[p->n++] = (struct patch){obj, key, old};
    return 0;
}

static void
patch_undo(struct patches *p)
{
    while (p->n) {
        struct patch *x = &p->v[--p->n];
        if (x->old)
            json_object_set_new(x->obj, x->key, x->old); /* replaces in place: no allocation */
        else
            json_object_del(x->obj, x->key);
    }
    free(p->v);
    memset(p, 0, sizeof(*p));
}

/* A JSON string of len bytes at t; bytes that are not UTF-8 become U+FFFD. NULL on no memory. */
static json_t *
text_string(const char *t, size_t len)
{
    json_t *j = json_stringn(t, len);
    if (j)
        return j;
    struct gw_strbuf b = {0};
    const unsigned char *u = (const unsigned char *)t;
    for (size_t i = 0; i < len;) {
        size_t k = gw_utf8_seq(u + i, u + len);
        if (k == 0) {
            if (gw_strbuf_put(&b, "\xEF\xBF\xBD", 3) < 0)
                goto oom;
            i++;
            continue;
        }
        if (gw_strbuf_put(&b, t + i, k) < 0)
            goto oom;
        i += k;
    }
    j = json_stringn(b.p, b.len);
oom:
    free(b.p);
    return j;
}

/* The smallest %g precision at which v reads back exactly. */
static int
real_digits(double v)
{
    char buf[40];
    for (int p = 1; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            return p;
    }
    return 17;
}

/* The precision at which every real in j reads back exactly (jansson's default, 17, would print
 * 0.7 as 0.69999999999999996). */
static int
tree_precision(json_t *j, int p)
{
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_real(j)) {
        int d = real_digits(json_real_value(j));
        return d > p ? d : p;
    }
    if (json_is_object(j))
        json_object_foreach(j, k, v) p = tree_precision(v, p);
    else if (json_is_array(j))
        json_array_foreach(j, i, v) p = tree_precision(v, p);
    return p;
}

/* Appends "[event: name\n][id: x\n][retry: n\n]data: <json>\n\n". */
static int
emit(const char *name, const struct gw_sse_fields *f, json_t *root, struct evbuffer *out)
{
    int p = tree_precision(root, 1);
    size_t jn;
    char *js = gw_json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(p), &jn);
    if (!js)
        return -1;
    int rc = 0;
    if (name && evbuffer_add_printf(out, "event: %s\n", name) < 0)
        rc = -1;
    if (rc == 0 && f && f->id && evbuffer_add_printf(out, "id: %s\n", f->id) < 0)
        rc = -1;
    if (rc == 0 && f && f->retry && evbuffer_add_printf(out, "retry: %s\n", f->retry) < 0)
        rc = -1;
    if (rc == 0 && (evbuffer_add(out, "data: ", 6) < 0 || evbuffer_add(out, js, jn) < 0 ||
                    evbuffer_add(out, "\n\n", 2) < 0))
        rc = -1;
    free(js);
    return rc;
}

/* The event name to write: the received one, else (responses, Anthropic) the JSON type unless
 * it holds a line end (it would end the field, or the event, early). */
static const char *
out_name(const struct gw_stream_adapter *a, const char *received, json_t *root)
{
    if (received)
        return received;
    if (a->kind == GW_KIND_OPENAI_CHAT)
        return NULL;
    const char *t = json_string_value(json_object_get(root, "type"));
    return t && !strpbrk(t, "\r\n") ? t : NULL;
}

/* Replaces a non-empty logprobs value in obj (chat: null, responses: []). */
static int
clear_logprobs(const struct gw_stream_adapter *a, struct patches *p, json_t *obj)
{
    json_t *lp = json_object_get(obj, "logprobs");
    if (!lp || json_is_null(lp) || (json_is_array(lp) && json_array_size(lp) == 0))
        return 0;
    return patch_set(p, obj, "logprobs",
                     a->kind == GW_KIND_OPENAI_CHAT ? json_null() : json_array());
}

/* Sets obj[key] (a string) to the text released for stream id, if that differs. 1 if set, 0 if
 * not, -1 on no memory. */
static int
set_released(struct gw_stream_adapter *a, struct patches *p, json_t *obj, const char *key, int id)
{
    json_t *cur = json_object_get(obj, key);
    if (id < 0 || !json_is_string(cur))
        return 0;
    const struct gw_strbuf *r = &a->s[id].rel;
    if (json_string_length(cur) == r->len &&
        (!r->len || !memcmp(json_string_value(cur), r->p, r->len)))
        return 0;
    if (patch_set(p, obj, key, json_stringn_nocheck(r->p ? r->p : "", r->len)) < 0)
        return -1;
    return 1;
}

/* A responses output item (message content parts, function_call arguments) at output index oi. */
static int
rewrite_item(struct gw_stream_adapter *a, struct patches *p, json_t *item, int oi)
{
    size_t ci;
    json_t *part;
    if (!json_is_object(item))
        return 0;
    if (set_released(a, p, item, "arguments", find_stream(a, oi, -1, GW_ROLE_TOOL_CALL_ARGS)) < 0)
        return -1;
    json_array_foreach(json_object_get(item, "content"), ci, part)
    {
        int id = ci > INT_MAX ? -1 : find_stream(a, oi, (int)ci, GW_ROLE_ASSISTANT);
        int r = json_is_object(part) ? set_released(a, p, part, "text", id) : 0;
        if (r < 0 || (r > 0 && clear_logprobs(a, p, part) < 0))
            return -1;
    }
    return 0;
}

/* Responses: the full-text fields of ...done events and the final response. */
static int
rewrite_done(struct gw_stream_adapter *a, const struct gw_sevent *ev, struct patches *p)
{
    json_t *root = ev->root;
    int oi = index_of(root, "output_index", -1), ci = index_of(root, "content_index", -1);
    int r = 0;
    size_t k;
    json_t *item;

    switch (ev->type) {
    case T_R_TEXT_DONE:
        r = set_released(a, p, root, "text", find_stream(a, oi, ci, GW_ROLE_ASSISTANT));
        if (r > 0)
            r = clear_logprobs(a, p, root);
        break;
    case T_R_PART_DONE: {
        json_t *part = json_object_get(root, "part");
        if (json_is_object(part))
            r = set_released(a, p, part, "text", find_stream(a, oi, ci, GW_ROLE_ASSISTANT));
        if (r > 0)
            r = clear_logprobs(a, p, part);
        break;
    }
    case T_R_ARGS_DONE:
        r = set_released(a, p, root, "arguments", find_stream(a, oi, -1, GW_ROLE_TOOL_CALL_ARGS));
        break;
    case T_R_ITEM_DONE:
        r = rewrite_item(a, p, json_object_get(root, "item"), oi);
        break;
    case T_R_FINAL:
        json_array_foreach(json_object_get(json_object_get(root, "response"), "output"), k, item)
        {
            if (k <= INT_MAX && rewrite_item(a, p, item, (int)k) < 0)
                return -1;
        }
        break;
    default:
        break;
    }
    return r < 0 ? -1 : 0;
}

/* Responses: the next sequence_number in place of the received one. */
static int
renumber(struct gw_stream_adapter *a, json_t *root, struct patches *p)
{
    json_t *v = json_object_get(root, "sequence_number");
    if (a->kind != GW_KIND_OPENAI_RESPONSES || !json_is_integer(v))
        return 0;
    json_int_t orig = json_integer_value(v);
    if (!a->seq_init) {
        a->seq_init = 1;
        a->seq_next = orig;
    }
    json_int_t n = a->seq_next;
    if (a->seq_next < LLONG_MAX)
        a->seq_next++;
    return n == orig ? 0 : patch_set(p, root, "sequence_number", json_integer(n));
}

/* A JSON value counts as sent-worthy when present and not null. */
static int
has_value(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v);
}

/* Chat: whether the chunk carries anything besides (emptied) texts and logprobs. */
static int
chat_bare(const json_t *root)
{
    const char *k, *k2;
    json_t *ch, *v, *tc, *v2;
    size_t i, j;
    if (has_value(root, "usage"))
        return 0;
    json_array_foreach(json_object_get(root, "choices"), i, ch)
    {
        if (has_value(ch, "finish_reason"))
            return 0;
        json_object_foreach(json_object_get(ch, "delta"), k, v)
        {
            if (strcmp(k, "content") == 0 || json_is_null(v))
                continue;
            if (strcmp(k, "tool_calls") != 0)
                return 0; /* role, refusal, reasoning, ... */
            json_array_foreach(v, j, tc)
            {
                json_object_foreach(tc, k2, v2)
                {
                    if (strcmp(k2, "index") == 0 || json_is_null(v2))
                        continue;
                    if (strcmp(k2, "function") != 0)
                        return 0; /* id, type */
                    const char *k3;
                    json_t *v3;
                    json_object_foreach(v2, k3, v3)
                    {
                        if (strcmp(k3, "arguments") != 0 && !json_is_null(v3))
                            return 0; /* name */
                    }
                }
            }
        }
    }
    return 1;
}

static int
droppable(const struct gw_stream_adapter *a, const struct gw_sevent *ev)
{
    switch (a->kind) {
    case GW_KIND_OPENAI_CHAT:
        return chat_bare(ev->root);
    case GW_KIND_OPENAI_RESPONSES:
        return ev->type == T_R_TEXT_DELTA || ev->type == T_R_ARGS_DELTA;
    case GW_KIND_ANTHROPIC_MESSAGES:
        return ev->type == T_A_DELTA;
    case GW_KIND_OTHER:
        break;
    }
    return 0;
}

static int
released_add(struct gw_stream_adapter *a, int id, const char *t, size_t n)
{
    if (a->kind != GW_KIND_OPENAI_RESPONSES || id < 0 || (size_t)id >= a->n)
        return 0;
    return gw_strbuf_put(&a->s[id].rel, t, n);
}

int
gw_stream_write(struct gw_stream_adapter *a, const struct gw_sevent *ev, const struct gw_text *rep,
                struct evbuffer *out)
{
    struct patches p = {0};
    int all_empty = 1, rc = -1;

    if (!ev->root)
        return ev->raw_len && evbuffer_add(out, ev->raw, ev->raw_len) < 0 ? -1 : 0;
    for (size_t i = 0; i < ev->ndeltas; i++) {
        const struct gw_delta *d = &ev->deltas[i];
        const struct gw_delta_loc *l = &ev->loc[i];
        const char *t = d->text;
        size_t n = d->len;
        if (rep && rep[i].text && (rep[i].len != d->len || memcmp(rep[i].text, d->text, n))) {
            json_t *s = text_string(rep[i].text, rep[i].len);
            if (!s || patch_set(&p, l->obj, l->key, s) < 0)
                goto done;
            t = json_string_value(s);
            n = json_string_length(s);
            if (l->lp_obj && clear_logprobs(a, &p, l->lp_obj) < 0)
                goto done;
        }
        if (n)
            all_empty = 0;
        if (released_add(a, d->stream_id, t, n) < 0)
            goto done;
    }
    if (ev->kind == GW_SEV_DELTA && all_empty && droppable(a, ev)) {
        rc = 0;
        goto done;
    }
    if (a->kind == GW_KIND_OPENAI_RESPONSES &&
        (rewrite_done(a, ev, &p) < 0 || renumber(a, ev->root, &p) < 0))
        goto done;
    if (p.n == 0)
        rc = evbuffer_add(out, ev->raw, ev->raw_len) < 0 ? -1 : 0;
    else
        rc = emit(out_name(a, ev->f.event, ev->root), &ev->f, ev->root, out);
done:
    patch_undo(&p);
    return rc;
}

/* Chat: a chunk like the template with only this stream's choice, carrying text. */
static json_t *
chat_clone(const struct stream *s, json_t *text)
{
    json_t *o = json_object(), *c = json_object(), *d = json_object(), *arr = json_array();
    const char *k;
    json_t *v;
    int err = !o || !c || !d || !arr || !text;

    /* Each *_new call below consumes its value, also on failure (NULL containers included). */
    if (s->role == GW_ROLE_TOOL_CALL_ARGS) {
        json_t *tcs = json_array(), *tc = json_object(), *fn = json_object();
        err |= json_object_set_new(fn, "arguments", text) < 0;
        err |= json_object_set_new(tc, "index", json_integer(s->b)) < 0;
        err |= json_object_set_new(tc, "function", fn) < 0;
        err |= json_array_append_new(tcs, tc) < 0;
        err |= json_object_set_new(d, "tool_calls", tcs) < 0;
    } else {
        err |= json_object_set_new(d, "content", text) < 0;
    }
    json_object_foreach(s->tmpl_loc.choice, k, v)
    {
        if (err)
            break;
        if (strcmp(k, "delta") == 0) {
            err = json_object_set(c, k, d);
        } else if (strcmp(k, "finish_reason") == 0 || strcmp(k, "logprobs") == 0) {
            err = json_object_set_new(c, k, json_null());
        } else {
            err = json_object_set(c, k, v);
        }
    }
    if (!err)
        err = json_array_append(arr, c);
    json_object_foreach(s->tmpl, k, v)
    {
        if (err)
            break;
        if (strcmp(k, "choices") == 0)
            err = json_object_set(o, k, arr);
        else if (strcmp(k, "usage") == 0 && !json_is_null(v))
            err = json_object_set_new(o, k, json_null());
        else
            err = json_object_set(o, k, v);
    }
    json_decref(d);
    json_decref(c);
    json_decref(arr);
    if (err) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int
gw_stream_write_text(struct gw_stream_adapter *a, int stream_id, const char *text, size_t len,
                     struct evbuffer *out)
{
    struct patches p = {0};
    int rc = -1;

    if (stream_id < 0 || (size_t)stream_id >= a->n || !a->s[stream_id].tmpl)
        return -1;
    if (len == 0)
        return 0;
    struct stream *s = &a->s[stream_id];
    json_t *str = text_string(text, len);
    if (!str)
        return -1;
    const char *t = json_string_value(str);
    size_t n = json_string_length(str);
    if (released_add(a, stream_id, t, n) < 0) {
        json_decref(str);
        return -1;
    }
    if (a->kind == GW_KIND_OPENAI_CHAT) {
        json_t *o = chat_clone(s, str);
        if (!o)
            return -1;
        rc = emit(s->tmpl_event, NULL, o, out);
        json_decref(o);
        return rc;
    }
    if (patch_set(&p, s->tmpl_loc.obj, s->tmpl_loc.key, str) < 0)
        goto done;
    if (s->tmpl_loc.lp_obj && clear_logprobs(a, &p, s->tmpl_loc.lp_obj) < 0)
        goto done;
    if (renumber(a, s->tmpl, &p) < 0)
        goto done;
    rc = emit(out_name(a, s->tmpl_event, s->tmpl), NULL, s->tmpl, out);
done:
    patch_undo(&p);
    return rc;
}
