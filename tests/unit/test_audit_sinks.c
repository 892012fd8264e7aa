/*
 * Unit tests for audit/sink*.c: the record prefix, syslog framing, collector bodies, gzip, and
 * the file, HTTP and syslog sinks end to end against servers on loopback in the same event_base.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <zlib.h>

#include "audit/sink.h"

#define TS "2026-11-29T12:00:00.123456Z"
#define TS_EPOCH "1795953600.123456"

/* ---- helpers ---- */

/* One record, '\n'-terminated, like the audit core writes them; its hash depends on seq. */
static size_t
make_rec(char *buf, size_t cap, const char *ts, int seq, int sev)
{
    char hash[65];
    for (int i = 0; i < 64; i++)
        hash[i] = "0123456789abcdef"[(seq + i) % 16];
    hash[64] = '\0';
    int n = snprintf(buf, cap,
                     "{\"@timestamp\":\"%s\",\"event\":{\"severity\":%d,\"kind\":\"alert\","
                     "\"action\":\"block\"},\"source_type\":\"llm_application\",\"seq\":%d,"
                     "\"prev_hash\":\"%064d\",\"hash\":\"%s\"}\n",
                     ts, sev, seq, 0, hash);
    assert_true(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

/* Records first .. first+n-1 appended into buf at *len. */
static void
make_batch(char *buf, size_t cap, size_t *len, int first, int n)
{
    for (int i = 0; i < n; i++)
        *len += make_rec(buf + *len, cap - *len, TS, first + i, (first + i) % 5);
}

/* The contents of b as a NUL-terminated string (caller frees); b is left as it was. */
static char *
buf_str(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    assert_non_null(s);
    evbuffer_copyout(b, s, n);
    s[n] = '\0';
    return s;
}

static void
assert_buf_eq(struct evbuffer *b, const char *want)
{
    char *s = buf_str(b);
    assert_string_equal(s, want);
    free(s);
}

/* gunzip of n bytes at p into a new buffer. */
static struct evbuffer *
gunzip(const void *p, size_t n)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    struct evbuffer *out = evbuffer_new();
    unsigned char chunk[16384];
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    int rc;
    do {
        z.next_out = chunk;
        z.avail_out = sizeof(chunk);
        rc = inflate(&z, Z_NO_FLUSH);
        assert_true(rc == Z_OK || rc == Z_STREAM_END);
        evbuffer_add(out, chunk, sizeof(chunk) - z.avail_out);
    } while (rc != Z_STREAM_END);
    assert_int_equal(z.avail_in, 0);
    inflateEnd(&z);
    return out;
}

/* Completion of a send, as recorded for the test. */
struct done_rec {
    int calls;
    int ok;
    char why[512];
};

static void
on_done(void *arg, int ok, const char *why)
{
    struct done_rec *d = arg;
    d->calls++;
    d->ok = ok;
    snprintf(d->why, sizeof(d->why), "%s", why ? why : "");
}

static int deadline_hit;

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    deadline_hit = 1;
}

/* Runs the loop until pred(arg) holds; fails the test after 5 s. */
static void
run_until(struct event_base *base, int (*pred)(void *), void *arg)
{
    struct event *t = evtimer_new(base, on_deadline, NULL);
    struct timeval tv = {5, 0};
    deadline_hit = 0;
    evtimer_add(t, &tv);
    while (!pred(arg) && !deadline_hit)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(t);
    assert_false(deadline_hit);
}

static int
done_called(void *arg)
{
    return ((struct done_rec *)arg)->calls > 0;
}

static uint16_t
sock_port(evutil_socket_t fd)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    return ntohs(sin.sin_port);
}

/* A loopback port nobody listens on. */
static uint16_t
closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    uint16_t port = sock_port(fd);
    close(fd);
    return port;
}

static void
local_hostname(char *buf, size_t cap)
{
    assert_int_equal(gethostname(buf, cap), 0);
    buf[cap - 1] = '\0';
}

/* ---- gw_sink_ops_for, gw_audit_rec_meta ---- */

static void
test_ops_for(void **state)
{
    (void)state;
    assert_ptr_equal(gw_sink_ops_for(GW_SINK_FILE), &gw_sink_file_ops);
    assert_ptr_equal(gw_sink_ops_for(GW_SINK_SYSLOG), &gw_sink_syslog_ops);
    assert_ptr_equal(gw_sink_ops_for(GW_SINK_SPLUNK_HEC), &gw_sink_http_ops);
    assert_ptr_equal(gw_sink_ops_for(GW_SINK_ELASTICSEARCH), &gw_sink_http_ops);
    assert_ptr_equal(gw_sink_ops_for(GW_SINK_WEBHOOK), &gw_sink_http_ops);
}

static void
assert_meta_bad(const char *rec, size_t tslen)
{
    char ts[64];
    int sev = 9;
    assert_int_equal(gw_audit_rec_meta(rec, strlen(rec), ts, tslen, &sev), -1);
    assert_string_equal(ts, "");
    assert_int_equal(sev, 0);
}

