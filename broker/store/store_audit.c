/*  store_audit.c: the audit log table (store_audit.h): entry records, the
 *  BLAKE2b hash chain, appends (alone or as a commit part), retention from
 *  the start with a recorded trim point, read and verify, and an entry as
 *  table cells. Not for deciding what is audited (admin.c, zap.c, router.c)
 *  or when retention runs (broker/audit/audit.c).
 */
#include "store_audit.h"

#include "commit.h"
#include "store_table.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define S_VERSION  1
#define S_OFF_TIME 8
#define S_OFF_PREV 16
#define S_OFF_HASH 48
#define S_OFF_LENS 80
#define S_HEADER   88
#define S_RECORD_MAX                                                                               \
    (S_HEADER + FDY_AUDIT_PRINCIPAL_MAX + FDY_AUDIT_COMMAND_MAX + FDY_AUDIT_KEY_MAX +              \
     FDY_AUDIT_PEER_MAX + FDY_AUDIT_ARGS_MAX + FDY_AUDIT_REASON_MAX)
/* Hashed first, so an audit hash can never be mistaken for another one. */
#define S_DOMAIN      "foundry-audit-v1"
#define S_META_HEAD   "head"
#define S_META_ANCHOR "anchor"
#define S_META_BYTES  "bytes"
#define S_POINT_LEN   (8 + FDY_AUDIT_HASH_LEN)
/* Retention by size trims to this share of the limit, so that a log at its
 * limit is trimmed in batches rather than one entry (and one trim entry)
 * per append. */
#define S_TRIM_TO(max) ((max) - (max) / 8)

static foundry_err s_open(fdy_store_t *self, MDB_txn *txn, fdy_reason_t *reason);

static const char *const s_dbs[] = {"audit", "audit_meta", NULL};
/* Its records are checked as a chain (fdy_store_audit_verify), not one by one. */
const fdy_store_table_t fdy_store_audit_table = {.name = "audit", .dbs = s_dbs, .load = s_open};

static MDB_dbi
s_log_dbi(const fdy_store_t *self)
{
    return fdy_store_dbi(self, &fdy_store_audit_table, 0);
}

static MDB_dbi
s_meta_dbi(const fdy_store_t *self)
{
    return fdy_store_dbi(self, &fdy_store_audit_table, 1);
}

/* crypto_generichash picks its fastest implementation in sodium_init(). */
static foundry_err
s_open(fdy_store_t *self, MDB_txn *txn, fdy_reason_t *reason)
{
    (void) self;
    (void) txn;
    if (sodium_init() < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "audit: libsodium cannot initialise");
    return FOUNDRY_OK;
}

/* ---- records ------------------------------------------------------------------ */

typedef struct {
    uint64_t seq;
    uint8_t hash[FDY_AUDIT_HASH_LEN];
} s_point_t;

/* The meta records: where the chain ends (head) and starts (anchor). */
typedef struct {
    s_point_t head;
    s_point_t anchor;
    uint64_t bytes;
} s_state_t;

static bool
s_kind_valid(fdy_audit_kind_t kind)
{
    return kind >= FDY_AUDIT_ADMIN && kind <= FDY_AUDIT_TRIM;
}

static void
s_hash(uint64_t seq, const uint8_t *rec, size_t len, uint8_t out[FDY_AUDIT_HASH_LEN])
{
    crypto_generichash_state st;
    uint8_t key[8];
    fdy_bytes_put_be64(key, seq);
    crypto_generichash_init(&st, NULL, 0, FDY_AUDIT_HASH_LEN);
    crypto_generichash_update(&st, (const uint8_t *) S_DOMAIN, strlen(S_DOMAIN));
    crypto_generichash_update(&st, key, sizeof key);
    crypto_generichash_update(&st, rec, S_OFF_HASH);
    crypto_generichash_update(&st, rec + S_OFF_LENS, len - S_OFF_LENS);
    crypto_generichash_final(&st, out, FDY_AUDIT_HASH_LEN);
}

