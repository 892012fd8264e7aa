/*
 * Audit sinks: where hash-chained audit records go (a file, a syslog collector, an HTTP
 * collector). A sink only delivers: the audit core (audit/audit.c) batches records, seals them
 * into the sink's hash chain, spools them to disk while the sink fails and retries with backoff.
 *
 * Everything here runs on the audit thread, on its event_base. A sink never blocks that loop for
 * the network (connects, writes and answers are asynchronous); the file sink writes to a local
 * file directly.
 *
 * Records. A batch is n complete records, each one JSON object on one line ending in '\n'. Every
 * record starts with the same prefix, so a sink can read its time and severity without parsing:
 *   {"@timestamp":"2026-11-29T12:00:00.123456Z","event":{"severity":N,...
 * (timestamp RFC 3339 UTC with microseconds; N one digit 0 info, 1 low, 2 medium, 3 high,
 * 4 critical). gw_audit_rec_meta reads them.
 */
#ifndef GW_AUDIT_SINK_H
#define GW_AUDIT_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"

struct event_base;
struct evbuffer;

/*
 * Completion of a send: ok = 1 when every record of the batch was delivered (written to the file,
 * handed to the syslog socket, or acknowledged by the collector); ok = 0 otherwise, why saying
 * what failed (for the log; may be NULL). The core then keeps the whole batch and sends it again
 * later: delivery is at-least-once.
 */
typedef void (*gw_sink_done_fn)(void *arg, int ok, const char *why);

struct gw_sink_ops {
    /* Creates the sink's runtime state. Must not block on the network (connect lazily, in send).
     * NULL on failure, with a message in err. */
    void *(*open)(const struct gw_sink_cfg *cfg, struct event_base *base, char *err, size_t errlen);
    /* Delivers n records (len bytes at recs; the bytes are valid only during the call: copy what
     * must outlive it). Calls done exactly once, from inside send or later from the loop. The
     * core never calls send again before done. */
    void (*send)(void *st, const char *recs, size_t len, size_t n, gw_sink_done_fn done, void *arg);
    /* Frees the state. A send in flight is abandoned: its done is never called. */
    void (*close)(void *st);
};

/* The operations of a sink type. */
const struct gw_sink_ops *gw_sink_ops_for(enum gw_sink_type type);

extern const struct gw_sink_ops gw_sink_file_ops;
extern const struct gw_sink_ops gw_sink_syslog_ops;
extern const struct gw_sink_ops gw_sink_http_ops; /* splunk_hec, elasticsearch, webhook */

/* The clock the file sink's rotate_interval counts with (monotonic microseconds; default
 * gw_now_us). Tests replace it to age a file without waiting. */
extern uint64_t (*gw_sink_file_clock)(void);

/*
 * Reads the time and severity of one record (see the prefix above). ts receives the timestamp
 * text (NUL-terminated, at most tslen - 1 bytes). Returns 0, or -1 when rec does not start with
 * the prefix (then ts is "" and *severity 0).
 */
int gw_audit_rec_meta(const char *rec, size_t len, char *ts, size_t tslen, int *severity);

/* ---- framing (pure functions, unit-tested) ---- */

/*
 * Appends one RFC 5424 message for rec (one record without its '\n') to out:
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID audit - MSG
 * PRI = facility * 8 + the syslog severity for the record's severity (info 6, low 5, medium 4,
 * high 3, critical 2). MSG is the record. With octet_counting (TCP, TLS: RFC 6587 3.4.1) the
 * message is preceded by its length in bytes and a space. 0, or -1 when out of memory.
 */
int gw_syslog_frame(struct evbuffer *out, const struct gw_sink_cfg *cfg, const char *hostname,
                    long procid, const char *rec, size_t len, int octet_counting);

/*
 * Appends the request body for a batch to an HTTP collector of cfg->type (uncompressed):
 * - splunk_hec: per record {"time":EPOCH.micro,"host":HOST,"source":"portcullis",
 *   "sourcetype":"portcullis:audit"[,"index":INDEX],"event":RECORD} then '\n';
 * - elasticsearch: per record {"create":{"_index":INDEX,"_id":HASH}}\n RECORD\n, where HASH is the
 *   record's "hash" field (a retried batch then cannot store a record twice);
 * - webhook: the records as they are (NDJSON).
 * 0, or -1 when out of memory.
 */
int gw_http_batch_body(struct evbuffer *out, const struct gw_sink_cfg *cfg, const char *hostname,
                       const char *recs, size_t len);

/* gzip (RFC 1952) of len bytes at in, appended to out. 0, or -1 on failure. */
int gw_gzip(struct evbuffer *out, const void *in, size_t len);

#endif
