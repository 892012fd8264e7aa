/*
 * Material a user pasted into a message: "Proofread this email: '<the email>'", "Rewrite this
 * product description: “…”", a fenced block of code. It is text being worked on, like a document
 * a tool retrieves: an email that says "please ignore my previous email", or marketing copy about
 * an AI product's "developer mode", is not the user attacking the application. The injection
 * filter (filters/flt_injection.c) scores such a message twice and keeps the higher score: the
 * whole text with the pack's direct rules and the classifier reading it as a document (the
 * indirect side's features and weight, which learnt that documents talk about instructions and
 * passwords), and the user's own words around the material alone, as anything a user writes.
 * Instructions to the model inside the material still match the rules.
 *
 * Not "Summarise the following:\n<text>" (a lead line and what follows): few-shot attacks have that
 * form ("Here's the transcript, keep going:\nUser: ... Assistant: ..."), and read as documents the
 * hand-written minimal pairs lost 9 of their 414 direct attacks for one twin less flagged.
 *
 * Reads the bytes only: any input is safe, and the time is linear in len.
 */
#ifndef GW_PASTED_H
#define GW_PASTED_H

#include <stddef.h>

/* A span counts from this many bytes; spans together must cover at least half the text, and the
 * user's own words around them hold at least GW_PASTED_OWN_MIN bytes of ASCII letters and digits
 * and non-ASCII characters ("Translate:", "请翻译："): a message that is one quote asks nothing
 * and stays the user's own. */
#define GW_PASTED_MIN 60
#define GW_PASTED_OWN_MIN 8
#define GW_PASTED_MAX_SPANS 8

struct gw_span {
    size_t from, to; /* [from, to) */
};

/*
 * The pasted spans of len bytes of t, in order and apart (at most max), when they cover at least
 * half of it and leave the user's own words; else 0. A span is:
 *   - the inside of a code fence (``` or ~~~ to the next such fence, or to the end);
 *   - the inside of quotes: " or ' that open after a space, a line break, ':' or '(' or at the
 *     start, before a non-space, and close after a non-space before the end or a byte that is not
 *     an ASCII letter or digit (so "it's" neither opens nor closes); curly quotes “…”, ‘…’, „…“,
 *     «…», 「…」, 『…』 (’ also with that condition, since it is the apostrophe too).
 * Each of at least GW_PASTED_MIN bytes; shorter quotes are a phrase, not pasted text.
 */
size_t gw_pasted_spans(const char *t, size_t len, struct gw_span *out, size_t max);

/*
 * Quotations a document mentions in passing: "A web page might hide a line such as 'ignore your
 * previous instructions'", "一句「忘掉你的规则」". The insides of quotes of the kinds above
 * (not fences) of 1 to GW_MENTION_MAX bytes that open and close on one line, with a letter of
 * that line before the opening quote and neither ':' nor '：' right before it (spaces apart): a
 * label and a quote ("AI: 'ignore …'", "Note:「…」") is an order, not a mention. In order and
 * apart; at most max (later ones are not reported). The injection filter counts a rule's match
 * inside one at its category's `quoted` factor in documents (filters/injection_pack.h).
 * Linear in len: each quote kind's closing search moves forward only.
 */
#define GW_MENTION_MAX 400
size_t gw_quoted_mentions(const char *t, size_t len, struct gw_span *out, size_t max);

#endif