/* The record of e, hash field zero; returns its length (<= S_RECORD_MAX). */
static size_t
s_encode(const fdy_audit_entry_t *e, uint8_t *rec)
{
    const char *fields[] = {e->principal, e->command, e->key, e->peer, e->args, e->reason};
    const size_t max[] = {FDY_AUDIT_PRINCIPAL_MAX, FDY_AUDIT_COMMAND_MAX, FDY_AUDIT_KEY_MAX,
                          FDY_AUDIT_PEER_MAX,      FDY_AUDIT_ARGS_MAX,    FDY_AUDIT_REASON_MAX};
    size_t lens[6];
    memset(rec, 0, S_HEADER);
    rec[0] = S_VERSION;
    rec[1] = (uint8_t) e->kind;
    fdy_bytes_put_le16(rec + 2, (uint16_t) e->result);
    fdy_bytes_put_le64(rec + S_OFF_TIME, e->time_ns);
    memcpy(rec + S_OFF_PREV, e->prev_hash, FDY_AUDIT_HASH_LEN);
    size_t at = S_HEADER;
    for (size_t i = 0; i < 6; i++) {
        lens[i] = strnlen(fields[i], max[i]);
        memcpy(rec + at, fields[i], lens[i]);
        at += lens[i];
    }
    for (size_t i = 0; i < 4; i++)
        rec[S_OFF_LENS + i] = (uint8_t) lens[i];
    fdy_bytes_put_le16(rec + S_OFF_LENS + 4, (uint16_t) lens[4]);
    fdy_bytes_put_le16(rec + S_OFF_LENS + 6, (uint16_t) lens[5]);
    return at;
}

static void
s_field(char *out, size_t size, const uint8_t *data, size_t len)
{
    char raw[FDY_AUDIT_ARGS_MAX + 1];
    memcpy(raw, data, len);
    raw[len] = '\0';
    fdy_audit_entry_text(out, size, raw); /* a tampered record may hold anything */
}

static foundry_err
s_decode(uint64_t seq, const MDB_val *v, fdy_audit_entry_t *e, fdy_reason_t *reason)
{
    memset(e, 0, sizeof *e);
    e->seq = seq;
    const uint8_t *rec = v->mv_data;
    if (v->mv_size < S_HEADER)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "record of %zu bytes is shorter than "
                              "its header",
                              v->mv_size);
    if (rec[0] != S_VERSION)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "record version %u is not %d", rec[0],
                              S_VERSION);
    e->kind = (fdy_audit_kind_t) rec[1];
    if (!s_kind_valid(e->kind))
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "unknown kind %u", rec[1]);
    size_t lens[6] = {rec[S_OFF_LENS],
                      rec[S_OFF_LENS + 1],
                      rec[S_OFF_LENS + 2],
                      rec[S_OFF_LENS + 3],
                      fdy_bytes_get_le16(rec + S_OFF_LENS + 4),
                      fdy_bytes_get_le16(rec + S_OFF_LENS + 6)};
    char *fields[] = {e->principal, e->command, e->key, e->peer, e->args, e->reason};
    const size_t sizes[] = {sizeof e->principal, sizeof e->command, sizeof e->key,
                            sizeof e->peer,      sizeof e->args,    sizeof e->reason};
    size_t total = S_HEADER;
    for (size_t i = 0; i < 6; i++) {
        if (lens[i] >= sizes[i])
            return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "field %zu is %zu bytes long", i,
                                  lens[i]);
        total += lens[i];
    }
    if (total != v->mv_size)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "record is %zu bytes, its fields say %zu",
                              v->mv_size, total);
    e->result = (foundry_err) fdy_bytes_get_le16(rec + 2);
    e->time_ns = fdy_bytes_get_le64(rec + S_OFF_TIME);
    memcpy(e->prev_hash, rec + S_OFF_PREV, FDY_AUDIT_HASH_LEN);
    memcpy(e->hash, rec + S_OFF_HASH, FDY_AUDIT_HASH_LEN);
    size_t at = S_HEADER;
    for (size_t i = 0; i < 6; i++) {
        s_field(fields[i], sizes[i], rec + at, lens[i]);
        at += lens[i];
    }
    return FOUNDRY_OK;
}

