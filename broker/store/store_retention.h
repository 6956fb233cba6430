/*  store_retention.h: what the rest of the store uses of the cleaners
 *  (private to broker/store/): forgetting the dedupe entry of a record that
 *  is removed (trim and prune here), and every entry of a stream that is
 *  deleted (store_catalog.c).
 */
#ifndef FDY_STORE_RETENTION_H_INCLUDED
#define FDY_STORE_RETENTION_H_INCLUDED

#include "store_table.h"

/* Removes the dedupe entry of the record val (seq of stream_id), keyed by
 * stream_id and the record's publisher and msg id, if it still points at
 * that record. *removed_out (may be NULL) tells whether it did. Records
 * whose header is damaged are skipped (reads report them). dedupe is a
 * cursor on the dedupe database in the caller's write transaction.
 * Returns FOUNDRY_OK or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_dedupe_forget(fdy_store_t *self, MDB_cursor *dedupe, uint32_t stream_id,
                                    uint64_t seq, const MDB_val *val, bool *removed_out,
                                    fdy_reason_t *reason);

/* Removes every dedupe entry of stream_id (its key range) in txn.
 * Returns FOUNDRY_OK, FOUNDRY_EFULL or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_dedupe_drop_stream(fdy_store_t *self, MDB_txn *txn, uint32_t stream_id,
                                         fdy_reason_t *reason);

#endif
