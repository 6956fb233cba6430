/*  store_dead_letters.c: copies of messages a consumer gave up on, into the
 *  "<stream>-dlq" stream (created on demand), as the dead-letter part of a
 *  group commit (fdy_store_dead_letters_part). Not for deciding when a
 *  message is dead (the broker's consumers) or reading copies back
 *  (store_messages.c parses format 2).
 */
#include "commit.h"
#include "store_messages.h"
#include "store_streams.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The dead-letter stream's name; the length is checked by s_check. */
static void
s_dlq_name(char name[FOUNDRY_STREAM_NAME_MAX + sizeof FDY_DEAD_LETTER_SUFFIX],
           const fdy_store_stream_t *src)
{
    snprintf(name, FOUNDRY_STREAM_NAME_MAX + sizeof FDY_DEAD_LETTER_SUFFIX, "%s%s", src->name,
             FDY_DEAD_LETTER_SUFFIX);
}

static fdy_store_stream_t *
s_dlq_find(fdy_store_t *self, const fdy_store_stream_t *src)
{
    char name[FOUNDRY_STREAM_NAME_MAX + sizeof FDY_DEAD_LETTER_SUFFIX];
    s_dlq_name(name, src);
    return fdy_store_stream_find_name(self, name);
}

static foundry_err
s_check(fdy_store_t *self, const fdy_dead_letter_t *dl, size_t index,
                            fdy_reason_t *reason)
{
    fdy_store_stream_t *st = fdy_store_stream_find(self, dl->stream_id);
    if (!st && fdy_store_streams_sync(self, reason) == FOUNDRY_OK)
        st = fdy_store_stream_find(self, dl->stream_id);
    if (!st)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "dead letter %zu: no stream with id %u",
                              index, dl->stream_id);
    size_t reason_len = dl->reason ? strlen(dl->reason) : 0;
    if (dl->seq == 0 || reason_len == 0 || reason_len > FDY_DEAD_LETTER_REASON_MAX ||
        (dl->consumer && !fdy_store_name_valid(dl->consumer, FDY_CONSUMER_NAME_MAX)))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "dead letter %zu: needs seq >= 1, a reason of 1..%d bytes and "
                              "a valid consumer name or none",
                              index, FDY_DEAD_LETTER_REASON_MAX);
    if (strlen(st->name) + strlen(FDY_DEAD_LETTER_SUFFIX) > FOUNDRY_STREAM_NAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "dead letter %zu: stream name %s too long for a \"%s\" stream",
                              index, st->name, FDY_DEAD_LETTER_SUFFIX);
    return FOUNDRY_OK;
}

static foundry_err
s_streams(fdy_store_t *self, fdy_dead_letter_t *dls, size_t count,
                              fdy_reason_t *reason)
{
    for (size_t i = 0; i < count; i++) {
        fdy_store_stream_t *src = fdy_store_stream_find(self, dls[i].stream_id);
        char name[FOUNDRY_STREAM_NAME_MAX + sizeof FDY_DEAD_LETTER_SUFFIX];
        s_dlq_name(name, src);
        fdy_store_stream_t *dst = fdy_store_stream_find_name(self, name);
        if (!dst) {
            /* Its own committed transaction: an empty stream left behind by
             * a batch that fails later harms nothing. */
            foundry_err err = fdy_store_stream_create_ex(self, name, NULL, 0, &src->limits, reason);
            if (err != FOUNDRY_OK && err != FOUNDRY_EEXIST)
                return err;
            if (err == FOUNDRY_EEXIST && (err = fdy_store_streams_sync(self, reason)))
                return err;
            dst = fdy_store_stream_find_name(self, name);
            if (!dst)
                return fdy_reason_set(reason, FOUNDRY_ESTORE, "dead-letter stream %s not loaded",
                                      name);
        }
        dls[i].dlq_stream_id = dst->id;
    }
    return FOUNDRY_OK;
}

static size_t
s_dead_block(uint8_t *b, const fdy_store_stream_t *src, const fdy_dead_letter_t *dl,
             uint64_t origin_stored_ns)
{
    size_t origin_len = strlen(src->name);
    size_t consumer_len = dl->consumer ? strlen(dl->consumer) : 0;
    size_t reason_len = strlen(dl->reason);
    size_t len = FDY_DEAD_BLOCK_FIXED + origin_len + consumer_len + reason_len;
    fdy_bytes_put_le16(b, (uint16_t) len);
    fdy_bytes_put_le64(b + 2, dl->seq);
    fdy_bytes_put_le64(b + 10, origin_stored_ns);
    fdy_bytes_put_le32(b + 18, dl->deliveries);
    b[22] = (uint8_t) origin_len;
    b[23] = (uint8_t) consumer_len;
    fdy_bytes_put_le16(b + 24, (uint16_t) reason_len);
    uint8_t *w = b + FDY_DEAD_BLOCK_FIXED;
    memcpy(w, src->name, origin_len);
    w += origin_len;
    if (consumer_len)
        memcpy(w, dl->consumer, consumer_len);
    w += consumer_len;
    memcpy(w, dl->reason, reason_len);
    return len;
}

