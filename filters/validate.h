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
 * unsecured tokens spelled "None" are still recognised). Also the JWE compact form (RFC 7516):
 * five segments separated by exactly four '.', all but the encrypted key (empty for "dir" and
 * ECDH-ES) non-empty, the header an object with string members "alg" and "enc". Returns 1 valid,
 * 0 invalid. */
int gw_valid_jwt(const char *s, size_t n);

/* ---- Dates and e-mail ------------------------------------------------------------------------ */

/* A calendar date as people write dates of birth. Years 1900-2099 only; the day must exist in
 * that month of that year (29 February in leap years only). Numeric forms, day and month of one
 * or two digits, the same separator twice:
 *  - year first: YYYY-M-D, YYYY/M/D, YYYY.M.D;
 *  - year last: D/M/YYYY, D-M-YYYY, D.M.YYYY, and M/D/YYYY, M-D-YYYY: with '/' and '-' the date
 *    is valid when either reading (day-month or month-day) is a real date; with '.' only the
 *    day-month reading counts.
 * Textual forms, English month names or their first three letters ("Sept" too), any case, an
 * abbreviation optionally followed by '.', one or more spaces between the parts:
 *  - day first: "31 January 1990", "31 Jan 1990", "31st of January, 1990": the day may carry an
 *    ordinal suffix (st, nd, rd or th, any case; which one is not checked), " of" may follow the
 *    suffix, and a ',' may follow the month; also "31-Jan-1990" and "31-January-1990" ('-' on
 *    both sides, no suffix, no '.');
 *  - month first: "January 31, 1990", "Jan. 31st 1990": suffix allowed, ',' optional.
 * At most 64 bytes. Two-digit years and weekday names are not accepted. Returns 1 valid, 0
 * invalid. */
int gw_valid_date(const char *s, size_t n);

/* E-mail address local@domain, at most 254 bytes, exactly one '@'. Local part: 1-64 bytes of
 * letters, digits, the RFC 5322 atext symbols !#$%&'*+-/=?^_`{|}~ and dots, no dot first, last or
 * twice in a row (no quoted local parts). Domain: at least two labels separated by single dots,
 * each 1-63 of [A-Za-z0-9-] neither starting nor ending with '-'; the last label (TLD) is 2-24
 * letters or an IDNA label "xn--" followed by letters, digits and '-' (any case). A TLD that is
 * a common file name extension and no real TLD (png, jpg, gif, svg, js, ts, json, yaml, txt,
 * html, css, po, header, xml, csv, pdf, exe, ...: see not_tld in validate.c) is rejected, so that
 * icon@2x.png and gettext's ca@valencia.po are not addresses. A trailing dot is rejected (the end
 * of a sentence is not part of the address). Returns 1 valid, 0 invalid. */
int gw_valid_email(const char *s, size_t n);

/* ---- National identifiers and tax numbers -------------------------------------------------
 * Unless a function says otherwise: letters must be upper case; "grouped g1-g2-..." means the
 * digits written either without separators or with exactly one of the named separators at every
 * group boundary, the same one each time; nothing else may stand around or between them. All of
 * them return 1 valid, 0 invalid. */

/* UK NHS number: 10 digits, grouped 3-3-4 by ' ' or '-'. Weights 10, 9, ..., 2 on the first nine
 * digits; check = 11 - (sum mod 11), 11 becomes 0, 10 means no valid number; it must equal the
 * tenth digit. Ten equal digits are rejected. */
int gw_valid_uk_nhs(const char *s, size_t n);

/* UK National Insurance number: two prefix letters, six digits, a suffix letter A-D, as in
 * "AB123456C"; a single space may stand at any of the boundaries "AB 12 34 56 C" (so
 * "AB 123456 C" too). HMRC rules: the first letter is not D, F, I, Q, U or V, the second not D,
 * F, I, O, Q, U or V, and the prefixes BG, GB, KN, NK, NT, TN and ZZ are not allocated. There is
 * no check digit. */
int gw_valid_uk_nino(const char *s, size_t n);

