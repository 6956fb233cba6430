/*  test_consumer_window.c: a durable consumer's delivery window
 *  (broker/streams/consumer_window.c) on its own: the ring of in-flight
 *  seqs, acks one by one and cumulative, deadlines, the due list, limits
 *  and the saved form. No store, socket or clock: times are plain numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "consumer_window.h"

#include <string.h>

#define SUB_A 1u
#define SUB_B 2u
/* Due-run read policy as consumers.c uses it. */
#define GAP  16u
#define SPAN 2048u

static const fdy_window_limits_t s_open = {.ack_wait_ms = 100, .width_max = 1u << 18};

/* A window from floor/delivered with nothing acked, kept in *state so the
 * teardown frees it whether or not the test passed. */
static fdy_window_t *
s_window(void **state, const fdy_window_limits_t *limits, uint64_t floor)
{
    fdy_consumer_state_t saved = {.ack_floor = floor, .delivered_seq = floor};
    fdy_window_t *w = fdy_window_new(limits, &saved);
    *state = w;
    return w;
}

static int
s_teardown(void **state)
{
    fdy_window_t *w = *state;
    fdy_window_destroy(&w);
    assert_null(w);
    return 0;
}

/* Sends every seq in [first, last] as new, to sub, at now_ms. */
static void
s_send_range(fdy_window_t *w, uint64_t first, uint64_t last, uint32_t sub, int64_t now_ms)
{
    for (uint64_t s = first; s <= last; s++)
        assert_int_equal(fdy_window_send(w, s, sub, now_ms), 1);
}

/* Fails unless the saved form has this floor, delivered and acked list. */
static void
s_assert_saved(fdy_window_t *w, uint64_t floor, uint64_t delivered, const uint64_t *acked,
               size_t acked_count)
{
    fdy_consumer_state_t st;
    memset(&st, 0, sizeof st);
    fdy_window_save(w, &st);
    assert_int_equal(st.ack_floor, floor);
    assert_int_equal(st.delivered_seq, delivered);
    assert_int_equal(st.acked_count, acked_count);
    for (size_t i = 0; i < acked_count; i++)
        assert_int_equal(st.acked[i], acked[i]);
}

static void
test_consumer_window_loads_saved_state(void **state)
{
    uint64_t acked[] = {11, 12, 15};
    fdy_consumer_redelivery_t redelivered[] = {{13, 3}, {20, 2}};
    fdy_consumer_state_t saved = {.ack_floor = 10,
                                  .delivered_seq = 20,
                                  .acked = acked,
                                  .acked_count = 3,
                                  .redelivered = redelivered,
                                  .redelivered_count = 2};
    fdy_window_t *w = fdy_window_new(&s_open, &saved);
    *state = w;
    /* 11 and 12 were acked: the floor moves over them at once */
    assert_int_equal(fdy_window_floor(w), 12);
    assert_int_equal(fdy_window_delivered(w), 20);
    assert_int_equal(fdy_window_pending(w), 7);
    assert_false(fdy_window_dirty(w));
    /* what was in flight when the broker stopped is due at once */
    assert_int_equal(fdy_window_due_count(w), 7);
    assert_true(fdy_window_is_due(w, 13));
    assert_true(fdy_window_is_due(w, 14));
    assert_false(fdy_window_is_due(w, 15));
    assert_false(fdy_window_is_due(w, 12));
    assert_false(fdy_window_is_due(w, 21));

    fdy_consumer_state_t out;
    memset(&out, 0, sizeof out);
    out.stream_id = 9;
    fdy_window_save(w, &out);
    assert_int_equal(out.stream_id, 9); /* left alone */
    assert_int_equal(out.ack_floor, 12);
    assert_int_equal(out.delivered_seq, 20);
    assert_int_equal(out.acked_count, 1);
    assert_int_equal(out.acked[0], 15);
    assert_int_equal(out.redelivered_count, 2);
    assert_int_equal(out.redelivered[0].seq, 13);
    assert_int_equal(out.redelivered[0].count, 3);
    assert_int_equal(out.redelivered[1].seq, 20);
    assert_int_equal(out.redelivered[1].count, 2);

    /* counts carry on from the saved ones */
    assert_int_equal(fdy_window_send(w, 13, SUB_A, 0), 4);
    assert_int_equal(fdy_window_send(w, 14, SUB_A, 0), 2);
    assert_int_equal(fdy_window_send(w, 21, SUB_A, 0), 1);
    assert_true(fdy_window_dirty(w));
}

