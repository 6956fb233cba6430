/*  conn.c: one CURVE DEALER connection to a broker plus the socket monitor
 *  that tells us whether the handshake succeeded, failed or dropped. It moves
 *  frames and decodes replies; it knows nothing of batches, windows or
 *  resends (libfoundry's client.c) or of admin tables (foundryctl).
 */
#include "conn.h"

#include "clock.h"
#include "conn_probe.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* A handshake that dies without detail (the server dropped the connection
 * mid-handshake) is what a wrong broker key looks like, but also what a
 * broker killed at the wrong moment looks like. Only this many in a row,
 * with no success between them, count as a refusal. */
#define NO_DETAIL_LIMIT 3

#define MONITOR_EVENTS                                                                             \
    (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |    \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |                \
     ZMQ_EVENT_CONNECT_RETRIED)

/* How long wait_up's probe of a failed connect may take: the connect is
 * refused within a round trip, anything slower is not a refusal. */
#define PROBE_MAX_MS 500
/* After a temporary refusal (ZAP 500) libzmq gives the connection up
 * (a handshake ERROR ends its session): we connect again this much later. */
#define TEMPORARY_RETRY_MS 1000

struct fdy_conn {
    void *ctx;
    void *socket;  /* DEALER */
    void *monitor; /* PAIR connected to the DEALER's monitor */
    fdy_conn_state_t state;
    uint64_t epoch;
    unsigned no_detail; /* handshakes failed without detail since the last success */
    bool retried;       /* a connect attempt failed since wait_up last looked */
    char *endpoint;     /* for the probe of a failed connect */
    char failure[128];  /* why the last handshake failed, for reasons */
    int64_t reconnect_at_ms; /* after a temporary refusal; 0: none due */
};

/* Maps a failed zmq call: out of memory, out of sockets or descriptors
 * (EMFILE: nothing the caller passed was wrong), or a bad value. */
static foundry_err
s_zmq_error(fdy_reason_t *reason, const char *what)
{
    int err = errno;
    foundry_err code = err == ENOMEM                    ? FOUNDRY_ENOMEM
                       : err == EMFILE || err == ENFILE ? FOUNDRY_EIO
                                                        : FOUNDRY_EINVAL;
    return fdy_reason_set(reason, code, "%s: %s", what, zmq_strerror(err));
}

static foundry_err
s_set_int(void *socket, int option, int value, fdy_reason_t *reason, const char *what)
{
    if (zmq_setsockopt(socket, option, &value, sizeof value) != 0)
        return s_zmq_error(reason, what);
    return FOUNDRY_OK;
}

