/*  store_consumers.c: durable consumer records (config, written once, and
 *  delivery state, rewritten by the broker's group commits through
 *  fdy_store_states_part). The store only remembers; delivery, credit, ack
 *  timers, redelivery and dead letters (store_dead_letters.c) are not here.
 *  Records carry a CRC-32C, so a damaged one is reported, not resumed from.
 */
#include "commit.h"
#include "store_consumers.h"
#include "store_messages.h"
#include "store_streams.h"

#include "clock.h"
#include "crc32c.h"
#include "subject.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* consumers value: crc32c(4) version(1) start(1) filter_len(u16)
 * start_value(u64) ack_wait_ms(u64) max_deliver(u32) max_ack_pending(u32)
 * created_ns(u64) | filter. */
#define S_CONFIG_VERSION 1
#define S_CONFIG_FIXED   40
/* consumer_states value: crc32c(4) version(1) reserved(3) ack_floor(u64)
 * delivered_seq(u64) updated_ns(u64) acked_count(u32)
 * redelivered_count(u32) | acked as LEB128 deltas from the previous seq
 * (the first from ack_floor) | redelivered as (delta, count) LEB128 pairs
 * the same way. Deltas are >= 1: the lists are strictly increasing. */
#define S_STATE_VERSION 1
#define S_STATE_FIXED   40
#define S_VARINT_MAX    10

static const char *const s_dbs[] = {"consumers", "consumer_states", NULL};
static foundry_err s_consumers_check(const fdy_store_t *self, size_t db_index,
                                     const MDB_val *prev_key, const MDB_val *key,
                                     const MDB_val *value, fdy_reason_t *reason);
const fdy_store_table_t fdy_store_consumers_table = {"consumers", s_dbs, NULL, NULL,
                                                     s_consumers_check};

MDB_dbi
fdy_store_consumers_dbi(const fdy_store_t *self)
{
    return fdy_store_dbi(self, &fdy_store_consumers_table, 0);
}

static MDB_dbi
s_states_dbi(const fdy_store_t *self)
{
    return fdy_store_dbi(self, &fdy_store_consumers_table, 1);
}

/* ---- keys and varints --------------------------------------------------- */

static size_t
s_key(uint8_t *key, uint32_t stream_id, const char *name)
{
    size_t len = strlen(name);
    fdy_bytes_put_be32(key, stream_id);
    memcpy(key + 4, name, len);
    return 4 + len;
}

/* The preamble of every per-consumer transaction body: the counters of
 * stream (in c) and the key of its consumer name in key/k.
 * Returns FOUNDRY_OK, FOUNDRY_ENOTFOUND (stream), FOUNDRY_ECORRUPT or
 * FOUNDRY_ESTORE, with reason. */
static foundry_err
s_consumer_key_in(fdy_store_t *self, MDB_txn *txn, const char *stream, const char *name,
                  fdy_stream_counters_t *c, uint8_t key[FDY_CONSUMER_KEY_MAX], MDB_val *k,
                  fdy_reason_t *reason)
{
    foundry_err err = fdy_store_stream_counters_get(self, txn, stream, c, reason);
    if (err != FOUNDRY_OK)
        return err;
    k->mv_size = s_key(key, c->id, name);
    k->mv_data = key;
    return FOUNDRY_OK;
}

static size_t
s_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *
s_varint_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t) (v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t) v;
    return p;
}

/* Returns false when the input ends or the value overflows. */
static bool
s_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v_out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        if (shift == 63 && b > 1)
            return false;
        v |= (uint64_t) (b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v_out = v;
            return true;
        }
    }
    return false;
}

/* ---- config records ----------------------------------------------------- */

