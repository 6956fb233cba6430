/*  model_wire.c: MODEL requests of the node agent and their answers
 *  (model_wire.h). Answers and pushes are queued as events, in arrival
 *  order, for foundry_model_wire_next(); a FETCH reply's chunk frame is
 *  moved into its event, not copied. Nothing is resent here: what a
 *  reconnect or a timeout cuts off comes back as a FAILED event and the
 *  caller decides (a FETCH is asked again, a WATCH is sent anew anyway).
 */
#include "model_wire.h"

#include "client.h"
#include "clock.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_MAX 1024u

typedef struct {
    uint64_t request_id; /* 0: free */
    int64_t deadline_ms;
} s_pending_t;

typedef struct {
    foundry_model_wire_kind kind;
    uint64_t request_id;
    foundry_err err;
    char *reason;
    uint8_t *body;
    size_t body_len;
    bool has_frame;
    zmq_msg_t frame;
} s_event_t;

struct fdy_model_wire {
    foundry_client_t *client; /* borrowed: it owns us */
    s_pending_t pending[FDY_MODEL_WIRE_PENDING_MAX];
    size_t pending_count;
    uint64_t next_id;
    s_event_t events[EVENTS_MAX];
    size_t event_head, event_count;
    s_event_t current; /* handed out by the last next() */
    bool has_current;
};

fdy_model_wire_t *
fdy_model_wire_new(foundry_client_t *client)
{
    fdy_model_wire_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->client = client;
    self->next_id = 1;
    return self;
}

static void
s_event_free(s_event_t *e)
{
    free(e->reason);
    free(e->body);
    if (e->has_frame)
        zmq_msg_close(&e->frame);
    memset(e, 0, sizeof *e);
}

void
fdy_model_wire_destroy(fdy_model_wire_t **self_p)
{
    fdy_model_wire_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->event_count; i++)
        s_event_free(&self->events[(self->event_head + i) % EVENTS_MAX]);
    if (self->has_current)
        s_event_free(&self->current);
    free(self);
    *self_p = NULL;
}

bool
fdy_model_wire_owns(const fdy_envelope_t *env)
{
    if (env->kind == FDY_KIND_MODEL_NOTICE)
        return true;
    return (env->kind == FDY_KIND_MODEL_REPLY || env->kind == FDY_KIND_ERROR) &&
           (env->request_id & FDY_MODEL_WIRE_BIT) &&
           !(env->request_id & FDY_MODEL_WIRE_OTHER_BITS);
}

/* Takes request_id out of the pending table. False when it is not there
 * (answered already, or failed by a timeout). */
static bool
s_take_pending(fdy_model_wire_t *self, uint64_t request_id)
{
    for (size_t i = 0; i < self->pending_count; i++)
        if (self->pending[i].request_id == request_id) {
            self->pending[i] = self->pending[--self->pending_count];
            return true;
        }
    return false;
}

/* Queues an event; the bytes are copied, frame (may be NULL) moved. */
static void
s_push(fdy_model_wire_t *self, foundry_model_wire_kind kind, uint64_t request_id, foundry_err err,
       const char *reason, const uint8_t *body, size_t body_len, zmq_msg_t *frame)
{
    if (self->event_count == EVENTS_MAX) {
        /* The agent drains every turn: a full queue means it is stuck, and
         * what is lost here is asked again on the timeout or next WATCH. */
        fdy_log_warn_limited("CLIENT-MODEL-DROPPED", "model event dropped: queue full");
        return;
    }
    s_event_t e;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.request_id = request_id;
    e.err = err;
    e.reason = strdup(reason ? reason : "");
    if (body_len) {
        e.body = malloc(body_len);
        if (e.body)
            memcpy(e.body, body, body_len);
    }
    if (!e.reason || (body_len && !e.body)) {
        s_event_free(&e);
        fdy_log_warn_limited("CLIENT-MODEL-DROPPED", "model event dropped: out of memory");
        return;
    }
    e.body_len = body_len;
    s_event_t *slot = &self->events[(self->event_head + self->event_count++) % EVENTS_MAX];
    *slot = e;
    if (frame) {
        /* zmq_msg_t is moved only by zmq_msg_move, never by assignment. */
        zmq_msg_init(&slot->frame);
        zmq_msg_move(&slot->frame, frame);
        slot->has_frame = true;
    }
}

/* Moves *from into *to (both zeroed or freed by the caller first). */
static void
s_event_move(s_event_t *to, s_event_t *from)
{
    bool has_frame = from->has_frame;
    *to = *from;
    to->has_frame = false;
    if (has_frame) {
        zmq_msg_init(&to->frame);
        zmq_msg_move(&to->frame, &from->frame);
        zmq_msg_close(&from->frame);
        to->has_frame = true;
    }
    memset(from, 0, sizeof *from);
}

