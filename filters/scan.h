/*
 * The Hyperscan wrapper every detection filter uses: compile a rule set once per config snapshot
 * (control thread), scan whole texts (block mode) or logical response streams (stream mode) on
 * the workers with one scratch per thread. Rules are identified by their index in the array given
 * to gw_scan_compile; per-rule metadata (ids, actions, categories) stays with the caller.
 *
 * A scan may not be started from inside a match callback (the thread's scratch is in use then;
 * the call fails with -1).
 */
#ifndef GW_SCAN_H
#define GW_SCAN_H

#include <stddef.h>
#include <stdio.h>

#include <hs/hs.h>

struct gw_scan_rule {
    const char *id;      /* for error messages only */
    const char *pattern; /* Hyperscan (PCRE subset) syntax */
    unsigned flags;      /* HS_FLAG_* */
};

/* A compiled rule set: immutable after gw_scan_compile, shared read-only by every worker. */
struct gw_scan_db;

/*
 * Compiles n rules for block mode (whole texts) and, when stream != 0, also for stream mode.
 * Start of match is tracked per rule: for the rules whose flags carry HS_FLAG_SOM_LEFTMOST, and for
 * every rule when som != 0; one database may mix both kinds, and each rule costs what it needs:
 * tracking the start costs 1.5x to 5x (see flt_patterns.c; 40x for a keyword-led rule with a long
 * value class), and large bounded repeats such as .{1,200} or {40,160} do not compile with it at
 * all ("Pattern is too large"). Callbacks get from = 0 for the rules without it. When some rule
 * tracks its start, a block-mode probe of the same rules without it is compiled too (see
 * gw_scan_block). n may be 0 (scans then find nothing). Returns the database
 * (free with gw_scan_free), or NULL with "rule '<id>': <hyperscan message>" (or a message about the
 * whole set) written into err and, when bad is not NULL, *bad set to the index of that rule (n for
 * the whole set). Slow
 * (~5 ms per rule): call on the control thread.
 */
struct gw_scan_db *gw_scan_compile(const struct gw_scan_rule *rules, size_t n, int som, int stream,
                                   char *err, size_t errlen, size_t *bad);

/*
 * gw_scan_compile with an on-disk cache: the compiled databases are kept in
 * $PORTCULLIS_CACHE_DIR, else $XDG_CACHE_HOME/portcullis, else ~/.cache/portcullis
 * (PORTCULLIS_CACHE_DIR=off: no cache), in <tag>-<SHA-256 of the Hyperscan version, som, stream
 * and every rule's flags and pattern>.hsdb, and loaded from there when present (milliseconds
 * instead of seconds). A file that is damaged or was built by another Hyperscan or for another
 * CPU is ignored and rewritten. Writing is best effort (temporary file, then renamed). A database
 * file is code for Hyperscan's engine: the directory must be the user's own.
 */
struct gw_scan_db *gw_scan_compile_cached(const char *tag, const struct gw_scan_rule *rules,
                                          size_t n, int som, int stream, char *err, size_t errlen,
                                          size_t *bad);

/*
 * Hyperscan's shortest and longest match of expr under flags (hs_expression_info; *maxw UINT_MAX
 * when unbounded): 0, or -1 with Hyperscan's message written into err. The answers for valid
 * expressions are remembered in memory and in the cache directory above (widths-<Hyperscan
 * version>.tbl), since measuring is as slow as ~1 ms per large expression and a pack measures
 * thousands on every load. Thread-safe.
 */
int gw_scan_expr_widths(const char *expr, unsigned flags, unsigned *minw, unsigned *maxw, char *err,
                        size_t errlen);

/*
 * Compile-time profile (`portcullis check --rule-times`): once enabled, every
 * gw_scan_compile_cached call (cache hit or not) also compiles each of its rules alone -- the
 * expressions that share an id, in the modes and with the flags of the real compile -- and
 * records the CPU time that took. Seconds each for the shipped packs: a diagnostic, never for a
 * serving gateway. gw_scan_profile_report prints the top slowest (0: all) and the total to f and
 * frees the records. Thread-safe.
 */
void gw_scan_profile_enable(void);
void gw_scan_profile_report(FILE *f, size_t top);

/* Frees a database no scan or open stream uses any more. NULL is ignored. */
void gw_scan_free(struct gw_scan_db *db);

/*
 * The calling thread's scratch, grown (once per database and thread) so that it serves db. It is
 * owned by the thread and freed when the thread exits; the pointer is valid until the thread's
 * next gw_scan_scratch call (growing may move it). NULL when out of memory. The scan functions
 * below call it themselves; it is public for callers that use the hs_* API directly.
 */
hs_scratch_t *gw_scan_scratch(const struct gw_scan_db *db);

/*
 * Match callback: rule_index into the compiled array, [from, to) the match (offsets in the text,
 * or in the whole stream for stream mode; from = 0 for a rule compiled without SOM). Returning
 * non-zero stops the scan (not an error). Matches may be reported in any order and, without SOM,
 * once per end offset.
 */
typedef int (*gw_scan_cb)(unsigned rule_index, unsigned long long from, unsigned long long to,
                          void *arg);

/* Block-mode scan of a whole text of len bytes. 0, or -1 on a Hyperscan error. A database with
 * start-of-match rules scans the text with its probe first and stops there when the probe finds
 * nothing; otherwise the callbacks are those of one full scan, as without a probe. */
int gw_scan_block(const struct gw_scan_db *db, const char *text, size_t len, gw_scan_cb cb,
                  void *arg);

/*
 * Stream mode, one stream per logical response stream: open (NULL when out of memory or when db
 * was compiled without stream mode), feed chunks in order (matches are reported with offsets in
 * the whole stream as soon as Hyperscan can decide them: a match whose end needs the next byte,
 * such as a trailing \b or $, is reported by a later feed or by close), and close, which reports
 * the matches at the end of the stream and frees the stream (cb may be NULL to discard them).
 * Every opened stream must be closed exactly once. The db must outlive its streams.
 */
struct gw_scan_stream;
struct gw_scan_stream *gw_scan_stream_open(const struct gw_scan_db *db);
/* 0, or -1 on a Hyperscan error (the stream stays open and must still be closed). */
int gw_scan_stream_feed(struct gw_scan_stream *s, const char *data, size_t len, gw_scan_cb cb,
                        void *arg);
/* 0, or -1 on a Hyperscan error; s is freed either way. NULL is ignored. */
int gw_scan_stream_close(struct gw_scan_stream *s, gw_scan_cb cb, void *arg);

#endif