static size_t
s_config_encode(uint8_t *p, const fdy_consumer_config_t *cfg)
{
    size_t filter_len = strlen(cfg->filter);
    p[4] = S_CONFIG_VERSION;
    p[5] = (uint8_t) cfg->start;
    fdy_bytes_put_le16(p + 6, (uint16_t) filter_len);
    fdy_bytes_put_le64(p + 8, cfg->start_value);
    fdy_bytes_put_le64(p + 16, cfg->ack_wait_ms);
    fdy_bytes_put_le32(p + 24, cfg->max_deliver);
    fdy_bytes_put_le32(p + 28, cfg->max_ack_pending);
    fdy_bytes_put_le64(p + 32, cfg->created_ns);
    memcpy(p + S_CONFIG_FIXED, cfg->filter, filter_len);
    size_t size = S_CONFIG_FIXED + filter_len;
    fdy_bytes_put_le32(p, fdy_crc32c(0, p + 4, size - 4));
    return size;
}

static foundry_err
s_config_decode(const MDB_val *v, const char *stream, const char *name,
                fdy_consumer_config_t *cfg, fdy_reason_t *reason)
{
    const uint8_t *p = v->mv_data;
    size_t size = v->mv_size;
    memset(cfg, 0, sizeof *cfg);
    if (size < S_CONFIG_FIXED || fdy_crc32c(0, p + 4, size - 4) != fdy_bytes_get_le32(p) ||
        p[4] != S_CONFIG_VERSION || p[5] > FDY_CONSUMER_START_TIME ||
        fdy_bytes_get_le16(p + 6) != size - S_CONFIG_FIXED ||
        size - S_CONFIG_FIXED > FOUNDRY_SUBJECT_MAX)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "stream %s: consumer %s: damaged config record", stream, name);
    snprintf(cfg->name, sizeof cfg->name, "%s", name);
    cfg->start = (fdy_consumer_start_t) p[5];
    cfg->start_value = fdy_bytes_get_le64(p + 8);
    cfg->ack_wait_ms = fdy_bytes_get_le64(p + 16);
    cfg->max_deliver = fdy_bytes_get_le32(p + 24);
    cfg->max_ack_pending = fdy_bytes_get_le32(p + 28);
    cfg->created_ns = fdy_bytes_get_le64(p + 32);
    memcpy(cfg->filter, p + S_CONFIG_FIXED, size - S_CONFIG_FIXED);
    cfg->filter[size - S_CONFIG_FIXED] = '\0';
    return FOUNDRY_OK;
}

/* ---- state records ------------------------------------------------------ */

foundry_err
fdy_store_state_check(const fdy_consumer_state_t *s, size_t index, fdy_reason_t *reason)
{
    if (!fdy_store_name_valid(s->name, FDY_CONSUMER_NAME_MAX) || s->stream_id == 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "state %zu: bad stream id or name", index);
    if (s->ack_floor > s->delivered_seq)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "state %zu (%s): ack_floor %llu past delivered_seq %llu", index,
                              s->name, (unsigned long long) s->ack_floor,
                              (unsigned long long) s->delivered_seq);
    if (s->acked_count > FDY_CONSUMER_PENDING_MAX ||
        s->redelivered_count > FDY_CONSUMER_PENDING_MAX || (s->acked_count && !s->acked) ||
        (s->redelivered_count && !s->redelivered))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "state %zu (%s): bad list sizes", index,
                              s->name);
    uint64_t prev = s->ack_floor;
    for (size_t i = 0; i < s->acked_count; i++) {
        if (s->acked[i] <= prev || s->acked[i] > s->delivered_seq)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "state %zu (%s): acked seq %llu out of order or range", index,
                                  s->name, (unsigned long long) s->acked[i]);
        prev = s->acked[i];
    }
    prev = s->ack_floor;
    for (size_t i = 0; i < s->redelivered_count; i++) {
        const fdy_consumer_redelivery_t *r = &s->redelivered[i];
        if (r->seq <= prev || r->seq > s->delivered_seq || r->count == 0)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "state %zu (%s): redelivered seq %llu out of order or range",
                                  index, s->name, (unsigned long long) r->seq);
        prev = r->seq;
    }
    return FOUNDRY_OK;
}

