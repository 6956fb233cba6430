/*  store.c: the LMDB environment of a data directory: open/close, map
 *  growth, group-commit append with dedupe, verified reads, dedupe pruning,
 *  stats and reader-slot cleanup. Streams live in store_streams.c, key
 *  records in store_keys.c. Durable by construction: no NOSYNC-family flag
 *  is ever set, so every successful commit has been fsynced.
 */
#include "store_internal.h"

#include "clock.h"
#include "crc32c.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_MAX_DBS 8
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
s_open_dbs(fdy_store_t *self, fdy_reason_t *reason)
{
    unsigned db_flags = self->read_only ? 0 : MDB_CREATE;
    MDB_txn *txn;
    foundry_err err =
        fdy_store_txn_begin(self, self->read_only ? MDB_RDONLY : 0, &txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {
        { "msgs", &self->dbi_msgs },       { "dedupe", &self->dbi_dedupe },
        { "streams", &self->dbi_streams }, { "keys", &self->dbi_keys },
        { "meta", &self->dbi_meta },
    };
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        int rc = mdb_dbi_open(txn, dbs[i].name, db_flags, dbs[i].dbi);
        if (rc == MDB_NOTFOUND) {
            err = fdy_reason_set(reason, FOUNDRY_ESTORE, "store %s: no database \"%s\" (%s)",
                                 self->dir, dbs[i].name, "not initialised");
            goto out;
        }
        if (rc != 0) {
            err = fdy_store_mdb_err(rc, reason, "open database");
            goto out;
        }
    }
    uint64_t schema;
    err = fdy_store_meta_get(self, txn, FDY_META_SCHEMA, &schema, reason);
    if (err != FOUNDRY_OK)
        goto out;
    if (schema == 0 && !self->read_only) {
        err = fdy_store_meta_put(self, txn, FDY_META_SCHEMA, FDY_STORE_SCHEMA, reason);
        if (err != FOUNDRY_OK)
            goto out;
    }
    else if (schema != FDY_STORE_SCHEMA) {
        err = fdy_reason_set(reason, FOUNDRY_ECORRUPT, "store %s: schema version %llu, expected %d",
                             self->dir, (unsigned long long) schema, FDY_STORE_SCHEMA);
        goto out;
    }
    err = fdy_store_streams_load(self, txn, reason);
    if (err != FOUNDRY_OK)
        goto out;
    err = fdy_store_meta_get(self, txn, FDY_META_KEY_GENERATION, &self->key_generation, reason);
    if (err != FOUNDRY_OK)
        goto out;
    /* Committing (also a read-only txn) keeps the database handles open. */
    int rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0)
        err = fdy_store_mdb_err(rc, reason, "open databases");
    else if (!self->read_only)
        self->commits++;
out:
    if (txn)
        mdb_txn_abort(txn);
    return err;
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
        rc = mdb_env_set_maxdbs(self->env, S_MAX_DBS);
    if (rc != 0) {
        err = fdy_store_mdb_err(rc, reason, "create environment");
        goto out;
    }
    /* No NOSYNC, NOMETASYNC or MAPASYNC: a commit returns after fsync.
     * NOTLS: read transactions are not tied to a thread's reader slot. */
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
    if (self->env)
        mdb_env_close(self->env); /* also closes the database handles */
    fdy_store_streams_free(self);
    free(self->dir);
    free(self);
    *self_p = NULL;
}

/* ---- append ------------------------------------------------------------- */

typedef struct {
    fdy_store_item_t *items;
    size_t count;
    uint64_t now_ns;
} s_append_t;

static size_t
s_publisher_len(const fdy_store_item_t *item)
{
    return item->publisher ? strlen(item->publisher) : 0;
}

