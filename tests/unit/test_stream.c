/*
 * Unit tests for providers/stream.c: the SSE field parser, and for each API a realistic stream
 * (captured from tests/mock, plus tool-call streams shaped like the providers' documentation)
 * parsed event by event, rewritten, dropped, cloned and renumbered; every written event is parsed
 * again as SSE + JSON and checked field by field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "gateway/sse.h"
#include "providers/stream.h"

/* ---------------------------------------------------------------- fixtures */

/* pc-mock, POST /v1/chat/completions {"stream":true,"stream_options":{"include_usage":true},
 * "messages":[{"role":"user","content":"Hi \"there\" café"}]} */
static const char CHAT_STREAM[] =
    "data: "
    "{\"id\":\"chatcmpl-mock-7\",\"object\":\"chat.completion.chunk\",\"created\":1795950220,"
    "\"model\":\"mock-model\",\"system_fingerprint\":null,\"choices\":[{\"index\":0,\"delta\":{"
    "\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":"
    "null}\n"
    "\n"
    "data: "
    "{\"id\":\"chatcmpl-mock-7\",\"object\":\"chat.completion.chunk\",\"created\":1795950220,"
    "\"model\":\"mock-model\",\"system_fingerprint\":null,\"choices\":[{\"index\":0,\"delta\":{"
    "\"content\":\"Hi\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n"
    "\n"
    "data: "
    "{\"id\":\"chatcmpl-mock-7\",\"object\":\"chat.completion.chunk\",\"created\":1795950220,"
    "\"model\":\"mock-model\",\"system_fingerprint\":null,\"choices\":[{\"index\":0,\"delta\":{"
    "\"content\":\" \\\"there\\\"\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n"
    "\n"
    "data: "
    "{\"id\":\"chatcmpl-mock-7\",\"object\":\"chat.completion.chunk\",\"created\":1795950220,"
    "\"model\":\"mock-model\",\"system_fingerprint\":null,\"choices\":[{\"index\":0,\"delta\":{"
    "\"content\":\" café\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n"
    "\n"
    "data: "
    "{\"id\":\"chatcmpl-mock-7\",\"object\":\"chat.completion.chunk\",\"created\":1795950220,"
    "\"model\":\"mock-model\",\"system_fingerprint\":null,\"choices\":[{\"index\":0,\"delta\":{},"
    "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n"
    "\n"
    "data: "
    "{\"id\":\"chatcmpl-mock-7\",\"object\":\"chat.completion.chunk\",\"created\":1795950220,"
    "\"model\":\"mock-model\",\"system_fingerprint\":null,\"choices\":[],\"usage\":{\"prompt_"
    "tokens\":4,\"completion_tokens\":4,\"total_tokens\":8}}\n"
    "\n"
    "data: [DONE]\n"
    "\n";

/* Two parallel tool calls (shape of the OpenAI chat streaming docs), the last argument pieces of
 * both in one chunk. */
#define CC                                                                                         \
    "data: {\"id\":\"chatcmpl-t\",\"object\":\"chat.completion.chunk\",\"created\":1,"             \
    "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":"
