/*
 * pc-bench-audit: how many audit records per second the audit thread delivers to one sink.
 *
 *   pc-bench-audit file PATH N        a JSON-lines file sink at PATH
 *   pc-bench-audit http URL N         a Splunk HEC sink posting to URL (gzip, batches of 500)
 *
 * Two threads submit N request records (identity, usage, ~400 bytes of captured prompt and
 * answer: a typical record, ~1.5 KB sealed) as fast as they can; the clock stops when the sink
 * has delivered all N (portcullis_audit_sent_total). Prints one line:
 *   records N seconds S records_per_s R overflowed O
 * Used by bench/run.sh; nothing here is a test.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "audit/audit.h"

static size_t per_thread;

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
submitter(void *arg)
{
    (void)arg;
    static const char prompt[] =
        "system: You are a concise assistant for an operations team.\n"
        "user: Summarise the weekly warehouse report: order volume, pick times, the scheduler "
        "migration and the open questions about the label printer integration, in five "
        "bullet points for the Monday meeting.\n";
    static const char answer[] =
        "assistant: Order volume grew by about eighteen percent; the average pick time fell to "
        "three minutes forty; the scheduler migration starts on the pilot site next month; "
        "partial pallets go to the mobile backlog; the label printer is still open.\n";
    struct gw_audit_who who = {.request_id = "9f1c2e7a4b5d6e8f0a1b2c3d4e5f6a7b",
                               .session = "session-1234",
                               .team = "platform",
                               .key_id = "platform-app1",
                               .user = "alice",
                               .client_ip = "10.1.2.3",
                               .provider = "openai",
                               .model = "gpt-4o-mini",
                               .route = "/v1/",
                               .method = "POST",
                               .path = "/v1/chat/completions"};
    struct gw_audit_req r = {
        .status = 200,
        .upstream_status = 200,
        .duration_ms = 412.5,
        .ttfb_ms = 120.25,
        .tokens_in = 96,
        .tokens_out = 64,
        .cost = -1,
        .bytes_in = 1024,
        .bytes_out = 900,
        .capture = GW_CAPTURE_REDACTED,
        .prompt = {.text = prompt, .len = sizeof(prompt) - 1, .total = sizeof(prompt) - 1},
        .response = {.text = answer, .len = sizeof(answer) - 1, .total = sizeof(answer) - 1}};
    for (size_t i = 0; i < per_thread; i++)
        gw_audit_request(&who, &r);
    return NULL;
}

static unsigned long long
sent(void)
{
    struct evbuffer *b = evbuffer_new();
    gw_audit_render_metrics(b);
    size_t n = evbuffer_get_length(b);
    char *t = malloc(n + 1);
    evbuffer_remove(b, t, n);
    t[n] = '\0';
    evbuffer_free(b);
    unsigned long long v = 0;
    const char *p = strstr(t, "portcullis_audit_sent_total{sink=\"bench\"} ");
    if (p)
        v = strtoull(p + strlen("portcullis_audit_sent_total{sink=\"bench\"} "), NULL, 10);
    free(t);
    return v;
}

int
main(int argc, char **argv)
{
    if (argc < 4 || argc > 5 || (strcmp(argv[1], "file") && strcmp(argv[1], "http"))) {
        fprintf(stderr, "usage: pc-bench-audit file PATH N | http URL N [SINK-KEYS]\n"
                        "  SINK-KEYS: more keys of the sink mapping, e.g. 'gzip: false'\n");
        return 2;
    }
    size_t n = strtoull(argv[3], NULL, 10);
    per_thread = n / 2;
    n = per_thread * 2;
    char spool[] = "/tmp/pc-bench-audit-XXXXXX";
    if (!mkdtemp(spool))
        return 1;
    char text[2048];
    if (strcmp(argv[1], "file") == 0)
        snprintf(text, sizeof(text),
                 "audit:\n  spool_dir: %s\n  sinks:\n"
                 "    - {name: bench, type: file, path: '%s', events: [request]}\n",
                 spool, argv[2]);
    else
        snprintf(text, sizeof(text),
                 "audit:\n  spool_dir: %s\n  sinks:\n"
                 "    - {name: bench, type: splunk_hec, url: '%s', events: [request]%s%s}\n",
                 spool, argv[2], argc == 5 ? ", " : "", argc == 5 ? argv[4] : "");
    strcat(text, "providers:\n  - name: p\n    base_url: http://127.0.0.1:9\n"
                 "routes:\n  - prefix: /\n    provider: p\n");
    struct gw_config *cfg = NULL;
    char err[512];
    if (gw_config_load_string("bench.yaml", text, strlen(text), &cfg, err, sizeof(err)) < 0 ||
        gw_audit_start(cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "pc-bench-audit: %s\n", err);
        return 1;
    }
    double t0 = now_s();
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, submitter, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    double deadline = now_s() + 300;
    while (sent() < n && now_s() < deadline)
        usleep(1000); /* a benchmark's stop watch, not a synchronisation in a test */
    double t = now_s() - t0;
    unsigned long long got = sent();
    unsigned long long ov = gw_audit_overflowed();
    gw_audit_stop(5000);
    gw_config_unref(cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", spool);
    if (system(cmd) != 0)
        fprintf(stderr, "pc-bench-audit: could not remove %s\n", spool);
    if (got < n) {
        fprintf(stderr, "pc-bench-audit: only %llu of %zu records delivered\n", got, n);
        return 1;
    }
    printf("records %zu seconds %.3f records_per_s %.0f overflowed %llu\n", n, t, (double)n / t,
           ov);
    return 0;
}
