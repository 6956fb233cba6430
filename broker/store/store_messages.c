/*  store_messages.c: message records (format, parse, put), the dedupe
 *  key, the append part of the group commit (fdy_store_messages_part) and
 *  verified reads. Not for stream records (store_streams.c), the commit
 *  itself (commit.c) or dead-letter copies (store_dead_letters.c).
 */
#include "commit.h"
#include "store_dedupe.h"
#include "store_messages.h"
#include "store_streams.h"

#include "codec.h"
#include "crc32c.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

/* Largest stored record; LMDB's limit is 4 GiB, ours keeps sizes in u32. */
#define S_RECORD_MAX (1ull << 31)

static foundry_err s_dedupe_migrate(fdy_store_t *self, MDB_txn *txn, uint64_t from_schema,
                                    fdy_reason_t *reason);

/* No database of its own since schema 5: the records are the durable
 * dedupe index (store_dedupe.h). */
static const char *const s_dbs[] = { NULL };
const fdy_store_table_t fdy_store_messages_table = { .name = "messages", .dbs = s_dbs,
                                                     .migrate = s_dedupe_migrate };

/* ---- the dedupe key ----------------------------------------------------- */

/* Every principal name fits the key's publisher field. */
static_assert(FDY_STORE_PUBLISHER_MAX == FDY_NAME_MAX - 1, "publisher field of the dedupe key");

size_t
fdy_store_dedupe_key(uint8_t key[FDY_DEDUPE_KEY_MAX], uint32_t stream_id, const char *publisher,
                     size_t publisher_len, const uint8_t *msg_id, size_t msg_id_len)
{
    if (publisher_len > FDY_STORE_PUBLISHER_MAX || msg_id_len == 0 ||
        msg_id_len > FOUNDRY_MSG_ID_MAX)
        return 0;
    fdy_bytes_put_be32(key, stream_id);
    uint8_t *w = key + FDY_DEDUPE_KEY_PREFIX_LEN;
    *w++ = (uint8_t) publisher_len;
    if (publisher_len)
        memcpy(w, publisher, publisher_len);
    w += publisher_len;
    memcpy(w, msg_id, msg_id_len);
    return (size_t) (w - key) + msg_id_len;
}

/* Schemas 2 to 4 kept a B-tree "dedupe" keyed by (stream, publisher, id):
 * random ids made every insert touch a random leaf. Schema 5 indexes the
 * records in memory instead (store_dedupe.h), and the records of every
 * schema from 2 on name their publisher and id, so the index is rebuilt
 * from them at open exactly as it was: nothing is forgotten, and the old
 * database is deleted to free its pages. */
static foundry_err
s_dedupe_migrate(fdy_store_t *self, MDB_txn *txn, uint64_t from_schema, fdy_reason_t *reason)
{
    if (from_schema >= 5)
        return FOUNDRY_OK;
    MDB_dbi dbi;
    int rc = mdb_dbi_open(txn, "dedupe", 0, &dbi);
    if (rc == MDB_NOTFOUND)
        return FOUNDRY_OK;
    MDB_stat st;
    if (rc == 0)
        rc = mdb_stat(txn, dbi, &st);
    if (rc == 0)
        rc = mdb_drop(txn, dbi, 1); /* deletes it and closes the handle */
    if (rc != 0)
        return fdy_kv_err(rc, reason, "migrate dedupe index");
    self->migrated_dedupe = st.ms_entries;
    return FOUNDRY_OK;
}

/* ---- message records ---------------------------------------------------- */

static foundry_err
s_bad_record(fdy_reason_t *reason, const char *stream, uint64_t seq, const char *what)
{
    return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: seq %llu: %s", stream,
                          (unsigned long long) seq, what);
}

/* Length of the dead-letter block of a format-2 record (0 for format 1),
 * or SIZE_MAX if the header or block length is inconsistent. */
static size_t
s_block_len(const uint8_t *p, size_t size)
{
    size_t used = FDY_MSG_HEADER_LEN + (size_t) p[5] + p[6];
    uint64_t ext_len = fdy_bytes_get_le32(p + 16);
    if ((uint64_t) used + ext_len > size)
        return SIZE_MAX;
    if (p[4] == FDY_MSG_FORMAT)
        return 0;
    if (p[4] != FDY_MSG_FORMAT_DEAD || used + FDY_DEAD_BLOCK_FIXED > size)
        return SIZE_MAX;
    size_t block_len = fdy_bytes_get_le16(p + used);
    if (block_len < FDY_DEAD_BLOCK_FIXED || (uint64_t) used + block_len + ext_len > size)
        return SIZE_MAX;
    return block_len;
}

