/*
 * The filter chain driver. One struct gw_filtering per exchange whose route has filters.
 *
 * Request: the body is parsed once into segments (providers/segments.c), every on_req_body runs
 * in config order (a WAIT suspends the chain at that filter; gw_tx_resume continues it), and an
 * edited body is serialised once and replaces the original.
 *
 * Response, buffered: JSON bodies of 2xx answers are held (bounded by max_response_bytes),
 * segmented, filtered, and re-serialised when edited; the head goes out with the final length.
 *
 * Response, streamed: each complete SSE event is parsed by the stream adapter
 * (providers/stream.c). The new text of every logical stream goes through the on_resp_chunk
 * filters in order. Filter i is given what it held last time followed by what filter i-1 released
 * now; what it releases (all but its hold) goes on. The event is rewritten with what the last
 * filter released (and dropped when that is nothing and the event carries nothing else). Before an
 * event that ends a logical stream, and at the end of the response, the stream is flushed: every
 * filter runs with final = 1 and must release all it holds, which goes out in a synthesised event.
 * Held text older than timeouts.stream_hold is flushed the same way by a timer, so a stalled
 * upstream does not keep released-looking text from the user forever.
 */
#include "gateway/filtering.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/evp.h>

#include "audit/audit.h"
#include "filters/filter.h"
#include "filters/flt_budget.h"
#include "filters/hexdigit.h"
#include "gateway/conn.h"
#include "gateway/http1.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/tx.h"
#include "gateway/upstream.h"
#include "gateway/worker.h"
#include "providers/segments.h"
#include "providers/stream.h"
#include "providers/textscan.h"
#include "store/budget.h"

#define MAX_STREAMS 64

struct flt_stream {
    int id;
    int open;
    char **held; /* per chain position: bytes that filter holds back */
    size_t *hlen;
    uint64_t *off; /* per chain position: bytes that filter released so far */
    enum gw_role role;
    int choice;
};

struct alloc_node {
    struct alloc_node *next;
};

/* Text captured for the audit record of one side (request or response), per the route's capture
 * policy: the first `max` bytes, the total, or a running SHA-256. */
struct capbuf {
    char *buf;
    size_t len;
    uint64_t total;
    int hashing;
    EVP_MD_CTX *sha;
    char hex[65];
    char withheld[160]; /* redacted: a detection that did not redact this side, "" when none */
};

struct gw_filtering {
    struct gw_tx *tx;
    const struct gw_chain *chain;
    void **ctx;
    enum gw_api_kind kind;
    /* request */
    struct gw_body body;
    int body_parsed;
    size_t pos;
    int waiting;
    /* block */
    int blocked;
    int status;
    char code[48];
    char msg[400];
    /* response */
    int sse;
    int usage_injected; /* we asked for stream_options.include_usage */
    struct gw_stream_adapter *sa;
    struct flt_stream streams[MAX_STREAMS];
    size_t nstreams;
    struct event *hold_timer;
    struct alloc_node *allocs;
    /* audit */
    int capture;           /* enum gw_capture for this exchange (none when audit is off) */
    enum gw_direction dir; /* the side the chain is working on (for events) */
    struct capbuf cap[2];  /* [GW_DIR_REQUEST], [GW_DIR_RESPONSE] */
    int triggered;         /* some filter decision other than pass */
    int resp_seen;         /* a 2xx response the chain looked at */
    int light;             /* no filters: texts for the audit come from textscan, no JSON tree */
    int req_captured;      /* the request's texts are in cap[GW_DIR_REQUEST] */
    struct gw_textscan_usage usage; /* light: usage seen in the answer */
    const char *cur; /* configured name of the filter running now (events carry it) */
    /* `portcullis scan`: no connection; events are collected for the verdict */
    int scan;
    struct gw_scan_event *events;
    size_t nevents, capevents;
};

/* ---- services ---- */

struct event_base *
gw_tx_base(struct gw_tx *tx)
{
    return tx->w->base;
}

void *
gw_tx_alloc(struct gw_tx *tx, size_t n)
{
    struct gw_filtering *f = tx->flt;
    if (!f)
        return NULL;
    struct alloc_node *a = calloc(1, sizeof(*a) + n);
    if (!a)
        return NULL;
    a->next = f->allocs;
    f->allocs = a;
    return a + 1;
}

void
gw_tx_usage(const struct gw_tx *tx, struct gw_tx_usage *out)
{
    const struct gw_filtering *f = tx->flt;
    out->choices = 1;
    out->max_output =
        f && f->body_parsed && f->body.root ? gw_body_max_output(&f->body, &out->choices) : -1;
    int64_t in = tx->tokens_in, o = tx->tokens_out, rd = tx->cache_read, wr = tx->cache_write;
    if (f && f->sa && (in < 0 || o < 0)) {
        /* a stream that did not end (cut, client gone): what it reported so far */
        int64_t si, so;
        gw_stream_usage(f->sa, &si, &so);
        in = in < 0 ? si : in;
        o = o < 0 ? so : o;
        gw_stream_cache_usage(f->sa, &rd, &wr);
    }
    enum gw_api_kind k = f ? f->kind : GW_KIND_OTHER;
    out->tokens_in = gw_usage_input(k, in, rd, wr);
    out->tokens_cached = in >= 0 ? rd : 0;
    out->tokens_out = o;
    out->upstream_status = tx->up_status;
}

struct gw_budget_store *
gw_tx_shared_store(struct gw_tx *tx)
{
    struct gw_budget_store *s = gw_budget_conf_store(tx->cfg->budget_filter.conf);
    return s ? s : gw_budget_local();
}

