/*
 * The filter API. Every security feature is a filter: a small, provider-agnostic module that sees
 * the text of a request or response as segments (whole texts with their role) or, for streamed
 * responses, as chunks of new text per logical stream, and answers with a verdict.
 *
 * Lifetimes (callbacks grouped by them, NULL ones skipped):
 * - config: conf_new / conf_free run on the control thread when a snapshot is loaded / freed;
 *   conf_new may compile (Hyperscan) and reports errors with file:line:col through gw_cfg_ctx.
 * - exchange: on_req_body, on_resp_body, on_resp_chunk run on the worker, in config order;
 *   on_tx_end runs exactly once for every exchange that reached the chain, aborted ones included.
 *
 * Return contract of every on_* callback:
 *   GW_PASS    nothing to do.
 *   GW_REDACT  the filter edited text through gw_segment_replace / gw_chunk_replace.
 *   GW_BLOCK   the filter called gw_tx_block; the chain stops and the exchange is answered with
 *              the block (a provider-format error; mid-stream: an error event, then close).
 *   GW_WAIT    the filter started asynchronous work and will call gw_tx_resume(tx, verdict) once,
 *              later, from the worker's event loop. Only on_req_body may wait. If the client goes
 *              away first, on_tx_end still runs (the filter cancels its work there) and resume
 *              must not be called afterwards.
 *   GW_ERROR   the filter failed; per-filter `on_error: block|pass` decides (default block, 500).
 */
#ifndef GW_FILTER_H
#define GW_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct gw_tx;
struct gw_cnode;

enum gw_verdict { GW_ERROR = -1, GW_PASS = 0, GW_REDACT, GW_BLOCK, GW_WAIT };

/* Where a text comes from. Request roles are what the application or tools wrote; response roles
 * are what the model wrote. */
enum gw_role {
    GW_ROLE_SYSTEM = 0,  /* system prompt / instructions */
    GW_ROLE_DEVELOPER,   /* OpenAI developer message */
    GW_ROLE_USER,        /* user message */
    GW_ROLE_ASSISTANT,   /* assistant text (earlier turns in a request; the answer in a response) */
    GW_ROLE_TOOL_RESULT, /* tool output, retrieved documents: indirect content */
    GW_ROLE_TOOL_CALL_ARGS,  /* arguments of a tool call the model made (JSON text) */
    GW_ROLE_TOOL_DEFINITION, /* tool name, description and parameter schema offered to the model */
    GW_ROLE_COUNT
};

/* "system", "developer", "user", "assistant", "tool_result", "tool_call_args", "tool_definition".
 */
const char *gw_role_name(enum gw_role r);
/* The role for a name (also "tool" for tool_result); -1 when unknown. */
int gw_role_from_name(const char *name);

enum gw_direction { GW_DIR_REQUEST = 0, GW_DIR_RESPONSE = 1 };

/*
 * One text the model reads (request) or wrote (response). text is NUL-terminated UTF-8 owned by
 * the segment list; filters read it and edit only through gw_segment_replace.
 */
struct gw_segment {
    enum gw_role role;
    char *text;
    size_t len;
    int msg_index; /* message / item index in the request or response, -1 when none */
    json_t *node;  /* where it lives in the body (adapter-owned reference), or NULL */
    int kind;      /* adapter-private: how to write it back */
    int edited;
};

struct gw_segments {
    enum gw_direction dir;
    struct gw_segment *v;
    size_t n, cap;
};

/*
 * Replaces len bytes at off in segment s with rep (rlen bytes). The span must lie inside the text
 * and on UTF-8 boundaries (offsets from a match over the text are). The adapter writes edited
 * segments back into the JSON body, re-serialised once. Returns 0, or -1 on a bad span / no memory.
 */
int gw_segment_replace(struct gw_segment *s, size_t off, size_t len, const char *rep, size_t rlen);

/*
 * New text of one logical stream of a streamed response (per choice: its text, or one tool call's
 * arguments). text = what this filter held back last time followed by the new text; the filter
 * may edit it (gw_chunk_replace) and may set hold to keep the last `hold` bytes back (a possible
 * partial match); they are presented again, first, with the next chunk. On the final chunk of a
 * stream (final = 1) hold must stay 0. What a filter releases is what the next filter sees.
 */
