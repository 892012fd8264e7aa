/*
 * Prometheus metrics. Each worker thread owns one struct gw_metrics and updates it on its hot
 * path; the admin thread renders the sum over all workers in the Prometheus text exposition
 * format, version 0.0.4 (Content-Type: text/plain; version=0.0.4; charset=utf-8).
 *
 * An update takes the struct's own mutex (uncontended but for a scrape, which holds it only to
 * copy the numbers out) and looks its label set up in a small open-addressing table. Nothing is
 * allocated in the steady state: a new label set allocates its key once, and the tables have a
 * fixed size, so what one worker holds is bounded whatever clients send:
 *
 * - request series (route, provider, model, status): at most GW_METRICS_MAX_SERIES, of which
 *   the last GW_METRICS_FOLD_RESERVE places are kept for folded series, so that a request is
 *   never lost. An exact label set gets a place while fewer than MAX - RESERVE are in use; past
 *   that the request is counted under model="other" (new such series while fewer than
 *   MAX - RESERVE/2 are in use), then under route="other",model="other" (while fewer than
 *   MAX - 1), and last under a catch-all series whose four labels are all "other", which always
 *   has its place. Existing series keep counting whatever the fill.
 * - providers (the two histograms): at most GW_METRICS_MAX_PROVIDERS, then provider="other".
 * - named counters (gw_metrics_count, gw_metrics_count_labels; up to GW_METRICS_MAX_LABELS
 *   labels each): at most GW_METRICS_MAX_NAMED series. An exact label set gets a place while
 *   fewer than MAX - GW_METRICS_FOLD_RESERVE are in use; past that the update is counted with
 *   every label value "other" (one such series per name and set of label names), and an update
 *   that fits nowhere (an unlabelled one included) is counted in
 *   portcullis_metrics_dropped_total.
 *
 * Label values are copied. A model (and a named counter's label values) is cut to
 * GW_METRICS_VALUE_MAX bytes and every byte outside printable ASCII becomes '?'; route and
 * provider come from the config and are kept as they are (cut at GW_METRICS_NAME_MAX bytes on a
 * UTF-8 boundary). The renderer escapes backslash, double quote and newline in every label value,
 * and writes all series of a family together under one TYPE line.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define GW_METRICS_MAX_SERIES 256
#define GW_METRICS_FOLD_RESERVE 16
#define GW_METRICS_MAX_PROVIDERS 64
#define GW_METRICS_MAX_NAMED 256
#define GW_METRICS_VALUE_MAX 64
#define GW_METRICS_NAME_MAX 255
#define GW_METRICS_MAX_LABELS 3

struct gw_metrics;
struct evbuffer;

/* Returns a zeroed set of metrics for one worker, or NULL when out of memory. */
struct gw_metrics *gw_metrics_new(void);

/* Frees m (NULL is fine). No render of m may be running. */
void gw_metrics_free(struct gw_metrics *m);

/*
 * One finished request. route = route prefix (or "" when unrouted), provider = provider name
 * (or ""), model = the request's model (or "" when unknown), status = HTTP status sent to the
 * client (outside 0..999 it is counted as status="other"). bytes_in = bytes received from the
 * client, bytes_out = bytes sent to it. upstream_us = request sent upstream -> response complete
 * (-1: no upstream exchange), ttft_us = request sent upstream -> first response body byte
 * (-1: none); each one >= 0 is observed in the provider's histogram. NULL strings count as "".
 * Strings are copied. An update through a NULL m (here and in the three functions below) is
 * ignored.
 */
void gw_metrics_request(struct gw_metrics *m, const char *route, const char *provider,
                        const char *model, int status, uint64_t bytes_in, uint64_t bytes_out,
                        int64_t upstream_us, int64_t ttft_us);

/* Active client connections: +1 when one is accepted, -1 when it closes. */
void gw_metrics_conn(struct gw_metrics *m, int delta);

/* Active SSE streams towards clients: +1 when one starts, -1 when it ends. */
void gw_metrics_stream(struct gw_metrics *m, int delta);

/*
 * Adds n to a named counter, for filters and features that need their own: e.g.
 * gw_metrics_count(m, "portcullis_auth_failures_total", "reason", "unknown_key", 1).
 * name must be a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*, at most 128 bytes) that is
 * not one of the families above; label, when not NULL or "", a label name
 * ([a-zA-Z_][a-zA-Z0-9_]*, at most 64 bytes), and value its value (NULL counts as ""). A bad
 * name or label is a bug in the caller: GW_BUG_ON, and the update is ignored. All strings are
 * copied.
 */
void gw_metrics_count(struct gw_metrics *m, const char *name, const char *label, const char *value,
                      uint64_t n);

/*
 * Like gw_metrics_count, with npairs (at most GW_METRICS_MAX_LABELS) labels: labels[2 * i] is a
 * label name and labels[2 * i + 1] its value (NULL counts as ""); labels may be NULL when npairs
 * is 0. E.g. with labels {"provider", "openai", "reason", "quota"} and npairs 2. Every label name
 * must be valid as for gw_metrics_count (not "") and appear once; a bad name, label or npairs is
 * a bug in the caller: GW_BUG_ON, and the update is ignored. The labels are rendered sorted by
 * name, so the same set given in another order is the same series. All strings are copied.
 */
void gw_metrics_count_labels(struct gw_metrics *m, const char *name, const char *const *labels,
                             size_t npairs, uint64_t n);

/* Process-wide numbers that the control thread owns, passed in at render time. */
struct gw_metrics_globals {
    uint64_t config_generation; /* 1 for the first loaded config, +1 per successful reload */
    uint64_t reloads_ok, reloads_failed;
    double last_reload_ok_time; /* unix seconds, 0 = never */
    int workers, workers_running;
    int draining; /* 1 once shutdown started */
    const char *version;
};

/*
 * Appends the exposition text for the sum over ms[0..n-1] plus the globals (NULL: all zero)
 * to out. Identical label sets from different workers are merged into one sample; samples are
 * sorted by their labels, so the same numbers always give the same text. Each ms[i] is locked
 * once, briefly, to copy its numbers; it must stay alive until the call returns. Callable from
 * any thread.
 */
void gw_metrics_render(struct gw_metrics *const *ms, size_t n, const struct gw_metrics_globals *g,
                       struct evbuffer *out);

#endif
