/*  outbox.c: the node's durable outbox on LMDB (outbox.h): entries keyed by
 *  sequence, a bound enforced by policy, group-committed writes, checksummed
 *  records, and a disk reserve so acknowledged entries can always be
 *  deleted (docs/node.md, "A full disk"). Not for deciding what to forward
 *  or when (agent.c), nor for what the payload means (stored as given).
 *
 *  DB "entries": key = seq (u64 big-endian, so LMDB's order is seq order);
 *  value = crc32c (u32 LE, over the rest) | format u8 = 1 | reserved u8 |
 *  subject_len u16 LE | samples u32 LE | created_ns u64 LE | subject | payload.
 *  DB "meta": "epoch" and "next_seq", u64 LE each.
 */
#include "outbox.h"

#include "outbox_acks.h"
#include "outbox_space.h"

#include "bytes.h"
#include "clock.h"
#include "crc32c.h"
#include "kv.h"
#include "log.h"

#include <assert.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_FORMAT 1u
#define SUBJECT_MAX   255u
#define MIB           (1024ull * 1024ull)
/* Delete transactions one commit may run for a backlog of acks. */
#define ACK_ROUNDS 8

struct fdy_outbox {
    fdy_kv_t *kv; /* the environment and the directory lock */
    MDB_dbi entries;
    MDB_dbi meta;
    uint64_t max_entries;
    uint64_t max_bytes;
    fdy_outbox_policy_t policy;
    uint64_t epoch;

    /* Current state, uncommitted changes included, and its committed copy
     * to return to when a transaction is aborted. */
    uint64_t next_seq, count, bytes;
    uint64_t committed_next_seq, committed_count, committed_bytes;

    MDB_txn *txn; /* the open write transaction, or NULL */
    /* What the open transaction did, moved into stats at its commit. */
    uint64_t txn_appended, txn_appended_samples;
    uint64_t txn_removed;
    uint64_t txn_dropped, txn_dropped_samples;
    /* The acks it deleted: estimated page bytes, and the seq below which
     * every ack is deleted in it (UINT64_MAX: all). */
    uint64_t txn_ack_cost, txn_acks_below;

    fdy_outbox_stats_t stats;

    /* Acknowledged entries not deleted yet; not read again. */
    fdy_outbox_acks_t *acks;

    /* Disk blocks allocated ahead, the reserve for deletes. */
    fdy_outbox_space_t space;

    /* Entries that failed their checksum, deleted at the next write. */
    uint64_t *corrupt;
    size_t corrupt_count;
    size_t corrupt_cap;
};

/* ---- small helpers ------------------------------------------------------ */

static void
s_key(uint64_t seq, uint8_t out[8])
{
    fdy_bytes_put_be64(out, seq);
}

static uint64_t
s_key_seq(const MDB_val *key)
{
    if (key->mv_size != 8)
        return 0;
    return fdy_bytes_get_be64(key->mv_data);
}

void
fdy_outbox_msg_id(uint64_t epoch, uint64_t seq, uint8_t out[FDY_OUTBOX_MSG_ID_LEN])
{
    s_key(epoch, out);
    s_key(seq, out + 8);
}

bool
fdy_outbox_msg_id_parse(uint64_t epoch, const uint8_t *id, size_t id_len, uint64_t *seq_out)
{
    if (!id || id_len != FDY_OUTBOX_MSG_ID_LEN)
        return false;
    MDB_val half = {8, (void *) id};
    if (s_key_seq(&half) != epoch)
        return false;
    half.mv_data = (void *) (id + 8);
    *seq_out = s_key_seq(&half);
    return true;
}

foundry_err
fdy_outbox_policy_parse(const char *text, fdy_outbox_policy_t *policy_out)
{
    if (text && strcmp(text, "drop-oldest") == 0) {
        *policy_out = FDY_OUTBOX_DROP_OLDEST;
        return FOUNDRY_OK;
    }
    if (text && strcmp(text, "drop-newest") == 0) {
        *policy_out = FDY_OUTBOX_DROP_NEWEST;
        return FOUNDRY_OK;
    }
    return FOUNDRY_EINVAL;
}