static size_t
s_state_size(const fdy_consumer_state_t *s)
{
    size_t size = S_STATE_FIXED;
    uint64_t prev = s->ack_floor;
    for (size_t i = 0; i < s->acked_count; i++) {
        size += s_varint_len(s->acked[i] - prev);
        prev = s->acked[i];
    }
    prev = s->ack_floor;
    for (size_t i = 0; i < s->redelivered_count; i++) {
        size += s_varint_len(s->redelivered[i].seq - prev) +
                s_varint_len(s->redelivered[i].count);
        prev = s->redelivered[i].seq;
    }
    return size;
}

static void
s_state_encode(uint8_t *p, size_t size, const fdy_consumer_state_t *s, uint64_t now_ns)
{
    memset(p + 4, 0, 4);
    p[4] = S_STATE_VERSION;
    fdy_bytes_put_le64(p + 8, s->ack_floor);
    fdy_bytes_put_le64(p + 16, s->delivered_seq);
    fdy_bytes_put_le64(p + 24, now_ns);
    fdy_bytes_put_le32(p + 32, (uint32_t) s->acked_count);
    fdy_bytes_put_le32(p + 36, (uint32_t) s->redelivered_count);
    uint8_t *w = p + S_STATE_FIXED;
    uint64_t prev = s->ack_floor;
    for (size_t i = 0; i < s->acked_count; i++) {
        w = s_varint_put(w, s->acked[i] - prev);
        prev = s->acked[i];
    }
    prev = s->ack_floor;
    for (size_t i = 0; i < s->redelivered_count; i++) {
        w = s_varint_put(w, s->redelivered[i].seq - prev);
        w = s_varint_put(w, s->redelivered[i].count);
        prev = s->redelivered[i].seq;
    }
    fdy_bytes_put_le32(p, fdy_crc32c(0, p + 4, size - 4));
}

static foundry_err
s_state_decode(const MDB_val *v, const char *stream, uint32_t stream_id, const char *name,
               fdy_consumer_state_t *s, fdy_reason_t *reason)
{
    const uint8_t *p = v->mv_data, *end = p + v->mv_size;
    memset(s, 0, sizeof *s);
    s->stream_id = stream_id;
    snprintf(s->name, sizeof s->name, "%s", name);
    if (v->mv_size < S_STATE_FIXED ||
        fdy_crc32c(0, p + 4, v->mv_size - 4) != fdy_bytes_get_le32(p) || p[4] != S_STATE_VERSION)
        goto corrupt;
    s->ack_floor = fdy_bytes_get_le64(p + 8);
    s->delivered_seq = fdy_bytes_get_le64(p + 16);
    s->updated_ns = fdy_bytes_get_le64(p + 24);
    size_t acked = fdy_bytes_get_le32(p + 32), redelivered = fdy_bytes_get_le32(p + 36);
    /* Every entry takes at least one byte (two for a redelivery). */
    if (s->ack_floor > s->delivered_seq || acked > FDY_CONSUMER_PENDING_MAX ||
        redelivered > FDY_CONSUMER_PENDING_MAX ||
        acked + 2 * redelivered > v->mv_size - S_STATE_FIXED)
        goto corrupt;
    if (acked && !(s->acked = malloc(acked * sizeof *s->acked)))
        goto oom;
    if (redelivered && !(s->redelivered = malloc(redelivered * sizeof *s->redelivered)))
        goto oom;
    p += S_STATE_FIXED;
    uint64_t prev = s->ack_floor, d, count;
    for (size_t i = 0; i < acked; i++) {
        if (!s_varint_get(&p, end, &d) || d == 0 || d > s->delivered_seq - prev)
            goto corrupt;
        prev += d;
        s->acked[s->acked_count++] = prev;
    }
    prev = s->ack_floor;
    for (size_t i = 0; i < redelivered; i++) {
        if (!s_varint_get(&p, end, &d) || d == 0 || d > s->delivered_seq - prev ||
            !s_varint_get(&p, end, &count) || count == 0 || count > UINT32_MAX)
            goto corrupt;
        prev += d;
        s->redelivered[s->redelivered_count].seq = prev;
        s->redelivered[s->redelivered_count++].count = (uint32_t) count;
    }
    if (p != end)
        goto corrupt;
    return FOUNDRY_OK;
corrupt:
    return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: consumer %s: damaged state record",
                          stream, name);
