/*  baseline.h: raw libzmq CURVE DEALER -> ROUTER throughput, the reference
 *  foundry-bench compares durable publishing with.
 */
#ifndef FDY_BASELINE_H_INCLUDED
#define FDY_BASELINE_H_INCLUDED

#include "foundry.h"

#include <stddef.h>

/* Sends one warm-up frame (the CURVE handshake is not timed), then count
 * frames of payload_size bytes from a DEALER thread to a ROUTER with CURVE
 * on loopback; *seconds_out is the receiver's time from the warm-up frame to
 * the last one. No ZAP handler runs, so libzmq accepts the client key: the
 * handshake's key check is a per-connection cost the broker pays once.
 * Returns FOUNDRY_OK, or FOUNDRY_EIO having printed why. */
foundry_err fdy_baseline_run(size_t count, size_t payload_size, double *seconds_out);

#endif
