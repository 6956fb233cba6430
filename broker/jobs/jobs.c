/*  jobs.c: the jobs service (fdy_jobs_service): JOB requests from
 *  submitters (submit, status, cancel, list, retry) and from node agents
 *  (register, credit, heartbeat, progress, result: jobs_node_requests.c),
 *  every change written as the jobs part of the turn's one commit, and
 *  replies and offers sent only after it. Scheduling is in job_sched.c,
 *  admin commands in jobs_admin.c. Identity, tenant and site always come from the key.
 */
#include "jobs_core.h"

#include "clock.h"
#include "commit.h"
#include "log.h"
#include "reply.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Defaults for a spec's zero fields (docs/jobs.md). */
#define DEFAULT_TIMEOUT_MS     60000u
#define DEFAULT_ATTEMPTS       3u
#define DEFAULT_BACKOFF_MS     1000u
#define DEFAULT_BACKOFF_FACTOR 2u
#define DEFAULT_BACKOFF_MAX_MS 60000u
#define DEFAULT_RESULT_TTL_MS  (24u * 3600u * 1000u)
/* A turn takes no more requests once this many job writes wait (the
 * commit then carries them all: a reply or an offer leaves only after the
 * commit that wrote its jobs, so none is ever left for the next one). */
#define WRITES_PER_TURN 16384

static const fdy_kind_t s_kinds[] = { FDY_KIND_JOB };

static void s_parked_free(fdy_jobs_parked_t *p);

uint64_t
fdy_jobs_wall_ms(void)
{
    return fdy_clock_wall_ns() / 1000000u;
}

fdy_job_t *
fdy_jobs_get(fdy_jobs_t *self, uint64_t id)
{
    return fdy_job_index_get(&self->jobs, id);
}

void
fdy_jobs_touch(fdy_jobs_t *self, fdy_job_t *job)
{
    if (job->dirty)
        return;
    job->dirty = true;
    self->dirty = fdy_xgrow(self->dirty, &self->dirty_capacity, self->dirty_count + 1,
                            sizeof *self->dirty);
    self->dirty[self->dirty_count++] = job;
}

static void
s_put_job(fdy_jobs_t *self, fdy_job_t *job)
{
    fdy_job_index_put(&self->jobs, job);
    if (job->id >= self->next_id)
        self->next_id = job->id + 1;
}

static void
s_key_remember(fdy_jobs_t *self, const fdy_job_t *job)
{
    if (job->spec->key && *job->spec->key)
        fdy_job_keys_put(self->keys, job->tenant, job->spec->key, job->id);
}

static void
s_key_forget(fdy_jobs_t *self, const fdy_job_t *job)
{
    if (job->spec->key && *job->spec->key)
        fdy_job_keys_remove(self->keys, job->tenant, job->spec->key, job->id);
}

/* Forgets a job entirely (rolled-back submit, expired result). */
static void
s_drop_job(fdy_jobs_t *self, fdy_job_t *job)
{
    fdy_job_sched_dequeue(self, job);
    s_key_forget(self, job);
    (void) fdy_job_index_take(&self->jobs, job->id);
    fdy_job_destroy(&job);
}

/* ---- loading -------------------------------------------------------------- */