static foundry_err
s_append_check(fdy_store_t *self, const fdy_store_item_t *items, size_t count,
               fdy_reason_t *reason)
{
    bool reloaded = false;
    for (size_t i = 0; i < count; i++) {
        const fdy_store_item_t *it = &items[i];
        if (!fdy_store_stream_find(self, it->stream_id) && !reloaded) {
            /* Perhaps created by another process since we loaded. */
            MDB_txn *txn;
            foundry_err err = fdy_store_txn_begin(self, MDB_RDONLY, &txn, reason);
            if (err != FOUNDRY_OK)
                return err;
            err = fdy_store_streams_load(self, txn, reason);
            mdb_txn_abort(txn);
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
                        (uint64_t) it->data_len + (uint64_t) it->ext_len;
        if (it->data_len > S_RECORD_MAX || it->ext_len > S_RECORD_MAX || size > S_RECORD_MAX)
            return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "item %zu: record too large", i);
    }
    return FOUNDRY_OK;
}

/* Writes one msgs record into the space LMDB reserved for it. */
static void
s_record_write(uint8_t *p, size_t size, const fdy_store_item_t *it, size_t publisher_len,
               uint64_t stored_ns)
{
    p[4] = FDY_MSG_FORMAT;
    p[5] = (uint8_t) publisher_len;
    p[6] = (uint8_t) it->msg_id_len;
    p[7] = 0;
    fdy_store_put_le64(p + 8, stored_ns);
    fdy_store_put_le32(p + 16, (uint32_t) it->ext_len);
    uint8_t *w = p + FDY_MSG_HEADER_LEN;
    if (publisher_len)
        memcpy(w, it->publisher, publisher_len);
    w += publisher_len;
    memcpy(w, it->msg_id, it->msg_id_len);
    w += it->msg_id_len;
    if (it->data_len)
        memcpy(w, it->data, it->data_len);
    w += it->data_len;
    if (it->ext_len)
        memcpy(w, it->ext, it->ext_len);
    fdy_store_put_le32(p, fdy_crc32c(0, p + 4, size - 4));
}