size_t
gw_tx_hold_limit(const struct gw_tx *tx)
{
    return tx->cfg->limits.stream_hold_bytes;
}

void
gw_tx_retry_after(struct gw_tx *tx, uint32_t seconds)
{
    tx->retry_after = seconds;
}

void
gw_tx_identity(const struct gw_tx *tx, struct gw_identity *out)
{
    struct gw_audit_who w; /* the one place identity is read off the exchange */
    gw_tx_who(tx, &w);
    out->team = w.team;
    out->key_id = w.key_id;
    out->user = w.user;
    out->session = w.session && w.session[0] ? w.session : NULL;
    out->model = w.model && w.model[0] ? w.model : NULL;
    out->route = w.route;
    out->provider = w.provider;
    out->route_index = -1;
    if (tx->route && tx->cfg && tx->route >= tx->cfg->routes &&
        tx->route < tx->cfg->routes + tx->cfg->nroutes)
        out->route_index = (int)(tx->route - tx->cfg->routes);
}

void
gw_tx_block(struct gw_tx *tx, int status, const char *code, const char *message)
{
    struct gw_filtering *f = tx->flt;
    if (!f || f->blocked)
        return;
    f->blocked = 1;
    f->status = status >= 400 && status <= 599 ? status : 403;
    snprintf(f->code, sizeof(f->code), "%s", code ? code : "blocked");
    snprintf(f->msg, sizeof(f->msg), "%s", message ? message : "Blocked by policy.");
}

static char *
dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Security metrics for one detection: injection attempts, secret / PII detections by type. */
static void
detection_metrics(struct gw_tx *tx, const struct gw_event *ev, const char *dir)
{
    const char *cat = ev->category ? ev->category : "";
    const char *l[6] = {"filter", ev->filter ? ev->filter : "", "category", cat, "direction", dir};
    gw_metrics_count_labels(tx->w->metrics, "portcullis_detections_total", l, 3, 1);
    size_t kl = strcspn(cat, ":.");
    if ((kl == 6 && strncmp(cat, "secret", 6) == 0) || (kl == 3 && strncmp(cat, "pii", 3) == 0)) {
        char kind[8];
        snprintf(kind, sizeof(kind), "%.*s", (int)kl, cat);
        const char *type = cat[kl] ? cat + kl + 1 : (ev->rule_id ? ev->rule_id : "");
        const char *m[6] = {"kind", kind, "type", type, "direction", dir};
        gw_metrics_count_labels(tx->w->metrics, "portcullis_sensitive_data_detections_total", m, 3,
                                1);
    } else if (strstr(cat, "injection") || strstr(cat, "jailbreak") || strstr(cat, "extraction")) {
        const char *m[4] = {"category", cat, "direction", dir};
        gw_metrics_count_labels(tx->w->metrics, "portcullis_injection_attempts_total", m, 2, 1);
    }
}

void
gw_emit(struct gw_tx *tx, const struct gw_event *evp)
{
    struct gw_filtering *f = tx->flt;
    struct gw_event named = *evp;
    if (f && f->cur)
        named.filter = f->cur; /* the configured name: two `patterns` filters stay apart */
    const struct gw_event *ev = &named;
    /* budget and rate-limit decisions are policy, not detections in the text */
    int policy = ev->category && strncmp(ev->category, "budget", 6) == 0;
    if (f && !f->scan) {
        f->triggered = 1;
        if (!policy)
            detection_metrics(tx, ev, f->dir == GW_DIR_REQUEST ? "request" : "response");
        struct gw_audit_who who;
        gw_tx_who(tx, &who);
        gw_audit_filter(&who, ev, f->dir);
        /* redacted capture: a detection that was not redacted keeps that side's text out of the
         * audit trail (it may be the very secret); the rule says why */
        struct capbuf *c = &f->cap[f->dir];
        if (f->capture == GW_CAPTURE_REDACTED && !policy &&
            (!ev->action || strcmp(ev->action, "redact"))) {
            size_t used = strlen(c->withheld);
            if (used + 2 < sizeof(c->withheld))
                snprintf(c->withheld + used, sizeof(c->withheld) - used, "%s%s:%s", used ? "," : "",
                         ev->filter ? ev->filter : "?", ev->rule_id ? ev->rule_id : "?");
        }
    }
    if (f && f->scan) {
        if (f->nevents == f->capevents) {
            size_t cap = f->capevents ? 2 * f->capevents : 8;
            struct gw_scan_event *v = realloc(f->events, cap * sizeof(*v));
            if (!v)
                return;
            f->events = v;
            f->capevents = cap;
        }
        struct gw_scan_event *e = &f->events[f->nevents++];
        e->ev = *ev;
        e->ev.filter = dup_or_null(ev->filter);
        e->ev.rule_id = dup_or_null(ev->rule_id);
        e->ev.category = dup_or_null(ev->category);
        e->ev.action = dup_or_null(ev->action);
        e->ev.encoding = dup_or_null(ev->encoding);
    }
    gw_worker_count(tx->w, "portcullis_filter_events_total", "action",
                    ev->action ? ev->action : "event");
    /* The access log carries the rules that fired (ids and actions, never the text). */
    size_t used = strlen(tx->rules);
    if (used + 2 < sizeof(tx->rules))
        snprintf(tx->rules + used, sizeof(tx->rules) - used, "%s%s:%s:%s", used ? "," : "",
                 ev->filter ? ev->filter : "?", ev->rule_id ? ev->rule_id : "?",
                 ev->action ? ev->action : "event");
    gw_debug("request %s: filter %s rule %s %s (%s, offset %llu, length %llu)", tx->id,
             ev->filter ? ev->filter : "?", ev->rule_id ? ev->rule_id : "?",
             ev->action ? ev->action : "event", gw_role_name(ev->role),
             (unsigned long long)ev->offset, (unsigned long long)ev->length);
}