const char *
fdy_outbox_policy_name(fdy_outbox_policy_t policy)
{
    return policy == FDY_OUTBOX_DROP_NEWEST ? "drop-newest" : "drop-oldest";
}

/* An LMDB error, mapped by kv.c. The outbox's bound, not the map, decides
 * what is dropped, and telemetry_in.c counts every non-ESTORE append
 * failure as a policy drop: so a MAP_FULL stays FOUNDRY_ESTORE here. */
static foundry_err
s_store_err(foundry_err err)
{
    return err == FOUNDRY_EFULL ? FOUNDRY_ESTORE : err;
}

static foundry_err
s_mdb_failed(int rc, const char *what, fdy_reason_t *reason)
{
    char label[64];
    snprintf(label, sizeof label, "outbox %s", what);
    return s_store_err(fdy_kv_err(rc, reason, label));
}

/* Parses a stored value. Returns false when it is damaged. */
static bool
s_parse_value(const MDB_val *value, fdy_outbox_entry_t *entry, size_t *subject_len_out)
{
    const uint8_t *data = value->mv_data;
    size_t len = value->mv_size;
    if (len < FDY_OUTBOX_HEADER_LEN)
        return false;
    if (fdy_crc32c(0, data + 4, len - 4) != fdy_bytes_get_le32(data))
        return false;
    if (data[4] != RECORD_FORMAT)
        return false;
    size_t subject_len = fdy_bytes_get_le16(data + 6);
    if (subject_len == 0 || subject_len > SUBJECT_MAX || len - FDY_OUTBOX_HEADER_LEN < subject_len)
        return false;
    entry->samples = fdy_bytes_get_le32(data + 8);
    entry->created_ns = fdy_bytes_get_le64(data + 12);
    entry->subject = (const char *) data + FDY_OUTBOX_HEADER_LEN;
    entry->payload = data + FDY_OUTBOX_HEADER_LEN + subject_len;
    entry->payload_len = len - FDY_OUTBOX_HEADER_LEN - subject_len;
    *subject_len_out = subject_len;
    return true;
}

/* Samples a stored value says it holds, 0 if damaged (for drop counts). */
static uint32_t
s_value_samples(const MDB_val *value)
{
    if (value->mv_size < FDY_OUTBOX_HEADER_LEN)
        return 0;
    return fdy_bytes_get_le32((const uint8_t *) value->mv_data + 8);
}

static uint64_t
s_value_bytes(const MDB_val *value)
{
    return 8u + (uint64_t) value->mv_size;
}

/* ---- opening ------------------------------------------------------------ */

static foundry_err
s_meta_get(fdy_outbox_t *self, MDB_txn *txn, const char *name, uint64_t *value_out, bool *found,
           fdy_reason_t *reason)
{
    uint64_t value;
    foundry_err err = fdy_kv_meta_get(txn, self->meta, name, &value, found, reason);
    if (err == FOUNDRY_OK && *found)
        *value_out = value; /* absent: the caller's default stays */
    return s_store_err(err);
}

static foundry_err
s_meta_put(fdy_outbox_t *self, MDB_txn *txn, const char *name, uint64_t number,
           fdy_reason_t *reason)
{
    return s_store_err(fdy_kv_meta_put(txn, self->meta, name, number, reason));
}

/* Opens the databases, makes the epoch on first use, and counts what the
 * outbox holds (one scan at start: cheaper than keeping a counter exact
 * across every failure path). */