static void
test_consumer_window_ring_wraps_and_grows(void **state)
{
    /* floor 1000 in a 1024-slot ring: seq 1024 sits in slot 0 */
    fdy_window_t *w = s_window(state, &s_open, 1000);
    s_send_range(w, 1001, 1030, SUB_A, 0);
    for (uint64_t s = 1002; s <= 1030; s++)
        if (s != 1025)
            assert_true(fdy_window_ack(w, s));
    assert_int_equal(fdy_window_floor(w), 1000);
    assert_int_equal(fdy_window_pending(w), 2);

    /* 1001 stays pending while 3100 seqs go out: the ring must grow twice
     * and keep every slot where its seq is */
    s_send_range(w, 1031, 4100, SUB_A, 0);
    for (uint64_t s = 1032; s <= 4100; s += 2)
        assert_true(fdy_window_ack(w, s));
    assert_int_equal(fdy_window_pending(w), 2 + (4100 - 1031) / 2 + 1);
    assert_true(fdy_window_ack(w, 1001));
    assert_int_equal(fdy_window_floor(w), 1024);
    assert_false(fdy_window_ack(w, 1024)); /* acked before the growth */
    assert_true(fdy_window_ack(w, 1025));
    assert_int_equal(fdy_window_floor(w), 1030);
    uint64_t acked[] = {1032, 1034};
    fdy_consumer_state_t st;
    memset(&st, 0, sizeof st);
    fdy_window_save(w, &st);
    assert_int_equal(st.acked_count, (4100 - 1032) / 2 + 1);
    assert_int_equal(st.acked[0], acked[0]);
    assert_int_equal(st.acked[1], acked[1]);
    assert_int_equal(st.acked[st.acked_count - 1], 4100);

    /* all acked: the floor reaches delivered, and reused slots start clean */
    assert_int_equal(fdy_window_ack_floor(w, 4100, SUB_A), (4100 - 1031) / 2 + 1);
    assert_int_equal(fdy_window_floor(w), 4100);
    assert_int_equal(fdy_window_pending(w), 0);
    s_send_range(w, 4101, 4101 + 5000, SUB_B, 0);
    assert_false(fdy_window_is_due(w, 4101));
    fdy_window_save(w, &st);
    assert_int_equal(st.acked_count, 0);
    assert_int_equal(st.redelivered_count, 0);
}

static void
test_consumer_window_out_of_order_acks(void **state)
{
    fdy_window_t *w = s_window(state, &s_open, 0);
    s_send_range(w, 1, 5, SUB_A, 0);
    assert_true(fdy_window_ack(w, 3));
    assert_true(fdy_window_ack(w, 5));
    assert_int_equal(fdy_window_floor(w), 0);
    assert_int_equal(fdy_window_pending(w), 3);
    assert_true(fdy_window_ack(w, 1));
    assert_int_equal(fdy_window_floor(w), 1);
    s_assert_saved(w, 1, 5, (const uint64_t[]){3, 5}, 2);
    assert_true(fdy_window_ack(w, 2));
    assert_int_equal(fdy_window_floor(w), 3);
    assert_true(fdy_window_ack(w, 4));
    assert_int_equal(fdy_window_floor(w), 5);
    assert_int_equal(fdy_window_pending(w), 0);
    s_assert_saved(w, 5, 5, NULL, 0);
}

