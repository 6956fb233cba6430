/*  model_check.h: one run of an operator's check program, the model
 *  interlock ("is it safe to change the model now?") or the health check
 *  ("does the new model work?"): argv without a shell, started through
 *  job_spawn.c like job handlers, never waited for: the agent's loop calls
 *  fdy_model_check_service() each turn. Exit 0 means yes; otherwise the
 *  reason is the exit status plus the last line the program printed.
 */
#ifndef FDY_MODEL_CHECK_H_INCLUDED
#define FDY_MODEL_CHECK_H_INCLUDED

#include "job_config.h"
#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest a check may run before its process group is killed (and the
 * answer is no). */
#define FDY_MODEL_CHECK_TIMEOUT_MS (10u * 60u * 1000u)

/* A program from a config value: words separated by blanks, no quoting
 * (as the jobs file). */
typedef struct {
    fdy_job_handler_t handler; /* only argv is used */
} fdy_model_program_t;

/* Parses text into *out. FOUNDRY_OK, or FOUNDRY_EINVAL (empty, more than
 * FDY_JOB_ARGV_MAX words) with reason. Free with fdy_model_program_fini(). */
foundry_err fdy_model_program_parse(const char *text, fdy_model_program_t *out,
                                    fdy_reason_t *reason);
void fdy_model_program_fini(fdy_model_program_t *self);

typedef struct fdy_model_check fdy_model_check_t;

/* Starts program (borrowed for the call) with the extra "NAME=value"
 * variables (NULL-terminated). FOUNDRY_OK and *out (caller owns), or
 * FOUNDRY_EIO with reason (not executable, fork). */
foundry_err fdy_model_check_start(const fdy_model_program_t *program, const char *const *vars,
                                  uint32_t timeout_ms, fdy_model_check_t **out,
                                  fdy_reason_t *reason);

/* Reads its output, reaps it, enforces the timeout. True once it is over. */
bool fdy_model_check_service(fdy_model_check_t *self, int64_t now_ms);

/* After service() returned true: exit status 0, and otherwise why not
 * ("exit status 1: robot arm moving"). Borrowed until destroy. */
bool fdy_model_check_ok(const fdy_model_check_t *self);
const char *fdy_model_check_reason(const fdy_model_check_t *self);

/* Kills what still runs and reaps it. Accepts NULL. */
void fdy_model_check_destroy(fdy_model_check_t **self_p);

#endif
