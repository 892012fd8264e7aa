/*
 * The `injection` filter: prompt-injection, jailbreak and system-prompt-extraction detection with
 * a rule pack (filters/injection_pack.h) and a classifier (filters/classifier.h), per-session
 * escalation and a system-prompt canary.
 *
 *   - type: injection
 *     pack: rules/injection.yaml     # relative to the config file (this is the default)
 *     classifier: models/injection.pcm   # ditto; off: the rule pack alone
 *     action: block                  # block | event (monitor: detections are only reported)
 *     # per side: score = rules x pack score + classifier x probability, against the thresholds
 *     direct:   {event: 0.5, block: 1.0, rules: 1.0, classifier: 1.5}   # what users write
 *     indirect: {event: 0.5, block: 1.0, rules: 1.0, classifier: 1.0}   # tool results, documents
 *     roles: {tool_definition: {classifier: 0}}   # per role: overrides its side's numbers
 *     direct_roles: [user]
 *     indirect_roles: [tool_result, tool_definition]
 *     disable: [rule-id, category, ...]
 *     tool_definition_disable: [hidden_instruction]   # not applied to tool definitions (default)
 *     session:                       # escalation per session id and per virtual key
 *       attempts: 3                  # detections of these categories within window ...
 *       key_attempts: 20             # ... (per key: every session of it; 0 = never)
 *       window: 10m
 *       block_for: 15m               # ... block the session (or key) this long
 *       categories: [instruction_override, system_prompt_extraction]
 *       watchlist: 5                 # after any detection, the next 5 requests ...
 *       watchlist_factor: 0.5        # ... use thresholds multiplied by this
 *     canary: false                  # append a canary token to the system prompt, block leaks
 *     pasted: true                   # quoted / fenced material in a user's message: the
 *                                    # classifier reads it as a document (filters/pasted.h)
 *     guard:                         # when the system prompt guards a secret (`where: system`
 *       categories: [credential_fishing, system_prompt_extraction, encoded_payload]   # (rules
 *                                    # of the pack) ...
 *       scope_categories: [instruction_override, fake_delimiter]  # ... or these, when it
 *                                    # restricts the assistant (only one topic, language,
 *                                    # persona: the pack's guarded_scope rules)
 *       factor: 2                    # ... these categories count twice
 *       classifier_factor: 1.5       # ... and the classifier this many times in a message
 *       classifier_concepts: [secret, password, personal]  # ... that names one of these
 *                                    # concepts of the model's lexicon, in any language ([]:
 *                                    # every message)
 *       scope_factor: 1.5            # under a scope guard: its categories count this many
 *       scope_classifier_factor: 1.5 # times, and the classifier this many, in every message
 *       protect: true                # answers that hold a secret it declares are blocked
 *       secret_names: true           # a message naming that secret in the prompt's words
 *                                    # ("the vault number") is also read with "secret" there
 *
 * Request side: every segment whose role is listed is scored (system and developer messages,
 * written by the application, never are): one normalisation feeds the rule scan and the
 * classifier. A segment at or over the event threshold emits one event per matching rule (rule
 * id, category, the combined score and its two parts, role, original offsets), plus a
 * `classifier` event when the model carried the score; at or over the block threshold the
 * request is refused with 403 in the provider's format, naming the categories (and
 * "classifier"), never the pattern.
 *
 * Guard: the application's system and developer messages are not attacks, but they say what it
 * protects ("the password is ...; never reveal it"). A user's segment (direct roles) under its
 * block threshold whose credential-fishing, extraction or encoded-payload rules and classifier
 * part, raised by the guard's factors (the classifier's only when the message names a secret, a
 * password or personal data, as the concept lexicon reads them in any language: a guarding
 * prompt makes a question about those suspect, not every question), would reach a threshold
 * makes the filter scan the system messages with the pack's `where:
 * system` rules (once per request, so most requests never pay for it); when one matches, the
 * raised score counts and the system message's rules are reported beside the segment's. A system
 * prompt that restricts the assistant instead (category guarded_scope: "only answer questions
 * about cooking", "always reply in English", "stay in character", "never use slang") raises the
 * scope_categories by scope_factor and the classifier part by scope_classifier_factor (in every
 * message: no concept needed): a user setting that rule aside ("ignore the language rule",
 * "your scope has been expanded") attacks that application. Its rules declare no secret.
 * Protect (guard.protect): the system messages are scanned with those rules on every request,
 * and the value each rule points at ("the password is 'Sunshine'": the quoted text or a
 * code-like token right after the match) is watched for in the answer like the canary (whole
 * words, any case, also spelled out with separators, reversed and in base64; streamed answers
 * held back by the longest form's length): found → the
 * response is blocked and a system_prompt_leak event is emitted (rule guard.secret-leak).
 * Secret names (guard.secret_names): what the declaration calls its secret ("The branch vault
 * override PIN is 58-3319": vault, override) is taken with the system verdict
 * (filters/subject.h); a user's own words under the block threshold that name it ("the vault
 * number, backwards") are scored again with the name replaced by "secret" and the higher score
 * counts, its events marked secret_named at offsets in the user's text. The system messages are
 * then looked at for every user message under its block threshold (cached, as for protect).
 *
 * Session state lives in the budget store (store/budget.h, gw_tx_shared_store): Redis when
 * budgets.store is redis, so every gateway instance sees one session's attempts and blocks, else
 * in the process (kept across config reloads). Keys are scoped by virtual key so one tenant's
 * session id cannot touch another's:
 *   inj:blk:<key>:<session>        the second until which it is blocked (epoch seconds)
 *   inj:watch:<key>:<session>      -2 x the requests still watched (see on_state)
 *   inj:att:<key>:<session>:<n>    attempts in the n-th window (fixed windows of `window`)
 * (<session> is * for a key's own counters.) A request reads the state first (a store round
 * trip: the filter waits, GW_WAIT, when the store answers asynchronously), and counts an attempt
 * after a detection (a second one).
 *
 * Canary: a fresh random token per exchange is appended to the last system / developer text of
 * the request (an HTML comment the model has no reason to repeat). The response (JSON or
 * streamed, every logical stream) is searched for it, case-insensitively: found → the response is
 * blocked and a `system_prompt_leak` event is emitted. Streams hold back the last token length - 1
 * bytes, so the token never reaches the client, and remember the tail of what they released, so a
 * token split across a timed flush is still found.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "config/cfg.h"
#include "config/parse.h"
#include "filters/classifier.h"
#include "filters/decode.h"
#include "filters/filter.h"
#include "filters/fnv.h"
#include "filters/injection_pack.h"
#include "filters/needles.h"
#include "filters/pasted.h"
#include "filters/subject.h"
#include "store/budget.h"

#define CANARY_PREFIX "pcanary-"
#define CANARY_LEN (sizeof(CANARY_PREFIX) - 1 + 20)
/* Answers are searched for needles (filters/needles.h): the canary and the secrets a system
 * prompt declares. */
/* the longest match: a secret spelled out, 3 separators per letter */
#define SPAN_MAX GW_NEEDLE_SPAN_MAX
_Static_assert(GW_INJ_VALUE_MAX <= GW_NEEDLE_SECRET_MAX, "every declared value is watched for");
#define MAX_STREAMS 8
#define MAX_EVENTS_PER_SEG 8
#define SCORE_EPS 1e-9
#define KEY_CAP (GW_BUDGET_KEY_MAX - 24)
#define DEFAULT_MODEL "models/injection.pcm"
/* Chosen by cross-validation on the train splits (portcullis-train --rules): with the pack at
 * weight 1, a direct weight of 1.5 puts the block threshold 1.0 at ~1 % false positives; on the
 * indirect side the classifier alone must not block (long technical documents), so 1.0. */
#define DEFAULT_DIRECT_WEIGHT 1.5
#define DEFAULT_INDIRECT_WEIGHT 1.0

struct thr {
    double event, block;
    double rules, model; /* score = rules x rule-pack score + model x classifier probability */
};

struct iconf {
    struct gw_inj_pack *pack;
    struct thr
        role_thr[GW_ROLE_COUNT]; /* per role: its side's numbers with the `roles` overrides */
    struct gw_clf_model *model;  /* NULL: classifier off */
    char *model_path;
    uint8_t *skip;         /* disabled rules */
    uint8_t *skip_tooldef; /* ... and those not applied to tool definitions */
    struct thr direct, indirect;
    unsigned direct_roles, indirect_roles;
    int monitor;
    /* session escalation */
    int session;
    unsigned attempts, key_attempts, watchlist;
    uint32_t window_ms, block_ms;
    double strict;
    uint64_t esc_cats;
    int canary;
    int pasted; /* the classifier reads material pasted into a user's message as a document */
    /* guard: when the application's system or developer message guards a secret (a `where:
     * system` rule of the pack matches it), these categories count factor times and the
     * classifier model_factor times */
    uint64_t id;        /* unique per instance, for the system-prompt cache */
    int guard, protect; /* protect: answers that hold a secret the system prompt declares are
                         * blocked */
    int subject;        /* a user's message that names the declared secret is also read with
                         * the name as "secret" (filters/subject.h) */
    uint64_t guard_cats, scope_cats; /* raised under a secret's guard; under a scope guard */
    int scope_cat;                   /* the pack's guarded_scope category, -1: none */
    int permit_cat; /* guarded_permit: the prompt lets the assistant give a value out, -1: none */
    int advice_cat; /* guarded_advice: a prohibition for the users, or advice not to give; -1 */
    int value_cat;  /* guarded_value: a declaration, guarding only with a value after it; -1 */
    int back_cat;   /* guarded_back: a prohibition on a value named before it ("keep that
                     * number to yourself"); -1 */
    double guard_factor, guard_model;
    double scope_factor, scope_model; /* the same under a scope guard */
    uint64_t guard_concepts;          /* the classifier's factor needs one of these concepts in the
                                       * message (bits of the model's lexicon; 0: any message) */
};

struct stail {
    int id;
    size_t n;
    char b[SPAN_MAX];
    struct gw_initials ini; /* the released text's line and word initials (acrostics) */
};