uint64_t
fdy_store_record_msg_bytes(const MDB_val *val)
{
    const uint8_t *p = val->mv_data;
    if (val->mv_size < FDY_MSG_HEADER_LEN)
        return 0;
    size_t block_len = s_block_len(p, val->mv_size);
    if (block_len == SIZE_MAX)
        return 0;
    return val->mv_size - FDY_MSG_HEADER_LEN - p[5] - p[6] - block_len;
}

static foundry_err
s_dead_block_parse(const char *stream, uint64_t seq, const uint8_t *b, size_t block_len,
                   fdy_store_parse_buf_t *buf, fdy_reason_t *reason)
{
    size_t origin_len = b[22], consumer_len = b[23];
    size_t reason_len = fdy_bytes_get_le16(b + 24);
    if (FDY_DEAD_BLOCK_FIXED + origin_len + consumer_len + reason_len != block_len ||
        origin_len > FOUNDRY_STREAM_NAME_MAX || consumer_len > FDY_CONSUMER_NAME_MAX ||
        reason_len > FDY_DEAD_LETTER_REASON_MAX)
        return s_bad_record(reason, stream, seq, "bad dead-letter block");
    const uint8_t *s = b + FDY_DEAD_BLOCK_FIXED;
    memcpy(buf->origin, s, origin_len);
    buf->origin[origin_len] = '\0';
    s += origin_len;
    memcpy(buf->consumer, s, consumer_len);
    buf->consumer[consumer_len] = '\0';
    s += consumer_len;
    memcpy(buf->reason, s, reason_len);
    buf->reason[reason_len] = '\0';
    buf->dead_letter.stream = buf->origin;
    buf->dead_letter.seq = fdy_bytes_get_le64(b + 2);
    buf->dead_letter.stored_ns = fdy_bytes_get_le64(b + 10);
    buf->dead_letter.deliveries = fdy_bytes_get_le32(b + 18);
    buf->dead_letter.consumer = buf->consumer;
    buf->dead_letter.reason = buf->reason;
    return FOUNDRY_OK;
}

foundry_err
fdy_store_record_parse(const char *stream, uint64_t seq, const MDB_val *val, bool verify,
                       fdy_stored_t *rec, fdy_store_parse_buf_t *buf, fdy_reason_t *reason)
{
    const uint8_t *p = val->mv_data;
    size_t size = val->mv_size;
    if (size < FDY_MSG_HEADER_LEN)
        return s_bad_record(reason, stream, seq, "record truncated");
    if (verify && fdy_crc32c(0, p + 4, size - 4) != fdy_bytes_get_le32(p))
        return s_bad_record(reason, stream, seq, "checksum mismatch");
    size_t block_len = s_block_len(p, size);
    if (block_len == SIZE_MAX)
        return s_bad_record(reason, stream, seq, "bad record format");
    size_t publisher_len = p[5], id_len = p[6];
    size_t ext_len = fdy_bytes_get_le32(p + 16);
    const uint8_t *r = p + FDY_MSG_HEADER_LEN;
    memcpy(buf->publisher, r, publisher_len);
    buf->publisher[publisher_len] = '\0';
    rec->stream = stream;
    rec->seq = seq;
    rec->stored_ns = fdy_bytes_get_le64(p + 8);
    rec->publisher = buf->publisher;
    rec->msg_id = r + publisher_len;
    rec->msg_id_len = id_len;
    rec->dead_letter = NULL;
    const uint8_t *block = r + publisher_len + id_len;
    if (block_len) {
        foundry_err err = s_dead_block_parse(stream, seq, block, block_len, buf, reason);
        if (err != FOUNDRY_OK)
            return err;
        rec->dead_letter = &buf->dead_letter;
    }
    rec->data = block + block_len;
    rec->data_len = size - FDY_MSG_HEADER_LEN - publisher_len - id_len - block_len - ext_len;
    rec->ext = ext_len ? rec->data + rec->data_len : NULL;
    rec->ext_len = ext_len;
    return FOUNDRY_OK;
}

foundry_err
fdy_store_stream_touch(fdy_store_t *self, MDB_txn *txn, fdy_store_stream_t *st,
                       fdy_reason_t *reason)
{
    if (st->txn_touched)
        return FOUNDRY_OK;
    foundry_err err = fdy_store_stream_counters_get(self, txn, st->name, &st->txn, reason);
    if (err == FOUNDRY_ENOTFOUND)
        err = fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: record missing", st->name);
    if (err != FOUNDRY_OK)
        return err;
    if (st->txn.id != st->id)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: id %u, expected %u",
                              st->name, st->txn.id, st->id);
    /* A write transaction closes its cursors when it ends. */
    int rc = mdb_cursor_open(txn, st->dbi, &st->txn_cursor);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "append: open cursor");
    st->txn_touched = true;
    self->touched[self->touched_count++] = st;
    return FOUNDRY_OK;
}

