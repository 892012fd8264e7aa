/*
 * Compact JSON text of a jansson tree, byte for byte what json_dumps writes, faster.
 *
 * A filtered stream re-serialises every event whose text the chain changed (with a hold, that is
 * every event): json_dumps took ~2.2 us for a 220-byte chat chunk (this writer ~0.7 us) and ~25 us
 * for a 4 KB chat body (~0.8 us), its strings escaped a code point at a time through a callback.
 * This writer copies the runs of a string that need no escape in one go (16 bytes at a time, with
 * the UTF-8 check of providers/jsonscan.h for the rest). tests/fuzz/fuzz_jsondump.c holds it to
 * json_dumps on arbitrary trees.
 */
#ifndef GW_JSONDUMP_H
#define GW_JSONDUMP_H

#include <stddef.h>

#include <jansson.h>

/*
 * json_dumps(j, flags) for flags JSON_COMPACT, JSON_ENCODE_ANY and JSON_REAL_PRECISION(n) (any
 * other flag: json_dumps itself is called). A malloc'd NUL-terminated text (*len without the NUL
 * when len is not NULL; a dump never holds a raw NUL), or NULL: out of memory, or what json_dumps
 * refuses (a top-level value that is not an object or array without JSON_ENCODE_ANY).
 */
char *gw_json_dumps(const json_t *j, size_t flags, size_t *len);

#endif