/* Spanish NIF of a person: DNI, 8 digits and a control letter ("12345678Z"), or NIE, X, Y or Z,
 * 7 digits and a control letter ("X1234567L"; X, Y, Z count as a leading 0, 1, 2). A '-' may
 * follow the NIE letter, and one '-' or ' ' may precede the control letter. The letter is
 * "TRWAGMYFPDXBNJZSQVHLCKE"[number mod 23]. Numbers whose digits are all the same (the placeholder
 * 11111111H) are rejected. Company NIFs (CIF) and the K/L/M forms are not accepted. */
int gw_valid_es_nif(const char *s, size_t n);

/* Italian codice fiscale of a person: 16 characters, LLLLLL YY M DD Z NNN C without spaces:
 * six letters, year, month letter (A B C D E H L M P R S T), day (01-31, women 41-71; the day
 * must exist in that month, 29 February only when the year is a multiple of 4), a municipality
 * letter (A-M, or Z for a foreign country), three digits, check letter. Omocodia: any of the
 * seven digits may be replaced by L M N P Q R S T U V (for 0-9). Check letter: characters in odd
 * positions (1st, 3rd, ...) count by the table 1 0 5 7 9 13 15 17 19 21 2 4 18 20 11 3 6 8 12 14
 * 16 10 22 25 24 23 (for A..Z, digits as A..J), even positions by value (0-9, A-Z = 0-25); the
 * sum mod 26 as a letter A-Z. Eleven-digit company codes are not accepted. */
int gw_valid_it_fiscal_code(const char *s, size_t n);

/* Italian partita IVA: 11 digits (7-digit number, 3-digit office code, check digit), optionally
 * after "IT" and an optional ' ' (the EU VAT form "IT 12345678903"). The check digit is Luhn's over
 * the eleven digits: digits in odd places count as they are, those in even places doubled less 9
 * when over 9. All zeros is rejected. The office code is not checked against the offices'
 * list. */
int gw_valid_it_vat(const char *s, size_t n);

/* Polish PESEL: 11 digits YYMMDDZZZXQ, no separators. The month carries the century (1-12:
 * 1900s, 21-32: 2000s, 41-52: 2100s, 61-72: 2200s, 81-92: 1800s) and the date must exist.
 * Weights 1 3 7 9 1 3 7 9 1 3; check = (10 - sum mod 10) mod 10. */
int gw_valid_pl_pesel(const char *s, size_t n);

/* Finnish henkilötunnus (HETU): DDMMYY C ZZZ Q, 11 characters. Century sign C: '+' 1800s; '-'
 * and (since 2023) U V W X Y 1900s; A and (since 2023) B C D E F 2000s. The date must exist;
 * the individual number ZZZ is 002-999 (900-999: temporary numbers). Q is
 * "0123456789ABCDEFHJKLMNPRSTUVWXY"[DDMMYYZZZ mod 31]. */
int gw_valid_fi_hetu(const char *s, size_t n);

/* Dutch BSN (burgerservicenummer): 9 digits, compact or grouped 4-2-3 or 3-3-3 by '.' or ' '.
 * 11-proof: 9*d1 + 8*d2 + ... + 2*d8 - d9 is a multiple of 11. Nine equal digits are
 * rejected. */
int gw_valid_nl_bsn(const char *s, size_t n);

/* French NIR (numéro de sécurité sociale): 15 characters S YY MM DD CCC OOO KK: sex 1 or 2,
 * year, month 01-12 or 20-99 (INSEE's pseudo-months for incomplete civil status), department
 * 01-99 or 2A / 2B (Corsica), commune, order 001-999, key 01-97. One space may stand at any of
 * the boundaries of "1 85 05 78 006 084 36". Key = 97 - (the 13-digit number mod 97), with 2A
 * read as 19 and 2B as 18. */
int gw_valid_fr_nir(const char *s, size_t n);

/* German Steueridentifikationsnummer: 11 digits, grouped 2-3-3-3 by ' ', first digit not 0. In
 * the first ten digits exactly one digit occurs more than once, twice or three times, and a digit
 * that occurs three times does not fill three adjacent places. Check digit: ISO 7064 MOD 11,10
 * (p = 10; per digit: s = (d + p) mod 10, 0 read as 10, p = 2s mod 11; check = (11 - p) mod
 * 10). */
