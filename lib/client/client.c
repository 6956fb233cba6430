/*  client.c: libfoundry's public API (foundry.h). Batches messages into
 *  PUBLISH requests, keeps a window of them in flight, resends after a
 *  reconnect and reports one outcome per message; receives everything the
 *  broker sends on the one connection and hands deliveries and subscription
 *  replies to sub.c. Single-threaded by design: all work happens on the
 *  caller's thread inside the API calls, so the library starts no thread of
 *  its own. Not for wire details (codec.c), sockets (conn.c), ack
 *  bookkeeping (inflight.c) or subscriptions (sub.c).
 */
#include "client.h"
#include "job_client.h"
#include "model_client.h"
#include "model_wire.h"
#include "admin_client.h"

#include "clock.h"
#include "codec.h"
#include "conn.h"
#include "inflight.h"
#include "keys.h"
#include "log.h"
#include "sub.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* Payloads above this travel in their own frame, not inside the batch. */
#define INLINE_PAYLOAD_MAX (64u * 1024u)
/* Library-made message ids: a random per-client prefix and a big-endian
 * counter, so one producer's ids sort in publish order and the broker's
 * dedupe index grows at its end. */
#define ID_PREFIX_LEN 16
#define ID_LEN        (ID_PREFIX_LEN + 8)
/* Longest varint prefix of a batch record. */
#define PREFIX_MAX 10
/* Replies handled per pump before the caller gets control back. */
#define DRAIN_MAX 256
/* A cap, not an allocation: a whole ack with every reason may be large. */
#define REPLY_BUDGET FDY_DECODE_BUDGET(FDY_REPLY_MAX)

struct foundry_client {
    fdy_conn_t *conn;
    fdy_inflight_t *inflight;
    fdy_sub_registry_t *subs;
    fdy_job_client_t *jobs;
    fdy_model_client_t *models;
    fdy_model_wire_t *model_wire;
    fdy_admin_client_t *admin;
    fdy_arena_t *arena;
    foundry_ack_fn *ack_fn;
    void *ack_user;

    uint32_t ack_timeout_ms;
    uint32_t resend_after_ms;
    uint32_t max_in_flight;
    uint32_t batch_max_msgs;
    uint32_t batch_max_bytes;
    uint32_t linger_us;

    fdy_batch_t *open; /* batch being filled, not yet in the table */
    uint64_t next_request_id;
    uint8_t id_prefix[ID_PREFIX_LEN];
    uint64_t id_counter;
    uint64_t wall_base_ns; /* wall and monotonic clocks at the open batch's start */
    uint64_t mono_base_ns;

    uint64_t epoch_seen;    /* connection epoch our sends belong to */
    uint64_t first_unsent;  /* batches from this request id on await a send */
    int64_t next_resend_ms; /* when to look for batches unacked too long */
    uint64_t reconnects;
    bool refused;     /* the broker refused or revoked our key */
    bool dispatching; /* inside the ack handler */
    bool closing;

    /* The one message foundry_client_publish() is waiting for. */
    bool sync_waiting;
    bool sync_done;
    uint64_t sync_request_id;
    uint32_t sync_index;
    foundry_ack_t sync_ack;
    uint8_t sync_id[FOUNDRY_MSG_ID_MAX];
    char sync_stream[FOUNDRY_STREAM_NAME_MAX + 1];
    char sync_reason[FDY_REASON_MAX];

    char last_error[FDY_REASON_MAX + 64];
};

/* Why the last foundry_client_new() on this thread failed. */
static _Thread_local char s_new_error[FDY_REASON_MAX + 64];

/* The application's log handler, behind the core's log sink (the one
 * allowed global, STYLE §10). */
static struct {
    foundry_log_fn *fn;
    void *user;
} s_log_handler;

static void
s_log_forward(int level, const char *id, const char *line, void *user)
{
    (void) user;
    if (s_log_handler.fn)
        s_log_handler.fn((foundry_log_level) level, id, line, s_log_handler.user);
}

FOUNDRY_EXPORT void
foundry_set_log_handler(foundry_log_fn *fn, foundry_log_level max_level, void *user)
{
    s_log_handler.fn = fn;
    s_log_handler.user = user;
    fdy_log_set_sink(fn ? s_log_forward : NULL, (int) max_level, NULL);
}

FOUNDRY_EXPORT void
foundry_client_opts_init(foundry_client_opts_t *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->connect_timeout_ms = 5000;
    opts->ack_timeout_ms = 10000;
    opts->resend_after_ms = 5000;
    opts->max_in_flight = 2048;
    opts->batch_max_msgs = 1024;
    opts->batch_max_bytes = 262144;
    opts->linger_us = 1000;
}

static foundry_err s_error(foundry_client_t *self, foundry_err err, const char *fmt, ...)
    FDY_PRINTF(3, 4);

static foundry_err
s_error(foundry_client_t *self, foundry_err err, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(self->last_error, sizeof self->last_error, fmt, args);
    va_end(args);
    return err;
}

static foundry_err s_new_failed(foundry_err err, const char *fmt, ...) FDY_PRINTF(2, 3);

static foundry_err
s_new_failed(foundry_err err, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(s_new_error, sizeof s_new_error, fmt, args);
    va_end(args);
    return err;
}

FOUNDRY_EXPORT const char *
foundry_client_last_error(const foundry_client_t *client)
{
    return client ? client->last_error : s_new_error;
}

