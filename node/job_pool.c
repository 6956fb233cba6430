/*  job_pool.c: worker-mode attempts (job_pool.h) over job_process.c. */
#include "job_pool.h"

#include "clock.h"
#include "job_process.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ATTEMPTS_MAX 1024

typedef struct {
    uint64_t job_id, fence;
    size_t handler;      /* index in the config */
    uint64_t generation; /* of its process when sent */
    int64_t deadline_ms;
    uint32_t timeout_ms;
    bool cancelled;
} s_attempt_t;

struct fdy_job_pool {
    const fdy_job_config_t *handlers;
    fdy_job_process_t *procs[FDY_JOB_HANDLERS_MAX];
    s_attempt_t attempts[ATTEMPTS_MAX];
    size_t count;
};

fdy_job_pool_t *
fdy_job_pool_new(const fdy_job_config_t *handlers)
{
    fdy_job_pool_t *self = fdy_xalloc(sizeof *self);
    self->handlers = handlers;
    for (size_t i = 0; i < handlers->count; i++)
        if (handlers->handlers[i].mode == FDY_JOB_MODE_WORKER)
            self->procs[i] = fdy_job_process_new(&handlers->handlers[i]);
    return self;
}

void
fdy_job_pool_destroy(fdy_job_pool_t **self_p)
{
    fdy_job_pool_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < FDY_JOB_HANDLERS_MAX; i++)
        fdy_job_process_destroy(&self->procs[i]);
    free(self);
    *self_p = NULL;
}

foundry_err
fdy_job_pool_start(fdy_job_pool_t *self, const fdy_job_handler_t *h,
                   const foundry_job_offer_t *offer, fdy_reason_t *reason)
{
    size_t index = (size_t) (h - self->handlers->handlers);
    fdy_job_process_t *proc = index < FDY_JOB_HANDLERS_MAX ? self->procs[index] : NULL;
    if (!proc)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "type %s is not a worker", h->type);
    if (self->count == ATTEMPTS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EFULL, "node over its run limit");
    foundry_err err = fdy_job_process_ensure(proc, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_job_process_send(proc, 'J', offer->job_id, offer->fence, offer->attempt, offer->payload,
                         offer->payload_len);
    uint32_t timeout = h->timeout_ms;
    if (offer->timeout_ms && offer->timeout_ms < timeout)
        timeout = offer->timeout_ms;
    self->attempts[self->count++] =
        (s_attempt_t){ offer->job_id, offer->fence, index, fdy_job_process_generation(proc),
                       fdy_clock_mono_ms() + timeout, timeout, false };
    return FOUNDRY_OK;
}

void
fdy_job_pool_cancel(fdy_job_pool_t *self, uint64_t job_id)
{
    for (size_t i = 0; i < self->count; i++)
        if (self->attempts[i].job_id == job_id && !self->attempts[i].cancelled) {
            s_attempt_t *a = &self->attempts[i];
            a->cancelled = true;
            fdy_job_process_send(self->procs[a->handler], 'C', a->job_id, a->fence, 0, NULL, 0);
        }
}

static s_attempt_t *
s_find(fdy_job_pool_t *self, size_t handler, uint64_t job_id, uint64_t fence)
{
    for (size_t i = 0; i < self->count; i++)
        if (self->attempts[i].handler == handler && self->attempts[i].job_id == job_id &&
            self->attempts[i].fence == fence)
            return &self->attempts[i];
    return NULL;
}

static void
s_end(fdy_job_pool_t *self, s_attempt_t *a, bool ok, const uint8_t *data, size_t len,
      const char *error, fdy_job_pool_done_fn *done, void *user)
{
    const fdy_job_handler_t *h = &self->handlers->handlers[a->handler];
    char *text = NULL;
    if (!ok && data) {
        text = fdy_xalloc(len + 1);
        memcpy(text, data, len);
        error = text;
    }
    fdy_job_result_t r = { a->job_id,
                           a->fence,
                           ok,
                           ok ? data : NULL,
                           ok ? len : 0,
                           ok ? "" : error,
                           fdy_job_process_log_tail(self->procs[a->handler]),
                           h->type };
    bool cancelled = a->cancelled;
    *a = self->attempts[--self->count];
    done(&r, cancelled, user);
    free(text);
}

void
fdy_job_pool_service(fdy_job_pool_t *self, int64_t now_ms, fdy_job_pool_done_fn *done,
                     fdy_job_pool_progress_fn *progress, void *user)
{
    for (size_t p = 0; p < self->handlers->count; p++) {
        fdy_job_process_t *proc = self->procs[p];
        if (!proc)
            continue;
        fdy_job_process_service(proc);
        fdy_job_process_msg_t msg;
        while (fdy_job_process_next(proc, &msg)) {
            s_attempt_t *a = s_find(self, p, msg.job_id, msg.fence);
            if (!a)
                continue; /* a cancelled or forgotten attempt's late answer */
            if (msg.status == 'P') {
                char line[256];
                snprintf(line, sizeof line, "%.*s", (int) (msg.len < 255 ? msg.len : 255),
                         (const char *) msg.data);
                progress(a->job_id, a->fence, line, user);
                continue;
            }
            s_end(self, a, msg.status == 'S', msg.data, msg.len, NULL, done, user);
        }
    }
    for (size_t i = 0; i < self->count;) {
        s_attempt_t *a = &self->attempts[i];
        fdy_job_process_t *proc = self->procs[a->handler];
        char why[256];
        if (a->cancelled) {
            /* Its answer, if one still comes, is dropped (s_find). */
            s_end(self, a, false, NULL, 0, "cancelled", done, user);
            continue;
        }
        if (fdy_job_process_generation(proc) != a->generation) {
            snprintf(why, sizeof why, "%s while it held the job", fdy_job_process_last_exit(proc));
            s_end(self, a, false, NULL, 0, why, done, user);
            continue;
        }
        if (now_ms >= a->deadline_ms) {
            snprintf(why, sizeof why, "timed out after %u ms: worker process group killed",
                     a->timeout_ms);
            fdy_job_process_kill(proc, "worker killed: a job timed out");
            s_end(self, a, false, NULL, 0, why, done, user);
            continue;
        }
        i++;
    }
}

size_t
fdy_job_pool_count(const fdy_job_pool_t *self)
{
    return self->count;
}

size_t
fdy_job_pool_list(const fdy_job_pool_t *self, uint64_t *ids, uint64_t *fences, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < self->count && n < max; i++, n++) {
        ids[n] = self->attempts[i].job_id;
        fences[n] = self->attempts[i].fence;
    }
    return n;
}

size_t
fdy_job_pool_fds(const fdy_job_pool_t *self, int *fds, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < FDY_JOB_HANDLERS_MAX && n < max; i++) {
        int fd = self->procs[i] && self->count ? fdy_job_process_answer_fd(self->procs[i]) : -1;
        if (fd >= 0)
            fds[n++] = fd;
    }
    return n;
}

uint32_t
fdy_job_pool_busy(const fdy_job_pool_t *self, const char *type)
{
    uint32_t busy = 0;
    for (size_t i = 0; i < self->count; i++)
        busy += strcmp(self->handlers->handlers[self->attempts[i].handler].type, type) == 0;
    return busy;
}
