/*
 * YAML → gw_cnode tree, driven by libyaml's event parser. The builder is iterative (an explicit
 * stack of open collections bounded by GW_CNODE_MAX_DEPTH), so hostile nesting cannot exhaust the
 * C stack; the recursive walks below (free, to_json) rely on that bound.
 */
#include "config/parse.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

struct builder {
    const char *name;
    const char *text;
    size_t len;
    char *err;
    size_t errlen;
    struct gw_cnode *stack[GW_CNODE_MAX_DEPTH];
    int depth;
    struct gw_cnode *pending_key[GW_CNODE_MAX_DEPTH]; /* per open map: key awaiting its value */
    struct gw_cnode *root;
    int documents;
};

static void errf(struct builder *b, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
errf(struct builder *b, int line, int col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (b->errlen == 0)
        return;
    if (line > 0)
        snprintf(b->err, b->errlen, "%s:%d:%d: %s", b->name, line, col, msg);
    else
        snprintf(b->err, b->errlen, "%s: %s", b->name, msg);
}

static struct gw_cnode *
node_new(enum gw_cnode_type type, const yaml_mark_t *mark)
{
    struct gw_cnode *n = calloc(1, sizeof(*n));

    if (n == NULL)
        return NULL;
    n->type = type;
    n->line = (int)mark->line + 1;
    n->col = (int)mark->column + 1;
    return n;
}

void
gw_cnode_free(struct gw_cnode *node)
{
    size_t i;

    if (node == NULL)
        return;
    for (i = 0; i < node->npairs; i++) {
        gw_cnode_free(node->pairs[i].key);
        gw_cnode_free(node->pairs[i].value);
    }
    for (i = 0; i < node->nitems; i++)
        gw_cnode_free(node->items[i]);
    free(node->pairs);
    free(node->items);
    free(node->scalar);
    free(node);
}

static int
grow(void **arr, size_t n, size_t elem)
{
    void *p;

    /* capacity is 4, 8, 16, ...: grow exactly when n reaches it */
    if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
        return 0;
    if (n > SIZE_MAX / 2 / elem)
        return -1;
    p = realloc(*arr, (n == 0 ? 4 : n * 2) * elem);
    if (p == NULL)
        return -1;
    *arr = p;
    return 0;
}

/* Attaches a finished node to the innermost open collection (or makes it the root). On failure
 * the node is freed. */
static int
attach(struct builder *b, struct gw_cnode *n)
{
    struct gw_cnode *parent, *key;
    size_t i;

    if (b->depth == 0) {
        b->root = n;
        return 0;
    }
    parent = b->stack[b->depth - 1];
    if (parent->type == GW_CNODE_SEQ) {
        if (grow((void **)&parent->items, parent->nitems, sizeof(*parent->items)) < 0)
            goto oom;
        parent->items[parent->nitems++] = n;
        return 0;
    }
    key = b->pending_key[b->depth - 1];
    if (key == NULL) {
        if (n->type != GW_CNODE_SCALAR) {
            errf(b, n->line, n->col, "mapping keys must be scalars, not a %s",
                 gw_cnode_type_name(n->type));
            gw_cnode_free(n);
            return -1;
        }
        for (i = 0; i < parent->npairs; i++) {
            if (parent->pairs[i].key->len == n->len &&
                memcmp(parent->pairs[i].key->scalar, n->scalar, n->len) == 0) {
                errf(b, n->line, n->col, "duplicate key '%s'", n->scalar);
                gw_cnode_free(n);
                return -1;
            }
        }
        b->pending_key[b->depth - 1] = n;
        return 0;
    }
    if (grow((void **)&parent->pairs, parent->npairs, sizeof(*parent->pairs)) < 0)
        goto oom;
    parent->pairs[parent->npairs].key = key;
    parent->pairs[parent->npairs].value = n;
    parent->npairs++;
    b->pending_key[b->depth - 1] = NULL;
    return 0;
oom:
    errf(b, 0, 0, "out of memory");
    gw_cnode_free(n);
    return -1;
}

static int
open_collection(struct builder *b, enum gw_cnode_type type, const yaml_event_t *ev,
                const yaml_char_t *anchor)
{
    struct gw_cnode *n;

    if (anchor != NULL) {
        errf(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
             "anchors and aliases are not supported");
        return -1;
    }
    if (b->depth == GW_CNODE_MAX_DEPTH) {
        errf(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
             "nesting deeper than %d levels", GW_CNODE_MAX_DEPTH);
        return -1;
    }
    n = node_new(type, &ev->start_mark);
    if (n == NULL) {
        errf(b, 0, 0, "out of memory");
        return -1;
    }
    b->stack[b->depth] = n;
    b->pending_key[b->depth] = NULL;
    b->depth++;
    return 0;
}

static int
close_collection(struct builder *b)
{
    b->depth--;
    /* a map always ends after a value, so pending_key is NULL here */
    return attach(b, b->stack[b->depth]);
}

static int
is_str_tag(const yaml_char_t *tag)
{
    return strcmp((const char *)tag, YAML_STR_TAG) == 0 || strcmp((const char *)tag, "!") == 0;
}

static int
on_scalar(struct builder *b, const yaml_event_t *ev)
{
    struct gw_cnode *n;
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;

    if (ev->data.scalar.anchor != NULL) {
        errf(b, line, col, "anchors and aliases are not supported");
        return -1;
    }
    if (ev->data.scalar.tag != NULL && !is_str_tag(ev->data.scalar.tag)) {
        errf(b, line, col, "tag '%s' is not supported", (const char *)ev->data.scalar.tag);
        return -1;
    }
    n = node_new(GW_CNODE_SCALAR, &ev->start_mark);
    if (n == NULL)
        goto oom;
    n->len = ev->data.scalar.length;
    n->scalar = malloc(n->len + 1);
    if (n->scalar == NULL) {
        free(n);
        goto oom;
    }
    memcpy(n->scalar, ev->data.scalar.value, n->len);
    n->scalar[n->len] = '\0';
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || ev->data.scalar.tag != NULL;
    return attach(b, n);
oom:
    errf(b, 0, 0, "out of memory");
    return -1;
}

/* Line/column (1-based) of a byte offset, for reader errors that carry only an offset. */
static void
offset_position(const char *text, size_t len, size_t off, int *line, int *col)
{
    size_t i;

    *line = 1;
    *col = 1;
    for (i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            (*col)++;
        }
    }
}

