/*
 * pc-mock: a scriptable mock LLM provider for Portcullis tests and benchmarks.
 *
 * Speaks HTTP/1.1 (optionally over TLS) with keep-alive and answers the OpenAI chat completions,
 * OpenAI responses and Anthropic messages APIs, as JSON or SSE. Each request may carry a script
 * (the X-Mock header or the body's "mock" field) that changes the answer: text, tool calls,
 * chunking, delays, byte-level write splits, stalls, resets and errors. /_mock/ endpoints expose
 * counters, the last request and a long-poll on the number of open connections. See
 * tests/mock/README.md.
 *
 * Threads: each worker owns an event_base and a SO_REUSEPORT listener on the same port; the
 * counters are atomics, the last request and the /_mock/wait waiters sit behind one mutex.
 * A connection serves one request at a time: the parser pauses at the end of each message and
 * resumes once the whole response has been handed to the socket, so pipelined requests wait in
 * the input buffer.
 *
 * A response is planned completely when its request completes: `head` (status line and headers),
 * `src` (the unframed body, cut into events whose lengths are in ev_len) and an end action. The
 * producer then moves events into `pending` (chunk-framed), on a timer when delay_ms is set, and
 * the wire writer moves `pending` to the socket, in script-sized writes when wire_split is set.
 */

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <jansson.h>
#include <llhttp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "gateway/strbuf.h"

#define MAX_HEADER_BYTES (256u * 1024u)
#define MAX_BODY_BYTES (64u * 1024u * 1024u)
#define MAX_THREADS 256
#define DEFAULT_WAIT_MS 1000
#define MAX_DELAY_MS (24LL * 3600 * 1000)
/* RST discards unsent data: wait (1 ms steps) for the kernel send queue to empty first. */
#define RST_DRAIN_TRIES 200

enum end_action { END_DONE, END_STALL, END_RESET };

enum route { R_NONE, R_CHAT, R_RESPONSES, R_MESSAGES, R_MODELS };

struct hdr {
    size_t name, name_len, value, value_len; /* offsets into req.hb */
};

/* One parsed request. Owned by its connection until published as the "last" request, when the
 * connection takes the previously published one back for reuse. */
struct req {
    const char *method; /* static string from llhttp */
    struct gw_strbuf url;
    struct gw_strbuf hb; /* header names and values, back to back */
    struct hdr *hdrs;
    size_t nhdrs, hcap;
    struct gw_strbuf body;
    size_t field_start, field_len, value_start;
};

struct worker;
struct waiter;

struct conn {
    struct worker *w;
    struct conn *prev, *next;
    struct bufferevent *bev;
    SSL *ssl;
    llhttp_t parser;
    struct req *req;
    int parse_err; /* HTTP status to answer a parse failure with (413, 431), else 0 = 400 */
    bool api;      /* counted as an API connection */
    bool busy;     /* a request is being answered: do not parse the next one */
    bool keepalive, http10;
    bool close_after; /* close once the current response is out */
    bool closing;     /* response complete, waiting for the output to drain before closing */

    /* the response being sent */
    unsigned long long n; /* sequence number for ids */
    const char *rid;      /* x-request-id of the request (valid while planning only) */
    size_t rid_len;
    struct evbuffer *head, *src, *pending;
    size_t *ev_len;
    size_t n_ev, ev_cap, i_ev, ev_mark;
    bool chunked, head_sent, produced, wire_on, wire_ready, wire_random;
    enum end_action end;
    unsigned delay_ms, fb_delay_ms, wire_delay_ms;
    unsigned *wire;
    size_t n_wire, wire_cap, i_wire;
    uint32_t rng;
    int rst_tries;
    struct event *tm_prod, *tm_wire;
    struct waiter *waiter;
};

struct waiter {
    struct waiter *next;
    struct conn *c;
    long long target;
    bool fired;
    struct event *ev;
};

struct worker {
    pthread_t th;
    struct event_base *base;
    struct evconnlistener *lev;
    SSL_CTX *ssl_ctx;
    struct conn *conns;
};

static struct {
    atomic_llong open, total, closed, requests;
    atomic_ullong seq;
    atomic_int nwaiters;
    pthread_mutex_t lock; /* protects last and waiters */
    struct req *last;
    struct waiter *waiters;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

static llhttp_settings_t parser_settings;

static void conn_free(struct conn *c);
static int parse_input(struct conn *c);
static int pump(struct conn *c);

/* ---------------------------------------------------------------- small buffers */

static void
req_clear(struct req *r)
{
    r->method = "";
    r->url.len = r->hb.len = r->body.len = 0;
    if (r->url.p)
        r->url.p[0] = '\0';
    r->nhdrs = 0;
    r->field_start = r->field_len = r->value_start = 0;
}

static void
req_free(struct req *r)
{
    if (!r)
        return;
    free(r->url.p);
    free(r->hb.p);
    free(r->hdrs);
    free(r->body.p);
    free(r);
}

/* The last header named `name` (case-insensitive), or NULL. */
static const struct hdr *
req_header(const struct req *r, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = r->nhdrs; i-- > 0;) {
        const struct hdr *h = &r->hdrs[i];
        if (h->name_len == nl && strncasecmp(r->hb.p + h->name, name, nl) == 0)
            return h;
    }
    return NULL;
}

static void
add_lit(struct evbuffer *b, const char *s)
{
    evbuffer_add(b, s, strlen(s));
}

/* Appends s[0..n) as a JSON string literal. s must be valid UTF-8 (it comes from jansson). */
static void
add_json_str(struct evbuffer *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[512];
    size_t t = 0;

    tmp[t++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (t > sizeof tmp - 8) {
            evbuffer_add(b, tmp, t);
            t = 0;
        }
        if (ch == '"' || ch == '\\') {
            tmp[t++] = '\\';
            tmp[t++] = (char)ch;
        } else if (ch >= 0x20) {
            tmp[t++] = (char)ch;
        } else if (ch == '\n') {
            tmp[t++] = '\\';
            tmp[t++] = 'n';
        } else if (ch == '\r') {
            tmp[t++] = '\\';
            tmp[t++] = 'r';
        } else if (ch == '\t') {
            tmp[t++] = '\\';
            tmp[t++] = 't';
        } else {
            memcpy(tmp + t, "\\u00", 4);
            t += 4;
            tmp[t++] = hex[ch >> 4];
            tmp[t++] = hex[ch & 15];
        }
    }
    tmp[t++] = '"';
    evbuffer_add(b, tmp, t);
}

