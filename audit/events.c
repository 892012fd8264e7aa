/*
 * Builders of every audit record kind (see audit.h). Field names follow the Elastic Common
 * Schema where it has one (event.*, http.*, url.path, client.ip, user.name, rule.*, gen_ai.*,
 * error.message, process.pid, service.version); what ECS lacks lives under "portcullis".
 * README.md's "Audit" section documents every field.
 */
#include "audit/audit.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "audit/record.h"
#include "gateway/version.h"

static char hostname[256];
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

static void
init_host(void)
{
    if (gethostname(hostname, sizeof(hostname) - 1) < 0)
        snprintf(hostname, sizeof(hostname), "localhost");
}

/* A random 128-bit event id, hex; per-thread generator seeded from the kernel. */
static void
event_id(char out[33])
{
    static __thread uint64_t s[2];
    if (!s[0] && !s[1]) {
        if (getrandom(s, sizeof(s), 0) != sizeof(s) || (!s[0] && !s[1])) {
            s[0] = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull;
            s[1] = (uint64_t)(uintptr_t)&s ^ 0xD1B54A32D192ED03ull;
        }
    }
    uint64_t v[2];
    for (int i = 0; i < 2; i++) { /* xorshift128+ */
        uint64_t x = s[0], y = s[1];
        s[0] = y;
        x ^= x << 23;
        s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
        v[i] = s[1] + y;
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++)
        out[i] = hex[(v[i / 16] >> (60 - 4 * (i % 16))) & 15];
    out[32] = '\0';
}

static int
set(const char *s)
{
    return s && *s;
}

static void
opt_str(struct gw_jw *w, const char *key, const char *s)
{
    if (set(s))
        gw_jw_str(w, key, s);
}

/* event.* after severity (the record prefix), then the fixed top-level fields. */
static void
start(struct gw_jw *w, int severity, const char *kind, const char *category, const char *type,
      const char *action, const char *outcome)
{
    char id[33];
    pthread_once(&host_once, init_host);
    event_id(id);
    gw_jw_record_start(w, GW_AUDIT_HEAD, severity);
    gw_jw_str(w, "kind", kind);
    gw_jw_str_array1(w, "category", category);
    gw_jw_str_array1(w, "type", type);
    gw_jw_str(w, "action", action);
    gw_jw_str(w, "outcome", outcome);
    gw_jw_str(w, "module", "portcullis");
    gw_jw_str(w, "id", id);
}

/* Closes "event" and writes the fields every record has. */
static void
common(struct gw_jw *w)
{
    gw_jw_end(w); /* event */
    gw_jw_str(w, "source_type", "llm_application");
    gw_jw_obj(w, "observer");
    gw_jw_str(w, "product", "portcullis");
    gw_jw_str(w, "version", GW_VERSION);
    gw_jw_str(w, "hostname", hostname);
    gw_jw_end(w);
}

/* The exchange's identity; leaves the "portcullis" object open for the caller's fields. */
static void
who_fields(struct gw_jw *w, const struct gw_audit_who *who, int status, int64_t tin, int64_t tout)
{
    if (set(who->request_id) || set(who->method) || status) {
        gw_jw_obj(w, "http");
        if (set(who->request_id) || set(who->method)) {
            gw_jw_obj(w, "request");
            opt_str(w, "id", who->request_id);
            opt_str(w, "method", who->method);
            gw_jw_end(w);
        }
        if (status) {
            gw_jw_obj(w, "response");
            gw_jw_int(w, "status_code", status);
            gw_jw_end(w);
        }
        gw_jw_end(w);
    }
    if (set(who->path)) {
        size_t pl = strcspn(who->path, "?#");
        gw_jw_obj(w, "url");
        gw_jw_strn(w, "path", who->path, pl);
        if (who->path[pl] == '?')
            gw_jw_strn(w, "query", who->path + pl + 1, strcspn(who->path + pl + 1, "#"));
        gw_jw_end(w);
    }
    if (set(who->client_ip)) {
        gw_jw_obj(w, "client");
        gw_jw_str(w, "ip", who->client_ip);
        gw_jw_end(w);
    }
    if (set(who->user)) {
        gw_jw_obj(w, "user");
        gw_jw_str(w, "name", who->user);
        gw_jw_end(w);
    }
    if (set(who->provider) || set(who->model) || tin >= 0 || tout >= 0) {
        gw_jw_obj(w, "gen_ai");
        opt_str(w, "system", who->provider);
        if (set(who->model)) {
            gw_jw_obj(w, "request");
            gw_jw_str(w, "model", who->model);
            gw_jw_end(w);
        }
        if (tin >= 0 || tout >= 0) {
            gw_jw_obj(w, "usage");
            if (tin >= 0)
                gw_jw_int(w, "input_tokens", tin);
            if (tout >= 0)
                gw_jw_int(w, "output_tokens", tout);
            gw_jw_end(w);
        }
        gw_jw_end(w);
    }
    gw_jw_obj(w, "portcullis");
    opt_str(w, "team", who->team);
    opt_str(w, "key_id", who->key_id);
    opt_str(w, "route", who->route);
    opt_str(w, "session_id", who->session);
}

