/*  admin_table.h: what every admin command module shares (admin_table.c
 *  defines it): the command table and its dispatcher, which checks the
 *  "key=value" arguments against the row's spec before the command runs,
 *  the argument readers, and the reply table under construction, whose
 *  cells live in the admin reply arena. Internal to the broker.
 *
 *  A module that owns commands exports a const table of rows over a context
 *  struct of its own; a service's admin op is then one fdy_admin_dispatch()
 *  call with that table and its context.
 */
#ifndef FDY_ADMIN_TABLE_H_INCLUDED
#define FDY_ADMIN_TABLE_H_INCLUDED

#include "arena.h"
#include "codec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One argument a command accepts. */
typedef struct {
    const char *key;
    bool required;   /* must be given */
    bool repeatable; /* may be given more than once (filter=, allow=) */
} fdy_admin_arg_spec_t;

/* One admin request, as the dispatcher and the command see it. */
typedef struct {
    /* Who runs it. Borrowed, valid until the command returns, and stable
     * through it: fdy_admin_handle() passes a copy without the allow
     * filters, because key.add and key.revoke reload the registry the
     * original lives in. */
    const fdy_principal_t *caller;
    const char *command;     /* "stream.add"; borrowed for the call */
    const char *const *args; /* "key=value" strings; borrowed for the call */
    size_t arg_count;
    /* Where the reply's cells (and any scratch the command needs) go.
     * Borrowed; everything allocated in it lives until the reply is
     * encoded and the owner resets it for the next command. */
    fdy_arena_t *arena;
} fdy_admin_call_t;

/* The table being built for the current command. Cells point into arena. */
typedef struct {
    fdy_arena_t *arena;
    const char *const *columns;
    const fdy_col_type_t *types;
    size_t column_count;
    fdy_slice_t *cells;
    size_t row_count;
    size_t row_capacity;
} fdy_admin_table_t;

/* One command. Rows live in const tables and are never copied. */
typedef struct {
    const char *name; /* "stream.add" */
    /* What it accepts, checked by fdy_admin_dispatch() before fn runs. A
     * row without specs takes no args. Borrowed from a static table. */
    const fdy_admin_arg_spec_t *args;
    size_t arg_count;
    /* Runs the command with self (the table owner's context) and builds the
     * reply in out (fdy_admin_table_begin() with call->arena). Returns
     * FOUNDRY_OK, or an error with reason set; out is then not used. */
    foundry_err (*fn)(void *self, const fdy_admin_call_t *call, fdy_admin_table_t *out,
                      fdy_reason_t *reason);
} fdy_admin_command_t;

/* Finds the row named call->command in table (count rows), checks
 * call->args against its spec and runs its fn with self. reason is cleared
 * first; *out starts as an empty table in call->arena, which is what the
 * reply is when fn succeeds without building one.
 * Returns what fn returns, or, before fn runs: FOUNDRY_EKIND ("unknown
 * admin command '...'") when no row has the name; FOUNDRY_EINVAL when an
 * arg is not key=value, has a key the row does not list, is given twice
 * without being repeatable, a required one is missing, or the row takes no
 * args and some were given ("<name> takes no args"). Runs on the broker
 * loop's thread, like every command. */
foundry_err fdy_admin_dispatch(void *self, const fdy_admin_command_t *table, size_t count,
                               const fdy_admin_call_t *call, fdy_admin_table_t *out,
                               fdy_reason_t *reason);

/* Value of the first arg named key (borrowed from call->args), or NULL. */
const char *fdy_admin_arg(const fdy_admin_call_t *call, const char *key);

/* Decimal value of arg key in *value_out, or fallback when it is absent.
 * Returns FOUNDRY_OK, or FOUNDRY_EINVAL ("arg 'key': '...' is not a
 * number") when it is not an unsigned 64-bit decimal. */
foundry_err fdy_admin_arg_uint(const fdy_admin_call_t *call, const char *key, uint64_t fallback,
                               uint64_t *value_out, fdy_reason_t *reason);

/* Starts a table of up to row_capacity rows in arena (borrowed, must
 * outlive the table); columns and types are borrowed too, usually static.
 * Returns FOUNDRY_OK, or FOUNDRY_ENOMEM ("reply too large") when the cells
 * would not fit the arena's budget. */
foundry_err fdy_admin_table_begin(fdy_admin_table_t *table, fdy_arena_t *arena,
                                  const char *const *columns, const fdy_col_type_t *types,
                                  size_t column_count, size_t row_capacity, fdy_reason_t *reason);
/* Adds a row of empty cells; NULL when the capacity is used up. The row is
 * borrowed from the table: column_count cells. */
fdy_slice_t *fdy_admin_row_add(fdy_admin_table_t *table);
/* The finished table in *out, borrowing the table's cells and columns. */
void fdy_admin_table_end(const fdy_admin_table_t *table, fdy_table_t *out);

/* Cells copied into the table's arena; false when it is exhausted. */
bool fdy_admin_cell_copy(fdy_admin_table_t *table, fdy_slice_t *cell, const void *data, size_t len);
bool fdy_admin_cell_text(fdy_admin_table_t *table, fdy_slice_t *cell, const char *text);
bool fdy_admin_cell_int(fdy_admin_table_t *table, fdy_slice_t *cell, uint64_t value);
/* The strings joined by single spaces. */
bool fdy_admin_cell_join(fdy_admin_table_t *table, fdy_slice_t *cell, const char *const *items,
                         size_t count);

#endif