static void
test_rec_meta(void **state)
{
    (void)state;
    char rec[512], ts[64];
    int sev = -1;
    for (int s = 0; s <= 4; s++) {
        size_t n = make_rec(rec, sizeof(rec), TS, 7, s);
        assert_int_equal(gw_audit_rec_meta(rec, n, ts, sizeof(ts), &sev), 0);
        assert_string_equal(ts, TS);
        assert_int_equal(sev, s);
    }
    const char *ok[] = {
        "{\"@timestamp\":\"2026-01-02T03:04:05Z\",\"event\":{\"severity\":4}}",
        "{\"@timestamp\":\"2026-01-02T03:04:05.5Z\",\"event\":{\"severity\":1,\"x\":1}}",
    };
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(gw_audit_rec_meta(ok[i], strlen(ok[i]), ts, sizeof(ts), &sev), 0);
    assert_string_equal(ts, "2026-01-02T03:04:05.5Z");

    const char *bad[] = {
        "",
        "{}",
        "{\"@timestamp\":\"" TS "\"",
        "{\"timestamp\":\"" TS "\",\"event\":{\"severity\":2}}",
        "{\"@timestamp\":\"2026-11-29 12:00:00Z\",\"event\":{\"severity\":2}}",
        "{\"@timestamp\":\"2026-11-29T12:00:00+01:00\",\"event\":{\"severity\":2}}",
        "{\"@timestamp\":\"2026-13-29T12:00:00Z\",\"event\":{\"severity\":2}}",
        "{\"@timestamp\":\"2026-11-29T12:00:00.1234567Z\",\"event\":{\"severity\":2}}",
        "{\"@timestamp\":\"" TS "\",\"event\":{\"severity\":5}}",
        "{\"@timestamp\":\"" TS "\",\"event\":{\"severity\":22}}",
        "{\"@timestamp\":\"" TS "\",\"event\":{\"severity\":\"2\"}}",
        "{\"@timestamp\":\"" TS "\",\"event\":{\"kind\":\"x\",\"severity\":2}}",
        " {\"@timestamp\":\"" TS "\",\"event\":{\"severity\":2}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_meta_bad(bad[i], sizeof(ts));
    /* A good record whose time does not fit the buffer, and one cut short by len. */
    size_t n = make_rec(rec, sizeof(rec), TS, 7, 3);
    assert_meta_bad(rec, 10);
    assert_int_equal(gw_audit_rec_meta(rec, 30, ts, sizeof(ts), &sev), -1);
    assert_int_equal(gw_audit_rec_meta(rec, n, NULL, 0, &sev), 0);
    assert_int_equal(sev, 3);
}

/* ---- gw_syslog_frame ---- */

static void
test_syslog_frame(void **state)
{
    (void)state;
    char rec[512], want[1024];
    struct gw_sink_cfg cfg = {.type = GW_SINK_SYSLOG, .facility = 16, .app_name = "portcullis"};
    struct evbuffer *b = evbuffer_new();
    size_t n = make_rec(rec, sizeof(rec), TS, 7, 2) - 1; /* without '\n' */
    rec[n] = '\0';

    assert_int_equal(gw_syslog_frame(b, &cfg, "gw1", 4242, rec, n, 0), 0);
    snprintf(want, sizeof(want), "<132>1 " TS " gw1 portcullis 4242 audit - %s", rec);
    assert_buf_eq(b, want);
    evbuffer_drain(b, evbuffer_get_length(b));

    char octet[1100];
    assert_int_equal(gw_syslog_frame(b, &cfg, "gw1", 4242, rec, n, 1), 0);
    snprintf(octet, sizeof(octet), "%zu %s", strlen(want), want);
    assert_buf_eq(b, octet);
    evbuffer_drain(b, evbuffer_get_length(b));

    /* PRI for every severity: local0 (16), kern (0) and auth (4). */
    static const int fac[3] = {16, 0, 4};
    static const int sev[5] = {6, 5, 4, 3, 2};
    for (int f = 0; f < 3; f++) {
        cfg.facility = fac[f];
        for (int s = 0; s <= 4; s++) {
            n = make_rec(rec, sizeof(rec), TS, 1, s) - 1;
            assert_int_equal(gw_syslog_frame(b, &cfg, "gw1", 1, rec, n, 0), 0);
            char *got = buf_str(b);
            char pri[16];
            snprintf(pri, sizeof(pri), "<%d>1 ", fac[f] * 8 + sev[s]);
            assert_memory_equal(got, pri, strlen(pri));
            free(got);
            evbuffer_drain(b, evbuffer_get_length(b));
        }
    }

    /* Not a record: no time (NILVALUE), severity info; odd host names and a default app. */
    cfg.facility = 16;
    cfg.app_name = NULL;
    assert_int_equal(gw_syslog_frame(b, &cfg, "", 7, "hello", 5, 0), 0);
    assert_buf_eq(b, "<134>1 - - portcullis 7 audit - hello");
    evbuffer_drain(b, evbuffer_get_length(b));
    assert_int_equal(gw_syslog_frame(b, &cfg, "my host", 7, "hello", 5, 1), 0);
    assert_buf_eq(b, "43 <134>1 - my_host portcullis 7 audit - hello");
    evbuffer_free(b);
}

/* ---- gw_http_batch_body ---- */

static void
test_body_hec(void **state)
{
    (void)state;
    char recs[2048], want[4096], r1[512], r2[512];
    size_t len = 0;
    size_t n1 = make_rec(r1, sizeof(r1), TS, 1, 0) - 1;
    size_t n2 = make_rec(r2, sizeof(r2), "1970-01-01T00:00:01.5Z", 2, 4) - 1;
    r1[n1] = r2[n2] = '\0';
    len = (size_t)snprintf(recs, sizeof(recs), "%s\n%s\n", r1, r2);
    struct gw_sink_cfg cfg = {.type = GW_SINK_SPLUNK_HEC};
    struct evbuffer *b = evbuffer_new();

    assert_int_equal(gw_http_batch_body(b, &cfg, "gw\"1", recs, len), 0);
    snprintf(want, sizeof(want),
             "{\"time\":" TS_EPOCH ",\"host\":\"gw\\\"1\",\"source\":\"portcullis\","
             "\"sourcetype\":\"portcullis:audit\",\"event\":%s}\n"
             "{\"time\":1.500000,\"host\":\"gw\\\"1\",\"source\":\"portcullis\","
             "\"sourcetype\":\"portcullis:audit\",\"event\":%s}\n",
             r1, r2);
    assert_buf_eq(b, want);
    evbuffer_drain(b, evbuffer_get_length(b));

    cfg.index = "main";
    assert_int_equal(gw_http_batch_body(b, &cfg, "gw1", r1, n1), 0); /* no final '\n' */
    snprintf(want, sizeof(want),
             "{\"time\":" TS_EPOCH ",\"host\":\"gw1\",\"source\":\"portcullis\","
             "\"sourcetype\":\"portcullis:audit\",\"index\":\"main\",\"event\":%s}\n",
             r1);
    assert_buf_eq(b, want);

    /* Each line is JSON whose event is the record. */
    char *s = buf_str(b);
    json_error_t je;
    json_t *ev = json_loads(s, JSON_DISABLE_EOF_CHECK, &je);
    json_t *rj = json_loads(r1, 0, &je);
    assert_non_null(ev);
    assert_true(json_equal(json_object_get(ev, "event"), rj));
    json_decref(ev);
    json_decref(rj);
    free(s);
    evbuffer_free(b);
}

static void
test_body_es(void **state)
{
    (void)state;
    char recs[2048], want[4096];
    size_t len = 0;
    make_batch(recs, sizeof(recs), &len, 1, 2);
    const char *r2 = strchr(recs, '\n') + 1;
    const char *h1 = strstr(recs, "\"hash\":\"") + 8, *h2 = strstr(r2, "\"hash\":\"") + 8;
    struct gw_sink_cfg cfg = {.type = GW_SINK_ELASTICSEARCH};
    struct evbuffer *b = evbuffer_new();

    assert_int_equal(gw_http_batch_body(b, &cfg, "gw1", recs, len), 0);
    snprintf(want, sizeof(want),
             "{\"create\":{\"_index\":\"portcullis-audit\",\"_id\":\"%.64s\"}}\n%.*s"
             "{\"create\":{\"_index\":\"portcullis-audit\",\"_id\":\"%.64s\"}}\n%s",
             h1, (int)(r2 - recs), recs, h2, r2);
    assert_buf_eq(b, want);
    evbuffer_drain(b, evbuffer_get_length(b));

    /* Another index; a record without a hash gets no _id. */
    cfg.index = "audit-x";
    const char *nohash = "{\"@timestamp\":\"" TS "\",\"event\":{\"severity\":1}}\n";
    assert_int_equal(gw_http_batch_body(b, &cfg, "gw1", nohash, strlen(nohash)), 0);
    snprintf(want, sizeof(want), "{\"create\":{\"_index\":\"audit-x\"}}\n%s", nohash);
    assert_buf_eq(b, want);
    evbuffer_free(b);
}

static void
test_body_webhook(void **state)
{
    (void)state;
    char recs[2048];
    size_t len = 0;
    make_batch(recs, sizeof(recs), &len, 1, 3);
    struct gw_sink_cfg cfg = {.type = GW_SINK_WEBHOOK};
    struct evbuffer *b = evbuffer_new();
    assert_int_equal(gw_http_batch_body(b, &cfg, "gw1", recs, len), 0);
    assert_int_equal(evbuffer_get_length(b), len);
    assert_buf_eq(b, recs);
    evbuffer_free(b);
}

/* ---- gw_gzip ---- */

static void
test_gzip_roundtrip(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 1000, 70000, 3 << 20};
    unsigned char *in = malloc(3 << 20);
    uint32_t x = 12345;
    for (size_t i = 0; i < (3u << 20); i++) {
        x = x * 1103515245u + 12345u;
        /* the first half compresses well, the second hardly */
        in[i] =
            i < (3u << 19) ? (unsigned char)("audit record "[i % 13]) : (unsigned char)(x >> 16);
    }
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct evbuffer *gz = evbuffer_new();
        evbuffer_add(gz, "x", 1); /* appends: what was there stays */
        assert_int_equal(gw_gzip(gz, in, sizes[k]), 0);
        size_t gl = evbuffer_get_length(gz);
        unsigned char *p = evbuffer_pullup(gz, -1);
        assert_int_equal(p[0], 'x');
        assert_int_equal(p[1], 0x1f);
        assert_int_equal(p[2], 0x8b);
        struct evbuffer *out = gunzip(p + 1, gl - 1);
        assert_int_equal(evbuffer_get_length(out), sizes[k]);
        if (sizes[k])
            assert_memory_equal(evbuffer_pullup(out, -1), in, sizes[k]);
        evbuffer_free(out);
        evbuffer_free(gz);
    }
    free(in);
}