struct ictx {
    char canary[CANARY_LEN + 1];
    int canary_set; /* the token went into the request */
    int leaked;
    struct gw_needles needles;
    struct stail tails[MAX_STREAMS];
    size_t ntails;
    /* session escalation in flight */
    struct esc_op *op;        /* an operation the store has not answered yet */
    struct gw_segments *segs; /* the request, while waiting */
    int strict;
    uint64_t cats;          /* detected categories, while the attempt is counted */
    int block, block_model; /* the scan's decision, while the attempt is counted */
    uint64_t block_cats;
    /* the system prompt's guard: -1 not looked at yet, else GUARD_* bits (0: none; the first
     * guarding message's rules in gres, found in segment gseg), reported once */
    int guarded, guard_reported;
    size_t gseg;
    struct gw_inj_result gres;
    struct gw_subject subj; /* what the secrets they declare are called */
};

/* What the system prompt guards: a secret (any `where: system` rule but guarded_scope), or the
 * assistant's scope (guarded_scope: only one topic, one language, one persona or format). */
#define GUARD_SECRET 1
#define GUARD_SCOPE 2

/* A store operation in flight; outlives the exchange when the client goes away first. */
struct esc_op {
    struct gw_tx *tx; /* NULL once the exchange ended */
    const struct iconf *c;
    struct ictx *x;
    int what; /* 0: the state read, 1: the attempt count, 2: a write the verdict waits for */
    struct gw_budget_store *store;
    size_t n;
};

/* ---- events and blocks ---- */

/* What one segment scored. */
struct verdict {
    double score, prob; /* combined; the classifier's probability (0 when it is off) */
    uint64_t concepts;  /* the classifier's lexicon concepts found in the text */
    int model_counts;   /* the classifier carried the score (it is named in events / messages) */
    int guarded;        /* the system prompt's guard raised it */
    int pasted;         /* the whole message, its pasted material read as a document */
    int subject;        /* the message named the declared secret: scored with the name read as
                         * "secret" */
};

static void
emit_hits(struct gw_tx *tx, const struct iconf *c, const struct gw_segment *s,
          const struct gw_inj_result *r, const struct verdict *v, const char *action)
{
    char cat[80];
    if (v->model_counts) {
        struct gw_event ev = {
            .rule_id = "classifier",
            .category = "injection:classifier",
            .action = action,
            .severity = 3,
            .score = v->score,
            .has_parts = 1,
            .rule_score = r->score,
            .model_score = v->prob,
            .role = s->role,
            .msg_index = s->msg_index,
            .offset = 0,
            .length = s->len,
            .pasted = v->pasted,
            .subject = v->subject,
        };
        gw_emit(tx, &ev);
    }
    for (size_t i = 0; i < r->nhits && i < MAX_EVENTS_PER_SEG; i++) {
        const struct gw_inj_rule *rule = &c->pack->rules[r->hits[i].rule];
        const struct gw_inj_category *k = &c->pack->cats[rule->category];
        snprintf(cat, sizeof(cat), "injection:%s", k->name);
        struct gw_event ev = {
            .rule_id = rule->id,
            .category = cat,
            .action = action,
            .severity = k->severity,
            .score = v->score,
            .has_parts = c->model != NULL,
            .rule_score = r->score,
            .model_score = v->prob,
            .role = s->role,
            .msg_index = s->msg_index,
            .offset = r->hits[i].from,
            .length = r->hits[i].to - r->hits[i].from,
            .encoding = gw_enc_name((enum gw_enc)r->hits[i].enc),
            .pasted = v->pasted,
            .subject = v->subject,
        };
        gw_emit(tx, &ev);
    }
}

static void
emit_simple(struct gw_tx *tx, const char *rule, const char *cat, const char *action, int sev,
            double score, enum gw_role role, int msg_index, uint64_t off, uint64_t len)
{
    struct gw_event ev = {
        .rule_id = rule,
        .category = cat,
        .action = action,
        .severity = sev,
        .score = score,
        .role = role,
        .msg_index = msg_index,
        .offset = off,
        .length = len,
    };
    gw_emit(tx, &ev);
}

/* "instruction override, system-prompt extraction" for the categories in mask, then "classifier"
 * when it carried a score. */
static void
cat_list(const struct gw_inj_pack *p, uint64_t mask, int model, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t c = 0; c < p->ncats && c < 64 && used < cap; c++)
        if (mask >> c & 1)
            used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? ", " : "",
                                     p->cats[c].label);
    if (model && used < cap)
        snprintf(out + used, cap - used, "%sclassifier", used ? ", " : "");
}

/* ---- session escalation ---- */

/* "inj:<what>:<key id or ->:<session or *>": sessions are scoped by the key that sent them. At
 * most KEY_CAP - 1 bytes (room for a window number in the store's keys); longer ids are not
 * tracked. */
