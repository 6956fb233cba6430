/*  outbox.c: the node's durable outbox on LMDB (outbox.h): entries keyed by
 *  sequence, a bound enforced by policy, group-committed writes, checksummed
 *  records. Not for deciding what to forward or when (agent.c), nor for
 *  what the payload means (it is stored as given).
 *
 *  DB "entries": key = seq (u64 big-endian, so LMDB's order is seq order);
 *  value = crc32c (u32 LE, over the rest) | format u8 = 1 | reserved u8 |
 *  subject_len u16 LE | samples u32 LE | created_ns u64 LE | subject | payload.
 *  DB "meta": "epoch" and "next_seq", u64 LE each.
 */
#include "outbox.h"

#include "clock.h"
#include "crc32c.h"
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECORD_FORMAT 1u
#define SUBJECT_MAX   255u
#define PATH_MAX_LEN  4096
#define MIB           (1024ull * 1024ull)

struct fdy_outbox {
    MDB_env *env;
    MDB_dbi entries;
    MDB_dbi meta;
    int lock_fd;
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

    fdy_outbox_stats_t stats;

    /* Entries that failed their checksum, deleted at the next write. */
    uint64_t *corrupt;
    size_t corrupt_count;
    size_t corrupt_cap;
};

/* ---- small helpers ------------------------------------------------------ */

static void
s_put_u16(uint8_t *out, uint16_t value)
{
    out[0] = (uint8_t) value;
    out[1] = (uint8_t) (value >> 8);
}

static void
s_put_u32(uint8_t *out, uint32_t value)
{
    for (int i = 0; i < 4; i++)
        out[i] = (uint8_t) (value >> (8 * i));
}

static void
s_put_u64(uint8_t *out, uint64_t value)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t) (value >> (8 * i));
}

static uint16_t
s_get_u16(const uint8_t *in)
{
    return (uint16_t) (in[0] | (in[1] << 8));
}

static uint32_t
s_get_u32(const uint8_t *in)
{
    uint32_t value = 0;
    for (int i = 3; i >= 0; i--)
        value = (value << 8) | in[i];
    return value;
}

static uint64_t
s_get_u64(const uint8_t *in)
{
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--)
        value = (value << 8) | in[i];
    return value;
}

static void
s_key(uint64_t seq, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t) seq;
        seq >>= 8;
    }
}

static uint64_t
s_key_seq(const MDB_val *key)
{
    if (key->mv_size != 8)
        return 0;
    const uint8_t *in = key->mv_data;
    uint64_t seq = 0;
    for (int i = 0; i < 8; i++)
        seq = (seq << 8) | in[i];
    return seq;
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

/* LMDB errors are mapped here, once, with their text in the reason. */
static foundry_err
s_mdb_failed(int rc, const char *what, fdy_reason_t *reason)
{
    return fdy_reason_set(reason, FOUNDRY_ESTORE, "outbox %s: %s", what, mdb_strerror(rc));
}

/* Parses a stored value. Returns false when it is damaged. */
static bool
s_parse_value(const MDB_val *value, fdy_outbox_entry_t *entry, size_t *subject_len_out)
{
    const uint8_t *data = value->mv_data;
    size_t len = value->mv_size;
    if (len < FDY_OUTBOX_HEADER_LEN)
        return false;
    if (fdy_crc32c(0, data + 4, len - 4) != s_get_u32(data))
        return false;
    if (data[4] != RECORD_FORMAT)
        return false;
    size_t subject_len = s_get_u16(data + 6);
    if (subject_len == 0 || subject_len > SUBJECT_MAX || len - FDY_OUTBOX_HEADER_LEN < subject_len)
        return false;
    entry->samples = s_get_u32(data + 8);
    entry->created_ns = s_get_u64(data + 12);
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
    return s_get_u32((const uint8_t *) value->mv_data + 8);
}

static uint64_t
s_value_bytes(const MDB_val *value)
{
    return 8u + (uint64_t) value->mv_size;
}

/* ---- opening ------------------------------------------------------------ */

static foundry_err
s_mkdir(const char *path, fdy_reason_t *reason)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return FOUNDRY_OK;
    return fdy_reason_set(reason, FOUNDRY_EIO, "cannot create %s: %s", path, strerror(errno));
}

