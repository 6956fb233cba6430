/*  store_streams.c: stream records, their message databases and the
 *  in-memory routing table: create, update, route, lookup. Routing is
 *  served from memory; counters are read from the DB inside the
 *  transaction that uses them, so another process cannot make them stale.
 *  Not for message records (store_messages.c), delete/info/list
 *  (store_catalog.c) or retention (store_retention.c).
 */
#include "store_dedupe.h"
#include "store_streams.h"

#include "clock.h"
#include "subject.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Meta DB key: the id the next stream gets. */
#define S_META_NEXT_STREAM "next_stream_id"

static foundry_err s_streams_open(fdy_store_t *self, MDB_txn *txn, fdy_reason_t *reason);

static foundry_err s_stream_check(const fdy_store_t *self, size_t db_index, const MDB_val *prev_key,
                                  const MDB_val *key, const MDB_val *value, fdy_reason_t *reason);

static const char *const s_dbs[] = {"streams", NULL};
const fdy_store_table_t fdy_store_streams_table = {"streams", s_dbs, s_streams_open, NULL,
                                                   s_stream_check};

MDB_dbi
fdy_store_streams_dbi(const fdy_store_t *self)
{
    return fdy_store_dbi(self, &fdy_store_streams_table, 0);
}

/* At open: the routing table from the records (the open transaction is
 * committed, which keeps the message databases' handles). */
static foundry_err
s_streams_open(fdy_store_t *self, MDB_txn *txn, fdy_reason_t *reason)
{
    return fdy_store_streams_load(self, txn, reason);
}

/* ---- record format ------------------------------------------------------ */

foundry_err
fdy_store_stream_counters_decode(const char *name, const MDB_val *val, fdy_stream_counters_t *out,
                                 fdy_reason_t *reason)
{
    const uint8_t *p = val->mv_data;
    if (val->mv_size < FDY_STREAM_REC_FIXED || val->mv_size > FDY_STREAM_REC_MAX ||
        p[0] != FDY_STREAM_REC_VERSION)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: bad stream record", name);
    out->id = fdy_bytes_get_le32(p + FDY_STREAM_OFF_ID);
    out->first_seq = fdy_bytes_get_le64(p + FDY_STREAM_OFF_FIRST);
    out->last_seq = fdy_bytes_get_le64(p + FDY_STREAM_OFF_LAST);
    out->messages = fdy_bytes_get_le64(p + FDY_STREAM_OFF_MESSAGES);
    out->bytes = fdy_bytes_get_le64(p + FDY_STREAM_OFF_BYTES);
    out->created_ns = fdy_bytes_get_le64(p + FDY_STREAM_OFF_CREATED);
    out->prune_seq = fdy_bytes_get_le64(p + FDY_STREAM_OFF_PRUNE);
    out->limits.max_age_ms = fdy_bytes_get_le64(p + FDY_STREAM_OFF_MAX_AGE);
    out->limits.max_bytes = fdy_bytes_get_le64(p + FDY_STREAM_OFF_MAX_BYTES);
    out->limits.max_msgs = fdy_bytes_get_le64(p + FDY_STREAM_OFF_MAX_MSGS);
    /* Empty (first_seq 0) means no messages; otherwise first..last holds
     * exactly `messages` seqs. */
    bool consistent = out->first_seq == 0 ? out->messages == 0
                                          : out->first_seq <= out->last_seq &&
                                                out->messages == out->last_seq - out->first_seq + 1;
    if (out->id == 0 || !consistent)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: inconsistent counters", name);
    return FOUNDRY_OK;
}

