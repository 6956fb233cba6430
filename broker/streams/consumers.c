/*  consumers.c: durable consumers at run time. Each loaded consumer keeps
 *  its window (ack floor, delivered seq] in an fdy_window_t
 *  (consumer_window.c), which says which seqs are pending, due or acked;
 *  this file reads the records, picks the subscription and dead-letters.
 *  Reads go through fdy_store_read() once per stream per page, fanned out
 *  to every consumer at that seq. What is saved (fdy_consumer_state_t) is
 *  derived from the ring when the group commit asks for it. Not for
 *  sockets or framing (subs.c) nor ephemeral tails (tail.c).
 */
#include "consumers.h"

#include "acl.h"
#include "clock.h"
#include "consumer_window.h"
#include "log.h"
#include "record_cache.h"
#include "subject.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Records per fdy_store_read() call, and read per turn for new deliveries
 * across all streams: bounds how long deliveries hold up the next turn's
 * publishes. */
#define PAGE_RECORDS 2048u
#define TURN_RECORDS 65536u
/* Due seqs this close together are read as one range. */
#define DUE_RUN_GAP      16u
#define SAVE_EVERY_MS    200
#define CACHE_BYTES      (8u * 1024u * 1024u)
#define CACHE_ENTRIES    32768u
#define CACHE_RECORD_MAX (CACHE_BYTES / 16u)
#define DEAD_GIVE_UP     3
#define DEAD_REASON_MAX  128
/* fdy_store_read() stops on any error a callback returns: this one means
 * "enough for now", not a failure. */
#define READ_STOP FOUNDRY_ECLOSED

typedef struct {
    uint32_t id;
    char name[FOUNDRY_STREAM_NAME_MAX + 1];
    uint64_t last_seq;
    fdy_consumer_rt_t **consumers;
    size_t count;
    size_t cap;
    fdy_record_cache_t *cache; /* once the stream has two consumers */
} stream_rt_t;

struct fdy_consumer_rt {
    stream_rt_t *stream;
    fdy_consumer_config_t cfg;
    fdy_window_t *window;
    fdy_sub_t **bindings;
    size_t binding_count;
    size_t binding_cap;
    size_t rr;
};

typedef struct {
    fdy_dead_letter_t dl;
    char consumer[FDY_CONSUMER_NAME_MAX + 1];
    char reason[DEAD_REASON_MAX];
} dead_t;

/* What a turn's commit saves for the consumers. */
typedef struct {
    fdy_store_dead_letters_t dead;
    fdy_store_states_t states;
    bool added;
} saves_t;

struct fdy_consumers {
    saves_t saves; /* the part added to the turn's commit, if any */
    fdy_store_t *store;
    fdy_subs_t *subs;
    stream_rt_t **streams;
    size_t stream_count;
    size_t stream_cap;
    size_t next_stream; /* where the next turn starts, for fairness */
    dead_t *dead;
    size_t dead_count;
    size_t dead_cap;
    fdy_dead_letter_t *dead_batch;
    size_t dead_batch_cap;
    fdy_consumer_state_t *states;
    size_t states_cap;
    fdy_consumer_rt_t **collected;
    size_t collected_cap;
    size_t collected_count;
    int failures;
    int64_t last_save_ms;
    fdy_consumer_rt_t **eligible;
    size_t eligible_cap;
    fdy_subs_shared_t shared; /* the record being served to every consumer */
};

/* ---- memory --------------------------------------------------------------- */

/* ---- bindings ------------------------------------------------------------- */

static bool
s_any_credit(const fdy_consumer_rt_t *c)
{
    for (size_t i = 0; i < c->binding_count; i++)
        if (fdy_subs_has_credit(c->bindings[i]))
            return true;
    return false;
}

/* True when some binding may not read everything: deliveries must then
 * check each message's stored subject (a stream's filters can change after
 * messages were stored under others). */
static bool
s_restricted(const fdy_consumer_rt_t *c)
{
    for (size_t i = 0; i < c->binding_count; i++)
        if (c->bindings[i]->read_grant)
            return true;
    return false;
}

typedef enum {
    PICK_SEND, /* *sub_out may have it */
    PICK_WAIT, /* a binding may read it, but none of those has credit now */
    PICK_SKIP, /* no binding may read it: passed over, as a filter would */
} pick_t;

/* Round robin over the bound clients that have credit and may read a
 * message stored under subject (NULL: no binding is restricted). */
