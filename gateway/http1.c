/*
 * Client-side HTTP/1.1 request parser. llhttp does the grammar; this file adds what a proxy in
 * front of other parsers must enforce so that no request is read two ways: exactly one framing
 * (Content-Length xor "Transfer-Encoding: chunked"), strict CRLF line endings, no obs-fold, a
 * single Host, and the size limits with their own status codes.
 */
#include "gateway/http1.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#define HDRS_INITIAL 16
#define BUF_INITIAL 1024

static int on_message_begin(llhttp_t *llh);
static int on_url(llhttp_t *llh, const char *at, size_t n);
static int on_header_field(llhttp_t *llh, const char *at, size_t n);
static int on_header_value(llhttp_t *llh, const char *at, size_t n);
static int on_url_complete(llhttp_t *llh);
static int on_header_field_complete(llhttp_t *llh);
static int on_header_value_complete(llhttp_t *llh);
static int on_headers_complete(llhttp_t *llh);
static int on_body(llhttp_t *llh, const char *at, size_t n);
static int on_message_complete(llhttp_t *llh);

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_url_complete = on_url_complete,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static int
fail(struct gw_h1_parser *p, int status, const char *msg)
{
    if (p->err_status == 0) {
        p->err_status = status;
        p->err_msg = msg;
    }
    return -1;
}

int
gw_h1_init(struct gw_h1_parser *p, const struct gw_h1_limits *lim)
{
    memset(p, 0, sizeof(*p));
    p->lim = *lim;
    llhttp_init(&p->llh, HTTP_REQUEST, &settings);
    p->llh.data = p;
    p->content_length = -1;
    return 0;
}

int
gw_h1_init_response(struct gw_h1_parser *p, const struct gw_h1_limits *lim, gw_h1_head_cb on_head,
                    gw_h1_data_cb on_data, void *arg)
{
    memset(p, 0, sizeof(*p));
    p->lim = *lim;
    llhttp_init(&p->llh, HTTP_RESPONSE, &settings);
    p->llh.data = p;
    p->content_length = -1;
    p->response = 1;
    p->on_head = on_head;
    p->on_data = on_data;
    p->cb_arg = arg;
    return 0;
}

void
gw_h1_free(struct gw_h1_parser *p)
{
    free(p->buf);
    free(p->hdrs);
    if (p->body)
        evbuffer_free(p->body);
    p->buf = NULL;
    p->hdrs = NULL;
    p->body = NULL;
}

void
gw_h1_next(struct gw_h1_parser *p)
{
    /* Keep small buffers for the next request; give big ones back. */
    if (p->cap > 8192) {
        free(p->buf);
        p->buf = NULL;
        p->cap = 0;
    }
    if (p->hdrs_cap > 64) {
        free(p->hdrs);
        p->hdrs = NULL;
        p->hdrs_cap = 0;
    }
    if (p->body)
        evbuffer_drain(p->body, evbuffer_get_length(p->body));
    p->len = 0;
    p->nhdrs = 0;
    p->url = p->url_len = 0;
    p->head_bytes = 0;
    p->in_field = 0;
    p->prev_cr = 0;
    p->line_start = 0;
    p->prev_sp = 0;
    p->past_request_line = 0;
    p->head_done = 0;
    p->msg_begun = 0;
    p->msg_done = 0;
    p->interim = 0;
    p->status = 0;
    p->keep_alive = 0;
    p->expect_continue = 0;
    p->chunked = 0;
    p->content_length = -1;
    p->upgrade = 0;
    p->body_len = 0;
    if (llhttp_get_errno(&p->llh) == HPE_PAUSED)
        llhttp_resume(&p->llh);
}

/* Makes room for need more bytes and a NUL in the head buffer. */
static int
grow(struct gw_h1_parser *p, size_t need)
{
    if (p->len + need + 1 <= p->cap)
        return 0;
    size_t cap = p->cap ? p->cap : BUF_INITIAL;
    while (cap < p->len + need + 1)
        cap *= 2;
    char *nb = realloc(p->buf, cap);
    if (!nb)
        return -1;
    p->buf = nb;
    p->cap = (uint32_t)cap;
    return 0;
}

static int
append(struct gw_h1_parser *p, const char *at, size_t n)
{
    /* The head limit covers what we store, so a huge header is refused before we copy it. */
    if (p->len + n > p->lim.max_header_bytes)
        return fail(p, 431, "request header fields too large");
    if (grow(p, n) < 0)
        return fail(p, 500, "out of memory");
    memcpy(p->buf + p->len, at, n);
    p->len += (uint32_t)n;
    return 0;
}