static void
s_destroy(foundry_client_t **self_p)
{
    foundry_client_t *self = *self_p;
    if (!self)
        return;
    fdy_inflight_recycle(self->inflight, &self->open);
    fdy_inflight_destroy(&self->inflight);
    fdy_sub_registry_destroy(&self->subs); /* before the connection: it says goodbye on it */
    fdy_job_client_destroy(&self->jobs);
    fdy_model_client_destroy(&self->models);
    fdy_model_wire_destroy(&self->model_wire);
    fdy_admin_client_destroy(&self->admin);
    fdy_arena_destroy(&self->arena);
    fdy_conn_destroy(&self->conn);
    free(self);
    *self_p = NULL;
}

static foundry_err
s_check_opts(const foundry_client_opts_t *opts)
{
    if (!opts->endpoint || !*opts->endpoint)
        return s_new_failed(FOUNDRY_EINVAL, "no endpoint");
    if (!opts->broker_key_file || !*opts->broker_key_file)
        return s_new_failed(FOUNDRY_EINVAL, "no broker_key_file");
    if (!opts->secret_key_file || !*opts->secret_key_file)
        return s_new_failed(FOUNDRY_EINVAL, "no secret_key_file");
    if (opts->max_in_flight == 0)
        return s_new_failed(FOUNDRY_EINVAL, "max_in_flight must be at least 1");
    if (opts->batch_max_msgs == 0)
        return s_new_failed(FOUNDRY_EINVAL, "batch_max_msgs must be at least 1");
    if (opts->batch_max_bytes == 0)
        return s_new_failed(FOUNDRY_EINVAL, "batch_max_bytes must be at least 1");
    if (opts->connect_timeout_ms > INT32_MAX || opts->ack_timeout_ms > INT32_MAX)
        return s_new_failed(FOUNDRY_EINVAL, "timeout too large");
    return FOUNDRY_OK;
}

FOUNDRY_EXPORT foundry_err
foundry_client_new(const foundry_client_opts_t *opts, foundry_client_t **client_out)
{
    s_new_error[0] = '\0';
    if (!client_out)
        return s_new_failed(FOUNDRY_EINVAL, "client_out is NULL");
    *client_out = NULL;
    if (!opts)
        return s_new_failed(FOUNDRY_EINVAL, "opts is NULL");
    foundry_err err = s_check_opts(opts);
    if (err != FOUNDRY_OK)
        return err;
    if (sodium_init() < 0)
        return s_new_failed(FOUNDRY_EIO, "libsodium failed to initialise");

    fdy_reason_t reason = {{0}};
    fdy_keypair_t *keypair = NULL;
    foundry_client_t *self = NULL;
    char broker_public[FDY_Z85_KEY_LEN + 1];
    err = fdy_keys_load_public(opts->broker_key_file, broker_public, &reason);
    if (err != FOUNDRY_OK) {
        s_new_failed(err, "broker key: %s", reason.text);
        goto out;
    }
    err = fdy_keys_load_secret(opts->secret_key_file, &keypair, &reason);
    if (err != FOUNDRY_OK) {
        s_new_failed(err, "secret key: %s", reason.text);
        goto out;
    }
    self = calloc(1, sizeof *self);
    if (!self) {
        err = s_new_failed(FOUNDRY_ENOMEM, "out of memory");
        goto out;
    }
    self->ack_timeout_ms = opts->ack_timeout_ms;
    self->resend_after_ms = opts->resend_after_ms;
    self->max_in_flight = opts->max_in_flight;
    self->batch_max_msgs =
        opts->batch_max_msgs < FDY_BATCH_MSGS_MAX ? opts->batch_max_msgs : FDY_BATCH_MSGS_MAX;
    self->batch_max_bytes =
        opts->batch_max_bytes < FDY_BATCH_FRAME_MAX ? opts->batch_max_bytes : FDY_BATCH_FRAME_MAX;
    self->linger_us = opts->linger_us;
    self->next_request_id = 1;
    randombytes_buf(self->id_prefix, sizeof self->id_prefix);
    self->inflight = fdy_inflight_new();
    self->arena = fdy_arena_new(REPLY_BUDGET);
    self->subs = fdy_sub_registry_new(self);
    self->jobs = fdy_job_client_new(self);
    self->models = fdy_model_client_new(self);
    self->model_wire = fdy_model_wire_new(self);
    self->admin = fdy_admin_client_new(self);
    if (!self->inflight || !self->arena || !self->subs || !self->jobs || !self->models ||
        !self->model_wire || !self->admin) {
        err = s_new_failed(FOUNDRY_ENOMEM, "out of memory");
        goto out;
    }
    fdy_conn_opts_t conn_opts = {
        .endpoint = opts->endpoint,
        .broker_public = broker_public,
        .public_key = fdy_keypair_public(keypair),
        .secret_key = fdy_keypair_secret(keypair),
    };
    err = fdy_conn_new(&conn_opts, &self->conn, &reason);
    if (err != FOUNDRY_OK) {
        s_new_failed(err, "%s", reason.text);
        goto out;
    }
    fdy_keypair_destroy(&keypair); /* libzmq holds its own copy now */
    err = fdy_conn_wait_up(self->conn, (int) opts->connect_timeout_ms, &reason);
    if (err == FOUNDRY_EIO) { /* "connection refused at E" names it already */
        s_new_failed(err, "%s", reason.text);
        goto out;
    }
    if (err != FOUNDRY_OK) {
        s_new_failed(err, "%s: %s", opts->endpoint, reason.text);
        goto out;
    }
    self->epoch_seen = fdy_conn_epoch(self->conn);
    fdy_log_info("CLIENT-CONNECTED", "connected to %s", opts->endpoint);
    *client_out = self;
    self = NULL;
out:
    fdy_keypair_destroy(&keypair);
    if (self)
        s_destroy(&self);
    return err;
}

