/*
 * Streamed responses, provider side: turns the server-sent events of an OpenAI chat completions,
 * OpenAI responses or Anthropic messages stream into logical text streams (per choice / output
 * item / content block: the assistant's text, or one tool call's arguments), and writes the
 * events back out, well formed and in the provider's own format, with the text the filters
 * released. No sockets and no filters here: gateway/sse.c finds where events end, the caller runs
 * the filters between gw_stream_parse and gw_stream_write.
 *
 * How the caller drives it, per event block (gw_sse_scan delivers whole events, possibly several
 * at once; gw_sse_event_len below cuts them one by one):
 *
 *     struct gw_sevent ev;
 *     if (gw_stream_parse(a, raw, len, &ev) < 0) fail the stream (no memory / too many streams);
 *     for each ev.deltas[i]: present it to the filters (a chunk of stream ev.deltas[i].stream_id);
 *                            rep[i] = the text they released now (may be empty: some held back);
 *     for each ev.ended[k]:  a delta of that stream in this very event was its final chunk; else
 *                            flush what the filters still hold for it (final chunk with the held
 *                            text) and gw_stream_write_text() the result, BEFORE writing ev;
 *     gw_stream_write(a, &ev, rep, out);   (skip for a GW_SEV_USAGE_ONLY the client did not want)
 *     gw_sevent_free(&ev);
 *
 * Logical streams:
 * - OpenAI chat: choices[i].delta.content (choice = choices[i].index) is text;
 *   choices[i].delta.tool_calls[j].function.arguments (tool = tool_calls[j].index) is arguments;
 *   one event may carry several. A choice with a finish_reason ends its streams.
 * - OpenAI responses: response.output_text.delta (output_index, content_index) is text;
 *   response.function_call_arguments.delta (output_index) is arguments. Ended by
 *   response.output_text.done / response.content_part.done / response.function_call_arguments.done
 *   / response.output_item.done (all streams of that output_index).
 * - Anthropic: content_block_delta (index) with text_delta is text, input_json_delta
 *   (partial_json) is arguments; content_block_stop ends it. thinking_delta and signature_delta
 *   are forwarded untouched (GW_SEV_OTHER): reasoning is not part of the answer and the
 *   signature must match the provider's thinking text byte for byte.
 * Terminal events ([DONE], message_stop, response.completed / failed / incomplete) and error
 * events end every stream still open. Only non-empty texts are deltas: an event whose only text
 * is "" (the role chunk, a first empty partial_json) is GW_SEV_OTHER.
 *
 * Not filtered (forwarded as received): reasoning text, refusals (chat delta.refusal, responses
 * response.refusal.delta), other tool inputs of the responses API (custom tools, MCP, code
 * interpreter), text in content_block_start / output_item.added (providers send it empty), and
 * events whose data is not JSON that jansson accepts (e.g. invalid UTF-8 or an integer beyond
 * int64): those are GW_SEV_OTHER.
 */
#ifndef GW_STREAM_H
#define GW_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "filters/filter.h"
#include "providers/segments.h"

struct evbuffer;

/* A stream whose deltas open more logical streams than this fails (gw_stream_parse -1). */
#define GW_STREAM_MAX_STREAMS 1024

/*
 * The fields of ONE complete event block (bytes up to and including its blank line; CRLF, LF or
 * CR line ends), per WHATWG HTML "event stream interpretation": "event" (last wins; an empty value
 * counts as none), "data" lines joined with "\n", one optional space after the colon removed,
 * lines starting with ':' are comments, unknown fields ignored, "id" (unless it contains NUL) and
 * "retry" (only ASCII digits) kept. Blank lines before the first field are skipped (the LF of a
 * CRLF the framer left at the start of a block); the first blank line after a field ends the
 * event and anything after it is ignored; a last line without a line end still counts. A UTF-8
 * BOM at the very start is skipped.
 */