static pick_t
s_pick(fdy_consumer_rt_t *c, const char *subject, fdy_sub_t **sub_out)
{
    size_t n = c->binding_count;
    bool readable = false;
    *sub_out = NULL;
    for (size_t k = 0; k < n; k++) {
        size_t i = (c->rr + k) % n;
        fdy_sub_t *sub = c->bindings[i];
        if (subject && !fdy_acl_grant_reads(sub->read_grant, subject))
            continue;
        readable = true;
        if (fdy_subs_has_credit(sub)) {
            c->rr = (i + 1) % n;
            *sub_out = sub;
            return PICK_SEND;
        }
    }
    return readable ? PICK_WAIT : PICK_SKIP;
}

/* ---- lifecycle ------------------------------------------------------------- */

fdy_consumers_t *
fdy_consumers_new(fdy_store_t *store, fdy_subs_t *subs)
{
    fdy_consumers_t *self = fdy_xalloc(sizeof *self);
    self->store = store;
    self->subs = subs;
    return self;
}

static void
s_consumer_free(fdy_consumer_rt_t *c)
{
    fdy_window_destroy(&c->window);
    free(c->bindings);
    free(c);
}

static void
s_stream_free(stream_rt_t *st)
{
    for (size_t i = 0; i < st->count; i++)
        s_consumer_free(st->consumers[i]);
    free(st->consumers);
    fdy_record_cache_destroy(&st->cache);
    free(st);
}

void
fdy_consumers_destroy(fdy_consumers_t **self_p)
{
    fdy_consumers_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->stream_count; i++)
        s_stream_free(self->streams[i]);
    free(self->streams);
    free(self->dead);
    free(self->dead_batch);
    free(self->states);
    free(self->collected);
    free(self->eligible);
    fdy_subs_shared_free(&self->shared);
    free(self);
    *self_p = NULL;
}

static stream_rt_t *
s_stream_find(const fdy_consumers_t *self, uint32_t id)
{
    for (size_t i = 0; i < self->stream_count; i++)
        if (self->streams[i]->id == id)
            return self->streams[i];
    return NULL;
}

static fdy_consumer_rt_t *
s_consumer_find(const stream_rt_t *st, const char *name)
{
    for (size_t i = 0; i < st->count; i++)
        if (strcmp(st->consumers[i]->cfg.name, name) == 0)
            return st->consumers[i];
    return NULL;
}

/* Builds the run-time window from a saved state: what was delivered and
 * not acked before the broker stopped is due again at once. */
static fdy_consumer_rt_t *
s_consumer_load(stream_rt_t *st, const fdy_consumer_t *rec)
{
    fdy_consumer_rt_t *c = fdy_xalloc(sizeof *c);
    c->stream = st;
    c->cfg = rec->config;
    fdy_window_limits_t limits = {
        .ack_wait_ms = c->cfg.ack_wait_ms,
        .max_deliver = c->cfg.max_deliver,
        .max_ack_pending = c->cfg.max_ack_pending,
        .width_max = FDY_CONSUMERS_WINDOW_MAX,
    };
    c->window = fdy_window_new(&limits, &rec->state);
    return c;
}

foundry_err
fdy_consumers_bind(fdy_consumers_t *self, fdy_sub_t *sub, const fdy_principal_t *p,
                   const char *stream, const char *name, fdy_reason_t *reason)
{
    fdy_stream_info_t info;
    fdy_consumer_t rec;
    memset(&rec, 0, sizeof rec);
    foundry_err err = fdy_store_stream_info(self->store, stream, &info, reason);
    if (err == FOUNDRY_ENOTFOUND)
        fdy_reason_set(reason, err, "no stream named '%.64s'", stream);
    else if (err == FOUNDRY_OK) {
        err = fdy_store_consumer_get(self->store, stream, name, &rec, reason);
        if (err == FOUNDRY_ENOTFOUND)
            fdy_reason_set(reason, err, "stream '%.64s' has no consumer '%.64s'", stream, name);
    }
    if (err == FOUNDRY_OK)
        err = fdy_acl_check_consumer(p, (const char *const *) info.filters, info.filter_count,
                                     rec.config.filter, stream, reason);
    if (err != FOUNDRY_OK)
        goto out;

    stream_rt_t *st = s_stream_find(self, info.id);
    if (!st) {
        st = fdy_xalloc(sizeof *st);
        st->id = info.id;
        snprintf(st->name, sizeof st->name, "%s", info.name);
        st->last_seq = info.last_seq;
        self->streams =
            fdy_xgrow(self->streams, &self->stream_cap, self->stream_count + 1, sizeof *self->streams);
        self->streams[self->stream_count++] = st;
    }
    fdy_consumer_rt_t *c = s_consumer_find(st, name);
    if (!c) {
        c = s_consumer_load(st, &rec);
        st->consumers = fdy_xgrow(st->consumers, &st->cap, st->count + 1, sizeof *st->consumers);
        st->consumers[st->count++] = c;
        fdy_log_info("CONSUMER-LOADED",
                     "stream %s consumer %s: floor %" PRIu64 ", delivered %" PRIu64 ", %" PRIu64
                     " to redeliver",
                     st->name, c->cfg.name, fdy_window_floor(c->window),
                     fdy_window_delivered(c->window), fdy_window_pending(c->window));
    }
    c->bindings = fdy_xgrow(c->bindings, &c->binding_cap, c->binding_count + 1, sizeof *c->bindings);
    c->bindings[c->binding_count++] = sub;
    sub->consumer = c;
    sub->stream_id = c->stream->id;
    sub->read_grant = fdy_acl_grant_new(p);
out:
    fdy_store_consumer_clear(&rec);
    fdy_store_stream_info_clear(&info);
    return err;
}