int gw_valid_de_tax_id(const char *s, size_t n);

/* German VAT identification number (USt-IdNr.): "DE", an optional ' ', 9 digits, grouped 3-3-3 by
 * ' ' ("DE 123 456 788"); the ninth is the ISO 7064 MOD 11,10 check digit of the first eight (as
 * for the Steuer-ID above). */
int gw_valid_de_vat(const char *s, size_t n);

/* German Steuernummer (tax number of a tax office's register), which has no published check
 * digit, so this is structure only: the forms the states write, grouped by '/' as FF/BBB/UUUUP
 * (2-3-5), FFF/BBB/UUUUP (3-3-5), FFF/BBBB/UUUP (3-4-4) or FFBBB/UUUUP (5-5), or by ' ' as 2-3-5
 * and 3-3-5 (Bremen, Hessen, Schleswig-Holstein), or those 10 or 11 digits without separators; or
 * the 13-digit nationwide (ELSTER) form, a 4-digit tax office number whose first digit or two
 * name the state (1 to 2 digits: 10, 11, 21-24, 26-28, 30-32, 40, 41, 5 or 9), a 0, then the
 * 8-digit district and number. All zeros is rejected. */
int gw_valid_de_stnr(const char *s, size_t n);

/* German pension insurance number (Sozial- / Rentenversicherungsnummer), 12 characters AA DDMMYY
 * L SS C: area number of the pension insurer (02-04, 08-21, 23-26, 28, 29, 38-40, 42-82, 89), birth
 * date DDMMYY (it must exist; with a two-digit year, 29 February when YY is a multiple of 4), the
 * initial of the birth name (upper case), a serial and the check digit; one space may stand after
 * the area, the date, the letter and the serial ("12 150385 M 01 4"). Check digit: the letter is
 * replaced by its two-digit place in the alphabet (A = 01, Z = 26), the twelve digits weighted 2
 * 1 2 5 7 1 2 1 2 1 2 1, the digits of each product added up, the total mod 10. */
int gw_valid_de_svnr(const char *s, size_t n);

/* Indian Aadhaar number: 12 digits, grouped 4-4-4 by ' ' or '-', first digit 2-9, not a
 * palindrome; the last digit is the Verhoeff check digit of the first eleven. */
int gw_valid_in_aadhaar(const char *s, size_t n);

/* Indian PAN: AAAAA9999A, ten characters: three letters, the holder type (A B C F G H J K L P T:
 * association, body of individuals, company, firm, government, HUF, juridical person, krish,
 * local authority, person, trust), a letter, four digits not 0000, a letter. There is no public
 * check algorithm, so this is structure only. */
int gw_valid_in_pan(const char *s, size_t n);

/* Indian GSTIN (GST identification number), 15 characters: state code 01-38, 97 (other
 * territory) or 99 (centre jurisdiction), the holder's PAN (valid by gw_valid_in_pan), the
 * registration's number for that PAN in the state (1-9, then A-Z), a letter (Z today), and a
 * check character: over the first fourteen, with 0-9 = 0-9 and A-Z = 10-35, each value times 1
 * and 2 alternately from the left, the quotient and remainder of each product by 36 added up;
 * the check is (36 - sum mod 36) mod 36 as a character. Upper case only. */
int gw_valid_in_gstin(const char *s, size_t n);

/* Singapore NRIC / FIN: S, T, F, G or M, seven digits, check letter. Weights 2 7 6 5 4 3 2; add 4
 * for T and G, 3 for M; r = sum mod 11; the letter is "JZIHGFEDCBA"[r] for S and T,
 * "XWUTRQPNMLK"[r] for F and G, "XWUTRQPNJLK"[r] for M. */
int gw_valid_sg_nric(const char *s, size_t n);

