/*  store_dedupe.c: the dedupe index (store_dedupe.h): keyed hashes of
 *  (publisher, producer id) per stream, confirmed against the records they
 *  name, built from the records at load and kept in step with the
 *  transactions that append, trim and prune. Not for the hash table itself
 *  (dedupe_index.c) nor for walking records to prune (store_retention.c).
 */
#include "store_dedupe.h"
#include "store_clock.h"
#include "store_messages.h"

#include "log.h"
#include "xalloc.h"

#include <sodium.h>

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static_assert(sizeof(((fdy_store_t *) 0)->dedupe_hash_key) == crypto_shorthash_KEYBYTES,
              "dedupe hash key size");

foundry_err
fdy_store_dedupe_init(fdy_store_t *self, uint64_t max_entries, fdy_reason_t *reason)
{
    if (sodium_init() < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "dedupe: libsodium cannot initialise");
    crypto_shorthash_keygen(self->dedupe_hash_key);
    self->dedupe_max = max_entries;
    return FOUNDRY_OK;
}

void
fdy_store_dedupe_fini(fdy_store_t *self)
{
    free(self->dedupe_undo);
    self->dedupe_undo = NULL;
    self->dedupe_undo_count = self->dedupe_undo_capacity = 0;
    sodium_memzero(self->dedupe_hash_key, sizeof self->dedupe_hash_key);
}

/* ---- keys and records --------------------------------------------------- */

/* The hash of the stream's dedupe key (store_messages.h: its length byte
 * keeps ("ab","c") and ("a","bc") apart), or false when there is no key. */
static bool
s_hash(const fdy_store_t *self, uint32_t stream_id, const char *publisher, size_t publisher_len,
       const uint8_t *msg_id, size_t msg_id_len, uint64_t *hash_out)
{
    uint8_t key[FDY_DEDUPE_KEY_MAX];
    size_t len = fdy_store_dedupe_key(key, stream_id, publisher, publisher_len, msg_id,
                                      msg_id_len);
    if (len == 0)
        return false;
    uint8_t out[crypto_shorthash_BYTES];
    crypto_shorthash(out, key, len, self->dedupe_hash_key);
    *hash_out = fdy_bytes_get_le64(out);
    return true;
}

/* What the dedupe index reads of a record: an ordinary (format 1) record's
 * publisher, id and stored_ns. False for anything else. */
typedef struct {
    const char *publisher;
    size_t publisher_len;
    const uint8_t *msg_id;
    size_t msg_id_len;
    uint64_t stored_ns;
} s_named_t;

static bool
s_named(const MDB_val *val, s_named_t *out)
{
    const uint8_t *p = val->mv_data;
    if (val->mv_size < FDY_MSG_HEADER_LEN || p[4] != FDY_MSG_FORMAT)
        return false;
    out->publisher_len = p[5];
    out->msg_id_len = p[6];
    if (FDY_MSG_HEADER_LEN + out->publisher_len + out->msg_id_len > val->mv_size)
        return false;
    out->publisher = (const char *) (p + FDY_MSG_HEADER_LEN);
    out->msg_id = p + FDY_MSG_HEADER_LEN + out->publisher_len;
    out->stored_ns = fdy_bytes_get_le64(p + 8);
    return true;
}

/* Reads record seq of st in txn and tells whether it names (publisher,
 * msg_id); *stored_ns_out gets its stored_ns when it does. */
