/*  publish.c: the PUBLISH side of a group commit. Every publish request
 *  drained in one loop turn is decoded, authorised and routed as it
 *  arrives; its items join the turn's one transaction as the messages part,
 *  and only after that committed are acks built and sent. Buffers are sized
 *  once from the config and reused: nothing here allocates per message.
 */
#include "publish.h"

#include "acl.h"
#include "clock.h"
#include "rate.h"
#include "kv.h"
#include "log.h"
#include "peers.h"
#include "reason.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_INDEX UINT32_MAX
#define ERROR_REASON_MAX 160

typedef struct {
    fdy_peer_t peer;                /* borrowed: the router holds the frame until committed */
    uint64_t request_id;
    uint32_t count;
    size_t first;                   /* its first message in outcomes[] */
    char publisher[FDY_NAME_MAX];   /* item->publisher points here until commit */
} pub_request_t;

/* What became of one message: an item to store, or a refusal. */
typedef struct {
    uint32_t item;
    uint32_t error;
} outcome_t;

typedef struct {
    foundry_err code;
    char reason[ERROR_REASON_MAX];
} refusal_t;

static void
s_out_of_memory(void)
{
    fdy_log_err("OUT-OF-MEMORY", "publish buffers: out of memory; aborting");
    abort();
}

struct fdy_publish {
    fdy_store_t *store;
    fdy_reply_t *reply;
    fdy_rate_t *rate;
    fdy_peers_t *peers;
    uint64_t flood_factor;
    int64_t flood_backoff_ms;
    fdy_store_items_t part;       /* the messages part of the turn's commit */
    uint64_t commit_max_msgs;
    uint64_t commit_max_bytes;
    uint64_t max_payload;
    uint64_t max_batch_bytes;

    size_t msg_capacity;          /* commit_max_msgs + one largest request */
    pub_request_t *requests;      /* msg_capacity entries: a request has >= 1 message */
    size_t request_count;
    outcome_t *outcomes;          /* msg_capacity */
    size_t msg_count;
    fdy_store_item_t *items;      /* msg_capacity */
    size_t item_count;
    uint8_t *ids;                 /* msg_capacity * FOUNDRY_MSG_ID_MAX: ids outlive the arena */
    refusal_t *refusals;          /* grows on demand: the unhappy path only */
    size_t refusal_count;
    size_t refusal_capacity;
    uint64_t turn_bytes;
    int64_t now_ms;               /* of the request being added, for the rate limits */

    fdy_slice_t *slices;          /* FDY_BATCH_MSGS_MAX: records of the request being added */
    fdy_arena_t *scratch;         /* one decoded record at a time */

    /* ack under construction, FDY_BATCH_MSGS_MAX each */
    uint64_t *ack_seqs;
    uint32_t *ack_refs;
    uint32_t *ack_duplicates;
    fdy_msg_error_t *ack_errors;
    const char **ack_streams;
    uint32_t *ack_stream_ids;

    fdy_publish_stats_t stats;
};

