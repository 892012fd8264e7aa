/*
 * JSON trees, built fast: the same jansson tree json_loadb builds, in a fraction of its time.
 *
 * jansson's parser reads a byte at a time through a stream and copies every string character by
 * character into a growing buffer: ~12 us per KB of English chat body on this machine, more than
 * all the filters of the default chain together spend on the same body. The gateway parses every
 * filtered request and answer, and every streamed event of a filtered stream, so this loader
 * builds the same tree from one validating pass over the bytes (providers/jsonscan.h: strings are
 * checked and skipped 16 bytes at a time and copied once) and leaves jansson to build the nodes.
 *
 * The contract is jansson's, exactly: gw_json_loadb returns a tree iff json_loadb(buf, len, flags)
 * does, and then an equal one (same values, same key order, a repeated key in its first position
 * with its last value, the same integer / real kinds). Whatever the fast path does not handle
 * (anything invalid, nesting deeper than GW_JSON_MAX_DEPTH, a number of 64 characters or more)
 * goes to json_loadb itself, which gives the error text and position, so messages are jansson's.
 * tests/fuzz/fuzz_jsonload.c holds the two side by side on arbitrary input.
 */
#ifndef GW_JSONLOAD_H
#define GW_JSONLOAD_H

#include <stddef.h>

#include <jansson.h>

/* flags: 0, JSON_ALLOW_NUL, JSON_DECODE_ANY (others are passed to json_loadb, not handled here:
 * the fast path is then skipped). err may be NULL. */
json_t *gw_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err);

/* Why the fast path alone returned no tree. */
enum gw_json_fast {
    GW_JSON_FAST_OK = 0,
    GW_JSON_FAST_INVALID,     /* not JSON as jansson reads it (json_loadb fails too) */
    GW_JSON_FAST_UNSUPPORTED, /* valid, but beyond the fast path (deep nesting, long number) */
    GW_JSON_FAST_NOMEM
};

/* The fast path alone (for tests): the tree, or NULL and the reason in *why. */
json_t *gw_json_load_fast(const char *buf, size_t len, size_t flags, enum gw_json_fast *why);

#endif
