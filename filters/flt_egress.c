/*
 * The `egress` filter: URLs that would make an agent, a tool or a renderer send a request
 * somewhere are judged against an allowlist (filters/egress_policy.h) after the canonicalisation
 * browsers and HTTP clients do (filters/url.h).
 *
 *   - type: egress
 *     allow: [api.example.com, "*.corp.example", "https://docs.example.com/public/", 10.2.0.0/16]
 *     schemes: [http, https]   # the default
 *     tool_calls: block        # block | neutralize | redact | event | off
 *     tool_results: event      # block | redact | event | off
 *     tool_definitions: event  # block | event | off
 *     markdown_images: redact  # block | redact | event | off
 *     markdown_links: event    # block | redact | event | off
 *     teams:                   # a team's own allow / schemes, instead of the route's
 *       research: {allow: ["*.arxiv.org"]}
 *
 * Without `allow` entries every public http(s) destination is allowed: what is always denied
 * (unless an entry names it) is internal destinations (loopback, private, link-local, metadata)
 * and schemes outside `schemes`.
 *
 * Where URLs are looked for (filters/urlfind.h finds them; every string of JSON text, nested JSON
 * strings too, or free text):
 *   - tool_calls: the arguments of the tool calls the model makes (responses: JSON answers, and
 *     streams, where the arguments of each call are held back until they are complete and then
 *     judged whole; a stream that pauses longer than timeouts.stream_hold, or arguments beyond
 *     limits.stream_hold_bytes, release what was held, and a call judged denied after that is
 *     answered with block whatever the action, since it can no longer be edited);
 *   - tool_results and tool_definitions: the request's tool results and retrieved documents, and
 *     the tools the application offers (free text, or JSON);
 *   - markdown_images / markdown_links: images, reference definitions and links in the
 *     assistant's text, read by the exfil filter's markdown machine (filters/exfil.h) with this
 *     policy as the judge.
 *
 * Actions: block answers 403 `egress_denied` in the provider's format (a started stream ends
 * with the provider's error event, so the SDKs raise and no tool runs); neutralize replaces the
 * call's arguments with {"portcullis_egress_denied":true}, so the client sees the call but the
 * tool gets no destination; redact replaces each denied URL with [REDACTED:url] (the rest of
 * the text is kept byte for byte, JSON too; a URL in an object key cannot be redacted and
 * blocks);
 * event only reports. Every denial is an audit event: rule egress-<reason> (unparsed, scheme,
 * internal, not_allowed; the first denied URL's), category egress:tool_call / egress:tool_result
 * / egress:tool_definition, score = the number of denied URLs in the text, the first one's
 * offset and length (in the JSON text or, in JSON, the string holding it); never the URL.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/parse.h"
#include "filters/egress_policy.h"
#include "filters/exfil.h"
#include "filters/filter.h"
#include "filters/urlfind.h"
#include "gateway/strbuf.h"

#define NEUTRAL "{\"portcullis_egress_denied\":true}"
#define MARKER "[REDACTED:url]"
#define MAX_SHADOW (4u << 20) /* arguments released by a flush, kept to judge them at the end */

enum eact { EA_OFF = 0, EA_EVENT, EA_REDACT, EA_BLOCK, EA_NEUTRALIZE };
static const char *const act_names[] = {"off", "event", "redact", "block", "neutralize"};

enum where { W_CALL = 0, W_RESULT, W_DEF };
static const struct {
    const char *key, *category, *what;
    unsigned acts; /* allowed actions, 1 << EA_* */
} wheres[] = {
    [W_CALL] = {"tool_calls", "egress:tool_call", "Response blocked: a tool call",
                1u << EA_OFF | 1u << EA_EVENT | 1u << EA_REDACT | 1u << EA_BLOCK |
                    1u << EA_NEUTRALIZE},
    [W_RESULT] = {"tool_results", "egress:tool_result", "Request blocked: a tool result",
                  1u << EA_OFF | 1u << EA_EVENT | 1u << EA_REDACT | 1u << EA_BLOCK},
    [W_DEF] = {"tool_definitions", "egress:tool_definition", "Request blocked: a tool definition",
               1u << EA_OFF | 1u << EA_EVENT | 1u << EA_BLOCK},
};

