/*  job_config.h: foundry-node's job handlers file (the `jobs` option): one
 *  line per job type, mapping it to a handler (docs/jobs.md):
 *
 *      # type    mode   slots timeout  [cwd=DIR] [env=K=V]... -- argv...
 *      inspect   exec   2     30s      cwd=/srv/inspect -- /usr/bin/inspect --fast
 *      infer     worker 1     60s      -- /opt/model/serve
 *
 *  exec runs argv per job (no shell), worker keeps one process per type.
 */
#ifndef FDY_JOB_CONFIG_H_INCLUDED
#define FDY_JOB_CONFIG_H_INCLUDED

#include "foundry.h"
#include "reason.h"

#include <stddef.h>
#include <stdint.h>

#define FDY_JOB_HANDLERS_MAX 16
#define FDY_JOB_ARGV_MAX     32
#define FDY_JOB_ENV_MAX      16

typedef enum { FDY_JOB_MODE_EXEC = 1, FDY_JOB_MODE_WORKER = 2 } fdy_job_mode_t;

typedef struct {
    char *type;
    fdy_job_mode_t mode;
    uint32_t slots;
    uint32_t timeout_ms;
    char *cwd;                           /* NULL: the agent's */
    char *env[FDY_JOB_ENV_MAX + 1];      /* "K=V", NULL-terminated, added to the agent's */
    char *argv[FDY_JOB_ARGV_MAX + 1];    /* NULL-terminated */
} fdy_job_handler_t;

typedef struct {
    fdy_job_handler_t handlers[FDY_JOB_HANDLERS_MAX];
    size_t count;
} fdy_job_config_t;

/* Parses the handlers file at path into *out (zeroed first). Returns
 * FOUNDRY_OK, FOUNDRY_EIO (cannot read) or FOUNDRY_EINVAL with reason
 * "path:line: what is wrong". Free with fdy_job_config_fini(). */
foundry_err fdy_job_config_load(const char *path, fdy_job_config_t *out, fdy_reason_t *reason);
void fdy_job_config_fini(fdy_job_config_t *self);

/* The handler for type, or NULL. Borrowed from self. */
const fdy_job_handler_t *fdy_job_config_find(const fdy_job_config_t *self, const char *type);

#endif
