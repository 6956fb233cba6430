/*  job_spawn.h: starting a handler process (both modes): execvp of its
 *  argv, no shell, in a process group of its own, in its cwd, with the
 *  agent's environment plus the handler's env= and the caller's variables,
 *  and four non-blocking pipes on our side (stdin, stdout, stderr, and fd 3
 *  for progress lines).
 */
#ifndef FDY_JOB_SPAWN_H_INCLUDED
#define FDY_JOB_SPAWN_H_INCLUDED

#include "job_config.h"
#include "reason.h"

#include <sys/types.h>

typedef struct {
    pid_t pid; /* also its process group id */
    int in_fd, out_fd, err_fd, prog_fd;
} fdy_job_child_t;

/* Starts h with the extra "NAME=value" variables (NULL-terminated, may be
 * NULL). Returns FOUNDRY_OK and *out, or FOUNDRY_EIO with reason: "handler
 * PATH is not executable: ...", "handler NAME not found in PATH", pipe or
 * fork failures. */
foundry_err fdy_job_spawn(const fdy_job_handler_t *h, const char *const *vars,
                          fdy_job_child_t *out, fdy_reason_t *reason);

/* Closes *fd if open and sets it to -1. */
void fdy_job_spawn_close(int *fd);

#endif
