/*
 * `portcullis scan -c FILE [--route PREFIX]`: runs a route's filters over JSON lines from stdin
 * and prints one JSON verdict per input line, through the same chain code as the proxy. An input
 * line is either {"role": "...", "text": "..."} (one segment; `assistant` is model output and goes
 * through the response-side filters, every other role through the request side), a whole
 * request body of the route's API, or {"request": BODY, "answer": "..."}: the body, then -- when
 * it passed -- the answer through the response side of the same exchange, so that what the
 * request set up for the answer (the secrets a system prompt declares, `guard.protect`) applies.
 * This is how rule packs are tested and logged exchanges replayed.
 */
#include "gateway/scan_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "config/cfg.h"
#include "filters/filter.h"
#include "gateway/filtering.h"
#include "gateway/tx.h"
#include "gateway/worker.h"
#include "providers/reqinfo.h"
#include "providers/segments.h"

static const char *
action_of(const struct gw_scan_result *r)
{
    if (r->blocked)
        return "block";
    int redact = 0;
    for (size_t i = 0; i < r->nevents; i++)
        if (r->events[i].ev.action && strcmp(r->events[i].ev.action, "redact") == 0)
            redact = 1;
    if (redact)
        return "redact";
    return r->nevents ? "event" : "pass";
}

static json_t *
verdict_json(const struct gw_scan_result *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "action", json_string(action_of(r)));
    if (r->blocked) {
        json_object_set_new(o, "status", json_integer(r->status));
        json_object_set_new(o, "code", json_string(r->code));
        json_object_set_new(o, "message", json_string(r->message));
    }
    json_t *rules = json_array();
    for (size_t i = 0; i < r->nevents; i++) {
        const struct gw_event *e = &r->events[i].ev;
        json_t *x = json_object();
        json_object_set_new(x, "filter", json_string(e->filter ? e->filter : ""));
        json_object_set_new(x, "rule_id", json_string(e->rule_id ? e->rule_id : ""));
        json_object_set_new(x, "category", json_string(e->category ? e->category : ""));
        json_object_set_new(x, "action", json_string(e->action ? e->action : "event"));
        json_object_set_new(x, "severity", json_integer(e->severity));
        json_object_set_new(x, "score", json_real(e->score));
        if (e->has_parts) {
            json_object_set_new(x, "rule_score", json_real(e->rule_score));
            json_object_set_new(x, "classifier", json_real(e->model_score));
        }
        json_object_set_new(x, "role", json_string(gw_role_name(e->role)));
        json_object_set_new(x, "msg_index", json_integer(e->msg_index));
        json_object_set_new(x, "offset", json_integer((json_int_t)e->offset));
        json_object_set_new(x, "length", json_integer((json_int_t)e->length));
        if (e->encoding)
            json_object_set_new(x, "encoding", json_string(e->encoding));
        if (e->pasted)
            json_object_set_new(x, "pasted", json_true());
        if (e->subject)
            json_object_set_new(x, "secret_named", json_true());
        json_array_append_new(rules, x);
    }
    json_object_set_new(o, "rules", rules);
    return o;
}

static void
print_line(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(o);
}

static void
print_error(size_t lineno, const char *why)
{
    json_t *o = json_object();
    char msg[512];
    snprintf(msg, sizeof(msg), "line %zu: %s", lineno, why);
    json_object_set_new(o, "error", json_string(msg));
    print_line(o);
}

static enum gw_api_kind
kind_of(const struct gw_route_cfg *r, json_t *body)
{
    if (r->provider->api == GW_API_ANTHROPIC)
        return GW_KIND_ANTHROPIC_MESSAGES;
    if (json_object_get(body, "input") || json_object_get(body, "instructions"))
        return GW_KIND_OPENAI_RESPONSES;
    return GW_KIND_OPENAI_CHAT;
}

/* The answer of an exchange whose request passed, through the response-side filters of the same
 * transaction, as verdict *out's "answer". 0, or -1 when out of memory. */
static int
scan_answer(struct gw_tx *tx, json_t *answer, json_t *out)
{
    struct gw_segment seg = {.role = GW_ROLE_ASSISTANT, .msg_index = 0};
    seg.len = json_string_length(answer);
    if (!(seg.text = malloc(seg.len + 1)))
        return -1;
    memcpy(seg.text, json_string_value(answer), seg.len + 1);
    struct gw_segments segs = {.dir = GW_DIR_RESPONSE, .v = &seg, .n = 1, .cap = 1};
    struct gw_scan_result res;
    int rc = gw_filtering_scan(tx, &segs, &res);
    if (rc == 0) {
        json_t *a = verdict_json(&res);
        json_object_set_new(a, "text", json_stringn(seg.text, seg.len));
        json_object_set_new(out, "answer", a);
        gw_scan_result_free(&res);
    }
    free(seg.text);
    return rc;
}

