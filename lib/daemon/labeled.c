/*  labeled.c: the value set is a short array searched linearly, which is
 *  fine because it is searched once per connection or object; counting is
 *  indexing. "other" is kept out of the set so the overflow row is the
 *  only one that can carry it.
 */
#include "labeled.h"

#include <assert.h>
#include <string.h>

void
fdy_labeled_values_clear(fdy_labeled_values_t *self)
{
    memset(self, 0, sizeof *self);
}

uint32_t
fdy_labeled_values_find(const fdy_labeled_values_t *self, const char *value)
{
    /* Compared as stored: a value cut to the column width matches its cut. */
    size_t len = strnlen(value, FDY_LABELED_VALUE_LEN - 1);
    for (size_t i = 0; i < self->count; i++)
        if (strncmp(self->values[i], value, len) == 0 && self->values[i][len] == '\0')
            return (uint32_t) i;
    return FDY_LABELED_OTHER;
}

uint32_t
fdy_labeled_values_index(fdy_labeled_values_t *self, const char *value)
{
    uint32_t found = fdy_labeled_values_find(self, value);
    if (found != FDY_LABELED_OTHER || strcmp(value, FDY_LABELED_OTHER_NAME) == 0)
        return found;
    size_t len = strnlen(value, FDY_LABELED_VALUE_LEN - 1);
    if (self->count == FDY_LABELED_VALUES_MAX) {
        self->overflowed++;
        return FDY_LABELED_OTHER;
    }
    memcpy(self->values[self->count], value, len);
    self->values[self->count][len] = '\0';
    return (uint32_t) self->count++;
}

const char *
fdy_labeled_values_at(const fdy_labeled_values_t *self, uint32_t index)
{
    if (index == FDY_LABELED_OTHER)
        return FDY_LABELED_OTHER_NAME;
    return index < self->count ? self->values[index] : "";
}

void
fdy_labeled_init(fdy_labeled_t *self, const fdy_labeled_family_t *families, size_t family_count,
                 const char *fixed_label, const char *const *fixed_values, size_t fixed_count,
                 const char *label, const fdy_labeled_values_t *values)
{
    assert(family_count <= FDY_LABELED_FAMILIES_MAX && fixed_count <= FDY_LABELED_FIXED_MAX);
    memset(self, 0, sizeof *self);
    self->families = families;
    self->family_count = family_count;
    self->fixed_label = fixed_label;
    self->fixed_values = fixed_values;
    self->fixed_count = fixed_count;
    self->label = label;
    self->values = values;
}

void
fdy_labeled_add(fdy_labeled_t *self, size_t family, size_t fixed, uint32_t index, uint64_t n)
{
    assert(family < self->family_count && fixed < self->fixed_count);
    if (index >= self->values->count)
        index = FDY_LABELED_OTHER; /* so every count is on a rendered row */
    self->counts[family][fixed][index] += n;
}

void
fdy_labeled_reset(fdy_labeled_t *self)
{
    memset(self->counts, 0, sizeof self->counts);
}

uint64_t
fdy_labeled_get(const fdy_labeled_t *self, size_t family, size_t fixed, uint32_t index)
{
    if (family >= self->family_count || fixed >= self->fixed_count || index > FDY_LABELED_OTHER)
        return 0;
    return self->counts[family][fixed][index];
}

static bool
s_other_used(const fdy_labeled_t *self)
{
    if (self->values->overflowed > 0)
        return true;
    for (size_t f = 0; f < self->family_count; f++)
        for (size_t x = 0; x < self->fixed_count; x++)
            if (self->counts[f][x][FDY_LABELED_OTHER] > 0)
                return true;
    return false;
}

size_t
fdy_labeled_rows(const fdy_labeled_t *self)
{
    return self->values->count + (s_other_used(self) ? 1 : 0);
}

uint32_t
fdy_labeled_row_index(const fdy_labeled_t *self, size_t row)
{
    return row < self->values->count ? (uint32_t) row : FDY_LABELED_OTHER;
}