oom:
    return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
}

foundry_err
fdy_store_state_put(fdy_store_t *self, MDB_txn *txn, const fdy_consumer_state_t *state,
                    uint64_t now_ns, fdy_reason_t *reason)
{
    uint8_t key[FDY_CONSUMER_KEY_MAX];
    MDB_val k = { s_key(key, state->stream_id, state->name), key }, v;
    int rc = mdb_get(txn, fdy_store_consumers_dbi(self), &k, &v);
    if (rc == MDB_NOTFOUND)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND,
                              "consumer %s of stream id %u does not exist", state->name,
                              state->stream_id);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "save consumer state");
    size_t size = s_state_size(state);
    v.mv_size = size;
    v.mv_data = NULL;
    rc = mdb_put(txn, s_states_dbi(self), &k, &v, MDB_RESERVE);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "save consumer state");
    s_state_encode(v.mv_data, size, state, now_ns);
    return FOUNDRY_OK;
}

/* ---- per-stream ranges -------------------------------------------------- */

typedef foundry_err(s_range_fn)(MDB_cursor *cursor, const MDB_val *k, const MDB_val *v,
                                void *user, fdy_reason_t *reason);

/* Calls fn for every record of dbi whose key starts with stream_id. */
static foundry_err
s_range(MDB_txn *txn, MDB_dbi dbi, uint32_t stream_id, s_range_fn *fn, void *user,
        fdy_reason_t *reason)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, dbi, &cursor);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "consumers: open cursor");
    uint8_t prefix[4];
    fdy_bytes_put_be32(prefix, stream_id);
    MDB_val k = { sizeof prefix, prefix }, v;
    foundry_err err = FOUNDRY_OK;
    rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size > 4 && memcmp(k.mv_data, prefix, 4) == 0) {
        err = fn(cursor, &k, &v, user, reason);
        if (err != FOUNDRY_OK)
            goto out;
        rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        err = fdy_kv_err(rc, reason, "consumers: walk");
out:
    mdb_cursor_close(cursor);
    return err;
}

static foundry_err
s_drop_one(MDB_cursor *cursor, const MDB_val *k, const MDB_val *v, void *user,
           fdy_reason_t *reason)
{
    (void) k;
    (void) v;
    (void) user;
    int rc = mdb_cursor_del(cursor, 0);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "delete consumer");
    return FOUNDRY_OK;
}

foundry_err
fdy_store_consumers_drop(fdy_store_t *self, MDB_txn *txn, uint32_t stream_id,
                         fdy_reason_t *reason)
{
    /* After a delete the cursor sits on the next record already, which the
     * walk's MDB_NEXT then returns (LMDB remembers the delete). */
    foundry_err err =
        s_range(txn, fdy_store_consumers_dbi(self), stream_id, s_drop_one, NULL, reason);
    if (err == FOUNDRY_OK)
        err = s_range(txn, s_states_dbi(self), stream_id, s_drop_one, NULL, reason);
    return err;
}

