/* Unit tests for filters/stray.c: which lines read as tasks for an assistant, where in a message
 * one must stand to be a dropped task, and the span reported. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "filters/stray.h"

/* a receipt: an e-mail header, a body of 10+ content words, a sign-off */
#define HEAD "Subject: Your receipt from Fernwood Books\n"
#define BODY                                                                                       \
    "Hi Marta,\nyour order of two paperbacks was charged to the card ending 4242 and leaves our "  \
    "warehouse on the next working day.\n"
#define SIGN "Kind regards,\nThe Fernwood Books team\n"

static int where; /* gw_stray_task's last answer: 1 before or after a message, GW_STRAY_BODY */

/* The line gw_stray_task finds in t ("" when none). */
static const char *
found(const char *t)
{
    static char line[512];
    size_t from = 99, to = 99;
    if (!(where = gw_stray_task(t, strlen(t), &from, &to)))
        return "";
    assert_true(from < to && to <= strlen(t) && to - from < sizeof(line));
    memcpy(line, t + from, to - from);
    line[to - from] = 0;
    return line;
}

static void
test_dropped_tasks(void **state)
{
    (void)state;
    /* before the header, after the sign-off; trimmed */
    assert_string_equal(found("Describe the lifecycle of a butterfly.\n" HEAD BODY SIGN),
                        "Describe the lifecycle of a butterfly.");
    assert_int_equal(where, 1);
    assert_string_equal(found(HEAD BODY SIGN "  Who wrote the play 'Romeo and Juliet'?  \r\n"),
                        "Who wrote the play 'Romeo and Juliet'?");
    assert_string_equal(found("\n\n  Write a haiku about autumn colours in the rain.\nFrom: HR "
                              "<hr@acme.example>\n" BODY),
                        "Write a haiku about autumn colours in the rain.");
    /* quoted words count, but are not checked for pronouns; "what's"; a quote closing the line */
    assert_string_equal(found(HEAD BODY SIGN "What's 'thank you very much' in Japanese?\n"),
                        "What's 'thank you very much' in Japanese?");
    assert_string_equal(found(HEAD BODY SIGN "Translate the following sentence to French: "
                                             "\"Hello, how are you?\"\n"),
                        "Translate the following sentence to French: \"Hello, how are you?\"");
    /* a request to an assistant: "please", "can you tell me", "how do you say" */
    assert_string_equal(found(HEAD BODY SIGN "Please explain the process of photosynthesis.\n"),
                        "Please explain the process of photosynthesis.");
    assert_string_equal(
        found(HEAD BODY SIGN "Can you show me a Python function for the factorial of a number?\n"),
        "Can you show me a Python function for the factorial of a number?");
    assert_string_equal(found(HEAD BODY SIGN "How do you say 'peace and love' in Russian?\n"),
                        "How do you say 'peace and love' in Russian?");
    /* a mailing's footer instead of a sign-off: "Unsubscribe", "(c)" */
    assert_string_equal(found(BODY "Unsubscribe | Privacy\nList five facts about octopuses.\n"),
                        "List five facts about octopuses.");
    assert_string_equal(found(BODY "\xc2\xa9 2024 Fernwood Books\nName the planets of the solar "
                                   "system by size.\n"),
                        "Name the planets of the solar system by size.");
}

/* Inside a message's body: an order or a question put to an assistant, with a header or greeting
 * before it or a sign-off or footer after it. */
static void
test_body_tasks(void **state)
{
    (void)state;
    assert_string_equal(found(HEAD BODY "Describe the lifecycle of a butterfly.\n" SIGN),
                        "Describe the lifecycle of a butterfly.");
    assert_int_equal(where, GW_STRAY_BODY);
    /* a greeting alone opens the message; a sign-off alone closes it */
    assert_string_equal(found("Hi Marta,\nyour order of two paperbacks was charged to the card.\n"
                              "Develop a speech on the importance of community service.\nIt "
                              "leaves our warehouse on the next working day, tracked.\n"),
                        "Develop a speech on the importance of community service.");
    assert_int_equal(where, GW_STRAY_BODY);
    assert_string_equal(found("your order of two paperbacks was charged to the card ending 4242.\n"
                              "Can you show me a Python function for the factorial of a number?\n"
                              "It leaves our warehouse on the next working day.\n" SIGN),
                        "Can you show me a Python function for the factorial of a number?");
    assert_int_equal(where, GW_STRAY_BODY);
    assert_string_equal(found(HEAD BODY "How do you say 'peace and love' in Russian?\n" SIGN),
                        "How do you say 'peace and love' in Russian?");
    /* a question of another form, or "can you" with a verb people ask each other with: what
     * messages ask their readers */
    assert_string_equal(found(HEAD BODY "Can you recommend a reliable electrician nearby?\n" SIGN),
                        "");
    assert_string_equal(found(HEAD BODY SIGN "Can you recommend a reliable electrician nearby?\n"),
                        "Can you recommend a reliable electrician nearby?");
    assert_string_equal(found(HEAD BODY "Who wrote the play 'Romeo and Juliet'?\n" SIGN), "");
    assert_string_equal(found("Hi Jonas,\nthanks for sending the grant proposal. The budget "
                              "section looks solid and the timeline is realistic.\nWhat is the "
                              "expected impact on regional employment?\nBest, Carla\n"),
                        "");
    /* no header, greeting, sign-off or footer: a document, not a message */
    assert_string_equal(found("Eggs hatch into caterpillars that eat and grow for two weeks.\n"
                              "Describe the lifecycle of a butterfly.\nEach one then forms a "
                              "chrysalis, and an adult emerges ten days later.\n"),
                        "");
    /* the message's own words, its people and its situation, as at its edges */
    assert_string_equal(found(HEAD BODY "Explain how card charges work abroad.\n" SIGN), "");
    assert_string_equal(found(HEAD BODY "Describe the butterfly to your sister.\n" SIGN), "");
    assert_string_equal(found(HEAD BODY "Summarize the thread for the weekly report.\n" SIGN), "");
}