foundry_err
fdy_store_stream_filters_decode(const char *name, const MDB_val *val, char **filters,
                                size_t *count_out, fdy_reason_t *reason)
{
    const uint8_t *p = val->mv_data;
    size_t count = p[1], off = FDY_STREAM_REC_FIXED;
    *count_out = 0;
    if (count > FDY_STREAM_FILTERS_MAX)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: %zu filters", name, count);
    for (size_t i = 0; i < count; i++) {
        if (off + 2 > val->mv_size)
            goto corrupt;
        size_t len = fdy_bytes_get_le16(p + off);
        off += 2;
        if (len == 0 || len > FOUNDRY_SUBJECT_MAX || off + len > val->mv_size)
            goto corrupt;
        filters[i] = malloc(len + 1);
        if (!filters[i])
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
        memcpy(filters[i], p + off, len);
        filters[i][len] = '\0';
        *count_out = i + 1;
        off += len;
    }
    if (off != val->mv_size)
        goto corrupt;
    return FOUNDRY_OK;
corrupt:
    return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: bad filter list", name);
}

void
fdy_store_stream_filters_free(char **filters, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(filters[i]);
        filters[i] = NULL;
    }
}

foundry_err
fdy_store_stream_counters_get(fdy_store_t *self, MDB_txn *txn, const char *name,
                              fdy_stream_counters_t *out, fdy_reason_t *reason)
{
    MDB_val k = { strlen(name), (void *) name }, v;
    int rc = mdb_get(txn, fdy_store_streams_dbi(self), &k, &v);
    if (rc == MDB_NOTFOUND)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%s\"", name);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "read stream record");
    return fdy_store_stream_counters_decode(name, &v, out, reason);
}

static void
s_counters_encode(uint8_t *p, const fdy_stream_counters_t *c)
{
    fdy_bytes_put_le32(p + FDY_STREAM_OFF_ID, c->id);
    fdy_bytes_put_le64(p + FDY_STREAM_OFF_FIRST, c->first_seq);
    fdy_bytes_put_le64(p + FDY_STREAM_OFF_LAST, c->last_seq);
    fdy_bytes_put_le64(p + FDY_STREAM_OFF_MESSAGES, c->messages);
    fdy_bytes_put_le64(p + FDY_STREAM_OFF_BYTES, c->bytes);
    fdy_bytes_put_le64(p + FDY_STREAM_OFF_CREATED, c->created_ns);
    fdy_bytes_put_le64(p + FDY_STREAM_OFF_PRUNE, c->prune_seq);
    fdy_bytes_put_le64(p + FDY_STREAM_OFF_MAX_AGE, c->limits.max_age_ms);
    fdy_bytes_put_le64(p + FDY_STREAM_OFF_MAX_BYTES, c->limits.max_bytes);
    fdy_bytes_put_le64(p + FDY_STREAM_OFF_MAX_MSGS, c->limits.max_msgs);
}

/* Encodes a whole record into p (FDY_STREAM_REC_MAX bytes); returns its
 * size. */
static size_t
s_record_encode(uint8_t *p, const fdy_stream_counters_t *c, const char *const *filters,
                size_t filter_count)
{
    size_t size = FDY_STREAM_REC_FIXED;
    memset(p, 0, FDY_STREAM_REC_FIXED);
    p[0] = FDY_STREAM_REC_VERSION;
    p[1] = (uint8_t) filter_count;
    s_counters_encode(p, c);
    for (size_t i = 0; i < filter_count; i++) {
        size_t len = strlen(filters[i]);
        fdy_bytes_put_le16(p + size, (uint16_t) len);
        memcpy(p + size + 2, filters[i], len);
        size += 2 + len;
    }
    return size;
}

foundry_err
fdy_store_stream_counters_put(fdy_store_t *self, MDB_txn *txn, const char *name,
                              const fdy_stream_counters_t *counters, fdy_reason_t *reason)
{
    MDB_val k = { strlen(name), (void *) name }, v;
    int rc = mdb_get(txn, fdy_store_streams_dbi(self), &k, &v);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "read stream record");
    uint8_t scratch[FDY_STREAM_REC_MAX];
    if (v.mv_size < FDY_STREAM_REC_FIXED || v.mv_size > sizeof scratch)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: bad stream record", name);
    /* Copy first: the put may move the page v points into. */
    size_t size = v.mv_size;
    memcpy(scratch, v.mv_data, size);
    s_counters_encode(scratch, counters);
    v.mv_size = size;
    v.mv_data = scratch;
    rc = mdb_put(txn, fdy_store_streams_dbi(self), &k, &v, 0);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "write stream record");
    return FOUNDRY_OK;
}