void
fdy_consumers_unbind(fdy_consumers_t *self, fdy_sub_t *sub)
{
    (void) self;
    fdy_consumer_rt_t *c = sub->consumer;
    if (!c)
        return;
    for (size_t i = 0; i < c->binding_count; i++) {
        if (c->bindings[i] == sub) {
            c->bindings[i] = c->bindings[--c->binding_count];
            break;
        }
    }
    c->rr = 0;
    fdy_window_release(c->window, sub->id);
    sub->consumer = NULL;
}

foundry_err
fdy_consumers_recheck(fdy_consumers_t *self, fdy_sub_t *sub, const fdy_principal_t *p,
                      fdy_reason_t *reason)
{
    fdy_consumer_rt_t *c = sub->consumer;
    if (!c)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "not bound");
    fdy_stream_info_t info;
    foundry_err err = fdy_store_stream_info(self->store, c->stream->name, &info, reason);
    if (err == FOUNDRY_OK)
        err = fdy_acl_check_consumer(p, (const char *const *) info.filters, info.filter_count,
                                     c->cfg.filter, c->stream->name, reason);
    fdy_store_stream_info_clear(&info);
    if (err == FOUNDRY_OK) {   /* its grant may have changed with the key */
        fdy_acl_grant_destroy(&sub->read_grant);
        sub->read_grant = fdy_acl_grant_new(p);
    }
    return err;
}

uint32_t
fdy_consumers_stream_of(const fdy_sub_t *sub)
{
    return sub->consumer ? sub->consumer->stream->id : 0;
}

/* ---- acks ----------------------------------------------------------------- */

foundry_err
fdy_consumers_ack(fdy_consumers_t *self, fdy_sub_t *sub, const uint64_t *seqs, size_t seq_count,
                  uint64_t floor, fdy_reason_t *reason)
{
    (void) self;
    fdy_consumer_rt_t *c = sub->consumer;
    if (!c)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "subscription %" PRIu32 " is not durable",
                              sub->id);
    /* All or nothing: check everything before changing anything. */
    uint64_t delivered = fdy_window_delivered(c->window);
    if (floor > delivered)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "ack floor %" PRIu64 " was never delivered to subscription %" PRIu32
                              " (delivered up to %" PRIu64 ")",
                              floor, sub->id, delivered);
    for (size_t i = 0; i < seq_count; i++)
        if (seqs[i] == 0 || seqs[i] > delivered)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "seq %" PRIu64 " was never delivered to subscription %" PRIu32,
                                  seqs[i], sub->id);
    for (size_t i = 0; i < seq_count; i++)
        fdy_window_ack(c->window, seqs[i]);
    fdy_window_ack_floor(c->window, floor, sub->id);
    return FOUNDRY_OK;
}

/* ---- dead letters ------------------------------------------------------------ */

static void
s_dead_letter(fdy_consumers_t *self, fdy_consumer_rt_t *c, uint64_t seq, uint32_t count)
{
    self->dead = fdy_xgrow(self->dead, &self->dead_cap, self->dead_count + 1, sizeof *self->dead);
    dead_t *d = &self->dead[self->dead_count++];
    memset(d, 0, sizeof *d);
    d->dl.stream_id = c->stream->id;
    d->dl.seq = seq;
    d->dl.deliveries = count;
    snprintf(d->consumer, sizeof d->consumer, "%s", c->cfg.name);
    snprintf(d->reason, sizeof d->reason, "max_deliver %" PRIu32 " reached without ack",
             c->cfg.max_deliver);
    fdy_log_info("CONSUMER-DEAD-LETTER",
                 "stream %s consumer %s: seq %" PRIu64 " dead-lettered after %" PRIu32
                 " deliveries",
                 c->stream->name, c->cfg.name, seq, count);
}