/* Australian Business Number: 11 digits, grouped 2-3-3-3 by ' '. Subtract 1 from the first
 * digit, weights 10 1 3 5 7 9 11 13 15 17 19: the sum is a multiple of 89. The first two digits
 * (the check digits) are 11-99: the ATO never issues 10, which would stand for the same remainder
 * as 99. */
int gw_valid_au_abn(const char *s, size_t n);

/* Australian Tax File Number: 9 digits grouped 3-3-3, or 8 digits grouped 3-3-2, by ' ' or '-'.
 * The weighted sum is a multiple of 11: weights 1 4 3 7 5 8 6 9 10 (9 digits), 10 7 8 4 6 3 5 1
 * (8 digits, older numbers). All-zero numbers are rejected. */
int gw_valid_au_tfn(const char *s, size_t n);

/* Australian Medicare card number: 10 digits (8-digit identifier starting 2-6, check digit, issue
 * number), optionally an 11th, the individual reference number 1-9; grouped 4-5-1 (or 4-5-1-1)
 * by ' ' or '-'. Check digit = (weights 1 3 7 9 1 3 7 9 on the first eight) mod 10. */
int gw_valid_au_medicare(const char *s, size_t n);

/* US ITIN: 9XX-GG-SSSS, grouped 3-2-4 by '-' or ' '; the group GG is 50-65, 70-88, 90-92 or
 * 94-99 (the ranges the IRS issues); serial not 0000. No check digit. */
int gw_valid_us_itin(const char *s, size_t n);

/* US ABA routing transit number: 9 digits, no separators; the first two are 01-12, 21-32, 61-72
 * or 80 (Federal Reserve districts, thrifts, electronic, traveller's cheques); 3*(d1+d4+d7) +
 * 7*(d2+d5+d8) + (d3+d6+d9) is a multiple of 10. Nine equal digits are rejected. */
int gw_valid_us_aba(const char *s, size_t n);

/* South Korean resident registration number: YYMMDD-SNNNNNC, 13 digits, the '-' optional. S
 * gives the century (1, 2, 5, 6: 1900s; 3, 4, 7, 8: 2000s; 9, 0: 1800s) and the date must exist.
 * Check digit with weights 2-9, 2-5 on the first twelve: (11 - sum mod 11) mod 10 for citizens,
 * (13 - sum mod 11) mod 10 for foreigners (S = 5-8). Numbers issued since October 2020 have
 * random last six digits and no check digit: for birth dates from 2020-10-01 on the check digit
 * is not required (a person born earlier kept the old-style number). */
int gw_valid_kr_rrn(const char *s, size_t n);

/* South Korean business registration number: 10 digits, grouped 3-2-5 by '-' ("124-81-00998").
 * Weights 1 3 7 1 3 7 1 3 5 on the first nine digits, plus the tens of 5 times the ninth; check =
 * (10 - sum mod 10) mod 10. All zeros is rejected. */
int gw_valid_kr_brn(const char *s, size_t n);

/* Canadian Social Insurance Number: 9 digits, grouped 3-3-3 by ' ' or '-', Luhn, first digit not
 * 0 (unused) or 8 (business numbers). */
int gw_valid_ca_sin(const char *s, size_t n);

/* Brazilian CPF: 11 digits, compact or written "ddd.ddd.ddd-dd". Two check digits: the first is
 * (10*d1 + 9*d2 + ... + 2*d9) * 10 mod 11 mod 10, the second (11*d1 + ... + 2*d10) * 10 mod 11
 * mod 10. Eleven equal digits are rejected. */
int gw_valid_br_cpf(const char *s, size_t n);

/* Chinese resident identity card number: 18 characters, no separators: 6-digit region (first
 * digit 1-8), birth date YYYYMMDD (1900-2099, must exist), 3-digit order, check character 0-9 or
 * X (either case): ISO 7064 MOD 11-2, weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2, check =
 * "10X98765432"[sum mod 11]. The old 15-digit numbers have no check and are not accepted. */
int gw_valid_cn_resident_id(const char *s, size_t n);