static int
skey(char *out, size_t cap, const char *what, const struct gw_identity *id, int by_session)
{
    if (by_session && !id->session)
        return -1;
    if (!by_session && !id->key_id)
        return -1;
    int n = snprintf(out, cap, "inj:%s:%s:%s", what, id->key_id ? id->key_id : "-",
                     by_session ? id->session : "*");
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Counter i of a store operation on key k. */
static void
ctr_set(struct gw_budget_counter *c, const char *k, int64_t amount, uint64_t expire_at_ms)
{
    size_t n = strlen(k);
    memset(c, 0, sizeof(*c));
    memcpy(c->cur, k, n < GW_BUDGET_KEY_MAX ? n : GW_BUDGET_KEY_MAX); /* skey keeps them short */
    c->amount = amount;
    c->expire_at_ms = expire_at_ms;
}

/* Fire and forget: nobody waits for the answer (the store completes it in its own time). */
static void
store_put(struct gw_tx *tx, enum gw_budget_kind kind, const struct gw_budget_counter *c, size_t n)
{
    struct gw_budget_result r;
    if (n)
        gw_budget_run(gw_tx_shared_store(tx), gw_tx_base(tx), kind, c, n, &r, NULL, NULL, NULL);
}

static void add_canary(struct ictx *x, struct gw_segments *segs);
static enum gw_verdict after_state(struct gw_tx *tx, const struct iconf *c, struct ictx *x,
                                   const struct gw_budget_result *res, size_t n);
static enum gw_verdict after_count(struct gw_tx *tx, const struct iconf *c, struct ictx *x,
                                   const struct gw_budget_result *res);
static enum gw_verdict finish(struct gw_tx *tx, const struct iconf *c, struct ictx *x);

/* What follows a store operation's answer (`what` as in struct esc_op). */
static enum gw_verdict
after_op(struct gw_tx *tx, const struct iconf *c, struct ictx *x, int what,
         const struct gw_budget_result *res, size_t n)
{
    if (what == 0)
        return after_state(tx, c, x, res, n);
    if (what == 1)
        return after_count(tx, c, x, res);
    return finish(tx, c, x); /* a tripped block or a watch written: the verdict stands */
}

static void
on_store_answer(void *arg, const struct gw_budget_result *res)
{
    struct esc_op *op = arg;
    struct gw_tx *tx = op->tx;
    if (tx) {
        struct ictx *x = op->x;
        x->op = NULL;
        enum gw_verdict v = after_op(tx, op->c, x, op->what, res, op->n);
        if (v != GW_WAIT)
            gw_tx_resume(tx, v);
    }
    gw_budget_release(op->store);
    free(op);
}

/* Runs a store operation for this exchange: GW_WAIT when the store answers later (then the
 * matching after_* runs from its callback), else the after_* verdict now. */
static enum gw_verdict
store_op(struct gw_tx *tx, const struct iconf *c, struct ictx *x, int what,
         enum gw_budget_kind kind, const struct gw_budget_counter *ctr, size_t n)
{
    struct gw_budget_store *st = gw_tx_shared_store(tx);
    struct esc_op *op = st ? malloc(sizeof(*op)) : NULL;
    struct gw_budget_result res;
    if (!op)
        return GW_ERROR;
    memset(op, 0, sizeof(*op));
    op->tx = tx;
    op->c = c;
    op->x = x;
    op->what = what;
    op->store = st;
    op->n = n;
    if (gw_budget_run(st, gw_tx_base(tx), kind, ctr, n, &res, on_store_answer, op, NULL) ==
        GW_BUDGET_PENDING) {
        gw_budget_hold(st);
        x->op = op;
        return GW_WAIT;
    }
    free(op);
    return after_op(tx, c, x, what, &res, n);
}

/* The end of the request side: block, or add the canary. */
static enum gw_verdict
finish(struct gw_tx *tx, const struct iconf *c, struct ictx *x)
{
    if (x->block) {
        char list[300], msg[400];
        cat_list(c->pack, x->block_cats, x->block_model, list, sizeof(list));
        snprintf(msg, sizeof(msg), "Request blocked: possible prompt injection (%s).", list);
        gw_tx_block(tx, 403, "prompt_injection", msg);
        return GW_BLOCK;
    }
    if (c->canary)
        add_canary(x, x->segs);
    return x->canary_set ? GW_REDACT : GW_PASS;
}

/* The attempt counts came back (session, then key, as escalate asked): a count that reached its
 * limit blocks that session (or key) for block_for. The block is written before the verdict goes
 * out (a store round trip), so the client's next request, on any instance, finds it: written
 * fire-and-forget, a request to another gateway instance right after the 403 could read the
 * session state before the write reached Redis. */
static enum gw_verdict
after_count(struct gw_tx *tx, const struct iconf *c, struct ictx *x,
            const struct gw_budget_result *res)
{
    struct gw_identity id;
    gw_tx_identity(tx, &id);
    if (res->status != GW_BUDGET_OK)
        return GW_ERROR; /* the store is down: on_error decides */
    uint64_t now = gw_budget_clock();
    size_t i = 0, np = 0;
    struct gw_budget_counter put[4];
    for (int by = 1; by >= 0; by--) {
        /* A key is usually shared by every user of an application: it has its own, higher limit
         * so that one user cannot get everyone blocked. */
        unsigned limit = by ? c->attempts : c->key_attempts;
        char k[KEY_CAP];
        if (!limit || skey(k, sizeof(k), "att", &id, by) < 0)
            continue;
        int64_t n = res->value[i++];
        if (n < (int64_t)limit)
            continue;
        char b[GW_BUDGET_KEY_MAX + 1];
        snprintf(b, sizeof(b), "%s:%" PRIu64, k, now / c->window_ms);
        ctr_set(&put[np++], b, 0, 0); /* the attempts start again after the block */
        skey(k, sizeof(k), "blk", &id, by);
        ctr_set(&put[np++], k, (int64_t)((now + c->block_ms + 999) / 1000), now + c->block_ms);
        emit_simple(tx, by ? "session_escalation" : "key_escalation",
                    "injection:session_escalation", c->monitor ? "event" : "block", 4, (double)n,
                    GW_ROLE_USER, -1, 0, 0);
    }
    if (!np)
        return finish(tx, c, x);
    if (!c->monitor && !x->block) {
        x->block = 1;
        x->block_cats = x->cats;
    }
    return store_op(tx, c, x, 2, GW_BUDGET_SET, put, np);
}

/* After a detection: watch the session's next requests, and count an attempt when it is of an
 * escalation category (a store round trip). */
static enum gw_verdict
escalate(struct gw_tx *tx, const struct iconf *c, struct ictx *x, const struct gw_identity *id)
{
    char k[KEY_CAP];
    uint64_t now = gw_budget_clock();
    struct gw_budget_counter w;
    int watch = c->watchlist && skey(k, sizeof(k), "watch", id, id->session != NULL) == 0;
    if (watch)
        ctr_set(&w, k, -2 * (int64_t)c->watchlist, now + c->window_ms);
    struct gw_budget_counter ctr[2];
    size_t n = 0;
    uint64_t win = now / c->window_ms;
    for (int by = 1; by >= 0 && (x->cats & c->esc_cats); by--) {
        unsigned limit = by ? c->attempts : c->key_attempts;
        char b[GW_BUDGET_KEY_MAX + 1];
        if (!limit || skey(k, sizeof(k), "att", id, by) < 0)
            continue;
        snprintf(b, sizeof(b), "%s:%" PRIu64, k, win);
        ctr_set(&ctr[n++], b, 1, (win + 1) * c->window_ms + 60000);
    }
    if (n == 0)
        /* the watch is written before the verdict goes out, so the session's next request
         * finds it on any instance (see after_count) */
        return watch ? store_op(tx, c, x, 2, GW_BUDGET_SET, &w, 1) : finish(tx, c, x);
    /* the count follows the watch on the same store connection, which keeps their order */
    if (watch)
        store_put(tx, GW_BUDGET_SET, &w, 1);
    return store_op(tx, c, x, 1, GW_BUDGET_ADD, ctr, n);
}

/* What the request's system or developer messages guard (GUARD_* bits; looked at once, and only
 * when it could change a verdict). */
static void system_messages(const struct iconf *c, struct ictx *x);

static int
guarded(const struct iconf *c, struct ictx *x)
{
    if (x->guarded < 0)
        system_messages(c, x);
    return x->guarded;
}

/* What a guard of the given kinds (GUARD_* bits) would add to a segment's score: *extra_r to its
 * rules' part (the raised categories' contributions, factor - 1 times more), *model_f the
 * classifier's factor; the combined increase is returned. */
static double
guard_extra(const struct iconf *c, int kinds, const struct thr *t, const struct gw_inj_result *r,
            const struct verdict *v, double *extra_r, double *model_f)
{
    uint64_t secret = kinds & GUARD_SECRET ? c->guard_cats & r->cats : 0;
    uint64_t scope = kinds & GUARD_SCOPE ? c->scope_cats & r->cats : 0;
    *extra_r = 0;
    for (size_t k = 0; k < c->pack->ncats && k < GW_INJ_MAX_CATS; k++) {
        double f = secret >> k & 1 ? c->guard_factor : 1;
        if (scope >> k & 1 && c->scope_factor > f)
            f = c->scope_factor;
        *extra_r += (f - 1) * r->by_cat[k];
    }
    *model_f = !(kinds & GUARD_SECRET) || (c->guard_concepts && !(v->concepts & c->guard_concepts))
                   ? 1
                   : c->guard_model;
    if (kinds & GUARD_SCOPE && c->scope_model > *model_f)
        *model_f = c->scope_model;
    return t->rules * *extra_r + t->model * (*model_f - 1) * v->prob;
}

/* A segment under its block threshold: when its guarded categories and its classifier part,
 * raised by the guard's factors, would reach a threshold and the system prompt does guard a
 * secret (guard.categories and the classifier) or the assistant's scope (guard.scope_categories),
 * raises them (r->score included, so events report the score that was compared). The system
 * messages are looked at only when a guard of either kind could change the verdict; the raise
 * is then that of the kinds they really guard. */
static void
apply_guard(const struct iconf *c, struct ictx *x, const struct thr *t, double f,
            struct gw_inj_result *r, struct verdict *v, double *by_rules, double *by_model)
{
    double extra_r, model_f;
    double extra = guard_extra(c, GUARD_SECRET | GUARD_SCOPE, t, r, v, &extra_r, &model_f);
    if (extra <= 0 || v->score + extra + SCORE_EPS < t->event * f)
        return;
    int kinds = guarded(c, x);
    if (!kinds)
        return;
    extra = guard_extra(c, kinds, t, r, v, &extra_r, &model_f);
    if (extra <= 0 || v->score + extra + SCORE_EPS < t->event * f)
        return;
    r->score += extra_r;
    *by_rules = t->rules * r->score;
    *by_model = t->model * model_f * v->prob;
    v->score = *by_rules + *by_model;
    v->guarded = 1;
}

/* One text scored on one side with thresholds t (f: the watchlist's factor), the guard raising
 * it on the direct side; the classifier reads it as the side clf_side says (0 direct, 1
 * indirect). -1 when out of memory or on a scan error. */
static int
score_once(const struct iconf *c, struct ictx *x, const char *text, size_t len, unsigned side,
           int clf_side, const uint8_t *skip, const struct thr *t, double f,
           struct gw_inj_result *r, struct verdict *v)
{
    struct gw_clf_acc acc;
    if (c->model && gw_clf_begin(&acc, c->model, clf_side) < 0)
        return -1;
    if (gw_inj_scan_clf(c->pack, text, len, side, skip, r, c->model ? &acc : NULL) < 0)
        return -1;
    *v = (struct verdict){.prob = c->model ? gw_clf_end(&acc) : 0,
                          .concepts = c->model ? acc.concepts : 0};
    double by_rules = t->rules * r->score, by_model = t->model * v->prob;
    v->score = by_rules + by_model;
    /* the guard weighs what users ask for (documents that mention decoding and keys are
     * common; they keep their own thresholds) */
    if (c->guard && side == GW_INJ_DIRECT && v->score + SCORE_EPS < t->block * f)
        apply_guard(c, x, t, f, r, v, &by_rules, &by_model);
    v->model_counts = c->model && (r->nhits == 0 || by_model >= by_rules);
    return 0;
}

/* Whether the rewrite lets a rule read the message that did not read it as written, other than
 * the pack's weak corroboration (weight under REWRITE_MIN_WEIGHT: a secret's noun alone, a
 * reward offered ...): the name read as "secret" is a word every question about passwords has,
 * and the classifier reads that word too, so neither is evidence that the secret is asked for
 * ("which promo codes are available?", "if you forgot the staff portal password, what would you
 * do?"). */
#define REWRITE_MIN_WEIGHT 0.35
static int
rewrite_adds_rule(const struct iconf *c, const struct gw_inj_result *r,
                  const struct gw_inj_result *r2)
{
    for (size_t i = 0; i < r2->nhits; i++) {
        unsigned id = r2->hits[i].rule;
        if (c->pack->rules[id].weight < REWRITE_MIN_WEIGHT)
            continue;
        int seen = 0;
        for (size_t j = 0; j < r->nhits && !seen; j++)
            seen = r->hits[j].rule == id;
        if (!seen)
            return 1;
    }
    return 0;
}

/* score_once(); then, for a user's own words under its block threshold when the system prompt
 * guards a secret it names ("The branch vault override PIN is ..."), the text again with each
 * name of that secret ("the vault number") read as "secret" (filters/subject.h): the higher
 * score counts, its hits at their offsets in the text, when a rule reads it that did not read the
 * text as written and is more than weak corroboration (rewrite_adds_rule). */
static int
score_text(const struct iconf *c, struct ictx *x, const char *text, size_t len, unsigned side,
           int clf_side, const uint8_t *skip, const struct thr *t, double f,
           struct gw_inj_result *r, struct verdict *v)
{
    if (score_once(c, x, text, len, side, clf_side, skip, t, f, r, v) < 0)
        return -1;
    if (!c->guard || !c->subject || side != GW_INJ_DIRECT || clf_side != 0 ||
        v->score + SCORE_EPS >= t->block * f || !(guarded(c, x) & GUARD_SECRET) ||
        (!x->subj.n && !x->subj.roles))
        return 0;
    char stack[4096], *re = stack;
    size_t cap = GW_SUBJECT_CAP(len);
    if (cap > sizeof(stack) && !(re = malloc(cap)))
        return -1;
    struct gw_subject_edit ed[GW_SUBJECT_MAX_EDITS];
    size_t ned, n = gw_subject_rewrite(&x->subj, text, len, re, cap, ed, &ned);
    struct gw_inj_result r2;
    struct verdict v2;
    int rc = n ? score_once(c, x, re, n, side, clf_side, skip, t, f, &r2, &v2) : 0;
    if (n && rc == 0 && v2.score > v->score + SCORE_EPS && rewrite_adds_rule(c, r, &r2)) {
        for (size_t i = 0; i < r2.nhits; i++) {
            r2.hits[i].from = (uint32_t)gw_subject_orig(ed, ned, r2.hits[i].from, 0);
            r2.hits[i].to = (uint32_t)gw_subject_orig(ed, ned, r2.hits[i].to, 1);
        }
        *r = r2;
        *v = v2;
        v->subject = 1;
    }
    if (re != stack)
        free(re);
    return rc;
}

/* A user's message with pasted material (filters/pasted.h), scored twice with the role's
 * thresholds: the whole text with the direct side's rules, the classifier reading it as a
 * document (the indirect side's features and weight), and the user's own words around the
 * material as anything a user writes; the verdict is the higher, with the hits' offsets in the
 * message. */
static int
score_pasted(const struct iconf *c, struct ictx *x, const struct gw_segment *s,
             const struct gw_span *sp, size_t ns, const struct thr *t, double f,
             struct gw_inj_result *r, struct verdict *v)
{
    char *own = malloc(s->len);
    if (!own)
        return -1;
    size_t n = 0, at = 0;
    for (size_t k = 0; k < ns; k++) {
        memcpy(own + n, s->text + at, sp[k].from - at);
        n += sp[k].from - at;
        at = sp[k].to;
    }
    memcpy(own + n, s->text + at, s->len - at);
    n += s->len - at;
    struct gw_inj_result ro;
    struct verdict vo;
    int rc = score_text(c, x, own, n, GW_INJ_DIRECT, 0, c->skip, t, f, &ro, &vo);
    free(own);
    struct thr doc = *t;
    doc.model = c->indirect.model;
    if (rc < 0 || score_text(c, x, s->text, s->len, GW_INJ_DIRECT, 1, c->skip, &doc, f, r, v) < 0)
        return -1;
    if (vo.score <= v->score) {
        v->pasted = 1;
        return 0;
    }
    /* the user's words: offsets in the text without the material, moved back over it */
    for (size_t i = 0; i < ro.nhits; i++) {
        size_t add = 0, addto = 0;
        for (size_t k = 0; k < ns && sp[k].from - add <= ro.hits[i].from; k++)
            add += sp[k].to - sp[k].from;
        for (size_t k = 0; k < ns && sp[k].from - addto < ro.hits[i].to; k++)
            addto += sp[k].to - sp[k].from;
        ro.hits[i].from += (uint32_t)add;
        ro.hits[i].to += (uint32_t)addto;
    }
    *r = ro;
    *v = vo;
    return 0;
}

/* The scan of every segment the filter looks at; then escalation or the end. */
static enum gw_verdict
scan(struct gw_tx *tx, const struct iconf *c, struct ictx *x)
{
    struct gw_identity id;
    gw_tx_identity(tx, &id);
    struct gw_segments *segs = x->segs;
    double f = x->strict ? c->strict : 1.0;
    int detected = 0;
    struct gw_inj_result r;
    for (size_t i = 0; i < segs->n; i++) {
        struct gw_segment *s = &segs->v[i];
        unsigned bit = 1u << s->role, side;
        if (c->direct_roles & bit)
            side = GW_INJ_DIRECT;
        else if (c->indirect_roles & bit)
            side = GW_INJ_INDIRECT;
        else
            continue;
        const struct thr *t = &c->role_thr[s->role];
        const uint8_t *skip = s->role == GW_ROLE_TOOL_DEFINITION ? c->skip_tooldef : c->skip;
        struct verdict v;
        struct gw_span sp[GW_PASTED_MAX_SPANS];
        /* (with the classifier off both scores would be the rules' over the same words) */
        size_t ns = side == GW_INJ_DIRECT && c->pasted && c->model
                        ? gw_pasted_spans(s->text, s->len, sp, GW_PASTED_MAX_SPANS)
                        : 0;
        if (ns ? score_pasted(c, x, s, sp, ns, t, f, &r, &v) < 0
               : score_text(c, x, s->text, s->len, side, side == GW_INJ_INDIRECT, skip, t, f, &r,
                            &v) < 0)
            return GW_ERROR;
        /* Scores are sums of weights: compare with a tolerance, so that 0.1 + 0.9 reaches 1. */
        if ((r.nhits == 0 && !c->model) || v.score + SCORE_EPS < t->event * f)
            continue;
        int b = v.score + SCORE_EPS >= t->block * f && !c->monitor;
        detected = 1;
        x->cats |= r.cats;
        if (b) {
            x->block = 1;
            x->block_cats |= r.cats;
            x->block_model |= v.model_counts;
        }
        emit_hits(tx, c, s, &r, &v, b ? "block" : "event");
        if (v.guarded && !x->guard_reported) {
            /* why the score was raised: the system prompt's own rules, once per request */
            struct verdict gv = v;
            gv.model_counts = 0;
            gv.pasted = 0;
            emit_hits(tx, c, &segs->v[x->gseg], &x->gres, &gv, b ? "block" : "event");
            x->guard_reported = 1;
        }
    }
    if (detected && c->session && (id.session || id.key_id))
        return escalate(tx, c, x, &id);
    return finish(tx, c, x);
}

/* The session's state came back: res->value[] holds, in order, the session's block, the key's
 * block (each present only when the request names one) and the watch counter. Blocked → 403; on
 * the watchlist → stricter thresholds for this request, which takes one watched request. The
 * watch counter holds -2 x the requests still watched, so that the store's generic "add when it
 * fits" (+2 with a limit of 1) is the take: it fits only from -2 down, and a missing key (0)
 * never fits; here the read decides and the take follows (two concurrent requests of a session
 * may both be watched on the last one: harmless). */
static enum gw_verdict
after_state(struct gw_tx *tx, const struct iconf *c, struct ictx *x,
            const struct gw_budget_result *res, size_t n)
{
    struct gw_identity id;
    gw_tx_identity(tx, &id);
    if (res->status != GW_BUDGET_OK)
        return GW_ERROR; /* the store is down: on_error decides */
    uint64_t now_s = gw_budget_clock() / 1000, left = 0;
    size_t i = 0;
    for (int by = 1; by >= 0; by--) {
        if ((by && !id.session) || (!by && !id.key_id))
            continue;
        int64_t until = res->value[i++];
        if (until > 0 && (uint64_t)until > now_s && (uint64_t)until - now_s > left)
            left = (uint64_t)until - now_s;
    }
    if (left) {
        emit_simple(tx, "session_blocked", "injection:session_escalation",
                    c->monitor ? "event" : "block", 3, 0, GW_ROLE_USER, -1, 0, 0);
        if (!c->monitor) {
            char msg[200];
            snprintf(msg, sizeof(msg),
                     "Request blocked: this session is blocked for %llu more seconds after "
                     "repeated prompt-injection attempts.",
                     (unsigned long long)left);
            gw_tx_block(tx, 403, "session_blocked", msg);
            return GW_BLOCK;
        }
    }
    if (c->watchlist && i < n && res->value[i] <= -2) {
        char k[KEY_CAP];
        x->strict = 1;
        if (skey(k, sizeof(k), "watch", &id, id.session != NULL) == 0) {
            struct gw_budget_counter w;
            ctr_set(&w, k, 2, gw_budget_clock() + c->window_ms);
            w.limit = 1;
            store_put(tx, GW_BUDGET_RESERVE, &w, 1);
        }
    }
    return scan(tx, c, x);
}

/* ---- canary ---- */

static void
make_canary(struct ictx *x)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[10];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return;
    memcpy(x->canary, CANARY_PREFIX, sizeof(CANARY_PREFIX) - 1);
    char *p = x->canary + sizeof(CANARY_PREFIX) - 1;
    for (size_t i = 0; i < sizeof(rnd); i++) {
        *p++ = hex[rnd[i] >> 4];
        *p++ = hex[rnd[i] & 15];
    }
    *p = '\0';
}