FOUNDRY_EXPORT foundry_err
foundry_client_set_ack_handler(foundry_client_t *client, foundry_ack_fn *fn, void *user)
{
    if (!client)
        return FOUNDRY_EINVAL;
    client->ack_fn = fn;
    client->ack_user = user;
    return FOUNDRY_OK;
}

FOUNDRY_EXPORT size_t
foundry_client_unacked(const foundry_client_t *client)
{
    if (!client)
        return 0;
    return fdy_inflight_messages(client->inflight) + (client->open ? client->open->count : 0);
}

FOUNDRY_EXPORT uint64_t
foundry_client_reconnects(const foundry_client_t *client)
{
    return client ? client->reconnects : 0;
}

/* ---- the ack path ---------------------------------------------------- */

static void
s_on_outcome(const foundry_ack_t *ack, uint64_t request_id, uint32_t index, void *ctx)
{
    foundry_client_t *self = ctx;
    if (self->sync_waiting && request_id == self->sync_request_id && index == self->sync_index) {
        /* Copied: the caller reads it after the reply's arena is reset. */
        size_t id_len = ack->msg_id_len <= sizeof self->sync_id ? ack->msg_id_len : 0;
        memcpy(self->sync_id, ack->msg_id, id_len);
        snprintf(self->sync_stream, sizeof self->sync_stream, "%s", ack->stream);
        snprintf(self->sync_reason, sizeof self->sync_reason, "%s", ack->reason);
        self->sync_ack = *ack;
        self->sync_ack.msg_id = self->sync_id;
        self->sync_ack.msg_id_len = id_len;
        self->sync_ack.stream = self->sync_stream;
        self->sync_ack.reason = self->sync_reason;
        self->sync_done = true;
        return;
    }
    if (self->sync_request_id == request_id && self->sync_index == index && request_id != 0)
        return; /* a blocking publish that timed out: nobody asked the handler */
    if (!self->ack_fn)
        return;
    self->dispatching = true;
    self->ack_fn(ack, self->ack_user);
    self->dispatching = false;
}

static void
s_handle_reply(foundry_client_t *self, const fdy_envelope_t *env)
{
    if (env->kind != FDY_KIND_PUBLISH_ACK && env->kind != FDY_KIND_ERROR) {
        fdy_log_debug("CLIENT-REPLY-IGNORED", "ignored a reply of kind %d", (int) env->kind);
        return;
    }
    if (env->kind == FDY_KIND_ERROR) {
        fdy_log_info("CLIENT-REFUSED", "request %llu refused: %s (%s)",
                     (unsigned long long) env->request_id, foundry_strerror(env->error_code),
                     env->error_reason ? env->error_reason : "");
        if (env->error_code == FOUNDRY_EAUTH) {
            self->refused = true;
            s_error(self, FOUNDRY_EAUTH, "the broker refused our key: %s",
                    env->error_reason ? env->error_reason : "");
        }
    }
    fdy_reason_t reason;
    foundry_err err = fdy_inflight_resolve(self->inflight, env, s_on_outcome, self, &reason);
    if (err != FOUNDRY_OK)
        fdy_log_warn_limited("CLIENT-BAD-ACK", "request %llu: %s",
                             (unsigned long long) env->request_id, reason.text);
}

/* A service's reply that is EAUTH means the broker refused our key: the
 * client stops retrying and says so, whichever service the request was for. */
static void
s_note_refusal(foundry_client_t *self, const fdy_envelope_t *env)
{
    if (env->kind == FDY_KIND_ERROR && env->error_code == FOUNDRY_EAUTH) {
        self->refused = true;
        s_error(self, FOUNDRY_EAUTH, "the broker refused our key: %s",
                env->error_reason ? env->error_reason : "");
    }
}

/* Receives one message from the broker if one is ready and routes it:
 * DELIVER (two frames: envelope and batch) to its subscription,
 * subscription replies to sub.c, the rest to the publish path. The frames
 * are read here rather than through fdy_conn_recv() because a delivery's
 * batch frame is kept as it is, without a copy, until handed out.
 * Returns 1 when a message was handled (or skipped), 0 when none was
 * ready, -1 on a socket error. */