/* Ends the current string (URL, name or value) with a NUL. */
static int
terminate(struct gw_h1_parser *p)
{
    if (grow(p, 1) < 0)
        return fail(p, 500, "out of memory");
    p->buf[p->len++] = '\0';
    return 0;
}

static int
on_message_begin(llhttp_t *llh)
{
    struct gw_h1_parser *p = llh->data;
    p->msg_begun = 1;
    return 0;
}

static int
on_url(llhttp_t *llh, const char *at, size_t n)
{
    struct gw_h1_parser *p = llh->data;
    p->url_len += (uint32_t)n;
    return append(p, at, n);
}

static int
on_url_complete(llhttp_t *llh)
{
    return terminate(llh->data);
}

static int
on_header_field(llhttp_t *llh, const char *at, size_t n)
{
    struct gw_h1_parser *p = llh->data;
    if (!p->in_field) {
        if (p->nhdrs == p->lim.max_headers)
            return fail(p, 431, "too many request header fields");
        if (p->nhdrs == p->hdrs_cap) {
            uint32_t cap = p->hdrs_cap ? p->hdrs_cap * 2 : HDRS_INITIAL;
            struct gw_h1_hdr *nh = realloc(p->hdrs, cap * sizeof(*nh));
            if (!nh)
                return fail(p, 500, "out of memory");
            p->hdrs = nh;
            p->hdrs_cap = cap;
        }
        struct gw_h1_hdr *h = &p->hdrs[p->nhdrs++];
        h->name = p->len;
        h->name_len = 0;
        h->value = 0;
        h->value_len = 0;
        p->in_field = 1;
    }
    p->hdrs[p->nhdrs - 1].name_len += (uint32_t)n;
    return append(p, at, n);
}

/* RFC 9110 5.6.2 tchar. */
static int
is_tchar(unsigned char c)
{
    /* RFC 9110 5.6.2: ALPHA / DIGIT / one of !#$%&'*+-.^_`|~, as bits of c < 64 and of c - 64 */
    static const uint64_t lo = 0x03ff6cfa00000000u, hi = 0x57ffffffc7fffffeu;
    return c < 128 && ((c < 64 ? lo >> c : hi >> (c - 64)) & 1);
}

static int
on_header_field_complete(llhttp_t *llh)
{
    struct gw_h1_parser *p = llh->data;
    struct gw_h1_hdr *h = &p->hdrs[p->nhdrs - 1];
    /* llhttp 8 lets some non-token bytes through (a space before the colon, for one), which
     * another parser would read as a different field: "Content-Length : 5". */
    if (h->name_len == 0)
        return fail(p, 400, "empty header field name");
    for (uint32_t i = 0; i < h->name_len; i++)
        if (!is_tchar((unsigned char)p->buf[h->name + i]))
            return fail(p, 400, "invalid header field name");
    if (terminate(p) < 0)
        return -1;
    h->value = p->len; /* an empty value gets no value callback */
    p->in_field = 0;
    return 0;
}

static int
on_header_value(llhttp_t *llh, const char *at, size_t n)
{
    struct gw_h1_parser *p = llh->data;
    p->hdrs[p->nhdrs - 1].value_len += (uint32_t)n;
    return append(p, at, n);
}

static int
on_header_value_complete(llhttp_t *llh)
{
    struct gw_h1_parser *p = llh->data;
    struct gw_h1_hdr *h = &p->hdrs[p->nhdrs - 1];
    /* Field values exclude trailing whitespace (RFC 9110 5.5); llhttp keeps it. */
    while (h->value_len && (p->buf[p->len - 1] == ' ' || p->buf[p->len - 1] == '\t')) {
        h->value_len--;
        p->len--;
    }
    return terminate(p);
}

int
gw_h1_list_has(const char *list, const char *token, size_t tlen)
{
    const char *s = list;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        const char *te = e;
        while (te > s && (te[-1] == ' ' || te[-1] == '\t'))
            te--;
        if ((size_t)(te - s) == tlen && strncasecmp(s, token, tlen) == 0)
            return 1;
        s = e;
    }
    return 0;
}

static int
equals_trimmed(const char *v, const char *want)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return n == strlen(want) && strncasecmp(v, want, n) == 0;
}

