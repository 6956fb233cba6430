/*  sub.c: subscriptions of libfoundry (foundry.h, docs/streams.md). Keeps,
 *  per subscription, the DELIVER frames received and not yet handed out (a
 *  queue bounded by the credit granted), the durable deliveries handed out
 *  and not yet acked (unacked.c), and the acks and credit still to send,
 *  which go out in batches: one CREDIT and one ACK per many messages.
 *  Not for the socket or the publish path (client.c) or the wire (codec.c).
 */
#include "sub.h"

#include "clock.h"
#include "log.h"
#include "subject.h"
#include "unacked.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Request ids of subscription traffic have the top bit set, so they never
 * meet the publish path's (which counts up from 1). Below it: the
 * subscription's serial, what the request was, and a counter. */
#define CONTROL_BIT   (1ull << 63)
#define SERIAL_SHIFT  28
#define SERIAL_MASK   ((1ull << 35) - 1)
#define KIND_SHIFT    24
#define COUNTER_MASK  ((1ull << 24) - 1)
enum {
    REQ_SUBSCRIBE = 1,
    REQ_UNSUBSCRIBE = 2,
    REQ_CREDIT = 3,
    REQ_ACK = 4,
    REQ_PING = 5,
    REQ_ACK_EARLIER = 6, /* acks of messages received before a resubscribe */
};

/* The broker drops a subscription that hears nothing from its client for
 * 30 s; a PING every 5 s keeps ours. A client that was not called for
 * longer than RESUBSCRIBE_MS has probably lost them: it subscribes again. */
#define PING_EVERY_MS  5000
#define RESUBSCRIBE_MS 28000
/* A SUBSCRIBE unanswered this long (lost with a broker that went away
 * without the connection noticing) is sent again. */
#define SUBSCRIBE_RETRY_MS 10000
/* Most seqs in one ACK request: ~10 bytes each keeps it far below the
 * broker's envelope limit (FDY_ENVELOPE_MAX). */
#define ACK_BATCH_MAX 1024u
/* Stale subscriptions waiting for an UNSUBSCRIBE; more are left to the
 * broker's liveness check. */
#define ORPHANS_MAX 16
/* Spare queue nodes kept per subscription for reuse. */
#define SPARE_MAX 16
/* Longest stream or consumer name we send; the broker has the final say. */
#define NAME_MAX_LEN 255

/* One DELIVER frame and how far it has been handed out. Nodes are reused,
 * so the steady state allocates nothing per frame or per message. */
typedef struct s_node {
    struct s_node *next;
    zmq_msg_t frame;      /* the batch frame; slices point into it */
    fdy_slice_t *slices;  /* one per record */
    uint32_t slice_cap;
    uint32_t count;
    uint32_t next_index;  /* first record not yet handed out */
} s_node_t;

typedef enum { SUB_SUBSCRIBING = 0, SUB_ACTIVE = 1, SUB_ENDED = 2 } s_state_t;

struct foundry_sub {
    fdy_sub_registry_t *subs; /* NULL once the client is gone */
    foundry_sub_t *prev;
    foundry_sub_t *next;
    uint64_t serial;
    bool durable;
    char *stream;
    char *consumer;
    char *filter;
    uint32_t credit_msgs;
    uint64_t credit_bytes;
    uint64_t max_msgs; /* 0 = no limit */
    uint64_t received; /* messages handed out */
    uint64_t budget;   /* credit this subscription may still be granted */

    s_state_t state;
    foundry_err end_err;
    char end_reason[FDY_REASON_MAX];
    uint64_t id;                /* the broker's subscription id; 0 until SUBSCRIBED */
    uint64_t subscribe_request; /* request id of the SUBSCRIBE in flight */
    uint64_t leave_request;     /* request id of our UNSUBSCRIBE, until answered */
    bool subscribe_due;         /* SUBSCRIBE not yet sent on this connection */
    int64_t subscribe_sent_ms;  /* when it was sent */
    uint16_t gen;               /* bumped by each (re)subscribe */

    s_node_t *head; /* frames not fully handed out, oldest first */
    s_node_t *tail;
    /* The frame of the message handed out last once it left the queue
     * (fully handed out, or dropped by a resubscribe): msg's payload, id
     * and message bytes point into it until the next take or the close. */
    s_node_t *held;
    s_node_t *spare;
    size_t spare_count;
    size_t queued; /* messages in the queue */

    fdy_arena_t *arena; /* the text fields of the message handed out last */
    fdy_delivery_memo_t memo; /* or those it shares with the deliveries before it */
    foundry_msg_t msg;

    fdy_unacked_t unacked; /* durable: handed out, not acked */

    uint64_t *acks; /* acked seqs not yet sent */
    size_t ack_count;
    size_t ack_cap;
    /* Acked seqs received on an earlier subscription (before a reconnect):
     * the broker takes acks for anything the consumer delivered, but they
     * travel apart because an ACK is all or nothing and these may be
     * refused (a broker restarted from an older saved state). No credit. */
    uint64_t *earlier;
    size_t earlier_count;
    size_t earlier_cap;
    uint64_t max_seq; /* highest seq handed out: acks above it are refused */
    uint64_t grant_msgs; /* credit not yet sent */
    uint64_t grant_bytes;
    uint64_t flush_at; /* send acks and credit once grant_msgs reaches this */

    /* Ephemeral drops: the broker counts per subscription, so the totals
     * of earlier ones (before a reconnect) are kept apart. */
    uint64_t dropped;         /* the current subscription's, as last reported */
    uint64_t dropped_earlier; /* the sum of the earlier ones' */
};

struct fdy_sub_registry {
    foundry_client_t *client;
    foundry_sub_t *first;
    size_t count;
    uint64_t next_serial;
    uint64_t counter;
    int64_t last_ping_ms; /* 0: no PING since the registry had no subscription */
    uint64_t orphans[ORPHANS_MAX];
    size_t orphan_count;
};

/* ---- request ids ------------------------------------------------------- */

