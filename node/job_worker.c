/*  job_worker.c: the node's job loop (job_worker.h). A result is first
 *  stored in the result outbox, then sent; it leaves the outbox once the
 *  broker answered (stored, or refused as stale: logged), never before.
 *  Registration is repeated after every reconnect, since a restarted broker
 *  forgets its nodes; the leases themselves are in its store.
 */
#include "job_worker.h"

#include "clock.h"
#include "codec_jobs.h"
#include "job_config.h"
#include "job_pool.h"
#include "job_results.h"
#include "job_runner.h"
#include "log.h"
#include "xalloc.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS_MAX      1024
#define PENDING_MAX   FOUNDRY_JOBS_IN_FLIGHT_MAX
#define BUSY_WAIT_MS  10
#define IDLE_WAIT_MS  100
/* How long answered results may wait for the next outcomes' transaction
 * before they are removed in one of their own. */
#define ANSWERED_WAIT_MS 500
#define LABEL_WORDS   16
#define FRESH_MAX     1024 /* ids one heartbeat may name */
/* A results batch is sent once its results hold this many bytes: well
 * under the broker's frame limit, whatever 256 results carry. */
#define RESULT_BATCH_BYTES (4u * 1024u * 1024u)

typedef struct {
    uint64_t token, job_id, fence;
} s_pending_t;

/* A finished attempt's outcome, owned, until the turn's one outbox write. */
typedef struct {
    fdy_job_result_t r;
    uint8_t *result;
    char *error, *log_tail, *type;
} s_done_t;

#define DONE_MAX (2 * RUNS_MAX)

struct fdy_job_worker {
    const fdy_agent_cfg_t *cfg;
    fdy_job_config_t handlers;
    fdy_job_results_t *results;
    char *label_text;
    const char *labels[LABEL_WORDS];
    size_t label_count;
    foundry_client_t *client;
    uint64_t registered_at; /* foundry_client_reconnects() when we registered, +1 */
    bool replayed;
    fdy_job_run_t *runs[RUNS_MAX]; /* exec mode */
    size_t run_count;
    fdy_job_pool_t *pool;          /* worker mode */
    s_pending_t pending[PENDING_MAX];
    size_t pending_count;
    s_done_t done_list[DONE_MAX]; /* outcomes of this turn, stored together */
    size_t done_count;
    uint64_t answered_ids[PENDING_MAX], answered_fences[PENDING_MAX]; /* to remove, together */
    size_t answered_count;
    int64_t answered_since_ms; /* when the oldest of them was answered */
    int64_t next_heartbeat_ms;
    /* Attempts started since the last heartbeat: named at once by a
     * heartbeat of their own (the periodic one names every attempt). */
    uint64_t fresh_ids[FRESH_MAX], fresh_fences[FRESH_MAX];
    size_t fresh_count;
    uint64_t done, refused;
    uint64_t started, succeeded, failed; /* handler runs, for the metrics endpoint */
};

static void s_flush_done(fdy_job_worker_t *self);
static void s_flush_answered(fdy_job_worker_t *self, bool force, int64_t now_ms);

/* ---- setup ---------------------------------------------------------------- */

foundry_err
fdy_job_worker_new(const fdy_agent_cfg_t *cfg, fdy_job_worker_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    if (!cfg->jobs || !*cfg->jobs)
        return FOUNDRY_OK;
    fdy_job_worker_t *self = fdy_xalloc(sizeof *self);
    self->cfg = cfg;
    foundry_err err = fdy_job_config_load(cfg->jobs, &self->handlers, reason);
    if (err == FOUNDRY_OK)
        self->pool = fdy_job_pool_new(&self->handlers);
    if (err == FOUNDRY_OK && cfg->job_labels) {
        self->label_text = fdy_xstrdup(cfg->job_labels);
        char *save = NULL;
        for (char *w = strtok_r(self->label_text, " \t", &save); w && err == FOUNDRY_OK;
             w = strtok_r(NULL, " \t", &save)) {
            if (self->label_count == LABEL_WORDS)
                err = fdy_reason_set(reason, FOUNDRY_EINVAL, "more than %d job labels",
                                     LABEL_WORDS);
            else
                self->labels[self->label_count++] = w;
        }
    }
    if (err == FOUNDRY_OK) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/results", cfg->data_dir);
        err = fdy_job_results_open(dir, &self->results, reason);
    }
    if (err != FOUNDRY_OK) {
        fdy_job_worker_destroy(&self);
        return err;
    }
    /* A handler that closes its stdin early must not kill the agent. */
    signal(SIGPIPE, SIG_IGN);
    *out = self;
    return FOUNDRY_OK;
}