/*
 * What a system text declares, cached per worker thread: an application sends the same system
 * prompt with every request, and scanning it costs ~8 us per KB. Direct-mapped by a hash of the
 * filter instance and the text; a hit is confirmed by comparing the whole text (a copy is kept),
 * so no crafted collision can lend one application's verdict to another's prompt.
 */
#define SYSCACHE_SLOTS 64
#define SYSCACHE_MAX_TEXT (16u * 1024)
#define MAX_VALUES 4

struct sysent {
    uint64_t conf_id, hash;
    char *text; /* copy; NULL: empty slot */
    size_t len;
    struct gw_inj_result res; /* the guard rules' hits (nhits 0: it guards nothing) */
    int kinds;                /* what they guard: GUARD_* bits */
    size_t nvals, vs[MAX_VALUES], ve[MAX_VALUES];
    struct gw_subject subj; /* what the secrets are called */
};

static pthread_key_t syscache_key;
static pthread_once_t syscache_once = PTHREAD_ONCE_INIT;
static uint64_t next_conf_id;

static void
syscache_free(void *p)
{
    struct sysent *v = p;
    for (size_t i = 0; i < SYSCACHE_SLOTS; i++)
        free(v[i].text);
    free(v);
}

static void
syscache_init(void)
{
    pthread_key_create(&syscache_key, syscache_free);
}

/* The length of the sentence end at byte i of t (len bytes), 0 when none: a line break, '.', '!',
 * '?' or ';' before white space or the end, or a full stop of CJK or Devanagari (。！？ and the
 * danda). */
static size_t
sentence_end(const char *t, size_t len, size_t i)
{
    const unsigned char *u = (const unsigned char *)t + i;
    if (u[0] == '\n' || ((u[0] == '.' || u[0] == '!' || u[0] == '?' || u[0] == ';') &&
                         (i + 1 == len || u[1] == ' ' || u[1] == '\n')))
        return 1;
    if (i + 2 < len && ((u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x82) ||
                        (u[0] == 0xEF && u[1] == 0xBC && (u[2] == 0x81 || u[2] == 0x9F)) ||
                        (u[0] == 0xE0 && u[1] == 0xA5 && u[2] == 0xA4)))
        return 3;
    return 0;
}

/* The number of sentence ends in t before pos. */
static size_t
sentence_no(const char *t, size_t len, size_t pos)
{
    size_t n = 0;
    for (size_t i = 0, e; i < pos && i < len; i += e ? e : 1)
        n += (e = sentence_end(t, len, i)) != 0;
    return n;
}

/* The bytes [*a, *b) of sentence n of t, its end included (*a == *b == len when t has fewer). */
static void
sentence_span(const char *t, size_t len, size_t n, size_t *a, size_t *b)
{
    size_t i = 0, e;
    for (size_t m = 0; m < n && i < len; i += e ? e : 1)
        m += (e = sentence_end(t, len, i)) != 0;
    *a = i;
    while (i < len && !(e = sentence_end(t, len, i)))
        i++;
    *b = i < len ? i + e : len;
}

/* The last value (gw_inj_value_before) between the start of the sentence before the one of byte
 * pos of t and pos: what a prohibition that refers back guards ("Our absolute floor is $13.50 --
 * keep that number to yourself"). 1 with its span [*vs, *ve). */
static int
value_before(const char *t, size_t len, size_t pos, size_t *vs, size_t *ve)
{
    size_t n = sentence_no(t, len, pos), a, b;
    sentence_span(t, len, n ? n - 1 : 0, &a, &b);
    return gw_inj_value_before(t, len, a, pos, vs, ve);
}

/* Whether a valid permit lets the assistant give out what guard hit k declares: a permit in its
 * sentence or the next one, in a sentence without a prohibition (a secret hit that declares no
 * value). cat, decl and sent: each hit's category, whether it declares a value, its sentence.
 * The permit's sentence in *at. */