/* ---- the meta records -------------------------------------------------------- */

static foundry_err
s_point_get(fdy_store_t *self, MDB_txn *txn, const char *name, s_point_t *out, fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    MDB_val k = {strlen(name), (void *) name}, v;
    int rc = mdb_get(txn, s_meta_dbi(self), &k, &v);
    if (rc == MDB_NOTFOUND)
        return FOUNDRY_OK;
    if (rc != 0)
        return fdy_kv_err(rc, reason, "audit meta");
    if (v.mv_size != S_POINT_LEN)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "audit: the %s record is damaged", name);
    out->seq = fdy_bytes_get_le64(v.mv_data);
    memcpy(out->hash, (const uint8_t *) v.mv_data + 8, FDY_AUDIT_HASH_LEN);
    return FOUNDRY_OK;
}

static foundry_err
s_point_put(fdy_store_t *self, MDB_txn *txn, const char *name, const s_point_t *point,
            fdy_reason_t *reason)
{
    uint8_t buf[S_POINT_LEN];
    fdy_bytes_put_le64(buf, point->seq);
    memcpy(buf + 8, point->hash, FDY_AUDIT_HASH_LEN);
    MDB_val k = {strlen(name), (void *) name}, v = {sizeof buf, buf};
    int rc = mdb_put(txn, s_meta_dbi(self), &k, &v, 0);
    return rc == 0 ? FOUNDRY_OK : fdy_kv_err(rc, reason, "audit meta");
}

/* The last seq in the log (0: empty). */
static foundry_err
s_last_seq(fdy_store_t *self, MDB_txn *txn, uint64_t *seq_out, fdy_reason_t *reason)
{
    *seq_out = 0;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, s_log_dbi(self), &cursor);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "audit");
    MDB_val k, v;
    rc = mdb_cursor_get(cursor, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == 8)
        *seq_out = fdy_bytes_get_be64(k.mv_data);
    mdb_cursor_close(cursor);
    return rc == 0 || rc == MDB_NOTFOUND ? FOUNDRY_OK : fdy_kv_err(rc, reason, "audit");
}

/* strict (verify): a damaged meta record is FOUNDRY_ECORRUPT. Otherwise
 * (append, trim) the log must go on recording whatever happened to it: a
 * damaged record counts as absent, and a head behind the last entry moves
 * up to it but keeps its hash, so the break stays for verify to name. */
static foundry_err
s_state_load(fdy_store_t *self, MDB_txn *txn, s_state_t *st, bool strict, fdy_reason_t *reason)
{
    memset(st, 0, sizeof *st);
    /* Never trimmed: the chain starts at the genesis, seq 0 with a zero hash. */
    const char *const names[] = {S_META_HEAD, S_META_ANCHOR};
    s_point_t *points[] = {&st->head, &st->anchor};
    for (size_t i = 0; i < 2; i++) {
        foundry_err err = s_point_get(self, txn, names[i], points[i], reason);
        if (err == FOUNDRY_ECORRUPT && !strict)
            memset(points[i], 0, sizeof *points[i]);
        else if (err != FOUNDRY_OK)
            return err;
    }
    foundry_err err =
        fdy_kv_meta_get(txn, s_meta_dbi(self), S_META_BYTES, &st->bytes, NULL, reason);
    if (err == FOUNDRY_ECORRUPT && !strict)
        st->bytes = 0;
    else if (err != FOUNDRY_OK)
        return err;
    if (strict && st->head.seq < st->anchor.seq)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "audit: head seq %" PRIu64 " is before the trim point %" PRIu64,
                              st->head.seq, st->anchor.seq);
    if (strict)
        return FOUNDRY_OK;
    uint64_t last = 0;
    err = s_last_seq(self, txn, &last, reason);
    if (err == FOUNDRY_OK && last > st->head.seq)
        st->head.seq = last;
    if (err == FOUNDRY_OK && st->anchor.seq > st->head.seq)
        st->head.seq = st->anchor.seq;
    return err;
}