static int
s_recv_one(foundry_client_t *self)
{
    void *socket = fdy_conn_socket(self->conn);
    zmq_msg_t head, body;
    zmq_msg_init(&head);
    zmq_msg_init(&body);
    if (zmq_msg_recv(&head, socket, ZMQ_DONTWAIT) < 0) {
        int err = errno;
        zmq_msg_close(&head);
        zmq_msg_close(&body);
        if (err == EAGAIN || err == EINTR)
            return 0;
        fdy_log_warn_limited("CLIENT-RECV", "zmq_msg_recv: %s", zmq_strerror(err));
        return -1;
    }
    /* Parts of one message arrive together: these receives never wait. */
    size_t parts = 1;
    if (zmq_msg_more(&head) && zmq_msg_recv(&body, socket, 0) >= 0) {
        parts = 2;
        if (zmq_msg_more(&body)) {
            zmq_msg_t extra;
            zmq_msg_init(&extra);
            while (zmq_msg_recv(&extra, socket, 0) >= 0 && zmq_msg_more(&extra))
                parts++;
            zmq_msg_close(&extra);
            parts++;
        }
    }
    fdy_arena_reset(self->arena, REPLY_BUDGET);
    fdy_envelope_t env;
    fdy_reason_t reason;
    foundry_err err =
        fdy_codec_decode_envelope(zmq_msg_data(&head), zmq_msg_size(&head), self->arena, &env,
                                  &reason);
    zmq_msg_close(&head); /* the decoded envelope lives in the arena */
    if (err != FOUNDRY_OK) {
        /* An undecodable reply cannot be matched to its batch; that batch
         * is resent after resend_after_ms. */
        fdy_log_warn_limited("CLIENT-BAD-REPLY", "skipped a reply: %s", reason.text);
    } else if (env.kind == FDY_KIND_DELIVER) {
        if (parts == 2)
            fdy_sub_on_deliver(self->subs, &env, &body);
        else
            fdy_log_warn_limited("CLIENT-BAD-REPLY", "skipped a DELIVER of %zu frames, not 2",
                                 parts);
    } else if (fdy_model_wire_owns(&env) && parts <= 2) {
        /* A FETCH reply carries its chunk as the second frame. */
        s_note_refusal(self, &env);
        fdy_model_wire_on_message(self->model_wire, &env, parts == 2 ? &body : NULL);
    } else if (parts != 1) {
        fdy_log_warn_limited("CLIENT-BAD-REPLY", "skipped a reply of kind %d with %zu frames",
                             (int) env.kind, parts);
    } else if (fdy_admin_client_owns(&env)) {
        s_note_refusal(self, &env);
        fdy_admin_client_on_reply(self->admin, &env);
    } else if (fdy_model_client_owns(&env)) {
        s_note_refusal(self, &env);
        fdy_model_client_on_reply(self->models, &env);
    } else if (fdy_job_client_owns(&env)) {
        s_note_refusal(self, &env);
        fdy_job_client_on_reply(self->jobs, &env);
    } else if (fdy_sub_owns(&env)) {
        s_note_refusal(self, &env);
        fdy_sub_on_reply(self->subs, &env);
    } else {
        s_handle_reply(self, &env);
    }
    zmq_msg_close(&body);
    return 1;
}

/* Handles the messages that are ready now, without waiting. Returns how
 * many there were. */
static int
s_drain(foundry_client_t *self)
{
    int handled = 0;
    while (handled < DRAIN_MAX && s_recv_one(self) > 0)
        handled++;
    return handled;
}

/* ---- sending ----------------------------------------------------------- */

static foundry_err
s_seal(foundry_client_t *self)
{
    fdy_batch_t *batch = self->open;
    if (!batch || batch->count == 0)
        return FOUNDRY_OK;
    fdy_envelope_t env;
    memset(&env, 0, sizeof env);
    env.version = FDY_PROTOCOL_VERSION;
    env.kind = FDY_KIND_PUBLISH;
    env.request_id = self->next_request_id;
    env.count = batch->count;
    foundry_err err = fdy_codec_encode_envelope(&env, &batch->env, &batch->env_len);
    if (err != FOUNDRY_OK)
        return s_error(self, err, "cannot encode a batch envelope: %s", foundry_strerror(err));
    batch->request_id = self->next_request_id;
    err = fdy_inflight_push(self->inflight, batch);
    if (err != FOUNDRY_OK) {
        free(batch->env);
        batch->env = NULL;
        batch->request_id = 0;
        return s_error(self, err, "out of memory");
    }
    self->next_request_id++;
    self->open = NULL;
    return FOUNDRY_OK;
}

static bool
s_has_unsent(foundry_client_t *self)
{
    size_t count = fdy_inflight_count(self->inflight);
    return count > 0 &&
           fdy_inflight_at(self->inflight, count - 1)->request_id >= self->first_unsent;
}

static foundry_err
s_send_batch(foundry_client_t *self, fdy_batch_t *batch, int64_t now_ms)
{
    fdy_slice_t frames[3] = {
        {batch->env, batch->env_len},
        {batch->frame, batch->frame_len},
        {batch->payload, batch->payload_len},
    };
    /* The batch frame goes without a copy: it is the bulk of every byte we
     * send, and it stays unchanged until acked and released by libzmq. */
    void *hints[3] = {NULL, fdy_inflight_frame_ref(batch), NULL};
    foundry_err err = fdy_conn_send_zero_copy(self->conn, frames, hints, batch->payload ? 3 : 2,
                                              fdy_inflight_frame_release);
    if (err == FOUNDRY_OK) {
        batch->sent_ms = now_ms;
        batch->sent_epoch = self->epoch_seen;
        if (self->resend_after_ms && self->next_resend_ms == 0)
            self->next_resend_ms = now_ms + self->resend_after_ms;
    }
    return err;
}

/* Sends, in order, the batches not yet sent on this connection. Stops at
 * the first that would block. */
static void
s_send_due(foundry_client_t *self, int64_t now_ms)
{
    if (fdy_conn_state(self->conn) != FDY_CONN_UP)
        return;
    size_t count = fdy_inflight_count(self->inflight);
    for (size_t i = fdy_inflight_lower_bound(self->inflight, self->first_unsent); i < count; i++) {
        fdy_batch_t *batch = fdy_inflight_at(self->inflight, i);
        if (!batch->resolved && s_send_batch(self, batch, now_ms) != FOUNDRY_OK)
            return;
        self->first_unsent = batch->request_id + 1;
    }
}

/* Resends batches sent on this connection that stayed unanswered for
 * resend_after_ms: their request or its reply was lost (a broker restart
 * within one reconnect interval, an undecodable reply). The broker's
 * dedupe makes the resend harmless if it was not. */