static void
test_message_lines(void **state)
{
    (void)state;
    /* above a greeting: a subject line, a quoted question */
    assert_string_equal(found("Describe the lifecycle of a butterfly.\n" BODY SIGN), "");
    /* last, but no sign-off before it; first, but no header after it */
    assert_string_equal(found(HEAD BODY "Who wrote the play 'Romeo and Juliet'?\n"), "");
    /* two tasks: a quiz, a sheet of instructions */
    assert_string_equal(found("Describe the lifecycle of a butterfly.\n" HEAD BODY SIGN
                              "Explain how glaciers carve valleys.\n"),
                        "");
    /* the message's own words ("charged", "card"), its people and its situation */
    assert_string_equal(found(HEAD BODY SIGN "Explain how card charges work abroad.\n"), "");
    assert_string_equal(found(HEAD BODY SIGN "Explain why the sky is blue to your sister.\n"), "");
    assert_string_equal(found(HEAD BODY SIGN "What is the best way to reach the office?\n"), "");
    assert_string_equal(found("Summarize the thread for the weekly report.\n" HEAD BODY SIGN), "");
    assert_string_equal(found(HEAD BODY SIGN "What time does the ferry leave on Sunday?\n"), "");
    assert_string_equal(found(HEAD BODY SIGN "What should the headline of the blog say?\n"), "");
    /* a request to a person, not a task */
    assert_string_equal(found("Could you review the contract before Friday?\n" HEAD BODY SIGN), "");
    assert_string_equal(found("Can you check the figures once more?\n" HEAD BODY SIGN), "");
    /* not a task line: short, lowercase, two sentences, a label, code, other scripts */
    assert_string_equal(found(HEAD BODY SIGN "Explain photosynthesis.\n"), "");
    assert_string_equal(found(HEAD BODY SIGN "explain the process of photosynthesis.\n"), "");
    assert_string_equal(found(HEAD BODY SIGN "Explain photosynthesis. Then describe the moon.\n"),
                        "");
    assert_string_equal(found(HEAD BODY SIGN "Note: describe the process of photosynthesis.\n"),
                        "");
    assert_string_equal(found(HEAD BODY SIGN "Write the process ID to /run/app.pid on start.\n"),
                        "");
    assert_string_equal(found(HEAD BODY SIGN "Explain the process of photosynth\xc3\xa8se.\n"), "");
    assert_string_equal(found(HEAD BODY SIGN "Describe the \"Linux 2.2 language to the kernel.\n"),
                        "");
    /* too little message to tell what it is about */
    assert_string_equal(found("Subject: Hi\nThanks, Ann\nDescribe the lifecycle of a butterfly.\n"),
                        "");
}

static void
test_any_input(void **state)
{
    (void)state;
    size_t from = 0, to = 0;
    assert_int_equal(gw_stray_task(NULL, 0, &from, &to), 0);
    assert_int_equal(gw_stray_task("Describe the moon.", 18, &from, &to), 0);
    /* a long line, long words, a lone quote, NUL bytes: no match, no overrun */
    char buf[2048];
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "Describe ", 9);
    buf[600] = '\n';
    memcpy(buf + 601, HEAD, strlen(HEAD));
    buf[sizeof(buf) - 1] = '\'';
    buf[1000] = 0;
    assert_int_equal(gw_stray_task(buf, sizeof(buf), &from, &to), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dropped_tasks),
        cmocka_unit_test(test_body_tasks),
        cmocka_unit_test(test_message_lines),
        cmocka_unit_test(test_any_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