/* A policy: the route's (team NULL) or a team's, with its markdown judge. */
struct epolicy {
    char *team;
    struct gw_egress_policy *p;
    void *md; /* gw_exfil_md_new configuration, NULL when markdown checks are off */
};

struct econf {
    struct epolicy *v; /* v[0]: the route's */
    size_t n;
    enum eact act[3]; /* per where */
    enum eact images, links;
};

/* Arguments of one streamed tool call that were released before they ended. */
struct estream {
    int id;
    struct gw_strbuf shadow; /* the arguments released so far (MAX_SHADOW at most) */
    int released, over;
};

struct ectx {
    const struct epolicy *pol; /* resolved at first use */
    void *md;                  /* the exfil machine's context, when pol->md */
    struct gw_streams streams; /* struct estream */
};

/* ---- judging ---- */

struct judge {
    const struct gw_egress_policy *p;
    int redact;
    long denied;
    enum gw_egress_why why; /* the first denial's */
    size_t off, len;        /* ... and where it is */
    int internal;           /* some denial was an internal destination */
};

static int
visit(void *ctx, const char *url, size_t len, unsigned flags, size_t offset)
{
    struct judge *j = ctx;
    enum gw_egress_why w =
        gw_egress_check(j->p, url, len, flags & GW_URLFIND_BARE ? GW_EGRESS_BARE : 0);
    if (w == GW_EGRESS_OK)
        return 0;
    if (j->denied++ == 0) {
        j->why = w;
        j->off = offset;
        j->len = len;
    }
    if (w == GW_EGRESS_INTERNAL)
        j->internal = 1;
    return j->redact;
}

/*
 * Judges text t (n bytes) under p. With redact, *out is the text with denied URLs replaced (NULL
 * when none was). Returns the number of denied URLs, -1 (no memory) or -2 (a URL that cannot be
 * redacted: the text is denied as a whole).
 */
static long
judge(const struct gw_egress_policy *p, const char *t, size_t n, int redact, struct judge *j,
      char **out, size_t *outlen)
{
    memset(j, 0, sizeof(*j));
    j->p = p;
    j->redact = redact;
    *out = NULL;
    *outlen = 0;
    long rc = gw_urlfind_json(t, n, visit, j, MARKER, redact ? out : NULL, outlen);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        return rc == -2 && j->denied ? -2 : -1;
    }
    return j->denied;
}

static void
emit(struct gw_tx *tx, enum where w, enum eact a, const struct judge *j, enum gw_role role,
     int msg_index, uint64_t base)
{
    /* indexed by enum gw_egress_why */
    static const char *const rules[] = {"egress-ok", "egress-unparsed", "egress-scheme",
                                        "egress-internal", "egress-not_allowed"};
    static const char *const acts[] = {"event", "event", "redact", "block", "redact"};
    struct gw_event ev = {
        .filter = "egress",
        .rule_id = rules[j->why < 5 ? j->why : 0],
        .category = wheres[w].category,
        .action = acts[a],
        .severity = j->internal   ? 4
                    : w == W_CALL ? 3
                                  : 2,
        .score = (double)j->denied,
        .role = role,
        .msg_index = msg_index,
        .offset = base + j->off,
        .length = j->len,
    };
    gw_emit(tx, &ev);
}

static void
block(struct gw_tx *tx, enum where w, const struct judge *j)
{
    static const char *const why[] = {"", "an address that does not parse cleanly",
                                      "a scheme that is not allowed", "an internal address",
                                      "a destination that is not allowed"};
    char msg[256];
    snprintf(msg, sizeof(msg), "%s holds a URL the egress policy denies (%s).", wheres[w].what,
             why[j->why < 5 ? j->why : 4]);
    gw_tx_block(tx, 403, "egress_denied", msg);
}

/* ---- per exchange ---- */

static const struct epolicy *
policy(struct gw_tx *tx, const struct econf *c, struct ectx *x)
{
    if (x->pol)
        return x->pol;
    x->pol = &c->v[0];
    if (c->n > 1) {
        struct gw_identity id;
        gw_tx_identity(tx, &id);
        for (size_t i = 1; id.team && i < c->n; i++)
            if (strcmp(c->v[i].team, id.team) == 0)
                x->pol = &c->v[i];
    }
    return x->pol;
}

