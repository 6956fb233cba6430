/*  test_codec_memo.c: decoding deliveries with a subscription's memo of the
 *  text it checked last (fdy_codec_decode_delivery_memo and _msg_memo) gives
 *  the results and errors of the plain view decoders, shares the text of a
 *  run of deliveries, and never keeps text that failed its checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arena.h"
#include "codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define assert_foundry_ok(expr)                                                                    \
    do {                                                                                           \
        foundry_err err_ = (expr);                                                                 \
        if (err_ != FOUNDRY_OK)                                                                    \
            fail_msg("%s: %s (%s)", #expr, foundry_strerror(err_), reason.text);                   \
    } while (0)

typedef struct {
    fdy_arena_t *arena;
    fdy_arena_t *plain;
    fdy_delivery_memo_t memo;
    uint8_t msg[1024];
    uint8_t record[2048];
} fixture_t;

static int
setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->arena = fdy_arena_new(1 << 20);
    fx->plain = fdy_arena_new(1 << 20);
    assert_non_null(fx->arena);
    assert_non_null(fx->plain);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *fx = *state;
    fdy_arena_destroy(&fx->arena);
    fdy_arena_destroy(&fx->plain);
    free(fx);
    return 0;
}

/* Encodes a delivery of a message with this stream, publisher and subject
 * (none of them checked on the way out) into fx->record; returns its size. */
static size_t
s_record(fixture_t *fx, const char *stream, const char *publisher, const char *subject,
         uint64_t seq)
{
    static const uint8_t id[4] = {1, 2, 3, 4};
    fdy_msg_t m = {.id = id,
                   .id_len = sizeof id,
                   .subject = subject,
                   .payload = (const uint8_t *) "payload",
                   .payload_len = 7,
                   .timestamp_ns = 1764870000000000000ull,
                   .target = ""};
    size_t msg_len = fdy_codec_msg_write(&m, fx->msg);
    assert_true(msg_len < sizeof fx->msg);
    fdy_delivery_t d = {.stream = stream,
                        .seq = seq,
                        .delivery_count = 1,
                        .stored_ns = 1764870000000000001ull,
                        .publisher = publisher,
                        .message = fx->msg,
                        .message_len = msg_len};
    size_t len = fdy_codec_delivery_write(&d, fx->record);
    assert_true(len < sizeof fx->record);
    return len;
}

/* Decodes fx->record with the memo and with the plain view decoders, and
 * checks they agree on the error and, when it decodes, on every field. */
static foundry_err
s_decode_both(fixture_t *fx, size_t len, fdy_delivery_t *d, fdy_msg_t *m)
{
    fdy_reason_t reason = {""}, plain_reason = {""};
    fdy_delivery_t pd;
    fdy_msg_t pm;
    fdy_arena_reset(fx->arena, 1 << 20);
    fdy_arena_reset(fx->plain, 1 << 20);
    foundry_err err =
        fdy_codec_decode_delivery_memo(fx->record, len, fx->arena, &fx->memo, d, &reason);
    foundry_err plain =
        fdy_codec_decode_delivery_view(fx->record, len, fx->plain, &pd, &plain_reason);
    if (err == FOUNDRY_OK)
        err =
            fdy_codec_decode_msg_memo(d->message, d->message_len, fx->arena, &fx->memo, m, &reason);
    if (plain == FOUNDRY_OK)
        plain =
            fdy_codec_decode_msg_view(pd.message, pd.message_len, fx->plain, &pm, &plain_reason);
    assert_int_equal(err, plain);
    assert_string_equal(reason.text, plain_reason.text);
    if (err != FOUNDRY_OK)
        return err;
    assert_string_equal(d->stream, pd.stream);
    assert_string_equal(d->publisher, pd.publisher);
    assert_string_equal(m->subject, pm.subject);
    assert_string_equal(m->target, pm.target);
    assert_true(d->seq == pd.seq);
    assert_true(d->stored_ns == pd.stored_ns);
    assert_int_equal(m->payload_len, pm.payload_len);
    assert_memory_equal(m->payload, pm.payload, pm.payload_len);
    return FOUNDRY_OK;
}