static void
test_consumer_window_cumulative_ack_floor(void **state)
{
    fdy_window_t *w = s_window(state, &s_open, 0);
    for (uint64_t s = 1; s <= 6; s++)
        fdy_window_send(w, s, s % 2 ? SUB_A : SUB_B, 0);
    /* a queue group: A's floor acks only what went to A */
    assert_int_equal(fdy_window_ack_floor(w, 4, SUB_A), 2);
    assert_int_equal(fdy_window_floor(w), 1);
    assert_int_equal(fdy_window_pending(w), 4);
    s_assert_saved(w, 1, 6, (const uint64_t[]){3}, 1);
    assert_int_equal(fdy_window_ack_floor(w, 6, SUB_B), 3);
    assert_int_equal(fdy_window_floor(w), 4);
    assert_int_equal(fdy_window_pending(w), 1);
    /* a floor past delivered is clamped */
    assert_int_equal(fdy_window_ack_floor(w, 100, SUB_A), 1);
    assert_int_equal(fdy_window_floor(w), 6);
    assert_int_equal(fdy_window_pending(w), 0);
    assert_int_equal(fdy_window_delivered(w), 6);
}

static void
test_consumer_window_duplicate_acks_ignored(void **state)
{
    fdy_window_t *w = s_window(state, &s_open, 0);
    s_send_range(w, 1, 3, SUB_A, 0);
    assert_true(fdy_window_ack(w, 2));
    fdy_window_clean(w);
    assert_false(fdy_window_ack(w, 2));
    assert_false(fdy_window_ack(w, 0));
    assert_false(fdy_window_ack(w, 4)); /* never delivered */
    assert_int_equal(fdy_window_ack_floor(w, 2, SUB_A), 1);
    assert_int_equal(fdy_window_floor(w), 2);
    fdy_window_clean(w);
    assert_int_equal(fdy_window_ack_floor(w, 2, SUB_A), 0);
    assert_int_equal(fdy_window_ack_floor(w, 3, SUB_B), 0); /* not B's */
    assert_false(fdy_window_ack(w, 1));                     /* below the floor */
    assert_int_equal(fdy_window_pending(w), 1);
    assert_false(fdy_window_dirty(w)); /* nothing to save again */
}

static void
test_consumer_window_redelivers_in_deadline_order(void **state)
{
    uint64_t seq, first, last;
    uint32_t count;
    fdy_window_t *w = s_window(state, &s_open, 0);
    fdy_window_send(w, 1, SUB_A, 0);
    fdy_window_send(w, 2, SUB_A, 10);
    fdy_window_send(w, 3, SUB_A, 20);
    fdy_window_clean(w);
    assert_false(fdy_window_expire(w, 99, &seq, &count));
    assert_int_equal(fdy_window_due_count(w), 0);
    assert_false(fdy_window_expire(w, 100, &seq, &count));
    assert_true(fdy_window_is_due(w, 1));
    assert_false(fdy_window_is_due(w, 2));
    assert_false(fdy_window_expire(w, 115, &seq, &count));
    assert_true(fdy_window_is_due(w, 2));
    assert_false(fdy_window_is_due(w, 3));
    assert_int_equal(fdy_window_due_count(w), 2);
    assert_false(fdy_window_dirty(w)); /* becoming due changes no saved state */

    /* sent again: a new deadline from now, count 2 */
    assert_int_equal(fdy_window_send(w, 1, SUB_B, 115), 2);
    assert_false(fdy_window_is_due(w, 1));
    assert_false(fdy_window_expire(w, 214, &seq, &count));
    assert_true(fdy_window_is_due(w, 3));
    assert_false(fdy_window_is_due(w, 1));
    assert_false(fdy_window_expire(w, 215, &seq, &count));
    assert_true(fdy_window_is_due(w, 1));

    /* the due list holds 1 (stale, then due again), 2, 3, 1: a pass sorts
     * it; gap 0 gives one run a seq, duplicates folded in */
    size_t cursor = 0;
    fdy_window_due_begin(w);
    assert_true(fdy_window_due_next(w, &cursor, 0, SPAN, &first, &last));
    assert_int_equal(first, 1);
    assert_int_equal(last, 1);
    assert_true(fdy_window_due_next(w, &cursor, 0, SPAN, &first, &last));
    assert_int_equal(first, 2);
    assert_int_equal(last, 2);
    assert_true(fdy_window_due_next(w, &cursor, 0, SPAN, &first, &last));
    assert_int_equal(first, 3);
    assert_false(fdy_window_due_next(w, &cursor, 0, SPAN, &first, &last));
    fdy_window_due_end(w);
    assert_int_equal(fdy_window_due_count(w), 3);

    /* nearby seqs make one run, up to span */
    cursor = 0;
    fdy_window_due_begin(w);
    assert_true(fdy_window_due_next(w, &cursor, GAP, SPAN, &first, &last));
    assert_int_equal(first, 1);
    assert_int_equal(last, 3);
    assert_false(fdy_window_due_next(w, &cursor, GAP, SPAN, &first, &last));
    cursor = 0;
    assert_true(fdy_window_due_next(w, &cursor, GAP, 2, &first, &last));
    assert_int_equal(last, 2);
    assert_true(fdy_window_due_next(w, &cursor, GAP, 2, &first, &last));
    assert_int_equal(first, 3);
    assert_int_equal(last, 3);
    /* what is sent or acked during the pass leaves the list at its end */
    assert_int_equal(fdy_window_send(w, 2, SUB_A, 300), 2);
    assert_true(fdy_window_ack(w, 3));
    fdy_window_due_end(w);
    assert_int_equal(fdy_window_due_count(w), 1);
    assert_true(fdy_window_is_due(w, 1));
}

