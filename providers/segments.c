/*
 * Segments of OpenAI chat, OpenAI responses and Anthropic messages bodies (see segments.h for
 * what is listed and what is written back).
 *
 * A segment's node is a borrowed pointer into root, which owns it: for a plain text, the JSON
 * string itself (edited in place with json_string_setn, so no pointer ever dangles); for a tool
 * definition, the object holding name / description / parameters; for an Anthropic tool_use
 * input, the tool_use block (its "input" value is replaced).
 */
#include "providers/segments.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/jsondump.h"
#include "providers/jsonload.h"

/* How a segment is written back (struct gw_segment.kind). */
enum seg_kind {
    K_NONE = 0,
    K_STRING,         /* node is the JSON string */
    K_TOOLDEF_PARAMS, /* node is {name, description, parameters} (OpenAI) */
    K_TOOLDEF_SCHEMA, /* node is {name, description, input_schema} (Anthropic) */
    K_JSON_INPUT,     /* node is an Anthropic tool_use block; text is its input as JSON */
};

/* One role of a message, by name; -1 when the name is not a message role of that API. */
struct role_map {
    const char *name;
    enum gw_role role;
};

static const struct role_map chat_roles[] = {
    {"system", GW_ROLE_SYSTEM},
    {"developer", GW_ROLE_DEVELOPER},
    {"user", GW_ROLE_USER},
    {"assistant", GW_ROLE_ASSISTANT},
    {"tool", GW_ROLE_TOOL_RESULT},
    {"function", GW_ROLE_TOOL_RESULT},
    {NULL, 0},
};

static const struct role_map responses_roles[] = {
    {"system", GW_ROLE_SYSTEM},
    {"developer", GW_ROLE_DEVELOPER},
    {"user", GW_ROLE_USER},
    {"assistant", GW_ROLE_ASSISTANT},
    {NULL, 0},
};

static const struct role_map anthropic_roles[] = {
    {"user", GW_ROLE_USER},
    {"assistant", GW_ROLE_ASSISTANT},
    {NULL, 0},
};

static const char *const chat_part_types[] = {"text", NULL};
static const char *const responses_part_types[] = {"input_text", "output_text", "text", NULL};
static const char *const responses_output_types[] = {"output_text", NULL};
static const char *const responses_tool_output_types[] = {"input_text", NULL};

static int
role_for(const struct role_map *m, json_t *name)
{
    const char *s = json_string_value(name);
    if (!s)
        return -1;
    for (; m->name; m++)
        if (strcmp(s, m->name) == 0)
            return (int)m->role;
    return -1;
}

/* 1 when v is a string equal to s (no embedded NUL). */
static int
str_is(json_t *v, const char *s)
{
    size_t n = strlen(s);
    return json_is_string(v) && json_string_length(v) == n &&
           memcmp(json_string_value(v), s, n) == 0;
}

static int
one_of(json_t *v, const char *const *names)
{
    for (; *names; names++)
        if (str_is(v, *names))
            return 1;
    return 0;
}

/* ---- real precision ---- */

/* Smallest %.<p>g precision at which d reads back as d. */
static int
min_precision(double d)
{
    char buf[64];
    for (int p = 1; p < 17; p++) {
        snprintf(buf, sizeof(buf), "%.*g", p, d);
        if (strtod(buf, NULL) == d)
            return p;
    }
    return 17;
}

/* Largest min_precision over the reals under v (0 when there is none). */
static int
tree_precision(json_t *v)
{
    int p = 0, c;
    switch (json_typeof(v)) {
    case JSON_REAL:
        return min_precision(json_real_value(v));
    case JSON_OBJECT: {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
        {
            c = tree_precision(e);
            p = c > p ? c : p;
        }
        return p;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            c = tree_precision(e);
            p = c > p ? c : p;
        }
        return p;
    }
    default:
        return 0;
    }
}