void
fdy_store_stream_db_name(char buf[FDY_STREAM_DB_NAME_LEN], uint32_t id)
{
    snprintf(buf, FDY_STREAM_DB_NAME_LEN, "m.%u", id);
}

/* ---- routing table ------------------------------------------------------ */

fdy_store_stream_t *
fdy_store_stream_find(fdy_store_t *self, uint32_t stream_id)
{
    /* Ids are handed out 1, 2, 3... so the index is usually id - 1. */
    if (stream_id >= 1 && stream_id <= self->stream_count &&
        self->streams[stream_id - 1]->id == stream_id)
        return self->streams[stream_id - 1];
    size_t lo = 0, hi = self->stream_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t id = self->streams[mid]->id;
        if (id == stream_id)
            return self->streams[mid];
        if (id < stream_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

fdy_store_stream_t *
fdy_store_stream_find_name(fdy_store_t *self, const char *name)
{
    for (size_t i = 0; i < self->stream_count; i++)
        if (strcmp(self->streams[i]->name, name) == 0)
            return self->streams[i];
    return NULL;
}

static foundry_err
s_table_insert(fdy_store_t *self, fdy_store_stream_t *st, fdy_reason_t *reason)
{
    if (self->stream_count == self->stream_capacity) {
        size_t cap = self->stream_capacity ? self->stream_capacity * 2 : 8;
        fdy_store_stream_t **streams = realloc(self->streams, cap * sizeof *streams);
        if (!streams)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
        self->streams = streams;
        fdy_store_stream_t **touched = realloc(self->touched, cap * sizeof *touched);
        if (!touched)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
        self->touched = touched;
        self->stream_capacity = cap;
    }
    size_t at = self->stream_count;
    while (at > 0 && self->streams[at - 1]->id > st->id) {
        self->streams[at] = self->streams[at - 1];
        at--;
    }
    self->streams[at] = st;
    self->stream_count++;
    return FOUNDRY_OK;
}

foundry_err
fdy_store_stream_retire(fdy_store_t *self, fdy_store_stream_t *st, fdy_reason_t *reason)
{
    fdy_store_stream_t **retired =
        realloc(self->retired, (self->retired_count + 1) * sizeof *retired);
    if (!retired)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    self->retired = retired;
    self->retired[self->retired_count++] = st;
    size_t at = 0;
    while (at < self->stream_count && self->streams[at] != st)
        at++;
    if (at < self->stream_count) {
        memmove(&self->streams[at], &self->streams[at + 1],
                (self->stream_count - at - 1) * sizeof *self->streams);
        self->stream_count--;
    }
    fdy_store_stream_filters_free(st->filters, st->filter_count);
    st->filter_count = 0;
    fdy_store_dedupe_stream_free(self, st); /* no append reaches it again */
    return FOUNDRY_OK;
}

/* Replaces an entry's filters and limits with those of its record. */
static foundry_err
s_entry_refresh(fdy_store_stream_t *st, const MDB_val *v, const fdy_stream_counters_t *c,
                fdy_reason_t *reason)
{
    char *filters[FDY_STREAM_FILTERS_MAX] = {0};
    size_t count = 0;
    foundry_err err = fdy_store_stream_filters_decode(st->name, v, filters, &count, reason);
    if (err != FOUNDRY_OK) {
        fdy_store_stream_filters_free(filters, count);
        return err;
    }
    fdy_store_stream_filters_free(st->filters, st->filter_count);
    memcpy(st->filters, filters, sizeof filters);
    st->filter_count = count;
    if (memcmp(&st->limits, &c->limits, sizeof st->limits) != 0)
        st->trim_due_ns = 0;
    st->limits = c->limits;
    return FOUNDRY_OK;
}

static foundry_err
s_entry_new(fdy_store_t *self, MDB_txn *txn, const char *name, const MDB_val *v,
            const fdy_stream_counters_t *c, fdy_reason_t *reason)
{
    fdy_store_stream_t *st = calloc(1, sizeof *st);
    if (!st)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    snprintf(st->name, sizeof st->name, "%s", name);
    st->id = c->id;
    st->created_ns = c->created_ns;
    st->seen = true;
    char db_name[FDY_STREAM_DB_NAME_LEN];
    fdy_store_stream_db_name(db_name, c->id);
    foundry_err err = FOUNDRY_OK;
    int rc = mdb_dbi_open(txn, db_name, 0, &st->dbi);
    if (rc == MDB_NOTFOUND)
        err = fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: message database %s missing",
                             name, db_name);
    else if (rc != 0)
        err = fdy_kv_err(rc, reason, "open stream database");
    if (err == FOUNDRY_OK)
        err = s_entry_refresh(st, v, c, reason);
    /* The ids of its window, from its records (at open: the whole index). */
    if (err == FOUNDRY_OK)
        err = fdy_store_dedupe_stream_load(self, txn, st, c, reason);
    if (err == FOUNDRY_OK)
        err = s_table_insert(self, st, reason);
    if (err != FOUNDRY_OK) {
        fdy_store_dedupe_stream_free(self, st);
        fdy_store_stream_filters_free(st->filters, st->filter_count);
        free(st);
    }
    return err;
}

foundry_err
fdy_store_streams_load(fdy_store_t *self, MDB_txn *txn, fdy_reason_t *reason)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, fdy_store_streams_dbi(self), &cursor);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "load streams");
    for (size_t i = 0; i < self->stream_count; i++)
        self->streams[i]->seen = false;
    foundry_err err = FOUNDRY_OK;
    MDB_val k, v;
    while ((rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) == 0) {
        char name[FOUNDRY_STREAM_NAME_MAX + 1];
        if (k.mv_size == 0 || k.mv_size > FOUNDRY_STREAM_NAME_MAX) {
            err = fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream name of %zu bytes",
                                 k.mv_size);
            goto out;
        }
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = '\0';
        fdy_stream_counters_t c;
        err = fdy_store_stream_counters_decode(name, &v, &c, reason);
        if (err != FOUNDRY_OK)
            goto out;
        fdy_store_stream_t *st = fdy_store_stream_find(self, c.id);
        if (st && strcmp(st->name, name) != 0) {
            err = fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: id %u belongs to %s",
                                 name, c.id, st->name);
            goto out;
        }
        if (st) {
            st->seen = true;
            err = s_entry_refresh(st, &v, &c, reason);
        }
        else {
            err = s_entry_new(self, txn, name, &v, &c, reason);
        }
        if (err != FOUNDRY_OK)
            goto out;
    }
    if (rc != MDB_NOTFOUND) {
        err = fdy_kv_err(rc, reason, "load streams");
        goto out;
    }
    /* Deleted (by another process) since we loaded. */
    for (size_t i = self->stream_count; i-- > 0;)
        if (!self->streams[i]->seen &&
            (err = fdy_store_stream_retire(self, self->streams[i], reason)))
            goto out;
