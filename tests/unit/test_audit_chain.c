/* Unit tests for audit/chain.c and audit/verify.c: sealing, verifying, tampering, state files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "audit/chain.h"
#include "audit/verify.h"

#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

static const unsigned char KEY[] = "audit-hmac-key";
#define KEYLEN (sizeof(KEY) - 1)

/* ---- helpers ---- */

/* Record n's body (no closing brace), as the audit core would write it. */
static void
body(int n, char *out, size_t outlen)
{
    snprintf(out, outlen,
             "{\"@timestamp\":\"2026-11-29T12:00:0%d.123456Z\",\"event\":{\"severity\":%d,"
             "\"kind\":\"request\",\"n\":%d,\"text\":\"caf\\u00e9 \\\"q\\\"\"}",
             n % 10, n % 5, n);
}

/* Seals records first..last (numbering the bodies) onto c; returns the lines (malloc'd). */
static char *
seal_range(struct gw_audit_chain *c, int first, int last)
{
    struct evbuffer *out = evbuffer_new();
    char b[256];

    assert_non_null(out);
    for (int n = first; n <= last; n++) {
        body(n, b, sizeof(b));
        assert_int_equal(gw_chain_seal(c, b, strlen(b), out), 0);
    }
    size_t len = evbuffer_get_length(out);
    char *s = malloc(len + 1);
    assert_non_null(s);
    evbuffer_remove(out, s, len);
    s[len] = '\0';
    evbuffer_free(out);
    return s;
}

static char *
make_chain(const unsigned char *key, size_t keylen, int n)
{
    struct gw_audit_chain c;
    gw_chain_init(&c, key, keylen);
    return seal_range(&c, 1, n);
}

/* Verifies text as one file named "t" on st. */
static int
verify_on(struct gw_verify_state *st, const char *text, size_t len, char *msg, size_t msglen)
{
    FILE *f = fmemopen((void *)text, len, "r");
    assert_non_null(f);
    msg[0] = '\0';
    int rc = gw_audit_verify_stream(f, "t", st, msg, msglen);
    fclose(f);
    return rc;
}

static int
verify_text(const char *text, const unsigned char *key, size_t keylen, char *msg, size_t msglen)
{
    struct gw_verify_state st;
    gw_audit_verify_init(&st, key, keylen);
    return verify_on(&st, text, strlen(text), msg, msglen);
}

/* Start of line i (1-based) in s. */
static char *
line_at(char *s, int i)
{
    while (--i > 0) {
        s = strchr(s, '\n');
        assert_non_null(s);
        s++;
    }
    return s;
}

static size_t
line_len(const char *l)
{
    return (size_t)(strchr(l, '\n') - l) + 1;
}

/* Removes line i from s in place. */
static void
delete_line(char *s, int i)
{
    char *l = line_at(s, i);
    size_t n = line_len(l);
    memmove(l, l + n, strlen(l + n) + 1);
}

/* Swaps lines i < j in s (returns a new string). */
static char *
swap_lines(const char *s, int i, int j)
{
    char *w = strdup(s), *out = malloc(strlen(s) + 1);
    assert_non_null(w);
    assert_non_null(out);
    out[0] = '\0';
    int n = 0;
    for (const char *p = w; *p; p += line_len(p))
        n++;
    for (int k = 1; k <= n; k++) {
        const char *l = line_at(w, k == i ? j : k == j ? i : k);
        strncat(out, l, line_len(l));
    }
    free(w);
    return out;
}