static foundry_err
s_name_one(MDB_cursor *cursor, const MDB_val *k, const MDB_val *v, void *user,
           fdy_reason_t *reason)
{
    (void) cursor;
    (void) v;
    fdy_stream_info_t *info = user;
    size_t len = k->mv_size - 4;
    if (len > FDY_CONSUMER_NAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "consumer name of %zu bytes", len);
    char **names = realloc(info->consumers, (info->consumer_count + 1) * sizeof *names);
    if (!names)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    info->consumers = names;
    char *name = malloc(len + 1);
    if (!name)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    memcpy(name, (const uint8_t *) k->mv_data + 4, len);
    name[len] = '\0';
    info->consumers[info->consumer_count++] = name;
    return FOUNDRY_OK;
}

foundry_err
fdy_store_consumer_names(fdy_store_t *self, MDB_txn *txn, uint32_t stream_id,
                         fdy_stream_info_t *info, fdy_reason_t *reason)
{
    return s_range(txn, fdy_store_consumers_dbi(self), stream_id, s_name_one, info, reason);
}

/* ---- create ------------------------------------------------------------- */

/* The first seq whose record was stored at or after t_ns, by binary search
 * (records are stored in wall-clock order while the clock never steps
 * back); last_seq + 1 when none. */
static foundry_err
s_seq_at_time(MDB_txn *txn, MDB_dbi dbi, const char *stream, const fdy_stream_counters_t *c,
              uint64_t t_ns, uint64_t *seq_out, fdy_reason_t *reason)
{
    uint64_t lo = c->first_seq ? c->first_seq : c->last_seq + 1, hi = c->last_seq + 1;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint8_t key[FDY_MSG_KEY_LEN];
        fdy_store_msg_key(key, mid);
        MDB_val k = { sizeof key, key }, v;
        int rc = mdb_get(txn, dbi, &k, &v);
        if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size < FDY_MSG_HEADER_LEN))
            return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                                  "stream %s: seq %llu missing or damaged", stream,
                                  (unsigned long long) mid);
        if (rc != 0)
            return fdy_kv_err(rc, reason, "consumer start: read");
        if (fdy_bytes_get_le64((const uint8_t *) v.mv_data + 8) < t_ns)
            lo = mid + 1;
        else
            hi = mid;
    }
    *seq_out = lo;
    return FOUNDRY_OK;
}

typedef struct {
    const char *stream;
    MDB_dbi dbi;
    fdy_consumer_config_t cfg;
} s_consumer_create_t;

static foundry_err
s_create_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    s_consumer_create_t *cc = ctx;
    (void) skip_commit;
    fdy_stream_counters_t c;
    uint8_t key[FDY_CONSUMER_KEY_MAX];
    MDB_val k, v;
    foundry_err err = s_consumer_key_in(self, txn, cc->stream, cc->cfg.name, &c, key, &k, reason);
    if (err != FOUNDRY_OK)
        return err;
    int rc = mdb_get(txn, fdy_store_consumers_dbi(self), &k, &v);
    if (rc == 0)
        return fdy_reason_set(reason, FOUNDRY_EEXIST, "stream %s: consumer %s already exists",
                              cc->stream, cc->cfg.name);
    if (rc != MDB_NOTFOUND)
        return fdy_kv_err(rc, reason, "create consumer");

    /* The seq before the first one to deliver. */
    uint64_t floor = 0, first = 0;
    switch (cc->cfg.start) {
    case FDY_CONSUMER_START_FIRST:
        floor = c.first_seq ? c.first_seq - 1 : c.last_seq;
        break;
    case FDY_CONSUMER_START_LAST:
        floor = c.messages ? c.last_seq - 1 : c.last_seq;
        break;
    case FDY_CONSUMER_START_NEW:
        floor = c.last_seq;
        break;
    case FDY_CONSUMER_START_SEQ:
        floor = cc->cfg.start_value - 1;
        break;
    case FDY_CONSUMER_START_TIME:
        err = s_seq_at_time(txn, cc->dbi, cc->stream, &c, cc->cfg.start_value, &first, reason);
        if (err != FOUNDRY_OK)
            return err;
        floor = first - 1;
        break;
    }

    uint8_t rec[S_CONFIG_FIXED + FOUNDRY_SUBJECT_MAX];
    v.mv_size = s_config_encode(rec, &cc->cfg);
    v.mv_data = rec;
    rc = mdb_put(txn, fdy_store_consumers_dbi(self), &k, &v, MDB_NOOVERWRITE);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "create consumer");
    fdy_consumer_state_t state = { .stream_id = c.id, .ack_floor = floor, .delivered_seq = floor };
    snprintf(state.name, sizeof state.name, "%s", cc->cfg.name);
    return fdy_store_state_put(self, txn, &state, cc->cfg.created_ns, reason);
}