static foundry_err
s_load(fdy_outbox_t *self, fdy_reason_t *reason)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cursor = NULL;
    foundry_err err = fdy_kv_txn_begin(self->kv, 0, &txn, reason);
    if (err != FOUNDRY_OK)
        return s_store_err(err);
    int rc;
    if ((rc = mdb_dbi_open(txn, "entries", MDB_CREATE, &self->entries)) != 0 ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &self->meta)) != 0) {
        err = s_mdb_failed(rc, "open databases", reason);
        goto out;
    }
    bool found = false;
    err = s_meta_get(self, txn, "epoch", &self->epoch, &found, reason);
    if (err != FOUNDRY_OK)
        goto out;
    if (!found || self->epoch == 0) {
        /* Random, so two nodes (or this node after its outbox was wiped)
         * never make the same message ids. */
        do {
            randombytes_buf(&self->epoch, sizeof self->epoch);
        } while (self->epoch == 0);
        if ((err = s_meta_put(self, txn, "epoch", self->epoch, reason)) != FOUNDRY_OK)
            goto out;
    }
    self->next_seq = 1;
    err = s_meta_get(self, txn, "next_seq", &self->next_seq, &found, reason);
    if (err != FOUNDRY_OK)
        goto out;

    if ((rc = mdb_cursor_open(txn, self->entries, &cursor)) != 0) {
        err = s_mdb_failed(rc, "cursor", reason);
        goto out;
    }
    MDB_val key, value;
    uint64_t last = 0;
    for (rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
        self->count++;
        self->bytes += s_value_bytes(&value);
        last = s_key_seq(&key);
    }
    if (rc != MDB_NOTFOUND) {
        err = s_mdb_failed(rc, "scan", reason);
        goto out;
    }
    mdb_cursor_close(cursor);
    cursor = NULL;
    /* next_seq only grows: reusing a seq would reuse a message id. */
    if (self->next_seq <= last)
        self->next_seq = last + 1;
    if ((err = s_meta_put(self, txn, "next_seq", self->next_seq, reason)) != FOUNDRY_OK)
        goto out;
    err = s_store_err(fdy_kv_commit(self->kv, txn, reason));
    txn = NULL;
out:
    if (cursor)
        mdb_cursor_close(cursor);
    if (txn)
        mdb_txn_abort(txn);
    self->committed_next_seq = self->next_seq;
    self->committed_count = self->count;
    self->committed_bytes = self->bytes;
    self->stats.entries = self->count;
    self->stats.bytes = self->bytes;
    return err;
}

foundry_err
fdy_outbox_open(const fdy_outbox_opts_t *opts, fdy_outbox_t **out, fdy_reason_t *reason)
{
    assert(opts && out);
    *out = NULL;
    if (!opts->dir || !*opts->dir)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "outbox directory is empty");
    if (opts->max_entries == 0 || opts->max_bytes < 4096)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "outbox bounds: max_entries >= 1 and max_bytes >= 4KiB");
    if (sodium_init() < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "libsodium failed to initialise");
    fdy_outbox_t *self = calloc(1, sizeof *self);
    if (!self)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    self->acks = fdy_outbox_acks_new();
    if (!self->acks) {
        free(self);
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    }
    self->max_entries = opts->max_entries;
    self->max_bytes = opts->max_bytes;
    self->policy = opts->policy;

    /* The map only reserves address space. Room for the bound twice over
     * (LMDB pages are not full, and freed pages are reused only after
     * their readers end) plus per-entry overhead, so the bound, not
     * MDB_MAP_FULL, decides what is dropped. The lock file keeps two
     * agents off one outbox: both would forward its entries and fight
     * over removals. */
    uint64_t map = 2 * opts->max_bytes + 256 * opts->max_entries + 16 * MIB;
    fdy_kv_opts_t kv_opts = {
        .dir = opts->dir,
        .label = "outbox",
        .lock_file = "owner.lock",
        .map_size = map,
        .map_size_max = map,
        .max_dbs = 2,
    };
    foundry_err err = s_store_err(fdy_kv_open(&kv_opts, &self->kv, reason));
    if (err != FOUNDRY_OK)
        goto out;
    /* Before the load: its commit may be the first write on a full disk. */
    fdy_outbox_space_init(&self->space, self->kv, opts->max_bytes, fdy_kv_map_size_max(self->kv));
    err = s_load(self, reason);
    if (err != FOUNDRY_OK)
        goto out;
    fdy_outbox_space_committed(&self->space);
    char path[4096];
    snprintf(path, sizeof path, "%s/acked", opts->dir);
    fdy_reason_t why;
    err = fdy_outbox_acks_attach(self->acks, path, self->epoch, &why);
    if (err == FOUNDRY_EIO) {
        /* The outbox still works; only a delete that fails is not kept. */
        fdy_log_warn("OUTBOX-ACKS-FAILED",
                     "%s: acknowledged entries whose delete fails would "
                     "be sent again after a restart",
                     why.text);
        err = FOUNDRY_OK;
    } else if (err != FOUNDRY_OK) {
        fdy_reason_set(reason, err, "%s", why.text);
    }
