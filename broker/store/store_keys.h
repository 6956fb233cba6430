/*  store_keys.h: the key store's table (private to broker/store/); its
 *  operations are public in store.h.
 */
#ifndef FDY_STORE_KEYS_H_INCLUDED
#define FDY_STORE_KEYS_H_INCLUDED

#include "store_table.h"

extern const fdy_store_table_t fdy_store_keys_table; /* "keys" */

/* "keys" value (schema 4 and later): crc32c (u32 LE, over every byte after
 * it) | version (u8, 1) | reserved (3 bytes, 0) | the registry's encoding
 * (a KeyRecord protobuf). Schemas 2 and 3 stored the encoding bare; the
 * migration to 4 frames every record. */
#define FDY_KEY_REC_HEADER  8
#define FDY_KEY_REC_VERSION 1
#define FDY_KEY_REC_SCHEMA  4
/* Largest encoding a record holds (a KeyRecord with every allow filter at
 * its longest is far below). */
#define FDY_KEY_REC_MAX (1 << 20)

/* Checks the record stored under key name, as written by a store of
 * `schema`, and points *payload_out and *len_out at the registry's
 * encoding inside val (borrowed like val). Before FDY_KEY_REC_SCHEMA the
 * whole value is the encoding. Returns FOUNDRY_OK or FOUNDRY_ECORRUPT
 * (cut short, checksum mismatch, unknown version: the reason names the key
 * and says it is refused), with reason. */
foundry_err fdy_store_key_record_open(uint64_t schema, const char *name, const MDB_val *val,
                                      const uint8_t **payload_out, size_t *len_out,
                                      fdy_reason_t *reason);

#endif
