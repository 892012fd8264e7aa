/*
 * Validators for the secret/PII scanner. Hyperscan finds candidates with loose regexes; these
 * checks confirm a candidate (checksum, registry length, reserved ranges) before it is redacted, so
 * that "order 4111 1111 1111 1112" or "1.2.3.999" is left alone.
 *
 * Every function takes a pointer and a length: the text is not NUL-terminated and may hold any
 * bytes. They read only s[0..n), never allocate, keep no state and are safe to call from any
 * thread. s may be NULL when n is 0. The whole candidate must match: no leading or trailing white
 * space or punctuation is skipped beyond the separators each function names.
 */
#ifndef GW_VALIDATE_H
#define GW_VALIDATE_H

#include <stddef.h>

/* Luhn (mod 10) check over the decimal digits of s; spaces and '-' are skipped wherever they
 * are, any other byte makes it invalid. Needs at least 2 digits. Returns 1 valid, 0 invalid. */
int gw_valid_luhn(const char *s, size_t n);

enum gw_card_brand {
    GW_CARD_NONE = 0,
    GW_CARD_VISA,       /* 4; 13, 16 or 19 digits */
    GW_CARD_MASTERCARD, /* 51-55, 2221-2720; 16 */
    GW_CARD_AMEX,       /* 34, 37; 15 */
    GW_CARD_DISCOVER,   /* 6011, 644-649, 65, 622126-622925; 16-19 */
    GW_CARD_JCB,        /* 3528-3589; 16-19 */
    GW_CARD_DINERS,     /* 300-305, 36, 38-39; 14-19 */
    GW_CARD_UNIONPAY,   /* 62 outside the Discover range; 16-19 */
    GW_CARD_MAESTRO,    /* 50, 56-58, any other 6; 12-19 */
};

/* Payment card number: 12-19 digits, spaces and '-' skipped wherever they are (grouping is not
 * checked), any other byte rejects. The brand comes from the prefix alone (the ranges above, most
 * specific first); the length must then be one of that brand's, the Luhn check must pass and the
 * digits must not all be the same. Returns an enum gw_card_brand, GW_CARD_NONE (0) if invalid. */
int gw_valid_card(const char *s, size_t n);

/* IBAN (ISO 13616): spaces skipped wherever they are; two letters of country code and then the
 * rest alphanumeric, both case-insensitive; two check digits in 02..98; the total length must be
 * the one the SWIFT IBAN registry gives for the country (89 countries, registry of 2024; unknown
 * countries are invalid); the mod-97 remainder of the rearranged number must be 1. The national
 * BBAN structure (which positions are letters) is not checked. Returns 1 valid, 0 invalid. */
int gw_valid_iban(const char *s, size_t n);

/* US Social Security number written AAA-GG-SSSS, AAA GG SSSS (one separator used twice) or as 9
 * digits. Area not 000, 666 or 900-999, group not 00, serial not 0000; the advertising and example
 * numbers 078-05-1120, 219-09-9999 and 123-45-6789 and all-same-digit numbers are rejected.
 * Returns 1 valid, 0 invalid. */
int gw_valid_ssn(const char *s, size_t n);

/* Dotted-quad IPv4: exactly 4 decimal parts of 0-255, no sign, no leading zero except "0" itself.
 * Returns 1 valid, 0 invalid. */
int gw_valid_ipv4(const char *s, size_t n);

/* IPv6 text form (RFC 4291 2.2): 8 groups of 1-4 hex digits (either case), or fewer with one "::"
 * standing for at least one zero group, and optionally a dotted-quad IPv4 tail (valid by
 * gw_valid_ipv4) in place of the last two groups. A zone id ("fe80::1%eth0") is rejected, as are
 * brackets and prefix lengths ("/64"): the caller passes the address alone. Returns 1 valid, 0
 * invalid. */
int gw_valid_ipv6(const char *s, size_t n);

/* Telephone number. Separators are space - . ( ) (the NANP forms below are stricter).
 *  - International, E.164: '+', then 8-15 digits whose first is 1-9. With country code 1 the rest
 *    must be a NANP number: 10 digits, area code and exchange both NXX (N = 2-9), area not N11.
 *  - NANP national: "(NXX) NXX-XXXX" (the space after ')' optional, '-', '.' or nothing before
 *    the line), or NXX-NXX-XXXX with the same separator twice: '-', '.', ' ' or none; optionally
 *    after a trunk "1" and one of those separators. Same N and N11 rules.
 * Seven-digit local numbers are not accepted. Fewer than 7 or more than 15 digits is always
 * invalid. Returns 1 valid, 0 invalid. */
int gw_valid_phone(const char *s, size_t n);

/* Shannon entropy of the byte distribution of s in bits per byte: 0.0 for n == 0 or a single
 * repeated byte, 8.0 at most (all 256 values equally often). */
double gw_entropy(const char *s, size_t n);

/* JSON Web Token, JWS compact form: three segments separated by exactly two '.', each made of
 * base64url characters [A-Za-z0-9_-] without '=' padding (RFC 7515) and of a length that can be
 * base64 (not 1 mod 4). The header must be non-empty and decode to a JSON-looking object (first
 * and last non-blank bytes '{' and '}') with an "alg" member whose value is a string; the payload
 * must be non-empty; the signature may be empty only if alg is "none" (compared ignoring case, so
 * unsecured tokens spelled "None" are still recognised). Returns 1 valid, 0 invalid. */
int gw_valid_jwt(const char *s, size_t n);

/* A validator by the name rule files use ("luhn", "card", "iban", "ssn", "ipv4", "ipv6", "phone",
 * "jwt", ...), or NULL for an unknown name. gw_validator_names writes the known names, separated
 * by ", ", into out (truncated to cap) and returns the length it needed. */
typedef int (*gw_validator)(const char *s, size_t n);
gw_validator gw_validator_find(const char *name);
size_t gw_validator_names(char *out, size_t cap);

#endif