#define CE ",\"logprobs\":null,\"finish_reason\":null}]}\n\n"
static const char CHAT_TOOLS[] =
    CC "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_a\","
       "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}" CE CC
       "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]}" CE CC
       "{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{"
       "\"name\":\"get_time\",\"arguments\":\"\"}}]}" CE CC
       "{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"{\\\"tz\\\":\"}}]}" CE CC
       "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}},{\"index\":"
       "1,\"function\":{\"arguments\":\"\\\"CET\\\"}\"}}]}" CE CC
       "{},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]}\n\n"
       "data: [DONE]\n\n";

/* pc-mock, POST /v1/responses {"stream":true,"input":"Hello world"} */
static const char RESP_STREAM[] =
    "event: response.created\n"
    "data: "
    "{\"type\":\"response.created\",\"response\":{\"id\":\"resp_mock_8\",\"object\":\"response\","
    "\"created_at\":1795950220,\"status\":\"in_progress\",\"error\":null,\"incomplete_details\":"
    "null,\"instructions\":null,\"max_output_tokens\":null,\"model\":\"mock-model\",\"output\":[],"
    "\"parallel_tool_calls\":true,\"previous_response_id\":null,\"reasoning\":{\"effort\":null,"
    "\"summary\":null},\"store\":false,\"temperature\":1.0,\"text\":{\"format\":{\"type\":\"text\"}"
    "},\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":1.0,\"truncation\":\"disabled\",\"user\":"
    "null,\"metadata\":{},\"usage\":null},\"sequence_number\":0}\n"
    "\n"
    "event: response.in_progress\n"
    "data: "
    "{\"type\":\"response.in_progress\",\"response\":{\"id\":\"resp_mock_8\",\"object\":"
    "\"response\",\"created_at\":1795950220,\"status\":\"in_progress\",\"error\":null,"
    "\"incomplete_details\":null,\"instructions\":null,\"max_output_tokens\":null,\"model\":\"mock-"
    "model\",\"output\":[],\"parallel_tool_calls\":true,\"previous_response_id\":null,"
    "\"reasoning\":{\"effort\":null,\"summary\":null},\"store\":false,\"temperature\":1.0,\"text\":"
    "{\"format\":{\"type\":\"text\"}},\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":1.0,"
    "\"truncation\":\"disabled\",\"user\":null,\"metadata\":{},\"usage\":null},\"sequence_"
    "number\":1}\n"
    "\n"
    "event: response.output_item.added\n"
    "data: "
    "{\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"id\":\"msg_mock_8\","
    "\"type\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]},"
    "\"sequence_number\":2}\n"
    "\n"
    "event: response.content_part.added\n"
    "data: "
    "{\"type\":\"response.content_part.added\",\"item_id\":\"msg_mock_8\",\"output_index\":0,"
    "\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]},"
    "\"sequence_number\":3}\n"
    "\n"
    "event: response.output_text.delta\n"
    "data: "
    "{\"type\":\"response.output_text.delta\",\"item_id\":\"msg_mock_8\",\"output_index\":0,"
    "\"content_index\":0,\"delta\":\"Hello\",\"logprobs\":[],\"sequence_number\":4}\n"
    "\n"
    "event: response.output_text.delta\n"
    "data: "
    "{\"type\":\"response.output_text.delta\",\"item_id\":\"msg_mock_8\",\"output_index\":0,"
    "\"content_index\":0,\"delta\":\" world\",\"logprobs\":[],\"sequence_number\":5}\n"
    "\n"
    "event: response.output_text.done\n"
    "data: "
    "{\"type\":\"response.output_text.done\",\"item_id\":\"msg_mock_8\",\"output_index\":0,"
    "\"content_index\":0,\"text\":\"Hello world\",\"logprobs\":[],\"sequence_number\":6}\n"
    "\n"
    "event: response.content_part.done\n"
    "data: "
    "{\"type\":\"response.content_part.done\",\"item_id\":\"msg_mock_8\",\"output_index\":0,"
    "\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"Hello world\","
    "\"annotations\":[]},\"sequence_number\":7}\n"
    "\n"
    "event: response.output_item.done\n"
    "data: "
    "{\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"id\":\"msg_mock_8\","
    "\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":"
    "\"output_text\",\"text\":\"Hello world\",\"annotations\":[]}]},\"sequence_number\":8}\n"
    "\n"
    "event: response.completed\n"
    "data: "
    "{\"type\":\"response.completed\",\"response\":{\"id\":\"resp_mock_8\",\"object\":\"response\","
    "\"created_at\":1795950220,\"status\":\"completed\",\"error\":null,\"incomplete_details\":null,"
    "\"instructions\":null,\"max_output_tokens\":null,\"model\":\"mock-model\",\"output\":[{"
    "\"id\":\"msg_mock_8\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\","
    "\"content\":[{\"type\":\"output_text\",\"text\":\"Hello world\",\"annotations\":[]}]}],"
    "\"parallel_tool_calls\":true,\"previous_response_id\":null,\"reasoning\":{\"effort\":null,"
    "\"summary\":null},\"store\":false,\"temperature\":1.0,\"text\":{\"format\":{\"type\":\"text\"}"
    "},\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":1.0,\"truncation\":\"disabled\",\"user\":"
    "null,\"metadata\":{},\"usage\":{\"input_tokens\":3,\"input_tokens_details\":{\"cached_"
    "tokens\":0},\"output_tokens\":3,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_"
    "tokens\":6}},\"sequence_number\":9}\n"
    "\n";

/* A function call (shape of the OpenAI responses streaming docs). */
static const char RESP_TOOLS[] =
    "event: response.created\n"
    "data: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"object\":\"response\","
    "\"status\":\"in_progress\",\"output\":[],\"usage\":null},\"sequence_number\":0}\n\n"
    "event: response.output_item.added\n"
    "data: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"id\":\"fc_1\","
    "\"type\":\"function_call\",\"status\":\"in_progress\",\"arguments\":\"\",\"call_id\":"
    "\"call_1\",\"name\":\"get_weather\"},\"sequence_number\":1}\n\n"
    "event: response.function_call_arguments.delta\n"
    "data: {\"type\":\"response.function_call_arguments.delta\",\"item_id\":\"fc_1\","
    "\"output_index\":0,\"delta\":\"{\\\"city\\\":\",\"obfuscation\":\"xQ3\",\"sequence_number\":2}"
    "\n\n"
    "event: response.function_call_arguments.delta\n"
    "data: {\"type\":\"response.function_call_arguments.delta\",\"item_id\":\"fc_1\","
    "\"output_index\":0,\"delta\":\"\\\"Paris\\\"}\",\"obfuscation\":\"a\",\"sequence_number\":3}"
    "\n\n"
    "event: response.function_call_arguments.done\n"
    "data: {\"type\":\"response.function_call_arguments.done\",\"item_id\":\"fc_1\","
    "\"output_index\":0,\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\",\"sequence_number\":4}\n\n"
    "event: response.output_item.done\n"
    "data: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"id\":\"fc_1\","
    "\"type\":\"function_call\",\"status\":\"completed\",\"arguments\":"
    "\"{\\\"city\\\":\\\"Paris\\\"}\",\"call_id\":\"call_1\",\"name\":\"get_weather\"},"
    "\"sequence_number\":5}\n\n"
    "event: response.completed\n"
    "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"object\":"
    "\"response\",\"status\":\"completed\",\"output\":[{\"id\":\"fc_1\",\"type\":\"function_call\","
    "\"status\":\"completed\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\",\"call_id\":\"call_"
    "1\","
    "\"name\":\"get_weather\"}],\"usage\":{\"input_tokens\":50,\"output_tokens\":12,"
    "\"total_tokens\":62}},\"sequence_number\":6}\n\n";

/* pc-mock, POST /v1/messages {"stream":true,"messages":[{"role":"user","content":"Hello world"}]}
 */
static const char ANTH_STREAM[] =
    "event: message_start\n"
    "data: "
    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_mock_9\",\"type\":\"message\",\"role\":"
    "\"assistant\",\"model\":\"mock-model\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":"
    "null,\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n"
    "\n"
    "event: content_block_start\n"
    "data: "
    "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":"
    "\"\"}}\n"
    "\n"
    "event: ping\n"
    "data: {\"type\":\"ping\"}\n"
    "\n"
    "event: content_block_delta\n"
    "data: "
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
    "\"Hello\"}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: "
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" "
    "world\"}}\n"
    "\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n"
    "\n"
    "event: message_delta\n"
    "data: "
    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
    "\"usage\":{\"output_tokens\":3}}\n"
    "\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n"
    "\n";

/* Text, then a tool_use block (shape of the Anthropic streaming docs). */
static const char ANTH_TOOLS[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":"
    "\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,"
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":472,\"output_tokens\":2}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\","
    "\"text\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"Checking.\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\","
    "\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{}}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"{\\\"city\\\": \\\"Pa\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"ris\\\"}\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":"
    "null},\"usage\":{\"output_tokens\":89}}\n\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";

/* A replacement with everything that needs escaping. */
static const char NASTY[] = "say \"hi\"\\\n\ttab 😀 é </script>";

/* ---------------------------------------------------------------- helpers */

#define MAXEV 64

struct evlist {
    const char *p[MAXEV];
    size_t n[MAXEV];
    size_t count;
};

/* Splits s into its events with the gateway's framer, byte by byte. */
static void
split(const char *s, size_t len, struct evlist *l)
{
    struct gw_sse sse;
    size_t start = 0;
    gw_sse_init(&sse);
    l->count = 0;
    for (size_t i = 0; i < len; i++) {
        if (gw_sse_scan(&sse, s + i, 1)) {
            assert_true(l->count < MAXEV);
            l->p[l->count] = s + start;
            l->n[l->count++] = i + 1 - start;
            start = i + 1;
        }
    }
    assert_int_equal(start, len); /* nothing left over */
}

/* Takes everything out of b as a NUL-terminated malloc'd string. */
static char *
take(struct evbuffer *b, size_t *len)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    assert_non_null(s);
    assert_int_equal(evbuffer_remove(b, s, n), (int)n);
    s[n] = '\0';
    if (len)
        *len = n;
    return s;
}

/* s is exactly one SSE event whose data is a JSON object: returns it (fields in *f). */
static json_t *
one_json(const char *s, size_t n, struct gw_sse_fields *f)
{
    struct evlist l;
    split(s, n, &l);
    assert_int_equal(l.count, 1);
    assert_int_equal(gw_sse_fields_parse(s, n, f), 0);
    assert_true(f->has_data);
    json_t *j = json_loadb(f->data, f->data_len, JSON_ALLOW_NUL, NULL);
    assert_true(json_is_object(j));
    return j;
}

static const char *
jstr(json_t *j, const char *path)
{
    /* path: keys and [n] separated by '.', e.g. "choices.0.delta.content" */
    char buf[256];
    strncpy(buf, path, sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && j; k = strtok_r(NULL, ".", &save))
        j = (*k >= '0' && *k <= '9') ? json_array_get(j, (size_t)atoi(k)) : json_object_get(j, k);
    return json_string_value(j);
}

static json_t *
jget(json_t *j, const char *path)
{
    char buf[256];
    strncpy(buf, path, sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && j; k = strtok_r(NULL, ".", &save))
        j = (*k >= '0' && *k <= '9') ? json_array_get(j, (size_t)atoi(k)) : json_object_get(j, k);
    return j;
}

static void
assert_delta(const struct gw_sevent *ev, size_t i, int id, enum gw_role role, const char *text)
{
    assert_true(i < ev->ndeltas);
    assert_int_equal(ev->deltas[i].stream_id, id);
    assert_int_equal(ev->deltas[i].role, role);
    assert_int_equal(ev->deltas[i].len, strlen(text));
    assert_memory_equal(ev->deltas[i].text, text, strlen(text));
}

/* Writes ev with rep (NULL: unchanged) and returns what was written (malloc'd, maybe ""). */
static char *
write_ev(struct gw_stream_adapter *a, const struct gw_sevent *ev, const struct gw_text *rep,
         size_t *len)
{
    struct evbuffer *b = evbuffer_new();
    assert_non_null(b);
    assert_int_equal(gw_stream_write(a, ev, rep, b), 0);
    char *s = take(b, len);
    evbuffer_free(b);
    return s;
}

static char *
write_text(struct gw_stream_adapter *a, int id, const char *t, size_t *len)
{
    struct evbuffer *b = evbuffer_new();
    assert_non_null(b);
    assert_int_equal(gw_stream_write_text(a, id, t, strlen(t), b), 0);
    char *s = take(b, len);
    evbuffer_free(b);
    return s;
}

/* Every event of a stream written back unchanged is byte-identical: without replacements, and
 * with replacements equal to the texts (a second adapter: each write consumes a responses
 * sequence number). */
static void
check_identity(enum gw_api_kind k, const char *stream)
{
    struct evlist l;
    struct gw_stream_adapter *a = gw_stream_adapter_new(k), *b = gw_stream_adapter_new(k);
    assert_non_null(a);
    assert_non_null(b);
    split(stream, strlen(stream), &l);
    for (size_t i = 0; i < l.count; i++) {
        struct gw_sevent ev, ev2;
        struct gw_text rep[8];
        size_t n;
        assert_int_equal(gw_stream_parse(a, l.p[i], l.n[i], &ev), 0);
        char *w = write_ev(a, &ev, NULL, &n);
        assert_int_equal(n, l.n[i]);
        assert_memory_equal(w, l.p[i], n);
        free(w);
        assert_int_equal(gw_stream_parse(b, l.p[i], l.n[i], &ev2), 0);
        assert_true(ev2.ndeltas <= 8);
        for (size_t d = 0; d < ev2.ndeltas; d++)
            rep[d] = (struct gw_text){ev2.deltas[d].text, ev2.deltas[d].len};
        w = write_ev(b, &ev2, rep, &n);
        assert_int_equal(n, l.n[i]);
        assert_memory_equal(w, l.p[i], n);
        free(w);
        gw_sevent_free(&ev);
        gw_sevent_free(&ev2);
    }
    gw_stream_adapter_free(a);
    gw_stream_adapter_free(b);
}

/* ---------------------------------------------------------------- SSE fields */

static void
test_fields_line_ends(void **state)
{
    (void)state;
    const char *v[] = {"event: x\ndata: a\ndata: b\n\n", "event: x\r\ndata: a\r\ndata: b\r\n\r\n",
                       "event: x\rdata: a\rdata: b\r\r", "event: x\ndata: a\r\ndata: b\r\r\n"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        struct gw_sse_fields f;
        assert_int_equal(gw_sse_fields_parse(v[i], strlen(v[i]), &f), 0);
        assert_string_equal(f.event, "x");
        assert_true(f.has_data);
        assert_int_equal(f.data_len, 3);
        assert_string_equal(f.data, "a\nb");
        assert_null(f.id);
        gw_sse_fields_free(&f);
        gw_sse_fields_free(&f); /* twice is harmless */
    }
}

static void
test_fields_spaces_comments(void **state)
{
    (void)state;
    struct gw_sse_fields f;
    const char *s = ": comment\n"
                    "data:nospace\n"
                    "data:  two\n"
                    "data\n"
                    "foo: bar\n"
                    "event: first\n"
                    "event:second\n"
                    "id: 7\n"
                    "retry: 1500\n"
                    ":data: not data\n"
                    "\n";
    assert_int_equal(gw_sse_fields_parse(s, strlen(s), &f), 0);
    assert_string_equal(f.data, "nospace\n two\n"); /* "data" alone: an empty line */
    assert_int_equal(f.data_len, 13);
    assert_string_equal(f.event, "second");
    assert_string_equal(f.id, "7");
    assert_string_equal(f.retry, "1500");
    gw_sse_fields_free(&f);

    /* an empty event name counts as none, a bad retry is ignored, the last event wins */
    s = "event: x\nevent:\nretry: 12a\ndata: {}\n\n";
    assert_int_equal(gw_sse_fields_parse(s, strlen(s), &f), 0);
    assert_null(f.event);
    assert_null(f.retry);
    assert_string_equal(f.data, "{}");
    gw_sse_fields_free(&f);
}

static void
test_fields_no_data(void **state)
{
    (void)state;
    struct gw_sse_fields f;
    const char *v[] = {": ping\n\n", "event: ping\n\n", "\n", "", "\r\n"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        assert_int_equal(gw_sse_fields_parse(v[i], strlen(v[i]), &f), 0);
        assert_false(f.has_data);
        assert_non_null(f.data);
        assert_int_equal(f.data_len, 0);
        gw_sse_fields_free(&f);
    }
    /* "data:" alone is an event with empty data */
    assert_int_equal(gw_sse_fields_parse("data:\n\n", 7, &f), 0);
    assert_true(f.has_data);
    assert_int_equal(f.data_len, 0);
    gw_sse_fields_free(&f);
}

static void
test_fields_block_edges(void **state)
{
    (void)state;
    struct gw_sse_fields f;
    /* the LF of a CRLF left at the start of a block; BOM; only the first event counts */
    const char *s = "\n\xEF\xBB\xBF"
                    "data: x\r\n\r\n";
    assert_int_equal(gw_sse_fields_parse(s + 1, strlen(s + 1), &f), 0);
    assert_string_equal(f.data, "x");
    gw_sse_fields_free(&f);
    s = "\ndata: x\r\n\r\n";
    assert_int_equal(gw_sse_fields_parse(s, strlen(s), &f), 0);
    assert_string_equal(f.data, "x");
    gw_sse_fields_free(&f);
    s = "data: a\n\ndata: b\n\n";
    assert_int_equal(gw_sse_fields_parse(s, strlen(s), &f), 0);
    assert_string_equal(f.data, "a");
    gw_sse_fields_free(&f);
    /* NUL bytes in data are kept, an id with a NUL is ignored, no final blank line is fine */
    const char nul[] = "id: a\0b\ndata: x\0y";
    assert_int_equal(gw_sse_fields_parse(nul, sizeof nul - 1, &f), 0);
    assert_null(f.id);
    assert_int_equal(f.data_len, 3);
    assert_memory_equal(f.data, "x\0y", 3);
    gw_sse_fields_free(&f);
}

static void
test_event_len(void **state)
{
    (void)state;
    const char *s = "data: a\n\ndata: b\r\n\r\n: c\r\r\ndata: d\n";
    size_t n = strlen(s), off = 0, len[8], k = 0;
    while ((len[k] = gw_sse_event_len(s + off, n - off)) != 0) {
        off += len[k++];
        assert_true(k < 8);
    }
    assert_int_equal(k, 3);
    assert_int_equal(len[0], 9);
    assert_int_equal(len[1], 11);
    assert_int_equal(len[2], 6); /* ": c" CR, then a blank line CRLF */
    assert_int_equal(off, n - 8);
    /* a blank line's CR at the end of what was delivered ends the event; its LF, when it comes,
     * is a block of its own */
    assert_int_equal(gw_sse_event_len(": c\r\r", 5), 5);
    assert_int_equal(gw_sse_event_len("\ndata: e\n\n", 11), 1);
    assert_int_equal(gw_sse_event_len("", 0), 0);
    assert_int_equal(gw_sse_event_len("data", 4), 0);
    assert_int_equal(gw_sse_event_len("data: x\r", 8), 0);
    assert_int_equal(gw_sse_event_len("data: x\r\r", 9), 9);
    assert_int_equal(gw_sse_event_len("\r\n", 2), 2);

    /* every block the framer delivers is cut into the same events as byte-by-byte framing */
    struct evlist l;
    split(RESP_STREAM, strlen(RESP_STREAM), &l);
    off = 0;
    for (size_t i = 0; i < l.count; i++) {
        assert_int_equal(gw_sse_event_len(RESP_STREAM + off, strlen(RESP_STREAM) - off), l.n[i]);
        off += l.n[i];
    }
}

/* ---------------------------------------------------------------- OpenAI chat */

static void
test_chat_stream(void **state)
{
    (void)state;
    struct evlist l;
    struct gw_sevent ev;
    int64_t in, out;
    struct gw_stream_adapter *a = gw_stream_adapter_new(GW_KIND_OPENAI_CHAT);
    split(CHAT_STREAM, strlen(CHAT_STREAM), &l);
    assert_int_equal(l.count, 7);
    const char *texts[] = {"Hi", " \"there\"", " café"};

    assert_int_equal(gw_stream_usage(a, &in, &out), -1);
    assert_int_equal(gw_stream_parse(a, l.p[0], l.n[0], &ev), 0);
    assert_int_equal(ev.kind, GW_SEV_OTHER); /* role chunk, content "" */
    assert_int_equal(ev.ndeltas, 0);
    gw_sevent_free(&ev);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(gw_stream_parse(a, l.p[1 + i], l.n[1 + i], &ev), 0);
        assert_int_equal(ev.kind, GW_SEV_DELTA);
        assert_int_equal(ev.ndeltas, 1);
        assert_delta(&ev, 0, 0, GW_ROLE_ASSISTANT, texts[i]);
        assert_int_equal(ev.deltas[0].choice, 0);
        assert_int_equal(ev.nended, 0);
        gw_sevent_free(&ev);
    }
    assert_int_equal(gw_stream_parse(a, l.p[4], l.n[4], &ev), 0); /* finish_reason */
    assert_int_equal(ev.kind, GW_SEV_OTHER);
    assert_int_equal(ev.nended, 1);
    assert_int_equal(ev.ended[0], 0);
    gw_sevent_free(&ev);
    assert_int_equal(gw_stream_parse(a, l.p[5], l.n[5], &ev), 0);
    assert_int_equal(ev.kind, GW_SEV_USAGE_ONLY);
    gw_sevent_free(&ev);
    assert_int_equal(gw_stream_usage(a, &in, &out), 0);
    assert_int_equal(in, 4);
    assert_int_equal(out, 4);
    assert_int_equal(gw_stream_parse(a, l.p[6], l.n[6], &ev), 0);
    assert_int_equal(ev.kind, GW_SEV_TERMINAL);
    assert_int_equal(ev.nended, 0); /* already ended by finish_reason */
    gw_sevent_free(&ev);
    gw_sevent_free(&ev);
    gw_stream_adapter_free(a);

    check_identity(GW_KIND_OPENAI_CHAT, CHAT_STREAM);
    check_identity(GW_KIND_OPENAI_CHAT, CHAT_TOOLS);
}

static void
test_chat_rewrite(void **state)
{
    (void)state;
    struct evlist l;
    struct gw_sevent ev;
    struct gw_sse_fields f;
    size_t n;
    struct gw_stream_adapter *a = gw_stream_adapter_new(GW_KIND_OPENAI_CHAT);
    split(CHAT_STREAM, strlen(CHAT_STREAM), &l);
    assert_int_equal(gw_stream_parse(a, l.p[2], l.n[2], &ev), 0);
    struct gw_text rep = {NASTY, strlen(NASTY)};
    char *w = write_ev(a, &ev, &rep, &n);
    assert_memory_equal(w, "data: {", 7);
    assert_string_equal(w + n - 3, "}\n\n");
    json_t *j = one_json(w, n, &f);
    assert_null(f.event);
    assert_string_equal(jstr(j, "choices.0.delta.content"), NASTY);
    assert_string_equal(jstr(j, "id"), "chatcmpl-mock-7");
    assert_string_equal(jstr(j, "model"), "mock-model");
    assert_true(json_is_null(jget(j, "choices.0.finish_reason")));
    assert_int_equal(json_integer_value(jget(j, "choices.0.index")), 0);
    assert_true(json_is_null(jget(j, "usage")));
    /* key order kept */
    assert_non_null(strstr(w, "{\"id\":\"chatcmpl-mock-7\",\"object\":\"chat.completion.chunk\","
                              "\"created\":1795950220,\"model\":\"mock-model\""));
    json_decref(j);
    gw_sse_fields_free(&f);
    free(w);
    /* the event itself is unchanged: written again without rep it is the original */
    w = write_ev(a, &ev, NULL, &n);
    assert_int_equal(n, l.n[2]);
    assert_memory_equal(w, l.p[2], n);
    free(w);
    assert_delta(&ev, 0, 0, GW_ROLE_ASSISTANT, " \"there\"");
    gw_sevent_free(&ev);
    gw_stream_adapter_free(a);
}

static void
test_chat_drop_and_keep(void **state)
{
    (void)state;
    struct evlist l;
    struct gw_sevent ev;
    struct gw_sse_fields f;
    size_t n;
    struct gw_text empty = {"", 0};
    struct gw_stream_adapter *a = gw_stream_adapter_new(GW_KIND_OPENAI_CHAT);
    split(CHAT_STREAM, strlen(CHAT_STREAM), &l);
    assert_int_equal(gw_stream_parse(a, l.p[1], l.n[1], &ev), 0);
    char *w = write_ev(a, &ev, &empty, &n);
    assert_int_equal(n, 0); /* dropped */
    free(w);
    gw_sevent_free(&ev);

    /* content + finish_reason in one chunk: the text is final, the chunk stays */
    const char *s = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"end\"},"
                    "\"logprobs\":{\"content\":[{\"token\":\"end\",\"logprob\":-0.7}]},"
                    "\"finish_reason\":\"stop\"}]}\n\n";
    assert_int_equal(gw_stream_parse(a, s, strlen(s), &ev), 0);
    assert_int_equal(ev.kind, GW_SEV_DELTA);
    assert_delta(&ev, 0, 0, GW_ROLE_ASSISTANT, "end");
    assert_int_equal(ev.nended, 1);
    assert_int_equal(ev.ended[0], 0);
    w = write_ev(a, &ev, &empty, &n);
    json_t *j = one_json(w, n, &f);
    assert_string_equal(jstr(j, "choices.0.delta.content"), "");
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "stop");
    assert_true(json_is_null(jget(j, "choices.0.logprobs"))); /* they spelled out "end" */
    json_decref(j);
    gw_sse_fields_free(&f);
    free(w);
    /* unchanged, the logprobs stay, and -0.7 is still -0.7 */
    w = write_ev(a, &ev, NULL, &n);
    assert_int_equal(n, strlen(s));
    free(w);
    gw_sevent_free(&ev);

    /* a real that needs re-serialising keeps its shortest form */
    s = "data: {\"id\":\"c\",\"x\":0.7,\"y\":1e-7,\"choices\":[{\"index\":0,\"delta\":{"
        "\"content\":\"a\"},\"finish_reason\":null}]}\n\n";
    assert_int_equal(gw_stream_parse(a, s, strlen(s), &ev), 0);
    struct gw_text b = {"b", 1};
    w = write_ev(a, &ev, &b, &n);
    assert_non_null(strstr(w, "\"x\":0.7,"));
    assert_null(strstr(w, "0.69999"));
    free(w);
    gw_sevent_free(&ev);
    gw_stream_adapter_free(a);
}