/* Content-Length per RFC 9110 8.6: 1*DIGIT, nothing else (no sign, no list, no spaces inside). */
static int
parse_content_length(const char *v, int64_t *out)
{
    while (*v == ' ' || *v == '\t')
        v++;
    if (!isdigit((unsigned char)*v))
        return -1;
    int64_t n = 0;
    for (; isdigit((unsigned char)*v); v++) {
        if (n > (INT64_MAX - 9) / 10)
            return -1;
        n = n * 10 + (*v - '0');
    }
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v)
        return -1;
    *out = n;
    return 0;
}

static int
check_response_head(struct gw_h1_parser *p)
{
    int ncl = 0, nte = 0;
    int64_t cl = -1;
    if (p->http_major != 1)
        return fail(p, 502, "upstream sent an unsupported HTTP version");
    for (uint32_t i = 0; i < p->nhdrs; i++) {
        const char *name = gw_h1_hname(p, i);
        uint32_t nl = p->hdrs[i].name_len;
        if (nl == 14 && strcasecmp(name, "content-length") == 0) {
            ncl++;
            if (parse_content_length(gw_h1_hvalue(p, i), &cl) < 0)
                return fail(p, 502, "upstream sent an invalid Content-Length");
        } else if (nl == 17 && strcasecmp(name, "transfer-encoding") == 0) {
            nte++;
        }
    }
    if (ncl > 1 || (ncl && nte))
        return fail(p, 502, "upstream sent conflicting message framing");
    p->content_length = ncl ? cl : -1;
    p->chunked = (p->llh.flags & F_CHUNKED) != 0;
    return 0;
}

static int
check_head(struct gw_h1_parser *p)
{
    int ncl = 0, nte = 0, nhost = 0;
    int64_t cl = -1;

    if (p->url_len == 0 || p->buf[p->url] != '/') {
        if (!(p->method == HTTP_OPTIONS && p->url_len == 1 && p->buf[p->url] == '*'))
            return fail(p, 400, "request target must be an absolute path");
    }
    if (p->http_major != 1 || p->http_minor > 1)
        return fail(p, 505, "HTTP version not supported");
    if (p->method == HTTP_CONNECT)
        return fail(p, 405, "CONNECT is not supported");

    for (uint32_t i = 0; i < p->nhdrs; i++) {
        const char *name = gw_h1_hname(p, i);
        const char *value = gw_h1_hvalue(p, i);
        uint32_t nl = p->hdrs[i].name_len;
        if (nl == 14 && strcasecmp(name, "content-length") == 0) {
            ncl++;
            if (parse_content_length(value, &cl) < 0)
                return fail(p, 400, "invalid Content-Length");
        } else if (nl == 17 && strcasecmp(name, "transfer-encoding") == 0) {
            nte++;
            if (!equals_trimmed(value, "chunked"))
                return fail(p, 400, "unsupported Transfer-Encoding");
        } else if (nl == 4 && strcasecmp(name, "host") == 0) {
            nhost++;
        } else if (nl == 6 && strcasecmp(name, "expect") == 0) {
            if (!equals_trimmed(value, "100-continue"))
                return fail(p, 417, "unsupported Expect");
            p->expect_continue = p->http_minor >= 1;
        }
    }
    if (ncl > 1)
        return fail(p, 400, "multiple Content-Length fields");
    if (nte > 1)
        return fail(p, 400, "multiple Transfer-Encoding fields");
    if (ncl && nte)
        return fail(p, 400, "both Content-Length and Transfer-Encoding");
    if (nte && p->http_minor == 0)
        return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
    if (nhost > 1 || (nhost == 0 && p->http_minor >= 1))
        return fail(p, 400, "exactly one Host field is required");
    if (cl > 0 && (uint64_t)cl > p->lim.max_body_bytes)
        return fail(p, 413, "request body too large");
    p->content_length = ncl ? cl : -1;
    p->chunked = nte > 0;
    return 0;
}