out:
    mdb_cursor_close(cursor);
    return err;
}

foundry_err
fdy_store_streams_sync(fdy_store_t *self, fdy_reason_t *reason)
{
    MDB_txn *txn;
    foundry_err err = fdy_kv_txn_begin(self->kv, MDB_RDONLY, &txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    err = fdy_store_streams_load(self, txn, reason);
    if (err != FOUNDRY_OK) {
        mdb_txn_abort(txn);
        return err;
    }
    int rc = mdb_txn_commit(txn); /* keeps the handles it opened */
    if (rc != 0)
        return fdy_kv_err(rc, reason, "load streams");
    return FOUNDRY_OK;
}

void
fdy_store_streams_free(fdy_store_t *self)
{
    for (size_t i = 0; i < self->stream_count; i++) {
        fdy_store_stream_filters_free(self->streams[i]->filters, self->streams[i]->filter_count);
        fdy_store_dedupe_stream_free(self, self->streams[i]);
        free(self->streams[i]);
    }
    for (size_t i = 0; i < self->retired_count; i++)
        free(self->retired[i]);
    free(self->streams);
    free(self->retired);
    free(self->touched);
    self->streams = NULL;
    self->retired = NULL;
    self->touched = NULL;
    self->stream_count = self->stream_capacity = self->retired_count = 0;
}

/* ---- create and update -------------------------------------------------- */

static foundry_err
s_filters_check(const char *name, const char *const *filters, size_t filter_count,
                fdy_reason_t *reason)
{
    if (filter_count > FDY_STREAM_FILTERS_MAX || (filter_count && !filters))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "stream %s: at most %d filters", name,
                              FDY_STREAM_FILTERS_MAX);
    for (size_t i = 0; i < filter_count; i++) {
        fdy_reason_t why;
        why.text[0] = '\0';
        if (!filters[i] || strlen(filters[i]) > FOUNDRY_SUBJECT_MAX ||
            fdy_filter_validate(filters[i], &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "stream %s: filter \"%.80s\": %s",
                                  name, filters[i] ? filters[i] : "",
                                  why.text[0] ? why.text : "invalid");
    }
    return FOUNDRY_OK;
}

static foundry_err
s_limits_check(const char *name, const fdy_stream_limits_t *limits, fdy_reason_t *reason)
{
    /* The trimmer works in nanoseconds. */
    if (limits && limits->max_age_ms > UINT64_MAX / 1000000u / 2)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "stream %s: max_age_ms too large", name);
    return FOUNDRY_OK;
}

