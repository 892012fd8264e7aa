/*
 * A task dropped outside a message: a tool result or retrieved document that is a message (an
 * e-mail with its header, a letter or mailing with its sign-off or footer) with, before its
 * header or after its sign-off, a line that is a task for an assistant and nothing of the message
 * ("Describe the lifecycle of a butterfly." above "Subject: Your receipt", "Who wrote the play
 * 'Romeo and Juliet'?" under "The Mercury Team"). Correspondence asks its reader things inside its
 * body, in its own words; nothing of it comes before its header, and after the sign-off only a
 * P.S. or a disclaimer. The injection pack refers to it with `detector: stray-task`
 * (filters/injection_pack.h).
 *
 * Not read: a task inside the body (indistinguishable, by form and words, from the questions
 * messages ask their readers), and a task above a greeting (a subject line or a quoted customer
 * question reads the same). English only: the tests know English verbs, question words and
 * sign-offs.
 */
#ifndef GW_STRAY_H
#define GW_STRAY_H

#include <stddef.h>

/* Content words (4+ letters, not a function word) the rest of the text must have for its
 * vocabulary to say what the message is about. */
#define GW_STRAY_MIN_CONTEXT 10

/*
 * Whether len bytes of t hold exactly one line that reads as a task for an assistant, and that
 * line is the first non-blank line with an e-mail header after it ("Subject:", "From:", "To:",
 * "Date:", "Cc:", "Sender:"), or the last non-blank line with a sign-off or a mailing's footer
 * ("Best regards", "Thanks", "The Mercury Team", "Unsubscribe", "All rights reserved", "(c)")
 * among the six lines before it; and the rest of the text (GW_STRAY_MIN_CONTEXT content words or
 * more) shares none of the line's content words.
 *
 * A task line: one sentence of 5 to 30 words at the start of a line, beginning with a capital;
 * an imperative of asking an assistant for content or knowledge (write, compose, describe,
 * explain, translate, provide, summarize, list, ... after "please" / "kindly") ending with '.' or
 * '!', or a question ending with '?' that opens with what, who, how, ... or with "can / could /
 * would you" and one of those verbs ("can you tell me"; "could you check the figures" asks a
 * person). It names its own topic: no personal or deictic word outside quotes (I, we, you, your,
 * this, here, attached, below, today, given, ...; "how do you say" is the form of a question to
 * an assistant), no day or month, no "the" before a noun of the message's own situation ("the
 * thread", "the meeting", "the customer"), no modal of a decision (should, must), no code, path,
 * address or markup character, ASCII letters only outside quotes ("What's 'thank you' in
 * Japanese?").
 *
 * 1 with the line's span [*from, *to) in t (trimmed), else 0. Reads the bytes only: any input
 * is safe.
 */
int gw_stray_task(const char *t, size_t len, size_t *from, size_t *to);

#endif
