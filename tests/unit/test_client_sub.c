/*  test_client_sub.c: unit tests of libfoundry's subscription bookkeeping
 *  that need no broker: the table of unacked durable deliveries
 *  (lib/client/unacked.c), checked against a plain array through random
 *  adds, redeliveries and removals (including removal while walking the
 *  slots, as foundry_sub_ack_upto does). Subscriptions end to end are in
 *  tests/integration/test_consumers.c.
 */
#include "unacked.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define assert_foundry_ok(expr) assert_int_equal((expr), FOUNDRY_OK)

/* A reference model: deliveries[seq] for seqs below MODEL_SEQS, 0 = absent. */
#define MODEL_SEQS 4096

typedef struct {
    uint16_t deliveries[MODEL_SEQS];
    uint16_t gen[MODEL_SEQS];
    size_t count;
} model_t;

static uint64_t s_rng = 0x2545F4914F6CDD1Dull;

static uint64_t
s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

static void
s_check_model(const fdy_unacked_t *table, const model_t *model)
{
    assert_int_equal(table->count, model->count);
    for (uint64_t seq = 1; seq < MODEL_SEQS; seq++) {
        fdy_unacked_entry_t *entry = fdy_unacked_find(table, seq);
        if (model->deliveries[seq] == 0) {
            assert_null(entry);
            continue;
        }
        assert_non_null(entry);
        /* The bound a cumulative ack starts from is below every entry. */
        assert_true(seq >= fdy_unacked_low(table));
        assert_int_equal(entry->seq, seq);
        assert_int_equal(entry->deliveries, model->deliveries[seq]);
        assert_int_equal(entry->gen, model->gen[seq]);
    }
}

static void
test_client_sub_unacked_matches_model(void **state)
{
    (void) state;
    fdy_unacked_t table;
    memset(&table, 0, sizeof table);
    model_t *model = calloc(1, sizeof *model);
    assert_non_null(model);
    uint16_t gen = 0;
    for (int round = 0; round < 200000; round++) {
        uint64_t r = s_rand();
        /* Mostly sequential seqs, as a consumer delivers them. */
        uint64_t seq = 1 + (r >> 16) % (MODEL_SEQS - 1);
        switch (r % 8) {
        case 0: case 1: case 2: case 3: /* receive (first delivery or redelivery) */
            assert_foundry_ok(fdy_unacked_add(&table, seq, (uint32_t) r, gen));
            if (model->deliveries[seq] == 0) {
                model->count++;
                model->deliveries[seq] = 1;
            } else {
                model->deliveries[seq] = model->gen[seq] == gen ? model->deliveries[seq] + 1 : 1;
            }
            model->gen[seq] = gen;
            break;
        case 4: case 5: case 6: { /* ack one */
            fdy_unacked_entry_t *entry = fdy_unacked_find(&table, seq);
            assert_true((entry != NULL) == (model->deliveries[seq] != 0));
            if (entry) {
                fdy_unacked_remove(&table, entry);
                model->deliveries[seq] = 0;
                model->count--;
            }
            break;
        }
        default:
            if (r % 64 == 7) {
                gen++; /* a resubscribe */
            } else if (r % 64 == 15) {
                /* A cumulative ack: everything up to seq goes, and the
                 * table learns that nothing below seq + 1 is left. */
                for (uint64_t s = 1; s <= seq; s++) {
                    fdy_unacked_entry_t *entry = fdy_unacked_find(&table, s);
                    assert_true((entry != NULL) == (model->deliveries[s] != 0));
                    if (entry) {
                        fdy_unacked_remove(&table, entry);
                        model->deliveries[s] = 0;
                        model->count--;
                    }
                }
                fdy_unacked_raise_low(&table, seq + 1);
            }
            break;
        }
        if (round % 5000 == 0)
            s_check_model(&table, model);
    }
    s_check_model(&table, model);
    fdy_unacked_clear(&table);
    assert_int_equal(table.count, 0);
    assert_null(fdy_unacked_find(&table, 1));
    free(model);
}

/* Removing while walking the slots, as ack_upto does: every entry at or
 * below the floor goes, every other stays. */
static void
test_client_sub_unacked_walk_and_remove(void **state)
{
    (void) state;
    fdy_unacked_t table;
    memset(&table, 0, sizeof table);
    for (uint64_t seq = 1; seq <= 3000; seq++)
        assert_foundry_ok(fdy_unacked_add(&table, seq * 7, 10, 0));
    uint64_t floor = 7 * 1700;
    size_t removed = 0;
    for (size_t i = 0; i < table.cap;) {
        fdy_unacked_entry_t *entry = fdy_unacked_at(&table, i);
        if (entry->seq == 0 || entry->seq > floor) {
            i++;
            continue;
        }
        fdy_unacked_remove(&table, entry);
        removed++;
    }
    assert_int_equal(removed, 1700);
    assert_int_equal(table.count, 1300);
    for (uint64_t seq = 1; seq <= 3000; seq++) {
        fdy_unacked_entry_t *entry = fdy_unacked_find(&table, seq * 7);
        if (seq <= 1700)
            assert_null(entry);
        else
            assert_non_null(entry);
    }
    fdy_unacked_clear(&table);
}

/* A redelivery to a newer subscription restarts the count: only the
 * deliveries that took the current subscription's credit are given back. */
static void
test_client_sub_unacked_generation_restarts_count(void **state)
{
    (void) state;
    fdy_unacked_t table;
    memset(&table, 0, sizeof table);
    assert_foundry_ok(fdy_unacked_add(&table, 42, 100, 1));
    assert_foundry_ok(fdy_unacked_add(&table, 42, 100, 1));
    assert_int_equal(fdy_unacked_find(&table, 42)->deliveries, 2);
    assert_foundry_ok(fdy_unacked_add(&table, 42, 100, 2));
    fdy_unacked_entry_t *entry = fdy_unacked_find(&table, 42);
    assert_int_equal(entry->deliveries, 1);
    assert_int_equal(entry->gen, 2);
    assert_null(fdy_unacked_find(&table, 0));
    assert_int_equal(table.count, 1);
    fdy_unacked_clear(&table);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_sub_unacked_matches_model),
        cmocka_unit_test(test_client_sub_unacked_walk_and_remove),
        cmocka_unit_test(test_client_sub_unacked_generation_restarts_count),
    };
    return cmocka_run_group_tests_name("client_sub", tests, NULL, NULL);
}
