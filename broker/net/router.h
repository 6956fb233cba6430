/*  router.h: the request side of a loop turn on the broker's ROUTER:
 *  receives whole requests into a frame pool that never moves, takes the
 *  sender's identity from the ZAP User-Id (never from the routing id or a
 *  message field), decodes the envelope and hands it to the service that
 *  serves its kind. Answers PING, unknown or revoked principals and
 *  unrouted kinds itself. Knows no service by name.
 */
#ifndef FDY_ROUTER_H_INCLUDED
#define FDY_ROUTER_H_INCLUDED

#include "broker_config.h"
#include "peers.h"
#include "refusals.h"
#include "registry.h"
#include "reply.h"
#include "service.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fdy_router fdy_router_t;

/* Returns a router over socket (a bound ROUTER), cfg, registry, peers and
 * reply, all borrowed and outliving it. Aborts on out-of-memory (daemon
 * allocator). Caller owns; fdy_router_destroy(). */
fdy_router_t *fdy_router_new(void *socket, const fdy_broker_cfg_t *cfg, fdy_registry_t *registry,
                             fdy_peers_t *peers, fdy_reply_t *reply);
void fdy_router_destroy(fdy_router_t **self_p);

/* Sends requests of kind to service (its ops and instance, borrowed and
 * outliving the router). Returns FOUNDRY_OK, FOUNDRY_EEXIST when another
 * service has the kind, or FOUNDRY_EINVAL for PING, a reply kind or a kind
 * the codec does not know. */
foundry_err fdy_router_route(fdy_router_t *self, fdy_kind_t kind, const fdy_service_t *service);

/* Requests refused with EAUTH (unknown or revoked principal) are also
 * recorded in refusals (borrowed, outliving the router; NULL: not), for
 * the audit log. */
void fdy_router_audit(fdy_router_t *self, fdy_refusals_t *refusals);

/* Every authenticated request is also shown to this service's peer_seen()
 * (liveness of its per-connection state). service is borrowed. */
void fdy_router_watch(fdy_router_t *self, const fdy_service_t *service);

/* Drains ready requests until none is left, cfg->commit_max_msgs were
 * drained, the frame pool is nearly full, or a service's turn_full() says
 * so. *drained_out gets the number handled. Frames of a request whose
 * service holds_frames stay valid until fdy_router_end_turn().
 * Returns FOUNDRY_OK or FOUNDRY_EIO (the socket failed; logged). */
foundry_err fdy_router_drain(fdy_router_t *self, int64_t now_ms, size_t *drained_out);

/* After every committed(): gives the turn's frames back to the pool. */
void fdy_router_end_turn(fdy_router_t *self);

#endif
