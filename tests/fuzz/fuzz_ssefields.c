/*
 * SSE field parser and stream adapter fuzzer.
 *
 * Input: byte 0 picks the API (bits 0-1: other, OpenAI chat, OpenAI responses, Anthropic) and
 * the replacement policy (bits 2-3: unchanged, empty, a text full of escapes, a mix per delta);
 * the rest is a response body. It goes through the field parser whole, then is framed like the
 * gateway does (gw_sse_scan up to the last boundary, gw_sse_event_len into single events), and
 * every event through gw_stream_parse and gw_stream_write; streams an event ends get their held
 * text released with gw_stream_write_text first.
 *
 * Checks, besides no crash / leak / UB: the field parser's data fits in its input and is
 * NUL-terminated; every write is whole events; an event whose text was replaced is exactly one
 * event whose data is a JSON object, and a fresh adapter reads the replacement texts back from
 * it in order; a release event carries exactly the released text.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "gateway/sse.h"
#include "providers/stream.h"

static const char NASTY[] = "[REDACTED] \"q\"\\\n\t\x01 😀 é";
static const char HELD[] = "held \"tail\"\n";

#define JSON_INTEGER_MAX_ LLONG_MAX

static void
check_fields(const char *p, size_t n)
{
    struct gw_sse_fields f;
    if (gw_sse_fields_parse(p, n, &f) < 0)
        abort(); /* only on no memory */
    if (!f.data || f.data_len > n || f.data[f.data_len] != '\0')
        abort();
    if (!f.has_data && f.data_len)
        abort();
    gw_sse_fields_free(&f);
}

/* out holds whole events only; returns how many. */
static size_t
count_events(const char *p, size_t n)
{
    size_t k = 0, off = 0, len;
    while ((len = gw_sse_event_len(p + off, n - off)) != 0) {
        off += len;
        k++;
    }
    if (off != n)
        abort();
    return k;
}

/*
 * p (n bytes) is one event carrying the texts want[0..nw) (empty ones omitted) as deltas of
 * role[]: checked with a fresh adapter.
 */
static void
check_reparse(enum gw_api_kind k, const char *p, size_t n, const struct gw_text *want,
              const enum gw_role *role, size_t nw)
{
    struct gw_sevent ev;
    struct gw_stream_adapter *a = gw_stream_adapter_new(k);
    if (!a)
        return;
    if (count_events(p, n) != 1)
        abort();
    if (gw_stream_parse(a, p, n, &ev) < 0)
        abort(); /* at most as many streams as the original event opened */
    if (!ev.root || !json_is_object(ev.root))
        abort();
    size_t j = 0;
    for (size_t i = 0; i < nw; i++) {
        if (want[i].len == 0)
            continue;
        if (j >= ev.ndeltas || ev.deltas[j].len != want[i].len ||
            memcmp(ev.deltas[j].text, want[i].text, want[i].len) != 0 ||
            ev.deltas[j].role != role[i])
            abort();
        j++;
    }
    if (j != ev.ndeltas)
        abort();
    gw_sevent_free(&ev);
    gw_stream_adapter_free(a);
}

/* Responses: the sequence numbers written run on by one, whatever was dropped or synthesised. */
struct seq {
    json_int_t last;
    int have;
};

static void
check_seq(struct seq *q, const char *p, size_t n)
{
    size_t off = 0, len;
    while ((len = gw_sse_event_len(p + off, n - off)) != 0) {
        struct gw_sse_fields f;
        if (gw_sse_fields_parse(p + off, len, &f) < 0)
            abort();
        json_t *j = f.has_data ? json_loadb(f.data, f.data_len, JSON_ALLOW_NUL, NULL) : NULL;
        json_t *v = json_object_get(j, "sequence_number");
        if (json_is_integer(v)) {
            json_int_t x = json_integer_value(v);
            if (q->have && q->last != JSON_INTEGER_MAX_ && x != q->last + 1)
                abort();
            q->last = x;
            q->have = 1;
        }
        json_decref(j);
        gw_sse_fields_free(&f);
        off += len;
    }
}