/* ---- audit capture ---- */

static void
cap_add(struct gw_filtering *f, enum gw_direction d, const char *p, size_t n)
{
    struct capbuf *c = &f->cap[d];
    c->total += n;
    if (c->hashing) {
        if (c->sha)
            EVP_DigestUpdate(c->sha, p, n);
        return;
    }
    size_t max = f->tx->route->capture_max;
    if (c->len >= max)
        return;
    size_t take = n < max - c->len ? n : max - c->len;
    if (!c->buf) {
        c->buf = malloc(max + 1);
        if (!c->buf)
            return;
    }
    memcpy(c->buf + c->len, p, take);
    c->len += take;
}

/* One text as "role: text\n": the capture format of segments and of scanned texts alike. */
static void
cap_role_text(struct gw_filtering *f, enum gw_direction d, enum gw_role role, const char *text,
              size_t len)
{
    const char *name = gw_role_name(role);
    cap_add(f, d, name, strlen(name));
    cap_add(f, d, ": ", 2);
    cap_add(f, d, text, len);
    cap_add(f, d, "\n", 1);
}

/* Every segment but tool definitions (tool schemas are not what anyone said). */
static void
cap_segments(struct gw_filtering *f, enum gw_direction d, const struct gw_segments *segs)
{
    for (size_t i = 0; i < segs->n; i++)
        if (segs->v[i].role != GW_ROLE_TOOL_DEFINITION)
            cap_role_text(f, d, segs->v[i].role, segs->v[i].text, segs->v[i].len);
}

struct light_arg {
    struct gw_filtering *f;
    enum gw_direction d;
};

/* textscan's callback: one text as "role: text\n", like cap_segments. */
static void
cap_text(void *arg, enum gw_role role, int msg_index, const char *text, size_t len)
{
    struct light_arg *a = arg;
    (void)msg_index;
    cap_role_text(a->f, a->d, role, text, len);
}

/* A streamed delta: the answer's text as it goes, without role lines. */
static void
cap_delta(void *arg, enum gw_role role, int msg_index, const char *text, size_t len)
{
    struct light_arg *a = arg;
    (void)role;
    (void)msg_index;
    cap_add(a->f, a->d, text, len);
}

/* Whether side d is captured before the filters (full, hash) or after them (redacted). */
static int
cap_before(const struct gw_filtering *f)
{
    return f->capture == GW_CAPTURE_FULL || f->capture == GW_CAPTURE_HASH;
}

static void
cap_init(struct gw_filtering *f)
{
    f->capture = GW_CAPTURE_NONE;
    if (f->scan || !gw_audit_wants(GW_AUDIT_K_REQUEST, 4))
        return;
    f->capture = f->tx->route->capture;
    for (int d = 0; d < 2; d++) {
        f->cap[d].hashing = f->capture == GW_CAPTURE_HASH;
        if (f->cap[d].hashing) {
            f->cap[d].sha = EVP_MD_CTX_new();
            if (f->cap[d].sha && !EVP_DigestInit_ex(f->cap[d].sha, EVP_sha256(), NULL)) {
                EVP_MD_CTX_free(f->cap[d].sha);
                f->cap[d].sha = NULL;
            }
        }
    }
}

/* Cuts a captured text back to a whole UTF-8 code point. */
static size_t
utf8_cut(const char *p, size_t len)
{
    size_t n = len, back = 0;
    while (n > 0 && back < 4 && ((unsigned char)p[n - 1] & 0xC0) == 0x80) {
        n--;
        back++;
    }
    if (n > 0) {
        unsigned char lead = (unsigned char)p[n - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (need == back + 1)
            return len;
        if (need > 1)
            return n - 1;
    }
    return len;
}

static void
cap_out(struct gw_filtering *f, enum gw_direction d, struct gw_audit_text *t)
{
    struct capbuf *c = &f->cap[d];
    memset(t, 0, sizeof(*t));
    t->total = c->total;
    if (f->capture == GW_CAPTURE_HASH) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        if (c->hashing && c->sha && EVP_DigestFinal_ex(c->sha, md, &mdlen) && mdlen == 32)
            gw_hex_encode(md, mdlen, c->hex);
        c->hashing = 0;
        t->sha256 = c->hex[0] ? c->hex : NULL;
        return;
    }
    if (c->withheld[0]) {
        t->withheld = c->withheld;
        return;
    }
    t->text = c->buf ? c->buf : "";
    t->len = c->buf ? utf8_cut(c->buf, c->len) : 0;
}

int
gw_filtering_blocked(const struct gw_tx *tx)
{
    return tx->flt && tx->flt->blocked;
}

void
gw_filtering_capture(struct gw_tx *tx, struct gw_audit_req *r)
{
    struct gw_filtering *f = tx->flt;
    if (!f || f->capture == GW_CAPTURE_NONE)
        return;
    r->capture = f->capture;
    if (f->body_parsed || f->req_captured)
        cap_out(f, GW_DIR_REQUEST, &r->prompt);
    if (f->cap[GW_DIR_RESPONSE].total || f->sse || f->resp_seen)
        cap_out(f, GW_DIR_RESPONSE, &r->response);
}

/* Security metrics of the exchange: tokens by team and model, guardrail evaluations and
 * triggers (their ratio is the trigger rate). */