/* A JSON string for arbitrary bytes: invalid UTF-8 bytes become U+FFFD. */
static json_t *
jstr_lossy(const char *p, size_t n)
{
    json_t *s = json_stringn(p, n);
    if (s)
        return s;
    struct gw_strbuf b = {0};
    size_t i = 0;
    while (i < n) {
        unsigned char ch = (unsigned char)p[i];
        size_t len = ch < 0x80         ? 1
                     : (ch >> 5) == 6  ? 2
                     : (ch >> 4) == 14 ? 3
                     : (ch >> 3) == 30 ? 4
                                       : 0;
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = ((unsigned char)p[i + k] & 0xC0) == 0x80;
        if (ok && len > 1) {
            json_t *probe = json_stringn(p + i, len); /* rejects overlongs and surrogates */
            ok = probe != NULL;
            json_decref(probe);
        }
        if (ok && ch != 0) {
            gw_strbuf_put(&b, p + i, len);
            i += len;
        } else {
            gw_strbuf_put(&b, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
    s = json_stringn(b.p ? b.p : "", b.len);
    free(b.p);
    return s ? s : json_string("");
}

static bool
has_suffix(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && memcmp(s + n - k, suf, k) == 0;
}

static const char *
reason_phrase(int st)
{
    switch (st) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 529:
        return "Overloaded";
    default:
        return st < 400 ? "OK" : st < 500 ? "Client Error" : "Server Error";
    }
}

static long long
tokens(size_t bytes)
{
    long long t = (long long)((bytes + 3) / 4);
    return t < 1 ? 1 : t;
}

/* ---------------------------------------------------------------- stats and waiters */

/* Wakes the /_mock/wait waiters whose condition now holds. Called on every change of
 * connections_open; cheap when nobody waits. */
static void
stats_changed(void)
{
    if (atomic_load(&g.nwaiters) == 0)
        return;
    pthread_mutex_lock(&g.lock);
    long long open = atomic_load(&g.open);
    for (struct waiter *w = g.waiters; w; w = w->next) {
        if (!w->fired && w->target == open) {
            w->fired = true;
            event_active(w->ev, EV_READ, 1);
        }
    }
    pthread_mutex_unlock(&g.lock);
}

/* Unlinks c's waiter from the global list and frees it. Runs on c's thread only. */
static void
waiter_drop(struct conn *c)
{
    struct waiter *w = c->waiter;
    if (!w)
        return;
    pthread_mutex_lock(&g.lock);
    for (struct waiter **pp = &g.waiters; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            atomic_fetch_sub(&g.nwaiters, 1);
            break;
        }
    }
    pthread_mutex_unlock(&g.lock);
    event_free(w->ev);
    free(w);
    c->waiter = NULL;
}

static void
add_stats_json(struct evbuffer *b)
{
    evbuffer_add_printf(b,
                        "{\"connections_open\":%lld,\"connections_total\":%lld,"
                        "\"connections_closed\":%lld,\"requests\":%lld}",
                        (long long)atomic_load(&g.open), (long long)atomic_load(&g.total),
                        (long long)atomic_load(&g.closed), (long long)atomic_load(&g.requests));
}

/* ---------------------------------------------------------------- response planning */

static void
resp_clear(struct conn *c)
{
    evbuffer_drain(c->head, evbuffer_get_length(c->head));
    evbuffer_drain(c->src, evbuffer_get_length(c->src));
    evbuffer_drain(c->pending, evbuffer_get_length(c->pending));
    c->n_ev = c->i_ev = 0;
    c->chunked = c->head_sent = c->produced = false;
    c->wire_on = c->wire_random = false;
    c->wire_ready = true;
    c->end = END_DONE;
    c->delay_ms = c->fb_delay_ms = c->wire_delay_ms = 0;
    c->n_wire = c->i_wire = 0;
    c->rst_tries = 0;
}

static void
ev_begin(struct conn *c)
{
    c->ev_mark = evbuffer_get_length(c->src);
}

static void
ev_end(struct conn *c)
{
    if (c->n_ev == c->ev_cap) {
        size_t cap = c->ev_cap ? c->ev_cap * 2 : 16;
        size_t *p = realloc(c->ev_len, cap * sizeof *p);
        if (!p)
            abort();
        c->ev_len = p;
        c->ev_cap = cap;
    }
    c->ev_len[c->n_ev++] = evbuffer_get_length(c->src) - c->ev_mark;
}

/* Writes the status line and headers. For non-chunked bodies, call after src is complete
 * (content-length). sse: no content-length (close-delimited when not chunked). */
static void
plan_head(struct conn *c, int status, const char *ctype, bool sse, bool retry_after)
{
    evbuffer_add_printf(c->head,
                        "HTTP/1.1 %d %s\r\ncontent-type: %s\r\nx-request-id: mock-%llu\r\n", status,
                        reason_phrase(status), ctype, c->n);
    if (c->rid) {
        add_lit(c->head, "x-upstream-saw-request-id: ");
        evbuffer_add(c->head, c->rid, c->rid_len);
        add_lit(c->head, "\r\n");
    }
    if (retry_after)
        add_lit(c->head, "retry-after: 1\r\n");
    if (sse)
        add_lit(c->head, "cache-control: no-cache\r\n");
    if (c->chunked)
        add_lit(c->head, "transfer-encoding: chunked\r\n");
    else if (!sse)
        evbuffer_add_printf(c->head, "content-length: %zu\r\n", evbuffer_get_length(c->src));
    if (c->close_after)
        add_lit(c->head, "connection: close\r\n");
    add_lit(c->head, "\r\n");
}

/* The body in src is one JSON document: one event, then the head. */
static void
plan_json_done(struct conn *c, int status, bool chunked)
{
    c->ev_mark = 0;
    ev_end(c);
    c->chunked = chunked && !c->http10;
    plan_head(c, status, "application/json", false, status == 429);
}

static void
openai_error_kind(int st, const char **type, const char **code)
{
    *type = "invalid_request_error";
    switch (st) {
    case 400:
        *code = "invalid_request";
        break;
    case 401:
        *code = "invalid_api_key";
        break;
    case 403:
        *code = "permission_denied";
        break;
    case 404:
        *code = "not_found";
        break;
    case 408:
        *type = "timeout";
        *code = "timeout";
        break;
    case 413:
        *code = "request_too_large";
        break;
    case 429:
        *type = "requests";
        *code = "rate_limit_exceeded";
        break;
    default:
        if (st >= 500) {
            *type = "server_error";
            *code = st == 503 ? "service_unavailable" : "server_error";
        } else {
            *code = "mock_error";
        }
    }
}

static const char *
anthropic_error_type(int st)
{
    switch (st) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 529:
        return "overloaded_error";
    default:
        return st >= 500 ? "api_error" : "invalid_request_error";
    }
}

static void
add_openai_error_obj(struct evbuffer *b, int st, const char *msg)
{
    const char *type, *code;
    openai_error_kind(st, &type, &code);
    add_lit(b, "{\"error\":{\"message\":");
    add_json_str(b, msg, strlen(msg));
    evbuffer_add_printf(b, ",\"type\":\"%s\",\"param\":null,\"code\":\"%s\"}}", type, code);
}

static void
add_anthropic_error_obj(struct evbuffer *b, int st, const char *msg)
{
    evbuffer_add_printf(
        b, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":", anthropic_error_type(st));
    add_json_str(b, msg, strlen(msg));
    add_lit(b, "}}");
}

static void
plan_error(struct conn *c, int st, bool anthropic, const char *msg, bool chunked)
{
    if (anthropic)
        add_anthropic_error_obj(c->src, st, msg);
    else
        add_openai_error_obj(c->src, st, msg);
    plan_json_done(c, st, chunked);
}

/* ---------------------------------------------------------------- scripts */

struct script {
    json_t *root; /* owned; NULL when the request has no script */
    const char *text;
    size_t text_len;
    bool has_text;
    bool echo_system;      /* "echo": "system": answer with the system prompt (a leaking model) */
    json_t *chunks, *wire; /* borrowed, validated arrays of positive ints */
    json_t *tools;         /* owned, validated array of tool calls, or NULL */
    bool wire_random;
    long long delay_ms, fb_delay_ms, wire_delay_ms, seed;
    long long stall_after, reset_after, sse_error_after; /* -1 = unset */
    long long status;
    bool stall, reset, invalid_json, close, chunked;
};

static int
script_uint(json_t *o, const char *k, long long max, long long *out)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return -1;
    *out = json_integer_value(v);
    return 0;
}

static int
script_bool(json_t *o, const char *k, bool *out)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return -1;
    *out = json_is_true(v);
    return 0;
}

static int
script_sizes(json_t *o, const char *k, json_t **out)
{
    json_t *v = json_object_get(o, k), *e;
    size_t i;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return -1;
    json_array_foreach(v, i, e)
    {
        if (!json_is_integer(e) || json_integer_value(e) < 1 || json_integer_value(e) > (1 << 30))
            return -1;
    }
    *out = v;
    return 0;
}

/* A tool call: an object with a string "name" and optional string "arguments" and "id". */
static bool
tool_call_ok(json_t *t)
{
    json_t *a = json_object_get(t, "arguments"), *id = json_object_get(t, "id");
    return json_is_object(t) && json_is_string(json_object_get(t, "name")) &&
           (!a || json_is_null(a) || json_is_string(a)) &&
           (!id || json_is_null(id) || json_is_string(id));
}

/* tool_calls (a list) or tool_call (one) into s->tools; tool_calls wins. */
static int
script_tools(json_t *o, struct script *s, const char **bad)
{
    json_t *v = json_object_get(o, "tool_calls"), *e;
    size_t i;
    if (v && !json_is_null(v)) {
        *bad = "tool_calls";
        if (!json_is_array(v))
            return -1;
        json_array_foreach(v, i, e)
        {
            if (!tool_call_ok(e))
                return -1;
        }
        if (json_array_size(v) > 0)
            s->tools = json_incref(v);
        return 0;
    }
    v = json_object_get(o, "tool_call");
    if (!v || json_is_null(v))
        return 0;
    *bad = "tool_call";
    if (!tool_call_ok(v))
        return -1;
    s->tools = json_array();
    if (!s->tools || json_array_append(s->tools, v) < 0)
        abort();
    return 0;
}