fdy_publish_t *
fdy_publish_new(const fdy_broker_cfg_t *cfg, fdy_store_t *store, fdy_reply_t *reply,
                fdy_peers_t *peers)
{
    fdy_publish_t *self = fdy_xalloc(sizeof *self);
    self->store = store;
    self->reply = reply;
    self->rate = fdy_rate_new(cfg);
    self->peers = peers;
    self->flood_factor = cfg->rate_flood_factor;
    self->flood_backoff_ms = (int64_t) cfg->rate_flood_backoff_ms;
    self->commit_max_msgs = cfg->commit_max_msgs;
    self->commit_max_bytes = cfg->commit_max_bytes;
    self->max_payload = cfg->max_payload;
    self->max_batch_bytes = cfg->max_batch_bytes;
    self->msg_capacity = (size_t) cfg->commit_max_msgs + FDY_BATCH_MSGS_MAX;
    /* Large zeroed allocations are mapped lazily: untouched capacity costs
     * address space, not resident memory. */
    self->requests = fdy_xalloc(self->msg_capacity * sizeof *self->requests);
    self->outcomes = fdy_xalloc(self->msg_capacity * sizeof *self->outcomes);
    self->items = fdy_xalloc(self->msg_capacity * sizeof *self->items);
    self->ids = fdy_xalloc(self->msg_capacity * FOUNDRY_MSG_ID_MAX);
    self->slices = fdy_xalloc(FDY_BATCH_MSGS_MAX * sizeof *self->slices);
    self->ack_seqs = fdy_xalloc(FDY_BATCH_MSGS_MAX * sizeof *self->ack_seqs);
    self->ack_refs = fdy_xalloc(FDY_BATCH_MSGS_MAX * sizeof *self->ack_refs);
    self->ack_duplicates = fdy_xalloc(FDY_BATCH_MSGS_MAX * sizeof *self->ack_duplicates);
    self->ack_errors = fdy_xalloc(FDY_BATCH_MSGS_MAX * sizeof *self->ack_errors);
    self->ack_streams = fdy_xalloc(FDY_BATCH_MSGS_MAX * sizeof *self->ack_streams);
    self->ack_stream_ids = fdy_xalloc(FDY_BATCH_MSGS_MAX * sizeof *self->ack_stream_ids);
    self->scratch = fdy_arena_new(FDY_DECODE_BUDGET(64 * 1024));
    if (!self->scratch)
        s_out_of_memory();
    return self;
}

void
fdy_publish_destroy(fdy_publish_t **self_p)
{
    fdy_publish_t *self = *self_p;
    if (!self)
        return;
    fdy_arena_destroy(&self->scratch);
    fdy_rate_destroy(&self->rate);
    free(self->requests);
    free(self->outcomes);
    free(self->items);
    free(self->ids);
    free(self->refusals);
    free(self->slices);
    free(self->ack_seqs);
    free(self->ack_refs);
    free(self->ack_duplicates);
    free(self->ack_errors);
    free(self->ack_streams);
    free(self->ack_stream_ids);
    free(self);
    *self_p = NULL;
}

bool
fdy_publish_turn_full(const fdy_publish_t *self)
{
    return self->msg_count >= self->commit_max_msgs || self->turn_bytes >= self->commit_max_bytes;
}

size_t
fdy_publish_turn_msgs(const fdy_publish_t *self)
{
    return self->msg_count;
}

void
fdy_publish_stats(const fdy_publish_t *self, fdy_publish_stats_t *out)
{
    *out = self->stats;
    out->rate_refused = fdy_rate_refused(self->rate);
    out->rate_floods = fdy_rate_floods(self->rate);
}

static void
s_refuse(fdy_publish_t *self, outcome_t *outcome, foundry_err code, const char *reason)
{
    self->refusals = fdy_xgrow(self->refusals, &self->refusal_capacity, self->refusal_count + 1,
                               sizeof *self->refusals);
    refusal_t *refusal = &self->refusals[self->refusal_count];
    refusal->code = code;
    /* Cut to fit on purpose (an ack carries many); memcpy, not snprintf,
     * so optimised builds do not warn about it. */
    size_t len = strnlen(reason, sizeof refusal->reason - 1);
    memcpy(refusal->reason, reason, len);
    refusal->reason[len] = '\0';
    outcome->item = NO_INDEX;
    outcome->error = (uint32_t) self->refusal_count++;
}

/* A key that keeps sending far over its limit costs the broker a decrypt
 * and a parse per refused message, and the only way to make libzmq stop
 * reading a connection is to close it; its handshakes are then refused
 * for a while, so it cannot come straight back. */
static void
s_close_flooder(fdy_publish_t *self, const fdy_principal_t *publisher)
{
    size_t closed = self->peers ? fdy_peers_close_principal(self->peers, publisher->name,
                                                            self->now_ms + self->flood_backoff_ms)
                                : 0;
    fdy_log_warn("RATE-FLOOD",
                 "key '%s' went on publishing while refused, over %llux its rate limit in one "
                 "second: %zu connection(s) closed, its handshakes refused for %lld ms",
                 publisher->name, (unsigned long long) self->flood_factor, closed,
                 (long long) self->flood_backoff_ms);
}