static foundry_err
s_append_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    s_append_t *a = ctx;
    MDB_cursor *tail = NULL, *middle = NULL, *dedupe = NULL;
    foundry_err err = FOUNDRY_OK;
    size_t stored = 0;
    int rc;

    /* Each attempt starts from the database, never from a failed attempt. */
    for (size_t i = 0; i < self->touched_count; i++)
        self->touched[i]->txn_touched = false;
    self->touched_count = 0;

    if ((rc = mdb_cursor_open(txn, self->dbi_msgs, &tail)) != 0 ||
        (rc = mdb_cursor_open(txn, self->dbi_msgs, &middle)) != 0 ||
        (rc = mdb_cursor_open(txn, self->dbi_dedupe, &dedupe)) != 0)
        return fdy_store_mdb_err(rc, reason, "append: open cursor");

    /* MDB_APPEND is only valid past the last key of the whole DB (not of
     * one stream), so track that key: items of the highest stream append,
     * others go through a normal (searched) insert. */
    uint8_t last_key[FDY_MSG_KEY_LEN] = { 0 };
    bool have_last = false;
    {
        MDB_val k, v;
        rc = mdb_cursor_get(tail, &k, &v, MDB_LAST);
        if (rc == 0 && k.mv_size == FDY_MSG_KEY_LEN) {
            memcpy(last_key, k.mv_data, FDY_MSG_KEY_LEN);
            have_last = true;
        }
        else if (rc == 0) {
            return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "msgs: key of %zu bytes",
                                  k.mv_size);
        }
        else if (rc != MDB_NOTFOUND) {
            return fdy_store_mdb_err(rc, reason, "append: last message");
        }
    }

    for (size_t i = 0; i < a->count; i++) {
        fdy_store_item_t *it = &a->items[i];
        fdy_store_stream_t *st = fdy_store_stream_find(self, it->stream_id);
        if (!st->txn_touched) {
            err = fdy_store_stream_counters_get(self, txn, st->name, &st->txn, reason);
            if (err == FOUNDRY_ENOTFOUND)
                err = fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: record missing",
                                     st->name);
            if (err != FOUNDRY_OK)
                return err;
            if (st->txn.id != st->id)
                return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: id %u, expected %u",
                                      st->name, st->txn.id, st->id);
            st->txn_touched = true;
            self->touched[self->touched_count++] = st;
        }
        uint64_t seq = st->txn.last_seq + 1;

        /* Dedupe: one NOOVERWRITE put is both the lookup and the insert. */
        uint8_t dval[FDY_DEDUPE_VALUE_LEN];
        fdy_store_put_le32(dval, st->id);
        fdy_store_put_le64(dval + 4, seq);
        fdy_store_put_le64(dval + 12, a->now_ns);
        MDB_val dk = { it->msg_id_len, (void *) it->msg_id };
        MDB_val dv = { sizeof dval, dval };
        rc = mdb_cursor_put(dedupe, &dk, &dv, MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST) {
            if (dv.mv_size != FDY_DEDUPE_VALUE_LEN)
                return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "dedupe entry of %zu bytes",
                                      dv.mv_size);
            const uint8_t *old = dv.mv_data;
            uint64_t old_ns = fdy_store_get_le64(old + 12);
            if (old_ns + self->dedupe_window_ns > a->now_ns) {
                it->seq = fdy_store_get_le64(old + 4);
                it->duplicate = true;
                continue;
            }
            /* Remembered past its window (the prune has not reached it):
             * the id is free again, and this message is new. */
            dv.mv_size = sizeof dval;
            dv.mv_data = dval;
            rc = mdb_cursor_put(dedupe, &dk, &dv, 0);
        }
        if (rc != 0)
            return fdy_store_mdb_err(rc, reason, "append: dedupe index");

        size_t publisher_len = s_publisher_len(it);
        size_t size = FDY_MSG_HEADER_LEN + publisher_len + it->msg_id_len + it->data_len +
                      it->ext_len;
        uint8_t key[FDY_MSG_KEY_LEN];
        fdy_store_msg_key(key, st->id, seq);
        MDB_val mk = { sizeof key, key };
        MDB_val mv = { size, NULL };
        if (!have_last || memcmp(key, last_key, FDY_MSG_KEY_LEN) > 0) {
            rc = mdb_cursor_put(tail, &mk, &mv, MDB_APPEND | MDB_RESERVE);
            memcpy(last_key, key, sizeof key);
            have_last = true;
        }
        else {
            rc = mdb_cursor_put(middle, &mk, &mv, MDB_NOOVERWRITE | MDB_RESERVE);
        }
        if (rc == MDB_KEYEXIST)
            return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                                  "stream %s: seq %llu already stored past last_seq", st->name,
                                  (unsigned long long) seq);
        if (rc != 0)
            return fdy_store_mdb_err(rc, reason, "append: message");
        s_record_write(mv.mv_data, size, it, publisher_len, a->now_ns);

        if (st->txn.first_seq == 0)
            st->txn.first_seq = seq;
        st->txn.last_seq = seq;
        st->txn.messages++;
        st->txn.bytes += it->data_len + it->ext_len;
        it->seq = seq;
        it->duplicate = false;
        stored++;
    }

    if (stored == 0) {
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

foundry_err
fdy_store_append(fdy_store_t *self, fdy_store_item_t *items, size_t count, fdy_reason_t *reason)
{
    if (count == 0)
        return FOUNDRY_OK;
    if (self->read_only)
        return fdy_reason_set(reason, FOUNDRY_ESTORE, "store %s is open read-only", self->dir);
    foundry_err err = s_append_check(self, items, count, reason);
    if (err != FOUNDRY_OK)
        return err;
    s_append_t a = { items, count, fdy_clock_wall_ns() };
    err = fdy_store_write(self, s_append_txn, &a, reason);
    for (size_t i = 0; i < self->touched_count; i++)
        self->touched[i]->txn_touched = false;
    self->touched_count = 0;
    if (err != FOUNDRY_OK) {
        /* Nothing was stored: leave no seq for the caller to ack. */
        for (size_t i = 0; i < count; i++) {
            items[i].seq = 0;
            items[i].duplicate = false;
        }
    }
    return err;
}

/* ---- read --------------------------------------------------------------- */

/* Checks a msgs record and fills rec (publisher copied into pub, NUL-ended).
 * Returns FOUNDRY_OK or FOUNDRY_ECORRUPT naming stream and seq. */
static foundry_err
s_record_parse(const char *stream, uint64_t seq, const MDB_val *val, fdy_stored_t *rec,
               char *pub, fdy_reason_t *reason)
{
    const uint8_t *p = val->mv_data;
    size_t size = val->mv_size;
    if (size < FDY_MSG_HEADER_LEN)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: seq %llu: record truncated",
                              stream, (unsigned long long) seq);
    if (fdy_crc32c(0, p + 4, size - 4) != fdy_store_get_le32(p))
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "stream %s: seq %llu: checksum mismatch", stream,
                              (unsigned long long) seq);
    size_t publisher_len = p[5], id_len = p[6];
    uint64_t ext_len = fdy_store_get_le32(p + 16);
    if (p[4] != FDY_MSG_FORMAT ||
        FDY_MSG_HEADER_LEN + publisher_len + id_len + ext_len > (uint64_t) size)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "stream %s: seq %llu: bad record format", stream,
                              (unsigned long long) seq);
    const uint8_t *r = p + FDY_MSG_HEADER_LEN;
    memcpy(pub, r, publisher_len);
    pub[publisher_len] = '\0';
    rec->stream = stream;
    rec->seq = seq;
    rec->stored_ns = fdy_store_get_le64(p + 8);
    rec->publisher = pub;
    rec->msg_id = r + publisher_len;
    rec->msg_id_len = id_len;
    rec->data = r + publisher_len + id_len;
    rec->data_len = size - FDY_MSG_HEADER_LEN - publisher_len - id_len - (size_t) ext_len;
    rec->ext = ext_len ? rec->data + rec->data_len : NULL;
    rec->ext_len = (size_t) ext_len;
    return FOUNDRY_OK;
}