/* Reads s->root into s. Returns 0, or -1 with *bad naming the offending field. */
static int
script_parse(struct script *s, const char **bad)
{
    json_t *o = s->root, *v;

    s->stall_after = s->reset_after = s->sse_error_after = -1;
    s->seed = 1;
    if (!o)
        return 0;
#define CHECK(name, expr)                                                                          \
    do {                                                                                           \
        if ((expr) < 0) {                                                                          \
            *bad = name;                                                                           \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)
    v = json_object_get(o, "text");
    if (v && !json_is_null(v)) {
        CHECK("text", json_is_string(v) ? 0 : -1);
        s->text = json_string_value(v);
        s->text_len = json_string_length(v);
        s->has_text = true;
    }
    v = json_object_get(o, "echo");
    if (v && !json_is_null(v)) {
        CHECK("echo", json_is_string(v) && (strcmp(json_string_value(v), "system") == 0 ||
                                            strcmp(json_string_value(v), "user") == 0)
                          ? 0
                          : -1);
        s->echo_system = strcmp(json_string_value(v), "system") == 0;
    }
    CHECK("chunks", script_sizes(o, "chunks", &s->chunks));
    v = json_object_get(o, "wire_split");
    if (json_is_string(v)) {
        CHECK("wire_split", strcmp(json_string_value(v), "random") == 0 ? 0 : -1);
        s->wire_random = true;
    } else {
        CHECK("wire_split", script_sizes(o, "wire_split", &s->wire));
    }
    v = json_object_get(o, "seed");
    if (v && !json_is_null(v)) {
        CHECK("seed", json_is_integer(v) ? 0 : -1);
        s->seed = json_integer_value(v);
    }
    CHECK("delay_ms", script_uint(o, "delay_ms", MAX_DELAY_MS, &s->delay_ms));
    CHECK("first_byte_delay_ms",
          script_uint(o, "first_byte_delay_ms", MAX_DELAY_MS, &s->fb_delay_ms));
    CHECK("wire_delay_ms", script_uint(o, "wire_delay_ms", MAX_DELAY_MS, &s->wire_delay_ms));
    CHECK("stall_after", script_uint(o, "stall_after", INT_MAX, &s->stall_after));
    CHECK("reset_after", script_uint(o, "reset_after", INT_MAX, &s->reset_after));
    CHECK("sse_error_after", script_uint(o, "sse_error_after", INT_MAX, &s->sse_error_after));
    CHECK("status", script_uint(o, "status", 599, &s->status));
    CHECK("status", s->status == 0 || s->status == 200 || s->status >= 400 ? 0 : -1);
    CHECK("stall", script_bool(o, "stall", &s->stall));
    CHECK("reset", script_bool(o, "reset", &s->reset));
    CHECK("invalid_json", script_bool(o, "invalid_json", &s->invalid_json));
    CHECK("close", script_bool(o, "close", &s->close));
    CHECK("chunked", script_bool(o, "chunked", &s->chunked));
    if (script_tools(o, s, bad) < 0)
        return -1;
#undef CHECK
    return 0;
}

/* Copies a validated sizes array into c->wire. */
static void
set_wire(struct conn *c, json_t *arr)
{
    size_t n = json_array_size(arr);
    if (n > c->wire_cap) {
        unsigned *p = realloc(c->wire, n * sizeof *p);
        if (!p)
            abort();
        c->wire = p;
        c->wire_cap = n;
    }
    for (size_t i = 0; i < n; i++)
        c->wire[i] = (unsigned)json_integer_value(json_array_get(arr, i));
    c->n_wire = n;
}

/* ---------------------------------------------------------------- generation */

struct gen {
    unsigned long long n;
    long long created;
    const char *model;
    size_t model_len;
    const char *text;
    size_t text_len;
    long long p_tok, c_tok;
    bool include_usage;
    json_t *tools; /* tool calls (script), or NULL */
    size_t ntools;
    bool text_on; /* the answer has text: no tool calls, or a scripted non-empty text with them */
};

/* One scripted tool call: id ("" = generated), name and arguments (default "{}"). */
struct tcall {
    const char *id, *name, *args;
    size_t id_len, name_len, args_len;
};

static void
tool_get(const struct gen *ge, size_t k, struct tcall *t)
{
    json_t *o = json_array_get(ge->tools, k);
    json_t *id = json_object_get(o, "id"), *name = json_object_get(o, "name");
    json_t *args = json_object_get(o, "arguments");
    t->id = json_is_string(id) ? json_string_value(id) : "";
    t->id_len = json_is_string(id) ? json_string_length(id) : 0;
    t->name = json_string_value(name);
    t->name_len = json_string_length(name);
    t->args = json_is_string(args) ? json_string_value(args) : "{}";
    t->args_len = json_is_string(args) ? json_string_length(args) : 2;
}

/* The call's id as a JSON string: the scripted one, else call_mock_<n>_<k> (Anthropic:
 * toolu_mock_<n>_<k>). */
static void
add_tool_id(struct evbuffer *b, const struct gen *ge, size_t k, bool anthropic)
{
    struct tcall t;
    tool_get(ge, k, &t);
    if (t.id_len > 0)
        add_json_str(b, t.id, t.id_len);
    else
        evbuffer_add_printf(b, "\"%s_mock_%llu_%zu\"", anthropic ? "toolu" : "call", ge->n, k);
}

/* Bytes of text in a message content (string, or array of blocks with "text"); appends the
 * text to cat when given. */
static size_t
content_text(json_t *content, struct gw_strbuf *cat)
{
    size_t bytes = 0, i;
    json_t *part;

    if (json_is_string(content)) {
        if (cat)
            gw_strbuf_put(cat, json_string_value(content), json_string_length(content));
        return json_string_length(content);
    }
    if (!json_is_array(content))
        return 0;
    json_array_foreach(content, i, part)
    {
        json_t *t = json_object_get(part, "text");
        if (json_is_string(t)) {
            bytes += json_string_length(t);
            if (cat)
                gw_strbuf_put(cat, json_string_value(t), json_string_length(t));
        }
    }
    return bytes;
}

/* The system prompt of a request (responses: instructions; messages: system; chat: the first
 * system or developer message's content), or NULL. */
static json_t *
system_prompt(enum route rt, json_t *body)
{
    size_t i;
    json_t *m;
    if (rt == R_RESPONSES)
        return json_object_get(body, "instructions");
    if (rt == R_MESSAGES)
        return json_object_get(body, "system");
    json_array_foreach(json_object_get(body, "messages"), i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (role && (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0))
            return json_object_get(m, "content");
    }
    return NULL;
}

/* Sums the prompt bytes and finds the last user content, for any of the three APIs. */
static size_t
prompt_scan(enum route rt, json_t *body, json_t **last_user)
{
    size_t bytes = 0, i;
    json_t *m, *arr;

    *last_user = NULL;
    if (rt == R_RESPONSES) {
        json_t *in = json_object_get(body, "input");
        bytes += content_text(json_object_get(body, "instructions"), NULL);
        if (json_is_string(in)) {
            *last_user = in;
            return bytes + json_string_length(in);
        }
        arr = in;
    } else {
        if (rt == R_MESSAGES)
            bytes += content_text(json_object_get(body, "system"), NULL);
        arr = json_object_get(body, "messages");
    }
    json_array_foreach(arr, i, m)
    {
        json_t *content = json_object_get(m, "content");
        const char *role = json_string_value(json_object_get(m, "role"));
        bytes += content_text(content, NULL);
        if (role && strcmp(role, "user") == 0)
            *last_user = content;
    }
    return bytes;
}

/* Splits the text into stream pieces; returns their count and sets *out (malloc'd lengths). */
static size_t
make_pieces(const char *t, size_t n, json_t *chunks, size_t **out)
{
    size_t cap = 16, np = 0, i = 0, k = 0;
    size_t *p = malloc(cap * sizeof *p);

    if (!p)
        abort();
    while (i < n) {
        size_t e = i;
        if (chunks) {
            size_t nc = json_array_size(chunks);
            size_t sz = (size_t)json_integer_value(json_array_get(chunks, k < nc ? k : nc - 1));
            k++;
            e = sz >= n - i ? n : i + sz;
            while (e < n && ((unsigned char)t[e] & 0xC0) == 0x80)
                e++;
        } else {
            while (e < n && strchr(" \t\r\n", t[e]) && t[e])
                e++;
            size_t w = e;
            while (e < n && !(strchr(" \t\r\n", t[e]) && t[e]))
                e++;
            if (e == w && np > 0) { /* trailing whitespace joins the last word */
                p[np - 1] += e - i;
                break;
            }
        }
        if (np == cap) {
            cap *= 2;
            size_t *q = realloc(p, cap * sizeof *p);
            if (!q)
                abort();
            p = q;
        }
        p[np++] = e - i;
        i = e;
    }
    *out = p;
    return np;
}

static void
add_chat_json(struct conn *c, const struct gen *ge)
{
    struct evbuffer *b = c->src;
    evbuffer_add_printf(b,
                        "{\"id\":\"chatcmpl-mock-%llu\",\"object\":\"chat.completion\","
                        "\"created\":%lld,\"model\":",
                        ge->n, ge->created);
    add_json_str(b, ge->model, ge->model_len);
    add_lit(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    if (ge->text_on)
        add_json_str(b, ge->text, ge->text_len);
    else
        add_lit(b, "null");
    if (ge->ntools > 0) {
        add_lit(b, ",\"tool_calls\":[");
        for (size_t k = 0; k < ge->ntools; k++) {
            struct tcall t;
            tool_get(ge, k, &t);
            add_lit(b, k ? ",{\"id\":" : "{\"id\":");
            add_tool_id(b, ge, k, false);
            add_lit(b, ",\"type\":\"function\",\"function\":{\"name\":");
            add_json_str(b, t.name, t.name_len);
            add_lit(b, ",\"arguments\":");
            add_json_str(b, t.args, t.args_len);
            add_lit(b, "}}");
        }
        add_lit(b, "]");
    }
    evbuffer_add_printf(b,
                        ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"%s\"}],"
                        "\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
                        "\"total_tokens\":%lld}}",
                        ge->ntools ? "tool_calls" : "stop", ge->p_tok, ge->c_tok,
                        ge->p_tok + ge->c_tok);
}

/* An Anthropic tool_use input: the arguments as they are when they are JSON, else as a string. */
static void
add_tool_input(struct evbuffer *b, const struct tcall *t)
{
    json_t *v = json_loadb(t->args, t->args_len, JSON_DECODE_ANY, NULL);
    if (v)
        evbuffer_add(b, t->args, t->args_len);
    else
        add_json_str(b, t->args, t->args_len);
    json_decref(v);
}

static void
add_anthropic_message(struct evbuffer *b, const struct gen *ge, bool start)
{
    evbuffer_add_printf(b,
                        "{\"id\":\"msg_mock_%llu\",\"type\":\"message\",\"role\":\"assistant\","
                        "\"model\":",
                        ge->n);
    add_json_str(b, ge->model, ge->model_len);
    if (start) {
        evbuffer_add_printf(b,
                            ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
                            "\"usage\":{\"input_tokens\":%lld,\"output_tokens\":1}}",
                            ge->p_tok);
        return;
    }
    add_lit(b, ",\"content\":[");
    if (ge->text_on) {
        add_lit(b, "{\"type\":\"text\",\"text\":");
        add_json_str(b, ge->text, ge->text_len);
        add_lit(b, "}");
    }
    for (size_t k = 0; k < ge->ntools; k++) {
        struct tcall t;
        tool_get(ge, k, &t);
        add_lit(b, k || ge->text_on ? ",{\"type\":\"tool_use\",\"id\":"
                                    : "{\"type\":\"tool_use\",\"id\":");
        add_tool_id(b, ge, k, true);
        add_lit(b, ",\"name\":");
        add_json_str(b, t.name, t.name_len);
        add_lit(b, ",\"input\":");
        add_tool_input(b, &t);
        add_lit(b, "}");
    }
    evbuffer_add_printf(b,
                        "],\"stop_reason\":\"%s\",\"stop_sequence\":null,"
                        "\"usage\":{\"input_tokens\":%lld,\"output_tokens\":%lld}}",
                        ge->ntools ? "tool_use" : "end_turn", ge->p_tok, ge->c_tok);
}

static void
add_responses_item(struct evbuffer *b, const struct gen *ge, bool done)
{
    evbuffer_add_printf(b,
                        "{\"id\":\"msg_mock_%llu\",\"type\":\"message\",\"status\":\"%s\","
                        "\"role\":\"assistant\",\"content\":[",
                        ge->n, done ? "completed" : "in_progress");
    if (done) {
        add_lit(b, "{\"type\":\"output_text\",\"text\":");
        add_json_str(b, ge->text, ge->text_len);
        add_lit(b, ",\"annotations\":[]}");
    }
    add_lit(b, "]}");
}

/* A responses-API function_call output item (tool call k); arguments empty until done. */
static void
add_responses_fc(struct evbuffer *b, const struct gen *ge, size_t k, bool done)
{
    struct tcall t;
    tool_get(ge, k, &t);
    evbuffer_add_printf(b,
                        "{\"id\":\"fc_mock_%llu_%zu\",\"type\":\"function_call\",\"status\":\"%s\","
                        "\"arguments\":",
                        ge->n, k, done ? "completed" : "in_progress");
    add_json_str(b, done ? t.args : "", done ? t.args_len : 0);
    add_lit(b, ",\"call_id\":");
    add_tool_id(b, ge, k, false);
    add_lit(b, ",\"name\":");
    add_json_str(b, t.name, t.name_len);
    add_lit(b, "}");
}

static void
add_responses_obj(struct evbuffer *b, const struct gen *ge, bool done)
{
    evbuffer_add_printf(b,
                        "{\"id\":\"resp_mock_%llu\",\"object\":\"response\",\"created_at\":%lld,"
                        "\"status\":\"%s\",\"error\":null,\"incomplete_details\":null,"
                        "\"instructions\":null,\"max_output_tokens\":null,\"model\":",
                        ge->n, ge->created, done ? "completed" : "in_progress");
    add_json_str(b, ge->model, ge->model_len);
    add_lit(b, ",\"output\":[");
    if (done && ge->text_on)
        add_responses_item(b, ge, true);
    for (size_t k = 0; done && k < ge->ntools; k++) {
        if (k || ge->text_on)
            add_lit(b, ",");
        add_responses_fc(b, ge, k, true);
    }
    add_lit(b, "],\"parallel_tool_calls\":true,\"previous_response_id\":null,"
               "\"reasoning\":{\"effort\":null,\"summary\":null},\"store\":false,"
               "\"temperature\":1.0,\"text\":{\"format\":{\"type\":\"text\"}},"
               "\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":1.0,\"truncation\":\"disabled\","
               "\"user\":null,\"metadata\":{},\"usage\":");
    if (done)
        evbuffer_add_printf(b,
                            "{\"input_tokens\":%lld,\"input_tokens_details\":{\"cached_tokens\":0},"
                            "\"output_tokens\":%lld,\"output_tokens_details\":"
                            "{\"reasoning_tokens\":0},\"total_tokens\":%lld}}",
                            ge->p_tok, ge->c_tok, ge->p_tok + ge->c_tok);
    else
        add_lit(b, "null}");
}

static void
plan_models(struct conn *c, bool anthropic, bool chunked)
{
    static const char *const ids[] = {"gpt-4o-mini", "gpt-4o", "claude-3-5-haiku-latest",
                                      "claude-sonnet-4-0"};
    struct evbuffer *b = c->src;

    add_lit(b, "{");
    if (!anthropic)
        add_lit(b, "\"object\":\"list\",");
    add_lit(b, "\"data\":[");
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (anthropic)
            evbuffer_add_printf(b,
                                "%s{\"type\":\"model\",\"id\":\"%s\",\"display_name\":\"%s\","
                                "\"created_at\":\"2024-10-22T00:00:00Z\"}",
                                i ? "," : "", ids[i], ids[i]);
        else
            evbuffer_add_printf(b,
                                "%s{\"id\":\"%s\",\"object\":\"model\",\"created\":1700000000,"
                                "\"owned_by\":\"mock\"}",
                                i ? "," : "", ids[i]);
    }
    add_lit(b, "]");
    if (anthropic)
        evbuffer_add_printf(b, ",\"has_more\":false,\"first_id\":\"%s\",\"last_id\":\"%s\"", ids[0],
                            ids[sizeof ids / sizeof ids[0] - 1]);
    add_lit(b, "}");
    plan_json_done(c, 200, chunked);
}

static void
plan_json(struct conn *c, enum route rt, const struct gen *ge, bool chunked)
{
    if (rt == R_CHAT)
        add_chat_json(c, ge);
    else if (rt == R_MESSAGES)
        add_anthropic_message(c->src, ge, false);
    else
        add_responses_obj(c->src, ge, true);
    plan_json_done(c, 200, chunked);
}

static void
chat_chunk_begin(struct conn *c, const struct gen *ge)
{
    ev_begin(c);
    evbuffer_add_printf(c->src,
                        "data: {\"id\":\"chatcmpl-mock-%llu\",\"object\":\"chat.completion.chunk\","
                        "\"created\":%lld,\"model\":",
                        ge->n, ge->created);
    add_json_str(c->src, ge->model, ge->model_len);
    add_lit(c->src, ",\"system_fingerprint\":null,\"choices\":");
}

static void
chat_chunk_end(struct conn *c, const struct gen *ge)
{
    if (ge->include_usage)
        add_lit(c->src, ",\"usage\":null");
    add_lit(c->src, "}\n\n");
    ev_end(c);
}

static void
sse_event_begin(struct conn *c, const char *name)
{
    ev_begin(c);
    evbuffer_add_printf(c->src, "event: %s\ndata: ", name);
}

static void
sse_event_end(struct conn *c)
{
    add_lit(c->src, "\n\n");
    ev_end(c);
}

/* Responses-API event: name, then the JSON fields after "type" (prefix `,` included by caller),
 * then the sequence number. */
static void
resp_event_begin(struct conn *c, const char *name)
{
    sse_event_begin(c, name);
    evbuffer_add_printf(c->src, "{\"type\":\"%s\"", name);
}

static void
resp_event_end(struct conn *c, int *seq)
{
    evbuffer_add_printf(c->src, ",\"sequence_number\":%d}", (*seq)++);
    sse_event_end(c);
}

static void
resp_item_ref(struct conn *c, const struct gen *ge)
{
    evbuffer_add_printf(c->src,
                        ",\"item_id\":\"msg_mock_%llu\",\"output_index\":0,"
                        "\"content_index\":0",
                        ge->n);
}

enum tail { TAIL_NORMAL, TAIL_ERROR, TAIL_CUT };

/* A part of a streamed answer: the text, or one tool call's arguments, cut into pieces. */
struct part {
    const char *p;
    size_t n, np;
    size_t *pieces;
    bool text;
    size_t tool; /* tool call index when !text */
};

/* Anthropic content block / responses output item index of tool call k. */
static size_t
tool_slot(const struct gen *ge, size_t k)
{
    return (ge->text_on ? 1 : 0) + k;
}

/* The events that open tool call k (the text is opened by the preamble). */
static void
tool_open(struct conn *c, enum route rt, const struct gen *ge, size_t k, int *seq)
{
    struct tcall t;
    tool_get(ge, k, &t);
    if (rt == R_CHAT) {
        chat_chunk_begin(c, ge);
        evbuffer_add_printf(c->src,
                            "[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":%zu,\"id\":", k);
        add_tool_id(c->src, ge, k, false);
        add_lit(c->src, ",\"type\":\"function\",\"function\":{\"name\":");
        add_json_str(c->src, t.name, t.name_len);
        add_lit(c->src, ",\"arguments\":\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]");
        chat_chunk_end(c, ge);
    } else if (rt == R_MESSAGES) {
        sse_event_begin(c, "content_block_start");
        evbuffer_add_printf(c->src,
                            "{\"type\":\"content_block_start\",\"index\":%zu,"
                            "\"content_block\":{\"type\":\"tool_use\",\"id\":",
                            tool_slot(ge, k));
        add_tool_id(c->src, ge, k, true);
        add_lit(c->src, ",\"name\":");
        add_json_str(c->src, t.name, t.name_len);
        add_lit(c->src, ",\"input\":{}}}");
        sse_event_end(c);
    } else {
        resp_event_begin(c, "response.output_item.added");
        evbuffer_add_printf(c->src, ",\"output_index\":%zu,\"item\":", tool_slot(ge, k));
        add_responses_fc(c->src, ge, k, false);
        resp_event_end(c, seq);
    }
}

/* One piece of part pt. */
static void
part_piece(struct conn *c, enum route rt, const struct gen *ge, const struct part *pt,
           const char *p, size_t n, int *seq)
{
    if (rt == R_CHAT) {
        chat_chunk_begin(c, ge);
        if (pt->text)
            add_lit(c->src, "[{\"index\":0,\"delta\":{\"content\":");
        else
            evbuffer_add_printf(c->src,
                                "[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":%zu,"
                                "\"function\":{\"arguments\":",
                                pt->tool);
        add_json_str(c->src, p, n);
        add_lit(c->src, pt->text ? "},\"logprobs\":null,\"finish_reason\":null}]"
                                 : "}}]},\"logprobs\":null,\"finish_reason\":null}]");
        chat_chunk_end(c, ge);
    } else if (rt == R_MESSAGES) {
        sse_event_begin(c, "content_block_delta");
        if (pt->text)
            add_lit(c->src, "{\"type\":\"content_block_delta\",\"index\":0,"
                            "\"delta\":{\"type\":\"text_delta\",\"text\":");
        else
            evbuffer_add_printf(c->src,
                                "{\"type\":\"content_block_delta\",\"index\":%zu,"
                                "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":",
                                tool_slot(ge, pt->tool));
        add_json_str(c->src, p, n);
        add_lit(c->src, "}}");
        sse_event_end(c);
    } else if (pt->text) {
        resp_event_begin(c, "response.output_text.delta");
        resp_item_ref(c, ge);
        add_lit(c->src, ",\"delta\":");
        add_json_str(c->src, p, n);
        add_lit(c->src, ",\"logprobs\":[]");
        resp_event_end(c, seq);
    } else {
        resp_event_begin(c, "response.function_call_arguments.delta");
        evbuffer_add_printf(c->src, ",\"item_id\":\"fc_mock_%llu_%zu\",\"output_index\":%zu", ge->n,
                            pt->tool, tool_slot(ge, pt->tool));
        add_lit(c->src, ",\"delta\":");
        add_json_str(c->src, p, n);
        resp_event_end(c, seq);
    }
}

/* The events that close part pt once all its pieces are out (none for OpenAI chat). */
static void
part_close(struct conn *c, enum route rt, const struct gen *ge, const struct part *pt, int *seq)
{
    if (rt == R_MESSAGES) {
        sse_event_begin(c, "content_block_stop");
        evbuffer_add_printf(c->src, "{\"type\":\"content_block_stop\",\"index\":%zu}",
                            pt->text ? 0 : tool_slot(ge, pt->tool));
        sse_event_end(c);
    } else if (rt == R_RESPONSES && pt->text) {
        resp_event_begin(c, "response.output_text.done");
        resp_item_ref(c, ge);
        add_lit(c->src, ",\"text\":");
        add_json_str(c->src, ge->text, ge->text_len);
        add_lit(c->src, ",\"logprobs\":[]");
        resp_event_end(c, seq);
        resp_event_begin(c, "response.content_part.done");
        resp_item_ref(c, ge);
        add_lit(c->src, ",\"part\":{\"type\":\"output_text\",\"text\":");
        add_json_str(c->src, ge->text, ge->text_len);
        add_lit(c->src, ",\"annotations\":[]}");
        resp_event_end(c, seq);
        resp_event_begin(c, "response.output_item.done");
        add_lit(c->src, ",\"output_index\":0,\"item\":");
        add_responses_item(c->src, ge, true);
        resp_event_end(c, seq);
    } else if (rt == R_RESPONSES) {
        struct tcall t;
        tool_get(ge, pt->tool, &t);
        resp_event_begin(c, "response.function_call_arguments.done");
        evbuffer_add_printf(c->src, ",\"item_id\":\"fc_mock_%llu_%zu\",\"output_index\":%zu", ge->n,
                            pt->tool, tool_slot(ge, pt->tool));
        add_lit(c->src, ",\"name\":");
        add_json_str(c->src, t.name, t.name_len);
        add_lit(c->src, ",\"arguments\":");
        add_json_str(c->src, t.args, t.args_len);
        resp_event_end(c, seq);
        resp_event_begin(c, "response.output_item.done");
        evbuffer_add_printf(c->src, ",\"output_index\":%zu,\"item\":", tool_slot(ge, pt->tool));
        add_responses_fc(c->src, ge, pt->tool, true);
        resp_event_end(c, seq);
    }
}

static void
plan_stream(struct conn *c, enum route rt, const struct gen *ge, const struct script *s)
{
    size_t nparts = (ge->text_on ? 1 : 0) + ge->ntools, total = 0, emitted = 0;
    struct part *parts = calloc(nparts ? nparts : 1, sizeof *parts);
    enum tail tail = TAIL_NORMAL;
    int seq = 0;

    if (!parts)
        abort();
    for (size_t k = 0; k < nparts; k++) {
        struct part *pt = &parts[k];
        pt->text = ge->text_on && k == 0;
        if (pt->text) {
            pt->p = ge->text;
            pt->n = ge->text_len;
        } else {
            struct tcall t;
            pt->tool = k - (ge->text_on ? 1 : 0);
            tool_get(ge, pt->tool, &t);
            pt->p = t.args;
            pt->n = t.args_len;
        }
        pt->np = make_pieces(pt->p, pt->n, s->chunks, &pt->pieces);
        total += pt->np;
    }
    size_t cut = total;
    if (s->reset_after >= 0) {
        c->end = END_RESET;
        tail = TAIL_CUT;
        cut = (size_t)s->reset_after;
    } else if (s->stall_after >= 0) {
        c->end = END_STALL;
        tail = TAIL_CUT;
        cut = (size_t)s->stall_after;
    } else if (s->sse_error_after >= 0) {
        tail = TAIL_ERROR;
        cut = (size_t)s->sse_error_after;
    }
    if (cut > total)
        cut = total;
    c->chunked = !c->http10;
    if (c->http10)
        c->close_after = true;
    plan_head(c, 200, "text/event-stream", true, false);

    /* preamble */
    if (rt == R_CHAT) {
        chat_chunk_begin(c, ge);
        add_lit(c->src, ge->text_on ? "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":"
                                      "\"\"},\"logprobs\":null,\"finish_reason\":null}]"
                                    : "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":"
                                      "null},\"logprobs\":null,\"finish_reason\":null}]");
        chat_chunk_end(c, ge);
    } else if (rt == R_MESSAGES) {
        sse_event_begin(c, "message_start");
        add_lit(c->src, "{\"type\":\"message_start\",\"message\":");
        add_anthropic_message(c->src, ge, true);
        add_lit(c->src, "}");
        sse_event_end(c);
        if (ge->text_on) {
            sse_event_begin(c, "content_block_start");
            add_lit(c->src, "{\"type\":\"content_block_start\",\"index\":0,"
                            "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
            sse_event_end(c);
        }
        sse_event_begin(c, "ping");
        add_lit(c->src, "{\"type\":\"ping\"}");
        sse_event_end(c);
    } else {
        resp_event_begin(c, "response.created");
        add_lit(c->src, ",\"response\":");
        add_responses_obj(c->src, ge, false);
        resp_event_end(c, &seq);
        resp_event_begin(c, "response.in_progress");
        add_lit(c->src, ",\"response\":");
        add_responses_obj(c->src, ge, false);
        resp_event_end(c, &seq);
        if (ge->text_on) {
            resp_event_begin(c, "response.output_item.added");
            add_lit(c->src, ",\"output_index\":0,\"item\":");
            add_responses_item(c->src, ge, false);
            resp_event_end(c, &seq);
            resp_event_begin(c, "response.content_part.added");
            resp_item_ref(c, ge);
            add_lit(c->src,
                    ",\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}");
            resp_event_end(c, &seq);
        }
    }

    /* the parts: pieces up to the cut; a part opens and closes unless the cut came first */
    for (size_t k = 0; k < nparts; k++) {
        const struct part *pt = &parts[k];
        size_t off = 0;
        if (!pt->text) {
            if (tail != TAIL_NORMAL && emitted >= cut)
                break;
            tool_open(c, rt, ge, pt->tool, &seq);
        }
        for (size_t i = 0; i < pt->np && emitted < cut; i++, emitted++) {
            part_piece(c, rt, ge, pt, pt->p + off, pt->pieces[i], &seq);
            off += pt->pieces[i];
        }
        if (tail != TAIL_NORMAL && emitted >= cut)
            break;
        part_close(c, rt, ge, pt, &seq);
    }
    for (size_t k = 0; k < nparts; k++)
        free(parts[k].pieces);
    free(parts);

    if (tail == TAIL_CUT)
        return;
    if (tail == TAIL_ERROR) {
        if (rt == R_CHAT) {
            ev_begin(c);
            add_lit(c->src, "data: ");
            add_openai_error_obj(c->src, 500, "mock error");
            add_lit(c->src, "\n\n");
            ev_end(c);
        } else if (rt == R_MESSAGES) {
            sse_event_begin(c, "error");
            add_anthropic_error_obj(c->src, 500, "mock error");
            sse_event_end(c);
        } else {
            resp_event_begin(c, "error");
            /* the documented ResponseErrorEvent fields, plus "error" so SDKs raise on it */
            add_lit(c->src, ",\"code\":\"server_error\",\"message\":\"mock error\",\"param\":null,"
                            "\"error\":{\"type\":\"server_error\",\"code\":\"server_error\","
                            "\"message\":\"mock error\",\"param\":null}");
            resp_event_end(c, &seq);
        }
        return;
    }

    if (rt == R_CHAT) {
        chat_chunk_begin(c, ge);
        evbuffer_add_printf(
            c->src, "[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"%s\"}]",
            ge->ntools ? "tool_calls" : "stop");
        chat_chunk_end(c, ge);
        if (ge->include_usage) {
            chat_chunk_begin(c, ge);
            evbuffer_add_printf(c->src,
                                "[],\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
                                "\"total_tokens\":%lld}}\n\n",
                                ge->p_tok, ge->c_tok, ge->p_tok + ge->c_tok);
            ev_end(c);
        }
        ev_begin(c);
        add_lit(c->src, "data: [DONE]\n\n");
        ev_end(c);
    } else if (rt == R_MESSAGES) {
        sse_event_begin(c, "message_delta");
        evbuffer_add_printf(c->src,
                            "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"%s\","
                            "\"stop_sequence\":null},\"usage\":{\"output_tokens\":%lld}}",
                            ge->ntools ? "tool_use" : "end_turn", ge->c_tok);
        sse_event_end(c);
        sse_event_begin(c, "message_stop");
        add_lit(c->src, "{\"type\":\"message_stop\"}");
        sse_event_end(c);
    } else {
        resp_event_begin(c, "response.completed");
        add_lit(c->src, ",\"response\":");
        add_responses_obj(c->src, ge, true);
        resp_event_end(c, &seq);
    }
}

/* ---------------------------------------------------------------- request handlers */

/* Plans the answer to an API request (anything not under /_mock/). */
static void
handle_api(struct conn *c, const char *url, size_t plen)
{
    struct req *r = c->req;
    bool post = strcmp(r->method, "POST") == 0, get = strcmp(r->method, "GET") == 0;
    enum route rt = R_NONE;
    struct script s = {0};
    json_t *body = NULL, *last_user = NULL;
    struct gw_strbuf cat = {0};
    const struct hdr *xm;
    const char *bad = NULL;
    char msg[256];

    if (post && has_suffix(url, plen, "/chat/completions"))
        rt = R_CHAT;
    else if (post && has_suffix(url, plen, "/responses"))
        rt = R_RESPONSES;
    else if (post && has_suffix(url, plen, "/messages"))
        rt = R_MESSAGES;
    else if (get && has_suffix(url, plen, "/models"))
        rt = R_MODELS;
    bool anth = rt == R_MESSAGES || (rt == R_MODELS && req_header(r, "anthropic-version"));

    if (rt == R_NONE) {
        snprintf(msg, sizeof msg, "mock: no route for %s %.*s", r->method,
                 (int)(plen > 200 ? 200 : plen), url);
        plan_error(c, 404, false, msg, false);
        return;
    }
    if ((xm = req_header(r, "x-mock")) != NULL) {
        s.root = json_loadb(r->hb.p + xm->value, xm->value_len, 0, NULL);
        if (!json_is_object(s.root)) {
            plan_error(c, 400, false, "mock: X-Mock is not a JSON object", false);
            goto out;
        }
    }
    if (rt != R_MODELS) {
        body = json_loadb(r->body.p ? r->body.p : "", r->body.len, 0, NULL);
        if (!json_is_object(body)) {
            plan_error(c, 400, anth, "mock: request body is not a JSON object", false);
            goto out;
        }
        json_t *m = json_object_get(body, "mock");
        if (!s.root && m) {
            if (!json_is_object(m)) {
                plan_error(c, 400, false, "mock: body field \"mock\" is not an object", false);
                goto out;
            }
            s.root = json_incref(m);
        }
    }
    if (script_parse(&s, &bad) < 0) {
        snprintf(msg, sizeof msg, "mock: invalid script field \"%s\"", bad);
        plan_error(c, 400, false, msg, false);
        goto out;
    }

    c->fb_delay_ms = (unsigned)s.fb_delay_ms;
    c->delay_ms = (unsigned)s.delay_ms;
    c->wire_delay_ms = (unsigned)s.wire_delay_ms;
    if (s.wire_random) {
        c->wire_on = c->wire_random = true;
        /* splitmix-style scramble so small seeds still give varied sequences; never 0 */
        uint64_t z = (uint64_t)s.seed + 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        c->rng = (uint32_t)(z ^ (z >> 31)) | 1u;
    } else if (s.wire) {
        c->wire_on = true;
        set_wire(c, s.wire);
    }
    if (s.close)
        c->close_after = true;
    if (s.reset) {
        c->end = END_RESET;
        goto out;
    }
    if (s.stall) {
        c->end = END_STALL;
        goto out;
    }
    if (s.status >= 400) {
        plan_error(c, (int)s.status, anth, "mock error", s.chunked);
        goto out;
    }
    if (s.invalid_json) {
        add_lit(c->src, "{\"id\": \"mock\", \"choices\": [");
        plan_json_done(c, 200, s.chunked);
        goto out;
    }
    if (rt == R_MODELS) {
        plan_models(c, anth, s.chunked);
        goto out;
    }

    struct gen ge = {.n = c->n, .created = (long long)time(NULL)};
    json_t *model = json_object_get(body, "model");
    ge.model = json_is_string(model) ? json_string_value(model) : "mock-model";
    ge.model_len = json_is_string(model) ? json_string_length(model) : strlen(ge.model);
    ge.p_tok = tokens(prompt_scan(rt, body, &last_user));
    if (s.echo_system)
        last_user = system_prompt(rt, body);
    if (s.has_text) {
        ge.text = s.text;
        ge.text_len = s.text_len;
    } else if (json_is_string(last_user) && json_string_length(last_user) > 0) {
        ge.text = json_string_value(last_user);
        ge.text_len = json_string_length(last_user);
    } else if (content_text(last_user, &cat) > 0) {
        ge.text = cat.p;
        ge.text_len = cat.len;
    } else {
        ge.text = "ok";
        ge.text_len = 2;
    }
    ge.tools = s.tools;
    ge.ntools = json_array_size(s.tools);
    ge.text_on = ge.ntools == 0 || (s.has_text && s.text_len > 0);
    size_t out_bytes = ge.text_on ? ge.text_len : 0;
    for (size_t k = 0; k < ge.ntools; k++) {
        struct tcall t;
        tool_get(&ge, k, &t);
        out_bytes += t.args_len;
    }
    ge.c_tok = tokens(out_bytes);
    ge.include_usage =
        json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage"));
    if (json_is_true(json_object_get(body, "stream")))
        plan_stream(c, rt, &ge, &s);
    else
        plan_json(c, rt, &ge, s.chunked);
out:
    free(cat.p);
    json_decref(s.tools);
    json_decref(s.root);
    json_decref(body);
}

/* Hands the finished request to the global "last" slot and takes the previous one back. */
static void
publish_last(struct conn *c)
{
    struct req *old;
    pthread_mutex_lock(&g.lock);
    old = g.last;
    g.last = c->req;
    pthread_mutex_unlock(&g.lock);
    c->req = old;
    if (old)
        req_clear(old);
}

static void
plan_last(struct conn *c)
{
    pthread_mutex_lock(&g.lock);
    struct req *r = g.last;
    if (!r) {
        pthread_mutex_unlock(&g.lock);
        plan_error(c, 404, false, "mock: no request recorded yet", false);
        return;
    }
    json_t *o = json_object(), *hobj = json_object(), *hl = json_array();
    size_t plen = strcspn(r->url.p ? r->url.p : "", "?");
    json_object_set_new(o, "method", json_string(r->method));
    json_object_set_new(o, "path", jstr_lossy(r->url.p ? r->url.p : "", plen));
    json_object_set_new(o, "query",
                        r->url.p && r->url.p[plen] == '?'
                            ? jstr_lossy(r->url.p + plen + 1, r->url.len - plen - 1)
                            : json_null());
    json_object_set_new(o, "target", jstr_lossy(r->url.p ? r->url.p : "", r->url.len));
    for (size_t i = 0; i < r->nhdrs; i++) {
        const struct hdr *h = &r->hdrs[i];
        char name[256];
        size_t nl = h->name_len < sizeof name - 1 ? h->name_len : sizeof name - 1;
        for (size_t k = 0; k < nl; k++) {
            char ch = r->hb.p[h->name + k];
            name[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
        }
        name[nl] = '\0';
        json_t *v = jstr_lossy(r->hb.p + h->value, h->value_len);
        json_object_set(hobj, name, v);
        json_array_append_new(hl, json_pack("[s#o]", r->hb.p + h->name, h->name_len, v));
    }
    json_object_set_new(o, "headers", hobj);
    json_object_set_new(o, "header_list", hl);
    json_object_set_new(o, "body", jstr_lossy(r->body.p ? r->body.p : "", r->body.len));
    pthread_mutex_unlock(&g.lock);

    char *txt = json_dumps(o, JSON_COMPACT);
    if (txt)
        evbuffer_add(c->src, txt, strlen(txt));
    free(txt);
    json_decref(o);
    plan_json_done(c, 200, false);
}

static long long
query_int(const char *q, const char *key, long long dflt, bool *found)
{
    size_t kl = strlen(key);
    while (q && *q) {
        if (strncmp(q, key, kl) == 0 && q[kl] == '=') {
            char *end;
            long long v = strtoll(q + kl + 1, &end, 10);
            if (end != q + kl + 1 && (*end == '\0' || *end == '&')) {
                if (found)
                    *found = true;
                return v;
            }
            return dflt;
        }
        q = strchr(q, '&');
        if (q)
            q++;
    }
    return dflt;
}

static int resp_start(struct conn *c);

static void
on_wait(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    long long target = c->waiter->target;
    (void)fd;

    waiter_drop(c);
    bool ok = !(what & EV_TIMEOUT) || atomic_load(&g.open) == target;
    add_stats_json(c->src);
    plan_json_done(c, ok ? 200 : 408, false);
    if (resp_start(c) == 0 && !c->busy)
        parse_input(c);
}

/* Returns -1 if the connection was freed. */
static int
handle_control(struct conn *c, const char *url, size_t plen)
{
    const char *q = url[plen] == '?' ? url + plen + 1 : "";
    const char *m = c->req->method;
    bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;
    char msg[256];

#define IS(p) (plen == strlen(p) && memcmp(url, p, plen) == 0)
    if (get && IS("/_mock/stats")) {
        add_stats_json(c->src);
        plan_json_done(c, 200, false);
    } else if (get && IS("/_mock/last")) {
        plan_last(c);
    } else if (post && IS("/_mock/reset")) {
        pthread_mutex_lock(&g.lock);
        struct req *old = g.last;
        g.last = NULL;
        atomic_store(&g.total, 0);
        atomic_store(&g.closed, 0);
        atomic_store(&g.requests, 0);
        pthread_mutex_unlock(&g.lock);
        req_free(old);
        add_stats_json(c->src);
        plan_json_done(c, 200, false);
    } else if (get && IS("/_mock/wait")) {
        bool found = false;
        long long target = query_int(q, "connections_open", 0, &found);
        long long tmo = query_int(q, "timeout_ms", DEFAULT_WAIT_MS, NULL);
        if (!found) {
            plan_error(c, 400, false, "mock: /_mock/wait needs connections_open=N", false);
        } else if (atomic_load(&g.open) == target) {
            add_stats_json(c->src);
            plan_json_done(c, 200, false);
        } else {
            struct waiter *w = calloc(1, sizeof *w);
            if (!w)
                abort();
            if (tmo < 0)
                tmo = 0;
            if (tmo > MAX_DELAY_MS)
                tmo = MAX_DELAY_MS;
            struct timeval tv = {.tv_sec = tmo / 1000, .tv_usec = (tmo % 1000) * 1000};
            w->c = c;
            w->target = target;
            w->ev = event_new(c->w->base, -1, 0, on_wait, c);
            event_add(w->ev, &tv);
            c->waiter = w;
            c->busy = true;
            pthread_mutex_lock(&g.lock);
            w->next = g.waiters;
            g.waiters = w;
            atomic_fetch_add(&g.nwaiters, 1);
            if (atomic_load(&g.open) == target) { /* changed while we were registering */
                w->fired = true;
                event_active(w->ev, EV_READ, 1);
            }
            pthread_mutex_unlock(&g.lock);
            return 0;
        }
    } else {
        snprintf(msg, sizeof msg, "mock: no control endpoint %s %.*s", m,
                 (int)(plen > 200 ? 200 : plen), url);
        plan_error(c, 404, false, msg, false);
    }
#undef IS
    return resp_start(c);
}

/* Answers the complete request in c->req. Returns -1 if the connection was freed. */
static int
handle_request(struct conn *c)
{
    struct req *r = c->req;
    const char *url = r->url.p ? r->url.p : "";
    size_t plen = strcspn(url, "?");
    const struct hdr *rid = req_header(r, "x-request-id");

    resp_clear(c);
    c->close_after = !c->keepalive;
    c->n = atomic_fetch_add(&g.seq, 1) + 1;
    c->rid = rid ? r->hb.p + rid->value : NULL;
    c->rid_len = rid ? rid->value_len : 0;
    if (plen >= 7 && memcmp(url, "/_mock/", 7) == 0) {
        int rc = handle_control(c, url, plen);
        c->rid = NULL;
        return rc;
    }
    atomic_fetch_add(&g.requests, 1);
    handle_api(c, url, plen);
    c->rid = NULL;
    publish_last(c);
    return resp_start(c);
}

/* ---------------------------------------------------------------- response sending */

static void
arm(struct conn *c, struct event **ev, event_callback_fn cb, unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000};
    if (!*ev)
        *ev = evtimer_new(c->w->base, cb, c);
    evtimer_add(*ev, &tv);
}

static void
conn_rst(struct conn *c)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    c->ssl = NULL; /* no close_notify */
    conn_free(c);
}

static size_t
next_wire_size(struct conn *c)
{
    if (c->wire_random) {
        uint32_t x = c->rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c->rng = x;
        return 1 + x % 17;
    }
    size_t i = c->i_wire < c->n_wire ? c->i_wire : c->n_wire - 1;
    c->i_wire++;
    return c->wire[i];
}

static void
on_tm_wire(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)fd;
    (void)what;
    c->wire_ready = true;
    if (pump(c) == 0 && !c->busy)
        parse_input(c);
}

