/*  store_clock.h: the store's own time, used for every timestamp it keeps
 *  (stored_ns) and every window it measures with them (dedupe, retention
 *  by age). It never goes backwards, advances with the monotonic clock, and
 *  follows the wall clock only by slewing: a step of the wall clock (NTP,
 *  an operator) is absorbed at most 1/16 as fast as time passes, so a resend
 *  is never stored twice and a stream is never trimmed at once because the
 *  wall clock jumped. Persisted in the meta DB with every commit, so a
 *  restart after a backward step continues from where it was.
 */
#ifndef FDY_STORE_CLOCK_H_INCLUDED
#define FDY_STORE_CLOCK_H_INCLUDED

#include "store_table.h"

/* The meta key holding the time of the last commit. */
#define FDY_META_CLOCK "clock_ns"
/* How fast the store's time may close a gap to the wall clock: 1/N of the
 * time elapsed. */
#define FDY_STORE_CLOCK_SLEW 16

/* The table descriptor: its load reads the persisted time at open. */
extern const fdy_store_table_t fdy_store_clock_table;

/* Writes now_ns (a value fdy_store_now_ns returned) in txn: called by the
 * commit with every transaction that writes. */
foundry_err fdy_store_clock_put(fdy_store_t *self, MDB_txn *txn, uint64_t now_ns,
                                fdy_reason_t *reason);

#endif
