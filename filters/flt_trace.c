/*
 * `trace`: a test filter. On streamed responses it holds back a random part of every chunk (a
 * seeded PRNG), so the text reaches the next filter and the client in random pieces: every
 * streaming test can run under adversarial chunking. With wait_ms it also makes every request
 * wait on a timer (GW_WAIT, then gw_tx_resume), exercising asynchronous filters. It never
 * changes text.
 *
 * Config: seed (integer, default 1), hold (bool, default true), wait_ms (0..60000, default 0).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "filters/filter.h"

struct trace_conf {
    uint64_t seed;
    int hold;
    int wait_ms;
};

struct trace_ctx {
    uint64_t rng;
    struct event *timer;
    struct gw_tx *tx;
};

static int
trace_conf_new(struct gw_cfg_ctx *cc, const json_t *in, void **out)
{
    struct trace_conf *c = calloc(1, sizeof(*c));
    if (!c)
        return gw_cfg_error(cc, NULL, "out of memory");
    c->seed = 1;
    c->hold = 1;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)in, key, v)
    {
        if (strcmp(key, "seed") == 0 && json_is_integer(v)) {
            c->seed = (uint64_t)json_integer_value(v);
        } else if (strcmp(key, "hold") == 0 && json_is_boolean(v)) {
            c->hold = json_is_true(v);
        } else if (strcmp(key, "wait_ms") == 0 && json_is_integer(v) &&
                   json_integer_value(v) >= 0 && json_integer_value(v) <= 60000) {
            c->wait_ms = (int)json_integer_value(v);
        } else {
            free(c);
            return gw_cfg_error(cc, NULL,
                                "trace: unknown or invalid key '%s' (seed: integer, hold: bool, "
                                "wait_ms: 0..60000)",
                                key);
        }
    }
    *out = c;
    return 0;
}

static void
trace_conf_free(void *conf)
{
    free(conf);
}

static uint64_t
next(struct trace_ctx *x)
{
    uint64_t v = x->rng;
    v ^= v >> 12;
    v ^= v << 25;
    v ^= v >> 27;
    x->rng = v;
    return v * 0x2545F4914F6CDD1DULL;
}

static void
on_wait_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct trace_ctx *x = arg;
    gw_tx_resume(x->tx, GW_PASS);
}

static enum gw_verdict
trace_req_body(struct gw_tx *tx, void *conf, void *ctx, struct gw_segments *segs)
{
    (void)segs;
    struct trace_conf *c = conf;
    struct trace_ctx *x = ctx;
    if (c->wait_ms == 0)
        return GW_PASS;
    x->tx = tx;
    x->timer = evtimer_new(gw_tx_base(tx), on_wait_done, x);
    if (!x->timer)
        return GW_ERROR;
    struct timeval tv = {c->wait_ms / 1000, (c->wait_ms % 1000) * 1000};
    evtimer_add(x->timer, &tv);
    return GW_WAIT;
}

static enum gw_verdict
trace_resp_chunk(struct gw_tx *tx, void *conf, void *ctx, struct gw_chunk *ch)
{
    (void)tx;
    struct trace_conf *c = conf;
    struct trace_ctx *x = ctx;
    if (!c->hold || ch->final || ch->flush || ch->len == 0)
        return GW_PASS;
    if (x->rng == 0)
        x->rng = (c->seed * 0x9E3779B97F4A7C15ULL) | 1;
    /* never split a UTF-8 sequence: the held part starts at a code point */
    ch->hold = gw_utf8_hold(ch->text, ch->len, (size_t)(next(x) % (ch->len + 1)));
    return GW_PASS;
}

static void
trace_tx_end(struct gw_tx *tx, void *conf, void *ctx)
{
    (void)tx;
    (void)conf;
    struct trace_ctx *x = ctx;
    if (x->timer)
        event_free(x->timer); /* a client gone while waiting: the timer never fires */
}

const struct gw_filter_ops gw_flt_trace = {
    .name = "trace",
    .ctx_size = sizeof(struct trace_ctx),
    .conf_new = trace_conf_new,
    .conf_free = trace_conf_free,
    .on_req_body = trace_req_body,
    .on_resp_chunk = trace_resp_chunk,
    .on_tx_end = trace_tx_end,
};