static void
test_consumer_window_release_makes_due(void **state)
{
    uint64_t seq, first, last;
    uint32_t count;
    fdy_window_t *w = s_window(state, &s_open, 0);
    fdy_window_send(w, 1, SUB_A, 0);
    fdy_window_send(w, 2, SUB_B, 0);
    fdy_window_send(w, 3, SUB_A, 0);
    fdy_window_release(w, SUB_A);
    assert_true(fdy_window_is_due(w, 1));
    assert_false(fdy_window_is_due(w, 2));
    assert_true(fdy_window_is_due(w, 3));
    size_t cursor = 0;
    fdy_window_due_begin(w);
    assert_true(fdy_window_due_next(w, &cursor, GAP, SPAN, &first, &last));
    assert_int_equal(first, 1);
    assert_int_equal(last, 3);
    assert_int_equal(fdy_window_send(w, 1, SUB_B, 60), 2);
    fdy_window_due_end(w);
    assert_int_equal(fdy_window_due_count(w), 1);
    /* at 100 the first deadlines of 1 and 3 are stale: only 2 expires */
    assert_false(fdy_window_expire(w, 100, &seq, &count));
    assert_false(fdy_window_is_due(w, 1));
    assert_true(fdy_window_is_due(w, 2));
    assert_false(fdy_window_expire(w, 160, &seq, &count));
    assert_true(fdy_window_is_due(w, 1));
}

