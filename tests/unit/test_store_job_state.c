/*  test_store_job_state.c: the job state record's layout
 *  (store_job_state.h): every state field comes back, the spec fields of
 *  the record it is decoded over stay, and a damaged record (any
 *  truncation, an unknown version, trailing bytes, a text without its
 *  NUL) is refused, as are fields the layout cannot hold.
 */
#include "store_job_state.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const fdy_job_attempt_t s_tries[] = {
    {1, 1, "node-a", 1000, 2000, "lost", "lease expired"},
    {2, 2, "node-b", 3000, 0, "running", NULL},
};

/* A job in its second attempt with a result, texts and history. */
static fdy_job_record_t
s_state(void)
{
    static const uint8_t result[] = {0x00, 0x01, 0xfe, 0xff};
    fdy_job_record_t rec = {.id = 42, .state = "running", .attempt = 2, .fence = 7};
    rec.updated_ms = 3500;
    rec.not_before_ms = 2500;
    rec.lease_until_ms = 9000;
    rec.node = "node-b";
    rec.result = result;
    rec.result_len = sizeof result;
    rec.error = "exit status 1";
    rec.log_tail = "stderr tail";
    rec.progress = "50%";
    rec.attempts = s_tries;
    rec.attempt_count = 2;
    return rec;
}

static uint8_t *
s_encode(const fdy_job_record_t *rec, size_t *len)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    *len = 0;
    assert_int_equal(fdy_store_job_state_append(rec, &buf, len, &cap), FOUNDRY_OK);
    return buf;
}

static void
s_assert_text(const char *got, const char *want)
{
    if (!want || !*want)
        assert_null(got);
    else
        assert_string_equal(got, want);
}

static void
test_store_job_state_round_trip_keeps_the_spec(void **state)
{
    (void) state;
    fdy_job_record_t in = s_state();
    size_t len;
    uint8_t *buf = s_encode(&in, &len);
    /* Two records appended to one buffer decode alone at their offsets. */
    size_t cap = len;
    fdy_job_record_t second = {.state = "succeeded", .attempt = 1, .fence = 1};
    size_t first_len = len;
    assert_int_equal(fdy_store_job_state_append(&second, &buf, &len, &cap), FOUNDRY_OK);

    fdy_arena_t *arena = fdy_arena_new(65536);
    fdy_job_record_t out = {.id = 42, .tenant = "acme", .submitter = "ops", .created_ms = 900};
    out.spec.type = "inspect";
    out.state = "queued";
    fdy_reason_t reason = {{0}};
    assert_int_equal(fdy_store_job_state_decode(buf, first_len, arena, &out, &reason), FOUNDRY_OK);
    assert_int_equal(out.id, 42);
    assert_string_equal(out.tenant, "acme");
    assert_string_equal(out.submitter, "ops");
    assert_string_equal(out.spec.type, "inspect");
    assert_int_equal(out.created_ms, 900);
    assert_string_equal(out.state, "running");
    assert_int_equal(out.attempt, 2);
    assert_int_equal(out.fence, 7);
    assert_int_equal(out.updated_ms, 3500);
    assert_int_equal(out.not_before_ms, 2500);
    assert_int_equal(out.lease_until_ms, 9000);
    assert_string_equal(out.node, "node-b");
    assert_int_equal(out.result_len, in.result_len);
    assert_memory_equal(out.result, in.result, in.result_len);
    assert_string_equal(out.error, "exit status 1");
    assert_string_equal(out.log_tail, "stderr tail");
    assert_string_equal(out.progress, "50%");
    assert_int_equal(out.attempt_count, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(out.attempts[i].attempt, s_tries[i].attempt);
        assert_int_equal(out.attempts[i].fence, s_tries[i].fence);
        assert_int_equal(out.attempts[i].started_ms, s_tries[i].started_ms);
        assert_int_equal(out.attempts[i].ended_ms, s_tries[i].ended_ms);
        s_assert_text(out.attempts[i].node, s_tries[i].node);
        s_assert_text(out.attempts[i].state, s_tries[i].state);
        s_assert_text(out.attempts[i].error, s_tries[i].error);
    }

    /* The second: absent texts, no result and no history stay absent. */
    fdy_job_record_t out2 = out;
    assert_int_equal(
        fdy_store_job_state_decode(buf + first_len, len - first_len, arena, &out2, &reason),
        FOUNDRY_OK);
    assert_string_equal(out2.state, "succeeded");
    assert_int_equal(out2.fence, 1);
    assert_null(out2.node);
    assert_null(out2.result);
    assert_int_equal(out2.result_len, 0);
    assert_null(out2.error);
    assert_null(out2.progress);
    assert_int_equal(out2.attempt_count, 0);
    assert_null(out2.attempts);
    assert_string_equal(out2.spec.type, "inspect");
    fdy_arena_destroy(&arena);
    free(buf);
}

