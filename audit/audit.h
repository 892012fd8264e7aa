/*
 * The audit trail: structured records of every decision the gateway makes, delivered to the
 * configured sinks by one audit thread.
 *
 * Workers (and the control thread) build a record (audit/record.h) and submit it: one mutex-held
 * list append, and an eventfd write when the list was empty. They never wait for the audit
 * thread: past audit.queue_bytes records are appended to an overflow file in the spool directory
 * (counted), which the audit thread reads back in order.
 *
 * The audit thread seals each record into every interested sink's hash chain (per sink, so a
 * filtered sink's file still verifies), then delivers in batches. Every sink has a spool file:
 * when a send fails, the failed batch and all that follows go to the spool and are replayed in
 * order, with backoff, once the sink answers again. The delivered offset, the spool and the chain
 * state survive restarts; on stop, what could not be delivered within the grace time is spooled.
 * Delivery is at-least-once.
 */
#ifndef GW_AUDIT_H
#define GW_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"
#include "filters/filter.h"

struct evbuffer;
struct gw_jw;

/*
 * Starts the audit thread for cfg->audit (keeps a reference to cfg: sinks are not reloaded).
 * Opens the spool directory, loads chain states and spools. No sinks: audit is off and records
 * are not built. 0, or -1 with a message in err.
 */
int gw_audit_start(struct gw_config *cfg, char *err, size_t errlen);

/* Stops the thread: drains the queue, delivers for up to grace_ms, spools the rest. */
void gw_audit_stop(uint32_t grace_ms);

/* 1 when some sink takes records of kind (GW_AUDIT_K_*) at severity: worth building. */
int gw_audit_wants(unsigned kind, int severity);

/* Hands a finished record (see record.h; built with head = GW_AUDIT_HEAD) to the audit thread.
 * Takes the buffer in every case. */
#define GW_AUDIT_HEAD 32
void gw_audit_submit(struct gw_jw *w, unsigned kind, int severity);

/* 1 when two audit sections configure the same sinks (sinks change only with a restart). */
int gw_audit_same(const struct gw_audit_cfg *a, const struct gw_audit_cfg *b);

/* Appends the audit families (queue, spool, sent, failed, dropped) in Prometheus text format. */
void gw_audit_render_metrics(struct evbuffer *out);

/* Tests: while on, the audit thread leaves submitted records queued (so the queue fills and
 * spills to the overflow file); off wakes it. */
void gw_audit_test_hold(int on);
/* Records spilled to the overflow file since the process started. */
uint64_t gw_audit_overflowed(void);

/* ---- records (audit/events.c) ---- */

/* Who and what an exchange is about; any field may be NULL or "". */
struct gw_audit_who {
    const char *request_id, *session, *team, *key_id, *user, *client_ip;
    const char *provider, *model, *route, *method, *path;
};

/* Captured text of one side (prompt or response), per the route's capture policy. */
struct gw_audit_text {
    const char *text; /* redacted / full: the text (cut at the cap); NULL: none */
    size_t len;
    uint64_t total;       /* bytes before the cut */
    const char *sha256;   /* hash: hex digest; NULL: none */
    const char *withheld; /* redacted: why the text is withheld (a detection was not redacted) */
};

struct gw_audit_req {
    int status, upstream_status;
    int stream;
    double duration_ms, ttfb_ms;   /* -1 when unknown */
    int64_t tokens_in, tokens_out; /* -1 when unknown */
    double cost;                   /* USD; < 0 when unknown */
    uint64_t bytes_in, bytes_out;
    const char *rules; /* filter:rule:action list, or NULL */
    int blocked;       /* a filter blocked the exchange */
    const char *error; /* why it failed, or NULL */
    int capture;       /* enum gw_capture */
    struct gw_audit_text prompt, response;
};

void gw_audit_request(const struct gw_audit_who *who, const struct gw_audit_req *r);
void gw_audit_filter(const struct gw_audit_who *who, const struct gw_event *ev,
                     enum gw_direction dir);
void gw_audit_auth_failure(const struct gw_audit_who *who, const char *reason, int status);
void gw_audit_policy(const struct gw_audit_who *who, const char *action, const char *reason,
                     int status);
/* action: "config_load", "config_reload", "config_reload_failed". cfg: the config in use after
 * the action (NULL when none). */
void gw_audit_config(const char *action, const struct gw_config *cfg, const char *path,
                     unsigned generation, const char *error);
/* action: "start" or "stop". */
void gw_audit_lifecycle(const char *action, const char *detail);

/* Severity of a filter event as recorded: the filter's 1..4, or 3 (block) / 1 when it gave none. */
int gw_audit_filter_severity(const struct gw_event *ev);

#endif