/* ---- file sink ---- */

struct tmpdir {
    char dir[64];
    char path[128];
};

static void
tmpdir_make(struct tmpdir *t)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/pc-sinks-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof(t->path), "%s/audit.log", t->dir);
}

static void
tmpdir_remove(struct tmpdir *t)
{
    DIR *d = opendir(t->dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof(p), "%s/%s", t->dir, e->d_name);
            unlink(p);
        }
    if (d)
        closedir(d);
    rmdir(t->dir);
}

/* The whole file at path (suffix appended when not NULL), or NULL when it does not exist. */
static char *
slurp(const char *path, const char *suffix)
{
    char p[256];
    snprintf(p, sizeof(p), "%s%s", path, suffix ? suffix : "");
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    char *s = calloc(1, 1 << 16);
    size_t n = fread(s, 1, (1 << 16) - 1, f);
    s[n] = '\0';
    fclose(f);
    return s;
}

static void
send_sync(const struct gw_sink_ops *ops, void *st, const char *recs, size_t len, size_t n,
          int want_ok)
{
    struct done_rec d = {0};
    ops->send(st, recs, len, n, on_done, &d);
    assert_int_equal(d.calls, 1); /* the file sink completes inside send */
    if (d.ok != want_ok)
        fail_msg("ok %d, want %d: %s", d.ok, want_ok, d.why);
}