out:
    if (err != FOUNDRY_OK) {
        fdy_outbox_close(&self);
        return err;
    }
    *out = self;
    return FOUNDRY_OK;
}

static void
s_rollback(fdy_outbox_t *self)
{
    if (self->txn)
        mdb_txn_abort(self->txn);
    self->txn = NULL;
    self->stats.lost += self->txn_appended;
    self->stats.lost_samples += self->txn_appended_samples;
    self->next_seq = self->committed_next_seq;
    self->count = self->committed_count;
    self->bytes = self->committed_bytes;
    self->txn_appended = self->txn_appended_samples = 0;
    self->txn_removed = 0;
    self->txn_dropped = self->txn_dropped_samples = 0;
}

void
fdy_outbox_close(fdy_outbox_t **self_p)
{
    assert(self_p);
    fdy_outbox_t *self = *self_p;
    if (!self)
        return;
    if (self->txn)
        s_rollback(self);
    /* Acks whose delete did not commit are kept for the next start. */
    fdy_reason_t why;
    if (self->acks && !fdy_outbox_acks_empty(self->acks) &&
        fdy_outbox_acks_save(self->acks, &why) != FOUNDRY_OK)
        fdy_log_warn("OUTBOX-ACKS-FAILED", "%s", why.text);
    fdy_outbox_acks_destroy(&self->acks);
    fdy_kv_close(&self->kv); /* the environment, then the lock */
    free(self->corrupt);
    free(self);
    *self_p = NULL;
}

/* ---- writing ------------------------------------------------------------ */

static foundry_err s_delete(fdy_outbox_t *self, uint64_t seq, bool *deleted, fdy_reason_t *reason);
static foundry_err s_apply_acks(fdy_outbox_t *self, fdy_reason_t *reason);