/* Moves pending bytes to the socket per the wire policy and finishes the response when all of
 * it is out. Returns -1 if the connection was freed. */
static int
pump(struct conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t plen = evbuffer_get_length(c->pending);

    if (plen > 0) {
        if (!c->wire_on) {
            evbuffer_add_buffer(out, c->pending);
        } else if (c->wire_ready && evbuffer_get_length(out) == 0) {
            size_t n = next_wire_size(c);
            evbuffer_remove_buffer(c->pending, out, n < plen ? n : plen);
            if (c->wire_delay_ms > 0) {
                c->wire_ready = false;
                arm(c, &c->tm_wire, on_tm_wire, c->wire_delay_ms);
            }
        }
    }
    if (!c->produced || evbuffer_get_length(c->pending) > 0)
        return 0;
    switch (c->end) {
    case END_STALL:
        return 0;
    case END_RESET: {
        int unsent = 0;
        if (evbuffer_get_length(out) > 0)
            return 0; /* on_write calls again */
        if (ioctl(bufferevent_getfd(c->bev), SIOCOUTQ, &unsent) == 0 && unsent > 0 &&
            c->rst_tries++ < RST_DRAIN_TRIES) {
            arm(c, &c->tm_wire, on_tm_wire, 1);
            return 0;
        }
        conn_rst(c);
        return -1;
    }
    case END_DONE:
        break;
    }
    if (c->close_after) {
        c->closing = true;
        if (evbuffer_get_length(out) > 0)
            return 0;
        conn_free(c);
        return -1;
    }
    c->busy = false;
    return 0;
}