/* Swedish personnummer: YYMMDD-NNNC ('-', or '+' for people aged 100 or more), YYYYMMDD-NNNC,
 * or either without the separator (10 or 12 digits). The day may be 61-91 (samordningsnummer:
 * day + 60). The date must exist (with a two-digit year, 29 February is allowed when YY is a
 * multiple of 4); a four-digit year is 1800-2099. The last ten digits pass Luhn. */
int gw_valid_se_personnummer(const char *s, size_t n);

/* Norwegian fødselsnummer: 11 digits DDMMYYIIIKK, optionally a ' ' after DDMMYY. D-numbers (day
 * + 40) and H-numbers (month + 40) are accepted. The century comes from the individual number:
 * 000-499 1900s; 500-749 with YY >= 54 1800s; 500-999 with YY < 40 2000s; 900-999 with YY >= 40
 * 1900s; the date must exist. K1 = 11 - (3 7 6 1 8 9 4 5 2 . first nine) mod 11, K2 = 11 -
 * (5 4 3 2 7 6 5 4 3 2 . first ten) mod 11, 11 read as 0, 10 invalid. */
int gw_valid_no_fnr(const char *s, size_t n);

/* Turkish identity number (T.C. Kimlik No): 11 digits, no separators, the first not 0. With the
 * digits d1..d11: d10 = (7 * (d1 + d3 + d5 + d7 + d9) - (d2 + d4 + d6 + d8)) mod 10 (taken
 * non-negative), d11 = (d1 + ... + d10) mod 10. */
int gw_valid_tr_tckn(const char *s, size_t n);

/* South African identity number: 13 digits YYMMDD SSSS C A Z, grouped 6-4-3 by ' ' or compact.
 * The birth date must exist (with a two-digit year, 29 February when YY is a multiple of 4), C
 * (citizen 0, permanent resident 1) is 0 or 1, and the 13 digits pass Luhn. A is not checked. */
int gw_valid_za_id(const char *s, size_t n);

/* Thai national identification number: 13 digits, grouped 1-4-5-2-1 by '-' or ' ', as in
 * "1-1017-00203-11-5", or compact; the first digit is the person category, 0-8. Check digit =
 * (11 - (13 * d1 + 12 * d2 + ... + 2 * d12) mod 11) mod 10. */
int gw_valid_th_tnin(const char *s, size_t n);

/* Second line of a passport's machine-readable zone (ICAO 9303 TD3), 44 characters of [A-Z0-9<]:
 * document number (9) and its check digit, nationality (3 letters or '<'), birth date YYMMDD
 * and check digit, sex (M, F, X or '<'), expiry YYMMDD and check digit, optional data (14) and
 * its check digit ('<' or 0 when the data is empty), and the composite check digit over the
 * document number, birth and expiry fields and optional data with their check digits. Check
 * digits: weights 7 3 1 repeated, digits by value, A-Z = 10-35, '<' = 0, sum mod 10. Month
 * 01-12 and day 01-31 in both dates. The line may come with the end of line 1 before it, "<\n"
 * or "<\r\n" (line 1 ends in filler), so that a rule can anchor on that line break. */
int gw_valid_mrz_td3(const char *s, size_t n);

/* German identity card (Personalausweis) number, the cards issued since November 2010: 9
 * characters of C F G H J K L M N P R T V W X Y Z and 0-9, the first a letter, as in "L01X00T47";
 * optionally followed by its check digit as the card's machine-readable zone prints it (ICAO
 * 9303: weights 7 3 1, A-Z = 10-35, sum mod 10): "L01X00T471". Upper case only. */
int gw_valid_de_id_card(const char *s, size_t n);

/* A validator by the name rule files use ("luhn", "card", "iban", "ssn", "ipv4", "ipv6", "phone",
 * "jwt", "date", "email", and the identifiers above by their suffix: "uk_nhs", "es_nif", ...), or
 * NULL for an unknown name. gw_validator_names writes the known names, separated
 * by ", ", into out (truncated to cap) and returns the length it needed. */
typedef int (*gw_validator)(const char *s, size_t n);
gw_validator gw_validator_find(const char *name);
size_t gw_validator_names(char *out, size_t cap);

#endif