static foundry_err
s_load_one(uint64_t id, const uint8_t *record, size_t len, const uint8_t *state, size_t state_len,
           void *user, fdy_reason_t *reason)
{
    fdy_jobs_t *self = user;
    (void) reason;
    fdy_arena_reset(self->arena, FDY_DECODE_BUDGET(len) +
                                     FDY_JOB_ATTEMPTS_MAX * sizeof(fdy_job_attempt_t));
    fdy_job_record_t rec;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    foundry_err err =
        record ? fdy_codec_job_record_decode(record, len, self->arena, &rec, &why)
               : fdy_reason_set(&why, FOUNDRY_ECORRUPT, "a state record without its job");
    if (err == FOUNDRY_OK && rec.id != id)
        err = fdy_reason_set(&why, FOUNDRY_ECORRUPT, "id mismatch");
    /* The state record, when there is one, holds what changed since. */
    if (err == FOUNDRY_OK && state)
        err = fdy_store_job_state_decode(state, state_len, self->arena, &rec, &why);
    if (err != FOUNDRY_OK) {
        /* One bad record must not stop the broker: it is reported and skipped. */
        fdy_log_err("JOB-RECORD-BAD", "job %" PRIu64 " not loaded: %s", id, why.text);
        return FOUNDRY_OK;
    }
    fdy_job_t *job = fdy_job_from_record(&rec);
    job->stored = true;
    s_put_job(self, job);
    s_key_remember(self, job);
    if (job->state == FDY_JOB_QUEUED || job->state == FDY_JOB_FAILED)
        fdy_job_sched_enqueue(self, job);
    /* Leases held at a crash keep their stored deadline: the tick expires
     * them then, unless their node comes back and heartbeats them. */
    return FOUNDRY_OK;
}

/* ---- lifecycle -------------------------------------------------------------- */

static foundry_err
s_create(const fdy_service_deps_t *deps, void **self_out, fdy_reason_t *reason)
{
    fdy_jobs_t *self = fdy_xalloc(sizeof *self);
    self->deps = *deps;
    self->next_id = 1;
    self->keys = fdy_job_keys_new();
    self->queue = fdy_job_queue_new();
    self->nodes = fdy_job_nodes_new();
    self->arena = fdy_arena_new(FDY_DECODE_BUDGET(FDY_JOB_FRAME_MAX));
    self->metrics = fdy_jobs_metrics_new(deps);
    self->lease_ms = deps->cfg->job_node_timeout_ms;
    if (!self->keys || !self->arena) {
        fdy_log_err("JOBS-START", "out of memory");
        abort();
    }
    uint64_t next_id = 1;
    foundry_err err = fdy_store_jobs_scan(deps->store, s_load_one, self, &next_id, reason);
    if (err != FOUNDRY_OK) {
        void *p = self;
        fdy_jobs_service.destroy(&p);
        return err;
    }
    if (next_id > self->next_id)
        self->next_id = next_id; /* never an id a removed job had */
    if (fdy_job_index_count(&self->jobs))
        fdy_log_info("JOBS-LOADED", "%zu jobs loaded, %zu queued",
                     fdy_job_index_count(&self->jobs),
                     fdy_job_queue_size(self->queue) + self->delayed_count);
    *self_out = self;
    return FOUNDRY_OK;
}

static void
s_destroy(void **self_p)
{
    fdy_jobs_t *self = *self_p;
    if (!self)
        return;
    /* Every change was committed in its turn: nothing is left to save. */
    for (uint64_t id = fdy_job_index_first(&self->jobs); id < fdy_job_index_end(&self->jobs);
         id++) {
        fdy_job_t *job = fdy_job_index_get(&self->jobs, id);
        fdy_job_destroy(&job);
    }
    fdy_job_index_fini(&self->jobs);
    fdy_job_keys_destroy(&self->keys);
    fdy_job_queue_destroy(&self->queue);
    fdy_job_nodes_destroy(&self->nodes);
    free(self->delayed);
    free(self->dirty);
    free(self->writes);
    free(self->records);
    free(self->written);
    for (size_t i = 0; i < self->parked_count; i++)
        s_parked_free(&self->parked[i]);
    free(self->parked);
    free(self->offers);
    free(self->offer_order);
    free(self->offer_body);
    fdy_arena_destroy(&self->arena);
    fdy_jobs_metrics_destroy(&self->metrics);
    free(self);
    *self_p = NULL;
}

/* ---- replies ------------------------------------------------------------------ */

void
fdy_jobs_send_encoded(fdy_jobs_t *self, const fdy_peer_t *to, fdy_kind_t kind, uint64_t request_id,
                      const uint8_t *body, size_t len)
{
    fdy_envelope_t env;
    memset(&env, 0, sizeof env);
    env.kind = kind;
    env.request_id = request_id;
    env.job = body;
    env.job_len = len;
    fdy_reply_send(self->deps.reply, to, &env);
}

