/*  test_labeled.c: the bounded labeled counters (lib/daemon/labeled.h):
 *  stable indexes, the cap and its shared "other" index, a value called
 *  "other" joining it, long values cut consistently, and a table's cells,
 *  rows and reset.
 */
#include "labeled.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const fdy_labeled_family_t s_families[] = {
    {"foundry_test_in_total", "counter", "In"},
    {"foundry_test_out_total", "counter", "Out"},
};
static const char *const s_kinds[] = {"telemetry", "jobs"};

static int
s_setup(void **state)
{
    fdy_labeled_values_t *values = calloc(1, sizeof *values);
    fdy_labeled_t *table = calloc(1, sizeof *table);
    assert_non_null(values);
    assert_non_null(table);
    fdy_labeled_init(table, s_families, 2, "kind", s_kinds, 2, "site", values);
    void **pair = calloc(2, sizeof *pair);
    assert_non_null(pair);
    pair[0] = values;
    pair[1] = table;
    *state = pair;
    return 0;
}

static int
s_teardown(void **state)
{
    void **pair = *state;
    free(pair[0]);
    free(pair[1]);
    free(pair);
    return 0;
}

/* Fills the set to its cap with "site-0" .. "site-63". */
static void
s_fill(fdy_labeled_values_t *values)
{
    for (int i = 0; i < FDY_LABELED_VALUES_MAX; i++) {
        char name[32];
        snprintf(name, sizeof name, "site-%d", i);
        assert_int_equal(fdy_labeled_values_index(values, name), (uint32_t) i);
    }
}

static void
test_labeled_index_is_stable(void **state)
{
    fdy_labeled_values_t *values = ((void **) *state)[0];
    uint32_t siheung = fdy_labeled_values_index(values, "siheung");
    uint32_t none = fdy_labeled_values_index(values, "");
    uint32_t hanam = fdy_labeled_values_index(values, "hanam");
    assert_int_equal(siheung, 0);
    assert_int_equal(none, 1);
    assert_int_equal(hanam, 2);
    assert_int_equal(fdy_labeled_values_index(values, "siheung"), siheung);
    assert_int_equal(fdy_labeled_values_index(values, ""), none);
    assert_int_equal(fdy_labeled_values_find(values, "hanam"), hanam);
    assert_int_equal(fdy_labeled_values_find(values, "pangyo"), FDY_LABELED_OTHER);
    assert_int_equal(values->count, 3); /* find never adds */
    assert_string_equal(fdy_labeled_values_at(values, hanam), "hanam");
    assert_string_equal(fdy_labeled_values_at(values, none), "");
    assert_string_equal(fdy_labeled_values_at(values, 40), "");
    assert_string_equal(fdy_labeled_values_at(values, FDY_LABELED_OTHER), "other");
}

/* Past the cap every new value shares "other"; the set stays at the cap
 * and the values already in keep their index. */
static void
test_labeled_cap_overflows_to_other(void **state)
{
    fdy_labeled_values_t *values = ((void **) *state)[0];
    s_fill(values);
    assert_int_equal(fdy_labeled_values_index(values, "site-64"), FDY_LABELED_OTHER);
    assert_int_equal(fdy_labeled_values_index(values, "random-9f3a"), FDY_LABELED_OTHER);
    assert_int_equal(values->count, FDY_LABELED_VALUES_MAX);
    assert_int_equal(values->overflowed, 2);
    assert_int_equal(fdy_labeled_values_index(values, "site-17"), 17);
    assert_int_equal(fdy_labeled_values_index(values, "site-63"), 63);
    assert_int_equal(values->overflowed, 2);
    fdy_labeled_values_clear(values);
    assert_int_equal(values->count, 0);
    assert_int_equal(fdy_labeled_values_index(values, "site-64"), 0);
}

/* A real value "other" never gets a row of its own: two rows would carry
 * the same labels, which Prometheus refuses. */
static void
test_labeled_other_value_joins_bucket(void **state)
{
    fdy_labeled_values_t *values = ((void **) *state)[0];
    assert_int_equal(fdy_labeled_values_index(values, "other"), FDY_LABELED_OTHER);
    assert_int_equal(values->count, 0);
    assert_int_equal(values->overflowed, 0);
}

