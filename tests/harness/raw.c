/*  raw.c: a raw CURVE DEALER speaking the wire protocol to the real broker
 *  without libfoundry's checks, for protocol-level integration tests:
 *  send envelopes, receive replies and DELIVER batches, subscribe, ack,
 *  credit. Every wait has a deadline.
 */
#include "raw.h"

#include "arena.h"
#include "clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

void
fdy_raw_open(fdy_proc_t *p, const char *name, const char *routing_id, fdy_raw_t *raw)
{
    memset(raw, 0, sizeof *raw);
    FDY_CHECK_OK(fdy_proc_dealer_new_id(p, name, routing_id, &raw->dealer));
    raw->arena = fdy_arena_new(1 << 20);
    FDY_CHECK(raw->arena);
    raw->request_id = 500;
}

void
fdy_raw_open_slow(fdy_proc_t *p, const char *name, fdy_raw_t *raw)
{
    memset(raw, 0, sizeof *raw);
    FDY_CHECK_OK(fdy_proc_dealer_new_slow(p, name, &raw->dealer));
    raw->arena = fdy_arena_new(1 << 20);
    FDY_CHECK(raw->arena);
    raw->request_id = 500;
}

void
fdy_raw_close(fdy_raw_t *raw)
{
    fdy_proc_dealer_destroy(&raw->dealer);
    fdy_arena_destroy(&raw->arena);
}

uint64_t
fdy_raw_send_frame(fdy_raw_t *raw, const uint8_t *buf, size_t len)
{
    fdy_slice_t frame = {buf, len};
    FDY_CHECK_OK(fdy_proc_dealer_send(raw->dealer, &frame, 1));
    return raw->request_id;
}

/* Sends env with a fresh request id; returns the id. */
uint64_t
fdy_raw_send(fdy_raw_t *raw, fdy_envelope_t *env)
{
    env->request_id = ++raw->request_id;
    uint8_t *buf = NULL;
    size_t len = 0;
    FDY_CHECK_OK(fdy_codec_encode_envelope(env, &buf, &len));
    fdy_raw_send_frame(raw, buf, len);
    free(buf);
    return env->request_id;
}

/* Receives the next message (a reply, or a DELIVER and its batch frame)
 * within timeout_ms. Returns FOUNDRY_OK or FOUNDRY_ETIMEDOUT. */
foundry_err
fdy_raw_next(fdy_raw_t *raw, int timeout_ms, fdy_raw_msg_t *out)
{
    memset(out, 0, sizeof *out);
    zmq_pollitem_t item = {raw->dealer->socket, 0, ZMQ_POLLIN, 0};
    int64_t deadline = fdy_clock_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - fdy_clock_mono_ms();
        if (left < 0)
            return FOUNDRY_ETIMEDOUT;
        int ready = zmq_poll(&item, 1, (long) left);
        FDY_CHECK(ready >= 0 || zmq_errno() == EINTR);
        if (ready > 0)
            break;
    }
    zmq_msg_t frames[2];
    size_t n = 0;
    bool more = true;
    while (more) {
        FDY_CHECK_MSG(n < 2, "a broker message of more than 2 frames");
        zmq_msg_init(&frames[n]);
        FDY_CHECK(zmq_msg_recv(&frames[n], raw->dealer->socket, 0) >= 0);
        more = zmq_msg_more(&frames[n]);
        n++;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += zmq_msg_size(&frames[i]);
    fdy_arena_reset(raw->arena, FDY_DECODE_BUDGET(total) + 256u * FDY_RAW_DELIVERIES_MAX);
    fdy_envelope_t env;
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_codec_decode_envelope(zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]),
                                                raw->arena, &env, &reason);
    FDY_CHECK_MSG(err == FOUNDRY_OK, "broker message does not decode: %s", reason.text);
    out->kind = env.kind;
    out->request_id = env.request_id;
    out->subscription = env.subscription;
    if (env.kind == FDY_KIND_ERROR) {
        out->error_code = env.error_code;
        snprintf(out->reason, sizeof out->reason, "%s", env.error_reason ? env.error_reason : "");
    }
    if (env.kind == FDY_KIND_DELIVER) {
        FDY_CHECK_MSG(n == 2, "DELIVER without its batch frame");
        FDY_CHECK(env.count > 0 && env.count <= FDY_RAW_DELIVERIES_MAX);
        fdy_slice_t *slices = calloc(env.count, sizeof *slices);
        FDY_CHECK(slices);
        err = fdy_codec_split_batch(zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]), env.count,
                                    slices, &reason);
        FDY_CHECK_MSG(err == FOUNDRY_OK, "DELIVER batch frame: %s", reason.text);
        for (size_t i = 0; i < env.count; i++) {
            fdy_delivery_t d;
            err = fdy_codec_decode_delivery(slices[i].data, slices[i].len, raw->arena, &d, &reason);
            FDY_CHECK_MSG(err == FOUNDRY_OK, "delivery %zu: %s", i, reason.text);
            out->seqs[i] = d.seq;
            out->delivery_counts[i] = d.delivery_count;
        }
        out->count = env.count;
        free(slices);
    } else
        FDY_CHECK_MSG(n == 1, "a reply of kind %d with %zu frames", (int) env.kind, n);
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&frames[i]);
    return FOUNDRY_OK;
}


