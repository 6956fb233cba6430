/*  router.h: one loop turn on the broker's ROUTER socket. Drains ready
 *  requests up to the group-commit bounds, resolves each sender from the
 *  ZAP User-Id (never from the routing id), hands publishes to the group
 *  commit and subscription requests to subs.c, answers pings and refusals
 *  at once, delivers to subscriptions, and runs admin commands after the
 *  acks. Owns the frame pool that keeps payloads in place until
 *  the commit.
 */
#ifndef FDY_ROUTER_H_INCLUDED
#define FDY_ROUTER_H_INCLUDED

#include "admin.h"
#include "broker_config.h"
#include "publish.h"
#include "registry.h"
#include "subs.h"

#include <stdint.h>

typedef struct fdy_router fdy_router_t;

/* Returns a new turn driver over socket (a bound ROUTER), registry, publish,
 * admin and subs, all borrowed and outliving it; cfg is borrowed too. Aborts
 * on out-of-memory (daemon allocator). Caller owns; fdy_router_destroy(). */
fdy_router_t *fdy_router_new(void *socket, const fdy_broker_cfg_t *cfg,
                             fdy_registry_t *registry, fdy_publish_t *publish,
                             fdy_admin_t *admin, fdy_subs_t *subs);
void fdy_router_destroy(fdy_router_t **self_p);

/* Runs one turn: drain (when input is true), one group commit (with the
 * consumer states and dead letters due), acks, the tail of what was
 * stored, durable deliveries, admin commands. connections is the current
 * client count, for the status command. *busy_out is true when delivery
 * work is left that could run at once (poll without waiting).
 * Principals borrowed from the registry are not held across turns.
 * Returns FOUNDRY_OK or FOUNDRY_EIO (the socket failed; logged). */
foundry_err fdy_router_turn(fdy_router_t *self, uint64_t connections, bool input,
                           bool *busy_out);

/* Error replies sent since start (whole-request refusals). */
uint64_t fdy_router_error_replies(const fdy_router_t *self);

#endif
