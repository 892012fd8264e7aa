/*
 * Verifying audit hash chains (see audit/chain.h for the record format), and the CLI
 *   portcullis audit-verify [--key-file F | --key-env VAR] FILE...
 * The FILEs are one chain read in the order given: rotated files oldest first
 * (audit.jsonl.2 audit.jsonl.1 audit.jsonl).
 */
#ifndef GW_AUDIT_VERIFY_H
#define GW_AUDIT_VERIFY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "audit/chain.h"

/* Where a verification stands, carried from one file to the next. */
struct gw_verify_state {
    const unsigned char *key; /* HMAC key (borrowed) or NULL: SHA-256 */
    size_t keylen;
    uint64_t records;            /* records verified so far */
    uint64_t first_seq;          /* seq of the first record, 0: none yet */
    uint64_t seq;                /* seq of the last verified record */
    char hash[GW_CHAIN_HEX + 1]; /* its hash */
};

/* A fresh state: no records yet. key as for gw_chain_init (NULL or empty: SHA-256). */
void gw_audit_verify_init(struct gw_verify_state *st, const unsigned char *key, size_t keylen);

/*
 * Verifies the records of f (read to its end, line by line; lines may be any length), continuing
 * the chain of st and advancing st over every good record. The first record of a fresh state
 * with seq 1 must have an all-zero prev_hash; one with a larger seq is accepted as the anchor (its
 * predecessors are in an older file that was not given): st->first_seq tells.
 * Returns 0 when every line is a good record; 1 at the first problem, with
 * "NAME:LINE: seq S: what" in msg (S is "?" when the line has no readable seq); -1 when f cannot
 * be read or memory runs out, with a message in msg. f stays open (the caller's).
 */
int gw_audit_verify_stream(FILE *f, const char *name, struct gw_verify_state *st, char *msg,
                           size_t msglen);

/*
 * The CLI; argv[0] is "audit-verify". Prints "ok: N records, seq A..B, last hash H" and returns
 * 0 when the chain is intact; prints the first problem (as above) on stdout and returns 1;
 * returns 2 after a usage or I/O error (message on stderr).
 */
int gw_audit_verify_main(int argc, char **argv);

#endif