static void
test_file_sink_append(void **state)
{
    (void)state;
    struct tmpdir t;
    tmpdir_make(&t);
    struct gw_sink_cfg cfg = {.name = "f", .type = GW_SINK_FILE, .path = t.path, .keep = 2};
    char err[256], recs[4096];
    size_t len = 0;
    void *st = gw_sink_file_ops.open(&cfg, NULL, err, sizeof(err));
    assert_non_null(st);
    make_batch(recs, sizeof(recs), &len, 1, 2);
    send_sync(&gw_sink_file_ops, st, recs, len, 2, 1);
    size_t first = len;
    make_batch(recs, sizeof(recs), &len, 3, 1);
    send_sync(&gw_sink_file_ops, st, recs + first, len - first, 1, 1);
    gw_sink_file_ops.close(st);

    char *got = slurp(t.path, NULL);
    assert_string_equal(got, recs);
    free(got);
    struct stat sb;
    assert_int_equal(stat(t.path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777 & ~0640u, 0); /* never more than 0640 */

    /* A missing directory is not created. */
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/nope/audit.log", t.dir);
    cfg.path = missing;
    assert_null(gw_sink_file_ops.open(&cfg, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot open"));
    assert_non_null(strstr(err, "directory must exist"));
    tmpdir_remove(&t);
}

static void
test_file_sink_rotation(void **state)
{
    (void)state;
    struct tmpdir t;
    tmpdir_make(&t);
    char rec[7][512], err[256];
    size_t rl[7];
    for (int i = 0; i < 7; i++)
        rl[i] = make_rec(rec[i], sizeof(rec[i]), TS, 10 + i, 1); /* all the same length */
    /* Two records fit; the third would pass the limit. */
    struct gw_sink_cfg cfg = {
        .name = "f", .type = GW_SINK_FILE, .path = t.path, .rotate_bytes = 2 * rl[0], .keep = 2};
    void *st = gw_sink_file_ops.open(&cfg, NULL, err, sizeof(err));
    assert_non_null(st);
    for (int i = 0; i < 7; i++)
        send_sync(&gw_sink_file_ops, st, rec[i], rl[i], 1, 1);
    gw_sink_file_ops.close(st);

    /* 0 1 | 2 3 | 4 5 | 6: the first pair went out with keep = 2. */
    char want[1100];
    char *cur = slurp(t.path, NULL), *r1 = slurp(t.path, ".1"), *r2 = slurp(t.path, ".2");
    char *r3 = slurp(t.path, ".3");
    assert_non_null(cur);
    assert_non_null(r1);
    assert_non_null(r2);
    assert_null(r3);
    assert_string_equal(cur, rec[6]);
    snprintf(want, sizeof(want), "%s%s", rec[4], rec[5]);
    assert_string_equal(r1, want);
    snprintf(want, sizeof(want), "%s%s", rec[2], rec[3]);
    assert_string_equal(r2, want);
    free(cur);
    free(r1);
    free(r2);
    tmpdir_remove(&t);
}

static uint64_t fake_now_us;

static uint64_t
fake_clock(void)
{
    return fake_now_us;
}

/* rotate_interval: a file written to for longer than the interval is rotated before the next
 * batch (the sink's clock is replaced, so the test does not wait). */
static void
test_file_sink_rotation_time(void **state)
{
    (void)state;
    struct tmpdir t;
    tmpdir_make(&t);
    char rec[3][512], err[256];
    size_t rl[3];
    for (int i = 0; i < 3; i++)
        rl[i] = make_rec(rec[i], sizeof(rec[i]), TS, 20 + i, 1);
    uint64_t (*saved)(void) = gw_sink_file_clock;
    gw_sink_file_clock = fake_clock;
    fake_now_us = 1000000;
    struct gw_sink_cfg cfg = {
        .name = "f", .type = GW_SINK_FILE, .path = t.path, .rotate_ms = 1000, .keep = 3};
    void *st = gw_sink_file_ops.open(&cfg, NULL, err, sizeof(err));
    assert_non_null(st);
    send_sync(&gw_sink_file_ops, st, rec[0], rl[0], 1, 1);
    fake_now_us += 500000; /* 0.5 s: same file */
    send_sync(&gw_sink_file_ops, st, rec[1], rl[1], 1, 1);
    char *r1 = slurp(t.path, ".1");
    assert_null(r1);
    fake_now_us += 600000; /* 1.1 s after the first write: rotate first */
    send_sync(&gw_sink_file_ops, st, rec[2], rl[2], 1, 1);
    gw_sink_file_ops.close(st);
    gw_sink_file_clock = saved;
    char want[1100];
    char *cur = slurp(t.path, NULL);
    r1 = slurp(t.path, ".1");
    assert_non_null(cur);
    assert_non_null(r1);
    assert_string_equal(cur, rec[2]);
    snprintf(want, sizeof(want), "%s%s", rec[0], rec[1]);
    assert_string_equal(r1, want);
    free(cur);
    free(r1);
    tmpdir_remove(&t);
}

static void
test_file_sink_keep0(void **state)
{
    (void)state;
    struct tmpdir t;
    tmpdir_make(&t);
    char r[2][512], err[256];
    size_t rl[2];
    for (int i = 0; i < 2; i++)
        rl[i] = make_rec(r[i], sizeof(r[i]), TS, i, 0);
    struct gw_sink_cfg cfg = {
        .name = "f", .type = GW_SINK_FILE, .path = t.path, .rotate_bytes = rl[0], .keep = 0};
    void *st = gw_sink_file_ops.open(&cfg, NULL, err, sizeof(err));
    assert_non_null(st);
    send_sync(&gw_sink_file_ops, st, r[0], rl[0], 1, 1);
    send_sync(&gw_sink_file_ops, st, r[1], rl[1], 1, 1);
    gw_sink_file_ops.close(st);
    char *cur = slurp(t.path, NULL), *r1 = slurp(t.path, ".1");
    assert_string_equal(cur, r[1]);
    assert_null(r1);
    free(cur);
    tmpdir_remove(&t);
}

/* A write that stops half-way (file size limit) leaves the file as it was before the batch. */
static void
test_file_sink_partial_write(void **state)
{
    (void)state;
    struct tmpdir t;
    tmpdir_make(&t);
    char r[2][512], err[256];
    size_t rl[2];
    for (int i = 0; i < 2; i++)
        rl[i] = make_rec(r[i], sizeof(r[i]), TS, i, 0);
    struct gw_sink_cfg cfg = {.name = "f", .type = GW_SINK_FILE, .path = t.path, .keep = 1};
    void *st = gw_sink_file_ops.open(&cfg, NULL, err, sizeof(err));
    assert_non_null(st);
    send_sync(&gw_sink_file_ops, st, r[0], rl[0], 1, 1);

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = rl[0] + rl[1] / 2;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    struct done_rec d = {0};
    gw_sink_file_ops.send(st, r[1], rl[1], 1, on_done, &d);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, oldsig);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.ok, 0);
    assert_non_null(strstr(d.why, "write"));

    char *cur = slurp(t.path, NULL);
    assert_string_equal(cur, r[0]);
    free(cur);
    send_sync(&gw_sink_file_ops, st, r[1], rl[1], 1, 1); /* and it goes on */
    gw_sink_file_ops.close(st);
    tmpdir_remove(&t);
}

/* ---- HTTP sink against evhttp ---- */

struct http_srv {
    struct event_base *base;
    struct evhttp *http;
    uint16_t port;
    int status;         /* to answer */
    const char *answer; /* body to answer */
    int requests;       /* seen */
    char method[16], uri[128], auth[128], ctype[64], cenc[32], host[64], ua[64], tenant[32];
    struct evbuffer *body; /* last request body, inflated when gzip'd */
    uint16_t peer;         /* client port of the last request */
    int conns;             /* distinct connections seen */
};

static void
copy_header(struct evkeyvalq *h, const char *name, char *buf, size_t cap)
{
    const char *v = evhttp_find_header(h, name);
    snprintf(buf, cap, "%s", v ? v : "");
}

static void
on_http_req(struct evhttp_request *req, void *arg)
{
    struct http_srv *s = arg;
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    s->requests++;
    snprintf(s->method, sizeof(s->method), "%s",
             evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "other");
    snprintf(s->uri, sizeof(s->uri), "%s", evhttp_request_get_uri(req));
    copy_header(h, "Authorization", s->auth, sizeof(s->auth));
    copy_header(h, "Content-Type", s->ctype, sizeof(s->ctype));
    copy_header(h, "Content-Encoding", s->cenc, sizeof(s->cenc));
    copy_header(h, "Host", s->host, sizeof(s->host));
    copy_header(h, "User-Agent", s->ua, sizeof(s->ua));
    copy_header(h, "X-Tenant", s->tenant, sizeof(s->tenant));
    char *addr;
    uint16_t port;
    evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
    if (port != s->peer)
        s->conns++;
    s->peer = port;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    evbuffer_drain(s->body, evbuffer_get_length(s->body));
    if (strcmp(s->cenc, "gzip") == 0) {
        struct evbuffer *plain = gunzip(evbuffer_pullup(in, -1), evbuffer_get_length(in));
        evbuffer_add_buffer(s->body, plain);
        evbuffer_free(plain);
    } else {
        evbuffer_add_buffer(s->body, in);
    }
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, s->answer, strlen(s->answer));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, s->status, "X", out);
    evbuffer_free(out);
}

static void
srv_start(struct http_srv *s)
{
    memset(s, 0, sizeof(*s));
    s->base = event_base_new();
    s->http = evhttp_new(s->base);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
    assert_non_null(bs);
    s->port = sock_port(evhttp_bound_socket_get_fd(bs));
    evhttp_set_gencb(s->http, on_http_req, s);
    s->body = evbuffer_new();
    s->status = 200;
    s->answer = "{\"text\":\"Success\",\"code\":0}";
}

static void
srv_stop(struct http_srv *s)
{
    evhttp_free(s->http);
    evbuffer_free(s->body);
    event_base_free(s->base);
}

/* Sends a batch and runs the loop until done; returns the completion. */
static struct done_rec
send_wait(struct event_base *base, const struct gw_sink_ops *ops, void *st, const char *recs,
          size_t len, size_t n)
{
    struct done_rec d = {0};
    ops->send(st, recs, len, n, on_done, &d);
    run_until(base, done_called, &d);
    assert_int_equal(d.calls, 1);
    return d;
}

