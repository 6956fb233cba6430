/*  store_streams.c: stream records, their message databases and the
 *  in-memory routing table: create, update, delete, info, list, route.
 *  Routing is served from memory; counters are read from the DB inside the
 *  transaction that uses them, so another process cannot make them stale.
 *  Not for message records (store.c) or retention (store_retention.c).
 */
#include "store_internal.h"

#include "clock.h"
#include "subject.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- record format ------------------------------------------------------ */

foundry_err
fdy_store_stream_counters_decode(const char *name, const MDB_val *val, fdy_stream_counters_t *out,
                                 fdy_reason_t *reason)
{
    const uint8_t *p = val->mv_data;
    if (val->mv_size < FDY_STREAM_REC_FIXED || val->mv_size > FDY_STREAM_REC_MAX ||
        p[0] != FDY_STREAM_REC_VERSION)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: bad stream record", name);
    out->id = fdy_store_get_le32(p + FDY_STREAM_OFF_ID);
    out->first_seq = fdy_store_get_le64(p + FDY_STREAM_OFF_FIRST);
    out->last_seq = fdy_store_get_le64(p + FDY_STREAM_OFF_LAST);
    out->messages = fdy_store_get_le64(p + FDY_STREAM_OFF_MESSAGES);
    out->bytes = fdy_store_get_le64(p + FDY_STREAM_OFF_BYTES);
    out->created_ns = fdy_store_get_le64(p + FDY_STREAM_OFF_CREATED);
    out->prune_seq = fdy_store_get_le64(p + FDY_STREAM_OFF_PRUNE);
    out->limits.max_age_ms = fdy_store_get_le64(p + FDY_STREAM_OFF_MAX_AGE);
    out->limits.max_bytes = fdy_store_get_le64(p + FDY_STREAM_OFF_MAX_BYTES);
    out->limits.max_msgs = fdy_store_get_le64(p + FDY_STREAM_OFF_MAX_MSGS);
    /* Empty (first_seq 0) means no messages; otherwise first..last holds
     * exactly `messages` seqs. */
    bool consistent = out->first_seq == 0 ? out->messages == 0
                                          : out->first_seq <= out->last_seq &&
                                                out->messages == out->last_seq - out->first_seq + 1;
    if (out->id == 0 || !consistent)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: inconsistent counters", name);
    return FOUNDRY_OK;
}

/* Decodes the filters of a record into filters[] (malloc'd strings). */
static foundry_err
s_filters_decode(const char *name, const MDB_val *val, char **filters, size_t *count_out,
                 fdy_reason_t *reason)
{
    const uint8_t *p = val->mv_data;
    size_t count = p[1], off = FDY_STREAM_REC_FIXED;
    *count_out = 0;
    if (count > FDY_STREAM_FILTERS_MAX)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: %zu filters", name, count);
    for (size_t i = 0; i < count; i++) {
        if (off + 2 > val->mv_size)
            goto corrupt;
        size_t len = fdy_store_get_le16(p + off);
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

static void
s_filters_free(char **filters, size_t count)
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
    int rc = mdb_get(txn, self->dbi_streams, &k, &v);
    if (rc == MDB_NOTFOUND)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%s\"", name);
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "read stream record");
    return fdy_store_stream_counters_decode(name, &v, out, reason);
}

static void
s_counters_encode(uint8_t *p, const fdy_stream_counters_t *c)
{
    fdy_store_put_le32(p + FDY_STREAM_OFF_ID, c->id);
    fdy_store_put_le64(p + FDY_STREAM_OFF_FIRST, c->first_seq);
    fdy_store_put_le64(p + FDY_STREAM_OFF_LAST, c->last_seq);
    fdy_store_put_le64(p + FDY_STREAM_OFF_MESSAGES, c->messages);
    fdy_store_put_le64(p + FDY_STREAM_OFF_BYTES, c->bytes);
    fdy_store_put_le64(p + FDY_STREAM_OFF_CREATED, c->created_ns);
    fdy_store_put_le64(p + FDY_STREAM_OFF_PRUNE, c->prune_seq);
    fdy_store_put_le64(p + FDY_STREAM_OFF_MAX_AGE, c->limits.max_age_ms);
    fdy_store_put_le64(p + FDY_STREAM_OFF_MAX_BYTES, c->limits.max_bytes);
    fdy_store_put_le64(p + FDY_STREAM_OFF_MAX_MSGS, c->limits.max_msgs);
}

