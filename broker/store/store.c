/*  store.c: the LMDB environment (open/close, map growth, reused read
 *  transactions), message records, the group commit (appends with dedupe,
 *  dead letters, consumer states), verified reads and stats. Not streams,
 *  retention, consumers or keys (store_*.c). Durable by construction: no
 *  NOSYNC-family flag is ever set, so every successful commit has fsynced.
 */
#include "store_internal.h"

#include "clock.h"
#include "crc32c.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_DEFAULT_MAP_SIZE (64ull << 20)
#define S_DEFAULT_MAP_SIZE_MAX (16ull << 30)
#define S_DEFAULT_DEDUPE_WINDOW_MS 120000ull
/* Largest stored record; LMDB's limit is 4 GiB, ours keeps sizes in u32. */
#define S_RECORD_MAX (1ull << 31)

/* ---- errors and transactions ------------------------------------------- */

foundry_err
fdy_store_mdb_err(int rc, fdy_reason_t *reason, const char *what)
{
    if (rc == MDB_MAP_FULL)
        return fdy_reason_set(reason, FOUNDRY_EFULL, "%s: %s", what, mdb_strerror(rc));
    return fdy_reason_set(reason, FOUNDRY_ESTORE, "%s: %s", what, mdb_strerror(rc));
}

foundry_err
fdy_store_txn_begin(fdy_store_t *self, unsigned flags, MDB_txn **txn_out, fdy_reason_t *reason)
{
    int rc = mdb_txn_begin(self->env, NULL, flags, txn_out);
    if (rc == MDB_MAP_RESIZED) {
        /* Another process grew the map: adopt its size (no txn is open here,
         * which mdb_env_set_mapsize requires) and begin again. */
        rc = mdb_env_set_mapsize(self->env, 0);
        if (rc == 0)
            rc = mdb_txn_begin(self->env, NULL, flags, txn_out);
    }
    if (rc != 0) {
        *txn_out = NULL;
        return fdy_store_mdb_err(rc, reason, "begin transaction");
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_store_rtxn_begin(fdy_store_t *self, MDB_txn **txn_out, fdy_reason_t *reason)
{
    if (self->rtxn && !self->rtxn_busy) {
        int rc = mdb_txn_renew(self->rtxn);
        if (rc == 0) {
            self->rtxn_busy = true;
            *txn_out = self->rtxn;
            return FOUNDRY_OK;
        }
        /* MDB_MAP_RESIZED (another process grew the map) or worse: drop it;
         * a fresh begin adopts the new size. */
        mdb_txn_abort(self->rtxn);
        self->rtxn = NULL;
    }
    foundry_err err = fdy_store_txn_begin(self, MDB_RDONLY, txn_out, reason);
    if (err == FOUNDRY_OK && !self->rtxn) {
        self->rtxn = *txn_out;
        self->rtxn_busy = true;
    }
    return err;
}

void
fdy_store_rtxn_end(fdy_store_t *self, MDB_txn *txn)
{
    if (txn && txn == self->rtxn) {
        /* Reset keeps the slot (MDB_NOTLS) but pins no snapshot. */
        mdb_txn_reset(txn);
        self->rtxn_busy = false;
    }
    else if (txn) {
        mdb_txn_abort(txn);
    }
}

static uint64_t
s_page_round(uint64_t size)
{
    long page = sysconf(_SC_PAGESIZE);
    uint64_t p = page > 0 ? (uint64_t) page : 4096u;
    return (size + p - 1) / p * p;
}

/* Doubles the map, capped at map_size_max. Returns FOUNDRY_OK (grown: run
 * the transaction again), FOUNDRY_EFULL (at the maximum) or FOUNDRY_ESTORE. */
static foundry_err
s_grow(fdy_store_t *self, fdy_reason_t *reason)
{
    MDB_envinfo info;
    mdb_env_info(self->env, &info);
    uint64_t current = info.me_mapsize;
    if (self->read_only || current >= self->map_size_max)
        return fdy_reason_set(reason, FOUNDRY_EFULL,
                              "store full: map size %llu bytes reached map_size_max %llu",
                              (unsigned long long) current,
                              (unsigned long long) self->map_size_max);
    uint64_t next = current * 2;
    if (next > self->map_size_max || next < current)
        next = self->map_size_max;
    int rc = mdb_env_set_mapsize(self->env, (size_t) next);
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "grow map");
    mdb_env_info(self->env, &info);
    fdy_log_notice("STORE-MAP-GROWN", "store %s: map grown from %llu to %llu bytes (max %llu)",
                   self->dir, (unsigned long long) current,
                   (unsigned long long) info.me_mapsize,
                   (unsigned long long) self->map_size_max);
    return FOUNDRY_OK;
}

foundry_err
fdy_store_write(fdy_store_t *self, fdy_store_txn_fn *fn, void *ctx, fdy_reason_t *reason)
{
    for (bool grown = false;; grown = true) {
        MDB_txn *txn;
        foundry_err err = fdy_store_txn_begin(self, 0, &txn, reason);
        if (err != FOUNDRY_OK)
            return err;
        bool skip_commit = false;
        err = fn(self, txn, ctx, &skip_commit, reason);
        if (err != FOUNDRY_OK || skip_commit) {
            mdb_txn_abort(txn);
        }
        else {
            /* The commit is the durability point: LMDB writes the pages,
             * fdatasyncs, then writes and syncs the meta page. */
            int rc = mdb_txn_commit(txn);
            if (rc == 0)
                self->commits++;
            else
                err = fdy_store_mdb_err(rc, reason, "commit");
        }
        if (err == FOUNDRY_OK && grown)
            fdy_reason_clear(reason); /* the MAP_FULL of an earlier attempt */
        if (err != FOUNDRY_EFULL)
            return err;
        /* MDB_MAP_FULL: the transaction is gone, so the map may be resized. */
        err = s_grow(self, reason);
        if (err != FOUNDRY_OK)
            return err;
    }
}

foundry_err
fdy_store_meta_get(fdy_store_t *self, MDB_txn *txn, const char *key, uint64_t *value_out,
                   fdy_reason_t *reason)
{
    MDB_val k = { strlen(key), (void *) key };
    MDB_val v;
    *value_out = 0;
    int rc = mdb_get(txn, self->dbi_meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return FOUNDRY_OK;
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "read metadata");
    if (v.mv_size != 8)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "metadata %s: bad size %zu", key,
                              v.mv_size);
    *value_out = fdy_store_get_le64(v.mv_data);
    return FOUNDRY_OK;
}