static uint64_t
s_request_id(fdy_sub_registry_t *self, uint64_t serial, unsigned kind)
{
    self->counter++;
    return CONTROL_BIT | ((serial & SERIAL_MASK) << SERIAL_SHIFT) | ((uint64_t) kind << KIND_SHIFT) |
           (self->counter & COUNTER_MASK);
}

static uint64_t
s_request_serial(uint64_t request_id)
{
    return (request_id >> SERIAL_SHIFT) & SERIAL_MASK;
}

static unsigned
s_request_kind(uint64_t request_id)
{
    return (unsigned) ((request_id >> KIND_SHIFT) & 0xf);
}

bool
fdy_sub_owns(const fdy_envelope_t *env)
{
    if (env->kind == FDY_KIND_SUBSCRIBED)
        return true;
    /* ERROR with request id 0 about a subscription: the broker ended it. */
    if (env->kind == FDY_KIND_ERROR && env->request_id == 0 && env->subscription != 0)
        return true;
    return (env->kind == FDY_KIND_ERROR || env->kind == FDY_KIND_PONG) &&
           (env->request_id & CONTROL_BIT);
}

static int
s_left_ms(int64_t deadline)
{
    int64_t left = deadline - fdy_clock_mono_ms();
    return left > 0 ? (left < INT32_MAX ? (int) left : INT32_MAX) : 0;
}

/* ---- sending ----------------------------------------------------------- */

/* Sends one envelope without blocking. FOUNDRY_ETIMEDOUT when the
 * connection is not up or full: the caller tries again later. */
static foundry_err
s_send(fdy_sub_registry_t *self, const fdy_envelope_t *env)
{
    fdy_conn_t *conn = fdy_client_conn(self->client);
    if (fdy_conn_state(conn) != FDY_CONN_UP)
        return FOUNDRY_ETIMEDOUT;
    uint8_t *buf = NULL;
    size_t len = 0;
    foundry_err err = fdy_codec_encode_envelope(env, &buf, &len);
    if (err != FOUNDRY_OK) {
        fdy_log_warn_limited("CLIENT-SUB-ENCODE", "cannot encode a %d request: %s",
                             (int) env->kind, foundry_strerror(err));
        return err;
    }
    fdy_slice_t frame = {buf, len};
    err = fdy_conn_send(conn, &frame, 1);
    free(buf);
    return err;
}

static void
s_env_init(fdy_envelope_t *env, fdy_kind_t kind, uint64_t request_id)
{
    memset(env, 0, sizeof *env);
    env->version = FDY_PROTOCOL_VERSION;
    env->kind = kind;
    env->request_id = request_id;
}

static foundry_err
s_send_subscribe(foundry_sub_t *sub)
{
    fdy_sub_registry_t *self = sub->subs;
    fdy_envelope_t env;
    s_env_init(&env, FDY_KIND_SUBSCRIBE, s_request_id(self, sub->serial, REQ_SUBSCRIBE));
    env.sub_stream = sub->stream;
    env.sub_consumer = sub->consumer;
    env.sub_filter = sub->filter;
    /* An ephemeral subscription keeps what it had queued across a
     * reconnect, so it asks for only the rest (at least one: the broker
     * requires an initial credit). */
    uint64_t credit = sub->credit_msgs;
    if (!sub->durable)
        credit = sub->queued < credit ? credit - sub->queued : 0;
    /* With max_msgs, never more credit in all than messages still wanted. */
    sub->budget = UINT64_MAX;
    if (sub->max_msgs) {
        uint64_t taken = sub->received + (sub->durable ? 0 : sub->queued);
        uint64_t left = taken < sub->max_msgs ? sub->max_msgs - taken : 0;
        if (credit > left)
            credit = left;
        sub->budget = left - credit;
    }
    env.credit_msgs = (uint32_t) credit;
    env.credit_bytes = sub->credit_bytes;
    foundry_err err = s_send(self, &env);
    if (err == FOUNDRY_OK) {
        sub->subscribe_request = env.request_id;
        sub->subscribe_due = false;
        sub->subscribe_sent_ms = fdy_clock_mono_ms();
    }
    return err;
}

static void
s_send_unsubscribe(fdy_sub_registry_t *self, uint64_t subscription)
{
    fdy_envelope_t env;
    s_env_init(&env, FDY_KIND_UNSUBSCRIBE, s_request_id(self, 0, REQ_UNSUBSCRIBE));
    env.subscription = subscription;
    if (s_send(self, &env) != FOUNDRY_OK && self->orphan_count < ORPHANS_MAX)
        self->orphans[self->orphan_count++] = subscription;
}

/* Sends seqs[0..*count) in ACK requests of at most ACK_BATCH_MAX seqs and
 * keeps what could not go. */
static foundry_err
s_send_acks(foundry_sub_t *sub, uint64_t *seqs, size_t *count, unsigned kind)
{
    foundry_err err = FOUNDRY_OK;
    size_t sent = 0;
    while (sent < *count) {
        size_t n = *count - sent < ACK_BATCH_MAX ? *count - sent : ACK_BATCH_MAX;
        fdy_envelope_t env;
        s_env_init(&env, FDY_KIND_ACK, s_request_id(sub->subs, sub->serial, kind));
        env.subscription = sub->id;
        env.ack_seqs = seqs + sent;
        env.ack_seq_count = n;
        err = s_send(sub->subs, &env);
        if (err != FOUNDRY_OK)
            break;
        sent += n;
    }
    if (sent > 0) {
        memmove(seqs, seqs + sent, (*count - sent) * sizeof *seqs);
        *count -= sent;
    }
    return err;
}

/* Sends the acks and credit a subscription owes the broker. The ACK goes
 * first so the broker frees the acked seqs before it spends the credit.
 * Returns FOUNDRY_OK when nothing is left to send. */
