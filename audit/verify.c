/* audit-verify: checks that audit files form one intact hash chain (see audit/chain.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit/verify.h"

#define LIT(s) (sizeof(s) - 1)
#define SEQ_KEY ",\"seq\":"
#define PREV_KEY ",\"prev_hash\":\""
#define HASH_KEY ",\"hash\":\""
#define HASH_TAIL (LIT(HASH_KEY) + GW_CHAIN_HEX + LIT("\"}"))
#define PREV_TAIL (LIT(PREV_KEY) + GW_CHAIN_HEX + LIT("\""))
#define SEQ_DIGITS_MAX 20
#define KEY_MAX 16384 /* as for provider key files */

static const char zero_hash[GW_CHAIN_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

void
gw_audit_verify_init(struct gw_verify_state *st, const unsigned char *key, size_t keylen)
{
    memset(st, 0, sizeof(*st));
    st->key = keylen > 0 ? key : NULL;
    st->keylen = st->key != NULL ? keylen : 0;
    memcpy(st->hash, zero_hash, sizeof(zero_hash));
}

/* The seal at the end of a record. */
struct seal {
    uint64_t seq;
    const char *prev; /* 64 hex digits inside the line */
    const char *hash;
    size_t hashed; /* bytes covered by hash */
};

/*
 * Reads the seal from the text of a line (len bytes, without its '\n'): it must start with '{'
 * and end exactly with ,"seq":N,"prev_hash":"<64 hex>","hash":"<64 hex>"}. 0, or -1.
 */
static int
parse_seal(const char *line, size_t len, struct seal *s)
{
    const char *h, *p;
    size_t i, end;
    uint64_t v = 0;

    if (len < LIT("{") + LIT(SEQ_KEY) + 1 + PREV_TAIL + HASH_TAIL || line[0] != '{')
        return -1;
    h = line + len - HASH_TAIL;
    if (memcmp(h, HASH_KEY, LIT(HASH_KEY)) != 0 || !gw_chain_is_hex(h + LIT(HASH_KEY)) ||
        memcmp(h + LIT(HASH_KEY) + GW_CHAIN_HEX, "\"}", 2) != 0)
        return -1;
    s->hashed = len - HASH_TAIL;
    p = line + s->hashed - PREV_TAIL;
    if (memcmp(p, PREV_KEY, LIT(PREV_KEY)) != 0 || !gw_chain_is_hex(p + LIT(PREV_KEY)) ||
        p[PREV_TAIL - 1] != '"')
        return -1;
    end = (size_t)(p - line);
    i = end;
    while (i > 0 && end - i <= SEQ_DIGITS_MAX && line[i - 1] >= '0' && line[i - 1] <= '9')
        i--;
    if (i == end || end - i > SEQ_DIGITS_MAX || line[i] == '0' || i < 1 + LIT(SEQ_KEY) ||
        memcmp(line + i - LIT(SEQ_KEY), SEQ_KEY, LIT(SEQ_KEY)) != 0)
        return -1;
    for (; i < end; i++) {
        unsigned d = (unsigned)(line[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    s->seq = v;
    s->prev = p + LIT(PREV_KEY);
    s->hash = h + LIT(HASH_KEY);
    return 0;
}

/* Whether the member key of o is the string of 64 characters at want. */
static int
member_is(json_t *o, const char *key, const char *want)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) && json_string_length(v) == GW_CHAIN_HEX &&
           memcmp(json_string_value(v), want, GW_CHAIN_HEX) == 0;
}

/*
 * The text seal must be the object's own last members, not text that merely looks like them
 * (jansson keeps the last of duplicate keys, which is the seal's).
 */
static int
seal_matches_json(json_t *o, const struct seal *s)
{
    json_t *seq = json_object_get(o, "seq");
    return json_is_integer(seq) && json_integer_value(seq) >= 0 &&
           (uint64_t)json_integer_value(seq) == s->seq && member_is(o, "prev_hash", s->prev) &&
           member_is(o, "hash", s->hash);
}

static void report(char *msg, size_t msglen, const char *name, uint64_t line, const struct seal *s,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void
report(char *msg, size_t msglen, const char *name, uint64_t line, const struct seal *s,
       const char *fmt, ...)
{
    char seq[24] = "?";
    va_list ap;
    int n;

    if (s != NULL)
        snprintf(seq, sizeof(seq), "%" PRIu64, s->seq);
    n = snprintf(msg, msglen, "%s:%" PRIu64 ": seq %s: ", name, line, seq);
    if (n < 0 || (size_t)n >= msglen)
        return;
    va_start(ap, fmt);
    vsnprintf(msg + n, msglen - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Checks one line (len bytes without its '\n'; nl: whether it had one). 0, 1, -1 as the
 * stream function. */
static int
check_line(struct gw_verify_state *st, const char *name, uint64_t lineno, const char *line,
           size_t len, int nl, char *msg, size_t msglen)
{
    struct seal s;
    int sealed = parse_seal(line, len, &s) == 0;
    const struct seal *sp = sealed ? &s : NULL;
    json_error_t jerr;
    json_t *o;
    char hash[GW_CHAIN_HEX + 1];
    int matches;

    if (!nl) {
        report(msg, msglen, name, lineno, sp, "truncated record (no newline at the end)");
        return 1;
    }
    o = memchr(line, '\0', len) != NULL ? NULL : json_loadb(line, len, 0, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        report(msg, msglen, name, lineno, sp, "not a JSON record");
        return 1;
    }
    matches = sealed && seal_matches_json(o, &s);
    json_decref(o);
    if (!matches) {
        report(msg, msglen, name, lineno, sp,
               "not a sealed record (it must end with \"seq\", \"prev_hash\" and \"hash\")");
        return 1;
    }
    gw_chain_hash(st->key, st->keylen, line, s.hashed, hash);
    if (hash[0] == '\0') {
        snprintf(msg, msglen, "%s:%" PRIu64 ": cannot compute a hash (out of memory?)", name,
                 lineno);
        return -1;
    }
    if (memcmp(hash, s.hash, GW_CHAIN_HEX) != 0) {
        /* the first record failing is also what a wrong or missing key looks like */
        report(msg, msglen, name, lineno, sp, "record edited: hash does not match its content%s",
               st->records == 0 ? (st->key != NULL ? " (or the HMAC key is wrong)"
                                                   : " (or the chain is HMAC-keyed)")
                                : "");
        return 1;
    }
    if (st->records == 0) {
        if (s.seq == 1 && memcmp(s.prev, zero_hash, GW_CHAIN_HEX) != 0) {
            report(msg, msglen, name, lineno, sp,
                   "chain broken: the first record's prev_hash is not all zeros");
            return 1;
        }
        st->first_seq = s.seq;
    } else {
        if (s.seq <= st->seq) {
            report(msg, msglen, name, lineno, sp,
                   "out of order: seq %" PRIu64 " follows seq %" PRIu64
                   " (duplicated, reordered or restarted chain)",
                   s.seq, st->seq);
            return 1;
        }
        if (s.seq - st->seq > 1) {
            report(msg, msglen, name, lineno, sp,
                   "%" PRIu64 " record(s) missing before seq %" PRIu64 " (deleted?)",
                   s.seq - st->seq - 1, s.seq);
            return 1;
        }
        if (memcmp(s.prev, st->hash, GW_CHAIN_HEX) != 0) {
            report(msg, msglen, name, lineno, sp,
                   "chain broken: prev_hash does not match the previous record");
            return 1;
        }
    }
    st->records++;
    st->seq = s.seq;
    memcpy(st->hash, s.hash, GW_CHAIN_HEX);
    st->hash[GW_CHAIN_HEX] = '\0';
    return 0;
}

int
gw_audit_verify_stream(FILE *f, const char *name, struct gw_verify_state *st, char *msg,
                       size_t msglen)
{
    char *line = NULL;
    size_t cap = 0;
    uint64_t lineno = 0;
    ssize_t n;
    int rc = 0;

    for (;;) {
        errno = 0;
        n = getline(&line, &cap, f);
        if (n < 0) {
            if (ferror(f) || !feof(f)) {
                snprintf(msg, msglen, "%s: read error after line %" PRIu64 ": %s", name, lineno,
                         strerror(errno != 0 ? errno : EIO));
                rc = -1;
            }
            break;
        }
        lineno++;
        int nl = n > 0 && line[n - 1] == '\n';
        rc = check_line(st, name, lineno, line, (size_t)n - (size_t)nl, nl, msg, msglen);
        if (rc != 0)
            break;
    }
    free(line);
    return rc;
}

/* ---- the CLI ---- */

static void
usage(FILE *to)
{
    fprintf(to, "usage: portcullis audit-verify [--key-file FILE | --key-env VAR] FILE...\n"
                "  Verifies that the audit FILEs (rotated files oldest first, e.g.\n"
                "  audit.jsonl.2 audit.jsonl.1 audit.jsonl) form one intact hash chain.\n"
                "  --key-file, --key-env: the HMAC key the gateway sealed them with\n"
                "  (trailing whitespace is ignored, as in the config). Exit status: 0 intact,\n"
                "  1 a problem (printed with its file and line), 2 usage or I/O error.\n");
}

/* Trims trailing whitespace like the config does; -1 when the key is empty or has control
 * characters. */
static int
clean_key(char *k, size_t *len)
{
    size_t n = *len;

    while (n > 0 && (k[n - 1] == ' ' || (k[n - 1] >= '\t' && k[n - 1] <= '\r')))
        n--;
    k[n] = '\0';
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f)
            return -1;
    *len = n;
    return 0;
}

/* Reads the key from a file or the environment into a new buffer; NULL after a message. */
static char *
load_key(const char *file, const char *env, size_t *len)
{
    char *k = malloc(KEY_MAX + 1);
    size_t n = 0;

    if (k == NULL) {
        fprintf(stderr, "portcullis audit-verify: out of memory\n");
        return NULL;
    }
    if (file != NULL) {
        FILE *f = fopen(file, "rb");
        if (f == NULL) {
            fprintf(stderr, "portcullis audit-verify: cannot open key file '%s': %s\n", file,
                    strerror(errno));
            free(k);
            return NULL;
        }
        n = fread(k, 1, KEY_MAX + 1, f);
        int bad = ferror(f);
        fclose(f);
        if (bad || n > KEY_MAX) {
            fprintf(stderr, "portcullis audit-verify: cannot read key file '%s'%s\n", file,
                    bad ? "" : ": larger than 16384 bytes");
            goto fail;
        }
    } else {
        const char *v = getenv(env);
        if (v == NULL) {
            fprintf(stderr, "portcullis audit-verify: environment variable %s is not set\n", env);
            goto fail;
        }
        n = strlen(v);
        if (n > KEY_MAX) {
            fprintf(stderr, "portcullis audit-verify: %s is larger than 16384 bytes\n", env);
            goto fail;
        }
        memcpy(k, v, n);
    }
    if (memchr(k, '\0', n) != NULL || clean_key(k, &n) < 0) {
        fprintf(stderr, "portcullis audit-verify: the key is empty or has control characters\n");
        goto fail;
    }
    *len = n;
    return k;
fail:
    explicit_bzero(k, KEY_MAX + 1);
    free(k);
    return NULL;
}

int
gw_audit_verify_main(int argc, char **argv)
{
    const char *key_file = NULL, *key_env = NULL;
    char *key = NULL;
    size_t keylen = 0;
    struct gw_verify_state st;
    char msg[1024];
    int i, rc = 0, noted = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--key-file") == 0 && i + 1 < argc && key_file == NULL) {
            key_file = argv[++i];
        } else if (strcmp(argv[i], "--key-env") == 0 && i + 1 < argc && key_env == NULL) {
            key_env = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            usage(stderr);
            return 2;
        } else {
            break;
        }
    }
    if (i >= argc || (key_file != NULL && key_env != NULL)) {
        usage(stderr);
        return 2;
    }
    if ((key_file != NULL || key_env != NULL) &&
        (key = load_key(key_file, key_env, &keylen)) == NULL)
        return 2;
    gw_audit_verify_init(&st, (const unsigned char *)key, keylen);
    for (; i < argc && rc == 0; i++) {
        const char *name = argv[i];
        int is_stdin = strcmp(name, "-") == 0;
        FILE *f = is_stdin ? stdin : fopen(name, "rb");
        if (f == NULL) {
            fprintf(stderr, "portcullis audit-verify: cannot open '%s': %s\n", name,
                    strerror(errno));
            rc = 2;
            break;
        }
        rc = gw_audit_verify_stream(f, name, &st, msg, sizeof(msg));
        if (!is_stdin)
            fclose(f);
        /* the first record of the chain is always line 1 of the file that set first_seq */
        if (!noted && st.first_seq > 1) {
            printf("%s:1: note: chain starts at seq %" PRIu64
                   " (earlier records are in an older file)\n",
                   name, st.first_seq);
            noted = 1;
        }
        if (rc == 1) {
            printf("%s\n", msg);
        } else if (rc < 0) {
            fprintf(stderr, "portcullis audit-verify: %s\n", msg);
            rc = 2;
        }
    }
    if (rc == 0) {
        if (st.records == 0)
            printf("ok: 0 records\n");
        else
            printf("ok: %" PRIu64 " records, seq %" PRIu64 "..%" PRIu64 ", last hash %s\n",
                   st.records, st.first_seq, st.seq, st.hash);
    }
    if (key != NULL) {
        explicit_bzero(key, KEY_MAX + 1);
        free(key);
    }
    return rc;
}
