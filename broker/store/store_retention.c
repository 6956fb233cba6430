/*  store_retention.c: the incremental cleaners run every loop turn: the
 *  retention trimmer (records over a stream's age, byte or message limit,
 *  removed from the head) and the dedupe prune (ids past the window). Both
 *  do bounded work in one transaction per call, and in-memory hints keep
 *  most calls transaction-free. Not for deleting streams (store_streams.c).
 */
#include "store_dedupe.h"
#include "store_messages.h"
#include "store_clock.h"
#include "store_streams.h"

#include "clock.h"
#include "log.h"

#include <string.h>

#define S_NS_PER_MS 1000000u
/* A stream whose head is damaged is skipped this long (reads report it). */
#define S_CORRUPT_BACKOFF_NS (60ull * 1000000000u)

/* ---- retention trim ----------------------------------------------------- */

typedef struct {
    uint64_t now_ns;
    size_t max_work;
    size_t work;
    size_t trimmed;
    size_t next; /* round-robin position to resume from */
    bool changed;
} s_trim_t;

static bool
s_expired(uint64_t stored_ns, uint64_t age_ns, uint64_t now_ns)
{
    return age_ns && now_ns >= age_ns && stored_ns <= now_ns - age_ns;
}

/* Trims one stream from its head while it is over a limit and work is
 * left; sets st->trim_due_ns to when it next may have work. */
static foundry_err
s_trim_stream(fdy_store_t *self, MDB_txn *txn, fdy_store_stream_t *st, s_trim_t *t,
              fdy_reason_t *reason)
{
    fdy_stream_counters_t c;
    foundry_err err = fdy_store_stream_counters_get(self, txn, st->name, &c, reason);
    if (err == FOUNDRY_ENOTFOUND) {
        st->trim_due_ns = UINT64_MAX; /* deleted elsewhere; routing catches up later */
        return FOUNDRY_OK;
    }
    if (err != FOUNDRY_OK)
        return err;
    const fdy_stream_limits_t lim = c.limits;
    st->limits = lim;
    uint64_t age_ns = lim.max_age_ms * S_NS_PER_MS;
    uint64_t due = UINT64_MAX;
    bool trimmed = false;
    MDB_cursor *msgs = NULL;
    int rc = mdb_cursor_open(txn, st->dbi, &msgs);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "trim: open cursor");
    while (c.messages > 0) {
        bool over = (lim.max_msgs && c.messages > lim.max_msgs) ||
                    (lim.max_bytes && c.bytes > lim.max_bytes);
        if (!over && !age_ns)
            break;
        if (t->work >= t->max_work) {
            due = 0; /* perhaps more: look again next call */
            break;
        }
        MDB_val k, v;
        rc = mdb_cursor_get(msgs, &k, &v, MDB_FIRST);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            err = fdy_kv_err(rc, reason, "trim: head");
            goto out;
        }
        if (rc == MDB_NOTFOUND || k.mv_size != FDY_MSG_KEY_LEN ||
            fdy_store_msg_key_seq(k.mv_data) != c.first_seq || v.mv_size < FDY_MSG_HEADER_LEN) {
            /* Not this call's to repair: reads report the damage. Other
             * streams still get trimmed. */
            fdy_log_warn_limited("STORE-TRIM-CORRUPT",
                                 "store %s: stream %s: head seq %llu missing or damaged; "
                                 "not trimming it",
                                 self->dir, st->name, (unsigned long long) c.first_seq);
            due = t->now_ns + S_CORRUPT_BACKOFF_NS;
            break;
        }
        uint64_t stored_ns = fdy_bytes_get_le64((const uint8_t *) v.mv_data + 8);
        if (!over && !s_expired(stored_ns, age_ns, t->now_ns)) {
            /* Stored in seq order, so the head is the oldest. */
            due = stored_ns > UINT64_MAX - age_ns ? UINT64_MAX : stored_ns + age_ns;
            break;
        }
        /* An entry for a seq below prune_seq is gone already. */
        if (c.first_seq >= c.prune_seq)
            fdy_store_dedupe_forget(self, st, c.first_seq, &v);
        uint64_t counted = fdy_store_record_msg_bytes(&v); /* before v goes */
        rc = mdb_cursor_del(msgs, 0);
        if (rc != 0) {
            err = fdy_kv_err(rc, reason, "trim: delete");
            goto out;
        }
        c.bytes -= counted < c.bytes ? counted : c.bytes;
        c.messages--;
        c.first_seq = c.messages ? c.first_seq + 1 : 0;
        t->work++;
        t->trimmed++;
        trimmed = true;
    }
    if (trimmed) {
        /* The prune never needs to look below the new head. */
        uint64_t head = c.first_seq ? c.first_seq : c.last_seq + 1;
        if (c.prune_seq < head)
            c.prune_seq = head;
        err = fdy_store_stream_counters_put(self, txn, st->name, &c, reason);
        t->changed = true;
    }
out:
    mdb_cursor_close(msgs);
    if (err == FOUNDRY_OK)
        st->trim_due_ns = due;
    return err;
}

static foundry_err
s_trim_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    s_trim_t *t = ctx;
    t->work = t->trimmed = 0;
    t->changed = false;
    fdy_store_dedupe_undo(self); /* a failed attempt's forgets */
    size_t n = self->stream_count;
    size_t start = n ? self->trim_next % n : 0;
    t->next = start;
    for (size_t i = 0; i < n && t->work < t->max_work; i++) {
        fdy_store_stream_t *st = self->streams[(start + i) % n];
        t->next = (start + i + 1) % n;
        if (st->trim_due_ns > t->now_ns)
            continue;
        foundry_err err = s_trim_stream(self, txn, st, t, reason);
        if (err != FOUNDRY_OK)
            return err;
        if (t->work >= t->max_work)
            t->next = (start + i) % n; /* this stream may have more */
    }
    *skip_commit = !t->changed;
    return FOUNDRY_OK;
}