static foundry_err
s_flush(foundry_sub_t *sub)
{
    if (!sub->subs || sub->state != SUB_ACTIVE)
        return FOUNDRY_OK;
    foundry_err err = s_send_acks(sub, sub->earlier, &sub->earlier_count, REQ_ACK_EARLIER);
    if (err == FOUNDRY_OK)
        err = s_send_acks(sub, sub->acks, &sub->ack_count, REQ_ACK);
    if (err != FOUNDRY_OK)
        return err;
    fdy_sub_registry_t *self = sub->subs;
    if (sub->grant_msgs > sub->budget)
        sub->grant_msgs = sub->budget; /* max_msgs: the rest is not wanted */
    if (sub->grant_msgs == 0) {
        sub->grant_bytes = 0; /* bytes alone would let nothing more through */
        return FOUNDRY_OK;
    }
    fdy_envelope_t env;
    s_env_init(&env, FDY_KIND_CREDIT, s_request_id(self, sub->serial, REQ_CREDIT));
    env.subscription = sub->id;
    env.credit_msgs = sub->grant_msgs < UINT32_MAX ? (uint32_t) sub->grant_msgs : UINT32_MAX;
    env.credit_bytes = sub->grant_bytes;
    err = s_send(self, &env);
    if (err == FOUNDRY_OK) {
        sub->grant_msgs -= env.credit_msgs;
        sub->grant_bytes = 0;
        if (sub->budget != UINT64_MAX)
            sub->budget -= env.credit_msgs;
    }
    return err;
}

/* ---- the queue of frames ----------------------------------------------- */

static void
s_node_free(s_node_t *node)
{
    zmq_msg_close(&node->frame);
    free(node->slices);
    free(node);
}

/* Closes the frame of a node done with and keeps the node for reuse. */
static void
s_node_recycle(foundry_sub_t *sub, s_node_t *node)
{
    zmq_msg_close(&node->frame);
    zmq_msg_init(&node->frame);
    if (sub->spare_count >= SPARE_MAX) {
        s_node_free(node);
        return;
    }
    node->next = sub->spare;
    sub->spare = node;
    sub->spare_count++;
}

static s_node_t *
s_node_get(foundry_sub_t *sub, uint32_t count)
{
    s_node_t *node = sub->spare;
    if (node) {
        sub->spare = node->next;
        sub->spare_count--;
    } else {
        node = calloc(1, sizeof *node);
        if (!node)
            return NULL;
        zmq_msg_init(&node->frame);
    }
    node->next = NULL;
    node->count = 0;
    node->next_index = 0;
    if (node->slice_cap < count) {
        fdy_slice_t *slices = realloc(node->slices, count * sizeof *slices);
        if (!slices) {
            s_node_recycle(sub, node);
            return NULL;
        }
        node->slices = slices;
        node->slice_cap = count;
    }
    return node;
}

/* The message handed out last is no longer needed. */
static void
s_release_held(foundry_sub_t *sub)
{
    if (sub->held)
        s_node_recycle(sub, sub->held);
    sub->held = NULL;
}

/* Drops every queued frame (their durable messages are redelivered). A
 * frame the application's current message points into stays, held. */
static void
s_queue_clear(foundry_sub_t *sub)
{
    if (sub->head && sub->head->next_index > 0) {
        s_release_held(sub); /* the current message is in the head */
        sub->held = sub->head;
        sub->head = sub->head->next;
        sub->held->next = NULL;
    }
    while (sub->head) {
        s_node_t *node = sub->head;
        sub->head = node->next;
        s_node_recycle(sub, node);
    }
    sub->tail = NULL;
    sub->queued = 0;
}

/* ---- durable deliveries not yet acked ----------------------------------- */

static foundry_err
s_seqs_push(uint64_t **seqs, size_t *count, size_t *cap, uint64_t seq)
{
    if (*count == *cap) {
        size_t grown = *cap ? *cap * 2 : ACK_BATCH_MAX;
        uint64_t *bigger = realloc(*seqs, grown * sizeof *bigger);
        if (!bigger)
            return FOUNDRY_ENOMEM;
        *seqs = bigger;
        *cap = grown;
    }
    (*seqs)[(*count)++] = seq;
    return FOUNDRY_OK;
}

/* Acks one entry: queues the seq, and the credit it frees when it took
 * credit of the current subscription. One received before a resubscribe
 * took credit of a subscription that no longer exists. */
static foundry_err
s_ack_entry(foundry_sub_t *sub, fdy_unacked_entry_t *entry)
{
    if (sub->state != SUB_ENDED) {
        bool current = entry->gen == sub->gen;
        foundry_err err = current ? s_seqs_push(&sub->acks, &sub->ack_count, &sub->ack_cap,
                                                entry->seq)
                                  : s_seqs_push(&sub->earlier, &sub->earlier_count,
                                                &sub->earlier_cap, entry->seq);
        if (err != FOUNDRY_OK)
            return err;
        if (current) {
            sub->grant_msgs += entry->deliveries;
            sub->grant_bytes += (uint64_t) entry->bytes * entry->deliveries;
        }
    }
    fdy_unacked_remove(&sub->unacked, entry);
    return FOUNDRY_OK;
}

/* ---- (re)subscribing and ending ------------------------------------------ */

static foundry_sub_t *
s_find_serial(const fdy_sub_registry_t *self, uint64_t serial)
{
    for (foundry_sub_t *sub = self->first; sub; sub = sub->next)
        if (sub->serial == serial)
            return sub;
    return NULL;
}

/* Starts over with a new subscription: the credit the old one was owed is
 * void, and durable messages it had queued are dropped: the broker
 * redelivers every unacked delivery of an ended subscription at once. */
static void s_end(foundry_sub_t *sub, foundry_err err, const char *fmt, ...) FDY_PRINTF(3, 4);

static void
s_resubscribe(foundry_sub_t *sub)
{
    if (sub->state == SUB_ENDED)
        return;
    if (sub->max_msgs && sub->received + sub->queued >= sub->max_msgs) {
        s_end(sub, FOUNDRY_ECLOSED, "received max_msgs (%llu) messages",
              (unsigned long long) sub->max_msgs);
        return;
    }
    sub->state = SUB_SUBSCRIBING;
    sub->id = 0;
    sub->gen++;
    sub->subscribe_due = true;
    sub->subscribe_request = 0;
    sub->dropped_earlier += sub->dropped;
    sub->dropped = 0;
    /* Acks not yet sent go to the new subscription, without their credit. */
    while (sub->ack_count > 0) {
        if (s_seqs_push(&sub->earlier, &sub->earlier_count, &sub->earlier_cap,
                        sub->acks[sub->ack_count - 1]) != FOUNDRY_OK)
            break; /* out of memory: those messages are redelivered */
        sub->ack_count--;
    }
    sub->ack_count = 0;
    sub->grant_msgs = 0;
    sub->grant_bytes = 0;
    if (sub->durable)
        s_queue_clear(sub);
}