/* The exfil machine's context for the markdown checks, NULL when they are off or no memory
 * (*err set). */
static void *
md_ctx(struct gw_tx *tx, const struct epolicy *pol, struct ectx *x, int *err)
{
    *err = 0;
    if (!pol->md)
        return NULL;
    if (!x->md && !(x->md = gw_tx_alloc(tx, gw_flt_exfil.ctx_size)))
        *err = 1;
    return x->md;
}

/* Combines the verdicts of two parts of one callback. */
static enum gw_verdict
worse(enum gw_verdict a, enum gw_verdict b)
{
    if (a == GW_ERROR || b == GW_ERROR)
        return GW_ERROR;
    return a > b ? a : b;
}

/* Judges one whole text (a segment) of kind w and applies action a. Returns the verdict. */
static enum gw_verdict
whole(struct gw_tx *tx, const struct epolicy *pol, enum where w, enum eact a, struct gw_segment *s)
{
    struct judge j;
    char *out;
    size_t outlen;
    long rc = judge(pol->p, s->text, s->len, a == EA_REDACT, &j, &out, &outlen);
    if (rc == -1)
        return GW_ERROR;
    if (rc == 0)
        return GW_PASS;
    if (rc == -2)
        a = EA_BLOCK; /* cannot be redacted */
    emit(tx, w, a, &j, s->role, s->msg_index, 0);
    switch (a) {
    case EA_BLOCK:
        block(tx, w, &j);
        return GW_BLOCK;
    case EA_NEUTRALIZE:
        return gw_segment_replace(s, 0, s->len, NEUTRAL, sizeof(NEUTRAL) - 1) < 0 ? GW_ERROR
                                                                                  : GW_REDACT;
    case EA_REDACT: {
        int e = out ? gw_segment_replace(s, 0, s->len, out, outlen) : 0;
        free(out);
        return e < 0 ? GW_ERROR : out ? GW_REDACT : GW_PASS;
    }
    default:
        return GW_PASS;
    }
}

static enum gw_verdict
on_req_body(struct gw_tx *tx, void *conf, void *ctx, struct gw_segments *segs)
{
    const struct econf *c = conf;
    const struct epolicy *pol = policy(tx, c, ctx);
    enum gw_verdict v = GW_PASS;
    for (size_t i = 0; i < segs->n && v != GW_BLOCK && v != GW_ERROR; i++) {
        struct gw_segment *s = &segs->v[i];
        enum where w = s->role == GW_ROLE_TOOL_RESULT       ? W_RESULT
                       : s->role == GW_ROLE_TOOL_DEFINITION ? W_DEF
                                                            : W_CALL;
        if (w == W_CALL || c->act[w] == EA_OFF)
            continue;
        v = worse(v, whole(tx, pol, w, c->act[w], s));
    }
    return v;
}

static enum gw_verdict
on_resp_body(struct gw_tx *tx, void *conf, void *ctx, struct gw_segments *segs)
{
    const struct econf *c = conf;
    struct ectx *x = ctx;
    const struct epolicy *pol = policy(tx, c, x);
    enum gw_verdict v = GW_PASS;
    int err;
    void *md = md_ctx(tx, pol, x, &err);
    if (err)
        return GW_ERROR;
    if (md && (v = gw_flt_exfil.on_resp_body(tx, pol->md, md, segs)) == GW_BLOCK)
        return v;
    if (c->act[W_CALL] == EA_OFF)
        return v;
    for (size_t i = 0; i < segs->n && v != GW_BLOCK && v != GW_ERROR; i++)
        if (segs->v[i].role == GW_ROLE_TOOL_CALL_ARGS)
            v = worse(v, whole(tx, pol, W_CALL, c->act[W_CALL], &segs->v[i]));
    return v;
}

/* Keeps a copy of n released bytes of s's arguments (past MAX_SHADOW: over). 0 or -1. */
static int
shadow(struct estream *s, const char *t, size_t n)
{
    if (s->over || n == 0)
        return 0;
    if (s->shadow.len + n > MAX_SHADOW) {
        s->over = 1;
        return 0;
    }
    return gw_strbuf_put(&s->shadow, t, n);
}

