/*  broker.h: the foundry-broker daemon object: store, key registry, ZAP
 *  handler and the CURVE ROUTER, driven by one event loop in the calling
 *  thread. main.c builds the config, creates the broker, runs it until the
 *  stop flag is set, and maps the result to an exit code.
 */
#ifndef FDY_BROKER_H_INCLUDED
#define FDY_BROKER_H_INCLUDED

#include "broker_config.h"
#include "reason.h"

#include <signal.h>

typedef struct fdy_broker fdy_broker_t;

/* Opens the store, loads the registry, creates the default streams, loads
 * (or on first start generates) the broker key pair, binds the ZAP handler
 * and then the ROUTER, and writes <data_dir>/ready.
 * cfg is borrowed and must outlive the broker.
 * Returns FOUNDRY_OK and *out (caller owns; fdy_broker_destroy()), or the
 * failing step's error (FOUNDRY_EIO, FOUNDRY_ESTORE, FOUNDRY_ECORRUPT,
 * FOUNDRY_EAUTH for a secret key readable by others, FOUNDRY_EINVAL, ...)
 * with reason. Nothing is left bound on failure. */
foundry_err fdy_broker_new(const fdy_broker_cfg_t *cfg, fdy_broker_t **out,
                           fdy_reason_t *reason);

/* Runs the event loop until *stop becomes non-zero (set from a signal
 * handler), finishing the current turn (commit and acks) first.
 * Returns FOUNDRY_OK on a requested stop, or FOUNDRY_EIO when a socket
 * failed (logged). */
foundry_err fdy_broker_run(fdy_broker_t *self, const volatile sig_atomic_t *stop);

/* Removes the ready file, closes the sockets (acks already queued get up to
 * two seconds to leave) and the store. */
void fdy_broker_destroy(fdy_broker_t **self_p);

#endif
