/*  model_client.h: what client.c sees of libfoundry's models module
 *  (model_client.c): the replies it owns and its lifetime. The public API
 *  (foundry_model_*) is in foundry.h. Not thread-safe: the client's
 *  thread only.
 */
#ifndef FDY_MODEL_CLIENT_H_INCLUDED
#define FDY_MODEL_CLIENT_H_INCLUDED

#include "codec.h"
#include "foundry.h"

#include <stdbool.h>

typedef struct fdy_model_client fdy_model_client_t;

/* Caller owns; fdy_model_client_destroy(). NULL on out-of-memory. */
fdy_model_client_t *fdy_model_client_new(foundry_client_t *client);
void fdy_model_client_destroy(fdy_model_client_t **self_p);

/* True for a MODEL_REPLY or an ERROR answering one of our MODEL requests
 * (request ids with the module's bit). */
bool fdy_model_client_owns(const fdy_envelope_t *env);
/* Handles one of those (borrowed for the call). */
void fdy_model_client_on_reply(fdy_model_client_t *self, const fdy_envelope_t *env);

#endif
