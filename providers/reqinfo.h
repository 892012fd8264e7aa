/*
 * Request facts for the hot path: the few top-level fields of an LLM API request body (OpenAI
 * chat completions and responses, Anthropic messages) that routing, model allowlists and session
 * affinity need, found in one pass over the raw bytes without building a JSON tree.
 *
 * The scan is also a complete RFC 8259 syntax check of the body, so `valid` can be trusted to mean
 * "a JSON object a strict parser accepts": strings are checked for escapes, control characters,
 * UTF-8 well-formedness and lone surrogates; nesting is capped at GW_REQINFO_MAX_DEPTH.
 */
#ifndef GW_REQINFO_H
#define GW_REQINFO_H

#include <stddef.h>

/* Deepest nesting accepted; the top-level object is depth 1. Deeper bodies are invalid. */
#define GW_REQINFO_MAX_DEPTH 512

/* Longest field value kept, in bytes after unescaping (the buffers hold it plus a NUL). */
#define GW_REQINFO_FIELD_MAX 255

struct gw_reqinfo {
    int valid; /* 1: the body is one JSON object (whitespace around it allowed), syntax valid */
    char model[256];
    int has_model; /* top-level "model" is a string of at most 255 bytes: in model, unescaped */
    char user[256];
    int has_user; /* top-level "user" (OpenAI), same rules */
    char metadata_user_id[256];
    int has_metadata_user_id; /* "user_id" directly inside top-level "metadata" (Anthropic) */
    int stream;               /* top-level "stream" is true */
    int has_stream;           /* top-level "stream" is present (with any value) */
};

/*
 * Scans len bytes at body (need not be NUL-terminated; never reads outside [body, body+len)) and
 * fills *out, which the caller owns; nothing is allocated and nothing points into body afterwards.
 *
 * Which field counts:
 * - Only keys of the top-level object, and "user_id" only as a key of the object that is the
 *   value of top-level "metadata". Keys are compared after unescaping ("mo\u0064el" is "model").
 *   When a key repeats, the last occurrence decides, whatever its value (as jansson and most
 *   parsers do): {"model":"a","model":1} has no model.
 * - model, user, metadata_user_id: has_x is 1 only when the value is a string whose unescaped
 *   UTF-8 form is at most GW_REQINFO_FIELD_MAX bytes; the string is then NUL-terminated in the
 *   buffer. A longer string, or a value of another type, gives has_x = 0 and an empty buffer,
 *   and does not by itself make the body invalid.
 * - stream: has_stream = 1 whenever the key is present; stream = 1 only for the literal true.
 *
 * What makes a body invalid (valid = 0, and then every has_x, stream and buffer is zero/empty, so
 * callers treat it as "unknown"): an empty body; a top-level value that is not an object;
 * anything but whitespace (space, tab, LF, CR) after it; truncation; any syntax error anywhere,
 * including in values that are skipped; a control character (< 0x20) inside a string; an invalid
 * escape; a lone or mismatched UTF-16 surrogate in \u escapes; ill-formed UTF-8 (overlong forms,
 * encoded surrogates, above U+10FFFF, truncated sequences); nesting deeper than
 * GW_REQINFO_MAX_DEPTH; and \u0000 in any string or key. The last one is a choice: a NUL cannot
 * be returned in a C string, and jansson (which the rest of the gateway parses bodies with)
 * rejects it by default, so the two agree on which bodies are valid.
 *
 * Where jansson (flags 0) and this scanner differ on validity, on purpose: number magnitudes are
 * not checked here (1e400 and 2^64 are valid syntax; jansson refuses integers beyond 64 bits and
 * reals that overflow a double), and jansson accepts nesting up to 2048 levels. jansson 2.14 also
 * drops one raw NUL byte that directly follows a number or literal ({"a":1\0} parses; its lexer
 * takes the NUL in its pushback buffer for "empty"); a raw NUL is never valid here.
 */
void gw_reqinfo_scan(const char *body, size_t len, struct gw_reqinfo *out);

#endif