static foundry_err
s_set_key(void *socket, int option, const char *z85, fdy_reason_t *reason, const char *what)
{
    if (!z85 || strlen(z85) != FDY_Z85_KEY_LEN)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s: not a 40-character Z85 key", what);
    if (zmq_setsockopt(socket, option, z85, FDY_Z85_KEY_LEN) != 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s: %s", what, zmq_strerror(errno));
    return FOUNDRY_OK;
}

/* Socket options must all be set before connect: CURVE keys and
 * ZMQ_IMMEDIATE only apply to connections made after them. */
static foundry_err
s_configure(fdy_conn_t *self, const fdy_conn_opts_t *opts, fdy_reason_t *reason)
{
    foundry_err err = s_set_int(self->socket, ZMQ_LINGER, 0, reason, "ZMQ_LINGER");
    if (err == FOUNDRY_OK)
        err = s_set_int(self->socket, ZMQ_IMMEDIATE, 1, reason, "ZMQ_IMMEDIATE");
    if (err == FOUNDRY_OK)
        err = s_set_int(self->socket, ZMQ_SNDHWM, opts->sndhwm > 0 ? opts->sndhwm : 1000, reason,
                        "ZMQ_SNDHWM");
    if (err == FOUNDRY_OK)
        err = s_set_int(self->socket, ZMQ_RCVHWM, opts->rcvhwm > 0 ? opts->rcvhwm : 1000, reason,
                        "ZMQ_RCVHWM");
    /* Reconnect quickly after a broker restart, backing off to 2 s while it
     * stays away. */
    if (err == FOUNDRY_OK)
        err = s_set_int(self->socket, ZMQ_RECONNECT_IVL, 100, reason, "ZMQ_RECONNECT_IVL");
    if (err == FOUNDRY_OK)
        err = s_set_int(self->socket, ZMQ_RECONNECT_IVL_MAX, 2000, reason, "ZMQ_RECONNECT_IVL_MAX");
    /* ZMTP heartbeats notice a broker that vanished without closing TCP. */
    if (err == FOUNDRY_OK)
        err = s_set_int(self->socket, ZMQ_HEARTBEAT_IVL, 5000, reason, "ZMQ_HEARTBEAT_IVL");
    if (err == FOUNDRY_OK)
        err =
            s_set_int(self->socket, ZMQ_HEARTBEAT_TIMEOUT, 15000, reason, "ZMQ_HEARTBEAT_TIMEOUT");
    if (err == FOUNDRY_OK)
        err = s_set_key(self->socket, ZMQ_CURVE_SERVERKEY, opts->broker_public, reason,
                        "broker public key");
    if (err == FOUNDRY_OK)
        err = s_set_key(self->socket, ZMQ_CURVE_PUBLICKEY, opts->public_key, reason,
                        "our public key");
    if (err == FOUNDRY_OK)
        err = s_set_key(self->socket, ZMQ_CURVE_SECRETKEY, opts->secret_key, reason,
                        "our secret key");
    return err;
}

foundry_err
fdy_conn_new(const fdy_conn_opts_t *opts, fdy_conn_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    if (!opts || !opts->endpoint || !*opts->endpoint)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "no broker endpoint");
    fdy_conn_t *self = calloc(1, sizeof *self);
    if (!self)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    foundry_err err = FOUNDRY_OK;
    /* Our own context: the library must not share state with whatever
     * ZeroMQ use the application makes, and destroying it is one call. */
    self->ctx = zmq_ctx_new();
    if (!self->ctx) {
        err = s_zmq_error(reason, "zmq_ctx_new");
        goto out;
    }
    self->socket = zmq_socket(self->ctx, ZMQ_DEALER);
    if (!self->socket) {
        err = s_zmq_error(reason, "zmq_socket");
        goto out;
    }
    err = s_configure(self, opts, reason);
    if (err != FOUNDRY_OK)
        goto out;

    /* inproc names are scoped to the context, which is ours alone; the
     * address still names this conn so a debugger can tell them apart. */
    char monitor_endpoint[64];
    snprintf(monitor_endpoint, sizeof monitor_endpoint, "inproc://fdy-conn-monitor-%p",
             (void *) self);
    if (zmq_socket_monitor(self->socket, monitor_endpoint, MONITOR_EVENTS) != 0) {
        err = s_zmq_error(reason, "zmq_socket_monitor");
        goto out;
    }
    /* Connect the PAIR before the DEALER connects, so no event is lost. */
    self->monitor = zmq_socket(self->ctx, ZMQ_PAIR);
    if (!self->monitor) {
        err = s_zmq_error(reason, "zmq_socket(PAIR)");
        goto out;
    }
    err = s_set_int(self->monitor, ZMQ_LINGER, 0, reason, "ZMQ_LINGER");
    if (err != FOUNDRY_OK)
        goto out;
    if (zmq_connect(self->monitor, monitor_endpoint) != 0) {
        err = s_zmq_error(reason, "monitor connect");
        goto out;
    }
    if (zmq_connect(self->socket, opts->endpoint) != 0) {
        err = fdy_reason_set(reason, errno == ENOMEM ? FOUNDRY_ENOMEM : FOUNDRY_EINVAL,
                             "bad endpoint \"%s\": %s", opts->endpoint, zmq_strerror(errno));
        goto out;
    }
    self->endpoint = strdup(opts->endpoint);
    if (!self->endpoint) {
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
        goto out;
    }
    self->state = FDY_CONN_CONNECTING;
    *out = self;
    self = NULL;
out:
    fdy_conn_destroy(&self);
    return err;
}

