/*  job_keys.h: the jobs service's idempotency keys: (tenant, key) -> the
 *  id of the job that first came with them, so a resubmit is answered
 *  `duplicate`. An open-addressing table over strings the jobs own: no
 *  allocation per job, where czmq's zhashx took a key copy and an item.
 */
#ifndef FDY_JOB_KEYS_H_INCLUDED
#define FDY_JOB_KEYS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct fdy_job_keys fdy_job_keys_t;

/* Returns a new, empty table. Caller owns; fdy_job_keys_destroy(). Aborts
 * when out of memory (daemon code, fdy_xalloc). */
fdy_job_keys_t *fdy_job_keys_new(void);
void fdy_job_keys_destroy(fdy_job_keys_t **self_p);

/* Maps (tenant, key) to id unless they map to a job already (the first
 * job keeps its key). tenant and key are borrowed, valid until the entry
 * is removed: pass the job's own strings. */
void fdy_job_keys_put(fdy_job_keys_t *self, const char *tenant, const char *key, uint64_t id);

/* The id (tenant, key) map to, 0 for none. */
uint64_t fdy_job_keys_get(const fdy_job_keys_t *self, const char *tenant, const char *key);

/* Removes (tenant, key) when they map to id (a job that did not get the
 * key leaves its holder's entry alone). */
void fdy_job_keys_remove(fdy_job_keys_t *self, const char *tenant, const char *key, uint64_t id);

/* Entries held. */
size_t fdy_job_keys_count(const fdy_job_keys_t *self);

#endif