static void
emit_event(struct conn *c)
{
    size_t n = c->ev_len[c->i_ev++];
    if (c->chunked) {
        if (n == 0)
            return; /* a zero-size chunk would end the body */
        evbuffer_add_printf(c->pending, "%zx\r\n", n);
        evbuffer_remove_buffer(c->src, c->pending, n);
        evbuffer_add(c->pending, "\r\n", 2);
    } else {
        evbuffer_remove_buffer(c->src, c->pending, n);
    }
}

static void on_tm_prod(evutil_socket_t fd, short what, void *arg);

/* Emits the next events (one per tick with delay_ms, else all). Returns -1 if c was freed. */
static int
produce(struct conn *c)
{
    if (c->delay_ms == 0) {
        while (c->i_ev < c->n_ev)
            emit_event(c);
    } else if (c->i_ev < c->n_ev) {
        emit_event(c);
        if (c->i_ev < c->n_ev)
            arm(c, &c->tm_prod, on_tm_prod, c->delay_ms);
    }
    if (c->i_ev == c->n_ev && !c->produced) {
        c->produced = true;
        if (c->end == END_DONE && c->chunked)
            evbuffer_add(c->pending, "0\r\n\r\n", 5);
    }
    return pump(c);
}

static int
send_head(struct conn *c)
{
    c->head_sent = true;
    bufferevent_write_buffer(c->bev, c->head);
    return produce(c);
}