foundry_err
fdy_store_record_put(fdy_store_t *self, fdy_store_stream_t *st, const fdy_store_rec_t *rec,
                     uint64_t stored_ns, uint64_t *seq_out, fdy_reason_t *reason)
{
    (void) self;
    uint64_t seq = st->txn.last_seq + 1;
    size_t size = FDY_MSG_HEADER_LEN + rec->publisher_len + rec->msg_id_len + rec->block_len +
                  rec->data_len + rec->ext_len;
    uint8_t key[FDY_MSG_KEY_LEN];
    fdy_store_msg_key(key, seq);
    MDB_val mk = { sizeof key, key };
    MDB_val mv = { size, NULL };
    /* Every stream has its own database and seqs only grow, so every
     * record is past the last key: LMDB fills pages instead of splitting
     * them in half. */
    int rc = mdb_cursor_put(st->txn_cursor, &mk, &mv, MDB_APPEND | MDB_RESERVE);
    if (rc == MDB_KEYEXIST)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "stream %s: seq %llu already stored past last_seq", st->name,
                              (unsigned long long) seq);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "append: message");
    uint8_t *p = mv.mv_data;
    p[4] = rec->block_len ? FDY_MSG_FORMAT_DEAD : FDY_MSG_FORMAT;
    p[5] = (uint8_t) rec->publisher_len;
    p[6] = (uint8_t) rec->msg_id_len;
    p[7] = 0;
    fdy_bytes_put_le64(p + 8, stored_ns);
    fdy_bytes_put_le32(p + 16, (uint32_t) rec->ext_len);
    uint8_t *w = p + FDY_MSG_HEADER_LEN;
    const struct {
        const void *src;
        size_t len;
    } parts[] = {
        { rec->publisher, rec->publisher_len }, { rec->msg_id, rec->msg_id_len },
        { rec->block, rec->block_len },         { rec->data, rec->data_len },
        { rec->ext, rec->ext_len },
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (parts[i].len)
            memcpy(w, parts[i].src, parts[i].len);
        w += parts[i].len;
    }
    fdy_bytes_put_le32(p, fdy_crc32c(0, p + 4, size - 4));

    if (st->txn.first_seq == 0)
        st->txn.first_seq = seq;
    st->txn.last_seq = seq;
    st->txn.messages++;
    /* What the producer sent, not what the record costs: the figure stays
     * the same whatever the record format (fdy_store_record_msg_bytes). */
    st->txn.bytes += rec->data_len + rec->ext_len;
    *seq_out = seq;
    return FOUNDRY_OK;
}

foundry_err
fdy_store_record_put_copy(fdy_store_t *self, fdy_store_stream_t *st, const MDB_val *record,
                          uint64_t *seq_out, fdy_reason_t *reason)
{
    (void) self;
    uint64_t seq = st->txn.last_seq + 1;
    uint8_t key[FDY_MSG_KEY_LEN];
    fdy_store_msg_key(key, seq);
    MDB_val mk = { sizeof key, key };
    MDB_val mv = *record; /* the checksum covers the record, not its seq */
    int rc = mdb_cursor_put(st->txn_cursor, &mk, &mv, MDB_APPEND);
    if (rc == MDB_KEYEXIST)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "stream %s: seq %llu already stored past last_seq", st->name,
                              (unsigned long long) seq);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "copy: message");
    if (st->txn.first_seq == 0)
        st->txn.first_seq = seq;
    st->txn.last_seq = seq;
    st->txn.messages++;
    st->txn.bytes += fdy_store_record_msg_bytes(record);
    *seq_out = seq;
    return FOUNDRY_OK;
}

/* ---- the append part -------------------------------------------------- */

static size_t
s_publisher_len(const fdy_store_item_t *item)
{
    return item->publisher ? strlen(item->publisher) : 0;
}