/* Deliveries whose ack_wait ran out become due (or dead letters). */
static void
s_expire(fdy_consumers_t *self, fdy_consumer_rt_t *c, int64_t now_ms)
{
    uint64_t seq;
    uint32_t count;
    while (fdy_window_expire(c->window, now_ms, &seq, &count))
        s_dead_letter(self, c, seq, count);
}

/* ---- sending ------------------------------------------------------------------- */

typedef struct {
    fdy_consumers_t *self;
    stream_rt_t *st;
    fdy_consumer_rt_t *c; /* redelivery: the one consumer */
    size_t n;             /* new deliveries: entries of self->eligible */
    uint64_t from;
    uint64_t to; /* redelivery: last seq of the run */
    bool seen;
    size_t records;
    int64_t now_ms;
    bool filtered; /* some eligible consumer has a filter */
} read_ctx_t;

/* shared: the record's encoding shared by the consumers it goes to, or
 * NULL to encode it for this one alone. */
static void
s_send(fdy_consumers_t *self, fdy_consumer_rt_t *c, fdy_sub_t *sub, const fdy_stored_t *rec,
       int64_t now_ms, fdy_subs_shared_t *shared)
{
    uint32_t count = fdy_window_send(c->window, rec->seq, sub->id, now_ms);
    fdy_delivery_t d = {
        .stream = c->stream->name,
        .seq = rec->seq,
        .delivery_count = count,
        .stored_ns = rec->stored_ns,
        .publisher = rec->publisher,
        .message = rec->data,
        .message_len = rec->data_len,
        .ext = rec->ext,
        .ext_len = rec->ext_len,
    };
    if (shared)
        fdy_subs_put_shared(self->subs, sub, &d, shared);
    else
        fdy_subs_put(self->subs, sub, &d);
}

/* The record's subject, found once per record ("" when it has none). */
static const char *
s_subject(const fdy_stored_t *rec, char *subject, bool *subject_ready)
{
    if (!*subject_ready) {
        fdy_slice_t slice;
        subject[0] = '\0';
        if (fdy_codec_msg_subject(rec->data, rec->data_len, &slice) &&
            slice.len <= FOUNDRY_SUBJECT_MAX) {
            memcpy(subject, slice.data, slice.len);
            subject[slice.len] = '\0';
        }
        *subject_ready = true;
    }
    return subject;
}

static bool
s_filter_matches(const fdy_consumer_rt_t *c, const fdy_stored_t *rec, char *subject,
                 bool *subject_ready)
{
    if (!c->cfg.filter[0])
        return true;
    s_subject(rec, subject, subject_ready);
    return subject[0] && fdy_subject_matches(c->cfg.filter, subject);
}

/* Picks who gets rec, checking its stored subject when some binding is
 * restricted. */
static pick_t
s_pick_for(fdy_consumer_rt_t *c, const fdy_stored_t *rec, char *subject, bool *subject_ready,
           fdy_sub_t **sub_out)
{
    const char *checked = s_restricted(c) ? s_subject(rec, subject, subject_ready) : NULL;
    pick_t pick = s_pick(c, checked, sub_out);
    if (pick == PICK_SKIP)
        fdy_log_limited(FDY_LOG_INFO, "CONSUMER-UNREADABLE",
                        "stream %s consumer %s: seq %" PRIu64 " (subject '%s') passed over: "
                        "no bound client may read it",
                        c->stream->name, c->cfg.name, rec->seq, checked ? checked : "");
    return pick;
}

/* ---- redelivery -------------------------------------------------------------- */

static foundry_err
s_redeliver_one(const fdy_stored_t *rec, void *user)
{
    read_ctx_t *ctx = user;
    fdy_consumer_rt_t *c = ctx->c;
    ctx->records++;
    if (!ctx->seen) {
        ctx->seen = true;
        if (rec->seq > ctx->from)
            fdy_window_trim(c->window, rec->seq); /* trimmed meanwhile */
    }
    if (rec->seq > ctx->to)
        return READ_STOP;
    if (!fdy_window_is_due(c->window, rec->seq))
        return FOUNDRY_OK;
    uint32_t count;
    if (fdy_window_give_up(c->window, rec->seq, &count)) {
        s_dead_letter(ctx->self, c, rec->seq, count);
        return FOUNDRY_OK;
    }
    char subject[FOUNDRY_SUBJECT_MAX + 1];
    bool subject_ready = false;
    fdy_sub_t *sub = NULL;
    pick_t pick = s_pick_for(c, rec, subject, &subject_ready, &sub);
    if (pick == PICK_WAIT)
        return READ_STOP;
    if (pick == PICK_SKIP) {
        fdy_window_ack(c->window, rec->seq);
        return FOUNDRY_OK;
    }
    s_send(ctx->self, c, sub, rec, ctx->now_ms, NULL);
    return FOUNDRY_OK;
}

