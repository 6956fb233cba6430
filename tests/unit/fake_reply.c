/*  fake_reply.c: records replies for unit tests (see fake_reply.h). Each
 *  envelope is copied field by field: the caller's buffers are borrowed.
 */
#include "fake_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fake_sent_t fake_sent[FAKE_SENT_MAX];
size_t fake_sent_count;

struct fdy_reply {
    uint64_t errors;
};

void
fake_reply_clear(void)
{
    memset(fake_sent, 0, sizeof fake_sent);
    fake_sent_count = 0;
}

fdy_reply_t *
fdy_reply_new(void *socket)
{
    (void) socket;
    return calloc(1, sizeof(fdy_reply_t));
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

void
fdy_reply_send_frame(fdy_reply_t *self, const fdy_peer_t *to, const fdy_envelope_t *env,
                     uint8_t *frame, size_t len, zmq_free_fn *free_fn, void *hint)
{
    (void) self;
    uint64_t hash = 14695981039346656037ull;
    for (size_t i = 0; frame && i < len; i++)
        hash = (hash ^ frame[i]) * 1099511628211ull;
    if (frame)
        free_fn(frame, hint);
    if (fake_sent_count == FAKE_SENT_MAX)
        return;
    fake_sent_t *sent = &fake_sent[fake_sent_count++];
    sent->frame_hash = hash;
    sent->count = env->count;
    sent->peer_len = to->len < sizeof sent->peer ? to->len : sizeof sent->peer;
    memcpy(sent->peer, to->id, sent->peer_len);
    sent->kind = env->kind;
    sent->request_id = env->request_id;
    sent->error_code = env->error_code;
    snprintf(sent->error_reason, sizeof sent->error_reason, "%s",
             env->error_reason ? env->error_reason : "");
    if ((env->kind == FDY_KIND_MODEL_REPLY || env->kind == FDY_KIND_MODEL_NOTICE) && env->model) {
        sent->model_len = env->model_len < sizeof sent->model ? env->model_len : sizeof sent->model;
        memcpy(sent->model, env->model, sent->model_len);
    }
    sent->frame_len = len;
    if (env->kind == FDY_KIND_PUBLISH_ACK) {
        sent->ack_count = env->ack.count;
        for (size_t i = 0; i < env->ack.count && i < FAKE_SEQS_MAX; i++)
            sent->seqs[i] = env->ack.seqs[i];
        sent->duplicate_count = env->ack.duplicate_count;
        sent->error_count = env->ack.error_count;
        if (env->ack.stream_count > 0)
            snprintf(sent->stream, sizeof sent->stream, "%s", env->ack.streams[0]);
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
    fdy_envelope_t env = {.version = FDY_PROTOCOL_VERSION, .kind = FDY_KIND_ERROR,
                          .request_id = request_id, .subscription = subscription,
                          .error_code = code, .error_reason = reason};
    self->errors++;
    fdy_reply_send(self, to, &env);
}