void
gw_tx_security_metrics(struct gw_tx *tx)
{
    struct gw_metrics *m = tx->w->metrics;
    const char *team = tx->key ? tx->key->team->name : "";
    const char *model = tx->model[0] ? tx->model : "";
    if (tx->tokens_in > 0) {
        const char *l[6] = {"team", team, "model", model, "direction", "input"};
        gw_metrics_count_labels(m, "portcullis_tokens_total", l, 3, (uint64_t)tx->tokens_in);
    }
    if (tx->tokens_out > 0) {
        const char *l[6] = {"team", team, "model", model, "direction", "output"};
        gw_metrics_count_labels(m, "portcullis_tokens_total", l, 3, (uint64_t)tx->tokens_out);
    }
    struct gw_filtering *f = tx->flt;
    if (f && f->chain->n) {
        gw_metrics_count(m, "portcullis_guardrail_evaluations_total", NULL, NULL, 1);
        if (f->triggered)
            gw_metrics_count(m, "portcullis_guardrail_triggers_total", NULL, NULL, 1);
    }
}

/* ---- setup ---- */

static struct gw_filtering *
state(struct gw_tx *tx)
{
    if (tx->flt)
        return tx->flt;
    const struct gw_chain *ch = &tx->route->chain;
    struct gw_filtering *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->ctx = calloc(ch->n ? ch->n : 1, sizeof(void *));
    if (!f->ctx) {
        free(f);
        return NULL;
    }
    for (size_t i = 0; i < ch->n; i++) {
        size_t sz = ch->v[i]->ops->ctx_size;
        f->ctx[i] = calloc(1, sz ? sz : 1);
        if (!f->ctx[i]) {
            for (size_t j = 0; j < i; j++)
                free(f->ctx[j]);
            free(f->ctx);
            free(f);
            return NULL;
        }
    }
    f->tx = tx;
    f->chain = ch;
    f->kind = gw_api_kind_for_path(tx->path, strcspn(tx->path, "?"));
    tx->flt = f;
    cap_init(f);
    return f;
}

/* A filter answered v; returns 0 to go on, -1 when the exchange must end (block or error). */
static int
verdict(struct gw_filtering *f, size_t i, enum gw_verdict v)
{
    const struct gw_filter_inst *fi = f->chain->v[i];
    switch (v) {
    case GW_PASS:
    case GW_REDACT:
        return 0;
    case GW_BLOCK:
        if (!f->blocked)
            gw_tx_block(f->tx, 403, "blocked", "Blocked by policy.");
        if (fi->block_status)
            f->status = fi->block_status;
        gw_worker_count(f->tx->w, "portcullis_filter_blocks_total", "filter", fi->name);
        return -1;
    case GW_WAIT: /* only request bodies may wait; anywhere else it is a filter bug */
    case GW_ERROR:
    default:
        gw_worker_count(f->tx->w, "portcullis_filter_errors_total", "filter", fi->name);
        if (fi->on_error_pass) {
            gw_warn("request %s: filter %s failed; on_error: pass lets the exchange go on",
                    f->tx->id, fi->name);
            return 0;
        }
        f->blocked = 0;
        char msg[160];
        snprintf(msg, sizeof(msg), "Filter '%s' failed; the request was stopped (fail closed).",
                 fi->name);
        gw_tx_block(f->tx, 500, "filter_error", msg);
        return -1;
    }
}

/* ---- request ---- */

static void
fail_blocked(struct gw_filtering *f)
{
    gw_tx_fail_code(f->tx, f->status, f->code, f->msg);
}

/* OpenAI chat streams: ask for the usage chunk, and remember to strip it if the client did not. */
static void
want_stream_usage(struct gw_filtering *f)
{
    json_t *root = f->body.root;
    if (f->kind != GW_KIND_OPENAI_CHAT || !json_is_true(json_object_get(root, "stream")))
        return;
    json_t *so = json_object_get(root, "stream_options");
    if (json_is_object(so) && json_is_true(json_object_get(so, "include_usage")))
        return;
    if (!json_is_object(so)) {
        so = json_object();
        if (!so || json_object_set_new(root, "stream_options", so) < 0)
            return;
    }
    if (json_object_set_new(so, "include_usage", json_true()) == 0) {
        f->usage_injected = 1;
        f->body.changed = 1;
    }
}

/* Runs on_req_body from f->pos on. 0: done (send), 1: waiting, -1: answered. */
static int
run_request(struct gw_filtering *f)
{
    struct gw_tx *tx = f->tx;
    for (; f->pos < f->chain->n; f->pos++) {
        const struct gw_filter_inst *fi = f->chain->v[f->pos];
        if (!fi->ops->on_req_body)
            continue;
        f->cur = fi->name;
        enum gw_verdict v = fi->ops->on_req_body(tx, fi->conf, f->ctx[f->pos], &f->body.segs);
        if (v == GW_WAIT) {
            f->waiting = 1;
            return 1;
        }
        if (verdict(f, f->pos, v) < 0) {
            if (f->capture == GW_CAPTURE_REDACTED)
                cap_segments(f, GW_DIR_REQUEST, &f->body.segs);
            if (!f->scan)
                fail_blocked(f);
            return -1;
        }
    }
    if (f->scan)
        return 0;
    if (f->capture == GW_CAPTURE_REDACTED)
        cap_segments(f, GW_DIR_REQUEST, &f->body.segs);
    char *out = NULL;
    size_t outlen = 0;
    int rc = gw_body_serialize(&f->body, &out, &outlen);
    if (rc < 0) {
        gw_tx_fail_code(tx, 500, "filter_error",
                        "A filter's edit could not be written back into the request.");
        return -1;
    }
    if (rc > 0) {
        tx->body_out = evbuffer_new();
        if (!tx->body_out) {
            free(out);
            gw_tx_fail(tx, 500, "out of memory");
            return -1;
        }
        evbuffer_add_reference(tx->body_out, out, outlen, gw_free_cb, NULL);
    }
    return 0;
}

