/*  admin_client.h: what client.c sees of libfoundry's admin module
 *  (admin_client.c, foundry_admin() in foundry.h): the replies it owns and
 *  its lifetime. Not thread-safe: the client's thread only.
 */
#ifndef FDY_ADMIN_CLIENT_H_INCLUDED
#define FDY_ADMIN_CLIENT_H_INCLUDED

#include "codec.h"
#include "foundry.h"

#include <stdbool.h>

typedef struct fdy_admin_client fdy_admin_client_t;

/* Caller owns; fdy_admin_client_destroy(). NULL on out-of-memory. */
fdy_admin_client_t *fdy_admin_client_new(foundry_client_t *client);
void fdy_admin_client_destroy(fdy_admin_client_t **self_p);

/* True for an ADMIN_REPLY, or an ERROR answering our ADMIN request
 * (request ids with the module's bit). */
bool fdy_admin_client_owns(const fdy_envelope_t *env);
/* Handles one of those (borrowed for the call: the table is copied). */
void fdy_admin_client_on_reply(fdy_admin_client_t *self, const fdy_envelope_t *env);

#endif