static void
test_chat_tools(void **state)
{
    (void)state;
    struct evlist l;
    struct gw_sevent ev;
    struct gw_sse_fields f;
    size_t n;
    struct gw_stream_adapter *a = gw_stream_adapter_new(GW_KIND_OPENAI_CHAT);
    split(CHAT_TOOLS, strlen(CHAT_TOOLS), &l);
    assert_int_equal(l.count, 7);

    /* id + name, arguments "": not a delta */
    assert_int_equal(gw_stream_parse(a, l.p[0], l.n[0], &ev), 0);
    assert_int_equal(ev.kind, GW_SEV_OTHER);
    gw_sevent_free(&ev);
    assert_int_equal(gw_stream_parse(a, l.p[1], l.n[1], &ev), 0);
    assert_int_equal(ev.kind, GW_SEV_DELTA);
    assert_delta(&ev, 0, 0, GW_ROLE_TOOL_CALL_ARGS, "{\"city\":");
    gw_sevent_free(&ev);
    assert_int_equal(gw_stream_parse(a, l.p[2], l.n[2], &ev), 0);
    assert_int_equal(ev.kind, GW_SEV_OTHER);
    gw_sevent_free(&ev);
    assert_int_equal(gw_stream_parse(a, l.p[3], l.n[3], &ev), 0);
    assert_delta(&ev, 0, 1, GW_ROLE_TOOL_CALL_ARGS, "{\"tz\":");
    gw_sevent_free(&ev);

    /* both calls in one chunk: rewrite both, then drop both */
    assert_int_equal(gw_stream_parse(a, l.p[4], l.n[4], &ev), 0);
    assert_int_equal(ev.kind, GW_SEV_DELTA);
    assert_int_equal(ev.ndeltas, 2);
    assert_delta(&ev, 0, 0, GW_ROLE_TOOL_CALL_ARGS, "\"Paris\"}");
    assert_delta(&ev, 1, 1, GW_ROLE_TOOL_CALL_ARGS, "\"CET\"}");
    assert_int_equal(ev.deltas[1].choice, 0);
    struct gw_text rep[2] = {{"\"[CITY]\"}", 9}, {NULL, 0}};
    char *w = write_ev(a, &ev, rep, &n);
    json_t *j = one_json(w, n, &f);
    assert_string_equal(jstr(j, "choices.0.delta.tool_calls.0.function.arguments"), "\"[CITY]\"}");
    assert_string_equal(jstr(j, "choices.0.delta.tool_calls.1.function.arguments"), "\"CET\"}");
    assert_int_equal(json_integer_value(jget(j, "choices.0.delta.tool_calls.1.index")), 1);
    json_decref(j);
    gw_sse_fields_free(&f);
    free(w);
    struct gw_text none[2] = {{"", 0}, {"", 0}};
    w = write_ev(a, &ev, none, &n);
    assert_int_equal(n, 0);
    free(w);
    gw_sevent_free(&ev);

    /* release held arguments of call 1: a clone without id, type, name */
    w = write_text(a, 1, "\"CET\"}", &n);
    j = one_json(w, n, &f);
    assert_string_equal(jstr(j, "id"), "chatcmpl-t");
    assert_int_equal(json_array_size(jget(j, "choices")), 1);
    assert_int_equal(json_integer_value(jget(j, "choices.0.delta.tool_calls.0.index")), 1);
    assert_string_equal(jstr(j, "choices.0.delta.tool_calls.0.function.arguments"), "\"CET\"}");
    assert_null(jget(j, "choices.0.delta.tool_calls.0.id"));
    assert_null(jget(j, "choices.0.delta.tool_calls.0.function.name"));
    assert_null(jget(j, "choices.0.delta.role"));
    assert_true(json_is_null(jget(j, "choices.0.finish_reason")));
    json_decref(j);
    gw_sse_fields_free(&f);
    free(w);

    assert_int_equal(gw_stream_parse(a, l.p[5], l.n[5], &ev), 0);
    assert_int_equal(ev.kind, GW_SEV_OTHER);
    assert_int_equal(ev.nended, 2);
    assert_int_equal(ev.ended[0], 0);
    assert_int_equal(ev.ended[1], 1);
    gw_sevent_free(&ev);
    assert_int_equal(gw_stream_parse(a, l.p[6], l.n[6], &ev), 0);
    assert_int_equal(ev.kind, GW_SEV_TERMINAL);
    gw_sevent_free(&ev);

    /* a chunk with a tool call's name and all its arguments: emptied, it still goes out */
    const char *s = CC "{\"tool_calls\":[{\"index\":2,\"id\":\"call_c\",\"type\":\"function\","
                       "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}" CE;
    assert_int_equal(gw_stream_parse(a, s, strlen(s), &ev), 0);
    assert_delta(&ev, 0, 2, GW_ROLE_TOOL_CALL_ARGS, "{}");
    w = write_ev(a, &ev, none, &n);
    j = one_json(w, n, &f);
    assert_string_equal(jstr(j, "choices.0.delta.tool_calls.0.function.name"), "f");
    assert_string_equal(jstr(j, "choices.0.delta.tool_calls.0.function.arguments"), "");
    json_decref(j);
    gw_sse_fields_free(&f);
    free(w);
    gw_sevent_free(&ev);
    gw_stream_adapter_free(a);
}

