/*  store_walk.c: the store check's walk (store_walk.h): every page LMDB can
 *  reach and every record, in one read transaction of a read-only open.
 *  Not for the fork, the verdict or the summary (store_check.c): this code
 *  may be killed at any record, so everything it learns goes into the
 *  shared struct at once.
 */
#include "store_walk.h"

#include "store_audit.h"
#include "store_messages.h"
#include "store_streams.h"
#include "store_table.h"

#include "clock.h"
#include "log.h"

#include <stdarg.h>
#include <string.h>

#define S_PRINT_MAX      20   /* findings printed per table; all are counted */
#define S_PROGRESS_EVERY 4096 /* records between looks at the clock */
#define S_PROGRESS_MS    2000

typedef struct {
    const char *dir;
    fdy_store_walk_t *w;
    fdy_walk_table_t *table;
    FILE *report;
    bool progress;
    int64_t next_progress_ms;
    uint64_t since_look;
    size_t printed;
} s_walk_t;

static void
s_copy(char *out, size_t size, const char *text)
{
    snprintf(out, size, "%s", text ? text : "");
}

static void s_finding(s_walk_t *k, const char *fmt, ...) FDY_PRINTF(2, 3);

static void
s_finding(s_walk_t *k, const char *fmt, ...)
{
    char text[FDY_WALK_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    k->table->damaged++;
    k->w->damaged++;
    if (!k->w->first[0])
        s_copy(k->w->first, sizeof k->w->first, text);
    if (k->printed++ >= S_PRINT_MAX)
        return;
    if (k->report)
        fprintf(k->report, "damaged: %s: %s\n", k->table->name, text);
    else
        fdy_log_warn("STORE-CHECK-DAMAGED", "%s/data.mdb: %s: %s", k->dir, k->table->name, text);
}

/* Opens the table row of the summary; a full table list folds into the last. */
static void
s_table_begin(s_walk_t *k, const char *name)
{
    fdy_store_walk_t *w = k->w;
    if (w->table_count < FDY_WALK_TABLES_MAX)
        w->table_count++;
    k->table = &w->tables[w->table_count - 1];
    if (!k->table->name[0])
        s_copy(k->table->name, sizeof k->table->name, name);
    s_copy(w->table, sizeof w->table, name);
    w->stream[0] = '\0';
    k->printed = 0;
}

static void
s_where(s_walk_t *k, const char *db, const char *stream)
{
    s_copy(k->w->db, sizeof k->w->db, db);
    s_copy(k->w->stream, sizeof k->w->stream, stream);
    k->w->has_seq = false;
}

static void
s_count(s_walk_t *k)
{
    k->table->records++;
    k->w->records++;
    if (!k->progress || ++k->since_look < S_PROGRESS_EVERY)
        return;
    k->since_look = 0;
    int64_t now = fdy_clock_mono_ms();
    if (now < k->next_progress_ms)
        return;
    k->next_progress_ms = now + S_PROGRESS_MS;
    fprintf(stderr, "store check: %s%s%s: %llu records checked so far\n", k->w->table,
            k->w->stream[0] ? ", stream " : "", k->w->stream, (unsigned long long) k->w->records);
}

/* LMDB calls this on a failed assertion, just before it aborts: the
 * parent reports the text with the signal. */
static void
s_on_assert(MDB_env *env, const char *msg)
{
    fdy_store_walk_t *w = mdb_env_get_userctx(env);
    if (w)
        s_copy(w->assertion, sizeof w->assertion, msg);
}

/* After an LMDB error the transaction refuses everything (MDB_TXN_ERROR):
 * a fresh snapshot lets the walk go on with the other databases. */
static void
s_txn_renew(s_walk_t *k, MDB_txn *txn, int rc)
{
    if (rc == 0 || rc == MDB_NOTFOUND)
        return;
    mdb_txn_reset(txn);
    rc = mdb_txn_renew(txn);
    if (rc != 0)
        s_finding(k, "cannot read on: %s", mdb_strerror(rc));
}

typedef foundry_err(s_record_fn)(s_walk_t *k, const MDB_val *key, const MDB_val *value, void *ctx,
                                 fdy_reason_t *reason);

/* Reads every record of dbi with a cursor, as LMDB's page walk goes, and
 * hands each to fn (NULL: counted only). An LMDB error ends the walk of
 * that database as one finding. */
static void
s_walk_db(s_walk_t *k, MDB_txn *txn, MDB_dbi dbi, const char *db, s_record_fn *fn, void *ctx)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, dbi, &cursor);
    if (rc != 0) {
        s_finding(k, "database %s cannot be read: %s", db, mdb_strerror(rc));
        return;
    }
    MDB_val key, value;
    while ((rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) == 0) {
        s_count(k);
        fdy_reason_t reason;
        if (fn && fn(k, &key, &value, ctx, &reason) != FOUNDRY_OK)
            s_finding(k, "%s", reason.text);
    }
    if (rc != MDB_NOTFOUND)
        s_finding(k, "database %s: the walk stopped after %llu records: %s", db,
                  (unsigned long long) k->table->records, mdb_strerror(rc));
    mdb_cursor_close(cursor);
    s_txn_renew(k, txn, rc);
}

