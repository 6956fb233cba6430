/*  service.c: the little the service interface itself implements: the
 *  counter list (and labeled tables) every service's stats() fills.
 */
#include "service.h"

void
fdy_stats_add(fdy_stats_t *self, const char *name, uint64_t value)
{
    if (self->count < FDY_STATS_MAX)
        self->items[self->count++] = (fdy_stat_t){.name = name, .value = value};
}

void
fdy_stats_add_table(fdy_stats_t *self, const fdy_labeled_t *table)
{
    if (self->table_count < FDY_STATS_TABLES_MAX)
        self->tables[self->table_count++] = table;
}