/* 1 when every real under v reads back unchanged when printed with precision p. */
static int
tree_exact_at(json_t *v, int p)
{
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_REAL:
        snprintf(buf, sizeof(buf), "%.*g", p, json_real_value(v));
        return strtod(buf, NULL) == json_real_value(v);
    case JSON_OBJECT: {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
        {
            if (!tree_exact_at(e, p))
                return 0;
        }
        return 1;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!tree_exact_at(e, p))
                return 0;
        }
        return 1;
    }
    default:
        return 1;
    }
}

/*
 * jansson dump flags for v: compact, with the smallest real precision that keeps every real of v
 * exact. Each real is exact at its own minimum; a larger precision prints the nearest decimal
 * with more digits, which is at least as close, so the maximum works; the check below only
 * guards against ties, and 17 digits always round-trip.
 */
static size_t
dump_flags(json_t *v)
{
    int p = tree_precision(v);
    if (p == 0)
        return JSON_COMPACT | JSON_ENCODE_ANY;
    while (p < 17 && !tree_exact_at(v, p))
        p++;
    return JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(p);
}

/* Compact JSON of v (empty for NULL) in a malloc'd block; NULL when out of memory. */
static char *
dump_compact(json_t *v, size_t *len)
{
    if (!v) {
        *len = 0;
        return strdup("");
    }
    return gw_json_dumps(v, dump_flags(v), len); /* never a raw NUL: \u0000 is escaped */
}

/* ---- the segment list ---- */

static int
add_seg(struct gw_body *b, enum gw_role role, const char *text, size_t len, int msg_index,
        json_t *node, int kind)
{
    struct gw_segments *ss = &b->segs;
    if (ss->n == ss->cap) {
        size_t cap = ss->cap ? ss->cap * 2 : 16;
        struct gw_segment *v = realloc(ss->v, cap * sizeof(*v));
        if (!v)
            return -1;
        ss->v = v;
        ss->cap = cap;
    }
    char *t = malloc(len + 1);
    if (!t)
        return -1;
    if (len)
        memcpy(t, text, len);
    t[len] = '\0';
    ss->v[ss->n++] = (struct gw_segment){
        .role = role,
        .text = t,
        .len = len,
        .msg_index = msg_index,
        .node = node,
        .kind = kind,
        .edited = 0,
    };
    return 0;
}

/* A JSON string as a segment; anything else is skipped. */
static int
add_string(struct gw_body *b, enum gw_role role, json_t *str, int idx)
{
    if (!json_is_string(str))
        return 0;
    return add_seg(b, role, json_string_value(str), json_string_length(str), idx, str, K_STRING);
}

/* content: a string, or an array of parts of which those whose "type" is in types carry text. */
static int
add_content(struct gw_body *b, enum gw_role role, json_t *content, int idx,
            const char *const *types)
{
    if (json_is_string(content))
        return add_string(b, role, content, idx);
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        if (one_of(json_object_get(part, "type"), types) &&
            add_string(b, role, json_object_get(part, "text"), idx) < 0)
            return -1;
    }
    return 0;
}

static const char *
params_key(int kind)
{
    return kind == K_TOOLDEF_SCHEMA ? "input_schema" : "parameters";
}

/*
 * The fixed parts of a tool definition's text: name + "\n" (the prefix) and "\n" + compact
 * parameters (the suffix, malloc'd). -1 when out of memory.
 */
static int
tooldef_parts(json_t *tool, int kind, const char **name, size_t *nlen, char **params, size_t *plen)
{
    json_t *n = json_object_get(tool, "name");
    *name = json_string_value(n);
    *nlen = json_string_length(n);
    char *p = dump_compact(json_object_get(tool, params_key(kind)), plen);
    if (!p)
        return -1;
    char *s = malloc(*plen + 2);
    if (!s) {
        free(p);
        return -1;
    }
    s[0] = '\n';
    memcpy(s + 1, p, *plen + 1);
    free(p);
    *params = s;
    *plen += 1;
    return 0;
}

