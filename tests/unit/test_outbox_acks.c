/*  test_outbox_acks.c: node/outbox_acks.c, the acknowledged-but-not-deleted
 *  seqs of the outbox: ranges that merge, skipping and forgetting, and the
 *  two-slot file written in place (saved, reloaded, a torn newest slot
 *  falls back to the older one, another epoch's slots are ignored).
 */
#include "outbox_acks.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct {
    char dir[64];
    char path[96];
    fdy_outbox_acks_t *acks;
    fdy_reason_t reason;
} fixture_t;

static int
setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/foundry-acks-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof fx->path, "%s/acked", fx->dir);
    fx->acks = fdy_outbox_acks_new();
    assert_non_null(fx->acks);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *fx = *state;
    fdy_outbox_acks_destroy(&fx->acks);
    unlink(fx->path);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static void
s_expect_ranges(const fdy_outbox_acks_t *acks, size_t count, const uint64_t *pairs)
{
    assert_int_equal(fdy_outbox_acks_range_count(acks), count);
    for (size_t i = 0; i < count; i++) {
        uint64_t first, last;
        fdy_outbox_acks_range(acks, i, &first, &last);
        assert_int_equal(first, pairs[2 * i]);
        assert_int_equal(last, pairs[2 * i + 1]);
    }
}

static void
test_outbox_acks_ranges_merge(void **state)
{
    fixture_t *fx = *state;
    assert_true(fdy_outbox_acks_empty(fx->acks));
    static const uint64_t order[] = {5, 7, 6, 1, 2, 10, 9, 3, 7, 12};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        assert_int_equal(fdy_outbox_acks_add(fx->acks, order[i]), FOUNDRY_OK);
    static const uint64_t want[] = {1, 3, 5, 7, 9, 10, 12, 12};
    s_expect_ranges(fx->acks, 4, want);
    assert_int_equal(fdy_outbox_acks_add(fx->acks, 4), FOUNDRY_OK); /* joins two */
    static const uint64_t joined[] = {1, 7, 9, 10, 12, 12};
    s_expect_ranges(fx->acks, 3, joined);
    assert_int_equal(fdy_outbox_acks_skip(fx->acks, 3), 8);
    assert_int_equal(fdy_outbox_acks_skip(fx->acks, 8), 8);
    assert_int_equal(fdy_outbox_acks_skip(fx->acks, 12), 13);
    fdy_outbox_acks_forget_below(fx->acks, 10);
    static const uint64_t rest[] = {10, 10, 12, 12};
    s_expect_ranges(fx->acks, 2, rest);
    fdy_outbox_acks_forget_below(fx->acks, UINT64_MAX);
    assert_true(fdy_outbox_acks_empty(fx->acks));
}

static void
test_outbox_acks_file_survives_a_restart(void **state)
{
    fixture_t *fx = *state;
    /* Without a file, saving is a no-op. */
    assert_int_equal(fdy_outbox_acks_save(fx->acks, &fx->reason), FOUNDRY_OK);
    assert_int_equal(fdy_outbox_acks_attach(fx->acks, fx->path, 77, &fx->reason), FOUNDRY_OK);
    assert_int_equal(fdy_outbox_acks_saved(fx->acks), 0);
    for (uint64_t seq = 100; seq < 200; seq++)
        assert_int_equal(fdy_outbox_acks_add(fx->acks, seq), FOUNDRY_OK);
    assert_int_equal(fdy_outbox_acks_add(fx->acks, 300), FOUNDRY_OK);
    assert_int_equal(fdy_outbox_acks_save(fx->acks, &fx->reason), FOUNDRY_OK);
    assert_int_equal(fdy_outbox_acks_saved(fx->acks), 2);
    fdy_outbox_acks_destroy(&fx->acks);

    fx->acks = fdy_outbox_acks_new();
    assert_int_equal(fdy_outbox_acks_attach(fx->acks, fx->path, 77, &fx->reason), FOUNDRY_OK);
    static const uint64_t want[] = {100, 199, 300, 300};
    s_expect_ranges(fx->acks, 2, want);

    /* A second save goes to the other slot; tearing it leaves the first. */
    fdy_outbox_acks_forget_below(fx->acks, 150);
    assert_int_equal(fdy_outbox_acks_save(fx->acks, &fx->reason), FOUNDRY_OK);
    fdy_outbox_acks_destroy(&fx->acks);
    fx->acks = fdy_outbox_acks_new();
    assert_int_equal(fdy_outbox_acks_attach(fx->acks, fx->path, 77, &fx->reason), FOUNDRY_OK);
    static const uint64_t later[] = {150, 199, 300, 300};
    s_expect_ranges(fx->acks, 2, later);
    fdy_outbox_acks_destroy(&fx->acks);
    int fd = open(fx->path, O_RDWR);
    assert_true(fd >= 0);
    /* generation 2 lives in slot 0: damage a byte of its ranges */
    assert_int_equal(pwrite(fd, "x", 1, 40), 1);
    close(fd);
    fx->acks = fdy_outbox_acks_new();
    assert_int_equal(fdy_outbox_acks_attach(fx->acks, fx->path, 77, &fx->reason), FOUNDRY_OK);
    s_expect_ranges(fx->acks, 2, want);
    fdy_outbox_acks_destroy(&fx->acks);

    /* Another outbox's epoch: nothing of it is taken. */
    fx->acks = fdy_outbox_acks_new();
    assert_int_equal(fdy_outbox_acks_attach(fx->acks, fx->path, 78, &fx->reason), FOUNDRY_OK);
    assert_true(fdy_outbox_acks_empty(fx->acks));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outbox_acks_ranges_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_acks_file_survives_a_restart, setup, teardown),
    };
    return cmocka_run_group_tests_name("outbox_acks", tests, NULL, NULL);
}