size_t
fdy_jobs_send_body(fdy_jobs_t *self, const fdy_peer_t *to, fdy_kind_t kind, uint64_t request_id,
                   const fdy_job_reply_t *reply)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (fdy_codec_job_reply_encode(reply, &buf, &len) != FOUNDRY_OK) {
        if (kind == FDY_KIND_JOB_REPLY)
            fdy_reply_error(self->deps.reply, to, request_id, 0, FOUNDRY_ENOMEM, "job reply");
        return 0;
    }
    /* An empty reply still needs a body: a zero job_id field packs to
     * nothing, so such replies carry one byte of an empty JobReply. */
    static const uint8_t empty[2] = { 0x08, 0x00 };
    if (len == 0)
        fdy_jobs_send_encoded(self, to, kind, request_id, empty, sizeof empty);
    else
        fdy_jobs_send_encoded(self, to, kind, request_id, buf, len);
    free(buf);
    return len ? len : sizeof empty;
}

static void
s_send_reply(fdy_jobs_t *self, const fdy_peer_t *to, uint64_t request_id,
             const fdy_job_reply_t *reply)
{
    fdy_jobs_send_body(self, to, FDY_KIND_JOB_REPLY, request_id, reply);
}

void
fdy_jobs_park(fdy_jobs_t *self, const fdy_request_t *req, const fdy_jobs_item_t *single,
              fdy_jobs_item_t *items, size_t item_count)
{
    self->parked = fdy_xgrow(self->parked, &self->parked_capacity, self->parked_count + 1,
                             sizeof *self->parked);
    fdy_jobs_parked_t *p = &self->parked[self->parked_count++];
    memset(p, 0, sizeof *p);
    p->peer_len = req->peer.len <= sizeof p->peer ? req->peer.len : 0;
    memcpy(p->peer, req->peer.id, p->peer_len);
    p->request_id = req->env->request_id;
    if (single) {
        p->job_id = single->job_id;
        p->duplicate = single->duplicate;
        p->created = single->created;
    }
    p->items = items;
    p->item_count = item_count;
}

static void
s_park(fdy_jobs_t *self, const fdy_request_t *req, uint64_t job_id, bool duplicate,
       fdy_job_t *created)
{
    fdy_jobs_item_t item = { job_id, duplicate, FOUNDRY_OK, NULL, created };
    fdy_jobs_park(self, req, &item, NULL, 0);
}

static void
s_parked_free(fdy_jobs_parked_t *p)
{
    for (size_t i = 0; i < p->item_count; i++)
        free(p->items[i].error);
    free(p->items);
    p->items = NULL;
    p->item_count = 0;
}

/* True when job is a new job of a parked submit (dropped if the commit fails). */
static bool
s_parked_created(const fdy_jobs_t *self, const fdy_job_t *job)
{
    for (size_t p = 0; p < self->parked_committing; p++) {
        const fdy_jobs_parked_t *pk = &self->parked[p];
        if (pk->created == job)
            return true;
        for (size_t i = 0; i < pk->item_count; i++)
            if (pk->items[i].created == job)
                return true;
    }
    return false;
}

/* ---- who may do what ------------------------------------------------------------ */

/* Admins everywhere; partners and nodes to the sites of their job grant
 * (allow_jobs, "*" any site), and a job for "any site" only with "*". */
static foundry_err
s_may_submit(const fdy_principal_t *who, const fdy_job_spec_t *spec, fdy_reason_t *reason)
{
    if (who->role == FDY_ROLE_ADMIN)
        return FOUNDRY_OK;
    if (who->allow_jobs_count == 0)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "%s has no job grant (key add --allow-jobs SITE...)", who->name);
    bool any = false;
    for (size_t g = 0; g < who->allow_jobs_count; g++)
        any = any || strcmp(who->allow_jobs[g], "*") == 0;
    if (any)
        return FOUNDRY_OK;
    if (spec->site_count == 0)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "%s may submit jobs only to its granted sites: name a --site",
                              who->name);
    for (size_t i = 0; i < spec->site_count; i++) {
        bool ok = false;
        for (size_t g = 0; g < who->allow_jobs_count && !ok; g++)
            ok = strcmp(who->allow_jobs[g], spec->sites[i]) == 0;
        if (!ok)
            return fdy_reason_set(reason, FOUNDRY_EDENIED, "%s may not submit jobs to site %s",
                                  who->name, spec->sites[i]);
    }
    return FOUNDRY_OK;
}