/* The final chunk of one tool call's arguments: judged with what was released before. */
static enum gw_verdict
call_end(struct gw_tx *tx, const struct econf *c, const struct epolicy *pol, struct estream *s,
         struct gw_chunk *ch)
{
    enum eact a = c->act[W_CALL];
    struct judge j;
    char *out = NULL;
    size_t outlen = 0;
    long rc;
    /* the final chunk joins the copy first: it may be what makes the copy too long */
    if (s->released && shadow(s, ch->text, ch->len) < 0)
        return GW_ERROR;
    if (s->over) {
        /* too long to keep: judged unreadable */
        memset(&j, 0, sizeof(j));
        j.denied = 1;
        j.why = GW_EGRESS_UNPARSED;
        rc = 1;
    } else {
        const char *t = s->released ? s->shadow.p : ch->text;
        size_t n = s->released ? s->shadow.len : ch->len;
        rc = judge(pol->p, t, n, a == EA_REDACT && !s->released, &j, &out, &outlen);
        if (rc == -1)
            return GW_ERROR;
    }
    if (rc == 0)
        return GW_PASS;
    if (rc == -2 || (s->released && a != EA_EVENT))
        a = EA_BLOCK; /* what was released cannot be edited any more */
    emit(tx, W_CALL, a, &j, ch->role, ch->choice, s->released ? 0 : ch->offset);
    enum gw_verdict v = GW_PASS;
    switch (a) {
    case EA_BLOCK:
        block(tx, W_CALL, &j);
        v = GW_BLOCK;
        break;
    case EA_NEUTRALIZE:
        v = gw_chunk_replace(ch, 0, ch->len, NEUTRAL, sizeof(NEUTRAL) - 1) < 0 ? GW_ERROR
                                                                               : GW_REDACT;
        break;
    case EA_REDACT:
        if (out)
            v = gw_chunk_replace(ch, 0, ch->len, out, outlen) < 0 ? GW_ERROR : GW_REDACT;
        break;
    default:
        break;
    }
    free(out);
    return v;
}

static enum gw_verdict
on_resp_chunk(struct gw_tx *tx, void *conf, void *ctx, struct gw_chunk *ch)
{
    const struct econf *c = conf;
    struct ectx *x = ctx;
    const struct epolicy *pol = policy(tx, c, x);
    if (ch->role == GW_ROLE_ASSISTANT) {
        int err;
        void *md = md_ctx(tx, pol, x, &err);
        if (err)
            return GW_ERROR;
        return md ? gw_flt_exfil.on_resp_chunk(tx, pol->md, md, ch) : GW_PASS;
    }
    if (ch->role != GW_ROLE_TOOL_CALL_ARGS || c->act[W_CALL] == EA_OFF)
        return GW_PASS;
    struct estream *s = gw_streams_get(&x->streams, sizeof(*s), ch->stream_id, NULL);
    if (!s)
        return GW_ERROR;
    if (ch->final)
        return call_end(tx, c, pol, s, ch);
    /* an event needs no hold: the arguments flow and are judged at the end */
    if (c->act[W_CALL] != EA_EVENT && !ch->flush && ch->len <= gw_tx_hold_limit(tx)) {
        ch->hold = ch->len;
        return GW_PASS;
    }
    /* released: an event (judged from the copy at the end), a flush or the hold limit; an empty
     * flush (another stream's timer) releases nothing */
    if (ch->len)
        s->released = 1;
    return shadow(s, ch->text, ch->len) < 0 ? GW_ERROR : GW_PASS;
}

static void
on_tx_end(struct gw_tx *tx, void *conf, void *ctx)
{
    struct ectx *x = ctx;
    if (x->md && x->pol && x->pol->md)
        gw_flt_exfil.on_tx_end(tx, x->pol->md, x->md);
    (void)conf;
    struct estream *v = x->streams.v;
    for (size_t i = 0; i < x->streams.n; i++)
        free(v[i].shadow.p);
    free(v);
    memset(x, 0, sizeof(*x));
}

/* ---- configuration ---- */