/* Decodes, checks, authorises and routes one record; on success appends an
 * item pointing into the request's frames. */
static void
s_add_message(fdy_publish_t *self, const fdy_principal_t *publisher, pub_request_t *request,
              const fdy_slice_t *record, const fdy_slice_t *frames, size_t frame_count,
              outcome_t *outcome)
{
    fdy_reason_t why;
    fdy_msg_t msg;
    fdy_arena_reset(self->scratch, FDY_DECODE_BUDGET(record->len));
    /* A view: the bytes stay in the request frame, only the text is copied. */
    foundry_err err =
        fdy_codec_decode_msg_view(record->data, record->len, self->scratch, &msg, &why);
    if (err == FOUNDRY_ENOMEM)
        err = fdy_reason_set(&why, FOUNDRY_EPROTO, "message record too complex to decode");
    if (err != FOUNDRY_OK) {
        s_refuse(self, outcome, err, why.text);
        return;
    }
    const uint8_t *ext = NULL;
    size_t ext_len = 0;
    if (msg.payload_frame > 0) {
        /* payload_frame 1 is frame 2: frames[0] envelope, frames[1] batch */
        size_t index = 1 + (size_t) msg.payload_frame;
        if (index >= frame_count) {
            fdy_reason_set(&why, FOUNDRY_EPROTO, "payload_frame %u: the request has no frame %zu",
                           msg.payload_frame, index);
            s_refuse(self, outcome, FOUNDRY_EPROTO, why.text);
            return;
        }
        ext = frames[index].data;
        ext_len = frames[index].len;
    }
    size_t payload_len = ext ? ext_len : msg.payload_len;
    if (payload_len > self->max_payload) {
        fdy_reason_set(&why, FOUNDRY_ETOOBIG, "payload of %zu bytes is over the %llu byte limit",
                       payload_len, (unsigned long long) self->max_payload);
        s_refuse(self, outcome, FOUNDRY_ETOOBIG, why.text);
        return;
    }
    err = fdy_acl_check_publish(publisher, msg.subject, &why);
    if (err != FOUNDRY_OK) {
        fdy_log_warn_limited("PUBLISH-DENIED", "%s", why.text);
        s_refuse(self, outcome, err, why.text);
        return;
    }
    bool flooding = false;
    err = fdy_rate_take(self->rate, publisher, record->len + ext_len, self->now_ms, &flooding,
                        &why);
    if (err != FOUNDRY_OK) {
        fdy_log_warn_limited("PUBLISH-RATE", "%s", why.text);
        s_refuse(self, outcome, err, why.text);
        if (flooding)
            s_close_flooder(self, publisher);
        return;
    }
    uint32_t stream_id = 0;
    if (fdy_store_stream_route(self->store, msg.subject, &stream_id, NULL) != FOUNDRY_OK) {
        fdy_reason_set(&why, FOUNDRY_ENOSTREAM, "no stream captures '%s'", msg.subject);
        s_refuse(self, outcome, FOUNDRY_ENOSTREAM, why.text);
        return;
    }
    /* A copy of the id in its own slot until the commit, wherever the
     * decode left it. */
    uint8_t *id = self->ids + self->item_count * FOUNDRY_MSG_ID_MAX;
    size_t id_len = msg.id_len <= FOUNDRY_MSG_ID_MAX ? msg.id_len : FOUNDRY_MSG_ID_MAX;
    memcpy(id, msg.id, id_len);
    fdy_store_item_t *item = &self->items[self->item_count];
    *item = (fdy_store_item_t){
        .stream_id = stream_id,
        .msg_id = id,
        .msg_id_len = id_len,
        .publisher = request->publisher,
        .data = record->data,
        .data_len = record->len,
        .ext = ext,
        .ext_len = ext_len,
    };
    outcome->item = (uint32_t) self->item_count++;
    outcome->error = NO_INDEX;
}