static int
permitted(const struct iconf *c, const struct gw_inj_result *r, const int *cat, const int *decl,
          const size_t *sent, size_t k, size_t *at)
{
    for (size_t j = 0; j < r->nhits; j++) {
        if (cat[j] != c->permit_cat || (sent[j] != sent[k] && sent[j] != sent[k] + 1))
            continue;
        int forbidden = 0;
        for (size_t i = 0; i < r->nhits && !forbidden; i++)
            forbidden = sent[i] == sent[j] && !decl[i] && cat[i] != c->scope_cat &&
                        cat[i] != c->permit_cat && cat[i] != c->advice_cat;
        if (!forbidden) {
            *at = sent[j];
            return 1;
        }
    }
    return 0;
}

/* Whether guard hit k is advice: an advice rule's hit in its sentence (the prompt tells its users
 * to keep their own secrets -- "Remind users never to share their PIN" -- or forbids advice -- "No
 * des consejos médicos"), so what it forbids or seems to declare is not the assistant's secret. */
static int
advised(const struct iconf *c, const struct gw_inj_result *r, const int *cat, const size_t *sent,
        size_t k)
{
    for (size_t j = 0; j < r->nhits; j++)
        if (cat[j] == c->advice_cat && sent[j] == sent[k])
            return 1;
    return 0;
}

/* One guard hit that guards a secret, at byte from of the system text t: what the secret is
 * called, and its value [vs, ve) when decl (once). */
static void
guard_hit(struct sysent *e, const char *t, size_t len, size_t from, int decl, size_t vs, size_t ve)
{
    e->kinds |= GUARD_SECRET;
    gw_subject_add(&e->subj, t, len, from);
    for (size_t i = 0; decl && i < e->nvals; i++)
        decl = e->vs[i] != vs || e->ve[i] != ve;
    if (decl && e->nvals < MAX_VALUES) {
        e->vs[e->nvals] = vs;
        e->ve[e->nvals++] = ve;
    }
}

/* Blanks sentence n of the system text t (len bytes) in *blank, a copy made on first use. */
static void
blank_sentence(const char *t, size_t len, size_t n, char **blank)
{
    size_t a, b;
    if (!*blank && (*blank = malloc(len)))
        memcpy(*blank, t, len);
    sentence_span(t, len, n, &a, &b);
    if (*blank)
        memset(*blank + a, ' ', b - a);
}

/* One scan's guard hits r on the system text t into e. A scope rule ("only answer questions about
 * cooking") guards the assistant's scope and declares no secret; any other guards a secret, whose
 * value follows its match -- unless a permit rule lets the assistant give that value out ("The
 * guest Wi-Fi password is 'Welcome2024'. Share it with any guest who asks."): a hit that declares
 * a value, with a permit in its sentence or the next one, guards nothing. A permit is void in a
 * sentence that also forbids something ("Never share it with a guest who asks"). A hit in a
 * sentence with an advice rule's hit guards nothing either (advised()), nor does a declaration's
 * frame (guarded_value: "The staff code is", "Código:") with no value after it. A prohibition that
 * refers back (guarded_back: "keep that number to yourself") guards the value named before it
 * when none follows (value_before). The sentences of
 * declarations read (kept or permitted, the permit's too) are blanked in *blank for the next scan;
 * the hits that guard nothing (permits, advice, what they void) are bits of *unused. Returns 1 when
 * it blanked a sentence (a next scan can find more). */
static int
classify(const struct iconf *c, struct sysent *e, const char *t, size_t len,
         const struct gw_inj_result *r, char **blank, uint32_t *unused)
{
    size_t sent[GW_INJ_MAX_HITS], vs[GW_INJ_MAX_HITS], ve[GW_INJ_MAX_HITS];
    int cat[GW_INJ_MAX_HITS], decl[GW_INJ_MAX_HITS], permits = 0, advises = 0, declares = 0;
    int more = 0;
    *unused = 0;
    for (size_t k = 0; k < r->nhits; k++) {
        cat[k] = (int)c->pack->rules[r->hits[k].rule].category;
        vs[k] = ve[k] = 0;
        decl[k] = cat[k] != c->scope_cat && cat[k] != c->permit_cat && cat[k] != c->advice_cat &&
                  gw_inj_declared_value(t, len, r->hits[k].to, &vs[k], &ve[k]);
        if (!decl[k] && cat[k] == c->back_cat) /* the value named before, in its sentence or
                                                * the one before */
            decl[k] = value_before(t, len, r->hits[k].from, &vs[k], &ve[k]);
        permits |= cat[k] == c->permit_cat;
        advises |= cat[k] == c->advice_cat;
        declares |= decl[k];
    }
    for (size_t k = 0; k < r->nhits; k++) /* sentences: counted only when they matter */
        sent[k] = permits || advises || declares ? sentence_no(t, len, r->hits[k].from) : 0;
    for (size_t k = 0; k < r->nhits; k++) {
        if (cat[k] == c->scope_cat) {
            e->kinds |= GUARD_SCOPE;
            continue;
        }
        if (cat[k] == c->permit_cat || cat[k] == c->advice_cat ||
            (cat[k] == c->value_cat && !decl[k])) {
            *unused |= 1u << k;
            continue;
        }
        if (decl[k]) {
            blank_sentence(t, len, sent[k], blank);
            more = 1;
        }
        if (advises && advised(c, r, cat, sent, k)) {
            *unused |= 1u << k;
            continue;
        }
        size_t at;
        if (permits && decl[k] && permitted(c, r, cat, decl, sent, k, &at)) {
            blank_sentence(t, len, at, blank);
            *unused |= 1u << k;
            continue;
        }
        guard_hit(e, t, len, r->hits[k].from, decl[k], vs[k], ve[k]);
    }
    return more;
}

/* The guard rules' verdict on one system text, from the cache or fresh (then cached). NULL when
 * the scan failed. */
static const struct sysent *
system_verdict(const struct iconf *c, const struct gw_segment *s, struct sysent *tmp)
{
    pthread_once(&syscache_once, syscache_init);
    struct sysent *cache = pthread_getspecific(syscache_key);
    if (!cache && (cache = calloc(SYSCACHE_SLOTS, sizeof(*cache))) &&
        pthread_setspecific(syscache_key, cache) != 0) {
        free(cache);
        cache = NULL;
    }
    uint64_t h = gw_fnv1a(GW_FNV_OFFSET ^ (c->id * 0x9E3779B97F4A7C15ull), s->text, s->len);
    struct sysent *e = cache && s->len <= SYSCACHE_MAX_TEXT ? &cache[h % SYSCACHE_SLOTS] : tmp;
    if (e != tmp && e->text && e->conf_id == c->id && e->hash == h && e->len == s->len &&
        memcmp(e->text, s->text, s->len) == 0)
        return e;
    struct gw_inj_result r;
    if (gw_inj_scan(c->pack, s->text, s->len, GW_INJ_SYSTEM, c->skip, &r) < 0)
        return NULL;
    char *copy = NULL;
    if (e != tmp && !(copy = malloc(s->len + 1)))
        e = tmp; /* no memory for the copy: answer without caching */
    if (e != tmp) {
        free(e->text);
        memcpy(copy, s->text, s->len);
    }
    e->text = copy;
    e->conf_id = c->id;
    e->hash = h;
    e->len = s->len;
    e->res = r;
    e->nvals = 0;
    e->kinds = 0;
    gw_subject_clear(&e->subj);
    /* A rule reports its first match only: a second declaration of the same rule ("The backup
     * password is 'Lion'" after "The password is 'Tiger'") is found by scanning the text again
     * with the sentences already read blanked (same offsets), while that finds more (a few
     * rounds at most: only prompts that declare values pay for them). */
    char *blank = NULL;
    struct gw_inj_result more;
    const struct gw_inj_result *cur = &r;
    uint32_t unused;
    for (int round = 0;; round++) {
        int again = classify(c, e, s->text, s->len, cur, &blank, &unused);
        if (round == 0) { /* the hits reported as the reason for a raise: those that guard */
            size_t n = 0;
            for (size_t k = 0; k < r.nhits; k++)
                if (!(unused >> k & 1))
                    e->res.hits[n++] = r.hits[k];
            e->res.nhits = n;
        }
        if (!again || !blank || round >= MAX_VALUES || e->nvals >= MAX_VALUES ||
            gw_inj_scan(c->pack, blank, s->len, GW_INJ_SYSTEM, c->skip, &more) < 0)
            break;
        cur = &more;
    }
    free(blank);
    /* the persons whose personal data it holds ("the user, Maria Lopez") */
    if (e->kinds & GUARD_SECRET)
        gw_subject_persons(&e->subj, s->text, s->len);
    return e;
}

/* The system and developer messages' guard rules: what they guard (guarded()) and, with protect,
 * the secrets they declare, which answers are then watched for. */
static void
system_messages(const struct iconf *c, struct ictx *x)
{
    x->guarded = 0;
    gw_subject_clear(&x->subj);
    for (size_t i = 0; i < x->segs->n; i++) {
        const struct gw_segment *s = &x->segs->v[i];
        if (s->role != GW_ROLE_SYSTEM && s->role != GW_ROLE_DEVELOPER)
            continue;
        struct sysent tmp = {0};
        const struct sysent *e = system_verdict(c, s, &tmp);
        if (!e || !e->kinds)
            continue;
        if (!x->guarded) {
            x->gseg = i;
            x->gres = e->res;
        }
        x->guarded |= e->kinds;
        gw_subject_merge(&x->subj, &e->subj);
        for (size_t k = 0; c->protect && k < e->nvals; k++)
            gw_needles_add_secret(&x->needles, s->text + e->vs[k], e->ve[k] - e->vs[k]);
    }
}

static void
add_canary(struct ictx *x, struct gw_segments *segs)
{
    struct gw_segment *sys = NULL;
    for (size_t i = 0; i < segs->n; i++)
        if (segs->v[i].role == GW_ROLE_SYSTEM || segs->v[i].role == GW_ROLE_DEVELOPER)
            sys = &segs->v[i];
    if (!sys)
        return; /* no system prompt: nothing to leak */
    make_canary(x);
    if (!x->canary[0])
        return;
    char add[CANARY_LEN + 16];
    int n = snprintf(add, sizeof(add), "\n\n<!-- %s -->", x->canary);
    if (gw_segment_replace(sys, sys->len, 0, add, (size_t)n) == 0) {
        x->canary_set = 1;
        gw_needles_add(&x->needles, x->canary, CANARY_LEN, GW_NEEDLE_EXACT);
    }
}