/* LMDB's largest key in its default build (mdb_env_get_maxkeysize()). */
#define PREV_KEY_MAX 511

typedef struct {
    const fdy_store_t *store;
    const fdy_store_table_t *table;
    size_t db_index;
    uint8_t prev[PREV_KEY_MAX]; /* the key before, copied */
    size_t prev_len;
    bool have_prev;
} s_table_ctx_t;

static foundry_err
s_table_record(s_walk_t *k, const MDB_val *key, const MDB_val *value, void *ctx,
               fdy_reason_t *reason)
{
    (void) k;
    s_table_ctx_t *c = ctx;
    MDB_val prev = {.mv_size = c->prev_len, .mv_data = c->prev};
    foundry_err err =
        c->table->check(c->store, c->db_index, c->have_prev ? &prev : NULL, key, value, reason);
    c->have_prev = key->mv_size <= sizeof c->prev;
    if (c->have_prev) {
        memcpy(c->prev, key->mv_data, key->mv_size);
        c->prev_len = key->mv_size;
    }
    return err;
}

/* ---- a stream's messages -------------------------------------------------- */

typedef struct {
    const char *name;
    fdy_stream_counters_t counters;
    uint64_t next;    /* the seq the next key must be */
    uint64_t records; /* found */
    uint64_t damaged;
} s_stream_t;

static foundry_err
s_message(s_walk_t *k, const MDB_val *key, const MDB_val *value, void *ctx, fdy_reason_t *reason)
{
    s_stream_t *s = ctx;
    s->records++;
    if (key->mv_size != FDY_MSG_KEY_LEN) {
        s->damaged++;
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: a %zu-byte key", s->name,
                              key->mv_size);
    }
    uint64_t seq = fdy_store_msg_key_seq(key->mv_data);
    k->w->has_seq = true;
    k->w->seq = seq;
    const fdy_stream_counters_t *c = &s->counters;
    if (c->first_seq == 0 || seq < c->first_seq || seq > c->last_seq) {
        s->damaged++;
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "stream %s: seq %llu is outside its range %llu..%llu", s->name,
                              (unsigned long long) seq, (unsigned long long) c->first_seq,
                              (unsigned long long) c->last_seq);
    }
    if (seq < s->next) {
        s->damaged++;
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: seq %llu out of order", s->name,
                              (unsigned long long) seq);
    }
    if (seq > s->next) {
        s->damaged += seq - s->next;
        k->table->damaged += seq - s->next - 1; /* s_finding counts one */
        k->w->damaged += seq - s->next - 1;
        uint64_t from = s->next;
        s->next = seq + 1;
        fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: seqs %llu..%llu are missing", s->name,
                       (unsigned long long) from, (unsigned long long) seq - 1);
        s_finding(k, "%s", reason->text);
    }
    s->next = seq + 1;
    fdy_stored_t rec;
    fdy_store_parse_buf_t buf;
    foundry_err err = fdy_store_record_parse(s->name, seq, value, true, &rec, &buf, reason);
    if (err != FOUNDRY_OK)
        s->damaged++;
    return err;
}

static void
s_walk_stream(s_walk_t *k, MDB_txn *txn, const fdy_store_stream_t *st, const MDB_val *record)
{
    s_stream_t s = {.name = st->name};
    fdy_reason_t reason;
    k->w->streams++;
    s_where(k, "m.<id>", st->name);
    if (fdy_store_stream_counters_decode(st->name, record, &s.counters, &reason) != FOUNDRY_OK) {
        k->w->streams_damaged++;
        return; /* the streams table's check reported it */
    }
    s.next = s.counters.first_seq;
    char db[FDY_STREAM_DB_NAME_LEN];
    fdy_store_stream_db_name(db, st->id);
    s_where(k, db, st->name);
    s_walk_db(k, txn, st->dbi, db, s_message, &s);
    if (s.counters.first_seq && s.next <= s.counters.last_seq) {
        uint64_t missing = s.counters.last_seq - s.next + 1;
        s.damaged += missing;
        s_finding(k, "stream %s: seqs %llu..%llu are missing", st->name,
                  (unsigned long long) s.next, (unsigned long long) s.counters.last_seq);
        k->table->damaged += missing - 1;
        k->w->damaged += missing - 1;
    }
    /* Also a walk LMDB stopped: fewer records than the record promises. */
    bool bad = s.damaged > 0 || s.records != s.counters.messages;
    if (bad) {
        k->w->streams_damaged++;
        if (k->report)
            fprintf(k->report,
                    "stream %s: %llu records found of %llu (seqs %llu..%llu), %llu damaged or "
                    "missing\n",
                    st->name, (unsigned long long) s.records,
                    (unsigned long long) s.counters.messages,
                    (unsigned long long) s.counters.first_seq,
                    (unsigned long long) s.counters.last_seq, (unsigned long long) s.damaged);
    }
}