foundry_err
fdy_store_meta_put(fdy_store_t *self, MDB_txn *txn, const char *key, uint64_t value,
                   fdy_reason_t *reason)
{
    uint8_t buf[8];
    fdy_store_put_le64(buf, value);
    MDB_val k = { strlen(key), (void *) key };
    MDB_val v = { sizeof buf, buf };
    int rc = mdb_put(txn, self->dbi_meta, &k, &v, 0);
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "write metadata");
    return FOUNDRY_OK;
}

bool
fdy_store_name_valid(const char *name, size_t max)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* ---- open and close ----------------------------------------------------- */

/* mkdir -p with mode 0700 for what it creates. */
static foundry_err
s_make_dir(const char *dir, fdy_reason_t *reason)
{
    size_t len = strlen(dir);
    char *path = malloc(len + 1);
    if (!path)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    memcpy(path, dir, len + 1);
    foundry_err err = FOUNDRY_OK;
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            err = fdy_reason_set(reason, FOUNDRY_EIO, "create directory %s: %s", path,
                                 strerror(errno));
            goto out;
        }
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        err = fdy_reason_set(reason, FOUNDRY_EIO, "data directory %s: not a directory", dir);
out:
    free(path);
    return err;
}

static foundry_err
s_open_db(fdy_store_t *self, MDB_txn *txn, const char *name, MDB_dbi *dbi, fdy_reason_t *reason)
{
    int rc = mdb_dbi_open(txn, name, self->read_only ? 0 : MDB_CREATE, dbi);
    if (rc == MDB_NOTFOUND)
        return fdy_reason_set(reason, FOUNDRY_ESTORE, "store %s: no database \"%s\" (%s)",
                              self->dir, name, "not initialised");
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "open database");
    return FOUNDRY_OK;
}

