/*  model_check.c: running an interlock or health program (model_check.h).
 *  Spawning is job_spawn.c's (process group, no shell, non-blocking
 *  pipes); what is here is only what a yes/no check needs: its stdin
 *  closed at once, the tail of stdout and stderr kept for the reason, and
 *  the exit status.
 */
#include "model_check.h"

#include "clock.h"
#include "job_spawn.h"
#include "xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TAIL_MAX 200

struct fdy_model_check {
    fdy_job_child_t child;
    bool exited, timed_out;
    int status;
    int64_t deadline_ms;
    uint32_t timeout_ms;
    char tail[TAIL_MAX + 1]; /* the last bytes it printed, both streams */
    size_t tail_len;
    char reason[FDY_REASON_MAX];
};

foundry_err
fdy_model_program_parse(const char *text, fdy_model_program_t *out, fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    char *copy = fdy_xstrdup(text ? text : "");
    char *save = NULL;
    size_t count = 0;
    foundry_err err = FOUNDRY_OK;
    for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (count == FDY_JOB_ARGV_MAX) {
            err = fdy_reason_set(reason, FOUNDRY_EINVAL, "more than %d words", FDY_JOB_ARGV_MAX);
            break;
        }
        out->handler.argv[count++] = fdy_xstrdup(w);
    }
    free(copy);
    if (err == FOUNDRY_OK && count == 0)
        err = fdy_reason_set(reason, FOUNDRY_EINVAL, "no program given");
    if (err != FOUNDRY_OK)
        fdy_model_program_fini(out);
    return err;
}

void
fdy_model_program_fini(fdy_model_program_t *self)
{
    for (size_t i = 0; self->handler.argv[i]; i++)
        free(self->handler.argv[i]);
    memset(self, 0, sizeof *self);
}

foundry_err
fdy_model_check_start(const fdy_model_program_t *program, const char *const *vars,
                      uint32_t timeout_ms, fdy_model_check_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    fdy_job_child_t child;
    foundry_err err = fdy_job_spawn(&program->handler, vars, &child, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_model_check_t *self = fdy_xalloc(sizeof *self);
    self->child = child;
    fdy_job_spawn_close(&self->child.in_fd); /* a check reads nothing from us */
    fdy_job_spawn_close(&self->child.prog_fd);
    self->timeout_ms = timeout_ms;
    self->deadline_ms = fdy_clock_mono_ms() + timeout_ms;
    *out = self;
    return FOUNDRY_OK;
}

static void
s_read(fdy_model_check_t *self, int *fd)
{
    char buf[1024];
    while (*fd >= 0) {
        ssize_t n = read(*fd, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            fdy_job_spawn_close(fd);
            return;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (self->tail_len == TAIL_MAX) {
                memmove(self->tail, self->tail + 1, TAIL_MAX - 1);
                self->tail_len--;
            }
            char c = buf[i];
            self->tail[self->tail_len++] = (c == '\n' || (c >= ' ' && c != 127)) ? c : ' ';
        }
        self->tail[self->tail_len] = '\0';
    }
}

/* The last non-empty line of what it printed. */
static void
s_last_line(const char *tail, char *out, size_t size)
{
    size_t end = strlen(tail);
    while (end > 0 && (tail[end - 1] == '\n' || tail[end - 1] == ' '))
        end--;
    size_t start = end;
    while (start > 0 && tail[start - 1] != '\n')
        start--;
    snprintf(out, size, "%.*s", (int) (end - start), tail + start);
}

bool
fdy_model_check_service(fdy_model_check_t *self, int64_t now_ms)
{
    s_read(self, &self->child.out_fd);
    s_read(self, &self->child.err_fd);
    if (!self->exited) {
        int status;
        if (waitpid(self->child.pid, &status, WNOHANG) == self->child.pid) {
            self->exited = true;
            self->status = status;
            kill(-self->child.pid, SIGKILL); /* what it left behind holds our pipes */
        } else if (now_ms >= self->deadline_ms && !self->timed_out) {
            self->timed_out = true;
            kill(-self->child.pid, SIGKILL);
        }
    }
    if (!self->exited)
        return false;
    s_read(self, &self->child.out_fd);
    s_read(self, &self->child.err_fd);
    if (self->child.out_fd >= 0 || self->child.err_fd >= 0)
        return false;
    char line[TAIL_MAX + 1];
    s_last_line(self->tail, line, sizeof line);
    char what[64];
    if (self->timed_out)
        snprintf(what, sizeof what, "timed out after %u ms", self->timeout_ms);
    else if (WIFSIGNALED(self->status))
        snprintf(what, sizeof what, "killed by signal %d", WTERMSIG(self->status));
    else
        snprintf(what, sizeof what, "exit status %d", WEXITSTATUS(self->status));
    if (fdy_model_check_ok(self))
        self->reason[0] = '\0';
    else
        snprintf(self->reason, sizeof self->reason, "%s%s%.180s", what, line[0] ? ": " : "", line);
    return true;
}

bool
fdy_model_check_ok(const fdy_model_check_t *self)
{
    return self->exited && !self->timed_out && WIFEXITED(self->status) &&
           WEXITSTATUS(self->status) == 0;
}

const char *
fdy_model_check_reason(const fdy_model_check_t *self)
{
    return self->reason;
}

void
fdy_model_check_destroy(fdy_model_check_t **self_p)
{
    fdy_model_check_t *self = *self_p;
    if (!self)
        return;
    if (!self->exited) {
        kill(-self->child.pid, SIGKILL);
        waitpid(self->child.pid, NULL, 0);
    }
    fdy_job_spawn_close(&self->child.in_fd);
    fdy_job_spawn_close(&self->child.out_fd);
    fdy_job_spawn_close(&self->child.err_fd);
    fdy_job_spawn_close(&self->child.prog_fd);
    free(self);
    *self_p = NULL;
}