static void
expect_problem(const char *text, const unsigned char *key, size_t keylen, const char *want)
{
    char msg[512];
    assert_int_equal(verify_text(text, key, keylen, msg, sizeof(msg)), 1);
    if (strstr(msg, want) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", msg, want);
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

/* Runs the CLI with stdout and stderr captured into out; returns its exit status. */
static int
run_cli(char *out, size_t outlen, int argc, ...)
{
    char *argv[16];
    va_list ap;
    va_start(ap, argc);
    argv[0] = "audit-verify";
    for (int i = 1; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    argv[argc] = NULL;

    char cap[] = "/tmp/test_audit_chain_outXXXXXX";
    int fd = mkstemp(cap);
    assert_true(fd >= 0);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fd, 1);
    dup2(fd, 2);
    int rc = gw_audit_verify_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    ssize_t n = pread(fd, out, outlen - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(cap);
    return rc;
}

/* ---- tests ---- */

static void
test_known_answers(void **state)
{
    (void)state;
    char hex[65];
    gw_chain_hash(NULL, 0, "abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* RFC 4231 test case 2 */
    const char *data = "what do ya want for nothing?";
    gw_chain_hash((const unsigned char *)"Jefe", 4, data, strlen(data), hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* the thread's context remembers the last key: switching keys back and forth, including to
     * a prefix of the key, must still use the key given */
    char again[65], other[65], prefix[65];
    gw_chain_hash((const unsigned char *)"Jeff", 4, data, strlen(data), other);
    gw_chain_hash((const unsigned char *)"Jef", 3, data, strlen(data), prefix);
    gw_chain_hash((const unsigned char *)"Jefe", 4, data, strlen(data), again);
    assert_string_equal(again, hex);
    assert_string_not_equal(other, hex);
    assert_string_not_equal(prefix, hex);
    assert_string_not_equal(prefix, other);
    /* an empty key means no key */
    gw_chain_hash((const unsigned char *)"", 0, "abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* Checks the exact line format and recomputes each hash with OpenSSL directly. */
static void
check_lines(const char *s, const unsigned char *key, size_t keylen, int n)
{
    char prev[65] = ZEROS;
    const char *l = s;
    for (int i = 1; i <= n; i++) {
        const char *nl = strchr(l, '\n');
        assert_non_null(nl);
        size_t len = (size_t)(nl - l);
        char b[256], tail[200];
        body(i, b, sizeof(b));
        assert_memory_equal(l, b, strlen(b));
        snprintf(tail, sizeof(tail), ",\"seq\":%d,\"prev_hash\":\"%s\",\"hash\":\"", i, prev);
        assert_memory_equal(l + strlen(b), tail, strlen(tail));
        size_t hashed = strlen(b) + strlen(tail) - strlen(",\"hash\":\"");
        assert_int_equal(len, strlen(b) + strlen(tail) + 64 + 2);
        assert_memory_equal(l + len - 2, "\"}", 2);

        unsigned char md[32];
        unsigned int mdlen = 0;
        if (key != NULL)
            HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)l, hashed, md, &mdlen);
        else
            EVP_Digest(l, hashed, md, &mdlen, EVP_sha256(), NULL);
        assert_int_equal(mdlen, 32);
        char hex[65];
        for (int k = 0; k < 32; k++)
            snprintf(hex + 2 * k, 3, "%02x", md[k]);
        assert_memory_equal(l + strlen(b) + strlen(tail), hex, 64);
        memcpy(prev, hex, 65);
        l = nl + 1;
    }
    assert_int_equal(*l, '\0');
}

static void
test_seal_three_and_verify(void **state)
{
    (void)state;
    struct gw_audit_chain c;
    gw_chain_init(&c, NULL, 0);
    assert_int_equal(c.seq, 0);
    assert_string_equal(c.prev, ZEROS);
    char *s = seal_range(&c, 1, 3);
    check_lines(s, NULL, 0, 3);
    assert_int_equal(c.seq, 3);

    struct gw_verify_state st;
    char msg[512];
    gw_audit_verify_init(&st, NULL, 0);
    assert_int_equal(verify_on(&st, s, strlen(s), msg, sizeof(msg)), 0);
    assert_int_equal(st.records, 3);
    assert_int_equal(st.first_seq, 1);
    assert_int_equal(st.seq, 3);
    assert_string_equal(st.hash, c.prev);
    /* an empty file is a valid (empty) chain */
    gw_audit_verify_init(&st, NULL, 0);
    assert_int_equal(verify_on(&st, "", 0, msg, sizeof(msg)), 0);
    assert_int_equal(st.records, 0);
    free(s);
}

static void
test_hmac_key(void **state)
{
    (void)state;
    char *plain = make_chain(NULL, 0, 3);
    char *keyed = make_chain(KEY, KEYLEN, 3);
    check_lines(keyed, KEY, KEYLEN, 3);
    /* same bodies, different hashes from the first record on */
    const char *h1 = strstr(plain, ",\"hash\":\""), *h2 = strstr(keyed, ",\"hash\":\"");
    assert_memory_not_equal(h1, h2, 64 + 9);

    char msg[512];
    assert_int_equal(verify_text(keyed, KEY, KEYLEN, msg, sizeof(msg)), 0);
    expect_problem(keyed, NULL, 0, "t:1: seq 1: record edited: hash does not match its content");
    expect_problem(keyed, (const unsigned char *)"other", 5, "record edited");
    expect_problem(plain, KEY, KEYLEN, "t:1: seq 1: record edited");
    free(plain);
    free(keyed);
}

static void
test_edited_byte(void **state)
{
    (void)state;
    char *s = make_chain(NULL, 0, 3);
    char *l2 = line_at(s, 2);
    char *n = strstr(l2, "\"n\":2");
    assert_non_null(n);
    n[4] = '7'; /* "n":7: still valid JSON */
    expect_problem(s, NULL, 0, "t:2: seq 2: record edited: hash does not match its content");
    n[4] = '2';
    /* editing the seq changes the hashed part too */
    char *q = strstr(l2, ",\"seq\":2,");
    q[7] = '5';
    expect_problem(s, NULL, 0, "t:2: seq 5: record edited");
    q[7] = '2';
    /* and so does editing the stored hash itself */
    char *h = strstr(l2, ",\"hash\":\"") + 9;
    h[0] = h[0] == 'a' ? 'b' : 'a';
    expect_problem(s, NULL, 0, "t:2: seq 2: record edited");
    free(s);
}

static void
test_deleted_line(void **state)
{
    (void)state;
    char *s = make_chain(NULL, 0, 5);
    delete_line(s, 2);
    expect_problem(s, NULL, 0, "t:2: seq 3: 1 record(s) missing before seq 3 (deleted?)");
    free(s);
    s = make_chain(NULL, 0, 5);
    delete_line(s, 3);
    delete_line(s, 3);
    expect_problem(s, NULL, 0, "t:3: seq 5: 2 record(s) missing before seq 5 (deleted?)");
    free(s);
}

static void
test_swapped_lines(void **state)
{
    (void)state;
    char *s = make_chain(NULL, 0, 4);
    char *w = swap_lines(s, 2, 3);
    expect_problem(w, NULL, 0, "t:2: seq 3: 1 record(s) missing before seq 3");
    free(w);
    /* the first two: seq 2 is taken as an anchor, then seq 1 goes backwards */
    w = swap_lines(s, 1, 2);
    expect_problem(w, NULL, 0, "t:2: seq 1: out of order: seq 1 follows seq 2");
    free(w);
    /* a duplicated record */
    size_t len = strlen(s);
    char *d = malloc(len + line_len(s) + 1);
    memcpy(d, s, line_len(s));
    memcpy(d + line_len(s), s, len + 1);
    expect_problem(d, NULL, 0, "t:2: seq 1: out of order");
    free(d);
    free(s);
}

static void
test_broken_links(void **state)
{
    (void)state;
    /* a record 3 sealed after some other record 2: seqs line up, links do not */
    char *a = make_chain(NULL, 0, 3);
    struct gw_audit_chain c;
    gw_chain_init(&c, NULL, 0);
    c.seq = 2;
    memset(c.prev, 'a', 64);
    char *b = seal_range(&c, 3, 3);
    delete_line(a, 3);
    char *mix = malloc(strlen(a) + strlen(b) + 1);
    strcpy(mix, a);
    strcat(mix, b);
    expect_problem(mix, NULL, 0,
                   "t:3: seq 3: chain broken: prev_hash does not match the previous record");
    free(mix);
    free(b);
    /* seq 1 whose prev_hash is not zeros */
    gw_chain_init(&c, NULL, 0);
    memset(c.prev, 'f', 64);
    b = seal_range(&c, 1, 2);
    expect_problem(b, NULL, 0, "t:1: seq 1: chain broken: the first record's prev_hash");
    free(b);
    free(a);
}

static void
test_truncated_and_garbage(void **state)
{
    (void)state;
    char *t, *s = make_chain(NULL, 0, 3);
    size_t len = strlen(s);
    s[len - 1] = '\0'; /* only the final newline lost */
    expect_problem(s, NULL, 0, "t:3: seq 3: truncated record");
    s[len - 40] = '\0'; /* cut inside the hash */
    expect_problem(s, NULL, 0, "t:3: seq ?: truncated record");
    free(s);

    expect_problem("hello\n", NULL, 0, "t:1: seq ?: not a JSON record");
    expect_problem("[1,2]\n", NULL, 0, "t:1: seq ?: not a JSON record");
    expect_problem("\n", NULL, 0, "t:1: seq ?: not a JSON record");
    expect_problem("{\"a\":1}\n", NULL, 0, "t:1: seq ?: not a sealed record");
    /* the hashed part starts at the line's '{' */
    s = make_chain(NULL, 0, 1);
    t = malloc(strlen(s) + 2);
    t[0] = ' ';
    strcpy(t + 1, s);
    expect_problem(t, NULL, 0, "t:1: seq ?: not a sealed record");
    free(t);
    free(s);
    /* a seal followed by more members */
    expect_problem("{\"s\":\"x\\\",\\\"seq\\\":1\",\"seq\":1,\"prev_hash\":\"" ZEROS
                   "\",\"hash\":\"" ZEROS "\",\"z\":{\"hash\":\"" ZEROS "\"}}\n",
                   NULL, 0, "not a sealed record");
    /* a good record followed by a bad one: the line number counts */
    s = make_chain(NULL, 0, 1);
    t = malloc(strlen(s) + 8);
    strcpy(t, s);
    strcat(t, "{}\n");
    expect_problem(t, NULL, 0, "t:2: seq ?: not a sealed record");
    free(t);
    free(s);
    /* a NUL byte inside a record */
    s = make_chain(NULL, 0, 1);
    len = strlen(s);
    s[3] = '\0';
    struct gw_verify_state st;
    char msg[512];
    gw_audit_verify_init(&st, NULL, 0);
    assert_int_equal(verify_on(&st, s, len, msg, sizeof(msg)), 1);
    assert_non_null(strstr(msg, "t:1: seq 1: not a JSON record"));
    free(s);
}

static void
test_long_record(void **state)
{
    (void)state;
    size_t big = 3u << 20;
    char *b = malloc(big + 64);
    struct evbuffer *out = evbuffer_new();
    struct gw_audit_chain c;
    gw_chain_init(&c, KEY, KEYLEN);
    strcpy(b, "{\"text\":\"");
    memset(b + 9, 'x', big);
    strcpy(b + 9 + big, "\"");
    assert_int_equal(gw_chain_seal(&c, "{\"a\":1", 6, out), 0);
    assert_int_equal(gw_chain_seal(&c, b, strlen(b), out), 0);
    assert_int_equal(gw_chain_seal(&c, "{\"a\":3", 6, out), 0);
    size_t len = evbuffer_get_length(out);
    const char *text = (const char *)evbuffer_pullup(out, -1);
    struct gw_verify_state st;
    char msg[512];
    gw_audit_verify_init(&st, KEY, KEYLEN);
    assert_int_equal(verify_on(&st, text, len, msg, sizeof(msg)), 0);
    assert_int_equal(st.records, 3);
    evbuffer_free(out);
    free(b);
}

static void
test_rotation(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_audit_chainXXXXXX";
    assert_non_null(mkdtemp(dir));
    char old[128], cur[128], missing[128], keyf[128], out[2048];
    snprintf(old, sizeof(old), "%s/audit.jsonl.1", dir);
    snprintf(cur, sizeof(cur), "%s/audit.jsonl", dir);
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    snprintf(keyf, sizeof(keyf), "%s/key", dir);

    struct gw_audit_chain c;
    gw_chain_init(&c, KEY, KEYLEN);
    char *a = seal_range(&c, 1, 2);
    char *b = seal_range(&c, 3, 5);
    write_file(old, a);
    write_file(cur, b);
    write_file(keyf, "audit-hmac-key\n"); /* a trailing newline is not part of the key */

    char want[256];
    snprintf(want, sizeof(want), "ok: 5 records, seq 1..5, last hash %s\n", c.prev);
    assert_int_equal(run_cli(out, sizeof(out), 5, "--key-file", keyf, old, cur), 0);
    assert_string_equal(out, want);

    /* the same through the library, one state across the two files */
    struct gw_verify_state st;
    char msg[512];
    gw_audit_verify_init(&st, KEY, KEYLEN);
    assert_int_equal(verify_on(&st, a, strlen(a), msg, sizeof(msg)), 0);
    assert_int_equal(verify_on(&st, b, strlen(b), msg, sizeof(msg)), 0);
    assert_int_equal(st.records, 5);

    /* the newest file alone: anchored at seq 3 */
    setenv("TEST_AUDIT_KEY", "audit-hmac-key", 1);
    assert_int_equal(run_cli(out, sizeof(out), 4, "--key-env", "TEST_AUDIT_KEY", cur), 0);
    assert_non_null(strstr(out, "note: chain starts at seq 3 (earlier records are in an older"));
    assert_non_null(strstr(out, "ok: 3 records, seq 3..5"));

    /* wrong order */
    assert_int_equal(run_cli(out, sizeof(out), 5, "--key-file", keyf, cur, old), 1);
    char *w = strstr(out, "audit.jsonl.1:1: seq 1: out of order: seq 1 follows seq 5");
    assert_non_null(w);
    /* no key: the first record fails */
    assert_int_equal(run_cli(out, sizeof(out), 3, old, cur), 1);
    assert_non_null(strstr(out, "audit.jsonl.1:1: seq 1: record edited"));
    /* usage and I/O errors */
    assert_int_equal(run_cli(out, sizeof(out), 1), 2);
    assert_non_null(strstr(out, "usage: portcullis audit-verify"));
    assert_int_equal(run_cli(out, sizeof(out), 2, "--bogus"), 2);
    assert_int_equal(run_cli(out, sizeof(out), 6, "--key-file", keyf, "--key-env", "X", cur), 2);
    assert_int_equal(run_cli(out, sizeof(out), 3, "--key-env", "TEST_AUDIT_UNSET_VAR"), 2);
    assert_int_equal(run_cli(out, sizeof(out), 4, "--key-env", "TEST_AUDIT_UNSET_VAR", cur), 2);
    assert_int_equal(run_cli(out, sizeof(out), 5, "--key-file", keyf, old, missing), 2);
    assert_non_null(strstr(out, "cannot open"));
    assert_int_equal(run_cli(out, sizeof(out), 2, "--help"), 0);

    unlink(old);
    unlink(cur);
    unlink(keyf);
    rmdir(dir);
    free(a);
    free(b);
}

static void
test_state_round_trip(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_audit_chainXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], tmp[160], err[256];
    snprintf(path, sizeof(path), "%s/chain.state", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);

    struct gw_audit_chain c, d;
    gw_chain_init(&c, KEY, KEYLEN);
    gw_chain_init(&d, KEY, KEYLEN);
    assert_int_equal(gw_chain_load(&d, path, err, sizeof(err)), 1);
    assert_int_equal(d.seq, 0);

    /* the empty chain round-trips too */
    assert_int_equal(gw_chain_save(&c, path), 0);
    assert_int_equal(gw_chain_load(&d, path, err, sizeof(err)), 0);
    assert_int_equal(d.seq, 0);
    assert_string_equal(d.prev, ZEROS);

    char *a = seal_range(&c, 1, 2);
    assert_int_equal(gw_chain_save(&c, path), 0);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(gw_chain_load(&d, path, err, sizeof(err)), 0);
    assert_int_equal(d.seq, 2);
    assert_string_equal(d.prev, c.prev);
    assert_ptr_equal(d.key, KEY);
    /* the restarted chain continues the old one */
    char *b = seal_range(&d, 3, 4);
    char *all = malloc(strlen(a) + strlen(b) + 1);
    strcpy(all, a);
    strcat(all, b);
    char msg[512];
    assert_int_equal(verify_text(all, KEY, KEYLEN, msg, sizeof(msg)), 0);

    char text[256];
    snprintf(text, sizeof(text), "2 %s\n", c.prev);
    FILE *f = fopen(path, "rb");
    char got[256] = "";
    assert_non_null(fgets(got, sizeof(got), f));
    fclose(f);
    assert_string_equal(got, text);

    free(all);
    free(b);
    free(a);
    unlink(path);
    rmdir(dir);
}

static void
test_state_corrupt(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_audit_chainXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/chain.state", dir);
    const char *bad[] = {
        "",
        "garbage\n",
        "5\n",
        "5 abc\n",
        "5 " ZEROS,        /* no newline */
        "5 " ZEROS "\n\n", /* trailing junk */
        "5  " ZEROS "\n",  /* two spaces */
        "-5 " ZEROS "\n",
        "05 " ZEROS "\n",                                                       /* leading zero */
        "0 " ZEROS "1\n",                                                       /* 65 digits */
        "0 1000000000000000000000000000000000000000000000000000000000000000\n", /* seq 0: zeros */
        "99999999999999999999 " ZEROS "\n",                                     /* > UINT64_MAX */
        "5 ABCDEF0000000000000000000000000000000000000000000000000000000000\n",
    };
    struct gw_audit_chain c;
    gw_chain_init(&c, NULL, 0);
    c.seq = 42;
    memset(c.prev, 'c', 64);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file(path, bad[i]);
        err[0] = '\0';
        if (gw_chain_load(&c, path, err, sizeof(err)) != -1)
            fail_msg("state %zu \"%s\" was accepted", i, bad[i]);
        assert_non_null(strstr(err, "corrupt"));
        assert_int_equal(c.seq, 42);
        assert_int_equal(c.prev[0], 'c');
    }
    /* the largest seq is fine */
    write_file(path, "18446744073709551615 " ZEROS "\n");
    assert_int_equal(gw_chain_load(&c, path, err, sizeof(err)), 0);
    assert_true(c.seq == UINT64_MAX);
    /* unreadable: a directory */
    assert_int_equal(gw_chain_load(&c, dir, err, sizeof(err)), -1);
    assert_true(err[0] != '\0');
    /* save into a missing directory fails */
    char nodir[160];
    snprintf(nodir, sizeof(nodir), "%s/no/such/state", dir);
    assert_int_equal(gw_chain_save(&c, nodir), -1);
    unlink(path);
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),    cmocka_unit_test(test_seal_three_and_verify),
        cmocka_unit_test(test_hmac_key),         cmocka_unit_test(test_edited_byte),
        cmocka_unit_test(test_deleted_line),     cmocka_unit_test(test_swapped_lines),
        cmocka_unit_test(test_broken_links),     cmocka_unit_test(test_truncated_and_garbage),
        cmocka_unit_test(test_long_record),      cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_state_round_trip), cmocka_unit_test(test_state_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
