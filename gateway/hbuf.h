/*
 * Short text (an HTTP head, a chunk-size line) built in a buffer on the caller's stack and handed
 * to an evbuffer in one evbuffer_add: no format string to parse (evbuffer_add_printf was a sixth
 * of the proxy's own instructions per request) and one append instead of one per piece.
 */
#ifndef GW_HBUF_H
#define GW_HBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct evbuffer;

#define GW_HBUF_CAP 1024

struct gw_hbuf {
    struct evbuffer *out; /* where gw_hbuf_flush appends; not owned */
    size_t n;             /* bytes in b */
    char b[GW_HBUF_CAP];
};

/* Starts an empty buffer for out. */
static inline void
gw_hbuf_init(struct gw_hbuf *h, struct evbuffer *out)
{
    h->out = out;
    h->n = 0;
}

/* Appends what is buffered to out (in order, before anything added later) and empties h. An
 * allocation failure in the evbuffer loses the bytes, as evbuffer_add_printf's did. */
void gw_hbuf_flush(struct gw_hbuf *h);

/* Appends what the buffer cannot hold: flushes, then adds p directly when it is large. */
void gw_hbuf_spill(struct gw_hbuf *h, const void *p, size_t n);

/* Appends n bytes at p. */
static inline void
gw_hbuf_mem(struct gw_hbuf *h, const void *p, size_t n)
{
    if (n <= GW_HBUF_CAP - h->n) {
        memcpy(h->b + h->n, p, n);
        h->n += n;
    } else {
        gw_hbuf_spill(h, p, n);
    }
}

/* Appends the NUL-terminated string s. */
static inline void
gw_hbuf_str(struct gw_hbuf *h, const char *s)
{
    gw_hbuf_mem(h, s, strlen(s));
}

/* Appends the header field line "name: value\r\n". */
static inline void
gw_hbuf_field(struct gw_hbuf *h, const char *name, size_t nlen, const char *value, size_t vlen)
{
    gw_hbuf_mem(h, name, nlen);
    gw_hbuf_mem(h, ": ", 2);
    gw_hbuf_mem(h, value, vlen);
    gw_hbuf_mem(h, "\r\n", 2);
}

/* Appends a string literal (its length known at compile time). */
#define GW_HBUF_LIT(h, lit) gw_hbuf_mem((h), (lit), sizeof(lit) - 1)

/* Appends v in decimal. */
void gw_hbuf_u64(struct gw_hbuf *h, uint64_t v);

/* Appends v in lowercase hexadecimal, without leading zeros ("0" for 0). */
void gw_hbuf_hex(struct gw_hbuf *h, uint64_t v);

#endif
