#include "gateway/hbuf.h"

#include <event2/buffer.h>

void
gw_hbuf_flush(struct gw_hbuf *h)
{
    if (h->n)
        (void)evbuffer_add(h->out, h->b, h->n);
    h->n = 0;
}

void
gw_hbuf_spill(struct gw_hbuf *h, const void *p, size_t n)
{
    gw_hbuf_flush(h);
    if (n <= GW_HBUF_CAP) {
        memcpy(h->b, p, n);
        h->n = n;
    } else {
        (void)evbuffer_add(h->out, p, n);
    }
}

void
gw_hbuf_u64(struct gw_hbuf *h, uint64_t v)
{
    char d[20];
    size_t k = sizeof(d);
    do {
        d[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    gw_hbuf_mem(h, d + k, sizeof(d) - k);
}

void
gw_hbuf_hex(struct gw_hbuf *h, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char d[16];
    size_t k = sizeof(d);
    do {
        d[--k] = digits[v & 15];
        v >>= 4;
    } while (v);
    gw_hbuf_mem(h, d + k, sizeof(d) - k);
}