void
fdy_job_worker_destroy(fdy_job_worker_t **self_p)
{
    fdy_job_worker_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->run_count; i++)
        fdy_job_run_destroy(&self->runs[i]);
    fdy_job_pool_destroy(&self->pool);
    s_flush_done(self); /* stored for the next start, even without a client */
    s_flush_answered(self, true, 0);
    fdy_job_results_close(&self->results);
    fdy_job_config_fini(&self->handlers);
    free(self->label_text);
    free(self);
    *self_p = NULL;
}

/* ---- results ---------------------------------------------------------------- */

static void
s_on_answer(uint64_t token, foundry_err err, uint64_t job_id, const char *reason, void *user)
{
    fdy_job_worker_t *self = user;
    (void) job_id;
    for (size_t i = 0; i < self->pending_count; i++) {
        s_pending_t p = self->pending[i];
        if (p.token != token)
            continue;
        self->pending[i] = self->pending[--self->pending_count];
        if (err == FOUNDRY_ESTALE || err == FOUNDRY_ENOTFOUND) {
            self->refused++;
            fdy_log_notice("JOB-RESULT-REFUSED", "job %" PRIu64 " fence %" PRIu64 ": %s",
                           p.job_id, p.fence, reason && *reason ? reason : foundry_strerror(err));
        } else if (err != FOUNDRY_OK) {
            /* Kept for the next start; the broker's lease decides meanwhile. */
            fdy_log_warn_limited("JOB-RESULT-FAILED", "job %" PRIu64 ": %s", p.job_id,
                                 reason && *reason ? reason : foundry_strerror(err));
            return;
        }
        if (self->answered_count < PENDING_MAX) {
            /* Removed with the next outcomes, in their transaction. */
            if (self->answered_count == 0)
                self->answered_since_ms = fdy_clock_mono_ms();
            self->answered_ids[self->answered_count] = p.job_id;
            self->answered_fences[self->answered_count++] = p.fence;
        }
        return;
    }
}

static void
s_send_result(fdy_job_worker_t *self, const fdy_job_result_t *r, uint32_t slots)
{
    if (!self->client || self->pending_count == PENDING_MAX)
        return; /* stays in the outbox for the next attach */
    uint64_t token = 0;
    if (foundry_worker_result(self->client, r->job_id, r->fence, r->ok, r->result, r->result_len,
                              r->error, r->log_tail, slots, &token) != FOUNDRY_OK) {
        fdy_log_warn_limited("JOB-RESULT-FAILED", "job %" PRIu64 ": %s", r->job_id,
                             foundry_client_last_error(self->client));
        return;
    }
    self->pending[self->pending_count++] = (s_pending_t){ token, r->job_id, r->fence };
}

/* The turn's outcomes, FOUNDRY_JOBS_BATCH_MAX per request, each handing
 * its slot back. What is not sent stays in the outbox for the next attach. */
