/*  model_wire.h: libfoundry's plumbing for MODEL requests (WATCH, FETCH,
 *  REPORT: docs/protocol.md) and what answers them: MODEL_REPLY (a
 *  FETCH reply with its chunk as a second frame), ERROR, and the
 *  MODEL_NOTICE pushes. Requests carry FDY_MODEL_WIRE_BIT in their request id,
 *  so their replies are told apart from those of the publisher API
 *  (model_client.c). Not thread-safe: the client's thread only.
 *
 *  Two parts:
 *  - fdy_model_wire_*: what client.c calls (lifetime, routing, reconnects).
 *  - foundry_model_wire_*: the calls foundry-node makes. They are exported
 *    from libfoundry.so because the agent links the shared library, but
 *    they are NOT the public API (not in foundry.h, no ABI promise): only
 *    the node agent in this repository uses them.
 */
#ifndef FDY_MODEL_WIRE_H_INCLUDED
#define FDY_MODEL_WIRE_H_INCLUDED

#include "codec.h"
#include "foundry.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

/* Bit 60 of a request id: a model_wire request (61 is the publisher
 * API's, model_client.c; 62 jobs; 63 subs). */
#define FDY_MODEL_WIRE_BIT (1ull << 60)
/* The bits above it: requests of the other client modules. */
#define FDY_MODEL_WIRE_OTHER_BITS (0xfull << 60 & ~FDY_MODEL_WIRE_BIT)
/* Requests waiting for an answer, at most. */
#define FDY_MODEL_WIRE_PENDING_MAX 256u

typedef struct fdy_model_wire fdy_model_wire_t;

/* ---- for client.c ---------------------------------------------------- */

/* Caller owns; fdy_model_wire_destroy(). NULL on out-of-memory. */
fdy_model_wire_t *fdy_model_wire_new(foundry_client_t *client);
void fdy_model_wire_destroy(fdy_model_wire_t **self_p);

/* True for MODEL_NOTICE, and for MODEL_REPLY or ERROR answering a request
 * with FDY_MODEL_WIRE_BIT. */
bool fdy_model_wire_owns(const fdy_envelope_t *env);

/* Takes one of those (env borrowed for the call). frame: the message's
 * second frame (a FETCH reply's chunk) or NULL; its content is moved out,
 * so the caller may close it afterwards as usual. */
void fdy_model_wire_on_message(fdy_model_wire_t *self, const fdy_envelope_t *env, zmq_msg_t *frame);

/* Fails what is pending after a reconnect (the broker may never answer
 * it: FOUNDRY_ECLOSED) or after timeout_ms without an answer
 * (FOUNDRY_ETIMEDOUT), so the caller asks again. */
void fdy_model_wire_service(fdy_model_wire_t *self, int64_t now_ms, bool reconnected);

/* ---- for foundry-node --------------------------------------------------- */

typedef enum {
    FOUNDRY_MODEL_WIRE_REPLY = 1,  /* a MODEL_REPLY; err FOUNDRY_OK */
    FOUNDRY_MODEL_WIRE_FAILED = 2, /* the broker's ERROR, or ECLOSED / ETIMEDOUT from us */
    FOUNDRY_MODEL_WIRE_NOTICE = 3, /* a MODEL_NOTICE push (request_id 0) */
} foundry_model_wire_kind;

/* One answer or push. Pointers borrowed until the next
 * foundry_model_wire_next() or the client's destruction. */
typedef struct {
    foundry_model_wire_kind kind;
    uint64_t request_id;
    foundry_err err;
    const char *reason;  /* "" when none */
    const uint8_t *body; /* REPLY: an encoded ModelReply; NOTICE: an encoded ModelNotice */
    size_t body_len;
    const uint8_t *frame; /* REPLY to a FETCH: the chunk; else NULL */
    size_t frame_len;
} foundry_model_wire_event_t;

/* Sends a MODEL request whose frame 1 is body (an encoded ModelRequest,
 * copied). With expect_reply false (REPORT) nothing is kept: only a refusal
 * comes back, as a FAILED event. Never waits. Returns FOUNDRY_OK and
 * *request_id_out (may be NULL), FOUNDRY_ETIMEDOUT (not connected or the
 * send queue is full: nothing sent), FOUNDRY_EFULL (too many pending),
 * FOUNDRY_EINVAL or FOUNDRY_ENOMEM; foundry_client_last_error() says why. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err
foundry_model_wire_send(foundry_client_t *client, const uint8_t *body, size_t body_len,
                        bool expect_reply, int timeout_ms, uint64_t *request_id_out);

/* The next event, if any (the client's poll receives them). Returns true
 * and *out, or false. */
FOUNDRY_EXPORT bool foundry_model_wire_next(foundry_client_t *client,
                                            foundry_model_wire_event_t *out);

/* Requests sent and not yet answered. */
FOUNDRY_EXPORT size_t foundry_model_wire_pending(const foundry_client_t *client);

#endif
