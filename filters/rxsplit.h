/*
 * Splitting a Hyperscan pattern at its top-level gaps, so that a rule pack compiles in seconds.
 *
 * Hyperscan compiles `A.{0,60}B`, with A and B two large alternations, into an automaton that
 * tracks every position of the gap after every way A can end: one such rule of the shipped pack
 * took 12 s of CPU to compile, A and B alone 0.08 s. The injection pack therefore compiles the
 * pieces of a pattern as separate expressions and puts the gaps back while scoring (from the
 * match ends Hyperscan reports; injection_pack.c).
 *
 * gw_rx_split reads a pattern as branches (its top-level alternatives, after dropping parentheses
 * that enclose the whole pattern or a whole branch) and every branch as pieces separated by
 * top-level gaps `.{m,n}` (a lazy `.{m,n}?` too: the set of matches is the same). Nothing else is
 * interpreted: a gap inside parentheses stays in its piece. A pattern that switches an option
 * inline (`(?i)`, `(?s:...)`...) or quotes with \Q...\E is one piece: its pieces could not be
 * compiled alone with the same meaning.
 */
#ifndef GW_RXSPLIT_H
#define GW_RXSPLIT_H

#include <stddef.h>

struct gw_rx_piece {
    size_t off, len;           /* the piece's bytes in the pattern (never empty) */
    unsigned gap_min, gap_max; /* the gap before the piece: `.{gap_min,gap_max}`; 0, 0 first */
    int first;                 /* 1: the first piece of a branch */
};

/*
 * Splits the len bytes of pat into at most cap pieces in out, branch after branch. Returns the
 * number of pieces, or 0 when the pattern is not split: unbalanced brackets, an empty branch or
 * piece, an inline option or \Q, more than cap pieces, or a single piece (the caller then compiles
 * pat as it is). A gap bound above 65535 (Hyperscan's own limit) is not a gap.
 */
size_t gw_rx_split(const char *pat, size_t len, struct gw_rx_piece *out, size_t cap);

/*
 * A `\b` right next to a byte outside ASCII in pattern x: without HS_FLAG_UCP word boundaries
 * are ASCII (patterns match bytes), so a `\b` there never matches -- `\bпароль` after a space,
 * Azerbaijani "kimə\b" (which stays outside ASCII after the injection pack's accent folding,
 * where "kenellekään\b" becomes ASCII). Returns the offset of that character's first byte (*len
 * its length in bytes), or -1 when there is none. A `\b` inside [...] (a backspace) is not told
 * apart: next to a non-ASCII byte it is reported too.
 */
long gw_rx_dead_boundary(const char *x, int *len);

#endif