static void
test_chat_write_text_and_choices(void **state)
{
    (void)state;
    struct gw_sevent ev;
    struct gw_sse_fields f;
    size_t n;
    struct gw_stream_adapter *a = gw_stream_adapter_new(GW_KIND_OPENAI_CHAT);
    /* role and first text in one chunk, two choices (n = 2) */
    const char *s =
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
        "\"content\":\"Hel\"},\"logprobs\":null,\"finish_reason\":null},{\"index\":1,"
        "\"delta\":{\"role\":\"assistant\",\"content\":\"Bye\"},\"logprobs\":null,"
        "\"finish_reason\":null}],\"usage\":null}\n\n";
    assert_int_equal(gw_stream_parse(a, s, strlen(s), &ev), 0);
    assert_int_equal(ev.ndeltas, 2);
    assert_delta(&ev, 0, 0, GW_ROLE_ASSISTANT, "Hel");
    assert_delta(&ev, 1, 1, GW_ROLE_ASSISTANT, "Bye");
    assert_int_equal(ev.deltas[1].choice, 1);
    /* both emptied, but the role must still go out */
    struct gw_text none[2] = {{"", 0}, {"", 0}};
    char *w = write_ev(a, &ev, none, &n);
    json_t *j = one_json(w, n, &f);
    assert_string_equal(jstr(j, "choices.0.delta.role"), "assistant");
    assert_string_equal(jstr(j, "choices.1.delta.content"), "");
    json_decref(j);
    gw_sse_fields_free(&f);
    free(w);
    gw_sevent_free(&ev);

    w = write_text(a, 1, NASTY, &n);
    j = one_json(w, n, &f);
    assert_int_equal(json_array_size(jget(j, "choices")), 1);
    assert_int_equal(json_integer_value(jget(j, "choices.0.index")), 1);
    assert_string_equal(jstr(j, "choices.0.delta.content"), NASTY);
    assert_null(jget(j, "choices.0.delta.role"));
    assert_true(json_is_null(jget(j, "choices.0.finish_reason")));
    assert_true(json_is_null(jget(j, "usage")));
    assert_string_equal(jstr(j, "id"), "c");
    json_decref(j);
    gw_sse_fields_free(&f);
    free(w);

    /* finish of choice 1 ends only its stream; [DONE] then ends choice 0's */
    s = "data: {\"id\":\"c\",\"choices\":[{\"index\":1,\"delta\":{},\"finish_reason\":\"length\"}]}"
        "\n\n";
    assert_int_equal(gw_stream_parse(a, s, strlen(s), &ev), 0);
    assert_int_equal(ev.nended, 1);
    assert_int_equal(ev.ended[0], 1);
    gw_sevent_free(&ev);
    assert_int_equal(gw_stream_parse(a, "data: [DONE]\r\n\r\n", 16, &ev), 0);
    assert_int_equal(ev.kind, GW_SEV_TERMINAL);
    assert_int_equal(ev.nended, 1);
    assert_int_equal(ev.ended[0], 0);
    w = write_ev(a, &ev, NULL, &n);
    assert_string_equal(w, "data: [DONE]\r\n\r\n");
    free(w);
    gw_sevent_free(&ev);

    /* unknown stream, nothing to write */
    struct evbuffer *b = evbuffer_new();
    assert_int_equal(gw_stream_write_text(a, 7, "x", 1, b), -1);
    assert_int_equal(gw_stream_write_text(a, -1, "x", 1, b), -1);
    assert_int_equal(gw_stream_write_text(a, 0, "", 0, b), 0);
    assert_int_equal(evbuffer_get_length(b), 0);
    evbuffer_free(b);
    gw_stream_adapter_free(a);
}