static void
test_http_sink_hec(void **state)
{
    (void)state;
    struct http_srv s;
    srv_start(&s);
    char err[256], recs[4096], host[256], hosthdr[64];
    size_t len = 0;
    make_batch(recs, sizeof(recs), &len, 1, 3);
    local_hostname(host, sizeof(host));
    snprintf(hosthdr, sizeof(hosthdr), "127.0.0.1:%u", s.port);
    struct gw_header_cfg extra[] = {{"X-Tenant", "t1"}};
    struct gw_sink_cfg cfg = {.name = "hec",
                              .type = GW_SINK_SPLUNK_HEC,
                              .timeout_ms = 3000,
                              .host = "127.0.0.1",
                              .port = s.port,
                              .path_query = "/services/collector/event?channel=c1",
                              .host_header = hosthdr,
                              .token = "tok-123",
                              .index = "main",
                              .headers = extra,
                              .nheaders = 1,
                              .gzip = 1};
    void *st = gw_sink_http_ops.open(&cfg, s.base, err, sizeof(err));
    assert_non_null(st);

    struct done_rec d = send_wait(s.base, &gw_sink_http_ops, st, recs, len, 3);
    if (!d.ok)
        fail_msg("%s", d.why);
    assert_string_equal(s.method, "POST");
    assert_string_equal(s.uri, "/services/collector/event?channel=c1");
    assert_string_equal(s.auth, "Splunk tok-123");
    assert_string_equal(s.cenc, "gzip");
    assert_string_equal(s.ctype, "application/json");
    assert_string_equal(s.host, hosthdr);
    assert_string_equal(s.ua, "portcullis-audit");
    assert_string_equal(s.tenant, "t1");
    struct evbuffer *want = evbuffer_new();
    assert_int_equal(gw_http_batch_body(want, &cfg, host, recs, len), 0);
    char *w = buf_str(want);
    assert_buf_eq(s.body, w);
    free(w);
    evbuffer_free(want);

    /* The next batch reuses the connection; a 503 fails it. */
    s.status = 503;
    s.answer = "{\"text\":\"Server is busy\",\"code\":9}";
    d = send_wait(s.base, &gw_sink_http_ops, st, recs, len, 3);
    assert_int_equal(d.ok, 0);
    assert_int_equal(s.requests, 2);
    assert_int_equal(s.conns, 1);
    char pre[128];
    snprintf(pre, sizeof(pre), "splunk_hec 127.0.0.1:%u: HTTP 503", s.port);
    assert_memory_equal(d.why, pre, strlen(pre));
    assert_non_null(strstr(d.why, "Server is busy"));

    /* After a failure the connection is new. */
    s.status = 200;
    s.answer = "{\"text\":\"Success\",\"code\":0}";
    d = send_wait(s.base, &gw_sink_http_ops, st, recs, len, 3);
    assert_int_equal(d.ok, 1);
    assert_int_equal(s.conns, 2);
    gw_sink_http_ops.close(st);
    srv_stop(&s);
}

static void
test_http_sink_es(void **state)
{
    (void)state;
    struct http_srv s;
    srv_start(&s);
    char err[256], recs[4096], host[256];
    size_t len = 0;
    make_batch(recs, sizeof(recs), &len, 1, 2);
    local_hostname(host, sizeof(host));
    struct gw_sink_cfg cfg = {.name = "es",
                              .type = GW_SINK_ELASTICSEARCH,
                              .timeout_ms = 3000,
                              .host = "127.0.0.1",
                              .port = s.port,
                              .path_query = "/_bulk",
                              .host_header = "es.local",
                              .token = "k",
                              .gzip = 0};
    void *st = gw_sink_http_ops.open(&cfg, s.base, err, sizeof(err));
    assert_non_null(st);

    /* 409: stored by an earlier attempt. */
    s.answer = "{\"took\":3,\"errors\":true,\"items\":[{\"create\":{\"status\":201}},"
               "{\"create\":{\"status\":409,\"error\":{\"type\":\"version_conflict\"}}}]}";
    struct done_rec d = send_wait(s.base, &gw_sink_http_ops, st, recs, len, 2);
    if (!d.ok)
        fail_msg("%s", d.why);
    assert_string_equal(s.auth, "ApiKey k");
    assert_string_equal(s.cenc, "");
    assert_string_equal(s.ctype, "application/x-ndjson");
    struct evbuffer *want = evbuffer_new();
    assert_int_equal(gw_http_batch_body(want, &cfg, host, recs, len), 0);
    char *w = buf_str(want);
    assert_buf_eq(s.body, w);
    free(w);
    evbuffer_free(want);

    s.answer = "{\"errors\":false,\"items\":[]}";
    d = send_wait(s.base, &gw_sink_http_ops, st, recs, len, 2);
    assert_int_equal(d.ok, 1);

    s.answer = "{\"errors\":true,\"items\":[{\"create\":{\"status\":201}},{\"create\":{\"status\":"
               "400,\"error\":{\"type\":\"mapper_parsing_exception\",\"reason\":\"bad\"}}}]}";
    d = send_wait(s.base, &gw_sink_http_ops, st, recs, len, 2);
    assert_int_equal(d.ok, 0);
    assert_non_null(strstr(d.why, "item 1: status 400 mapper_parsing_exception: bad"));

    s.answer = "not json";
    d = send_wait(s.base, &gw_sink_http_ops, st, recs, len, 2);
    assert_int_equal(d.ok, 0);
    assert_non_null(strstr(d.why, "not a JSON object"));
    gw_sink_http_ops.close(st);
    srv_stop(&s);
}

/* A batch far larger than a socket buffer, uncompressed, built from many pieces (HEC
 * envelopes): every byte goes out (a request queued from more than 16 buffer chains once
 * stopped after the first 16, and the collector waited for the rest forever). */
static void
test_http_sink_large_plain(void **state)
{
    (void)state;
    struct http_srv s;
    srv_start(&s);
    char err[256], host[256];
    size_t cap = 4u << 20, len = 0;
    char *recs = malloc(cap);
    assert_non_null(recs);
    make_batch(recs, cap, &len, 1, 8000);
    assert_true(len > (1u << 20));
    local_hostname(host, sizeof(host));
    struct gw_sink_cfg cfg = {.name = "hec",
                              .type = GW_SINK_SPLUNK_HEC,
                              .timeout_ms = 5000,
                              .host = "127.0.0.1",
                              .port = s.port,
                              .path_query = "/services/collector/event",
                              .host_header = "x",
                              .gzip = 0};
    void *st = gw_sink_http_ops.open(&cfg, s.base, err, sizeof(err));
    assert_non_null(st);
    struct done_rec d = send_wait(s.base, &gw_sink_http_ops, st, recs, len, 8000);
    if (!d.ok)
        fail_msg("%s", d.why);
    struct evbuffer *want = evbuffer_new();
    assert_int_equal(gw_http_batch_body(want, &cfg, host, recs, len), 0);
    assert_int_equal(evbuffer_get_length(s.body), evbuffer_get_length(want));
    assert_memory_equal(evbuffer_pullup(s.body, -1), evbuffer_pullup(want, -1),
                        evbuffer_get_length(want));
    evbuffer_free(want);
    gw_sink_http_ops.close(st);
    free(recs);
    srv_stop(&s);
}

static void
test_http_sink_webhook_refused(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    char err[256], recs[1024];
    size_t len = 0;
    make_batch(recs, sizeof(recs), &len, 1, 1);
    struct gw_sink_cfg cfg = {.name = "wh",
                              .type = GW_SINK_WEBHOOK,
                              .timeout_ms = 3000,
                              .host = "127.0.0.1",
                              .port = closed_port(),
                              .path_query = "/",
                              .host_header = "x",
                              .gzip = 1};
    void *st = gw_sink_http_ops.open(&cfg, base, err, sizeof(err));
    assert_non_null(st);
    struct done_rec d = send_wait(base, &gw_sink_http_ops, st, recs, len, 1);
    assert_int_equal(d.ok, 0);
    assert_non_null(strstr(d.why, "webhook 127.0.0.1:"));
    assert_non_null(strstr(d.why, "refused"));
    gw_sink_http_ops.close(st);

    /* Headers that would change the framing are refused at open. */
    struct gw_header_cfg bad[] = {{"Content-Length", "1"}};
    cfg.headers = bad;
    cfg.nheaders = 1;
    assert_null(gw_sink_http_ops.open(&cfg, base, err, sizeof(err)));
    assert_non_null(strstr(err, "Content-Length"));
    event_base_free(base);
}