void
fdy_conn_destroy(fdy_conn_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fdy_conn_t *self = *self_p;
    if (self->socket) {
        zmq_socket_monitor(self->socket, NULL, 0);
        zmq_close(self->socket);
    }
    if (self->monitor)
        zmq_close(self->monitor);
    if (self->ctx) {
        /* Every socket has linger 0, so this does not wait for the network. */
        while (zmq_ctx_term(self->ctx) != 0 && errno == EINTR) {
        }
    }
    free(self->endpoint);
    free(self);
    *self_p = NULL;
}

/* libzmq retries a refused handshake every reconnect interval: log the
 * refusal once, not on every retry. */
static void
s_refused(fdy_conn_t *self)
{
    if (self->state != FDY_CONN_AUTH_FAILED)
        fdy_log_warn("CONN-AUTH-FAILED", "%s", self->failure);
    self->state = FDY_CONN_AUTH_FAILED;
}

static void
s_on_event(fdy_conn_t *self, uint16_t event, uint32_t value)
{
    switch (event) {
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        self->state = FDY_CONN_UP;
        self->epoch++;
        self->no_detail = 0;
        self->failure[0] = '\0';
        fdy_log_debug("CONN-UP", "handshake succeeded (epoch %llu)",
                      (unsigned long long) self->epoch);
        break;
    case ZMQ_EVENT_DISCONNECTED:
        /* A refused handshake is followed by a disconnect; keep the refusal. */
        if (self->state == FDY_CONN_UP) {
            self->state = FDY_CONN_DOWN;
            fdy_log_info("CONN-DOWN", "disconnected from broker; reconnecting");
        }
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        if (value == 500) {
            /* Not our key: the broker refuses us for a while (after a
             * flood over our rate limit): wait as for a broker that is
             * down, and connect again ourselves (reconnect_at_ms). */
            snprintf(self->failure, sizeof self->failure,
                     "the broker refuses us for now (ZAP status 500: we flooded over our rate "
                     "limit); retrying");
            if (self->state == FDY_CONN_UP)
                self->state = FDY_CONN_DOWN;
            self->reconnect_at_ms = fdy_clock_mono_ms() + TEMPORARY_RETRY_MS;
            fdy_log_warn_limited("CONN-BACKOFF", "%s", self->failure);
            break;
        }
        snprintf(self->failure, sizeof self->failure, "the broker refused our key (ZAP status %u)",
                 (unsigned) value);
        s_refused(self);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        snprintf(self->failure, sizeof self->failure,
                 "CURVE handshake failed (protocol error 0x%x): wrong broker key?",
                 (unsigned) value);
        s_refused(self);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        if (++self->no_detail >= NO_DETAIL_LIMIT) {
            snprintf(self->failure, sizeof self->failure,
                     "the broker closed every CURVE handshake (%u in a row): wrong broker key, "
                     "or our key is refused",
                     self->no_detail);
            s_refused(self);
        }
        break;
    case ZMQ_EVENT_CONNECT_RETRIED: self->retried = true; break;
    default: break;
    }
}

/* Reads one monitor event: frame 1 is a u16 event and a u32 value in host
 * byte order, frame 2 the endpoint (ignored). Returns false when none. */
static bool
s_read_event(fdy_conn_t *self)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, self->monitor, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return false;
    }
    bool valid = zmq_msg_size(&msg) >= 6;
    uint16_t event = 0;
    uint32_t value = 0;
    if (valid) {
        const uint8_t *data = zmq_msg_data(&msg);
        memcpy(&event, data, sizeof event);
        memcpy(&value, data + 2, sizeof value);
    }
    int more = zmq_msg_more(&msg);
    while (more) {
        if (zmq_msg_recv(&msg, self->monitor, 0) < 0)
            break;
        more = zmq_msg_more(&msg);
    }
    zmq_msg_close(&msg);
    if (valid)
        s_on_event(self, event, value);
    return true;
}