/* A partner sees its tenant's jobs, an admin all; a node none (it learns
 * its jobs from offers). Not found and not yours look the same, so ids
 * tell nobody about another tenant's jobs. */
static fdy_job_t *
s_visible(fdy_jobs_t *self, const fdy_principal_t *who, uint64_t id, fdy_reason_t *reason)
{
    fdy_job_t *job = fdy_jobs_get(self, id);
    bool ok = job && !job->removed &&
              (who->role == FDY_ROLE_ADMIN ||
               (who->role == FDY_ROLE_PARTNER && strcmp(job->tenant, who->tenant) == 0));
    if (!ok) {
        fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no job %" PRIu64, id);
        return NULL;
    }
    return job;
}

/* ---- submitter operations ----------------------------------------------------------- */

static void
s_defaults(fdy_job_spec_t *spec)
{
    if (!spec->timeout_ms)
        spec->timeout_ms = DEFAULT_TIMEOUT_MS;
    if (!spec->max_attempts)
        spec->max_attempts = DEFAULT_ATTEMPTS;
    if (!spec->backoff_initial_ms)
        spec->backoff_initial_ms = DEFAULT_BACKOFF_MS;
    if (!spec->backoff_factor)
        spec->backoff_factor = DEFAULT_BACKOFF_FACTOR;
    if (!spec->backoff_max_ms)
        spec->backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
    if (!spec->result_ttl_ms)
        spec->result_ttl_ms = DEFAULT_RESULT_TTL_MS;
}

foundry_err
fdy_jobs_submit_one(fdy_jobs_t *self, const fdy_request_t *req, const fdy_job_spec_t *in,
                    fdy_jobs_item_t *item, fdy_reason_t *reason)
{
    memset(item, 0, sizeof *item);
    foundry_err err = fdy_codec_job_spec_check(in, self->deps.cfg->max_job_payload, reason);
    if (err == FOUNDRY_OK)
        err = s_may_submit(req->who, in, reason);
    if (err != FOUNDRY_OK)
        return err;
    const char *tenant = req->who->tenant[0] ? req->who->tenant : req->who->name;
    if (in->key && *in->key) {
        uint64_t known = fdy_job_keys_get(self->keys, tenant, in->key);
        if (known && fdy_jobs_get(self, known)) {
            item->job_id = known;
            item->duplicate = true;
            return FOUNDRY_OK;
        }
    }
    fdy_job_spec_t spec = *in;
    s_defaults(&spec);
    fdy_job_t *job = fdy_job_new(self->next_id, tenant, req->who->name, &spec, fdy_jobs_wall_ms());
    s_put_job(self, job);
    s_key_remember(self, job);
    fdy_job_sched_enqueue(self, job);
    fdy_jobs_touch(self, job);
    item->job_id = job->id;
    item->created = job;
    self->submitted++;
    return FOUNDRY_OK;
}

static foundry_err
s_submit(fdy_jobs_t *self, const fdy_request_t *req, const fdy_job_request_t *jr,
         fdy_reason_t *reason)
{
    fdy_jobs_item_t item;
    foundry_err err = fdy_jobs_submit_one(self, req, &jr->spec, &item, reason);
    if (err == FOUNDRY_OK)
        fdy_jobs_park(self, req, &item, NULL, 0);
    return err;
}