static void
on_tm_prod(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)fd;
    (void)what;
    if ((c->head_sent ? produce(c) : send_head(c)) == 0 && !c->busy)
        parse_input(c);
}

/* Starts sending the planned response. Returns -1 if the connection was freed. */
static int
resp_start(struct conn *c)
{
    c->busy = true;
    if (c->fb_delay_ms > 0) {
        arm(c, &c->tm_prod, on_tm_prod, c->fb_delay_ms);
        return 0;
    }
    return send_head(c);
}

/* ---------------------------------------------------------------- HTTP parsing */

static struct conn *
pconn(llhttp_t *p)
{
    return p->data;
}

static int
too_big(llhttp_t *p, int status)
{
    pconn(p)->parse_err = status;
    llhttp_set_error_reason(p, "too large");
    return HPE_USER;
}

static int
on_msg_begin(llhttp_t *p)
{
    struct conn *c = pconn(p);
    if (!c->req && !(c->req = calloc(1, sizeof *c->req)))
        return HPE_USER;
    req_clear(c->req);
    return 0;
}

static int
on_url(llhttp_t *p, const char *at, size_t len)
{
    struct req *r = pconn(p)->req;
    if (r->url.len + len > MAX_HEADER_BYTES)
        return too_big(p, 431);
    return gw_strbuf_put(&r->url, at, len) ? HPE_USER : 0;
}