static void
s_end(foundry_sub_t *sub, foundry_err err, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(sub->end_reason, sizeof sub->end_reason, fmt, args);
    va_end(args);
    sub->state = SUB_ENDED;
    sub->end_err = err;
    sub->id = 0;
    sub->subscribe_due = false;
    sub->ack_count = 0;
    sub->earlier_count = 0;
    sub->grant_msgs = 0;
    sub->grant_bytes = 0;
}

static const char *
s_describe(const foundry_sub_t *sub, char *buf, size_t size)
{
    if (sub->durable)
        snprintf(buf, size, "consumer %s of stream %s", sub->consumer, sub->stream);
    else
        snprintf(buf, size, "filter %s", sub->filter);
    return buf;
}

void
fdy_sub_on_reconnect(fdy_sub_registry_t *self)
{
    for (foundry_sub_t *sub = self->first; sub; sub = sub->next)
        s_resubscribe(sub);
    /* Ids of the old connection are the old broker's business now. */
    self->orphan_count = 0;
    self->last_ping_ms = 0;
}

/* The answer to an UNSUBSCRIBE: the broker has handled everything we sent
 * before it, our last acks included. */
static void
s_on_left(fdy_sub_registry_t *self, const fdy_envelope_t *env)
{
    foundry_sub_t *sub = s_find_serial(self, s_request_serial(env->request_id));
    if (sub && sub->leave_request == env->request_id)
        sub->leave_request = 0;
}

static void
s_on_subscribed(fdy_sub_registry_t *self, const fdy_envelope_t *env)
{
    unsigned kind = s_request_kind(env->request_id);
    if (!(env->request_id & CONTROL_BIT))
        return;
    if (kind == REQ_UNSUBSCRIBE) {
        s_on_left(self, env);
        return;
    }
    foundry_sub_t *sub = s_find_serial(self, s_request_serial(env->request_id));
    if (sub && sub->state == SUB_SUBSCRIBING && env->request_id == sub->subscribe_request) {
        if (env->subscription == 0) {
            s_end(sub, FOUNDRY_EPROTO, "the broker confirmed the subscription without an id");
            return;
        }
        sub->id = env->subscription;
        sub->state = SUB_ACTIVE;
        char what[2 * NAME_MAX_LEN + 32];
        fdy_log_debug("CLIENT-SUBSCRIBED", "%s: subscription %llu",
                      s_describe(sub, what, sizeof what), (unsigned long long) sub->id);
        return;
    }
    /* A subscription nobody waits for any more (closed, timed out, or
     * superseded by a resubscribe): end it rather than let it take credit
     * until the broker's liveness check. */
    if (env->subscription != 0)
        s_send_unsubscribe(self, env->subscription);
}

static foundry_sub_t *
s_find_id(const fdy_sub_registry_t *self, uint64_t id)
{
    if (id == 0)
        return NULL;
    for (foundry_sub_t *sub = self->first; sub; sub = sub->next)
        if (sub->state == SUB_ACTIVE && sub->id == id)
            return sub;
    return NULL;
}

/* The broker ended a subscription by itself (ERROR with request id 0):
 * after its liveness check or a removed consumer (ECLOSED) we subscribe
 * again, which either works or tells why not (ENOTFOUND); a key or ACL
 * change ends it for good. */
static void
s_on_ended(fdy_sub_registry_t *self, const fdy_envelope_t *env, foundry_err code, const char *reason)
{
    foundry_sub_t *sub = s_find_id(self, env->subscription);
    if (!sub)
        return;
    char what[2 * NAME_MAX_LEN + 32];
    fdy_log_notice("CLIENT-SUB-ENDED", "%s: the broker ended subscription %llu: %s (%s)",
                   s_describe(sub, what, sizeof what), (unsigned long long) sub->id, reason,
                   foundry_strerror(code));
    if (code == FOUNDRY_ECLOSED)
        s_resubscribe(sub);
    else
        s_end(sub, code, "%s", reason);
}

static void
s_on_error(fdy_sub_registry_t *self, const fdy_envelope_t *env)
{
    const char *reason = env->error_reason && *env->error_reason
                             ? env->error_reason
                             : foundry_strerror(env->error_code);
    foundry_err code = env->error_code != FOUNDRY_OK ? env->error_code : FOUNDRY_EPROTO;
    if (env->request_id == 0) {
        s_on_ended(self, env, code, reason);
        return;
    }
    unsigned kind = s_request_kind(env->request_id);
    if (kind == REQ_UNSUBSCRIBE)
        s_on_left(self, env);
    foundry_sub_t *sub = s_find_serial(self, s_request_serial(env->request_id));
    char what[2 * NAME_MAX_LEN + 32];
    if (kind == REQ_SUBSCRIBE) {
        if (sub && sub->state == SUB_SUBSCRIBING && env->request_id == sub->subscribe_request) {
            fdy_log_info("CLIENT-SUB-REFUSED", "%s: %s (%s)", s_describe(sub, what, sizeof what),
                         reason, foundry_strerror(code));
            s_end(sub, code, "%s", reason);
        }
        return;
    }
    bool ours = sub && sub->state == SUB_ACTIVE && env->subscription == sub->id;
    if (!ours || kind == REQ_UNSUBSCRIBE || kind == REQ_PING || kind == REQ_ACK_EARLIER) {
        /* Acks of an earlier subscription are refused after a broker
         * restart that lost their delivery: they come again, as
         * redeliveries. */
        fdy_log_debug("CLIENT-SUB-ERROR", "request %llu: %s", (unsigned long long) env->request_id,
                      reason);
        return;
    }
    fdy_log_info("CLIENT-SUB-ERROR", "%s: %s refused: %s (%s)", s_describe(sub, what, sizeof what),
                 kind == REQ_ACK ? "ACK" : "CREDIT", reason, foundry_strerror(code));
    /* ENOTFOUND: the broker no longer knows the subscription. */
    if (code == FOUNDRY_ENOTFOUND)
        s_resubscribe(sub);
}