static void
s_reply_jobs(fdy_jobs_t *self, const fdy_request_t *req, fdy_job_t *const *jobs, size_t count,
             bool payload)
{
    fdy_job_record_t *recs = fdy_xalloc((count ? count : 1) * sizeof *recs);
    fdy_job_attempt_t **tries = fdy_xalloc((count ? count : 1) * sizeof *tries);
    char (*waiting)[160] = fdy_xalloc((count ? count : 1) * sizeof *waiting);
    for (size_t i = 0; i < count; i++) {
        fdy_job_to_record(jobs[i], payload, &recs[i], &tries[i]);
        if (jobs[i]->state == FDY_JOB_QUEUED || jobs[i]->state == FDY_JOB_FAILED) {
            fdy_job_sched_waiting(self, jobs[i], waiting[i], sizeof waiting[i]);
            recs[i].waiting = waiting[i];
        }
    }
    fdy_job_reply_t reply = { count == 1 ? jobs[0]->id : 0, false, recs, count, NULL, 0 };
    s_send_reply(self, &req->peer, req->env->request_id, &reply);
    for (size_t i = 0; i < count; i++)
        free(tries[i]);
    free(tries);
    free(recs);
    free(waiting);
}

static foundry_err
s_status(fdy_jobs_t *self, const fdy_request_t *req, const fdy_job_request_t *jr,
         fdy_reason_t *reason)
{
    fdy_job_t *job = s_visible(self, req->who, jr->job_id, reason);
    if (!job)
        return FOUNDRY_ENOTFOUND;
    s_reply_jobs(self, req, &job, 1, true);
    return FOUNDRY_OK;
}

static foundry_err
s_list(fdy_jobs_t *self, const fdy_request_t *req, const fdy_job_request_t *jr,
       fdy_reason_t *reason)
{
    fdy_job_state_t want = FDY_JOB_QUEUED;
    bool filter = jr->state && *jr->state;
    if (filter && !fdy_job_state_parse(jr->state, &want))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "unknown job state '%.40s'", jr->state);
    if (req->who->role != FDY_ROLE_ADMIN && req->who->role != FDY_ROLE_PARTNER)
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "only partners and admins list jobs");
    fdy_job_t **found = fdy_xalloc(FDY_JOB_LIST_MAX * sizeof *found);
    size_t count = 0;
    /* Newest first: that is what a submitter asks about. */
    for (uint64_t id = fdy_job_index_end(&self->jobs);
         id > fdy_job_index_first(&self->jobs) && count < FDY_JOB_LIST_MAX; id--) {
        fdy_job_t *job = fdy_job_index_get(&self->jobs, id - 1);
        if (!job || job->removed || (filter && job->state != want))
            continue;
        if (req->who->role != FDY_ROLE_ADMIN && strcmp(job->tenant, req->who->tenant) != 0)
            continue;
        found[count++] = job;
    }
    s_reply_jobs(self, req, found, count, false);
    free(found);
    return FOUNDRY_OK;
}

static void
s_cancel_job(fdy_jobs_t *self, fdy_job_t *job, const char *why)
{
    uint64_t now = fdy_jobs_wall_ms();
    if (job->state == FDY_JOB_LEASED || job->state == FDY_JOB_RUNNING) {
        fdy_job_node_t *node = job->node ? fdy_job_nodes_by_name(self->nodes, job->node) : NULL;
        if (node && node->busy)
            node->busy--;
        fdy_job_sched_cancel_running(self, job);
        fdy_job_end_attempt(job, "cancelled", why, now);
    }
    fdy_job_sched_dequeue(self, job);
    job->state = FDY_JOB_CANCELLED;
    job->updated_ms = now;
    fdy_job_set_text(&job->error, why);
    fdy_jobs_touch(self, job);
    self->cancelled++;
}

static foundry_err
s_cancel(fdy_jobs_t *self, const fdy_request_t *req, const fdy_job_request_t *jr,
         fdy_reason_t *reason)
{
    fdy_job_t *job = s_visible(self, req->who, jr->job_id, reason);
    if (!job)
        return FOUNDRY_ENOTFOUND;
    if (fdy_job_state_final(job->state))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "job %" PRIu64 " is already %s", job->id,
                              fdy_job_state_name(job->state));
    s_cancel_job(self, job, "cancelled by request");
    s_park(self, req, job->id, false, NULL);
    return FOUNDRY_OK;
}

