/*  job_client.h: what client.c sees of libfoundry's jobs module
 *  (job_client.c): the replies and offers it owns, its resends, and its
 *  lifetime. The public API (foundry_job_*, foundry_worker_*) is in
 *  foundry.h. Not thread-safe: the client's thread only.
 */
#ifndef FDY_JOB_CLIENT_H_INCLUDED
#define FDY_JOB_CLIENT_H_INCLUDED

#include "codec.h"
#include "foundry.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct fdy_job_client fdy_job_client_t;

/* Caller owns; fdy_job_client_destroy(). NULL on out-of-memory. */
fdy_job_client_t *fdy_job_client_new(foundry_client_t *client);
void fdy_job_client_destroy(fdy_job_client_t **self_p);

/* True for JOB_REPLY, JOB_OFFER, and an ERROR answering a job request. */
bool fdy_job_client_owns(const fdy_envelope_t *env);
/* Handles one of those (borrowed for the call). */
void fdy_job_client_on_reply(fdy_job_client_t *self, const fdy_envelope_t *env);
/* Resends what is unanswered after a reconnect or resend_after_ms. */
void fdy_job_client_service(fdy_job_client_t *self, int64_t now_ms, bool reconnected);

#endif