void
fdy_sub_on_reply(fdy_sub_registry_t *self, const fdy_envelope_t *env)
{
    if (env->kind == FDY_KIND_SUBSCRIBED)
        s_on_subscribed(self, env);
    else if (env->kind == FDY_KIND_ERROR)
        s_on_error(self, env);
    /* PONG: the broker is alive; nothing to do. */
}

/* ---- receiving ---------------------------------------------------------- */

void
fdy_sub_on_deliver(fdy_sub_registry_t *self, const fdy_envelope_t *env, zmq_msg_t *frame)
{
    foundry_sub_t *sub = s_find_id(self, env->subscription);
    if (!sub) {
        fdy_log_debug("CLIENT-DELIVER-STALE", "deliveries for subscription %llu: not ours (any "
                      "more)", (unsigned long long) env->subscription);
        return;
    }
    /* A running total: the largest seen is the latest. */
    if (env->dropped > sub->dropped)
        sub->dropped = env->dropped;
    uint32_t count = env->count;
    /* The broker sends no more than the credit; a frame beyond twice that
     * is a broken broker, and memory must stay bounded all the same. */
    uint64_t bound = 2ull * sub->credit_msgs + FDY_BATCH_MSGS_MAX;
    if (count == 0 || count > FDY_BATCH_MSGS_MAX || sub->queued + count > bound) {
        fdy_log_warn_limited("CLIENT-DELIVER-BAD", "subscription %llu: dropped a frame of %u "
                             "deliveries (%zu queued, credit %u)",
                             (unsigned long long) sub->id, count, sub->queued, sub->credit_msgs);
        return;
    }
    s_node_t *node = s_node_get(sub, count);
    if (!node) {
        /* Out of memory: the credit these took is given back; durable ones
         * come again after the consumer's ack wait. */
        sub->grant_msgs += count;
        return;
    }
    /* Moved before splitting: a tiny frame's bytes live inside the
     * zmq_msg_t itself, so the slices must point into the node's copy. */
    zmq_msg_move(&node->frame, frame);
    fdy_reason_t reason;
    foundry_err err = fdy_codec_split_batch(zmq_msg_data(&node->frame), zmq_msg_size(&node->frame),
                                            count, node->slices, &reason);
    if (err != FOUNDRY_OK) {
        fdy_log_warn_limited("CLIENT-DELIVER-BAD", "subscription %llu: %s",
                             (unsigned long long) sub->id, reason.text);
        sub->grant_msgs += count;
        s_node_recycle(sub, node);
        return;
    }
    node->count = count;
    if (sub->tail)
        sub->tail->next = node;
    else
        sub->head = node;
    sub->tail = node;
    sub->queued += count;
}

/* Decodes the next queued delivery into sub->msg. FOUNDRY_OK, or the
 * decode error of a record that was skipped (its credit is given back). */
static foundry_err
s_take(foundry_sub_t *sub)
{
    s_release_held(sub);
    s_node_t *node = sub->head;
    fdy_slice_t record = node->slices[node->next_index++];
    sub->queued--;
    fdy_arena_reset(sub->arena, 2 * FDY_DECODE_BUDGET(record.len));
    fdy_delivery_t d;
    fdy_msg_t m;
    fdy_reason_t reason;
    /* Views: the bytes stay in the frame, which outlives the message
     * (held below once the queue is done with it); only the text fields
     * are copied, NUL-ended, into the arena, or shared with the memo when
     * they equal the last delivery's (checked once per run, not per
     * message). */
    foundry_err err = fdy_codec_decode_delivery_memo(record.data, record.len, sub->arena,
                                                     &sub->memo, &d, &reason);
    if (err == FOUNDRY_OK)
        err = fdy_codec_decode_msg_memo(d.message, d.message_len, sub->arena, &sub->memo, &m,
                                        &reason);
    if (node->next_index == node->count) {
        sub->head = node->next;
        if (!sub->head)
            sub->tail = NULL;
        node->next = NULL;
        sub->held = node;
    }
    if (err != FOUNDRY_OK) {
        fdy_log_warn_limited("CLIENT-DELIVER-BAD", "subscription %llu: skipped a delivery: %s",
                             (unsigned long long) sub->id, reason.text);
        sub->grant_msgs++;
        return err;
    }
    sub->received++;
    foundry_msg_t *msg = &sub->msg;
    msg->stream = d.stream ? d.stream : "";
    msg->seq = d.seq;
    msg->delivery_count = d.delivery_count;
    msg->subject = m.subject;
    if (m.payload_frame > 0) {
        msg->data = d.ext;
        msg->len = d.ext_len;
    } else {
        msg->data = m.payload;
        msg->len = m.payload_len;
    }
    msg->msg_id = m.id;
    msg->msg_id_len = m.id_len;
    msg->timestamp_ns = m.timestamp_ns;
    msg->stored_ns = d.stored_ns;
    msg->publisher = d.publisher ? d.publisher : "";
    /* Byte credit counts the record's message and external payload, as
     * the broker spends it. */
    uint64_t size = (uint64_t) d.message_len + d.ext_len;
    uint32_t bytes = size < UINT32_MAX ? (uint32_t) size : UINT32_MAX;
    if (msg->seq > sub->max_seq)
        sub->max_seq = msg->seq;
    if (sub->durable) {
        if (fdy_unacked_add(&sub->unacked, msg->seq, bytes, sub->gen) != FOUNDRY_OK) {
            /* Cannot remember it, so it cannot be acked: it is redelivered
             * after the ack wait, and its credit is given back now. */
            sub->grant_msgs++;
            sub->grant_bytes += bytes;
            return FOUNDRY_ENOMEM;
        }
    } else {
        sub->grant_msgs++;
        sub->grant_bytes += bytes;
    }
    return FOUNDRY_OK;
}

/* ---- the registry ------------------------------------------------------ */

