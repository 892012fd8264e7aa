/*
 * Server-sent events framing (WHATWG HTML, "event stream interpretation"): finds where events
 * end in a byte stream split anywhere, with CRLF, LF or CR line ends. The proxy uses it to
 * forward whole events as soon as each is complete and never half an event.
 */
#ifndef GW_SSE_H
#define GW_SSE_H

#include <stddef.h>

struct gw_sse {
    size_t line_len; /* bytes on the current line so far */
    int prev_cr;     /* the previous byte was CR (a following LF belongs to it) */
    int cr_boundary; /* ... and that CR ended an event */
};

/* Starts a new stream. */
void gw_sse_init(struct gw_sse *s);

/*
 * Scans n more bytes of the stream. Returns the offset in data just past the last event
 * boundary (a blank line) inside these bytes, or 0 when no event ended in them. State carries
 * over, so boundaries split across calls are found.
 */
size_t gw_sse_scan(struct gw_sse *s, const char *data, size_t n);

#endif
