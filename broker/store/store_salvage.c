/*  store_salvage.c: the salvage of store_salvage.h. A child process reads
 *  the old store record by record (mdb_get per seq, so one damaged page
 *  costs only the records on it) and commits batches to the new store; its
 *  progress, as of the last commit, lives in memory shared with us. When a
 *  read kills it, we note the record it was reading as skipped and start a
 *  new child from that last commit. Not for judging a store (store_check.c).
 */
#include "store_salvage.h"

#include "commit.h"
#include "store_check.h"
#include "store_keys.h"
#include "store_messages.h"
#include "store_streams.h"
#include "store_table.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_SKIPS_MAX         65536u /* skipped seqs remembered, for the consumers' mapping */
#define S_STREAM_DEATHS_MAX 64u    /* per stream; then the rest of it is given up */
#define S_DEATHS_MAX        2000u
#define S_BATCH_RECORDS     1024u
#define S_BATCH_BYTES       (8u << 20)
#define S_PRINT_MAX         20u /* skipped records printed per stream */

enum { S_PHASE_OPEN, S_PHASE_KEYS, S_PHASE_STREAMS, S_PHASE_CONSUMERS };

typedef struct {
    uint64_t first_old;  /* the old stream's first seq (0: empty) */
    uint64_t skip_count; /* its seqs in skips[] (anywhere in the array) */
    uint32_t deaths;
    bool given_up; /* too many deaths: the rest of it is skipped */
    bool unmapped; /* skips[] overflowed: its consumers start over */
    uint32_t printed;
} s_stream_map_t;

/* Shared with the children: plain bytes, valid as of the last commit. */
typedef struct {
    int phase;
    size_t stream_index; /* streams: the stream being copied */
    uint64_t next_seq;   /* its next old seq to read (0: its first) */
    bool reading;        /* a child is inside the read of reading_seq */
    uint64_t reading_seq;
    uint64_t crash_seqs[S_STREAM_DEATHS_MAX]; /* of the current stream: never read again */
    size_t crash_count;
    size_t consumer_stream; /* consumers: the stream whose consumers are next */
    fdy_store_salvage_result_t counts;
    s_stream_map_t streams[FDY_STORE_STREAMS_MAX];
    uint64_t skip_stream[S_SKIPS_MAX]; /* stream index of each skipped seq */
    uint64_t skips[S_SKIPS_MAX];
    size_t skip_total;
    foundry_err err; /* a child gave up with this (not a death) */
    char reason[FDY_REASON_MAX];
    bool finished;
} s_shared_t;

typedef struct {
    s_shared_t *sh;
    FILE *report;
    fdy_store_t *old;
    fdy_store_t *new_store;
    MDB_txn *txn; /* the old store's read transaction */
    bool renew;   /* an LMDB error broke it: a fresh one after the next commit */
} s_child_t;

static void s_print(FILE *report, const char *fmt, ...) FDY_PRINTF(2, 3);

static void
s_print(FILE *report, const char *fmt, ...)
{
    if (!report)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(report, fmt, ap);
    va_end(ap);
}

static void
s_skip_add(s_shared_t *sh, size_t stream, uint64_t seq)
{
    s_stream_map_t *m = &sh->streams[stream];
    m->skip_count++;
    sh->counts.messages_skipped++;
    if (sh->skip_total < S_SKIPS_MAX) {
        sh->skip_stream[sh->skip_total] = stream;
        sh->skips[sh->skip_total++] = seq;
    } else {
        m->unmapped = true;
    }
}

/* The new seq of old seq `seq` of stream: its place among the copied ones
 * (0 when nothing at or below it was copied). */
static uint64_t
s_map_seq(const s_shared_t *sh, size_t stream, uint64_t seq)
{
    const s_stream_map_t *m = &sh->streams[stream];
    if (m->unmapped || m->first_old == 0 || seq < m->first_old)
        return 0;
    uint64_t lost = 0;
    for (size_t i = 0; i < sh->skip_total; i++)
        if (sh->skip_stream[i] == stream && sh->skips[i] <= seq)
            lost++;
    uint64_t place = seq - m->first_old + 1;
    return place > lost ? place - lost : 0;
}

/* ---- keys ------------------------------------------------------------------ */

