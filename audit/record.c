/*
 * The JSON writer behind audit records (see record.h).
 */
#include "audit/record.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/jsonscan.h"

static int
reserve(struct gw_jw *w, size_t n)
{
    if (w->oom)
        return -1;
    if (w->len + n <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : 512;
    while (cap < w->len + n)
        cap *= 2;
    char *b = realloc(w->buf, cap);
    if (!b) {
        w->oom = 1;
        return -1;
    }
    w->buf = b;
    w->cap = cap;
    return 0;
}

static void
put(struct gw_jw *w, const char *s, size_t n)
{
    if (reserve(w, n) < 0)
        return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

#define PUTS(w, lit) put((w), (lit), sizeof(lit) - 1)

void
gw_jw_begin(struct gw_jw *w, size_t head, size_t hint)
{
    memset(w, 0, sizeof(*w));
    if (reserve(w, head + (hint ? hint : 512)) < 0)
        return;
    w->len = head;
    w->head = head;
    PUTS(w, "{");
}

void
gw_jw_free(struct gw_jw *w)
{
    free(w->buf);
    memset(w, 0, sizeof(*w));
}

void
gw_jw_escape(struct gw_jw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    if (reserve(w, n + 16) < 0)
        return;
    while (i < n) {
        /* copy a run of bytes that need no escaping */
        size_t j = i;
        while (j < n && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '"' && p[j] != '\\')
            j++;
        if (j > i) {
            put(w, s + i, j - i);
            i = j;
            continue;
        }
        unsigned c = p[i];
        if (c == '"') {
            PUTS(w, "\\\"");
        } else if (c == '\\') {
            PUTS(w, "\\\\");
        } else if (c == '\n') {
            PUTS(w, "\\n");
        } else if (c == '\r') {
            PUTS(w, "\\r");
        } else if (c == '\t') {
            PUTS(w, "\\t");
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(w, e, 6);
        } else {
            size_t l = gw_utf8_seq(p + i, p + n);
            if (l == 0) {
                PUTS(w, "\\ufffd");
                i++;
                continue;
            }
            put(w, s + i, l);
            i += l;
            continue;
        }
        i++;
    }
}

static void
key(struct gw_jw *w, const char *k)
{
    if (w->more[w->depth])
        PUTS(w, ",");
    w->more[w->depth] = 1;
    PUTS(w, "\"");
    put(w, k, strlen(k)); /* keys are literals of ours: nothing to escape */
    PUTS(w, "\":");
}

void
gw_jw_obj(struct gw_jw *w, const char *k)
{
    key(w, k);
    PUTS(w, "{");
    if (w->depth + 1 < (int)sizeof(w->more)) {
        w->depth++;
        w->more[w->depth] = 0;
    }
}

void
gw_jw_end(struct gw_jw *w)
{
    PUTS(w, "}");
    if (w->depth > 0)
        w->depth--;
}

void
gw_jw_strn(struct gw_jw *w, const char *k, const char *s, size_t n)
{
    if (!s)
        return;
    key(w, k);
    PUTS(w, "\"");
    gw_jw_escape(w, s, n);
    PUTS(w, "\"");
}

void
gw_jw_str(struct gw_jw *w, const char *k, const char *s)
{
    if (s)
        gw_jw_strn(w, k, s, strlen(s));
}

/* Decimal digits of v at the end of b (24 bytes); returns where they start. No printf: a record
 * carries a dozen numbers and this is the worker's hot path. */
static char *
fmt_u64(char *end, uint64_t v)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

void
gw_jw_int(struct gw_jw *w, const char *k, int64_t v)
{
    char b[24], *end = b + sizeof(b);
    char *p = fmt_u64(end, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    if (v < 0)
        *--p = '-';
    key(w, k);
    put(w, p, (size_t)(end - p));
}

void
gw_jw_ms(struct gw_jw *w, const char *k, double ms)
{
    if (!isfinite(ms) || ms < 0 || ms > 1e15) {
        gw_jw_num(w, k, ms);
        return;
    }
    uint64_t us = (uint64_t)(ms * 1000.0 + 0.5);
    char b[32], *end = b + sizeof(b);
    char *p = end;
    uint64_t frac = us % 1000;
    for (int i = 0; i < 3; i++) {
        *--p = (char)('0' + frac % 10);
        frac /= 10;
    }
    *--p = '.';
    p = fmt_u64(p, us / 1000);
    key(w, k);
    put(w, p, (size_t)(end - p));
}

void
gw_jw_num(struct gw_jw *w, const char *k, double v)
{
    if (!isfinite(v))
        return;
    char b[40];
    int n = snprintf(b, sizeof(b), "%.10g", v);
    key(w, k);
    put(w, b, (size_t)n);
}

void
gw_jw_bool(struct gw_jw *w, const char *k, int v)
{
    key(w, k);
    if (v)
        PUTS(w, "true");
    else
        PUTS(w, "false");
}

void
gw_jw_str_array1(struct gw_jw *w, const char *k, const char *s)
{
    key(w, k);
    PUTS(w, "[\"");
    gw_jw_escape(w, s, strlen(s));
    PUTS(w, "\"]");
}

void
gw_jw_record_start(struct gw_jw *w, size_t head, int severity)
{
    /* The date and time to the second are formatted once per second per thread. */
    static __thread time_t cached_sec = -1;
    static __thread char cached[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d",
                 (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100,
                 tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100);
        cached_sec = ts.tv_sec;
    }
    if (severity < 0)
        severity = 0;
    if (severity > 4)
        severity = 4;
    char b[96];
    size_t n = 0;
    memcpy(b, "\"@timestamp\":\"", 14);
    n = 14;
    memcpy(b + n, cached, 19);
    n += 19;
    b[n++] = '.';
    long usec = ts.tv_nsec / 1000;
    for (int i = 5; i >= 0; i--) {
        b[n + (size_t)i] = (char)('0' + usec % 10);
        usec /= 10;
    }
    n += 6;
    static const char tail[] = "Z\",\"event\":{\"severity\":";
    memcpy(b + n, tail, sizeof(tail) - 1);
    n += sizeof(tail) - 1;
    b[n++] = (char)('0' + severity);
    gw_jw_begin(w, head, 1024);
    put(w, b, n);
    w->more[0] = 1;
    w->depth = 1;
    w->more[1] = 1;
}
