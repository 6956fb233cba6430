/*  agent.h: the foundry-node agent: takes local telemetry (a ZeroMQ PULL
 *  socket and, optionally, stdin), keeps it in the outbox, forwards it to
 *  the broker with libfoundry and removes what the broker acknowledged.
 *  One thread; all state lives in fdy_agent_t (docs/node.md).
 */
#ifndef FDY_AGENT_H_INCLUDED
#define FDY_AGENT_H_INCLUDED

#include "agent_config.h"

#include <signal.h>

typedef struct fdy_agent fdy_agent_t;

/* Checks the key files, creates the data directory, opens the outbox,
 * binds the PULL socket and writes <data_dir>/ready. The broker need not be
 * reachable: the agent connects (and reconnects) while it runs.
 * cfg is borrowed and must outlive the agent.
 * Returns FOUNDRY_OK and *out (caller owns; fdy_agent_destroy()), or the
 * failing step's error (FOUNDRY_EIO, FOUNDRY_EAUTH for a secret key file
 * others may read, FOUNDRY_EINVAL, FOUNDRY_EEXIST for an outbox in use,
 * FOUNDRY_ESTORE, ...) with reason. */
foundry_err fdy_agent_new(const fdy_agent_cfg_t *cfg, fdy_agent_t **out, fdy_reason_t *reason);

/* Runs until *stop becomes non-zero (SIGTERM, SIGINT) or stdin ends (with
 * stdin input on). Then stops taking input, waits up to shutdown_flush for
 * acks (a second signal, *stop >= 2, cuts that short), closes the client
 * and leaves what is unacknowledged in the outbox for the next start.
 * Returns FOUNDRY_OK on such a stop, or an error (with the reason logged as
 * NODE-FATAL) when the agent cannot go on: its PULL socket failed. */
foundry_err fdy_agent_run(fdy_agent_t *self, volatile sig_atomic_t *stop);

/* Closes everything and removes the ready file. Accepts NULL. */
void fdy_agent_destroy(fdy_agent_t **self_p);

#endif