foundry_err
fdy_publish_add(fdy_publish_t *self, const fdy_peer_t *peer, const fdy_principal_t *publisher,
                uint64_t request_id, uint32_t count, const fdy_slice_t *frames,
                size_t frame_count, fdy_reason_t *reason)
{
    if (count == 0 || count > FDY_BATCH_MSGS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "batch count %u is not in 1..%u", count,
                              FDY_BATCH_MSGS_MAX);
    if (frame_count < 2)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "publish without a batch frame");
    if (frame_count > (size_t) count + 2)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "%zu payload frames for %u messages",
                              frame_count - 2, count);
    if (frames[1].len > self->max_batch_bytes)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG,
                              "batch frame of %zu bytes is over the %llu byte limit",
                              frames[1].len, (unsigned long long) self->max_batch_bytes);
    foundry_err err = fdy_codec_split_batch(frames[1].data, frames[1].len, count, self->slices,
                                            reason);
    if (err != FOUNDRY_OK)
        return err;

    self->now_ms = fdy_clock_mono_ms();
    pub_request_t *request = &self->requests[self->request_count++];
    request->peer = *peer;
    request->request_id = request_id;
    request->count = count;
    request->first = self->msg_count;
    snprintf(request->publisher, sizeof request->publisher, "%s", publisher->name);
    for (uint32_t i = 0; i < count; i++)
        s_add_message(self, publisher, request, &self->slices[i], frames, frame_count,
                      &self->outcomes[self->msg_count + i]);
    self->msg_count += count;
    for (size_t i = 0; i < frame_count; i++)
        self->turn_bytes += frames[i].len;
    return FOUNDRY_OK;
}

/* Index of stream_id in the ack's stream list, adding it when new. Batches
 * usually hit one stream, so the last one found is tried first. */
static uint32_t
s_stream_ref(fdy_publish_t *self, size_t *stream_count, uint32_t *last_ref, uint32_t stream_id)
{
    if (*stream_count > 0 && self->ack_stream_ids[*last_ref] == stream_id)
        return *last_ref;
    for (size_t i = 0; i < *stream_count; i++) {
        if (self->ack_stream_ids[i] == stream_id) {
            *last_ref = (uint32_t) i;
            return *last_ref;
        }
    }
    const char *name = fdy_store_stream_name(self->store, stream_id);
    self->ack_stream_ids[*stream_count] = stream_id;
    self->ack_streams[*stream_count] = name ? name : "";
    *last_ref = (uint32_t) (*stream_count)++;
    return *last_ref;
}

void
fdy_publish_peer_gone(fdy_publish_t *self, const fdy_peer_t *peer)
{
    for (size_t i = 0; i < self->request_count; i++) {
        fdy_peer_t *p = &self->requests[i].peer;
        if (p->len == peer->len && memcmp(p->id, peer->id, peer->len) == 0)
            p->len = 0;   /* stored all the same; the answer goes nowhere */
    }
}

static void
s_reply_ack(fdy_publish_t *self, const pub_request_t *request)
{
    size_t stream_count = 0, duplicate_count = 0, error_count = 0;
    uint32_t last_ref = 0;
    for (uint32_t i = 0; i < request->count; i++) {
        const outcome_t *outcome = &self->outcomes[request->first + i];
        if (outcome->item == NO_INDEX) {
            const refusal_t *refusal = &self->refusals[outcome->error];
            self->ack_seqs[i] = 0;
            self->ack_refs[i] = 0;
            self->ack_errors[error_count++] = (fdy_msg_error_t){
                .index = i, .code = refusal->code, .reason = refusal->reason};
            continue;
        }
        const fdy_store_item_t *item = &self->items[outcome->item];
        /* Dedupe is per stream: a duplicate's seq is the original's in this
         * very stream, so the ack's stream and seq name one message. */
        self->ack_seqs[i] = item->seq;
        self->ack_refs[i] = s_stream_ref(self, &stream_count, &last_ref, item->stream_id);
        if (item->duplicate)
            self->ack_duplicates[duplicate_count++] = i;
    }
    fdy_envelope_t reply = {
        .version = FDY_PROTOCOL_VERSION,
        .kind = FDY_KIND_PUBLISH_ACK,
        .request_id = request->request_id,
        .ack = {
            .count = request->count,
            .seqs = self->ack_seqs,
            .stream_refs = self->ack_refs,
            .streams = self->ack_streams,
            .stream_count = stream_count,
            .duplicates = self->ack_duplicates,
            .duplicate_count = duplicate_count,
            .errors = self->ack_errors,
            .error_count = error_count,
        },
    };
    self->stats.requests++;
    self->stats.refused += error_count;
    if (request->peer.len > 0)
        fdy_reply_send(self->reply, &request->peer, &reply);
}