/* One input line. 0, or -1 when it could not be scanned (an error line was printed). */
static int
scan_line(struct gw_worker *w, struct gw_config *cfg, const struct gw_route_cfg *route,
          const char *line, size_t len, size_t lineno)
{
    json_error_t jerr;
    json_t *in = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
    if (!json_is_object(in)) {
        char why[300];
        snprintf(why, sizeof(why), "not a JSON object: %s", in ? "wrong type" : jerr.text);
        json_decref(in);
        print_error(lineno, why);
        return -1;
    }
    json_t *top = in; /* in: the request body, inside top for an exchange */
    struct gw_tx *tx = calloc(1, sizeof(*tx));
    if (!tx) {
        json_decref(top);
        return -1;
    }
    tx->w = w;
    tx->cfg = cfg;
    tx->route = route;
    tx->prov = route->provider;
    tx->api = route->provider->api;
    tx->path = route->prefix;
    snprintf(tx->id, sizeof(tx->id), "scan-%zu", lineno);

    json_t *role = json_object_get(in, "role"), *text = json_object_get(in, "text");
    json_t *request = json_object_get(in, "request"), *answer = json_object_get(in, "answer");
    struct gw_scan_result res;
    int rc = -1;
    json_t *out = NULL;
    char *body = NULL; /* the request of an exchange, serialised */
    if (request || answer) {
        if (!json_is_object(request) || !json_is_string(answer) || json_object_size(in) != 2) {
            print_error(lineno, "an exchange is {\"request\": BODY, \"answer\": \"...\"}");
            goto done;
        }
        if (!(body = json_dumps(request, JSON_COMPACT)))
            goto done;
        line = body;
        len = strlen(body);
        in = request;
    }
    if (json_is_string(role) && json_is_string(text) && !request) {
        int r = gw_role_from_name(json_string_value(role));
        if (r < 0) {
            print_error(lineno, "unknown role (system, developer, user, assistant, tool_result, "
                                "tool, tool_call_args, tool_definition)");
            goto done;
        }
        struct gw_segments segs = {.dir =
                                       r == GW_ROLE_ASSISTANT ? GW_DIR_RESPONSE : GW_DIR_REQUEST};
        struct gw_segment seg = {.role = (enum gw_role)r, .msg_index = 0};
        seg.len = json_string_length(text);
        seg.text = malloc(seg.len + 1);
        if (!seg.text)
            goto done;
        memcpy(seg.text, json_string_value(text), seg.len + 1);
        segs.v = &seg;
        segs.n = segs.cap = 1;
        if (gw_filtering_scan(tx, &segs, &res) == 0) {
            out = verdict_json(&res);
            json_object_set_new(out, "text", json_stringn(segs.v[0].text, segs.v[0].len));
            gw_scan_result_free(&res);
            rc = 0;
        }
        free(segs.v[0].text);
    } else {
        struct gw_reqinfo ri;
        gw_reqinfo_scan(line, len, &ri);
        if (ri.has_model)
            snprintf(tx->model, sizeof(tx->model), "%s", ri.model);
        struct gw_body b;
        char err[160] = "";
        if (gw_body_parse(&b, kind_of(route, in), GW_DIR_REQUEST, line, len, err, sizeof(err)) <
            0) {
            gw_body_free(&b);
            print_error(lineno, err);
            goto done;
        }
        if (gw_filtering_scan(tx, &b.segs, &res) == 0) {
            out = verdict_json(&res);
            char *edited = NULL;
            size_t elen = 0;
            if (!res.blocked && gw_body_serialize(&b, &edited, &elen) > 0) {
                json_t *eb = json_loadb(edited, elen, JSON_ALLOW_NUL, NULL);
                if (eb)
                    json_object_set_new(out, "body", eb);
                free(edited);
            }
            rc = !res.blocked && answer ? scan_answer(tx, answer, out) : 0;
            gw_scan_result_free(&res);
        }
        gw_body_free(&b);
    }
    if (out)
        print_line(out);
done:
    gw_filtering_end(tx);
    free(tx);
    free(body);
    json_decref(top);
    return rc;
}

int
gw_scan_main(struct gw_config *cfg, const char *route_prefix)
{
    const struct gw_route_cfg *route = NULL;
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const struct gw_route_cfg *r = &cfg->routes[i];
        if (route_prefix ? strcmp(r->prefix, route_prefix) == 0 : (r->models.n == 0))
            route = r; /* without --route: the catch-all (shortest prefix) route */
    }
    if (!route) {
        fprintf(stderr, "portcullis scan: no route %s%s\n", route_prefix ? "with prefix " : "",
                route_prefix ? route_prefix : "to scan with");
        return 2;
    }
    struct gw_worker *w = calloc(1, sizeof(*w));
    if (!w || !(w->base = event_base_new())) {
        free(w);
        return 1;
    }
    w->cfg = cfg;
    int bad = 0;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        if (scan_line(w, cfg, route, line, (size_t)n, lineno) < 0)
            bad = 1;
        fflush(stdout);
    }
    free(line);
    event_base_free(w->base);
    free(w);
    return bad;
}