typedef struct {
    const char *name;
    const char *const *filters;
    size_t filter_count;
    fdy_stream_limits_t limits;
    uint64_t now_ns;
    /* A limit other than the map's was reached: why. Kept here, not in the
     * write's reason, which a retry after map growth clears. */
    bool refused;
    fdy_reason_t refusal;
} s_create_t;

/* A limit that more map cannot lift (streams, database slots, ids). The
 * body must not return FOUNDRY_EFULL for it: to fdy_store_write that means
 * MDB_MAP_FULL, and the map would be grown to map_size_max for nothing and
 * the limit reported as a full store. So the transaction is aborted without
 * an error and the caller returns EFULL with this reason. */
static foundry_err
s_create_refuse(s_create_t *c, bool *skip_commit)
{
    c->refused = true;
    *skip_commit = true;
    return FOUNDRY_OK;
}

static foundry_err
s_create_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    s_create_t *c = ctx;
    c->refused = false;
    MDB_val k = { strlen(c->name), (void *) c->name }, v;
    int rc = mdb_get(txn, fdy_store_streams_dbi(self), &k, &v);
    if (rc == 0)
        return fdy_reason_set(reason, FOUNDRY_EEXIST, "stream \"%s\" already exists", c->name);
    if (rc != MDB_NOTFOUND)
        return fdy_kv_err(rc, reason, "create stream");
    MDB_stat stat;
    rc = mdb_stat(txn, fdy_store_streams_dbi(self), &stat);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "create stream");
    if (stat.ms_entries >= FDY_STORE_STREAMS_MAX) {
        fdy_reason_set(&c->refusal, FOUNDRY_EFULL,
                       "stream limit of %d reached: delete a stream before adding one",
                       FDY_STORE_STREAMS_MAX);
        return s_create_refuse(c, skip_commit);
    }
    uint64_t next_id;
    foundry_err err = fdy_store_meta_get(self, txn, S_META_NEXT_STREAM, &next_id, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (next_id == 0)
        next_id = 1;
    if (next_id > UINT32_MAX) {
        fdy_reason_set(&c->refusal, FOUNDRY_EFULL, "stream id limit of %lu reached",
                       (unsigned long) UINT32_MAX);
        return s_create_refuse(c, skip_commit);
    }

    fdy_stream_counters_t counters = { 0 };
    counters.id = (uint32_t) next_id;
    counters.created_ns = c->now_ns;
    counters.prune_seq = 1;
    counters.limits = c->limits;
    uint8_t scratch[FDY_STREAM_REC_MAX];
    v.mv_size = s_record_encode(scratch, &counters, c->filters, c->filter_count);
    v.mv_data = scratch;
    rc = mdb_put(txn, fdy_store_streams_dbi(self), &k, &v, MDB_NOOVERWRITE);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "create stream");
    /* Its message database; the handle stays open once this commits. */
    char db_name[FDY_STREAM_DB_NAME_LEN];
    MDB_dbi dbi;
    fdy_store_stream_db_name(db_name, counters.id);
    rc = mdb_dbi_open(txn, db_name, MDB_CREATE, &dbi);
    if (rc == MDB_DBS_FULL) {
        fdy_reason_set(&c->refusal, FOUNDRY_EFULL,
                       "stream limit reached: all %d LMDB databases (maxdbs) in use",
                       FDY_STORE_MAX_DBS);
        return s_create_refuse(c, skip_commit);
    }
    if (rc != 0)
        return fdy_kv_err(rc, reason, "create stream database");
    return fdy_store_meta_put(self, txn, S_META_NEXT_STREAM, next_id + 1, reason);
}

