/*  peers.h: what the broker knows about its connections as a whole: how
 *  many are open (from the ROUTER's monitor events) and which principals
 *  were active in the last minute, for status. Per-connection state of a
 *  kind of work (subscriptions, parked requests) stays with its service.
 */
#ifndef FDY_PEERS_H_INCLUDED
#define FDY_PEERS_H_INCLUDED

#include "service.h"

#include <stdint.h>

/* Principals remembered as active; status lists at most this many. */
#define FDY_PEERS_ACTIVE_SLOTS 256
#define FDY_PEERS_ACTIVE_WINDOW_MS 60000

/* Returns a new table. Aborts on out-of-memory. Caller owns;
 * fdy_peers_destroy(). */
fdy_peers_t *fdy_peers_new(void);
void fdy_peers_destroy(fdy_peers_t **self_p);

/* Monitor events: a connection was accepted, or one went away. */
void fdy_peers_accepted(fdy_peers_t *self);
void fdy_peers_disconnected(fdy_peers_t *self);

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