/* A tool {name, description, parameters|input_schema} with a string name, as one segment. */
static int
add_tooldef(struct gw_body *b, json_t *tool, int kind, int idx)
{
    if (!json_is_string(json_object_get(tool, "name")))
        return 0;
    const char *name;
    char *suffix;
    size_t nlen, slen;
    if (tooldef_parts(tool, kind, &name, &nlen, &suffix, &slen) < 0)
        return -1;
    json_t *d = json_object_get(tool, "description");
    size_t dlen = json_string_length(d); /* 0 when missing or not a string */
    size_t len = nlen + 1 + dlen + slen;
    char *t = malloc(len + 1);
    if (!t) {
        free(suffix);
        return -1;
    }
    memcpy(t, name, nlen);
    t[nlen] = '\n';
    if (dlen)
        memcpy(t + nlen + 1, json_string_value(d), dlen);
    memcpy(t + nlen + 1 + dlen, suffix, slen);
    free(suffix);
    int rc = add_seg(b, GW_ROLE_TOOL_DEFINITION, t, len, idx, tool, kind);
    free(t);
    return rc;
}

static int
add_tools(struct gw_body *b, json_t *tools, int kind, int nested)
{
    size_t j;
    json_t *t;
    json_array_foreach(tools, j, t)
    {
        json_t *ty = json_object_get(t, "type");
        json_t *def = t;
        if (nested) { /* chat: {"type":"function","function":{...}} */
            if (ty && !str_is(ty, "function"))
                continue;
            def = json_object_get(t, "function");
        } else if (kind == K_TOOLDEF_PARAMS && !str_is(ty, "function")) {
            continue; /* responses: built-in tools (web_search, file_search...) have no text */
        }
        if (json_is_object(def) && add_tooldef(b, def, kind, (int)j) < 0)
            return -1;
    }
    return 0;
}

/* An Anthropic tool_use block's input, as its compact JSON. */
static int
add_json_input(struct gw_body *b, json_t *block, int idx)
{
    json_t *in = json_object_get(block, "input");
    if (!in)
        return 0;
    size_t len;
    char *t = dump_compact(in, &len);
    if (!t)
        return -1;
    int rc = add_seg(b, GW_ROLE_TOOL_CALL_ARGS, t, len, idx, block, K_JSON_INPUT);
    free(t);
    return rc;
}

static int
add_tool_calls(struct gw_body *b, json_t *msg, int idx)
{
    size_t j;
    json_t *tc;
    json_array_foreach(json_object_get(msg, "tool_calls"), j, tc)
    {
        json_t *fn = json_object_get(tc, "function");
        if (add_string(b, GW_ROLE_TOOL_CALL_ARGS, json_object_get(fn, "arguments"), idx) < 0)
            return -1;
    }
    json_t *legacy = json_object_get(msg, "function_call");
    return add_string(b, GW_ROLE_TOOL_CALL_ARGS, json_object_get(legacy, "arguments"), idx);
}

/* ---- per API ---- */

static int
chat_request(struct gw_body *b)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(b->root, "messages"), i, m)
    {
        int role = role_for(chat_roles, json_object_get(m, "role"));
        if (role < 0)
            continue;
        if (add_content(b, (enum gw_role)role, json_object_get(m, "content"), (int)i,
                        chat_part_types) < 0)
            return -1;
        if (role == GW_ROLE_ASSISTANT && add_tool_calls(b, m, (int)i) < 0)
            return -1;
    }
    if (add_tools(b, json_object_get(b->root, "tools"), K_TOOLDEF_PARAMS, 1) < 0)
        return -1;
    size_t j;
    json_t *f;
    json_array_foreach(json_object_get(b->root, "functions"), j, f)
    {
        if (json_is_object(f) && add_tooldef(b, f, K_TOOLDEF_PARAMS, (int)j) < 0)
            return -1;
    }
    return 0;
}

static int
chat_response(struct gw_body *b)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(b->root, "choices"), i, c)
    {
        json_t *ix = json_object_get(c, "index");
        int idx = (int)i;
        if (json_is_integer(ix) && json_integer_value(ix) >= 0 && json_integer_value(ix) <= 1000000)
            idx = (int)json_integer_value(ix);
        json_t *m = json_object_get(c, "message");
        if (add_content(b, GW_ROLE_ASSISTANT, json_object_get(m, "content"), idx, chat_part_types) <
                0 ||
            add_tool_calls(b, m, idx) < 0)
            return -1;
    }
    return 0;
}