foundry_err
fdy_store_stream_create_ex(fdy_store_t *self, const char *name, const char *const *filters,
                           size_t filter_count, const fdy_stream_limits_t *limits,
                           fdy_reason_t *reason)
{
    if (!fdy_store_name_valid(name, FOUNDRY_STREAM_NAME_MAX))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "stream name \"%.80s\": must be 1..%d of [A-Za-z0-9_-]",
                              name ? name : "", FOUNDRY_STREAM_NAME_MAX);
    foundry_err err = s_filters_check(name, filters, filter_count, reason);
    if (err == FOUNDRY_OK)
        err = s_limits_check(name, limits, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (fdy_store_writable(self, reason) != FOUNDRY_OK)
        return FOUNDRY_ESTORE;
    s_create_t c = { name, filters, filter_count, { 0, 0, 0 }, fdy_clock_wall_ns(), false,
                     { { 0 } } };
    if (limits)
        c.limits = *limits;
    err = fdy_store_write(self, s_create_txn, &c, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (c.refused) {
        if (reason)
            *reason = c.refusal;
        return FOUNDRY_EFULL;
    }
    return fdy_store_streams_sync(self, reason);
}

foundry_err
fdy_store_stream_create(fdy_store_t *self, const char *name, const char *const *filters,
                        size_t filter_count, fdy_reason_t *reason)
{
    if (filter_count == 0 || !filters)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "stream %.80s: needs 1..%d filters",
                              name ? name : "", FDY_STREAM_FILTERS_MAX);
    return fdy_store_stream_create_ex(self, name, filters, filter_count, NULL, reason);
}

typedef struct {
    const char *name;
    const char *const *filters; /* NULL: keep */
    size_t filter_count;
    const fdy_stream_limits_t *limits; /* NULL: keep */
} s_update_t;

static foundry_err
s_update_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    s_update_t *u = ctx;
    (void) skip_commit;
    MDB_val k = { strlen(u->name), (void *) u->name }, v;
    int rc = mdb_get(txn, fdy_store_streams_dbi(self), &k, &v);
    if (rc == MDB_NOTFOUND)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%s\"", u->name);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "update stream");
    fdy_stream_counters_t c;
    foundry_err err = fdy_store_stream_counters_decode(u->name, &v, &c, reason);
    if (err != FOUNDRY_OK)
        return err;
    char *old[FDY_STREAM_FILTERS_MAX] = { 0 };
    size_t old_count = 0;
    if (!u->filters) {
        err = fdy_store_stream_filters_decode(u->name, &v, old, &old_count, reason);
        if (err != FOUNDRY_OK)
            goto out;
    }
    if (u->limits)
        c.limits = *u->limits;
    uint8_t scratch[FDY_STREAM_REC_MAX];
    if (u->filters)
        v.mv_size = s_record_encode(scratch, &c, u->filters, u->filter_count);
    else
        v.mv_size = s_record_encode(scratch, &c, (const char *const *) old, old_count);
    v.mv_data = scratch;
    rc = mdb_put(txn, fdy_store_streams_dbi(self), &k, &v, 0);
    if (rc != 0)
        err = fdy_kv_err(rc, reason, "update stream");