/* Sends due seqs while credit lasts, reading runs of nearby seqs at once.
 * Returns the records read. */
static size_t
s_redeliver(fdy_consumers_t *self, fdy_consumer_rt_t *c, int64_t now_ms, size_t budget)
{
    if (fdy_window_due_count(c->window) == 0 || c->binding_count == 0)
        return 0;
    fdy_window_due_begin(c->window);
    size_t read = 0, cursor = 0;
    uint64_t start, end;
    while (read < budget && s_any_credit(c) &&
           fdy_window_due_next(c->window, &cursor, DUE_RUN_GAP, PAGE_RECORDS, &start, &end)) {
        read_ctx_t ctx = {
            .self = self, .st = c->stream, .c = c, .from = start, .to = end, .now_ms = now_ms};
        fdy_reason_t why;
        fdy_reason_clear(&why);
        foundry_err err = fdy_store_read(self->store, c->stream->name, start,
                                         (size_t) (end - start + 1), s_redeliver_one, &ctx, &why);
        if (err != FOUNDRY_OK && err != READ_STOP) {
            fdy_log_warn_limited("CONSUMER-READ", "stream %s consumer %s: %s", c->stream->name,
                                 c->cfg.name, why.text);
            break;
        }
        if (ctx.records == 0)
            fdy_window_trim(c->window, end + 1); /* nothing from start on: all trimmed */
        read += ctx.records;
    }
    fdy_window_due_end(c->window); /* keeps what is still due */
    return read;
}

/* ---- new deliveries ------------------------------------------------------------ */

static bool
s_eligible(const fdy_consumer_rt_t *c)
{
    if (c->binding_count == 0 || fdy_window_delivered(c->window) >= c->stream->last_seq)
        return false;
    if (fdy_window_full(c->window))
        return false;
    return s_any_credit(c);
}

static foundry_err
s_deliver_one(const fdy_stored_t *rec, void *user)
{
    read_ctx_t *ctx = user;
    fdy_consumer_rt_t **eligible = ctx->self->eligible;
    ctx->records++;
    if (!ctx->seen) {
        ctx->seen = true;
        if (rec->seq > ctx->from) {
            for (size_t k = 0; k < ctx->n; k++)
                if (fdy_window_delivered(eligible[k]->window) + 1 < rec->seq)
                    fdy_window_trim(eligible[k]->window, rec->seq);
        }
    }
    char subject[FOUNDRY_SUBJECT_MAX + 1];
    bool subject_ready = false;
    size_t active = 0;
    /* Encoded once for all the consumers it goes to (a new record each
     * call: never reuse the last one's bytes). */
    fdy_subs_shared_t *shared = ctx->n > 1 ? &ctx->self->shared : NULL;
    ctx->self->shared.ready = false;
    for (size_t k = 0; k < ctx->n; k++) {
        fdy_consumer_rt_t *c = eligible[k];
        if (!c)
            continue;
        if (fdy_window_delivered(c->window) + 1 == rec->seq) {
            pick_t pick = PICK_SKIP;
            fdy_sub_t *sub = NULL;
            if (s_filter_matches(c, rec, subject, &subject_ready))
                pick = s_pick_for(c, rec, subject, &subject_ready, &sub);
            if (pick == PICK_WAIT) {
                eligible[k] = NULL;   /* only a client without credit may read it: later */
                continue;
            }
            if (pick == PICK_SEND) {
                s_send(ctx->self, c, sub, rec, ctx->now_ms, shared);
            } else {
                /* not for this consumer, or for none of its clients:
                 * counts as acked */
                fdy_window_skip(c->window, rec->seq);
            }
            if (!s_eligible(c)) {
                eligible[k] = NULL;
                continue;
            }
        }
        active++;
    }
    return active ? FOUNDRY_OK : READ_STOP;
}

/* A record from the store: cached for the consumers behind, then served. */
static foundry_err
s_deliver_stored(const fdy_stored_t *rec, void *user)
{
    read_ctx_t *ctx = user;
    if (!ctx->st->cache && ctx->st->count >= 2)
        ctx->st->cache = fdy_record_cache_new();
    if (ctx->st->cache)
        fdy_record_cache_put(ctx->st->cache, rec);
    return s_deliver_one(rec, user);
}