static foundry_err
s_state_save(fdy_store_t *self, MDB_txn *txn, const s_state_t *st, bool anchor,
             fdy_reason_t *reason)
{
    foundry_err err = s_point_put(self, txn, S_META_HEAD, &st->head, reason);
    if (err == FOUNDRY_OK && anchor)
        err = s_point_put(self, txn, S_META_ANCHOR, &st->anchor, reason);
    if (err == FOUNDRY_OK)
        err = fdy_kv_meta_put(txn, s_meta_dbi(self), S_META_BYTES, st->bytes, reason);
    return err;
}

/* ---- appending ------------------------------------------------------------------ */

/* Appends e after st->head inside txn and moves the head. */
static foundry_err
s_put(fdy_store_t *self, MDB_txn *txn, s_state_t *st, fdy_audit_entry_t *e, fdy_reason_t *reason)
{
    if (!s_kind_valid(e->kind))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "audit: entry kind %d", (int) e->kind);
    char *fields[] = {e->principal, e->command, e->key, e->peer, e->args, e->reason};
    const size_t sizes[] = {sizeof e->principal, sizeof e->command, sizeof e->key,
                            sizeof e->peer,      sizeof e->args,    sizeof e->reason};
    for (size_t i = 0; i < 6; i++) {
        fields[i][sizes[i] - 1] = '\0';
        fdy_audit_entry_text(fields[i], sizes[i], fields[i]); /* what is stored is printable */
    }
    uint8_t rec[S_RECORD_MAX];
    e->seq = st->head.seq + 1;
    memcpy(e->prev_hash, st->head.hash, FDY_AUDIT_HASH_LEN);
    size_t len = s_encode(e, rec);
    s_hash(e->seq, rec, len, e->hash);
    memcpy(rec + S_OFF_HASH, e->hash, FDY_AUDIT_HASH_LEN);
    uint8_t key[8];
    fdy_bytes_put_be64(key, e->seq);
    MDB_val k = {sizeof key, key}, v = {len, rec};
    int rc = mdb_put(txn, s_log_dbi(self), &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "audit: an entry seq %" PRIu64 " exists past the head", e->seq);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "audit append");
    st->head.seq = e->seq;
    memcpy(st->head.hash, e->hash, FDY_AUDIT_HASH_LEN);
    st->bytes += sizeof key + len;
    return FOUNDRY_OK;
}

static foundry_err
s_put_all(fdy_store_t *self, MDB_txn *txn, fdy_audit_entry_t *entries, size_t count,
          fdy_reason_t *reason)
{
    s_state_t st;
    foundry_err err = s_state_load(self, txn, &st, false, reason);
    for (size_t i = 0; err == FOUNDRY_OK && i < count; i++)
        err = s_put(self, txn, &st, &entries[i], reason);
    return err == FOUNDRY_OK ? s_state_save(self, txn, &st, false, reason) : err;
}

typedef struct {
    fdy_audit_entry_t *entries;
    size_t count;
} s_append_t;

static foundry_err
s_append_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    (void) skip_commit;
    s_append_t *a = ctx;
    return s_put_all(self, txn, a->entries, a->count, reason);
}