out:
    fdy_store_stream_filters_free(old, old_count);
    return err;
}

foundry_err
fdy_store_stream_update(fdy_store_t *self, const char *name, const char *const *filters,
                        size_t filter_count, const fdy_stream_limits_t *limits,
                        fdy_reason_t *reason)
{
    if (!fdy_store_name_valid(name, FOUNDRY_STREAM_NAME_MAX))
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%.80s\"",
                              name ? name : "");
    foundry_err err = filters ? s_filters_check(name, filters, filter_count, reason) : FOUNDRY_OK;
    if (err == FOUNDRY_OK)
        err = s_limits_check(name, limits, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (fdy_store_writable(self, reason) != FOUNDRY_OK)
        return FOUNDRY_ESTORE;
    s_update_t u = { name, filters, filter_count, limits };
    err = fdy_store_write(self, s_update_txn, &u, reason);
    if (err != FOUNDRY_OK)
        return err;
    /* Routing and limits in memory follow the record. */
    return fdy_store_streams_sync(self, reason);
}

/* ---- route, lookup, name ------------------------------------------------ */


foundry_err
fdy_store_stream_route(fdy_store_t *self, const char *subject, uint32_t *stream_id_out,
                       const char **name_out)
{
    for (size_t i = 0; i < self->stream_count; i++) {
        fdy_store_stream_t *st = self->streams[i];
        for (size_t f = 0; f < st->filter_count; f++) {
            if (fdy_subject_matches(st->filters[f], subject)) {
                *stream_id_out = st->id;
                if (name_out)
                    *name_out = st->name;
                return FOUNDRY_OK;
            }
        }
    }
    return FOUNDRY_ENOSTREAM;
}

foundry_err
fdy_store_stream_lookup(fdy_store_t *self, const char *name, uint32_t *stream_id_out)
{
    if (!name)
        return FOUNDRY_ENOTFOUND;
    fdy_store_stream_t *st = fdy_store_stream_find_name(self, name);
    if (!st && fdy_store_streams_sync(self, NULL) == FOUNDRY_OK)
        st = fdy_store_stream_find_name(self, name);
    if (!st)
        return FOUNDRY_ENOTFOUND;
    *stream_id_out = st->id;
    return FOUNDRY_OK;
}

const char *
fdy_store_stream_name(fdy_store_t *self, uint32_t stream_id)
{
    fdy_store_stream_t *st = fdy_store_stream_find(self, stream_id);
    if (!st && fdy_store_streams_sync(self, NULL) == FOUNDRY_OK)
        st = fdy_store_stream_find(self, stream_id);
    return st ? st->name : NULL;
}

/* ---- store check ---------------------------------------------------------- */

/* A stream record: its name, counters and filters decode. (Its messages
 * are walked by store_walk.c.) */
static foundry_err
s_stream_check(const fdy_store_t *self, size_t db_index, const MDB_val *prev_key,
               const MDB_val *key, const MDB_val *value, fdy_reason_t *reason)
{
    (void) prev_key;
    (void) self;
    (void) db_index;
    char name[FOUNDRY_STREAM_NAME_MAX + 1];
    if (key->mv_size == 0 || key->mv_size > FOUNDRY_STREAM_NAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream record with a %zu-byte name",
                              key->mv_size);
    memcpy(name, key->mv_data, key->mv_size);
    name[key->mv_size] = '\0';
    if (!fdy_store_name_valid(name, FOUNDRY_STREAM_NAME_MAX))
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream record with an invalid name");
    fdy_stream_counters_t c;
    foundry_err err = fdy_store_stream_counters_decode(name, value, &c, reason);
    if (err != FOUNDRY_OK)
        return err;
    char *filters[FDY_STREAM_FILTERS_MAX];
    size_t count = 0;
    err = fdy_store_stream_filters_decode(name, value, filters, &count, reason);
    fdy_store_stream_filters_free(filters, count);
    return err;
}