/* Reads new records of one stream page by page from the lowest seq any
 * eligible consumer needs, each page serving every consumer at once.
 * Returns the records read; *more_out when consumers could take more. */
static size_t
s_deliver_stream(fdy_consumers_t *self, stream_rt_t *st, int64_t now_ms, size_t budget,
                 bool *more_out)
{
    size_t read = 0;
    self->eligible = fdy_xgrow(self->eligible, &self->eligible_cap, st->count ? st->count : 1,
                            sizeof *self->eligible);
    for (;;) {
        size_t n = 0;
        uint64_t from = UINT64_MAX;
        for (size_t i = 0; i < st->count; i++) {
            fdy_consumer_rt_t *c = st->consumers[i];
            if (!s_eligible(c))
                continue;
            self->eligible[n++] = c;
            if (fdy_window_delivered(c->window) + 1 < from)
                from = fdy_window_delivered(c->window) + 1;
        }
        if (n == 0)
            return read;
        if (read >= budget) {
            *more_out = true;
            return read;
        }
        uint64_t count = st->last_seq - from + 1;
        if (count > PAGE_RECORDS)
            count = PAGE_RECORDS;
        if (count > budget - read)
            count = budget - read;
        read_ctx_t ctx = {.self = self, .st = st, .n = n, .from = from, .now_ms = now_ms};
        fdy_stored_t rec;
        if (st->cache && fdy_record_cache_get(st->cache, st->name, from, &rec)) {
            ctx.seen = true;
            for (uint64_t seq = from + 1;; seq++) {
                if (s_deliver_one(&rec, &ctx) != FOUNDRY_OK || seq >= from + count ||
                    !fdy_record_cache_get(st->cache, st->name, seq, &rec))
                    break;
            }
            read += ctx.records;
            continue;
        }
        fdy_reason_t why;
        fdy_reason_clear(&why);
        foundry_err err = fdy_store_read(self->store, st->name, from, (size_t) count,
                                         s_deliver_stored, &ctx, &why);
        if (err != FOUNDRY_OK && err != READ_STOP) {
            fdy_log_warn_limited("CONSUMER-READ", "stream %s: %s", st->name, why.text);
            return read;
        }
        if (ctx.records == 0) {
            /* Nothing stored from `from` on: retention took it all. */
            for (size_t k = 0; k < n; k++)
                fdy_window_trim(self->eligible[k]->window, st->last_seq + 1);
        }
        read += ctx.records;
    }
}

bool
fdy_consumers_deliver(fdy_consumers_t *self, int64_t now_ms)
{
    bool more = false;
    size_t budget = TURN_RECORDS, used = 0;
    size_t count = self->stream_count;
    for (size_t k = 0; k < count; k++) {
        stream_rt_t *st = self->streams[(self->next_stream + k) % count];
        for (size_t i = 0; i < st->count; i++) {
            fdy_consumer_rt_t *c = st->consumers[i];
            s_expire(self, c, now_ms);
            if (used < budget)
                used += s_redeliver(self, c, now_ms, budget - used);
            if (fdy_window_due_count(c->window) > 0 && s_any_credit(c))
                more = true;
        }
        if (used < budget)
            used += s_deliver_stream(self, st, now_ms, budget - used, &more);
        else
            more = true;
    }
    if (count)
        self->next_stream = (self->next_stream + 1) % count;
    fdy_subs_flush(self->subs);
    return more;
}

/* ---- the group commit --------------------------------------------------------- */

bool
fdy_consumers_want_save(const fdy_consumers_t *self, int64_t now_ms)
{
    if (now_ms - self->last_save_ms < SAVE_EVERY_MS)
        return false;
    if (self->dead_count > 0)
        return true;
    for (size_t i = 0; i < self->stream_count; i++)
        for (size_t j = 0; j < self->streams[i]->count; j++)
            if (fdy_window_dirty(self->streams[i]->consumers[j]->window))
                return true;
    return false;
}

/* The saved form of a consumer's window (fdy_window_save: acked seqs
 * above the floor, counts of pending seqs delivered more than once). */
static void
s_state_build(fdy_consumer_rt_t *c, fdy_consumer_state_t *state)
{
    memset(state, 0, sizeof *state);
    state->stream_id = c->stream->id;
    snprintf(state->name, sizeof state->name, "%s", c->cfg.name);
    fdy_window_save(c->window, state);
}

/* Dead letters and consumer states go in together or not at all, as one
 * droppable part: a bad consumer state never refuses a publish, and a dead
 * letter is never copied twice because its state was dropped. */