static foundry_err
s_items_check(fdy_store_t *self, const fdy_store_item_t *items, size_t count,
              fdy_reason_t *reason)
{
    bool reloaded = false;
    for (size_t i = 0; i < count; i++) {
        const fdy_store_item_t *it = &items[i];
        if (!fdy_store_stream_find(self, it->stream_id) && !reloaded) {
            /* Perhaps created by another process since we loaded. */
            foundry_err err = fdy_store_streams_sync(self, reason);
            if (err != FOUNDRY_OK)
                return err;
            reloaded = true;
        }
        if (!fdy_store_stream_find(self, it->stream_id))
            return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "item %zu: no stream with id %u",
                                  i, it->stream_id);
        if (!it->msg_id || it->msg_id_len == 0 || it->msg_id_len > FOUNDRY_MSG_ID_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "item %zu: message id must be 1..%d bytes", i,
                                  FOUNDRY_MSG_ID_MAX);
        /* The publisher is part of the dedupe key, which must stay bounded. */
        if (s_publisher_len(it) > FDY_STORE_PUBLISHER_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "item %zu: publisher name over %d bytes", i,
                                  FDY_STORE_PUBLISHER_MAX);
        if ((it->data_len && !it->data) || (it->ext_len && !it->ext))
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "item %zu: NULL data", i);
        uint64_t size = (uint64_t) FDY_MSG_HEADER_LEN + 255 + FOUNDRY_MSG_ID_MAX +
                        FDY_DEAD_BLOCK_MAX + (uint64_t) it->data_len + (uint64_t) it->ext_len;
        if (it->data_len > S_RECORD_MAX || it->ext_len > S_RECORD_MAX || size > S_RECORD_MAX)
            return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "item %zu: record too large", i);
    }
    return FOUNDRY_OK;
}

/* One item: dedupe (key, for its stream), then the record. *stored_out
 * tells whether it was new. */
static foundry_err
s_item_put(fdy_store_t *self, MDB_txn *txn, fdy_store_item_t *it,
           const fdy_store_dedupe_key_t *key, uint64_t now_ns, bool *stored_out,
           fdy_reason_t *reason)
{
    *stored_out = false;
    fdy_store_stream_t *st = fdy_store_stream_find(self, it->stream_id);
    foundry_err err = fdy_store_stream_touch(self, txn, st, reason);
    if (err != FOUNDRY_OK)
        return err;
    uint64_t seq = st->txn.last_seq + 1;

    /* The table is this stream's and the key this publisher's, so a
     * duplicate found here is a seq of st, and the ack's stream and seq
     * agree. */
    uint64_t dup_seq;
    err = fdy_store_dedupe_claim(self, txn, st, key, seq, now_ns, &dup_seq, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (dup_seq) {
        it->seq = dup_seq;
        it->duplicate = true;
        return FOUNDRY_OK;
    }

    fdy_store_rec_t rec = {
        .publisher = it->publisher,
        .publisher_len = s_publisher_len(it),
        .msg_id = it->msg_id,
        .msg_id_len = it->msg_id_len,
        .data = it->data,
        .data_len = it->data_len,
        .ext = it->ext,
        .ext_len = it->ext_len,
    };
    err = fdy_store_record_put(self, st, &rec, now_ns, &it->seq, reason);
    if (err != FOUNDRY_OK)
        return err;
    it->stored_ns = now_ns;
    it->duplicate = false;
    *stored_out = true;
    return FOUNDRY_OK;
}

static void
s_items_reset(void *data)
{
    fdy_store_items_t *d = data;
    for (size_t i = 0; d->items && i < d->count; i++) {
        d->items[i].seq = 0;
        d->items[i].stored_ns = 0;
        d->items[i].duplicate = false;
    }
}

static foundry_err
s_items_prepare(void *data, fdy_store_t *store, fdy_reason_t *reason)
{
    fdy_store_items_t *d = data;
    if (d->count && !d->items)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "batch: NULL array");
    foundry_err err = s_items_check(store, d->items, d->count, reason);
    if (err == FOUNDRY_OK)
        err = fdy_store_dedupe_room(store, d->count, reason);
    return err;
}

/* How many items ahead the append loop hashes their dedupe keys and
 * prefetches their slots: in a large index each claim is a cache miss, and
 * overlapping them is worth about a third of the broker's own time per
 * publish at full rate. A power of two: the keys wait in a ring. */
#define S_PREFETCH_AHEAD 8

/* Hashes item's dedupe key (checked by s_items_check: its stream exists)
 * and starts loading its slot. */
static void
s_item_key(fdy_store_t *self, const fdy_store_item_t *it, fdy_store_dedupe_key_t *key)
{
    const fdy_store_stream_t *st = fdy_store_stream_find(self, it->stream_id);
    fdy_store_dedupe_key_init(self, st, it->publisher, s_publisher_len(it), it->msg_id,
                              it->msg_id_len, key);
    fdy_store_dedupe_prefetch(st, key);
}