static int
on_hdr_data(llhttp_t *p, const char *at, size_t len)
{
    struct req *r = pconn(p)->req;
    if (r->hb.len + len > MAX_HEADER_BYTES)
        return too_big(p, 431);
    return gw_strbuf_put(&r->hb, at, len) ? HPE_USER : 0;
}

static int
on_field_done(llhttp_t *p)
{
    struct req *r = pconn(p)->req;
    r->field_len = r->hb.len - r->field_start;
    r->value_start = r->hb.len;
    return 0;
}

static int
on_value_done(llhttp_t *p)
{
    struct req *r = pconn(p)->req;
    if (r->nhdrs == r->hcap) {
        size_t cap = r->hcap ? r->hcap * 2 : 16;
        struct hdr *h = realloc(r->hdrs, cap * sizeof *h);
        if (!h)
            return HPE_USER;
        r->hdrs = h;
        r->hcap = cap;
    }
    r->hdrs[r->nhdrs++] =
        (struct hdr){r->field_start, r->field_len, r->value_start, r->hb.len - r->value_start};
    r->field_start = r->hb.len;
    return 0;
}

static int
on_headers_done(llhttp_t *p)
{
    struct conn *c = pconn(p);
    struct req *r = c->req;
    const char *url = r->url.p ? r->url.p : "";
    const struct hdr *ex;

    r->method = llhttp_method_name((llhttp_method_t)llhttp_get_method(p));
    c->http10 = p->http_major == 1 && p->http_minor == 0;
    c->keepalive = llhttp_should_keep_alive(p);
    if (strncmp(url, "/_mock/", 7) != 0 && !c->api) {
        c->api = true;
        atomic_fetch_add(&g.total, 1);
        atomic_fetch_add(&g.open, 1);
        stats_changed();
    }
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > MAX_BODY_BYTES) {
        too_big(p, 413);
        return -1; /* on_headers_complete takes 0/1/2/-1 */
    }
    ex = req_header(r, "expect");
    if (ex && ex->value_len == 12 && strncasecmp(r->hb.p + ex->value, "100-continue", 12) == 0 &&
        !c->http10)
        bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    return 0;
}