static foundry_err
s_copy_keys(s_child_t *c, fdy_reason_t *reason)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(c->txn, fdy_store_dbi(c->old, &fdy_store_keys_table, 0), &cursor);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "salvage: keys");
    MDB_val k, v;
    foundry_err err = FOUNDRY_OK;
    uint64_t seen = 0;
    while (err == FOUNDRY_OK && (rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) == 0) {
        /* A child after a death goes on where the last one stopped. */
        if (seen++ < c->sh->counts.keys + c->sh->counts.keys_skipped)
            continue;
        char name[256];
        size_t len = k.mv_size < sizeof name ? k.mv_size : sizeof name - 1;
        memcpy(name, k.mv_data, len);
        name[len] = '\0';
        const uint8_t *payload;
        size_t payload_len;
        fdy_reason_t why;
        if (fdy_store_key_record_open(c->old->schema, name, &v, &payload, &payload_len, &why) !=
            FOUNDRY_OK) {
            c->sh->counts.keys_skipped++;
            s_print(c->report, "skipped: %s\n", why.text);
            continue;
        }
        err = fdy_store_key_put(c->new_store, name, payload, payload_len, reason);
        if (err == FOUNDRY_OK)
            c->sh->counts.keys++;
    }
    mdb_cursor_close(cursor);
    if (err == FOUNDRY_OK && rc != MDB_NOTFOUND) {
        c->sh->counts.keys_skipped++;
        s_print(c->report, "skipped: keys after the %llu-th: %s\n", (unsigned long long) seen,
                mdb_strerror(rc));
    }
    return err;
}

/* ---- messages ------------------------------------------------------------ */

typedef struct {
    uint32_t stream_id; /* in the new store */
    const MDB_val *records;
    size_t count;
} s_copies_t;

static foundry_err
s_copies_write(void *data, fdy_store_t *store, MDB_txn *txn, uint64_t now_ns, size_t *writes,
               fdy_reason_t *reason)
{
    (void) now_ns;
    s_copies_t *copies = data;
    fdy_store_stream_t *st = fdy_store_stream_find(store, copies->stream_id);
    if (!st)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "salvage: stream id %u",
                              copies->stream_id);
    foundry_err err = fdy_store_stream_touch(store, txn, st, reason);
    for (size_t i = 0; err == FOUNDRY_OK && i < copies->count; i++) {
        uint64_t seq;
        err = fdy_store_record_put_copy(store, st, &copies->records[i], &seq, reason);
    }
    *writes += copies->count;
    return err;
}

static const fdy_commit_part_t s_copies_part = {.name = "salvage", .write = s_copies_write};

typedef struct {
    MDB_val records[S_BATCH_RECORDS];
    size_t count;
    size_t bytes;
    uint64_t skipped[S_BATCH_RECORDS]; /* seqs skipped since the last commit */
    size_t skipped_count;
} s_batch_t;