int
gw_filtering_request(struct gw_tx *tx)
{
    const struct gw_chain *ch = &tx->route->chain;
    /* Without filters the chain state still exists when the audit captures text (light mode) */
    if (ch->n == 0 &&
        (tx->route->capture == GW_CAPTURE_NONE || !gw_audit_wants(GW_AUDIT_K_REQUEST, 4)))
        return 0;
    struct gw_filtering *f = state(tx);
    if (!f) {
        gw_tx_fail(tx, 500, "out of memory");
        return -1;
    }
    const struct gw_h1_parser *p = tx->req;
    if (f->kind == GW_KIND_OTHER || p->body_len == 0)
        return 0; /* nothing the chain understands: models listing, files… */
    if (ch->n == 0) {
        /* No filters: the audit's texts come from a scan of the raw bytes, no tree. */
        f->light = 1;
        f->dir = GW_DIR_REQUEST;
        f->usage.in = f->usage.out = -1;
        const char *raw = (const char *)evbuffer_pullup(p->body, -1);
        struct light_arg a = {f, GW_DIR_REQUEST};
        if (raw &&
            gw_textscan_body(raw, p->body_len, f->kind, GW_DIR_REQUEST, cap_text, &a, NULL) == 0)
            f->req_captured = 1;
        else
            f->capture = GW_CAPTURE_NONE; /* not JSON: the provider will say so */
        return 0;
    }
    const char *body = (const char *)evbuffer_pullup(p->body, -1);
    char err[160] = "out of memory";
    f->body_parsed = 1; /* gw_body_free after either result */
    f->dir = GW_DIR_REQUEST;
    if (!body ||
        gw_body_parse(&f->body, f->kind, GW_DIR_REQUEST, body, p->body_len, err, sizeof(err)) < 0) {
        /* Fail closed: what the filters cannot read must not reach the model. */
        char msg[256];
        snprintf(msg, sizeof(msg), "The request body could not be read as JSON: %s", err);
        gw_tx_fail_code(tx, 400, "invalid_request_body", msg);
        return -1;
    }
    if (cap_before(f))
        cap_segments(f, GW_DIR_REQUEST, &f->body.segs);
    want_stream_usage(f);
    if (!ch->req_body && !f->body.changed) {
        if (f->capture == GW_CAPTURE_REDACTED)
            cap_segments(f, GW_DIR_REQUEST, &f->body.segs);
        return 0;
    }
    return run_request(f);
}

void
gw_tx_resume(struct gw_tx *tx, enum gw_verdict v)
{
    struct gw_filtering *f = tx->flt;
    if (!f || !f->waiting)
        return; /* a filter bug: resume without WAIT */
    f->waiting = 0;
    if (verdict(f, f->pos, v) < 0) {
        if (!f->scan)
            fail_blocked(f); /* answers, flushes and ends the exchange: tx is gone */
        return;
    }
    f->pos++;
    int rc = run_request(f);
    if (f->scan || rc < 0)
        return; /* answered (and tx ended) by run_request */
    if (rc == 0)
        gw_upstream_send(tx); /* as gw_tx_dispatch does; tx may be gone afterwards */
}

/* ---- buffered responses ---- */

int
gw_filtering_resp_head(struct gw_tx *tx, int status, int is_json, int is_sse)
{
    struct gw_filtering *f = tx->flt;
    if (!f || status < 200 || status > 299 || f->kind == GW_KIND_OTHER)
        return 0;
    f->dir = GW_DIR_RESPONSE;
    f->resp_seen = 1;
    if (f->light) {
        if (!f->capture)
            return 0;
        f->sse = is_sse;
        return is_json;
    }
    if (is_sse && (f->chain->resp_chunk || f->usage_injected || f->capture)) {
        f->sa = gw_stream_adapter_new(f->kind);
        if (!f->sa)
            return 0;
        f->sse = 1;
        return 0;
    }
    return is_json && (f->chain->resp_body || f->chain->usage || f->capture) ? 1 : 0;
}

static void
no_text(void *arg, enum gw_role role, int msg_index, const char *text, size_t len)
{
    (void)arg;
    (void)role;
    (void)msg_index;
    (void)text;
    (void)len;
}

/* Prompt-cache counts: the one-pass scanner does not read them, the tree does. */
static int
has_cache_usage(const char *body, size_t len)
{
    return memmem(body, len, "cached_tokens", 13) || memmem(body, len, "cache_read_input", 16) ||
           memmem(body, len, "cache_creation_input", 20);
}

