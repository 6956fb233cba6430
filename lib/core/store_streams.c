/*  store_streams.c: stream records (the "streams" DB) and the in-memory
 *  routing table of their subject filters. Routing is served from memory;
 *  counters are always read from the DB inside the transaction that uses
 *  them, so another process writing the same store cannot make them stale.
 */
#include "store_internal.h"

#include "clock.h"
#include "subject.h"

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
    if (out->id == 0 || out->first_seq > out->last_seq)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: inconsistent counters", name);
    return FOUNDRY_OK;
}

/* Decodes the filters of a record into st (malloc'd strings). */
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
        size_t len = p[off] | (size_t) p[off + 1] << 8;
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
fdy_store_streams_load(fdy_store_t *self, MDB_txn *txn, fdy_reason_t *reason)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, self->dbi_streams, &cursor);
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "load streams");
    foundry_err err = FOUNDRY_OK;
    fdy_store_stream_t *st = NULL;
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
        if (fdy_store_stream_find(self, c.id))
            continue;
        st = calloc(1, sizeof *st);
        if (!st) {
            err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
            goto out;
        }
        memcpy(st->name, name, k.mv_size + 1);
        st->id = c.id;
        st->created_ns = c.created_ns;
        err = s_filters_decode(name, &v, st->filters, &st->filter_count, reason);
        if (err != FOUNDRY_OK)
            goto out;
        err = s_table_insert(self, st, reason);
        if (err != FOUNDRY_OK)
            goto out;
        st = NULL;
    }
    if (rc != MDB_NOTFOUND)
        err = fdy_store_mdb_err(rc, reason, "load streams");
out:
    if (st) {
        s_filters_free(st->filters, st->filter_count);
        free(st);
    }
    mdb_cursor_close(cursor);
    return err;
}

void
fdy_store_streams_free(fdy_store_t *self)
{
    for (size_t i = 0; i < self->stream_count; i++) {
        s_filters_free(self->streams[i]->filters, self->streams[i]->filter_count);
        free(self->streams[i]);
    }
    free(self->streams);
    free(self->touched);
    self->streams = NULL;
    self->touched = NULL;
    self->stream_count = self->stream_capacity = 0;
}

/* Picks up streams another process created since we loaded. */
static foundry_err
s_reload(fdy_store_t *self, fdy_reason_t *reason)
{
    MDB_txn *txn;
    foundry_err err = fdy_store_txn_begin(self, MDB_RDONLY, &txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    err = fdy_store_streams_load(self, txn, reason);
    mdb_txn_abort(txn);
    return err;
}

/* ---- create ------------------------------------------------------------- */

static bool
s_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > FOUNDRY_STREAM_NAME_MAX)
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

typedef struct {
    const char *name;
    const char *const *filters;
    size_t filter_count;
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
    uint64_t next_id;
    foundry_err err = fdy_store_meta_get(self, txn, FDY_META_NEXT_STREAM, &next_id, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (next_id == 0)
        next_id = 1;
    if (next_id > UINT32_MAX)
        return fdy_reason_set(reason, FOUNDRY_EFULL, "no stream ids left");

    uint8_t *p = self->scratch;
    size_t size = FDY_STREAM_REC_FIXED;
    memset(p, 0, FDY_STREAM_REC_FIXED);
    p[0] = FDY_STREAM_REC_VERSION;
    p[1] = (uint8_t) c->filter_count;
    fdy_stream_counters_t counters = { 0 };
    counters.id = (uint32_t) next_id;
    counters.created_ns = c->now_ns;
    counters.prune_seq = 1;
    s_counters_encode(p, &counters);
    for (size_t i = 0; i < c->filter_count; i++) {
        size_t len = strlen(c->filters[i]);
        p[size] = (uint8_t) len;
        p[size + 1] = (uint8_t) (len >> 8);
        memcpy(p + size + 2, c->filters[i], len);
        size += 2 + len;
    }
    v.mv_size = size;
    v.mv_data = p;
    rc = mdb_put(txn, self->dbi_streams, &k, &v, MDB_NOOVERWRITE);
    if (rc != 0)
        return fdy_store_mdb_err(rc, reason, "create stream");
    return fdy_store_meta_put(self, txn, FDY_META_NEXT_STREAM, next_id + 1, reason);
}

foundry_err
fdy_store_stream_create(fdy_store_t *self, const char *name, const char *const *filters,
                        size_t filter_count, fdy_reason_t *reason)
{
    if (!name || !s_name_valid(name))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "stream name \"%.80s\": must be 1..%d of [A-Za-z0-9_-]",
                              name ? name : "", FOUNDRY_STREAM_NAME_MAX);
    if (filter_count == 0 || filter_count > FDY_STREAM_FILTERS_MAX || !filters)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "stream %s: needs 1..%d filters", name,
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
    s_create_t c = { name, filters, filter_count, fdy_clock_wall_ns() };
    foundry_err err = fdy_store_write(self, s_create_txn, &c, reason);
    if (err != FOUNDRY_OK)
        return err;
    return s_reload(self, reason);
}

/* ---- route, list, name -------------------------------------------------- */

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
    MDB_txn *txn;
    MDB_cursor *cursor = NULL;
    fdy_stream_info_t *infos = NULL;
    size_t count = 0;
    foundry_err err = fdy_store_txn_begin(self, MDB_RDONLY, &txn, &reason);
    if (err != FOUNDRY_OK)
        return err;
    err = fdy_store_streams_load(self, txn, &reason);
    if (err != FOUNDRY_OK)
        goto out;
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
        fdy_stream_info_t *info = &infos[count];
        if (k.mv_size == 0 || k.mv_size > FOUNDRY_STREAM_NAME_MAX) {
            err = FOUNDRY_ECORRUPT;
            goto out;
        }
        memcpy(info->name, k.mv_data, k.mv_size);
        info->name[k.mv_size] = '\0';
        fdy_stream_counters_t c;
        err = fdy_store_stream_counters_decode(info->name, &v, &c, &reason);
        if (err != FOUNDRY_OK)
            goto out;
        count++;
        info->id = c.id;
        info->first_seq = c.first_seq;
        info->last_seq = c.last_seq;
        info->messages = c.messages;
        info->bytes = c.bytes;
        info->created_ns = c.created_ns;
        err = s_filters_decode(info->name, &v, info->filters, &info->filter_count, &reason);
        if (err != FOUNDRY_OK)
            goto out;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        err = fdy_store_mdb_err(rc, &reason, "list streams");
out:
    if (cursor)
        mdb_cursor_close(cursor);
    mdb_txn_abort(txn);
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
fdy_store_stream_infos_free(fdy_stream_info_t **infos_p, size_t count)
{
    if (!infos_p || !*infos_p)
        return;
    for (size_t i = 0; i < count; i++)
        s_filters_free((*infos_p)[i].filters, (*infos_p)[i].filter_count);
    free(*infos_p);
    *infos_p = NULL;
}

const char *
fdy_store_stream_name(fdy_store_t *self, uint32_t stream_id)
{
    fdy_store_stream_t *st = fdy_store_stream_find(self, stream_id);
    if (!st && s_reload(self, NULL) == FOUNDRY_OK)
        st = fdy_store_stream_find(self, stream_id);
    return st ? st->name : NULL;
}
