/*
 * HTTP/1.1 request parsing for the client side: llhttp with every lenient flag off, plus the
 * checks llhttp leaves to us (request smuggling defences, limits, Expect, Host). Pure: no
 * sockets, so unit tests and the fuzzer drive it with bytes.
 */
#ifndef GW_HTTP1_H
#define GW_HTTP1_H

#include <stddef.h>
#include <stdint.h>
#include <llhttp.h>

struct evbuffer;

struct gw_h1_hdr {
    uint32_t name, name_len; /* offsets into gw_h1_parser.buf */
    uint32_t value, value_len;
};

struct gw_h1_limits {
    size_t max_header_bytes; /* request line + headers */
    size_t max_headers;
    size_t max_body_bytes;
};

enum gw_h1_status {
    GW_H1_MORE = 0, /* all input consumed, need more bytes */
    GW_H1_HEADERS,  /* headers complete: inspect, then feed the rest (the body) */
    GW_H1_DONE,     /* message complete; the rest of the input belongs to the next request */
    GW_H1_ERROR,    /* err_status / err_msg say what to answer; close the connection after */
};

struct gw_h1_parser;

/*
 * Optional callbacks (used for responses, which are streamed rather than accumulated):
 * on_head runs at headers-complete instead of pausing there and returns 0 (body follows),
 * 1 (no body: HEAD, 204, 304) or -1 (error); on_data receives body bytes instead of p->body.
 */
typedef int (*gw_h1_head_cb)(struct gw_h1_parser *p, void *arg);
typedef int (*gw_h1_data_cb)(struct gw_h1_parser *p, void *arg, const char *data, size_t n);

struct gw_h1_parser {
    llhttp_t llh;
    struct gw_h1_limits lim;
    gw_h1_head_cb on_head;
    gw_h1_data_cb on_data;
    void *cb_arg;
    int response; /* parsing responses */
    int status;   /* response status code */

    /* request head: URL and header names and values, back to back, NUL after each */
    char *buf;
    uint32_t len, cap;
    struct gw_h1_hdr *hdrs;
    uint32_t nhdrs, hdrs_cap;
    uint32_t url, url_len;
    size_t head_bytes; /* raw bytes of the head seen so far */
    int in_field;      /* last data callback was a header field */
    int prev_cr;       /* raw-byte scanner: previous head byte was CR */
    int line_start;    /* raw-byte scanner: previous head byte ended a line */
    int prev_sp;       /* raw-byte scanner: previous request-line byte was a space */
    int past_request_line;
    int head_done;
    int msg_begun;
    int msg_done;
    int interim; /* inside a 1xx interim response */

    /* results, valid from GW_H1_HEADERS on */
    uint8_t method; /* enum llhttp_method */
    uint8_t http_major, http_minor;
    int keep_alive;
    int expect_continue;
    int chunked;
    int64_t content_length; /* -1 when absent */
    int upgrade;

    struct evbuffer *body; /* owned by the parser; reset by gw_h1_next */
    size_t body_len;

    int err_status;      /* 400, 413, 417, 431, 505 */
    const char *err_msg; /* static string */
};

/* Initialises p for a new client connection (requests). Returns 0. */
int gw_h1_init(struct gw_h1_parser *p, const struct gw_h1_limits *lim);

/*
 * Initialises p for an upstream connection (responses): head and body bytes go to the
 * callbacks; GW_H1_DONE is returned at the end of each response. Interim 1xx responses are
 * skipped. Returns 0.
 */
int gw_h1_init_response(struct gw_h1_parser *p, const struct gw_h1_limits *lim,
                        gw_h1_head_cb on_head, gw_h1_data_cb on_data, void *arg);

/* Tells the parser the connection reached EOF (ends close-delimited responses). */
enum gw_h1_status gw_h1_finish(struct gw_h1_parser *p);

/* Frees everything p holds (p itself is the caller's). */
void gw_h1_free(struct gw_h1_parser *p);

/*
 * Feeds len bytes. *consumed tells how many were used; the caller keeps the rest (pipelined
 * bytes after GW_H1_DONE, the body after GW_H1_HEADERS) and feeds it again later.
 * After GW_H1_ERROR the parser must not be fed again.
 */
enum gw_h1_status gw_h1_feed(struct gw_h1_parser *p, const char *data, size_t len,
                             size_t *consumed);

/* Prepares for the next request on the same connection; releases per-request buffers. */
void gw_h1_next(struct gw_h1_parser *p);

/* True once the first byte of a request was seen (for header timeouts). */
static inline int
gw_h1_started(const struct gw_h1_parser *p)
{
    return p->msg_begun;
}

/* Accessors: the URL, and header i's name and value (NUL-terminated, inside p->buf). */
static inline const char *
gw_h1_url(const struct gw_h1_parser *p)
{
    return p->buf + p->url;
}
static inline const char *
gw_h1_hname(const struct gw_h1_parser *p, uint32_t i)
{
    return p->buf + p->hdrs[i].name;
}
static inline const char *
gw_h1_hvalue(const struct gw_h1_parser *p, uint32_t i)
{
    return p->buf + p->hdrs[i].value;
}

/* Finds the first header named name (case-insensitive); returns its index or -1. */
int gw_h1_find(const struct gw_h1_parser *p, const char *name);

/*
 * True when the header named name (length n) must not be forwarded by a proxy (RFC 9110
 * section 7.6.1 hop-by-hop fields, plus Proxy-Connection); conn_tokens is the value of the
 * message's Connection header (or NULL), whose listed names are hop-by-hop as well.
 */
int gw_h1_hop_by_hop(const char *name, size_t n, const char *conn_tokens);

/* Case-insensitive token-list membership: does the comma-separated list contain token? */
int gw_h1_list_has(const char *list, const char *token, size_t tlen);

/* The reason phrase for a status code ("OK", "Bad Request", ...). Never NULL. */
const char *gw_h1_reason(int status);

#endif
