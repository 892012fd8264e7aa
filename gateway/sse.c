#include "gateway/sse.h"

#include <string.h>

void
gw_sse_init(struct gw_sse *s)
{
    memset(s, 0, sizeof(*s));
}

size_t
gw_sse_scan(struct gw_sse *s, const char *data, size_t n)
{
    size_t end = 0;
    size_t i = 0;
    while (i < n) {
        char c = data[i];
        if (c == '\n' && s->prev_cr) {
            /* Second half of CRLF: the line already ended at the CR. */
            s->prev_cr = 0;
            if (s->cr_boundary)
                end = i + 1; /* keep the LF with the event it terminates */
            s->cr_boundary = 0;
            i++;
            continue;
        }
        s->prev_cr = 0;
        s->cr_boundary = 0;
        if (c == '\r' || c == '\n') {
            s->prev_cr = c == '\r';
            s->cr_boundary = s->prev_cr && s->line_len == 0;
            if (s->line_len == 0)
                end = i + 1;
            s->line_len = 0;
            i++;
            continue;
        }
        /* Skip the rest of a non-empty line quickly. */
        const char *nl = memchr(data + i, '\n', n - i);
        const char *cr = memchr(data + i, '\r', (nl ? (size_t)(nl - data) : n) - i);
        const char *stop = cr ? cr : nl;
        size_t upto = stop ? (size_t)(stop - data) : n;
        s->line_len += upto - i;
        i = upto;
    }
    return end;
}