bool
fdy_conn_process_events(fdy_conn_t *self)
{
    fdy_conn_state_t state = self->state;
    uint64_t epoch = self->epoch;
    while (s_read_event(self)) {
    }
    if (self->reconnect_at_ms && fdy_clock_mono_ms() >= self->reconnect_at_ms) {
        /* What was queued for the old connection is dropped with it; the
         * client resends what is unacknowledged once it is up. */
        self->reconnect_at_ms = 0;
        zmq_disconnect(self->socket, self->endpoint);
        if (zmq_connect(self->socket, self->endpoint) != 0)
            fdy_log_warn_limited("CONN-BACKOFF", "reconnect to %s: %s", self->endpoint,
                                 zmq_strerror(errno));
    }
    return state != self->state || epoch != self->epoch;
}

fdy_conn_state_t
fdy_conn_state(const fdy_conn_t *self)
{
    return self->state;
}

uint64_t
fdy_conn_epoch(const fdy_conn_t *self)
{
    return self->epoch;
}

void *
fdy_conn_socket(fdy_conn_t *self)
{
    return self->socket;
}

void *
fdy_conn_monitor_socket(fdy_conn_t *self)
{
    return self->monitor;
}

static foundry_err
s_auth_failed(fdy_conn_t *self, fdy_reason_t *reason)
{
    return fdy_reason_set(reason, FOUNDRY_EAUTH, "%s",
                          self->failure[0] ? self->failure : "the broker refused our key");
}

static int
s_remaining(int timeout_ms, int64_t deadline)
{
    if (timeout_ms < 0)
        return -1;
    int64_t left = deadline - fdy_clock_mono_ms();
    return left > 0 ? (int) left : 0;
}

foundry_err
fdy_conn_wait_up(fdy_conn_t *self, int timeout_ms, fdy_reason_t *reason)
{
    int64_t deadline = fdy_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        fdy_conn_process_events(self);
        if (self->state == FDY_CONN_UP)
            return FOUNDRY_OK;
        if (self->state == FDY_CONN_AUTH_FAILED)
            return s_auth_failed(self, reason);
        int wait = s_remaining(timeout_ms, deadline);
        if (wait == 0)
            break;
        /* libzmq's connect failed and it will retry without saying why: a
         * refusal (no broker listening) is final enough to report now; an
         * unreachable host keeps us waiting for the timeout. */
        if (self->retried && self->state == FDY_CONN_CONNECTING) {
            self->retried = false;
            if (fdy_conn_probe_refused(self->endpoint, wait < PROBE_MAX_MS ? wait : PROBE_MAX_MS))
                return fdy_reason_set(reason, FOUNDRY_EIO, "connection refused at %s",
                                      self->endpoint);
            continue;
        }
        if (self->reconnect_at_ms) {
            int64_t until = self->reconnect_at_ms - fdy_clock_mono_ms();
            int bound = until > 0 ? (int) until : 0;
            if (wait < 0 || bound < wait)
                wait = bound;
        }
        zmq_pollitem_t item = {self->monitor, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, wait) < 0 && errno != EINTR)
            return fdy_reason_set(reason, FOUNDRY_EIO, "zmq_poll: %s", zmq_strerror(errno));
    }
    return fdy_reason_set(reason, FOUNDRY_ETIMEDOUT,
                          "no CURVE handshake with the broker within %d ms (%s)", timeout_ms,
                          self->failure[0] ? self->failure : "unreachable?");
}