int
gw_filtering_resp_body(struct gw_tx *tx, const char *body, size_t len, char **out, size_t *outlen)
{
    struct gw_filtering *f = tx->flt;
    struct gw_body b;
    char err[160];
    *out = NULL;
    if (f->light) {
        struct light_arg a = {f, GW_DIR_RESPONSE};
        struct gw_textscan_usage u = {-1, -1};
        if (gw_textscan_body(body, len, f->kind, GW_DIR_RESPONSE, cap_text, &a, &u) == 0) {
            tx->tokens_in = u.in;
            tx->tokens_out = u.out;
        }
        return 0; /* the body goes out as it came */
    }
    if (!f->chain->resp_body && f->capture == GW_CAPTURE_NONE && !has_cache_usage(body, len)) {
        /* only the usage is wanted (budgets): one pass over the bytes, no tree */
        struct gw_textscan_usage u = {-1, -1};
        if (gw_textscan_body(body, len, f->kind, GW_DIR_RESPONSE, no_text, NULL, &u) == 0) {
            tx->tokens_in = u.in;
            tx->tokens_out = u.out;
        }
        return 0;
    }
    if (gw_body_parse(&b, f->kind, GW_DIR_RESPONSE, body, len, err, sizeof(err)) < 0) {
        gw_body_free(&b);
        if (!f->chain->resp_body)
            return 0; /* only the audit reads it: send it as it came */
        gw_tx_block(tx, 502, "upstream_error", "The provider's answer could not be read as JSON.");
        return -1;
    }
    int64_t uin, uout;
    if (gw_body_usage(&b, &uin, &uout) == 0) {
        tx->tokens_in = uin;
        tx->tokens_out = uout;
    }
    gw_body_cache_usage(&b, &tx->cache_read, &tx->cache_write);
    if (cap_before(f))
        cap_segments(f, GW_DIR_RESPONSE, &b.segs);
    int rc = 0;
    for (size_t i = 0; i < f->chain->n && rc == 0; i++) {
        const struct gw_filter_inst *fi = f->chain->v[i];
        if (!fi->ops->on_resp_body)
            continue;
        f->cur = fi->name;
        enum gw_verdict v = fi->ops->on_resp_body(tx, fi->conf, f->ctx[i], &b.segs);
        if (verdict(f, i, v) < 0)
            rc = -1;
    }
    if (f->capture == GW_CAPTURE_REDACTED)
        cap_segments(f, GW_DIR_RESPONSE, &b.segs);
    if (rc == 0) {
        int s = gw_body_serialize(&b, out, outlen);
        if (s < 0) {
            gw_tx_block(tx, 500, "filter_error",
                        "A filter's edit could not be written back into the response.");
            rc = -1;
        }
    }
    gw_body_free(&b);
    return rc;
}

/* ---- streamed responses ---- */

static struct flt_stream *
stream_get(struct gw_filtering *f, int id, enum gw_role role, int choice)
{
    for (size_t i = 0; i < f->nstreams; i++)
        if (f->streams[i].id == id)
            return &f->streams[i];
    if (f->nstreams == MAX_STREAMS)
        return NULL;
    struct flt_stream *s = &f->streams[f->nstreams];
    s->held = calloc(f->chain->n ? f->chain->n : 1, sizeof(char *));
    s->hlen = calloc(f->chain->n ? f->chain->n : 1, sizeof(size_t));
    s->off = calloc(f->chain->n ? f->chain->n : 1, sizeof(uint64_t));
    if (!s->held || !s->hlen || !s->off) {
        free(s->held);
        free(s->hlen);
        free(s->off);
        return NULL;
    }
    s->id = id;
    s->open = 1;
    s->role = role;
    s->choice = choice;
    f->nstreams++;
    return s;
}

static int
held_any(const struct gw_filtering *f)
{
    for (size_t i = 0; i < f->nstreams; i++)
        for (size_t k = 0; k < f->chain->n; k++)
            if (f->streams[i].hlen[k])
                return 1;
    return 0;
}

/*
 * Runs text (len bytes, not owned) of stream s through every on_resp_chunk filter. On 0, *out is
 * a malloc'd buffer with what the last filter released (*outlen bytes, possibly 0).
 */
static int
run_chunk(struct gw_filtering *f, struct flt_stream *s, const char *text, size_t len, int final,
          int flush, char **out, size_t *outlen)
{
    size_t cap_hold = f->tx->cfg->limits.stream_hold_bytes;
    char *cur = malloc(len + 1);
    if (!cur)
        return -1;
    memcpy(cur, text, len);
    size_t curlen = len;
    for (size_t i = 0; i < f->chain->n; i++) {
        const struct gw_filter_inst *fi = f->chain->v[i];
        if (!fi->ops->on_resp_chunk)
            continue;
        size_t hl = s->hlen[i];
        char *buf = malloc(hl + curlen + 1);
        if (!buf) {
            free(cur);
            return -1;
        }
        if (hl)
            memcpy(buf, s->held[i], hl);
        memcpy(buf + hl, cur, curlen);
        buf[hl + curlen] = '\0';
        free(cur);
        free(s->held[i]);
        s->held[i] = NULL;
        s->hlen[i] = 0;
        struct gw_chunk ch = {.role = s->role,
                              .stream_id = s->id,
                              .choice = s->choice,
                              .text = buf,
                              .len = hl + curlen,
                              .final = final,
                              .flush = flush,
                              .offset = s->off[i]};
        f->cur = fi->name;
        enum gw_verdict v = fi->ops->on_resp_chunk(f->tx, fi->conf, f->ctx[i], &ch);
        if (verdict(f, i, v) < 0) {
            free(ch.text);
            return -1;
        }
        size_t hold = final || flush ? 0 : ch.hold;
        if (hold > ch.len)
            hold = ch.len;
        if (hold > cap_hold) {
            /* Releasing what a filter holds back could release a secret: past the bound the
             * filter has failed (on_error decides), and with on_error: pass its hold is cut. */
            if (verdict(f, i, GW_ERROR) < 0) {
                free(ch.text);
                return -1;
            }
            hold = gw_utf8_hold(ch.text, ch.len, cap_hold);
        }
        if (hold) {
            s->held[i] = malloc(hold);
            if (!s->held[i]) {
                free(ch.text);
                return -1;
            }
            memcpy(s->held[i], ch.text + ch.len - hold, hold);
            s->hlen[i] = hold;
        }
        cur = ch.text;
        curlen = ch.len - hold;
        s->off[i] += curlen;
    }
    *out = cur;
    *outlen = curlen;
    return 0;
}