static int
secret_needle(const struct ictx *x, size_t which)
{
    return x->needles.v[which].kind != GW_NEEDLE_EXACT;
}

/* The answer holds a needle (secret: one of the system prompt's secrets, else the canary): an
 * alert, and the response is blocked (monitor mode: reported once, the answer goes on). */
static enum gw_verdict
leak(struct gw_tx *tx, const struct iconf *c, struct ictx *x, int secret, size_t span,
     enum gw_role role, int msg_index, uint64_t off)
{
    x->leaked = 1;
    emit_simple(tx, secret ? "guard.secret-leak" : "canary", "injection:system_prompt_leak",
                c->monitor ? "event" : "block", 4, 1.0, role, msg_index, off, span);
    if (c->monitor)
        return GW_PASS;
    gw_tx_block(tx, 403, "output_blocked",
                secret ? "Response blocked: the model revealed a secret of its system prompt "
                         "(system_prompt_leak)."
                       : "Response blocked: the model revealed its system prompt "
                         "(system_prompt_leak).");
    return GW_BLOCK;
}

/* ---- callbacks ---- */

static enum gw_verdict
on_req_body(struct gw_tx *tx, void *conf, void *ctx, struct gw_segments *segs)
{
    const struct iconf *c = conf;
    struct ictx *x = ctx;
    struct gw_identity id;
    gw_tx_identity(tx, &id);
    x->segs = segs;
    x->guarded = -1;
    if (c->guard && c->protect)
        system_messages(c, x); /* now: the answer is watched for what they declare */
    if (!c->session || !(id.session || id.key_id))
        return scan(tx, c, x);
    /* the session's state first: its block, its key's block, its watch counter */
    struct gw_budget_counter ctr[3];
    size_t n = 0;
    char k[KEY_CAP];
    for (int by = 1; by >= 0; by--)
        if (skey(k, sizeof(k), "blk", &id, by) == 0)
            ctr_set(&ctr[n++], k, 0, 0);
    if (c->watchlist && skey(k, sizeof(k), "watch", &id, id.session != NULL) == 0)
        ctr_set(&ctr[n++], k, 0, 0);
    return store_op(tx, c, x, 0, GW_BUDGET_READ, ctr, n);
}

/* The client went away while the store had not answered: the answer finds no exchange. */
static void
on_tx_end(struct gw_tx *tx, void *conf, void *ctx)
{
    struct ictx *x = ctx;
    (void)tx;
    (void)conf;
    if (x->op) {
        x->op->tx = NULL;
        x->op = NULL;
    }
}

static enum gw_verdict
on_resp_body(struct gw_tx *tx, void *conf, void *ctx, struct gw_segments *segs)
{
    struct ictx *x = ctx;
    if (!x->needles.n || x->leaked)
        return GW_PASS;
    for (size_t i = 0; i < segs->n; i++) {
        size_t k, m;
        long at = gw_needles_find(&x->needles, segs->v[i].text, segs->v[i].len, &k, &m);
        if (at >= 0)
            return leak(tx, conf, x, secret_needle(x, k), m, segs->v[i].role, segs->v[i].msg_index,
                        (uint64_t)at);
        struct gw_initials ini = {0};
        at = gw_needles_initials(&x->needles, &ini, segs->v[i].text, segs->v[i].len, &k);
        if (at >= 0)
            return leak(tx, conf, x, 1, 1, segs->v[i].role, segs->v[i].msg_index, (uint64_t)at);
    }
    return GW_PASS;
}

static struct stail *
tail_of(struct ictx *x, int id)
{
    for (size_t i = 0; i < x->ntails; i++)
        if (x->tails[i].id == id)
            return &x->tails[i];
    if (x->ntails == MAX_STREAMS)
        return NULL;
    struct stail *t = &x->tails[x->ntails++];
    t->id = id;
    t->n = 0;
    memset(&t->ini, 0, sizeof(t->ini));
    return t;
}

static enum gw_verdict
on_resp_chunk(struct gw_tx *tx, void *conf, void *ctx, struct gw_chunk *ch)
{
    struct ictx *x = ctx;
    ch->hold = 0;
    if (!x->needles.n || x->leaked)
        return GW_PASS;
    const size_t L = x->needles.longest;
    struct stail *t = tail_of(x, ch->stream_id);
    /* The released tail, then this chunk: a needle that straddles a timed flush is still
     * found. */
    char buf[2 * SPAN_MAX];
    size_t pre = t ? t->n : 0, head = ch->len < L ? ch->len : L, k, m;
    if (pre) {
        memcpy(buf, t->b, pre);
        memcpy(buf + pre, ch->text, head);
        long at = gw_needles_find(&x->needles, buf, pre + head, &k, &m);
        if (at >= 0 && (size_t)at + m > pre)
            return leak(tx, conf, x, secret_needle(x, k), m, ch->role, ch->choice, ch->offset);
    }
    long at = gw_needles_find(&x->needles, ch->text, ch->len, &k, &m);
    if (at >= 0)
        return leak(tx, conf, x, secret_needle(x, k), m, ch->role, ch->choice,
                    ch->offset + (uint64_t)at);
    ch->hold = ch->final || ch->flush ? 0 : gw_utf8_hold(ch->text, ch->len, L - 1);
    if (t) {
        /* Acrostics: what is released now is read on, once (held bytes come again, first, with
         * the next chunk, and are read then); the line or word that completes one is never
         * released. */
        size_t rel = ch->len - ch->hold;
        at = gw_needles_initials(&x->needles, &t->ini, ch->text, rel, &k);
        if (at >= 0) {
            ch->hold = 0;
            return leak(tx, conf, x, 1, 1, ch->role, ch->choice, ch->offset + (uint64_t)at);
        }
        size_t keep = rel < L - 1 ? rel : L - 1;
        if (keep < L - 1 && t->n) {
            /* keep the end of the old tail in front of the little that was released now */
            size_t old = L - 1 - keep < t->n ? L - 1 - keep : t->n;
            memmove(t->b, t->b + t->n - old, old);
            t->n = old;
        } else {
            t->n = 0;
        }
        memcpy(t->b + t->n, ch->text + rel - keep, keep);
        t->n += keep;
    }
    return GW_PASS;
}

/* ---- configuration ---- */

static void
conf_free(void *conf)
{
    struct iconf *c = conf;
    if (!c)
        return;
    gw_inj_pack_put(c->pack);
    gw_clf_free(c->model);
    free(c->model_path);
    free(c->skip);
    free(c->skip_tooldef);
    free(c);
}

/* Sets the bit of every rule named (by id or category) in the list under key (absent: the
 * category def, when the pack has it) in skip. */
static int
get_disable(struct gw_cfg_ctx *cc, const json_t *in, const char *key, const struct gw_inj_pack *p,
            const char *def, uint8_t *skip)
{
    const json_t *dis = json_object_get(in, key), *e;
    size_t i;
    if (!dis) {
        int cat = def ? gw_inj_category_find(p, def) : -1;
        for (size_t r = 0; cat >= 0 && r < p->nrules; r++)
            if ((int)p->rules[r].category == cat)
                skip[r / 8] |= (uint8_t)(1u << (r % 8));
        return 0;
    }
    if (!json_is_array(dis))
        return gw_cfg_error(cc, gw_cfg_node_at(cc, key, NULL),
                            "'%s' must be a list of rule ids or categories", key);
    json_array_foreach(dis, i, e)
    {
        const char *name = json_is_string(e) ? json_string_value(e) : "";
        int cat = gw_inj_category_find(p, name), found = cat >= 0;
        for (size_t r = 0; r < p->nrules; r++)
            if ((int)p->rules[r].category == cat || strcmp(p->rules[r].id, name) == 0) {
                skip[r / 8] |= (uint8_t)(1u << (r % 8));
                found = 1;
            }
        if (!found)
            return gw_cfg_error(cc, gw_cfg_node_at(cc, key, NULL),
                                "'%s': '%s' is neither a rule id nor a category of %s", key, name,
                                p->path);
    }
    return 0;
}

/* The mapping `key` of in ({event, block, rules, classifier}) into *t; errors point at the node
 * under base (the filter's mapping, or its `roles` mapping). */
static int
get_thr(struct gw_cfg_ctx *cc, const json_t *in, const char *key, struct thr *t)
{
    const json_t *o = json_object_get(in, key);
    if (!o)
        return 0;
    if (!json_is_object(o))
        return gw_cfg_error(cc, gw_cfg_node_at(cc, key, NULL),
                            "'%s' must be a mapping {event, block, rules, classifier}", key);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        double *dst = strcmp(k, "event") == 0        ? &t->event
                      : strcmp(k, "block") == 0      ? &t->block
                      : strcmp(k, "rules") == 0      ? &t->rules
                      : strcmp(k, "classifier") == 0 ? &t->model
                                                     : NULL;
        if (!dst)
            return gw_cfg_error(cc, gw_cfg_node_at(cc, key, k),
                                "unknown key '%s' in '%s' (event, block, rules, classifier)", k,
                                key);
        int weight = dst == &t->rules || dst == &t->model;
        if (!json_is_number(v) || json_number_value(v) < 0 ||
            (!weight && json_number_value(v) == 0) || json_number_value(v) > 100)
            return gw_cfg_error(cc, gw_cfg_node_at(cc, key, k),
                                "'%s.%s' must be a number in %s0, 100]", key, k,
                                weight ? "[" : "(");
        *dst = json_number_value(v);
    }
    if (t->block < t->event)
        return gw_cfg_error(cc, gw_cfg_node_at(cc, key, NULL),
                            "'%s': the block threshold is below the event threshold", key);
    return 0;
}

static int
get_roles(struct gw_cfg_ctx *cc, const json_t *in, const char *key, unsigned *out)
{
    const json_t *a = json_object_get(in, key), *e;
    size_t i;
    if (!a)
        return 0;
    if (!json_is_array(a))
        return gw_cfg_error(cc, gw_cfg_node_at(cc, key, NULL), "'%s' must be a list of roles", key);
    *out = 0;
    json_array_foreach(a, i, e)
    {
        int r = json_is_string(e) ? gw_role_from_name(json_string_value(e)) : -1;
        if (r < 0 || r == GW_ROLE_TOOL_CALL_ARGS)
            return gw_cfg_error(cc, gw_cfg_node_at(cc, key, NULL),
                                "'%s': unknown request role (system, developer, user, assistant, "
                                "tool_result, tool_definition)",
                                key);
        *out |= 1u << r;
    }
    return 0;
}

