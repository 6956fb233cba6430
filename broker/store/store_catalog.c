/*  store_catalog.c: the composite operations on streams that span tables:
 *  delete (record, message database, consumers, in one transaction; then
 *  the stream's dedupe table) and info/list (stream record plus consumer names). Not for
 *  creating, updating or routing streams (store_streams.c).
 */
#include "store_consumers.h"
#include "store_streams.h"

#include <stdlib.h>
#include <string.h>

/* ---- delete ------------------------------------------------------------- */

typedef struct {
    const char *name;
    uint32_t id;
    bool dropped; /* mdb_drop closed the handle, even if the txn fails */
} s_delete_t;

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
        return fdy_kv_err(rc, reason, "delete stream: open database");
    bool has_db = rc == 0;
    /* Its dedupe table goes when the entry is retired, after the commit. */
    err = fdy_store_consumers_drop(self, txn, c.id, reason);
    if (err != FOUNDRY_OK)
        return err;
    MDB_val k = { strlen(d->name), (void *) d->name };
    rc = mdb_del(txn, fdy_store_streams_dbi(self), &k, NULL);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "delete stream record");
    if (has_db) {
        /* Last: it closes the handle at once, whatever becomes of the txn. */
        d->dropped = true;
        rc = mdb_drop(txn, dbi, 1);
        if (rc != 0)
            return fdy_kv_err(rc, reason, "delete stream database");
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_store_stream_delete(fdy_store_t *self, const char *name, fdy_reason_t *reason)
{
    if (!fdy_store_name_valid(name, FOUNDRY_STREAM_NAME_MAX))
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%.80s\"",
                              name ? name : "");
    if (fdy_store_writable(self, reason) != FOUNDRY_OK)
        return FOUNDRY_ESTORE;
    s_delete_t d = { name, 0, false };
    foundry_err err = fdy_store_write(self, s_delete_txn, &d, reason);
    if (err != FOUNDRY_OK && d.dropped) {
        /* The transaction failed after mdb_drop closed our handle: the
         * database is still there; forget the entry so the sync below opens
         * it again. */
        fdy_store_stream_t *st = fdy_store_stream_find(self, d.id);
        if (st)
            fdy_store_stream_retire(self, st, NULL);
        fdy_store_streams_sync(self, NULL);
        return err;
    }
    if (err != FOUNDRY_OK)
        return err;
    fdy_store_stream_t *st = fdy_store_stream_find(self, d.id);
    if (st)
        return fdy_store_stream_retire(self, st, reason);
    return FOUNDRY_OK;
}

/* ---- list and info ------------------------------------------------------- */

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
    err = fdy_store_stream_filters_decode(info->name, v, info->filters, &info->filter_count,
                                          reason);
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
        err = fdy_kv_rtxn_begin(self->kv, &txn, &reason);
    if (err != FOUNDRY_OK)
        return err;
    MDB_stat stat;
    int rc = mdb_stat(txn, fdy_store_streams_dbi(self), &stat);
    if (rc == 0)
        rc = mdb_cursor_open(txn, fdy_store_streams_dbi(self), &cursor);
    if (rc != 0) {
        err = fdy_kv_err(rc, &reason, "list streams");
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
        err = fdy_kv_err(rc, &reason, "list streams");
out:
    if (cursor)
        mdb_cursor_close(cursor);
    fdy_kv_rtxn_end(self->kv, txn);
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
    fdy_store_stream_filters_free(info->filters, info->filter_count);
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
    foundry_err err = fdy_kv_rtxn_begin(self->kv, &txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    MDB_val k = { strlen(name), (void *) name }, v;
    int rc = mdb_get(txn, fdy_store_streams_dbi(self), &k, &v);
    if (rc == MDB_NOTFOUND)
        err = fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%s\"", name);
    else if (rc != 0)
        err = fdy_kv_err(rc, reason, "stream info");
    else
        err = s_info_fill(self, txn, &k, &v, out, reason);
    fdy_kv_rtxn_end(self->kv, txn);
    if (err != FOUNDRY_OK) {
        fdy_store_stream_info_clear(out);
        memset(out, 0, sizeof *out);
    }
    return err;
}

