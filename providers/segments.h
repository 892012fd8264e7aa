/*
 * Segments of LLM API bodies: the provider adapter part that turns one parsed JSON body (OpenAI
 * chat completions, OpenAI responses, Anthropic messages; a request, or a non-streamed response)
 * into the list of texts filters read (struct gw_segments, filters/filter.h), and writes the texts
 * filters edited back into the JSON, re-serialised once.
 *
 * What becomes a segment (role, msg_index):
 *
 * Requests
 * - OpenAI chat: messages[i] with role system / developer / user / assistant: content as a string,
 *   or each {"type":"text"} part of an array (that role, i); role tool and legacy function: the
 *   same as tool_result; assistant tool_calls[].function.arguments and legacy
 *   function_call.arguments: tool_call_args (the JSON-encoded arguments string as it is, i);
 *   tools[j].function and legacy functions[j] with a string name: tool_definition (j).
 * - OpenAI responses: instructions: system (-1); input as a string: user (0); input[i] items:
 *   messages (type "message" or no type, with a role) whose content is a string or parts of type
 *   input_text / output_text / text (that role, i); function_call arguments: tool_call_args (i);
 *   function_call_output output (string, or input_text parts): tool_result (i); tools[j] of type
 *   function with a string name: tool_definition (j).
 * - Anthropic messages: system as a string or text blocks: system (-1); messages[i] content as a
 *   string or text blocks (the message's role, user or assistant; i); tool_use blocks' input:
 *   tool_call_args (i); tool_result blocks' content (string or text blocks): tool_result (i);
 *   retrieved content, also inside a tool_result: document blocks with a plain-text source
 *   (source.data) or a content source (source.content text blocks), search_result blocks' text
 *   blocks: tool_result (i); tools[j] with a string name: tool_definition (j).
 * Responses
 * - OpenAI chat: choices[].message.content (string or text parts): assistant;
 *   choices[].message.tool_calls[].function.arguments: tool_call_args; msg_index is the choice's
 *   "index" (its position in choices when that is missing or not a small integer).
 * - OpenAI responses: output[i] items of type message, content parts of type output_text:
 *   assistant (i); function_call arguments: tool_call_args (i).
 * - Anthropic: content[] text blocks: assistant (0); tool_use input: tool_call_args (0).
 * Anything else (other part or block types, unknown roles, values of unexpected types) is skipped,
 * never an error, as long as the body is a JSON object.
 *
 * Segment texts and what is written back:
 * - Most segments are one JSON string, as it is (embedded NULs included: len counts them): the
 *   edited text replaces that string, jansson escaping whatever it contains.
 * - tool_definition: name + "\n" + description + "\n" + the compact JSON of the parameters
 *   (OpenAI "parameters", Anthropic "input_schema"); a missing part is empty. Only the
 *   description part is writable: the edited text must still start with the original name + "\n"
 *   and end with "\n" + the original parameters JSON, and what lies between becomes the
 *   description. An edit that touches the name or the parameters makes gw_body_serialize fail.
 * - Anthropic tool_use input: the compact JSON of the input value. The edited text is parsed as
 *   JSON and replaces the input; if it does not parse, gw_body_serialize fails.
 * A failed serialisation must fail the exchange: sending the original body would leak what a
 * filter meant to redact.
 *
 * Numbers and strings (jansson 2.14):
 * - Integers must fit in int64 (json_int_t): jansson refuses larger ones ("too big integer"), so
 *   gw_body_parse fails on such a body; integers in range round-trip exactly.
 * - Reals are printed with %.<p>g, p the smallest precision (at most 17) at which every real in
 *   the tree reads back as the same double: 0.7 stays 0.7 and no value changes. jansson's default
 *   (17) would print 0.7 as 0.69999999999999996, and a fixed 15 would change 0.30000000000000004.
 *   When one real needs 17 digits, all reals of that body are printed with 17 (same values, longer
 *   text). Spellings are normalised either way: 1E5 becomes 100000.0, 1.50 becomes 1.5.
 * - \u0000 is accepted in strings (JSON_ALLOW_NUL) so that no text is lost; filters must use
 *   len, not strlen. (providers/reqinfo.c calls such bodies invalid, as jansson does by default.)
 * - Object key order is kept; a repeated key keeps its first position with its last value.
 */