foundry_err
fdy_store_audit_append(fdy_store_t *self, fdy_audit_entry_t *entries, size_t count,
                       fdy_reason_t *reason)
{
    if (count && !entries)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "audit: NULL entries");
    foundry_err err = fdy_store_writable(self, reason);
    if (err != FOUNDRY_OK || count == 0)
        return err;
    s_append_t a = {entries, count};
    return fdy_store_write(self, s_append_txn, &a, reason);
}

/* ---- the commit part ----------------------------------------------------------- */

static foundry_err
s_part_prepare(void *data, fdy_store_t *store, fdy_reason_t *reason)
{
    (void) store;
    fdy_store_audit_entries_t *d = data;
    if (d->count && !d->items)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "audit: NULL entries");
    return FOUNDRY_OK;
}

static foundry_err
s_part_write(void *data, fdy_store_t *store, MDB_txn *txn, uint64_t now_ns, size_t *writes,
             fdy_reason_t *reason)
{
    (void) now_ns; /* each entry keeps the time it happened */
    fdy_store_audit_entries_t *d = data;
    foundry_err err = s_put_all(store, txn, d->items, d->count, reason);
    if (err == FOUNDRY_OK)
        *writes += d->count;
    return err;
}

static void
s_part_reset(void *data)
{
    fdy_store_audit_entries_t *d = data;
    for (size_t i = 0; d->items && i < d->count; i++) {
        d->items[i].seq = 0;
        memset(d->items[i].prev_hash, 0, FDY_AUDIT_HASH_LEN);
        memset(d->items[i].hash, 0, FDY_AUDIT_HASH_LEN);
    }
}

const fdy_commit_part_t fdy_store_audit_part = {
    .name = "audit",
    .prepare = s_part_prepare,
    .write = s_part_write,
    .reset = s_part_reset,
    .droppable = true,
};

/* ---- retention ------------------------------------------------------------------ */

typedef struct {
    uint64_t now_ns, max_age_ns, max_bytes;
    size_t max_entries;
    fdy_audit_trimmed_t *out;
} s_trim_t;

static foundry_err
s_trim_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    s_trim_t *t = ctx;
    memset(t->out, 0, sizeof *t->out);
    s_state_t st;
    foundry_err err = s_state_load(self, txn, &st, false, reason);
    if (err != FOUNDRY_OK)
        return err;
    bool by_size = t->max_bytes && st.bytes > t->max_bytes;
    uint64_t target = by_size ? S_TRIM_TO(t->max_bytes) : st.bytes;
    uint64_t cutoff = t->max_age_ns && t->now_ns > t->max_age_ns ? t->now_ns - t->max_age_ns : 0;
    bool by_age = false;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, s_log_dbi(self), &cursor);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "audit trim");
    MDB_val k, v;
    while (t->out->removed < t->max_entries &&
           (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST)) == 0) {
        /* A damaged record's time is whatever it holds: verify reports it. */
        uint64_t time_ns = v.mv_size >= S_OFF_PREV
                               ? fdy_bytes_get_le64((const uint8_t *) v.mv_data + S_OFF_TIME)
                               : 0;
        bool old = time_ns < cutoff;
        if (!old && !(by_size && st.bytes > target))
            break;
        by_age |= old;
        st.anchor.seq = k.mv_size == 8 ? fdy_bytes_get_be64(k.mv_data) : st.anchor.seq;
        memset(st.anchor.hash, 0, FDY_AUDIT_HASH_LEN);
        if (v.mv_size >= S_OFF_HASH + FDY_AUDIT_HASH_LEN)
            memcpy(st.anchor.hash, (const uint8_t *) v.mv_data + S_OFF_HASH, FDY_AUDIT_HASH_LEN);
        st.bytes -= st.bytes >= k.mv_size + v.mv_size ? k.mv_size + v.mv_size : st.bytes;
        rc = mdb_cursor_del(cursor, 0);
        if (rc != 0)
            break;
        t->out->removed++;
    }
    mdb_cursor_close(cursor);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return fdy_kv_err(rc, reason, "audit trim");
    if (t->out->removed == 0) {
        *skip_commit = true; /* nothing due: no fsync */
        return FOUNDRY_OK;
    }
    t->out->through_seq = st.anchor.seq;
    t->out->more = t->out->removed == t->max_entries;
    /* The trim is itself in the chain: verify checks that the trim point
     * is the one the last trim entry names, so removing more entries from
     * the start and moving the trim point by hand is found too. */
    fdy_audit_entry_t marker;
    memset(&marker, 0, sizeof marker);
    marker.kind = FDY_AUDIT_TRIM;
    marker.time_ns = t->now_ns;
    snprintf(marker.command, sizeof marker.command, "audit.trim");
    snprintf(marker.args, sizeof marker.args, "through_seq=%" PRIu64 " entries=%" PRIu64,
             st.anchor.seq, t->out->removed);
    snprintf(marker.reason, sizeof marker.reason, "%s",
             by_age ? "audit_max_age" : "audit_max_bytes");
    err = s_put(self, txn, &st, &marker, reason);
    return err == FOUNDRY_OK ? s_state_save(self, txn, &st, true, reason) : err;
}

