/*  admin_table.h: what the admin command modules share (admin.c defines
 *  it): "key=value" argument checks and the reply table under construction,
 *  whose cells live in the admin reply arena. Internal to the broker.
 */
#ifndef FDY_ADMIN_TABLE_H_INCLUDED
#define FDY_ADMIN_TABLE_H_INCLUDED

#include "arena.h"
#include "codec.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *key;
    bool required;
    bool repeatable;
} fdy_admin_arg_spec_t;

/* Every arg must be key=value with a key in specs; required keys present,
 * single ones once. Returns FOUNDRY_OK or FOUNDRY_EINVAL naming the arg. */
foundry_err fdy_admin_check_args(const char *const *args, size_t arg_count,
                                 const fdy_admin_arg_spec_t *specs, size_t spec_count,
                                 fdy_reason_t *reason);

/* Value of the first arg named key (borrowed from args), or NULL. */
const char *fdy_admin_arg(const char *const *args, size_t arg_count, const char *key);

/* Decimal value of arg key, or fallback when absent. FOUNDRY_EINVAL if not
 * a number. */
foundry_err fdy_admin_arg_uint(const char *const *args, size_t arg_count, const char *key,
                               uint64_t fallback, uint64_t *value_out, fdy_reason_t *reason);

/* The table being built for the current command. */
typedef struct {
    fdy_arena_t *arena;
    const char *const *columns;
    const fdy_col_type_t *types;
    size_t column_count;
    fdy_slice_t *cells;
    size_t row_count;
    size_t row_capacity;
} fdy_admin_table_t;

/* Starts a table of up to row_capacity rows in arena. FOUNDRY_ENOMEM when
 * the reply would not fit. */
foundry_err fdy_admin_table_begin(fdy_admin_table_t *table, fdy_arena_t *arena,
                                  const char *const *columns, const fdy_col_type_t *types,
                                  size_t column_count, size_t row_capacity, fdy_reason_t *reason);
/* Adds a row of empty cells; NULL when the capacity is used up. */
fdy_slice_t *fdy_admin_row_add(fdy_admin_table_t *table);
void fdy_admin_table_end(const fdy_admin_table_t *table, fdy_table_t *out);

/* Cells copied into the arena; false when it is exhausted. */
bool fdy_admin_cell_copy(fdy_admin_table_t *table, fdy_slice_t *cell, const void *data, size_t len);
bool fdy_admin_cell_text(fdy_admin_table_t *table, fdy_slice_t *cell, const char *text);
bool fdy_admin_cell_int(fdy_admin_table_t *table, fdy_slice_t *cell, uint64_t value);
/* The strings joined by single spaces. */
bool fdy_admin_cell_join(fdy_admin_table_t *table, fdy_slice_t *cell, const char *const *items,
                         size_t count);

#endif
