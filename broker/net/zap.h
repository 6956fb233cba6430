/*  zap.h: the broker's ZAP handler (RFC 27), authenticating CURVE client
 *  keys against the registry. It runs in the broker's thread on a REP
 *  socket bound to inproc://zeromq.zap.01 in the broker's context; it must
 *  be bound before any CURVE server socket binds (fail closed).
 */
#ifndef FDY_ZAP_H_INCLUDED
#define FDY_ZAP_H_INCLUDED

#include "peers.h"
#include "refusals.h"
#include "registry.h"

#include <stdint.h>

#define FDY_ZAP_DOMAIN "foundry"

typedef struct fdy_zap fdy_zap_t;

/* Binds the ZAP endpoint in zmq_ctx (borrowed, must outlive the handler).
 * registry is borrowed and must outlive it too; so must refusals, where
 * every refused handshake is recorded for the audit log (NULL: none is).
 * Returns FOUNDRY_OK and *out (caller owns; fdy_zap_destroy()), FOUNDRY_EIO
 * (bind failed: e.g. another handler is already bound) or FOUNDRY_ENOMEM,
 * with reason. */
foundry_err fdy_zap_new(void *zmq_ctx, fdy_registry_t *registry, fdy_refusals_t *refusals,
                        fdy_zap_t **out, fdy_reason_t *reason);
void fdy_zap_destroy(fdy_zap_t **self_p);

/* Refuses a handshake for a key that already has max connections bound
 * in peers (borrowed, outlives the handler); 0: no limit. */
void fdy_zap_limit_connections(fdy_zap_t *self, const fdy_peers_t *peers, size_t max);

/* The REP socket, for zmq_poll. Borrowed. */
void *fdy_zap_socket(fdy_zap_t *self);

/* Answers every pending ZAP request without blocking: "200" with User-Id =
 * principal name for a known, non-revoked CURVE key in domain "foundry",
 * "400" otherwise ("500" when malformed, and for a key whose handshakes
 * are refused for now after a flood: fdy_peers_backoff_left_ms()); each
 * refusal also goes to the refusals buffer. Refreshes the registry first,
 * which invalidates principals borrowed from it. Returns FOUNDRY_OK or
 * FOUNDRY_EIO (socket failure, logged). */
foundry_err fdy_zap_handle(fdy_zap_t *self);

/* Handshakes accepted and refused since start. */
uint64_t fdy_zap_accepted(const fdy_zap_t *self);
uint64_t fdy_zap_refused(const fdy_zap_t *self);

#endif