static foundry_err
s_put(fdy_store_t *self, MDB_txn *txn, fdy_dead_letter_t *dl, uint64_t now_ns,
                          fdy_reason_t *reason)
{
    /* The destination comes from the routing table on every attempt (the
     * part keeps no state between attempts); prepare made it exist. */
    fdy_store_stream_t *src = fdy_store_stream_find(self, dl->stream_id);
    fdy_store_stream_t *dst = src ? s_dlq_find(self, src) : NULL;
    if (!src || !dst)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "dead letter: stream gone");
    dl->dlq_stream_id = dst->id;
    fdy_stream_counters_t c;
    if (src->txn_touched) {
        c = src->txn; /* includes what this batch appended */
    }
    else {
        foundry_err err = fdy_store_stream_counters_get(self, txn, src->name, &c, reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    if (dl->seq > c.last_seq)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "dead letter: stream %s has no seq %llu",
                              src->name, (unsigned long long) dl->seq);
    if (c.first_seq == 0 || dl->seq < c.first_seq) {
        dl->gone = true; /* trimmed by retention meanwhile */
        return FOUNDRY_OK;
    }
    uint8_t key[FDY_MSG_KEY_LEN];
    fdy_store_msg_key(key, dl->seq);
    MDB_val k = { sizeof key, key }, v;
    int rc = mdb_get(txn, src->dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: seq %llu missing", src->name,
                              (unsigned long long) dl->seq);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "dead letter: read");
    fdy_stored_t orig;
    fdy_store_parse_buf_t buf;
    foundry_err err = fdy_store_record_parse(src->name, dl->seq, &v, true, &orig, &buf, reason);
    if (err != FOUNDRY_OK)
        return err;
    /* Copied out first: the puts below may spill or move the page v is in. */
    size_t publisher_len = strlen(orig.publisher);
    size_t need = orig.msg_id_len + orig.data_len + orig.ext_len;
    if (need > self->copy_capacity) {
        uint8_t *copy = realloc(self->copy, need);
        if (!copy)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
        self->copy = copy;
        self->copy_capacity = need;
    }
    uint8_t *w = self->copy;
    memcpy(w, orig.msg_id, orig.msg_id_len);
    if (orig.data_len)
        memcpy(w + orig.msg_id_len, orig.data, orig.data_len);
    if (orig.ext_len)
        memcpy(w + orig.msg_id_len + orig.data_len, orig.ext, orig.ext_len);
    uint8_t block[FDY_DEAD_BLOCK_MAX];
    fdy_store_rec_t rec = {
        .publisher = buf.publisher,
        .publisher_len = publisher_len,
        .msg_id = w,
        .msg_id_len = orig.msg_id_len,
        .block = block,
        .block_len = s_dead_block(block, src, dl, orig.stored_ns),
        .data = w + orig.msg_id_len,
        .data_len = orig.data_len,
        .ext = orig.ext_len ? w + orig.msg_id_len + orig.data_len : NULL,
        .ext_len = orig.ext_len,
    };
    err = fdy_store_stream_touch(self, txn, dst, reason);
    if (err == FOUNDRY_OK)
        err = fdy_store_record_put(self, dst, &rec, now_ns, &dl->dlq_seq, reason);
    return err;
}

/* ---- the dead-letter part of a commit ---------------------------------- */

static void
s_reset(void *data)
{
    fdy_store_dead_letters_t *d = data;
    for (size_t i = 0; d->items && i < d->count; i++) {
        d->items[i].dlq_stream_id = 0;
        d->items[i].dlq_seq = 0;
        d->items[i].gone = false;
    }
}

static foundry_err
s_prepare(void *data, fdy_store_t *store, fdy_reason_t *reason)
{
    fdy_store_dead_letters_t *d = data;
    if (d->count && !d->items)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "batch: NULL array");
    for (size_t i = 0; i < d->count; i++) {
        foundry_err err = s_check(store, &d->items[i], i, reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    return d->count ? s_streams(store, d->items, d->count, reason) : FOUNDRY_OK;
}

static foundry_err
s_write(void *data, fdy_store_t *store, MDB_txn *txn, uint64_t now_ns, size_t *writes,
        fdy_reason_t *reason)
{
    fdy_store_dead_letters_t *d = data;
    for (size_t i = 0; i < d->count; i++) {
        fdy_dead_letter_t *dl = &d->items[i];
        dl->dlq_seq = 0;
        dl->gone = false;
        foundry_err err = s_put(store, txn, dl, now_ns, reason);
        if (err != FOUNDRY_OK)
            return err;
        *writes += !dl->gone;
    }
    return FOUNDRY_OK;
}

const fdy_commit_part_t fdy_store_dead_letters_part = {
    .name = "dead-letters",
    .prepare = s_prepare,
    .write = s_write,
    .reset = s_reset,
    .droppable = true,
};