foundry_err
fdy_store_read(fdy_store_t *self, const char *stream, uint64_t from_seq, size_t max_count,
               fdy_store_read_fn *fn, void *user, fdy_reason_t *reason)
{
    size_t name_len = stream ? strlen(stream) : 0;
    if (name_len == 0 || name_len > FOUNDRY_STREAM_NAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%.80s\"",
                              stream ? stream : "");
    MDB_txn *txn;
    MDB_cursor *cursor = NULL;
    foundry_err err = fdy_store_txn_begin(self, MDB_RDONLY, &txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_stream_counters_t c;
    err = fdy_store_stream_counters_get(self, txn, stream, &c, reason);
    if (err == FOUNDRY_ENOTFOUND)
        err = fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%s\"", stream);
    if (err != FOUNDRY_OK)
        goto out;
    uint64_t seq = from_seq > c.first_seq ? from_seq : c.first_seq;
    if (c.first_seq == 0 || seq > c.last_seq || max_count == 0)
        goto out;
    int rc = mdb_cursor_open(txn, self->dbi_msgs, &cursor);
    if (rc != 0) {
        err = fdy_store_mdb_err(rc, reason, "read: open cursor");
        goto out;
    }
    uint8_t key[FDY_MSG_KEY_LEN];
    fdy_store_msg_key(key, c.id, seq);
    MDB_val k = { sizeof key, key }, v;
    rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
    char pub[256];
    for (size_t n = 0; n < max_count && seq <= c.last_seq; n++, seq++) {
        if (n > 0)
            rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
        uint32_t got_id = 0;
        uint64_t got_seq = 0;
        if (rc == 0 && k.mv_size == FDY_MSG_KEY_LEN)
            fdy_store_msg_key_parse(k.mv_data, &got_id, &got_seq);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            err = fdy_store_mdb_err(rc, reason, "read");
            goto out;
        }
        if (rc == MDB_NOTFOUND || got_id != c.id || got_seq != seq) {
            /* The stream record promises every seq up to last_seq. */
            err = fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                                 "stream %s: seq %llu missing (gap before last_seq %llu)",
                                 stream, (unsigned long long) seq,
                                 (unsigned long long) c.last_seq);
            goto out;
        }
        fdy_stored_t rec;
        err = s_record_parse(stream, seq, &v, &rec, pub, reason);
        if (err != FOUNDRY_OK)
            goto out;
        err = fn(&rec, user);
        if (err != FOUNDRY_OK)
            goto out;
    }