/* The character at a 0-based line/column (columns count characters), or -1 past the end. */
static int
char_at(const char *text, size_t len, size_t line, size_t col)
{
    size_t i = 0;

    for (; line > 0 && i < len; i++)
        if (text[i] == '\n')
            line--;
    for (; i < len && text[i] != '\n'; i++) {
        if (((unsigned char)text[i] & 0xc0) == 0x80)
            continue;
        if (col-- == 0)
            return (unsigned char)text[i];
    }
    return -1;
}

static void
parser_error(struct builder *b, const yaml_parser_t *p)
{
    const char *hint = "";
    int line, col;

    switch (p->error) {
    case YAML_MEMORY_ERROR:
        errf(b, 0, 0, "out of memory");
        return;
    case YAML_READER_ERROR:
        offset_position(b->text, b->len, p->problem_offset, &line, &col);
        if (p->problem_value != -1)
            errf(b, line, col, "%s (byte 0x%02x)", p->problem, (unsigned)p->problem_value);
        else
            errf(b, line, col, "%s", p->problem);
        return;
    default:
        break;
    }
    line = (int)p->problem_mark.line + 1;
    col = (int)p->problem_mark.column + 1;
    if (char_at(b->text, b->len, p->problem_mark.line, p->problem_mark.column) == '\t')
        hint = " (tabs cannot be used for indentation)";
    if (p->context != NULL)
        errf(b, line, col, "%s %s%s", p->problem ? p->problem : "syntax error", p->context, hint);
    else
        errf(b, line, col, "%s%s", p->problem ? p->problem : "syntax error", hint);
}

static int
on_event(struct builder *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->documents > 1) {
            errf(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                 "only one YAML document is allowed");
            return -1;
        }
        return 0;
    case YAML_MAPPING_START_EVENT:
        if (ev->data.mapping_start.tag != NULL) {
            errf(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                 "tag '%s' is not supported", (const char *)ev->data.mapping_start.tag);
            return -1;
        }
        return open_collection(b, GW_CNODE_MAP, ev, ev->data.mapping_start.anchor);
    case YAML_SEQUENCE_START_EVENT:
        if (ev->data.sequence_start.tag != NULL) {
            errf(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                 "tag '%s' is not supported", (const char *)ev->data.sequence_start.tag);
            return -1;
        }
        return open_collection(b, GW_CNODE_SEQ, ev, ev->data.sequence_start.anchor);
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        return close_collection(b);
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_ALIAS_EVENT:
        errf(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
             "anchors and aliases are not supported");
        return -1;
    default:
        return 0;
    }
}