foundry_err
fdy_store_consumer_create(fdy_store_t *self, const char *stream, const fdy_consumer_config_t *cfg,
                          fdy_reason_t *reason)
{
    if (!fdy_store_name_valid(stream, FOUNDRY_STREAM_NAME_MAX))
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%.80s\"",
                              stream ? stream : "");
    if (!cfg || !fdy_store_name_valid(cfg->name, FDY_CONSUMER_NAME_MAX))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "consumer name \"%.80s\": must be 1..%d of [A-Za-z0-9_-]",
                              cfg ? cfg->name : "", FDY_CONSUMER_NAME_MAX);
    fdy_reason_t why;
    why.text[0] = '\0';
    if (cfg->filter[0] && fdy_filter_validate(cfg->filter, &why) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "consumer %s: filter \"%.80s\": %s",
                              cfg->name, cfg->filter, why.text[0] ? why.text : "invalid");
    if ((unsigned) cfg->start > FDY_CONSUMER_START_TIME)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "consumer %s: unknown start policy %d",
                              cfg->name, (int) cfg->start);
    if (cfg->start == FDY_CONSUMER_START_SEQ && cfg->start_value == 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "consumer %s: start seq must be >= 1",
                              cfg->name);
    if (fdy_store_writable(self, reason) != FOUNDRY_OK)
        return FOUNDRY_ESTORE;
    uint32_t id;
    if (fdy_store_stream_lookup(self, stream, &id) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%s\"", stream);
    s_consumer_create_t cc = { stream, fdy_store_stream_find(self, id)->dbi, *cfg };
    cc.cfg.created_ns = fdy_clock_wall_ns();
    return fdy_store_write(self, s_create_txn, &cc, reason);
}

/* ---- get, list, delete -------------------------------------------------- */

/* Reads the state of the consumer whose config record is (k, v). */
static foundry_err
s_consumer_read(fdy_store_t *self, MDB_txn *txn, const char *stream, uint32_t stream_id,
                const MDB_val *k, const MDB_val *v, fdy_consumer_t *out, fdy_reason_t *reason)
{
    char name[FDY_CONSUMER_NAME_MAX + 1];
    size_t len = k->mv_size - 4;
    if (k->mv_size <= 4 || len > FDY_CONSUMER_NAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: bad consumer key", stream);
    memcpy(name, (const uint8_t *) k->mv_data + 4, len);
    name[len] = '\0';
    foundry_err err = s_config_decode(v, stream, name, &out->config, reason);
    if (err != FOUNDRY_OK)
        return err;
    MDB_val sk = *k, sv;
    int rc = mdb_get(txn, s_states_dbi(self), &sk, &sv);
    if (rc == MDB_NOTFOUND)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "stream %s: consumer %s: state missing",
                              stream, name);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "read consumer state");
    return s_state_decode(&sv, stream, stream_id, name, &out->state, reason);
}

void
fdy_store_consumer_clear(fdy_consumer_t *consumer)
{
    if (!consumer)
        return;
    free(consumer->state.acked);
    free(consumer->state.redelivered);
    consumer->state.acked = NULL;
    consumer->state.redelivered = NULL;
    consumer->state.acked_count = consumer->state.redelivered_count = 0;
}