static int
get_duration(struct gw_cfg_ctx *cc, const json_t *o, const char *key, uint32_t *out)
{
    const json_t *v = json_object_get(o, key);
    char buf[32];
    if (!v)
        return 0;
    if (json_is_integer(v))
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
    else if (json_is_string(v))
        snprintf(buf, sizeof(buf), "%s", json_string_value(v));
    else
        buf[0] = '\0';
    if (gw_parse_duration_ms(buf, out) != 0 || *out == 0)
        return gw_cfg_error(cc, gw_cfg_node_at(cc, "session", key),
                            "'session.%s' must be a duration (10s, 5m, 1h)", key);
    return 0;
}

static int
get_count(struct gw_cfg_ctx *cc, const json_t *o, const char *key, unsigned lo, unsigned *out)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > 1000000)
        return gw_cfg_error(cc, gw_cfg_node_at(cc, "session", key),
                            "'session.%s' must be an integer from %u", key, lo);
    *out = (unsigned)json_integer_value(v);
    return 0;
}

/* The list `key` of the mapping o (the filter's `parent` mapping) into *mask, one bit per category
 * of the pack; absent: *mask stays. */
static int
get_cats(struct gw_cfg_ctx *cc, const struct gw_inj_pack *p, const json_t *o, const char *parent,
         const char *key, uint64_t *mask)
{
    const json_t *cl = json_object_get(o, key), *e;
    size_t i;
    if (!cl)
        return 0;
    if (!json_is_array(cl))
        return gw_cfg_error(cc, gw_cfg_node_at(cc, parent, key),
                            "'%s.%s' must be a list of categories", parent, key);
    *mask = 0;
    json_array_foreach(cl, i, e)
    {
        int kx = json_is_string(e) ? gw_inj_category_find(p, json_string_value(e)) : -1;
        if (kx < 0)
            return gw_cfg_error(cc, gw_cfg_node_at(cc, parent, key),
                                "'%s.%s': unknown category '%s' in %s", parent, key,
                                json_is_string(e) ? json_string_value(e) : "?", p->path);
        *mask |= 1ull << kx;
    }
    return 0;
}

/* The bits of the named categories the pack has (names: NULL-terminated). */
static uint64_t
cats_named(const struct gw_inj_pack *p, const char *const *names)
{
    uint64_t m = 0;
    for (; *names; names++) {
        int k = gw_inj_category_find(p, *names);
        if (k >= 0)
            m |= 1ull << k;
    }
    return m;
}

/* The optional option `key` of in that is a mapping or off: 1 with *out for a mapping, 0 when
 * absent (*off = 0) or off (*off = 1), -1 with an error otherwise. */
static int
get_section(struct gw_cfg_ctx *cc, const json_t *in, const char *key, const json_t **out, int *off)
{
    const json_t *v = json_object_get(in, key);
    *out = NULL;
    *off =
        v && (json_is_false(v) || (json_is_string(v) && strcmp(json_string_value(v), "off") == 0));
    if (!v || *off)
        return 0;
    if (!json_is_object(v))
        return gw_cfg_error(cc, gw_cfg_node_at(cc, key, NULL), "'%s' must be a mapping or off",
                            key);
    *out = v;
    return 1;
}

static int
get_session(struct gw_cfg_ctx *cc, const json_t *in, struct iconf *c)
{
    const json_t *s;
    static const char *const known[] = {
        "attempts",   "key_attempts", "window",           "block_for",
        "categories", "watchlist",    "watchlist_factor", NULL};
    c->attempts = 3;
    c->key_attempts = 20;
    c->window_ms = 10 * 60 * 1000;
    c->block_ms = 15 * 60 * 1000;
    c->watchlist = 5;
    c->strict = 0.5;
    static const char *const defs[] = {"instruction_override", "system_prompt_extraction", NULL};
    c->esc_cats = cats_named(c->pack, defs);
    int off, rc = get_section(cc, in, "session", &s, &off);
    c->session = !off;
    if (rc <= 0)
        return rc;
    if (gw_cfg_unknown_keys(cc, s, known, "session", NULL) < 0)
        return -1;
    if (get_count(cc, s, "attempts", 1, &c->attempts) < 0 ||
        get_count(cc, s, "key_attempts", 0, &c->key_attempts) < 0 ||
        get_count(cc, s, "watchlist", 0, &c->watchlist) < 0 ||
        get_duration(cc, s, "window", &c->window_ms) < 0 ||
        get_duration(cc, s, "block_for", &c->block_ms) < 0)
        return -1;
    const json_t *wf = json_object_get(s, "watchlist_factor");
    if (wf) {
        if (!json_is_number(wf) || json_number_value(wf) <= 0 || json_number_value(wf) > 1)
            return gw_cfg_error(cc, gw_cfg_node_at(cc, "session", "watchlist_factor"),
                                "'session.watchlist_factor' must be a number in (0, 1]");
        c->strict = json_number_value(wf);
    }
    return get_cats(cc, c->pack, s, "session", "categories", &c->esc_cats);
}

static int
get_factor(struct gw_cfg_ctx *cc, const json_t *o, const char *key, double *out)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < 1 || json_number_value(v) > 10)
        return gw_cfg_error(cc, gw_cfg_node_at(cc, "guard", key),
                            "'guard.%s' must be a number from 1 to 10", key);
    *out = json_number_value(v);
    return 0;
}

/* o[key] as a boolean into *out, which keeps its default when the key is absent; parent names
 * the mapping o is in ("guard") for the message, NULL at the filter's top level. */
static int
get_bool(struct gw_cfg_ctx *cc, const json_t *o, const char *parent, const char *key, int *out)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return gw_cfg_error(
            cc, parent ? gw_cfg_node_at(cc, parent, key) : gw_cfg_node_at(cc, key, NULL),
            "'%s%s%s' must be true or false", parent ? parent : "", parent ? "." : "", key);
    *out = json_is_true(v);
    return 0;
}

/* The bits of the named concepts the model's lexicon has (names: NULL-terminated); 0 (every
 * message) without a classifier or a lexicon. */
static uint64_t
concepts_named(const struct gw_clf_model *m, const char *const *names)
{
    uint64_t b = 0;
    for (; m && m->lex && *names; names++) {
        int k = gw_clf_lex_concept(m->lex, *names);
        if (k >= 0)
            b |= 1ull << k;
    }
    return b;
}

/* guard.classifier_concepts: concepts of the classifier's lexicon, [] for every message. */
static int
get_concepts(struct gw_cfg_ctx *cc, const json_t *g, struct iconf *c)
{
    const json_t *l = json_object_get(g, "classifier_concepts"), *e;
    size_t i;
    if (!l)
        return 0;
    const struct gw_cnode *at = gw_cfg_node_at(cc, "guard", "classifier_concepts");
    if (!json_is_array(l))
        return gw_cfg_error(cc, at, "'guard.classifier_concepts' must be a list of concepts");
    if (json_array_size(l) && !(c->model && c->model->lex))
        return gw_cfg_error(cc, at,
                            "'guard.classifier_concepts' needs a classifier model with a concept "
                            "lexicon");
    c->guard_concepts = 0;
    json_array_foreach(l, i, e)
    {
        int k = json_is_string(e) ? gw_clf_lex_concept(c->model->lex, json_string_value(e)) : -1;
        if (k < 0)
            return gw_cfg_error(cc, at,
                                "'guard.classifier_concepts': unknown concept '%s' (the concept "
                                "lexicon of %s names them)",
                                json_is_string(e) ? json_string_value(e) : "?", c->model_path);
        c->guard_concepts |= 1ull << k;
    }
    return 0;
}

/* guard: off, or {categories: [...], scope_categories: [...], factor: F, classifier_factor: F,
 * scope_factor: F, scope_classifier_factor: F, classifier_concepts: [...], protect: B,
 * secret_names: B} */
static int
get_guard(struct gw_cfg_ctx *cc, const json_t *in, struct iconf *c)
{
    static const char *const known[] = {"categories",
                                        "scope_categories",
                                        "factor",
                                        "classifier_factor",
                                        "scope_factor",
                                        "scope_classifier_factor",
                                        "classifier_concepts",
                                        "protect",
                                        "secret_names",
                                        NULL};
    const json_t *g;
    c->protect = 1;
    c->subject = 1;
    c->guard_factor = 2.0;
    c->guard_model = 1.5;
    c->scope_factor = 1.5;
    c->scope_model = 1.5;
    /* the classifier's factor: messages about a secret, a password or personal data */
    static const char *const concepts[] = {"secret", "password", "personal", NULL};
    c->guard_concepts = concepts_named(c->model, concepts);
    /* asking for the secret, for the prompt, or for the secret in another form */
    static const char *const defs[] = {"credential_fishing", "system_prompt_extraction",
                                       "encoded_payload", NULL};
    c->guard_cats = cats_named(c->pack, defs);
    /* under a scope guard ("only answer questions about cooking"): setting a rule aside, or a
     * fake system notice that says it is set aside */
    static const char *const scope_defs[] = {"instruction_override", "fake_delimiter", NULL};
    c->scope_cats = cats_named(c->pack, scope_defs);
    c->scope_cat = gw_inj_category_find(c->pack, "guarded_scope");
    c->permit_cat = gw_inj_category_find(c->pack, "guarded_permit");
    c->advice_cat = gw_inj_category_find(c->pack, "guarded_advice");
    c->value_cat = gw_inj_category_find(c->pack, "guarded_value");
    c->back_cat = gw_inj_category_find(c->pack, "guarded_back");
    int off, rc = get_section(cc, in, "guard", &g, &off);
    c->guard = !off;
    if (rc <= 0)
        return rc;
    if (gw_cfg_unknown_keys(cc, g, known, "guard", NULL) < 0 ||
        get_factor(cc, g, "factor", &c->guard_factor) < 0 ||
        get_factor(cc, g, "classifier_factor", &c->guard_model) < 0 ||
        get_factor(cc, g, "scope_factor", &c->scope_factor) < 0 ||
        get_factor(cc, g, "scope_classifier_factor", &c->scope_model) < 0)
        return -1;
    if (get_bool(cc, g, "guard", "protect", &c->protect) < 0 ||
        get_bool(cc, g, "guard", "secret_names", &c->subject) < 0 || get_concepts(cc, g, c) < 0)
        return -1;
    if (get_cats(cc, c->pack, g, "guard", "categories", &c->guard_cats) < 0)
        return -1;
    return get_cats(cc, c->pack, g, "guard", "scope_categories", &c->scope_cats);
}

