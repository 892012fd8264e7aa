/*
 * Audit record fuzzer. Arbitrary bytes (a model name, a user, a captured prompt: anything a client
 * controls) written as a string value by the record writer must always give valid JSON whose
 * value, when the bytes were valid UTF-8, is the bytes themselves; and the sinks' readers of a
 * record (time and severity, syslog framing, collector bodies) must accept any line without
 * crashing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "audit/record.h"
#include "audit/sink.h"

static int
valid_utf8(const uint8_t *p, size_t n)
{
    json_t *j = json_stringn((const char *)p, n); /* jansson checks UTF-8 */
    int ok = j != NULL;
    json_decref(j);
    return ok;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_jw w;
    gw_jw_record_start(&w, 0, size ? data[0] % 5 : 0);
    gw_jw_end(&w); /* event */
    gw_jw_strn(&w, "v", (const char *)data, size);
    gw_jw_end(&w);
    if (w.oom) {
        gw_jw_free(&w);
        return 0;
    }
    json_error_t je;
    json_t *j = json_loadb(w.buf, w.len, JSON_ALLOW_NUL, &je);
    if (!j)
        abort(); /* the writer produced invalid JSON */
    json_t *v = json_object_get(j, "v");
    if (!json_is_string(v))
        abort();
    if (valid_utf8(data, size) &&
        (json_string_length(v) != size || memcmp(json_string_value(v), data, size) != 0))
        abort(); /* valid text must survive unchanged */
    json_decref(j);

    char ts[48];
    int sev;
    if (gw_audit_rec_meta(w.buf, w.len, ts, sizeof(ts), &sev) != 0)
        abort(); /* every record the writer makes has the documented prefix */
    (void)gw_audit_rec_meta((const char *)data, size, ts, sizeof(ts), &sev);

    struct gw_sink_cfg cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.facility = 16;
    cfg.app_name = "portcullis";
    cfg.index = "idx";
    struct evbuffer *out = evbuffer_new();
    if (out) {
        (void)gw_syslog_frame(out, &cfg, "host", 1, (const char *)data, size, 1);
        for (int t = GW_SINK_SPLUNK_HEC; t <= GW_SINK_WEBHOOK; t++) {
            cfg.type = (enum gw_sink_type)t;
            (void)gw_http_batch_body(out, &cfg, "host", (const char *)data, size);
        }
        evbuffer_free(out);
    }
    gw_jw_free(&w);
    return 0;
}