static void
test_labeled_long_value_cut_consistently(void **state)
{
    fdy_labeled_values_t *values = ((void **) *state)[0];
    char longer[200];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    uint32_t index = fdy_labeled_values_index(values, longer);
    assert_int_equal(index, 0);
    assert_int_equal(strlen(fdy_labeled_values_at(values, index)), FDY_LABELED_VALUE_LEN - 1);
    assert_int_equal(fdy_labeled_values_index(values, longer), index);
    longer[FDY_LABELED_VALUE_LEN - 1] = '\0'; /* its cut is the same value */
    assert_int_equal(fdy_labeled_values_index(values, longer), index);
    longer[FDY_LABELED_VALUE_LEN - 2] = '\0'; /* one shorter is another */
    assert_int_equal(fdy_labeled_values_index(values, longer), 1);
}

static void
test_labeled_table_counts_cells(void **state)
{
    fdy_labeled_values_t *values = ((void **) *state)[0];
    fdy_labeled_t *table = ((void **) *state)[1];
    uint32_t siheung = fdy_labeled_values_index(values, "siheung");
    uint32_t none = fdy_labeled_values_index(values, "");
    fdy_labeled_add(table, 0, 0, siheung, 5);
    fdy_labeled_add(table, 0, 0, siheung, 2);
    fdy_labeled_add(table, 1, 1, none, 3);
    assert_int_equal(fdy_labeled_get(table, 0, 0, siheung), 7);
    assert_int_equal(fdy_labeled_get(table, 1, 1, none), 3);
    assert_int_equal(fdy_labeled_get(table, 1, 0, none), 0);
    assert_int_equal(fdy_labeled_get(table, 0, 1, siheung), 0);
    assert_int_equal(fdy_labeled_get(table, 2, 0, siheung), 0); /* no such family */
    /* rows: the set's values, no "other" while it is unused */
    assert_int_equal(fdy_labeled_rows(table), 2);
    assert_int_equal(fdy_labeled_row_index(table, 0), siheung);
    assert_int_equal(fdy_labeled_row_index(table, 1), none);
    fdy_labeled_reset(table);
    assert_int_equal(fdy_labeled_get(table, 0, 0, siheung), 0);
    assert_int_equal(fdy_labeled_rows(table), 2);
}

/* Once anything falls into "other" it is one more row, counted there; an
 * index not in the set counts there too, so no count is left unrendered. */
static void
test_labeled_table_other_row(void **state)
{
    fdy_labeled_values_t *values = ((void **) *state)[0];
    fdy_labeled_t *table = ((void **) *state)[1];
    s_fill(values);
    assert_int_equal(fdy_labeled_rows(table), FDY_LABELED_VALUES_MAX);
    uint32_t late = fdy_labeled_values_index(values, "late-site");
    assert_int_equal(late, FDY_LABELED_OTHER);
    assert_int_equal(fdy_labeled_rows(table), FDY_LABELED_VALUES_MAX + 1);
    assert_int_equal(fdy_labeled_row_index(table, FDY_LABELED_VALUES_MAX), FDY_LABELED_OTHER);
    fdy_labeled_add(table, 0, 1, late, 4);
    fdy_labeled_add(table, 0, 1, FDY_LABELED_OTHER + 1000, 1);
    assert_int_equal(fdy_labeled_get(table, 0, 1, FDY_LABELED_OTHER), 5);
    fdy_labeled_values_clear(values); /* index 0 is no value now: counted as other */
    fdy_labeled_add(table, 0, 1, 0, 2);
    assert_int_equal(fdy_labeled_get(table, 0, 1, FDY_LABELED_OTHER), 7);
    assert_int_equal(fdy_labeled_get(table, 0, 1, 0), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_labeled_index_is_stable, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_labeled_cap_overflows_to_other, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_labeled_other_value_joins_bucket, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_labeled_long_value_cut_consistently, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_labeled_table_counts_cells, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_labeled_table_other_row, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("labeled", tests, NULL, NULL);
}