/*
 * Makes every filter release what it holds of stream s (final: the stream ends; else a flush,
 * the stream goes on) and writes it out as a synthesised event.
 */
static int
release_stream(struct gw_filtering *f, struct flt_stream *s, int final, struct evbuffer *out)
{
    if (!s->open)
        return 0;
    char *rel = NULL;
    size_t rl = 0;
    if (run_chunk(f, s, "", 0, final, !final, &rel, &rl) < 0)
        return -1;
    if (f->capture == GW_CAPTURE_REDACTED && rl)
        cap_add(f, GW_DIR_RESPONSE, rel, rl);
    int rc = rl ? gw_stream_write_text(f->sa, s->id, rel, rl, out) : 0;
    free(rel);
    if (final)
        s->open = 0;
    return rc < 0 ? -1 : 0;
}

static void arm_hold_timer(struct gw_filtering *f);

static int
one_event(struct gw_filtering *f, const char *raw, size_t len, struct evbuffer *out)
{
    struct gw_sevent ev;
    memset(&ev, 0, sizeof(ev));
    if (gw_stream_parse(f->sa, raw, len, &ev) < 0) {
        if (!f->chain->resp_chunk) { /* only the audit reads it: pass it on as it came */
            gw_sevent_free(&ev);
            return evbuffer_add(out, raw, len);
        }
        gw_tx_block(f->tx, 502, "upstream_error", "The provider's event stream is malformed.");
        return -1;
    }
    int rc = 0;
    struct gw_text *rep = NULL;
    char **bufs = NULL;
    if (ev.kind == GW_SEV_DELTA && ev.ndeltas && f->chain->resp_chunk) {
        rep = calloc(ev.ndeltas, sizeof(*rep));
        bufs = calloc(ev.ndeltas, sizeof(char *));
        if (!rep || !bufs)
            rc = -1;
        for (size_t i = 0; rc == 0 && i < ev.ndeltas; i++) {
            const struct gw_delta *d = &ev.deltas[i];
            struct flt_stream *s = stream_get(f, d->stream_id, d->role, d->choice);
            if (!s) {
                rc = -1;
                break;
            }
            s->open = 1;
            size_t rl = 0;
            if (run_chunk(f, s, d->text, d->len, 0, 0, &bufs[i], &rl) < 0) {
                rc = -1;
                break;
            }
            rep[i].text = bufs[i];
            rep[i].len = rl;
        }
    }
    if (f->capture && ev.kind == GW_SEV_DELTA) {
        for (size_t i = 0; rc == 0 && i < ev.ndeltas; i++) {
            if (rep && f->capture == GW_CAPTURE_REDACTED)
                cap_add(f, GW_DIR_RESPONSE, rep[i].text, rep[i].len);
            else
                cap_add(f, GW_DIR_RESPONSE, ev.deltas[i].text, ev.deltas[i].len);
        }
    }
    /* Streams this event ends are flushed first, so their last text precedes it. */
    if (rc == 0 && f->chain->resp_chunk) {
        if (ev.kind == GW_SEV_TERMINAL) {
            for (size_t i = 0; rc == 0 && i < f->nstreams; i++)
                rc = release_stream(f, &f->streams[i], 1, out);
        } else {
            for (size_t k = 0; rc == 0 && k < ev.nended; k++)
                for (size_t i = 0; rc == 0 && i < f->nstreams; i++)
                    if (f->streams[i].id == ev.ended[k])
                        rc = release_stream(f, &f->streams[i], 1, out);
        }
    }
    if (rc == 0 && !(ev.kind == GW_SEV_USAGE_ONLY && f->usage_injected))
        rc = gw_stream_write(f->sa, &ev, rep, out) < 0 ? -1 : 0;
    if (rep)
        for (size_t i = 0; i < ev.ndeltas; i++)
            free(bufs[i]);
    free(bufs);
    free(rep);
    gw_sevent_free(&ev);
    if (rc < 0 && !f->blocked)
        gw_tx_block(f->tx, 500, "filter_error", "The response stream could not be filtered.");
    return rc;
}

/* Light mode: each event goes out as it came; its deltas and usage are read for the audit. */
static int
light_events(struct gw_filtering *f, const char *data, size_t len, struct evbuffer *out)
{
    size_t start = 0;
    struct light_arg a = {f, GW_DIR_RESPONSE};
    while (start < len) {
        size_t n = gw_sse_event_len(data + start, len - start);
        if (n == 0)
            n = len - start;
        struct gw_sse_fields fl;
        if (gw_sse_fields_parse(data + start, n, &fl) == 0 && fl.has_data)
            (void)gw_textscan_event(fl.data, fl.data_len, f->kind, cap_delta, &a, &f->usage);
        gw_sse_fields_free(&fl);
        start += n;
    }
    return evbuffer_add(out, data, len);
}

int
gw_filtering_sse(struct gw_tx *tx, const char *data, size_t len, struct evbuffer *out)
{
    struct gw_filtering *f = tx->flt;
    size_t start = 0;
    if (f->light)
        return light_events(f, data, len, out);
    /* data holds complete events only; cut them one by one */
    while (start < len) {
        size_t n = gw_sse_event_len(data + start, len - start);
        if (n == 0)
            n = len - start; /* a last event without its blank line (end of the body) */
        if (one_event(f, data + start, n, out) < 0)
            return -1;
        start += n;
    }
    if (f->chain->resp_chunk)
        arm_hold_timer(f);
    return 0;
}