foundry_err
fdy_conn_send(fdy_conn_t *self, const fdy_slice_t *frames, size_t frame_count)
{
    for (size_t i = 0; i < frame_count; i++) {
        int flags = ZMQ_DONTWAIT | (i + 1 < frame_count ? ZMQ_SNDMORE : 0);
        if (zmq_send(self->socket, frames[i].data, frames[i].len, flags) >= 0)
            continue;
        /* libzmq checks the high-water mark on the first frame only, so a
         * later frame cannot hit EAGAIN: nothing half-sent is left behind. */
        if (errno == EAGAIN && i == 0)
            return FOUNDRY_ETIMEDOUT;
        fdy_log_warn_limited("CONN-SEND", "zmq_send frame %zu: %s", i, zmq_strerror(errno));
        return FOUNDRY_EIO;
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_conn_send_zero_copy(fdy_conn_t *self, const fdy_slice_t *frames, void *const *hints,
                        size_t frame_count, fdy_conn_free_fn *free_fn)
{
    foundry_err err = FOUNDRY_OK;
    size_t i = 0;
    for (; i < frame_count; i++) {
        zmq_msg_t msg;
        int rc;
        if (hints[i])
            rc = zmq_msg_init_data(&msg, (void *) frames[i].data, frames[i].len, free_fn, hints[i]);
        else
            rc = zmq_msg_init_size(&msg, frames[i].len);
        if (rc != 0) {
            err = FOUNDRY_ENOMEM;
            break; /* libzmq did not take frame i: it is released below */
        }
        if (!hints[i] && frames[i].len > 0)
            memcpy(zmq_msg_data(&msg), frames[i].data, frames[i].len);
        int flags = ZMQ_DONTWAIT | (i + 1 < frame_count ? ZMQ_SNDMORE : 0);
        if (zmq_msg_send(&msg, self->socket, flags) >= 0)
            continue;
        int send_errno = errno;
        err = send_errno == EAGAIN && i == 0 ? FOUNDRY_ETIMEDOUT : FOUNDRY_EIO;
        if (err == FOUNDRY_EIO)
            fdy_log_warn_limited("CONN-SEND", "zmq_msg_send frame %zu: %s", i,
                                 zmq_strerror(send_errno));
        zmq_msg_close(&msg); /* runs free_fn for a zero-copy frame */
        i++;
        break;
    }
    /* Frames libzmq never took are released here, so each is released
     * exactly once. */
    for (; i < frame_count; i++) {
        if (hints[i])
            free_fn((void *) frames[i].data, hints[i]);
    }
    return err;
}

/* Receives and decodes one reply if one is ready. FOUNDRY_ETIMEDOUT when
 * none is. */
static foundry_err
s_recv_ready(fdy_conn_t *self, fdy_arena_t *arena, fdy_envelope_t *env_out, fdy_reason_t *reason)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, self->socket, ZMQ_DONTWAIT) < 0) {
        int err = errno;
        zmq_msg_close(&msg);
        if (err == EAGAIN || err == EINTR)
            return FOUNDRY_ETIMEDOUT;
        return fdy_reason_set(reason, FOUNDRY_EIO, "zmq_msg_recv: %s", zmq_strerror(err));
    }
    foundry_err err;
    if (zmq_msg_more(&msg)) {
        /* Replies are one frame; skip the rest of anything else. */
        while (zmq_msg_more(&msg) && zmq_msg_recv(&msg, self->socket, 0) >= 0) {
        }
        err = fdy_reason_set(reason, FOUNDRY_EPROTO, "reply has more than one frame");
    } else {
        err = fdy_codec_decode_envelope(zmq_msg_data(&msg), zmq_msg_size(&msg), arena, env_out,
                                        reason);
    }
    /* The decoded envelope points into the arena, not into msg. */
    zmq_msg_close(&msg);
    return err;
}

foundry_err
fdy_conn_recv(fdy_conn_t *self, int timeout_ms, fdy_arena_t *arena, fdy_envelope_t *env_out,
              fdy_reason_t *reason)
{
    int64_t deadline = fdy_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        foundry_err err = s_recv_ready(self, arena, env_out, reason);
        if (err != FOUNDRY_ETIMEDOUT)
            return err;
        fdy_conn_process_events(self);
        if (self->state == FDY_CONN_AUTH_FAILED)
            return s_auth_failed(self, reason);
        int wait = s_remaining(timeout_ms, deadline);
        if (wait == 0)
            return fdy_reason_set(reason, FOUNDRY_ETIMEDOUT, "no reply within %d ms", timeout_ms);
        zmq_pollitem_t items[2] = {
            {self->socket, 0, ZMQ_POLLIN, 0},
            {self->monitor, 0, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, 2, wait) < 0 && errno != EINTR)
            return fdy_reason_set(reason, FOUNDRY_EIO, "zmq_poll: %s", zmq_strerror(errno));
    }
}