static int
on_body(llhttp_t *p, const char *at, size_t len)
{
    struct req *r = pconn(p)->req;
    if (r->body.len + len > MAX_BODY_BYTES)
        return too_big(p, 413);
    return gw_strbuf_put(&r->body, at, len) ? HPE_USER : 0;
}

static int
on_msg_done(llhttp_t *p)
{
    (void)p;
    return HPE_PAUSED;
}

/* Answers a malformed request and closes. Returns -1 (c is freed or closing). */
static int
bad_request(struct conn *c)
{
    int st = c->parse_err ? c->parse_err : 400;
    resp_clear(c);
    c->n = atomic_fetch_add(&g.seq, 1) + 1;
    c->close_after = true;
    plan_error(c, st, false, st == 400 ? "mock: malformed HTTP request" : "mock: request too large",
               false);
    return resp_start(c) < 0 ? -1 : -1;
}

/* Parses buffered input and answers complete requests while idle. Returns -1 if c was freed. */
static int
parse_input(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    while (!c->busy && !c->closing && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        llhttp_errno_t e = llhttp_execute(&c->parser, v.iov_base, v.iov_len);
        if (e == HPE_OK) {
            evbuffer_drain(in, v.iov_len);
        } else if (e == HPE_PAUSED) {
            evbuffer_drain(in, (size_t)(llhttp_get_error_pos(&c->parser) - (char *)v.iov_base));
            llhttp_resume(&c->parser);
            if (handle_request(c) < 0)
                return -1;
        } else {
            evbuffer_drain(in, evbuffer_get_length(in));
            return bad_request(c);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- connections */

static void
conn_free(struct conn *c)
{
    struct worker *w = c->w;

    waiter_drop(c);
    if (c->api) {
        atomic_fetch_sub(&g.open, 1);
        atomic_fetch_add(&g.closed, 1);
        stats_changed();
    }
    if (c->tm_prod)
        event_free(c->tm_prod);
    if (c->tm_wire)
        event_free(c->tm_wire);
    if (c->ssl && c->closing)
        SSL_shutdown(c->ssl); /* best effort close_notify on a graceful close */
    bufferevent_free(c->bev);
    evbuffer_free(c->head);
    evbuffer_free(c->src);
    evbuffer_free(c->pending);
    free(c->ev_len);
    free(c->wire);
    req_free(c->req);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    parse_input(arg);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    (void)bev;
    if (c->closing) {
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            conn_free(c);
        return;
    }
    if (c->busy && pump(c) == 0 && !c->busy)
        parse_input(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        conn_free(arg);
}

static void
on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    struct worker *w = arg;
    struct conn *c = calloc(1, sizeof *c);
    int one = 1;
    (void)lev;
    (void)sa;
    (void)salen;

    if (!c) {
        close(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->w = w;
    if (w->ssl_ctx) {
        c->ssl = SSL_new(w->ssl_ctx);
        if (c->ssl)
            c->bev = bufferevent_openssl_socket_new(w->base, fd, c->ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                    BEV_OPT_CLOSE_ON_FREE);
        if (c->bev)
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        else if (c->ssl)
            SSL_free(c->ssl);
    } else {
        c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    c->head = evbuffer_new();
    c->src = evbuffer_new();
    c->pending = evbuffer_new();
    if (!c->bev || !c->head || !c->src || !c->pending) {
        if (c->bev)
            bufferevent_free(c->bev);
        else
            close(fd);
        if (c->head)
            evbuffer_free(c->head);
        if (c->src)
            evbuffer_free(c->src);
        if (c->pending)
            evbuffer_free(c->pending);
        free(c);
        return;
    }
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* ---------------------------------------------------------------- startup */

static void
usage(FILE *f)
{
    fprintf(f, "usage: pc-mock --listen HOST:PORT [--threads N] [--tls-cert FILE --tls-key FILE]\n"
               "  PORT 0 binds an ephemeral port; prints 'LISTEN HOST:PORT' once listening.\n");
}

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
            unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
        if (in[i] == 8 && i + 9 <= inlen && memcmp(in + i + 1, "http/1.1", 8) == 0) {
            *out = in + i + 1;
            *outlen = 8;
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *
make_ssl_ctx(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ERR_print_errors_fp(stderr);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return ctx;
}

/* Splits "host:port" or "[v6]:port". Returns 0 or -1. */
static int
split_hostport(const char *s, char *host, size_t hostsz, long *port)
{
    const char *colon, *h = s;
    size_t hl;
    char *end;

    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return -1;
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostsz)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    errno = 0;
    *port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || *port < 0 || *port > 65535)
        return -1;
    return 0;
}

static int
bind_listener(const struct addrinfo *ai, int port, int *out_port)
{
    struct sockaddr_storage ss;
    socklen_t sl = (socklen_t)ai->ai_addrlen;
    int one = 1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    if (ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1024) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        close(fd);
        return -1;
    }
    *out_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                              : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

int
main(int argc, char **argv)
{
    const char *listen_arg = NULL, *cert = NULL, *key = NULL;
    long nthreads = 1, port;
    char host[256];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    struct worker *workers;
    SSL_CTX *ssl_ctx = NULL;
    sigset_t sigs;
    int sig, real_port = 0, rc;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        const char *eq = strchr(a, '=');
        size_t an = eq ? (size_t)(eq - a) : strlen(a);
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
#define OPT(name) (an == strlen(name) && strncmp(a, name, an) == 0)
        if (!OPT("--listen") && !OPT("--threads") && !OPT("--tls-cert") && !OPT("--tls-key")) {
            fprintf(stderr, "pc-mock: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            fprintf(stderr, "pc-mock: %s needs a value\n", a);
            return 2;
        }
        if (OPT("--listen")) {
            listen_arg = val;
        } else if (OPT("--tls-cert")) {
            cert = val;
        } else if (OPT("--tls-key")) {
            key = val;
        } else {
            char *end;
            errno = 0;
            nthreads = strtol(val, &end, 10);
            if (errno || end == val || *end || nthreads < 1 || nthreads > MAX_THREADS) {
                fprintf(stderr, "pc-mock: --threads must be 1..%d\n", MAX_THREADS);
                return 2;
            }
        }
#undef OPT
    }
    if (!listen_arg) {
        fprintf(stderr, "pc-mock: --listen HOST:PORT is required\n");
        usage(stderr);
        return 2;
    }
    if (split_hostport(listen_arg, host, sizeof host, &port) < 0) {
        fprintf(stderr, "pc-mock: bad --listen '%s' (want HOST:PORT or [V6]:PORT)\n", listen_arg);
        return 2;
    }
    if (!cert != !key) {
        fprintf(stderr, "pc-mock: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if ((rc = getaddrinfo(host, NULL, &hints, &ai)) != 0) {
        fprintf(stderr, "pc-mock: cannot resolve '%s': %s\n", host, gai_strerror(rc));
        return 2;
    }
    if (cert && !(ssl_ctx = make_ssl_ctx(cert, key))) {
        fprintf(stderr, "pc-mock: cannot load TLS certificate/key\n");
        freeaddrinfo(ai);
        return 1;
    }

    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    llhttp_settings_init(&parser_settings);
    parser_settings.on_message_begin = on_msg_begin;
    parser_settings.on_url = on_url;
    parser_settings.on_header_field = on_hdr_data;
    parser_settings.on_header_value = on_hdr_data;
    parser_settings.on_header_field_complete = on_field_done;
    parser_settings.on_header_value_complete = on_value_done;
    parser_settings.on_headers_complete = on_headers_done;
    parser_settings.on_body = on_body;
    parser_settings.on_message_complete = on_msg_done;

    workers = calloc((size_t)nthreads, sizeof *workers);
    if (!workers)
        abort();
    for (long i = 0; i < nthreads; i++) {
        int fd = bind_listener(ai, i == 0 ? (int)port : real_port, &real_port);
        if (fd < 0) {
            fprintf(stderr, "pc-mock: cannot listen on %s: %s\n", listen_arg, strerror(errno));
            return 1;
        }
        workers[i].ssl_ctx = ssl_ctx;
        workers[i].base = event_base_new();
        workers[i].lev = workers[i].base
                             ? evconnlistener_new(workers[i].base, on_accept, &workers[i],
                                                  LEV_OPT_CLOSE_ON_FREE, 0, fd)
                             : NULL;
        if (!workers[i].lev) {
            fprintf(stderr, "pc-mock: cannot set up the event loop\n");
            return 1;
        }
    }
    freeaddrinfo(ai);

    /* Workers inherit the blocked set; only the main thread takes the signals, via sigwait. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    for (long i = 0; i < nthreads; i++) {
        if (pthread_create(&workers[i].th, NULL, worker_main, &workers[i]) != 0) {
            fprintf(stderr, "pc-mock: cannot start threads\n");
            return 1;
        }
    }
    if (listen_arg[0] == '[')
        printf("LISTEN [%s]:%d\n", host, real_port);
    else
        printf("LISTEN %s:%d\n", host, real_port);
    fflush(stdout);

    while (sigwait(&sigs, &sig) != 0)
        ;
    for (long i = 0; i < nthreads; i++)
        event_base_loopbreak(workers[i].base);
    for (long i = 0; i < nthreads; i++) {
        pthread_join(workers[i].th, NULL);
        while (workers[i].conns)
            conn_free(workers[i].conns);
        evconnlistener_free(workers[i].lev);
        event_base_free(workers[i].base);
    }
    free(workers);
    req_free(g.last);
    if (ssl_ctx)
        SSL_CTX_free(ssl_ctx);
    libevent_global_shutdown();
    return 0;
}
