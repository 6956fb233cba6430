/*  test_store_clock.c: the store keeps its own time, so steps of the wall
 *  clock (supplied by a link-time wrap of fdy_clock_wall_ns) neither
 *  re-admit a resend inside the dedupe window, nor trim a stream at once,
 *  nor store timestamps backwards; the time goes on across a reopen.
 */
#include "clock.h"
#include "store.h"

#include "fixture_store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define assert_foundry_ok(expr)                                                                    \
    do {                                                                                           \
        foundry_err err_ = (expr);                                                                 \
        if (err_ != FOUNDRY_OK)                                                                    \
            fail_msg("%s: %s (%s)", #expr, foundry_strerror(err_), fx->reason.text);               \
    } while (0)

#define WINDOW_MS 120000u
#define MIN_NS (60ull * 1000000000ull)

/* The wall clock the store sees: the real one plus a step the test sets. */
static int64_t s_step_ns;
uint64_t __real_fdy_clock_wall_ns(void);
uint64_t
__wrap_fdy_clock_wall_ns(void)
{
    return (uint64_t) ((int64_t) __real_fdy_clock_wall_ns() + s_step_ns);
}

typedef struct {
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store;
    fdy_reason_t reason;
    uint32_t stream_id;
} fixture_t;

static void
s_open(fixture_t *fx)
{
    fdy_store_opts_t opts = {.dir = fx->dir, .map_size = 1u << 20, .map_size_max = 64u << 20,
                             .dedupe_window_ms = WINDOW_MS, .read_only = false};
    assert_foundry_ok(fdy_store_open(&opts, &fx->store, &fx->reason));
}

static int
s_setup(void **state)
{
    s_step_ns = 0;
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx_store_open_tmp(fx->dir, "test_store_clock", NULL, NULL, NULL);
    s_open(fx);
    const char *filters[] = {"clock.>"};
    fdy_stream_limits_t limits = {.max_age_ms = 60 * 60 * 1000};   /* 1 h */
    assert_foundry_ok(
        fdy_store_stream_create_ex(fx->store, "clock", filters, 1, &limits, &fx->reason));
    assert_foundry_ok(fdy_store_stream_lookup(fx->store, "clock", &fx->stream_id));
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fx = *state;
    fx_store_rm(fx->dir, &fx->store);
    free(fx);
    s_step_ns = 0;
    return 0;
}

/* Appends id and returns its outcome. */
static fdy_store_item_t
s_put(fixture_t *fx, const char *id)
{
    fdy_store_item_t item = {
        .stream_id = fx->stream_id,
        .msg_id = (const uint8_t *) id,
        .msg_id_len = strlen(id),
        .publisher = "node-1",
        .data = (const uint8_t *) id,
        .data_len = strlen(id),
    };
    assert_foundry_ok(fdy_store_append(fx->store, &item, 1, &fx->reason));
    return item;
}

typedef struct {
    uint64_t stored_ns[8];
    size_t count;
} read_t;

static foundry_err
s_read_one(const fdy_stored_t *rec, void *user)
{
    read_t *r = user;
    if (r->count < 8)
        r->stored_ns[r->count++] = rec->stored_ns;
    return FOUNDRY_OK;
}

static void
test_store_clock_step_forward_keeps_dedupe(void **state)
{
    fixture_t *fx = *state;
    fdy_store_item_t first = s_put(fx, "a-1");
    assert_false(first.duplicate);
    s_step_ns = 3 * (int64_t) MIN_NS;   /* +3 min, more than the 2 min window */
    fdy_store_item_t again = s_put(fx, "a-1");
    assert_true(again.duplicate);
    assert_int_equal(again.seq, first.seq);
    size_t pruned = 0;
    assert_int_equal(fdy_store_prune_dedupe(fx->store, fdy_store_now_ns(fx->store), 100, &pruned),
                     FOUNDRY_OK);
    assert_int_equal(pruned, 0);
}

static void
test_store_clock_step_forward_does_not_trim_at_once(void **state)
{
    fixture_t *fx = *state;
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "t-%d", i);
        s_put(fx, id);
    }
    s_step_ns = 120 * (int64_t) MIN_NS;   /* +2 h on a 1 h retention */
    size_t trimmed = 0;
    assert_int_equal(fdy_store_trim(fx->store, fdy_store_now_ns(fx->store), 100, &trimmed),
                     FOUNDRY_OK);
    assert_int_equal(trimmed, 0);
}

static void
test_store_clock_step_back_never_stores_backwards(void **state)
{
    fixture_t *fx = *state;
    s_put(fx, "b-1");
    s_step_ns = -180 * (int64_t) MIN_NS;   /* -3 h */
    s_put(fx, "b-2");
    /* And across a reopen, with the wall clock still 3 h behind. */
    fdy_store_close(&fx->store);
    s_open(fx);
    s_put(fx, "b-3");
    read_t r = {.count = 0};
    assert_foundry_ok(fdy_store_read(fx->store, "clock", 1, 8, s_read_one, &r, &fx->reason));
    assert_int_equal(r.count, 3);
    assert_true(r.stored_ns[1] >= r.stored_ns[0]);
    assert_true(r.stored_ns[2] >= r.stored_ns[1]);
}

static void
test_store_clock_slews_towards_the_wall(void **state)
{
    fixture_t *fx = *state;
    uint64_t t0 = fdy_store_now_ns(fx->store);
    s_step_ns = (int64_t) MIN_NS;   /* +1 min */
    uint64_t t1 = fdy_store_now_ns(fx->store);
    /* Almost no time passed: the store's time barely moved. */
    assert_true(t1 - t0 < MIN_NS / 100);
    assert_true(t1 >= t0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_clock_step_forward_keeps_dedupe, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_store_clock_step_forward_does_not_trim_at_once,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_clock_step_back_never_stores_backwards,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_clock_slews_towards_the_wall, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests_name("store_clock", tests, NULL, NULL);
}