/* The schema is checked before anything else is opened or created, so a
 * store of another version is left exactly as it was. */
static foundry_err
s_check_schema(fdy_store_t *self, MDB_txn *txn, fdy_reason_t *reason)
{
    uint64_t schema;
    foundry_err err = fdy_store_meta_get(self, txn, FDY_META_SCHEMA, &schema, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (schema == 0 && !self->read_only)
        return fdy_store_meta_put(self, txn, FDY_META_SCHEMA, FDY_STORE_SCHEMA, reason);
    if (schema < FDY_STORE_SCHEMA)
        return fdy_reason_set(reason, FOUNDRY_EVERSION,
                              "store %s: schema version %llu is older than this build's %d "
                              "and is not migrated; move the directory away and start afresh",
                              self->dir, (unsigned long long) schema, FDY_STORE_SCHEMA);
    if (schema > FDY_STORE_SCHEMA)
        return fdy_reason_set(reason, FOUNDRY_EVERSION,
                              "store %s: schema version %llu is newer than this build's %d; "
                              "run a newer foundry",
                              self->dir, (unsigned long long) schema, FDY_STORE_SCHEMA);
    return FOUNDRY_OK;
}

static foundry_err
s_open_dbs(fdy_store_t *self, fdy_reason_t *reason)
{
    MDB_txn *txn;
    foundry_err err =
        fdy_store_txn_begin(self, self->read_only ? MDB_RDONLY : 0, &txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    err = s_open_db(self, txn, "meta", &self->dbi_meta, reason);
    if (err == FOUNDRY_OK)
        err = s_check_schema(self, txn, reason);
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {
        { "dedupe", &self->dbi_dedupe },
        { "streams", &self->dbi_streams },
        { "keys", &self->dbi_keys },
        { "consumers", &self->dbi_consumers },
        { "consumer_states", &self->dbi_consumer_states },
    };
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0] && err == FOUNDRY_OK; i++)
        err = s_open_db(self, txn, dbs[i].name, dbs[i].dbi, reason);
    if (err == FOUNDRY_OK)
        err = fdy_store_streams_load(self, txn, reason);
    if (err == FOUNDRY_OK)
        err = fdy_store_meta_get(self, txn, FDY_META_KEY_GENERATION, &self->key_generation,
                                 reason);
    if (err != FOUNDRY_OK) {
        mdb_txn_abort(txn);
        return err;
    }
    /* Committing (also a read-only txn) keeps the database handles open. */
    int rc = mdb_txn_commit(txn);
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "open databases");
    if (!self->read_only)
        self->commits++;
    return FOUNDRY_OK;
}