static void
s_send_results(fdy_job_worker_t *self)
{
    foundry_worker_result_t batch[FOUNDRY_JOBS_BATCH_MAX];
    uint64_t tokens[FOUNDRY_JOBS_BATCH_MAX];
    for (size_t at = 0; self->client && at < self->done_count;) {
        size_t n = 0, bytes = 0;
        while (at + n < self->done_count && n < FOUNDRY_JOBS_BATCH_MAX &&
               self->pending_count + n < PENDING_MAX && bytes < RESULT_BATCH_BYTES) {
            const fdy_job_result_t *r = &self->done_list[at + n].r;
            bytes += r->result_len + strlen(r->error) + strlen(r->log_tail) + 64;
            batch[n++] = (foundry_worker_result_t){ r->job_id, r->fence,    r->ok, r->result,
                                                    r->result_len, r->error, r->log_tail, 1 };
        }
        if (n == 0)
            return;
        if (foundry_worker_results(self->client, batch, n, tokens) != FOUNDRY_OK) {
            fdy_log_warn_limited("JOB-RESULT-FAILED", "%zu results: %s", n,
                                 foundry_client_last_error(self->client));
            return;
        }
        for (size_t i = 0; i < n; i++)
            self->pending[self->pending_count++] =
                (s_pending_t){ tokens[i], batch[i].job_id, batch[i].fence };
        at += n;
    }
}

static void
s_replay_one(const fdy_job_result_t *r, void *user)
{
    s_send_result(user, r, 0);
}

static char *
s_copy_text(const char *text)
{
    return fdy_xstrdup(text ? text : "");
}

/* The turn's outcomes: stored in one transaction (one fsync), with the
 * removal of the answered ones, then sent, each handing its slot back. */
static void
s_flush_done(fdy_job_worker_t *self)
{
    if (self->done_count == 0)
        return;
    fdy_job_result_t items[DONE_MAX];
    for (size_t i = 0; i < self->done_count; i++)
        items[i] = self->done_list[i].r;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_job_results_update(self->results, items, self->done_count, self->answered_ids,
                               self->answered_fences, self->answered_count,
                               &why) != FOUNDRY_OK) {
        fdy_log_err("JOB-OUTBOX", "%zu results not stored: %s", self->done_count, why.text);
    } else {
        self->answered_count = 0;
        for (size_t i = 0; i < self->done_count; i++)
            fdy_log_info("JOB-DONE", "job %" PRIu64 " fence %" PRIu64 ": %s, stored in the outbox",
                         items[i].job_id, items[i].fence, items[i].ok ? "succeeded" : "failed");
    }
    s_send_results(self);
    for (size_t i = 0; i < self->done_count; i++) {
        s_done_t *d = &self->done_list[i];
        free(d->result);
        free(d->error);
        free(d->log_tail);
        free(d->type);
    }
    self->done += self->done_count;
    self->done_count = 0;
}

/* Removes the answered results from the outbox. The next outcomes'
 * transaction takes these removals along (s_flush_done), so under load
 * they wait for it rather than cost a commit and an fsync of their own:
 * alone only when forced, after ANSWERED_WAIT_MS, or at half the room. A
 * removal lost to a crash only means a resend the broker answers as a
 * duplicate. */
static void
s_flush_answered(fdy_job_worker_t *self, bool force, int64_t now_ms)
{
    if (self->answered_count == 0)
        return;
    if (!force && now_ms - self->answered_since_ms < ANSWERED_WAIT_MS &&
        self->answered_count < PENDING_MAX / 2)
        return;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_job_results_remove(self->results, self->answered_ids, self->answered_fences,
                               self->answered_count, &why) != FOUNDRY_OK)
        fdy_log_warn_limited("JOB-OUTBOX", "%zu answered results not removed: %s",
                             self->answered_count, why.text);
    self->answered_count = 0;
}

/* Keeps a copy of the outcome for this turn's outbox write. */
static void
s_finish(fdy_job_worker_t *self, const fdy_job_result_t *r)
{
    if (self->done_count == DONE_MAX)
        s_flush_done(self);
    s_done_t *d = &self->done_list[self->done_count++];
    char why[96];
    fdy_job_result_t big;
    if (r->ok && r->result_len > FDY_JOB_RESULT_MAX) {
        /* The broker would refuse it: the attempt fails with the reason. */
        snprintf(why, sizeof why, "result of %zu bytes exceeds %u", r->result_len,
                 FDY_JOB_RESULT_MAX);
        big = *r;
        big.ok = false;
        big.result = NULL;
        big.result_len = 0;
        big.error = why;
        r = &big;
    }
    if (r->ok)
        self->succeeded++;
    else
        self->failed++;
    d->result = NULL;
    if (r->result_len) {
        d->result = fdy_xalloc(r->result_len);
        memcpy(d->result, r->result, r->result_len);
    }
    d->error = s_copy_text(r->error);
    d->log_tail = s_copy_text(r->log_tail);
    d->type = s_copy_text(r->type);
    d->r = (fdy_job_result_t){ r->job_id, r->fence,   r->ok,       d->result,
                               r->result_len, d->error, d->log_tail, d->type };
}