foundry_err
fdy_store_trim(fdy_store_t *self, uint64_t now_ns, size_t max_work, size_t *trimmed_out)
{
    if (trimmed_out)
        *trimmed_out = 0;
    if (self->read_only || max_work == 0)
        return FOUNDRY_OK;
    bool due = false;
    for (size_t i = 0; i < self->stream_count && !due; i++)
        due = self->streams[i]->trim_due_ns <= now_ns;
    if (!due)
        return FOUNDRY_OK; /* no transaction at all on most loop turns */
    s_trim_t t = { .now_ns = now_ns, .max_work = max_work };
    fdy_reason_t reason;
    foundry_err err = fdy_store_write(self, s_trim_txn, &t, &reason);
    if (err == FOUNDRY_OK)
        fdy_store_dedupe_keep(self);
    else
        fdy_store_dedupe_undo(self); /* the records are still there */
    if (err != FOUNDRY_OK) {
        /* The hints were set by an aborted walk: forget them. */
        for (size_t i = 0; i < self->stream_count; i++)
            self->streams[i]->trim_due_ns = 0;
        fdy_log_warn_limited("STORE-TRIM-FAILED", "store %s: retention trim: %s", self->dir,
                             reason.text);
        return err;
    }
    self->trim_next = t.next;
    if (trimmed_out)
        *trimmed_out = t.trimmed;
    return FOUNDRY_OK;
}

/* ---- dedupe prune ------------------------------------------------------- */

typedef struct {
    uint64_t now_ns;
    size_t max_work;
    size_t pruned;
    size_t next; /* round-robin position to resume from */
} s_prune_t;

/* Walks one stream from its prune cursor while records are older than the
 * window, removing their in-memory dedupe entries (only those still naming
 * this seq: an id may have been reused since). */
static foundry_err
s_prune_stream(fdy_store_t *self, MDB_txn *txn, fdy_store_stream_t *st, s_prune_t *p,
               size_t *work, bool *changed, fdy_reason_t *reason)
{
    fdy_stream_counters_t c;
    foundry_err err = fdy_store_stream_counters_get(self, txn, st->name, &c, reason);
    if (err == FOUNDRY_ENOTFOUND)
        return FOUNDRY_OK; /* deleted elsewhere */
    if (err != FOUNDRY_OK)
        return err;
    uint64_t seq = c.prune_seq ? c.prune_seq : 1;
    if (c.first_seq == 0 && seq <= c.last_seq)
        seq = c.last_seq + 1; /* empty: everything was trimmed */
    if (seq < c.first_seq)
        seq = c.first_seq;
    uint64_t start = seq;
    st->prune_due_ns = 0;
    MDB_cursor *msgs;
    int rc = mdb_cursor_open(txn, st->dbi, &msgs);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "prune: open cursor");
    uint8_t key[FDY_MSG_KEY_LEN];
    MDB_val k = { sizeof key, key }, v;
    while (seq <= c.last_seq && *work < p->max_work) {
        if (seq == start) {
            fdy_store_msg_key(key, seq);
            k.mv_size = sizeof key;
            k.mv_data = key;
            rc = mdb_cursor_get(msgs, &k, &v, MDB_SET_KEY);
        }
        else {
            rc = mdb_cursor_get(msgs, &k, &v, MDB_NEXT);
        }
        if (rc != 0 && rc != MDB_NOTFOUND) {
            err = fdy_kv_err(rc, reason, "prune: read message");
            goto out;
        }
        if (rc != 0 || k.mv_size != FDY_MSG_KEY_LEN || fdy_store_msg_key_seq(k.mv_data) != seq ||
            v.mv_size < FDY_MSG_HEADER_LEN) {
            /* A hole or a damaged record: reads report it; the prune cannot
             * learn its id, so it stops here rather than guess. */
            break;
        }
        uint64_t stored_ns = fdy_bytes_get_le64((const uint8_t *) v.mv_data + 8);
        if (stored_ns + self->dedupe_window_ns > p->now_ns) {
            st->prune_due_ns = stored_ns + self->dedupe_window_ns;
            break;
        }
        p->pruned += fdy_store_dedupe_forget(self, st, seq, &v);
        seq++;
        (*work)++;
    }
    if (seq > c.last_seq) {
        /* Caught up: records appended from now on are stored at or after
         * this wall time, so none of them expires within a window. */
        st->prune_due_ns = fdy_store_now_ns(self) + self->dedupe_window_ns;
    }
    if (seq != c.prune_seq) {
        c.prune_seq = seq;
        *changed = true;
        err = fdy_store_stream_counters_put(self, txn, st->name, &c, reason);
    }
out:
    mdb_cursor_close(msgs);
    return err;
}

static foundry_err
s_prune_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    s_prune_t *p = ctx;
    p->pruned = 0;
    fdy_store_dedupe_undo(self); /* a failed attempt's forgets */
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
        foundry_err err = s_prune_stream(self, txn, st, p, &work, &changed, reason);
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
    if (err == FOUNDRY_OK)
        fdy_store_dedupe_keep(self);
    else
        fdy_store_dedupe_undo(self); /* prune_seq did not move: it walks them again */
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