foundry_err
fdy_store_open(const fdy_store_opts_t *opts, fdy_store_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    if (!opts || !opts->dir || !*opts->dir)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "store: no data directory");
    uint64_t map_size = opts->map_size ? opts->map_size : S_DEFAULT_MAP_SIZE;
    uint64_t map_size_max = opts->map_size_max ? opts->map_size_max : S_DEFAULT_MAP_SIZE_MAX;
    if (map_size_max < map_size)
        map_size_max = map_size;
    if (map_size_max > SIZE_MAX / 2)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "store: map_size_max too large");
    uint64_t window_ms = opts->dedupe_window_ms ? opts->dedupe_window_ms
                                                : S_DEFAULT_DEDUPE_WINDOW_MS;
    if (window_ms > UINT64_MAX / 1000000u)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "store: dedupe window too large");

    foundry_err err = FOUNDRY_OK;
    fdy_store_t *self = calloc(1, sizeof *self);
    if (!self)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    self->dir = strdup(opts->dir);
    if (!self->dir) {
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
        goto out;
    }
    self->read_only = opts->read_only;
    self->map_size_max = s_page_round(map_size_max);
    self->dedupe_window_ns = window_ms * 1000000u;

    if (self->read_only) {
        struct stat st;
        if (stat(opts->dir, &st) != 0) {
            err = fdy_reason_set(reason, FOUNDRY_EIO, "data directory %s: %s", opts->dir,
                                 strerror(errno));
            goto out;
        }
        if (!S_ISDIR(st.st_mode)) {
            err = fdy_reason_set(reason, FOUNDRY_EIO, "data directory %s: not a directory",
                                 opts->dir);
            goto out;
        }
    }
    else {
        err = s_make_dir(opts->dir, reason);
        if (err != FOUNDRY_OK)
            goto out;
    }

    int rc = mdb_env_create(&self->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(self->env, FDY_STORE_MAX_DBS);
    if (rc != 0) {
        err = fdy_store_mdb_err(rc, reason, "create environment");
        goto out;
    }
    /* No NOSYNC, NOMETASYNC or MAPASYNC: a commit returns after fsync.
     * NOTLS: read transactions are not tied to a thread's reader slot (and
     * a reset one can be renewed). */
    unsigned env_flags = MDB_NOTLS | (self->read_only ? MDB_RDONLY : 0u);
    /* The map size is set after opening, so a map grown earlier (and
     * recorded in the file) is kept rather than shrunk to opts->map_size. */
    rc = mdb_env_open(self->env, opts->dir, env_flags, 0600);
    if (rc != 0) {
        err = fdy_store_mdb_err(rc, reason, "open store");
        goto out;
    }
    if (!self->read_only) {
        MDB_envinfo info;
        mdb_env_info(self->env, &info);
        uint64_t wanted = s_page_round(map_size);
        if (info.me_mapsize < wanted) {
            rc = mdb_env_set_mapsize(self->env, (size_t) wanted);
            if (rc != 0) {
                err = fdy_store_mdb_err(rc, reason, "set map size");
                goto out;
            }
        }
    }
    fdy_store_check_readers(self);
    err = s_open_dbs(self, reason);
out:
    if (err != FOUNDRY_OK) {
        fdy_store_close(&self);
        return err;
    }
    *out = self;
    return FOUNDRY_OK;
}

void
fdy_store_close(fdy_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fdy_store_t *self = *self_p;
    if (self->rtxn)
        mdb_txn_abort(self->rtxn); /* before the environment goes */
    if (self->env)
        mdb_env_close(self->env); /* also closes the database handles */
    fdy_store_streams_free(self);
    free(self->copy);
    free(self->dir);
    free(self);
    *self_p = NULL;
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
    uint64_t ext_len = fdy_store_get_le32(p + 16);
    if ((uint64_t) used + ext_len > size)
        return SIZE_MAX;
    if (p[4] == FDY_MSG_FORMAT)
        return 0;
    if (p[4] != FDY_MSG_FORMAT_DEAD || used + FDY_DEAD_BLOCK_FIXED > size)
        return SIZE_MAX;
    size_t block_len = fdy_store_get_le16(p + used);
    if (block_len < FDY_DEAD_BLOCK_FIXED || (uint64_t) used + block_len + ext_len > size)
        return SIZE_MAX;
    return block_len;
}