static foundry_err
s_confirm(MDB_txn *txn, const fdy_store_stream_t *st, uint64_t seq, const char *publisher,
          size_t publisher_len, const uint8_t *msg_id, size_t msg_id_len, bool *same_out,
          uint64_t *stored_ns_out, fdy_reason_t *reason)
{
    *same_out = false;
    uint8_t key[FDY_MSG_KEY_LEN];
    fdy_store_msg_key(key, seq);
    MDB_val k = { sizeof key, key }, v;
    int rc = mdb_get(txn, st->dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return FOUNDRY_OK; /* trimmed: names nothing now */
    if (rc != 0)
        return fdy_kv_err(rc, reason, "dedupe: read record");
    s_named_t n;
    if (!s_named(&v, &n) || n.publisher_len != publisher_len || n.msg_id_len != msg_id_len ||
        (publisher_len && memcmp(n.publisher, publisher, publisher_len) != 0) ||
        memcmp(n.msg_id, msg_id, msg_id_len) != 0)
        return FOUNDRY_OK;
    *same_out = true;
    *stored_ns_out = n.stored_ns;
    return FOUNDRY_OK;
}

/* ---- the tables and their undo log -------------------------------------- */

static fdy_dedupe_index_t *
s_table(fdy_store_stream_t *st)
{
    if (!st->dedupe)
        st->dedupe = fdy_dedupe_index_new();
    return st->dedupe;
}

static void
s_log(fdy_store_t *self, fdy_store_stream_t *st, uint64_t hash, uint64_t old_seq,
      uint64_t new_seq)
{
    if (self->dedupe_undo_count == self->dedupe_undo_capacity) {
        size_t cap = self->dedupe_undo_capacity ? 2 * self->dedupe_undo_capacity : 256;
        self->dedupe_undo = fdy_xrealloc(self->dedupe_undo, cap * sizeof *self->dedupe_undo);
        self->dedupe_undo_capacity = cap;
    }
    self->dedupe_undo[self->dedupe_undo_count++] =
        (fdy_store_dedupe_undo_t) { st, hash, old_seq, new_seq };
}

static void
s_insert(fdy_store_t *self, fdy_store_stream_t *st, uint64_t hash, uint64_t seq)
{
    fdy_dedupe_index_insert(s_table(st), hash, seq);
    self->dedupe_entries++;
}

static bool
s_remove(fdy_store_t *self, fdy_store_stream_t *st, uint64_t hash, uint64_t seq)
{
    if (!st->dedupe || !fdy_dedupe_index_remove(st->dedupe, hash, seq))
        return false;
    self->dedupe_entries--;
    return true;
}

void
fdy_store_dedupe_undo(fdy_store_t *self)
{
    for (size_t i = self->dedupe_undo_count; i-- > 0;) {
        const fdy_store_dedupe_undo_t *u = &self->dedupe_undo[i];
        if (!u->st->dedupe)
            continue; /* its stream was deleted since: nothing to put back */
        if (u->new_seq == 0)
            s_insert(self, u->st, u->hash, u->old_seq);
        else if (u->old_seq == 0)
            s_remove(self, u->st, u->hash, u->new_seq);
        else
            fdy_dedupe_index_replace(u->st->dedupe, u->hash, u->new_seq, u->old_seq);
    }
    self->dedupe_undo_count = 0;
}

void
fdy_store_dedupe_keep(fdy_store_t *self)
{
    self->dedupe_undo_count = 0;
}

void
fdy_store_dedupe_stream_free(fdy_store_t *self, fdy_store_stream_t *st)
{
    if (!st->dedupe)
        return;
    self->dedupe_entries -= fdy_dedupe_index_count(st->dedupe);
    fdy_dedupe_index_destroy(&st->dedupe);
}

void
fdy_store_dedupe_usage(const fdy_store_t *self, uint64_t *entries_out, uint64_t *bytes_out)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < self->stream_count; i++)
        if (self->streams[i]->dedupe)
            bytes += fdy_dedupe_index_bytes(self->streams[i]->dedupe);
    *entries_out = self->dedupe_entries;
    *bytes_out = bytes;
}

foundry_err
fdy_store_dedupe_room(fdy_store_t *self, size_t count, fdy_reason_t *reason)
{
    if (self->dedupe_entries + count <= self->dedupe_max)
        return FOUNDRY_OK;
    /* Refused rather than evicted: forgetting an id inside its window
     * would store a resend twice. The prune frees room as ids age out. */
    fdy_log_warn_limited("STORE-DEDUPE-FULL",
                         "store %s: dedupe index full: %llu ids within the window, "
                         "dedupe_index_max %llu; publishes refused until ids age out",
                         self->dir, (unsigned long long) self->dedupe_entries,
                         (unsigned long long) self->dedupe_max);
    return fdy_reason_set(reason, FOUNDRY_EFULL,
                          FDY_STORE_DEDUPE_FULL " (%llu ids within the window, "
                          "dedupe_index_max %llu): retry later",
                          (unsigned long long) self->dedupe_entries,
                          (unsigned long long) self->dedupe_max);
}

bool
fdy_store_reason_dedupe_full(const char *reason_text)
{
    return reason_text &&
           strncmp(reason_text, FDY_STORE_DEDUPE_FULL, strlen(FDY_STORE_DEDUPE_FULL)) == 0;
}

/* ---- lookups and changes ------------------------------------------------- */

void
fdy_store_dedupe_key_init(const fdy_store_t *self, const fdy_store_stream_t *st,
                          const char *publisher, size_t publisher_len, const uint8_t *msg_id,
                          size_t msg_id_len, fdy_store_dedupe_key_t *key)
{
    key->publisher = publisher;
    key->publisher_len = publisher_len;
    key->msg_id = msg_id;
    key->msg_id_len = msg_id_len;
    key->hash = 0;
    key->hashed = s_hash(self, st->id, publisher, publisher_len, msg_id, msg_id_len, &key->hash);
}

void
fdy_store_dedupe_prefetch(const fdy_store_stream_t *st, const fdy_store_dedupe_key_t *key)
{
    if (st->dedupe && key->hashed)
        fdy_dedupe_index_prefetch(st->dedupe, key->hash);
}