void
fdy_raw_take(const fdy_raw_msg_t *msg, uint64_t subscription, fdy_raw_seqs_t *got)
{
    FDY_CHECK_MSG(msg->kind == FDY_KIND_DELIVER, "unexpected kind %d (error %d: %s)",
                  (int) msg->kind, (int) msg->error_code, msg->reason);
    FDY_CHECK_EQ(msg->subscription, subscription);
    for (size_t i = 0; i < msg->count && got->count < 4096; i++)
        got->seqs[got->count++] = msg->seqs[i];
}

/* Waits for the reply to request_id, collecting deliveries (into got, may
 * be NULL only when none may arrive) on the way. */
void
fdy_raw_reply(fdy_raw_t *raw, uint64_t request_id, uint64_t subscription, fdy_raw_msg_t *reply,
            fdy_raw_seqs_t *got)
{
    int64_t deadline = fdy_clock_mono_ms() + FDY_RAW_REPLY_TIMEOUT_MS;
    for (;;) {
        int64_t left = deadline - fdy_clock_mono_ms();
        FDY_CHECK_MSG(left > 0 && fdy_raw_next(raw, (int) left, reply) == FOUNDRY_OK,
                      "no reply to request %" PRIu64, request_id);
        if (reply->kind != FDY_KIND_DELIVER)
            break;
        FDY_CHECK_MSG(got, "a DELIVER where none may come");
        fdy_raw_take(reply, subscription ? subscription : reply->subscription, got);
    }
    FDY_CHECK_MSG(reply->request_id == request_id,
                  "reply to %" PRIu64 " while waiting for %" PRIu64, reply->request_id, request_id);
}

/* Collects deliveries until `want` arrived (then FDY_RAW_QUIET_MS more, to see
 * that nothing beyond arrives) or the deadline passes. */
void
fdy_raw_collect(fdy_raw_t *raw, uint64_t subscription, size_t want, fdy_raw_seqs_t *got)
{
    int64_t deadline = fdy_clock_mono_ms() + FDY_RAW_RECV_TIMEOUT_MS;
    while (got->count < want) {
        int64_t left = deadline - fdy_clock_mono_ms();
        fdy_raw_msg_t *msg = malloc(sizeof *msg);
        FDY_CHECK(msg);
        FDY_CHECK_MSG(left > 0 && fdy_raw_next(raw, (int) left, msg) == FOUNDRY_OK,
                      "%zu deliveries, want %zu", got->count, want);
        fdy_raw_take(msg, subscription, got);
        free(msg);
    }
    fdy_raw_msg_t *msg = malloc(sizeof *msg);
    FDY_CHECK(msg);
    foundry_err err = fdy_raw_next(raw, FDY_RAW_QUIET_MS, msg);
    FDY_CHECK_MSG(err == FOUNDRY_ETIMEDOUT,
                  "after %zu deliveries: kind %d with %zu more (first seq %" PRIu64
                  "): more than granted",
                  got->count, (int) msg->kind, msg->count, msg->seqs[0]);
    free(msg);
}

