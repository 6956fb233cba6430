/*  test_admin_table.c: the admin command dispatcher (broker/admin/
 *  admin_table.c): a command reaches its row, an unknown one is EKIND, and
 *  bad args are refused before the command runs (counting commands prove
 *  it); the arg readers; the reply table builder and its arena limits; and
 *  the shape of the real key and stream command tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "admin_keys.h"
#include "admin_streams.h"
#include "admin_table.h"

#include <stdio.h>
#include <string.h>

#define assert_foundry_ok(expr)                                                                    \
    do {                                                                                           \
        foundry_err err_ = (expr);                                                                 \
        if (err_ != FOUNDRY_OK)                                                                    \
            fail_msg("%s: %s (%s)", #expr, foundry_strerror(err_), reason.text);                   \
    } while (0)

/* What the counting commands saw. */
typedef struct {
    int add_runs;
    int ls_runs;
    int fail_runs;
    const fdy_admin_call_t *call;
} counter_t;

typedef struct {
    fdy_arena_t *arena;
    counter_t counter;
} fixture_t;

static const char *const s_columns[] = {"name", "count"};
static const fdy_col_type_t s_types[] = {FDY_COL_TEXT, FDY_COL_INT};

/* Answers with one row naming the arg it was given. */
static foundry_err
s_count_add(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    counter_t *counter = ctx;
    counter->add_runs++;
    counter->call = call;
    foundry_err err = fdy_admin_table_begin(out, call->arena, s_columns, s_types, 2, 1, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_slice_t *row = fdy_admin_row_add(out);
    if (!fdy_admin_cell_text(out, &row[0], fdy_admin_arg(call, "name")) ||
        !fdy_admin_cell_int(out, &row[1], (uint64_t) counter->add_runs))
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    return FOUNDRY_OK;
}

/* Succeeds without building a table. */
static foundry_err
s_count_ls(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    (void) out;
    (void) reason;
    counter_t *counter = ctx;
    counter->ls_runs++;
    counter->call = call;
    return FOUNDRY_OK;
}

static foundry_err
s_count_fail(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    (void) call;
    (void) out;
    counter_t *counter = ctx;
    counter->fail_runs++;
    return fdy_reason_set(reason, FOUNDRY_EEXIST, "thing exists");
}

static const fdy_admin_arg_spec_t s_add_args[] = {
    {"name", true, false},
    {"filter", false, true},
    {"count", false, false},
};
static const fdy_admin_command_t s_table[] = {
    {"thing.add", s_add_args, sizeof s_add_args / sizeof s_add_args[0], s_count_add},
    {"thing.ls", NULL, 0, s_count_ls},
    {"thing.fail", NULL, 0, s_count_fail},
};
#define TABLE_COUNT (sizeof s_table / sizeof s_table[0])

static int
s_setup(void **state)
{
    static fixture_t fx;
    memset(&fx, 0, sizeof fx);
    fx.arena = fdy_arena_new(1u << 20);
    *state = &fx;
    return fx.arena ? 0 : -1;
}

static int
s_teardown(void **state)
{
    fixture_t *fx = *state;
    fdy_arena_destroy(&fx->arena);
    return 0;
}

/* Runs command with args through s_table; the reply table in *out. */
static foundry_err
s_run(fixture_t *fx, const char *command, const char *const *args, size_t arg_count,
      fdy_admin_table_t *out, fdy_reason_t *reason)
{
    static const fdy_principal_t caller = {.name = "ops", .role = FDY_ROLE_ADMIN};
    fdy_arena_reset(fx->arena, 1u << 20);
    fdy_admin_call_t call = {.caller = &caller,
                             .command = command,
                             .args = args,
                             .arg_count = arg_count,
                             .arena = fx->arena};
    foundry_err err = fdy_admin_dispatch(&fx->counter, s_table, TABLE_COUNT, &call, out, reason);
    fx->counter.call = NULL; /* pointed at this frame */
    return err;
}

static void
s_assert_slice(fdy_slice_t cell, const char *want)
{
    assert_int_equal(cell.len, strlen(want));
    assert_memory_equal(cell.data, want, cell.len);
}

/* Expects err and reason text, and that no command ran. */
static void
s_assert_refused(fixture_t *fx, const char *command, const char *const *args, size_t arg_count,
                 foundry_err want, const char *want_text)
{
    fdy_admin_table_t out;
    fdy_reason_t reason;
    foundry_err err = s_run(fx, command, args, arg_count, &out, &reason);
    if (err != want)
        fail_msg("%s: got %s, want %s (%s)", command, foundry_strerror(err), foundry_strerror(want),
                 reason.text);
    assert_string_equal(reason.text, want_text);
    assert_int_equal(fx->counter.add_runs + fx->counter.ls_runs + fx->counter.fail_runs, 0);
}

/* ---- dispatch ---------------------------------------------------------- */

static void
test_admin_table_dispatches_to_named_row(void **state)
{
    fixture_t *fx = *state;
    fdy_admin_table_t out;
    fdy_reason_t reason;
    const char *args[] = {"name=press1", "filter=a.>", "filter=b.>", "count=3"};
    assert_foundry_ok(s_run(fx, "thing.add", args, 4, &out, &reason));
    assert_int_equal(fx->counter.add_runs, 1);
    assert_int_equal(fx->counter.ls_runs, 0);
    assert_string_equal(reason.text, "");
    fdy_table_t table;
    fdy_admin_table_end(&out, &table);
    assert_int_equal(table.column_count, 2);
    assert_int_equal(table.row_count, 1);
    assert_ptr_equal(table.columns, s_columns);
    s_assert_slice(table.cells[0], "press1");
    s_assert_slice(table.cells[1], "1");

    /* A row that builds no table answers with an empty one. */
    assert_foundry_ok(s_run(fx, "thing.ls", NULL, 0, &out, &reason));
    assert_int_equal(fx->counter.ls_runs, 1);
    assert_int_equal(fx->counter.add_runs, 1);
    assert_ptr_equal(out.arena, fx->arena);
    assert_int_equal(out.column_count, 0);
    assert_int_equal(out.row_count, 0);
}

static void
test_admin_table_passes_call_and_error_through(void **state)
{
    fixture_t *fx = *state;
    fdy_admin_table_t out;
    fdy_reason_t reason;
    const char *args[] = {"name=x"};
    static const fdy_principal_t caller = {.name = "ops", .role = FDY_ROLE_ADMIN};
    fdy_admin_call_t call = {.caller = &caller,
                             .command = "thing.add",
                             .args = args,
                             .arg_count = 1,
                             .arena = fx->arena};
    assert_foundry_ok(fdy_admin_dispatch(&fx->counter, s_table, TABLE_COUNT, &call, &out, &reason));
    assert_ptr_equal(fx->counter.call, &call);

    /* fn's own error and reason reach the caller unchanged. */
    fdy_reason_set(&reason, FOUNDRY_EINVAL, "left over from an earlier command");
    call.command = "thing.fail";
    call.arg_count = 0;
    assert_int_equal(fdy_admin_dispatch(&fx->counter, s_table, TABLE_COUNT, &call, &out, &reason),
                     FOUNDRY_EEXIST);
    assert_string_equal(reason.text, "thing exists");
    assert_int_equal(fx->counter.fail_runs, 1);
}

static void
test_admin_table_unknown_command_is_ekind(void **state)
{
    fixture_t *fx = *state;
    s_assert_refused(fx, "thing.rm", NULL, 0, FOUNDRY_EKIND, "unknown admin command 'thing.rm'");
    /* Names match whole, never by prefix. */
    s_assert_refused(fx, "thing.", NULL, 0, FOUNDRY_EKIND, "unknown admin command 'thing.'");
    s_assert_refused(fx, "thing.addx", NULL, 0, FOUNDRY_EKIND,
                     "unknown admin command 'thing.addx'");
    s_assert_refused(fx, "", NULL, 0, FOUNDRY_EKIND, "unknown admin command ''");
    /* The name is cut in the reason: it comes from the peer. */
    char long_name[200];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    char want[120];
    snprintf(want, sizeof want, "unknown admin command '%.64s'", long_name);
    s_assert_refused(fx, long_name, NULL, 0, FOUNDRY_EKIND, want);
    /* An unknown command with args is still EKIND: the row decides args. */
    const char *args[] = {"bogus"};
    s_assert_refused(fx, "thing.rm", args, 1, FOUNDRY_EKIND, "unknown admin command 'thing.rm'");
}

static void
test_admin_table_missing_arg_refused_before_run(void **state)
{
    fixture_t *fx = *state;
    s_assert_refused(fx, "thing.add", NULL, 0, FOUNDRY_EINVAL, "missing arg 'name'");
    const char *args[] = {"filter=a.>", "count=1"};
    s_assert_refused(fx, "thing.add", args, 2, FOUNDRY_EINVAL, "missing arg 'name'");
    /* An empty value is given, not missing: fn judges it. */
    const char *empty[] = {"name="};
    fdy_admin_table_t out;
    fdy_reason_t reason;
    assert_foundry_ok(s_run(fx, "thing.add", empty, 1, &out, &reason));
    assert_int_equal(fx->counter.add_runs, 1);
}

static void
test_admin_table_unknown_arg_refused_before_run(void **state)
{
    fixture_t *fx = *state;
    const char *args[] = {"name=x", "colour=red"};
    s_assert_refused(fx, "thing.add", args, 2, FOUNDRY_EINVAL, "unknown arg 'colour'");
    /* A key that only starts like a known one is unknown. */
    const char *longer[] = {"name=x", "names=y"};
    s_assert_refused(fx, "thing.add", longer, 2, FOUNDRY_EINVAL, "unknown arg 'names'");
    const char *shorter[] = {"nam=x"};
    s_assert_refused(fx, "thing.add", shorter, 1, FOUNDRY_EINVAL, "unknown arg 'nam'");
    /* A row without specs takes no args at all. */
    const char *any[] = {"name=x"};
    s_assert_refused(fx, "thing.ls", any, 1, FOUNDRY_EINVAL, "thing.ls takes no args");
}

static void
test_admin_table_bad_value_refused_before_run(void **state)
{
    fixture_t *fx = *state;
    const char *bare[] = {"name"};
    s_assert_refused(fx, "thing.add", bare, 1, FOUNDRY_EINVAL, "arg 'name' is not key=value");
    /* The first malformed arg is named, even when a required one is also missing. */
    const char *both[] = {"filter=a", "count"};
    s_assert_refused(fx, "thing.add", both, 2, FOUNDRY_EINVAL, "arg 'count' is not key=value");
    const char *twice[] = {"name=x", "name=y"};
    s_assert_refused(fx, "thing.add", twice, 2, FOUNDRY_EINVAL, "arg 'name' given twice");
    const char *count_twice[] = {"name=x", "count=1", "count=1"};
    s_assert_refused(fx, "thing.add", count_twice, 3, FOUNDRY_EINVAL, "arg 'count' given twice");

    /* A repeatable arg may come many times. */
    const char *filters[] = {"filter=a", "name=x", "filter=b", "filter=c"};
    fdy_admin_table_t out;
    fdy_reason_t reason;
    assert_foundry_ok(s_run(fx, "thing.add", filters, 4, &out, &reason));
    assert_int_equal(fx->counter.add_runs, 1);
}

/* ---- arg readers ------------------------------------------------------- */

static void
test_admin_table_reads_args(void **state)
{
    (void) state;
    const char *args[] = {"names=a",  "name=first", "name=second",
                          "count=42", "from=",      "big=18446744073709551615"};
    fdy_admin_call_t call = {.command = "thing.add", .args = args, .arg_count = 6};
    assert_string_equal(fdy_admin_arg(&call, "name"), "first");
    assert_string_equal(fdy_admin_arg(&call, "names"), "a");
    assert_string_equal(fdy_admin_arg(&call, "from"), "");
    assert_null(fdy_admin_arg(&call, "nam"));
    assert_null(fdy_admin_arg(&call, "filter"));

    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    uint64_t value = 0;
    assert_foundry_ok(fdy_admin_arg_uint(&call, "count", 7, &value, &reason));
    assert_int_equal(value, 42);
    assert_foundry_ok(fdy_admin_arg_uint(&call, "absent", 7, &value, &reason));
    assert_int_equal(value, 7);
    assert_foundry_ok(fdy_admin_arg_uint(&call, "big", 7, &value, &reason));
    assert_true(value == UINT64_MAX);
    assert_int_equal(fdy_admin_arg_uint(&call, "from", 7, &value, &reason), FOUNDRY_EINVAL);
    assert_string_equal(reason.text, "arg 'from': '' is not a number");
}

static void
test_admin_table_refuses_bad_numbers(void **state)
{
    (void) state;
    static const char *const bad[] = {"12x", "-1", "+1", " 1", "x", "18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char arg[64];
        snprintf(arg, sizeof arg, "count=%s", bad[i]);
        const char *args[] = {arg};
        fdy_admin_call_t call = {.command = "thing.add", .args = args, .arg_count = 1};
        fdy_reason_t reason;
        fdy_reason_clear(&reason);
        uint64_t value = 0;
        char want[96];
        snprintf(want, sizeof want, "arg 'count': '%s' is not a number", bad[i]);
        if (fdy_admin_arg_uint(&call, "count", 5, &value, &reason) != FOUNDRY_EINVAL)
            fail_msg("'%s' was taken as %llu", bad[i], (unsigned long long) value);
        assert_string_equal(reason.text, want);
    }
}

/* ---- table builder ----------------------------------------------------- */

static void
test_admin_table_builds_cells(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    static const char *const columns[] = {"name", "filters", "count", "payload"};
    static const fdy_col_type_t types[] = {FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_INT, FDY_COL_BYTES};
    fdy_admin_table_t t;
    assert_foundry_ok(fdy_admin_table_begin(&t, fx->arena, columns, types, 4, 2, &reason));

    fdy_slice_t *row = fdy_admin_row_add(&t);
    assert_non_null(row);
    /* Cells are copies: the source may go away before the reply is encoded. */
    char name[] = "press1";
    const char *const filters[] = {"a.>", "b.*", "c"};
    const uint8_t payload[] = {0x00, 0xff, 0x00, 0x7f};
    assert_true(fdy_admin_cell_text(&t, &row[0], name));
    assert_true(fdy_admin_cell_join(&t, &row[1], filters, 3));
    assert_true(fdy_admin_cell_int(&t, &row[2], UINT64_MAX));
    assert_true(fdy_admin_cell_copy(&t, &row[3], payload, sizeof payload));
    memset(name, '#', sizeof name - 1);

    row = fdy_admin_row_add(&t);
    assert_non_null(row);
    for (size_t c = 0; c < 4; c++)
        assert_int_equal(row[c].len, 0); /* a new row starts empty */
    assert_true(fdy_admin_cell_text(&t, &row[0], ""));
    assert_true(fdy_admin_cell_join(&t, &row[1], NULL, 0));
    assert_true(fdy_admin_cell_int(&t, &row[2], 0));
    assert_true(fdy_admin_cell_copy(&t, &row[3], NULL, 0));
    assert_null(fdy_admin_row_add(&t)); /* capacity is 2 */

    fdy_table_t out;
    fdy_admin_table_end(&t, &out);
    assert_int_equal(out.column_count, 4);
    assert_int_equal(out.row_count, 2);
    assert_ptr_equal(out.columns, columns);
    assert_ptr_equal(out.types, types);
    s_assert_slice(out.cells[0], "press1");
    s_assert_slice(out.cells[1], "a.> b.* c");
    s_assert_slice(out.cells[2], "18446744073709551615");
    assert_int_equal(out.cells[3].len, sizeof payload);
    assert_memory_equal(out.cells[3].data, payload, sizeof payload);
    s_assert_slice(out.cells[4], "");
    s_assert_slice(out.cells[5], "");
    s_assert_slice(out.cells[6], "0");
    assert_int_equal(out.cells[7].len, 0);
}

static void
test_admin_table_empty_table(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    fdy_admin_table_t t;
    assert_foundry_ok(fdy_admin_table_begin(&t, fx->arena, s_columns, s_types, 2, 0, &reason));
    assert_null(fdy_admin_row_add(&t));
    fdy_table_t out;
    fdy_admin_table_end(&t, &out);
    assert_int_equal(out.column_count, 2);
    assert_int_equal(out.row_count, 0);
}

static void
test_admin_table_reply_too_large(void **state)
{
    (void) state;
    fdy_arena_t *small = fdy_arena_new(256);
    assert_non_null(small);
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    fdy_admin_table_t t;
    /* 100 rows of two cells cannot fit 256 bytes. */
    assert_int_equal(fdy_admin_table_begin(&t, small, s_columns, s_types, 2, 100, &reason),
                     FOUNDRY_ENOMEM);
    assert_string_equal(reason.text, "reply too large");

    fdy_reason_clear(&reason);
    assert_foundry_ok(fdy_admin_table_begin(&t, small, s_columns, s_types, 2, 1, &reason));
    fdy_slice_t *row = fdy_admin_row_add(&t);
    assert_non_null(row);
    char big[512];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(fdy_admin_cell_text(&t, &row[0], big));
    const char *const items[] = {big};
    assert_false(fdy_admin_cell_join(&t, &row[0], items, 1));
    fdy_arena_destroy(&small);
}

/* ---- the real tables --------------------------------------------------- */

static void
s_assert_rows(const fdy_admin_command_t *table, size_t count, const char *prefix,
              const char *other_prefix)
{
    for (size_t i = 0; i < count; i++) {
        const char *name = table[i].name;
        bool routed = strncmp(name, prefix, strlen(prefix)) == 0 ||
                      (other_prefix && strncmp(name, other_prefix, strlen(other_prefix)) == 0);
        if (!routed)
            fail_msg("'%s' would never be routed to this table", name);
        assert_non_null(table[i].fn);
        assert_true((table[i].arg_count == 0) == (table[i].args == NULL));
        for (size_t j = 0; j < i; j++)
            if (strcmp(table[j].name, name) == 0)
                fail_msg("'%s' appears twice", name);
    }
}

static void
test_admin_table_real_tables_route_by_prefix(void **state)
{
    (void) state;
    s_assert_rows(fdy_admin_keys_commands, fdy_admin_keys_command_count, "key.", NULL);
    s_assert_rows(fdy_admin_streams_commands, fdy_admin_streams_command_count, "stream.",
                  "consumer.");
    assert_int_equal(fdy_admin_keys_command_count, 3);
    assert_int_equal(fdy_admin_streams_command_count, 10);
}

/* The real rows' specs are checked by the dispatcher: with a NULL context
 * a command that ran would crash, so these replies prove none did. */
static void
test_admin_table_real_tables_check_args_first(void **state)
{
    fixture_t *fx = *state;
    static const fdy_principal_t caller = {.name = "ops", .role = FDY_ROLE_ADMIN};
    static const struct {
        const char *command;
        const char *arg; /* NULL: no args */
        const char *want;
    } cases[] = {
        {"key.add", "name=n", "missing arg 'key'"},
        {"key.ls", "name=n", "key.ls takes no args"},
        {"key.revoke", NULL, "missing arg 'name'"},
        {"stream.ls", "name=s", "stream.ls takes no args"},
        {"stream.add", "max_age", "arg 'max_age' is not key=value"},
        {"stream.info", NULL, "missing arg 'name'"},
        {"stream.edit", "limit=1", "unknown arg 'limit'"},
        {"stream.rm", NULL, "missing arg 'name'"},
        {"stream.read", "from=1", "missing arg 'stream'"},
        {"consumer.add", "stream=s", "missing arg 'name'"},
        {"consumer.ls", NULL, "missing arg 'stream'"},
        {"consumer.info", "name=c", "missing arg 'stream'"},
        {"consumer.rm", "stream=s", "missing arg 'name'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = {cases[i].arg};
        fdy_admin_call_t call = {.caller = &caller,
                                 .command = cases[i].command,
                                 .args = args,
                                 .arg_count = cases[i].arg ? 1 : 0,
                                 .arena = fx->arena};
        bool keys = strncmp(cases[i].command, "key.", 4) == 0;
        fdy_admin_table_t out;
        fdy_reason_t reason;
        foundry_err err = fdy_admin_dispatch(
            NULL, keys ? fdy_admin_keys_commands : fdy_admin_streams_commands,
            keys ? fdy_admin_keys_command_count : fdy_admin_streams_command_count, &call, &out,
            &reason);
        if (err != FOUNDRY_EINVAL || strcmp(reason.text, cases[i].want) != 0)
            fail_msg("%s: got %s '%s', want EINVAL '%s'", cases[i].command, foundry_strerror(err),
                     reason.text, cases[i].want);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_admin_table_dispatches_to_named_row, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_admin_table_passes_call_and_error_through, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_admin_table_unknown_command_is_ekind, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_admin_table_missing_arg_refused_before_run, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_admin_table_unknown_arg_refused_before_run, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_admin_table_bad_value_refused_before_run, s_setup,
                                        s_teardown),
        cmocka_unit_test(test_admin_table_reads_args),
        cmocka_unit_test(test_admin_table_refuses_bad_numbers),
        cmocka_unit_test_setup_teardown(test_admin_table_builds_cells, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_admin_table_empty_table, s_setup, s_teardown),
        cmocka_unit_test(test_admin_table_reply_too_large),
        cmocka_unit_test(test_admin_table_real_tables_route_by_prefix),
        cmocka_unit_test_setup_teardown(test_admin_table_real_tables_check_args_first, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests_name("admin_table", tests, NULL, NULL);
}