/* Every role starts with its side's numbers; `roles: {ROLE: {event, block, rules, classifier}}`
 * overrides some of them for that role (errors point into the `roles` mapping). */
static int
get_role_thr(struct gw_cfg_ctx *cc, const json_t *in, struct iconf *c)
{
    for (int r = 0; r < GW_ROLE_COUNT; r++)
        c->role_thr[r] = c->direct_roles & (1u << r) ? c->direct : c->indirect;
    const json_t *roles = json_object_get(in, "roles"), *v;
    const char *k;
    if (!roles)
        return 0;
    if (!json_is_object(roles))
        return gw_cfg_error(
            cc, gw_cfg_node_at(cc, "roles", NULL),
            "'roles' must be a mapping of role to {event, block, rules, classifier}");
    struct gw_cfg_ctx sub = *cc;
    sub.node = gw_cnode_get(cc->node, "roles");
    json_object_foreach((json_t *)roles, k, v)
    {
        int r = gw_role_from_name(k);
        if (r < 0 || !((c->direct_roles | c->indirect_roles) & (1u << r)))
            return gw_cfg_error(&sub, gw_cfg_node_at(&sub, k, NULL),
                                "'roles': '%s' is not a scanned role (direct_roles, "
                                "indirect_roles)",
                                k);
        if (get_thr(&sub, roles, k, &c->role_thr[r]) < 0)
            return -1;
    }
    return 0;
}

/* `classifier: PATH | off` (default models/injection.pcm), relative to the config file. */
static int
get_model(struct gw_cfg_ctx *cc, const json_t *in, struct iconf *c)
{
    const json_t *m = json_object_get(in, "classifier");
    if (m && (json_is_false(m) || (json_is_string(m) && strcmp(json_string_value(m), "off") == 0)))
        return 0;
    if (m && !json_is_string(m))
        return gw_cfg_error(cc, gw_cfg_node_at(cc, "classifier", NULL),
                            "'classifier' must be a model file path or off");
    const char *file = m ? json_string_value(m) : DEFAULT_MODEL;
    if (!(c->model_path = gw_cfg_path(cc, file)))
        return gw_cfg_error(cc, NULL, "out of memory");
    char err[600];
    if (!(c->model = gw_clf_load(c->model_path, err, sizeof(err))))
        return gw_cfg_error(cc, m ? gw_cfg_node_at(cc, "classifier", NULL) : cc->node,
                            "classifier model: %s%s", err,
                            m ? "" : " (set 'classifier: off' to use the rule pack alone)");
    return 0;
}

static int
conf_new(struct gw_cfg_ctx *cc, const json_t *in, void **out)
{
    static const char *const known[] = {
        "pack",         "action",         "direct",     "indirect",
        "direct_roles", "indirect_roles", "disable",    "tool_definition_disable",
        "session",      "canary",         "classifier", "roles",
        "guard",        "pasted",         NULL};
    if (gw_cfg_unknown_keys(cc, in, known, NULL, NULL) < 0)
        return -1;
    struct iconf *c = calloc(1, sizeof(*c));
    if (!c)
        return gw_cfg_error(cc, NULL, "out of memory");
    c->id = __atomic_add_fetch(&next_conf_id, 1, __ATOMIC_RELAXED);
    c->direct = (struct thr){0.5, 1.0, 1.0, DEFAULT_DIRECT_WEIGHT};
    c->indirect = (struct thr){0.5, 1.0, 1.0, DEFAULT_INDIRECT_WEIGHT};
    c->direct_roles = 1u << GW_ROLE_USER;
    c->indirect_roles = 1u << GW_ROLE_TOOL_RESULT | 1u << GW_ROLE_TOOL_DEFINITION;

    const json_t *pk = json_object_get(in, "pack");
    if (pk && !json_is_string(pk)) {
        gw_cfg_error(cc, gw_cfg_node_at(cc, "pack", NULL), "'pack' must be a file path");
        goto fail;
    }
    const char *pack = pk ? json_string_value(pk) : "rules/injection.yaml";
    char *path = gw_cfg_path(cc, pack);
    char err[600];
    c->pack = gw_inj_pack_get(path ? path : pack, err, sizeof(err));
    free(path);
    if (!c->pack) {
        gw_cfg_error(cc, gw_cfg_node_at(cc, "pack", NULL), "rule pack: %s", err);
        goto fail;
    }

    if (get_model(cc, in, c) < 0)
        goto fail;

    const json_t *act = json_object_get(in, "action");
    if (act) {
        const char *a = json_is_string(act) ? json_string_value(act) : "";
        if (strcmp(a, "event") == 0)
            c->monitor = 1;
        else if (strcmp(a, "block") != 0) {
            gw_cfg_error(cc, gw_cfg_node_at(cc, "action", NULL), "'action' must be block or event");
            goto fail;
        }
    }
    if (get_thr(cc, in, "direct", &c->direct) < 0 ||
        get_thr(cc, in, "indirect", &c->indirect) < 0 ||
        get_roles(cc, in, "direct_roles", &c->direct_roles) < 0 ||
        get_roles(cc, in, "indirect_roles", &c->indirect_roles) < 0)
        goto fail;
    if (c->direct_roles & c->indirect_roles) {
        gw_cfg_error(cc, gw_cfg_node_at(cc, "indirect_roles", NULL),
                     "a role cannot be both direct and indirect");
        goto fail;
    }
    if (get_role_thr(cc, in, c) < 0)
        goto fail;
    c->skip = calloc(c->pack->nrules / 8 + 1, 1);
    c->skip_tooldef = calloc(c->pack->nrules / 8 + 1, 1);
    if (!c->skip || !c->skip_tooldef) {
        gw_cfg_error(cc, NULL, "out of memory");
        goto fail;
    }
    if (get_disable(cc, in, "disable", c->pack, NULL, c->skip) < 0 ||
        get_disable(cc, in, "tool_definition_disable", c->pack, "hidden_instruction",
                    c->skip_tooldef) < 0)
        goto fail;
    for (size_t b = 0; b <= c->pack->nrules / 8; b++)
        c->skip_tooldef[b] |= c->skip[b];
    if (get_session(cc, in, c) < 0 || get_guard(cc, in, c) < 0)
        goto fail;
    c->pasted = 1;
    if (get_bool(cc, in, NULL, "canary", &c->canary) < 0 ||
        get_bool(cc, in, NULL, "pasted", &c->pasted) < 0)
        goto fail;
    *out = c;
    return 0;
fail:
    conf_free(c);
    return -1;
}

static unsigned
hooks(const void *conf)
{
    const struct iconf *c = conf;
    int answers = c->canary || (c->guard && c->protect);
    return GW_HOOK_REQ_BODY | (answers ? GW_HOOK_RESP_BODY | GW_HOOK_RESP_CHUNK : 0);
}

static void
describe(const void *conf, char *buf, size_t cap)
{
    const struct iconf *c = conf;
    int n = snprintf(buf, cap,
                     "pack %s (%zu rules, %zu categories), %s, direct event %g block %g, "
                     "indirect event %g block %g",
                     c->pack->path, c->pack->nrules, c->pack->ncats,
                     c->monitor ? "action event (monitor)" : "action block", c->direct.event,
                     c->direct.block, c->indirect.event, c->indirect.block);
    if (n < 0 || (size_t)n >= cap)
        return;
    if (c->session)
        n += snprintf(buf + n, cap - (size_t)n,
                      ", session escalation %u (key %u) in %us, block %us, watchlist %u x%g",
                      c->attempts, c->key_attempts, c->window_ms / 1000, c->block_ms / 1000,
                      c->watchlist, c->strict);
    else
        n += snprintf(buf + n, cap - (size_t)n, ", session escalation off");
    if (n > 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, ", canary %s", c->canary ? "on" : "off");
    int ng = __builtin_popcountll(c->guard_cats), ns = __builtin_popcountll(c->scope_cats);
    if (n > 0 && (size_t)n < cap && c->guard)
        n += snprintf(buf + n, cap - (size_t)n,
                      ", guard: a system prompt guarding a secret counts %d categor%s x%g, the "
                      "classifier x%g (%s), its declared secrets %s, their names %s; one "
                      "restricting the assistant's scope counts %d categor%s x%g, the classifier "
                      "x%g",
                      ng, ng == 1 ? "y" : "ies", c->guard_factor, c->guard_model,
                      c->guard_concepts ? "in messages naming its concepts" : "every message",
                      c->protect ? "blocked in answers" : "not watched",
                      c->subject ? "read as \"secret\"" : "not read", ns, ns == 1 ? "y" : "ies",
                      c->scope_factor, c->scope_model);
    else if (n > 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, ", guard off");
    if (n > 0 && (size_t)n < cap && c->model)
        snprintf(buf + n, cap - (size_t)n,
                 ", classifier %s (sha256 %.12s, 2^%u weights), score = direct %g x rules + %g x "
                 "classifier, indirect %g x rules + %g x classifier",
                 c->model_path, c->model->sha256, c->model->prm.nbits, c->direct.rules,
                 c->direct.model, c->indirect.rules, c->indirect.model);
    else if (n > 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, ", classifier off");
    for (int r = 0; r < GW_ROLE_COUNT && n > 0 && (size_t)n < cap; r++) {
        const struct thr *t = &c->role_thr[r],
                         *side = c->direct_roles & (1u << r) ? &c->direct : &c->indirect;
        if (!((c->direct_roles | c->indirect_roles) & (1u << r)) ||
            memcmp(t, side, sizeof(*t)) == 0)
            continue;
        n += snprintf(buf + n, cap - (size_t)n,
                      ", role %s: event %g block %g, %g x rules + %g x classifier",
                      gw_role_name((enum gw_role)r), t->event, t->block, t->rules, t->model);
    }
}

const struct gw_filter_ops gw_flt_injection = {
    .name = "injection",
    .ctx_size = sizeof(struct ictx),
    .conf_new = conf_new,
    .conf_free = conf_free,
    .on_req_body = on_req_body,
    .on_resp_body = on_resp_body,
    .on_resp_chunk = on_resp_chunk,
    .on_tx_end = on_tx_end,
    .hooks = hooks,
    .describe = describe,
};