/* "name" + suffix into k (names are ours and short). */
static const char *
field(char *k, size_t cap, const char *name, const char *suffix)
{
    size_t a = strlen(name), b = strlen(suffix);
    if (a + b + 1 > cap)
        return name;
    memcpy(k, name, a);
    memcpy(k + a, suffix, b + 1);
    return k;
}

static void
text_fields(struct gw_jw *w, const char *name, const struct gw_audit_text *t)
{
    char k[48];
    if (t->withheld) {
        gw_jw_str(w, field(k, sizeof(k), name, "_withheld"), t->withheld);
    } else if (t->text) {
        gw_jw_strn(w, name, t->text, t->len);
        gw_jw_bool(w, field(k, sizeof(k), name, "_truncated"), t->total > t->len);
    }
    if (t->sha256)
        gw_jw_str(w, field(k, sizeof(k), name, "_sha256"), t->sha256);
    if (t->text || t->sha256 || t->withheld)
        gw_jw_int(w, field(k, sizeof(k), name, "_bytes"), (int64_t)t->total);
}

static const char *const capture_names[] = {"none", "hash", "redacted", "full"};

void
gw_audit_request(const struct gw_audit_who *who, const struct gw_audit_req *r)
{
    int sev = r->blocked ? 2 : 0;
    if (!gw_audit_wants(GW_AUDIT_K_REQUEST, sev))
        return;
    struct gw_jw w;
    int ok = r->status >= 200 && r->status < 400;
    start(&w, sev, "event", "web", r->blocked ? "denied" : "access", "request",
          ok ? "success" : "failure");
    if (r->duration_ms >= 0)
        gw_jw_int(&w, "duration", (int64_t)(r->duration_ms * 1e6));
    common(&w);
    if (set(r->error)) {
        gw_jw_obj(&w, "error");
        gw_jw_str(&w, "message", r->error);
        gw_jw_end(&w);
    }
    who_fields(&w, who, r->status, r->tokens_in, r->tokens_out);
    if (r->upstream_status)
        gw_jw_int(&w, "upstream_status", r->upstream_status);
    gw_jw_bool(&w, "stream", r->stream);
    gw_jw_bool(&w, "blocked", r->blocked);
    if (r->duration_ms >= 0)
        gw_jw_ms(&w, "latency_ms", r->duration_ms);
    if (r->ttfb_ms >= 0)
        gw_jw_ms(&w, "ttfb_ms", r->ttfb_ms);
    gw_jw_int(&w, "bytes_in", (int64_t)r->bytes_in);
    gw_jw_int(&w, "bytes_out", (int64_t)r->bytes_out);
    if (r->cost >= 0)
        gw_jw_num(&w, "cost_usd", r->cost);
    opt_str(&w, "rules", r->rules);
    if (r->capture > 0 && r->capture < 4) {
        gw_jw_obj(&w, "capture");
        gw_jw_str(&w, "mode", capture_names[r->capture]);
        text_fields(&w, "prompt", &r->prompt);
        text_fields(&w, "response", &r->response);
        gw_jw_end(&w);
    }
    gw_jw_end(&w); /* portcullis */
    gw_audit_submit(&w, GW_AUDIT_K_REQUEST, sev);
}

int
gw_audit_filter_severity(const struct gw_event *ev)
{
    if (ev->severity >= 1 && ev->severity <= 4)
        return ev->severity;
    return ev->action && strcmp(ev->action, "block") == 0 ? 3 : 1;
}