uint64_t
fdy_store_record_payload(const MDB_val *val)
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
    size_t reason_len = fdy_store_get_le16(b + 24);
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
    buf->dead_letter.seq = fdy_store_get_le64(b + 2);
    buf->dead_letter.stored_ns = fdy_store_get_le64(b + 10);
    buf->dead_letter.deliveries = fdy_store_get_le32(b + 18);
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
    if (verify && fdy_crc32c(0, p + 4, size - 4) != fdy_store_get_le32(p))
        return s_bad_record(reason, stream, seq, "checksum mismatch");
    size_t block_len = s_block_len(p, size);
    if (block_len == SIZE_MAX)
        return s_bad_record(reason, stream, seq, "bad record format");
    size_t publisher_len = p[5], id_len = p[6];
    size_t ext_len = fdy_store_get_le32(p + 16);
    const uint8_t *r = p + FDY_MSG_HEADER_LEN;
    memcpy(buf->publisher, r, publisher_len);
    buf->publisher[publisher_len] = '\0';
    rec->stream = stream;
    rec->seq = seq;
    rec->stored_ns = fdy_store_get_le64(p + 8);
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
        return fdy_store_mdb_err(rc, reason, "append: open cursor");
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
        return fdy_store_mdb_err(rc, reason, "append: message");
    uint8_t *p = mv.mv_data;
    p[4] = rec->block_len ? FDY_MSG_FORMAT_DEAD : FDY_MSG_FORMAT;
    p[5] = (uint8_t) rec->publisher_len;
    p[6] = (uint8_t) rec->msg_id_len;
    p[7] = 0;
    fdy_store_put_le64(p + 8, stored_ns);
    fdy_store_put_le32(p + 16, (uint32_t) rec->ext_len);
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
    fdy_store_put_le32(p, fdy_crc32c(0, p + 4, size - 4));

    if (st->txn.first_seq == 0)
        st->txn.first_seq = seq;
    st->txn.last_seq = seq;
    st->txn.messages++;
    st->txn.bytes += rec->data_len + rec->ext_len;
    *seq_out = seq;
    return FOUNDRY_OK;
}

/* ---- group commit ------------------------------------------------------- */

typedef struct {
    fdy_store_batch_t *batch;
    uint64_t now_ns;
} s_commit_t;

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
        if (s_publisher_len(it) > 255)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "item %zu: publisher name too long", i);
        if ((it->data_len && !it->data) || (it->ext_len && !it->ext))
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "item %zu: NULL data", i);
        uint64_t size = (uint64_t) FDY_MSG_HEADER_LEN + 255 + FOUNDRY_MSG_ID_MAX +
                        FDY_DEAD_BLOCK_MAX + (uint64_t) it->data_len + (uint64_t) it->ext_len;
        if (it->data_len > S_RECORD_MAX || it->ext_len > S_RECORD_MAX || size > S_RECORD_MAX)
            return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "item %zu: record too large", i);
    }
    return FOUNDRY_OK;
}

static void
s_touched_reset(fdy_store_t *self)
{
    for (size_t i = 0; i < self->touched_count; i++) {
        self->touched[i]->txn_touched = false;
        self->touched[i]->txn_cursor = NULL; /* freed with its transaction */
    }
    self->touched_count = 0;
}

/* One item: dedupe, then the record. *stored_out tells whether it was new. */
static foundry_err
s_item_put(fdy_store_t *self, MDB_txn *txn, MDB_cursor *dedupe, fdy_store_item_t *it,
           uint64_t now_ns, bool *stored_out, fdy_reason_t *reason)
{
    *stored_out = false;
    fdy_store_stream_t *st = fdy_store_stream_find(self, it->stream_id);
    foundry_err err = fdy_store_stream_touch(self, txn, st, reason);
    if (err != FOUNDRY_OK)
        return err;
    uint64_t seq = st->txn.last_seq + 1;

    /* Dedupe: one NOOVERWRITE put is both the lookup and the insert. */
    uint8_t dval[FDY_DEDUPE_VALUE_LEN];
    fdy_store_put_le32(dval, st->id);
    fdy_store_put_le64(dval + 4, seq);
    fdy_store_put_le64(dval + 12, now_ns);
    MDB_val dk = { it->msg_id_len, (void *) it->msg_id };
    MDB_val dv = { sizeof dval, dval };
    int rc = mdb_cursor_put(dedupe, &dk, &dv, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) {
        if (dv.mv_size != FDY_DEDUPE_VALUE_LEN)
            return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "dedupe entry of %zu bytes",
                                  dv.mv_size);
        const uint8_t *old = dv.mv_data;
        uint64_t old_ns = fdy_store_get_le64(old + 12);
        if (old_ns + self->dedupe_window_ns > now_ns) {
            it->seq = fdy_store_get_le64(old + 4);
            it->duplicate = true;
            return FOUNDRY_OK;
        }
        /* Remembered past its window (the prune has not reached it): the
         * id is free again, and this message is new. */
        dv.mv_size = sizeof dval;
        dv.mv_data = dval;
        rc = mdb_cursor_put(dedupe, &dk, &dv, 0);
    }
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "append: dedupe index");

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
    it->duplicate = false;
    *stored_out = true;
    return FOUNDRY_OK;
}

