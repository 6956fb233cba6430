/*  fuzz_admin.c: fdy_admin_dispatch() (broker/admin/admin_table.c) on an
 *  untrusted command and its "key=value" args, over the real argument
 *  specs of the key, stream and consumer commands. The rows' own
 *  functions need a live store and registry, so each row runs a probe in
 *  their place that reads every argument its spec names through the same
 *  readers the commands use (fdy_admin_arg, fdy_admin_arg_uint), runs each
 *  value through the value parsers the commands use (sizes, durations,
 *  counts, roles, subjects) and builds a reply table from them. Input: the
 *  command, then one arg per line.
 */
#include "admin_keys.h"
#include "admin_streams.h"
#include "admin_table.h"
#include "config.h"
#include "subject.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARGS_MAX 64
#define ROWS_MAX 32

static const char *const s_columns[] = {"key", "value", "number"};
static const fdy_col_type_t s_types[] = {FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_INT};

/* The row being probed: dispatch passes only self to the fn. */
typedef struct {
    const fdy_admin_command_t *row;
} s_probe_t;

/* Runs the value through the parsers the commands apply to their args
 * (sizes, durations, counts, roles, subjects and filters). */
static void
s_parse_value(const char *value)
{
    uint64_t number;
    fdy_reason_t why;
    foundry_err (*const parsers[])(const char *, uint64_t *, fdy_reason_t *) = {
        fdy_config_parse_size, fdy_config_parse_duration, fdy_config_parse_uint};
    for (size_t i = 0; i < sizeof parsers / sizeof parsers[0]; i++) {
        fdy_reason_clear(&why);
        if (parsers[i](value, &number, &why) != FOUNDRY_OK && why.text[0] == '\0')
            abort();
    }
    fdy_role_t role;
    if (fdy_role_parse(value, &role) == FOUNDRY_OK && strcmp(fdy_role_name(role), value) != 0)
        abort(); /* a role parses from its own name only */
    fdy_reason_clear(&why);
    foundry_err err = fdy_subject_validate(value, &why);
    if (err != FOUNDRY_OK && why.text[0] == '\0')
        abort();
    if (err == FOUNDRY_OK && !fdy_subject_matches(value, value))
        abort(); /* a valid subject, taken as a filter, matches itself */
}

static foundry_err
s_probe(void *self_, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    const fdy_admin_command_t *row = ((s_probe_t *) self_)->row;
    foundry_err err =
        fdy_admin_table_begin(out, call->arena, s_columns, s_types, 3, row->arg_count + 1, reason);
    if (err != FOUNDRY_OK)
        return err;
    for (size_t i = 0; i < row->arg_count; i++) {
        const fdy_admin_arg_spec_t *spec = &row->args[i];
        const char *value = fdy_admin_arg(call, spec->key);
        if (spec->required && !value)
            abort(); /* dispatch let a call without a required arg through */
        uint64_t number = 0;
        fdy_reason_t why;
        fdy_reason_clear(&why);
        foundry_err number_err = fdy_admin_arg_uint(call, spec->key, 7, &number, &why);
        if (!value && (number_err != FOUNDRY_OK || number != 7))
            abort(); /* an absent arg is its fallback */
        if (number_err != FOUNDRY_OK && why.text[0] == '\0')
            abort();
        if (value)
            s_parse_value(value);
        fdy_slice_t *cells = fdy_admin_row_add(out);
        if (!cells)
            abort(); /* the capacity covers one row per spec */
        if (!fdy_admin_cell_text(out, &cells[0], spec->key) ||
            !fdy_admin_cell_text(out, &cells[1], value ? value : "") ||
            !fdy_admin_cell_int(out, &cells[2], number))
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    }
    fdy_slice_t *cells = fdy_admin_row_add(out);
    if (!cells || !fdy_admin_cell_join(out, &cells[1], call->args, call->arg_count))
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    return FOUNDRY_OK;
}

/* The real rows with the probe as their fn. */
static fdy_admin_command_t s_rows[ROWS_MAX];
static s_probe_t s_probes[ROWS_MAX];
static size_t s_row_count;

static void
s_rows_add(const fdy_admin_command_t *table, size_t count)
{
    for (size_t i = 0; i < count && s_row_count < ROWS_MAX; i++) {
        s_rows[s_row_count] = table[i];
        s_rows[s_row_count].fn = s_probe;
        s_probes[s_row_count].row = &s_rows[s_row_count];
        s_row_count++;
    }
}

/* Splits the input at '\n' into strings in buf: args[0] is the command. */
static size_t
s_split(char *buf, char **args)
{
    size_t count = 0;
    char *line = buf;
    while (line && count < ARGS_MAX) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        args[count++] = line;
        line = next;
    }
    return count;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (s_row_count == 0) {
        s_rows_add(fdy_admin_keys_commands, fdy_admin_keys_command_count);
        s_rows_add(fdy_admin_streams_commands, fdy_admin_streams_command_count);
    }
    if (memchr(data, '\0', size))
        return 0; /* args arrive as protobuf strings, which the codec checks */
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *args[ARGS_MAX];
    size_t count = s_split(buf, args);
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(size));
    if (!arena) {
        free(buf);
        return 0;
    }
    fdy_admin_call_t call = {.command = args[0],
                             .args = (const char *const *) args + 1,
                             .arg_count = count - 1,
                             .arena = arena};
    /* The probe of the row dispatch picks is the one whose self it gets. */
    const fdy_admin_command_t *row = NULL;
    for (size_t i = 0; i < s_row_count && !row; i++)
        if (strcmp(s_rows[i].name, call.command) == 0)
            row = &s_rows[i];
    fdy_admin_table_t out;
    fdy_reason_t reason;
    foundry_err err = fdy_admin_dispatch(row ? &s_probes[row - s_rows] : NULL, s_rows, s_row_count,
                                         &call, &out, &reason);
    if (err != FOUNDRY_OK && reason.text[0] == '\0')
        abort(); /* every refusal names its reason */
    if (err == FOUNDRY_OK) {
        if (!row)
            abort(); /* an unknown command ran */
        fdy_table_t table;
        fdy_admin_table_end(&out, &table);
        for (size_t i = 0; i < table.row_count * table.column_count; i++)
            for (size_t j = 0; j < table.cells[i].len; j++)
                if (table.cells[i].data[j] == '\0')
                    abort(); /* cells hold the args' text, without NULs */
    }
    fdy_arena_destroy(&arena);
    free(buf);
    return 0;
}