static void
s_resend_stale(foundry_client_t *self, int64_t now_ms)
{
    if (!self->resend_after_ms || self->next_resend_ms == 0 || now_ms < self->next_resend_ms)
        return;
    if (fdy_conn_state(self->conn) != FDY_CONN_UP)
        return;
    int64_t next = 0;
    size_t sent = fdy_inflight_lower_bound(self->inflight, self->first_unsent);
    for (size_t i = 0; i < sent; i++) {
        fdy_batch_t *batch = fdy_inflight_at(self->inflight, i);
        if (batch->resolved)
            continue;
        if (now_ms - batch->sent_ms >= (int64_t) self->resend_after_ms) {
            fdy_log_info("CLIENT-RESEND", "request %llu unacknowledged for %lld ms: resending",
                         (unsigned long long) batch->request_id,
                         (long long) (now_ms - batch->sent_ms));
            if (s_send_batch(self, batch, now_ms) != FOUNDRY_OK) {
                next = now_ms + 100; /* would block: try again shortly */
                break;
            }
        }
        int64_t due = batch->sent_ms + self->resend_after_ms;
        if (next == 0 || due < next)
            next = due;
    }
    self->next_resend_ms = next;
}

/* Follows the connection: a new handshake means the broker may have lost
 * whatever was in flight on the old one, so everything unacknowledged is
 * sent again, in order, with its original request and message ids. */
static void
s_follow_conn(foundry_client_t *self)
{
    fdy_conn_process_events(self->conn);
    uint64_t epoch = fdy_conn_epoch(self->conn);
    if (epoch != self->epoch_seen) {
        if (self->epoch_seen != 0) {
            self->reconnects++;
            fdy_log_notice("CLIENT-RECONNECTED", "reconnected; resending %zu unacknowledged",
                           fdy_inflight_messages(self->inflight));
        }
        self->epoch_seen = epoch;
        self->first_unsent = 0;
        self->refused = false; /* the broker's ZAP handler accepted our key again */
        fdy_sub_on_reconnect(self->subs);
        fdy_job_client_service(self->jobs, fdy_clock_mono_ms(), true);
        fdy_model_wire_service(self->model_wire, fdy_clock_mono_ms(), true);
    }
    if (fdy_conn_state(self->conn) == FDY_CONN_AUTH_FAILED && !self->refused) {
        self->refused = true;
        s_error(self, FOUNDRY_EAUTH, "the broker refused our key on reconnect");
    }
}

static void
s_seal_lingering(foundry_client_t *self, uint64_t now_us)
{
    fdy_batch_t *batch = self->open;
    if (batch && batch->count > 0 && now_us - batch->opened_us >= self->linger_us)
        (void) s_seal(self); /* on ENOMEM the batch stays open and we retry */
}

/* Milliseconds until something is due by itself (a lingering batch, a
 * resend check), capped by timeout_ms. */
static int
s_wait_ms(foundry_client_t *self, int timeout_ms, int64_t now_ms)
{
    int64_t wait = timeout_ms;
    if (self->open && self->open->count > 0) {
        uint64_t due_us = self->open->opened_us + self->linger_us;
        uint64_t now_us = fdy_clock_mono_ns() / 1000u;
        int64_t left = due_us > now_us ? (int64_t) ((due_us - now_us + 999u) / 1000u) : 0;
        if (left < wait)
            wait = left;
    }
    if (self->next_resend_ms != 0 && self->resend_after_ms &&
        fdy_conn_state(self->conn) == FDY_CONN_UP) {
        int64_t left = self->next_resend_ms - now_ms;
        if (left < wait)
            wait = left > 0 ? left : 0;
    }
    return fdy_sub_wait_ms(self->subs, now_ms, (int) wait);
}

/* Does whatever is due and, if nothing arrived, waits up to timeout_ms for
 * the socket or the monitor and does it again. Returns early on progress:
 * callers loop on their own condition and deadline. Never runs from inside
 * the ack handler. Returns how many messages it received. */
static int
s_pump(foundry_client_t *self, int timeout_ms)
{
    if (self->dispatching)
        return 0;
    s_follow_conn(self);
    int64_t now_ms = fdy_clock_mono_ms();
    s_seal_lingering(self, fdy_clock_mono_ns() / 1000u);
    s_send_due(self, now_ms);
    s_resend_stale(self, now_ms);
    fdy_sub_service(self->subs, now_ms);
    fdy_job_client_service(self->jobs, now_ms, false);
    fdy_model_wire_service(self->model_wire, now_ms, false);
    int handled = s_drain(self);
    if (handled > 0 || timeout_ms <= 0)
        return handled;
    int wait = s_wait_ms(self, timeout_ms, now_ms);
    if (wait > 0) {
        bool sendable = s_has_unsent(self) && fdy_conn_state(self->conn) == FDY_CONN_UP;
        zmq_pollitem_t items[2] = {
            {fdy_conn_socket(self->conn), 0, (short) (ZMQ_POLLIN | (sendable ? ZMQ_POLLOUT : 0)),
             0},
            {fdy_conn_monitor_socket(self->conn), 0, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, 2, wait) < 0)
            return 0; /* EINTR: the caller's loop checks its deadline */
    }
    s_follow_conn(self);
    now_ms = fdy_clock_mono_ms();
    s_seal_lingering(self, fdy_clock_mono_ns() / 1000u);
    s_send_due(self, now_ms);
    s_resend_stale(self, now_ms);
    fdy_sub_service(self->subs, now_ms);
    fdy_job_client_service(self->jobs, now_ms, false);
    fdy_model_wire_service(self->model_wire, now_ms, false);
    return s_drain(self);
}