static foundry_err
s_begin(fdy_outbox_t *self, fdy_reason_t *reason)
{
    if (self->txn)
        return FOUNDRY_OK;
    fdy_outbox_space_begin(&self->space); /* reads the free list: no write open yet */
    foundry_err begun = fdy_kv_txn_begin(self->kv, 0, &self->txn, reason);
    if (begun != FOUNDRY_OK)
        return s_store_err(begun);
    /* Damaged entries found by reads go with the next write. */
    size_t count = self->corrupt_count;
    self->corrupt_count = 0;
    for (size_t i = 0; i < count; i++) {
        bool deleted;
        foundry_err err = s_delete(self, self->corrupt[i], &deleted, reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    /* Acked entries go first, so they make room for the appends. */
    self->txn_ack_cost = 0;
    self->txn_acks_below = UINT64_MAX;
    return fdy_outbox_acks_empty(self->acks) ? FOUNDRY_OK : s_apply_acks(self, reason);
}

/* A failed write inside the transaction poisons it (LMDB requires an
 * abort), so every failure path goes through here. */
static foundry_err
s_txn_failed(fdy_outbox_t *self, int rc, const char *what, fdy_reason_t *reason)
{
    foundry_err err = s_mdb_failed(rc, what, reason);
    s_rollback(self);
    return err;
}

/* Deletes the oldest entry. Returns FOUNDRY_OK, FOUNDRY_ENOTFOUND (empty)
 * or FOUNDRY_ESTORE (transaction aborted). */
static foundry_err
s_drop_oldest(fdy_outbox_t *self, fdy_reason_t *reason)
{
    MDB_cursor *cursor = NULL;
    int rc = mdb_cursor_open(self->txn, self->entries, &cursor);
    if (rc != 0)
        return s_txn_failed(self, rc, "cursor", reason);
    MDB_val key, value;
    rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST);
    if (rc == MDB_NOTFOUND) {
        mdb_cursor_close(cursor);
        return FOUNDRY_ENOTFOUND;
    }
    uint64_t bytes = rc == 0 ? s_value_bytes(&value) : 0;
    uint32_t samples = rc == 0 ? s_value_samples(&value) : 0;
    if (rc == 0)
        rc = mdb_cursor_del(cursor, 0);
    mdb_cursor_close(cursor);
    if (rc != 0)
        return s_txn_failed(self, rc, "drop oldest", reason);
    self->count--;
    self->bytes -= bytes;
    self->txn_dropped++;
    self->txn_dropped_samples += samples;
    return FOUNDRY_OK;
}

foundry_err
fdy_outbox_append(fdy_outbox_t *self, const char *subject, const uint8_t *payload,
                  size_t payload_len, uint32_t samples, uint64_t *seq_out, fdy_reason_t *reason)
{
    assert(self && subject && (payload || payload_len == 0));
    size_t subject_len = strlen(subject);
    if (subject_len == 0 || subject_len > SUBJECT_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "subject must be 1..%u bytes", SUBJECT_MAX);
    uint64_t entry_bytes = FDY_OUTBOX_ENTRY_BYTES(subject_len, payload_len);
    if (entry_bytes > self->max_bytes) {
        self->stats.dropped++;
        self->stats.dropped_samples += samples;
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG,
                              "entry of %llu bytes exceeds outbox_max_bytes",
                              (unsigned long long) entry_bytes);
    }
    /* Begun first: it deletes what was acknowledged, which makes room. */
    foundry_err err = s_begin(self, reason);
    if (err != FOUNDRY_OK)
        return err;
    bool fits = self->count < self->max_entries && self->bytes + entry_bytes <= self->max_bytes;
    if (!fits && self->policy == FDY_OUTBOX_DROP_NEWEST) {
        self->stats.dropped++;
        self->stats.dropped_samples += samples;
        return fdy_reason_set(reason, FOUNDRY_EFULL,
                              "outbox full (%llu entries, %llu bytes): newest dropped",
                              (unsigned long long) self->count, (unsigned long long) self->bytes);
    }
    size_t value_len = FDY_OUTBOX_HEADER_LEN + subject_len + payload_len;
    fdy_reason_t why;
    if (fdy_outbox_space_admit(&self->space, value_len, &why) != FOUNDRY_OK) {
        /* Refused, not rolled back: what this transaction holds still fits. */
        self->stats.lost++;
        self->stats.lost_samples += samples;
        self->stats.disk_full_lost++;
        self->stats.disk_full_lost_samples += samples;
        return fdy_reason_set(reason, FOUNDRY_EFULL, "%s; new entry not stored", why.text);
    }
    while (self->count >= self->max_entries || self->bytes + entry_bytes > self->max_bytes) {
        err = s_drop_oldest(self, reason);
        if (err == FOUNDRY_ENOTFOUND)
            break; /* counters disagree with the file: trust the file */
        if (err != FOUNDRY_OK)
            return err;
    }

    uint64_t seq = self->next_seq;
    uint8_t key_buf[8];
    s_key(seq, key_buf);
    MDB_val key = {sizeof key_buf, key_buf};
    MDB_val value = {value_len, NULL};
    /* MDB_RESERVE: LMDB hands out the space and we write the record once,
     * in place. Seqs only grow, so MDB_APPEND keeps pages full. */
    int rc = mdb_put(self->txn, self->entries, &key, &value, MDB_RESERVE | MDB_APPEND);
    if (rc == MDB_KEYEXIST)
        rc = mdb_put(self->txn, self->entries, &key, &value, MDB_RESERVE);
    if (rc != 0)
        return s_txn_failed(self, rc, rc == MDB_MAP_FULL ? "append (map full)" : "append", reason);
    uint8_t *out = value.mv_data;
    out[4] = RECORD_FORMAT;
    out[5] = 0;
    fdy_bytes_put_le16(out + 6, (uint16_t) subject_len);
    fdy_bytes_put_le32(out + 8, samples);
    fdy_bytes_put_le64(out + 12, fdy_clock_wall_ns());
    memcpy(out + FDY_OUTBOX_HEADER_LEN, subject, subject_len);
    if (payload_len)
        memcpy(out + FDY_OUTBOX_HEADER_LEN + subject_len, payload, payload_len);
    fdy_bytes_put_le32(out, fdy_crc32c(0, out + 4, value_len - 4));

    self->next_seq = seq + 1;
    err = s_meta_put(self, self->txn, "next_seq", self->next_seq, reason);
    if (err != FOUNDRY_OK) {
        s_rollback(self); /* the failed put poisoned the transaction */
        return err;
    }
    self->count++;
    self->bytes += entry_bytes;
    self->txn_appended++;
    self->txn_appended_samples += samples;
    if (seq_out)
        *seq_out = seq;
    return FOUNDRY_OK;
}