static void
test_chat_error_and_odd(void **state)
{
    (void)state;
    struct gw_sevent ev;
    size_t n;
    struct gw_stream_adapter *a = gw_stream_adapter_new(GW_KIND_OPENAI_CHAT);
    const char *s = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n";
    assert_int_equal(gw_stream_parse(a, s, strlen(s), &ev), 0);
    gw_sevent_free(&ev);
    s = "data: {\"error\":{\"message\":\"mock error\",\"type\":\"server_error\",\"param\":null,"
        "\"code\":\"server_error\"}}\n\n";
    assert_int_equal(gw_stream_parse(a, s, strlen(s), &ev), 0);
    assert_int_equal(ev.kind, GW_SEV_ERROR);
    assert_int_equal(ev.nended, 1);
    char *w = write_ev(a, &ev, NULL, &n);
    assert_string_equal(w, s);
    free(w);
    gw_sevent_free(&ev);

    /* not JSON, comments, CR line ends, invalid UTF-8: forwarded byte for byte */
    const char *odd[] = {": keep-alive\r\n\r\n", "data: {not json\n\n",
                         "event:x\rdata:{\"choices\" : []}\r\r",
                         "data: {\"choices\":[{\"delta\":{\"content\":\"\xff\"}}]}\n\n"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        assert_int_equal(gw_stream_parse(a, odd[i], strlen(odd[i]), &ev), 0);
        assert_int_equal(ev.kind, GW_SEV_OTHER);
        w = write_ev(a, &ev, NULL, &n);
        assert_string_equal(w, odd[i]);
        free(w);
        gw_sevent_free(&ev);
    }
    /* a delta with CR line ends, left unchanged: byte for byte as well */
    s = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"y\"}}]}\r\r";
    assert_int_equal(gw_stream_parse(a, s, strlen(s), &ev), 0);
    assert_int_equal(ev.kind, GW_SEV_DELTA);
    w = write_ev(a, &ev, NULL, &n);
    assert_string_equal(w, s);
    free(w);
    /* invalid UTF-8 in a replacement becomes U+FFFD; \u0000 survives */
    struct gw_text bad = {"a\xff\0b", 4};
    w = write_ev(a, &ev, &bad, &n);
    struct gw_sse_fields f;
    json_t *j = one_json(w, n, &f);
    json_t *c = jget(j, "choices.0.delta.content");
    assert_int_equal(json_string_length(c), 6);
    assert_memory_equal(json_string_value(c), "a\xEF\xBF\xBD\0b", 6);
    json_decref(j);
    gw_sse_fields_free(&f);
    free(w);
    gw_sevent_free(&ev);
    gw_stream_adapter_free(a);

    /* an adapter for another API forwards everything */
    a = gw_stream_adapter_new(GW_KIND_OTHER);
    assert_int_equal(gw_stream_parse(a, CHAT_STREAM, 200, &ev), 0);
    assert_int_equal(ev.kind, GW_SEV_OTHER);
    gw_sevent_free(&ev);
    gw_stream_adapter_free(a);
}