/* ---- offers and runs ------------------------------------------------------------ */

static void
s_fail_offer(fdy_job_worker_t *self, const foundry_job_offer_t *offer, const char *error)
{
    fdy_log_notice("JOB-FAILED", "job %" PRIu64 " (%s): %s", offer->job_id, offer->type, error);
    fdy_job_result_t r = { offer->job_id, offer->fence, false, NULL, 0, error, "", offer->type };
    s_finish(self, &r);
}

static void
s_cancel(fdy_job_worker_t *self, uint64_t job_id)
{
    for (size_t i = 0; i < self->run_count; i++)
        if (fdy_job_run_id(self->runs[i]) == job_id)
            fdy_job_run_cancel(self->runs[i]);
    fdy_job_pool_cancel(self->pool, job_id);
}

/* The broker hears that it runs at once, from the next turn's heartbeat. */
static void
s_started(fdy_job_worker_t *self, const foundry_job_offer_t *offer)
{
    self->started++;
    if (self->fresh_count == FRESH_MAX) {
        self->next_heartbeat_ms = 0; /* the full one names them all */
        return;
    }
    self->fresh_ids[self->fresh_count] = offer->job_id;
    self->fresh_fences[self->fresh_count++] = offer->fence;
}

static void
s_take(fdy_job_worker_t *self, const foundry_job_offer_t *offer)
{
    if (offer->cancel) {
        s_cancel(self, offer->job_id);
        return;
    }
    const fdy_job_handler_t *h = fdy_job_config_find(&self->handlers, offer->type);
    if (!h) {
        s_fail_offer(self, offer, "unknown job type on this node");
        return;
    }
    if (h->mode == FDY_JOB_MODE_WORKER) {
        fdy_reason_t why;
        fdy_reason_clear(&why);
        if (fdy_job_pool_start(self->pool, h, offer, &why) != FOUNDRY_OK)
            s_fail_offer(self, offer, why.text);
        else
            s_started(self, offer);
        return;
    }
    if (self->run_count == RUNS_MAX) {
        s_fail_offer(self, offer, "node over its run limit");
        return;
    }
    fdy_job_run_t *run;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_job_run_start(h, offer, &run, &why) != FOUNDRY_OK) {
        s_fail_offer(self, offer, why.text);
        return;
    }
    self->runs[self->run_count++] = run;
    s_started(self, offer);
}

static void
s_service_runs(fdy_job_worker_t *self, int64_t now_ms)
{
    for (size_t i = 0; i < self->run_count;) {
        fdy_job_run_t *run = self->runs[i];
        const char *progress = fdy_job_run_progress(run);
        if (progress && self->client &&
            foundry_worker_progress(self->client, fdy_job_run_id(run), fdy_job_run_fence(run),
                                    progress) != FOUNDRY_OK)
            fdy_log_debug("JOB-PROGRESS", "progress of job %" PRIu64 " not sent",
                          fdy_job_run_id(run));
        if (!fdy_job_run_service(run, now_ms)) {
            i++;
            continue;
        }
        if (fdy_job_run_cancelled(run)) {
            if (self->client &&
                foundry_worker_credit(self->client, fdy_job_run_type(run), 1) != FOUNDRY_OK)
                self->registered_at = 0; /* registering again restores the slots */
        } else {
            size_t len = 0;
            const uint8_t *out = fdy_job_run_output(run, &len);
            fdy_job_result_t r = { fdy_job_run_id(run),       fdy_job_run_fence(run),
                                   fdy_job_run_ok(run),       out,
                                   len,                       fdy_job_run_error(run),
                                   fdy_job_run_log_tail(run), fdy_job_run_type(run) };
            s_finish(self, &r);
        }
        fdy_job_run_destroy(&run);
        self->runs[i] = self->runs[--self->run_count];
    }
}