struct gw_sse_fields {
    char *event; /* NUL-terminated, NULL if none */
    char *data;  /* data_len bytes + NUL (may contain NULs); "" when no data line */
    size_t data_len;
    int has_data; /* at least one data line (an event without one is never dispatched) */
    char *id;     /* NULL if none */
    char *retry;  /* NULL if none */
};

/*
 * Length of the first event block in p (n bytes): up to and including the blank line that ends
 * it (CRLF, LF or CR line ends; a blank line's CRLF counts whole when both bytes are there), or 0
 * when no event ends in these bytes. Cuts what gw_sse_scan delivers (everything up to its last
 * boundary: possibly several events) into single blocks for gw_stream_parse: a lone "\n" (the LF
 * of a CRLF whose CR ended the previous read) comes out as a block of its own, which parses as an
 * event without data (GW_SEV_OTHER, written back as the same byte).
 */
size_t gw_sse_event_len(const char *p, size_t n);

/* Parses len bytes at ev into *out (overwritten; owns its strings). 0, or -1 only on no memory
 * (out is then empty). Free with gw_sse_fields_free in both cases. */
int gw_sse_fields_parse(const char *ev, size_t len, struct gw_sse_fields *out);
/* Frees the strings; f is left empty (freeing twice is harmless). */
void gw_sse_fields_free(struct gw_sse_fields *f);

/* New text of one logical stream carried by an event. */
struct gw_delta {
    int stream_id;     /* stable per (choice/output index, kind, tool index) within one response */
    int choice;        /* chat: the choice's index; responses and Anthropic: 0 */
    enum gw_role role; /* GW_ROLE_ASSISTANT (text) or GW_ROLE_TOOL_CALL_ARGS */
    const char *text;  /* points into the event's parsed JSON; valid until gw_sevent_free */
    size_t len;        /* > 0; may contain NULs (\u0000) */
};

enum gw_sevent_kind {
    GW_SEV_OTHER = 0,  /* forward (role chunks, pings, created/in_progress, non-JSON, unknown...) */
    GW_SEV_DELTA,      /* carries deltas */
    GW_SEV_USAGE_ONLY, /* OpenAI chat usage chunk (choices: [] + usage) */
    GW_SEV_TERMINAL,   /* [DONE], Anthropic message_stop, responses response.completed/failed/
                          incomplete */
    GW_SEV_ERROR       /* a provider error event (chat {"error":...}, "error" type) */
};

struct gw_delta_loc;

struct gw_sevent {
    enum gw_sevent_kind kind;
    struct gw_delta *deltas;
    size_t ndeltas;
    /* Logical streams this event ends (open ones only, each once per opening): the caller flushes
     * their held text BEFORE writing this event. A stream may get its last delta and end in the
     * same event (the delta is then its final chunk). TERMINAL and ERROR events end every open
     * stream. */
    int *ended;
    size_t nended;

    /* private: what gw_stream_write needs */
    struct gw_sse_fields f;
    char *raw; /* a copy of the block as received */
    size_t raw_len;
    json_t *root;             /* parsed data, or NULL when not JSON */
    int type;                 /* adapter-private event type */
    struct gw_delta_loc *loc; /* per delta: the JSON object and key that hold its text */
};

struct gw_stream_adapter;

/* A parser for one streamed response of API k (GW_KIND_OTHER: every event is GW_SEV_OTHER and
 * written as received). NULL on no memory. */
struct gw_stream_adapter *gw_stream_adapter_new(enum gw_api_kind k);
void gw_stream_adapter_free(struct gw_stream_adapter *a);

/*
 * Parses one raw complete event block (len bytes at raw, copied: raw may go away afterwards) into
 * *ev (overwritten). Events that are not JSON, or not understood, are GW_SEV_OTHER and will be
 * written as they came. Returns 0, or -1 on no memory or when the event would open more than
 * GW_STREAM_MAX_STREAMS logical streams (ev is then empty). Free ev with gw_sevent_free after
 * either result. Records usage and stream state in a, so events must be parsed in stream order.
 */