/* ---------------------------------------------------------------- OpenAI responses */

static void
test_responses_stream(void **state)
{
    (void)state;
    struct evlist l;
    struct gw_sevent ev;
    int64_t in, out;
    struct gw_stream_adapter *a = gw_stream_adapter_new(GW_KIND_OPENAI_RESPONSES);
    split(RESP_STREAM, strlen(RESP_STREAM), &l);
    assert_int_equal(l.count, 10);
    enum gw_sevent_kind kinds[10] = {GW_SEV_OTHER, GW_SEV_OTHER,   GW_SEV_OTHER, GW_SEV_OTHER,
                                     GW_SEV_DELTA, GW_SEV_DELTA,   GW_SEV_OTHER, GW_SEV_OTHER,
                                     GW_SEV_OTHER, GW_SEV_TERMINAL};
    for (size_t i = 0; i < l.count; i++) {
        assert_int_equal(gw_stream_parse(a, l.p[i], l.n[i], &ev), 0);
        assert_int_equal(ev.kind, kinds[i]);
        if (i == 4)
            assert_delta(&ev, 0, 0, GW_ROLE_ASSISTANT, "Hello");
        if (i == 5)
            assert_delta(&ev, 0, 0, GW_ROLE_ASSISTANT, " world");
        assert_int_equal(ev.nended, i == 6); /* output_text.done */
        if (i == 6)
            assert_int_equal(ev.ended[0], 0);
        gw_sevent_free(&ev);
    }
    assert_int_equal(gw_stream_usage(a, &in, &out), 0);
    assert_int_equal(in, 3);
    assert_int_equal(out, 3);
    gw_stream_adapter_free(a);
    check_identity(GW_KIND_OPENAI_RESPONSES, RESP_STREAM);
    check_identity(GW_KIND_OPENAI_RESPONSES, RESP_TOOLS);
}

/*
 * Runs a whole stream through an adapter with a caller-supplied policy and returns all output.
 * policy(i, ev, rep, pre) fills rep for event i and may write release events into pre (written
 * before the event).
 */
typedef void (*policy_fn)(struct gw_stream_adapter *a, size_t i, const struct gw_sevent *ev,
                          struct gw_text *rep, struct evbuffer *pre);

static char *
run(enum gw_api_kind k, const char *stream, policy_fn policy, size_t *len)
{
    struct evlist l;
    struct gw_stream_adapter *a = gw_stream_adapter_new(k);
    struct evbuffer *out = evbuffer_new();
    split(stream, strlen(stream), &l);
    for (size_t i = 0; i < l.count; i++) {
        struct gw_sevent ev;
        struct gw_text rep[8] = {{0}};
        assert_int_equal(gw_stream_parse(a, l.p[i], l.n[i], &ev), 0);
        assert_true(ev.ndeltas <= 8);
        policy(a, i, &ev, rep, out);
        assert_int_equal(gw_stream_write(a, &ev, rep, out), 0);
        gw_sevent_free(&ev);
    }
    char *s = take(out, len);
    evbuffer_free(out);
    gw_stream_adapter_free(a);
    return s;
}

/* Parses every event written; checks sequence numbers run 0, 1, 2... and returns the events. */
static size_t
parse_all(const char *s, size_t n, json_t **ev, char **names, size_t max)
{
    struct evlist l;
    split(s, n, &l);
    assert_true(l.count <= max);
    for (size_t i = 0; i < l.count; i++) {
        struct gw_sse_fields f;
        ev[i] = one_json(l.p[i], l.n[i], &f);
        names[i] = strdup(f.event ? f.event : "");
        assert_string_equal(names[i], jstr(ev[i], "type"));
        json_t *seq = jget(ev[i], "sequence_number");
        if (seq)
            assert_int_equal(json_integer_value(seq), (json_int_t)i);
        gw_sse_fields_free(&f);
    }
    return l.count;
}

static void
free_all(json_t **ev, char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(ev[i]);
        free(names[i]);
    }
}

static void
redact_world(struct gw_stream_adapter *a, size_t i, const struct gw_sevent *ev, struct gw_text *rep,
             struct evbuffer *pre)
{
    (void)a;
    (void)i;
    (void)pre;
    if (ev->ndeltas && ev->deltas[0].len == 6 && !memcmp(ev->deltas[0].text, " world", 6))
        rep[0] = (struct gw_text){" [X]", 4};
}

static void
test_responses_redact(void **state)
{
    (void)state;
    json_t *ev[16];
    char *names[16];
    size_t n;
    char *s = run(GW_KIND_OPENAI_RESPONSES, RESP_STREAM, redact_world, &n);
    size_t k = parse_all(s, n, ev, names, 16);
    assert_int_equal(k, 10);
    assert_string_equal(jstr(ev[5], "delta"), " [X]");
    assert_string_equal(jstr(ev[6], "text"), "Hello [X]");
    assert_string_equal(jstr(ev[7], "part.text"), "Hello [X]");
    assert_string_equal(jstr(ev[8], "item.content.0.text"), "Hello [X]");
    assert_string_equal(jstr(ev[9], "response.output.0.content.0.text"), "Hello [X]");
    assert_string_equal(jstr(ev[9], "response.status"), "completed");
    assert_int_equal(json_integer_value(jget(ev[9], "response.usage.output_tokens")), 3);
    /* events before the change went out byte for byte */
    struct evlist l;
    size_t same = 0;
    split(RESP_STREAM, strlen(RESP_STREAM), &l);
    for (size_t i = 0; i < 5; i++)
        same += l.n[i];
    assert_true(n > same);
    assert_memory_equal(s, RESP_STREAM, same);
    free_all(ev, names, k);
    free(s);
}

/* "Hello": the filter releases "Hel" and holds "lo"; " world": holds everything (dropped);
 * output_text.done ends the stream: the held text is released, redacted, before it. */
static void
hold_release(struct gw_stream_adapter *a, size_t i, const struct gw_sevent *ev, struct gw_text *rep,
             struct evbuffer *pre)
{
    if (i == 4)
        rep[0] = (struct gw_text){"Hel", 3};
    if (i == 5)
        rep[0] = (struct gw_text){"", 0};
    for (size_t k = 0; k < ev->nended; k++)
        assert_int_equal(gw_stream_write_text(a, ev->ended[k], "lo [REDACTED]", 13, pre), 0);
}

static void
test_responses_hold_renumber(void **state)
{
    (void)state;
    json_t *ev[16];
    char *names[16];
    size_t n;
    char *s = run(GW_KIND_OPENAI_RESPONSES, RESP_STREAM, hold_release, &n);
    size_t k = parse_all(s, n, ev, names, 16); /* sequence numbers consecutive */
    assert_int_equal(k, 10);
    assert_string_equal(names[4], "response.output_text.delta");
    assert_string_equal(jstr(ev[4], "delta"), "Hel");
    assert_string_equal(names[5], "response.output_text.delta"); /* the synthesised one */
    assert_string_equal(jstr(ev[5], "delta"), "lo [REDACTED]");
    assert_string_equal(jstr(ev[5], "item_id"), "msg_mock_8");
    assert_int_equal(json_integer_value(jget(ev[5], "output_index")), 0);
    assert_int_equal(json_integer_value(jget(ev[5], "content_index")), 0);
    assert_string_equal(names[6], "response.output_text.done");
    assert_string_equal(jstr(ev[6], "text"), "Hello [REDACTED]");
    assert_string_equal(jstr(ev[7], "part.text"), "Hello [REDACTED]");
    assert_string_equal(jstr(ev[8], "item.content.0.text"), "Hello [REDACTED]");
    assert_string_equal(jstr(ev[9], "response.output.0.content.0.text"), "Hello [REDACTED]");
    free_all(ev, names, k);
    free(s);
}