/* Sends frame once the handshake is done, within deadline. */
static foundry_err
s_send_when_up(fdy_conn_t *self, const fdy_slice_t *frame, int timeout_ms, int64_t deadline,
               fdy_reason_t *reason)
{
    /* ZMQ_IMMEDIATE refuses to queue before the handshake: wait for it
     * within the same deadline rather than failing at once. */
    for (;;) {
        foundry_err err = fdy_conn_send(self, frame, 1);
        if (err == FOUNDRY_OK)
            return FOUNDRY_OK;
        if (err != FOUNDRY_ETIMEDOUT)
            return fdy_reason_set(reason, err, "cannot send the request");
        fdy_conn_process_events(self);
        if (self->state == FDY_CONN_AUTH_FAILED)
            return s_auth_failed(self, reason);
        int wait = s_remaining(timeout_ms, deadline);
        if (wait == 0)
            return fdy_reason_set(reason, FOUNDRY_ETIMEDOUT,
                                  "could not send to the broker within %d ms", timeout_ms);
        zmq_pollitem_t items[2] = {
            {self->socket, 0, ZMQ_POLLOUT, 0},
            {self->monitor, 0, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, 2, wait) < 0 && errno != EINTR)
            return fdy_reason_set(reason, FOUNDRY_EIO, "zmq_poll: %s", zmq_strerror(errno));
    }
}

foundry_err
fdy_conn_request(fdy_conn_t *self, const fdy_envelope_t *env, int timeout_ms, fdy_arena_t *arena,
                 fdy_envelope_t *reply_out, fdy_reason_t *reason)
{
    int64_t deadline = fdy_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    uint8_t *buf = NULL;
    size_t len = 0;
    foundry_err err = fdy_codec_encode_envelope(env, &buf, &len);
    if (err != FOUNDRY_OK) {
        fdy_reason_set(reason, err, "cannot encode the request: %s", foundry_strerror(err));
        goto out;
    }
    fdy_slice_t frame = {buf, len};
    err = s_send_when_up(self, &frame, timeout_ms, deadline, reason);
    uint64_t sent_epoch = self->epoch;
    while (err == FOUNDRY_OK) {
        err = s_recv_ready(self, arena, reply_out, reason);
        if (err == FOUNDRY_OK) {
            if (reply_out->request_id == env->request_id)
                break;
            /* A late reply to an earlier request that timed out: skip it. */
            fdy_log_debug("CONN-REPLY-SKIPPED", "skipped a reply to request %llu",
                          (unsigned long long) reply_out->request_id);
            continue;
        }
        if (err != FOUNDRY_ETIMEDOUT)
            break; /* one request at a time: an undecodable reply is ours */
        err = FOUNDRY_OK;
        fdy_conn_process_events(self);
        if (self->state == FDY_CONN_AUTH_FAILED) {
            err = s_auth_failed(self, reason);
            break;
        }
        /* Connected again: the broker side of the old connection, with our
         * request or its answer, is gone. The same frame goes again. */
        if (self->state == FDY_CONN_UP && self->epoch != sent_epoch) {
            fdy_log_info("CONN-RESENT", "connected again before the answer: request %llu sent again",
                         (unsigned long long) env->request_id);
            err = s_send_when_up(self, &frame, timeout_ms, deadline, reason);
            sent_epoch = self->epoch;
            continue;
        }
        int wait = s_remaining(timeout_ms, deadline);
        if (wait == 0) {
            err = fdy_reason_set(reason, FOUNDRY_ETIMEDOUT, "no reply within %d ms", timeout_ms);
            break;
        }
        zmq_pollitem_t items[2] = {
            {self->socket, 0, ZMQ_POLLIN, 0},
            {self->monitor, 0, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, 2, wait) < 0 && errno != EINTR)
            err = fdy_reason_set(reason, FOUNDRY_EIO, "zmq_poll: %s", zmq_strerror(errno));
    }
out:
    free(buf);
    return err;
}