/* Deletes seq inside the open transaction; *deleted says if it was there. */
static foundry_err
s_delete(fdy_outbox_t *self, uint64_t seq, bool *deleted, fdy_reason_t *reason)
{
    *deleted = false;
    uint8_t key_buf[8];
    s_key(seq, key_buf);
    MDB_val key = {sizeof key_buf, key_buf};
    MDB_val value;
    int rc = mdb_get(self->txn, self->entries, &key, &value);
    if (rc == MDB_NOTFOUND)
        return FOUNDRY_OK;
    if (rc != 0)
        return s_txn_failed(self, rc, "read", reason);
    uint64_t bytes = s_value_bytes(&value);
    rc = mdb_del(self->txn, self->entries, &key, NULL);
    if (rc != 0)
        return s_txn_failed(self, rc, "remove", reason);
    self->count--;
    self->bytes -= bytes;
    *deleted = true;
    return FOUNDRY_OK;
}

foundry_err
fdy_outbox_remove(fdy_outbox_t *self, uint64_t seq, fdy_reason_t *reason)
{
    assert(self);
    if (fdy_outbox_acks_add(self->acks, seq) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory: ack of entry %llu not kept",
                              (unsigned long long) seq);
    return FOUNDRY_OK;
}

/* Deletes acknowledged entries in the open transaction, in seq order, until
 * its delete budget is spent, and notes in txn_acks_below how far it got.
 * Called again in one transaction, it finds the ones deleted gone. */
static foundry_err
s_apply_acks(fdy_outbox_t *self, fdy_reason_t *reason)
{
    self->txn_acks_below = UINT64_MAX;
    uint64_t budget = fdy_outbox_space_delete_budget(&self->space);
    uint64_t cost = self->txn_ack_cost;
    MDB_cursor *cursor = NULL;
    int rc = mdb_cursor_open(self->txn, self->entries, &cursor);
    if (rc != 0)
        return s_txn_failed(self, rc, "cursor", reason);
    size_t ranges = fdy_outbox_acks_range_count(self->acks);
    for (size_t i = 0; i < ranges && rc == 0; i++) {
        uint64_t seq, last;
        fdy_outbox_acks_range(self->acks, i, &seq, &last);
        while (seq <= last) {
            uint8_t key_buf[8];
            s_key(seq, key_buf);
            MDB_val key = {sizeof key_buf, key_buf}, value;
            rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
            if (rc == MDB_NOTFOUND || (rc == 0 && s_key_seq(&key) > last)) {
                rc = 0; /* the rest of the range was dropped or deleted before */
                break;
            }
            if (rc != 0)
                break;
            seq = s_key_seq(&key);
            if (cost >= budget) {
                self->txn_ack_cost = cost;
                self->txn_acks_below = seq; /* the next transaction goes on here */
                mdb_cursor_close(cursor);
                return FOUNDRY_OK;
            }
            cost += fdy_outbox_space_delete_cost(&self->space, value.mv_size);
            uint64_t bytes = s_value_bytes(&value);
            if ((rc = mdb_cursor_del(cursor, 0)) != 0)
                break;
            self->count--;
            self->bytes -= bytes;
            self->txn_removed++;
            seq++;
        }
    }
    mdb_cursor_close(cursor);
    self->txn_ack_cost = cost;
    if (rc != 0)
        return s_txn_failed(self, rc, "remove", reason);
    return FOUNDRY_OK;
}