static void
s_reply_error(fdy_publish_t *self, const pub_request_t *request, foundry_err code,
              const char *reason)
{
    self->stats.requests++;
    self->stats.failed++;
    if (request->peer.len > 0)
        fdy_reply_error(self->reply, &request->peer, request->request_id, 0, code, reason);
}

static bool
s_request_has_items(const fdy_publish_t *self, const pub_request_t *request)
{
    for (uint32_t i = 0; i < request->count; i++) {
        if (self->outcomes[request->first + i].item != NO_INDEX)
            return true;
    }
    return false;
}

static void
s_reset_turn(fdy_publish_t *self)
{
    self->request_count = 0;
    self->msg_count = 0;
    self->item_count = 0;
    self->refusal_count = 0;
    self->turn_bytes = 0;
}

void
fdy_publish_collect(fdy_publish_t *self, fdy_commit_t *commit)
{
    if (self->item_count == 0)
        return;
    self->part = (fdy_store_items_t){.items = self->items, .count = self->item_count};
    fdy_commit_add(commit, &fdy_store_messages_part, &self->part);
}

foundry_err
fdy_publish_committed(fdy_publish_t *self, const fdy_commit_t *commit,
                      fdy_publish_committed_fn *committed_fn, void *user)
{
    foundry_err err = self->item_count > 0 ? fdy_commit_result(commit, &self->part) : FOUNDRY_OK;
    if (self->item_count > 0) {
        if (err == FOUNDRY_OK) {
            self->stats.commits++;
            for (size_t i = 0; i < self->item_count; i++) {
                if (self->items[i].duplicate)
                    self->stats.duplicates++;
                else
                    self->stats.published++;
            }
            fdy_log_debug("PUBLISH-COMMIT", "%zu messages of %zu requests stored",
                          self->item_count, self->request_count);
        } else if (err != FOUNDRY_EFULL) {
            err = FOUNDRY_ESTORE;   /* the commit logged the store's own reason */
        }
    }
    /* Acks leave only now, after the synchronous commit returned. */
    for (size_t i = 0; i < self->request_count; i++) {
        const pub_request_t *request = &self->requests[i];
        if (err == FOUNDRY_OK || !s_request_has_items(self, request))
            s_reply_ack(self, request);
        else if (err == FOUNDRY_EFULL &&
                 fdy_kv_reason_disk_full(fdy_commit_reason(commit, &self->part)))
            s_reply_error(self, request, FOUNDRY_EFULL, "broker disk full, nothing stored");
        else if (err == FOUNDRY_EFULL &&
                 fdy_store_reason_dedupe_full(fdy_commit_reason(commit, &self->part)))
            s_reply_error(self, request, FOUNDRY_EFULL,
                          "dedupe index full (dedupe_index_max), nothing stored: retry later");
        else if (err == FOUNDRY_EFULL)
            s_reply_error(self, request, FOUNDRY_EFULL,
                          "store full: map_size_max reached, nothing stored");
        else
            s_reply_error(self, request, FOUNDRY_ESTORE, "storage error, nothing stored");
    }
    if (err == FOUNDRY_OK && self->item_count > 0 && committed_fn)
        committed_fn(self->items, self->item_count, user);
    s_reset_turn(self);
    return err;
}