static int
responses_request(struct gw_body *b)
{
    json_t *root = b->root;
    if (add_string(b, GW_ROLE_SYSTEM, json_object_get(root, "instructions"), -1) < 0)
        return -1;
    json_t *input = json_object_get(root, "input");
    if (json_is_string(input) && add_string(b, GW_ROLE_USER, input, 0) < 0)
        return -1;
    size_t i;
    json_t *it;
    json_array_foreach(input, i, it)
    {
        json_t *ty = json_object_get(it, "type");
        int rc = 0;
        if (!ty || str_is(ty, "message")) {
            int role = role_for(responses_roles, json_object_get(it, "role"));
            if (role >= 0)
                rc = add_content(b, (enum gw_role)role, json_object_get(it, "content"), (int)i,
                                 responses_part_types);
        } else if (str_is(ty, "function_call")) {
            rc = add_string(b, GW_ROLE_TOOL_CALL_ARGS, json_object_get(it, "arguments"), (int)i);
        } else if (str_is(ty, "function_call_output")) {
            rc = add_content(b, GW_ROLE_TOOL_RESULT, json_object_get(it, "output"), (int)i,
                             responses_tool_output_types);
        }
        if (rc < 0)
            return -1;
    }
    return add_tools(b, json_object_get(root, "tools"), K_TOOLDEF_PARAMS, 0);
}