static void
test_consumer_window_gives_up_after_max_deliver(void **state)
{
    uint64_t seq = 0;
    uint32_t count = 0;
    fdy_window_limits_t limits = s_open;
    limits.ack_wait_ms = 10;
    limits.max_deliver = 2;
    fdy_window_t *w = s_window(state, &limits, 0);
    s_send_range(w, 1, 3, SUB_A, 0);
    assert_false(fdy_window_expire(w, 10, &seq, &count));
    assert_false(fdy_window_give_up(w, 1, &count));
    assert_int_equal(fdy_window_send(w, 1, SUB_A, 10), 2);
    assert_int_equal(fdy_window_send(w, 2, SUB_A, 10), 2);
    assert_true(fdy_window_ack(w, 3));
    fdy_window_clean(w);
    /* second deadline: given up one by one, in deadline order */
    assert_true(fdy_window_expire(w, 20, &seq, &count));
    assert_int_equal(seq, 1);
    assert_int_equal(count, 2);
    assert_int_equal(fdy_window_floor(w), 1);
    assert_true(fdy_window_expire(w, 20, &seq, &count));
    assert_int_equal(seq, 2);
    assert_int_equal(count, 2);
    assert_false(fdy_window_expire(w, 20, &seq, &count));
    assert_int_equal(fdy_window_floor(w), 3);
    assert_int_equal(fdy_window_pending(w), 0);
    assert_true(fdy_window_dirty(w));
    fdy_window_due_begin(w);
    fdy_window_due_end(w);
    assert_int_equal(fdy_window_due_count(w), 0); /* the earlier due entries went */

    /* a due seq at max_deliver is given up before it is sent again */
    s_send_range(w, 4, 4, SUB_A, 20);
    assert_false(fdy_window_expire(w, 30, &seq, &count));
    assert_true(fdy_window_is_due(w, 4));
    assert_false(fdy_window_give_up(w, 4, &count));
    fdy_window_send(w, 4, SUB_A, 30);
    fdy_window_release(w, SUB_A);
    assert_true(fdy_window_give_up(w, 4, &count));
    assert_int_equal(count, 2);
    assert_false(fdy_window_is_due(w, 4));
    assert_int_equal(fdy_window_floor(w), 4);
}

static void
test_consumer_window_full_at_max_ack_pending(void **state)
{
    fdy_window_limits_t limits = s_open;
    limits.max_ack_pending = 3;
    fdy_window_t *w = s_window(state, &limits, 0);
    s_send_range(w, 1, 2, SUB_A, 0);
    assert_false(fdy_window_full(w));
    s_send_range(w, 3, 3, SUB_A, 0);
    assert_true(fdy_window_full(w));
    assert_true(fdy_window_ack(w, 2));
    assert_false(fdy_window_full(w));
    fdy_window_skip(w, 4); /* skipped seqs are not pending */
    assert_false(fdy_window_full(w));
    s_send_range(w, 5, 5, SUB_A, 0);
    assert_true(fdy_window_full(w));
    /* due seqs still count: they wait for an ack too */
    fdy_window_release(w, SUB_A);
    assert_true(fdy_window_full(w));
}

static void
test_consumer_window_full_at_width_max(void **state)
{
    fdy_window_limits_t limits = s_open;
    limits.width_max = 4;
    fdy_window_t *w = s_window(state, &limits, 0);
    s_send_range(w, 1, 3, SUB_A, 0);
    assert_false(fdy_window_full(w));
    s_send_range(w, 4, 4, SUB_A, 0);
    assert_true(fdy_window_full(w));
    /* acks above a pending floor do not make room */
    assert_true(fdy_window_ack(w, 2));
    assert_true(fdy_window_ack(w, 3));
    assert_true(fdy_window_full(w));
    assert_true(fdy_window_ack(w, 1));
    assert_int_equal(fdy_window_floor(w), 3);
    assert_false(fdy_window_full(w));
}

static void
test_consumer_window_skip_counts_as_acked(void **state)
{
    fdy_window_t *w = s_window(state, &s_open, 0);
    fdy_window_skip(w, 1);
    assert_int_equal(fdy_window_floor(w), 1);
    assert_true(fdy_window_dirty(w));
    s_send_range(w, 2, 2, SUB_A, 0);
    fdy_window_skip(w, 3);
    s_send_range(w, 4, 4, SUB_A, 0);
    assert_int_equal(fdy_window_pending(w), 2);
    s_assert_saved(w, 1, 4, (const uint64_t[]){3}, 1);
    assert_false(fdy_window_ack(w, 3));
    assert_true(fdy_window_ack(w, 2));
    assert_int_equal(fdy_window_floor(w), 3);
}

