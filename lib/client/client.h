/*  client.h: what client.c offers the rest of libfoundry (sub.c): the
 *  client's connection, its pump and its error text. The public API is in
 *  foundry.h; nothing here is exported. Not thread-safe: the client's
 *  thread only, like everything in a foundry_client_t.
 */
#ifndef FDY_CLIENT_H_INCLUDED
#define FDY_CLIENT_H_INCLUDED

#include "conn.h"
#include "foundry.h"
#include "reason.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct fdy_sub_registry fdy_sub_registry_t;
typedef struct fdy_job_client fdy_job_client_t;
typedef struct fdy_model_client fdy_model_client_t;
typedef struct fdy_model_wire fdy_model_wire_t;

/* Does whatever is due (sends, resends, acks, deliveries, keepalives) and
 * waits up to timeout_ms for the broker when nothing arrived. Returns
 * early on progress: callers loop on their own condition and deadline. */
void fdy_client_pump(foundry_client_t *self, int timeout_ms);

/* The client's connection and subscription registry. Borrowed, valid
 * until the client is destroyed. */
fdy_conn_t *fdy_client_conn(foundry_client_t *self);
fdy_sub_registry_t *fdy_client_subs(foundry_client_t *self);
fdy_job_client_t *fdy_client_jobs(foundry_client_t *self);
fdy_model_client_t *fdy_client_models(foundry_client_t *self);
fdy_model_wire_t *fdy_client_model_wire(foundry_client_t *self);

/* True inside the ack handler, where calls that pump are refused. */
bool fdy_client_dispatching(const foundry_client_t *self);

/* The client's ack_timeout_ms: how long blocking calls wait. */
uint32_t fdy_client_ack_timeout_ms(const foundry_client_t *self);

/* True once the broker refused or revoked our key (until a later
 * handshake succeeds). */
bool fdy_client_refused(const foundry_client_t *self);

/* Sets the text foundry_client_last_error() returns and returns err. */
foundry_err fdy_client_fail(foundry_client_t *self, foundry_err err, const char *fmt, ...)
    FDY_PRINTF(3, 4);

#endif