static int
on_headers_complete(llhttp_t *llh)
{
    struct gw_h1_parser *p = llh->data;
    p->http_major = llhttp_get_http_major(llh);
    p->http_minor = llhttp_get_http_minor(llh);
    p->keep_alive = llhttp_should_keep_alive(llh);
    p->upgrade = llhttp_get_upgrade(llh);
    if (p->response) {
        p->status = llhttp_get_status_code(llh);
        if (p->status >= 100 && p->status < 200 && p->status != 101) {
            p->interim = 1; /* 100 Continue, 103 Early Hints: not forwarded */
            return 0;
        }
        if (check_response_head(p) < 0)
            return -1;
        p->head_done = 1;
        int r = p->on_head(p, p->cb_arg);
        if (r < 0)
            return fail(p, 502, "upstream response refused");
        return r;
    }
    p->method = (uint8_t)llhttp_get_method(llh);
    if (check_head(p) < 0)
        return -1;
    p->head_done = 1;
    return HPE_PAUSED;
}

static int
on_body(llhttp_t *llh, const char *at, size_t n)
{
    struct gw_h1_parser *p = llh->data;
    if (p->on_data) {
        p->body_len += n;
        return p->on_data(p, p->cb_arg, at, n) < 0 ? -1 : 0;
    }
    if (p->body_len + n > p->lim.max_body_bytes)
        return fail(p, 413, "request body too large");
    if (!p->body && !(p->body = evbuffer_new()))
        return fail(p, 500, "out of memory");
    if (evbuffer_add(p->body, at, n) < 0)
        return fail(p, 500, "out of memory");
    p->body_len += n;
    return 0;
}

static int
on_message_complete(llhttp_t *llh)
{
    struct gw_h1_parser *p = llh->data;
    if (p->interim) {
        /* Forget the interim response's head; the real one follows. */
        p->interim = 0;
        p->len = 0;
        p->nhdrs = 0;
        p->head_bytes = 0;
        p->in_field = 0;
        return 0;
    }
    p->msg_done = 1;
    return HPE_PAUSED;
}

/*
 * llhttp accepts a lone LF as a line end and tolerates some CR placement; we do not, since the
 * servers behind us may disagree. Scan the head bytes llhttp consumed for CR not followed by LF
 * and LF not preceded by CR.
 */
static int
scan_line_ends(struct gw_h1_parser *p, const char *d, size_t n)
{
    size_t i = 0;
    /* The request line byte by byte: it has single spaces between its parts (RFC 9112 3);
     * llhttp 8 takes runs of them. */
    for (; i < n && !p->past_request_line; i++) {
        char c = d[i];
        if (p->prev_cr && c != '\n')
            return fail(p, 400, "bare CR in request head");
        if (c == '\n' && !p->prev_cr)
            return fail(p, 400, "bare LF in request head");
        if (c == ' ' && p->prev_sp)
            return fail(p, 400, "malformed request line");
        p->prev_sp = c == ' ';
        p->past_request_line = c == '\n';
        p->line_start = c == '\n';
        p->prev_cr = c == '\r';
    }
    /* The header lines a line at a time: memchr finds the CR that ends it, and nothing before
     * that may be a CR or an LF. */
    while (i < n) {
        char c = d[i];
        if (p->prev_cr) {
            if (c != '\n')
                return fail(p, 400, "bare CR in request head");
            p->prev_cr = 0;
            p->line_start = 1;
            i++;
            continue;
        }
        /* A line that starts with whitespace continues the previous one (obs-fold, RFC 9112
         * 5.2): llhttp 8 accepts it, and other parsers read it differently, so refuse it. */
        if (p->line_start && (c == ' ' || c == '\t'))
            return fail(p, 400, "obsolete line folding in request head");
        const char *cr = memchr(d + i, '\r', n - i);
        size_t end = cr ? (size_t)(cr - d) : n;
        if (memchr(d + i, '\n', end - i))
            return fail(p, 400, "bare LF in request head");
        p->line_start = 0;
        p->prev_cr = cr != NULL;
        i = cr ? end + 1 : n;
    }
    return 0;
}

static const char *
llhttp_message(llhttp_errno_t e)
{
    switch (e) {
    case HPE_INVALID_METHOD:
        return "invalid method";
    case HPE_INVALID_URL:
        return "invalid request target";
    case HPE_INVALID_VERSION:
        return "invalid HTTP version";
    case HPE_INVALID_HEADER_TOKEN:
        return "invalid header field";
    case HPE_INVALID_CONTENT_LENGTH:
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        return "invalid Content-Length";
    case HPE_INVALID_CHUNK_SIZE:
        return "invalid chunk size";
    case HPE_INVALID_TRANSFER_ENCODING:
        return "invalid Transfer-Encoding";
    case HPE_LF_EXPECTED:
    case HPE_CR_EXPECTED:
    case HPE_STRICT:
        return "malformed line ending";
    default:
        return "malformed request";
    }
}