struct gw_chunk {
    enum gw_role role; /* GW_ROLE_ASSISTANT or GW_ROLE_TOOL_CALL_ARGS */
    int stream_id;     /* logical stream: stable for the exchange */
    int choice;        /* choice index (OpenAI n > 1), else 0 */
    char *text;        /* owned by the chain; edit through gw_chunk_replace */
    size_t len;
    size_t hold;
    int final;       /* the stream ends: release everything (hold stays 0); no chunk follows */
    int flush;       /* the stream paused longer than timeouts.stream_hold: release everything now
                      * (hold stays 0), but the stream goes on and more chunks follow */
    uint64_t offset; /* bytes this filter released from the stream before text[0] (events) */
};
/* hold is honoured whatever the verdict (a filter holds while answering GW_PASS). text is a
 * malloc'd block that gw_chunk_replace replaces: re-read the pointer after an edit. Texts may hold
 * NUL bytes: use len. */

/*
 * A filter's records per logical stream (gw_chunk.stream_id): n records of `elem` bytes at v,
 * each beginning with its `int id`. gw_streams_get returns the record of id, appending a
 * zero-filled one with that id when there is none (*added, unless NULL: 1, else 0); NULL when
 * out of memory.
 * The caller frees v (and what its records own).
 */
struct gw_streams {
    void *v;
    size_t n, cap;
};
void *gw_streams_get(struct gw_streams *s, size_t elem, int id, int *added);

/* hold, shortened so that the held tail text[len - hold] starts on a UTF-8 code point. */
static inline size_t
gw_utf8_hold(const char *text, size_t len, size_t hold)
{
    if (hold > len)
        hold = len;
    while (hold > 0 && hold < len && ((unsigned char)text[len - hold] & 0xC0) == 0x80)
        hold--;
    return hold;
}

/* Like gw_segment_replace, for a chunk. The replacement may not lie in the held tail. */
int gw_chunk_replace(struct gw_chunk *c, size_t off, size_t len, const char *rep, size_t rlen);

/* Load-time context handed to conf_new: the config file name for messages and the filter's node. */
struct gw_cfg_ctx {
    const char *file;
    const struct gw_cnode *node; /* the filter's mapping in the config (positions for errors) */
    char *err;                   /* conf_new writes "file:line:col: message" here on failure */
    size_t errlen;
    const char *basedir; /* directory of the config file, for relative paths (NULL: cwd) */
};

/* Writes "file:line:col: fmt..." for node (NULL: the filter's own node) into cc->err. Returns -1.
 */