static foundry_err
s_lock(fdy_outbox_t *self, const char *dir, fdy_reason_t *reason)
{
    char path[PATH_MAX_LEN];
    if ((size_t) snprintf(path, sizeof path, "%s/owner.lock", dir) >= sizeof path)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "outbox path too long");
    self->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot open %s: %s", path, strerror(errno));
    /* Two agents on one outbox would both forward its entries and fight
     * over removals. The lock dies with the process. */
    if (flock(self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            return fdy_reason_set(reason, FOUNDRY_EEXIST, "outbox %s is in use by another process",
                                  dir);
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot lock %s: %s", path, strerror(errno));
    }
    return FOUNDRY_OK;
}

static foundry_err
s_meta_get(fdy_outbox_t *self, MDB_txn *txn, const char *name, uint64_t *value_out, bool *found,
           fdy_reason_t *reason)
{
    MDB_val key = {strlen(name), (void *) name};
    MDB_val value;
    int rc = mdb_get(txn, self->meta, &key, &value);
    *found = false;
    if (rc == MDB_NOTFOUND)
        return FOUNDRY_OK;
    if (rc != 0)
        return s_mdb_failed(rc, "meta read", reason);
    if (value.mv_size != 8)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "outbox meta '%s' is damaged", name);
    *value_out = s_get_u64(value.mv_data);
    *found = true;
    return FOUNDRY_OK;
}

static int
s_meta_put(fdy_outbox_t *self, MDB_txn *txn, const char *name, uint64_t number)
{
    uint8_t buf[8];
    s_put_u64(buf, number);
    MDB_val key = {strlen(name), (void *) name};
    MDB_val value = {sizeof buf, buf};
    return mdb_put(txn, self->meta, &key, &value, 0);
}

/* Opens the databases, makes the epoch on first use, and counts what the
 * outbox holds (one scan at start: cheaper than keeping a counter exact
 * across every failure path). */
static foundry_err
s_load(fdy_outbox_t *self, fdy_reason_t *reason)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cursor = NULL;
    int rc = mdb_txn_begin(self->env, NULL, 0, &txn);
    if (rc != 0)
        return s_mdb_failed(rc, "begin", reason);
    foundry_err err = FOUNDRY_OK;
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
        if ((rc = s_meta_put(self, txn, "epoch", self->epoch)) != 0) {
            err = s_mdb_failed(rc, "write epoch", reason);
            goto out;
        }
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
    if ((rc = s_meta_put(self, txn, "next_seq", self->next_seq)) != 0) {
        err = s_mdb_failed(rc, "write next_seq", reason);
        goto out;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0)
        err = s_mdb_failed(rc, "commit", reason);
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
    self->lock_fd = -1;
    self->max_entries = opts->max_entries;
    self->max_bytes = opts->max_bytes;
    self->policy = opts->policy;

    foundry_err err = s_mkdir(opts->dir, reason);
    if (err == FOUNDRY_OK)
        err = s_lock(self, opts->dir, reason);
    if (err != FOUNDRY_OK)
        goto out;
    int rc = mdb_env_create(&self->env);
    if (rc != 0) {
        err = s_mdb_failed(rc, "create", reason);
        goto out;
    }
    /* The map only reserves address space. Room for the bound twice over
     * (LMDB pages are not full, and freed pages are reused only after
     * their readers end) plus per-entry overhead, so the bound, not
     * MDB_MAP_FULL, decides what is dropped. */
    uint64_t map = 2 * opts->max_bytes + 256 * opts->max_entries + 16 * MIB;
    if ((rc = mdb_env_set_maxdbs(self->env, 2)) != 0 ||
        (rc = mdb_env_set_mapsize(self->env, (size_t) map)) != 0) {
        err = s_mdb_failed(rc, "configure", reason);
        goto out;
    }
    /* Default flags: every commit is synchronous (durable on return). */
    rc = mdb_env_open(self->env, opts->dir, MDB_NOTLS, 0600);
    if (rc != 0) {
        err = s_mdb_failed(rc, "open", reason);
        goto out;
    }
    int dead = 0;
    mdb_reader_check(self->env, &dead);
    err = s_load(self, reason);
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
    if (self->env)
        mdb_env_close(self->env);
    if (self->lock_fd >= 0)
        close(self->lock_fd);
    free(self->corrupt);
    free(self);
    *self_p = NULL;
}

/* ---- writing ------------------------------------------------------------ */