static foundry_err
s_commit_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    s_commit_t *c = ctx;
    fdy_store_batch_t *b = c->batch;
    foundry_err err = FOUNDRY_OK;
    size_t writes = 0;

    /* Each attempt starts from the database, never from a failed attempt. */
    s_touched_reset(self);

    if (b->item_count) {
        MDB_cursor *dedupe;
        int rc = mdb_cursor_open(txn, self->dbi_dedupe, &dedupe);
        if (rc != 0)
            return fdy_store_mdb_err(rc, reason, "append: open cursor");
        for (size_t i = 0; i < b->item_count; i++) {
            bool stored;
            err = s_item_put(self, txn, dedupe, &b->items[i], c->now_ns, &stored, reason);
            if (err != FOUNDRY_OK)
                return err;
            writes += stored;
        }
    }
    for (size_t i = 0; i < b->dead_letter_count; i++) {
        fdy_dead_letter_t *dl = &b->dead_letters[i];
        err = fdy_store_dead_letter_put(self, txn, dl, c->now_ns, reason);
        if (err != FOUNDRY_OK)
            return err;
        writes += !dl->gone;
    }
    for (size_t i = 0; i < b->state_count; i++) {
        err = fdy_store_state_put(self, txn, &b->states[i], c->now_ns, reason);
        if (err != FOUNDRY_OK)
            return err;
        writes++;
    }
    if (writes == 0) {
        /* Only duplicates, whose originals are durable already: no fsync. */
        *skip_commit = true;
        return FOUNDRY_OK;
    }
    /* Counters: one record write per touched stream per transaction. */
    for (size_t i = 0; i < self->touched_count; i++) {
        fdy_store_stream_t *st = self->touched[i];
        err = fdy_store_stream_counters_put(self, txn, st->name, &st->txn, reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    return FOUNDRY_OK;
}

/* After a commit: tells the trimmer which streams may now be over a limit,
 * so its calls stay free of transactions while nothing is. */
static void
s_trim_hints(fdy_store_t *self, uint64_t now_ns)
{
    for (size_t i = 0; i < self->touched_count; i++) {
        fdy_store_stream_t *st = self->touched[i];
        const fdy_stream_limits_t *lim = &st->txn.limits;
        st->limits = *lim;
        if ((lim->max_msgs && st->txn.messages > lim->max_msgs) ||
            (lim->max_bytes && st->txn.bytes > lim->max_bytes)) {
            st->trim_due_ns = 0;
        }
        else if (lim->max_age_ms) {
            /* Validated at create/update: no overflow in the product. */
            uint64_t age_ns = lim->max_age_ms * 1000000u;
            uint64_t due = now_ns > UINT64_MAX - age_ns ? UINT64_MAX : now_ns + age_ns;
            if (due < st->trim_due_ns)
                st->trim_due_ns = due;
        }
    }
}

static void
s_batch_zero_outs(fdy_store_batch_t *b)
{
    for (size_t i = 0; i < b->item_count; i++) {
        b->items[i].seq = 0;
        b->items[i].duplicate = false;
    }
    for (size_t i = 0; i < b->dead_letter_count; i++) {
        b->dead_letters[i].dlq_stream_id = 0;
        b->dead_letters[i].dlq_seq = 0;
        b->dead_letters[i].gone = false;
    }
}

foundry_err
fdy_store_commit(fdy_store_t *self, fdy_store_batch_t *batch, fdy_reason_t *reason)
{
    if (batch->item_count + batch->dead_letter_count + batch->state_count == 0)
        return FOUNDRY_OK;
    if (self->read_only)
        return fdy_reason_set(reason, FOUNDRY_ESTORE, "store %s is open read-only", self->dir);
    if ((batch->item_count && !batch->items) ||
        (batch->dead_letter_count && !batch->dead_letters) ||
        (batch->state_count && !batch->states))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "batch: NULL array");
    s_batch_zero_outs(batch);
    foundry_err err = s_items_check(self, batch->items, batch->item_count, reason);
    for (size_t i = 0; i < batch->dead_letter_count && err == FOUNDRY_OK; i++)
        err = fdy_store_dead_letter_check(self, &batch->dead_letters[i], i, reason);
    for (size_t i = 0; i < batch->state_count && err == FOUNDRY_OK; i++)
        err = fdy_store_state_check(&batch->states[i], i, reason);
    if (err == FOUNDRY_OK && batch->dead_letter_count)
        err = fdy_store_dead_letter_streams(self, batch->dead_letters, batch->dead_letter_count,
                                            reason);
    if (err != FOUNDRY_OK) {
        s_batch_zero_outs(batch);
        return err;
    }
    s_commit_t c = { batch, fdy_clock_wall_ns() };
    err = fdy_store_write(self, s_commit_txn, &c, reason);
    if (err == FOUNDRY_OK)
        s_trim_hints(self, c.now_ns);
    s_touched_reset(self);
    if (err != FOUNDRY_OK)
        s_batch_zero_outs(batch); /* nothing was stored: no seq to ack */
    return err;
}