static foundry_err
s_saves_prepare(void *data, fdy_store_t *store, fdy_reason_t *reason)
{
    saves_t *saves = data;
    if (saves->dead.count == 0)
        return FOUNDRY_OK;
    return fdy_store_dead_letters_part.prepare(&saves->dead, store, reason);
}

static foundry_err
s_saves_write(void *data, fdy_store_t *store, MDB_txn *txn, uint64_t now_ns, size_t *writes,
              fdy_reason_t *reason)
{
    saves_t *saves = data;
    foundry_err err = FOUNDRY_OK;
    if (saves->dead.count)
        err = fdy_store_dead_letters_part.write(&saves->dead, store, txn, now_ns, writes, reason);
    if (err == FOUNDRY_OK && saves->states.count)
        err = fdy_store_states_part.write(&saves->states, store, txn, now_ns, writes, reason);
    return err;
}

static void
s_saves_reset(void *data)
{
    saves_t *saves = data;
    if (saves->dead.count && fdy_store_dead_letters_part.reset)
        fdy_store_dead_letters_part.reset(&saves->dead);
}

static const fdy_commit_part_t s_saves_part = {
    .name = "consumer-saves",
    .prepare = s_saves_prepare,
    .write = s_saves_write,
    .reset = s_saves_reset,
    .droppable = true,
};

/* Builds the dirty states and the waiting dead letters into self->saves. */
static void
s_build_saves(fdy_consumers_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->stream_count; i++) {
        stream_rt_t *st = self->streams[i];
        for (size_t j = 0; j < st->count; j++) {
            fdy_consumer_rt_t *c = st->consumers[j];
            if (!fdy_window_dirty(c->window))
                continue;
            self->states = fdy_xgrow(self->states, &self->states_cap, n + 1, sizeof *self->states);
            self->collected =
                fdy_xgrow(self->collected, &self->collected_cap, n + 1, sizeof *self->collected);
            s_state_build(c, &self->states[n]);
            self->collected[n++] = c;
        }
    }
    self->collected_count = n;
    self->dead_batch = fdy_xgrow(self->dead_batch, &self->dead_batch_cap,
                                 self->dead_count ? self->dead_count : 1, sizeof *self->dead_batch);
    for (size_t i = 0; i < self->dead_count; i++) {
        self->dead_batch[i] = self->dead[i].dl;
        self->dead_batch[i].consumer = self->dead[i].consumer;
        self->dead_batch[i].reason = self->dead[i].reason;
    }
    self->saves.states = (fdy_store_states_t){.items = self->states, .count = n};
    self->saves.dead = (fdy_store_dead_letters_t){.items = self->dead_batch,
                                                  .count = self->dead_count};
}

void
fdy_consumers_collect(fdy_consumers_t *self, fdy_commit_t *commit, bool force, int64_t now_ms)
{
    self->saves.added = false;
    if (!force && !fdy_consumers_want_save(self, now_ms))
        return;
    s_build_saves(self);
    if (self->saves.states.count + self->saves.dead.count == 0)
        return;
    fdy_commit_add(commit, &s_saves_part, &self->saves);
    self->saves.added = true;
}

static void
s_note_seq(fdy_consumers_t *self, stream_rt_t **cache, uint32_t stream_id, uint64_t seq)
{
    stream_rt_t *st = *cache;
    if (!st || st->id != stream_id)
        st = *cache = s_stream_find(self, stream_id);
    if (st && seq > st->last_seq)
        st->last_seq = seq;
}

void
fdy_consumers_committed(fdy_consumers_t *self, const fdy_commit_t *commit, int64_t now_ms)
{
    if (!self->saves.added)
        return;
    self->saves.added = false;
    foundry_err err = fdy_commit_result(commit, &self->saves);
    if (err != FOUNDRY_OK && err != FOUNDRY_EFULL)
        fdy_log_warn_limited("CONSUMER-SAVE", "saving consumer states failed (%s: %s); "
                             "kept for the next commit, the rest committed without them",
                             foundry_strerror(err), fdy_commit_reason(commit, &self->saves));
    if (err == FOUNDRY_OK) {
        for (size_t i = 0; i < self->collected_count; i++)
            fdy_window_clean(self->collected[i]->window);
        stream_rt_t *cache = NULL;
        for (size_t i = 0; i < self->saves.dead.count; i++) {
            const fdy_dead_letter_t *dl = &self->saves.dead.items[i];
            if (!dl->gone && dl->dlq_seq)
                s_note_seq(self, &cache, dl->dlq_stream_id, dl->dlq_seq);
        }
        self->dead_count = 0;
        self->failures = 0;
        self->last_save_ms = now_ms;
        return;
    }
    /* Kept for the next commit; a batch that keeps failing (a stream or
     * consumer removed behind our back) is given up so publishes do not
     * pay for it every turn. */
    self->last_save_ms = now_ms;
    /* A full store is not their fault: they wait for space like publishes. */
    if (err == FOUNDRY_EFULL || ++self->failures < DEAD_GIVE_UP)
        return;
    fdy_log_err("CONSUMER-SAVE-FAILED",
                "giving up %zu consumer states and %zu dead letters "
                "after %d failed commits: %s",
                self->saves.states.count, self->saves.dead.count, self->failures,
                foundry_strerror(err));
    for (size_t i = 0; i < self->collected_count; i++)
        fdy_window_clean(self->collected[i]->window);
    self->dead_count = 0;
    self->failures = 0;
}