int gw_cfg_error(struct gw_cfg_ctx *cc, const struct gw_cnode *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A file named in a filter's config: relative paths are taken from the config file's directory.
 * Returns a new string (the caller frees it), NULL when out of memory. */
char *gw_cfg_path(const struct gw_cfg_ctx *cc, const char *file);

/* The node of key a of the filter's mapping, or of key b under it when it has one (NULL when a
 * is absent): where an error about a value points. */
const struct gw_cnode *gw_cfg_node_at(const struct gw_cfg_ctx *cc, const char *a, const char *b);

/* The config error "<prefix>unknown key '[section.]key' (known: ...)" for the first key of o (the
 * filter's mapping, or its `section` mapping) that is not in known (NULL-terminated), at that
 * key's node; 0 when every key is known. prefix may be NULL. */
int gw_cfg_unknown_keys(struct gw_cfg_ctx *cc, const json_t *o, const char *const *known,
                        const char *section, const char *prefix);

struct gw_filter_ops {
    const char *name; /* config keyword */
    size_t ctx_size;  /* per-exchange context, zeroed */
    /* Load time: conf is this filter's mapping (positions in cc->node). 0, or -1 with cc->err. */
    int (*conf_new)(struct gw_cfg_ctx *cc, const json_t *conf_json, void **conf);
    void (*conf_free)(void *conf);
    enum gw_verdict (*on_req_body)(struct gw_tx *tx, void *conf, void *ctx,
                                   struct gw_segments *segs);
    enum gw_verdict (*on_resp_body)(struct gw_tx *tx, void *conf, void *ctx,
                                    struct gw_segments *segs);
    enum gw_verdict (*on_resp_chunk)(struct gw_tx *tx, void *conf, void *ctx,
                                     struct gw_chunk *chunk);
    void (*on_tx_end)(struct gw_tx *tx, void *conf, void *ctx);
    /* Optional: which of the body / chunk callbacks this configuration needs (GW_HOOK_* bits);
     * a route whose chain needs none of them does not buffer or parse responses. NULL: every
     * non-NULL callback. */
    unsigned (*hooks)(const void *conf);
    /* Optional: a one-line summary of the configuration for `portcullis check` (NUL-terminated,
     * at most cap bytes). */
    void (*describe)(const void *conf, char *buf, size_t cap);
};

/* GW_HOOK_USAGE: the filter reads the provider's usage at the end (gw_tx_usage) without a body
 * callback: the chain reads a JSON answer's usage without building its tree when nothing else
 * needs one. */
enum {
    GW_HOOK_REQ_BODY = 1u << 0,
    GW_HOOK_RESP_BODY = 1u << 1,
    GW_HOOK_RESP_CHUNK = 1u << 2,
    GW_HOOK_USAGE = 1u << 3,
};

/* ---- services for filters (implemented by the chain) ---- */

/* Blocks the exchange: status (e.g. 403), OpenAI-style code (e.g. "output_blocked") and a message
 * for the client. The caller then returns GW_BLOCK. */
void gw_tx_block(struct gw_tx *tx, int status, const char *code, const char *message);

/* Identity of the caller: any string may be NULL. route is the route's prefix, which routes that
 * select by model may share; route_index tells every route of the config snapshot apart (its
 * position in the snapshot, stable while the filter's configuration lives: both belong to the same
 * snapshot), -1 when the exchange has no route. */
struct gw_identity {
    const char *team, *key_id, *user, *session, *model, *route, *provider;
    int route_index;
};
void gw_tx_identity(const struct gw_tx *tx, struct gw_identity *out);

/* A detection or decision for the audit trail (never the matched text itself). The chain
 * replaces `filter` with the emitting filter's configured name. category names the class of
 * finding; the security metrics read it: "secret" / "pii" (optionally ":type", e.g.
 * "secret:aws_key"; else the rule id is the type) count as sensitive data, a category containing
 * "injection", "jailbreak" or "extraction" as an injection attempt. */
struct gw_event {
    const char *filter, *rule_id, *category, *action; /* action: block / redact / event */
    int severity;                                     /* 1 low .. 4 critical */
    double score;
    /* A score that combines detectors: its parts (injection: the rule pack's score and the
     * classifier's probability), reported when has_parts. */
    int has_parts;
    double rule_score, model_score;
    enum gw_role role;
    int msg_index;
    uint64_t offset, length; /* span in the segment / logical stream */
    const char *encoding;    /* the match was inside a payload so encoded ("base64"), or NULL */
    int pasted;  /* injection: the score read the message's pasted material as a document */
    int subject; /* injection: the score read the message's name for the system prompt's guarded
                  * secret as "secret" */
};
void gw_emit(struct gw_tx *tx, const struct gw_event *ev);

/* What the request asks of the model and what the provider reported, for accounting. */
struct gw_tx_usage {
    int64_t max_output;            /* the request's output cap (max_tokens, max_completion_tokens,
                                    * max_output_tokens), -1 when it sets none */
    int64_t choices;               /* OpenAI chat `n` (answers generated), 1 otherwise */
    int64_t tokens_in, tokens_out; /* usage the provider reported, -1 when not seen (yet); input
                                    * counts every input token, prompt-cache reads and writes
                                    * included, for every API */
    int64_t tokens_cached;         /* of tokens_in, those read from the prompt cache */
    int upstream_status;           /* the provider's status, 0 when it did not answer */
};
void gw_tx_usage(const struct gw_tx *tx, struct gw_tx_usage *out);

/* The most text a filter may hold back per logical stream (limits.stream_hold_bytes): a chunk
 * whose hold exceeds it fails the filter. */
size_t gw_tx_hold_limit(const struct gw_tx *tx);

/* A block's answer (gw_tx_block, before the response started) carries Retry-After: seconds. */
void gw_tx_retry_after(struct gw_tx *tx, uint32_t seconds);

/* Resumes an exchange whose filter returned GW_WAIT, with that filter's final verdict. */
void gw_tx_resume(struct gw_tx *tx, enum gw_verdict v);

/* Allocates n zeroed bytes that live as long as the exchange. NULL when out of memory. */
void *gw_tx_alloc(struct gw_tx *tx, size_t n);

/* The store for state shared between exchanges (store/budget.h): the configuration's budget
 * store when it has one (Redis: shared by every gateway instance), else one in the process. */
struct gw_budget_store;
struct gw_budget_store *gw_tx_shared_store(struct gw_tx *tx);

/* The worker's event loop, for filters that start asynchronous work (timers, Redis). */
struct event_base;
struct event_base *gw_tx_base(struct gw_tx *tx);

#endif