/* Encodes a whole record into self->scratch; returns its size. */
static size_t
s_record_encode(fdy_store_t *self, const fdy_stream_counters_t *c, const char *const *filters,
                size_t filter_count)
{
    uint8_t *p = self->scratch;
    size_t size = FDY_STREAM_REC_FIXED;
    memset(p, 0, FDY_STREAM_REC_FIXED);
    p[0] = FDY_STREAM_REC_VERSION;
    p[1] = (uint8_t) filter_count;
    s_counters_encode(p, c);
    for (size_t i = 0; i < filter_count; i++) {
        size_t len = strlen(filters[i]);
        fdy_store_put_le16(p + size, (uint16_t) len);
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
    int rc = mdb_get(txn, self->dbi_streams, &k, &v);
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "read stream record");
    if (v.mv_size < FDY_STREAM_REC_FIXED || v.mv_size > sizeof self->scratch)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: bad stream record", name);
    /* Copy first: the put may move the page v points into. */
    size_t size = v.mv_size;
    memcpy(self->scratch, v.mv_data, size);
    s_counters_encode(self->scratch, counters);
    v.mv_size = size;
    v.mv_data = self->scratch;
    rc = mdb_put(txn, self->dbi_streams, &k, &v, 0);
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "write stream record");
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

/* Moves a deleted stream's entry out of routing; it is freed at close so
 * that names handed out stay valid. */
static foundry_err
s_table_retire(fdy_store_t *self, fdy_store_stream_t *st, fdy_reason_t *reason)
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
    s_filters_free(st->filters, st->filter_count);
    st->filter_count = 0;
    return FOUNDRY_OK;
}

/* Replaces an entry's filters and limits with those of its record. */
static foundry_err
s_entry_refresh(fdy_store_stream_t *st, const MDB_val *v, const fdy_stream_counters_t *c,
                fdy_reason_t *reason)
{
    char *filters[FDY_STREAM_FILTERS_MAX] = { 0 };
    size_t count = 0;
    foundry_err err = s_filters_decode(st->name, v, filters, &count, reason);
    if (err != FOUNDRY_OK) {
        s_filters_free(filters, count);
        return err;
    }
    s_filters_free(st->filters, st->filter_count);
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
        err = fdy_store_mdb_err(rc, reason, "open stream database");
    if (err == FOUNDRY_OK)
        err = s_entry_refresh(st, v, c, reason);
    if (err == FOUNDRY_OK)
        err = s_table_insert(self, st, reason);
    if (err != FOUNDRY_OK) {
        s_filters_free(st->filters, st->filter_count);
        free(st);
    }
    return err;
}

foundry_err
fdy_store_streams_load(fdy_store_t *self, MDB_txn *txn, fdy_reason_t *reason)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, self->dbi_streams, &cursor);
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "load streams");
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
        err = fdy_store_mdb_err(rc, reason, "load streams");
        goto out;
    }
    /* Deleted (by another process) since we loaded. */
    for (size_t i = self->stream_count; i-- > 0;)
        if (!self->streams[i]->seen && (err = s_table_retire(self, self->streams[i], reason)))
            goto out;
out:
    mdb_cursor_close(cursor);
    return err;
}

foundry_err
fdy_store_streams_sync(fdy_store_t *self, fdy_reason_t *reason)
{
    MDB_txn *txn;
    foundry_err err = fdy_store_txn_begin(self, MDB_RDONLY, &txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    err = fdy_store_streams_load(self, txn, reason);
    if (err != FOUNDRY_OK) {
        mdb_txn_abort(txn);
        return err;
    }
    int rc = mdb_txn_commit(txn); /* keeps the handles it opened */
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "load streams");
    return FOUNDRY_OK;
}

