/*  test_admin_replay.c: the table of remembered admin answers (broker/
 *  admin/admin_replay.c): a token is answered only for the principal that
 *  sent it, errors are remembered with their reason, and the entry, byte
 *  and age bounds drop the oldest first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "admin_replay.h"

#include <string.h>

static void
s_token(uint8_t token[FDY_ADMIN_TOKEN_LEN], uint8_t seed)
{
    for (size_t i = 0; i < FDY_ADMIN_TOKEN_LEN; i++)
        token[i] = (uint8_t) (seed + i);
}

static void
test_admin_replay_answers_the_same_principal_only(void **state)
{
    (void) state;
    fdy_admin_replay_t *r = fdy_admin_replay_new(8, 4096, 1024, 60000);
    assert_non_null(r);
    uint8_t token[FDY_ADMIN_TOKEN_LEN], other[FDY_ADMIN_TOKEN_LEN];
    s_token(token, 1);
    s_token(other, 2);
    const uint8_t reply[] = "encoded reply";
    fdy_admin_answer_t in = {
        .err = FOUNDRY_OK, .reason = "", .reply = reply, .reply_len = sizeof reply};
    assert_true(fdy_admin_replay_put(r, "ops", token, 1000, &in));

    fdy_admin_answer_t out;
    assert_true(fdy_admin_replay_find(r, "ops", token, 1001, &out));
    assert_int_equal(out.err, FOUNDRY_OK);
    assert_int_equal(out.reply_len, sizeof reply);
    assert_memory_equal(out.reply, reply, sizeof reply);
    assert_ptr_not_equal(out.reply, reply); /* a copy: the caller's buffer may go */
    /* Another admin with the same token, or another token: not answered. */
    assert_false(fdy_admin_replay_find(r, "ops2", token, 1001, &out));
    assert_false(fdy_admin_replay_find(r, "ops", other, 1001, &out));
    fdy_admin_replay_destroy(&r);
    assert_null(r);
}

static void
test_admin_replay_remembers_errors(void **state)
{
    (void) state;
    fdy_admin_replay_t *r = fdy_admin_replay_new(8, 4096, 1024, 60000);
    uint8_t token[FDY_ADMIN_TOKEN_LEN];
    s_token(token, 7);
    fdy_admin_answer_t in = {.err = FOUNDRY_EEXIST, .reason = "stream x exists"};
    assert_true(fdy_admin_replay_put(r, "ops", token, 0, &in));
    fdy_admin_answer_t out;
    assert_true(fdy_admin_replay_find(r, "ops", token, 0, &out));
    assert_int_equal(out.err, FOUNDRY_EEXIST);
    assert_string_equal(out.reason, "stream x exists");
    assert_null(out.reply);
    assert_int_equal(fdy_admin_replay_bytes(r), 0);
    fdy_admin_replay_destroy(&r);
}

static void
test_admin_replay_bounds_drop_the_oldest(void **state)
{
    (void) state;
    /* 3 entries, 100 bytes, 60 bytes an entry. */
    fdy_admin_replay_t *r = fdy_admin_replay_new(3, 100, 60, 60000);
    uint8_t t[5][FDY_ADMIN_TOKEN_LEN];
    uint8_t bytes[80];
    memset(bytes, 'x', sizeof bytes);
    fdy_admin_answer_t small = {.err = FOUNDRY_OK, .reason = "", .reply = bytes, .reply_len = 10};
    for (int i = 0; i < 5; i++)
        s_token(t[i], (uint8_t) (16 * i));
    for (int i = 0; i < 4; i++)
        assert_true(fdy_admin_replay_put(r, "ops", t[i], i, &small));
    fdy_admin_answer_t out;
    assert_int_equal(fdy_admin_replay_count(r), 3);
    assert_false(fdy_admin_replay_find(r, "ops", t[0], 4, &out)); /* the oldest went */
    assert_true(fdy_admin_replay_find(r, "ops", t[1], 4, &out));
    assert_true(fdy_admin_replay_find(r, "ops", t[3], 4, &out));

    /* Over the entry cap: not kept, and nothing else is dropped for it. */
    fdy_admin_answer_t big = {.err = FOUNDRY_OK, .reason = "", .reply = bytes, .reply_len = 80};
    assert_false(fdy_admin_replay_put(r, "ops", t[4], 5, &big));
    assert_int_equal(fdy_admin_replay_count(r), 3);

    /* The byte bound: 30 held + 60 fits in 100; then 60 more drops the oldest two. */
    fdy_admin_answer_t mid = {.err = FOUNDRY_OK, .reason = "", .reply = bytes, .reply_len = 60};
    assert_true(fdy_admin_replay_put(r, "ops", t[4], 6, &mid));
    assert_int_equal(fdy_admin_replay_bytes(r), 80); /* t[1] made room for t[4] (entry cap 3) */
    assert_true(fdy_admin_replay_put(r, "ops", t[0], 7, &mid));
    assert_true(fdy_admin_replay_bytes(r) <= 100);
    assert_false(fdy_admin_replay_find(r, "ops", t[4], 8, &out));
    assert_true(fdy_admin_replay_find(r, "ops", t[0], 8, &out));
    fdy_admin_replay_destroy(&r);
}

static void
test_admin_replay_forgets_after_the_age_limit(void **state)
{
    (void) state;
    fdy_admin_replay_t *r = fdy_admin_replay_new(8, 4096, 1024, 1000);
    uint8_t token[FDY_ADMIN_TOKEN_LEN];
    s_token(token, 9);
    fdy_admin_answer_t in = {.err = FOUNDRY_OK, .reason = "", .reply = token, .reply_len = 4};
    assert_true(fdy_admin_replay_put(r, "ops", token, 5000, &in));
    fdy_admin_answer_t out;
    assert_true(fdy_admin_replay_find(r, "ops", token, 6000, &out));
    assert_false(fdy_admin_replay_find(r, "ops", token, 6001, &out));
    assert_int_equal(fdy_admin_replay_count(r), 0);
    assert_int_equal(fdy_admin_replay_bytes(r), 0);
    fdy_admin_replay_destroy(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admin_replay_answers_the_same_principal_only),
        cmocka_unit_test(test_admin_replay_remembers_errors),
        cmocka_unit_test(test_admin_replay_bounds_drop_the_oldest),
        cmocka_unit_test(test_admin_replay_forgets_after_the_age_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