/* ---- worker mode: the pool's outcomes ------------------------------------- */

static void
s_pool_done(const fdy_job_result_t *r, bool cancelled, void *user)
{
    fdy_job_worker_t *self = user;
    if (!cancelled) {
        s_finish(self, r);
        return;
    }
    if (self->client && foundry_worker_credit(self->client, r->type, 1) != FOUNDRY_OK)
        self->registered_at = 0;
}

static void
s_pool_progress(uint64_t job_id, uint64_t fence, const char *text, void *user)
{
    fdy_job_worker_t *self = user;
    if (self->client && foundry_worker_progress(self->client, job_id, fence, text) != FOUNDRY_OK)
        fdy_log_debug("JOB-PROGRESS", "progress of job %" PRIu64 " not sent", job_id);
}

static foundry_err
s_register(fdy_job_worker_t *self)
{
    const char *types[FDY_JOB_HANDLERS_MAX];
    foundry_err err = FOUNDRY_OK;
    /* One registration per slot count: the broker gives every type it
     * names the same slots, so types with other counts are added by
     * credit right after. */
    for (size_t i = 0; i < self->handlers.count; i++)
        types[i] = self->handlers.handlers[i].type;
    err = foundry_worker_register(self->client, self->labels, self->label_count, types,
                                  self->handlers.count, 0);
    for (size_t i = 0; err == FOUNDRY_OK && i < self->handlers.count; i++) {
        uint32_t busy = 0;
        for (size_t r = 0; r < self->run_count; r++)
            busy += strcmp(fdy_job_run_type(self->runs[r]), types[i]) == 0;
        busy += fdy_job_pool_busy(self->pool, types[i]);
        uint32_t slots = self->handlers.handlers[i].slots;
        if (slots > busy)
            err = foundry_worker_credit(self->client, types[i], slots - busy);
    }
    return err;
}

typedef struct {
    uint64_t id, fence;
} s_attempt_key_t;

static int
s_cmp_attempt(const void *a_, const void *b_)
{
    const s_attempt_key_t *a = a_, *b = b_;
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    return a->fence < b->fence ? -1 : a->fence > b->fence;
}

/* The attempts running now, into ids and fences (room for 2 * RUNS_MAX). */
static size_t
s_running(const fdy_job_worker_t *self, uint64_t *ids, uint64_t *fences)
{
    for (size_t i = 0; i < self->run_count; i++) {
        ids[i] = fdy_job_run_id(self->runs[i]);
        fences[i] = fdy_job_run_fence(self->runs[i]);
    }
    return self->run_count +
           fdy_job_pool_list(self->pool, ids + self->run_count, fences + self->run_count, RUNS_MAX);
}

/* Drops from the fresh list the attempts that ended in the turn they
 * started (a fast handler's usual case): their result is on its way, and
 * naming them would only earn a "stale" answer and a cancel offer. */
static void
s_fresh_still_running(fdy_job_worker_t *self)
{
    s_attempt_key_t running[2 * RUNS_MAX];
    uint64_t ids[2 * RUNS_MAX], fences[2 * RUNS_MAX];
    size_t n = s_running(self, ids, fences);
    for (size_t i = 0; i < n; i++)
        running[i] = (s_attempt_key_t){ ids[i], fences[i] };
    qsort(running, n, sizeof *running, s_cmp_attempt);
    size_t kept = 0;
    for (size_t i = 0; i < self->fresh_count; i++) {
        s_attempt_key_t key = { self->fresh_ids[i], self->fresh_fences[i] };
        if (n && bsearch(&key, running, n, sizeof *running, s_cmp_attempt)) {
            self->fresh_ids[kept] = key.id;
            self->fresh_fences[kept++] = key.fence;
        }
    }
    self->fresh_count = kept;
}