foundry_err
fdy_store_audit_trim(fdy_store_t *self, uint64_t now_ns, uint64_t max_age_ns, uint64_t max_bytes,
                     size_t max_entries, fdy_audit_trimmed_t *out, fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    foundry_err err = fdy_store_writable(self, reason);
    if (err != FOUNDRY_OK || max_entries == 0 || (max_age_ns == 0 && max_bytes == 0))
        return err;
    s_trim_t t = {now_ns, max_age_ns, max_bytes, max_entries, out};
    return fdy_store_write(self, s_trim_txn, &t, reason);
}

/* ---- reading ---------------------------------------------------------------------- */

foundry_err
fdy_store_audit_read(fdy_store_t *self, const fdy_audit_query_t *query, fdy_store_audit_fn *fn,
                     void *user, fdy_reason_t *reason)
{
    MDB_txn *txn;
    foundry_err err = fdy_kv_rtxn_begin(self->kv, &txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, s_log_dbi(self), &cursor);
    if (rc != 0) {
        fdy_kv_rtxn_end(self->kv, txn);
        return fdy_kv_err(rc, reason, "audit read");
    }
    uint8_t start[8];
    fdy_bytes_put_be64(start, query->from_seq ? query->from_seq : 1);
    MDB_val k = {sizeof start, start}, v;
    fdy_audit_entry_t e;
    bool stop = false;
    for (rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE); rc == 0 && !stop;
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
        uint64_t seq = k.mv_size == 8 ? fdy_bytes_get_be64(k.mv_data) : 0;
        fdy_reason_t why;
        fdy_reason_clear(&why);
        if (s_decode(seq, &v, &e, &why) != FOUNDRY_OK) {
            memset(&e, 0, sizeof e);
            e.seq = seq;
            e.kind = FDY_AUDIT_DAMAGED;
            e.result = FOUNDRY_ECORRUPT;
            fdy_audit_entry_text(e.reason, sizeof e.reason, why.text);
        } else if ((query->since_ns && e.time_ns < query->since_ns) ||
                   (query->principal && strcmp(e.principal, query->principal) != 0)) {
            continue;
        }
        err = fn(&e, user, &stop);
        if (err != FOUNDRY_OK)
            break;
    }
    if (err == FOUNDRY_OK && rc != 0 && rc != MDB_NOTFOUND)
        err = fdy_kv_err(rc, reason, "audit read");
    mdb_cursor_close(cursor);
    fdy_kv_rtxn_end(self->kv, txn);
    return err;
}

/* The through_seq a trim entry names, or 0. */
static uint64_t
s_trim_through(const fdy_audit_entry_t *e)
{
    unsigned long long through = 0;
    if (sscanf(e->args, "through_seq=%llu", &through) != 1)
        return 0;
    return through;
}