static foundry_err
s_retry(fdy_jobs_t *self, const fdy_request_t *req, const fdy_job_request_t *jr,
        fdy_reason_t *reason)
{
    fdy_job_t *job = s_visible(self, req->who, jr->job_id, reason);
    if (!job)
        return FOUNDRY_ENOTFOUND;
    if (job->state != FDY_JOB_DEAD && job->state != FDY_JOB_CANCELLED &&
        job->state != FDY_JOB_EXPIRED)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "job %" PRIu64 " is %s: only dead, cancelled or expired jobs "
                              "are retried",
                              job->id, fdy_job_state_name(job->state));
    /* A fresh set of attempts; the fence keeps counting up, so no old
     * attempt's token becomes valid again. */
    job->attempt = 0;
    job->state = FDY_JOB_QUEUED;
    job->not_before_ms = 0;
    job->updated_ms = fdy_jobs_wall_ms();
    if (job->spec->deadline_ms && job->spec->deadline_ms < job->updated_ms)
        job->spec->deadline_ms = 0; /* a requeued expired job would expire at once */
    fdy_job_set_text(&job->error, NULL);
    fdy_job_sched_enqueue(self, job);
    fdy_jobs_touch(self, job);
    s_park(self, req, job->id, false, NULL);
    return FOUNDRY_OK;
}

/* ---- the service ops --------------------------------------------------------------------- */

static foundry_err
s_handle(void *self_, const fdy_request_t *req, fdy_reason_t *reason)
{
    fdy_jobs_t *self = self_;
    if (req->frame_count != 2)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "JOB needs exactly one body frame, not %zu",
                              req->frame_count - 1);
    fdy_arena_reset(self->arena, FDY_JOB_DECODE_BUDGET(req->frames[1].len));
    fdy_job_request_t jr;
    foundry_err err =
        fdy_codec_job_request_decode(req->frames[1].data, req->frames[1].len, self->arena, &jr,
                                     reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_jobs_metrics_request(self->metrics, req, (int) jr.op,
                             jr.op == FDY_JOB_SUBMIT ? jr.spec_count : jr.result_count);
    switch (jr.op) {
    case FDY_JOB_SUBMIT:
        return jr.spec_count ? fdy_jobs_submit_batch(self, req, &jr, reason)
                             : s_submit(self, req, &jr, reason);
    case FDY_JOB_STATUS: return s_status(self, req, &jr, reason);
    case FDY_JOB_CANCEL: return s_cancel(self, req, &jr, reason);
    case FDY_JOB_LIST: return s_list(self, req, &jr, reason);
    case FDY_JOB_RETRY: return s_retry(self, req, &jr, reason);
    case FDY_JOB_REGISTER: return fdy_jobs_register(self, req, &jr, reason);
    case FDY_JOB_CREDIT: return fdy_jobs_credit(self, req, &jr, reason);
    case FDY_JOB_RESULT: return fdy_jobs_result(self, req, &jr, reason);
    case FDY_JOB_HEARTBEAT: return fdy_jobs_heartbeat(self, req, &jr, reason);
    case FDY_JOB_PROGRESS: return fdy_jobs_progress(self, req, &jr, reason);
    }
    return fdy_reason_set(reason, FOUNDRY_EPROTO, "unknown job operation");
}

static bool
s_turn_full(const void *self_)
{
    const fdy_jobs_t *self = self_;
    return self->dirty_count >= WRITES_PER_TURN;
}