uint64_t
fdy_raw_subscribe(fdy_raw_t *raw, const char *stream, const char *consumer, uint32_t credit,
                fdy_raw_seqs_t *got)
{
    fdy_envelope_t env = {0};
    env.kind = FDY_KIND_SUBSCRIBE;
    env.sub_stream = stream;
    env.sub_consumer = consumer;
    env.credit_msgs = credit;
    uint64_t id = fdy_raw_send(raw, &env);
    fdy_raw_msg_t *reply = malloc(sizeof *reply);
    FDY_CHECK(reply);
    fdy_raw_reply(raw, id, 0, reply, got);
    FDY_CHECK_MSG(reply->kind == FDY_KIND_SUBSCRIBED && reply->subscription != 0,
                  "SUBSCRIBE %s/%s: kind %d error %s: %s", stream, consumer, (int) reply->kind,
                  foundry_strerror(reply->error_code), reply->reason);
    uint64_t subscription = reply->subscription;
    free(reply);
    return subscription;
}

/* Sends env and expects an ERROR reply with one of the codes (want2 may
 * equal want) and a reason. No delivery may come in between. */
void
fdy_raw_expect_error(fdy_raw_t *raw, fdy_envelope_t *env, foundry_err want, foundry_err want2,
                   const char *what)
{
    uint64_t id = fdy_raw_send(raw, env);
    fdy_raw_msg_t *reply = malloc(sizeof *reply);
    FDY_CHECK(reply);
    fdy_raw_reply(raw, id, 0, reply, NULL);
    FDY_CHECK_MSG(reply->kind == FDY_KIND_ERROR &&
                      (reply->error_code == want || reply->error_code == want2) && reply->reason[0],
                  "%s: kind %d error %d (%s) \"%s\", want ERROR %s", what, (int) reply->kind,
                  (int) reply->error_code, foundry_strerror(reply->error_code), reply->reason,
                  foundry_strerror(want));
    free(reply);
}

/* UNSUBSCRIBE, answered by a SUBSCRIBED echo (deliveries on the way are
 * ignored: the subscription is going). */
void
fdy_raw_unsubscribe(fdy_raw_t *raw, uint64_t subscription)
{
    fdy_envelope_t env = {0};
    env.kind = FDY_KIND_UNSUBSCRIBE;
    env.subscription = subscription;
    uint64_t id = fdy_raw_send(raw, &env);
    fdy_raw_msg_t *reply = malloc(sizeof *reply);
    fdy_raw_seqs_t *scratch = calloc(1, sizeof *scratch);
    FDY_CHECK(reply && scratch);
    fdy_raw_reply(raw, id, subscription, reply, scratch);
    FDY_CHECK_MSG(reply->kind == FDY_KIND_SUBSCRIBED && reply->subscription == subscription,
                  "UNSUBSCRIBE: kind %d error %s: %s", (int) reply->kind,
                  foundry_strerror(reply->error_code), reply->reason);
    free(reply);
    free(scratch);
}

void
fdy_raw_ack(fdy_raw_t *raw, uint64_t subscription, const uint64_t *seqs, size_t count)
{
    fdy_envelope_t env = {0};
    env.kind = FDY_KIND_ACK;
    env.subscription = subscription;
    env.ack_seqs = seqs;
    env.ack_seq_count = count;
    fdy_raw_send(raw, &env);
}

void
fdy_raw_credit(fdy_raw_t *raw, uint64_t subscription, uint32_t msgs)
{
    fdy_envelope_t env = {0};
    env.kind = FDY_KIND_CREDIT;
    env.subscription = subscription;
    env.credit_msgs = msgs;
    fdy_raw_send(raw, &env);
}