static foundry_err s_bad(fdy_audit_verify_t *out, uint64_t seq, fdy_reason_t *reason,
                         const char *fmt, ...) FDY_PRINTF(4, 5);

static foundry_err
s_bad(fdy_audit_verify_t *out, uint64_t seq, fdy_reason_t *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
    out->bad_seq = seq;
    return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "audit log: seq %" PRIu64 ": %s", seq,
                          out->reason);
}

/* Checks the record at k, v against the entry before it (prev; the trim
 * point is anchor_seq) and decodes it into *e. */
static foundry_err
s_verify_one(const MDB_val *k, const MDB_val *v, const s_point_t *prev, uint64_t anchor_seq,
             fdy_audit_entry_t *e, fdy_audit_verify_t *out, fdy_reason_t *reason)
{
    uint64_t want = prev->seq + 1;
    if (k->mv_size != 8)
        return s_bad(out, want, reason, "a key of %zu bytes", k->mv_size);
    uint64_t seq = fdy_bytes_get_be64(k->mv_data);
    if (seq < want)
        return s_bad(out, seq, reason,
                     "entry is at or before seq %" PRIu64 " (the trim point "
                     "or the entry before)",
                     want - 1);
    if (seq > want)
        return s_bad(out, want, reason, "entry is missing (the next is seq %" PRIu64 ")", seq);
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (s_decode(seq, v, e, &why) != FOUNDRY_OK)
        return s_bad(out, seq, reason, "record damaged: %s", why.text);
    uint8_t hash[FDY_AUDIT_HASH_LEN];
    s_hash(seq, v->mv_data, v->mv_size, hash);
    if (sodium_memcmp(hash, e->hash, FDY_AUDIT_HASH_LEN) != 0)
        return s_bad(out, seq, reason, "hash does not match the entry (edited)");
    if (sodium_memcmp(e->prev_hash, prev->hash, FDY_AUDIT_HASH_LEN) != 0)
        return s_bad(out, seq, reason, "prev_hash is not the hash of %s seq %" PRIu64,
                     prev->seq == anchor_seq ? "the trim point," : "entry", prev->seq);
    return FOUNDRY_OK;
}

/* The walk of fdy_store_audit_verify inside its read transaction. */
static foundry_err
s_verify_txn(fdy_store_t *self, MDB_txn *txn, fdy_audit_verify_t *out, fdy_reason_t *reason)
{
    s_state_t st;
    foundry_err err = s_state_load(self, txn, &st, true, reason);
    if (err == FOUNDRY_ECORRUPT)
        return s_bad(out, st.anchor.seq + 1, reason, "%s", reason->text);
    if (err != FOUNDRY_OK)
        return err;
    out->anchor_seq = st.anchor.seq;
    out->from_seq = st.anchor.seq + 1;
    s_point_t prev = st.anchor;
    uint64_t last_trim = 0;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, s_log_dbi(self), &cursor);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "audit verify");
    MDB_val k, v;
    fdy_audit_entry_t e;
    while (err == FOUNDRY_OK && (rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) == 0) {
        uint64_t seq = prev.seq + 1;
        err = s_verify_one(&k, &v, &prev, st.anchor.seq, &e, out, reason);
        if (err != FOUNDRY_OK)
            break;
        if (e.kind == FDY_AUDIT_TRIM)
            last_trim = s_trim_through(&e);
        prev.seq = seq;
        memcpy(prev.hash, e.hash, FDY_AUDIT_HASH_LEN);
        out->entries++;
        out->last_seq = seq;
    }
    mdb_cursor_close(cursor);
    if (err != FOUNDRY_OK)
        return err;
    if (rc != MDB_NOTFOUND)
        return fdy_kv_err(rc, reason, "audit verify");
    memcpy(out->head_hash, prev.hash, FDY_AUDIT_HASH_LEN);
    if (prev.seq < st.head.seq)
        return s_bad(out, prev.seq + 1, reason,
                     "entries up to the head, seq %" PRIu64 ", are missing", st.head.seq);
    if (prev.seq > st.head.seq)
        return s_bad(out, st.head.seq + 1, reason, "entry is past the head, seq %" PRIu64,
                     st.head.seq);
    if (sodium_memcmp(prev.hash, st.head.hash, FDY_AUDIT_HASH_LEN) != 0)
        return s_bad(out, prev.seq, reason, "the last entry is not the head record's");
    if (st.anchor.seq != last_trim)
        return s_bad(out, (last_trim < st.anchor.seq ? last_trim : st.anchor.seq) + 1, reason,
                     "the trim point is seq %" PRIu64 " but the last trim entry names seq %" PRIu64,
                     st.anchor.seq, last_trim);
    return FOUNDRY_OK;
}

