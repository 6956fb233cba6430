/*  labeled.h: bounded labeled counters for the metrics endpoint. A value
 *  set gives each distinct label value (a site, a job type) a small index,
 *  up to FDY_LABELED_VALUES_MAX of them; later values share the "other"
 *  index, so what peers send cannot grow memory. A table counts in a grid:
 *  a fixed label with a few static values (kind, state) times one bounded
 *  label (a value set), for up to FDY_LABELED_FAMILIES_MAX families.
 *  No allocation, no locks: the owner thread counts and renders. Adding
 *  to a table is an array increment: resolve the index once (per
 *  connection, per node), not per message.
 */
#ifndef FDY_LABELED_H_INCLUDED
#define FDY_LABELED_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDY_LABELED_VALUES_MAX   64                     /* distinct values of a bounded label */
#define FDY_LABELED_OTHER        FDY_LABELED_VALUES_MAX /* the index they share after that */
#define FDY_LABELED_OTHER_NAME   "other"
#define FDY_LABELED_VALUE_LEN    64 /* longer values are cut (with NUL) */
#define FDY_LABELED_FIXED_MAX    8  /* values of the fixed label */
#define FDY_LABELED_FAMILIES_MAX 4

/* A bounded set of label values. Zero-initialised it is empty. */
typedef struct {
    char values[FDY_LABELED_VALUES_MAX][FDY_LABELED_VALUE_LEN];
    size_t count;
    uint64_t overflowed; /* lookups that got FDY_LABELED_OTHER for a value not in the set */
} fdy_labeled_values_t;

/* Empties self (indexes handed out before mean nothing afterwards). */
void fdy_labeled_values_clear(fdy_labeled_values_t *self);
/* The index of value (borrowed for the call), adding it when new and
 * there is room; FDY_LABELED_OTHER when the set is full, and for the
 * value "other" itself, so two rows never carry the same label. O(count):
 * call it once per connection or object, not per message. */
uint32_t fdy_labeled_values_index(fdy_labeled_values_t *self, const char *value);
/* The index of value without adding it: FDY_LABELED_OTHER when absent. */
uint32_t fdy_labeled_values_find(const fdy_labeled_values_t *self, const char *value);
/* The value of index (borrowed, valid while self lives and is not
 * cleared): "other" for FDY_LABELED_OTHER, "" past the set. */
const char *fdy_labeled_values_at(const fdy_labeled_values_t *self, uint32_t index);

/* A metric family a table fills: name (a valid metric name), type
 * ("counter" or "gauge") and help. Static. */
typedef struct {
    const char *name;
    const char *type;
    const char *help;
} fdy_labeled_family_t;

/* A grid of counts: families x fixed values x (values + "other"). */
typedef struct {
    const fdy_labeled_family_t *families; /* static, family_count of them */
    size_t family_count;
    const char *fixed_label;         /* static, e.g. "kind" */
    const char *const *fixed_values; /* static, fixed_count of them */
    size_t fixed_count;
    const char *label;                  /* static, e.g. "site" */
    const fdy_labeled_values_t *values; /* borrowed, outlives the table */
    uint64_t counts[FDY_LABELED_FAMILIES_MAX][FDY_LABELED_FIXED_MAX][FDY_LABELED_VALUES_MAX + 1];
} fdy_labeled_t;

/* Zeroes self and describes it. Every pointer is borrowed and must
 * outlive self; family_count and fixed_count must be within the limits
 * above (a programmer error: asserted). */
void fdy_labeled_init(fdy_labeled_t *self, const fdy_labeled_family_t *families,
                      size_t family_count, const char *fixed_label, const char *const *fixed_values,
                      size_t fixed_count, const char *label, const fdy_labeled_values_t *values);
/* Adds n to one cell. An index not in the value set counts as other. */
void fdy_labeled_add(fdy_labeled_t *self, size_t family, size_t fixed, uint32_t index, uint64_t n);
/* Zeroes every count (a gauge about to be recomputed). */
void fdy_labeled_reset(fdy_labeled_t *self);
/* One cell's count. */
uint64_t fdy_labeled_get(const fdy_labeled_t *self, size_t family, size_t fixed, uint32_t index);
/* Rows a family renders per fixed value: the set's values, plus "other"
 * once it was used (a lookup overflowed or something was counted there). */
size_t fdy_labeled_rows(const fdy_labeled_t *self);
/* The index of the row-th rendered row (row < fdy_labeled_rows()). */
uint32_t fdy_labeled_row_index(const fdy_labeled_t *self, size_t row);

#endif