foundry_err
fdy_store_dedupe_claim(fdy_store_t *self, MDB_txn *txn, fdy_store_stream_t *st,
                       const fdy_store_dedupe_key_t *key, uint64_t seq, uint64_t now_ns,
                       uint64_t *dup_seq_out, fdy_reason_t *reason)
{
    *dup_seq_out = 0;
    if (!key->hashed)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "append: no dedupe key for the item");
    uint64_t hash = key->hash;
    fdy_dedupe_index_t *table = s_table(st);
    fdy_dedupe_walk_t pos = fdy_dedupe_index_start(table, hash);
    uint64_t old;
    while ((old = fdy_dedupe_index_next(table, hash, &pos)) != 0) {
        bool same;
        uint64_t stored_ns = 0;
        foundry_err err = s_confirm(txn, st, old, key->publisher, key->publisher_len,
                                    key->msg_id, key->msg_id_len, &same, &stored_ns, reason);
        if (err != FOUNDRY_OK)
            return err;
        if (!same)
            continue; /* another key with the same hash */
        if (stored_ns + self->dedupe_window_ns > now_ns) {
            *dup_seq_out = old;
            return FOUNDRY_OK;
        }
        /* Remembered past its window (the prune has not reached it): the
         * id is free again, and names the new record from now on. */
        fdy_dedupe_index_replace(table, hash, old, seq);
        s_log(self, st, hash, old, seq);
        return FOUNDRY_OK;
    }
    s_insert(self, st, hash, seq);
    s_log(self, st, hash, 0, seq);
    return FOUNDRY_OK;
}

bool
fdy_store_dedupe_forget(fdy_store_t *self, fdy_store_stream_t *st, uint64_t seq,
                        const MDB_val *val)
{
    s_named_t n;
    uint64_t hash;
    if (!st->dedupe || !s_named(val, &n) ||
        !s_hash(self, st->id, n.publisher, n.publisher_len, n.msg_id, n.msg_id_len, &hash))
        return false;
    if (!s_remove(self, st, hash, seq))
        return false;
    s_log(self, st, hash, seq, 0);
    return true;
}

/* ---- load ---------------------------------------------------------------- */

/* One record at load: like a claim, but in seq order over committed
 * records, so a later record of the same key replaces the earlier one. */
static foundry_err
s_load_record(fdy_store_t *self, MDB_txn *txn, fdy_store_stream_t *st, uint64_t seq,
              const s_named_t *n, fdy_reason_t *reason)
{
    uint64_t hash;
    if (!s_hash(self, st->id, n->publisher, n->publisher_len, n->msg_id, n->msg_id_len, &hash))
        return FOUNDRY_OK; /* out of bounds: never had an entry */
    fdy_dedupe_index_t *table = s_table(st);
    fdy_dedupe_walk_t pos = fdy_dedupe_index_start(table, hash);
    uint64_t old;
    while ((old = fdy_dedupe_index_next(table, hash, &pos)) != 0) {
        bool same;
        uint64_t stored_ns;
        foundry_err err = s_confirm(txn, st, old, n->publisher, n->publisher_len, n->msg_id,
                                    n->msg_id_len, &same, &stored_ns, reason);
        if (err != FOUNDRY_OK)
            return err;
        if (same) {
            fdy_dedupe_index_replace(table, hash, old, seq);
            return FOUNDRY_OK;
        }
    }
    s_insert(self, st, hash, seq);
    return FOUNDRY_OK;
}

foundry_err
fdy_store_dedupe_stream_load(fdy_store_t *self, MDB_txn *txn, fdy_store_stream_t *st,
                             const fdy_stream_counters_t *c, fdy_reason_t *reason)
{
    if (self->read_only || c->first_seq == 0)
        return FOUNDRY_OK;
    uint64_t seq = c->prune_seq > c->first_seq ? c->prune_seq : c->first_seq;
    if (seq > c->last_seq)
        return FOUNDRY_OK;
    uint64_t now_ns = fdy_store_now_ns(self);
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, st->dbi, &cursor);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "dedupe load: open cursor");
    uint8_t key[FDY_MSG_KEY_LEN];
    fdy_store_msg_key(key, seq);
    MDB_val k = { sizeof key, key }, v;
    foundry_err err = FOUNDRY_OK;
    for (rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
        s_named_t n;
        if (k.mv_size != FDY_MSG_KEY_LEN || !s_named(&v, &n))
            continue; /* damaged or a dead-letter copy: reads report damage */
        if (n.stored_ns + self->dedupe_window_ns <= now_ns)
            continue; /* past the window already */
        err = s_load_record(self, txn, st, fdy_store_msg_key_seq(k.mv_data), &n, reason);
        if (err != FOUNDRY_OK)
            break;
    }
    if (err == FOUNDRY_OK && rc != MDB_NOTFOUND)
        err = fdy_kv_err(rc, reason, "dedupe load");
    mdb_cursor_close(cursor);
    if (err != FOUNDRY_OK)
        fdy_store_dedupe_stream_free(self, st);
    return err;
}