foundry_err
fdy_store_audit_verify(fdy_store_t *self, fdy_audit_verify_t *out, fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    MDB_txn *txn;
    foundry_err err = fdy_kv_rtxn_begin(self->kv, &txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    err = s_verify_txn(self, txn, out, reason);
    fdy_kv_rtxn_end(self->kv, txn);
    return err;
}

foundry_err
fdy_store_audit_size(fdy_store_t *self, uint64_t *entries_out, uint64_t *bytes_out,
                     fdy_reason_t *reason)
{
    *entries_out = *bytes_out = 0;
    MDB_txn *txn;
    foundry_err err = fdy_kv_rtxn_begin(self->kv, &txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    MDB_stat stat;
    int rc = mdb_stat(txn, s_log_dbi(self), &stat);
    if (rc != 0)
        err = fdy_kv_err(rc, reason, "audit size");
    else {
        *entries_out = stat.ms_entries;
        err = fdy_kv_meta_get(txn, s_meta_dbi(self), S_META_BYTES, bytes_out, NULL, reason);
    }
    fdy_kv_rtxn_end(self->kv, txn);
    return err;
}

/* ---- as a table ------------------------------------------------------------------ */

static fdy_slice_t
s_slice(const char *text)
{
    return (fdy_slice_t){.data = (const uint8_t *) text, .len = strlen(text)};
}

const char *const fdy_store_audit_verify_columns[FDY_AUDIT_VERIFY_COLUMNS] = {
    "ok", "entries", "from_seq", "last_seq", "anchor_seq", "head_hash", "bad_seq", "reason",
};
const fdy_col_type_t fdy_store_audit_verify_types[FDY_AUDIT_VERIFY_COLUMNS] = {
    FDY_COL_INT, FDY_COL_INT,  FDY_COL_INT, FDY_COL_INT,
    FDY_COL_INT, FDY_COL_TEXT, FDY_COL_INT, FDY_COL_TEXT,
};

void
fdy_store_audit_verify_row(const fdy_audit_verify_t *result, fdy_audit_verify_text_t *text,
                           fdy_slice_t *cells)
{
    const uint64_t numbers[5] = {result->entries, result->from_seq, result->last_seq,
                                 result->anchor_seq, result->bad_seq};
    for (size_t i = 0; i < 5; i++)
        snprintf(text->numbers[i], sizeof text->numbers[i], "%" PRIu64, numbers[i]);
    snprintf(text->ok, sizeof text->ok, "%d", result->bad_seq == 0 ? 1 : 0);
    sodium_bin2hex(text->head_hash, sizeof text->head_hash, result->head_hash, FDY_AUDIT_HASH_LEN);
    cells[0] = s_slice(text->ok);
    for (size_t i = 0; i < 4; i++)
        cells[1 + i] = s_slice(text->numbers[i]);
    cells[5] = s_slice(text->head_hash);
    cells[6] = s_slice(text->numbers[4]);
    cells[7] = s_slice(result->reason);
}