static void
s_walk_streams(s_walk_t *k, fdy_store_t *store, MDB_txn *txn)
{
    s_table_begin(k, "messages of streams");
    MDB_dbi dbi = fdy_store_streams_dbi(store);
    for (size_t i = 0; i < store->stream_count; i++) {
        const fdy_store_stream_t *st = store->streams[i];
        MDB_val key = {strlen(st->name), (void *) st->name}, value;
        int rc = mdb_get(txn, dbi, &key, &value);
        if (rc != 0) {
            s_finding(k, "stream %s: its record cannot be read: %s", st->name, mdb_strerror(rc));
            s_txn_renew(k, txn, rc);
            continue;
        }
        s_walk_stream(k, txn, st, &value);
    }
}

/* ---- the whole store ---------------------------------------------------- */

static void
s_walk_tables(s_walk_t *k, fdy_store_t *store, MDB_txn *txn)
{
    s_table_begin(k, "lmdb free list");
    s_where(k, "(free list)", NULL);
    s_walk_db(k, txn, 0, "(free list)", NULL, NULL);
    s_table_begin(k, "lmdb catalogue");
    s_where(k, "(main)", NULL);
    s_walk_db(k, txn, 1, "(main)", NULL, NULL);
    for (size_t i = 0; i < store->table_count; i++) {
        const fdy_store_table_t *table = store->tables[i].table;
        s_table_begin(k, table->name);
        for (size_t d = 0; table->dbs[d]; d++) {
            s_table_ctx_t ctx = {.store = store, .table = table, .db_index = d};
            s_where(k, table->dbs[d], NULL);
            s_walk_db(k, txn, store->tables[i].dbi[d], table->dbs[d],
                      table->check ? s_table_record : NULL, &ctx);
        }
    }
    s_walk_streams(k, store, txn);
}

static void
s_walk_audit_chain(s_walk_t *k, fdy_store_t *store)
{
    s_table_begin(k, "audit chain");
    s_where(k, "audit", NULL);
    fdy_audit_verify_t v;
    fdy_reason_t reason;
    foundry_err err = fdy_store_audit_verify(store, &v, &reason);
    k->table->records = v.entries;
    if (err != FOUNDRY_OK) {
        k->w->audit_chain_damaged++;
        s_finding(k, "%s", reason.text);
    }
}

void
fdy_store_walk(const char *dir, fdy_store_walk_t *w, FILE *report, bool progress)
{
    s_walk_t k = {
        .dir = dir,
        .w = w,
        .report = report,
        .progress = progress,
        .next_progress_ms = fdy_clock_mono_ms() + S_PROGRESS_MS,
    };
    s_copy(w->table, sizeof w->table, "(open)");
    fdy_store_opts_t opts = {.dir = dir, .read_only = true};
    fdy_store_t *store = NULL;
    fdy_reason_t reason;
    foundry_err err = fdy_store_open(&opts, &store, &reason);
    if (err != FOUNDRY_OK) {
        w->open_err = err;
        s_copy(w->open_reason, sizeof w->open_reason, reason.text);
        return;
    }
    MDB_env *env = fdy_kv_env(store->kv);
    mdb_env_set_userctx(env, w);
    mdb_env_set_assert(env, s_on_assert);
    MDB_txn *txn = NULL;
    err = fdy_kv_txn_begin(store->kv, MDB_RDONLY, &txn, &reason);
    if (err != FOUNDRY_OK) {
        w->open_err = err;
        s_copy(w->open_reason, sizeof w->open_reason, reason.text);
        fdy_store_close(&store);
        return;
    }
    s_walk_tables(&k, store, txn);
    mdb_txn_abort(txn);
    s_walk_audit_chain(&k, store);
    fdy_store_close(&store);
    w->finished = true;
}