static foundry_err
s_items_write(void *data, fdy_store_t *store, MDB_txn *txn, uint64_t now_ns, size_t *writes,
              fdy_reason_t *reason)
{
    fdy_store_items_t *d = data;
    fdy_store_dedupe_key_t keys[S_PREFETCH_AHEAD];
    for (size_t i = 0; i < d->count && i < S_PREFETCH_AHEAD; i++)
        s_item_key(store, &d->items[i], &keys[i]);
    for (size_t i = 0; i < d->count; i++) {
        fdy_store_dedupe_key_t key = keys[i % S_PREFETCH_AHEAD];
        if (i + S_PREFETCH_AHEAD < d->count)
            s_item_key(store, &d->items[i + S_PREFETCH_AHEAD], &keys[i % S_PREFETCH_AHEAD]);
        bool stored;
        foundry_err err = s_item_put(store, txn, &d->items[i], &key, now_ns, &stored, reason);
        if (err != FOUNDRY_OK)
            return err;
        *writes += stored;
    }
    return FOUNDRY_OK;
}

const fdy_commit_part_t fdy_store_messages_part = {
    .name = "messages",
    .prepare = s_items_prepare,
    .write = s_items_write,
    .reset = s_items_reset,
    .droppable = false,
};

/* ---- read --------------------------------------------------------------- */

foundry_err
fdy_store_read(fdy_store_t *self, const char *stream, uint64_t from_seq, size_t max_count,
               fdy_store_read_fn *fn, void *user, fdy_reason_t *reason)
{
    size_t name_len = stream ? strlen(stream) : 0;
    if (name_len == 0 || name_len > FOUNDRY_STREAM_NAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%.80s\"",
                              stream ? stream : "");
    MDB_txn *txn = NULL;
    MDB_cursor *cursor = NULL;
    fdy_stream_counters_t c;
    fdy_store_stream_t *st = NULL;
    foundry_err err = FOUNDRY_OK;
    for (int attempt = 0; attempt < 2 && !st; attempt++) {
        if (attempt > 0) {
            /* Created by another process: open its database first. */
            fdy_kv_rtxn_end(self->kv, txn);
            txn = NULL;
            err = fdy_store_streams_sync(self, reason);
            if (err != FOUNDRY_OK)
                return err;
        }
        err = fdy_kv_rtxn_begin(self->kv, &txn, reason);
        if (err != FOUNDRY_OK)
            return err;
        err = fdy_store_stream_counters_get(self, txn, stream, &c, reason);
        if (err != FOUNDRY_OK)
            goto out;
        st = fdy_store_stream_find(self, c.id);
    }
    if (!st) {
        err = fdy_reason_set(reason, FOUNDRY_ESTORE, "stream %s: not loaded", stream);
        goto out;
    }
    uint64_t seq = from_seq > c.first_seq ? from_seq : c.first_seq;
    if (c.first_seq == 0 || seq > c.last_seq || max_count == 0)
        goto out;
    int rc = mdb_cursor_open(txn, st->dbi, &cursor);
    if (rc != 0) {
        err = fdy_kv_err(rc, reason, "read: open cursor");
        goto out;
    }
    uint8_t key[FDY_MSG_KEY_LEN];
    fdy_store_msg_key(key, seq);
    MDB_val k = { sizeof key, key }, v;
    rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
    fdy_store_parse_buf_t buf;
    for (size_t n = 0; n < max_count && seq <= c.last_seq; n++, seq++) {
        if (n > 0)
            rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            err = fdy_kv_err(rc, reason, "read");
            goto out;
        }
        if (rc == MDB_NOTFOUND || k.mv_size != FDY_MSG_KEY_LEN ||
            fdy_store_msg_key_seq(k.mv_data) != seq) {
            /* The stream record promises every seq from first_seq to
             * last_seq; retention only ever moves first_seq, in the same
             * transaction as it deletes. */
            err = fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                                 "stream %s: seq %llu missing (gap before last_seq %llu)",
                                 stream, (unsigned long long) seq,
                                 (unsigned long long) c.last_seq);
            goto out;
        }
        fdy_stored_t rec;
        err = fdy_store_record_parse(stream, seq, &v, true, &rec, &buf, reason);
        if (err != FOUNDRY_OK)
            goto out;
        err = fn(&rec, user);
        if (err != FOUNDRY_OK)
            goto out;
    }
out:
    if (cursor)
        mdb_cursor_close(cursor); /* read-only cursors outlive their txn */
    fdy_kv_rtxn_end(self->kv, txn);
    return err;
}