static void
redact_paris(struct gw_stream_adapter *a, size_t i, const struct gw_sevent *ev, struct gw_text *rep,
             struct evbuffer *pre)
{
    (void)a;
    (void)pre;
    if (i == 2) {
        assert_int_equal(ev->kind, GW_SEV_DELTA);
        assert_delta(ev, 0, 0, GW_ROLE_TOOL_CALL_ARGS, "{\"city\":");
    }
    if (i == 3) {
        assert_delta(ev, 0, 0, GW_ROLE_TOOL_CALL_ARGS, "\"Paris\"}");
        rep[0] = (struct gw_text){"\"[CITY]\"}", 9};
    }
    if (i == 4) { /* function_call_arguments.done */
        assert_int_equal(ev->nended, 1);
        assert_int_equal(ev->ended[0], 0);
    }
    if (i == 5 || i == 6)
        assert_int_equal(ev->nended, 0);
    if (i == 6)
        assert_int_equal(ev->kind, GW_SEV_TERMINAL);
}

static void
test_responses_tools(void **state)
{
    (void)state;
    json_t *ev[16];
    char *names[16];
    size_t n;
    char *s = run(GW_KIND_OPENAI_RESPONSES, RESP_TOOLS, redact_paris, &n);
    size_t k = parse_all(s, n, ev, names, 16);
    assert_int_equal(k, 7);
    const char *want = "{\"city\":\"[CITY]\"}";
    assert_string_equal(jstr(ev[3], "delta"), "\"[CITY]\"}");
    assert_string_equal(jstr(ev[3], "obfuscation"), "a");
    assert_string_equal(jstr(ev[4], "arguments"), want);
    assert_string_equal(jstr(ev[5], "item.arguments"), want);
    assert_string_equal(jstr(ev[5], "item.name"), "get_weather");
    assert_string_equal(jstr(ev[6], "response.output.0.arguments"), want);
    free_all(ev, names, k);
    free(s);

    /* usage, and the error event */
    struct evlist l;
    struct gw_sevent e;
    int64_t in, out;
    struct gw_stream_adapter *a = gw_stream_adapter_new(GW_KIND_OPENAI_RESPONSES);
    split(RESP_TOOLS, strlen(RESP_TOOLS), &l);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(gw_stream_parse(a, l.p[i], l.n[i], &e), 0);
        gw_sevent_free(&e);
    }
    const char *err = "event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\","
                      "\"message\":\"mock error\",\"param\":null,\"sequence_number\":5}\n\n";
    assert_int_equal(gw_stream_parse(a, err, strlen(err), &e), 0);
    assert_int_equal(e.kind, GW_SEV_ERROR);
    assert_int_equal(e.nended, 1);
    gw_sevent_free(&e);
    assert_int_equal(gw_stream_usage(a, &in, &out), -1);
    assert_int_equal(gw_stream_parse(a, l.p[6], l.n[6], &e), 0);
    gw_sevent_free(&e);
    assert_int_equal(gw_stream_usage(a, &in, &out), 0);
    assert_int_equal(in, 50);
    assert_int_equal(out, 12);
    gw_stream_adapter_free(a);
}

/* ---------------------------------------------------------------- Anthropic */

static void
test_anthropic_stream(void **state)
{
    (void)state;
    struct evlist l;
    struct gw_sevent ev;
    int64_t in, out;
    struct gw_stream_adapter *a = gw_stream_adapter_new(GW_KIND_ANTHROPIC_MESSAGES);
    split(ANTH_STREAM, strlen(ANTH_STREAM), &l);
    assert_int_equal(l.count, 8);
    enum gw_sevent_kind kinds[8] = {GW_SEV_OTHER, GW_SEV_OTHER, GW_SEV_OTHER, GW_SEV_DELTA,
                                    GW_SEV_DELTA, GW_SEV_OTHER, GW_SEV_OTHER, GW_SEV_TERMINAL};
    for (size_t i = 0; i < l.count; i++) {
        assert_int_equal(gw_stream_parse(a, l.p[i], l.n[i], &ev), 0);
        assert_int_equal(ev.kind, kinds[i]);
        if (i == 3)
            assert_delta(&ev, 0, 0, GW_ROLE_ASSISTANT, "Hello");
        if (i == 4)
            assert_delta(&ev, 0, 0, GW_ROLE_ASSISTANT, " world");
        assert_int_equal(ev.nended, i == 5);
        if (i == 0 || i == 5) {
            assert_int_equal(gw_stream_usage(a, &in, &out), -1);
            assert_int_equal(in, 3);
            assert_int_equal(out, -1);
        }
        gw_sevent_free(&ev);
    }
    assert_int_equal(gw_stream_usage(a, &in, &out), 0);
    assert_int_equal(in, 3);
    assert_int_equal(out, 3);
    gw_stream_adapter_free(a);
    check_identity(GW_KIND_ANTHROPIC_MESSAGES, ANTH_STREAM);
    check_identity(GW_KIND_ANTHROPIC_MESSAGES, ANTH_TOOLS);
}

static void
test_anthropic_tools(void **state)
{
    (void)state;
    struct evlist l;
    struct gw_sevent ev;
    struct gw_sse_fields f;
    size_t n;
    int64_t in, out;
    struct gw_stream_adapter *a = gw_stream_adapter_new(GW_KIND_ANTHROPIC_MESSAGES);
    split(ANTH_TOOLS, strlen(ANTH_TOOLS), &l);
    assert_int_equal(l.count, 11);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(gw_stream_parse(a, l.p[i], l.n[i], &ev), 0);
        gw_sevent_free(&ev);
    }
    assert_int_equal(gw_stream_parse(a, l.p[2], l.n[2], &ev), 0);
    assert_delta(&ev, 0, 0, GW_ROLE_ASSISTANT, "Checking.");
    /* rewrite a text delta */
    struct gw_text rep = {NASTY, strlen(NASTY)};
    char *w = write_ev(a, &ev, &rep, &n);
    assert_memory_equal(w, "event: content_block_delta\ndata: {", 34);
    json_t *j = one_json(w, n, &f);
    assert_string_equal(f.event, "content_block_delta");
    assert_string_equal(jstr(j, "delta.text"), NASTY);
    assert_string_equal(jstr(j, "delta.type"), "text_delta");
    assert_int_equal(json_integer_value(jget(j, "index")), 0);
    json_decref(j);
    gw_sse_fields_free(&f);
    free(w);
    gw_sevent_free(&ev);
    assert_int_equal(gw_stream_parse(a, l.p[3], l.n[3], &ev), 0); /* stop 0 */
    assert_int_equal(ev.nended, 1);
    assert_int_equal(ev.ended[0], 0);
    gw_sevent_free(&ev);
    assert_int_equal(gw_stream_parse(a, l.p[4], l.n[4], &ev), 0); /* tool_use start */
    assert_int_equal(ev.kind, GW_SEV_OTHER);
    gw_sevent_free(&ev);
    assert_int_equal(gw_stream_parse(a, l.p[5], l.n[5], &ev), 0); /* partial_json "" */
    assert_int_equal(ev.kind, GW_SEV_OTHER);
    gw_sevent_free(&ev);
    assert_int_equal(gw_stream_parse(a, l.p[6], l.n[6], &ev), 0);
    assert_int_equal(ev.kind, GW_SEV_DELTA);
    assert_delta(&ev, 0, 1, GW_ROLE_TOOL_CALL_ARGS, "{\"city\": \"Pa");
    /* the filter holds everything: dropped */
    struct gw_text empty = {"", 0};
    w = write_ev(a, &ev, &empty, &n);
    assert_int_equal(n, 0);
    free(w);
    gw_sevent_free(&ev);
    assert_int_equal(gw_stream_parse(a, l.p[7], l.n[7], &ev), 0);
    assert_delta(&ev, 0, 1, GW_ROLE_TOOL_CALL_ARGS, "ris\"}");
    w = write_ev(a, &ev, &empty, &n);
    assert_int_equal(n, 0);
    free(w);
    gw_sevent_free(&ev);
    assert_int_equal(gw_stream_parse(a, l.p[8], l.n[8], &ev), 0); /* stop 1 */
    assert_int_equal(ev.nended, 1);
    assert_int_equal(ev.ended[0], 1);
    /* release: a clone of the last input_json_delta */
    w = write_text(a, 1, "{\"city\": \"[CITY]\"}", &n);
    j = one_json(w, n, &f);
    assert_string_equal(f.event, "content_block_delta");
    assert_string_equal(jstr(j, "type"), "content_block_delta");
    assert_int_equal(json_integer_value(jget(j, "index")), 1);
    assert_string_equal(jstr(j, "delta.type"), "input_json_delta");
    assert_string_equal(jstr(j, "delta.partial_json"), "{\"city\": \"[CITY]\"}");
    json_decref(j);
    gw_sse_fields_free(&f);
    free(w);
    w = write_ev(a, &ev, NULL, &n);
    assert_int_equal(n, l.n[8]);
    free(w);
    gw_sevent_free(&ev);
    for (size_t i = 9; i < l.count; i++) {
        assert_int_equal(gw_stream_parse(a, l.p[i], l.n[i], &ev), 0);
        assert_int_equal(ev.nended, 0);
        assert_int_equal(ev.kind, i == 10 ? GW_SEV_TERMINAL : GW_SEV_OTHER);
        gw_sevent_free(&ev);
    }
    assert_int_equal(gw_stream_usage(a, &in, &out), 0);
    assert_int_equal(in, 472);
    assert_int_equal(out, 89);
    gw_stream_adapter_free(a);
}