static int
s_left_ms(int64_t deadline)
{
    int64_t left = deadline - fdy_clock_mono_ms();
    return left > 0 ? (left < INT32_MAX ? (int) left : INT32_MAX) : 0;
}

/* ---- publishing --------------------------------------------------------- */

static void
s_make_id(foundry_client_t *self, uint8_t id[ID_LEN])
{
    memcpy(id, self->id_prefix, ID_PREFIX_LEN);
    uint64_t counter = ++self->id_counter;
    for (int i = 7; i >= 0; i--) {
        id[ID_PREFIX_LEN + i] = (uint8_t) counter;
        counter >>= 8;
    }
}

/* Waits, processing acks, until the window has room. */
static foundry_err
s_wait_window(foundry_client_t *self)
{
    if (foundry_client_unacked(self) < self->max_in_flight)
        return FOUNDRY_OK;
    /* The open batch must go out, or nothing will free the window. */
    (void) s_seal(self);
    int64_t deadline = fdy_clock_mono_ms() + self->ack_timeout_ms;
    for (;;) {
        if (self->dispatching)
            return s_error(self, FOUNDRY_ETIMEDOUT,
                           "window full (%u unacknowledged) inside the ack handler",
                           self->max_in_flight);
        s_pump(self, s_left_ms(deadline));
        if (foundry_client_unacked(self) < self->max_in_flight)
            return FOUNDRY_OK;
        if (self->refused)
            return s_error(self, FOUNDRY_EAUTH, "the broker refused our key");
        if (s_left_ms(deadline) == 0)
            return s_error(self, FOUNDRY_ETIMEDOUT,
                           "window full: %zu messages unacknowledged after %u ms",
                           foundry_client_unacked(self), self->ack_timeout_ms);
    }
}

static foundry_err
s_open_batch(foundry_client_t *self, uint64_t now_us)
{
    if (self->open)
        return FOUNDRY_OK;
    self->open = fdy_inflight_batch_new(self->inflight);
    if (!self->open)
        return s_error(self, FOUNDRY_ENOMEM, "out of memory");
    self->open->opened_us = now_us;
    return FOUNDRY_OK;
}

static void
s_add_rec(fdy_batch_t *batch, const fdy_msg_t *msg, void *user)
{
    fdy_inflight_rec_t *rec = &batch->recs[batch->count++];
    rec->user = user;
    rec->id_offset = (uint32_t) batch->ids_len;
    rec->id_len = (uint32_t) msg->id_len;
    memcpy(batch->ids + batch->ids_len, msg->id, msg->id_len);
    batch->ids_len += msg->id_len;
}

/* A payload too big to sit inline goes alone, in a batch of one with the
 * payload as frame 2. */
static foundry_err
s_enqueue_external(foundry_client_t *self, fdy_msg_t *msg, void *user, uint64_t now_us,
                   fdy_batch_t **batch_out)
{
    foundry_err err = s_seal(self);
    if (err != FOUNDRY_OK)
        return err;
    err = s_open_batch(self, now_us);
    if (err != FOUNDRY_OK)
        return err;
    fdy_batch_t *batch = self->open;
    const uint8_t *payload = msg->payload;
    size_t payload_len = msg->payload_len;
    msg->payload = NULL;
    msg->payload_len = 0;
    msg->payload_frame = 1;
    size_t size = fdy_codec_msg_size(msg);
    batch->payload = malloc(payload_len);
    if (!batch->payload ||
        fdy_inflight_batch_reserve(batch, size + PREFIX_MAX, msg->id_len) != FOUNDRY_OK) {
        fdy_inflight_recycle(self->inflight, &self->open);
        return s_error(self, FOUNDRY_ENOMEM, "out of memory");
    }
    memcpy(batch->payload, payload, payload_len);
    batch->payload_len = payload_len;
    batch->payload_cap = payload_len;
    batch->frame_len += fdy_codec_batch_put_prefix(size, batch->frame + batch->frame_len);
    batch->frame_len += fdy_codec_msg_write(msg, batch->frame + batch->frame_len);
    s_add_rec(batch, msg, user);
    *batch_out = batch;
    (void) s_seal(self); /* on ENOMEM it stays open and goes out later */
    return FOUNDRY_OK;
}

/* Validates one message and appends it to the open batch, sealing batches
 * that are full. *batch_out and *index_out say where it went. The message
 * is queued if and only if FOUNDRY_OK is returned. */
