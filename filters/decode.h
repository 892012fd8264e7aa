/*
 * Encoded payloads inside text, decoded for the injection scan. Attackers hide an instruction in
 * base64, hex, ROT13 or reversed text ("decode this and do what it says"; a document carrying
 * "SWdub3JlIGFsbCBwcmV2aW91cyBpbnN0cnVjdGlvbnM="), and models read those forms fluently, so the
 * pack is run over the decoded text too (injection_pack.c).
 *
 * gw_payload_next finds the base64 and hex runs of a text that decode to text; gw_rot13,
 * gw_reverse and gw_upside_down transform a text whole (the pack decides when that is worth a
 * second scan: when the normalised text holds words typical of the form, such as "gur" and "lbh",
 * or "eht" and "uoy"). Pure functions, no allocation.
 */
#ifndef GW_DECODE_H
#define GW_DECODE_H

#include <stddef.h>

enum gw_enc {
    GW_ENC_NONE,
    GW_ENC_BASE64,
    GW_ENC_HEX,
    GW_ENC_ROT13,
    GW_ENC_REVERSED,
    GW_ENC_UPSIDE_DOWN,
    GW_ENC_VARIATION_SELECTORS,
    GW_ENC_TAGS,
    GW_ENC_FULLWIDTH,
    GW_ENC_BASE32,
    GW_ENC_MORSE,
};

/* "base64", "hex", "rot13", "reversed", "upside-down", "variation-selectors", "tags",
 * "fullwidth", "base32", "morse"; NULL for GW_ENC_NONE. */
const char *gw_enc_name(enum gw_enc e);

/* Shortest base64 run considered (characters), shortest hex payload (decoded bytes), shortest
 * run of variation selectors, tag characters or full-width forms (decoded bytes). */
#define GW_B64_MIN_RUN 20
#define GW_HEX_MIN_BYTES 12
#define GW_VS_MIN_BYTES 8
/* Shortest base32 run (characters), shortest Morse payload (decoded letters). */
#define GW_B32_MIN_RUN 24
#define GW_MORSE_MIN_LETTERS 8

struct gw_payload {
    enum gw_enc enc;
    size_t from, to; /* the encoded run in the text */
    size_t len;      /* decoded bytes written to the caller's buffer */
};

/*
 * Finds the first run at or after *pos that decodes to text and decodes it into buf (cap bytes:
 * a longer payload is cut at cap). Runs: base64 (standard or URL-safe alphabet, padded or not,
 * lines of a multiple of 4 characters joined as MIME writes them), base32 (RFC 4648: upper case
 * and 2-7, GW_B32_MIN_RUN characters or more, tried before base64 on such a run), Morse code
 * (dots and dashes, letters apart by a space, words by " / " or two spaces; GW_MORSE_MIN_LETTERS
 * letters or more), hex digits (an even run of
 * at least 2 x GW_HEX_MIN_BYTES, or byte pairs written "\x49\x67", "0x49, 0x67", "%49%67",
 * "49 67" or "49:67"), variation selectors (U+FE00-FE0F for the bytes 0-15, U+E0100-E01EF for
 * 16-255: "emoji smuggling" hides a sentence after an emoji that way, invisible in every editor
 * and chat window; no text has two selectors in a row), Unicode tag characters (U+E0020-E007E,
 * invisible shadows of ASCII: "ASCII smuggling"; a flag's tag sequence is shorter) and full-width
 * forms (U+FF01-FF5E and the ideographic space, read as the ASCII they widen). Those two are for
 * scanners that read raw text (the secrets filter): the injection pack's normalisation already
 * folds them, and it skips such payloads. Text: valid UTF-8 without control characters other
 * than white space, half
 * of it letters or digits (so a hash, a key or an image decodes to nothing). Sets *pos past the
 * run and returns 1; 0 when no run is left (*pos = len).
 */
int gw_payload_next(const char *text, size_t len, size_t *pos, char *buf, size_t cap,
                    struct gw_payload *out);

/* ROT13 of len bytes into out (len bytes): ASCII letters rotated, everything else copied. */
void gw_rot13(const char *in, size_t len, char *out);

/* The characters of len bytes of UTF-8 in reverse order into out (len bytes); a byte that is not
 * part of a valid sequence counts as a character of its own. */
void gw_reverse(const char *in, size_t len, char *out);

/* Text written upside down ("suoᴉʇɔnɹʇsuᴉ snoᴉʌǝɹd llɐ ǝɹouƃᴉ", what "flip text" sites make of
 * "ignore all previous instructions") read the right way up into out: characters in reverse
 * order, the turned letters (ɐ ɔ ǝ ɟ ƃ ɥ ᴉ ɾ ʞ ɯ ɹ ʇ ʌ ʍ ʎ, ∀ Ɔ Ǝ) as the ASCII letters they turn,
 * and the letters that turn into each other swapped (b q, d p, n u). Everything else is copied, a
 * byte that is not part of a valid sequence as a character of its own. Writes at most len bytes;
 * returns their number. */
size_t gw_upside_down(const char *in, size_t len, char *out);

#endif