static void
test_codec_memo_shares_a_run_of_text(void **state)
{
    fixture_t *fx = *state;
    fdy_delivery_t d;
    fdy_msg_t m;
    size_t len = s_record(fx, "telemetry", "node-1", "telemetry.site1.cpu", 1);
    assert_int_equal(s_decode_both(fx, len, &d, &m), FOUNDRY_OK);
    /* Kept once checked: the next delivery of the run points at the copy. */
    assert_ptr_equal(d.stream, fx->memo.stream);
    assert_ptr_equal(d.publisher, fx->memo.publisher);
    assert_ptr_equal(m.subject, fx->memo.subject);
    len = s_record(fx, "telemetry", "node-1", "telemetry.site1.cpu", 2);
    assert_int_equal(s_decode_both(fx, len, &d, &m), FOUNDRY_OK);
    assert_ptr_equal(m.subject, fx->memo.subject);
    assert_true(d.seq == 2);

    /* Text of the same length but other bytes is checked and replaces it. */
    len = s_record(fx, "telemetrx", "node-2", "telemetry.site2.cpu", 3);
    assert_int_equal(s_decode_both(fx, len, &d, &m), FOUNDRY_OK);
    assert_string_equal(fx->memo.stream, "telemetrx");
    assert_string_equal(fx->memo.publisher, "node-2");
    assert_string_equal(fx->memo.subject, "telemetry.site2.cpu");

    /* A publisher longer than a slot decodes into the arena, the slot keeps
     * what it had. */
    char long_name[100];
    memset(long_name, 'p', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    len = s_record(fx, "telemetrx", long_name, "telemetry.site2.cpu", 4);
    assert_int_equal(s_decode_both(fx, len, &d, &m), FOUNDRY_OK);
    assert_string_equal(d.publisher, long_name);
    assert_ptr_not_equal(d.publisher, fx->memo.publisher);
    assert_string_equal(fx->memo.publisher, "node-2");
}

static void
test_codec_memo_refuses_what_the_view_refuses(void **state)
{
    fixture_t *fx = *state;
    fdy_delivery_t d;
    fdy_msg_t m;
    size_t len = s_record(fx, "telemetry", "node-1", "telemetry.site1.cpu", 1);
    assert_int_equal(s_decode_both(fx, len, &d, &m), FOUNDRY_OK);

    /* Bad text after good text of the same length: refused as without a
     * memo, and the memo still holds the good text. */
    len = s_record(fx, "telemetr\xff", "node-1", "telemetry.site1.cpu", 2);
    assert_int_equal(s_decode_both(fx, len, &d, &m), FOUNDRY_EPROTO);
    len = s_record(fx, "telemetry", "node-\xff", "telemetry.site1.cpu", 2);
    assert_int_equal(s_decode_both(fx, len, &d, &m), FOUNDRY_EPROTO);
    len = s_record(fx, "telemetry", "node-1", "telemetry..site1cpu", 2);
    assert_int_equal(s_decode_both(fx, len, &d, &m), FOUNDRY_EINVAL);
    len = s_record(fx, "telemetry", "node-1", "telemetry.site1.cp\xc3", 2);
    assert_int_equal(s_decode_both(fx, len, &d, &m), FOUNDRY_EPROTO);
    len = s_record(fx, "", "node-1", "telemetry.site1.cpu", 2);
    assert_int_equal(s_decode_both(fx, len, &d, &m), FOUNDRY_EPROTO);
    assert_string_equal(fx->memo.stream, "telemetry");
    assert_string_equal(fx->memo.publisher, "node-1");
    assert_string_equal(fx->memo.subject, "telemetry.site1.cpu");

    /* Every truncation of a record that decoded fails the same way with the
     * memo warm as without one. */
    len = s_record(fx, "telemetry", "node-1", "telemetry.site1.cpu", 5);
    uint8_t whole[2048];
    memcpy(whole, fx->record, len);
    for (size_t cut = 0; cut < len; cut++) {
        memcpy(fx->record, whole, len);
        (void) s_decode_both(fx, cut, &d, &m);
    }
    /* An empty publisher is allowed and never kept. */
    len = s_record(fx, "telemetry", "", "telemetry.site1.cpu", 6);
    assert_int_equal(s_decode_both(fx, len, &d, &m), FOUNDRY_OK);
    assert_string_equal(d.publisher, "");
    assert_string_equal(fx->memo.publisher, "node-1");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_codec_memo_shares_a_run_of_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_memo_refuses_what_the_view_refuses, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("codec_memo", tests, NULL, NULL);
}