static foundry_err
s_enqueue(foundry_client_t *self, const char *subject, const void *data, size_t len,
          const void *msg_id, size_t msg_id_len, void *user, fdy_batch_t **batch_out,
          uint32_t *index_out)
{
    if (self->closing)
        return s_error(self, FOUNDRY_ECLOSED, "the client is closing");
    if (self->refused)
        return s_error(self, FOUNDRY_EAUTH, "the broker refused our key");
    if (!subject)
        return s_error(self, FOUNDRY_EINVAL, "subject is NULL");
    if (!data && len > 0)
        return s_error(self, FOUNDRY_EINVAL, "data is NULL with len %zu", len);
    if (!msg_id && msg_id_len > 0)
        return s_error(self, FOUNDRY_EINVAL, "msg_id is NULL with msg_id_len %zu", msg_id_len);
    uint8_t made_id[ID_LEN];
    if (!msg_id) {
        s_make_id(self, made_id);
        msg_id = made_id;
        msg_id_len = ID_LEN;
    }
    fdy_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.id = msg_id;
    msg.id_len = msg_id_len;
    msg.subject = subject;
    msg.payload = data;
    msg.payload_len = len;
    fdy_reason_t reason;
    foundry_err err = fdy_codec_check_msg(&msg, &reason);
    if (err != FOUNDRY_OK)
        return s_error(self, err, "%s", reason.text);
    err = s_wait_window(self);
    if (err != FOUNDRY_OK)
        return err;

    /* One clock read per message: the producer timestamp is the wall time
     * of the batch's first message plus the monotonic time since then. */
    uint64_t now_ns = fdy_clock_mono_ns();
    uint64_t now_us = now_ns / 1000u;
    if (!self->open || self->open->count == 0) {
        self->wall_base_ns = fdy_clock_wall_ns();
        self->mono_base_ns = now_ns;
    }
    msg.timestamp_ns = self->wall_base_ns + (now_ns - self->mono_base_ns);
    if (len > INLINE_PAYLOAD_MAX) {
        *index_out = 0;
        return s_enqueue_external(self, &msg, user, now_us, batch_out);
    }
    size_t size = fdy_codec_msg_size(&msg);
    fdy_batch_t *batch = self->open;
    /* A batch with an external payload stays a batch of one. */
    if (batch && batch->count > 0 &&
        (batch->payload || batch->frame_len + size + PREFIX_MAX > self->batch_max_bytes)) {
        err = s_seal(self);
        if (err != FOUNDRY_OK)
            return err;
    }
    err = s_open_batch(self, now_us);
    if (err != FOUNDRY_OK)
        return err;
    batch = self->open;
    if (fdy_inflight_batch_reserve(batch, size + PREFIX_MAX, msg_id_len) != FOUNDRY_OK)
        return s_error(self, FOUNDRY_ENOMEM, "out of memory");
    batch->frame_len += fdy_codec_batch_put_prefix(size, batch->frame + batch->frame_len);
    batch->frame_len += fdy_codec_msg_write(&msg, batch->frame + batch->frame_len);
    *index_out = batch->count;
    *batch_out = batch;
    s_add_rec(batch, &msg, user);
    if (batch->count >= self->batch_max_msgs || batch->frame_len >= self->batch_max_bytes ||
        now_us - batch->opened_us >= self->linger_us)
        (void) s_seal(self); /* on ENOMEM it stays open and goes out later */
    return FOUNDRY_OK;
}

FOUNDRY_EXPORT foundry_err
foundry_client_publish_async(foundry_client_t *client, const char *subject, const void *data,
                             size_t len, const void *msg_id, size_t msg_id_len, void *user_tag)
{
    if (!client)
        return FOUNDRY_EINVAL;
    fdy_batch_t *batch = NULL;
    uint32_t index = 0;
    foundry_err err =
        s_enqueue(client, subject, data, len, msg_id, msg_id_len, user_tag, &batch, &index);
    if (err != FOUNDRY_OK)
        return err;
    /* Touch the sockets only when a batch was sealed: the per-message path
     * makes no system call. */
    if (s_has_unsent(client))
        s_pump(client, 0);
    return FOUNDRY_OK;
}

FOUNDRY_EXPORT foundry_err
foundry_client_publish(foundry_client_t *client, const char *subject, const void *data, size_t len,
                       const void *msg_id, size_t msg_id_len, foundry_ack_t *ack_out)
{
    if (!client)
        return FOUNDRY_EINVAL;
    if (client->dispatching)
        return s_error(client, FOUNDRY_EINVAL, "foundry_client_publish inside the ack handler");
    fdy_batch_t *batch = NULL;
    uint32_t index = 0;
    foundry_err err =
        s_enqueue(client, subject, data, len, msg_id, msg_id_len, NULL, &batch, &index);
    if (err != FOUNDRY_OK)
        return err;
    if (batch->request_id == 0) {
        err = s_seal(client);
        if (err != FOUNDRY_OK)
            return err; /* queued all the same: it goes out with a later batch */
    }
    client->sync_request_id = batch->request_id;
    client->sync_index = index;
    client->sync_waiting = true;
    client->sync_done = false;
    int64_t deadline = fdy_clock_mono_ms() + client->ack_timeout_ms;
    for (;;) {
        s_pump(client, s_left_ms(deadline));
        if (client->sync_done)
            break;
        if (fdy_conn_state(client->conn) == FDY_CONN_AUTH_FAILED) {
            err = s_error(client, FOUNDRY_EAUTH, "the broker refused our key");
            break;
        }
        if (s_left_ms(deadline) == 0) {
            err = s_error(client, FOUNDRY_ETIMEDOUT,
                          "no ack within %u ms; the message stays "
                          "queued and is resent on reconnect",
                          client->ack_timeout_ms);
            break;
        }
    }
    client->sync_waiting = false;
    if (!client->sync_done)
        return err;
    if (ack_out)
        *ack_out = client->sync_ack;
    if (client->sync_ack.err != FOUNDRY_OK)
        return s_error(client, client->sync_ack.err, "%s",
                       client->sync_ack.reason[0] ? client->sync_ack.reason
                                                  : foundry_strerror(client->sync_ack.err));
    return FOUNDRY_OK;
}

FOUNDRY_EXPORT foundry_err
foundry_client_poll(foundry_client_t *client, int timeout_ms)
{
    if (!client)
        return FOUNDRY_EINVAL;
    if (client->dispatching)
        return s_error(client, FOUNDRY_EINVAL, "foundry_client_poll inside the ack handler");
    int64_t deadline = fdy_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int handled;
    do {
        /* Until the socket is empty, even with timeout 0: an event loop
         * woken by foundry_client_fd() is not woken again for messages
         * that were already queued. */
        handled = s_pump(client, s_left_ms(deadline));
        if (client->refused)
            return s_error(client, FOUNDRY_EAUTH, "the broker refused our key");
    } while (s_left_ms(deadline) > 0 || handled >= DRAIN_MAX);
    return FOUNDRY_OK;
}