enum gw_h1_status
gw_h1_feed(struct gw_h1_parser *p, const char *data, size_t len, size_t *consumed)
{
    *consumed = 0;
    if (p->err_status)
        return GW_H1_ERROR;
    /* We pause at headers-complete and message-complete; carry on from there. A zero-length
     * feed right after headers-complete finishes a message that has no body. */
    int paused = llhttp_get_errno(&p->llh) == HPE_PAUSED;
    if (len == 0 && !paused)
        return GW_H1_MORE;
    if (paused)
        llhttp_resume(&p->llh);
    if (!data)
        data = "";
    int was_head = !p->head_done;
    llhttp_errno_t e = llhttp_execute(&p->llh, data, len);
    if (p->response) {
        if (e == HPE_PAUSED) {
            *consumed = (size_t)(llhttp_get_error_pos(&p->llh) - data);
            return GW_H1_DONE;
        }
        *consumed = len;
        if (e != HPE_OK) {
            fail(p, 502, "upstream sent a malformed response");
            return GW_H1_ERROR;
        }
        return GW_H1_MORE;
    }
    size_t used = len;
    if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
        used = (size_t)(llhttp_get_error_pos(&p->llh) - data);
    } else if (e != HPE_OK) {
        used = (size_t)(llhttp_get_error_pos(&p->llh) - data);
        if (used > len)
            used = len;
        if (was_head) {
            (void)scan_line_ends(p, data, used);
            p->head_bytes += used;
        }
        *consumed = used;
        if (!p->err_status)
            fail(p, 400, llhttp_message(e));
        return GW_H1_ERROR;
    }
    *consumed = used;

    if (was_head) {
        /* Bytes of the head: everything up to the pause at headers-complete, or all of it. */
        if (scan_line_ends(p, data, used) < 0)
            return GW_H1_ERROR;
        p->head_bytes += used;
        if (p->head_bytes > p->lim.max_header_bytes)
            return fail(p, 431, "request header fields too large"), GW_H1_ERROR;
        if (p->head_done)
            return GW_H1_HEADERS;
        return GW_H1_MORE;
    }
    if (e == HPE_PAUSED_UPGRADE) {
        /* An Upgrade request we will not upgrade: answer it, then close. */
        p->keep_alive = 0;
        return GW_H1_DONE;
    }
    if (e == HPE_PAUSED)
        return GW_H1_DONE;
    return GW_H1_MORE;
}

enum gw_h1_status
gw_h1_finish(struct gw_h1_parser *p)
{
    if (p->err_status)
        return GW_H1_ERROR;
    if (p->msg_done)
        return GW_H1_DONE;
    llhttp_errno_t e = llhttp_finish(&p->llh);
    if (p->msg_done)
        return GW_H1_DONE;
    if (e != HPE_OK || p->msg_begun) {
        fail(p, 502, "upstream closed the connection mid-response");
        return GW_H1_ERROR;
    }
    return GW_H1_MORE;
}

int
gw_h1_find(const struct gw_h1_parser *p, const char *name)
{
    size_t n = strlen(name);
    for (uint32_t i = 0; i < p->nhdrs; i++)
        if (p->hdrs[i].name_len == n && strcasecmp(gw_h1_hname(p, i), name) == 0)
            return (int)i;
    return -1;
}

int
gw_h1_hop_by_hop(const char *name, size_t n, const char *conn_tokens)
{
    /* clang-format off */
#define HOP(s) {s, sizeof(s) - 1}
    static const struct {
        const char *name;
        size_t len;
    } hop[] = {
        HOP("connection"), HOP("keep-alive"), HOP("proxy-connection"), HOP("te"), HOP("trailer"),
        HOP("transfer-encoding"), HOP("upgrade"), HOP("proxy-authorization"),
        HOP("proxy-authenticate"),
    };
    /* clang-format on */
#undef HOP
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (hop[i].len == n && strncasecmp(hop[i].name, name, n) == 0)
            return 1;
    return conn_tokens && gw_h1_list_has(conn_tokens, name, n);
}

const char *
gw_h1_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    case 529:
        return "Overloaded";
    default:
        return status < 200   ? "Informational"
               : status < 300 ? "Success"
               : status < 400 ? "Redirection"
               : status < 500 ? "Client Error"
                              : "Server Error";
    }
}
