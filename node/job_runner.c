/*  job_runner.c: exec-mode attempts (job_runner.h). fork + execvp, with
 *  the child in its own process group (setpgid) so that a timeout or a
 *  cancel reaches every process the handler started. All pipes are
 *  non-blocking on our side; nothing here waits.
 */
#include "job_runner.h"

#include "codec_jobs.h"
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

extern char **environ;

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

static void
s_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static bool
s_executable(const char *file, fdy_reason_t *reason)
{
    if (strchr(file, '/')) {
        if (access(file, X_OK) != 0) {
            fdy_reason_set(reason, FOUNDRY_EIO, "handler %s is not executable: %s", file,
                           strerror(errno));
            return false;
        }
        return true;
    }
    const char *path = getenv("PATH");
    char dir[4096];
    for (const char *p = path ? path : "/usr/bin:/bin"; p && *p;) {
        size_t len = strcspn(p, ":");
        snprintf(dir, sizeof dir, "%.*s/%s", (int) len, p, file);
        if (access(dir, X_OK) == 0)
            return true;
        p += len + (p[len] == ':');
    }
    fdy_reason_set(reason, FOUNDRY_EIO, "handler %s not found in PATH", file);
    return false;
}

static void
s_child(const fdy_job_handler_t *h, const foundry_job_offer_t *offer, int in, int out, int err,
        int prog)
{
    setpgid(0, 0);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    dup2(prog, 3);
    for (int fd = 4; fd < 1024; fd++)
        close(fd);
    char value[32];
    snprintf(value, sizeof value, "%" PRIu64, offer->job_id);
    setenv("FOUNDRY_JOB_ID", value, 1);
    snprintf(value, sizeof value, "%" PRIu64, offer->fence);
    setenv("FOUNDRY_JOB_FENCE", value, 1);
    snprintf(value, sizeof value, "%u", offer->attempt);
    setenv("FOUNDRY_JOB_ATTEMPT", value, 1);
    setenv("FOUNDRY_JOB_TYPE", offer->type, 1);
    setenv("FOUNDRY_PROGRESS_FD", "3", 1);
    for (size_t i = 0; h->env[i]; i++)
        putenv(h->env[i]);
    signal(SIGPIPE, SIG_DFL);
    if (h->cwd && chdir(h->cwd) != 0) {
        dprintf(2, "foundry-node: cannot enter %s: %s\n", h->cwd, strerror(errno));
        _exit(126);
    }
    execvp(h->argv[0], h->argv);
    dprintf(2, "foundry-node: cannot run %s: %s\n", h->argv[0], strerror(errno));
    _exit(127);
}

foundry_err
fdy_job_run_start(const fdy_job_handler_t *h, const foundry_job_offer_t *offer,
                  fdy_job_run_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    if (!s_executable(h->argv[0], reason))
        return FOUNDRY_EIO;
    int pipes[4][2];
    int made = 0;
    for (; made < 4; made++)
        if (pipe(pipes[made]) != 0)
            break;
    if (made < 4) {
        for (int i = 0; i < made; i++) {
            close(pipes[i][0]);
            close(pipes[i][1]);
        }
        return fdy_reason_set(reason, FOUNDRY_EIO, "pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        for (int i = 0; i < 4; i++) {
            close(pipes[i][0]);
            close(pipes[i][1]);
        }
        return fdy_reason_set(reason, FOUNDRY_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0)
        s_child(h, offer, pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1]);
    setpgid(pid, pid); /* also here: no race with a kill before the child ran */
    fdy_job_run_t *self = fdy_xalloc(sizeof *self);
    self->job_id = offer->job_id;
    self->fence = offer->fence;
    snprintf(self->type, sizeof self->type, "%s", offer->type);
    self->pid = pid;
    close(pipes[0][0]);
    close(pipes[1][1]);
    close(pipes[2][1]);
    close(pipes[3][1]);
    self->in_fd = pipes[0][1];
    self->out_fd = pipes[1][0];
    self->err_fd = pipes[2][0];
    self->prog_fd = pipes[3][0];
    int fds[] = { self->in_fd, self->out_fd, self->err_fd, self->prog_fd };
    for (size_t i = 0; i < 4; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
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
    s_close(&self->in_fd); /* EOF tells the handler the payload is complete */
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
            s_close(&self->out_fd);
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
            s_close(&self->err_fd);
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
            s_close(&self->prog_fd);
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
    s_close(&self->in_fd);
    s_close(&self->out_fd);
    s_close(&self->err_fd);
    s_close(&self->prog_fd);
    free(self->payload);
    free(self->out);
    free(self);
    *self_p = NULL;
}