foundry_err
fdy_store_consumer_get(fdy_store_t *self, const char *stream, const char *name,
                       fdy_consumer_t *out, fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    if (!fdy_store_name_valid(stream, FOUNDRY_STREAM_NAME_MAX))
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%.80s\"",
                              stream ? stream : "");
    if (!fdy_store_name_valid(name, FDY_CONSUMER_NAME_MAX))
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "stream %s: no consumer \"%.80s\"",
                              stream, name ? name : "");
    MDB_txn *txn;
    foundry_err err = fdy_kv_rtxn_begin(self->kv, &txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_stream_counters_t c;
    uint8_t key[FDY_CONSUMER_KEY_MAX];
    MDB_val k, v;
    err = s_consumer_key_in(self, txn, stream, name, &c, key, &k, reason);
    if (err == FOUNDRY_OK) {
        int rc = mdb_get(txn, fdy_store_consumers_dbi(self), &k, &v);
        if (rc == MDB_NOTFOUND)
            err = fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "stream %s: no consumer \"%s\"",
                                 stream, name);
        else if (rc != 0)
            err = fdy_kv_err(rc, reason, "read consumer");
        else
            err = s_consumer_read(self, txn, stream, c.id, &k, &v, out, reason);
    }
    fdy_kv_rtxn_end(self->kv, txn);
    if (err != FOUNDRY_OK) {
        fdy_store_consumer_clear(out);
        memset(out, 0, sizeof *out);
    }
    return err;
}

typedef struct {
    fdy_store_t *self;
    MDB_txn *txn;
    const char *stream;
    uint32_t stream_id;
    fdy_consumer_t *items;
    size_t count;
    size_t capacity;
} s_list_t;

static foundry_err
s_list_one(MDB_cursor *cursor, const MDB_val *k, const MDB_val *v, void *user,
           fdy_reason_t *reason)
{
    (void) cursor;
    s_list_t *l = user;
    if (l->count == l->capacity) {
        size_t cap = l->capacity ? l->capacity * 2 : 4;
        fdy_consumer_t *items = realloc(l->items, cap * sizeof *items);
        if (!items)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
        l->items = items;
        l->capacity = cap;
    }
    fdy_consumer_t *out = &l->items[l->count++];
    memset(out, 0, sizeof *out);
    return s_consumer_read(l->self, l->txn, l->stream, l->stream_id, k, v, out, reason);
}

void
fdy_store_consumers_free(fdy_consumer_t **consumers_p, size_t count)
{
    if (!consumers_p || !*consumers_p)
        return;
    for (size_t i = 0; i < count; i++)
        fdy_store_consumer_clear(&(*consumers_p)[i]);
    free(*consumers_p);
    *consumers_p = NULL;
}

foundry_err
fdy_store_consumer_list(fdy_store_t *self, const char *stream, fdy_consumer_t **out,
                        size_t *count_out, fdy_reason_t *reason)
{
    *out = NULL;
    *count_out = 0;
    if (!fdy_store_name_valid(stream, FOUNDRY_STREAM_NAME_MAX))
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%.80s\"",
                              stream ? stream : "");
    s_list_t l = { .self = self, .stream = stream };
    foundry_err err = fdy_kv_rtxn_begin(self->kv, &l.txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_stream_counters_t c;
    err = fdy_store_stream_counters_get(self, l.txn, stream, &c, reason);
    if (err == FOUNDRY_OK) {
        l.stream_id = c.id;
        err = s_range(l.txn, fdy_store_consumers_dbi(self), c.id, s_list_one, &l, reason);
    }
    fdy_kv_rtxn_end(self->kv, l.txn);
    if (err != FOUNDRY_OK) {
        fdy_store_consumers_free(&l.items, l.count);
        return err;
    }
    *out = l.items;
    *count_out = l.count;
    return FOUNDRY_OK;
}

typedef struct {
    const char *stream;
    const char *name;
} s_delete_t;