static void
s_collect(void *self_, fdy_commit_t *commit, int64_t now_ms)
{
    fdy_jobs_t *self = self_;
    /* Slots this turn's results freed take their next jobs now: the leases
     * join the results in this commit instead of waiting for the next. */
    (void) fdy_job_sched_offer(self, now_ms);
    self->added = false;
    self->write_count = 0;
    self->parked_committing = self->parked_count;
    self->offer_committing = self->offer_count;
    if (self->dirty_count == 0)
        return;
    size_t n = self->dirty_count;
    size_t capacity = self->write_capacity;
    self->writes = fdy_xgrow(self->writes, &capacity, n, sizeof *self->writes);
    capacity = self->write_capacity;
    self->written = fdy_xgrow(self->written, &capacity, n, sizeof *self->written);
    self->write_capacity = capacity;
    /* Every record of the commit packed into one reused buffer; the
     * writes point into it once it no longer moves. */
    size_t used = 0;
    fdy_job_attempt_t tries[FDY_JOB_ATTEMPTS_MAX];
    for (size_t i = 0; i < n; i++) {
        fdy_job_t *job = self->dirty[i];
        job->dirty = false;
        size_t at = used;
        if (!job->removed) {
            /* The whole record once; after it is stored, only what changes. */
            fdy_job_record_t rec;
            fdy_job_to_record_in(job, true, &rec, tries);
            foundry_err err =
                job->stored
                    ? fdy_store_job_state_append(&rec, &self->records, &used, &self->records_cap)
                    : fdy_codec_job_record_append(&rec, &self->records, &used, &self->records_cap);
            if (err != FOUNDRY_OK) {
                fdy_log_err("JOBS-ENCODE", "job %" PRIu64 ": %s", job->id, foundry_strerror(err));
                abort();
            }
        }
        self->writes[i] = (fdy_store_job_write_t){ job->id, NULL, used - at,
                                                   job->stored && !job->removed };
        self->written[i] = job;
    }
    for (size_t i = 0, at = 0; i < n; at += self->writes[i].len, i++)
        self->writes[i].record = self->writes[i].len ? self->records + at : NULL;
    self->dirty_count = 0;
    self->write_count = n;
    self->part = (fdy_store_jobs_t){ self->writes, n };
    fdy_commit_add(commit, &fdy_store_jobs_part, &self->part);
    self->added = true;
}

static void
s_committed(void *self_, const fdy_commit_t *commit, int64_t now_ms)
{
    (void) now_ms;
    fdy_jobs_t *self = self_;
    foundry_err err = self->added ? fdy_commit_result(commit, &self->part) : FOUNDRY_OK;
    const char *why = self->added ? fdy_commit_reason(commit, &self->part) : "";
    for (size_t i = 0; i < self->write_count; i++) {
        fdy_job_t *job = self->written[i];
        if (err == FOUNDRY_OK && job->removed) {
            s_drop_job(self, job);
        } else if (err == FOUNDRY_OK) {
            job->stored = true;
        } else if (err != FOUNDRY_OK && !s_parked_created(self, job)) {
            /* A new job whose submit is refused below is dropped there;
             * every other change is written again next turn. */
            fdy_jobs_touch(self, job);
        }
    }
    self->write_count = 0;
    for (size_t i = 0; i < self->parked_committing; i++) {
        fdy_jobs_parked_t *p = &self->parked[i];
        fdy_peer_t to = { p->peer, p->peer_len };
        if (err != FOUNDRY_OK) {
            if (p->created)
                s_drop_job(self, p->created);
            for (size_t j = 0; j < p->item_count; j++)
                if (p->items[j].created)
                    s_drop_job(self, p->items[j].created);
            fdy_reply_error(self->deps.reply, &to, p->request_id, 0, err, why);
        } else if (p->items) {
            fdy_jobs_reply_batch(self, p);
        } else {
            fdy_job_reply_t reply = { p->job_id, p->duplicate, NULL, 0, NULL, 0 };
            s_send_reply(self, &to, p->request_id, &reply);
        }
        s_parked_free(p);
    }
    if (self->parked_committing && self->parked_count > self->parked_committing)
        memmove(self->parked, self->parked + self->parked_committing,
                (self->parked_count - self->parked_committing) * sizeof *self->parked);
    self->parked_count -= self->parked_committing;
    self->parked_committing = 0;
    if (err == FOUNDRY_OK)
        fdy_jobs_send_offers(self, self->offer_committing);
    self->offer_committing = 0;
    self->added = false;
}

