/*  job_process.c: a worker-mode handler process and its framing
 *  (job_process.h). Output queued for its stdin and input read from its
 *  stdout are plain byte buffers; a frame over FDY_JOB_FRAME_BODY_MAX or
 *  an unknown status byte is a protocol error that kills the process (its
 *  jobs fail, the next job starts it again).
 */
#include "job_process.h"

#include "bytes.h"
#include "job_runner.h"
#include "job_spawn.h"
#include "xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define HEADER 17 /* status + id + fence */

typedef struct {
    uint8_t *data;
    size_t len, cap, off; /* off: consumed from the front */
} s_buf_t;

struct fdy_job_process {
    const fdy_job_handler_t *h;
    fdy_job_child_t child;
    bool running;
    uint64_t generation;
    s_buf_t out; /* to its stdin */
    s_buf_t in;  /* from its stdout */
    char tail[FDY_JOB_LOG_TAIL + 1];
    size_t tail_len;
    char last_exit[128];
};

static void
s_buf_put(s_buf_t *b, const void *data, size_t len)
{
    if (b->off && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len)
            cap *= 2;
        b->data = fdy_xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void
s_buf_compact(s_buf_t *b)
{
    if (b->off == 0)
        return;
    memmove(b->data, b->data + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
}

fdy_job_process_t *
fdy_job_process_new(const fdy_job_handler_t *h)
{
    fdy_job_process_t *self = fdy_xalloc(sizeof *self);
    self->h = h;
    self->child = (fdy_job_child_t){ 0, -1, -1, -1, -1 };
    return self;
}

static void
s_ended(fdy_job_process_t *self, const char *why)
{
    snprintf(self->last_exit, sizeof self->last_exit, "%s", why);
    fdy_job_spawn_close(&self->child.in_fd);
    fdy_job_spawn_close(&self->child.out_fd);
    fdy_job_spawn_close(&self->child.err_fd);
    fdy_job_spawn_close(&self->child.prog_fd);
    self->running = false;
    self->generation++;
    self->out.len = self->out.off = 0;
    self->in.len = self->in.off = 0;
}

void
fdy_job_process_kill(fdy_job_process_t *self, const char *why)
{
    if (!self->running)
        return;
    kill(-self->child.pid, SIGKILL);
    waitpid(self->child.pid, NULL, 0);
    s_ended(self, why);
}

void
fdy_job_process_destroy(fdy_job_process_t **self_p)
{
    fdy_job_process_t *self = *self_p;
    if (!self)
        return;
    fdy_job_process_kill(self, "stopped");
    free(self->out.data);
    free(self->in.data);
    free(self);
    *self_p = NULL;
}

foundry_err
fdy_job_process_ensure(fdy_job_process_t *self, fdy_reason_t *reason)
{
    if (self->running)
        return FOUNDRY_OK;
    foundry_err err = fdy_job_spawn(self->h, NULL, &self->child, reason);
    if (err == FOUNDRY_OK)
        self->running = true;
    return err;
}

void
fdy_job_process_send(fdy_job_process_t *self, char kind, uint64_t job_id, uint64_t fence,
                     uint32_t attempt, const void *payload, size_t len)
{
    uint8_t head[4 + 1 + 8 + 8 + 4];
    size_t body = 1 + 8 + 8 + (kind == 'J' ? 4 + len : 0);
    fdy_bytes_put_be32(head, (uint32_t) body);
    head[4] = (uint8_t) kind;
    fdy_bytes_put_be64(head + 5, job_id);
    fdy_bytes_put_be64(head + 13, fence);
    fdy_bytes_put_be32(head + 21, attempt);
    s_buf_put(&self->out, head, kind == 'J' ? sizeof head : 21);
    if (kind == 'J' && len)
        s_buf_put(&self->out, payload, len);
}

static void
s_pump(fdy_job_process_t *self)
{
    while (self->child.in_fd >= 0 && self->out.off < self->out.len) {
        ssize_t n = write(self->child.in_fd, self->out.data + self->out.off,
                          self->out.len - self->out.off);
        if (n > 0)
            self->out.off += (size_t) n;
        else if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        else
            break; /* EPIPE: it is dying; the reap below notices */
    }
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = self->child.out_fd >= 0 ? read(self->child.out_fd, buf, sizeof buf) : 0;
        if (n > 0) {
            s_buf_compact(&self->in);
            s_buf_put(&self->in, buf, (size_t) n);
            continue;
        }
        break;
    }
    char ebuf[4096];
    ssize_t n;
    while (self->child.err_fd >= 0 && (n = read(self->child.err_fd, ebuf, sizeof ebuf)) > 0)
        for (ssize_t i = 0; i < n; i++) {
            if (self->tail_len == FDY_JOB_LOG_TAIL) {
                memmove(self->tail, self->tail + 1, FDY_JOB_LOG_TAIL - 1);
                self->tail_len--;
            }
            self->tail[self->tail_len++] = ebuf[i] ? ebuf[i] : ' ';
            self->tail[self->tail_len] = '\0';
        }
}

bool
fdy_job_process_service(fdy_job_process_t *self)
{
    if (!self->running)
        return false;
    s_pump(self);
    int status;
    if (waitpid(self->child.pid, &status, WNOHANG) == self->child.pid) {
        kill(-self->child.pid, SIGKILL); /* what it started goes with it */
        char why[64];
        if (WIFSIGNALED(status))
            snprintf(why, sizeof why, "worker killed by signal %d", WTERMSIG(status));
        else
            snprintf(why, sizeof why, "worker exited with status %d", WEXITSTATUS(status));
        s_ended(self, why);
        return false;
    }
    return true;
}

bool
fdy_job_process_next(fdy_job_process_t *self, fdy_job_process_msg_t *out)
{
    size_t avail = self->in.len - self->in.off;
    if (avail < 4)
        return false;
    const uint8_t *at = self->in.data + self->in.off;
    uint32_t len = fdy_bytes_get_be32(at);
    if (len < HEADER || len > FDY_JOB_FRAME_BODY_MAX ||
        (at[4] != 'S' && at[4] != 'F' && at[4] != 'P')) {
        fdy_job_process_kill(self, "worker sent a bad frame");
        return false;
    }
    if (avail < 4u + len)
        return false;
    *out = (fdy_job_process_msg_t){ (char) at[4], fdy_bytes_get_be64(at + 5),
                                    fdy_bytes_get_be64(at + 13), at + 4 + HEADER,
                                    len - HEADER };
    self->in.off += 4u + len;
    return true;
}

int
fdy_job_process_answer_fd(const fdy_job_process_t *self)
{
    return self->running ? self->child.out_fd : -1;
}

uint64_t
fdy_job_process_generation(const fdy_job_process_t *self)
{
    return self->generation;
}

const char *
fdy_job_process_last_exit(const fdy_job_process_t *self)
{
    return self->last_exit;
}

const char *
fdy_job_process_log_tail(const fdy_job_process_t *self)
{
    return self->tail;
}
