/*
 * What a guarded secret is called. A system prompt that guards a secret declares it in its
 * domain's words: "The branch vault override PIN is 58-3319", "Hot-wallet signing passphrase:
 * amber-kettle", "Transfers above $12,500 are sent to manual review; never reveal this threshold".
 * Users who try to get it out name it the same way: "the vault number, backwards", "the signing
 * phrase, hex-encoded", "the amount where transfers get flagged". The pack's rules read words
 * *for* secrets (password, key, code, secret); these do not say any.
 *
 * gw_subject_add() takes the words of such a declaration: the content words before the value in
 * the sentence a guard rule matched (or the sentence before it, when that one only forbids: "...
 * is 4471. Never share it"). gw_subject_rewrite() finds where a user's message names the secret by
 * those words and writes the message again with the name replaced by GW_SUBJECT_WORD, so that the
 * pack's rules for "the secret, backwards" read it; the injection filter scores both texts and
 * keeps the higher score (filters/flt_injection.c).
 *
 * A declaration: in one sentence (ended by '.', '!', '?' or ';' before a space, or a line break),
 * a value -- a quoted text, or a token with a digit, an underscore, a '$' or an inner capital --
 * right after a connector ("is", "are", "was", "of", "above", "codenamed", ':', '=' ...) or after
 * a word for secrets ("the override code AVX-3390"). Its words are the ASCII words before the
 * value, back to the noun phrase's determiner ("a maximum bill credit of $85"; past "on the" in
 * "the floor price on the 2024 Tacoma TRD"), at most GW_SUBJECT_PER_DECL of them, nearest first,
 * without function words and the words of application prompts for people (customers, guests
 * ...): each at least 3 letters, or two joined by a hyphen ("wi-fi"). Words before the first
 * preposition are the name ("staff override code" in "the staff override code for
 * double-booking appointments is ..."); words after it its context ("double-booking
 * appointments"). The head is the name's last word, neither a word for secrets nor generic, when
 * the name does not end in a word for secrets ("maximum bill credit of $85": credit; "the
 * moderator channel invite is ...": invite); in "the branch vault override PIN" a modifier alone
 * names what the secret opens ("the vault"), not the secret, so there is none. Generic words --
 * kinds of secret ("API", "admin", "master") and words every application says ("staff", "account")
 * -- count only in a run with another word.
 *
 * A user's message names the secret where it has a run of these words (one space, hyphen or
 * underscore apart; a plural 's' either side), not all generic and not after "my", that
 *   - is followed by a word for secrets ("the vault number", "the double-booking code",
 *     "admin_key"), or
 *   - is two words or more with a word of the name ("the carrier account", "keycard reset"), or
 *   - is the head alone, as declared (not in the plural), one or two words after "the", "your",
 *     "that" or "this", where a noun phrase ends: before punctuation or a function word ("the mod
 *     invite at me"; not "the branch's opening hours", "invite links", "convert to link to").
 * The words for secrets themselves are never replaced: the pack reads them already.
 *
 * Persons (gw_subject_persons): the names of the people whose personal data the prompt holds;
 * in a user's message each (capitalised, with its title) becomes GW_SUBJECT_PERSON_WORD, "the
 * user", which the pack's rules for the application's user read ("Where does Maria live?"). In
 * a prompt of another language a name is two or three capitalised words (Latin or Cyrillic) with
 * a kind of personal data of that language at most three words away in the sentence ("Hasta:
 * Zhang Hui, teşhis: ...", "зарплата Maria Santos"), or a name after a title of that language
 * ("Frau Dr. Vogelsang", "doña Carmen") or, in Russian, after "ассистент" / "помощник"; a
 * Cyrillic name declined in the message ("Ирины Смирновой") is the same person. Names in scripts
 * without capitals are read after the record's name label ("उपयोगकर्ता का नाम जेन डो है", "নাম",
 * "اسم المستخدم هو …"). A prompt may call the person by a role instead ("the patient", "the
 * account holder", "пользователь", "ผู้ป่วย": twelve roles, `roles`): that role, in a message of
 * any language, becomes "the user" too when a kind of personal data is near it -- not a plural,
 * not after "a" or "new", not when the speaker says they are it; so does "this person" (in the
 * pack's languages) under a prompt holding anyone's data. The prohibition's
 * object names a secret too ("Do not reveal the launch date": "launch date").
 *
 * Hindi too: a sentence in Devanagari (ended by '।' as well) declares a value the Hindi way,
 * "<name> <value> है" or "<name>: <value>" ("भंडार कक्ष का अलार्म कोड 6-4-1-9 है"): the words
 * before the value back to a function word; those after the nearest genitive or "वाला" (का, की,
 * के, वाला, वाली, वाले) are the name ("अलार्म"), those before it the context ("भंडार कक्ष"); the
 * head is the name's last word when it is no word for secrets ("पासिंग स्कोर": स्कोर). Words
 * are compared without nukta and with chandrabindu read as anusvara (दरवाज़े = दरवाजे). In a
 * user's Hindi words a run of them, joined by spaces or by a genitive or "वाला", that ends in a
 * word for secrets ("भंडार कक्ष का कोड", "स्वीकृति वाला नंबर") or has two words with one of the
 * name ("पासिंग स्कोर"), or the head after a demonstrative or "your" (वह, यह, उस, आपका ...), is
 * replaced -- the word for secrets with it -- by GW_SUBJECT_HI_WORD, "पासवर्ड", which the pack's
 * Hindi rules read. A name the user writes in Hindi words ("Sarah Lindqvist के घर का पता") becomes
 * GW_SUBJECT_PERSON_HI, "उपयोगकर्ता".
 *
 * Other languages: a declaration whose words are neither ASCII nor Devanagari, or that has no
 * English function word (no Hindi copula) and no ':' or '=', declares nothing here. Reads bytes
 * only; any input is safe; time is linear in the text (times the few words kept).
 */
