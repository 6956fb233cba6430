/*  store_clock.c: the store's monotonic, slewed time (store_clock.h).
 *  Pure arithmetic over the two system clocks plus one meta value; no
 *  database of its own.
 */
#include "store_clock.h"

#include "clock.h"

static foundry_err
s_load(fdy_store_t *self, MDB_txn *txn, fdy_reason_t *reason)
{
    uint64_t persisted = 0;
    foundry_err err = fdy_store_meta_get(self, txn, FDY_META_CLOCK, &persisted, reason);
    if (err != FOUNDRY_OK)
        return err;
    uint64_t wall = fdy_clock_wall_ns();
    /* After a restart the wall clock may be behind what was stored: time
     * goes on from there rather than backwards. */
    self->clock_ns = wall > persisted ? wall : persisted + 1;
    self->clock_mono_ns = fdy_clock_mono_ns();
    return FOUNDRY_OK;
}

/* No databases of its own: the persisted time lives in "meta". */
static const char *const s_no_dbs[] = { NULL };
const fdy_store_table_t fdy_store_clock_table = { .name = "clock", .dbs = s_no_dbs, .load = s_load };

uint64_t
fdy_store_now_ns(fdy_store_t *self)
{
    uint64_t mono = fdy_clock_mono_ns();
    uint64_t elapsed = mono > self->clock_mono_ns ? mono - self->clock_mono_ns : 0;
    uint64_t next = self->clock_ns + elapsed;
    uint64_t wall = fdy_clock_wall_ns();
    uint64_t slew = elapsed / FDY_STORE_CLOCK_SLEW;
    if (wall > next)
        next += wall - next < slew ? wall - next : slew;
    else if (next > wall)
        next -= next - wall < slew ? next - wall : slew;
    if (next < self->clock_ns)   /* cannot happen (slew < elapsed); kept as the invariant */
        next = self->clock_ns;
    self->clock_ns = next;
    self->clock_mono_ns = mono;
    return next;
}

foundry_err
fdy_store_clock_put(fdy_store_t *self, MDB_txn *txn, uint64_t now_ns, fdy_reason_t *reason)
{
    return fdy_store_meta_put(self, txn, FDY_META_CLOCK, now_ns, reason);
}