static bool
s_run(void *self_, int64_t now_ms)
{
    return fdy_job_sched_offer(self_, now_ms);
}

static int64_t
s_tick(void *self_, int64_t now_ms)
{
    return fdy_job_sched_tick(self_, now_ms);
}

static void
s_stats(const void *self_, fdy_stats_t *out)
{
    const fdy_jobs_t *self = self_;
    fdy_stats_add(out, "jobs", fdy_job_index_count(&self->jobs));
    fdy_stats_add(out, "jobs_queued", fdy_job_queue_size(self->queue) + self->delayed_count);
    fdy_stats_add(out, "jobs_submitted", self->submitted);
    fdy_stats_add(out, "jobs_succeeded", self->succeeded);
    fdy_stats_add(out, "jobs_dead", self->dead);
    fdy_stats_add(out, "jobs_stale_refused", self->stale_refused);
    fdy_stats_add(out, "job_nodes", fdy_job_nodes_count(self->nodes));
    fdy_jobs_metrics_stats(self->metrics, self, out);
}

/* ---- for other services (jobs.h) ------------------------------------------------------ */

fdy_jobs_t *
fdy_jobs_find(const fdy_service_deps_t *deps)
{
    for (size_t i = 0; i < deps->service_count; i++)
        if (deps->services[i].ops == &fdy_jobs_service)
            return deps->services[i].self;
    return NULL;
}

foundry_err
fdy_jobs_submit_as_broker(fdy_jobs_t *self, const char *submitter, const fdy_job_spec_t *spec,
                          uint64_t *job_id_out, fdy_reason_t *reason)
{
    foundry_err err = fdy_codec_job_spec_check(spec, self->deps.cfg->max_job_payload, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_job_spec_t copy = *spec;
    s_defaults(&copy);
    fdy_job_t *job = fdy_job_new(self->next_id, "admin", submitter, &copy, fdy_jobs_wall_ms());
    s_put_job(self, job);
    s_key_remember(self, job);
    fdy_job_sched_enqueue(self, job);
    fdy_jobs_touch(self, job);
    self->submitted++;
    *job_id_out = job->id;
    return FOUNDRY_OK;
}

bool
fdy_jobs_state(fdy_jobs_t *self, uint64_t id, const char **state_out, const char **error_out)
{
    fdy_job_t *job = fdy_jobs_get(self, id);
    if (!job || job->removed)
        return false;
    *state_out = fdy_job_state_name(job->state);
    *error_out = job->error ? job->error : "";
    return true;
}

bool
fdy_jobs_cancel(fdy_jobs_t *self, uint64_t id, const char *why)
{
    fdy_job_t *job = fdy_jobs_get(self, id);
    if (!job || job->removed || fdy_job_state_final(job->state))
        return false;
    s_cancel_job(self, job, why);
    return true;
}

int
fdy_jobs_node_labels(fdy_jobs_t *self, const char *node, const char **labels_out, size_t max)
{
    fdy_job_node_t *n = fdy_job_nodes_by_name(self->nodes, node);
    if (!n)
        return -1;
    size_t count = n->label_count < max ? n->label_count : max;
    for (size_t i = 0; i < count; i++)
        labels_out[i] = n->labels[i];
    return (int) count;
}

const fdy_service_ops_t fdy_jobs_service = {
    .name = "jobs",
    .kinds = s_kinds,
    .kind_count = sizeof s_kinds / sizeof s_kinds[0],
    .admin_prefixes = fdy_jobs_admin_prefixes,
    .holds_frames = false,
    .create = s_create,
    .destroy = s_destroy,
    .handle = s_handle,
    .turn_full = s_turn_full,
    .collect = s_collect,
    .committed = s_committed,
    .run = s_run,
    .tick = s_tick,
    .admin = fdy_jobs_admin,
    .stats = s_stats,
};