foundry_err
fdy_store_append(fdy_store_t *self, fdy_store_item_t *items, size_t count, fdy_reason_t *reason)
{
    fdy_store_batch_t batch = { .items = items, .item_count = count };
    return fdy_store_commit(self, &batch, reason);
}

foundry_err
fdy_store_consumer_save_states(fdy_store_t *self, const fdy_consumer_state_t *states,
                               size_t count, fdy_reason_t *reason)
{
    fdy_store_batch_t batch = { .states = states, .state_count = count };
    return fdy_store_commit(self, &batch, reason);
}

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
            fdy_store_rtxn_end(self, txn);
            txn = NULL;
            err = fdy_store_streams_sync(self, reason);
            if (err != FOUNDRY_OK)
                return err;
        }
        err = fdy_store_rtxn_begin(self, &txn, reason);
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
        err = fdy_store_mdb_err(rc, reason, "read: open cursor");
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
            err = fdy_store_mdb_err(rc, reason, "read");
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
    fdy_store_rtxn_end(self, txn);
    return err;
}

/* ---- maintenance and stats ---------------------------------------------- */

void
fdy_store_check_readers(fdy_store_t *self)
{
    int dead = 0;
    int rc = mdb_reader_check(self->env, &dead);
    if (rc != 0)
        fdy_log_warn("STORE-READER-CHECK", "store %s: reader check: %s", self->dir,
                     mdb_strerror(rc));
    else if (dead > 0)
        fdy_log_notice("STORE-READERS-CLEARED", "store %s: cleared %d stale reader slot(s)",
                       self->dir, dead);
}

/* Finds the mapping of the store's data file in /proc/self/maps: LMDB
 * reports its map address only for MDB_FIXEDMAP, and a grown map moves. */