FOUNDRY_EXPORT foundry_err
foundry_client_flush(foundry_client_t *client, int timeout_ms)
{
    if (!client)
        return FOUNDRY_EINVAL;
    if (client->dispatching)
        return s_error(client, FOUNDRY_EINVAL, "foundry_client_flush inside the ack handler");
    (void) s_seal(client);
    int64_t deadline = fdy_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        /* Check before pumping: with nothing unacknowledged a pump would
         * only wait for a reply that never comes, up to the deadline. */
        if (foundry_client_unacked(client) == 0)
            return FOUNDRY_OK;
        s_pump(client, s_left_ms(deadline));
        (void) s_seal(client); /* retried if it once failed for memory */
        if (foundry_client_unacked(client) == 0)
            return FOUNDRY_OK;
        if (fdy_conn_state(client->conn) == FDY_CONN_AUTH_FAILED)
            return s_error(client, FOUNDRY_EAUTH,
                           "the broker refused our key; %zu messages "
                           "unacknowledged",
                           foundry_client_unacked(client));
        if (s_left_ms(deadline) == 0)
            return s_error(client, FOUNDRY_ETIMEDOUT, "%zu messages unacknowledged after %d ms",
                           foundry_client_unacked(client), timeout_ms);
    }
}

FOUNDRY_EXPORT foundry_err
foundry_client_close(foundry_client_t **client_p, int flush_timeout_ms, size_t *unacked_out)
{
    if (unacked_out)
        *unacked_out = 0;
    if (!client_p || !*client_p)
        return FOUNDRY_OK;
    foundry_client_t *self = *client_p;
    if (self->dispatching)
        return s_error(self, FOUNDRY_EINVAL, "foundry_client_close inside the ack handler");
    /* Its outcome is the unacknowledged count, read next. */
    foundry_err flushed = foundry_client_flush(self, flush_timeout_ms > 0 ? flush_timeout_ms : 0);
    (void) flushed;
    /* Subscriptions the application left open: their acks must reach the
     * broker before the socket closes without lingering. */
    fdy_sub_leave_all(self->subs, (int) self->ack_timeout_ms);
    /* An open submit batch leaves now, as a single submit would have. */
    fdy_job_client_service(self->jobs, fdy_clock_mono_ms(), false);
    size_t unacked = foundry_client_unacked(self);
    self->closing = true;
    if (unacked > 0) {
        fdy_log_notice("CLIENT-CLOSED-UNACKED", "closing with %zu messages unacknowledged",
                       unacked);
        const char *why = "the client was closed before the broker acknowledged it";
        /* A batch that could not be sealed is reported like the others. */
        if (self->open && self->open->count > 0 && s_seal(self) != FOUNDRY_OK) {
            for (uint32_t i = 0; i < self->open->count; i++) {
                const fdy_inflight_rec_t *rec = &self->open->recs[i];
                foundry_ack_t ack = {self->open->ids + rec->id_offset,
                                     rec->id_len,
                                     "",
                                     0,
                                     0,
                                     FOUNDRY_ECLOSED,
                                     why,
                                     rec->user};
                s_on_outcome(&ack, 0, i, self);
            }
        }
        fdy_inflight_fail_all(self->inflight, FOUNDRY_ECLOSED, why, s_on_outcome, self);
    }
    s_destroy(client_p);
    if (unacked_out)
        *unacked_out = unacked;
    return unacked == 0 ? FOUNDRY_OK : FOUNDRY_ETIMEDOUT;
}

FOUNDRY_EXPORT int
foundry_client_fd(foundry_client_t *client)
{
    if (!client)
        return -1;
    int fd = -1;
    size_t size = sizeof fd;
    if (zmq_getsockopt(fdy_conn_socket(client->conn), ZMQ_FD, &fd, &size) != 0) {
        s_error(client, FOUNDRY_EIO, "ZMQ_FD: %s", zmq_strerror(errno));
        return -1;
    }
    return fd;
}

/* ---- for sub.c (client.h) ------------------------------------------------ */

void
fdy_client_pump(foundry_client_t *self, int timeout_ms)
{
    (void) s_pump(self, timeout_ms);
}

fdy_conn_t *
fdy_client_conn(foundry_client_t *self)
{
    return self->conn;
}

fdy_sub_registry_t *
fdy_client_subs(foundry_client_t *self)
{
    return self->subs;
}

fdy_job_client_t *
fdy_client_jobs(foundry_client_t *self)
{
    return self->jobs;
}

fdy_model_client_t *
fdy_client_models(foundry_client_t *self)
{
    return self->models;
}

fdy_model_wire_t *
fdy_client_model_wire(foundry_client_t *self)
{
    return self->model_wire;
}

fdy_admin_client_t *
fdy_client_admin(foundry_client_t *self)
{
    return self->admin;
}

bool
fdy_client_dispatching(const foundry_client_t *self)
{
    return self->dispatching;
}

bool
fdy_client_refused(const foundry_client_t *self)
{
    return self->refused || fdy_conn_state(self->conn) == FDY_CONN_AUTH_FAILED;
}

uint32_t
fdy_client_ack_timeout_ms(const foundry_client_t *self)
{
    return self->ack_timeout_ms;
}

foundry_err
fdy_client_fail(foundry_client_t *self, foundry_err err, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(self->last_error, sizeof self->last_error, fmt, args);
    va_end(args);
    return err;
}
