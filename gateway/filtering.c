#include "gateway/filtering.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "filters/filter.h"
#include "gateway/tx.h"
#include "gateway/worker.h"

struct event_base *
gw_tx_base(struct gw_tx *tx)
{
    return tx->w->base;
}

void
gw_tx_resume(struct gw_tx *tx, enum gw_verdict v)
{
    (void)tx;
    (void)v;
}

int
gw_filtering_request(struct gw_tx *tx)
{
    (void)tx;
    return 0;
}

void
gw_filtering_end(struct gw_tx *tx)
{
    (void)tx;
}

int
gw_filtering_resp_head(struct gw_tx *tx, int status, int is_json, int is_sse)
{
    (void)tx;
    (void)status;
    (void)is_json;
    (void)is_sse;
    return 0;
}

int
gw_filtering_sse(struct gw_tx *tx, const char *data, size_t len, struct evbuffer *out)
{
    (void)tx;
    evbuffer_add(out, data, len);
    return 0;
}

int
gw_filtering_sse_end(struct gw_tx *tx, struct evbuffer *out)
{
    (void)tx;
    (void)out;
    return 0;
}

int
gw_filtering_resp_body(struct gw_tx *tx, const char *body, size_t len, char **out,
                       size_t *outlen)
{
    (void)tx;
    (void)body;
    (void)len;
    *out = NULL;
    *outlen = 0;
    return 0;
}

int
gw_filtering_is_sse(const struct gw_tx *tx)
{
    (void)tx;
    return 0;
}

void
gw_filtering_fail(struct gw_tx *tx)
{
    gw_tx_fail(tx, 500, "filter failure");
}

void
gw_tx_block(struct gw_tx *tx, int status, const char *code, const char *message)
{
    (void)tx;
    (void)status;
    (void)code;
    (void)message;
}