static bool
s_map_range(fdy_store_t *self, uintptr_t *start_out, uintptr_t *end_out)
{
    char wanted[PATH_MAX + 16];
    char real[PATH_MAX];
    if (!realpath(self->dir, real))
        return false;
    snprintf(wanted, sizeof wanted, "%s/data.mdb", real);
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps)
        return false;
    char line[PATH_MAX + 128];
    bool found = false;
    while (!found && fgets(line, sizeof line, maps)) {
        char *path = strchr(line, '/');
        if (!path)
            continue;
        path[strcspn(path, "\n")] = '\0';
        unsigned long start = 0, end = 0;
        if (strcmp(path, wanted) == 0 && sscanf(line, "%lx-%lx", &start, &end) == 2) {
            *start_out = (uintptr_t) start;
            *end_out = (uintptr_t) end;
            found = true;
        }
    }
    fclose(maps);
    return found;
}

void
fdy_store_release_pages(fdy_store_t *self)
{
    uintptr_t start = 0, end = 0;
    if (!s_map_range(self, &start, &end))
        return;
    /* The map is MAP_SHARED and read-only (no MDB_WRITEMAP): dropping the
     * mappings loses nothing, a later access faults the page back in from
     * the page cache. posix_madvise's DONTNEED is a no-op in glibc. */
    if (madvise((void *) start, end - start, MADV_DONTNEED) != 0)
        fdy_log_warn_limited("STORE-RELEASE-PAGES", "store %s: madvise: %s", self->dir,
                             strerror(errno));
}

/* Pages on the free list: counted in the file, reusable by later writes. */
static foundry_err
s_free_pages(MDB_txn *txn, uint64_t *pages_out, fdy_reason_t *reason)
{
    MDB_cursor *cursor;
    *pages_out = 0;
    int rc = mdb_cursor_open(txn, 0, &cursor); /* dbi 0: LMDB's free list */
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "stats: free list");
    MDB_val k, v;
    while ((rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) == 0) {
        if (v.mv_size >= sizeof(size_t)) {
            size_t count;
            memcpy(&count, v.mv_data, sizeof count); /* an IDL: count first */
            *pages_out += count;
        }
    }
    mdb_cursor_close(cursor);
    if (rc != MDB_NOTFOUND)
        return fdy_store_mdb_err(rc, reason, "stats: free list");
    return FOUNDRY_OK;
}

foundry_err
fdy_store_stats(fdy_store_t *self, fdy_store_stats_t *out)
{
    memset(out, 0, sizeof *out);
    fdy_reason_t reason;
    MDB_txn *txn;
    MDB_cursor *cursor = NULL;
    foundry_err err = fdy_store_rtxn_begin(self, &txn, &reason);
    if (err != FOUNDRY_OK)
        return err;
    MDB_envinfo info;
    MDB_stat est, dst, cst;
    mdb_env_info(self->env, &info);
    mdb_env_stat(self->env, &est);
    out->map_size = info.me_mapsize;
    out->map_size_max = self->map_size_max;
    out->commits = self->commits;
    uint64_t free_pages = 0;
    err = s_free_pages(txn, &free_pages, &reason);
    if (err != FOUNDRY_OK)
        goto out;
    uint64_t pages = (uint64_t) info.me_last_pgno + 1;
    out->used_bytes = (pages > free_pages ? pages - free_pages : 0) * est.ms_psize;
    int rc = mdb_stat(txn, self->dbi_dedupe, &dst);
    if (rc == 0)
        rc = mdb_stat(txn, self->dbi_consumers, &cst);
    if (rc == 0)
        rc = mdb_cursor_open(txn, self->dbi_streams, &cursor);
    if (rc != 0) {
        err = fdy_store_mdb_err(rc, &reason, "stats");
        goto out;
    }
    out->dedupe_entries = dst.ms_entries;
    out->consumers = cst.ms_entries;
    MDB_val k, v;
    while ((rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) == 0) {
        fdy_stream_counters_t c;
        err = fdy_store_stream_counters_decode("?", &v, &c, &reason);
        if (err != FOUNDRY_OK)
            goto out;
        out->streams++;
        out->messages += c.messages;
    }
    if (rc != MDB_NOTFOUND)
        err = fdy_store_mdb_err(rc, &reason, "stats");
out:
    if (cursor)
        mdb_cursor_close(cursor);
    fdy_store_rtxn_end(self, txn);
    return err;
}