static void
conf_free(void *conf)
{
    struct econf *c = conf;
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        gw_exfil_md_free(c->v[i].md);
        gw_egress_policy_free(c->v[i].p);
        free(c->v[i].team);
    }
    free(c->v);
    free(c);
}

/* `allow` and `schemes` of mapping o (node on; where names it in messages) into p. */
static int
get_policy(struct gw_cfg_ctx *cc, const json_t *o, const struct gw_cnode *on, const char *where,
           struct gw_egress_policy *p)
{
    static const char *const keys[] = {"allow", "schemes"};
    for (int k = 0; k < 2; k++) {
        const json_t *a = json_object_get(o, keys[k]), *e;
        const struct gw_cnode *list = gw_cnode_get(on, keys[k]);
        size_t i;
        if (!a)
            continue;
        if (!json_is_array(a))
            return gw_cfg_error(cc, list, "egress: '%s%s' must be a list", where, keys[k]);
        if (k == 1 && json_array_size(a) == 0)
            return gw_cfg_error(cc, list, "egress: '%sschemes' must not be empty", where);
        json_array_foreach(a, i, e)
        {
            char err[160];
            if (!json_is_string(e))
                return gw_cfg_error(cc, gw_cnode_item(list, i),
                                    "egress: %s%s[%zu] must be a string", where, keys[k], i);
            const char *s = json_string_value(e);
            size_t n = json_string_length(e);
            int rc = k == 0 ? gw_egress_policy_allow(p, s, n, err, sizeof(err))
                            : gw_egress_policy_scheme(p, s, n, err, sizeof(err));
            if (rc < 0)
                return gw_cfg_error(cc, gw_cnode_item(list, i), "egress: %s%s[%zu] '%s': %s", where,
                                    keys[k], i, s, err);
        }
    }
    return 0;
}

static int
get_action(struct gw_cfg_ctx *cc, const json_t *in, const char *key, unsigned allowed,
           enum eact *out)
{
    const json_t *v = json_object_get(in, key);
    if (!v)
        return 0;
    const char *s = json_is_string(v) ? json_string_value(v) : json_is_false(v) ? "off" : "";
    for (int a = 0; a <= EA_NEUTRALIZE; a++)
        if ((allowed & 1u << a) && strcmp(s, act_names[a]) == 0) {
            *out = (enum eact)a;
            return 0;
        }
    char list[96] = "";
    for (int a = 0; a <= EA_NEUTRALIZE; a++)
        if (allowed & 1u << a)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", list[0] ? ", " : "",
                     act_names[a]);
    return gw_cfg_error(cc, gw_cfg_node_at(cc, key, NULL), "egress: '%s' must be one of: %s", key,
                        list);
}

static int
add_policy(struct gw_cfg_ctx *cc, struct econf *c, const char *team, const json_t *o,
           const struct gw_cnode *on, const char *where)
{
    struct epolicy *v = realloc(c->v, (c->n + 1) * sizeof(*v));
    if (!v)
        return gw_cfg_error(cc, NULL, "egress: out of memory");
    c->v = v;
    struct epolicy *e = &c->v[c->n++];
    memset(e, 0, sizeof(*e));
    if ((team && !(e->team = strdup(team))) || !(e->p = gw_egress_policy_new()))
        return gw_cfg_error(cc, NULL, "egress: out of memory");
    if (get_policy(cc, o, on, where, e->p) < 0)
        return -1;
    if ((c->images != EA_OFF || c->links != EA_OFF) &&
        !(e->md = gw_exfil_md_new(e->p, (enum gw_md_action)c->images, (enum gw_md_action)c->links)))
        return gw_cfg_error(cc, NULL, "egress: out of memory");
    return 0;
}

