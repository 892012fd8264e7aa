/*
 * Audit records: a small JSON writer (no tree, no jansson: records are built on the worker's hot
 * path) and the builders of every record kind. A record is one JSON object on one line; the
 * builders write it without its closing brace and hand it to the audit thread (audit/audit.h),
 * which appends the hash-chain fields per sink (audit/chain.h).
 *
 * Every record starts with the same prefix, which sinks read without parsing (audit/sink.h):
 *   {"@timestamp":"2026-11-29T12:00:00.123456Z","event":{"severity":N,...
 */
#ifndef GW_AUDIT_RECORD_H
#define GW_AUDIT_RECORD_H

#include <stddef.h>
#include <stdint.h>

/* JSON writer into a growing buffer. Any allocation failure sets oom; later calls do nothing. */
struct gw_jw {
    char *buf;
    size_t len, cap;
    size_t head; /* bytes reserved before the JSON text (the queue node) */
    int oom;
    int depth;
    unsigned char more[16]; /* per depth: a member was written, the next one needs a comma */
};

/* Starts a record: reserves head bytes, then writes '{'. */
void gw_jw_begin(struct gw_jw *w, size_t head, size_t hint);
void gw_jw_free(struct gw_jw *w);

void gw_jw_obj(struct gw_jw *w, const char *key); /* "key":{ */
void gw_jw_end(struct gw_jw *w);                  /* } */
/* String values are escaped; invalid UTF-8 becomes U+FFFD. NULL s writes nothing. */
void gw_jw_str(struct gw_jw *w, const char *key, const char *s);
void gw_jw_strn(struct gw_jw *w, const char *key, const char *s, size_t n);
void gw_jw_int(struct gw_jw *w, const char *key, int64_t v);
void gw_jw_num(struct gw_jw *w, const char *key, double v); /* %.10g, finite only */
void gw_jw_ms(struct gw_jw *w, const char *key, double ms); /* milliseconds, 3 decimals */
void gw_jw_bool(struct gw_jw *w, const char *key, int v);
void gw_jw_str_array1(struct gw_jw *w, const char *key, const char *s); /* "key":["s"] */

/* Appends the JSON-escaped form of n bytes (no quotes) to w. */
void gw_jw_escape(struct gw_jw *w, const char *s, size_t n);

/* Writes the common prefix: @timestamp (now), event.severity; leaves "event" open. */
void gw_jw_record_start(struct gw_jw *w, size_t head, int severity);

#endif