out:
    if (cursor)
        mdb_cursor_close(cursor); /* read-only cursors outlive their txn */
    mdb_txn_abort(txn);
    return err;
}

/* ---- dedupe prune ------------------------------------------------------- */

typedef struct {
    uint64_t now_ns;
    size_t max_work;
    size_t pruned;
    size_t next; /* round-robin position to resume from */
} s_prune_t;

/* Walks one stream from its prune cursor while records are older than the
 * window, deleting their dedupe entries (only those still pointing at this
 * stream and seq: an id may have been reused since). */
static foundry_err
s_prune_stream(fdy_store_t *self, MDB_txn *txn, fdy_store_stream_t *st, s_prune_t *p,
               MDB_cursor *msgs, MDB_cursor *dedupe, size_t *work, bool *changed,
               fdy_reason_t *reason)
{
    fdy_stream_counters_t c;
    foundry_err err = fdy_store_stream_counters_get(self, txn, st->name, &c, reason);
    if (err != FOUNDRY_OK)
        return err;
    uint64_t seq = c.prune_seq ? c.prune_seq : 1;
    if (seq < c.first_seq)
        seq = c.first_seq;
    uint64_t start = seq;
    st->prune_due_ns = 0;
    uint8_t key[FDY_MSG_KEY_LEN];
    MDB_val k = { sizeof key, key }, v;
    int rc = MDB_NOTFOUND;
    while (seq <= c.last_seq && *work < p->max_work) {
        if (seq == start) {
            fdy_store_msg_key(key, c.id, seq);
            k.mv_size = sizeof key;
            k.mv_data = key;
            rc = mdb_cursor_get(msgs, &k, &v, MDB_SET_KEY);
        }
        else {
            rc = mdb_cursor_get(msgs, &k, &v, MDB_NEXT);
        }
        uint32_t got_id = 0;
        uint64_t got_seq = 0;
        if (rc == 0 && k.mv_size == FDY_MSG_KEY_LEN)
            fdy_store_msg_key_parse(k.mv_data, &got_id, &got_seq);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return fdy_store_mdb_err(rc, reason, "prune: read message");
        if (rc != 0 || got_id != c.id || got_seq != seq || v.mv_size < FDY_MSG_HEADER_LEN) {
            /* A hole or a damaged record: reads report it; the prune cannot
             * learn its id, so it stops here rather than guess. */
            break;
        }
        const uint8_t *r = v.mv_data;
        uint64_t stored_ns = fdy_store_get_le64(r + 8);
        if (stored_ns + self->dedupe_window_ns > p->now_ns) {
            st->prune_due_ns = stored_ns + self->dedupe_window_ns;
            break;
        }
        size_t publisher_len = r[5], id_len = r[6];
        if (id_len > 0 && FDY_MSG_HEADER_LEN + publisher_len + id_len <= v.mv_size) {
            MDB_val dk = { id_len, (void *) (r + FDY_MSG_HEADER_LEN + publisher_len) }, dv;
            rc = mdb_cursor_get(dedupe, &dk, &dv, MDB_SET_KEY);
            if (rc == 0 && dv.mv_size == FDY_DEDUPE_VALUE_LEN &&
                fdy_store_get_le32(dv.mv_data) == c.id &&
                fdy_store_get_le64((const uint8_t *) dv.mv_data + 4) == seq) {
                rc = mdb_cursor_del(dedupe, 0);
                if (rc != 0)
                    return fdy_store_mdb_err(rc, reason, "prune: delete");
                p->pruned++;
            }
            else if (rc != 0 && rc != MDB_NOTFOUND) {
                return fdy_store_mdb_err(rc, reason, "prune: dedupe lookup");
            }
        }
        seq++;
        (*work)++;
    }
    if (seq > c.last_seq) {
        /* Caught up: records appended from now on are stored at or after
         * this wall time, so none of them expires within a window. */
        st->prune_due_ns = fdy_clock_wall_ns() + self->dedupe_window_ns;
    }
    if (seq != c.prune_seq) {
        c.prune_seq = seq;
        *changed = true;
        return fdy_store_stream_counters_put(self, txn, st->name, &c, reason);
    }
    return FOUNDRY_OK;
}