int gw_stream_parse(struct gw_stream_adapter *a, const char *raw, size_t len, struct gw_sevent *ev);

/* A replacement text: text NULL means "unchanged". */
struct gw_text {
    const char *text;
    size_t len;
};

/*
 * Appends the SSE bytes for ev to out, with deltas[i]'s text replaced by rep[i] (rep NULL, or
 * rep[i].text NULL: unchanged). rep[i] must be UTF-8 (never half a sequence); invalid bytes are
 * written as U+FFFD. Everything else in the event is kept (ids, indexes, finish_reason,
 * obfuscation...), except the logprobs that go with a replaced text (chat choice "logprobs" becomes
 * null, responses "logprobs" []), since they spell out the original tokens.
 * - A DELTA event whose deltas all became empty and which carries nothing else worth sending
 *   (chat: no role, finish_reason, usage, tool call id/type/name or other non-null delta field;
 *   responses: output_text.delta / function_call_arguments.delta; Anthropic: content_block_delta)
 *   is dropped: nothing is written.
 * - Responses API: the full-text fields of output_text.done "text", content_part.done part.text,
 *   function_call_arguments.done "arguments", output_item.done item.content[].text /
 *   item.arguments and response.completed/failed/incomplete response.output[] (same fields) are
 *   set to the text released so far for that stream (what gw_stream_write and
 *   gw_stream_write_text emitted), when it differs; streams never seen keep theirs. And
 *   sequence_number is renumbered so that the numbers written stay consecutive when events are
 *   dropped or synthesised.
 * - An event nothing changed in (no text replaced by a different one, nothing rewritten, no
 *   renumbering) is written as the raw bytes received, exactly. Otherwise the event is written
 *   compactly (jansson, key order kept): chat "data: {json}\n\n", responses and Anthropic
 *   "event: <name>\ndata: {json}\n\n" (the received event name, else the JSON "type"; an "id:"
 *   line is kept).
 * Returns 0, or -1 on no memory / a failed serialisation (the stream must then be failed: writing
 * the original would leak what a filter redacted). ev stays valid and unchanged.
 */
int gw_stream_write(struct gw_stream_adapter *a, const struct gw_sevent *ev,
                    const struct gw_text *rep, struct evbuffer *out);

/*
 * Appends an event carrying len bytes of text (UTF-8) as new text of logical stream stream_id: a
 * clone of that stream's last delta event with the text replaced (chat: only that choice, with no
 * role, finish_reason, logprobs or tool call id/name; responses: the next sequence_number; no
 * "id:" line). Used to release held text. len 0 writes nothing. Returns 0, or -1 on an unknown
 * stream_id or no memory.
 */
int gw_stream_write_text(struct gw_stream_adapter *a, int stream_id, const char *text, size_t len,
                         struct evbuffer *out);

/* Releases what gw_stream_parse put in ev; ev is left empty (freeing twice is harmless). */
void gw_sevent_free(struct gw_sevent *ev);

/*
 * Usage seen so far: OpenAI chat usage.prompt_tokens / completion_tokens (any chunk with a usage
 * object); responses response.completed/failed/incomplete response.usage input_tokens /
 * output_tokens; Anthropic message_start message.usage.input_tokens and message_delta
 * usage.output_tokens (and message_delta usage.input_tokens when present). Sets *in and *out to
 * the counts known, -1 for an unknown one. Returns 0 when both are known, else -1.
 */
int gw_stream_usage(const struct gw_stream_adapter *a, int64_t *in, int64_t *out);

/* Prompt-cache reads and writes the stream reported (segments.h gw_body_cache_usage), 0 when
 * none. */
void gw_stream_cache_usage(const struct gw_stream_adapter *a, int64_t *read, int64_t *write);

#endif
