/*  test_refusals.c: the buffer of refused authentications (net/refusals.c)
 *  on the clock the test passes: at most FDY_REFUSALS_PER_SECOND entries a
 *  second, the rest counted into one suppressed entry when the second
 *  closes, at most FDY_REFUSALS_MAX held while nothing consumes them, and
 *  the fields copied and made printable.
 */
#include "refusals.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

_Static_assert(FDY_REFUSALS_MAX == 512 && FDY_REFUSALS_PER_SECOND == 100,
               "the counts in test_refusals_bounded_while_not_consumed assume these");

static const fdy_refusal_t s_unknown = {
    .command = "handshake",
    .key = "abcdefgh",
    .peer = "127.0.0.1",
    .reason = "unknown key",
};

static void
test_refusals_rate_limited_with_suppressed_count(void **state)
{
    (void) state;
    fdy_refusals_t *r = fdy_refusals_new();
    int64_t t = 5000;
    for (int i = 0; i < FDY_REFUSALS_PER_SECOND + 150; i++)
        fdy_refusals_add(r, &s_unknown, t + i % 900);
    size_t count = 0;
    fdy_audit_entry_t *e = fdy_refusals_pending(r, t + 999, &count);
    assert_int_equal(count, FDY_REFUSALS_PER_SECOND);
    assert_int_equal(fdy_refusals_due_ms(r), t + 1000);
    assert_int_equal(e[0].kind, FDY_AUDIT_AUTH_REFUSED);
    assert_int_equal(e[0].result, FOUNDRY_EAUTH);
    assert_string_equal(e[0].key, "abcdefgh");
    assert_string_equal(e[0].peer, "127.0.0.1");
    assert_string_equal(e[0].command, "handshake");
    assert_string_equal(e[0].reason, "unknown key");
    assert_int_equal(fdy_refusals_oldest_ms(r), t);

    /* The second closes: one more entry, counting the 150. */
    e = fdy_refusals_pending(r, t + 1000, &count);
    assert_int_equal(count, FDY_REFUSALS_PER_SECOND + 1);
    assert_int_equal(e[count - 1].kind, FDY_AUDIT_SUPPRESSED);
    assert_string_equal(e[count - 1].args, "count=150");
    assert_int_equal(fdy_refusals_suppressed(r), 150);
    assert_int_equal(fdy_refusals_recorded(r), FDY_REFUSALS_PER_SECOND);
    assert_int_equal(fdy_refusals_due_ms(r), INT64_MAX);

    /* Written: gone, and a quiet second adds nothing. */
    fdy_refusals_consume(r, count);
    e = fdy_refusals_pending(r, t + 5000, &count);
    assert_int_equal(count, 0);
    /* The next second starts afresh. */
    fdy_refusals_add(r, &s_unknown, t + 6000);
    e = fdy_refusals_pending(r, t + 6001, &count);
    assert_int_equal(count, 1);
    fdy_refusals_destroy(&r);
    assert_null(r);
}

/* Nothing consumes (the store is failing): memory stays bounded and what
 * could not be held is counted, not lost silently. */
static void
test_refusals_bounded_while_not_consumed(void **state)
{
    (void) state;
    fdy_refusals_t *r = fdy_refusals_new();
    uint64_t added = 0;
    for (int64_t second = 0; second < 20; second++) {
        for (int i = 0; i < FDY_REFUSALS_PER_SECOND; i++, added++)
            fdy_refusals_add(r, &s_unknown, second * 1000);
    }
    size_t count = 0;
    fdy_refusals_pending(r, 20 * 1000, &count);
    assert_int_equal(count, FDY_REFUSALS_MAX);
    assert_int_equal(fdy_refusals_recorded(r) + fdy_refusals_suppressed(r), added);
    assert_int_equal(fdy_refusals_recorded(r), FDY_REFUSALS_MAX - 1);

    /* Once consumed, the carried count gets its entry. Seconds 0..4 filled
     * 500 slots, second 5 the last 11 and its other 89 got the entry that
     * filled the buffer; seconds 6..19 were carried. */
    fdy_refusals_consume(r, 10);
    fdy_audit_entry_t *e = fdy_refusals_pending(r, 30 * 1000, &count);
    assert_int_equal(count, FDY_REFUSALS_MAX - 10 + 1);
    assert_int_equal(e[count - 1].kind, FDY_AUDIT_SUPPRESSED);
    assert_string_equal(e[count - 2].args, "count=89");
    char want[32];
    snprintf(want, sizeof want, "count=%d", 14 * FDY_REFUSALS_PER_SECOND);
    assert_string_equal(e[count - 1].args, want);
    fdy_refusals_destroy(&r);
}

static void
test_refusals_fields_printable(void **state)
{
    (void) state;
    fdy_refusals_t *r = fdy_refusals_new();
    char long_name[200];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    fdy_refusal_t odd = {.command = "request",
                         .principal = long_name,
                         .key = NULL,
                         .peer = "10.0.0.1\n",
                         .reason = "key revoked"};
    fdy_refusals_add(r, &odd, 0);
    size_t count = 0;
    fdy_audit_entry_t *e = fdy_refusals_pending(r, 1, &count);
    assert_int_equal(count, 1);
    assert_int_equal(strlen(e[0].principal), FDY_AUDIT_PRINCIPAL_MAX);
    assert_string_equal(e[0].key, "");
    assert_string_equal(e[0].peer, "10.0.0.1?");
    fdy_refusals_destroy(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals_rate_limited_with_suppressed_count),
        cmocka_unit_test(test_refusals_bounded_while_not_consumed),
        cmocka_unit_test(test_refusals_fields_printable),
    };
    return cmocka_run_group_tests_name("refusals", tests, NULL, NULL);
}
