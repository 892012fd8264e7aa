/*
 * Instructions hidden in tabular data: a tool result or retrieved document that is a table (rows
 * of `| a | b |` cells, as tools, spreadsheets and web-page converters render them) with a line of
 * prose in it that asks the reader something or tells it to do something ("What is the capital of
 * Brazil?", "Write a poem about the sea."). Data has no reason to address its reader; a request
 * there is the indirect-injection technique itself, whatever it asks for, so this looks at the
 * line's form (a question, an imperative), not at its words. The injection pack refers to it with
 * `detector: tabular-request` (filters/injection_pack.h); the pack's rule gives the category and
 * weight.
 *
 * English only: the imperative test knows English verbs.
 */
#ifndef GW_TABULAR_H
#define GW_TABULAR_H

#include <stddef.h>

/* A text is tabular when at least GW_TAB_MIN_ROWS of its lines are table rows and rows are at
 * least three quarters of its non-blank lines; captions, notes and headings around a table are
 * then a few lines, and a page of prose with a table in it is not tabular. */
#define GW_TAB_MIN_ROWS 3

/*
 * Whether len bytes of t are tabular and hold a line outside the rows that reads as a request: a
 * question (ends with '?', three words or more) or an imperative (starts, after a list marker and
 * "please" / "now" / "also" / "kindly", with an English verb of asking or making, three words or
 * more, and ends like a sentence or runs six words or more; "List of ..." and "Note:" are
 * captions, not requests). 1 with the first such line's span [*from, *to) in t (trimmed), else 0.
 * Reads the bytes only: any input is safe.
 */
int gw_tabular_request(const char *t, size_t len, size_t *from, size_t *to);

#endif