int
gw_filtering_sse_end(struct gw_tx *tx, struct evbuffer *out)
{
    struct gw_filtering *f = tx->flt;
    if (!f || !f->sse)
        return 0;
    if (f->light) {
        tx->tokens_in = f->usage.in;
        tx->tokens_out = f->usage.out;
        return 0;
    }
    int64_t uin, uout;
    if (gw_stream_usage(f->sa, &uin, &uout) == 0) {
        tx->tokens_in = uin;
        tx->tokens_out = uout;
    }
    gw_stream_cache_usage(f->sa, &tx->cache_read, &tx->cache_write);
    for (size_t i = 0; i < f->nstreams; i++)
        if (release_stream(f, &f->streams[i], 1, out) < 0)
            return -1;
    return 0;
}

/* The upstream paused for timeouts.stream_hold while filters hold text: release it (flush), so a
 * stalled upstream does not hide text from the user; the stream goes on afterwards. */
static void
on_hold_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gw_filtering *f = arg;
    struct gw_tx *tx = f->tx;
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < f->nstreams; i++)
        rc = release_stream(f, &f->streams[i], 0, b);
    if (rc < 0) {
        evbuffer_free(b);
        gw_filtering_fail(tx); /* the filter's block, or the chain's failure */
        return;
    }
    gw_tx_emit_raw(tx, b);
    evbuffer_free(b);
}

static void
arm_hold_timer(struct gw_filtering *f)
{
    if (!held_any(f)) {
        if (f->hold_timer)
            evtimer_del(f->hold_timer);
        return;
    }
    /* (Re)armed on every event: the deadline counts from the last upstream activity, so a
     * flowing stream is never forced to release a tail a filter still holds. */
    if (!f->hold_timer)
        f->hold_timer = evtimer_new(f->tx->w->base, on_hold_timeout, f);
    if (!f->hold_timer)
        return;
    uint32_t ms = f->tx->cfg->timeouts.stream_hold;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(f->hold_timer, &tv);
}

int
gw_filtering_is_sse(const struct gw_tx *tx)
{
    return tx->flt && tx->flt->sse;
}

void
gw_filtering_fail(struct gw_tx *tx)
{
    struct gw_filtering *f = tx->flt;
    if (f && f->blocked)
        fail_blocked(f);
    else
        gw_tx_fail(tx, 500, "The filter chain failed.");
}

/* ---- portcullis scan ---- */

int
gw_filtering_scan(struct gw_tx *tx, struct gw_segments *segs, struct gw_scan_result *res)
{
    memset(res, 0, sizeof(*res));
    struct gw_filtering *f = state(tx);
    if (!f)
        return -1;
    f->scan = 1;
    const struct gw_chain *ch = f->chain;
    if (segs->dir == GW_DIR_REQUEST) {
        f->body.segs = *segs; /* borrowed for the run; handed back below */
        f->pos = 0;
        int rc = run_request(f);
        while (rc == 0 && f->waiting)
            rc = event_base_loop(tx->w->base, EVLOOP_ONCE) < 0 ? -1 : 0;
        *segs = f->body.segs;
        memset(&f->body.segs, 0, sizeof(f->body.segs));
    } else {
        for (size_t i = 0; i < ch->n; i++) {
            const struct gw_filter_inst *fi = ch->v[i];
            if (!fi->ops->on_resp_body)
                continue;
            f->cur = fi->name;
            if (verdict(f, i, fi->ops->on_resp_body(tx, fi->conf, f->ctx[i], segs)) < 0)
                break;
        }
    }
    res->blocked = f->blocked;
    res->status = f->status;
    snprintf(res->code, sizeof(res->code), "%s", f->code);
    snprintf(res->message, sizeof(res->message), "%s", f->msg);
    res->events = f->events;
    res->nevents = f->nevents;
    f->events = NULL;
    f->nevents = f->capevents = 0;
    return 0;
}

/* Frees collected events and the strings gw_emit copied into them. */
static void
free_events(struct gw_scan_event *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)v[i].ev.filter);
        free((char *)v[i].ev.rule_id);
        free((char *)v[i].ev.category);
        free((char *)v[i].ev.action);
        free((char *)v[i].ev.encoding);
    }
    free(v);
}

void
gw_scan_result_free(struct gw_scan_result *res)
{
    free_events(res->events, res->nevents);
    memset(res, 0, sizeof(*res));
}

/* ---- end ---- */

void
gw_filtering_end(struct gw_tx *tx)
{
    struct gw_filtering *f = tx->flt;
    if (!f)
        return;
    for (size_t i = 0; i < f->chain->n; i++) {
        const struct gw_filter_inst *fi = f->chain->v[i];
        if (fi->ops->on_tx_end)
            fi->ops->on_tx_end(tx, fi->conf, f->ctx[i]);
        free(f->ctx[i]);
    }
    free(f->ctx);
    if (f->hold_timer)
        event_free(f->hold_timer);
    for (size_t i = 0; i < f->nstreams; i++) {
        for (size_t k = 0; k < f->chain->n; k++)
            free(f->streams[i].held[k]);
        free(f->streams[i].held);
        free(f->streams[i].hlen);
        free(f->streams[i].off);
    }
    if (f->sa)
        gw_stream_adapter_free(f->sa);
    if (f->body_parsed)
        gw_body_free(&f->body);
    free_events(f->events, f->nevents);
    for (int d = 0; d < 2; d++) {
        free(f->cap[d].buf);
        EVP_MD_CTX_free(f->cap[d].sha);
    }
    while (f->allocs) {
        struct alloc_node *a = f->allocs;
        f->allocs = a->next;
        free(a);
    }
    free(f);
    tx->flt = NULL;
}
