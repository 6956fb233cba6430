/*  store_consumers.h: durable consumer records (private to broker/store/):
 *  state writes inside a commit, dropping a stream's consumers, their
 *  names for stream info. The states part itself is fdy_store_states_part
 *  (commit.h).
 */
#ifndef FDY_STORE_CONSUMERS_H_INCLUDED
#define FDY_STORE_CONSUMERS_H_INCLUDED

#include "store_table.h"

extern const fdy_store_table_t fdy_store_consumers_table; /* "consumers", "consumer_states" */

/* The consumer config database (stats count its entries). */
MDB_dbi fdy_store_consumers_dbi(const fdy_store_t *self);

/* consumers and consumer_states keys: stream_id (u32 BE) | consumer name,
 * so one stream's consumers are one key range in name order. */
#define FDY_CONSUMER_KEY_MAX (4 + FDY_CONSUMER_NAME_MAX)

/* Checks the shape of a state (sizes, ordering, ranges, name). */
foundry_err fdy_store_state_check(const fdy_consumer_state_t *state, size_t index,
                                  fdy_reason_t *reason);

/* Replaces the stored state of an existing consumer (FOUNDRY_ENOTFOUND if
 * it does not exist). */
foundry_err fdy_store_state_put(fdy_store_t *self, MDB_txn *txn,
                                const fdy_consumer_state_t *state, uint64_t now_ns,
                                fdy_reason_t *reason);

/* Deletes every consumer (config and state) of a stream. */
foundry_err fdy_store_consumers_drop(fdy_store_t *self, MDB_txn *txn, uint32_t stream_id,
                                     fdy_reason_t *reason);

/* Appends the names of stream_id's consumers to info (malloc'd). */
foundry_err fdy_store_consumer_names(fdy_store_t *self, MDB_txn *txn, uint32_t stream_id,
                                     fdy_stream_info_t *info, fdy_reason_t *reason);

#endif