/* A collector that accepts and never answers. */
struct mute_srv {
    struct evconnlistener *lev;
    struct bufferevent *conn;
    int accepted;
};

static void
on_mute_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void
on_mute_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
               void *arg)
{
    (void)sa;
    (void)salen;
    struct mute_srv *m = arg;
    m->accepted++;
    if (m->conn)
        bufferevent_free(m->conn);
    m->conn = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(m->conn, on_mute_read, NULL, NULL, m);
    bufferevent_enable(m->conn, EV_READ);
}

static uint16_t
listen_loopback(struct event_base *base, evconnlistener_cb cb, void *arg,
                struct evconnlistener **out)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    *out = evconnlistener_new_bind(base, cb, arg, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
                                   (struct sockaddr *)&sin, sizeof(sin));
    assert_non_null(*out);
    return sock_port(evconnlistener_get_fd(*out));
}

static void
test_http_sink_timeout(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct mute_srv m = {0};
    uint16_t port = listen_loopback(base, on_mute_accept, &m, &m.lev);
    char err[256], recs[1024];
    size_t len = 0;
    make_batch(recs, sizeof(recs), &len, 1, 1);
    struct gw_sink_cfg cfg = {.name = "wh",
                              .type = GW_SINK_WEBHOOK,
                              .timeout_ms = 150,
                              .host = "127.0.0.1",
                              .port = port,
                              .path_query = "/hook",
                              .host_header = "x"};
    void *st = gw_sink_http_ops.open(&cfg, base, err, sizeof(err));
    assert_non_null(st);
    struct done_rec d = send_wait(base, &gw_sink_http_ops, st, recs, len, 1);
    assert_int_equal(d.ok, 0);
    assert_non_null(strstr(d.why, "no answer within 150 ms"));
    gw_sink_http_ops.close(st);
    if (m.conn)
        bufferevent_free(m.conn);
    evconnlistener_free(m.lev);
    event_base_free(base);
}

static void
test_http_sink_answer_too_big(void **state)
{
    (void)state;
    struct http_srv s;
    srv_start(&s);
    char err[256], recs[1024];
    size_t len = 0;
    make_batch(recs, sizeof(recs), &len, 1, 1);
    char *big = malloc((1 << 20) + 2);
    memset(big, 'x', (1 << 20) + 1);
    big[(1 << 20) + 1] = '\0';
    s.answer = big;
    struct gw_sink_cfg cfg = {.name = "wh",
                              .type = GW_SINK_WEBHOOK,
                              .timeout_ms = 3000,
                              .host = "127.0.0.1",
                              .port = s.port,
                              .path_query = "/",
                              .host_header = "x"};
    void *st = gw_sink_http_ops.open(&cfg, s.base, err, sizeof(err));
    assert_non_null(st);
    struct done_rec d = send_wait(s.base, &gw_sink_http_ops, st, recs, len, 1);
    assert_int_equal(d.ok, 0);
    assert_non_null(strstr(d.why, "answer body over 1048576 bytes"));
    s.answer = "ok"; /* a new connection, and a body just under the limit is fine */
    d = send_wait(s.base, &gw_sink_http_ops, st, recs, len, 1);
    assert_int_equal(d.ok, 1);
    assert_int_equal(s.conns, 2);
    gw_sink_http_ops.close(st);
    free(big);
    srv_stop(&s);
}

/*
 * A collector that answers the first request of each connection and closes the connection,
 * without answering, when a second one arrives: a keep-alive connection timed out just as the
 * request left.
 */
struct flaky_srv {
    struct evconnlistener *lev;
    struct bufferevent *conns[4];
    int served[4];
    int accepted, answered;
};

static void
on_flaky_read(struct bufferevent *bev, void *arg)
{
    struct flaky_srv *f = arg;
    int i = 0;
    while (i < f->accepted && f->conns[i] != bev)
        i++;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0)
        return;
    char *head = calloc(1, (size_t)end.pos + 1);
    evbuffer_copyout(in, head, (size_t)end.pos);
    const char *cl = strstr(head, "Content-Length: ");
    size_t body = cl ? strtoul(cl + 16, NULL, 10) : 0;
    free(head);
    if (evbuffer_get_length(in) < (size_t)end.pos + 4 + body)
        return;
    evbuffer_drain(in, (size_t)end.pos + 4 + body);
    if (f->served[i]++) {
        bufferevent_free(bev);
        f->conns[i] = NULL;
        return;
    }
    f->answered++;
    evbuffer_add_printf(bufferevent_get_output(bev),
                        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
}

static void
on_flaky_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                void *arg)
{
    (void)sa;
    (void)salen;
    struct flaky_srv *f = arg;
    struct bufferevent *bev =
        bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev, on_flaky_read, NULL, NULL, f);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    f->conns[f->accepted++] = bev;
}

static void
test_http_sink_stale_keepalive(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct flaky_srv f = {0};
    uint16_t port = listen_loopback(base, on_flaky_accept, &f, &f.lev);
    char err[256], recs[1024];
    size_t len = 0;
    make_batch(recs, sizeof(recs), &len, 1, 1);
    struct gw_sink_cfg cfg = {.name = "wh",
                              .type = GW_SINK_WEBHOOK,
                              .timeout_ms = 3000,
                              .host = "127.0.0.1",
                              .port = port,
                              .path_query = "/",
                              .host_header = "x"};
    void *st = gw_sink_http_ops.open(&cfg, base, err, sizeof(err));
    assert_non_null(st);
    for (int i = 0; i < 2; i++) {
        struct done_rec d = send_wait(base, &gw_sink_http_ops, st, recs, len, 1);
        if (!d.ok)
            fail_msg("batch %d: %s", i, d.why);
    }
    assert_int_equal(f.accepted, 2); /* the second batch went again on a fresh connection */
    assert_int_equal(f.answered, 2);
    gw_sink_http_ops.close(st);
    for (int i = 0; i < f.accepted; i++)
        if (f.conns[i])
            bufferevent_free(f.conns[i]);
    evconnlistener_free(f.lev);
    event_base_free(base);
}

/* ---- TLS: a self-signed certificate for localhost and 127.0.0.1, made here ---- */

struct tls_fixture {
    struct tmpdir t;
    char ca[160]; /* the certificate, PEM: the sinks' trust anchor */
    SSL_CTX *server;
};

static void
add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
}

