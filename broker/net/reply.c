/*  reply.c: every send to the ROUTER. Envelopes are encoded into a fresh
 *  buffer that libzmq takes without a copy; body frames (DELIVER batches)
 *  are handed over the same way. Knows no kind of work.
 */
#include "reply.h"

#include "log.h"
#include "xalloc.h"

#include <errno.h>
#include <stdlib.h>

struct fdy_reply {
    void *socket;
    uint64_t errors;
    uint64_t errors_by_code[FDY_REPLY_CODES_MAX]; /* the metrics endpoint's by-reason figures */
};

fdy_reply_t *
fdy_reply_new(void *socket)
{
    fdy_reply_t *self = fdy_xalloc(sizeof *self);
    self->socket = socket;
    return self;
}

void
fdy_reply_destroy(fdy_reply_t **self_p)
{
    free(*self_p);
    *self_p = NULL;
}

uint64_t
fdy_reply_errors(const fdy_reply_t *self)
{
    return self->errors;
}

uint64_t
fdy_reply_errors_by_code(const fdy_reply_t *self, int code)
{
    return code >= 0 && code < FDY_REPLY_CODES_MAX ? self->errors_by_code[code] : 0;
}

static void
s_free_buffer(void *data, void *hint)
{
    (void) hint;
    free(data);
}

void
fdy_reply_send_frame(fdy_reply_t *self, const fdy_peer_t *to, const fdy_envelope_t *env,
                     uint8_t *frame, size_t len, zmq_free_fn *free_fn, void *hint)
{
    uint8_t *buf = NULL;
    size_t buf_len = 0;
    if (fdy_codec_encode_envelope(env, &buf, &buf_len) != FOUNDRY_OK) {
        fdy_log_err("REPLY-ENCODE", "cannot encode a kind %d envelope", (int) env->kind);
        if (frame)
            free_fn(frame, hint);
        return;
    }
    zmq_msg_t envelope, body;
    if (zmq_msg_init_data(&envelope, buf, buf_len, s_free_buffer, NULL) != 0) {
        free(buf);
        if (frame)
            free_fn(frame, hint);
        return;
    }
    if (frame && zmq_msg_init_data(&body, frame, len, free_fn, hint) != 0) {
        zmq_msg_close(&envelope);
        free_fn(frame, hint);
        return;
    }
    bool ok = zmq_send(self->socket, to->id, to->len, ZMQ_SNDMORE) >= 0;
    ok = ok && zmq_msg_send(&envelope, self->socket, frame ? ZMQ_SNDMORE : 0) >= 0;
    if (!ok) {
        zmq_msg_close(&envelope);
        if (frame)
            zmq_msg_close(&body);
        fdy_log_warn_limited("REPLY-SEND", "kind %d not sent: %s", (int) env->kind,
                             zmq_strerror(errno));
        return;
    }
    if (frame && zmq_msg_send(&body, self->socket, 0) < 0) {
        zmq_msg_close(&body);
        fdy_log_warn_limited("REPLY-SEND", "body frame not sent: %s", zmq_strerror(errno));
    }
}

void
fdy_reply_send(fdy_reply_t *self, const fdy_peer_t *to, const fdy_envelope_t *env)
{
    fdy_reply_send_frame(self, to, env, NULL, 0, NULL, NULL);
}

void
fdy_reply_error(fdy_reply_t *self, const fdy_peer_t *to, uint64_t request_id,
                uint64_t subscription, foundry_err code, const char *reason)
{
    fdy_envelope_t env = {.version = FDY_PROTOCOL_VERSION,
                          .kind = FDY_KIND_ERROR,
                          .request_id = request_id,
                          .subscription = subscription,
                          .error_code = code,
                          .error_reason = reason && *reason ? reason : foundry_strerror(code)};
    self->errors++;
    self->errors_by_code[(int) code >= 0 && (int) code < FDY_REPLY_CODES_MAX
                             ? (int) code : FDY_REPLY_CODES_MAX - 1]++;
    fdy_reply_send(self, to, &env);
}