int
gw_cnode_parse(const char *name, const char *text, size_t len, struct gw_cnode **out, char *err,
               size_t errlen)
{
    struct builder b;
    yaml_parser_t parser;
    yaml_event_t ev;
    int done = 0, rc = 0;

    *out = NULL;
    memset(&b, 0, sizeof(b));
    b.name = name;
    b.text = text;
    b.len = len;
    b.err = err;
    b.errlen = errlen;
    if (errlen > 0)
        err[0] = '\0';

    if (!yaml_parser_initialize(&parser)) {
        errf(&b, 0, 0, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            parser_error(&b, &parser);
            rc = -1;
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(&b, &ev);
        yaml_event_delete(&ev);
        if (rc < 0)
            break;
    }
    yaml_parser_delete(&parser);

    if (rc < 0) {
        /* free the partial tree: open collections own everything attached so far */
        while (b.depth > 0) {
            b.depth--;
            gw_cnode_free(b.pending_key[b.depth]);
            gw_cnode_free(b.stack[b.depth]);
        }
        gw_cnode_free(b.root);
        return -1;
    }
    *out = b.root;
    return 0;
}

const struct gw_cnode *
gw_cnode_get(const struct gw_cnode *map, const char *key)
{
    size_t i;

    if (map == NULL || map->type != GW_CNODE_MAP)
        return NULL;
    for (i = 0; i < map->npairs; i++)
        if (strcmp(map->pairs[i].key->scalar, key) == 0)
            return map->pairs[i].value;
    return NULL;
}

const struct gw_cnode *
gw_cnode_item(const struct gw_cnode *seq, size_t i)
{
    return seq && seq->type == GW_CNODE_SEQ && i < seq->nitems ? seq->items[i] : seq;
}

const char *
gw_cnode_type_name(enum gw_cnode_type type)
{
    switch (type) {
    case GW_CNODE_MAP:
        return "mapping";
    case GW_CNODE_SEQ:
        return "sequence";
    case GW_CNODE_SCALAR:
        return "scalar";
    }
    return "node";
}

int
gw_cnode_is_null(const struct gw_cnode *node)
{
    const char *s;

    if (node == NULL || node->type != GW_CNODE_SCALAR || node->quoted)
        return 0;
    s = node->scalar;
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static json_t *
scalar_to_json(const struct gw_cnode *node)
{
    const char *s = node->scalar;
    char *end;
    long long ll;
    double d;

    if (strlen(s) != node->len)
        return NULL;
    if (node->quoted)
        return json_string(s);
    if (gw_cnode_is_null(node))
        return json_null();
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        return json_true();
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        return json_false();
    if ((s[0] >= '0' && s[0] <= '9') ||
        ((s[0] == '-' || s[0] == '+') && s[1] >= '0' && s[1] <= '9')) {
        errno = 0;
        ll = strtoll(s, &end, 10);
        if (*end == '\0' && errno == 0)
            return json_integer(ll);
        errno = 0;
        d = strtod(s, &end);
        if (*end == '\0' && errno == 0)
            return json_real(d);
    }
    return json_string(s);
}

json_t *
gw_cnode_to_json(const struct gw_cnode *node)
{
    json_t *j, *v;
    size_t i;

    if (node == NULL)
        return NULL;
    switch (node->type) {
    case GW_CNODE_SCALAR:
        return scalar_to_json(node);
    case GW_CNODE_SEQ:
        j = json_array();
        if (j == NULL)
            return NULL;
        for (i = 0; i < node->nitems; i++) {
            v = gw_cnode_to_json(node->items[i]);
            if (v == NULL || json_array_append_new(j, v) < 0) {
                json_decref(j);
                return NULL;
            }
        }
        return j;
    case GW_CNODE_MAP:
        j = json_object();
        if (j == NULL)
            return NULL;
        for (i = 0; i < node->npairs; i++) {
            v = gw_cnode_to_json(node->pairs[i].value);
            if (v == NULL || strlen(node->pairs[i].key->scalar) != node->pairs[i].key->len ||
                json_object_set_new(j, node->pairs[i].key->scalar, v) < 0) {
                json_decref(v);
                json_decref(j);
                return NULL;
            }
        }
        return j;
    }
    return NULL;
}
