/*  test_subject.c: the subject and filter grammar (subject.h), the reasons
 *  given for each kind of error, filter matching with '*' and '>', and the
 *  site-id rule the broker and the node share.
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

static void
test_site_validate_accepts_valid(void **state)
{
    (void) state;
    const char *good[] = {"pangyo", "seongnam-lab", "Site_7", "0", "_", "-", "a-b_C-9"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        s_assert_accepted(fdy_site_validate, good[i]);
    /* The longest site still makes a stream name that fits. */
    char longest[FDY_SITE_MAX + 1];
    memset(longest, 's', FDY_SITE_MAX);
    longest[FDY_SITE_MAX] = '\0';
    s_assert_accepted(fdy_site_validate, longest);
    char stream[128];
    snprintf(stream, sizeof stream, FDY_SITE_STREAM_PREFIX "%s", longest);
    assert_int_equal(strlen(stream), FOUNDRY_STREAM_NAME_MAX);
    assert_int_equal(fdy_site_validate("hanam", NULL), FOUNDRY_OK);
}

static void
test_site_validate_rejects_with_reason(void **state)
{
    (void) state;
    s_assert_rejected(fdy_site_validate, NULL, "site id is empty");
    s_assert_rejected(fdy_site_validate, "", "site id is empty; a site id is one subject token");
    /* Each refusal names the id, the byte and the rule. */
    s_assert_rejected(fdy_site_validate, "a.b",
                      "site 'a.b': invalid character '.' at byte 1; a site id is one subject "
                      "token, 1..53 bytes of A-Z a-z 0-9 _ -");
    s_assert_rejected(fdy_site_validate, ".", "site '.': invalid character '.' at byte 0");
    s_assert_rejected(fdy_site_validate, "*", "site '*': invalid character '*'");
    s_assert_rejected(fdy_site_validate, ">", "site '>': invalid character '>'");
    s_assert_rejected(fdy_site_validate, "lab*", "invalid character '*' at byte 3");
    s_assert_rejected(fdy_site_validate, "a b", "invalid character 0x20 at byte 1");
    s_assert_rejected(fdy_site_validate, "caf\xc3\xa9", "site 'caf?\?': invalid character 0xc3");
    s_assert_rejected(fdy_site_validate, "x\ty", "site 'x?y': invalid character 0x09");
    s_assert_rejected(fdy_site_validate, "a/b", "invalid character '/'");

    char too_long[FDY_SITE_MAX + 2];
    memset(too_long, 's', FDY_SITE_MAX + 1);
    too_long[FDY_SITE_MAX + 1] = '\0';
    s_assert_rejected(fdy_site_validate, too_long,
                      "is too long: stream telemetry-<site> must fit 63 bytes");
    /* Far too long: the id shown is cut, the reason still names the rule. */
    char huge[1000];
    memset(huge, 'h', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    s_assert_rejected(fdy_site_validate, huge, "1..53 bytes");
    /* A bad byte well past the limit: the length is what is reported. */
    huge[FDY_SITE_MAX + 5] = '.';
    s_assert_rejected(fdy_site_validate, huge, "is too long");
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
        cmocka_unit_test(test_site_validate_accepts_valid),
        cmocka_unit_test(test_site_validate_rejects_with_reason),
    };
    return cmocka_run_group_tests_name("subject", tests, NULL, NULL);
}
