/*
 * YAML (and therefore JSON) text → a small tree of maps, sequences and scalars that remembers
 * where every node started, so configuration errors can say "file:line:col".
 *
 * The tree is deliberately untyped: a scalar is its text plus whether it was quoted, and the
 * consumer (config/cfg.c, rule packs) decides what it means. Anchors, aliases, tags other than
 * !!str, multiple documents and duplicate keys are rejected.
 */
#ifndef GW_PARSE_H
#define GW_PARSE_H

#include <stddef.h>

#include <jansson.h>

/* Deepest nesting of maps/sequences accepted (keeps every tree walk's recursion bounded). */
#define GW_CNODE_MAX_DEPTH 64

enum gw_cnode_type {
    GW_CNODE_MAP,
    GW_CNODE_SEQ,
    GW_CNODE_SCALAR,
};

struct gw_cnode;

struct gw_cpair {
    struct gw_cnode *key; /* always a GW_CNODE_SCALAR */
    struct gw_cnode *value;
};

struct gw_cnode {
    enum gw_cnode_type type;
    int line, col; /* 1-based position of the node's first character */

    /* GW_CNODE_SCALAR: NUL-terminated text; len excludes the NUL (an escaped "\0" inside a
     * double-quoted scalar makes strlen(scalar) < len). quoted: written '...', "...", | or >, so
     * it is a string whatever it looks like ("8080" quoted is not an integer). */
    char *scalar;
    size_t len;
    int quoted;

    /* GW_CNODE_MAP: key/value pairs in document order, keys unique. */
    struct gw_cpair *pairs;
    size_t npairs;

    /* GW_CNODE_SEQ: items in document order. */
    struct gw_cnode **items;
    size_t nitems;
};

/*
 * Parses len bytes of YAML/JSON text. name is only used in error messages. On success returns 0
 * and stores the root in *out (caller owns it; release with gw_cnode_free) — *out is NULL when
 * the text holds no document at all (empty, or only comments). On failure returns -1, *out is
 * NULL and err holds "name:line:col: message" (or "name: message" without a position).
 */
int gw_cnode_parse(const char *name, const char *text, size_t len, struct gw_cnode **out, char *err,
                   size_t errlen);

/* Frees a tree returned by gw_cnode_parse. NULL is ignored. */
void gw_cnode_free(struct gw_cnode *node);

/* Value of key in a map node, or NULL (also when map is NULL or not a map). */
const struct gw_cnode *gw_cnode_get(const struct gw_cnode *map, const char *key);

/* Element i of a sequence node; seq itself when it is not a sequence or has no element i (where
 * an error about that element points), NULL when seq is NULL. */
const struct gw_cnode *gw_cnode_item(const struct gw_cnode *seq, size_t i);

/* "mapping", "sequence" or "scalar". */
const char *gw_cnode_type_name(enum gw_cnode_type type);

/* 1 when node is an unquoted null scalar: empty, "~", "null", "Null" or "NULL". */
int gw_cnode_is_null(const struct gw_cnode *node);

/*
 * Converts a subtree to jansson (for consumers that take json_t, e.g. filter configuration).
 * Quoted scalars become strings; unquoted ones become null (see gw_cnode_is_null), true/false,
 * a decimal integer, a real, or else a string. Returns a new reference, NULL on allocation failure
 * or when the text does not fit (a scalar containing NUL).
 */
json_t *gw_cnode_to_json(const struct gw_cnode *node);

#endif