/* Commits the open transaction and moves its counts into the stats. */
static foundry_err
s_commit_txn(fdy_outbox_t *self, fdy_reason_t *reason)
{
    foundry_err err = s_store_err(fdy_kv_commit(self->kv, self->txn, reason));
    self->txn = NULL; /* freed by LMDB whatever the outcome */
    if (err != FOUNDRY_OK) {
        s_rollback(self);
        return err;
    }
    fdy_outbox_space_committed(&self->space);
    self->committed_next_seq = self->next_seq;
    self->committed_count = self->count;
    self->committed_bytes = self->bytes;
    self->stats.appended += self->txn_appended;
    self->stats.appended_samples += self->txn_appended_samples;
    self->stats.removed += self->txn_removed;
    self->stats.dropped += self->txn_dropped;
    self->stats.dropped_samples += self->txn_dropped_samples;
    self->txn_appended = self->txn_appended_samples = 0;
    self->txn_removed = 0;
    self->txn_dropped = self->txn_dropped_samples = 0;
    return FOUNDRY_OK;
}

/* LMDB reuses the pages a transaction freed only once another one has
 * committed after it. On a full disk those pages are the only room for new
 * entries, so deletes are followed by a small write of their own (one page
 * of metadata rewritten). */
static void
s_settle(fdy_outbox_t *self)
{
    fdy_reason_t why;
    if (s_begin(self, &why) != FOUNDRY_OK)
        return;
    if (s_meta_put(self, self->txn, "next_seq", self->committed_next_seq, &why) != FOUNDRY_OK) {
        s_rollback(self);
        return;
    }
    (void) s_commit_txn(self, &why); /* a failure changes nothing */
}

foundry_err
fdy_outbox_commit(fdy_outbox_t *self, fdy_reason_t *reason)
{
    assert(self);
    foundry_err result = FOUNDRY_OK;
    bool acks_failed = false;
    uint64_t removed = self->stats.removed;
    for (int round = 0; round < ACK_ROUNDS; round++) {
        bool acks = !fdy_outbox_acks_empty(self->acks);
        if (!self->txn && !acks)
            break;
        bool appended = self->txn_appended > 0;
        fdy_reason_t why;
        foundry_err err = s_begin(self, &why);
        if (err == FOUNDRY_OK && acks)
            err = s_apply_acks(self, &why); /* those since the transaction began */
        uint64_t done_below = self->txn_acks_below;
        if (err == FOUNDRY_OK)
            err = s_commit_txn(self, &why);
        if (err == FOUNDRY_OK) {
            fdy_outbox_acks_forget_below(self->acks, done_below);
            acks_failed = false;
            continue; /* the rest of a backlog, or done */
        }
        if (result == FOUNDRY_OK)
            result = fdy_reason_set(reason, err, "%s", why.text);
        acks_failed = acks;
        /* The appends may have needed what the deletes would have used:
         * the deletes go again on their own. */
        if (!acks || !appended)
            break;
    }
    fdy_reason_t why;
    if (acks_failed || (fdy_outbox_acks_empty(self->acks) && fdy_outbox_acks_saved(self->acks))) {
        /* Durable in place, so a restart deletes them instead of resending;
         * an empty set clears what an earlier failure kept. */
        if (fdy_outbox_acks_save(self->acks, &why) != FOUNDRY_OK)
            fdy_log_warn_limited("OUTBOX-ACKS-FAILED", "%s", why.text);
    }
    if (self->stats.removed > removed && fdy_outbox_space_full(&self->space) && !self->txn)
        s_settle(self);
    return result;
}