static foundry_err
s_decode(const uint8_t *buf, size_t len, fdy_job_record_t *out, fdy_reason_t *reason)
{
    fdy_arena_t *arena = fdy_arena_new(65536);
    foundry_err err = fdy_store_job_state_decode(buf, len, arena, out, reason);
    fdy_arena_destroy(&arena);
    return err;
}

static void
test_store_job_state_damage_is_refused(void **state)
{
    (void) state;
    fdy_job_record_t in = s_state();
    size_t len;
    uint8_t *buf = s_encode(&in, &len);
    fdy_reason_t reason = {{0}};
    fdy_job_record_t out = {.id = 42, .state = "queued"};
    /* Every cut, including the empty record, is refused and changes nothing. */
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(s_decode(buf, cut, &out, &reason), FOUNDRY_EPROTO);
        assert_string_equal(out.state, "queued");
    }
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    assert_int_equal(s_decode(longer, len + 1, &out, &reason), FOUNDRY_EPROTO);
    assert_non_null(strstr(reason.text, "bytes after its end"));
    free(longer);

    buf[0] = FDY_STORE_JOB_STATE_VERSION + 1;
    assert_int_equal(s_decode(buf, len, &out, &reason), FOUNDRY_EPROTO);
    assert_non_null(strstr(reason.text, "unknown version"));
    buf[0] = FDY_STORE_JOB_STATE_VERSION;

    /* The state text "running\0" right after the fixed head (37 bytes and
     * its u16 length): its NUL replaced, then a NUL inside it. */
    size_t text = 1 + 4 + 8 * 4 + 2;
    assert_memory_equal(buf + text, "running", 8);
    buf[text + 7] = 'x';
    assert_int_equal(s_decode(buf, len, &out, &reason), FOUNDRY_EPROTO);
    buf[text + 7] = 0;
    buf[text + 3] = 0;
    assert_int_equal(s_decode(buf, len, &out, &reason), FOUNDRY_EPROTO);
    buf[text + 3] = 'n';
    assert_int_equal(s_decode(buf, len, &out, &reason), FOUNDRY_OK);
    assert_string_equal(out.state, "running");
    free(buf);
}

static void
test_store_job_state_refuses_what_it_cannot_hold(void **state)
{
    (void) state;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    fdy_job_record_t rec = s_state();
    char *big = malloc(FDY_JOB_TEXT_MAX + 2);
    memset(big, 'e', FDY_JOB_TEXT_MAX + 1);
    big[FDY_JOB_TEXT_MAX + 1] = 0;
    rec.error = big;
    assert_int_equal(fdy_store_job_state_append(&rec, &buf, &len, &cap), FOUNDRY_EINVAL);
    rec = s_state();
    rec.attempt_count = FDY_JOB_ATTEMPTS_MAX + 1;
    assert_int_equal(fdy_store_job_state_append(&rec, &buf, &len, &cap), FOUNDRY_EINVAL);
    rec = s_state();
    rec.result_len = FDY_JOB_RESULT_MAX + 1;
    assert_int_equal(fdy_store_job_state_append(&rec, &buf, &len, &cap), FOUNDRY_EINVAL);
    assert_int_equal(len, 0);
    /* The longest text there may be still fits. */
    big[FDY_JOB_TEXT_MAX] = 0;
    rec = s_state();
    rec.log_tail = big;
    assert_int_equal(fdy_store_job_state_append(&rec, &buf, &len, &cap), FOUNDRY_OK);
    fdy_job_record_t out = {.id = 42};
    fdy_reason_t reason = {{0}};
    assert_int_equal(s_decode(buf, len, &out, &reason), FOUNDRY_OK);
    assert_int_equal(strlen(out.log_tail), FDY_JOB_TEXT_MAX);
    free(big);
    free(buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_job_state_round_trip_keeps_the_spec),
        cmocka_unit_test(test_store_job_state_damage_is_refused),
        cmocka_unit_test(test_store_job_state_refuses_what_it_cannot_hold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
