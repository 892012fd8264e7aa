/*
 * Texts of LLM API bodies without a JSON tree: the prompt and answer texts the audit captures on
 * routes without filters, read from the raw bytes. gw_textscan_body reports the same texts as
 * gw_body_parse lists segments (providers/segments.h), and gw_textscan_event the same deltas as
 * gw_stream_parse (providers/stream.h), at a fraction of the cost (nothing is built; a string
 * without escapes is handed over in place).
 *
 * Validity is jansson's (as gw_body_parse calls it, JSON_ALLOW_NUL) with one difference: nesting
 * deeper than GW_JSON_MAX_DEPTH (providers/jsonscan.h; 512, the cap of reqinfo) is invalid here,
 * where jansson accepts up to 2048 levels. As in jansson: integers beyond int64 and reals that
 * overflow a double are invalid, \u0000 is accepted in string values but not in keys, and a
 * repeated key counts with its last value.
 */
#ifndef GW_TEXTSCAN_H
#define GW_TEXTSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "filters/filter.h"     /* enum gw_role, enum gw_direction */
#include "providers/segments.h" /* enum gw_api_kind */

struct gw_textscan_usage {
    int64_t in, out; /* -1 when not seen */
};

/* Called for each text, in the order gw_body_parse lists them. text is the UNESCAPED string value
 * (may contain NUL bytes; len counts them), valid only during the call; msg_index as segments.h
 * defines it. */
typedef void (*gw_textscan_fn)(void *arg, enum gw_role role, int msg_index, const char *text,
                               size_t len);

/*
 * Scans len bytes at json (need not be NUL-terminated; nothing outside them is read) as one body
 * of kind in direction dir, and calls fn for each text gw_body_parse would list as a segment, in
 * the same order (which is the adapter's order: e.g. responses "instructions" before "input",
 * a chat message's content before its tool_calls, whatever the order of the keys), with the same
 * role and msg_index, except:
 * - tool_definition segments are not reported (the audit leaves tool schemas out);
 * - an Anthropic tool_use "input" (tool_call_args) is the raw JSON of the value with the
 *   whitespace between tokens removed: strings keep their escapes and numbers their spelling,
 *   where segments.c re-serialises with jansson (same JSON value, possibly other bytes).
 * GW_KIND_OTHER reports nothing.
 *
 * *usage (when not NULL) is filled from the top-level "usage" object whatever dir: OpenAI chat
 * prompt_tokens / completion_tokens, responses and Anthropic input_tokens / output_tokens; each
 * field is its count when that is a non-negative integer, else -1 (gw_body_usage instead wants
 * both); both are -1 when the body is invalid.
 *
 * The whole body is validated before fn is first called. Returns 0, or -1 when the body is not
 * a valid JSON object (see above) or when memory for unescaping a long string ran out (texts
 * already reported stay reported; the caller discards them). Memory: nothing is allocated unless
 * a string with escapes (or a tool_use input with whitespace) is longer than a 4 KB stack buffer;
 * then one buffer, released before returning.
 */
int gw_textscan_body(const char *json, size_t len, enum gw_api_kind kind, enum gw_direction dir,
                     gw_textscan_fn fn, void *arg, struct gw_textscan_usage *usage);

/*
 * One streamed event's data (the JSON of one SSE `data:` line set) of a response of kind: calls
 * fn for each text delta the event carries, as gw_stream_parse lists them (non-empty texts only):
 * - OpenAI chat: choices[].delta.content (assistant) and choices[].delta.tool_calls[].function
 *   .arguments (tool_call_args); msg_index is the choice's "index" (its position when that is
 *   absent or not an integer, -1 when it is negative or beyond INT_MAX);
 * - responses: events of "type" response.output_text.delta (assistant) and
 *   response.function_call_arguments.delta (tool_call_args): "delta"; msg_index 0;
 * - Anthropic: "type" content_block_delta with delta.type text_delta (delta.text, assistant) or
 *   input_json_delta (delta.partial_json, tool_call_args); msg_index 0.
 * The event type is the JSON "type" only: stream.c falls back on the SSE event name, which this
 * function does not see (providers always send both).
 *
 * *usage (when not NULL) gets the counts the event carries, as non-negative integers, leaving
 * the other fields untouched: chat usage.prompt_tokens / completion_tokens (any chunk with a
 * usage object); responses response.completed / failed / incomplete response.usage input_tokens /
 * output_tokens; Anthropic message_start message.usage.input_tokens, message_delta
 * usage.input_tokens / output_tokens.
 *
 * Returns 0 (also for valid JSON that is not an object: no delta), or -1 when the data is not
 * valid JSON (e.g. "[DONE]") as for gw_textscan_body, or on no memory.
 */
int gw_textscan_event(const char *json, size_t len, enum gw_api_kind kind, gw_textscan_fn fn,
                      void *arg, struct gw_textscan_usage *usage);

#endif