static int
responses_response(struct gw_body *b)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(b->root, "output"), i, it)
    {
        json_t *ty = json_object_get(it, "type");
        int rc = 0;
        if (str_is(ty, "message")) {
            json_t *content = json_object_get(it, "content");
            if (json_is_array(content)) /* output_text parts only, never a bare string */
                rc = add_content(b, GW_ROLE_ASSISTANT, content, (int)i, responses_output_types);
        } else if (str_is(ty, "function_call")) {
            rc = add_string(b, GW_ROLE_TOOL_CALL_ARGS, json_object_get(it, "arguments"), (int)i);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/*
 * Retrieved content in an Anthropic block, as tool_result: a document's plain-text source
 * ({"type":"text","data":...}) or custom content source ({"type":"content","content":[text
 * blocks]}), a search_result's text blocks. Other sources (base64, url, file) carry no text here.
 */
static int
anthropic_retrieved(struct gw_body *b, json_t *ty, json_t *blk, int idx)
{
    if (str_is(ty, "search_result"))
        return add_content(b, GW_ROLE_TOOL_RESULT, json_object_get(blk, "content"), idx,
                           chat_part_types);
    json_t *src = json_object_get(blk, "source");
    json_t *sty = json_object_get(src, "type");
    if (str_is(sty, "text"))
        return add_string(b, GW_ROLE_TOOL_RESULT, json_object_get(src, "data"), idx);
    if (str_is(sty, "content"))
        return add_content(b, GW_ROLE_TOOL_RESULT, json_object_get(src, "content"), idx,
                           chat_part_types);
    return 0;
}

/* Blocks of a tool_result's content: text, and retrieved content, all as tool_result. */
static int
anthropic_tool_result(struct gw_body *b, json_t *content, int idx)
{
    if (json_is_string(content))
        return add_string(b, GW_ROLE_TOOL_RESULT, content, idx);
    size_t j;
    json_t *blk;
    json_array_foreach(content, j, blk)
    {
        json_t *ty = json_object_get(blk, "type");
        int rc = 0;
        if (str_is(ty, "text"))
            rc = add_string(b, GW_ROLE_TOOL_RESULT, json_object_get(blk, "text"), idx);
        else if (str_is(ty, "document") || str_is(ty, "search_result"))
            rc = anthropic_retrieved(b, ty, blk, idx);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Anthropic content blocks (or a string) of one message: text with role, tool_use, tool_result,
 * documents and search results. */
static int
anthropic_blocks(struct gw_body *b, enum gw_role role, json_t *content, int idx)
{
    if (json_is_string(content))
        return add_string(b, role, content, idx);
    size_t j;
    json_t *blk;
    json_array_foreach(content, j, blk)
    {
        json_t *ty = json_object_get(blk, "type");
        int rc = 0;
        if (str_is(ty, "text"))
            rc = add_string(b, role, json_object_get(blk, "text"), idx);
        else if (str_is(ty, "tool_use"))
            rc = add_json_input(b, blk, idx);
        else if (str_is(ty, "tool_result"))
            rc = anthropic_tool_result(b, json_object_get(blk, "content"), idx);
        else if (str_is(ty, "document") || str_is(ty, "search_result"))
            rc = anthropic_retrieved(b, ty, blk, idx);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int
anthropic_request(struct gw_body *b)
{
    json_t *root = b->root;
    if (add_content(b, GW_ROLE_SYSTEM, json_object_get(root, "system"), -1, chat_part_types) < 0)
        return -1;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(root, "messages"), i, m)
    {
        int role = role_for(anthropic_roles, json_object_get(m, "role"));
        if (role >= 0 &&
            anthropic_blocks(b, (enum gw_role)role, json_object_get(m, "content"), (int)i) < 0)
            return -1;
    }
    size_t j;
    json_t *t;
    json_array_foreach(json_object_get(root, "tools"), j, t)
    {
        if (json_is_object(t) && add_tooldef(b, t, K_TOOLDEF_SCHEMA, (int)j) < 0)
            return -1;
    }
    return 0;
}

static int
anthropic_response(struct gw_body *b)
{
    json_t *content = json_object_get(b->root, "content");
    /* text blocks are the answer; a response carries no tool_result */
    size_t j;
    json_t *blk;
    json_array_foreach(content, j, blk)
    {
        json_t *ty = json_object_get(blk, "type");
        int rc = 0;
        if (str_is(ty, "text"))
            rc = add_string(b, GW_ROLE_ASSISTANT, json_object_get(blk, "text"), 0);
        else if (str_is(ty, "tool_use"))
            rc = add_json_input(b, blk, 0);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- public ---- */

static int
path_ends_with(const char *p, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(p + n - k, suffix, k) == 0;
}

enum gw_api_kind
gw_api_kind_for_path(const char *path, size_t len)
{
    if (!path)
        return GW_KIND_OTHER;
    for (size_t i = 0; i < len; i++)
        if (path[i] == '?' || path[i] == '#') {
            len = i;
            break;
        }
    if (path_ends_with(path, len, "/chat/completions"))
        return GW_KIND_OPENAI_CHAT;
    if (path_ends_with(path, len, "/responses"))
        return GW_KIND_OPENAI_RESPONSES;
    if (path_ends_with(path, len, "/messages"))
        return GW_KIND_ANTHROPIC_MESSAGES;
    return GW_KIND_OTHER;
}

const char *
gw_api_kind_name(enum gw_api_kind k)
{
    switch (k) {
    case GW_KIND_OPENAI_CHAT:
        return "openai_chat";
    case GW_KIND_OPENAI_RESPONSES:
        return "openai_responses";
    case GW_KIND_ANTHROPIC_MESSAGES:
        return "anthropic_messages";
    case GW_KIND_OTHER:
        break;
    }
    return "other";
}

int
gw_body_parse(struct gw_body *b, enum gw_api_kind k, enum gw_direction dir, const char *json,
              size_t len, char *err, size_t errlen)
{
    memset(b, 0, sizeof(*b));
    b->kind = k;
    b->segs.dir = dir;
    json_error_t e;
    b->root = gw_json_loadb(json, len, JSON_ALLOW_NUL, &e);
    if (!b->root) {
        if (err && errlen)
            snprintf(err, errlen, "body is not JSON: %s at byte %d", e.text, e.position);
        return -1;
    }
    if (!json_is_object(b->root)) {
        if (err && errlen)
            snprintf(err, errlen, "body is not a JSON object");
        return -1;
    }
    int rc = 0;
    int req = dir == GW_DIR_REQUEST;
    switch (k) {
    case GW_KIND_OPENAI_CHAT:
        rc = req ? chat_request(b) : chat_response(b);
        break;
    case GW_KIND_OPENAI_RESPONSES:
        rc = req ? responses_request(b) : responses_response(b);
        break;
    case GW_KIND_ANTHROPIC_MESSAGES:
        rc = req ? anthropic_request(b) : anthropic_response(b);
        break;
    case GW_KIND_OTHER:
        break;
    }
    if (rc < 0 && err && errlen)
        snprintf(err, errlen, "out of memory");
    return rc;
}

/* Description part of a tool definition's current text: 0, or -1 when name or parameters no
 * longer read as they do in the body (or out of memory: *oom set). */
static int
tooldef_desc(const struct gw_segment *s, size_t *off, size_t *len, int *oom)
{
    const char *name;
    char *suffix;
    size_t nlen, slen;
    *oom = 0;
    if (tooldef_parts(s->node, s->kind, &name, &nlen, &suffix, &slen) < 0) {
        *oom = 1;
        return -1;
    }
    int ok = s->len >= nlen + 1 + slen && memcmp(s->text, name, nlen) == 0 &&
             s->text[nlen] == '\n' && memcmp(s->text + s->len - slen, suffix, slen) == 0;
    free(suffix);
    if (!ok)
        return -1;
    *off = nlen + 1;
    *len = s->len - slen - nlen - 1;
    return 0;
}

int
gw_segment_writable(const struct gw_segment *s, size_t *off, size_t *len)
{
    int oom;
    switch (s->kind) {
    case K_STRING:
    case K_JSON_INPUT:
        *off = 0;
        *len = s->len;
        return 0;
    case K_TOOLDEF_PARAMS:
    case K_TOOLDEF_SCHEMA:
        return tooldef_desc(s, off, len, &oom);
    default:
        return -1;
    }
}

static int
write_back(struct gw_segment *s)
{
    size_t off, len;
    int oom;
    switch (s->kind) {
    case K_STRING:
        return json_string_setn(s->node, s->text, s->len);
    case K_TOOLDEF_PARAMS:
    case K_TOOLDEF_SCHEMA: {
        if (tooldef_desc(s, &off, &len, &oom) < 0)
            return -1;
        json_t *d = json_object_get(s->node, "description");
        if (json_is_string(d))
            return json_string_setn(d, s->text + off, len);
        if (len == 0) /* no description before, none now: leave the body as it was */
            return 0;
        return json_object_set_new(s->node, "description", json_stringn(s->text + off, len));
    }
    case K_JSON_INPUT: {
        json_error_t e;
        json_t *in = gw_json_loadb(s->text, s->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        if (!in)
            return -1;
        /* an existing key keeps its place in the object */
        return json_object_set_new(s->node, "input", in);
    }
    default:
        return -1;
    }
}

/* Responses API: the convenience output_text is the concatenation of every output_text part. */
static int
refresh_output_text(json_t *root)
{
    json_t *ot = json_object_get(root, "output_text");
    if (!json_is_string(ot))
        return 0;
    size_t n = 0, cap = 256, i, j;
    char *buf = malloc(cap);
    json_t *it, *part;
    if (!buf)
        return -1;
    json_array_foreach(json_object_get(root, "output"), i, it)
    {
        if (!str_is(json_object_get(it, "type"), "message"))
            continue;
        json_array_foreach(json_object_get(it, "content"), j, part)
        {
            json_t *t = json_object_get(part, "text");
            if (!str_is(json_object_get(part, "type"), "output_text") || !json_is_string(t))
                continue;
            size_t tl = json_string_length(t);
            if (n + tl > cap) {
                while (n + tl > cap)
                    cap *= 2;
                char *nb = realloc(buf, cap);
                if (!nb) {
                    free(buf);
                    return -1;
                }
                buf = nb;
            }
            memcpy(buf + n, json_string_value(t), tl);
            n += tl;
        }
    }
    int rc = json_string_setn(ot, buf, n);
    free(buf);
    return rc;
}

int
gw_body_serialize(struct gw_body *b, char **out, size_t *outlen)
{
    int edited = 0, answer = 0;
    if (!b->root)
        return -1;
    for (size_t i = 0; i < b->segs.n; i++) {
        struct gw_segment *s = &b->segs.v[i];
        if (!s->edited)
            continue;
        if (write_back(s) < 0)
            return -1;
        edited = 1;
        answer |= s->role == GW_ROLE_ASSISTANT;
    }
    if (!edited && !b->changed)
        return 0;
    if (b->kind == GW_KIND_OPENAI_RESPONSES && b->segs.dir == GW_DIR_RESPONSE && answer &&
        refresh_output_text(b->root) < 0)
        return -1;
    char *s = gw_json_dumps(b->root, dump_flags(b->root), outlen);
    if (!s)
        return -1;
    *out = s;
    return 1;
}

static int
usage_pair(json_t *u, const char *kin, const char *kout, int64_t *in, int64_t *out)
{
    json_t *a = json_object_get(u, kin), *c = json_object_get(u, kout);
    if (!json_is_integer(a) || !json_is_integer(c) || json_integer_value(a) < 0 ||
        json_integer_value(c) < 0)
        return -1;
    *in = json_integer_value(a);
    *out = json_integer_value(c);
    return 0;
}

int
gw_body_usage(const struct gw_body *b, int64_t *in, int64_t *out)
{
    json_t *u = json_object_get(b->root, "usage");
    if (!json_is_object(u))
        return -1;
    switch (b->kind) {
    case GW_KIND_OPENAI_CHAT:
        return usage_pair(u, "prompt_tokens", "completion_tokens", in, out);
    case GW_KIND_OPENAI_RESPONSES:
    case GW_KIND_ANTHROPIC_MESSAGES:
        return usage_pair(u, "input_tokens", "output_tokens", in, out);
    case GW_KIND_OTHER:
        break;
    }
    return -1;
}

static void
count_at(json_t *obj, const char *key, int64_t *to)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        *to = json_integer_value(v);
}

void
gw_usage_cache_read(enum gw_api_kind k, json_t *u, int64_t *read, int64_t *write)
{
    if (!json_is_object(u))
        return;
    switch (k) {
    case GW_KIND_OPENAI_CHAT:
        count_at(json_object_get(u, "prompt_tokens_details"), "cached_tokens", read);
        break;
    case GW_KIND_OPENAI_RESPONSES:
        count_at(json_object_get(u, "input_tokens_details"), "cached_tokens", read);
        break;
    case GW_KIND_ANTHROPIC_MESSAGES:
        count_at(u, "cache_read_input_tokens", read);
        count_at(u, "cache_creation_input_tokens", write);
        break;
    case GW_KIND_OTHER:
        break;
    }
}

void
gw_body_cache_usage(const struct gw_body *b, int64_t *read, int64_t *write)
{
    *read = *write = 0;
    gw_usage_cache_read(b->kind, json_object_get(b->root, "usage"), read, write);
}

int64_t
gw_usage_input(enum gw_api_kind k, int64_t in, int64_t read, int64_t write)
{
    if (in < 0 || k != GW_KIND_ANTHROPIC_MESSAGES)
        return in;
    return in + read + write;
}

static int64_t
positive_int(json_t *root, const char *key)
{
    json_t *v = json_object_get(root, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : -1;
}

int64_t
gw_body_max_output(const struct gw_body *b, int64_t *choices)
{
    int64_t n = -1, c = -1;
    switch (b->kind) {
    case GW_KIND_OPENAI_CHAT:
        n = positive_int(b->root, "max_completion_tokens");
        if (n < 0)
            n = positive_int(b->root, "max_tokens");
        c = positive_int(b->root, "n");
        break;
    case GW_KIND_OPENAI_RESPONSES:
        n = positive_int(b->root, "max_output_tokens");
        break;
    case GW_KIND_ANTHROPIC_MESSAGES:
        n = positive_int(b->root, "max_tokens");
        break;
    case GW_KIND_OTHER:
        break;
    }
    if (choices)
        *choices = c > 0 ? c : 1;
    return n;
}

void
gw_body_free(struct gw_body *b)
{
    for (size_t i = 0; i < b->segs.n; i++)
        free(b->segs.v[i].text);
    free(b->segs.v);
    json_decref(b->root);
    b->root = NULL;
    b->segs.v = NULL;
    b->segs.n = b->segs.cap = 0;
}