fdy_sub_registry_t *
fdy_sub_registry_new(foundry_client_t *client)
{
    fdy_sub_registry_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->client = client;
    self->next_serial = 1;
    return self;
}

static void
s_unlink(fdy_sub_registry_t *self, foundry_sub_t *sub)
{
    if (sub->prev)
        sub->prev->next = sub->next;
    else
        self->first = sub->next;
    if (sub->next)
        sub->next->prev = sub->prev;
    sub->prev = sub->next = NULL;
    self->count--;
    sub->subs = NULL;
}

/* Sends what was acked and tells the broker we are gone, then ends the
 * subscription. Returns true when the UNSUBSCRIBE went out after every
 * ack: its answer then confirms the broker has them (it handles one
 * connection's requests in order). What it does not hear of it learns from
 * its 30 s liveness check, and redelivers. */
static bool
s_leave(foundry_sub_t *sub)
{
    bool confirmable = false;
    if (sub->state == SUB_ACTIVE) {
        sub->grant_msgs = 0; /* acks only: no more messages */
        sub->grant_bytes = 0;
        bool flushed = s_flush(sub) == FOUNDRY_OK;
        fdy_envelope_t env;
        s_env_init(&env, FDY_KIND_UNSUBSCRIBE,
                   s_request_id(sub->subs, sub->serial, REQ_UNSUBSCRIBE));
        env.subscription = sub->id;
        if (s_send(sub->subs, &env) == FOUNDRY_OK) {
            sub->leave_request = env.request_id;
            confirmable = flushed;
        } else if (sub->subs->orphan_count < ORPHANS_MAX) {
            sub->subs->orphans[sub->subs->orphan_count++] = sub->id;
        }
    }
    s_queue_clear(sub);
    s_end(sub, FOUNDRY_ECLOSED, "the subscription was closed");
    return confirmable;
}

/* Pumps until no subscription awaits the answer to its UNSUBSCRIBE, for
 * up to timeout_ms or until the connection drops. */
static void
s_await_left(fdy_sub_registry_t *self, int timeout_ms)
{
    int64_t deadline = fdy_clock_mono_ms() + timeout_ms;
    for (;;) {
        bool waiting = false;
        for (foundry_sub_t *sub = self->first; sub; sub = sub->next)
            waiting = waiting || sub->leave_request != 0;
        if (!waiting || fdy_conn_state(fdy_client_conn(self->client)) != FDY_CONN_UP ||
            s_left_ms(deadline) == 0)
            return;
        fdy_client_pump(self->client, s_left_ms(deadline));
    }
}

void
fdy_sub_leave_all(fdy_sub_registry_t *self, int timeout_ms)
{
    bool wait = false;
    for (foundry_sub_t *sub = self->first; sub; sub = sub->next)
        wait = s_leave(sub) || wait;
    if (wait && !fdy_client_dispatching(self->client))
        s_await_left(self, timeout_ms);
}

void
fdy_sub_registry_destroy(fdy_sub_registry_t **self_p)
{
    fdy_sub_registry_t *self = *self_p;
    if (!self)
        return;
    while (self->first) {
        foundry_sub_t *sub = self->first;
        (void) s_leave(sub);
        s_unlink(self, sub);
        s_end(sub, FOUNDRY_ECLOSED, "the client was closed");
    }
    free(self);
    *self_p = NULL;
}

void
fdy_sub_service(fdy_sub_registry_t *self, int64_t now_ms)
{
    if (self->count == 0) {
        self->last_ping_ms = 0;
        return;
    }
    if (fdy_conn_state(fdy_client_conn(self->client)) != FDY_CONN_UP)
        return;
    if (self->last_ping_ms != 0 && now_ms - self->last_ping_ms >= RESUBSCRIBE_MS) {
        /* We were not called for so long that the broker has likely
         * dropped our subscriptions (and will redeliver their unacked). */
        fdy_log_notice("CLIENT-SUB-IDLE",
                       "no call into the client for %lld ms: subscribing again",
                       (long long) (now_ms - self->last_ping_ms));
        fdy_sub_on_reconnect(self);
    }
    if (self->last_ping_ms == 0 || now_ms - self->last_ping_ms >= PING_EVERY_MS) {
        fdy_envelope_t env;
        s_env_init(&env, FDY_KIND_PING, s_request_id(self, 0, REQ_PING));
        if (s_send(self, &env) == FOUNDRY_OK)
            self->last_ping_ms = now_ms;
    }
    while (self->orphan_count > 0) {
        fdy_envelope_t env;
        s_env_init(&env, FDY_KIND_UNSUBSCRIBE, s_request_id(self, 0, REQ_UNSUBSCRIBE));
        env.subscription = self->orphans[self->orphan_count - 1];
        if (s_send(self, &env) != FOUNDRY_OK)
            break;
        self->orphan_count--;
    }
    for (foundry_sub_t *sub = self->first; sub; sub = sub->next) {
        if (sub->state == SUB_SUBSCRIBING && !sub->subscribe_due &&
            now_ms - sub->subscribe_sent_ms >= SUBSCRIBE_RETRY_MS)
            sub->subscribe_due = true; /* a late answer is unsubscribed */
        if (sub->subscribe_due)
            (void) s_send_subscribe(sub);
        else
            (void) s_flush(sub);
    }
}

int
fdy_sub_wait_ms(const fdy_sub_registry_t *self, int64_t now_ms, int wait_ms)
{
    if (self->count == 0)
        return wait_ms;
    int64_t left = self->last_ping_ms == 0 ? 0 : self->last_ping_ms + PING_EVERY_MS - now_ms;
    if (left < 0)
        left = 0;
    return left < wait_ms ? (int) left : wait_ms;
}

/* ---- public API --------------------------------------------------------- */

FOUNDRY_EXPORT void
foundry_sub_opts_init(foundry_sub_opts_t *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->credit_msgs = 1000;
}