static void
test_consumer_window_trim_drops_pending(void **state)
{
    fdy_window_t *w = s_window(state, &s_open, 0);
    s_send_range(w, 1, 5, SUB_A, 0);
    assert_true(fdy_window_ack(w, 2));
    fdy_window_release(w, SUB_A);
    fdy_window_clean(w);
    fdy_window_trim(w, 4);
    assert_int_equal(fdy_window_floor(w), 3);
    assert_int_equal(fdy_window_pending(w), 2);
    assert_false(fdy_window_is_due(w, 3));
    assert_true(fdy_window_is_due(w, 4));
    assert_true(fdy_window_dirty(w));
    fdy_window_clean(w);
    fdy_window_trim(w, 3); /* below the floor: nothing */
    assert_false(fdy_window_dirty(w));
    /* everything up to 9 went: delivered moves up with the floor */
    fdy_window_trim(w, 10);
    assert_int_equal(fdy_window_floor(w), 9);
    assert_int_equal(fdy_window_delivered(w), 9);
    assert_int_equal(fdy_window_pending(w), 0);
    fdy_window_due_begin(w);
    fdy_window_due_end(w);
    assert_int_equal(fdy_window_due_count(w), 0);
    assert_int_equal(fdy_window_send(w, 10, SUB_A, 0), 1);
    s_assert_saved(w, 9, 10, NULL, 0);
}

/* A cumulative ack arriving after the ack wait ran out still acks what
 * went to that subscription (and only that), as an individual ack would. */
static void
test_consumer_window_late_cumulative_ack_applies(void **state)
{
    fdy_window_t *w = s_window(state, &s_open, 0);
    s_send_range(w, 1, 3, 7, 0);
    s_send_range(w, 4, 5, 8, 0);   /* another member of the queue group */
    uint64_t seq;
    uint32_t count;
    assert_false(fdy_window_expire(w, 1000, &seq, &count));   /* all five due again */
    assert_true(fdy_window_is_due(w, 2));
    assert_int_equal(fdy_window_ack_floor(w, 5, 7), 3);
    assert_int_equal(fdy_window_floor(w), 3);
    assert_int_equal(fdy_window_pending(w), 2);   /* 4 and 5 were sub 8's */
    assert_false(fdy_window_is_due(w, 2));
    /* Once re-sent to another subscription, the old one's ack no longer
     * counts for it. */
    assert_int_equal(fdy_window_send(w, 4, 9, 2000), 2);
    assert_int_equal(fdy_window_ack_floor(w, 5, 8), 1);   /* 5 only */
    assert_int_equal(fdy_window_pending(w), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_consumer_window_loads_saved_state, s_teardown),
        cmocka_unit_test_teardown(test_consumer_window_late_cumulative_ack_applies, s_teardown),
        cmocka_unit_test_teardown(test_consumer_window_ring_wraps_and_grows, s_teardown),
        cmocka_unit_test_teardown(test_consumer_window_out_of_order_acks, s_teardown),
        cmocka_unit_test_teardown(test_consumer_window_cumulative_ack_floor, s_teardown),
        cmocka_unit_test_teardown(test_consumer_window_duplicate_acks_ignored, s_teardown),
        cmocka_unit_test_teardown(test_consumer_window_redelivers_in_deadline_order, s_teardown),
        cmocka_unit_test_teardown(test_consumer_window_release_makes_due, s_teardown),
        cmocka_unit_test_teardown(test_consumer_window_gives_up_after_max_deliver, s_teardown),
        cmocka_unit_test_teardown(test_consumer_window_full_at_max_ack_pending, s_teardown),
        cmocka_unit_test_teardown(test_consumer_window_full_at_width_max, s_teardown),
        cmocka_unit_test_teardown(test_consumer_window_skip_counts_as_acked, s_teardown),
        cmocka_unit_test_teardown(test_consumer_window_trim_drops_pending, s_teardown),
    };
    return cmocka_run_group_tests_name("consumer_window", tests, NULL, NULL);
}