static void
tls_fixture_make(struct tls_fixture *f)
{
    tmpdir_make(&f->t);
    snprintf(f->ca, sizeof(f->ca), "%s/ca.pem", f->t.dir);
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(key);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    FILE *fp = fopen(f->ca, "w");
    assert_non_null(fp);
    PEM_write_X509(fp, x);
    fclose(fp);
    f->server = SSL_CTX_new(TLS_server_method());
    assert_int_equal(SSL_CTX_use_certificate(f->server, x), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(f->server, key), 1);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void
tls_fixture_free(struct tls_fixture *f)
{
    SSL_CTX_free(f->server);
    tmpdir_remove(&f->t);
}

static struct bufferevent *
on_https_bev(struct event_base *base, void *arg)
{
    SSL_CTX *ctx = arg;
    return bufferevent_openssl_socket_new(base, -1, SSL_new(ctx), BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

static void
test_http_sink_https(void **state)
{
    (void)state;
    struct tls_fixture f;
    tls_fixture_make(&f);
    struct http_srv s;
    srv_start(&s);
    evhttp_set_bevcb(s.http, on_https_bev, f.server);
    char err[256], recs[2048];
    size_t len = 0;
    make_batch(recs, sizeof(recs), &len, 1, 2);
    struct gw_sink_cfg cfg = {.name = "wh",
                              .type = GW_SINK_WEBHOOK,
                              .timeout_ms = 3000,
                              .host = "127.0.0.1",
                              .port = s.port,
                              .https = 1,
                              .path_query = "/in",
                              .host_header = "localhost",
                              .token = "b",
                              .gzip = 1,
                              .tls = {.ca = f.ca, .verify = 1, .server_name = "localhost"}};
    void *st = gw_sink_http_ops.open(&cfg, s.base, err, sizeof(err));
    assert_non_null(st);
    for (int i = 0; i < 2; i++) {
        struct done_rec d = send_wait(s.base, &gw_sink_http_ops, st, recs, len, 2);
        if (!d.ok)
            fail_msg("%s", d.why);
    }
    assert_int_equal(s.conns, 1);
    assert_string_equal(s.auth, "Bearer b");
    assert_buf_eq(s.body, recs);
    gw_sink_http_ops.close(st);

    /* Without the CA the collector is not trusted. */
    cfg.tls.ca = NULL;
    st = gw_sink_http_ops.open(&cfg, s.base, err, sizeof(err));
    assert_non_null(st);
    struct done_rec d = send_wait(s.base, &gw_sink_http_ops, st, recs, len, 2);
    assert_int_equal(d.ok, 0);
    assert_non_null(strstr(d.why, "certificate verification failed"));
    gw_sink_http_ops.close(st);
    srv_stop(&s);
    tls_fixture_free(&f);
}

/* ---- syslog sink ---- */

/* A TCP syslog collector: splits octet-counted frames. */
struct syslog_srv {
    SSL_CTX *tls; /* set: the collector speaks TLS */
    char sni[64]; /* server name the client sent */
    struct evconnlistener *lev;
    struct bufferevent *conn;
    int accepted;
    char *frames[16];
    int nframes;
    int bad; /* a frame did not parse */
};

static void
on_syslog_read(struct bufferevent *bev, void *arg)
{
    struct syslog_srv *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    const char *sni = ssl ? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) : NULL;
    if (sni)
        snprintf(s->sni, sizeof(s->sni), "%s", sni);
    for (;;) {
        struct evbuffer_ptr sp = evbuffer_search(in, " ", 1, NULL);
        if (sp.pos < 0 || sp.pos > 8)
            return;
        char num[10] = {0};
        evbuffer_copyout(in, num, (size_t)sp.pos);
        size_t n = strtoul(num, NULL, 10);
        if (n == 0)
            s->bad = 1;
        if (evbuffer_get_length(in) < (size_t)sp.pos + 1 + n)
            return;
        evbuffer_drain(in, (size_t)sp.pos + 1);
        char *f = calloc(1, n + 1);
        evbuffer_remove(in, f, n);
        if (s->nframes < 16)
            s->frames[s->nframes++] = f;
        else
            free(f);
    }
}

static void
on_syslog_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                 void *arg)
{
    (void)sa;
    (void)salen;
    struct syslog_srv *s = arg;
    s->accepted++;
    if (s->conn)
        bufferevent_free(s->conn);
    struct event_base *base = evconnlistener_get_base(l);
    if (s->tls)
        s->conn = bufferevent_openssl_socket_new(base, fd, SSL_new(s->tls),
                                                 BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    else
        s->conn = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(s->conn, on_syslog_read, NULL, NULL, s);
    bufferevent_enable(s->conn, EV_READ);
}

struct syslog_wait {
    struct done_rec *d;
    int *have;
    int want;
};

static int
syslog_done(void *arg)
{
    struct syslog_wait *w = arg;
    return w->d->calls > 0 && *w->have >= w->want;
}

/* The frame gw_syslog_frame makes for record i of batch recs (without octet counting). */
static char *
expected_frame(const struct gw_sink_cfg *cfg, const char *recs, int i)
{
    char host[256];
    local_hostname(host, sizeof(host));
    const char *r = recs;
    for (int k = 0; k < i; k++)
        r = strchr(r, '\n') + 1;
    struct evbuffer *b = evbuffer_new();
    assert_int_equal(
        gw_syslog_frame(b, cfg, host, (long)getpid(), r, (size_t)(strchr(r, '\n') - r), 0), 0);
    char *s = buf_str(b);
    evbuffer_free(b);
    return s;
}

static void
test_syslog_sink_tcp(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct syslog_srv s = {0};
    uint16_t port = listen_loopback(base, on_syslog_accept, &s, &s.lev);
    char err[256], recs[4096];
    size_t len = 0;
    make_batch(recs, sizeof(recs), &len, 1, 3);
    struct gw_sink_cfg cfg = {.name = "sl",
                              .type = GW_SINK_SYSLOG,
                              .timeout_ms = 3000,
                              .host = "127.0.0.1",
                              .port = port,
                              .transport = GW_SYSLOG_TCP,
                              .facility = 16,
                              .app_name = "portcullis"};
    void *st = gw_sink_syslog_ops.open(&cfg, base, err, sizeof(err));
    assert_non_null(st);

    for (int round = 0; round < 2; round++) {
        struct done_rec d = {0};
        struct syslog_wait w = {&d, &s.nframes, 3 * (round + 1)};
        gw_sink_syslog_ops.send(st, recs, len, 3, on_done, &d);
        run_until(base, syslog_done, &w);
        assert_int_equal(d.calls, 1);
        if (!d.ok)
            fail_msg("%s", d.why);
    }
    assert_int_equal(s.accepted, 1); /* one connection for both batches */
    assert_int_equal(s.nframes, 6);
    assert_false(s.bad);
    for (int i = 0; i < 6; i++) {
        char *want = expected_frame(&cfg, recs, i % 3);
        assert_string_equal(s.frames[i], want);
        free(want);
        free(s.frames[i]);
    }
    gw_sink_syslog_ops.close(st);

    /* Nobody listening: the batch fails. */
    cfg.port = closed_port();
    st = gw_sink_syslog_ops.open(&cfg, base, err, sizeof(err));
    assert_non_null(st);
    struct done_rec d = send_wait(base, &gw_sink_syslog_ops, st, recs, len, 3);
    assert_int_equal(d.ok, 0);
    assert_non_null(strstr(d.why, "syslog 127.0.0.1:"));
    gw_sink_syslog_ops.close(st);

    if (s.conn)
        bufferevent_free(s.conn);
    evconnlistener_free(s.lev);
    event_base_free(base);
}

static void
test_syslog_sink_tls(void **state)
{
    (void)state;
    struct tls_fixture f;
    tls_fixture_make(&f);
    struct event_base *base = event_base_new();
    struct syslog_srv s = {.tls = f.server};
    uint16_t port = listen_loopback(base, on_syslog_accept, &s, &s.lev);
    char err[256], recs[4096];
    size_t len = 0;
    make_batch(recs, sizeof(recs), &len, 1, 2);
    struct gw_sink_cfg cfg = {.name = "sl",
                              .type = GW_SINK_SYSLOG,
                              .timeout_ms = 3000,
                              .host = "127.0.0.1",
                              .port = port,
                              .transport = GW_SYSLOG_TLS,
                              .facility = 16,
                              .app_name = "portcullis",
                              .tls = {.ca = f.ca, .verify = 1}};
    /* Verified by IP address (no SNI), then by name (SNI). */
    const char *names[2] = {NULL, "localhost"};
    for (int k = 0; k < 2; k++) {
        cfg.tls.server_name = (char *)names[k];
        void *st = gw_sink_syslog_ops.open(&cfg, base, err, sizeof(err));
        assert_non_null(st);
        struct done_rec d = {0};
        struct syslog_wait w = {&d, &s.nframes, 2 * (k + 1)};
        gw_sink_syslog_ops.send(st, recs, len, 2, on_done, &d);
        run_until(base, syslog_done, &w);
        if (!d.ok)
            fail_msg("%s", d.why);
        assert_string_equal(s.sni, k ? "localhost" : "");
        gw_sink_syslog_ops.close(st);
    }
    for (int i = 0; i < s.nframes; i++) {
        char *want = expected_frame(&cfg, recs, i % 2);
        assert_string_equal(s.frames[i], want);
        free(want);
        free(s.frames[i]);
    }

    /* A name the certificate does not carry fails, unless verification is off. */
    cfg.tls.server_name = "other.example";
    void *st = gw_sink_syslog_ops.open(&cfg, base, err, sizeof(err));
    struct done_rec d = send_wait(base, &gw_sink_syslog_ops, st, recs, len, 2);
    assert_int_equal(d.ok, 0);
    assert_non_null(strstr(d.why, "certificate verification failed"));
    gw_sink_syslog_ops.close(st);
    cfg.tls.verify = 0;
    cfg.tls.ca = NULL;
    st = gw_sink_syslog_ops.open(&cfg, base, err, sizeof(err));
    d = send_wait(base, &gw_sink_syslog_ops, st, recs, len, 2);
    assert_int_equal(d.ok, 1);
    gw_sink_syslog_ops.close(st);

    /* A missing CA file is an open error. */
    cfg.tls.verify = 1;
    cfg.tls.ca = "/nonexistent/ca.pem";
    assert_null(gw_sink_syslog_ops.open(&cfg, base, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot load trust anchors"));

    if (s.conn)
        bufferevent_free(s.conn);
    evconnlistener_free(s.lev);
    event_base_free(base);
    tls_fixture_free(&f);
}

/* A UDP collector: one datagram per record; a frame over 65000 bytes is cut to 65000. */
struct udp_srv {
    int fd;
    char *dgrams[4];
    size_t lens[4];
    int n;
};

static void
on_udp(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct udp_srv *u = arg;
    static char buf[70000];
    ssize_t r;
    while ((r = recv(fd, buf, sizeof(buf), 0)) >= 0 && u->n < 4) {
        u->dgrams[u->n] = malloc((size_t)r + 1);
        memcpy(u->dgrams[u->n], buf, (size_t)r);
        u->dgrams[u->n][r] = '\0';
        u->lens[u->n++] = (size_t)r;
    }
}

static void
test_syslog_sink_udp(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct udp_srv u = {0};
    u.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(u.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    struct event *ev = event_new(base, u.fd, EV_READ | EV_PERSIST, on_udp, &u);
    event_add(ev, NULL);

    /* Two small records and a 70000-byte one. */
    size_t cap = 80000, len = 0;
    char *recs = malloc(cap);
    make_batch(recs, cap, &len, 1, 2);
    len += (size_t)snprintf(recs + len, cap - len,
                            "{\"@timestamp\":\"" TS "\",\"event\":{\"severity\":4},\"pad\":\"");
    memset(recs + len, 'a', 70000);
    len += 70000;
    len += (size_t)snprintf(recs + len, cap - len, "\"}\n");

    char err[256];
    struct gw_sink_cfg cfg = {.name = "u",
                              .type = GW_SINK_SYSLOG,
                              .host = "127.0.0.1",
                              .port = sock_port(u.fd),
                              .transport = GW_SYSLOG_UDP,
                              .facility = 3,
                              .app_name = "pc"};
    void *st = gw_sink_syslog_ops.open(&cfg, base, err, sizeof(err));
    assert_non_null(st);
    struct done_rec d = {0};
    gw_sink_syslog_ops.send(st, recs, len, 3, on_done, &d);
    assert_int_equal(d.calls, 1); /* UDP completes inside send */
    if (!d.ok)
        fail_msg("%s", d.why);
    struct syslog_wait w = {&d, &u.n, 3};
    run_until(base, syslog_done, &w);
    for (int i = 0; i < 2; i++) {
        char *want = expected_frame(&cfg, recs, i);
        assert_string_equal(u.dgrams[i], want);
        free(want);
    }
    assert_int_equal(u.lens[2], 65000);
    assert_memory_equal(u.dgrams[2], "<26>1 " TS, 6 + strlen(TS));
    for (int i = 0; i < u.n; i++)
        free(u.dgrams[i]);
    gw_sink_syslog_ops.close(st);
    event_free(ev);
    close(u.fd);
    free(recs);
    event_base_free(base);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops_for),
        cmocka_unit_test(test_rec_meta),
        cmocka_unit_test(test_syslog_frame),
        cmocka_unit_test(test_body_hec),
        cmocka_unit_test(test_body_es),
        cmocka_unit_test(test_body_webhook),
        cmocka_unit_test(test_gzip_roundtrip),
        cmocka_unit_test(test_file_sink_append),
        cmocka_unit_test(test_file_sink_rotation),
        cmocka_unit_test(test_file_sink_rotation_time),
        cmocka_unit_test(test_file_sink_keep0),
        cmocka_unit_test(test_file_sink_partial_write),
        cmocka_unit_test(test_http_sink_hec),
        cmocka_unit_test(test_http_sink_es),
        cmocka_unit_test(test_http_sink_large_plain),
        cmocka_unit_test(test_http_sink_webhook_refused),
        cmocka_unit_test(test_http_sink_timeout),
        cmocka_unit_test(test_http_sink_answer_too_big),
        cmocka_unit_test(test_http_sink_stale_keepalive),
        cmocka_unit_test(test_http_sink_https),
        cmocka_unit_test(test_syslog_sink_tcp),
        cmocka_unit_test(test_syslog_sink_tls),
        cmocka_unit_test(test_syslog_sink_udp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