static void
s_sub_free(foundry_sub_t *sub)
{
    s_queue_clear(sub);
    s_release_held(sub);
    while (sub->spare) {
        s_node_t *node = sub->spare;
        sub->spare = node->next;
        s_node_free(node);
    }
    fdy_arena_destroy(&sub->arena);
    fdy_unacked_clear(&sub->unacked);
    free(sub->acks);
    free(sub->earlier);
    free(sub->stream);
    free(sub->consumer);
    free(sub->filter);
    free(sub);
}

static foundry_err
s_check_name(foundry_client_t *client, const char *what, const char *name)
{
    if (!name || !*name)
        return fdy_client_fail(client, FOUNDRY_EINVAL, "a durable subscription needs a %s", what);
    if (strlen(name) > NAME_MAX_LEN)
        return fdy_client_fail(client, FOUNDRY_EINVAL, "%s name longer than %d bytes", what,
                               NAME_MAX_LEN);
    return FOUNDRY_OK;
}

static foundry_err
s_check_opts(foundry_client_t *client, const foundry_sub_opts_t *opts)
{
    if (!opts)
        return fdy_client_fail(client, FOUNDRY_EINVAL, "opts is NULL");
    if (opts->credit_msgs == 0)
        return fdy_client_fail(client, FOUNDRY_EINVAL, "credit_msgs must be at least 1");
    if (opts->filter) {
        if (opts->stream || opts->consumer)
            return fdy_client_fail(client, FOUNDRY_EINVAL,
                                   "give either a filter (ephemeral) or a stream and a consumer "
                                   "(durable), not both");
        fdy_reason_t reason;
        if (fdy_filter_validate(opts->filter, &reason) != FOUNDRY_OK)
            return fdy_client_fail(client, FOUNDRY_EINVAL, "bad filter \"%s\": %s", opts->filter,
                                   reason.text);
        return FOUNDRY_OK;
    }
    if (!opts->stream && !opts->consumer)
        return fdy_client_fail(client, FOUNDRY_EINVAL,
                               "give a filter (ephemeral) or a stream and a consumer (durable)");
    foundry_err err = s_check_name(client, "stream", opts->stream);
    if (err == FOUNDRY_OK)
        err = s_check_name(client, "consumer", opts->consumer);
    return err;
}

static char *
s_dup(const char *text)
{
    return text ? strdup(text) : NULL;
}

FOUNDRY_EXPORT foundry_err
foundry_client_subscribe(foundry_client_t *client, const foundry_sub_opts_t *opts,
                         foundry_sub_t **sub_out)
{
    if (!client || !sub_out)
        return FOUNDRY_EINVAL;
    *sub_out = NULL;
    if (fdy_client_dispatching(client))
        return fdy_client_fail(client, FOUNDRY_EINVAL,
                               "foundry_client_subscribe inside the ack handler");
    foundry_err err = s_check_opts(client, opts);
    if (err != FOUNDRY_OK)
        return err;
    if (fdy_client_refused(client))
        return fdy_client_fail(client, FOUNDRY_EAUTH, "the broker refused our key");

    fdy_sub_registry_t *self = fdy_client_subs(client);
    foundry_sub_t *sub = calloc(1, sizeof *sub);
    if (!sub)
        return fdy_client_fail(client, FOUNDRY_ENOMEM, "out of memory");
    sub->durable = opts->filter == NULL;
    sub->stream = s_dup(opts->stream);
    sub->consumer = s_dup(opts->consumer);
    sub->filter = s_dup(opts->filter);
    sub->credit_msgs = opts->credit_msgs;
    sub->credit_bytes = opts->credit_bytes;
    sub->max_msgs = opts->max_msgs;
    sub->budget = UINT64_MAX;
    /* Acks and credit go out in batches of a quarter of the credit: the
     * broker always has three quarters left to keep sending meanwhile. */
    sub->flush_at = opts->credit_msgs / 4 ? opts->credit_msgs / 4 : 1;
    sub->arena = fdy_arena_new(2 * FDY_DECODE_BUDGET(FDY_DELIVER_FRAME_MAX));
    if ((opts->stream && !sub->stream) || (opts->consumer && !sub->consumer) ||
        (opts->filter && !sub->filter) || !sub->arena) {
        s_sub_free(sub);
        return fdy_client_fail(client, FOUNDRY_ENOMEM, "out of memory");
    }
    sub->serial = self->next_serial++;
    sub->subs = self;
    sub->next = self->first;
    if (self->first)
        self->first->prev = sub;
    self->first = sub;
    self->count++;
    s_resubscribe(sub);

    int64_t deadline = fdy_clock_mono_ms() + fdy_client_ack_timeout_ms(client);
    for (;;) {
        fdy_client_pump(client, s_left_ms(deadline));
        if (sub->state == SUB_ACTIVE) {
            *sub_out = sub;
            return FOUNDRY_OK;
        }
        if (sub->state == SUB_ENDED) {
            err = fdy_client_fail(client, sub->end_err, "%s", sub->end_reason);
            break;
        }
        if (fdy_client_refused(client)) {
            err = fdy_client_fail(client, FOUNDRY_EAUTH, "the broker refused our key");
            break;
        }
        if (s_left_ms(deadline) == 0) {
            err = fdy_client_fail(client, FOUNDRY_ETIMEDOUT,
                                  "the broker did not confirm the subscription within %u ms",
                                  fdy_client_ack_timeout_ms(client));
            break;
        }
    }
    /* A late SUBSCRIBED finds no subscription and is unsubscribed. */
    s_unlink(self, sub);
    s_sub_free(sub);
    return err;
}

