/*  job_runner.c: exec-mode attempts (job_runner.h), started by
 *  job_spawn.c in a process group of their own so that a timeout or a
 *  cancel reaches every process the handler started. All pipes are
 *  non-blocking on our side; nothing here waits.
 */
#include "job_runner.h"

#include "codec_jobs.h"
#include "job_spawn.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"

struct fdy_job_run {
    uint64_t job_id, fence;
    char type[FDY_JOB_TYPE_MAX + 1];
    pid_t pid;
    int in_fd, out_fd, err_fd, prog_fd; /* -1 once closed */
    uint8_t *payload;
    size_t payload_len, payload_sent;
    uint8_t *out;
    size_t out_len;
    bool out_over;
    char tail[FDY_JOB_LOG_TAIL + 1]; /* the last bytes of stderr */
    size_t tail_len;
    char prog_buf[FDY_JOB_PROGRESS_MAX + 1];
    size_t prog_len;
    char progress[FDY_JOB_PROGRESS_MAX + 1];
    bool progress_new;
    int64_t deadline_ms;
    uint32_t timeout_ms;
    bool exited, timed_out, cancelled;
    int status;
    char error[256];
};

foundry_err
fdy_job_run_start(const fdy_job_handler_t *h, const foundry_job_offer_t *offer,
                  fdy_job_run_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    char id[48], fence[48], attempt[48], type[FDY_JOB_TYPE_MAX + 24];
    snprintf(id, sizeof id, "FOUNDRY_JOB_ID=%" PRIu64, offer->job_id);
    snprintf(fence, sizeof fence, "FOUNDRY_JOB_FENCE=%" PRIu64, offer->fence);
    snprintf(attempt, sizeof attempt, "FOUNDRY_JOB_ATTEMPT=%u", offer->attempt);
    snprintf(type, sizeof type, "FOUNDRY_JOB_TYPE=%s", offer->type);
    const char *vars[] = { id, fence, attempt, type, NULL };
    fdy_job_child_t child;
    foundry_err err = fdy_job_spawn(h, vars, &child, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_job_run_t *self = fdy_xalloc(sizeof *self);
    self->job_id = offer->job_id;
    self->fence = offer->fence;
    snprintf(self->type, sizeof self->type, "%s", offer->type);
    self->pid = child.pid;
    self->in_fd = child.in_fd;
    self->out_fd = child.out_fd;
    self->err_fd = child.err_fd;
    self->prog_fd = child.prog_fd;
    self->payload_len = offer->payload_len;
    if (offer->payload_len) {
        self->payload = fdy_xalloc(offer->payload_len);
        memcpy(self->payload, offer->payload, offer->payload_len);
    }
    self->timeout_ms = h->timeout_ms;
    if (offer->timeout_ms && offer->timeout_ms < self->timeout_ms)
        self->timeout_ms = offer->timeout_ms;
    self->deadline_ms = fdy_clock_mono_ms() + self->timeout_ms;
    *out = self;
    return FOUNDRY_OK;
}

static void
s_kill(fdy_job_run_t *self)
{
    if (self->pid > 0 && !self->exited)
        kill(-self->pid, SIGKILL);
}

static void
s_write_payload(fdy_job_run_t *self)
{
    while (self->in_fd >= 0 && self->payload_sent < self->payload_len) {
        ssize_t n = write(self->in_fd, self->payload + self->payload_sent,
                          self->payload_len - self->payload_sent);
        if (n > 0) {
            self->payload_sent += (size_t) n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        break; /* EPIPE: the handler does not read its stdin; that is its choice */
    }
    fdy_job_spawn_close(&self->in_fd); /* EOF tells the handler the payload is complete */
}

static void
s_read_out(fdy_job_run_t *self)
{
    uint8_t buf[16384];
    while (self->out_fd >= 0) {
        ssize_t n = read(self->out_fd, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            fdy_job_spawn_close(&self->out_fd);
            return;
        }
        if (self->out_len + (size_t) n > FDY_JOB_RESULT_MAX) {
            self->out_over = true; /* the rest is read and dropped, so the handler is not stuck */
            continue;
        }
        self->out = fdy_xrealloc(self->out, self->out_len + (size_t) n);
        memcpy(self->out + self->out_len, buf, (size_t) n);
        self->out_len += (size_t) n;
    }
}

static void
s_read_err(fdy_job_run_t *self)
{
    char buf[4096];
    while (self->err_fd >= 0) {
        ssize_t n = read(self->err_fd, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            fdy_job_spawn_close(&self->err_fd);
            return;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (self->tail_len == FDY_JOB_LOG_TAIL) {
                memmove(self->tail, self->tail + 1, FDY_JOB_LOG_TAIL - 1);
                self->tail_len--;
            }
            self->tail[self->tail_len++] = buf[i] ? buf[i] : ' ';
        }
        self->tail[self->tail_len] = '\0';
    }
}

static void
s_read_progress(fdy_job_run_t *self)
{
    char buf[1024];
    while (self->prog_fd >= 0) {
        ssize_t n = read(self->prog_fd, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            fdy_job_spawn_close(&self->prog_fd);
            return;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                self->prog_buf[self->prog_len] = '\0';
                memcpy(self->progress, self->prog_buf, self->prog_len + 1);
                self->progress_new = true;
                self->prog_len = 0;
            } else if (self->prog_len < FDY_JOB_PROGRESS_MAX && buf[i] >= ' ') {
                self->prog_buf[self->prog_len++] = buf[i];
            }
        }
    }
}

bool
fdy_job_run_service(fdy_job_run_t *self, int64_t now_ms)
{
    s_write_payload(self);
    s_read_out(self);
    s_read_err(self);
    s_read_progress(self);
    if (!self->exited) {
        int status;
        pid_t got = waitpid(self->pid, &status, WNOHANG);
        if (got == self->pid) {
            self->exited = true;
            self->status = status;
            /* Children it left behind would hold our pipes open: the group goes. */
            kill(-self->pid, SIGKILL);
        } else if (now_ms >= self->deadline_ms && !self->timed_out) {
            self->timed_out = true;
            s_kill(self);
        }
    }
    if (!self->exited)
        return false;
    s_read_out(self);
    s_read_err(self);
    s_read_progress(self);
    if (self->out_fd >= 0 || self->err_fd >= 0)
        return false;
    if (self->cancelled)
        snprintf(self->error, sizeof self->error, "cancelled: process group killed");
    else if (self->timed_out)
        snprintf(self->error, sizeof self->error, "timed out after %u ms: process group killed",
                 self->timeout_ms);
    else if (WIFSIGNALED(self->status))
        snprintf(self->error, sizeof self->error, "killed by signal %d", WTERMSIG(self->status));
    else if (WEXITSTATUS(self->status) != 0)
        snprintf(self->error, sizeof self->error, "exit status %d", WEXITSTATUS(self->status));
    else if (self->out_over)
        snprintf(self->error, sizeof self->error, "stdout over %u bytes", FDY_JOB_RESULT_MAX);
    return true;
}

void
fdy_job_run_cancel(fdy_job_run_t *self)
{
    self->cancelled = true;
    s_kill(self);
}

bool
fdy_job_run_ok(const fdy_job_run_t *self)
{
    return self->exited && self->error[0] == '\0';
}

bool
fdy_job_run_cancelled(const fdy_job_run_t *self)
{
    return self->cancelled;
}

const uint8_t *
fdy_job_run_output(const fdy_job_run_t *self, size_t *len_out)
{
    *len_out = self->out_len;
    return self->out;
}

const char *
fdy_job_run_error(const fdy_job_run_t *self)
{
    return self->error;
}

const char *
fdy_job_run_log_tail(const fdy_job_run_t *self)
{
    return self->tail;
}

const char *
fdy_job_run_progress(fdy_job_run_t *self)
{
    if (!self->progress_new)
        return NULL;
    self->progress_new = false;
    return self->progress;
}

uint64_t
fdy_job_run_id(const fdy_job_run_t *self)
{
    return self->job_id;
}

uint64_t
fdy_job_run_fence(const fdy_job_run_t *self)
{
    return self->fence;
}

const char *
fdy_job_run_type(const fdy_job_run_t *self)
{
    return self->type;
}

void
fdy_job_run_destroy(fdy_job_run_t **self_p)
{
    fdy_job_run_t *self = *self_p;
    if (!self)
        return;
    if (!self->exited) {
        s_kill(self);
        waitpid(self->pid, NULL, 0);
    }
    fdy_job_spawn_close(&self->in_fd);
    fdy_job_spawn_close(&self->out_fd);
    fdy_job_spawn_close(&self->err_fd);
    fdy_job_spawn_close(&self->prog_fd);
    free(self->payload);
    free(self->out);
    free(self);
    *self_p = NULL;
}
