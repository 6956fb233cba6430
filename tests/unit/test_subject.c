/*  test_subject.c: the subject and filter grammar (subject.h), the reasons
 *  given for each kind of error, and filter matching with '*' and '>'.
 */
#include "subject.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* Asserts text is rejected by validate and the reason contains needle. */
static void
s_assert_rejected(foundry_err (*validate)(const char *, fdy_reason_t *), const char *text,
                  const char *needle)
{
    fdy_reason_t reason = {{0}};
    foundry_err err = validate(text, &reason);
    if (err != FOUNDRY_EINVAL || !strstr(reason.text, needle))
        fail_msg("'%s': got %d reason '%s', want EINVAL with '%s'", text ? text : "(null)",
                 (int) err, reason.text, needle);
}

static void
s_assert_accepted(foundry_err (*validate)(const char *, fdy_reason_t *), const char *text)
{
    fdy_reason_t reason = {{0}};
    foundry_err err = validate(text, &reason);
    if (err != FOUNDRY_OK)
        fail_msg("'%s': rejected: %s", text, reason.text);
}

static void
test_subject_accepts_valid(void **state)
{
    (void) state;
    const char *good[] = {"a", "telemetry.siheung.temp", "A-b_c.9", "x.y.z-1_2", "0", "_", "-"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        s_assert_accepted(fdy_subject_validate, good[i]);
        s_assert_accepted(fdy_filter_validate, good[i]);
    }
    assert_int_equal(fdy_subject_validate("ok.subject", NULL), FOUNDRY_OK);
}

static void
test_subject_rejects_with_reason(void **state)
{
    (void) state;
    s_assert_rejected(fdy_subject_validate, NULL, "missing");
    s_assert_rejected(fdy_subject_validate, "", "empty");
    s_assert_rejected(fdy_subject_validate, ".a", "token 1 is empty");
    s_assert_rejected(fdy_subject_validate, "a.", "token 2 is empty");
    s_assert_rejected(fdy_subject_validate, "a..b", "token 2 is empty (byte 2)");
    s_assert_rejected(fdy_subject_validate, "a.b c", "token 2: invalid character 0x20 at byte 3");
    s_assert_rejected(fdy_subject_validate, "a.b$", "invalid character '$' at byte 3");
    s_assert_rejected(fdy_subject_validate, "caf\xc3\xa9", "0xc3 at byte 3");
    s_assert_rejected(fdy_subject_validate, "a.*", "token 2: wildcard '*' is only allowed in");
    s_assert_rejected(fdy_subject_validate, "a.>", "wildcard '>'");
    assert_int_equal(fdy_subject_validate("a b", NULL), FOUNDRY_EINVAL);
}

static void
test_subject_limits(void **state)
{
    (void) state;
    char text[FOUNDRY_SUBJECT_MAX + 2];
    memset(text, 'a', FOUNDRY_SUBJECT_MAX);
    text[FOUNDRY_SUBJECT_MAX] = '\0';
    s_assert_accepted(fdy_subject_validate, text);
    text[FOUNDRY_SUBJECT_MAX] = 'a';
    text[FOUNDRY_SUBJECT_MAX + 1] = '\0';
    s_assert_rejected(fdy_subject_validate, text, "longer than 255 bytes");
    s_assert_rejected(fdy_filter_validate, text, "filter is longer");

    /* 32 tokens pass, 33 do not. */
    char tokens[128] = "";
    for (int i = 0; i < FDY_SUBJECT_TOKENS_MAX; i++)
        strcat(tokens, i ? ".t" : "t");
    s_assert_accepted(fdy_subject_validate, tokens);
    strcat(tokens, ".t");
    s_assert_rejected(fdy_subject_validate, tokens, "more than 32 tokens");
}

static void
test_filter_grammar(void **state)
{
    (void) state;
    const char *good[] = {"*", ">", "a.*", "a.>", "*.b.>", "*.*", "a.*.c", "telemetry.*.>"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        s_assert_accepted(fdy_filter_validate, good[i]);
    s_assert_rejected(fdy_filter_validate, NULL, "filter is missing");
    s_assert_rejected(fdy_filter_validate, "", "filter is empty");
    s_assert_rejected(fdy_filter_validate, ">.a", "token 1: '>' is only allowed as the last");
    s_assert_rejected(fdy_filter_validate, "a.>.b", "token 2: '>' is only allowed");
    s_assert_rejected(fdy_filter_validate, "a.b*", "token 2: '*' must be a whole token (byte 3)");
    s_assert_rejected(fdy_filter_validate, "a.*b", "'*' must be a whole token");
    s_assert_rejected(fdy_filter_validate, "a.>>", "'>' must be a whole token");
    s_assert_rejected(fdy_filter_validate, "**", "must be a whole token");
    s_assert_rejected(fdy_filter_validate, "a..*", "token 2 is empty");
    s_assert_rejected(fdy_filter_validate, "a.*.", "token 3 is empty");
    s_assert_rejected(fdy_filter_validate, "a.#", "invalid character '#'");
}

static void
test_subject_matches(void **state)
{
    (void) state;
    struct {
        const char *filter, *subject;
        bool match;
    } cases[] = {
        {"a", "a", true},
        {"a", "b", false},
        {"a", "ab", false},
        {"ab", "a", false},
        {"a.b", "a.b", true},
        {"a.b", "a.bc", false},
        {"a.bc", "a.b", false},
        {"a.b", "a", false},
        {"a", "a.b", false},
        {"*", "a", true},
        {"*", "a.b", false},
        {"a.*", "a.b", true},
        {"a.*", "a", false},
        {"a.*", "a.b.c", false},
        {"*.b", "a.b", true},
        {"*.b", "a.c", false},
        {"a.*.c", "a.xyz.c", true},
        {"a.*.c", "a.xyz.d", false},
        {">", "a", true},
        {">", "a.b.c", true},
        {"a.>", "a", false},
        {"a.>", "a.b", true},
        {"a.>", "a.b.c.d", true},
        {"a.>", "b.c", false},
        {"a.>", "ab.c", false},
        {"*.>", "a.b", true},
        {"*.>", "a", false},
        {"telemetry.siheung.>", "telemetry.siheung.temp.1", true},
        {"telemetry.siheung.>", "telemetry.bucheon.temp", false},
        {"telemetry.siheung.>", "telemetry.siheung", false},
        {"telemetry.*.temp", "telemetry.hanam.temp", true},
        {"telemetry.*.temp", "telemetry.hanam.hum", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (fdy_subject_matches(cases[i].filter, cases[i].subject) != cases[i].match)
            fail_msg("filter '%s' subject '%s': want %s", cases[i].filter, cases[i].subject,
                     cases[i].match ? "match" : "no match");
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subject_accepts_valid),
        cmocka_unit_test(test_subject_rejects_with_reason),
        cmocka_unit_test(test_subject_limits),
        cmocka_unit_test(test_filter_grammar),
        cmocka_unit_test(test_subject_matches),
    };
    return cmocka_run_group_tests_name("subject", tests, NULL, NULL);
}
