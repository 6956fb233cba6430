/*  admin_table.c: the admin command dispatcher, the "key=value" argument
 *  checks it runs before any command, and the reply table builder. Knows no
 *  command: each module that owns some exports a table of rows, and which
 *  table a command goes to is admin.c's choice.
 */
#include "admin_table.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arguments -------------------------------------------------------- */

static size_t
s_arg_key_len(const char *arg)
{
    const char *equals = strchr(arg, '=');
    return equals ? (size_t) (equals - arg) : strlen(arg);
}

/* Every arg must be key=value with a key the command knows; required keys
 * must be there and single ones appear once. Malformed args are reported
 * before missing ones, in arg order, so the first mistake a user typed is
 * the one named. */
static foundry_err
s_check_args(const fdy_admin_command_t *row, const fdy_admin_call_t *call, fdy_reason_t *reason)
{
    const char *const *args = call->args;
    if (row->arg_count == 0 && call->arg_count > 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s takes no args", row->name);
    for (size_t i = 0; i < call->arg_count; i++) {
        size_t key_len = s_arg_key_len(args[i]);
        if (args[i][key_len] != '=')
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg '%.64s' is not key=value", args[i]);
        const fdy_admin_arg_spec_t *spec = NULL;
        for (size_t s = 0; s < row->arg_count; s++) {
            if (strlen(row->args[s].key) == key_len &&
                strncmp(row->args[s].key, args[i], key_len) == 0)
                spec = &row->args[s];
        }
        if (!spec)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "unknown arg '%.*s'",
                                  (int) (key_len > 64 ? 64 : key_len), args[i]);
        for (size_t j = 0; j < i && !spec->repeatable; j++) {
            if (s_arg_key_len(args[j]) == key_len && strncmp(args[j], args[i], key_len) == 0)
                return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg '%s' given twice", spec->key);
        }
    }
    for (size_t s = 0; s < row->arg_count; s++) {
        if (!row->args[s].required)
            continue;
        const char *key = row->args[s].key;
        size_t key_len = strlen(key);
        bool found = false;
        for (size_t i = 0; i < call->arg_count && !found; i++)
            found = s_arg_key_len(args[i]) == key_len && strncmp(args[i], key, key_len) == 0;
        if (!found)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "missing arg '%s'", key);
    }
    return FOUNDRY_OK;
}

const char *
fdy_admin_arg(const fdy_admin_call_t *call, const char *key)
{
    size_t key_len = strlen(key);
    for (size_t i = 0; i < call->arg_count; i++) {
        const char *arg = call->args[i];
        if (strncmp(arg, key, key_len) == 0 && arg[key_len] == '=')
            return arg + key_len + 1;
    }
    return NULL;
}

foundry_err
fdy_admin_arg_uint(const fdy_admin_call_t *call, const char *key, uint64_t fallback,
                   uint64_t *value_out, fdy_reason_t *reason)
{
    const char *text = fdy_admin_arg(call, key);
    *value_out = fallback;
    if (!text)
        return FOUNDRY_OK;
    /* strtoull alone would take " 5", "+5" and "-5" (wrapped). */
    if (text[0] < '0' || text[0] > '9')
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg '%s': '%.32s' is not a number", key,
                              text);
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg '%s': '%.32s' is not a number", key,
                              text);
    *value_out = value;
    return FOUNDRY_OK;
}

/* ---- dispatch ---------------------------------------------------------- */

foundry_err
fdy_admin_dispatch(void *self, const fdy_admin_command_t *table, size_t count,
                   const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    fdy_reason_clear(reason);
    *out = (fdy_admin_table_t){.arena = call->arena};
    for (size_t i = 0; i < count; i++) {
        if (strcmp(call->command, table[i].name) != 0)
            continue;
        foundry_err err = s_check_args(&table[i], call, reason);
        if (err != FOUNDRY_OK)
            return err;
        return table[i].fn(self, call, out, reason);
    }
    return fdy_reason_set(reason, FOUNDRY_EKIND, "unknown admin command '%.64s'", call->command);
}

/* ---- table building ---------------------------------------------------- */

foundry_err
fdy_admin_table_begin(fdy_admin_table_t *table, fdy_arena_t *arena, const char *const *columns,
                      const fdy_col_type_t *types, size_t column_count, size_t row_capacity,
                      fdy_reason_t *reason)
{
    *table = (fdy_admin_table_t){.arena = arena,
                                 .columns = columns,
                                 .types = types,
                                 .column_count = column_count,
                                 .row_capacity = row_capacity};
    size_t cells = row_capacity * column_count;
    table->cells = fdy_arena_alloc(arena, (cells ? cells : 1) * sizeof *table->cells);
    if (!table->cells)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    return FOUNDRY_OK;
}

fdy_slice_t *
fdy_admin_row_add(fdy_admin_table_t *table)
{
    if (table->row_count == table->row_capacity)
        return NULL;
    fdy_slice_t *row = &table->cells[table->row_count * table->column_count];
    memset(row, 0, table->column_count * sizeof *row);
    table->row_count++;
    return row;
}

void
fdy_admin_table_end(const fdy_admin_table_t *table, fdy_table_t *out)
{
    *out = (fdy_table_t){.column_count = table->column_count,
                         .columns = table->columns,
                         .types = table->types,
                         .row_count = table->row_count,
                         .cells = table->cells};
}

/* A copy in the arena: what the cell points to must outlive LMDB
 * transactions and registry reloads until the reply is encoded. */
bool
fdy_admin_cell_copy(fdy_admin_table_t *table, fdy_slice_t *cell, const void *data, size_t len)
{
    uint8_t *copy = fdy_arena_alloc(table->arena, len ? len : 1);
    if (!copy)
        return false;
    if (len)
        memcpy(copy, data, len);
    *cell = (fdy_slice_t){.data = copy, .len = len};
    return true;
}

bool
fdy_admin_cell_text(fdy_admin_table_t *table, fdy_slice_t *cell, const char *text)
{
    return fdy_admin_cell_copy(table, cell, text, strlen(text));
}

bool
fdy_admin_cell_int(fdy_admin_table_t *table, fdy_slice_t *cell, uint64_t value)
{
    char text[24];
    int len = snprintf(text, sizeof text, "%" PRIu64, value);
    return fdy_admin_cell_copy(table, cell, text, (size_t) len);
}

bool
fdy_admin_cell_join(fdy_admin_table_t *table, fdy_slice_t *cell, const char *const *items,
                    size_t count)
{
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += strlen(items[i]) + 1;
    char *text = fdy_arena_alloc(table->arena, total + 1);
    if (!text)
        return false;
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen(items[i]);
        if (i > 0)
            text[used++] = ' ';
        memcpy(text + used, items[i], len);
        used += len;
    }
    text[used] = '\0';
    *cell = (fdy_slice_t){.data = (const uint8_t *) text, .len = used};
    return true;
}