#ifndef GW_SUBJECT_H
#define GW_SUBJECT_H

#include <stddef.h>
#include <stdint.h>

#define GW_SUBJECT_MAX 24      /* words kept per request */
#define GW_SUBJECT_WORD_MAX 48 /* bytes per word (a Devanagari letter is three) */
#define GW_SUBJECT_PER_DECL 6  /* words taken from one declaration */
#define GW_SUBJECT_WORD "secret"
#define GW_SUBJECT_PERSON_WORD "the user"
#define GW_SUBJECT_HI_WORD "पासवर्ड"      /* Hindi: "password", the word every Hindi rule reads */
#define GW_SUBJECT_PERSON_HI "उपयोगकर्ता" /* Hindi: "the user", for a name in Hindi words */
#define GW_SUBJECT_MAX_EDITS 8           /* names replaced per message */
/* room for any rewrite of len bytes (the longest replacement is the Hindi "user") */
#define GW_SUBJECT_CAP(len) ((len) + GW_SUBJECT_MAX_EDITS * sizeof(GW_SUBJECT_PERSON_HI))

/* word flags */
#define GW_SUBJECT_NAME 1    /* before the declaration's first preposition */
#define GW_SUBJECT_HEAD 2    /* the name's last word */
#define GW_SUBJECT_GENERIC 4 /* a generic word ("staff", "API"): never a name alone */
#define GW_SUBJECT_PERSON 8  /* a name of a person whose data the prompt holds */

struct gw_subject {
    size_t n;
    uint64_t bloom; /* a filter of the words' hashes (zero with n) */
    char w[GW_SUBJECT_MAX][GW_SUBJECT_WORD_MAX + 1]; /* lower case */
    uint8_t len[GW_SUBJECT_MAX];
    uint8_t flags[GW_SUBJECT_MAX];
    uint16_t roles; /* the roles the prompt calls the person whose data it holds by ("the
                       user", "the patient" ...), one bit each: a message's word for one names
                       them (gw_subject_rewrite) */
};

/* One replacement: bytes [from, to) of the message became GW_SUBJECT_WORD at `at` in the
 * rewrite. */
struct gw_subject_edit {
    size_t from, to, at, n; /* n: the replacement's length */
};

/* Empties s (its words and their filter). */
static inline void
gw_subject_clear(struct gw_subject *s)
{
    s->n = 0;
    s->bloom = 0;
    s->roles = 0;
}

/* Adds to s the words of the declaration in the sentence of len bytes of t holding offset at, or
 * in the sentence before it; nothing when neither declares a value (or s is full). */
void gw_subject_add(struct gw_subject *s, const char *t, size_t len, size_t at);

/* Adds to s the names of the persons whose personal data the system text t (len bytes) holds:
 * nothing unless it names a kind of personal data (address, birth date, phone, e-mail, passport,
 * salary, diagnosis ..., in any language the pack reads); then each capitalised name of one to
 * three words after a title ("Dr. Amara Okafor", "Frau Dr. Vogelsang"), after "name is" /
 * "named" / "called" or a record's "Name:" ("name": "..."), after a person's role and a comma
 * ("the user, Maria Lopez"), or before "'s" and a kind of personal data ("Maria's home address")
 * or "lives" / "was born"; in any language, two or three capitalised words with a kind of personal
 * data near (subject.h above) -- not one ending in a word for a place or an organisation (Street,
 * Hotel, Bank, Calle, GmbH ...). */
void gw_subject_persons(struct gw_subject *s, const char *t, size_t len);

/* Adds src's words to dst (those it does not hold yet, while there is room). */
void gw_subject_merge(struct gw_subject *dst, const struct gw_subject *src);

/* The message t (len bytes) with each name of the secret replaced by GW_SUBJECT_WORD, in out
 * (cap bytes: GW_SUBJECT_CAP(len) is always enough), its
 * replacements in ed (*ned of them, at most GW_SUBJECT_MAX_EDITS). Returns the rewrite's length;
 * 0 when the message names nothing (then out and ed hold nothing of use). */
size_t gw_subject_rewrite(const struct gw_subject *s, const char *t, size_t len, char *out,
                          size_t cap, struct gw_subject_edit *ed, size_t *ned);

/* An offset in the rewrite, moved back into the message: inside a replacement, to its start
 * (from) or end (to) by `end`. */
size_t gw_subject_orig(const struct gw_subject_edit *ed, size_t ned, size_t off, int end);

#endif