static void
run_event(struct gw_stream_adapter *a, enum gw_api_kind k, int mode, const char *p, size_t n,
          struct seq *q)
{
    struct gw_sevent ev;
    struct evbuffer *out = evbuffer_new();
    if (!out)
        return;
    check_fields(p, n);
    if (gw_stream_parse(a, p, n, &ev) < 0) {
        evbuffer_free(out);
        return; /* too many streams */
    }
    struct gw_text *rep = calloc(ev.ndeltas + 1, sizeof(*rep));
    enum gw_role *role = calloc(ev.ndeltas + 1, sizeof(*role));
    if (!rep || !role)
        abort();
    int changed = 0;
    for (size_t i = 0; i < ev.ndeltas; i++) {
        int m = mode == 3 ? (int)(i % 3) : mode;
        role[i] = ev.deltas[i].role;
        if (m == 1)
            rep[i] = (struct gw_text){"", 0};
        else if (m == 2)
            rep[i] = (struct gw_text){NASTY, sizeof NASTY - 1};
        else
            rep[i] = (struct gw_text){ev.deltas[i].text, ev.deltas[i].len};
        if (m != 0)
            changed = 1;
    }

    /* release held text of the streams this event ends, before it */
    for (size_t i = 0; i < ev.nended; i++) {
        if (gw_stream_write_text(a, ev.ended[i], HELD, sizeof HELD - 1, out) < 0)
            abort(); /* ended streams are known streams */
        size_t len = evbuffer_get_length(out);
        const char *w = (const char *)evbuffer_pullup(out, -1);
        struct gw_text t = {HELD, sizeof HELD - 1};
        struct gw_sevent chk;
        struct gw_stream_adapter *c = gw_stream_adapter_new(k);
        if (c && count_events(w, len) == 1 && gw_stream_parse(c, w, len, &chk) == 0) {
            if (chk.ndeltas != 1 || chk.deltas[0].len != t.len ||
                memcmp(chk.deltas[0].text, t.text, t.len) != 0)
                abort();
            gw_sevent_free(&chk);
        } else {
            abort();
        }
        gw_stream_adapter_free(c);
        if (k == GW_KIND_OPENAI_RESPONSES)
            check_seq(q, w, len);
        evbuffer_drain(out, len);
    }

    if (gw_stream_write(a, &ev, rep, out) < 0)
        abort();
    size_t len = evbuffer_get_length(out);
    const char *w = len ? (const char *)evbuffer_pullup(out, -1) : "";
    if (count_events(w, len) > 1)
        abort(); /* one event in, at most one out */
    if (k == GW_KIND_OPENAI_RESPONSES)
        check_seq(q, w, len);
    if (ev.kind == GW_SEV_DELTA && changed && len)
        check_reparse(k, w, len, rep, role, ev.ndeltas);
    if (ev.kind != GW_SEV_DELTA && len != ev.raw_len && k != GW_KIND_OPENAI_RESPONSES)
        abort(); /* only responses rewrite events without deltas */
    free(rep);
    free(role);
    gw_sevent_free(&ev);
    evbuffer_free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum gw_api_kind k = (enum gw_api_kind)(data[0] & 3);
    int mode = (data[0] >> 2) & 3;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;

    check_fields(p, n);

    struct gw_stream_adapter *a = gw_stream_adapter_new(k);
    if (!a)
        return 0;
    struct gw_sse sse;
    struct seq q = {0, 0};
    gw_sse_init(&sse);
    size_t end = gw_sse_scan(&sse, p, n), off = 0, len;
    while (off < end && (len = gw_sse_event_len(p + off, end - off)) != 0) {
        run_event(a, k, mode, p + off, len, &q);
        off += len;
    }
    if (off != end)
        abort(); /* the framer and the splitter agree on where events end */
    int64_t in, out;
    gw_stream_usage(a, &in, &out);
    gw_stream_adapter_free(a);
    return 0;
}