/* Commits the batch and publishes the progress it makes durable. */
static foundry_err
s_flush(s_child_t *c, s_batch_t *b, uint32_t new_id, uint64_t next_seq, fdy_reason_t *reason)
{
    if (b->count) {
        s_copies_t copies = {new_id, b->records, b->count};
        fdy_commit_t commit;
        fdy_commit_init(&commit);
        fdy_commit_add(&commit, &s_copies_part, &copies);
        foundry_err err = fdy_commit_run(&commit, c->new_store, reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    s_shared_t *sh = c->sh;
    for (size_t i = 0; i < b->skipped_count; i++)
        s_skip_add(sh, sh->stream_index, b->skipped[i]);
    sh->counts.messages += b->count;
    sh->next_seq = next_seq;
    b->count = b->bytes = b->skipped_count = 0;
    return FOUNDRY_OK;
}

static foundry_err
s_renew(s_child_t *c, fdy_reason_t *reason)
{
    c->renew = false;
    mdb_txn_reset(c->txn);
    int rc = mdb_txn_renew(c->txn);
    return rc == 0 ? FOUNDRY_OK : fdy_kv_err(rc, reason, "salvage: read on");
}

static bool
s_crashed(const s_shared_t *sh, uint64_t seq)
{
    for (size_t i = 0; i < sh->crash_count; i++)
        if (sh->crash_seqs[i] == seq)
            return true;
    return false;
}

/* Reads old seq of st; *ok when it is intact (then *record points into
 * the old map). */
static void
s_read_one(s_child_t *c, const fdy_store_stream_t *st, uint64_t seq, MDB_val *record, bool *ok)
{
    uint8_t key_bytes[FDY_MSG_KEY_LEN];
    fdy_store_msg_key(key_bytes, seq);
    MDB_val key = {sizeof key_bytes, key_bytes};
    c->sh->reading_seq = seq;
    c->sh->reading = true;
    int rc = mdb_get(c->txn, st->dbi, &key, record);
    fdy_reason_t why;
    fdy_stored_t rec;
    fdy_store_parse_buf_t buf;
    if (rc != 0)
        fdy_reason_set(&why, FOUNDRY_ECORRUPT, "stream %s: seq %llu: %s", st->name,
                       (unsigned long long) seq, mdb_strerror(rc));
    *ok = rc == 0 &&
          fdy_store_record_parse(st->name, seq, record, true, &rec, &buf, &why) == FOUNDRY_OK;
    c->sh->reading = false;
    if (rc != 0 && rc != MDB_NOTFOUND)
        c->renew = true; /* the transaction refuses everything now (MDB_TXN_ERROR) */
    s_stream_map_t *m = &c->sh->streams[c->sh->stream_index];
    if (!*ok && m->printed < S_PRINT_MAX) {
        m->printed++;
        s_print(c->report, "skipped: %s\n", why.text);
    }
}

/* The new store's copy of stream st: created with its filters and limits. */
static foundry_err
s_new_stream(s_child_t *c, const fdy_store_stream_t *st, const MDB_val *value,
             const fdy_stream_counters_t *counters, uint32_t *id_out, fdy_reason_t *reason)
{
    if (fdy_store_stream_lookup(c->new_store, st->name, id_out) == FOUNDRY_OK)
        return FOUNDRY_OK;
    char *filters[FDY_STREAM_FILTERS_MAX];
    size_t count = 0;
    foundry_err err = fdy_store_stream_filters_decode(st->name, value, filters, &count, reason);
    if (err == FOUNDRY_OK)
        err = fdy_store_stream_create_ex(c->new_store, st->name, (const char *const *) filters,
                                         count, &counters->limits, reason);
    fdy_store_stream_filters_free(filters, count);
    if (err == FOUNDRY_OK)
        err = fdy_store_stream_lookup(c->new_store, st->name, id_out);
    return err;
}

static foundry_err
s_copy_stream(s_child_t *c, s_batch_t *b, fdy_reason_t *reason)
{
    s_shared_t *sh = c->sh;
    const fdy_store_stream_t *st = c->old->streams[sh->stream_index];
    s_stream_map_t *m = &sh->streams[sh->stream_index];
    MDB_val name = {strlen(st->name), (void *) st->name}, value;
    fdy_stream_counters_t counters;
    fdy_reason_t why;
    uint32_t new_id = 0;
    int rc = mdb_get(c->txn, fdy_store_streams_dbi(c->old), &name, &value);
    if (rc != 0 ||
        fdy_store_stream_counters_decode(st->name, &value, &counters, &why) != FOUNDRY_OK) {
        sh->counts.streams_skipped++;
        s_print(c->report, "skipped: stream %s: its record is damaged or unreadable\n", st->name);
        return FOUNDRY_OK;
    }
    if (sh->next_seq == 0) {
        if (s_new_stream(c, st, &value, &counters, &new_id, &why) != FOUNDRY_OK) {
            sh->counts.streams_skipped++;
            s_print(c->report, "skipped: stream %s: %s\n", st->name, why.text);
            return FOUNDRY_OK;
        }
        m->first_old = counters.first_seq;
        sh->next_seq = counters.first_seq ? counters.first_seq : 1;
    } else if (fdy_store_stream_lookup(c->new_store, st->name, &new_id) != FOUNDRY_OK) {
        return fdy_reason_set(reason, FOUNDRY_ESTORE, "salvage: stream %s vanished from %s",
                              st->name, c->new_store->dir);
    }
    uint64_t seq = sh->next_seq;
    for (; counters.first_seq && seq <= counters.last_seq && !m->given_up; seq++) {
        if (s_crashed(sh, seq))
            continue;
        MDB_val record;
        bool ok;
        s_read_one(c, st, seq, &record, &ok);
        if (ok) {
            b->records[b->count++] = record;
            b->bytes += record.mv_size;
        } else {
            b->skipped[b->skipped_count++] = seq;
        }
        if (b->count + b->skipped_count == S_BATCH_RECORDS || b->bytes >= S_BATCH_BYTES ||
            c->renew) {
            /* The batch points into the old snapshot: committed first. */
            foundry_err err = s_flush(c, b, new_id, seq + 1, reason);
            if (err == FOUNDRY_OK && c->renew)
                err = s_renew(c, reason);
            if (err != FOUNDRY_OK)
                return err;
        }
    }
    foundry_err err = s_flush(c, b, new_id, seq, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (m->given_up && seq <= counters.last_seq) {
        s_print(c->report, "skipped: stream %s: seqs %llu..%llu (reading them keeps crashing)\n",
                st->name, (unsigned long long) seq, (unsigned long long) counters.last_seq);
        for (; seq <= counters.last_seq; seq++)
            s_skip_add(sh, sh->stream_index, seq);
    }
    sh->counts.streams++;
    return FOUNDRY_OK;
}

/* ---- consumers ------------------------------------------------------------ */

static foundry_err
s_copy_consumers(s_child_t *c, size_t index, fdy_reason_t *reason)
{
    s_shared_t *sh = c->sh;
    const char *stream = c->old->streams[index]->name;
    uint32_t new_id;
    if (fdy_store_stream_lookup(c->new_store, stream, &new_id) != FOUNDRY_OK)
        return FOUNDRY_OK; /* the stream was skipped, and reported */
    fdy_consumer_t *list = NULL;
    size_t count = 0;
    fdy_reason_t why;
    if (fdy_store_consumer_list(c->old, stream, &list, &count, &why) != FOUNDRY_OK) {
        sh->counts.consumers_skipped++;
        s_print(c->report, "skipped: the consumers of stream %s: %s (create them again)\n", stream,
                why.text);
        return FOUNDRY_OK;
    }
    foundry_err err = FOUNDRY_OK;
    for (size_t i = 0; i < count && err == FOUNDRY_OK; i++) {
        err = fdy_store_consumer_create(c->new_store, stream, &list[i].config, reason);
        if (err == FOUNDRY_EEXIST) /* made by a child before a death */
            err = FOUNDRY_OK;
        fdy_consumer_state_t state = {.stream_id = new_id};
        snprintf(state.name, sizeof state.name, "%s", list[i].config.name);
        state.ack_floor = s_map_seq(sh, index, list[i].state.ack_floor);
        state.delivered_seq = s_map_seq(sh, index, list[i].state.delivered_seq);
        if (err == FOUNDRY_OK)
            err = fdy_store_consumer_save_states(c->new_store, &state, 1, reason);
        if (err == FOUNDRY_OK)
            sh->counts.consumers++;
    }
    fdy_store_consumers_free(&list, count);
    return err;
}

/* ---- the child ------------------------------------------------------------ */

static foundry_err
s_child_run(s_child_t *c, const fdy_store_salvage_opts_t *opts, fdy_reason_t *reason)
{
    s_shared_t *sh = c->sh;
    /* Unchecked: a file cut short still has its first pages to copy. */
    fdy_store_opts_t old_opts = {.dir = opts->from, .read_only = true, .unchecked = true};
    foundry_err err = fdy_store_open(&old_opts, &c->old, reason);
    if (err == FOUNDRY_OK)
        err = fdy_kv_txn_begin(c->old->kv, MDB_RDONLY, &c->txn, reason);
    fdy_store_opts_t new_opts = {.dir = opts->to};
    if (err == FOUNDRY_OK)
        err = fdy_store_open(&new_opts, &c->new_store, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (sh->phase == S_PHASE_OPEN)
        sh->phase = S_PHASE_KEYS;
    if (sh->phase == S_PHASE_KEYS) {
        err = s_copy_keys(c, reason);
        sh->phase = S_PHASE_STREAMS;
    }
    s_batch_t *batch = calloc(1, sizeof *batch);
    if (!batch)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    for (; err == FOUNDRY_OK && sh->phase == S_PHASE_STREAMS &&
           sh->stream_index < c->old->stream_count;) {
        err = s_copy_stream(c, batch, reason);
        if (err == FOUNDRY_OK) {
            sh->stream_index++;
            sh->next_seq = 0;
            sh->crash_count = 0;
        }
    }
    free(batch);
    if (err == FOUNDRY_OK && sh->phase == S_PHASE_STREAMS)
        sh->phase = S_PHASE_CONSUMERS;
    for (; err == FOUNDRY_OK && sh->consumer_stream < c->old->stream_count; sh->consumer_stream++)
        err = s_copy_consumers(c, sh->consumer_stream, reason);
    return err;
}

static void
s_child(const fdy_store_salvage_opts_t *opts, s_shared_t *sh)
{
    s_child_t c = {.sh = sh, .report = opts->report};
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    foundry_err err = s_child_run(&c, opts, &reason);
    if (c.txn)
        mdb_txn_abort(c.txn);
    fdy_store_close(&c.new_store);
    fdy_store_close(&c.old);
    if (err != FOUNDRY_OK) {
        sh->err = err;
        snprintf(sh->reason, sizeof sh->reason, "%s", reason.text);
    } else {
        sh->finished = true;
    }
    if (opts->report)
        fflush(opts->report);
}

/* ---- the parent ----------------------------------------------------------- */

static const char *
s_signal_name(int status)
{
    return WIFSIGNALED(status) ? fdy_store_check_signal_name(WTERMSIG(status)) : "an early exit";
}

static foundry_err s_fail(fdy_store_salvage_result_t *out, foundry_err err, const char *fmt, ...)
    FDY_PRINTF(3, 4);

static foundry_err
s_fail(fdy_store_salvage_result_t *out, foundry_err err, const char *fmt, ...)
{
    out->verdict = FDY_STORE_SALVAGE_FAILED;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
    return err;
}

/* A child died: skips what it was at, so the next one goes on after it.
 * Returns false when there is no way on. */
static bool
s_after_death(const fdy_store_salvage_opts_t *opts, s_shared_t *sh, int status)
{
    const char *sig = s_signal_name(status);
    sh->counts.child_deaths++;
    if (sh->phase == S_PHASE_OPEN)
        return false;
    if (sh->phase == S_PHASE_KEYS) {
        sh->counts.keys_skipped++;
        s_print(opts->report, "skipped: the keys after the %llu-th (the walk died with %s)\n",
                (unsigned long long) (sh->counts.keys + sh->counts.keys_skipped), sig);
        sh->phase = S_PHASE_STREAMS;
    } else if (sh->phase == S_PHASE_CONSUMERS) {
        sh->counts.consumers_skipped++;
        s_print(opts->report, "skipped: consumers of stream #%zu (reading them died with %s)\n",
                sh->consumer_stream, sig);
        sh->consumer_stream++;
    } else if (sh->reading) {
        s_stream_map_t *m = &sh->streams[sh->stream_index];
        s_skip_add(sh, sh->stream_index, sh->reading_seq);
        if (sh->crash_count < S_STREAM_DEATHS_MAX)
            sh->crash_seqs[sh->crash_count++] = sh->reading_seq;
        if (++m->deaths >= S_STREAM_DEATHS_MAX)
            m->given_up = true;
        if (m->printed++ < S_PRINT_MAX)
            s_print(opts->report, "skipped: stream #%zu seq %llu (reading it died with %s)\n",
                    sh->stream_index, (unsigned long long) sh->reading_seq, sig);
        sh->reading = false;
    } else {
        sh->counts.streams_skipped++;
        s_print(opts->report, "skipped: stream #%zu (copying it died with %s)\n", sh->stream_index,
                sig);
        sh->stream_index++;
        sh->next_seq = 0;
        sh->crash_count = 0;
    }
    return sh->counts.child_deaths < S_DEATHS_MAX;
}

static void
s_summary(FILE *report, const fdy_store_salvage_opts_t *opts, const fdy_store_salvage_result_t *r)
{
    if (!report)
        return;
    fprintf(report,
            "salvaged %s into %s: %llu keys (%llu skipped), %llu streams (%llu skipped), "
            "%llu messages (%llu skipped), %llu consumers (%llu skipped); %llu reads killed "
            "a child\n",
            opts->from, opts->to, (unsigned long long) r->keys,
            (unsigned long long) r->keys_skipped, (unsigned long long) r->streams,
            (unsigned long long) r->streams_skipped, (unsigned long long) r->messages,
            (unsigned long long) r->messages_skipped, (unsigned long long) r->consumers,
            (unsigned long long) r->consumers_skipped, (unsigned long long) r->child_deaths);
    fprintf(report, "verdict: %s\n",
            r->verdict == FDY_STORE_SALVAGE_COMPLETE  ? "complete"
            : r->verdict == FDY_STORE_SALVAGE_PARTIAL ? "partial: records were skipped"
                                                      : r->reason);
}

/* data.mdb's size in dir, or -1 when there is none. */
static long long
s_store_size(const char *dir)
{
    char path[4096];
    struct stat st;
    if ((size_t) snprintf(path, sizeof path, "%s/data.mdb", dir) >= sizeof path ||
        stat(path, &st) != 0)
        return -1;
    return (long long) st.st_size;
}

foundry_err
fdy_store_salvage(const fdy_store_salvage_opts_t *opts, fdy_store_salvage_result_t *out)
{
    memset(out, 0, sizeof *out);
    long long size = opts->from ? s_store_size(opts->from) : -1;
    if (size < 0)
        return s_fail(out, FOUNDRY_EINVAL, "no store in %s", opts->from ? opts->from : "");
    if (size == 0)
        return s_fail(out, FOUNDRY_ECORRUPT,
                      "%s/data.mdb is empty (0 bytes): nothing to "
                      "salvage; restore a backup",
                      opts->from);
    if (!opts->to || !*opts->to || s_store_size(opts->to) >= 0)
        return s_fail(out, FOUNDRY_EINVAL,
                      "%s holds a store already: salvage into a new "
                      "directory",
                      opts->to ? opts->to : "");
    s_shared_t *sh =
        mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return s_fail(out, FOUNDRY_EIO, "salvage: shared memory: %s", strerror(errno));
    memset(sh, 0, sizeof *sh);
    foundry_err err = FOUNDRY_OK;
    for (;;) {
        if (opts->report)
            fflush(opts->report);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
            err = s_fail(out, FOUNDRY_EIO, "salvage: fork: %s", strerror(errno));
            break;
        }
        if (pid == 0) {
            s_child(opts, sh);
            _exit(0);
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            continue;
        if (sh->finished)
            break;
        if (sh->err != FOUNDRY_OK) {
            err = s_fail(out, sh->err, "salvage stopped: %s", sh->reason);
            break;
        }
        if (!s_after_death(opts, sh, status)) {
            err = s_fail(out, FOUNDRY_ECORRUPT,
                         sh->phase == S_PHASE_OPEN
                             ? "salvage: opening %s died with %s: its catalogue is unreadable; "
                               "restore a backup"
                             : "salvage of %s gave up: reads died with %s too often",
                         opts->from, s_signal_name(status));
            break;
        }
    }
    fdy_store_salvage_verdict_t verdict = out->verdict;
    char reason[sizeof out->reason];
    memcpy(reason, out->reason, sizeof reason);
    *out = sh->counts;
    memcpy(out->reason, reason, sizeof reason);
    const fdy_store_salvage_result_t *c = out;
    if (verdict == FDY_STORE_SALVAGE_FAILED)
        out->verdict = verdict;
    else if (c->keys_skipped || c->streams_skipped || c->messages_skipped || c->consumers_skipped ||
             c->child_deaths)
        out->verdict = FDY_STORE_SALVAGE_PARTIAL;
    else
        out->verdict = FDY_STORE_SALVAGE_COMPLETE;
    s_summary(opts->report, opts, out);
    munmap(sh, sizeof *sh);
    return err;
}

int
fdy_store_salvage_exit_status(const fdy_store_salvage_result_t *result)
{
    return (int) result->verdict;
}