/* ---- reading ------------------------------------------------------------ */

static void
s_note_corrupt(fdy_outbox_t *self, uint64_t seq)
{
    self->stats.corrupt++;
    fdy_log_warn_limited("OUTBOX-CORRUPT",
                         "outbox entry %llu failed its checksum: skipped and "
                         "deleted",
                         (unsigned long long) seq);
    if (self->corrupt_count == self->corrupt_cap) {
        size_t cap = self->corrupt_cap ? self->corrupt_cap * 2 : 16;
        uint64_t *grown = realloc(self->corrupt, cap * sizeof *grown);
        if (!grown)
            return; /* it is found again by the next read */
        self->corrupt = grown;
        self->corrupt_cap = cap;
    }
    self->corrupt[self->corrupt_count++] = seq;
}

foundry_err
fdy_outbox_read(fdy_outbox_t *self, uint64_t from_seq, size_t max_count, fdy_outbox_read_fn *fn,
                void *user, uint64_t *next_out, fdy_reason_t *reason)
{
    assert(self && fn && next_out);
    *next_out = from_seq;
    if (self->txn)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "outbox read with a write open");
    if (max_count == 0)
        return FOUNDRY_OK;
    MDB_txn *txn = NULL;
    MDB_cursor *cursor = NULL;
    foundry_err err = fdy_kv_rtxn_begin(self->kv, &txn, reason);
    if (err != FOUNDRY_OK)
        return s_store_err(err);
    int rc = mdb_cursor_open(txn, self->entries, &cursor);
    if (rc != 0) {
        err = s_mdb_failed(rc, "cursor", reason);
        goto out;
    }
    uint8_t key_buf[8];
    s_key(from_seq, key_buf);
    MDB_val key = {sizeof key_buf, key_buf};
    MDB_val value;
    size_t seen = 0;
    rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    while (rc == 0 && seen < max_count) {
        uint64_t seq = s_key_seq(&key);
        uint64_t skip = fdy_outbox_acks_skip(self->acks, seq);
        if (skip != seq) {
            /* Acknowledged, its delete not committed yet: never sent again. */
            *next_out = skip;
            s_key(skip, key_buf);
            key = (MDB_val){sizeof key_buf, key_buf};
            rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
            continue;
        }
        fdy_outbox_entry_t entry;
        size_t subject_len = 0;
        seen++;
        if (s_parse_value(&value, &entry, &subject_len)) {
            char subject[SUBJECT_MAX + 1];
            memcpy(subject, entry.subject, subject_len);
            subject[subject_len] = '\0';
            entry.subject = subject;
            entry.seq = seq;
            if (!fn(&entry, user))
                break;
        } else {
            s_note_corrupt(self, seq);
        }
        *next_out = seq + 1;
        rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        err = s_mdb_failed(rc, "read", reason);
out:
    if (cursor)
        mdb_cursor_close(cursor); /* read-only cursors outlive their txn */
    fdy_kv_rtxn_end(self->kv, txn);
    return err;
}

/* ---- accessors ------------------------------------------------------------ */

void
fdy_outbox_stats(const fdy_outbox_t *self, fdy_outbox_stats_t *out)
{
    assert(self && out);
    *out = self->stats;
    out->entries = self->count;
    out->bytes = self->bytes;
    out->disk_full = fdy_outbox_space_full(&self->space);
}

uint64_t
fdy_outbox_epoch(const fdy_outbox_t *self)
{
    assert(self);
    return self->epoch;
}