static void
s_heartbeat(fdy_job_worker_t *self, int64_t now_ms)
{
    if (now_ms < self->next_heartbeat_ms) {
        /* Between the periodic ones: only the attempts that just started,
         * so a busy node does not name all it runs every turn. */
        if (self->fresh_count)
            s_fresh_still_running(self);
        if (self->fresh_count &&
            foundry_worker_heartbeat_async(self->client, self->fresh_ids, self->fresh_fences,
                                           self->fresh_count) == FOUNDRY_ENOTFOUND)
            self->registered_at = 0;
        self->fresh_count = 0;
        return;
    }
    self->next_heartbeat_ms = now_ms + (int64_t) self->cfg->job_heartbeat_ms;
    self->fresh_count = 0;
    uint64_t ids[2 * RUNS_MAX], fences[2 * RUNS_MAX];
    size_t count = s_running(self, ids, fences);
    /* Never waits for the answer: while the broker is away the loop keeps
     * reading handlers' output and storing their results. Stale leases in
     * the answer come back as cancel offers (s_take). */
    foundry_err err = foundry_worker_heartbeat_async(self->client, ids, fences, count);
    if (err == FOUNDRY_ENOTFOUND)
        self->registered_at = 0; /* the broker forgot us: register again */
}

void
fdy_job_worker_attach(fdy_job_worker_t *self, foundry_client_t *client)
{
    if (!self)
        return;
    self->client = client;
    self->registered_at = 0;
    self->pending_count = 0;
    foundry_client_set_job_handler(client, s_on_answer, self);
}

void
fdy_job_worker_detach(fdy_job_worker_t *self)
{
    if (!self)
        return;
    self->client = NULL;
    self->pending_count = 0;
}

int
fdy_job_worker_service(fdy_job_worker_t *self, int64_t now_ms)
{
    if (!self)
        return IDLE_WAIT_MS;
    if (self->client) {
        uint64_t epoch = foundry_client_reconnects(self->client) + 1;
        if (self->registered_at != epoch) {
            if (s_register(self) == FOUNDRY_OK) {
                self->registered_at = epoch;
                fdy_log_info("JOB-REGISTERED", "%zu job types, %zu labels",
                             self->handlers.count, self->label_count);
                if (!self->replayed) {
                    /* Results finished while the broker was away, or before a restart. */
                    fdy_reason_t why;
                    (void) fdy_job_results_each(self->results, s_replay_one, self, &why);
                    self->replayed = true;
                }
            }
        }
        foundry_job_offer_t offer;
        while (foundry_worker_next(self->client, 0, &offer) == FOUNDRY_OK)
            s_take(self, &offer);
    }
    s_service_runs(self, fdy_clock_mono_ms());
    fdy_job_pool_service(self->pool, fdy_clock_mono_ms(), s_pool_done, s_pool_progress, self);
    s_flush_done(self);
    if (self->client && self->registered_at)
        s_heartbeat(self, now_ms);
    s_flush_answered(self, false, fdy_clock_mono_ms());
    return self->run_count || fdy_job_pool_count(self->pool) ? BUSY_WAIT_MS : IDLE_WAIT_MS;
}

bool
fdy_job_worker_has_offers(fdy_job_worker_t *self)
{
    return self && self->client && foundry_worker_pending(self->client) > 0;
}

size_t
fdy_job_worker_fds(const fdy_job_worker_t *self, int *fds, size_t max)
{
    return self ? fdy_job_pool_fds(self->pool, fds, max) : 0;
}

void
fdy_job_worker_stats(const fdy_job_worker_t *self, fdy_job_worker_stats_t *out)
{
    uint64_t ids[PENDING_MAX], fences[PENDING_MAX];
    *out = (fdy_job_worker_stats_t){
        .started = self->started,
        .succeeded = self->succeeded,
        .failed = self->failed,
        .results_refused = self->refused,
        .running = self->run_count
                   + (self->pool ? fdy_job_pool_list(self->pool, ids, fences, PENDING_MAX) : 0),
    };
}