void
fdy_model_wire_on_message(fdy_model_wire_t *self, const fdy_envelope_t *env, zmq_msg_t *frame)
{
    if (env->kind == FDY_KIND_MODEL_NOTICE) {
        s_push(self, FOUNDRY_MODEL_WIRE_NOTICE, 0, FOUNDRY_OK, NULL, env->model, env->model_len,
               NULL);
        return;
    }
    bool pending = s_take_pending(self, env->request_id);
    if (env->kind == FDY_KIND_ERROR) {
        /* A REPORT is not pending (no answer unless refused): its refusal
         * is still worth handing on. */
        s_push(self, FOUNDRY_MODEL_WIRE_FAILED, env->request_id, env->error_code, env->error_reason,
               NULL, 0, NULL);
        return;
    }
    if (!pending)
        return; /* failed by a timeout already: the caller asked again */
    s_push(self, FOUNDRY_MODEL_WIRE_REPLY, env->request_id, FOUNDRY_OK, NULL, env->model,
           env->model_len, frame);
}

void
fdy_model_wire_service(fdy_model_wire_t *self, int64_t now_ms, bool reconnected)
{
    for (size_t i = 0; i < self->pending_count;) {
        s_pending_t p = self->pending[i];
        if (!reconnected && now_ms < p.deadline_ms) {
            i++;
            continue;
        }
        self->pending[i] = self->pending[--self->pending_count];
        s_push(self, FOUNDRY_MODEL_WIRE_FAILED, p.request_id,
               reconnected ? FOUNDRY_ECLOSED : FOUNDRY_ETIMEDOUT,
               reconnected ? "the connection was lost before the answer"
                           : "no answer within the deadline",
               NULL, 0, NULL);
    }
}

/* ---- for foundry-node ------------------------------------------------------ */

FOUNDRY_EXPORT foundry_err
foundry_model_wire_send(foundry_client_t *client, const uint8_t *body, size_t body_len,
                        bool expect_reply, int timeout_ms, uint64_t *request_id_out)
{
    if (request_id_out)
        *request_id_out = 0;
    if (!client || !body || body_len == 0)
        return FOUNDRY_EINVAL;
    fdy_model_wire_t *self = fdy_client_model_wire(client);
    if (expect_reply && self->pending_count == FDY_MODEL_WIRE_PENDING_MAX)
        return fdy_client_fail(client, FOUNDRY_EFULL, "%u model requests unanswered",
                               FDY_MODEL_WIRE_PENDING_MAX);
    uint64_t id = FDY_MODEL_WIRE_BIT | (self->next_id++ & (FDY_MODEL_WIRE_BIT - 1));
    fdy_envelope_t env;
    memset(&env, 0, sizeof env);
    env.kind = FDY_KIND_MODEL;
    env.request_id = id;
    uint8_t *head = NULL;
    size_t head_len = 0;
    foundry_err err = fdy_codec_encode_envelope(&env, &head, &head_len);
    if (err != FOUNDRY_OK)
        return fdy_client_fail(client, err, "model request envelope: %s", foundry_strerror(err));
    fdy_slice_t frames[2] = {{head, head_len}, {body, body_len}};
    err = fdy_conn_send(fdy_client_conn(client), frames, 2);
    free(head);
    if (err != FOUNDRY_OK)
        return fdy_client_fail(client, err, "model request not sent: %s",
                               err == FOUNDRY_ETIMEDOUT ? "not connected or queue full"
                                                        : foundry_strerror(err));
    if (expect_reply)
        self->pending[self->pending_count++] =
            (s_pending_t){id, fdy_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 30000)};
    if (request_id_out)
        *request_id_out = id;
    return FOUNDRY_OK;
}

FOUNDRY_EXPORT bool
foundry_model_wire_next(foundry_client_t *client, foundry_model_wire_event_t *out)
{
    if (!client || !out)
        return false;
    fdy_model_wire_t *self = fdy_client_model_wire(client);
    if (self->has_current) {
        s_event_free(&self->current);
        self->has_current = false;
    }
    if (self->event_count == 0)
        return false;
    s_event_move(&self->current, &self->events[self->event_head]);
    self->event_head = (self->event_head + 1) % EVENTS_MAX;
    self->event_count--;
    self->has_current = true;
    s_event_t *e = &self->current;
    *out = (foundry_model_wire_event_t){
        e->kind,
        e->request_id,
        e->err,
        e->reason,
        e->body,
        e->body_len,
        e->has_frame ? zmq_msg_data(&e->frame) : NULL,
        e->has_frame ? zmq_msg_size(&e->frame) : 0,
    };
    return true;
}

FOUNDRY_EXPORT size_t
foundry_model_wire_pending(const foundry_client_t *client)
{
    if (!client)
        return 0;
    return fdy_client_model_wire((foundry_client_t *) client)->pending_count;
}