static foundry_err
s_delete_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    s_delete_t *d = ctx;
    (void) skip_commit;
    fdy_stream_counters_t c;
    uint8_t key[FDY_CONSUMER_KEY_MAX];
    MDB_val k;
    foundry_err err = s_consumer_key_in(self, txn, d->stream, d->name, &c, key, &k, reason);
    if (err != FOUNDRY_OK)
        return err;
    int rc = mdb_del(txn, fdy_store_consumers_dbi(self), &k, NULL);
    if (rc == MDB_NOTFOUND)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "stream %s: no consumer \"%s\"", d->stream,
                              d->name);
    if (rc == 0)
        rc = mdb_del(txn, s_states_dbi(self), &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return fdy_kv_err(rc, reason, "delete consumer");
    return FOUNDRY_OK;
}

foundry_err
fdy_store_consumer_delete(fdy_store_t *self, const char *stream, const char *name,
                          fdy_reason_t *reason)
{
    if (!fdy_store_name_valid(stream, FOUNDRY_STREAM_NAME_MAX))
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named \"%.80s\"",
                              stream ? stream : "");
    if (!fdy_store_name_valid(name, FDY_CONSUMER_NAME_MAX))
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "stream %s: no consumer \"%.80s\"",
                              stream, name ? name : "");
    if (fdy_store_writable(self, reason) != FOUNDRY_OK)
        return FOUNDRY_ESTORE;
    s_delete_t d = { stream, name };
    return fdy_store_write(self, s_delete_txn, &d, reason);
}

/* ---- the states part of a commit --------------------------------------- */

static foundry_err
s_states_prepare(void *data, fdy_store_t *store, fdy_reason_t *reason)
{
    (void) store;
    fdy_store_states_t *d = data;
    if (d->count && !d->items)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "batch: NULL array");
    for (size_t i = 0; i < d->count; i++) {
        foundry_err err = fdy_store_state_check(&d->items[i], i, reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    return FOUNDRY_OK;
}

static foundry_err
s_states_write(void *data, fdy_store_t *store, MDB_txn *txn, uint64_t now_ns, size_t *writes,
               fdy_reason_t *reason)
{
    fdy_store_states_t *d = data;
    for (size_t i = 0; i < d->count; i++) {
        foundry_err err = fdy_store_state_put(store, txn, &d->items[i], now_ns, reason);
        if (err != FOUNDRY_OK)
            return err;
        (*writes)++;
    }
    return FOUNDRY_OK;
}

const fdy_commit_part_t fdy_store_states_part = {
    .name = "consumer-states",
    .prepare = s_states_prepare,
    .write = s_states_write,
    .reset = NULL, /* states have no out-fields */
    .droppable = true,
};

/* ---- store check ---------------------------------------------------------- */

/* A config (db 0) or state (db 1) record decodes with its checksum. */
static foundry_err
s_consumers_check(const fdy_store_t *self, size_t db_index, const MDB_val *prev_key,
                  const MDB_val *key, const MDB_val *value, fdy_reason_t *reason)
{
    (void) prev_key;
    (void) self;
    char name[FDY_CONSUMER_NAME_MAX + 1];
    if (key->mv_size <= 4 || key->mv_size > FDY_CONSUMER_KEY_MAX)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "consumer record with a %zu-byte key",
                              key->mv_size);
    uint32_t stream_id = fdy_bytes_get_be32(key->mv_data);
    memcpy(name, (const uint8_t *) key->mv_data + 4, key->mv_size - 4);
    name[key->mv_size - 4] = '\0';
    char stream[24];
    snprintf(stream, sizeof stream, "id %u", stream_id);
    if (db_index == 0) {
        fdy_consumer_config_t cfg;
        return s_config_decode(value, stream, name, &cfg, reason);
    }
    fdy_consumer_state_t state;
    foundry_err err = s_state_decode(value, stream, stream_id, name, &state, reason);
    free(state.acked);
    free(state.redelivered);
    return err;
}