void
fdy_store_streams_free(fdy_store_t *self)
{
    for (size_t i = 0; i < self->stream_count; i++) {
        s_filters_free(self->streams[i]->filters, self->streams[i]->filter_count);
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
} s_create_t;

static foundry_err
s_create_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    s_create_t *c = ctx;
    (void) skip_commit;
    MDB_val k = { strlen(c->name), (void *) c->name }, v;
    int rc = mdb_get(txn, self->dbi_streams, &k, &v);
    if (rc == 0)
        return fdy_reason_set(reason, FOUNDRY_EEXIST, "stream \"%s\" already exists", c->name);
    if (rc != MDB_NOTFOUND)
        return fdy_store_mdb_err(rc, reason, "create stream");
    MDB_stat stat;
    rc = mdb_stat(txn, self->dbi_streams, &stat);
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "create stream");
    if (stat.ms_entries >= FDY_STORE_STREAMS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EFULL, "too many streams (at most %d)",
                              FDY_STORE_STREAMS_MAX);
    uint64_t next_id;
    foundry_err err = fdy_store_meta_get(self, txn, FDY_META_NEXT_STREAM, &next_id, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (next_id == 0)
        next_id = 1;
    if (next_id > UINT32_MAX)
        return fdy_reason_set(reason, FOUNDRY_EFULL, "no stream ids left");

    fdy_stream_counters_t counters = { 0 };
    counters.id = (uint32_t) next_id;
    counters.created_ns = c->now_ns;
    counters.prune_seq = 1;
    counters.limits = c->limits;
    v.mv_size = s_record_encode(self, &counters, c->filters, c->filter_count);
    v.mv_data = self->scratch;
    rc = mdb_put(txn, self->dbi_streams, &k, &v, MDB_NOOVERWRITE);
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "create stream");
    /* Its message database; the handle stays open once this commits. */
    char db_name[FDY_STREAM_DB_NAME_LEN];
    MDB_dbi dbi;
    fdy_store_stream_db_name(db_name, counters.id);
    rc = mdb_dbi_open(txn, db_name, MDB_CREATE, &dbi);
    if (rc == MDB_DBS_FULL)
        return fdy_reason_set(reason, FOUNDRY_EFULL, "too many databases (maxdbs %d)",
                              FDY_STORE_MAX_DBS);
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "create stream database");
    return fdy_store_meta_put(self, txn, FDY_META_NEXT_STREAM, next_id + 1, reason);
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
    if (self->read_only)
        return fdy_reason_set(reason, FOUNDRY_ESTORE, "store %s is open read-only", self->dir);
    s_create_t c = { name, filters, filter_count, { 0, 0, 0 }, fdy_clock_wall_ns() };
    if (limits)
        c.limits = *limits;
    err = fdy_store_write(self, s_create_txn, &c, reason);
    if (err != FOUNDRY_OK)
        return err;
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
    int rc = mdb_get(txn, self->dbi_streams, &k, &v);
    if (rc == MDB_NOTFOUND)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%s\"", u->name);
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "update stream");
    fdy_stream_counters_t c;
    foundry_err err = fdy_store_stream_counters_decode(u->name, &v, &c, reason);
    if (err != FOUNDRY_OK)
        return err;
    char *old[FDY_STREAM_FILTERS_MAX] = { 0 };
    size_t old_count = 0;
    if (!u->filters) {
        err = s_filters_decode(u->name, &v, old, &old_count, reason);
        if (err != FOUNDRY_OK)
            goto out;
    }
    if (u->limits)
        c.limits = *u->limits;
    if (u->filters)
        v.mv_size = s_record_encode(self, &c, u->filters, u->filter_count);
    else
        v.mv_size = s_record_encode(self, &c, (const char *const *) old, old_count);
    v.mv_data = self->scratch;
    rc = mdb_put(txn, self->dbi_streams, &k, &v, 0);
    if (rc != 0)
        err = fdy_store_mdb_err(rc, reason, "update stream");
out:
    s_filters_free(old, old_count);
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
    if (self->read_only)
        return fdy_reason_set(reason, FOUNDRY_ESTORE, "store %s is open read-only", self->dir);
    s_update_t u = { name, filters, filter_count, limits };
    err = fdy_store_write(self, s_update_txn, &u, reason);
    if (err != FOUNDRY_OK)
        return err;
    /* Routing and limits in memory follow the record. */
    return fdy_store_streams_sync(self, reason);
}

/* ---- delete ------------------------------------------------------------- */

typedef struct {
    const char *name;
    uint32_t id;
    bool dropped; /* mdb_drop closed the handle, even if the txn fails */
} s_delete_t;

/* Removes the dedupe entries of every record still inside the window (the
 * prune has not passed prune_seq yet), so no id points into the void. */