/* A record just stored goes into its stream's record cache, where the
 * consumers that keep up find it without reading, checking and parsing it
 * from the store again. Only streams that have a cache (two consumers or
 * more), so no memory is taken for the others. */
static void
s_cache_item(const stream_rt_t *st, const fdy_store_item_t *it)
{
    if (!st || !st->cache || it->seq != st->last_seq)
        return;
    fdy_stored_t rec = {
        .stream = st->name,
        .seq = it->seq,
        .stored_ns = it->stored_ns,
        .publisher = it->publisher ? it->publisher : "",
        .data = it->data,
        .data_len = it->data_len,
        .ext = it->ext,
        .ext_len = it->ext_len,
    };
    fdy_record_cache_put(st->cache, &rec);
}

void
fdy_consumers_note_items(fdy_consumers_t *self, const fdy_store_item_t *items, size_t count)
{
    stream_rt_t *cache = NULL;
    for (size_t i = 0; i < count; i++)
        if (!items[i].duplicate && items[i].seq) {
            s_note_seq(self, &cache, items[i].stream_id, items[i].seq);
            s_cache_item(cache, &items[i]);
        }
}

foundry_err
fdy_consumers_save(fdy_consumers_t *self)
{
    fdy_commit_t commit;
    fdy_commit_init(&commit);
    fdy_consumers_collect(self, &commit, true, fdy_clock_mono_ms());
    if (fdy_commit_empty(&commit))
        return FOUNDRY_OK;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    (void) fdy_commit_run(&commit, self->store, &why);
    foundry_err err = fdy_commit_result(&commit, &self->saves);
    fdy_consumers_committed(self, &commit, fdy_clock_mono_ms());
    return err;
}

/* ---- administration ------------------------------------------------------------- */

bool
fdy_consumers_info(const fdy_consumers_t *self, uint32_t stream_id, const char *name,
                   uint64_t *ack_floor, uint64_t *delivered_seq, uint64_t *pending, uint64_t *bound)
{
    stream_rt_t *st = s_stream_find(self, stream_id);
    fdy_consumer_rt_t *c = st ? s_consumer_find(st, name) : NULL;
    if (!c)
        return false;
    *ack_floor = fdy_window_floor(c->window);
    *delivered_seq = fdy_window_delivered(c->window);
    *pending = fdy_window_pending(c->window);
    *bound = c->binding_count;
    return true;
}

void
fdy_consumers_forget(fdy_consumers_t *self, uint32_t stream_id, const char *name,
                     const char *reason)
{
    stream_rt_t *st = s_stream_find(self, stream_id);
    if (st) {
        for (size_t i = 0; i < st->count;) {
            fdy_consumer_rt_t *c = st->consumers[i];
            if (name && strcmp(c->cfg.name, name) != 0) {
                i++;
                continue;
            }
            while (c->binding_count > 0)
                fdy_subs_end(self->subs, c->bindings[0], FOUNDRY_ECLOSED, reason);
            s_consumer_free(c);
            st->consumers[i] = st->consumers[--st->count];
        }
    }
    if (name)
        return;
    /* The stream goes: its runtime and its dead letters not yet written. */
    size_t kept = 0;
    for (size_t i = 0; i < self->dead_count; i++)
        if (self->dead[i].dl.stream_id != stream_id)
            self->dead[kept++] = self->dead[i];
    self->dead_count = kept;
    for (size_t i = 0; st && i < self->stream_count; i++) {
        if (self->streams[i] == st) {
            self->streams[i] = self->streams[--self->stream_count];
            s_stream_free(st);
            break;
        }
    }
    self->next_stream = 0;
}
