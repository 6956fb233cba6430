/*  refusals.h: refused authentications waiting for the audit log. zap.c
 *  (refused handshakes) and router.c (requests refused with EAUTH) add to
 *  it; the audit service (broker/audit/audit.c) writes what it holds into
 *  the turn's commit and then consumes it. broker.c creates it and lends it
 *  to all three. A peer can cause refusals at any rate, so it records at
 *  most FDY_REFUSALS_PER_SECOND per second and holds at most
 *  FDY_REFUSALS_MAX; the rest are counted, and each second in which some
 *  were not recorded gets one "suppressed" entry with the count.
 *  Not thread-safe: the broker's loop thread only.
 */
#ifndef FDY_REFUSALS_H_INCLUDED
#define FDY_REFUSALS_H_INCLUDED

#include "audit_entry.h"

#include <stddef.h>
#include <stdint.h>

#define FDY_REFUSALS_PER_SECOND 100
/* Held while the store cannot take them; one slot stays free for the
 * suppressed entry. */
#define FDY_REFUSALS_MAX 512

typedef struct fdy_refusals fdy_refusals_t;

/* One refusal. Every string is borrowed for the call and may be NULL
 * (unknown); each is copied, cut to fit and made printable. */
typedef struct {
    const char *command;   /* "handshake" (ZAP) or "request" (router) */
    const char *principal; /* the name the key or the User-Id had, if any */
    const char *key;       /* key fingerprint */
    const char *peer;      /* peer address */
    const char *reason;    /* "unknown key", "key revoked", ... */
} fdy_refusal_t;

/* Returns a new, empty buffer. Aborts on out-of-memory (daemon allocator).
 * Caller owns; fdy_refusals_destroy(). */
fdy_refusals_t *fdy_refusals_new(void);
void fdy_refusals_destroy(fdy_refusals_t **self_p);

/* Records refusal as an auth-refused entry (result FOUNDRY_EAUTH, wall
 * clock time), or only counts it when this second already has
 * FDY_REFUSALS_PER_SECOND entries or the buffer is full. now_ms is the
 * monotonic clock (fdy_clock_mono_ms). Never fails. */
void fdy_refusals_add(fdy_refusals_t *self, const fdy_refusal_t *refusal, int64_t now_ms);

/* The entries held, oldest first, after closing the second before now_ms
 * (which adds its suppressed entry, if it had one). Borrowed: valid, and
 * unchanged, until the next fdy_refusals_add, _pending or _consume. The
 * caller may fill their seq and hash fields (a commit part does). */
fdy_audit_entry_t *fdy_refusals_pending(fdy_refusals_t *self, int64_t now_ms, size_t *count_out);

/* When the oldest entry held was added (monotonic ms); valid while some
 * are held. */
int64_t fdy_refusals_oldest_ms(const fdy_refusals_t *self);

/* When the current second closes with a suppressed count to record
 * (monotonic ms), or INT64_MAX when nothing waits for that. */
int64_t fdy_refusals_due_ms(const fdy_refusals_t *self);

/* Drops the first count entries held (written, or given up on). */
void fdy_refusals_consume(fdy_refusals_t *self, size_t count);

/* Since start: refusals recorded as entries, and counted only. */
uint64_t fdy_refusals_recorded(const fdy_refusals_t *self);
uint64_t fdy_refusals_suppressed(const fdy_refusals_t *self);

#endif