static void
test_anthropic_other_deltas(void **state)
{
    (void)state;
    struct gw_sevent ev;
    size_t n;
    struct gw_stream_adapter *a = gw_stream_adapter_new(GW_KIND_ANTHROPIC_MESSAGES);
    const char *v[] = {
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me think\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBCgIYAhIM\"}}\n\n",
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
        "\"message\":\"Overloaded\"}}\n\n",
    };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(gw_stream_parse(a, v[i], strlen(v[i]), &ev), 0);
        assert_int_equal(ev.kind, i == 2 ? GW_SEV_ERROR : GW_SEV_OTHER);
        assert_int_equal(ev.ndeltas, 0);
        char *w = write_ev(a, &ev, NULL, &n);
        assert_string_equal(w, v[i]);
        free(w);
        gw_sevent_free(&ev);
    }
    /* without an "event:" line the JSON type names the written event */
    const char *s = "data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":"
                    "\"text_delta\",\"text\":\"a\"}}\n\n";
    assert_int_equal(gw_stream_parse(a, s, strlen(s), &ev), 0);
    assert_delta(&ev, 0, 0, GW_ROLE_ASSISTANT, "a");
    struct gw_text rep = {"b", 1};
    char *w = write_ev(a, &ev, &rep, &n);
    assert_string_equal(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                           "\"index\":3,\"delta\":{\"type\":\"text_delta\",\"text\":\"b\"}}\n\n");
    free(w);
    gw_sevent_free(&ev);
    gw_stream_adapter_free(a);
}

static void
test_limits_utf8_reals(void **state)
{
    (void)state;
    struct gw_sevent ev;
    struct gw_sse_fields f;
    size_t n;
    char buf[256];
    struct gw_stream_adapter *a = gw_stream_adapter_new(GW_KIND_OPENAI_CHAT);
    /* one logical stream per choice index, up to the limit */
    for (int i = 0; i <= GW_STREAM_MAX_STREAMS; i++) {
        snprintf(buf, sizeof buf,
                 "data: {\"choices\":[{\"index\":%d,\"delta\":{\"content\":\"x\"}}]}\n\n", i);
        int rc = gw_stream_parse(a, buf, strlen(buf), &ev);
        assert_int_equal(rc, i < GW_STREAM_MAX_STREAMS ? 0 : -1);
        if (rc == 0)
            assert_int_equal(ev.deltas[0].stream_id, i);
        else
            assert_int_equal(ev.ndeltas, 0);
        gw_sevent_free(&ev);
    }
    gw_stream_adapter_free(a);

    a = gw_stream_adapter_new(GW_KIND_OPENAI_CHAT);
    const char *s = "data: {\"r\":0.30000000000000004,\"q\":0.5,\"choices\":[{\"index\":0,"
                    "\"delta\":{\"content\":\"x\"}}],\"usage\":{\"prompt_tokens\":1}}\n\n";
    assert_int_equal(gw_stream_parse(a, s, strlen(s), &ev), 0);
    /* overlong, surrogate, truncated and stray bytes around valid 2-, 3- and 4-byte sequences */
    const char bad[] = "\xC3\xA9\xC0\x80\xE2\x82\xAC\xED\xA0\x80\xF0\x9F\x98\x80\xF4\x90\x80\x80"
                       "\xE2\x82\xF0\x9F";
    const char good[] =
        "\xC3\xA9\xEF\xBF\xBD\xEF\xBF\xBD\xE2\x82\xAC\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF"
        "\xBD\xF0\x9F\x98\x80\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD";
    struct gw_text rep = {bad, sizeof bad - 1};
    char *w = write_ev(a, &ev, &rep, &n);
    json_t *j = one_json(w, n, &f);
    assert_string_equal(jstr(j, "choices.0.delta.content"), good);
    assert_non_null(strstr(w, "\"r\":0.30000000000000004,\"q\":0.5,"));
    json_decref(j);
    gw_sse_fields_free(&f);
    free(w);
    /* a release cloned from it does not repeat the usage */
    w = write_text(a, 0, "y", &n);
    j = one_json(w, n, &f);
    assert_true(json_is_null(jget(j, "usage")));
    assert_string_equal(jstr(j, "choices.0.delta.content"), "y");
    json_decref(j);
    gw_sse_fields_free(&f);
    free(w);
    /* emptied, but it carries usage: kept */
    struct gw_text empty = {"", 0};
    w = write_ev(a, &ev, &empty, &n);
    assert_true(n > 0);
    free(w);
    gw_sevent_free(&ev);
    /* a tool call's name alone is worth sending too */
    s = "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{"
        "\"name\":\"f\",\"arguments\":\"{\"}}]}}]}\n\n";
    assert_int_equal(gw_stream_parse(a, s, strlen(s), &ev), 0);
    w = write_ev(a, &ev, &empty, &n);
    assert_true(n > 0);
    free(w);
    gw_sevent_free(&ev);
    gw_stream_adapter_free(a);
}

/* Prompt-cache counts in streams (budgets): Anthropic's in message_start and message_delta,
 * OpenAI chat's in the usage chunk; 0 when a stream reports none. */
static void
test_cache_usage(void **state)
{
    (void)state;
    static const struct {
        enum gw_api_kind k;
        const char *events;
        int64_t read, write;
    } cases[] = {
        {GW_KIND_ANTHROPIC_MESSAGES,
         "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{"
         "\"input_tokens\":4,\"cache_read_input_tokens\":200,\"cache_creation_input_tokens\":"
         "30}}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{"
         "\"output_tokens\":9}}\n\n",
         200, 30},
        {GW_KIND_OPENAI_CHAT,
         "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":2,"
         "\"prompt_tokens_details\":{\"cached_tokens\":48}}}\n\n",
         48, 0},
        {GW_KIND_OPENAI_CHAT,
         "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n", 0,
         0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct gw_stream_adapter *a = gw_stream_adapter_new(cases[i].k);
        struct evlist l;
        struct gw_sevent ev;
        split(cases[i].events, strlen(cases[i].events), &l);
        for (size_t j = 0; j < l.count; j++) {
            assert_int_equal(gw_stream_parse(a, l.p[j], l.n[j], &ev), 0);
            gw_sevent_free(&ev);
        }
        int64_t rd = -1, wr = -1;
        gw_stream_cache_usage(a, &rd, &wr);
        assert_int_equal(rd, cases[i].read);
        assert_int_equal(wr, cases[i].write);
        gw_stream_adapter_free(a);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_line_ends),
        cmocka_unit_test(test_fields_spaces_comments),
        cmocka_unit_test(test_fields_no_data),
        cmocka_unit_test(test_fields_block_edges),
        cmocka_unit_test(test_event_len),
        cmocka_unit_test(test_chat_stream),
        cmocka_unit_test(test_chat_rewrite),
        cmocka_unit_test(test_chat_drop_and_keep),
        cmocka_unit_test(test_chat_tools),
        cmocka_unit_test(test_chat_write_text_and_choices),
        cmocka_unit_test(test_chat_error_and_odd),
        cmocka_unit_test(test_responses_stream),
        cmocka_unit_test(test_responses_redact),
        cmocka_unit_test(test_responses_hold_renumber),
        cmocka_unit_test(test_responses_tools),
        cmocka_unit_test(test_anthropic_stream),
        cmocka_unit_test(test_anthropic_tools),
        cmocka_unit_test(test_anthropic_other_deltas),
        cmocka_unit_test(test_limits_utf8_reals),
        cmocka_unit_test(test_cache_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
