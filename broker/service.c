/*  service.c: the little the service interface itself implements: the
 *  counter list every service's stats() fills.
 */
#include "service.h"

void
fdy_stats_add(fdy_stats_t *self, const char *name, uint64_t value)
{
    if (self->count < FDY_STATS_MAX)
        self->items[self->count++] = (fdy_stat_t){.name = name, .value = value};
}
