/*  rate.h: publish rate limits per principal (messages/s and bytes/s), as
 *  token buckets holding one second's worth: a burst up to the limit passes
 *  at once, a sustained rate above it is refused with FOUNDRY_ERATE. The
 *  limit of a key is its own (KeyRecord rate_msgs/rate_bytes) or else its
 *  role's (broker options rate_msgs_<role>, rate_bytes_<role>); 0 means no
 *  limit. Buckets are kept by principal name, so every connection of one
 *  key shares one budget.
 */
#ifndef FDY_RATE_H_INCLUDED
#define FDY_RATE_H_INCLUDED

#include "broker_config.h"
#include "codec.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct fdy_rate fdy_rate_t;

/* Limits per role from cfg (borrowed; must outlive it). Aborts on
 * out-of-memory. Caller owns; fdy_rate_destroy(). */
fdy_rate_t *fdy_rate_new(const fdy_broker_cfg_t *cfg);
void fdy_rate_destroy(fdy_rate_t **self_p);

/* Takes one message of bytes bytes from p's budget at now_ms (monotonic).
 * Returns FOUNDRY_OK, or FOUNDRY_ERATE with a reason naming the limit (the
 * budget is then left untouched). Cheap when p has no limit.
 * A key that goes on sending while refused floods: when its refusals in
 * one second pass rate_flood_factor times its limit (and at least 10,000
 * messages or 16 MiB), *flooding (may be NULL) is set to true, at most
 * once a second; what to do about it is the caller's. */
foundry_err fdy_rate_take(fdy_rate_t *self, const fdy_principal_t *p, uint64_t bytes,
                          int64_t now_ms, bool *flooding, fdy_reason_t *reason);

/* Messages refused since start. */
uint64_t fdy_rate_refused(const fdy_rate_t *self);
/* Floods found since start. */
uint64_t fdy_rate_floods(const fdy_rate_t *self);

#endif