void
gw_audit_filter(const struct gw_audit_who *who, const struct gw_event *ev, enum gw_direction dir)
{
    int sev = gw_audit_filter_severity(ev);
    if (!gw_audit_wants(GW_AUDIT_K_FILTER, sev))
        return;
    const char *action = set(ev->action) ? ev->action : "event";
    const char *type = strcmp(action, "block") == 0    ? "denied"
                       : strcmp(action, "redact") == 0 ? "change"
                                                       : "info";
    struct gw_jw w;
    start(&w, sev, "alert", "intrusion_detection", type, action, "success");
    if (ev->score > 0)
        gw_jw_num(&w, "risk_score", ev->score);
    common(&w);
    if (set(ev->rule_id) || set(ev->category)) {
        gw_jw_obj(&w, "rule");
        opt_str(&w, "id", ev->rule_id);
        opt_str(&w, "category", ev->category);
        opt_str(&w, "ruleset", ev->filter);
        gw_jw_end(&w);
    }
    who_fields(&w, who, 0, -1, -1);
    opt_str(&w, "filter", ev->filter);
    if (ev->has_parts) {
        gw_jw_obj(&w, "scores");
        gw_jw_num(&w, "combined", ev->score);
        gw_jw_num(&w, "rules", ev->rule_score);
        gw_jw_num(&w, "classifier", ev->model_score);
        gw_jw_end(&w);
    }
    gw_jw_str(&w, "direction", dir == GW_DIR_REQUEST ? "request" : "response");
    gw_jw_obj(&w, "segment");
    gw_jw_str(&w, "role", gw_role_name(ev->role));
    if (ev->msg_index >= 0)
        gw_jw_int(&w, "index", ev->msg_index);
    gw_jw_int(&w, "offset", (int64_t)ev->offset);
    gw_jw_int(&w, "length", (int64_t)ev->length);
    opt_str(&w, "encoding", ev->encoding);
    if (ev->pasted)
        gw_jw_bool(&w, "pasted", 1);
    if (ev->subject)
        gw_jw_bool(&w, "secret_named", 1);
    gw_jw_end(&w);
    gw_jw_end(&w); /* portcullis */
    gw_audit_submit(&w, GW_AUDIT_K_FILTER, sev);
}

/* A request the gateway refused before the provider saw it (medium severity). */
static void
refusal(const struct gw_audit_who *who, unsigned kind, const char *category, const char *type,
        const char *action, const char *reason, int status)
{
    if (!gw_audit_wants(kind, 2))
        return;
    struct gw_jw w;
    start(&w, 2, "event", category, type, action, "failure");
    opt_str(&w, "reason", reason);
    common(&w);
    who_fields(&w, who, status, -1, -1);
    gw_jw_end(&w);
    gw_audit_submit(&w, kind, 2);
}

void
gw_audit_auth_failure(const struct gw_audit_who *who, const char *reason, int status)
{
    refusal(who, GW_AUDIT_K_AUTH, "authentication", "start", "auth_failure", reason, status);
}

void
gw_audit_policy(const struct gw_audit_who *who, const char *action, const char *reason, int status)
{
    refusal(who, GW_AUDIT_K_POLICY, "web", "denied", action, reason, status);
}

void
gw_audit_config(const char *action, const struct gw_config *cfg, const char *path,
                unsigned generation, const char *error)
{
    int sev = error ? 3 : 0;
    if (!gw_audit_wants(GW_AUDIT_K_CONFIG, sev))
        return;
    struct gw_jw w;
    start(&w, sev, "event", "configuration", "change", action, error ? "failure" : "success");
    common(&w);
    gw_jw_obj(&w, "portcullis");
    gw_jw_obj(&w, "config");
    opt_str(&w, "path", path);
    if (cfg)
        gw_jw_str(&w, "sha256", cfg->sha256);
    gw_jw_int(&w, "generation", generation);
    gw_jw_end(&w);
    gw_jw_end(&w);
    if (error) {
        gw_jw_obj(&w, "error");
        gw_jw_str(&w, "message", error);
        gw_jw_end(&w);
    }
    gw_audit_submit(&w, GW_AUDIT_K_CONFIG, sev);
}

void
gw_audit_lifecycle(const char *action, const char *detail)
{
    if (!gw_audit_wants(GW_AUDIT_K_LIFECYCLE, 0))
        return;
    struct gw_jw w;
    int is_start = strcmp(action, "start") == 0;
    start(&w, 0, "event", "process", is_start ? "start" : "end", action, "success");
    opt_str(&w, "reason", detail);
    common(&w);
    gw_jw_obj(&w, "process");
    gw_jw_int(&w, "pid", getpid());
    gw_jw_end(&w);
    gw_jw_obj(&w, "service");
    gw_jw_str(&w, "name", "portcullis");
    gw_jw_str(&w, "version", GW_VERSION);
    gw_jw_end(&w);
    gw_audit_submit(&w, GW_AUDIT_K_LIFECYCLE, 0);
}