static foundry_err
s_delete_dedupe(fdy_store_t *self, MDB_txn *txn, MDB_dbi dbi, const fdy_stream_counters_t *c,
                fdy_reason_t *reason)
{
    if (c->first_seq == 0)
        return FOUNDRY_OK;
    uint64_t seq = c->prune_seq > c->first_seq ? c->prune_seq : c->first_seq;
    if (seq > c->last_seq)
        return FOUNDRY_OK;
    MDB_cursor *msgs = NULL, *dedupe = NULL;
    int rc;
    foundry_err err = FOUNDRY_OK;
    if ((rc = mdb_cursor_open(txn, dbi, &msgs)) != 0 ||
        (rc = mdb_cursor_open(txn, self->dbi_dedupe, &dedupe)) != 0) {
        err = fdy_store_mdb_err(rc, reason, "delete stream: open cursor");
        goto out;
    }
    uint8_t key[FDY_MSG_KEY_LEN];
    fdy_store_msg_key(key, seq);
    MDB_val k = { sizeof key, key }, v;
    for (rc = mdb_cursor_get(msgs, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(msgs, &k, &v, MDB_NEXT)) {
        if (k.mv_size != FDY_MSG_KEY_LEN)
            continue;
        err = fdy_store_dedupe_forget(self, dedupe, c->id, fdy_store_msg_key_seq(k.mv_data), &v,
                                      NULL, reason);
        if (err != FOUNDRY_OK)
            goto out;
    }
    if (rc != MDB_NOTFOUND)
        err = fdy_store_mdb_err(rc, reason, "delete stream: walk");
out:
    if (dedupe)
        mdb_cursor_close(dedupe);
    if (msgs)
        mdb_cursor_close(msgs);
    return err;
}

static foundry_err
s_delete_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    s_delete_t *d = ctx;
    (void) skip_commit;
    fdy_stream_counters_t c;
    foundry_err err = fdy_store_stream_counters_get(self, txn, d->name, &c, reason);
    if (err != FOUNDRY_OK)
        return err;
    d->id = c.id;
    char db_name[FDY_STREAM_DB_NAME_LEN];
    MDB_dbi dbi;
    fdy_store_stream_db_name(db_name, c.id);
    int rc = mdb_dbi_open(txn, db_name, 0, &dbi);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return fdy_store_mdb_err(rc, reason, "delete stream: open database");
    bool has_db = rc == 0;
    if (has_db) {
        err = s_delete_dedupe(self, txn, dbi, &c, reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    err = fdy_store_consumers_drop(self, txn, c.id, reason);
    if (err != FOUNDRY_OK)
        return err;
    MDB_val k = { strlen(d->name), (void *) d->name };
    rc = mdb_del(txn, self->dbi_streams, &k, NULL);
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "delete stream record");
    if (has_db) {
        /* Last: it closes the handle at once, whatever becomes of the txn. */
        d->dropped = true;
        rc = mdb_drop(txn, dbi, 1);
        if (rc != 0)
            return fdy_store_mdb_err(rc, reason, "delete stream database");
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_store_stream_delete(fdy_store_t *self, const char *name, fdy_reason_t *reason)
{
    if (!fdy_store_name_valid(name, FOUNDRY_STREAM_NAME_MAX))
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%.80s\"",
                              name ? name : "");
    if (self->read_only)
        return fdy_reason_set(reason, FOUNDRY_ESTORE, "store %s is open read-only", self->dir);
    s_delete_t d = { name, 0, false };
    foundry_err err = fdy_store_write(self, s_delete_txn, &d, reason);
    if (err != FOUNDRY_OK && d.dropped) {
        /* The transaction failed after mdb_drop closed our handle: the
         * database is still there; forget the entry so the sync below opens
         * it again. */
        fdy_store_stream_t *st = fdy_store_stream_find(self, d.id);
        if (st)
            s_table_retire(self, st, NULL);
        fdy_store_streams_sync(self, NULL);
        return err;
    }
    if (err != FOUNDRY_OK)
        return err;
    fdy_store_stream_t *st = fdy_store_stream_find(self, d.id);
    if (st)
        return s_table_retire(self, st, reason);
    return FOUNDRY_OK;
}

/* ---- route, lookup, list, info, name ------------------------------------ */

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

/* Fills info from a stream record and the consumer DB. */
static foundry_err
s_info_fill(fdy_store_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
            fdy_stream_info_t *info, fdy_reason_t *reason)
{
    if (k->mv_size == 0 || k->mv_size > FOUNDRY_STREAM_NAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream name of %zu bytes", k->mv_size);
    memcpy(info->name, k->mv_data, k->mv_size);
    info->name[k->mv_size] = '\0';
    fdy_stream_counters_t c;
    foundry_err err = fdy_store_stream_counters_decode(info->name, v, &c, reason);
    if (err != FOUNDRY_OK)
        return err;
    info->id = c.id;
    info->first_seq = c.first_seq;
    info->last_seq = c.last_seq;
    info->messages = c.messages;
    info->bytes = c.bytes;
    info->created_ns = c.created_ns;
    info->limits = c.limits;
    err = s_filters_decode(info->name, v, info->filters, &info->filter_count, reason);
    if (err != FOUNDRY_OK)
        return err;
    return fdy_store_consumer_names(self, txn, c.id, info, reason);
}

static int
s_info_cmp(const void *a, const void *b)
{
    const fdy_stream_info_t *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

foundry_err
fdy_store_stream_list(fdy_store_t *self, fdy_stream_info_t **infos_out, size_t *count_out)
{
    *infos_out = NULL;
    *count_out = 0;
    fdy_reason_t reason;
    MDB_txn *txn = NULL;
    MDB_cursor *cursor = NULL;
    fdy_stream_info_t *infos = NULL;
    size_t count = 0;
    /* Also the moment routing catches up with other processes. */
    foundry_err err = fdy_store_streams_sync(self, &reason);
    if (err == FOUNDRY_OK)
        err = fdy_store_rtxn_begin(self, &txn, &reason);
    if (err != FOUNDRY_OK)
        return err;
    MDB_stat stat;
    int rc = mdb_stat(txn, self->dbi_streams, &stat);
    if (rc == 0)
        rc = mdb_cursor_open(txn, self->dbi_streams, &cursor);
    if (rc != 0) {
        err = fdy_store_mdb_err(rc, &reason, "list streams");
        goto out;
    }
    infos = calloc(stat.ms_entries ? stat.ms_entries : 1, sizeof *infos);
    if (!infos) {
        err = FOUNDRY_ENOMEM;
        goto out;
    }
    MDB_val k, v;
    while (count < stat.ms_entries && (rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) == 0) {
        count++;
        err = s_info_fill(self, txn, &k, &v, &infos[count - 1], &reason);
        if (err != FOUNDRY_OK)
            goto out;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        err = fdy_store_mdb_err(rc, &reason, "list streams");
out:
    if (cursor)
        mdb_cursor_close(cursor);
    fdy_store_rtxn_end(self, txn);
    if (err != FOUNDRY_OK) {
        fdy_store_stream_infos_free(&infos, count);
        return err;
    }
    qsort(infos, count, sizeof *infos, s_info_cmp);
    *infos_out = infos;
    *count_out = count;
    return FOUNDRY_OK;
}

void
fdy_store_stream_info_clear(fdy_stream_info_t *info)
{
    if (!info)
        return;
    s_filters_free(info->filters, info->filter_count);
    for (size_t i = 0; i < info->consumer_count; i++)
        free(info->consumers[i]);
    free(info->consumers);
    info->consumers = NULL;
    info->consumer_count = 0;
    info->filter_count = 0;
}

void
fdy_store_stream_infos_free(fdy_stream_info_t **infos_p, size_t count)
{
    if (!infos_p || !*infos_p)
        return;
    for (size_t i = 0; i < count; i++)
        fdy_store_stream_info_clear(&(*infos_p)[i]);
    free(*infos_p);
    *infos_p = NULL;
}

foundry_err
fdy_store_stream_info(fdy_store_t *self, const char *name, fdy_stream_info_t *out,
                      fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    if (!fdy_store_name_valid(name, FOUNDRY_STREAM_NAME_MAX))
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%.80s\"",
                              name ? name : "");
    MDB_txn *txn;
    foundry_err err = fdy_store_rtxn_begin(self, &txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    MDB_val k = { strlen(name), (void *) name }, v;
    int rc = mdb_get(txn, self->dbi_streams, &k, &v);
    if (rc == MDB_NOTFOUND)
        err = fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%s\"", name);
    else if (rc != 0)
        err = fdy_store_mdb_err(rc, reason, "stream info");
    else
        err = s_info_fill(self, txn, &k, &v, out, reason);
    fdy_store_rtxn_end(self, txn);
    if (err != FOUNDRY_OK) {
        fdy_store_stream_info_clear(out);
        memset(out, 0, sizeof *out);
    }
    return err;
}

const char *
fdy_store_stream_name(fdy_store_t *self, uint32_t stream_id)
{
    fdy_store_stream_t *st = fdy_store_stream_find(self, stream_id);
    if (!st && fdy_store_streams_sync(self, NULL) == FOUNDRY_OK)
        st = fdy_store_stream_find(self, stream_id);
    return st ? st->name : NULL;
}