static foundry_err
s_prune_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    s_prune_t *p = ctx;
    MDB_cursor *msgs = NULL, *dedupe = NULL;
    int rc;
    p->pruned = 0;
    if ((rc = mdb_cursor_open(txn, self->dbi_msgs, &msgs)) != 0 ||
        (rc = mdb_cursor_open(txn, self->dbi_dedupe, &dedupe)) != 0)
        return fdy_store_mdb_err(rc, reason, "prune: open cursor");
    size_t work = 0;
    bool changed = false;
    size_t n = self->stream_count;
    size_t start = n ? self->prune_next % n : 0;
    p->next = start;
    for (size_t i = 0; i < n && work < p->max_work; i++) {
        fdy_store_stream_t *st = self->streams[(start + i) % n];
        p->next = (start + i + 1) % n;
        if (st->prune_due_ns > p->now_ns)
            continue;
        foundry_err err = s_prune_stream(self, txn, st, p, msgs, dedupe, &work, &changed, reason);
        if (err != FOUNDRY_OK)
            return err;
        if (work >= p->max_work)
            p->next = (start + i) % n; /* this stream may have more */
    }
    *skip_commit = !changed;
    return FOUNDRY_OK;
}

foundry_err
fdy_store_prune_dedupe(fdy_store_t *self, uint64_t now_ns, size_t max_work, size_t *pruned_out)
{
    if (pruned_out)
        *pruned_out = 0;
    if (self->read_only || max_work == 0)
        return FOUNDRY_OK;
    bool due = false;
    for (size_t i = 0; i < self->stream_count && !due; i++)
        due = self->streams[i]->prune_due_ns <= now_ns;
    if (!due)
        return FOUNDRY_OK; /* no write transaction at all on most loop turns */
    s_prune_t p = { now_ns, max_work, 0, 0 };
    fdy_reason_t reason;
    foundry_err err = fdy_store_write(self, s_prune_txn, &p, &reason);
    if (err != FOUNDRY_OK) {
        /* The hints were set by an aborted walk: forget them. */
        for (size_t i = 0; i < self->stream_count; i++)
            self->streams[i]->prune_due_ns = 0;
        /* Runs every loop turn, so a lasting failure (a full map) must not
         * flood the log. */
        fdy_log_warn_limited("STORE-PRUNE-FAILED", "store %s: dedupe prune: %s", self->dir,
                             reason.text);
        return err;
    }
    self->prune_next = p.next;
    if (pruned_out)
        *pruned_out = p.pruned;
    return FOUNDRY_OK;
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
    foundry_err err = fdy_store_txn_begin(self, MDB_RDONLY, &txn, &reason);
    if (err != FOUNDRY_OK)
        return err;
    MDB_envinfo info;
    MDB_stat est, dst;
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
        rc = mdb_cursor_open(txn, self->dbi_streams, &cursor);
    if (rc != 0) {
        err = fdy_store_mdb_err(rc, &reason, "stats");
        goto out;
    }
    out->dedupe_entries = dst.ms_entries;
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
    mdb_txn_abort(txn);
    return err;
}
