/*  sub.h: libfoundry's subscriptions (the foundry_sub_* API of foundry.h)
 *  as client.c sees them: a registry that takes the DELIVER frames and the
 *  subscription replies client.c receives, and sends SUBSCRIBE, CREDIT, ACK,
 *  PING and UNSUBSCRIBE when the connection allows. Private to libfoundry.
 *  Not thread-safe: the client's thread only.
 */
#ifndef FDY_SUB_H_INCLUDED
#define FDY_SUB_H_INCLUDED

#include "client.h"
#include "codec.h"

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

/* Returns an empty registry for client, or NULL (out of memory). The
 * client owns it. */
fdy_sub_registry_t *fdy_sub_registry_new(foundry_client_t *client);

/* Ends every subscription still open: sends its acks and an UNSUBSCRIBE,
 * and waits up to timeout_ms for the broker to confirm (so the acks are
 * not lost when the socket closes). The client calls it while closing,
 * while it can still pump. */
void fdy_sub_leave_all(fdy_sub_registry_t *self, int timeout_ms);

/* Ends what is still open (best effort, no waiting), detaches every
 * subscription from the client and frees the registry; the application
 * still frees each with foundry_sub_close(). Nulls *self_p; accepts NULL.
 * Call while the connection still exists. */
void fdy_sub_registry_destroy(fdy_sub_registry_t **self_p);

/* True when env answers a request of the registry (SUBSCRIBED, or an ERROR
 * or PONG with one of its request ids): client.c hands those here. */
bool fdy_sub_owns(const fdy_envelope_t *env);

/* Handles a SUBSCRIBED, ERROR or PONG that fdy_sub_owns(). */
void fdy_sub_on_reply(fdy_sub_registry_t *self, const fdy_envelope_t *env);

/* Queues a DELIVER (env, with its batch frame) for its subscription. Takes
 * the frame's content when it keeps it (frame is left empty); otherwise
 * the caller's zmq_msg_close() frees it. Never blocks, never fails: a
 * frame for no open subscription, or a malformed one, is dropped (durable
 * deliveries dropped here are redelivered by the broker). */
void fdy_sub_on_deliver(fdy_sub_registry_t *self, const fdy_envelope_t *env, zmq_msg_t *frame);

/* A new handshake: the broker may be a new process, whose subscription ids
 * mean nothing to us, so every subscription subscribes again. */
void fdy_sub_on_reconnect(fdy_sub_registry_t *self);

/* Sends whatever is due when the connection is up: (re)subscriptions,
 * pending acks and credit, PING every 5 s, UNSUBSCRIBE of stale
 * subscriptions. Cheap when nothing is due. */
void fdy_sub_service(fdy_sub_registry_t *self, int64_t now_ms);

/* Milliseconds until fdy_sub_service() has something to do by itself,
 * capped by wait_ms. */
int fdy_sub_wait_ms(const fdy_sub_registry_t *self, int64_t now_ms, int wait_ms);

#endif