static int
conf_new(struct gw_cfg_ctx *cc, const json_t *in, void **out)
{
    static const char *const known[] = {"allow",
                                        "schemes",
                                        "tool_calls",
                                        "tool_results",
                                        "tool_definitions",
                                        "markdown_images",
                                        "markdown_links",
                                        "teams",
                                        NULL};
    const unsigned md_acts = 1u << EA_OFF | 1u << EA_EVENT | 1u << EA_REDACT | 1u << EA_BLOCK;
    *out = NULL;
    if (!json_is_object(in))
        return gw_cfg_error(cc, NULL, "egress: expected a mapping");
    if (gw_cfg_unknown_keys(cc, in, known, NULL, "egress: ") < 0)
        return -1;
    struct econf *c = calloc(1, sizeof(*c));
    if (!c)
        return gw_cfg_error(cc, NULL, "egress: out of memory");
    c->act[W_CALL] = EA_BLOCK;
    c->act[W_RESULT] = c->act[W_DEF] = EA_EVENT;
    c->images = EA_REDACT;
    c->links = EA_EVENT;
    for (int w = 0; w < 3; w++)
        if (get_action(cc, in, wheres[w].key, wheres[w].acts, &c->act[w]) < 0)
            goto fail;
    if (get_action(cc, in, "markdown_images", md_acts, &c->images) < 0 ||
        get_action(cc, in, "markdown_links", md_acts, &c->links) < 0)
        goto fail;
    if (add_policy(cc, c, NULL, in, cc->node, "") < 0)
        goto fail;
    const json_t *teams = json_object_get(in, "teams"), *t;
    const struct gw_cnode *tn = gw_cnode_get(cc->node, "teams");
    const char *name;
    if (teams && !json_is_object(teams)) {
        gw_cfg_error(cc, tn, "egress: 'teams' must map team names to {allow, schemes}");
        goto fail;
    }
    json_object_foreach((json_t *)teams, name, t)
    {
        char where[160];
        const struct gw_cnode *on = gw_cnode_get(tn, name);
        snprintf(where, sizeof(where), "teams.%s.", name);
        if (!json_is_object(t)) {
            gw_cfg_error(cc, on, "egress: 'teams.%s' must be a mapping with allow and schemes",
                         name);
            goto fail;
        }
        void *iter = json_object_iter((json_t *)t);
        for (; iter; iter = json_object_iter_next((json_t *)t, iter)) {
            const char *k = json_object_iter_key(iter);
            if (strcmp(k, "allow") != 0 && strcmp(k, "schemes") != 0) {
                gw_cfg_error(cc, gw_cnode_get(on, k),
                             "egress: unknown key 'teams.%s.%s' (known: allow, schemes)", name, k);
                goto fail;
            }
        }
        if (add_policy(cc, c, name, t, on, where) < 0)
            goto fail;
    }
    *out = c;
    return 0;
fail:
    conf_free(c);
    return -1;
}

static unsigned
hooks(const void *conf)
{
    const struct econf *c = conf;
    unsigned h = 0;
    if (c->act[W_RESULT] != EA_OFF || c->act[W_DEF] != EA_OFF)
        h |= GW_HOOK_REQ_BODY;
    if (c->act[W_CALL] != EA_OFF || c->images != EA_OFF || c->links != EA_OFF)
        h |= GW_HOOK_RESP_BODY | GW_HOOK_RESP_CHUNK;
    return h;
}

static void
describe(const void *conf, char *buf, size_t cap)
{
    const struct econf *c = conf;
    size_t n = gw_egress_policy_count(c->v[0].p);
    char hosts[48];
    if (n)
        snprintf(hosts, sizeof(hosts), "%zu allow entr%s", n, n == 1 ? "y" : "ies");
    else
        snprintf(hosts, sizeof(hosts), "any public host");
    snprintf(buf, cap,
             "%s, %zu team polic%s; tool_calls %s, tool_results %s, tool_definitions %s, "
             "markdown images %s, links %s",
             hosts, c->n - 1, c->n - 1 == 1 ? "y" : "ies", act_names[c->act[W_CALL]],
             act_names[c->act[W_RESULT]], act_names[c->act[W_DEF]], act_names[c->images],
             act_names[c->links]);
}

const struct gw_filter_ops gw_flt_egress = {
    .name = "egress",
    .ctx_size = sizeof(struct ectx),
    .conf_new = conf_new,
    .conf_free = conf_free,
    .on_req_body = on_req_body,
    .on_resp_body = on_resp_body,
    .on_resp_chunk = on_resp_chunk,
    .on_tx_end = on_tx_end,
    .hooks = hooks,
    .describe = describe,
};