FOUNDRY_EXPORT foundry_err
foundry_sub_receive(foundry_sub_t *sub, int timeout_ms, const foundry_msg_t **msg_out)
{
    if (!sub || !msg_out)
        return FOUNDRY_EINVAL;
    foundry_client_t *client = sub->subs ? sub->subs->client : NULL;
    if (client && fdy_client_dispatching(client))
        return fdy_client_fail(client, FOUNDRY_EINVAL,
                               "foundry_sub_receive inside the ack handler");
    /* Read from the clock only once the queue is empty: a receive served
     * from the queue (most of them at full rate) needs no time. */
    int64_t deadline = 0;
    bool pumped = false;
    for (;;) {
        if (sub->queued > 0) {
            if (s_take(sub) != FOUNDRY_OK)
                continue;
            if (sub->grant_msgs >= sub->flush_at || sub->ack_count >= ACK_BATCH_MAX)
                (void) s_flush(sub);
            *msg_out = &sub->msg;
            return FOUNDRY_OK;
        }
        if (!client)
            return FOUNDRY_ECLOSED;
        if (sub->max_msgs && sub->received >= sub->max_msgs) {
            (void) s_flush(sub); /* its last acks */
            return fdy_client_fail(client, FOUNDRY_ECLOSED,
                                   "the subscription received its max_msgs (%llu) messages",
                                   (unsigned long long) sub->max_msgs);
        }
        if (sub->state == SUB_ENDED)
            return fdy_client_fail(client, FOUNDRY_ECLOSED, "the subscription ended: %s",
                                   sub->end_reason);
        if (fdy_client_refused(client))
            return fdy_client_fail(client, FOUNDRY_EAUTH, "the broker refused our key");
        /* Nothing left here: the broker must have every ack and credit
         * before we wait, or it may be waiting for them too. */
        (void) s_flush(sub);
        if (!pumped)
            deadline = fdy_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        if (pumped && (timeout_ms == 0 || (timeout_ms > 0 && s_left_ms(deadline) == 0)))
            return fdy_client_fail(client, FOUNDRY_ETIMEDOUT, "no message within %d ms",
                                   timeout_ms);
        fdy_client_pump(client, timeout_ms < 0 ? 1000 : s_left_ms(deadline));
        pumped = true;
    }
}

FOUNDRY_EXPORT foundry_err
foundry_sub_ack(foundry_sub_t *sub, uint64_t seq)
{
    if (!sub)
        return FOUNDRY_EINVAL;
    if (!sub->durable)
        return FOUNDRY_OK;
    foundry_client_t *client = sub->subs ? sub->subs->client : NULL;
    fdy_unacked_entry_t *entry = fdy_unacked_find(&sub->unacked, seq);
    if (!entry && (seq == 0 || seq > sub->max_seq))
        return client ? fdy_client_fail(client, FOUNDRY_EINVAL,
                                        "seq %llu was never delivered to this subscription",
                                        (unsigned long long) seq)
                      : FOUNDRY_EINVAL;
    if (client && fdy_client_refused(client))
        return fdy_client_fail(client, FOUNDRY_EAUTH, "the broker refused our key");
    if (!entry)
        return FOUNDRY_OK; /* acked already, like the broker takes it */
    if (s_ack_entry(sub, entry) != FOUNDRY_OK)
        return client ? fdy_client_fail(client, FOUNDRY_ENOMEM, "out of memory") : FOUNDRY_ENOMEM;
    if (sub->grant_msgs >= sub->flush_at || sub->queued == 0)
        (void) s_flush(sub);
    return FOUNDRY_OK;
}

FOUNDRY_EXPORT foundry_err
foundry_sub_ack_upto(foundry_sub_t *sub, uint64_t seq)
{
    if (!sub)
        return FOUNDRY_EINVAL;
    if (!sub->durable)
        return FOUNDRY_OK;
    foundry_client_t *client = sub->subs ? sub->subs->client : NULL;
    if (client && fdy_client_refused(client))
        return fdy_client_fail(client, FOUNDRY_EAUTH, "the broker refused our key");
    /* Explicit seqs rather than the wire's cumulative floor: the floor
     * would also ack messages still in our queue that the application has
     * not seen. */
    size_t matched = 0;
    uint64_t low = fdy_unacked_low(&sub->unacked);
    if (seq >= low && seq - low < sub->unacked.cap) {
        /* Acked every few messages: the seqs since the last time are fewer
         * than the slots, so look them up rather than walk the table. */
        for (uint64_t s = low;; s++) { /* ends at seq, even at UINT64_MAX */
            fdy_unacked_entry_t *entry = fdy_unacked_find(&sub->unacked, s);
            if (entry && s_ack_entry(sub, entry) != FOUNDRY_OK)
                return client ? fdy_client_fail(client, FOUNDRY_ENOMEM, "out of memory")
                              : FOUNDRY_ENOMEM;
            matched += entry != NULL;
            if (s == seq)
                break;
        }
    } else {
        for (size_t i = 0; i < sub->unacked.cap;) {
            fdy_unacked_entry_t *entry = fdy_unacked_at(&sub->unacked, i);
            if (entry->seq == 0 || entry->seq > seq) {
                i++;
                continue;
            }
            /* Removal shifts a later entry (or none) into slot i: look again. */
            if (s_ack_entry(sub, entry) != FOUNDRY_OK)
                return client ? fdy_client_fail(client, FOUNDRY_ENOMEM, "out of memory")
                              : FOUNDRY_ENOMEM;
            matched++;
        }
    }
    if (seq < UINT64_MAX)
        fdy_unacked_raise_low(&sub->unacked, seq + 1); /* nothing up to seq is left */
    if (matched == 0 && (seq == 0 || sub->max_seq == 0))
        return client ? fdy_client_fail(client, FOUNDRY_EINVAL,
                                        "nothing up to seq %llu was delivered to this "
                                        "subscription",
                                        (unsigned long long) seq)
                      : FOUNDRY_EINVAL;
    if (sub->grant_msgs >= sub->flush_at || sub->queued == 0)
        (void) s_flush(sub);
    return FOUNDRY_OK;
}

FOUNDRY_EXPORT uint64_t
foundry_sub_dropped(const foundry_sub_t *sub)
{
    return sub ? sub->dropped_earlier + sub->dropped : 0;
}

FOUNDRY_EXPORT void
foundry_sub_close(foundry_sub_t **sub_p)
{
    if (!sub_p || !*sub_p)
        return;
    foundry_sub_t *sub = *sub_p;
    fdy_sub_registry_t *subs = sub->subs;
    if (subs) {
        if (s_leave(sub) && !fdy_client_dispatching(subs->client))
            s_await_left(subs, (int) fdy_client_ack_timeout_ms(subs->client));
        s_unlink(subs, sub);
    }
    s_sub_free(sub);
    *sub_p = NULL;
}