static foundry_err s_delete(fdy_outbox_t *self, uint64_t seq, bool *deleted, fdy_reason_t *reason);

static foundry_err
s_begin(fdy_outbox_t *self, fdy_reason_t *reason)
{
    if (self->txn)
        return FOUNDRY_OK;
    int rc = mdb_txn_begin(self->env, NULL, 0, &self->txn);
    if (rc != 0) {
        self->txn = NULL;
        return s_mdb_failed(rc, "begin", reason);
    }
    /* Damaged entries found by reads go with the next write. */
    size_t count = self->corrupt_count;
    self->corrupt_count = 0;
    for (size_t i = 0; i < count; i++) {
        bool deleted;
        foundry_err err = s_delete(self, self->corrupt[i], &deleted, reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    return FOUNDRY_OK;
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
    bool fits = self->count < self->max_entries && self->bytes + entry_bytes <= self->max_bytes;
    if (!fits && self->policy == FDY_OUTBOX_DROP_NEWEST) {
        self->stats.dropped++;
        self->stats.dropped_samples += samples;
        return fdy_reason_set(reason, FOUNDRY_EFULL,
                              "outbox full (%llu entries, %llu bytes): newest dropped",
                              (unsigned long long) self->count, (unsigned long long) self->bytes);
    }
    foundry_err err = s_begin(self, reason);
    if (err != FOUNDRY_OK)
        return err;
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
    size_t value_len = FDY_OUTBOX_HEADER_LEN + subject_len + payload_len;
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
    s_put_u16(out + 6, (uint16_t) subject_len);
    s_put_u32(out + 8, samples);
    s_put_u64(out + 12, fdy_clock_wall_ns());
    memcpy(out + FDY_OUTBOX_HEADER_LEN, subject, subject_len);
    if (payload_len)
        memcpy(out + FDY_OUTBOX_HEADER_LEN + subject_len, payload, payload_len);
    s_put_u32(out, fdy_crc32c(0, out + 4, value_len - 4));

    self->next_seq = seq + 1;
    rc = s_meta_put(self, self->txn, "next_seq", self->next_seq);
    if (rc != 0)
        return s_txn_failed(self, rc, "write next_seq", reason);
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
    foundry_err err = s_begin(self, reason);
    if (err != FOUNDRY_OK)
        return err;
    bool deleted = false;
    err = s_delete(self, seq, &deleted, reason);
    if (err == FOUNDRY_OK && deleted)
        self->txn_removed++;
    return err;
}

foundry_err
fdy_outbox_commit(fdy_outbox_t *self, fdy_reason_t *reason)
{
    assert(self);
    if (!self->txn)
        return FOUNDRY_OK;
    int rc = mdb_txn_commit(self->txn);
    self->txn = NULL; /* freed by LMDB whatever the outcome */
    if (rc != 0) {
        foundry_err err = s_mdb_failed(rc, "commit", reason);
        s_rollback(self);
        return err;
    }
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
    int rc = mdb_txn_begin(self->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return s_mdb_failed(rc, "begin read", reason);
    foundry_err err = FOUNDRY_OK;
    rc = mdb_cursor_open(txn, self->entries, &cursor);
    if (rc != 0) {
        err = s_mdb_failed(rc, "cursor", reason);
        goto out;
    }
    uint8_t key_buf[8];
    s_key(from_seq, key_buf);
    MDB_val key = {sizeof key_buf, key_buf};
    MDB_val value;
    size_t seen = 0;
    for (rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE); rc == 0 && seen < max_count;
         rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
        uint64_t seq = s_key_seq(&key);
        fdy_outbox_entry_t entry;
        size_t subject_len = 0;
        seen++;
        if (!s_parse_value(&value, &entry, &subject_len)) {
            s_note_corrupt(self, seq);
            *next_out = seq + 1;
            continue;
        }
        char subject[SUBJECT_MAX + 1];
        memcpy(subject, entry.subject, subject_len);
        subject[subject_len] = '\0';
        entry.subject = subject;
        entry.seq = seq;
        if (!fn(&entry, user))
            break;
        *next_out = seq + 1;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        err = s_mdb_failed(rc, "read", reason);
out:
    if (cursor)
        mdb_cursor_close(cursor);
    mdb_txn_abort(txn);
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
}

uint64_t
fdy_outbox_epoch(const fdy_outbox_t *self)
{
    assert(self);
    return self->epoch;
}