#ifndef GW_SEGMENTS_H
#define GW_SEGMENTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "filters/filter.h"

enum gw_api_kind {
    GW_KIND_OTHER = 0,
    GW_KIND_OPENAI_CHAT,
    GW_KIND_OPENAI_RESPONSES,
    GW_KIND_ANTHROPIC_MESSAGES
};

/*
 * The API a request path (len bytes, not necessarily NUL-terminated) speaks, from its last
 * segments: "/chat/completions", "/responses", "/messages"; a query or fragment is ignored.
 * Anything else (also "/responses/{id}", "/messages/count_tokens") is GW_KIND_OTHER.
 */
enum gw_api_kind gw_api_kind_for_path(const char *path, size_t len);

/* "other", "openai_chat", "openai_responses", "anthropic_messages" (static strings). */
const char *gw_api_kind_name(enum gw_api_kind k);

/* One parsed JSON body and its segments. Owns root and every segment text. */
struct gw_body {
    enum gw_api_kind kind;
    json_t *root;
    struct gw_segments segs;
    int changed; /* the caller edited root directly: gw_body_serialize writes it out */
};

/*
 * Parses len bytes at json as a request body (dir GW_DIR_REQUEST) or a non-streamed response body
 * (GW_DIR_RESPONSE) of kind k and lists its segments into *b, which is overwritten (it need not
 * be initialised). Returns 0, or -1 with a short NUL-terminated reason in err (errlen bytes;
 * err may be NULL): not JSON, not a JSON object, out of memory. After either result the caller
 * calls gw_body_free(b). Segment nodes point into root and stay valid until gw_body_free.
 */
int gw_body_parse(struct gw_body *b, enum gw_api_kind k, enum gw_direction dir, const char *json,
                  size_t len, char *err, size_t errlen);

/*
 * Prompt-cache usage of a response: *read = input tokens served from the provider's cache,
 * *write = input tokens written to it (Anthropic cache_creation_input_tokens), 0 when not
 * reported. OpenAI counts both inside prompt_tokens / input_tokens; Anthropic reports them on top
 * of input_tokens. gw_usage_input gives the input tokens of every kind the same way: all of them,
 * cached ones included.
 */
void gw_body_cache_usage(const struct gw_body *b, int64_t *read, int64_t *write);
int64_t gw_usage_input(enum gw_api_kind k, int64_t in, int64_t read, int64_t write);

/* The usage object u of kind k's answers: its cache reads and writes, added to *read / *write's
 * previous value only when present (streams report them in several events). */
void gw_usage_cache_read(enum gw_api_kind k, json_t *u, int64_t *read, int64_t *write);

/* The request's cap on output tokens (chat: max_completion_tokens, else max_tokens; responses:
 * max_output_tokens; Anthropic: max_tokens), -1 when it sets none; *choices = chat `n` (1 when
 * absent or not a positive integer). */
int64_t gw_body_max_output(const struct gw_body *b, int64_t *choices);

/*
 * When at least one segment is edited: writes every edited segment back into root and
 * serialises root once, compactly, into a malloc'd NUL-terminated buffer (*out, *outlen without
 * the NUL; the caller frees it). Returns 1 (changed), 0 (nothing edited: *out and *outlen
 * untouched, root unchanged) or -1 (an edit the adapter cannot write back, see above, or out of
 * memory; root may then be partly updated and must not be sent).
 */
int gw_body_serialize(struct gw_body *b, char **out, size_t *outlen);

/*
 * Token usage of a response body: OpenAI chat usage.prompt_tokens / completion_tokens, OpenAI
 * responses and Anthropic usage.input_tokens / output_tokens. 0 with both set when both are
 * non-negative integers; -1 otherwise (then *in and *out are untouched).
 */
int gw_body_usage(const struct gw_body *b, int64_t *in, int64_t *out);

/* Releases root and the segments; b is left empty (freeing twice is harmless). */
void gw_body_free(struct gw_body *b);

/*
 * The part [*off, *off + *len) of a segment's text that gw_body_serialize can write back (the
 * whole text, or the description part of a tool_definition). For tool_call_args of an Anthropic
 * tool_use the whole text is writable but must stay valid JSON. 0, or -1 when s was not listed
 * by gw_body_parse.
 */
int gw_segment_writable(const struct gw_segment *s, size_t *off, size_t *len);

#endif
