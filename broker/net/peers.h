/*  peers.h: what the broker knows about its connections: how many are open
 *  (from the ROUTER's monitor events), which principals were active in the
 *  last minute (for status), and which connection and principal each
 *  routing id belongs to. A routing id is chosen by the client, so state
 *  made under it is only ever served to the same connection and the same
 *  authenticated principal: when either changes, or the connection closes,
 *  the gone callback tells the services to end that state. Per-connection
 *  state of a kind of work (subscriptions, parked requests) stays with its
 *  service.
 */
#ifndef FDY_PEERS_H_INCLUDED
#define FDY_PEERS_H_INCLUDED

#include "labeled.h"
#include "service.h"

#include <stdint.h>

/* Principals remembered as active; status lists at most this many. */
#define FDY_PEERS_ACTIVE_SLOTS 256
#define FDY_PEERS_ACTIVE_WINDOW_MS 60000

/* Returns a new table. Aborts on out-of-memory. Caller owns;
 * fdy_peers_destroy(). */
fdy_peers_t *fdy_peers_new(void);
void fdy_peers_destroy(fdy_peers_t **self_p);

/* Called for a routing id whose state must end: its connection closed, or
 * the id now comes from another connection or principal. peer is borrowed
 * for the call. */
typedef void(fdy_peers_gone_fn)(const fdy_peer_t *peer, void *user);
void fdy_peers_on_gone(fdy_peers_t *self, fdy_peers_gone_fn *fn, void *user);

/* Monitor events with the connection's fd: a connection was accepted (a
 * routing id still recorded on that fd belonged to a closed connection:
 * it is gone), or one went away (its routing id is gone). */
void fdy_peers_accepted(fdy_peers_t *self, int fd);
void fdy_peers_disconnected(fdy_peers_t *self, int fd);

/* Connections (fds) whose requests came as principal name. O(open
 * connections): called once per handshake. */
size_t fdy_peers_principal_connections(const fdy_peers_t *self, const char *name);

/* Notes that a request from routing id `peer` came over connection fd
 * (ZMQ_SRCFD; -1 when unknown) as principal `who` of `site` (both borrowed
 * for the call; site "" for a principal without one). Calls the gone
 * callback first for this routing id if it was last seen on another
 * connection or as another principal, and for another routing id still
 * recorded on fd. Returns the site's index in fdy_peers_sites(), looked
 * up when the binding is made, not per request. Cheap: called for every
 * request. */
uint32_t fdy_peers_bind(fdy_peers_t *self, const fdy_peer_t *peer, int fd, const char *who,
                        const char *site);
/* The sites of the principals seen on connections (borrowed, valid while
 * self lives): the site label of the traffic metrics. Bounded: past
 * FDY_LABELED_VALUES_MAX sites the rest count as "other". */
const fdy_labeled_values_t *fdy_peers_sites(const fdy_peers_t *self);

/* Closes every connection whose requests came as principal name (a key
 * that floods), and has fdy_peers_backoff_left_ms() answer for it until
 * until_ms (monotonic). Returns the connections closed; each is reported
 * gone later, by the monitor's disconnect event. */
size_t fdy_peers_close_principal(fdy_peers_t *self, const char *name, int64_t until_ms);

/* Milliseconds until principal name may connect again; 0: it may now. */
int64_t fdy_peers_backoff_left_ms(const fdy_peers_t *self, const char *name, int64_t now_ms);

/* Routing ids bound now (for tests and status). */
size_t fdy_peers_bound(const fdy_peers_t *self);

/* Connections open now. */
uint64_t fdy_peers_connections(const fdy_peers_t *self);

/* Notes that principal name sent a request at now_ms. Cheap: called for
 * every request. */
void fdy_peers_note_active(fdy_peers_t *self, const char *name, int64_t now_ms);

/* Space-separated, sorted names active in the last FDY_PEERS_ACTIVE_WINDOW_MS
 * before now_ms. Borrowed, valid until the next call. */
const char *fdy_peers_active_names(fdy_peers_t *self, int64_t now_ms);

/* Appends "connections". */
void fdy_peers_stats(const fdy_peers_t *self, fdy_stats_t *out);

#endif
