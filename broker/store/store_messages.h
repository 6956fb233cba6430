/*  store_messages.h: message records and the dedupe index (private to
 *  broker/store/): the record format, parse and put, the dedupe key, and
 *  touching a stream in the write transaction in progress. The append part
 *  itself is fdy_store_messages_part (commit.h).
 */
#ifndef FDY_STORE_MESSAGES_H_INCLUDED
#define FDY_STORE_MESSAGES_H_INCLUDED

#include "store_table.h"

/* Message databases "m.<stream id>": key = seq (u64 BE), so memcmp order is
 * numeric and every append is past the last key (MDB_APPEND).
 * Value (format 1): crc32c(4) format(1) publisher_len(1) msg_id_len(1)
 * reserved(1) stored_ns(8) ext_len(4) | publisher | msg_id | data | ext.
 * The CRC-32C (LE) covers everything after it.
 * Format 2 (dead letters) inserts a dead-letter block after msg_id:
 *   block_len(u16) origin_seq(u64) origin_stored_ns(u64) deliveries(u32)
 *   origin_len(u8) consumer_len(u8) reason_len(u16) | origin | consumer |
 *   reason
 * (block_len counts the whole block, itself included; all LE). */
#define FDY_MSG_KEY_LEN 8
#define FDY_MSG_HEADER_LEN 20
#define FDY_MSG_FORMAT 1
#define FDY_MSG_FORMAT_DEAD 2
#define FDY_DEAD_BLOCK_FIXED 26
#define FDY_DEAD_BLOCK_MAX                                                                        \
    (FDY_DEAD_BLOCK_FIXED + FOUNDRY_STREAM_NAME_MAX + FDY_CONSUMER_NAME_MAX +                     \
     FDY_DEAD_LETTER_REASON_MAX)
/* dedupe key: stream_id(u32 BE) | publisher_len(u8) | publisher |
 * msg_id, what the in-memory index hashes (store_dedupe.h). A producer id
 * is remembered per stream and per publishing principal: one principal's
 * ids can neither suppress nor reveal another's, and a duplicate always
 * names a seq of the stream it was routed to. The length byte keeps
 * ("ab","c") and ("a","bc") apart. At most 4 + 1 + 63 + 64 = 132 bytes. */
#define FDY_DEDUPE_KEY_PREFIX_LEN 4
#define FDY_DEDUPE_KEY_MAX                                                                        \
    (FDY_DEDUPE_KEY_PREFIX_LEN + 1 + FDY_STORE_PUBLISHER_MAX + FOUNDRY_MSG_ID_MAX)

extern const fdy_store_table_t fdy_store_messages_table; /* no database since schema 5 */

/* Writes the dedupe key of (stream_id, publisher, msg_id) into key and
 * returns its length, or 0 when publisher_len is over
 * FDY_STORE_PUBLISHER_MAX or msg_id_len is not 1..FOUNDRY_MSG_ID_MAX (no
 * such entry can exist). publisher may be NULL when publisher_len is 0. */
size_t fdy_store_dedupe_key(uint8_t key[FDY_DEDUPE_KEY_MAX], uint32_t stream_id,
                            const char *publisher, size_t publisher_len, const uint8_t *msg_id,
                            size_t msg_id_len);

static inline void
fdy_store_msg_key(uint8_t *key, uint64_t seq)
{
    fdy_bytes_put_be64(key, seq);
}

static inline uint64_t
fdy_store_msg_key_seq(const uint8_t *key)
{
    return fdy_bytes_get_be64(key);
}

/* Buffers a parsed record points into (publisher and dead-letter strings
 * are copied out NUL-terminated). */
typedef struct {
    char publisher[256];
    char origin[FOUNDRY_STREAM_NAME_MAX + 1];
    char consumer[FDY_CONSUMER_NAME_MAX + 1];
    char reason[FDY_DEAD_LETTER_REASON_MAX + 1];
    fdy_dead_letter_info_t dead_letter;
} fdy_store_parse_buf_t;

/* Checks a message record (the checksum too when verify) and fills rec,
 * which points into val and buf (borrowed like them). Returns FOUNDRY_OK
 * or FOUNDRY_ECORRUPT naming stream and seq. */
foundry_err fdy_store_record_parse(const char *stream, uint64_t seq, const MDB_val *val,
                                   bool verify, fdy_stored_t *rec, fdy_store_parse_buf_t *buf,
                                   fdy_reason_t *reason);

/* The bytes a record counts in its stream's `bytes` counter (and against
 * max_bytes): data + ext, the message as its producer sent it (the encoded
 * Message, subject, id, headers and inline payload included, plus its
 * payload frame); not the record header, publisher, id copy or dead-letter
 * block. From the header alone (trim); 0 for a damaged header. */
uint64_t fdy_store_record_msg_bytes(const MDB_val *val);

/* What one new message record holds (a dead letter also has a block). All
 * borrowed for the call. */
typedef struct {
    const char *publisher;
    size_t publisher_len;
    const uint8_t *msg_id;
    size_t msg_id_len;
    const uint8_t *block; /* the format-2 dead-letter block, or NULL */
    size_t block_len;
    const uint8_t *data;
    size_t data_len;
    const uint8_t *ext;
    size_t ext_len;
} fdy_store_rec_t;

/* Adds st to the write transaction in progress: loads its counters into
 * st->txn, opens its append cursor and lists it in self->touched (once per
 * transaction; commit.c writes the counters back and resets the list).
 * Returns FOUNDRY_OK, FOUNDRY_ECORRUPT (record missing or id mismatch),
 * FOUNDRY_EFULL or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_stream_touch(fdy_store_t *self, MDB_txn *txn, fdy_store_stream_t *st,
                                   fdy_reason_t *reason);

/* Appends rec as seq st->txn.last_seq + 1 of a touched stream and updates
 * st->txn. Returns FOUNDRY_OK, FOUNDRY_ECORRUPT, FOUNDRY_EFULL or
 * FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_record_put(fdy_store_t *self, fdy_store_stream_t *st,
                                 const fdy_store_rec_t *rec, uint64_t stored_ns,
                                 uint64_t *seq_out, fdy_reason_t *reason);

/* Appends a copy of record, a whole message record already checked (its
 * checksum too) as found in another store, as seq st->txn.last_seq + 1 of a
 * touched stream, byte for byte (stored_ns, publisher, id, dead-letter
 * block), and updates st->txn. Not entered in the dedupe index. Returns as
 * fdy_store_record_put(). */
foundry_err fdy_store_record_put_copy(fdy_store_t *self, fdy_store_stream_t *st,
                                      const MDB_val *record, uint64_t *seq_out,
                                      fdy_reason_t *reason);

#endif
